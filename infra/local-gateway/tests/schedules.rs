//! Scheduled functions (`Type: Schedule` / `Type: ScheduleV2`, fixture `schedules.yaml`): the
//! expressions EventBridge takes, the Scheduled Event, runs on request and on the timers.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use local_gateway::schedules::{Expression, Lookup, find};
use local_gateway::{GatewayConfig, Template};
use serde_json::{Value, json};

use common::{examples_dir, start};

fn schedules_config() -> GatewayConfig {
    GatewayConfig::for_tests()
        .template(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/schedules.yaml"),
        )
        .bin_dir(examples_dir())
}

/// A template with one function whose one event is `event` (YAML of the event's mapping).
fn template_with(event: &str) -> Result<Template, local_gateway::Error> {
    let text = format!(
        "Resources:\n  Mailer:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Due:\n{}",
        event
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect::<String>()
    );
    Template::parse(&text)
}

#[test]
fn eventbridge_expressions_are_accepted_and_others_rejected() {
    for ok in [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 * * * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(0 9 ? * MON-FRI *)",
        "cron(0 18 ? * 1,7 *)",
        "cron(30 6 1 * ? *)",
        "cron(0 12 ? JAN,JUL SUN 2030)",
    ] {
        assert!(
            Expression::parse(ok).is_ok(),
            "{ok}: {:?}",
            Expression::parse(ok)
        );
    }
    for (bad, says) in [
        ("rate(0 minutes)", "at least 1"),
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "singular"),
        ("rate(-1 minutes)", "positive"),
        ("rate(1.5 hours)", "positive"),
        ("rate(5 seconds)", "unit"),
        ("rate(5  minutes)", "rate(N unit)"),
        ("rate(minutes)", "rate(N unit)"),
        ("cron(* * * * *)", "six fields"),
        ("cron(0 * * * * * *)", "six fields"),
        ("cron(0 * * * * *)", "exactly one"),
        ("cron(0 * ? * ? *)", "exactly one"),
        ("cron(0 12 L * ? *)", "L, W and #"),
        ("cron(0 12 15W * ? *)", "L, W and #"),
        ("cron(0 12 ? * 6#3 *)", "L, W and #"),
        ("cron(0 12 ? * 6L *)", "L, W and #"),
        ("cron(0 25 * * ? *)", ""),
        ("cron(0 12 ? * 8 *)", ""),
        ("at(2030-01-01T00:00:00)", "not supported"),
        ("every 5 minutes", "expected rate"),
    ] {
        match Expression::parse(bad) {
            Ok(_) => panic!("{bad} was accepted"),
            Err(e) => assert!(e.contains(says), "{bad}: {e}"),
        }
    }
}

/// Function, event, kind, expression, enabled, input.
type Row<'a> = (&'a str, &'a str, &'a str, &'a str, bool, Option<&'a str>);

