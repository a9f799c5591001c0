//! The chat store against DynamoDB Local (named outcomes of insert, edit, delete and read
//! positions), the outbox of a chat message, and the send use case against a recording pusher.

use super::fakes::{RecordingPusher, community, person};
use chrono::{DateTime, Duration, Utc};
use e2e::TestTable;
use shared::auth::Role;
use shared::chat::use_cases as chat;
use shared::chat::{Message, MessageType, NewMessage, ReadPosition, Status};
use shared::connections::Connection;
use shared::ids::{Ids, Sequence};
use shared::notifications::jobs::JobItem;
use shared::store::chat::{self as store, Advanced, Changed, History, Inserted};
use shared::store::connections as connections_store;

const C: &str = "01JF0C0MMVN1TY000000000000";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn message(id: &str, sender: &str, text: &str) -> Message {
    Message {
        id: id.into(),
        community_id: C.into(),
        sender_id: sender.into(),
        sender_name: sender.to_uppercase(),
        sender_username: Some(sender.into()),
        message: text.into(),
        message_type: MessageType::Text,
        reply_to: None,
        client_id: None,
        attachment: None,
        status: Status::Sent,
        created_at: shared::clock::iso(now()),
        edited_at: None,
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
    }
}

async fn history(t: &TestTable) -> Vec<Message> {
    let cursors = shared::cursor::Cursors::new(b"test");
    let page = shared::cursor::PageParams {
        limit: 50,
        cursor: None,
    };
    match store::history(&t.db, &cursors, C, None, &page)
        .await
        .unwrap()
    {
        History::Page(p) => p.results,
        History::AfterMissing => unreachable!("no after"),
    }
}

// ---------------------------------------------------------------- the store

#[tokio::test]
async fn a_new_message_is_inserted_and_a_reused_client_id_answers_the_stored_one() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let mut first = message(&ids.new_id(), "ann", "hello");
    first.client_id = Some("k1".into());
    assert_eq!(
        store::insert(&t.db, &first, None, now()).await.unwrap(),
        Inserted::New
    );
    assert_eq!(
        store::locate(&t.db, &first.id).await.unwrap().as_deref(),
        Some(C)
    );

    let mut retry = message(&ids.new_id(), "ann", "hello again");
    retry.client_id = Some("k1".into());
    match store::insert(&t.db, &retry, None, now()).await.unwrap() {
        Inserted::Duplicate(stored) => assert_eq!(stored, first),
        other => panic!("a reused client_id is a duplicate: {other:?}"),
    }
    assert_eq!(store::get(&t.db, C, &retry.id).await.unwrap(), None);
    assert_eq!(store::locate(&t.db, &retry.id).await.unwrap(), None);

    // Another sender's same client_id is theirs.
    let mut other = message(&ids.new_id(), "bob", "hi");
    other.client_id = Some("k1".into());
    assert_eq!(
        store::insert(&t.db, &other, None, now()).await.unwrap(),
        Inserted::New
    );
    assert_eq!(history(&t).await.len(), 2);
}

#[tokio::test]
async fn a_reply_to_a_missing_message_is_refused_by_name_and_writes_nothing() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let mut reply = message(&ids.new_id(), "ann", "me too");
    reply.reply_to = Some(ids.nth(99));
    reply.client_id = Some("k2".into());
    assert_eq!(
        store::insert(&t.db, &reply, None, now()).await.unwrap(),
        Inserted::ReplyMissing
    );
    assert!(history(&t).await.is_empty());
    assert_eq!(store::locate(&t.db, &reply.id).await.unwrap(), None);

    // The claim was not written either: the same client_id stores the corrected message.
    let original = message(&ids.new_id(), "bob", "question");
    store::insert(&t.db, &original, None, now()).await.unwrap();
    reply.reply_to = Some(original.id.clone());
    assert_eq!(
        store::insert(&t.db, &reply, None, now()).await.unwrap(),
        Inserted::New
    );
}

