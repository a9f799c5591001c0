//! Direct messages end to end: conversations over REST, messages over REST and WebSocket with
//! the chat contract (client_id, catch-up, edit, soft delete, read receipts, typing), unread
//! counts, who may write to whom (shared community with current access, `student_dms`,
//! blocks), 404 for non-members, and `new_direct_message` for members not connected.

use e2e::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CONVERSATIONS: &str = "/api/community/conversations";
const QUIET: Duration = Duration::from_millis(600);

async fn open(stack: &Stack, by: &User, members: &[&User]) -> Resp {
    let ids: Vec<&str> = members.iter().map(|u| u.id.as_str()).collect();
    stack
        .api(by)
        .post(&format!("{CONVERSATIONS}/"), json!({ "members": ids }))
        .await
}

async fn send(stack: &Stack, by: &User, conversation: &str, text: &str, client_id: &str) -> Resp {
    stack
        .api(by)
        .post(
            &format!("{CONVERSATIONS}/{conversation}/messages/"),
            json!({ "message": text, "message_type": "text", "client_id": client_id }),
        )
        .await
}

async fn history(stack: &Stack, by: &User, conversation: &str, query: &str) -> Vec<Value> {
    let r = stack
        .api(by)
        .get(&format!("{CONVERSATIONS}/{conversation}/messages/{query}"))
        .await;
    assert_eq!(r.status, 200, "history: {r:?}");
    r.body["results"].as_array().expect("results").clone()
}

