//! The account throttles: a `$connect`, an HTTP request, a WebSocket message or an
//! `@connections` call that finds its bucket empty is refused with 429 at once, as API Gateway
//! refuses it, and counted.

mod common;

use futures::SinkExt;
use local_gateway::Throttles;
use local_gateway::throttle::ThrottleStats;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::{config, next_text, start};

#[tokio::test]
async fn over_the_budget_every_kind_of_request_gets_429_and_nothing_runs() {
    // Refills so slow that nothing comes back during the test: one connection, four requests.
    let t = start(config().throttles(Throttles {
        connections_per_second: 0.001,
        requests_per_second: 0.001,
        request_burst: 4.0,
    }))
    .await;
    let http = reqwest::Client::new();
    let url = t.gw.ws_url();

    // 1 connection token, 1 request token.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}/?m=first"))
        .await
        .unwrap();
    // The connection bucket is empty: refused before `$connect` runs.
    match tokio_tungstenite::connect_async(format!("{url}/?m=second")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 429);
            let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(body, json!({ "message": "Too Many Requests" }));
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    // A request token: the HTTP API answers.
    let r = http
        .get(format!("{}/echo/a", t.gw.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A request token for the frame and one for the echo function's PostToConnection.
    ws.send(Message::Text(json!({"type": "hello"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await["requestContext"]["eventType"],
        "MESSAGE"
    );

    // The shared bucket is empty now.
    let r = http
        .get(format!("{}/echo/b", t.gw.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "message": "Too Many Requests" })
    );
    ws.send(Message::Text(json!({"type": "again"}).to_string().into()))
        .await
        .unwrap();
    let refused = next_text(&mut ws).await;
    assert_eq!(refused["message"], "Too Many Requests");
    assert!(refused["connectionId"].is_string());
    let id = t.gw.connection_ids().pop().unwrap();
    let r = common::management_client()
        .post(format!("{}/@connections/{id}", t.gw.management_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "LimitExceededException");

    // No function saw the refused requests: one CONNECT, one HTTP request, one MESSAGE.
    let events = t.events();
    let count = |f: &dyn Fn(&Value) -> bool| events.iter().filter(|e| f(&e["event"])).count();
    assert_eq!(count(&|e| e["requestContext"]["eventType"] == "CONNECT"), 1);
    assert_eq!(count(&|e| e["requestContext"]["eventType"] == "MESSAGE"), 1);
    assert_eq!(count(&|e| e["requestContext"]["http"].is_object()), 1);
    assert_eq!(
        t.gw.stats().throttled,
        ThrottleStats {
            http_requests: 1,
            ws_connects: 1,
            ws_messages: 1,
            management_calls: 1,
        }
    );
    t.gw.shutdown().await;
}

#[tokio::test]
async fn the_defaults_are_aws_quotas_and_a_burst_of_connections_within_them_all_connect() {
    assert_eq!(
        Throttles::default(),
        Throttles {
            connections_per_second: 500.0,
            requests_per_second: 10_000.0,
            request_burst: 5_000.0,
        }
    );
    let t = start(config()).await;
    let url = t.gw.ws_url();
    let opened =
        futures::future::join_all((0..200).map(|_| tokio_tungstenite::connect_async(url.clone())))
            .await;
    assert!(opened.iter().all(Result::is_ok));
    assert_eq!(t.gw.stats().throttled, ThrottleStats::default());
    t.gw.shutdown().await;
}
