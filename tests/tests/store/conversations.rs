//! The conversations store against DynamoDB Local: one conversation per pair whatever the
//! races, a send's transaction (claim, last message, every member's activity, the job), the
//! listing by activity, read positions that never move back, and blocks both ways.

use chrono::{DateTime, Duration, Utc};
use e2e::TestTable;
use shared::chat::{MessageType, Status};
use shared::conversations::{Conversation, DirectMessage, Participant};
use shared::cursor::{Cursors, PageParams};
use shared::ids::{Ids, Sequence};
use shared::keys::Room;
use shared::notifications::jobs::{Job, JobItem};
use shared::store::chat::Advanced;
use shared::store::conversations::{self as store, Created, Inserted};
use shared::store::{blocks, room};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn conversation(id: &str, members: &[&str]) -> Conversation {
    Conversation {
        id: id.into(),
        members: members
            .iter()
            .map(|u| Participant {
                user_id: u.to_string(),
                name: u.to_uppercase(),
            })
            .collect(),
        title: None,
        created_by: members[0].into(),
        created_at: shared::clock::iso(now()),
        last_message: None,
    }
}

fn dm(id: &str, conversation_id: &str, sender: &str, client_id: Option<&str>) -> DirectMessage {
    DirectMessage {
        id: id.into(),
        conversation_id: conversation_id.into(),
        sender_id: sender.into(),
        sender_name: sender.to_uppercase(),
        sender_username: None,
        message: format!("hello from {sender}"),
        message_type: MessageType::Text,
        client_id: client_id.map(str::to_string),
        attachment: None,
        status: Status::Sent,
        created_at: shared::clock::iso(now()),
        edited_at: None,
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
    }
}

#[tokio::test]
async fn a_pair_has_one_conversation_even_when_both_create_it_at_once() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let one = conversation(&ids.new_id(), &["ann", "ben"]);
    let two = conversation(&ids.new_id(), &["ann", "ben"]);
    let (a, b) = tokio::join!(
        store::create(&t.db, &one, true),
        store::create(&t.db, &two, true)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let existing: Vec<&Conversation> = outcomes
        .iter()
        .filter_map(|o| match o {
            Created::Existing(c) => Some(c),
            Created::New => None,
        })
        .collect();
    assert_eq!(existing.len(), 1, "{outcomes:?}");
    let winner = store::of_pair(&t.db, "ben", "ann").await.unwrap().unwrap();
    assert_eq!(existing[0].id, winner.id);
    // The loser wrote nothing: no member rows of its own.
    let loser = if winner.id == one.id { &two } else { &one };
    assert!(store::get(&t.db, &loser.id).await.unwrap().is_none());
    assert!(
        store::member_row(&t.db, &loser.id, "ann")
            .await
            .unwrap()
            .is_none()
    );
    // Groups are not unique.
    let group = conversation(&ids.new_id(), &["ann", "ben", "cy"]);
    assert_eq!(
        store::create(&t.db, &group, false).await.unwrap(),
        Created::New
    );
}