async fn conversations(stack: &Stack, by: &User) -> Vec<Value> {
    let r = stack.api(by).get(&format!("{CONVERSATIONS}/")).await;
    assert_eq!(r.status, 200, "list: {r:?}");
    r.body["results"].as_array().expect("results").clone()
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

#[tokio::test]
async fn a_pair_has_one_conversation_and_its_messages_follow_the_chat_contract() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let carol = stack.member(&course).await;
    let mut alice_ws = stack.ws(&alice, None).await.expect("alice connects");
    let mut bob_ws = stack.ws(&bob, None).await.expect("bob connects");

    // The same pair always gets the same conversation, whoever asks.
    let created = open(&stack, &alice, &[&bob]).await;
    assert_eq!(created.status, 201, "{created:?}");
    let cid = id(&created.body);
    assert_eq!(created.body["unread_count"], 0);
    let members: Vec<&str> = created.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert!(members.contains(&alice.id.as_str()) && members.contains(&bob.id.as_str()));
    for (by, with) in [(&alice, &bob), (&bob, &alice)] {
        let again = open(&stack, by, &[with]).await;
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(id(&again.body), cid);
    }

    // Over WebSocket: every connection of every member gets it, the sender's copy (with its
    // client_id) is the acknowledgement.
    alice_ws
        .send(
            json!({ "type": "dm_message", "conversation_id": cid, "message": "Question 2?",
                      "message_type": "text", "client_id": "dm-1" }),
        )
        .await;
    let ack = alice_ws.next_of_type("dm_message").await;
    assert_eq!(ack["client_id"], "dm-1");
    assert_eq!(ack["conversation_id"], cid.as_str());
    let first = id(&ack);
    let got = bob_ws.next_of_type("dm_message").await;
    assert_eq!(id(&got), first);
    assert_eq!(got["sender_id"], alice.id.as_str());
    assert_eq!(got["message"], "Question 2?");

    // A retry with the same client_id (here over REST) stores nothing new.
    let retry = send(&stack, &alice, &cid, "Question 2?", "dm-1").await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert_eq!(id(&retry.body), first);

    // Over REST, delivered live like over WebSocket.
    let reply = send(&stack, &bob, &cid, "Yes, after class", "dm-2").await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let second = id(&reply.body);
    assert_eq!(id(&alice_ws.next_of_type("dm_message").await), second);
    assert_eq!(history(&stack, &alice, &cid, "").await.len(), 2);
    let caught_up = history(&stack, &alice, &cid, &format!("?after={first}")).await;
    assert_eq!(caught_up.len(), 1);
    assert_eq!(id(&caught_up[0]), second);

    // Unread counts per conversation, most recent activity first.
    let listed = conversations(&stack, &alice).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["unread_count"], 1);
    assert_eq!(listed[0]["last_message"]["id"], second.as_str());
    assert_eq!(conversations(&stack, &bob).await[0]["unread_count"], 1);
    let read = stack
        .api(&alice)
        .post(
            &format!("{CONVERSATIONS}/{cid}/messages/{second}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["unread_count"], 0);
    assert_eq!(read.body["last_read_id"], second.as_str());
    let receipt = bob_ws.next_of_type("read_receipt").await;
    assert_eq!(receipt["conversation_id"], cid.as_str());
    assert_eq!(receipt["user_id"], alice.id.as_str());
    assert_eq!(conversations(&stack, &alice).await[0]["unread_count"], 0);
    // A read receipt over WebSocket names the conversation.
    bob_ws
        .send(json!({ "type": "read_receipt", "conversation_id": cid, "message_id": first }))
        .await;
    let receipt = alice_ws.next_of_type("read_receipt").await;
    assert_eq!(receipt["message_id"], first.as_str());
    assert_eq!(conversations(&stack, &bob).await[0]["unread_count"], 0);

    // Typing goes to the others only.
    bob_ws
        .send(json!({ "type": "typing", "conversation_id": cid, "is_typing": true }))
        .await;
    let typing = alice_ws.next_of_type("typing").await;
    assert_eq!(typing["conversation_id"], cid.as_str());
    assert_eq!(typing["user_id"], bob.id.as_str());

    // Edits and deletes are the author's, and every member is told.
    let path = format!("{CONVERSATIONS}/{cid}/messages/{first}/");
    let not_theirs = stack
        .api(&bob)
        .patch(&path, json!({ "message": "x" }))
        .await;
    assert_eq!(not_theirs.status, 403, "{not_theirs:?}");
    let edited = stack
        .api(&alice)
        .patch(&path, json!({ "message": "Question 3?" }))
        .await;
    assert_eq!(edited.status, 200, "{edited:?}");
    assert!(edited.body["edited_at"].is_string());
    let ev = bob_ws.next_of_type("message_edited").await;
    assert_eq!(ev["message"], "Question 3?");
    alice_ws.next_of_type("message_edited").await;
    assert_eq!(stack.api(&bob).delete(&path).await.status, 403);
    assert_eq!(stack.api(&alice).delete(&path).await.status, 204);
    let ev = bob_ws.next_of_type("message_deleted").await;
    assert_eq!(ev["message_id"], first.as_str());
    assert_eq!(ev["conversation_id"], cid.as_str());
    alice_ws.next_of_type("message_deleted").await;
    let shown = history(&stack, &bob, &cid, "").await;
    let deleted = shown.iter().find(|m| id(m) == first).unwrap();
    assert_eq!(deleted["is_deleted"], true);
    assert_eq!(deleted["message"], "");

    // A non-member, even of the same course, gets 404 for everything of the conversation,
    // whatever the body holds, and nothing reaches the members.
    let api = stack.api(&carol);
    let base = format!("{CONVERSATIONS}/{cid}");
    assert_eq!(api.get(&format!("{base}/")).await.status, 404);
    assert_eq!(api.get(&format!("{base}/messages/")).await.status, 404);
    let intruder = api
        .post(
            &format!("{base}/messages/"),
            json!({ "message": "" , "extra": 1 }),
        )
        .await;
    assert_eq!(intruder.status, 404, "{intruder:?}");
    let r = api
        .patch(
            &format!("{base}/messages/{second}/"),
            json!({ "message": "x" }),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        api.post(
            &format!("{base}/messages/{second}/mark-as-read/"),
            json!({})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.delete(&format!("{base}/messages/{second}/"))
            .await
            .status,
        404
    );
    let mut carol_ws = stack.ws(&carol, None).await.expect("carol connects");
    carol_ws
        .send(json!({ "type": "dm_message", "conversation_id": cid, "message": "hi", "client_id": "c-1" }))
        .await;
    let refused = carol_ws.next_of_type("error").await;
    assert_eq!(refused["code"], "not_found");
    assert_eq!(refused["client_id"], "c-1");
    carol_ws
        .send(json!({ "type": "typing", "conversation_id": cid, "is_typing": true }))
        .await;
    assert_eq!(carol_ws.next_of_type("error").await["code"], "not_found");
    alice_ws.expect_silence(QUIET).await;
    assert_eq!(history(&stack, &alice, &cid, "").await.len(), 2);
    assert!(conversations(&stack, &carol).await.is_empty());
}

#[tokio::test]
async fn only_users_who_share_a_community_may_write_and_a_block_or_a_lost_enrollment_ends_it_at_once()
 {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let other_course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let stranger = stack.member(&other_course).await;
    let teacher = &course.instructor;

    // Bad input: a clear 4xx and nothing written.
    let eleven: Vec<User> = (0..10).map(|_| stack.user(Role::Student)).collect();
    let refs: Vec<&User> = eleven.iter().collect();
    let r = open(&stack, &alice, &refs).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "members");
    let r = open(&stack, &alice, &[]).await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = open(&stack, &alice, &[&stranger]).await;
    assert_eq!(r.status, 403, "no shared community: {r:?}");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("share no community")
    );
    // One refused member refuses the whole group.
    let r = open(&stack, &alice, &[&bob, &stranger]).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(conversations(&stack, &alice).await.is_empty());

    let pair = id(&open(&stack, &alice, &[&bob]).await.body);
    assert_eq!(send(&stack, &alice, &pair, "hi", "a-1").await.status, 201);

    // student_dms off: students may not write to each other, but staff stay reachable.
    let settings = format!("/api/community/groups/{}/", course.community_id);
    let r = stack
        .api(teacher)
        .patch(&settings, json!({ "student_dms": false }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["student_dms"], false);
    let r = send(&stack, &alice, &pair, "still there?", "a-2").await;
    assert_eq!(r.status, 403, "{r:?}");
    let to_teacher = open(&stack, &alice, &[teacher]).await;
    assert_eq!(to_teacher.status, 201, "{to_teacher:?}");
    let with_teacher = id(&to_teacher.body);
    assert_eq!(
        send(&stack, &alice, &with_teacher, "office hours?", "a-3")
            .await
            .status,
        201
    );
    assert_eq!(
        send(&stack, teacher, &with_teacher, "Friday", "t-1")
            .await
            .status,
        201
    );
    let r = stack
        .api(teacher)
        .patch(&settings, json!({ "student_dms": true }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(send(&stack, &alice, &pair, "back", "a-4").await.status, 201);

    // A block: neither may write to the other, until it is lifted.
    let block = format!("/api/community/users/{}/block/", alice.id);
    assert_eq!(stack.api(&bob).post(&block, json!({})).await.status, 204);
    assert_eq!(stack.api(&bob).post(&block, json!({})).await.status, 204);
    for (by, cid) in [(&alice, "b-1"), (&bob, "b-2")] {
        let r = send(&stack, by, &pair, "hello?", cid).await;
        assert_eq!(r.status, 403, "{r:?}");
        assert!(r.body["detail"].as_str().unwrap().contains("blocked"));
    }
    assert_eq!(open(&stack, &alice, &[&bob]).await.status, 403);
    let mut alice_ws = stack.ws(&alice, None).await.expect("alice connects");
    alice_ws
        .send(json!({ "type": "typing", "conversation_id": pair, "is_typing": true }))
        .await;
    assert_eq!(alice_ws.next_of_type("error").await["code"], "forbidden");
    let own_block = format!("/api/community/users/{}/block/", bob.id);
    assert_eq!(
        stack.api(&bob).post(&own_block, json!({})).await.status,
        422
    );
    assert_eq!(stack.api(&bob).delete(&block).await.status, 204);
    assert_eq!(
        send(&stack, &alice, &pair, "thanks", "a-5").await.status,
        201
    );

    // Losing the shared community (the enrollment removed) ends the right to write at once,
    // both ways; reading the history stays.
    let r = stack
        .api(&stack.admin())
        .delete(&format!(
            "/api/community/lms/courses/{}/enrollments/{}/",
            course.course_id, alice.id
        ))
        .await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    for (by, cid) in [(&alice, "c-1"), (&bob, "c-2")] {
        let r = send(&stack, by, &pair, "still?", cid).await;
        assert_eq!(r.status, 403, "{r:?}");
    }
    alice_ws
        .send(json!({ "type": "dm_message", "conversation_id": pair, "message": "ws?", "client_id": "w-1" }))
        .await;
    let refused = alice_ws.next_of_type("error").await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(refused["client_id"], "w-1");
    let kept = history(&stack, &alice, &pair, "").await;
    assert_eq!(kept.len(), 3);
    // Not a member: 404; a member who may not write: 403 whatever the body holds.
    let r = send(&stack, &bob, &with_teacher, "x", "y").await;
    assert_eq!(
        r.status, 404,
        "bob is no member of alice's conversation with the teacher"
    );
    let r = stack
        .api(teacher)
        .post(
            &format!("{CONVERSATIONS}/{with_teacher}/messages/"),
            json!({ "message": "x".repeat(4001) }),
        )
        .await;
    assert_eq!(r.status, 403, "alice left the course: {r:?}");
}

#[tokio::test]
async fn a_direct_message_notifies_the_members_who_are_not_connected() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let carol = stack.member(&course).await;
    let mut carol_ws = stack.ws(&carol, None).await.expect("carol connects");
    let group = open(&stack, &alice, &[&bob, &carol]).await;
    assert_eq!(group.status, 201, "{group:?}");
    let cid = id(&group.body);
    // A group of three is a new conversation each time (only pairs are unique).
    assert_eq!(open(&stack, &alice, &[&bob, &carol]).await.status, 201);
    let sent = send(&stack, &alice, &cid, "Study group at 5?", "g-1").await;
    assert_eq!(sent.status, 201, "{sent:?}");
    assert_eq!(
        carol_ws.next_of_type("dm_message").await["id"],
        sent.body["id"]
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let bobs = loop {
        let r = stack.api(&bob).get("/api/community/notifications/").await;
        assert_eq!(r.status, 200);
        let list = r.body["results"].as_array().unwrap().clone();
        if !list.is_empty() {
            break list;
        }
        assert!(Instant::now() < deadline, "no notification for bob");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(bobs.len(), 1);
    let n = &bobs[0];
    assert_eq!(n["notification_type"], "new_direct_message");
    assert_eq!(n["target"]["type"], "direct_message");
    assert_eq!(n["target"]["conversation_id"], cid.as_str());
    assert_eq!(n["target"]["id"], sent.body["id"]);
    assert!(
        n["title"]
            .as_str()
            .unwrap()
            .contains("sent you a direct message"),
        "{n}"
    );
    assert_eq!(n["message"], "Study group at 5?");
    // Carol was connected (she got it live) and the sender is never told: the same job wrote
    // bob's notification, and none for them.
    for user in [&carol, &alice] {
        let r = stack.api(user).get("/api/community/notifications/").await;
        assert_eq!(
            r.body["results"].as_array().unwrap().len(),
            0,
            "{}",
            user.id
        );
    }
    // Deleted, it shows no text any more.
    let path = format!("{CONVERSATIONS}/{cid}/messages/{}/", id(&sent.body));
    assert_eq!(stack.api(&alice).delete(&path).await.status, 204);
    let r = stack.api(&bob).get("/api/community/notifications/").await;
    assert_eq!(r.body["results"][0]["title"], "This message was deleted");
    assert_eq!(r.body["results"][0]["message"], "");
}
