//! WebSocket API and Management API: events, routing, limits, faults, the AWS SDK client and load.

mod common;

use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use futures::{SinkExt, StreamExt};
use local_gateway::{Faults, WsLimits};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use common::{Ws, config, next_text, start};

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Waits for the server's close frame and returns `(code, reason)`.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no close in time")
        {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return (code.into(), reason.to_string());
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            other => panic!("expected close, got {other:?}"),
        }
    }
}

async fn connection_id(t: &common::TestGateway, marker: &str) -> String {
    let e = t
        .wait_event(|e| {
            e["requestContext"]["eventType"] == "CONNECT"
                && e["queryStringParameters"]["m"] == marker
        })
        .await;
    e["event"]["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn connect_message_disconnect_events() {
    let t = start(config()).await;
    let mut ws = connect(&format!("{}/?token=abc&m=a1&m=a2", t.gw.ws_url())).await;
    let connect = t
        .wait_event(|e| e["requestContext"]["eventType"] == "CONNECT")
        .await["event"]
        .clone();
    let rc = &connect["requestContext"];
    assert_eq!(rc["routeKey"], "$connect");
    assert_eq!(rc["messageDirection"], "IN");
    assert_eq!(rc["stage"], "test");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        connect["queryStringParameters"],
        json!({"token": "abc", "m": "a2"})
    );
    assert_eq!(
        connect["multiValueQueryStringParameters"]["m"],
        json!(["a1", "a2"])
    );
    assert!(connect["headers"]["Sec-WebSocket-Key"].is_string());
    assert!(connect["multiValueHeaders"]["Host"].is_array());
    let id = rc["connectionId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(connect.clone()).unwrap();
    assert_eq!(
        typed.request_context.connection_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(typed.request_context.event_type.as_deref(), Some("CONNECT"));
    assert!(
        typed.request_context.connected_at > 0
            && typed.request_context.request_time_epoch >= typed.request_context.connected_at
    );
    let lr: lambda_http::request::LambdaRequest = serde_json::from_value(connect).unwrap();
    assert!(matches!(
        lr,
        lambda_http::request::LambdaRequest::WebSocket(_)
    ));

    // $default route; the function echoes its event through the Management API.
    ws.send(Message::Text(r#"{"type":"unknown","n":1}"#.into()))
        .await
        .unwrap();
    let msg = next_text(&mut ws).await;
    assert_eq!(msg["requestContext"]["routeKey"], "$default");
    assert_eq!(msg["requestContext"]["eventType"], "MESSAGE");
    assert_eq!(msg["requestContext"]["connectionId"], id.as_str());
    assert!(msg["requestContext"]["messageId"].is_string());
    assert_eq!(msg["body"], r#"{"type":"unknown","n":1}"#);
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(msg).unwrap();
    assert!(typed.request_context.message_id.is_some());

    // Custom route key, and a body that is not JSON.
    ws.send(Message::Text(r#"{"type":"custom"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await["requestContext"]["routeKey"],
        "custom"
    );
    ws.send(Message::Text("plain text".into())).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await["requestContext"]["routeKey"],
        "$default"
    );

    // A failing function: API Gateway tells the client.
    ws.send(Message::Text(r#"{"fail":true}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await["message"], "Internal server error");

    // Frames of one connection run concurrently, as API Gateway invokes the integration for
    // each one on its own: a slow frame finishes after the quick ones sent after it.
    assert_eq!(
        frame_order(&mut ws, &[600, 0, 300, 0]).await.last(),
        Some(&0)
    );

    ws.close(Some(CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let d = t
        .wait_event(|e| e["requestContext"]["eventType"] == "DISCONNECT")
        .await["event"]
        .clone();
    assert_eq!(d["requestContext"]["routeKey"], "$disconnect");
    assert_eq!(d["requestContext"]["connectionId"], id.as_str());
    assert_eq!(d["requestContext"]["disconnectStatusCode"], 1000);
    assert_eq!(d["requestContext"]["disconnectReason"], "bye");
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(d).unwrap();
    assert_eq!(typed.request_context.disconnect_status_code, Some(1000));
    t.gw.shutdown().await;
}

/// Sends frames that sleep as long as told and answers the order their echoes came back in.
async fn frame_order(ws: &mut Ws, sleeps_ms: &[u64]) -> Vec<u64> {
    for (i, ms) in sleeps_ms.iter().enumerate() {
        ws.send(Message::Text(
            json!({"sleep_ms": ms, "i": i}).to_string().into(),
        ))
        .await
        .unwrap();
    }
    let mut order = Vec::new();
    for _ in sleeps_ms {
        let m = next_text(ws).await;
        let body: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
        order.push(body["i"].as_u64().unwrap());
    }
    order
}

#[tokio::test]
async fn ordered_frames_switch() {
    // The debugging switch keeps one connection's frames in order.
    let t = start(config().ordered_frames(true)).await;
    let mut ws = connect(&t.gw.ws_url()).await;
    assert_eq!(frame_order(&mut ws, &[300, 0, 100, 0]).await, [0, 1, 2, 3]);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn refused_handshake() {
    let t = start(config()).await;
    for status in [401u16, 403] {
        match tokio_tungstenite::connect_async(format!("{}/?deny={status}", t.gw.ws_url())).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), status)
            }
            other => panic!("expected refusal, got {:?}", other.map(|_| ())),
        }
    }
    // The $connect function crashing: 500, no connection.
    match tokio_tungstenite::connect_async(format!("{}/?crash=1", t.gw.ws_url())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 500),
        other => panic!("expected refusal, got {:?}", other.map(|_| ())),
    }
    assert_eq!(t.gw.stats().connections_open, 0);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn limits() {
    let limits = WsLimits {
        max_message_bytes: 8 * 1024,
        max_frame_bytes: 4 * 1024,
        idle_timeout: Duration::from_millis(400),
        max_connection_duration: Duration::from_millis(1500),
    };
    let t = start(config().limits(limits)).await;
    let url = t.gw.ws_url();

    let mut ws = connect(&url).await;
    ws.send(Message::Text("x".repeat(5 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1009);

    let mut ws = connect(&url).await;
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1003);

    // Idle: nothing sent for 400 ms.
    let mut ws = connect(&format!("{url}/?m=idle")).await;
    let started = Instant::now();
    assert_eq!(close_frame(&mut ws).await, (1001, "Going away".into()));
    assert!(started.elapsed() >= Duration::from_millis(350));
    let id = connection_id(&t, "idle").await;
    let d = t
        .wait_event(|e| {
            e["requestContext"]["eventType"] == "DISCONNECT"
                && e["requestContext"]["connectionId"] == id.as_str()
        })
        .await;
    assert_eq!(d["event"]["requestContext"]["disconnectStatusCode"], 1001);

    // Max duration: closed even while active.
    let mut ws = connect(&url).await;
    let started = Instant::now();
    let (code, _) = loop {
        ws.send(Message::Ping(vec![].into())).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => break (u16::from(f.code), f.reason),
            _ => assert!(started.elapsed() < Duration::from_secs(4)),
        }
    };
    assert_eq!(code, 1001);
    assert!(started.elapsed() >= Duration::from_millis(1400));
    t.gw.shutdown().await;
}

#[tokio::test]
async fn default_limits_frame_and_message() {
    let t = start(config()).await;
    // 40 KB in one frame: over the 32 KB frame limit.
    let mut ws = connect(&t.gw.ws_url()).await;
    ws.send(Message::Text("y".repeat(40 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1009);
    // 30 KB is fine.
    let mut ws = connect(&t.gw.ws_url()).await;
    ws.send(Message::Text(
        json!({"pad": "z".repeat(30 * 1024)}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_text(&mut ws).await["requestContext"]["eventType"],
        "MESSAGE"
    );
    t.gw.shutdown().await;
}

#[tokio::test]
async fn management_api() {
    let t = start(config()).await;
    let base = t.gw.management_url();
    let c = common::management_client();
    let mut ws = connect(&format!("{}/?m=mgmt", t.gw.ws_url())).await;
    let id = connection_id(&t, "mgmt").await;
    let enc = id.replace('=', "%3D");

    let r = c
        .post(format!("{base}/@connections/{enc}"))
        .body(r#"{"hello":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(next_text(&mut ws).await, json!({"hello": 1}));
    // Any stage prefix.
    let r = c
        .post(format!("{base}/test/@connections/{enc}"))
        .body(r#"{"hello":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(next_text(&mut ws).await, json!({"hello": 2}));

    let info: Value = c
        .get(format!("{base}/@connections/{enc}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert!(info["lastActiveAt"].is_string());
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");

    let r = c
        .post(format!("{base}/@connections/{enc}"))
        .body(vec![b'a'; 128 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let r = c
        .post(format!("{base}/@connections/nosuchconnection"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert_eq!(r.headers()["x-amzn-errortype"], "GoneException");

    let r = c
        .delete(format!("{base}/@connections/{enc}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(close_frame(&mut ws).await.0, 1000);
    let d = t
        .wait_event(|e| {
            e["requestContext"]["eventType"] == "DISCONNECT"
                && e["requestContext"]["connectionId"] == id.as_str()
        })
        .await;
    assert_eq!(d["event"]["requestContext"]["disconnectStatusCode"], 1000);
    for r in [
        c.post(format!("{base}/@connections/{enc}"))
            .body("x")
            .send()
            .await
            .unwrap(),
        c.get(format!("{base}/@connections/{enc}"))
            .send()
            .await
            .unwrap(),
        c.delete(format!("{base}/@connections/{enc}"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 410);
    }
    let stats = t.gw.stats();
    assert_eq!(stats.management.by_status[&410], 4);
    assert_eq!(stats.management.by_status[&413], 1);
    assert_eq!(stats.management.by_status[&204], 1);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn aws_sdk_client() {
    use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_apigatewaymanagement::primitives::Blob;
    let t = start(config()).await;
    let mut ws = connect(&format!("{}/?m=sdk", t.gw.ws_url())).await;
    let id = connection_id(&t, "sdk").await;
    // The endpoint as functions get it, with and without a stage path.
    for endpoint in [
        t.gw.management_url(),
        format!("{}/test", t.gw.management_url()),
    ] {
        let conf = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .endpoint_url(&endpoint)
            .build();
        let client = aws_sdk_apigatewaymanagement::Client::from_conf(conf);
        client
            .post_to_connection()
            .connection_id(&id)
            .data(Blob::new(r#"{"via":"sdk"}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await, json!({"via": "sdk"}));
        let info = client
            .get_connection()
            .connection_id(&id)
            .send()
            .await
            .unwrap();
        assert!(info.connected_at().is_some());
        assert_eq!(
            info.identity().and_then(|i| i.source_ip()),
            Some("127.0.0.1")
        );
        let err = client
            .post_to_connection()
            .connection_id("gone-connection=")
            .data(Blob::new("x"))
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_gone_exception());
    }
    let conf = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .endpoint_url(t.gw.management_url())
        .build();
    let client = aws_sdk_apigatewaymanagement::Client::from_conf(conf);

    t.gw.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 1.0,
        fail_status: 429,
    });
    let err = client
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_limit_exceeded_exception());
    t.gw.set_faults(Faults::default());
    client
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(close_frame(&mut ws).await.0, 1000);

    // An injected 410 drops the connection, as only a gone connection gets one.
    let mut ws = connect(&format!("{}/?m=sdk-gone", t.gw.ws_url())).await;
    let id = connection_id(&t, "sdk-gone").await;
    t.gw.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 1.0,
        fail_status: 410,
    });
    let err = client
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_gone_exception());
    assert_eq!(close_frame(&mut ws).await.0, 1001);
    t.gw.set_faults(Faults::default());
    let err = client
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_gone_exception());
    t.gw.shutdown().await;
}

#[tokio::test]
async fn fault_injection() {
    let t = start(config().faults(Faults {
        latency_ms: 150,
        fail_rate: 0.0,
        fail_status: 500,
    }))
    .await;
    let base = t.gw.management_url();
    let c = common::management_client();
    let mut ws = connect(&format!("{}/?m=faults", t.gw.ws_url())).await;
    let id = connection_id(&t, "faults").await;

    let started = Instant::now();
    assert_eq!(
        c.post(format!("{base}/@connections/{id}"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    next_text(&mut ws).await;

    // Runtime control over HTTP.
    let r = c
        .put(format!("{base}/@gateway/faults"))
        .json(&json!({"fail_rate": 1.0, "fail_status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let f: Value = c
        .get(format!("{base}/@gateway/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        f,
        json!({"latency_ms": 0, "fail_rate": 1.0, "fail_status": 500})
    );
    assert_eq!(
        c.post(format!("{base}/@connections/{id}"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    let r = c
        .put(format!("{base}/@gateway/faults"))
        .json(&json!({"fail_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // About half fail at 0.5.
    t.gw.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 0.5,
        fail_status: 429,
    });
    let mut failed = 0;
    for _ in 0..200 {
        if c.post(format!("{base}/@connections/{id}"))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            == 429
        {
            failed += 1;
        }
    }
    assert!((60..140).contains(&failed), "{failed}");
    let stats: Value = c
        .get(format!("{base}/@gateway/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["management"]["by_status"]["429"], failed);
    assert_eq!(stats["management"]["injected_faults"], failed + 1);
    assert_eq!(stats["connections_open"], 1);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn fan_out_to_many_connections() {
    let t = start(config()).await;
    let n = 300;
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(connect(&format!("{}/?m=fan{i}", t.gw.ws_url())).await);
    }
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(connection_id(&t, &format!("fan{i}")).await);
    }
    let c = common::management_client();
    let base = t.gw.management_url();
    let started = Instant::now();
    let posts = ids.iter().map(|id| {
        let c = c.clone();
        let u = format!("{base}/@connections/{id}");
        async move {
            c.post(u)
                .body(r#"{"type":"chat_message"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 200));
    for ws in &mut clients {
        assert_eq!(next_text(ws).await["type"], "chat_message");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(t.gw.stats().management.delivered, n as u64);
    t.gw.shutdown().await;
}

#[tokio::test]
async fn connect_authorizer() {
    let base = std::fs::read_to_string(common::fixture()).unwrap();
    let text = base.replace(
        "      RouteKey: $connect\n",
        "      RouteKey: $connect\n      AuthorizationType: CUSTOM\n      AuthorizerId: !Ref Auth\n",
    ) + r#"
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref WebSocketApi
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${CustomFunction.Arn}/invocations"
      IdentitySource: [route.request.querystring.token]
"#;
    let path = std::env::temp_dir().join(format!("gw-auth-template-{}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let t = start(config().template(&path)).await;
    let url = t.gw.ws_url();
    for (query, status) in [
        ("", 401u16),
        ("?token=", 401),
        ("?token=bad", 401),
        ("?token=deny", 403),
    ] {
        match tokio_tungstenite::connect_async(format!("{url}/{query}")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), status, "{query}")
            }
            other => panic!("{query}: expected refusal, got {:?}", other.map(|_| ())),
        }
    }
    let mut ws = connect(&format!("{url}/?token=good&m=auth")).await;
    let e = t
        .wait_event(|e| {
            e["requestContext"]["eventType"] == "CONNECT"
                && e["queryStringParameters"]["m"] == "auth"
                && e["type"].is_null()
        })
        .await;
    let auth = &e["event"]["requestContext"]["authorizer"];
    assert_eq!(auth["principalId"], "user-1");
    assert_eq!(auth["userId"], "user-1");
    ws.send(Message::Text("{}".into())).await.unwrap();
    let msg = next_text(&mut ws).await;
    assert_eq!(msg["requestContext"]["authorizer"]["role"], "student");
    let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(msg).unwrap();
    assert_eq!(typed.request_context.authorizer.fields["userId"], "user-1");
    t.gw.shutdown().await;
    let _ = std::fs::remove_file(path);
}

/// One message to 5,000 connections through the Management API (`cargo test -- --ignored`).
#[tokio::test]
#[ignore = "load check, ~10 s"]
async fn fan_out_5000() {
    // The gateway's own capacity, not the account's quotas (5,000 connections in a few seconds).
    let t = start(config().throttles(local_gateway::Throttles::off())).await;
    let n = 5000;
    let url = t.gw.ws_url();
    let started = Instant::now();
    let mut clients = Vec::new();
    for chunk in 0..n / 100 {
        let batch = (0..100).map(|_| connect(&url));
        clients.extend(futures::future::join_all(batch).await);
        assert_eq!(t.gw.stats().connections_open, (chunk + 1) * 100);
    }
    eprintln!("{n} connections in {:?}", started.elapsed());
    let ids = t.gw.connection_ids();
    let c = common::management_client_builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let base = t.gw.management_url();
    let started = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(512));
    let posts = ids.iter().map(|id| {
        let (c, sem) = (c.clone(), sem.clone());
        let u = format!("{base}/@connections/{id}");
        async move {
            let _p = sem.acquire().await.unwrap();
            c.post(u)
                .body(r#"{"type":"chat_message"}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    let posted = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 200));
    for ws in &mut clients {
        assert_eq!(next_text(ws).await["type"], "chat_message");
    }
    eprintln!(
        "{n} posts in {posted:?}, all delivered in {:?}",
        started.elapsed()
    );
    t.gw.shutdown().await;
}
