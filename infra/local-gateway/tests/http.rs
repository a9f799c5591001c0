//! HTTP API through the gateway to the echo function: events, responses, errors, timeouts, pool.

mod common;

use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde_json::Value;

use common::{config, start};

#[tokio::test]
async fn http_event_and_response_mapping() {
    let t = start(config()).await;
    let url = t.gw.http_url();
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{url}/echo/a/b%20c?x=1&x=2&y=%2Fz&flag"))
        .header("cookie", "a=1; b=2")
        .header("x-rep", "one")
        .header("X-Rep", "two")
        .header("user-agent", "tester/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-echo"], "1");
    let multi: Vec<_> = r
        .headers()
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(multi, ["a", "b"]);
    let cookies: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, ["session=abc; Path=/", "theme=dark"]);
    assert!(r.headers().contains_key("apigw-requestid"));
    let ev: Value = r.json().await.unwrap();

    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["routeKey"], "ANY /echo/{proxy+}");
    assert_eq!(ev["rawPath"], "/echo/a/b%20c");
    assert_eq!(ev["rawQueryString"], "x=1&x=2&y=%2Fz&flag");
    assert_eq!(ev["cookies"], serde_json::json!(["a=1", "b=2"]));
    assert_eq!(ev["headers"]["x-rep"], "one,two");
    assert!(ev["headers"].get("cookie").is_none());
    assert_eq!(
        ev["queryStringParameters"],
        serde_json::json!({"x": "1,2", "y": "/z", "flag": ""})
    );
    assert_eq!(ev["pathParameters"]["proxy"], "a/b c");
    let rc = &ev["requestContext"];
    assert_eq!(rc["http"]["method"], "GET");
    assert_eq!(rc["http"]["path"], "/echo/a/b%20c");
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["http"]["userAgent"], "tester/1");
    assert_eq!(rc["stage"], "$default");
    assert_eq!(rc["routeKey"], "ANY /echo/{proxy+}");
    assert_eq!(rc["accountId"], "123456789012");
    assert!(rc["timeEpoch"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(rc["time"].as_str().unwrap().ends_with(" +0000"));
    assert_eq!(ev["isBase64Encoded"], false);
    assert!(ev.get("body").is_none());

    // The typed event and lambda_http both accept it.
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(ev.clone()).unwrap();
    assert_eq!(typed.raw_path.as_deref(), Some("/echo/a/b%20c"));
    assert_eq!(typed.request_context.http.method, http_method("GET"));
    let lr: lambda_http::request::LambdaRequest = serde_json::from_value(ev).unwrap();
    assert!(matches!(
        lr,
        lambda_http::request::LambdaRequest::ApiGatewayV2(_)
    ));

    // Lambda Runtime API headers reached the function.
    let rec = t.wait_event(|e| e["rawPath"] == "/echo/a/b%20c").await;
    assert_eq!(
        rec["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    );
    assert_eq!(rec["request_id"].as_str().unwrap().len(), 36);
    t.gw.shutdown().await;
}

fn http_method(m: &str) -> http::Method {
    m.parse().unwrap()
}

#[tokio::test]
async fn bodies_routes_and_errors() {
    let t = start(config()).await;
    let url = t.gw.http_url();
    let c = reqwest::Client::new();

    // JSON (and text, XML, JavaScript) bodies are passed as text; any other body, and one
    // without a content type, base64-encoded, as API Gateway does.
    let ev: Value = c
        .post(format!("{url}/echo/x"))
        .header("content-type", "application/json; charset=utf-8")
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["body"], "{\"a\":1}");
    assert_eq!(ev["isBase64Encoded"], false);
    for (content_type, base64) in [
        (Some("text/plain"), false),
        (Some("application/xml"), false),
        (Some("application/x-www-form-urlencoded"), true),
        (Some("application/octet-stream"), true),
        (None, true),
    ] {
        let mut req = c.post(format!("{url}/echo/x")).body("{\"a\":1}");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let ev: Value = req.send().await.unwrap().json().await.unwrap();
        assert_eq!(ev["isBase64Encoded"], base64, "{content_type:?}");
        let expected = if base64 { "eyJhIjoxfQ==" } else { "{\"a\":1}" };
        assert_eq!(ev["body"], expected, "{content_type:?}");
        // lambda_http decodes it again.
        let lr: lambda_http::request::LambdaRequest = serde_json::from_value(ev).unwrap();
        let req: lambda_http::Request = lr.into();
        assert_eq!(req.body().as_ref(), b"{\"a\":1}");
    }
    let ev: Value = c
        .put(format!("{url}/echo/x"))
        .body(vec![0u8, 159, 146, 150])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["body"], "AJ+Slg==");
    assert_eq!(ev["isBase64Encoded"], true);

    // Literal beats {param}; method-specific route; paths match literally, so a trailing slash
    // the template does not declare finds no route (as on an HTTP API).
    let ev: Value = c
        .get(format!("{url}/items/special"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["routeKey"], "ANY /items/special");
    let ev: Value = c
        .get(format!("{url}/items/42"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["routeKey"], "GET /items/{id}");
    assert_eq!(ev["pathParameters"]["id"], "42");
    for path in ["/items/special/", "/items/42/"] {
        let r = c.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // A greedy parameter takes the trailing slash with it.
    let ev: Value = c
        .get(format!("{url}/echo/a/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ev["pathParameters"]["proxy"], "a/");
    let r = c.post(format!("{url}/items/42")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Not Found"})
    );
    assert_eq!(
        c.get(format!("{url}/echo")).send().await.unwrap().status(),
        404
    );

    // Non-proxy JSON is the body; base64 bodies are decoded.
    let r = c.get(format!("{url}/echo/raw")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"hello": "world"})
    );
    let r = c.get(format!("{url}/echo/binary")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &[0u8, 1, 2, 255]);

    // A function error and a missing binary: 500, as API Gateway answers a failed invocation.
    let r = c.get(format!("{url}/echo/error")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Internal Server Error"})
    );
    assert_eq!(
        c.get(format!("{url}/missing"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );

    // 10 MB body limit.
    let r = c
        .post(format!("{url}/echo/big"))
        .body(vec![b'a'; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // CORS preflight and headers.
    let r = c
        .request(reqwest::Method::OPTIONS, format!("{url}/echo/x"))
        .header("origin", "http://app.local")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["access-control-allow-methods"], "GET,POST");
    assert_eq!(r.headers()["access-control-max-age"], "600");
    let r = c
        .get(format!("{url}/echo/x"))
        .header("origin", "http://app.local")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");

    // Environment seen by the function.
    let env = |name: &str| {
        let c = c.clone();
        let url = url.clone();
        let name = name.to_string();
        async move {
            c.get(format!("{url}/echo/env/{name}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(env("FROM_PARAM").await, "hello");
    assert_eq!(env("NO_DEFAULT").await, "<unset>");
    assert_eq!(env("TABLE_NAME").await, "community-local");
    assert_eq!(env("WS_MANAGEMENT_ENDPOINT").await, t.gw.management_url());
    assert_eq!(env("AWS_LAMBDA_FUNCTION_VERSION").await, "$LATEST");
    assert!(
        env("AWS_LAMBDA_RUNTIME_API")
            .await
            .starts_with("127.0.0.1:")
    );
    t.gw.shutdown().await;
}

#[tokio::test]
async fn timeouts_crashes_and_the_pool() {
    let t = start(config().max_instances_per_function(3)).await;
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

    // Over the 2 s timeout: a Lambda timeout is a function error (500); the instance is
    // killed and replaced.
    let start_t = Instant::now();
    let r = c
        .get(format!("{url}/echo/sleep/4000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "Internal Server Error"})
    );
    assert!(start_t.elapsed() < Duration::from_millis(3500));
    assert_eq!(
        c.get(format!("{url}/echo/after-timeout"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A crash mid-invocation: 500, then a fresh instance serves.
    assert_eq!(
        c.get(format!("{url}/echo/crash"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    assert_eq!(
        c.get(format!("{url}/echo/after-crash"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert_eq!((s.timeouts, s.crashes), (1, 1));

    // Killed from outside mid-invocation (`kill_busy_instance`): 500, then a fresh instance serves.
    assert!(
        !t.gw.kill_busy_instance("EchoFunction"),
        "nothing in flight"
    );
    let slow = tokio::spawn({
        let c = c.clone();
        let u = format!("{url}/echo/sleep/1500");
        async move { c.get(u).send().await.unwrap().status().as_u16() }
    });
    let deadline = Instant::now() + Duration::from_secs(1);
    while !t.gw.kill_busy_instance("EchoFunction") {
        assert!(Instant::now() < deadline, "the slow call is in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slow.await.unwrap(), 500);
    assert_eq!(
        c.get(format!("{url}/echo/after-kill"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(t.gw.stats().functions["EchoFunction"].crashes, 2);

    // 12 concurrent 300 ms calls with at most 3 instances: all served, at most 3 live.
    let start_t = Instant::now();
    let calls = (0..12).map(|_| {
        let c = c.clone();
        let u = format!("{url}/echo/sleep/300");
        async move { c.get(u).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(start_t.elapsed() >= Duration::from_millis(1150));
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert!(s.instances_live <= 3, "{s:?}");
    assert!(s.instances_started >= 3);
    assert_eq!(s.init_times_ms.len() as u64, s.instances_started);
    assert!(s.init_times_ms.iter().all(|ms| *ms > 0.0 && *ms < 10_000.0));
    t.gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_kills_instances() {
    let t = start(config()).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{}/echo/x", t.gw.http_url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let runtime_api = c
        .get(format!(
            "{}/echo/env/AWS_LAMBDA_RUNTIME_API",
            t.gw.http_url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(t.gw.stats().functions["EchoFunction"].instances_live, 1);
    let url = t.gw.http_url();
    t.gw.shutdown().await;
    assert!(c.get(format!("{url}/echo/x")).send().await.is_err());
    assert!(
        c.get(format!(
            "http://{runtime_api}/2018-06-01/runtime/invocation/next"
        ))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .is_err()
    );
}

#[tokio::test]
async fn an_invocation_given_up_on_kills_its_instance_and_frees_its_place() {
    let t = start(config().max_instances_per_function(1)).await;
    let sleeping = serde_json::json!({
        "version": "2.0",
        "rawPath": "/echo/sleep/60000",
        "requestContext": { "stage": "$default", "http": { "method": "GET", "path": "/echo/sleep/60000" } }
    });
    // The caller goes away (a client that gave up during `$connect`, a timeout around the call).
    let gave_up = tokio::time::timeout(
        Duration::from_millis(1500),
        t.gw.invoke("EchoFunction", sleeping),
    )
    .await;
    assert!(gave_up.is_err(), "the call was still running: {gave_up:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.gw.stats().functions["EchoFunction"].instances_live > 0 {
        assert!(
            Instant::now() < deadline,
            "the abandoned instance still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its place in the limit of one is free, and a fresh instance serves.
    let r = reqwest::Client::new()
        .get(format!("{}/echo/after", t.gw.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = t.gw.stats().functions["EchoFunction"].clone();
    assert_eq!((s.instances_started, s.instances_live), (2, 1), "{s:?}");
    t.gw.shutdown().await;
}
