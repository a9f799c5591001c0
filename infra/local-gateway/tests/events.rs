//! Response mapping and event shapes without running a function.

use axum::http::HeaderMap;
use local_gateway::events::{WsConnContext, http_response, ws_status};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn gateway_is_shareable() {
    assert_send_sync::<local_gateway::Gateway>();
}

#[tokio::test]
async fn maps_v2_responses() {
    let r = http_response(br#"{"statusCode":404,"headers":{"a":"1","b":2},"multiValueHeaders":{"a":["x","y"]},"body":"nf"}"#).unwrap();
    assert_eq!(r.status(), 404);
    let a: Vec<_> = r.headers().get_all("a").iter().collect();
    assert_eq!(a, ["x", "y"]);
    assert_eq!(r.headers()["b"], "2");
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"nf");

    let r = http_response(br#"{"statusCode":204}"#).unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("content-type").is_none());

    // Not a proxy response: the payload is the body.
    let r = http_response(br#"[1,2]"#).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        &axum::body::to_bytes(r.into_body(), 1024).await.unwrap()[..],
        b"[1,2]"
    );

    // Malformed: the caller answers 500.
    assert!(http_response(b"not json").is_none());
    assert!(http_response(br#"{"statusCode":"abc"}"#).is_none());
    assert!(http_response(br#"{"statusCode":200,"body":"@@","isBase64Encoded":true}"#).is_none());

    assert_eq!(ws_status(br#"{"statusCode":403}"#), 403);
    assert_eq!(ws_status(br#"{"statusCode":"401"}"#), 401);
    assert_eq!(ws_status(b"null"), 200);
}

#[test]
fn websocket_events_deserialize() {
    use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
    let ctx = WsConnContext {
        connection_id: "abcdefghijklmno=".into(),
        connected_at_ms: 1_700_000_000_000,
        source_ip: "127.0.0.1".into(),
        user_agent: "ua".into(),
        domain_name: "127.0.0.1:3001".into(),
        stage: "dev".into(),
        api_id: "abcdefghij".into(),
        authorizer: None,
    };
    let mut h = HeaderMap::new();
    h.insert("host", "127.0.0.1:3001".parse().unwrap());
    h.append("x-multi", "1".parse().unwrap());
    h.append("x-multi", "2".parse().unwrap());
    let c = ctx.connect_event(&h, "token=t%20k");
    assert_eq!(c["headers"]["Host"], "127.0.0.1:3001");
    assert_eq!(
        c["multiValueHeaders"]["X-Multi"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(c["queryStringParameters"]["token"], "t k");
    let m = ctx.message_event("$default", "{}");
    let d = ctx.disconnect_event(1001, "Going away");
    for ev in [c, m, d] {
        let typed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(ev.clone()).unwrap();
        assert_eq!(
            typed.request_context.connection_id.as_deref(),
            Some("abcdefghijklmno=")
        );
        assert_eq!(typed.request_context.connected_at, 1_700_000_000_000);
        assert_eq!(typed.request_context.stage.as_deref(), Some("dev"));
        assert_eq!(typed.request_context.apiid.as_deref(), Some("abcdefghij"));
        let lr: lambda_http::request::LambdaRequest = serde_json::from_value(ev).unwrap();
        assert!(matches!(
            lr,
            lambda_http::request::LambdaRequest::WebSocket(_)
        ));
    }
}