#[test]
fn schedules_are_read_from_the_template_and_bad_ones_name_their_function_and_event() {
    let t = Template::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedules.yaml"),
    )
    .unwrap();
    let got: Vec<Row<'_>> = t
        .schedules
        .iter()
        .map(|s| {
            (
                s.function.as_str(),
                s.name.as_str(),
                s.kind.as_str(),
                s.expression.as_str(),
                s.enabled,
                s.input.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Ticker",
                "EveryMinute",
                "Schedule",
                "cron(* * * * ? *)",
                true,
                None
            ),
            (
                "Ticker",
                "Failing",
                "ScheduleV2",
                "rate(1 hour)",
                true,
                Some(r#"{"fail": true}"#)
            ),
            (
                "Ticker",
                "FailingEveryMinute",
                "Schedule",
                "cron(* * * * ? *)",
                true,
                Some(r#"{"fail": true, "every": "minute"}"#)
            ),
            (
                "Ticker",
                "Nightly",
                "Schedule",
                "cron(0 3 * * ? *)",
                true,
                Some(r#"{"job": "nightly"}"#)
            ),
            (
                "Sleeper",
                "EveryMinute",
                "Schedule",
                "cron(* * * * ? *)",
                false,
                None
            ),
            (
                "Sleeper",
                "Paused",
                "ScheduleV2",
                "rate(1 minute)",
                false,
                None
            ),
        ]
    );

    // `{id}` is the event name, or Function.Event when several functions have it.
    assert_eq!(find(&t.schedules, "Nightly"), Ok(3));
    assert_eq!(find(&t.schedules, "Ticker.EveryMinute"), Ok(0));
    assert_eq!(find(&t.schedules, "Sleeper.Nightly"), Err(Lookup::Unknown));
    assert_eq!(find(&t.schedules, "Hourly"), Err(Lookup::Unknown));
    assert_eq!(
        find(&t.schedules, "EveryMinute"),
        Err(Lookup::Ambiguous(vec![
            "Ticker.EveryMinute".into(),
            "Sleeper.EveryMinute".into()
        ]))
    );

    let e = template_with("Type: Schedule\nProperties:\n  Schedule: rate(1 minutes)")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Mailer.Due") && e.contains("rate(1 minutes)"),
        "{e}"
    );
    let e = template_with("Type: ScheduleV2\nProperties:\n  ScheduleExpression: cron(0 9 L * ? *)")
        .unwrap_err()
        .to_string();
    assert!(e.contains("Mailer.Due") && e.contains("L, W and #"), "{e}");
    let e = template_with("Type: ScheduleV2\nProperties:\n  Schedule: rate(1 hour)")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Mailer.Due") && e.contains("ScheduleExpression"),
        "{e}"
    );
    let e =
        template_with("Type: Schedule\nProperties:\n  Schedule: rate(1 hour)\n  Input: '{nope'")
            .unwrap_err()
            .to_string();
    assert!(e.contains("Mailer.Due") && e.contains("Input"), "{e}");
    let t =
        template_with("Type: Schedule\nProperties:\n  Schedule: rate(2 hours)\n  State: DISABLED")
            .unwrap();
    assert!(!t.schedules[0].enabled);
}

#[test]
fn the_scheduled_event_is_eventbridges() {
    let t = Template::parse_with(
        "Resources:\n  Digest:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        Hourly:\n          Type: Schedule\n          Properties:\n            Schedule: cron(0 * * * ? *)\n",
        &BTreeMap::new(),
    )
    .unwrap();
    let spec = &t.schedules[0];
    let time = chrono::DateTime::parse_from_rfc3339("2026-12-03T09:00:00Z")
        .unwrap()
        .to_utc();
    let ev = local_gateway::schedules::payload("eu-west-1", spec, time);
    let id = ev["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        ev,
        json!({
            "version": "0",
            "id": id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-12-03T09:00:00Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/local-Digest-Hourly"],
            "detail": {},
        })
    );
    let parsed: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_value(ev).unwrap();
    assert_eq!(parsed.detail_type, "Scheduled Event");
    assert_eq!(parsed.time, Some(time));
}

