//! Business metrics in CloudWatch's embedded metric format: the functions' own output (as
//! CloudWatch Logs would receive it) carries valid EMF lines where the measured thing happens.

use e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

/// The EMF documents among the log lines (`[binary] {json}`) of `binary`.
fn emf_lines(log: &str, binary: &str) -> Vec<Value> {
    let prefix = format!("[{binary}] ");
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

/// Checks one document against the EMF specification's rules that CloudWatch enforces: a
/// millisecond timestamp, one directive in our namespace with the `Function` dimension, every
/// declared metric and the dimension present as top-level members, values numbers.
fn assert_valid_emf(doc: &Value, function: &str) {
    let aws = &doc["_aws"];
    assert!(
        aws["Timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{doc}"
    );
    let directive = &aws["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "CourseCommunity", "{doc}");
    assert_eq!(directive["Dimensions"], json!([["Function"]]), "{doc}");
    assert_eq!(doc["Function"], function, "{doc}");
    let metrics = directive["Metrics"].as_array().expect("metric definitions");
    assert!(!metrics.is_empty());
    for m in metrics {
        let name = m["Name"].as_str().expect("a name");
        assert!(m["Unit"].is_string(), "{doc}");
        assert!(doc[name].is_number(), "{name} has a value: {doc}");
    }
}

fn find<'a>(docs: &'a [Value], metric: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d.get(metric).is_some()).collect()
}

async fn read_until(log: &std::path::Path, binary: &str, metric: &str) -> Vec<Value> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let docs = emf_lines(&text, binary);
        if !find(&docs, metric).is_empty() {
            return docs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {metric} from {binary} in {}", log.display());
}

#[tokio::test]
async fn a_chat_fan_out_a_rate_limit_refusal_and_a_notification_job_write_emf_metrics() {
    let log = std::env::temp_dir().join(format!("functions-{}.log", ulid::Ulid::generate()));
    let log_file = log.clone();
    let stack = Stack::start_with(move |cfg| {
        cfg.quiet = false;
        cfg.log_file = Some(log_file);
        cfg.env_overrides
            .insert("RATE_LIMIT_CHAT".into(), "2/3600".into());
    })
    .await;
    let course = stack.course().await;
    let cid = course.community_id.clone();
    let (alice, bob) = (stack.member(&course).await, stack.member(&course).await);
    let mut alice_ws = stack.ws(&alice, Some(&cid)).await.expect("alice connects");
    let mut bob_ws = stack.ws(&bob, Some(&cid)).await.expect("bob connects");

    for n in 1..=2 {
        alice_ws
            .send(json!({ "type": "chat_message", "community_id": cid,
                          "message": format!("hello {n}"), "client_id": format!("m-{n}") }))
            .await;
        alice_ws.next_of_type("chat_message").await;
        bob_ws.next_of_type("chat_message").await;
    }
    let docs = read_until(&log, "ws-message", "EventsPushed").await;
    let pushes = find(&docs, "EventsPushed");
    for d in &pushes {
        assert_valid_emf(d, "WsMessageFunction");
    }
    // Each message went to alice's acknowledgement and to bob: two events pushed, no failure.
    assert!(
        pushes.iter().any(|d| d["EventsPushed"] == 2.0
            && d["PushFailures"] == 0.0
            && d["ConnectionsPruned"] == 0.0),
        "{pushes:?}"
    );

    // The third message in the window is refused (a window of an hour; should the first two
    // have straddled its boundary, the next one over the limit is).
    let mut refused = false;
    for n in 3..=6 {
        alice_ws
            .send(json!({ "type": "chat_message", "community_id": cid,
                          "message": "one too many", "client_id": format!("m-{n}") }))
            .await;
        let ev = loop {
            let ev = alice_ws.next().await;
            if ev["type"] == "error" || ev["client_id"] == format!("m-{n}").as_str() {
                break ev;
            }
        };
        if ev["type"] == "error" {
            assert_eq!(ev["code"], "rate_limited", "{ev}");
            refused = true;
            break;
        }
    }
    assert!(refused, "the chat limit refuses a message");
    let docs = read_until(&log, "ws-message", "RateLimitRefusals").await;
    let refusals = find(&docs, "RateLimitRefusals");
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_valid_emf(refusals[0], "WsMessageFunction");
    assert_eq!(refusals[0]["RateLimitRefusals"], 1.0);

    // A post queues a notification job; the notifier reports how long it waited.
    let r = stack
        .api(&course.instructor)
        .post(
            &format!("/api/community/groups/{cid}/posts/"),
            json!({ "title": "Week one", "content": "Read chapter one." }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let docs = read_until(&log, "notify", "NotifierLagMs").await;
    let lags = find(&docs, "NotifierLagMs");
    for d in &lags {
        assert_valid_emf(d, "NotifyFunction");
        let lag = d["NotifierLagMs"].as_f64().unwrap();
        assert!((0.0..60_000.0).contains(&lag), "{d}");
    }
    let _ = std::fs::remove_file(&log);
}
