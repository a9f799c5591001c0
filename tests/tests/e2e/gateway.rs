//! What the local gateway does as API Gateway does, with the real functions and template: the
//! stage in every URL, both forms of each path, AWS's own published events, and IAM on the
//! Management API.

use e2e::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The stage is part of every URL, as in the stack's `HttpApiUrl` output.
#[tokio::test]
async fn the_api_is_served_under_its_stage_and_both_forms_of_each_path_reach_their_function() {
    let stack = Stack::start().await;
    assert!(stack.http_url.ends_with("/dev"), "{}", stack.http_url);
    assert!(stack.ws_url.ends_with("/dev"), "{}", stack.ws_url);
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);

    // Without the stage there is no API.
    let root = stack.http_url.trim_end_matches("/dev");
    let r = reqwest::Client::new()
        .get(format!("{root}/api/community/groups/"))
        .bearer_auth(&member.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "Not Found"})
    );

    // Every route the template declares in both forms answers alike in both.
    let cid = &course.community_id;
    for (path, query) in [
        ("/api/community/groups".to_string(), String::new()),
        (
            "/api/community/posts".to_string(),
            format!("?community={cid}"),
        ),
        (
            "/api/community/messages".to_string(),
            format!("?community={cid}"),
        ),
        ("/api/community/notifications".to_string(), String::new()),
        (format!("/api/community/groups/{cid}/posts"), String::new()),
        (
            format!("/api/community/groups/{cid}/messages"),
            String::new(),
        ),
        (format!("/api/community/groups/{cid}/online"), String::new()),
        (format!("/api/community/groups/{cid}/watch"), String::new()),
    ] {
        let without = api.get(&format!("{path}{query}")).await;
        let with = api.get(&format!("{path}/{query}")).await;
        assert_eq!(without.status, 200, "{path}: {without:?}");
        assert_eq!(with.status, 200, "{path}/: {with:?}");
        assert_eq!(without.body, with.body, "{path}");
    }
    // Moderation needs a moderator.
    let r = stack
        .api(&course.instructor)
        .get(&format!("/api/community/groups/{cid}/moderation"))
        .await;
    let r2 = stack
        .api(&course.instructor)
        .get(&format!("/api/community/groups/{cid}/moderation/"))
        .await;
    assert_eq!((r.status, r2.status), (200, 200), "{r:?} {r2:?}");
}

/// The fixtures `aws_lambda_events` publishes (events captured from AWS), in the source of the
/// version `Cargo.lock` names, where cargo unpacked it.
fn aws_fixtures() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"aws_lambda_events\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("aws_lambda_events is locked")
        .trim_matches('"')
        .to_string();
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let registries = cargo_home.join("registry/src");
    std::fs::read_dir(&registries)
        .unwrap_or_else(|e| panic!("{}: {e}", registries.display()))
        .filter_map(|d| d.ok())
        .map(|d| {
            d.path()
                .join(format!("aws_lambda_events-{version}/src/fixtures"))
        })
        .find(|p| p.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "aws_lambda_events {version} is not unpacked in {}",
                registries.display()
            )
        })
}