#[tokio::test]
async fn edits_answer_done_not_author_missing_or_deleted() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let m = message(&ids.new_id(), "ann", "draft");
    store::insert(&t.db, &m, None, now()).await.unwrap();
    let later = now() + Duration::seconds(5);

    match store::edit(&t.db, C, &m.id, "ann", "final", later)
        .await
        .unwrap()
    {
        Changed::Done(edited) => {
            assert_eq!(edited.message, "final");
            assert_eq!(edited.edited_at, Some(shared::clock::iso(later)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store::edit(&t.db, C, &m.id, "bob", "mine now", later)
            .await
            .unwrap(),
        Changed::NotAuthor
    );
    assert_eq!(
        store::edit(&t.db, C, &ids.nth(50), "ann", "x", later)
            .await
            .unwrap(),
        Changed::Missing
    );
    store::soft_delete(&t.db, C, &m.id, "ann", Some("ann"), later)
        .await
        .unwrap();
    assert_eq!(
        store::edit(&t.db, C, &m.id, "ann", "again", later)
            .await
            .unwrap(),
        Changed::Deleted
    );
    let stored = store::get(&t.db, C, &m.id).await.unwrap().unwrap();
    assert_eq!(stored.message, "final", "a refused edit changes nothing");
}

#[tokio::test]
async fn deletes_limited_to_the_author_refuse_others_and_a_second_delete_finds_it_deleted() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let m = message(&ids.new_id(), "ann", "oops");
    store::insert(&t.db, &m, None, now()).await.unwrap();

    assert_eq!(
        store::soft_delete(&t.db, C, &m.id, "bob", Some("bob"), now())
            .await
            .unwrap(),
        Changed::NotAuthor
    );
    assert!(
        !store::get(&t.db, C, &m.id)
            .await
            .unwrap()
            .unwrap()
            .is_deleted
    );
    // Not limited to the author (the use case decided the caller moderates).
    match store::soft_delete(&t.db, C, &m.id, "mod", None, now())
        .await
        .unwrap()
    {
        Changed::Done(d) => {
            assert!(d.is_deleted);
            assert_eq!(d.deleted_by.as_deref(), Some("mod"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store::soft_delete(&t.db, C, &m.id, "mod", None, now())
            .await
            .unwrap(),
        Changed::Deleted
    );
    assert_eq!(
        store::soft_delete(&t.db, C, &ids.nth(50), "mod", None, now())
            .await
            .unwrap(),
        Changed::Missing
    );
}

#[tokio::test]
async fn a_read_position_moves_forward_only() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let (m1, m2, m3) = (ids.new_id(), ids.new_id(), ids.new_id());
    let at = |id: &str| ReadPosition {
        community_id: C.into(),
        user_id: "ann".into(),
        last_read_id: id.into(),
        read_at: shared::clock::iso(now()),
    };
    assert_eq!(
        store::advance_read(&t.db, &at(&m2)).await.unwrap(),
        Advanced::Forward
    );
    assert_eq!(
        store::advance_read(&t.db, &at(&m1)).await.unwrap(),
        Advanced::NotForward
    );
    assert_eq!(
        store::advance_read(&t.db, &at(&m2)).await.unwrap(),
        Advanced::NotForward
    );
    let position = store::read_position(&t.db, C, "ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(position.last_read_id, m2);
    assert_eq!(
        store::advance_read(&t.db, &at(&m3)).await.unwrap(),
        Advanced::Forward
    );
    assert_eq!(store::read_position(&t.db, C, "bob").await.unwrap(), None);
}

#[tokio::test]
async fn unread_counts_others_messages_after_the_position_not_deleted_ones() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let mut sent = Vec::new();
    for (sender, text) in [("bob", "1"), ("ann", "2"), ("bob", "3"), ("bob", "4")] {
        let m = message(&ids.new_id(), sender, text);
        store::insert(&t.db, &m, None, now()).await.unwrap();
        sent.push(m);
    }
    store::soft_delete(&t.db, C, &sent[3].id, "bob", None, now())
        .await
        .unwrap();
    assert_eq!(
        store::count_unread(&t.db, C, "ann", None, 999)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store::count_unread(&t.db, C, "ann", Some(&sent[0].id), 999)
            .await
            .unwrap(),
        1
    );
}

// ---------------------------------------------------------------- the outbox

fn mention(client_id: &str) -> NewMessage {
    NewMessage {
        community_id: C.into(),
        message: "@bob can you look at exercise 3?".into(),
        message_type: MessageType::Text,
        reply_to: None,
        client_id: Some(client_id.into()),
        attachment_id: None,
    }
}

async fn job(t: &TestTable, id: &str) -> Option<JobItem> {
    t.db.get(&shared::keys::notification_job(id)).await.unwrap()
}

#[tokio::test]
async fn a_mentioning_message_and_its_notification_job_are_written_together() {
    let t = TestTable::new().await;
    let ann = person("ann", Role::Student);
    community(&t.db, C, &[], &[&ann]).await;
    let ids = Sequence::at(now());
    let pusher = shared::realtime::NoopPusher;

    let sent = chat::send(&t.db, &pusher, &ids, now(), &ann, mention("m1"), None)
        .await
        .unwrap();
    assert!(sent.created);
    assert_eq!(sent.message.id, ids.nth(1));
    let queued = job(&t, &ids.nth(2)).await.expect("the job is stored");
    let about = queued.job.message.expect("the job names its message");
    assert_eq!(about.id, sent.message.id);
    assert_eq!(queued.job.mentions, ["bob"]);

    // A message that names nobody and answers nobody queues nothing.
    let plain = NewMessage {
        message: "thanks".into(),
        client_id: None,
        ..mention("")
    };
    chat::send(&t.db, &pusher, &ids, now(), &ann, plain, None)
        .await
        .unwrap();
    assert_eq!(ids.new_id(), ids.nth(4), "one id only: the message's");
}

#[tokio::test]
async fn when_the_job_cannot_be_written_no_message_is_stored_and_the_retry_stores_both_once() {
    let t = TestTable::new().await;
    let ann = person("ann", Role::Student);
    community(&t.db, C, &[], &[&ann]).await;
    let ids = Sequence::at(now());
    let pusher = RecordingPusher::default();
    // The send's job will be the sequence's second id: an item already there fails its write.
    let blocked = shared::keys::notification_job(&ids.nth(2));
    super::fakes::put(
        &t.db,
        shared::db::to_item(&blocked, &serde_json::json!({ "in": "the way" })).unwrap(),
    )
    .await;

    let e = chat::send(&t.db, &pusher, &ids, now(), &ann, mention("m1"), None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 500, "{e:?}");
    assert!(history(&t).await.is_empty(), "no message without its job");
    assert_eq!(store::locate(&t.db, &ids.nth(1)).await.unwrap(), None);
    assert!(pusher.tried().is_empty(), "nothing delivered");

    // The client retries with the same client_id: the claim was not taken, so it stores now.
    let sent = chat::send(&t.db, &pusher, &ids, now(), &ann, mention("m1"), None)
        .await
        .unwrap();
    assert!(sent.created);
    assert_eq!(sent.message.id, ids.nth(3));
    assert_eq!(
        job(&t, &ids.nth(4))
            .await
            .map(|j| j.job.message.unwrap().id),
        Some(sent.message.id.clone())
    );

    // Once more: the stored message comes back, and no second job is queued.
    let again = chat::send(&t.db, &pusher, &ids, now(), &ann, mention("m1"), None)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.message.id, sent.message.id);
    assert!(job(&t, &ids.nth(6)).await.is_none());
    let stored = history(&t).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].client_id.as_deref(), Some("m1"));
}