#[tokio::test]
async fn a_schedule_runs_on_request_with_its_event_and_answers_the_output() {
    let t = start(schedules_config()).await;
    let control = format!("{}/@gateway/schedules", t.gw.management_url());
    let c = reqwest::Client::new();

    // Timers are off in tests: listed, with no next run.
    let listed: Value = c.get(&control).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["timers"], false);
    let ids: Vec<&str> = listed["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "Ticker.EveryMinute",
            "Failing",
            "FailingEveryMinute",
            "Nightly",
            "Sleeper.EveryMinute",
            "Paused"
        ]
    );
    assert!(
        listed["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["next_run"].is_null())
    );

    // No Input: the Scheduled Event, with `time` now; the answer is the function's output.
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = c
        .post(format!("{control}/Ticker.EveryMinute"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["detail-type"], "Scheduled Event");
    assert_eq!(out["source"], "aws.events");
    assert_eq!(
        out["resources"],
        json!(["arn:aws:events:us-east-1:123456789012:rule/local-Ticker-EveryMinute"])
    );
    let time = out["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && !time.contains('.'), "{time}");
    let time = chrono::DateTime::parse_from_rfc3339(time).unwrap();
    assert!(time >= before && time <= chrono::Utc::now(), "{time}");
    let recorded = t
        .wait_event(|e| e["detail-type"] == "Scheduled Event")
        .await;
    assert!(
        recorded["arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:Ticker"),
        "{recorded}"
    );
    assert_eq!(recorded["event"], out);

    // The same from Rust.
    let out = t.gw.run_schedule("Nightly").await.unwrap();
    assert_eq!(out, json!({"job": "nightly"}));
    assert!(t.gw.run_schedule("Failing").await.is_err());

    // With an Input: exactly that.
    let r = c.post(format!("{control}/Nightly")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"job": "nightly"}));

    // A failing run: 502 with the function's error; unknown: 404; ambiguous: 409.
    let r = c.post(format!("{control}/Failing")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["errorMessage"], "requested failure", "{body}");
    let r = c.post(format!("{control}/Hourly")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{control}/EveryMinute"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["candidates"],
        json!(["Ticker.EveryMinute", "Sleeper.EveryMinute"])
    );

    let listed: Value = c.get(&control).send().await.unwrap().json().await.unwrap();
    let by_id = |id: &str| {
        listed["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("Ticker.EveryMinute")["runs"], 1);
    assert_eq!(by_id("Failing")["runs"], 2);
    assert_eq!(by_id("Failing")["failures"], 2);
    assert_eq!(by_id("Paused")["runs"], 0);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn timers_run_enabled_schedules_and_never_disabled_ones_and_retry_failed_runs() {
    // Retries sooner than Lambda's 1 and 2 minutes, so that the test sees them.
    let t = start(
        schedules_config()
            .run_schedules(true)
            .async_retry_delays(vec![Duration::from_millis(200), Duration::from_millis(400)]),
    )
    .await;
    let control = format!("{}/@gateway/schedules", t.gw.management_url());
    let listed: Value = reqwest::get(&control).await.unwrap().json().await.unwrap();
    assert_eq!(listed["timers"], true);
    for s in listed["schedules"].as_array().unwrap() {
        assert_eq!(s["next_run"].is_string(), s["enabled"] == true, "{s}");
    }

    // Every minute: within a generous bound, a run with the Scheduled Event of that minute.
    let scheduled = |e: &Value| {
        e["event"]["detail-type"] == "Scheduled Event"
            && e["event"]["resources"][0]
                .as_str()
                .is_some_and(|r| r.ends_with("rule/local-Ticker-EveryMinute"))
    };
    let mut run = None;
    for _ in 0..1500 {
        if let Some(e) = t.events().into_iter().find(scheduled) {
            run = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = run.expect("the every-minute schedule never ran");
    let time = run["event"]["time"].as_str().unwrap();
    assert!(time.ends_with(":00Z"), "a minute's start: {time}");

    // Sleeper's every-minute schedule was due at the same time: disabled, it did not run (nor
    // did the disabled rate schedule).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sleeper: Vec<Value> = t
        .events()
        .into_iter()
        .filter(|e| {
            e["arn"]
                .as_str()
                .is_some_and(|a| a.ends_with(":function:Sleeper"))
        })
        .collect();
    assert!(sleeper.is_empty(), "{sleeper:#?}");

    // The failing every-minute schedule ran at the same minute: tried three times (its run and
    // two retries), each with the same Input, then given up.
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = reqwest::get(&control).await.unwrap().json().await.unwrap();
        if listed["schedules"][2]["given_up"] != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failing = &listed["schedules"][2];
    assert_eq!(failing["id"], "FailingEveryMinute");
    assert_eq!(failing["given_up"], 1, "{failing}");
    assert_eq!(failing["failures"], 3, "{failing}");
    let attempts = t
        .events()
        .into_iter()
        .filter(|e| e["event"]["every"] == "minute")
        .count();
    assert_eq!(attempts, 3);
    t.gw.shutdown().await;
}
