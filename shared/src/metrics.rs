//! Business metrics in CloudWatch's embedded metric format (EMF): one JSON line on stdout per
//! measurement, which CloudWatch Logs turns into metrics of the namespace `CourseCommunity` with
//! the dimension `Function` (the Lambda function's name). No API call, no extra permission.
//!
//! | Metric | Unit | Where |
//! |---|---|---|
//! | `EventsPushed` | Count | every fan-out (chat, posts, typing, presence, notifications, DMs): events delivered |
//! | `PushFailures` | Count | the same fan-outs: connections that could not be reached (not 410) |
//! | `ConnectionsPruned` | Count | the same fan-outs: connections API Gateway reported gone (410), pruned |
//! | `NotifierLagMs` | Milliseconds | the notifier, per job: now minus the job's creation |
//! | `RateLimitRefusals` | Count | a write refused by a rate limit |

use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::OnceLock;

pub const NAMESPACE: &str = "CourseCommunity";
pub const DIMENSION: &str = "Function";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    EventsPushed,
    PushFailures,
    ConnectionsPruned,
    NotifierLagMs,
    RateLimitRefusals,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::EventsPushed => "EventsPushed",
            Metric::PushFailures => "PushFailures",
            Metric::ConnectionsPruned => "ConnectionsPruned",
            Metric::NotifierLagMs => "NotifierLagMs",
            Metric::RateLimitRefusals => "RateLimitRefusals",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::NotifierLagMs => "Milliseconds",
            _ => "Count",
        }
    }
}

/// The EMF document of one measurement: the `_aws` metadata, the dimension's value and each
/// metric's value under its name.
pub fn document(function: &str, timestamp_ms: i64, values: &[(Metric, f64)]) -> Value {
    let definitions: Vec<Value> = values
        .iter()
        .map(|(m, _)| json!({ "Name": m.name(), "Unit": m.unit() }))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    doc.insert(DIMENSION.into(), json!(function));
    for (m, v) in values {
        doc.insert(m.name().into(), json!(v));
    }
    Value::Object(doc)
}

/// The function's name as Lambda sets it (`local` outside Lambda).
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "local".into())
    })
}

/// Writes one measurement as one line on stdout (a single write, so it never interleaves with
/// a log line). Nothing is written for an empty measurement.
pub fn emit(values: &[(Metric, f64)]) {
    if values.is_empty() {
        return;
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut line = document(function_name(), now, values).to_string();
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_every_metric_it_carries() {
        let doc = document(
            "MessagesFunction",
            1_800_000_000_123,
            &[
                (Metric::EventsPushed, 3.0),
                (Metric::PushFailures, 0.0),
                (Metric::ConnectionsPruned, 1.0),
            ],
        );
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_800_000_000_123i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CourseCommunity");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                { "Name": "EventsPushed", "Unit": "Count" },
                { "Name": "PushFailures", "Unit": "Count" },
                { "Name": "ConnectionsPruned", "Unit": "Count" },
            ])
        );
        // The dimension and every declared metric are top-level members, as EMF requires.
        assert_eq!(doc["Function"], "MessagesFunction");
        assert_eq!(doc["EventsPushed"], 3.0);
        assert_eq!(doc["PushFailures"], 0.0);
        assert_eq!(doc["ConnectionsPruned"], 1.0);
        assert_eq!(doc.as_object().unwrap().len(), 5);
    }

    #[test]
    fn lag_is_in_milliseconds_and_refusals_are_counts() {
        let doc = document(
            "NotifyFunction",
            0,
            &[
                (Metric::NotifierLagMs, 250.0),
                (Metric::RateLimitRefusals, 1.0),
            ],
        );
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(
            metrics[0],
            json!({ "Name": "NotifierLagMs", "Unit": "Milliseconds" })
        );
        assert_eq!(
            metrics[1],
            json!({ "Name": "RateLimitRefusals", "Unit": "Count" })
        );
        assert_eq!(doc["NotifierLagMs"], 250.0);
    }

    #[test]
    fn a_document_is_one_line_of_json() {
        let line = document("F", 1, &[(Metric::EventsPushed, 1.0)]).to_string();
        assert!(!line.contains('\n'));
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}
