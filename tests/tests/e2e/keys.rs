//! Key rotation without downtime: the functions read the signing keys from a Secrets Manager
//! secret (the AWS emulator), and a new version of the secret takes effect after the keys' TTL
//! with no restart; tokens and cursors made under the previous key keep working, and so does an
//! open WebSocket session.

use e2e::*;
use serde_json::json;
use std::time::Duration;

/// The keys' TTL in these tests: the functions read the secret again after it.
const TTL_SECS: u64 = 1;
const KEY_B: &str = "rotated-hs256-key-b-0123456789abcdef0123";

pub(crate) async fn secrets() -> aws_sdk_secretsmanager::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(aws_emulator_endpoint())
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

pub(crate) fn keys_json(jwt: (&str, Option<&str>), cursor: (&str, Option<&str>)) -> String {
    json!({
        "jwt": { "current": jwt.0, "previous": jwt.1 },
        "cursor": { "current": cursor.0, "previous": cursor.1 },
    })
    .to_string()
}

/// A token for `user` signed with `key` (the stack's own helpers sign with key A, `JWT_SECRET`).
fn token_signed_with(user: &User, key: &str) -> String {
    let issuer = shared::auth::dev::Issuer {
        secret: key.as_bytes(),
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
    };
    let who = shared::auth::Principal {
        user_id: user.id.clone(),
        role: user.role,
        name: user.name.clone(),
        username: Some(user.username.clone()),
    };
    shared::auth::dev::hs256_token(&issuer, &who, 3600)
}

/// Waits past the TTL, so the next invocation of every instance reads the secret again.
async fn past_the_ttl() {
    tokio::time::sleep(Duration::from_millis(TTL_SECS * 1000 + 300)).await;
}