// ---------------------------------------------------------------- send, as delivered

async fn open(t: &TestTable, id: &str, who: &shared::auth::Principal, at: DateTime<Utc>) {
    let conn = Connection::open(id, who, at);
    let grant = shared::model::grant::ReadGrant {
        until: None,
        rests_on: Vec::new(),
    };
    connections_store::register(&t.db, &conn, None)
        .await
        .unwrap();
    connections_store::subscribe(&t.db, &conn, C, &grant)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_send_acknowledges_the_sender_reaches_the_others_and_prunes_a_gone_connection() {
    let t = TestTable::new().await;
    let (ann, bob, cat) = (
        person("ann", Role::Student),
        person("bob", Role::Student),
        person("cat", Role::Student),
    );
    community(&t.db, C, &["cat"], &[&ann, &bob]).await;
    let now = Utc::now();
    open(&t, "conn-ann", &ann, now).await;
    open(&t, "conn-bob", &bob, now).await;
    open(&t, "conn-cat", &cat, now - Duration::minutes(10)).await;
    let pusher = RecordingPusher::with_gone(&["conn-cat"]);
    let ids = shared::ids::Ulids;
    let new = NewMessage {
        message: "hello room".into(),
        client_id: Some("k1".into()),
        ..mention("")
    };

    let sent = chat::send(&t.db, &pusher, &ids, now, &ann, new, Some("conn-ann"))
        .await
        .unwrap();

    let ack = pusher.received("conn-ann");
    assert_eq!(ack.len(), 1, "{ack:?}");
    assert_eq!(ack[0]["type"], "chat_message");
    assert_eq!(ack[0]["client_id"], "k1");
    assert_eq!(ack[0]["id"], sent.message.id.as_str());
    let bobs = pusher.received("conn-bob");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["message"], "hello room");
    assert!(pusher.tried().contains(&"conn-cat".to_string()));
    // The gone connection is pruned: no record, no subscription.
    assert_eq!(
        connections_store::get(&t.db, "conn-cat").await.unwrap(),
        None
    );
    let subscribed: Vec<String> = connections_store::subscribers(&t.db, C, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.connection_id)
        .collect();
    assert_eq!(subscribed.len(), 2);
    assert!(!subscribed.contains(&"conn-cat".to_string()));
    // Another user got it: the message is `delivered`.
    let stored = store::get(&t.db, C, &sent.message.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Delivered);

    // A retry of a delivered message is acknowledged to its sender only.
    pusher.clear();
    let retry = NewMessage {
        message: "hello room".into(),
        client_id: Some("k1".into()),
        ..mention("")
    };
    let again = chat::send(&t.db, &pusher, &ids, now, &ann, retry, Some("conn-ann"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(pusher.tried(), ["conn-ann"]);
    assert_eq!(
        pusher.received("conn-ann")[0]["id"],
        sent.message.id.as_str()
    );
}
