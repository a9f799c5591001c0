//! Identity at the edge: JWT attacks over HTTP and on the WebSocket `$connect`.

use e2e::*;
use serde_json::{Value, json};

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "role": "student", "name": "Mallory", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + 600 })
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Every token here must be refused with 401 by the HTTP API and on `$connect`.
fn attacks() -> Vec<(&'static str, String)> {
    let secret = JWT_SECRET.as_bytes();
    let now = chrono::Utc::now().timestamp();
    let good = claims("mallory");
    vec![
        ("empty", String::new()),
        ("garbage", "not.a.jwt".into()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
        ),
        (
            "alg none with a signature",
            format!("{}.{}.c2ln", b64(&json!({"alg": "none"})), b64(&good)),
        ),
        (
            "wrong key",
            sign_hs256(b"another-secret-another-secret-0123456789", &good),
        ),
        (
            "expired",
            sign_hs256(secret, &with(good.clone(), "exp", json!(now - 120))),
        ),
        (
            "not yet valid",
            sign_hs256(secret, &with(good.clone(), "nbf", json!(now + 3600))),
        ),
        (
            "wrong issuer",
            sign_hs256(secret, &with(good.clone(), "iss", json!("https://evil"))),
        ),
        (
            "wrong audience",
            sign_hs256(secret, &with(good.clone(), "aud", json!("other-app"))),
        ),
        (
            "missing exp",
            sign_hs256(secret, &without(good.clone(), "exp")),
        ),
        (
            "missing iss",
            sign_hs256(secret, &without(good.clone(), "iss")),
        ),
        (
            "missing aud",
            sign_hs256(secret, &without(good.clone(), "aud")),
        ),
        (
            "missing sub",
            sign_hs256(secret, &without(good.clone(), "sub")),
        ),
        (
            "exp of the wrong type",
            sign_hs256(secret, &with(good.clone(), "exp", json!("tomorrow"))),
        ),
        (
            "sub of the wrong type",
            sign_hs256(secret, &with(good.clone(), "sub", json!(42))),
        ),
        (
            "unknown role",
            sign_hs256(secret, &with(good.clone(), "role", json!("superuser"))),
        ),
        ("RS256 header over an HMAC signature (alg confusion)", {
            let t = sign_hs256(secret, &good);
            let parts: Vec<&str> = t.splitn(2, '.').collect();
            format!(
                "{}.{}",
                b64(&json!({"alg": "RS256", "typ": "JWT"})),
                parts[1]
            )
        }),
        (
            "oversized",
            sign_hs256(
                secret,
                &with(good.clone(), "pad", json!("x".repeat(10_000))),
            ),
        ),
    ]
}

#[tokio::test]
async fn every_forged_or_invalid_token_gets_401_and_changes_nothing() {
    let stack = Stack::start().await;
    for (what, token) in attacks() {
        let api = stack.api_with_token(&token);
        let r = api.get("/api/community/groups/").await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{what}"
        );
        let r = api
            .post("/api/community/groups/", json!({ "title": "Forged" }))
            .await;
        assert_eq!(r.status, 401, "{what}");
    }
    let r = stack.anonymous().get("/api/community/groups/").await;
    assert_eq!(r.status, 401);
    let list = stack
        .api(&stack.admin())
        .get("/api/community/groups/")
        .await;
    assert_eq!(list.body["results"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_websocket_connect_without_a_valid_token_is_refused() {
    let stack = Stack::start().await;
    for (what, token) in attacks() {
        let refused = stack.ws_with_token(&token, None).await;
        assert_eq!(refused.err(), Some(401), "{what}");
    }
    let user = stack.user(Role::Student);
    assert!(
        stack.ws(&user, None).await.is_ok(),
        "a valid token connects"
    );
}

#[tokio::test]
async fn a_websocket_connect_to_a_community_the_user_may_not_read_is_refused() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let outsider = stack.user(Role::Student);
    assert_eq!(
        stack.ws(&outsider, Some(&course.community_id)).await.err(),
        Some(403)
    );
    assert_eq!(
        stack
            .ws(&outsider, Some(&ulid::Ulid::generate().to_string()))
            .await
            .err(),
        Some(404)
    );
    assert_eq!(
        stack.ws(&outsider, Some("not-an-id")).await.err(),
        Some(400)
    );
    let member = stack.member(&course).await;
    assert!(stack.ws(&member, Some(&course.community_id)).await.is_ok());
}
