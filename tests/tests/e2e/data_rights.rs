//! Data rights through the gateway: an admin exports a user, then erases them; afterwards every
//! access pattern (the API's reads, then every item of the table) finds nothing of the user but
//! their content, shown under "Deleted user" (posts, chat and direct messages); a second
//! erasure finds nothing left to do.

use e2e::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NAME: &str = "Quentin Erasure";
const USERNAME: &str = "qerasure";

/// Polls `read` until `done` holds on its answer (the stream and the notifier are asynchronous).
async fn eventually(
    what: &str,
    mut read: impl AsyncFnMut() -> Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = read().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: still {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn section_len(export: &Value, name: &str) -> usize {
    export["sections"][name].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn an_erased_user_leaves_only_their_content_under_deleted_user() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let admin = stack.api(&stack.admin());
    let bob = stack.member(&course).await;
    let id = format!("erase-me-{}", stack.table.rsplit('-').next().unwrap());
    let quentin = User {
        token: stack.token_for(&id, Role::Student, NAME, Some(USERNAME)),
        id: id.clone(),
        name: NAME.into(),
        username: USERNAME.into(),
        role: Role::Student,
    };
    stack.push_user(&quentin).await;
    stack.enroll(&course, &quentin, None).await;
    stack.join(&course, &quentin).await;
    let q = stack.api(&quentin);
    let b = stack.api(&bob);
    let mut q_ws = stack.ws(&quentin, Some(&c)).await.expect("connects");

    // Quentin writes, reacts, flags, watches, reads and chats; Bob answers and names him.
    let post = q
        .post(
            "/api/community/posts/",
            json!({ "community": c, "title": "My question", "content": format!("Hello @{}", bob.username) }),
        )
        .await;
    assert_eq!(post.status, 201, "{post:?}");
    let post_id = post.body["id"].as_str().unwrap().to_string();
    let edited = q
        .patch(
            &format!("/api/community/posts/{post_id}/"),
            json!({ "content": "Hello again" }),
        )
        .await;
    assert_eq!(edited.status, 200, "{edited:?}");
    let answer = b
        .post(
            "/api/community/posts/",
            json!({ "community": c, "parent": post_id, "content": "An answer" }),
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let answer_id = answer.body["id"].as_str().unwrap().to_string();
    let mine = q
        .post(
            "/api/community/posts/",
            json!({ "community": c, "parent": answer_id, "content": "Thanks" }),
        )
        .await;
    assert_eq!(mine.status, 201, "{mine:?}");
    let r = q
        .post(
            &format!("/api/community/posts/{answer_id}/react/"),
            json!({ "reaction_type": "helpful" }),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    let r = q
        .post(
            &format!("/api/community/posts/{answer_id}/flag/"),
            json!({ "reason": "off topic" }),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    let r = q
        .post(&format!("/api/community/groups/{c}/watch/"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let bob_says = b
        .post(
            "/api/community/messages/",
            json!({ "community": c, "message": "hi all", "message_type": "text" }),
        )
        .await;
    assert_eq!(bob_says.status, 201, "{bob_says:?}");
    let r = q
        .post(
            &format!(
                "/api/community/messages/{}/mark-as-read/",
                bob_says.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let said = q
        .post(
            "/api/community/messages/",
            json!({ "community": c, "message": format!("@{} see my post", bob.username), "message_type": "text" }),
        )
        .await;
    assert_eq!(said.status, 201, "{said:?}");
    let said_id = said.body["id"].as_str().unwrap().to_string();
    // Quentin and Bob write to each other directly; Quentin blocks Carol.
    let carol = stack.member(&course).await;
    let conv = q
        .post(
            "/api/community/conversations/",
            json!({ "members": [bob.id] }),
        )
        .await;
    assert_eq!(conv.status, 201, "{conv:?}");
    let conv_id = conv.body["id"].as_str().unwrap().to_string();
    let dm = q
        .post(
            &format!("/api/community/conversations/{conv_id}/messages/"),
            json!({ "message": "a private word", "client_id": "dm-1" }),
        )
        .await;
    assert_eq!(dm.status, 201, "{dm:?}");
    let dm_id = dm.body["id"].as_str().unwrap().to_string();
    let bob_dm = b
        .post(
            &format!("/api/community/conversations/{conv_id}/messages/"),
            json!({ "message": "a private answer" }),
        )
        .await;
    assert_eq!(bob_dm.status, 201, "{bob_dm:?}");
    let r = q
        .post(
            &format!(
                "/api/community/conversations/{conv_id}/messages/{}/mark-as-read/",
                bob_dm.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = q
        .post(
            &format!("/api/community/users/{}/block/", carol.id),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    // Both have their notifications (Quentin: Bob's reply; Bob: the mentions and the reply).
    eventually(
        "Quentin's notifications",
        async || q.get("/api/community/notifications/").await.body,
        |v| v["results"].as_array().is_some_and(|r| !r.is_empty()),
    )
    .await;
    eventually(
        "Bob's notifications",
        async || b.get("/api/community/notifications/").await.body,
        |v| v["results"].as_array().is_some_and(|r| r.len() >= 3),
    )
    .await;

    // Only an admin exports or erases, and a refused erasure changes nothing.
    let path = format!("/api/community/lms/users/{id}/");
    assert_eq!(b.get(&format!("{path}export/")).await.status, 403);
    assert_eq!(q.delete(&path).await.status, 403);
    let export = admin.get(&format!("{path}export/")).await;
    assert_eq!(export.status, 200, "{export:?}");
    let e = &export.body;
    assert_eq!(e["sections"]["profile"][0]["name"], NAME, "{e}");
    assert_eq!(e["sections"]["profile"][0]["username"], USERNAME);
    for (section, at_least) in [
        ("memberships", 1),
        ("enrollments", 1),
        ("connections", 1),
        ("notification_state", 1),
        ("notifications", 1),
        ("posts", 2),
        ("flags", 1),
        ("chat_messages", 1),
        ("chat_read_positions", 1),
        ("watch_settings", 1),
        ("rate_windows", 1),
        ("conversation_memberships", 1),
        ("direct_messages", 1),
        ("blocks", 1),
    ] {
        assert!(section_len(e, section) >= at_least, "{section} in {e}");
    }
    assert!(
        !e.to_string().contains("\"PK\""),
        "no storage keys in an export"
    );

    let group = b.get(&format!("/api/community/groups/{c}/")).await;
    let members_before = group.body["member_count"].as_i64().unwrap();

    // The erasure closes Quentin's socket.
    let erased = admin.delete(&path).await;
    assert_eq!(erased.status, 200, "{erased:?}");
    q_ws.expect_closed().await;
    let done: Vec<(String, u64)> = erased.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["items"].as_u64().unwrap(),
            )
        })
        .collect();
    for step in [
        "connections",
        "memberships",
        "owned_items",
        "notifications",
        "conversations",
        "blocks",
        "username",
        "user_partition",
    ] {
        assert!(
            done.iter().any(|(s, n)| s == step && *n > 0),
            "{step} did nothing: {done:?}"
        );
    }

    // Every read of the API.
    let group = b.get(&format!("/api/community/groups/{c}/")).await;
    assert_eq!(
        group.body["member_count"].as_i64().unwrap(),
        members_before - 1
    );
    let members = b
        .get(&format!("/api/community/groups/{c}/members/?limit=100"))
        .await;
    assert!(!members.body.to_string().contains(&id), "{members:?}");
    let online = b.get(&format!("/api/community/groups/{c}/online/")).await;
    assert!(!online.body.to_string().contains(&id), "{online:?}");
    let thread = b.get(&format!("/api/community/posts/{post_id}/")).await;
    assert_eq!(thread.status, 200, "{thread:?}");
    assert_eq!(thread.body["author"]["name"], "Deleted user");
    assert!(thread.body["author"]["username"].is_null(), "{thread:?}");
    assert_eq!(thread.body["content"], "Hello again", "the content stays");
    let listing = b.get(&format!("/api/community/posts/?community={c}")).await;
    let history = b.get(&format!("/api/community/groups/{c}/messages/")).await;
    let message = history.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == said_id.as_str())
        .cloned()
        .expect("the message stays");
    assert_eq!(message["sender_name"], "Deleted user", "{message}");
    let flags = stack
        .api(&course.instructor)
        .get(&format!("/api/community/posts/{answer_id}/flags/"))
        .await;
    assert_eq!(flags.status, 200, "{flags:?}");
    // Bob's conversation stays, with Quentin's messages under "Deleted user".
    let conversation = b
        .get(&format!("/api/community/conversations/{conv_id}/"))
        .await;
    assert_eq!(conversation.status, 200, "{conversation:?}");
    assert!(
        conversation.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Deleted user"),
        "{conversation:?}"
    );
    let conversations = b.get("/api/community/conversations/").await;
    assert_eq!(conversations.status, 200, "{conversations:?}");
    let dms = b
        .get(&format!("/api/community/conversations/{conv_id}/messages/"))
        .await;
    let kept = dms.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == dm_id.as_str())
        .cloned()
        .expect("the direct message stays");
    assert_eq!(kept["sender_name"], "Deleted user", "{kept}");
    assert_eq!(kept["message"], "a private word", "the content stays");
    let bobs = b.get("/api/community/notifications/?limit=100").await;
    for read in [
        &thread,
        &listing,
        &history,
        &flags,
        &bobs,
        &members,
        &conversation,
        &conversations,
        &dms,
    ] {
        let text = read.body.to_string();
        assert!(!text.contains(NAME) && !text.contains(USERNAME), "{text}");
    }
    assert!(bobs.body.to_string().contains("Deleted user"), "{bobs:?}");
    // The user is unknown to @mentions now.
    let again = admin.get(&format!("{path}export/")).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body["sections"],
        json!({}),
        "nothing left to export: {again:?}"
    );

    // Idempotent: a second erasure finds nothing to do.
    let twice = admin.delete(&path).await;
    assert_eq!(twice.status, 200, "{twice:?}");
    for s in twice.body["steps"].as_array().unwrap() {
        assert_eq!(s["items"], 0, "{twice:?}");
    }

    // Every item of the table (a test may Scan): no name or username left, and the user's id
    // only on content (posts, messages, flags, reactions, edits, client id claims) and on the
    // notifications others received of Quentin's acts.
    let items = stack
        .ddb
        .scan()
        .table_name(&stack.table)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("scan");
    for item in items {
        let pk = item["PK"].as_s().unwrap().clone();
        let sk = item["SK"].as_s().unwrap().clone();
        let text = format!("{item:?}");
        assert!(
            !text.contains(NAME) && !text.contains(USERNAME),
            "{pk} {sk}: {text}"
        );
        assert!(
            !item.contains_key("GSI3PK") || !text.contains(&format!("OWNER#{id}")),
            "{pk} {sk}"
        );
        if text.contains(&id) {
            let content = (pk.starts_with("POST#")
                && (sk == "META" || sk.starts_with("FLAG#") || sk.starts_with("EDIT#")))
                || pk.starts_with("REACTS#")
                || (pk.ends_with("#CHAT") && (sk.starts_with("MSG#") || sk.starts_with("CLIENT#")))
                || (pk.ends_with("#NOTIFS") && !pk.contains(&id))
                // A conversation's fixed member list (under "Deleted user"), the messages sent
                // and their client id claims.
                || (pk.starts_with("CONV#")
                    && (sk == "META" || sk.starts_with("MSG#") || sk.starts_with("CLIENT#")));
            assert!(content, "{pk} {sk} still names the user: {text}");
        }
    }
}
