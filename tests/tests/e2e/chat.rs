//! Real-time chat through the local gateway: real WebSocket clients, the REST chat endpoints,
//! fan-out through the Management API (with gone connections and injected faults).

use e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(600);

/// A course community with two chatting members.
struct Room {
    stack: Stack,
    course: Course,
    alice: User,
    bob: User,
}

async fn room() -> Room {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    Room {
        stack,
        course,
        alice,
        bob,
    }
}

impl Room {
    fn cid(&self) -> &str {
        &self.course.community_id
    }

    async fn connect(&self, user: &User) -> Ws {
        self.stack
            .ws(user, Some(self.cid()))
            .await
            .expect("a member connects to their community")
    }

    fn chat(&self, text: &str, client_id: &str) -> Value {
        json!({ "type": "chat_message", "community_id": self.cid(), "message": text,
                "message_type": "text", "client_id": client_id })
    }

    /// Sends over the WebSocket and waits for the acknowledgement (the sender's own message).
    async fn say(&self, ws: &mut Ws, text: &str, client_id: &str) -> Value {
        ws.send(self.chat(text, client_id)).await;
        let ack = ws.next_of_type("chat_message").await;
        assert_eq!(ack["client_id"], client_id, "acknowledgement: {ack}");
        ack
    }

    async fn history(&self, user: &User, query: &str) -> Value {
        let r = self
            .stack
            .api(user)
            .get(&format!(
                "/api/community/groups/{}/messages/{query}",
                self.cid()
            ))
            .await;
        assert_eq!(r.status, 200, "history: {r:?}");
        r.body
    }
}

