//! Behaviour that must match API Gateway and Lambda as AWS documents them (fixture `aws.yaml`): the
//! stage in the URL and the event, literal paths, CORS from the template's parameters, the
//! integration timeout, Lambda's init limit, and IAM on the Management API.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::{SinkExt, StreamExt};
use local_gateway::GatewayConfig;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::{examples_dir, start};

fn aws_config() -> GatewayConfig {
    GatewayConfig::for_tests()
        .template(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws.yaml"),
        )
        .bin_dir(examples_dir())
}

/// `http://127.0.0.1:<port>` without the stage.
fn root(url: &str) -> &str {
    url.strip_suffix("/dev")
        .expect("the URL ends with the stage")
}

#[tokio::test]
async fn the_stage_is_in_the_url_and_the_event_and_paths_match_literally() {
    let t = start(aws_config()).await;
    let url = t.gw.http_url();
    assert!(url.ends_with("/dev"), "{url}");
    assert!(t.gw.ws_url().ends_with("/dev"));
    assert!(t.gw.management_url().ends_with("/dev"));
    let c = reqwest::Client::new();

    let ev: Value = c
        .get(format!("{url}/echo/a?x=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // As a named stage sends it: the stage is the first segment of rawPath, and its name is in
    // the context; the route key is the template's.
    assert_eq!(ev["rawPath"], "/dev/echo/a");
    assert_eq!(ev["requestContext"]["http"]["path"], "/dev/echo/a");
    assert_eq!(ev["requestContext"]["stage"], "dev");
    assert_eq!(ev["routeKey"], "ANY /echo/{proxy+}");
    assert_eq!(ev["pathParameters"]["proxy"], "a");
    let lr: lambda_http::request::LambdaRequest = serde_json::from_value(ev).unwrap();
    let req: lambda_http::Request = lr.into();
    assert_eq!(req.uri().path(), "/dev/echo/a");

    // No stage, another stage, or the stage's root: nothing.
    for path in ["/echo/a", "/prod/echo/a", "/dev", "/deve/echo/a"] {
        let r = c.get(format!("{}{path}", root(&url))).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"message": "Not Found"})
        );
    }

    // The WebSocket API too is reached at its stage only.
    let ws_root = t.gw.ws_url().strip_suffix("/dev").unwrap().to_string();
    for path in ["/", "/prod", "/dev/x"] {
        match tokio_tungstenite::connect_async(format!("{ws_root}{path}?a=1")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 403, "{path}")
            }
            other => panic!("{path}: expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
    for path in ["/dev", "/dev/"] {
        assert!(
            tokio_tungstenite::connect_async(format!("{ws_root}{path}?a=1"))
                .await
                .is_ok(),
            "{path}"
        );
    }

    // Both forms declared, both served, each by its own route.
    for (path, route) in [("/items", "GET /items"), ("/items/", "GET /items/")] {
        let ev: Value = c
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ev["routeKey"], route);
    }
    t.gw.shutdown().await;
}