#[tokio::test]
async fn a_rotation_through_the_secret_breaks_no_token_cursor_or_open_session() {
    let sm = secrets().await;
    let name = format!("keys-{}", ulid::Ulid::generate().to_string().to_lowercase());
    // Key A is the tests' JWT_SECRET, so the stack's helpers mint working tokens.
    let created = sm
        .create_secret()
        .name(&name)
        .secret_string(keys_json((JWT_SECRET, None), ("cursor-a", None)))
        .send()
        .await
        .expect("creating the secret in the AWS emulator (is it running? `make test` starts it)");
    let arn = created.arn().expect("an ARN").to_string();
    let stack = Stack::start_with(|cfg| {
        // As deployed: the functions the template gives the secret get it. The environment keys
        // stay set: the secret must win over them.
        cfg.parameter_overrides
            .insert("KeysSecretArn".into(), arn.clone());
        cfg.env_overrides
            .insert("KEYS_TTL_SECS".into(), TTL_SECS.to_string());
        cfg.env_overrides
            .insert("CURSOR_SECRET".into(), "not-the-secrets-cursor-key".into());
    })
    .await;

    let course = stack.course().await;
    let cid = course.community_id.clone();
    let (alice, bob) = (stack.member(&course).await, stack.member(&course).await);
    let members = format!("/api/community/groups/{cid}/members/?limit=1");
    let under_b = token_signed_with(&alice, KEY_B);
    assert_eq!(stack.api(&alice).get(&members).await.status, 200);
    assert_eq!(
        stack.api_with_token(&under_b).get(&members).await.status,
        401,
        "key B is not trusted before the rotation"
    );
    let page = stack.api(&alice).get(&members).await;
    let cursor_a = page.body["next"]
        .as_str()
        .expect("a second page")
        .to_string();
    let mut bob_ws = stack.ws(&bob, Some(&cid)).await.expect("bob connects");
    let mut alice_ws = stack.ws(&alice, Some(&cid)).await.expect("alice connects");

    // Rotate: B becomes current, A previous, for both the JWT and the cursor key.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(keys_json(
            (KEY_B, Some(JWT_SECRET)),
            ("cursor-b", Some("cursor-a")),
        ))
        .send()
        .await
        .expect("rotating");
    past_the_ttl().await;

    for (token, which) in [(&under_b, "B"), (&alice.token, "A")] {
        let r = stack.api_with_token(token).get(&members).await;
        assert_eq!(r.status, 200, "a token under key {which}: {r:?}");
    }
    // Every function that verifies tokens follows the secret, not only the one asked first.
    let everywhere = [
        format!("/api/community/posts/?community={cid}"),
        format!("/api/community/messages/?community={cid}"),
        "/api/community/conversations/".to_string(),
        "/api/community/notifications/".to_string(),
        "/api/community/attachments/01ARZ3NDEKTSV4RRFFQ69G5FAV/".to_string(),
    ];
    for path in &everywhere {
        let r = stack.api_with_token(&under_b).get(path).await;
        assert!(
            r.status != 401 && r.status < 500,
            "{path} with a token under the new key: {r:?}"
        );
    }
    let second = stack
        .api(&alice)
        .get(&format!("{members}&cursor={cursor_a}"))
        .await;
    assert_eq!(
        second.status, 200,
        "a cursor issued under A still pages: {second:?}"
    );
    assert_eq!(second.body["results"].as_array().map(Vec::len), Some(1));
    let cursor_b = second.body["next"]
        .as_str()
        .expect("a third page")
        .to_string();
    assert_ne!(cursor_b, cursor_a);

    // The sessions opened before the rotation carry on: chat goes both ways.
    alice_ws
        .send(json!({ "type": "chat_message", "community_id": cid,
                      "message": "after the rotation", "client_id": "r-1" }))
        .await;
    assert_eq!(
        alice_ws.next_of_type("chat_message").await["client_id"],
        "r-1"
    );
    assert_eq!(
        bob_ws.next_of_type("chat_message").await["message"],
        "after the rotation"
    );
    // A new session opens with a key B token.
    let mut new_ws = stack
        .ws_with_token(&token_signed_with(&bob, KEY_B), Some(&cid))
        .await
        .expect("a key B token opens a session");
    bob_ws
        .send(json!({ "type": "chat_message", "community_id": cid,
                      "message": "both sessions", "client_id": "r-2" }))
        .await;
    assert_eq!(
        new_ws.next_of_type("chat_message").await["message"],
        "both sessions"
    );

    // The rotation ends: A is dropped. Its tokens and cursors stop working; B's go on.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(keys_json((KEY_B, None), ("cursor-b", None)))
        .send()
        .await
        .expect("dropping the previous key");
    past_the_ttl().await;
    assert_eq!(stack.api(&alice).get(&members).await.status, 401);
    assert_eq!(
        stack.api_with_token(&under_b).get(&members).await.status,
        200
    );
    let stale = stack
        .api_with_token(&under_b)
        .get(&format!("{members}&cursor={cursor_a}"))
        .await;
    assert_eq!(
        stale.status, 400,
        "a cursor under the dropped key: {stale:?}"
    );
    let fresh = stack
        .api_with_token(&under_b)
        .get(&format!("{members}&cursor={cursor_b}"))
        .await;
    assert_eq!(fresh.status, 200, "a cursor under B: {fresh:?}");
    assert_eq!(
        stack.ws(&alice, Some(&cid)).await.err(),
        Some(401),
        "a key A token no longer opens a session"
    );

    let _ = sm
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await;
}

#[tokio::test]
async fn a_function_whose_secret_cannot_be_read_does_not_start() {
    let stack = Stack::start_with(|cfg| {
        cfg.parameter_overrides.insert(
            "KeysSecretArn".into(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".into(),
        );
    })
    .await;
    let admin = stack.admin();
    let r = stack.api(&admin).get("/api/community/groups/").await;
    assert!(
        r.status >= 500,
        "no keys, no service (and no fallback to the environment keys): {r:?}"
    );
}