/// The next `presence` frame that names `user` in its `list` (`joined` or `left`); frames about
/// others before it are skipped.
async fn presence_naming(ws: &mut Ws, list: &str, user: &str) -> Value {
    loop {
        let ev = ws.next_of_type("presence").await;
        let named = ev[list].as_array().is_some_and(|users| {
            users
                .iter()
                .any(|u| u.as_str() == Some(user) || u["user_id"].as_str() == Some(user))
        });
        if named {
            return ev;
        }
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn two_members_chat_and_a_member_of_another_community_sees_nothing() {
    let room = room().await;
    let other = room.stack.course().await;
    let carol = room.stack.member(&other).await;
    let mut carol_ws = room
        .stack
        .ws(&carol, Some(&other.community_id))
        .await
        .unwrap();
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;

    let ack = room.say(&mut alice, "hello bob", "a-1").await;
    assert_eq!(ack["message"], "hello bob");
    assert_eq!(ack["sender_id"], room.alice.id.as_str());
    assert_eq!(ack["sender_name"], room.alice.name.as_str());
    assert_eq!(ack["community_id"], room.cid());
    assert_eq!(ack["message_type"], "text");
    assert!(ack["timestamp"].is_string() && ack["created_at"].is_string());
    let got = bob.next_of_type("chat_message").await;
    assert_eq!(got["id"], ack["id"]);
    assert_eq!(got["message"], "hello bob");

    bob.send(room.chat("hi alice", "b-1")).await;
    assert_eq!(bob.next_of_type("chat_message").await["client_id"], "b-1");
    assert_eq!(
        alice.next_of_type("chat_message").await["message"],
        "hi alice"
    );

    carol_ws.expect_silence(QUIET).await;
    let page = room.history(&room.bob, "").await;
    let texts: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hi alice", "hello bob"], "newest first");
    let outsider = room
        .stack
        .api(&carol)
        .get(&format!(
            "/api/community/messages/{}/",
            ack["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(outsider.status, 403, "{outsider:?}");
}

#[tokio::test]
async fn a_message_sent_over_rest_is_delivered_live_and_marked_delivered() {
    let room = room().await;
    let mut bob = room.connect(&room.bob).await;
    let r = room
        .stack
        .api(&room.alice)
        .post(
            "/api/community/messages/",
            json!({ "community": room.cid(), "message": "from REST", "message_type": "text" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_string();
    let got = bob.next_of_type("chat_message").await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["message"], "from REST");
    let stored = room
        .stack
        .api(&room.alice)
        .get(&format!("/api/community/messages/{id}/"))
        .await;
    assert_eq!(stored.body["status"], "delivered", "{stored:?}");
}

#[tokio::test]
async fn typing_reaches_the_others_and_not_the_typist() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    presence_naming(&mut alice, "joined", &room.bob.id).await;
    alice
        .send(json!({ "type": "typing", "community_id": room.cid(), "is_typing": true }))
        .await;
    let ev = bob.next_of_type("typing").await;
    assert_eq!(ev["user_id"], room.alice.id.as_str());
    assert_eq!(ev["is_typing"], true);
    assert_eq!(ev["community_id"], room.cid());
    alice.expect_silence(QUIET).await;
    let stored = room.history(&room.bob, "").await;
    assert!(
        stored["results"].as_array().unwrap().is_empty(),
        "typing is not stored"
    );
}

#[tokio::test]
async fn presence_follows_the_first_connection_in_and_the_last_out() {
    let room = room().await;
    let online = |user: &User| {
        let api = room.stack.api(user);
        let path = format!("/api/community/groups/{}/online/", room.cid());
        async move {
            let r = api.get(&path).await;
            assert_eq!(r.status, 200, "{r:?}");
            let mut users: Vec<String> = r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["user_id"].as_str().unwrap().to_string())
                .collect();
            users.sort();
            users
        }
    };
    let mut alice = room.connect(&room.alice).await;
    let bob_phone = room.connect(&room.bob).await;
    let joined = presence_naming(&mut alice, "joined", &room.bob.id).await;
    assert_eq!(joined["community_id"], room.cid());
    assert!(
        joined["joined"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == room.bob.name.as_str()),
        "{joined}"
    );
    let bob_laptop = room.connect(&room.bob).await;
    // A second connection of a user already online is no presence change.
    let about_bob = |ev: &Value| ev.to_string().contains(room.bob.id.as_str());
    alice.expect_none_of("presence", QUIET, about_bob).await;
    let mut both = vec![room.alice.id.clone(), room.bob.id.clone()];
    both.sort();
    assert_eq!(online(&room.alice).await, both);

    bob_phone.close().await;
    alice.expect_none_of("presence", QUIET, about_bob).await;
    bob_laptop.close().await;
    presence_naming(&mut alice, "left", &room.bob.id).await;
    assert_eq!(online(&room.alice).await, vec![room.alice.id.clone()]);
}

#[tokio::test]
async fn subscribing_later_receives_the_community_and_unsubscribing_stops_it() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.stack.ws(&room.bob, None).await.unwrap();
    bob.send(json!({ "type": "subscribe", "community_id": room.cid(), "client_id": "s1" }))
        .await;
    let ok = bob.next_of_type("subscribed").await;
    assert_eq!(ok["client_id"], "s1");
    presence_naming(&mut alice, "joined", &room.bob.id).await;
    room.say(&mut alice, "one", "a-1").await;
    assert_eq!(bob.next_of_type("chat_message").await["message"], "one");

    bob.send(json!({ "type": "unsubscribe", "community_id": room.cid() }))
        .await;
    bob.next_of_type("unsubscribed").await;
    presence_naming(&mut alice, "left", &room.bob.id).await;
    room.say(&mut alice, "two", "a-2").await;
    bob.expect_silence(QUIET).await;
}

#[tokio::test]
async fn read_receipts_reach_the_sender_and_move_the_unread_count() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            room.say(&mut alice, &format!("m{n}"), &format!("a-{n}"))
                .await,
        );
    }
    let unread = |user: &User| {
        let api = room.stack.api(user);
        let path = format!(
            "/api/community/messages/unread-count/?community={}",
            room.cid()
        );
        async move { api.get(&path).await.body["unread_count"].as_i64().unwrap() }
    };
    assert_eq!(unread(&room.bob).await, 3);
    assert_eq!(unread(&room.alice).await, 0, "own messages are not unread");

    let second = sent[1]["id"].as_str().unwrap();
    bob.send(json!({ "type": "read_receipt", "message_id": second }))
        .await;
    let receipt = alice.next_of_type("read_receipt").await;
    assert_eq!(receipt["message_id"], second);
    assert_eq!(receipt["user_id"], room.bob.id.as_str());
    assert_eq!(receipt["community_id"], room.cid());
    assert_eq!(unread(&room.bob).await, 1);

    let third = sent[2]["id"].as_str().unwrap();
    let r = room
        .stack
        .api(&room.bob)
        .post(
            &format!("/api/community/messages/{third}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["unread_count"], 0);
    assert_eq!(
        alice.next_of_type("read_receipt").await["message_id"],
        third
    );
    let stored = room
        .stack
        .api(&room.alice)
        .get(&format!("/api/community/messages/{third}/"))
        .await;
    assert_eq!(stored.body["status"], "read");
    while let Some(ev) = bob.try_next(QUIET).await {
        assert_ne!(ev["type"], "read_receipt", "receipts go to the sender only");
    }
}

#[tokio::test]
async fn edits_and_deletes_reach_the_community_and_only_authors_or_moderators_may() {
    let room = room().await;
    let moderator = room.stack.moderator(&room.course).await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let ack = room.say(&mut alice, "frist", "a-1").await;
    let id = ack["id"].as_str().unwrap().to_string();
    bob.next_of_type("chat_message").await;

    alice
        .send(json!({ "type": "edit_message", "message_id": id, "message": "first" }))
        .await;
    let edited = bob.next_of_type("message_edited").await;
    assert_eq!(edited["id"], id.as_str());
    assert_eq!(edited["message"], "first");
    assert!(edited["edited_at"].is_string());
    alice.next_of_type("message_edited").await;

    bob.send(json!({ "type": "edit_message", "message_id": id, "message": "mine now", "client_id": "b-e" }))
        .await;
    let refused = bob.next_of_type("error").await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(refused["client_id"], "b-e");
    bob.send(json!({ "type": "delete_message", "message_id": id }))
        .await;
    assert_eq!(bob.next_of_type("error").await["code"], "forbidden");
    alice.expect_silence(QUIET).await;

    let r = room
        .stack
        .api(&room.bob)
        .put(
            &format!("/api/community/messages/{id}/"),
            json!({ "message": "x" }),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = room
        .stack
        .api(&moderator)
        .delete(&format!("/api/community/messages/{id}/"))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    for ws in [&mut alice, &mut bob] {
        let deleted = ws.next_of_type("message_deleted").await;
        assert_eq!(deleted["message_id"], id.as_str());
        assert_eq!(deleted["deleted_by"], moderator.id.as_str());
        assert!(
            deleted.get("message").is_none(),
            "no text in a delete event"
        );
    }
    let seen = room
        .stack
        .api(&room.bob)
        .get(&format!("/api/community/messages/{id}/"))
        .await;
    assert_eq!(seen.body["is_deleted"], true);
    assert_eq!(seen.body["message"], "");
    let admin = room
        .stack
        .api(&room.stack.admin())
        .get(&format!("/api/community/messages/{id}/"))
        .await;
    assert_eq!(
        admin.body["message"], "first",
        "an admin still reads the history"
    );
    let r = room
        .stack
        .api(&room.alice)
        .patch(
            &format!("/api/community/messages/{id}/"),
            json!({ "message": "back" }),
        )
        .await;
    assert_eq!(r.status, 409, "a deleted message cannot be edited: {r:?}");

    let own = room.say(&mut alice, "oops", "a-2").await;
    let own_id = own["id"].as_str().unwrap();
    alice
        .send(json!({ "type": "delete_message", "message_id": own_id }))
        .await;
    assert_eq!(
        bob.next_of_type("message_deleted").await["message_id"],
        own_id
    );
}

#[tokio::test]
async fn a_client_that_reconnects_catches_up_with_after_without_gap_or_duplicate() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let first = room.say(&mut alice, "before", "a-0").await;
    let last_seen = bob.next_of_type("chat_message").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first["id"], last_seen.as_str());
    bob.close().await;

    let mut missed = Vec::new();
    for n in 1..=5 {
        let ack = room
            .say(&mut alice, &format!("missed {n}"), &format!("a-{n}"))
            .await;
        missed.push(ack["id"].as_str().unwrap().to_string());
    }
    let mut bob = room.connect(&room.bob).await;
    let mut caught_up = Vec::new();
    let mut page = room
        .history(&room.bob, &format!("?after={last_seen}&limit=2"))
        .await;
    loop {
        caught_up.extend(ids(&page));
        let Some(next) = page["next"].as_str() else {
            break;
        };
        page = room
            .history(
                &room.bob,
                &format!("?after={last_seen}&limit=2&cursor={next}"),
            )
            .await;
    }
    assert_eq!(
        caught_up, missed,
        "oldest first, nothing missing, nothing twice"
    );

    let live = room.say(&mut alice, "after", "a-6").await;
    assert_eq!(bob.next_of_type("chat_message").await["id"], live["id"]);
    let newest = missed.last().unwrap();
    let tail = room.history(&room.bob, &format!("?after={newest}")).await;
    assert_eq!(ids(&tail), vec![live["id"].as_str().unwrap().to_string()]);
    assert!(tail["next"].is_null());
}

#[tokio::test]
async fn older_history_pages_back_newest_first_with_a_cursor() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(
            room.say(&mut alice, &format!("m{n}"), &format!("a-{n}"))
                .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let first = room.history(&room.bob, "?limit=3").await;
    let next = first["next"].as_str().expect("a next cursor").to_string();
    let second = room
        .history(&room.bob, &format!("?limit=3&cursor={next}"))
        .await;
    assert!(second["next"].is_null());
    let mut all = ids(&first);
    all.extend(ids(&second));
    sent.reverse();
    assert_eq!(all, sent);
    let tampered = room
        .stack
        .api(&room.bob)
        .get(&format!(
            "/api/community/groups/{}/messages/?cursor={}x",
            room.cid(),
            next
        ))
        .await;
    assert_eq!(tampered.status, 400);
    let by_query = room
        .stack
        .api(&room.bob)
        .get(&format!(
            "/api/community/messages/?community={}&limit=1",
            room.cid()
        ))
        .await;
    assert_eq!(ids(&by_query.body), vec![sent[0].clone()]);
}

#[tokio::test]
async fn a_connection_gone_without_disconnect_is_pruned_and_the_others_still_get_the_message() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let ghost = "GhostConnId0=";
    let key = shared::keys::subscription(room.cid(), ghost);
    let row = shared::connections::Subscription {
        connection_id: ghost.into(),
        user_id: room.bob.id.clone(),
        role: Some(Role::Student),
        ttl: chrono::Utc::now().timestamp() + 3600,
        access_until: None,
    };
    room.stack
        .ddb
        .put_item()
        .table_name(&room.stack.table)
        .set_item(Some(shared::db::to_item(&key, &row).unwrap()))
        .send()
        .await
        .unwrap();

    let ack = room.say(&mut alice, "anyone there?", "a-1").await;
    assert_eq!(bob.next_of_type("chat_message").await["id"], ack["id"]);
    // The acknowledgement can arrive before the ghost's 410 is handled: poll for the prune.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let row = room
            .stack
            .ddb
            .get_item()
            .table_name(&room.stack.table)
            .set_key(Some(shared::db::key_item(&key)))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        if row.item.is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gone connection's subscription was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = room
        .stack
        .gateway
        .stats()
        .management
        .by_status
        .get(&410)
        .copied();
    assert!(gone.unwrap_or(0) >= 1, "the ghost got a 410");

    room.say(&mut alice, "still here", "a-2").await;
    assert_eq!(
        bob.next_of_type("chat_message").await["message"],
        "still here"
    );
}

#[tokio::test]
async fn a_connection_still_opening_is_not_pruned_by_a_410_but_an_older_gone_one_is() {
    // API Gateway answers 410 until a connection's `$connect` has completed: an event sent to
    // the community meanwhile must not remove the connection being opened.
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let now = chrono::Utc::now();
    let registered = |id: &str, ago_secs: i64| shared::connections::Connection {
        connection_id: id.into(),
        user_id: room.bob.id.clone(),
        name: room.bob.name.clone(),
        username: None,
        role: Some(Role::Student),
        connected_at: shared::clock::iso(now - chrono::Duration::seconds(ago_secs)),
        communities: vec![room.cid().into()],
        ttl: now.timestamp() - ago_secs + shared::connections::CONNECTION_TTL_SECS,
    };
    let opening = registered("OpeningConn=", 1);
    let gone = registered("GoneConnId0=", 120);
    for conn in [&opening, &gone] {
        let sub = shared::connections::Subscription {
            connection_id: conn.connection_id.clone(),
            user_id: conn.user_id.clone(),
            role: conn.role,
            ttl: conn.ttl,
            access_until: None,
        };
        for item in [
            shared::db::to_item(&shared::keys::connection(&conn.connection_id), conn).unwrap(),
            shared::db::to_item(
                &shared::keys::subscription(room.cid(), &conn.connection_id),
                &sub,
            )
            .unwrap(),
        ] {
            room.stack
                .ddb
                .put_item()
                .table_name(&room.stack.table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        }
    }
    room.say(&mut alice, "hello", "a-1").await;
    let exists = |id: String| {
        let stack = &room.stack;
        async move {
            stack
                .ddb
                .get_item()
                .table_name(&stack.table)
                .set_key(Some(shared::db::key_item(&shared::keys::connection(&id))))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .is_some()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while exists(gone.connection_id.clone()).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection gone for 2 minutes was not pruned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        exists(opening.connection_id.clone()).await,
        "the connection still opening was kept"
    );
}

#[tokio::test]
async fn a_retried_send_with_the_same_client_id_stores_one_message() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let first = room.say(&mut alice, "once", "retry-1").await;
    bob.next_of_type("chat_message").await;
    let again = room.say(&mut alice, "once", "retry-1").await;
    assert_eq!(again["id"], first["id"]);
    bob.expect_silence(QUIET).await;
    let rest = room
        .stack
        .api(&room.alice)
        .post(
            "/api/community/messages/",
            json!({ "community": room.cid(), "message": "once", "client_id": "retry-1" }),
        )
        .await;
    assert_eq!(
        rest.status, 200,
        "a retry answers the stored message: {rest:?}"
    );
    assert_eq!(rest.body["id"], first["id"]);
    assert_eq!(ids(&room.history(&room.bob, "").await).len(), 1);
}

#[tokio::test]
async fn an_injected_management_api_failure_loses_no_stored_message() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    presence_naming(&mut alice, "joined", &room.bob.id).await;
    room.stack.gateway.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 1.0,
        fail_status: 500,
    });
    let r = room
        .stack
        .api(&room.alice)
        .post(
            "/api/community/messages/",
            json!({ "community": room.cid(), "message": "into the void" }),
        )
        .await;
    assert_eq!(r.status, 201, "stored although no delivery worked: {r:?}");
    // Every push failed, retried included: both connections are closed rather than left with a
    // gap nobody knows of, so their clients reconnect and catch up.
    bob.expect_closed().await;
    alice.expect_closed().await;
    let retried = room.stack.gateway.stats().management.injected_faults;
    assert!(retried >= 2 * 6, "each push tried 6 times: {retried}");
    room.stack.gateway.set_faults(Faults::default());
    let texts = |page: Value| -> Vec<String> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(texts(room.history(&room.bob, "").await), ["into the void"]);

    // A send over the socket whose every push fails: stored, and still `sent`; its retry with
    // the same `client_id` (the client got no acknowledgement) delivers it to the room.
    let mut alice = room.connect(&room.alice).await;
    room.stack.gateway.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 1.0,
        fail_status: 500,
    });
    alice.send(room.chat("over the socket too", "a-ws")).await;
    alice.expect_closed().await;
    room.stack.gateway.set_faults(Faults::default());
    let mut alice = room.connect(&room.alice).await;
    // Bob's reconnect within one presence batch is no presence change: no frame to wait for
    // (his subscription is written by the time his `$connect` answers).
    let mut bob = room.connect(&room.bob).await;
    let again = room.say(&mut alice, "over the socket too", "a-ws").await;
    let live = bob.next_of_type("chat_message").await;
    assert_eq!(live["id"], again["id"]);
    assert_eq!(live["message"], "over the socket too");

    // Throttled pushes are retried: delivered live.
    room.stack.gateway.set_faults(Faults {
        latency_ms: 0,
        fail_rate: 0.3,
        fail_status: 429,
    });
    room.say(&mut alice, "throttled but retried", "a-t").await;
    assert_eq!(
        bob.next_of_type("chat_message").await["message"],
        "throttled but retried"
    );
    room.stack.gateway.set_faults(Faults::default());
    assert_eq!(
        texts(room.history(&room.bob, "").await),
        [
            "throttled but retried",
            "over the socket too",
            "into the void"
        ]
    );
}

