//! Push end to end: a browser subscription registered over HTTP, a notification pushed by the
//! notifier to a push service (a local server standing in for one), its aes128gcm body
//! decrypted by an independent implementation (PyPI `http-ece`, `tests/scripts/webpush.py`),
//! a gone subscription removed, bad registrations refused, and SNS mobile push against the AWS
//! emulator.

use e2e::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUSH: &str = "/api/community/notifications/push/";
const SUBSCRIPTIONS: &str = "/api/community/notifications/push/subscriptions/";
const ARRIVAL: Duration = Duration::from_secs(20);

fn webpush(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(root.join("../.local/venv/bin/python"))
        .arg(root.join("scripts/webpush.py"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the tests' Python (make test installs it)");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "webpush.py {args:?} failed");
    out.stdout
}

/// One request the push service received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// A push service: records every POST; answers 410 to the paths in `gone`, 201 otherwise.
async fn push_service() -> (String, Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<String>>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};
    let received = Arc::new(Mutex::new(Vec::new()));
    let gone: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let (r, g) = (received.clone(), gone.clone());
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let (r, g) = (r.clone(), g.clone());
        async move {
            let path = uri.path().to_string();
            r.lock().unwrap().push(Received {
                path: path.clone(),
                headers,
                body: body.to_vec(),
            });
            if g.lock().unwrap().contains(&path) {
                StatusCode::GONE
            } else {
                StatusCode::CREATED
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received, gone)
}

/// The first request the push service received on `path`, within [`ARRIVAL`].
async fn first_push(received: &Mutex<Vec<Received>>, path: &str) -> Received {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        if let Some(r) = received.lock().unwrap().iter().find(|r| r.path == path) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no push to {path} within {ARRIVAL:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn web_push_stack() -> Stack {
    let vapid: Value = serde_json::from_slice(&webpush(&["vapid"], None)).unwrap();
    let private = vapid["private"].as_str().unwrap().to_string();
    Stack::start_with(|cfg| {
        cfg.env_overrides
            .insert("VAPID_PRIVATE_KEY".into(), private);
        cfg.env_overrides
            .insert("VAPID_SUBJECT".into(), "mailto:ops@school.test".into());
    })
    .await
}

/// A browser's keys (written to a file for the decryption) and its subscription's body.
fn browser(endpoint: &str, dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Value) {
    let keys = webpush(&["keys"], None);
    let parsed: Value = serde_json::from_slice(&keys).unwrap();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, &keys).unwrap();
    let body = json!({
        "platform": "web",
        "endpoint": endpoint,
        "keys": { "p256dh": parsed["p256dh"], "auth": parsed["auth"] },
    });
    (file, body)
}

#[tokio::test]
async fn a_reply_reaches_the_authors_browser_encrypted_and_keeps_the_replier_anonymous() {
    let (service, received, _) = push_service().await;
    let stack = web_push_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("/api/community/groups/{c}/"),
            json!({ "anonymous_posting": "to_classmates" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let alex = stack.member(&course).await;
    let sam = stack.member(&course).await;
    let dir = std::env::temp_dir().join(format!("push-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let endpoint = format!("{service}/push/{}", alex.id);
    let (keys, body) = browser(&endpoint, &dir, "alex");

    let overview = stack.api(&alex).get(PUSH).await;
    assert_eq!(overview.status, 200, "{overview:?}");
    assert!(
        overview.body["vapid_public_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    let r = stack.api(&alex).post(SUBSCRIPTIONS, body.clone()).await;
    assert_eq!(r.status, 201, "{r:?}");
    // The same subscription again is the same one.
    let again = stack.api(&alex).post(SUBSCRIPTIONS, body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["id"], r.body["id"]);
    let listed = stack.api(&alex).get(PUSH).await.body;
    assert_eq!(
        listed["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    let question = stack
        .api(&alex)
        .create_post(json!({ "community": c, "title": "Lab 4", "content": "Stuck" }))
        .await;
    stack.api(&sam).create_post(json!({ "community": c, "parent": question, "content": "Try the hint.", "anonymous": true }),
    )
    .await;
    let got = first_push(&received, &format!("/push/{}", alex.id)).await;
    assert_eq!(got.path, format!("/push/{}", alex.id));
    assert_eq!(got.headers["content-encoding"], "aes128gcm");
    let auth = got.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("vapid t=") && auth.contains(", k="),
        "{auth}"
    );
    assert!(got.headers.contains_key("ttl"));
    let plain = webpush(&["decrypt", keys.to_str().unwrap()], Some(&got.body));
    let payload: Value = serde_json::from_slice(&plain).expect("a JSON payload");
    assert_eq!(payload["type"], "notification");
    assert_eq!(payload["notification_type"], "new_reply");
    assert_eq!(payload["link"], format!("#/c/{c}/post/{question}"));
    let text = String::from_utf8(plain).unwrap();
    for secret in [&sam.id, &sam.name, &sam.username] {
        assert!(!text.contains(secret.as_str()), "{secret} in {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_subscription_the_push_service_calls_gone_is_removed() {
    let (service, received, gone) = push_service().await;
    let stack = web_push_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alex = stack.member(&course).await;
    let sam = stack.member(&course).await;
    let dir = std::env::temp_dir().join(format!("push-gone-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("/push/{}", alex.id);
    let (_, body) = browser(&format!("{service}{path}"), &dir, "alex");
    assert_eq!(stack.api(&alex).post(SUBSCRIPTIONS, body).await.status, 201);
    gone.lock().unwrap().push(path.clone());

    let question = stack
        .api(&alex)
        .create_post(json!({ "community": c, "title": "Gone", "content": "?" }))
        .await;
    stack
        .api(&sam)
        .create_post(json!({ "community": c, "parent": question, "content": "Here." }))
        .await;
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let tried = received.lock().unwrap().iter().any(|r| r.path == path);
        let left = stack.api(&alex).get(PUSH).await.body["subscriptions"]
            .as_array()
            .map_or(0, Vec::len);
        if tried && left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "tried {tried}, {left} left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_type_wanted_by_push_only_is_pushed_and_not_kept_in_the_app() {
    let (service, received, _) = push_service().await;
    let stack = web_push_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alex = stack.member(&course).await;
    let sam = stack.member(&course).await;
    let dir = std::env::temp_dir().join(format!("push-only-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("/push/{}", alex.id);
    let (keys, body) = browser(&format!("{service}{path}"), &dir, "alex");
    assert_eq!(stack.api(&alex).post(SUBSCRIPTIONS, body).await.status, 201);
    let r = stack
        .api(&alex)
        .patch(
            "/api/community/notifications/preferences/",
            json!({ "types": { "new_reply": { "in_app": false, "email": false, "push": true } } }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["types"]["new_reply"]["in_app"], false, "{r:?}");

    let question = stack
        .api(&alex)
        .create_post(json!({ "community": c, "title": "Phone only", "content": "?" }))
        .await;
    stack
        .api(&sam)
        .create_post(json!({ "community": c, "parent": question, "content": "On your phone." }))
        .await;
    let got = first_push(&received, &path).await;
    let plain = webpush(&["decrypt", keys.to_str().unwrap()], Some(&got.body));
    let payload: Value = serde_json::from_slice(&plain).expect("a JSON payload");
    assert_eq!(payload["notification_type"], "new_reply");
    assert_eq!(payload["link"], format!("#/c/{c}/post/{question}"));
    // Nothing in the app: no notification row, no unread count.
    let listed = stack.api(&alex).get("/api/community/notifications/").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(
        listed.body["results"].as_array().map(Vec::len),
        Some(0),
        "{listed:?}"
    );
    let unread = stack
        .api(&alex)
        .get("/api/community/notifications/unread-count/")
        .await;
    assert_eq!(unread.body["unread_count"], 0, "{unread:?}");
    // Pushed once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let times = received
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .count();
    assert_eq!(times, 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn bad_registrations_are_422_an_eleventh_replaces_the_oldest_and_others_cannot_delete() {
    let stack = web_push_stack().await;
    let alex = stack.user(Role::Student);
    let sam = stack.user(Role::Student);
    let dir = std::env::temp_dir().join(format!("push-bad-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, good) = browser("https://push.example.test/send/1", &dir, "one");
    for (bad, field) in [
        (json!({ "platform": "pager", "token": "x" }), "platform"),
        (json!({ "platform": "fcm", "token": "x" }), "platform"),
        (
            json!({ "platform": "web", "endpoint": "ftp://push.example.test/x", "keys": good["keys"] }),
            "endpoint",
        ),
        (
            json!({ "platform": "web", "endpoint": "https://push.example.test/x", "keys": { "p256dh": "AAAA", "auth": good["keys"]["auth"] } }),
            "keys.p256dh",
        ),
        (
            json!({ "platform": "web", "endpoint": "https://push.example.test/x", "keys": { "p256dh": good["keys"]["p256dh"], "auth": "AAAA" } }),
            "keys.auth",
        ),
    ] {
        let r = stack.api(&alex).post(SUBSCRIPTIONS, bad.clone()).await;
        assert_eq!(r.status, 422, "{bad}: {r:?}");
        assert!(
            r.body.to_string().contains(field),
            "{field} named in {}",
            r.body
        );
    }
    assert_eq!(
        stack.api(&alex).get(PUSH).await.body["subscriptions"],
        json!([]),
        "nothing stored"
    );

    let mut ids = Vec::new();
    for i in 0..11 {
        let (_, body) = browser(
            &format!("https://push.example.test/send/{i}"),
            &dir,
            &format!("b{i}"),
        );
        let r = stack.api(&alex).post(SUBSCRIPTIONS, body).await;
        assert_eq!(r.status, 201, "{r:?}");
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let listed: Vec<String> = stack.api(&alex).get(PUSH).await.body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 10);
    assert!(!listed.contains(&ids[0]), "the oldest went");
    assert!(listed.contains(&ids[10]));

    let theirs = format!("{SUBSCRIPTIONS}{}/", ids[10]);
    assert_eq!(stack.api(&sam).delete(&theirs).await.status, 404);
    assert_eq!(stack.api(&alex).delete(&theirs).await.status, 204);
    assert_eq!(stack.api(&alex).delete(&theirs).await.status, 404);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_device_token_becomes_an_sns_endpoint_that_receives_the_notification() {
    let name = format!("fcm-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let xml = sns(
        "us-east-1",
        "CreatePlatformApplication",
        &[
            ("Name", &name),
            ("Platform", "GCM"),
            ("Attributes.entry.1.key", "PlatformCredential"),
            ("Attributes.entry.1.value", "test-server-key"),
        ],
    )
    .await;
    let app_arn = xml
        .split("<PlatformApplicationArn>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("an application ARN")
        .to_string();
    let stack = Stack::start_with(|cfg| {
        cfg.env_overrides
            .insert("FCM_PLATFORM_APPLICATION_ARN".into(), app_arn.clone());
    })
    .await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alex = stack.member(&course).await;
    let sam = stack.member(&course).await;
    let token = format!("device-token-{}", alex.id);
    let r = stack
        .api(&alex)
        .post(SUBSCRIPTIONS, json!({ "platform": "fcm", "token": token }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["platform"], "fcm");

    let question = stack
        .api(&alex)
        .create_post(json!({ "community": c, "title": "Phones", "content": "?" }))
        .await;
    stack
        .api(&sam)
        .create_post(json!({ "community": c, "parent": question, "content": "Mine works." }))
        .await;
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", aws_emulator_endpoint()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = data["sns"].to_string();
        if text.contains(&token) && text.contains(&question) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message published to the device's endpoint"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Unsubscribing deletes the endpoint too.
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        stack
            .api(&alex)
            .delete(&format!("{SUBSCRIPTIONS}{id}/"))
            .await
            .status,
        204
    );

    // A device whose endpoint SNS disabled (the app was uninstalled) loses its subscription at
    // the next notification.
    let token = format!("second-token-{}", alex.id);
    let r = stack
        .api(&alex)
        .post(SUBSCRIPTIONS, json!({ "platform": "fcm", "token": token }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let endpoints = sns(
        "us-east-1",
        "ListEndpointsByPlatformApplication",
        &[("PlatformApplicationArn", &app_arn)],
    )
    .await;
    let endpoint_arn = endpoints
        .split("<EndpointArn>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .last()
        .expect("the device's endpoint")
        .to_string();
    sns(
        "us-east-1",
        "SetEndpointAttributes",
        &[
            ("EndpointArn", &endpoint_arn),
            ("Attributes.entry.1.key", "Enabled"),
            ("Attributes.entry.1.value", "false"),
        ],
    )
    .await;
    stack
        .api(&sam)
        .create_post(json!({ "community": c, "parent": question, "content": "Still there?" }))
        .await;
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let left = stack.api(&alex).get(PUSH).await.body["subscriptions"]
            .as_array()
            .map_or(0, Vec::len);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disabled device's subscription stays"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Erasing a user deletes their phones' endpoints: no device token of theirs stays in SNS.
    let token = format!("third-token-{}", alex.id);
    let r = stack
        .api(&alex)
        .post(SUBSCRIPTIONS, json!({ "platform": "fcm", "token": token }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let listed = |xml: String| xml.contains(&token);
    assert!(listed(
        sns(
            "us-east-1",
            "ListEndpointsByPlatformApplication",
            &[("PlatformApplicationArn", &app_arn)],
        )
        .await
    ));
    let erased = stack
        .api(&stack.admin())
        .delete(&format!("/api/community/lms/users/{}/", alex.id))
        .await;
    assert_eq!(erased.status, 200, "{erased:?}");
    let step = erased.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "push_subscriptions")
        .cloned();
    assert_eq!(
        step.map(|s| s["items"].clone()),
        Some(json!(1)),
        "{erased:?}"
    );
    assert!(!listed(
        sns(
            "us-east-1",
            "ListEndpointsByPlatformApplication",
            &[("PlatformApplicationArn", &app_arn)],
        )
        .await
    ));
}
