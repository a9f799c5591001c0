//! What the template promises an operator (docs/operations.md), checked on `infra/template.yaml`
//! itself: every function logs to a log group of its own with retention, is traced and has its
//! Errors and Throttles alarms; every stream event source sends failures to a dead-letter queue
//! that is retained 14 days, encrypted and alarmed; nothing invoked asynchronously lacks an
//! OnFailure destination; every alarm notifies the optional topic and is on the dashboard.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| get(v, k))
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn ref_name(v: &Value) -> Option<&str> {
    tagged(v, "Ref").and_then(Value::as_str)
}

/// `!GetAtt X.Attr` as `X`.
fn get_att_resource(v: &Value) -> Option<&str> {
    tagged(v, "GetAtt")
        .and_then(Value::as_str)
        .and_then(|s| s.split('.').next())
}

fn resources_of<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    get(t, "Resources")
        .and_then(Value::as_mapping)
        .unwrap()
        .iter()
        .filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some(ty))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

/// Resource ids an alarm names in its dimensions (`Metrics[].MetricStat` or its own).
fn alarmed(alarm: &Value, metric: &str) -> Vec<String> {
    let props = get(alarm, "Properties").unwrap();
    let mut stats: Vec<&Value> = vec![props];
    if let Some(Value::Sequence(ms)) = get(props, "Metrics") {
        stats.extend(ms.iter().filter_map(|m| path(m, &["MetricStat", "Metric"])));
    }
    stats
        .into_iter()
        .filter(|s| get(s, "MetricName").and_then(Value::as_str) == Some(metric))
        .flat_map(|s| {
            get(s, "Dimensions")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let v = get(d, "Value")?;
                    ref_name(v)
                        .or_else(|| get_att_resource(v))
                        .map(str::to_string)
                })
        })
        .collect()
}