#[tokio::test]
async fn a_send_updates_the_listing_and_a_retry_writes_nothing() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let cursors = Cursors::new(b"test");
    let older = conversation(&ids.new_id(), &["ann", "ben"]);
    let newer = conversation(&ids.new_id(), &["ann", "cy"]);
    store::create(&t.db, &older, true).await.unwrap();
    store::create(&t.db, &newer, true).await.unwrap();
    let page = PageParams {
        limit: 20,
        cursor: None,
    };
    let listed = |rows: &[shared::conversations::MemberRow]| -> Vec<String> {
        rows.iter().map(|r| r.conversation_id.clone()).collect()
    };
    let rows = store::rows_of(&t.db, &cursors, "ann", &page).await.unwrap();
    assert_eq!(listed(&rows.results), [newer.id.clone(), older.id.clone()]);

    // A message in the older conversation puts it first, for both its members, with its job.
    let m = dm(&ids.new_id(), &older.id, "ben", Some("c-1"));
    let job = Job::of_direct_message(&m, now(), &ids);
    let out = store::insert_message(&t.db, &older, &m, Some(&job), now())
        .await
        .unwrap();
    assert_eq!(out, Inserted::New);
    let rows = store::rows_of(&t.db, &cursors, "ann", &page).await.unwrap();
    assert_eq!(listed(&rows.results), [older.id.clone(), newer.id.clone()]);
    let stored = store::get(&t.db, &older.id).await.unwrap().unwrap();
    assert_eq!(stored.last_message.unwrap().id, m.id);
    let queued: Option<JobItem> =
        t.db.get(&shared::keys::notification_job(&job.id))
            .await
            .unwrap();
    assert_eq!(
        queued.unwrap().job.conversation_id.as_deref(),
        Some(older.id.as_str())
    );

    // The retry (same client_id, a new id) answers the stored message and writes nothing.
    let retry = dm(&ids.new_id(), &older.id, "ben", Some("c-1"));
    let again = Job::of_direct_message(&retry, now(), &ids);
    let out = store::insert_message(&t.db, &older, &retry, Some(&again), now())
        .await
        .unwrap();
    assert_eq!(out, Inserted::Duplicate(m.clone()));
    let none: Option<JobItem> =
        t.db.get(&shared::keys::notification_job(&again.id))
            .await
            .unwrap();
    assert!(none.is_none());
    let room = Room::Conversation(&older.id);
    assert_eq!(
        room::count_unread(&t.db, room, "ann", None, 999)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        room::count_unread(&t.db, room, "ben", None, 999)
            .await
            .unwrap(),
        0
    );

    // A conversation that is gone takes no message.
    let gone = conversation(&ids.new_id(), &["ann", "dee"]);
    let m = dm(&ids.new_id(), &gone.id, "ann", None);
    assert!(matches!(
        store::insert_message(&t.db, &gone, &m, None, now()).await,
        Err(shared::Error::NotFound("conversation"))
    ));
}

#[tokio::test]
async fn read_positions_never_move_back_and_blocks_count_both_ways() {
    let t = TestTable::new().await;
    let ids = Sequence::at(now());
    let c = conversation(&ids.new_id(), &["ann", "ben"]);
    store::create(&t.db, &c, true).await.unwrap();
    let (first, second) = (ids.new_id(), ids.new_id());
    let at = shared::clock::iso(now() + Duration::seconds(1));
    let advance = |id: String| {
        let (db, cid, at) = (t.db.clone(), c.id.clone(), at.clone());
        async move {
            store::advance_read(&db, &cid, "ann", &id, &at)
                .await
                .unwrap()
        }
    };
    assert_eq!(advance(second.clone()).await, Advanced::Forward);
    assert_eq!(advance(first).await, Advanced::NotForward);
    assert_eq!(advance(second.clone()).await, Advanced::NotForward);
    let row = store::member_row(&t.db, &c.id, "ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_read_id, Some(second));
    // A non-member has no row to move.
    assert_eq!(
        store::advance_read(&t.db, &c.id, "zed", &ids.new_id(), &at)
            .await
            .unwrap(),
        Advanced::NotForward
    );
    assert!(
        store::member_row(&t.db, &c.id, "zed")
            .await
            .unwrap()
            .is_none()
    );

    let block = blocks::Block {
        user_id: "ben".into(),
        blocked_id: "ann".into(),
        created_at: at.clone(),
    };
    blocks::put(&t.db, &block).await.unwrap();
    blocks::put(&t.db, &block).await.unwrap();
    let others = ["ben".to_string(), "cy".to_string()];
    let found = blocks::between(&t.db, "ann", &others).await.unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["ben"]);
    let found = blocks::between(&t.db, "ben", &["ann".to_string()])
        .await
        .unwrap();
    assert!(found.contains("ann"));
    blocks::delete(&t.db, "ben", "ann").await.unwrap();
    assert!(
        blocks::between(&t.db, "ann", &others)
            .await
            .unwrap()
            .is_empty()
    );
}