fn fixture(dir: &std::path::Path, name: &str) -> Value {
    let path = dir.join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// AWS's own events reach every function: each one parses them and answers without a 5xx
/// (they carry no valid token, so the answer is a refusal).
#[tokio::test]
async fn every_function_accepts_the_events_aws_publishes() {
    let stack = Stack::start().await;
    let dir = aws_fixtures();
    let template = stack.gateway.template();
    let mut http_functions: Vec<String> = template
        .http_routes
        .iter()
        .map(|r| r.function.clone())
        .collect();
    http_functions.sort();
    http_functions.dedup();
    assert_eq!(http_functions.len(), 7, "{http_functions:?}");
    let http_fixtures = [
        "example-apigw-v2-request-no-authorizer.json",
        "example-apigw-v2-request-iam.json",
        "example-apigw-v2-request-jwt-authorizer.json",
        "example-apigw-v2-request-lambda-authorizer.json",
        "example-apigw-v2-request-multi-value-parameters.json",
        "example-apigw-sam-http-request.json",
    ];
    let mut fed = 0;
    for name in http_fixtures {
        let event = fixture(&dir, name);
        for function in &http_functions {
            let r = stack
                .gateway
                .invoke(function, event.clone())
                .await
                .unwrap_or_else(|e| panic!("{name} -> {function}: {e}"));
            let status = r["statusCode"].as_i64().unwrap_or_default();
            assert!((400..500).contains(&status), "{name} -> {function}: {r}");
            fed += 1;
        }
    }
    for name in [
        "example-apigw-websocket-request.json",
        "example-apigw-websocket-request-without-method.json",
        "example-apigw-websocket-request-disconnect-route.json",
    ] {
        let event = fixture(&dir, name);
        let route = event["requestContext"]["routeKey"].as_str().unwrap();
        let function = &template.websocket.routes[route];
        let r = stack
            .gateway
            .invoke(function, event.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} -> {function}: {e}"));
        let status = r["statusCode"].as_i64().unwrap_or(200);
        assert!(status < 500, "{name} -> {function}: {r}");
        if route == "$connect" {
            // No token: refused.
            assert_eq!(status, 401, "{name}: {r}");
        }
        fed += 1;
    }
    // The stream's consumers: the notifier and the search indexer.
    let mut stream_functions: Vec<String> = template
        .stream_sources
        .iter()
        .map(|s| s.function.clone())
        .collect();
    stream_functions.sort();
    stream_functions.dedup();
    assert_eq!(stream_functions.len(), 2, "{stream_functions:?}");
    for name in [
        "example-dynamodb-event.json",
        "example-dynamodb-event-null-items.json",
    ] {
        for function in &stream_functions {
            let r = stack
                .gateway
                .invoke(function, fixture(&dir, name))
                .await
                .unwrap_or_else(|e| panic!("{name} -> {function}: {e}"));
            // Records that are no notification job, post or chat message are no work, not
            // failures.
            assert_eq!(
                r["batchItemFailures"],
                json!([]),
                "{name} -> {function}: {r}"
            );
            fed += 1;
        }
    }
    assert_eq!(
        fed,
        6 * http_functions.len() + 3 + 2 * stream_functions.len()
    );
}

/// A copy of the template in which `function` lost its `execute-api:ManageConnections` statement.
fn template_without_manage_connections(function: &str) -> PathBuf {
    let text = std::fs::read_to_string(template()).unwrap();
    let start = text
        .find(&format!("\n  {function}:\n"))
        .expect("the function is in the template");
    let statement = text[start..]
        .find("        - Statement:\n            - Effect: Allow\n              Action: execute-api:ManageConnections\n")
        .map(|i| start + i)
        .expect("it has a ManageConnections statement");
    let end = text[statement..]
        .find("      Events:\n")
        .map(|i| statement + i)
        .expect("its events follow its policies");
    assert!(
        !text[start..statement].contains("\n      Events:\n"),
        "the statement is {function}'s"
    );
    let copy = format!("{}{}", &text[..statement], &text[end..]);
    let path = std::env::temp_dir().join(format!(
        "template-no-manage-connections-{}-{}.yaml",
        std::process::id(),
        ulid::Ulid::generate()
    ));
    std::fs::write(&path, copy).unwrap();
    path
}

/// On AWS a function without `execute-api:ManageConnections` gets 403 from the Management API,
/// and so it does locally. The fan-out reports it loudly as the deployment error it is and keeps
/// the connection (it is not gone), and the message stays stored.
#[tokio::test]
async fn a_function_without_manage_connections_is_refused_and_the_audience_is_kept() {
    let log = std::env::temp_dir().join(format!("functions-{}.log", ulid::Ulid::generate()));
    let template = template_without_manage_connections("MessagesFunction");
    let log_file = log.clone();
    let stack = Stack::start_with(move |cfg| {
        cfg.template = template;
        cfg.quiet = false;
        cfg.log_file = Some(log_file);
    })
    .await;
    let course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let cid = &course.community_id;
    let mut bob_ws = stack.ws(&bob, Some(cid)).await.expect("bob connects");
    // ws-message still has its policy: the socket works.
    bob_ws.send(json!({"type": "ping"})).await;
    bob_ws.next_of_type("pong").await;

    // The REST send is served by MessagesFunction, which may not post.
    let r = stack
        .api(&alice)
        .post(
            "/api/community/messages/",
            json!({"community": cid, "message": "hello"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    bob_ws.expect_silence(Duration::from_millis(800)).await;
    let stats = stack.gateway.stats();
    assert!(
        stats.management.by_status.get(&403).copied().unwrap_or(0) >= 1,
        "{:?}",
        stats.management
    );
    // Not treated as gone: bob's connection is open and still listed online.
    assert_eq!(stack.gateway.connection_ids().len(), 1);
    let online = stack
        .api(&alice)
        .get(&format!("/api/community/groups/{cid}/online/"))
        .await;
    assert!(
        online.body.to_string().contains(&bob.id),
        "bob is still online: {online:?}"
    );
    // The message is stored.
    let history = stack
        .api(&bob)
        .get(&format!("/api/community/groups/{cid}/messages/"))
        .await;
    assert!(history.body.to_string().contains("hello"), "{history:?}");
    // And the function said why, loudly.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.contains("execute-api:ManageConnections") && l.contains("[messages]"))
        .unwrap_or_else(|| panic!("no error logged by messages:\n{text}"));
    assert!(line.contains("ERROR"), "{line}");
    // ws-message, which has the policy, still delivers.
    bob_ws.send(json!({"type": "ping"})).await;
    bob_ws.next_of_type("pong").await;
}

/// DynamoDB Local (as `scripts/dynamodb-local.sh` starts it for the tests) answers on loopback
/// and on no other address of the machine.
#[tokio::test]
async fn dynamodb_local_is_reachable_on_loopback_only() {
    let endpoint = dynamodb_endpoint();
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the endpoint has a port");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok(),
        "DynamoDB Local answers on 127.0.0.1:{port}"
    );
    // This machine's address on its default route (connecting a UDP socket sends nothing).
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let Ok(()) = socket.connect("192.0.2.1:9") else {
        eprintln!("no network interface besides loopback: nothing to check");
        return;
    };
    let ip = socket.local_addr().unwrap().ip();
    if ip.is_loopback() || ip.is_unspecified() {
        eprintln!("no network interface besides loopback: nothing to check");
        return;
    }
    let err = tokio::net::TcpStream::connect((ip, port))
        .await
        .expect_err("DynamoDB Local must not answer on another interface");
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{ip}:{port}: {err}"
    );
}