#[test]
fn every_function_logs_with_retention_is_traced_and_alarmed() {
    let t = template();
    assert_eq!(
        path(&t, &["Globals", "Function", "Tracing"]).and_then(Value::as_str),
        Some("Active")
    );
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let log_groups: BTreeSet<&str> = resources_of(&t, "AWS::Logs::LogGroup")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let functions = resources_of(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 10);
    let mut problems = Vec::new();
    let mut groups_used = BTreeSet::new();
    for (id, f) in &functions {
        let group = path(f, &["Properties", "LoggingConfig", "LogGroup"]).and_then(ref_name);
        match group {
            Some(g) if log_groups.contains(g) => {
                if !groups_used.insert(g) {
                    problems.push(format!("{id}: shares its log group {g}"));
                }
                let lg = path(&t, &["Resources", g]).unwrap();
                if path(lg, &["Properties", "RetentionInDays"]).and_then(ref_name)
                    != Some("LogRetentionDays")
                {
                    problems.push(format!("{g}: RetentionInDays is not LogRetentionDays"));
                }
            }
            _ => problems.push(format!("{id}: no LoggingConfig.LogGroup of its own")),
        }
        for metric in ["Errors", "Throttles"] {
            if !alarms
                .iter()
                .any(|(_, a)| alarmed(a, metric).iter().any(|r| r == id))
            {
                problems.push(format!("{id}: no {metric} alarm"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_failure_of_a_stream_or_an_async_invocation_goes_to_an_alarmed_queue() {
    let t = template();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let mut problems = Vec::new();
    let mut queues = BTreeSet::new();
    const ASYNC: &[&str] = &[
        "S3",
        "SNS",
        "Schedule",
        "ScheduleV2",
        "EventBridgeRule",
        "CloudWatchEvent",
        "CloudWatchLogs",
        "IoTRule",
        "Cognito",
    ];
    let mut streams = 0;
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let events = path(f, &["Properties", "Events"]).and_then(Value::as_mapping);
        for (name, ev) in events.into_iter().flatten() {
            let name = name.as_str().unwrap();
            let ty = get(ev, "Type").and_then(Value::as_str).unwrap_or_default();
            let p = get(ev, "Properties");
            let prop = |k: &str| p.and_then(|p| get(p, k));
            if matches!(ty, "DynamoDB" | "Kinesis") {
                streams += 1;
                match prop("DestinationConfig")
                    .and_then(|d| path(d, &["OnFailure", "Destination"]))
                    .and_then(get_att_resource)
                {
                    Some(q) => {
                        queues.insert(q.to_string());
                    }
                    None => problems.push(format!("{id}.{name}: no OnFailure destination")),
                }
                if prop("BisectBatchOnFunctionError").and_then(Value::as_bool) != Some(true) {
                    problems.push(format!("{id}.{name}: BisectBatchOnFunctionError not set"));
                }
                if prop("MaximumRetryAttempts")
                    .and_then(Value::as_i64)
                    .is_none()
                {
                    problems.push(format!("{id}.{name}: MaximumRetryAttempts not set"));
                }
                let reports = prop("FunctionResponseTypes")
                    .and_then(Value::as_sequence)
                    .is_some_and(|s| {
                        s.iter()
                            .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                    });
                if !reports {
                    problems.push(format!("{id}.{name}: no ReportBatchItemFailures"));
                }
            }
            if ASYNC.contains(&ty)
                && path(
                    f,
                    &[
                        "Properties",
                        "EventInvokeConfig",
                        "DestinationConfig",
                        "OnFailure",
                    ],
                )
                .is_none()
            {
                problems.push(format!(
                    "{id}: invoked asynchronously ({name}) without EventInvokeConfig.DestinationConfig.OnFailure"
                ));
            }
        }
    }
    assert!(streams >= 2, "the notifier's two stream mappings");
    for q in &queues {
        let Some(queue) = path(&t, &["Resources", q.as_str()]) else {
            problems.push(format!("{q}: not a resource"));
            continue;
        };
        let props = get(queue, "Properties");
        if props
            .and_then(|p| get(p, "MessageRetentionPeriod"))
            .and_then(Value::as_i64)
            != Some(1_209_600)
        {
            problems.push(format!("{q}: not kept 14 days"));
        }
        let encrypted = props
            .and_then(|p| get(p, "SqsManagedSseEnabled"))
            .and_then(Value::as_bool)
            == Some(true)
            || props.and_then(|p| get(p, "KmsMasterKeyId")).is_some();
        if !encrypted {
            problems.push(format!("{q}: not encrypted"));
        }
        if !alarms.iter().any(|(_, a)| {
            alarmed(a, "ApproximateNumberOfMessagesVisible")
                .iter()
                .any(|r| r == q)
        }) {
            problems.push(format!("{q}: no alarm on its visible messages"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alarm_notifies_the_topic_and_is_on_the_dashboard() {
    let t = template();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let dashboards = resources_of(&t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let body = path(dashboards[0].1, &["Properties", "DashboardBody"])
        .and_then(|b| tagged(b, "Sub"))
        .and_then(Value::as_str)
        .expect("DashboardBody is a !Sub string");
    // The body is JSON once its ${...} are substituted.
    let json: serde_json::Value = serde_json::from_str(body).expect("DashboardBody is JSON");
    assert!(json["widgets"].as_array().is_some_and(|w| w.len() >= 10));
    let mut problems = Vec::new();
    for (id, a) in &alarms {
        for key in ["AlarmActions", "OKActions"] {
            let actions = path(a, &["Properties", key]).and_then(|v| tagged(v, "If"));
            let condition = actions
                .and_then(Value::as_sequence)
                .and_then(|s| s.first())
                .and_then(Value::as_str);
            if condition != Some("HasAlarmTopic") {
                problems.push(format!("{id}: {key} is not the AlarmTopicArn when set"));
            }
        }
        if !body.contains(&format!("${{{id}.Arn}}")) {
            problems.push(format!("{id}: not on the dashboard's alarm widget"));
        }
    }
    assert!(alarms.len() >= 26, "{} alarms", alarms.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