async fn preflight(
    c: &reqwest::Client,
    url: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> reqwest::Response {
    let mut r = c
        .request(Method::OPTIONS, format!("{url}/echo/x"))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if !headers.is_empty() {
        r = r.header("access-control-request-headers", headers);
    }
    r.send().await.unwrap()
}

fn cors_headers(r: &reqwest::Response) -> Vec<(String, String)> {
    let mut h: Vec<_> = r
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("access-control-"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    h.sort();
    h
}

#[tokio::test]
async fn cors_as_the_http_api_answers_it_from_the_templates_parameters() {
    let t = start(aws_config()).await;
    let url = t.gw.http_url();
    let c = reqwest::Client::new();

    // An allowed origin (the parameter's default): API Gateway answers the preflight itself.
    let r = preflight(
        &c,
        &url,
        "http://127.0.0.1:5173",
        "POST",
        "Content-Type, Authorization",
    )
    .await;
    assert_eq!(r.status(), 204);
    let expected = |origin: &str| {
        vec![
            (
                "access-control-allow-credentials".to_string(),
                "true".to_string(),
            ),
            (
                "access-control-allow-headers".into(),
                "authorization,content-type".into(),
            ),
            (
                "access-control-allow-methods".into(),
                "GET,POST,OPTIONS".into(),
            ),
            ("access-control-allow-origin".into(), origin.to_string()),
            ("access-control-max-age".into(), "300".into()),
        ]
    };
    assert_eq!(cors_headers(&r), expected("http://127.0.0.1:5173"));
    // `https://*` allows any https origin, answered with the origin itself.
    let r = preflight(&c, &url, "https://app.example.com", "GET", "").await;
    let mut want = expected("https://app.example.com");
    want.retain(|(k, _)| k != "access-control-allow-headers");
    assert_eq!(cors_headers(&r), want);
    // Not allowed: an origin, a method or a header outside the configuration. Still 204, with no
    // CORS headers, so the browser refuses.
    for (origin, method, headers) in [
        ("http://evil.example", "GET", ""),
        ("http://127.0.0.1:5174", "GET", ""),
        ("http://127.0.0.1:5173", "DELETE", ""),
        ("http://127.0.0.1:5173", "POST", "content-type, x-other"),
    ] {
        let r = preflight(&c, &url, origin, method, headers).await;
        assert_eq!(r.status(), 204, "{origin} {method} {headers}");
        assert!(
            cors_headers(&r).is_empty(),
            "{origin} {method} {headers}: {:?}",
            cors_headers(&r)
        );
    }
    // No preflight reached the function.
    assert!(
        t.events()
            .iter()
            .all(|e| e["event"]["requestContext"]["http"]["method"] != "OPTIONS")
    );

    // An OPTIONS request that is no preflight is routed like any other.
    let ev: Value = c
        .request(Method::OPTIONS, format!("{url}/echo/x"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["requestContext"]["http"]["method"], "OPTIONS");

    // The actual request: the configured headers replace the function's own CORS headers.
    let r = c
        .get(format!("{url}/echo/x"))
        .header("origin", "http://127.0.0.1:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cors_headers(&r),
        vec![
            (
                "access-control-allow-credentials".to_string(),
                "true".to_string()
            ),
            (
                "access-control-allow-origin".into(),
                "http://127.0.0.1:5173".into()
            ),
            (
                "access-control-expose-headers".into(),
                "x-echo,apigw-requestid".into()
            ),
        ]
    );
    // Without an Origin, or from another one: none at all (the function's is dropped too).
    for origin in [None, Some("http://evil.example")] {
        let mut req = c.get(format!("{url}/echo/x"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            cors_headers(&r).is_empty(),
            "{origin:?}: {:?}",
            cors_headers(&r)
        );
    }
    t.gw.shutdown().await;

    // The parameter overridden, as `--parameter-overrides` does (for the web app's origin).
    let t = start(aws_config().parameter(
        "AllowedOrigins",
        "http://localhost:4000, http://127.0.0.1:4000",
    ))
    .await;
    let url = t.gw.http_url();
    let r = preflight(&c, &url, "http://127.0.0.1:5173", "GET", "").await;
    assert!(cors_headers(&r).is_empty());
    for origin in ["http://localhost:4000", "http://127.0.0.1:4000"] {
        let r = preflight(&c, &url, origin, "GET", "").await;
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
    }
    t.gw.shutdown().await;

    // A parameter the template does not declare is refused, as CloudFormation refuses it.
    let err = local_gateway::Gateway::start(aws_config().parameter("AllowedOrigin", "x"))
        .await
        .err()
        .expect("an unknown parameter is an error");
    assert!(err.to_string().contains("AllowedOrigin"), "{err}");
}

#[tokio::test]
async fn past_the_integration_timeout_the_client_gets_503_and_the_function_runs_on() {
    let t = start(aws_config().http_integration_timeout(Duration::from_millis(400))).await;
    let url = t.gw.http_url();
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{url}/echo/warm"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let started = Instant::now();
    let r = c
        .get(format!("{url}/echo/sleep/1200"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Service Unavailable"})
    );
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    // The function was not cut short: it finishes, and its instance serves the next call.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert_eq!(
        (s.timeouts, s.crashes, s.instances_started),
        (0, 0, 1),
        "{s:?}"
    );
    t.gw.shutdown().await;
}

#[tokio::test]
async fn init_has_a_limit_of_its_own_and_the_handler_exactly_its_timeout() {
    let c = reqwest::Client::new();

    // A 1.2 s init does not eat into the 2 s handler: 1.5 s of work succeeds on a cold start.
    let t = start(aws_config().env("ECHO_INIT_SLEEP_MS", "1200")).await;
    let url = t.gw.http_url();
    let started = Instant::now();
    let r = c
        .get(format!("{url}/echo/sleep/1500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(2700));
    // The deadline the handler was given is its timeout from when it took the event, after init
    // (the event was made before the process started).
    let rec = t
        .wait_event(|e| e["rawPath"] == "/dev/echo/sleep/1500")
        .await;
    let given = rec["deadline"].as_i64().unwrap()
        - rec["event"]["requestContext"]["timeEpoch"]
            .as_i64()
            .unwrap();
    assert!(
        (3150..4500).contains(&given),
        "deadline {given} ms after the request"
    );
    assert!(t.gw.stats().functions["EchoFunction"].init_times_ms[0] >= 1200.0);
    // And a handler slower than its timeout fails on a cold start too (the init time is not
    // added to its time).
    t.gw.shutdown().await;
    let t = start(aws_config().env("ECHO_INIT_SLEEP_MS", "1200")).await;
    let url = t.gw.http_url();
    let started = Instant::now();
    let r = c
        .get(format!("{url}/echo/sleep/2500"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3600), "{took:?}");
    assert_eq!(t.gw.stats().functions["EchoFunction"].timeouts, 1);
    t.gw.shutdown().await;

    // An init past the init limit is run again within the invocation, which then has the
    // function's timeout for init and handler together.
    let t = start(
        aws_config()
            .init_timeout(Duration::from_millis(600))
            .env("ECHO_INIT_SLEEP_MS", "900"),
    )
    .await;
    let r = c
        .get(format!("{}/echo/x", t.gw.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert_eq!(
        (s.init_timeouts, s.instances_started, s.timeouts),
        (1, 2, 0),
        "{s:?}"
    );
    t.gw.shutdown().await;

    // ...and fails when init alone takes longer than that.
    let t = start(
        aws_config()
            .init_timeout(Duration::from_millis(600))
            .env("ECHO_INIT_SLEEP_MS", "2500"),
    )
    .await;
    let started = Instant::now();
    let r = c
        .get(format!("{}/echo/x", t.gw.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(started.elapsed() < Duration::from_millis(3500));
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert_eq!((s.init_timeouts, s.timeouts), (1, 1), "{s:?}");
    t.gw.shutdown().await;
}

fn management(t: &common::TestGateway, access_key: &str) -> aws_sdk_apigatewaymanagement::Client {
    let conf = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, "secret", None, None, "test"))
        .endpoint_url(t.gw.management_url())
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}

#[tokio::test]
async fn the_management_api_enforces_each_functions_policies() {
    let t = start(aws_config()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/", t.gw.ws_url()))
        .await
        .unwrap();
    let id = t.gw.connection_ids().pop().unwrap();

    // AllowedFunction may post: its frame's echo arrives.
    ws.send(Message::Text(r#"{"type":"hello"}"#.into()))
        .await
        .unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let echo: Value = serde_json::from_str(echo.to_text().unwrap()).unwrap();
    assert_eq!(echo["requestContext"]["routeKey"], "$default");

    // DeniedFunction may not (GET only, and POST on another stage): 403, nothing delivered.
    ws.send(Message::Text(r#"{"type":"denied"}"#.into()))
        .await
        .unwrap();
    t.wait_event(|e| e["requestContext"]["routeKey"] == "denied")
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(600), ws.next())
            .await
            .is_err(),
        "nothing arrives"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while !t.gw.stats().management.by_status.contains_key(&403) {
        assert!(
            Instant::now() < deadline,
            "the denied post was answered 403"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The SDK, signing with each function's credentials, sees what AWS would answer.
    let denied = local_gateway::iam::access_key_id("DeniedFunction");
    let allowed = local_gateway::iam::access_key_id("AllowedFunction");
    let err = management(&t, &denied)
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert!(service.is_forbidden_exception(), "{service:?}");
    assert!(
        service
            .to_string()
            .contains("is not authorized to perform: execute-api:ManageConnections"),
        "{service}"
    );
    // GET is granted to DeniedFunction, not to AllowedFunction; DELETE to neither.
    assert!(
        management(&t, &denied)
            .get_connection()
            .connection_id(&id)
            .send()
            .await
            .is_ok()
    );
    let e = management(&t, &allowed)
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_forbidden_exception());
    let e = management(&t, &allowed)
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_forbidden_exception());
    management(&t, &allowed)
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"from":"allowed"}"#))
        .send()
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.to_text().unwrap(), r#"{"from":"allowed"}"#);
    // Credentials that are no function's (an operator, these tests) may do anything.
    assert!(
        management(&t, "TESTS")
            .get_connection()
            .connection_id(&id)
            .send()
            .await
            .is_ok()
    );

    // An unsigned call is refused, as AWS refuses it.
    let r = reqwest::Client::new()
        .post(format!("{}/@connections/{id}", t.gw.management_url()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Missing Authentication Token"
    );
    // The connection was never treated as gone.
    assert_eq!(t.gw.connection_ids(), vec![id]);
    t.gw.shutdown().await;
}