#[tokio::test]
async fn bad_input_gets_an_error_on_that_connection_only_and_stores_nothing() {
    let room = room().await;
    let other = room.stack.course().await;
    let carol = room.stack.member(&other).await;
    let mut carol_ws = room
        .stack
        .ws(&carol, Some(&other.community_id))
        .await
        .unwrap();
    let foreign = room
        .stack
        .api(&carol)
        .post(
            "/api/community/messages/",
            json!({ "community": other.community_id, "message": "elsewhere" }),
        )
        .await;
    assert_eq!(foreign.status, 201);
    carol_ws.next_of_type("chat_message").await;
    let foreign_id = foreign.body["id"].as_str().unwrap();
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    presence_naming(&mut alice, "joined", &room.bob.id).await;

    let expect = |code: &'static str, client_id: Option<&'static str>| (code, client_id);
    let cases: Vec<(String, (&str, Option<&str>))> = vec![
        ("{not json".into(), expect("bad_request", None)),
        (
            r#"{"type":"dance","client_id":"c1"}"#.into(),
            expect("bad_request", Some("c1")),
        ),
        (
            json!({ "type": "chat_message", "community_id": room.cid(), "client_id": "c2" })
                .to_string(),
            expect("validation_failed", Some("c2")),
        ),
        (
            room.chat(&"x".repeat(4001), "c3").to_string(),
            expect("validation_failed", Some("c3")),
        ),
        (
            json!({ "type": "chat_message", "community_id": "01JF0C0MMVN1TY000000000000",
                    "message": "hi", "client_id": "c4" })
            .to_string(),
            expect("not_found", Some("c4")),
        ),
        (
            room.chat("not mine", "c5")
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("community_id".into(), json!(other.community_id));
                    Value::Object(o).to_string()
                })
                .unwrap(),
            expect("forbidden", Some("c5")),
        ),
        (
            json!({ "type": "edit_message", "message_id": foreign_id, "community_id": room.cid(),
                    "message": "hijack", "client_id": "c6" })
            .to_string(),
            expect("not_found", Some("c6")),
        ),
        (
            json!({ "type": "read_receipt", "message_id": foreign_id, "client_id": "c7" })
                .to_string(),
            expect("forbidden", Some("c7")),
        ),
        (
            json!({ "type": "delete_message", "message_id": "not-an-id", "client_id": "c8" })
                .to_string(),
            expect("bad_request", Some("c8")),
        ),
    ];
    for (frame, (code, client_id)) in cases {
        alice.send_text(&frame).await;
        let err = alice.next_of_type("error").await;
        assert_eq!(err["code"], code, "{frame} -> {err}");
        assert!(err["detail"].is_string(), "{err}");
        assert_eq!(err["client_id"].as_str(), client_id, "{frame} -> {err}");
    }
    alice
        .send(json!({ "type": "ping", "client_id": "p" }))
        .await;
    assert_eq!(
        alice.next_of_type("pong").await["client_id"],
        "p",
        "still open"
    );
    bob.expect_silence(QUIET).await;
    assert!(
        room.history(&room.bob, "").await["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let after_foreign = room
        .stack
        .api(&room.bob)
        .get(&format!(
            "/api/community/groups/{}/messages/?after={foreign_id}",
            room.cid()
        ))
        .await;
    assert_eq!(
        after_foreign.status, 404,
        "a message id of another community"
    );
    let oversize = room
        .stack
        .api(&room.alice)
        .post(
            "/api/community/messages/",
            json!({ "community": room.cid(), "message": "x".repeat(4001) }),
        )
        .await;
    assert_eq!(oversize.status, 422);
    assert_eq!(oversize.body["errors"][0]["field"], "message");
}

#[tokio::test]
async fn chat_is_rate_limited_per_user() {
    let room = room().await;
    let mut alice = room.connect(&room.alice).await;
    let api = room.stack.api(&room.alice);
    let limit = shared::ratelimit::CHAT.max as usize;
    let mut stored = 0;
    // The limit counts per fixed window of the real clock: a burst of limit + 1 concurrent sends
    // fills the current window unless it straddles a boundary, so try a few bursts, then send
    // over the WebSocket while the window is still full.
    for _ in 0..4 {
        let burst = (0..=limit).map(|n| {
            let api = api.clone();
            let body = json!({ "community": room.cid(), "message": format!("burst {n}") });
            async move { api.post("/api/community/messages/", body).await }
        });
        let answers = futures::future::join_all(burst).await;
        stored += answers.iter().filter(|r| r.status == 201).count();
        let limited: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
        assert!(
            answers.iter().all(|r| r.status == 201 || r.status == 429),
            "{answers:?}"
        );
        if limited.is_empty() {
            continue;
        }
        assert!(limited[0].headers.get("retry-after").is_some());
        assert_eq!(limited[0].body["code"], "rate_limited");
        alice.send(room.chat("one too many", "over")).await;
        let ev = loop {
            let ev = alice.next().await;
            if ev["type"] == "error" || ev["client_id"] == "over" {
                break ev;
            }
        };
        if ev["type"] == "chat_message" {
            stored += 1;
            continue;
        }
        assert_eq!(ev["code"], "rate_limited", "{ev}");
        assert_eq!(ev["client_id"], "over");
        assert!(ev["retry_after"].as_u64().is_some_and(|s| s >= 1), "{ev}");
        let history = room.history(&room.bob, "?limit=100").await;
        assert_eq!(ids(&history).len(), stored, "refused sends stored nothing");
        return;
    }
    panic!(
        "no burst of {} sends reached the chat rate limit",
        limit + 1
    );
}

#[tokio::test]
async fn a_member_who_loses_access_can_no_longer_send_or_receive_on_an_open_connection() {
    let room = room().await;
    let dave = room.stack.member(&room.course).await;
    let erin = room.stack.member(&room.course).await;
    let mut alice = room.connect(&room.alice).await;
    let mut dave_ws = room.connect(&dave).await;
    let mut erin_ws = room.connect(&erin).await;
    room.say(&mut alice, "all here", "a-0").await;
    dave_ws.next_of_type("chat_message").await;
    erin_ws.next_of_type("chat_message").await;

    let admin = room.stack.api(&room.stack.admin());
    let r = admin
        .put(
            &format!(
                "/api/community/lms/courses/{}/enrollments/{}/",
                room.course.course_id, dave.id
            ),
            json!({ "is_active": true, "expiry_date": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{r:?}");
    let r = room
        .stack
        .api(&room.course.instructor)
        .delete(&format!(
            "/api/community/groups/{}/members/{}/",
            room.cid(),
            erin.id
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    room.say(&mut alice, "members only", "a-1").await;
    dave_ws.send(room.chat("can I?", "d-1")).await;
    assert_eq!(dave_ws.next_of_type("error").await["code"], "forbidden");
    erin_ws.send(room.chat("can I?", "e-1")).await;
    assert_eq!(erin_ws.next_of_type("error").await["code"], "forbidden");
    for ws in [&mut dave_ws, &mut erin_ws] {
        if let Some(ev) = ws.try_next(QUIET).await {
            assert_ne!(
                ev["type"], "chat_message",
                "no chat after access ended: {ev}"
            );
        }
    }
    let texts: Vec<String> = room.history(&room.alice, "").await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["members only", "all here"]);
}

#[tokio::test]
async fn in_a_busy_room_a_removed_member_receives_nothing_and_ghosts_are_pruned() {
    let room = room().await;
    let erin = room.stack.member(&room.course).await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let mut erin_ws = room.connect(&erin).await;
    // 60 more members online, each on a connection that vanished without `$disconnect`.
    let now = chrono::Utc::now();
    let ghosts: Vec<String> = (0..60).map(|n| format!("ghost-{n}")).collect();
    for user in &ghosts {
        let member = shared::membership::Member {
            community_id: room.cid().into(),
            user_id: user.clone(),
            name: user.clone(),
            username: None,
            role: shared::membership::CommunityRole::Member,
            joined_at: shared::clock::iso(now),
        };
        let enrollment = shared::lms::Enrollment {
            course_id: room.course.course_id.clone(),
            community_id: room.cid().into(),
            user_id: user.clone(),
            is_active: true,
            expiry_date: None,
            updated_at: shared::clock::iso(now),
        };
        let subscription = shared::connections::Subscription {
            connection_id: format!("{user}="),
            user_id: user.clone(),
            role: Some(Role::Student),
            ttl: now.timestamp() + 3600,
            access_until: None,
        };
        let items = [
            shared::db::to_item(&shared::keys::member(room.cid(), user), &member),
            shared::db::to_item(&shared::keys::enrollment(room.cid(), user), &enrollment),
            shared::db::to_item(
                &shared::keys::subscription(room.cid(), &subscription.connection_id),
                &subscription,
            ),
        ];
        for item in items {
            room.stack
                .ddb
                .put_item()
                .table_name(&room.stack.table)
                .set_item(Some(item.unwrap()))
                .send()
                .await
                .unwrap();
        }
    }
    let r = room
        .stack
        .api(&room.course.instructor)
        .delete(&format!(
            "/api/community/groups/{}/members/{}/",
            room.cid(),
            erin.id
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    let ack = room.say(&mut alice, "busy room", "a-1").await;
    assert_eq!(bob.next_of_type("chat_message").await["id"], ack["id"]);
    while let Some(ev) = erin_ws.try_next(QUIET).await {
        assert_ne!(
            ev["type"], "chat_message",
            "a removed member receives nothing: {ev}"
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = room
            .stack
            .ddb
            .query()
            .table_name(&room.stack.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(
                ":pk",
                shared::db::s(shared::keys::subscriptions_pk(room.cid())),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count;
        // Alice's and Bob's: Erin's row went with her membership, the ghosts' with their 410s.
        if left == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} subscriptions left; the 60 ghosts should be pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn open_connections_follow_enrollment_changes_and_leaving() {
    // The audience is decided from the subscription rows alone: an LMS change rewrites the end
    // of the holder's access on their rows, the clock passing it stops delivery, an extension
    // resumes it on the same socket, and leaving removes the rows.
    let room = room().await;
    let dave = room.stack.member(&room.course).await;
    let mut alice = room.connect(&room.alice).await;
    let mut bob = room.connect(&room.bob).await;
    let mut dave_ws = room.connect(&dave).await;
    let admin = room.stack.api(&room.stack.admin());
    let enroll = |expiry: String| {
        let admin = &admin;
        let path = format!(
            "/api/community/lms/courses/{}/enrollments/{}/",
            room.course.course_id, dave.id
        );
        async move {
            let r = admin
                .put(&path, json!({ "is_active": true, "expiry_date": expiry }))
                .await;
            assert!(r.status == 200 || r.status == 201, "{r:?}");
        }
    };
    let ends = chrono::Utc::now() + chrono::Duration::seconds(4);
    enroll(shared::clock::iso(ends)).await;
    let ack = room.say(&mut alice, "before the end", "a-1").await;
    assert_eq!(dave_ws.next_of_type("chat_message").await["id"], ack["id"]);
    bob.next_of_type("chat_message").await;

    let wait = (ends - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(300)).await;
    room.say(&mut alice, "after the end", "a-2").await;
    assert_eq!(
        bob.next_of_type("chat_message").await["message"],
        "after the end"
    );
    while let Some(ev) = dave_ws.try_next(QUIET).await {
        assert_ne!(ev["type"], "chat_message", "no chat past the expiry: {ev}");
    }

    enroll(shared::clock::iso(
        chrono::Utc::now() + chrono::Duration::days(30),
    ))
    .await;
    let ack = room.say(&mut alice, "renewed", "a-3").await;
    assert_eq!(
        dave_ws.next_of_type("chat_message").await["id"],
        ack["id"],
        "the extension reaches the open socket"
    );
    bob.next_of_type("chat_message").await;

    let r = room
        .stack
        .api(&room.bob)
        .post(
            &format!("/api/community/groups/{}/leave/", room.cid()),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let ack = room.say(&mut alice, "bob has left", "a-4").await;
    assert_eq!(dave_ws.next_of_type("chat_message").await["id"], ack["id"]);
    while let Some(ev) = bob.try_next(QUIET).await {
        assert_ne!(ev["type"], "chat_message", "no chat after leaving: {ev}");
    }
    let online: Vec<String> = room
        .stack
        .api(&room.alice)
        .get(&format!("/api/community/groups/{}/online/", room.cid()))
        .await
        .body["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["user_id"].as_str().map(str::to_string))
        .collect();
    assert!(!online.contains(&room.bob.id), "{online:?}");
    assert!(online.contains(&dave.id), "{online:?}");
}
