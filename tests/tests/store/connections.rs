//! The connections store against DynamoDB Local (registration, subscriptions and presence
//! counts, the 410 prune), and the connect and disconnect use cases against a recording pusher.

use super::fakes::{RecordingPusher, community, person};
use chrono::{Duration, Utc};
use e2e::TestTable;
use shared::auth::Role;
use shared::connections::Connection;
use shared::connections::use_cases as connections;
use shared::model::grant::ReadGrant;
use shared::realtime::{self, Pruned, presence};
use shared::store::connections::{self as store, Granted, Subscribed, Unsubscribed};

/// A grant resting on nothing stored (an admin's): the store tests' subscriptions.
const OPEN: ReadGrant = ReadGrant {
    until: None,
    rests_on: Vec::new(),
};

const C: &str = "01JF0C0MMVN1TY000000000001";
const D: &str = "01JF0C0MMVN1TY000000000002";

#[tokio::test]
async fn presence_counts_follow_subscriptions_and_subscribing_twice_changes_nothing() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let ann = person("ann", Role::Student);
    let (one, two) = (
        Connection::open("c1", &ann, now),
        Connection::open("c2", &ann, now),
    );
    store::register(&t.db, &one, None).await.unwrap();
    store::register(&t.db, &two, None).await.unwrap();
    assert_eq!(store::get(&t.db, "c1").await.unwrap(), Some(one.clone()));
    let mut mine = store::of_user(&t.db, "ann").await.unwrap();
    mine.sort();
    assert_eq!(mine, ["c1", "c2"]);

    assert_eq!(
        store::subscribe(&t.db, &one, C, &OPEN).await.unwrap(),
        Granted::Done(Subscribed::New { connections: 1 })
    );
    assert_eq!(
        store::subscribe(&t.db, &one, C, &OPEN).await.unwrap(),
        Granted::Done(Subscribed::Already)
    );
    assert_eq!(
        store::subscribe(&t.db, &two, C, &OPEN).await.unwrap(),
        Granted::Done(Subscribed::New { connections: 2 })
    );
    let online = store::online(&t.db, C, now).await.unwrap();
    assert_eq!(online.len(), 1);
    assert_eq!(
        (online[0].user_id.as_str(), online[0].connections),
        ("ann", 2)
    );
    assert_eq!(store::subscribers(&t.db, C, now).await.unwrap().len(), 2);
    let one = store::get(&t.db, "c1").await.unwrap().unwrap();
    assert_eq!(one.communities, [C]);

    assert_eq!(
        store::unsubscribe(&t.db, &one, C).await.unwrap(),
        Unsubscribed::Removed { connections: 1 }
    );
    assert_eq!(
        store::unsubscribe(&t.db, &one, C).await.unwrap(),
        Unsubscribed::NotSubscribed
    );
    assert!(
        store::get(&t.db, "c1")
            .await
            .unwrap()
            .unwrap()
            .communities
            .is_empty()
    );
    assert_eq!(
        store::unsubscribe(&t.db, &two, C).await.unwrap(),
        Unsubscribed::Removed { connections: 0 }
    );
    assert!(store::online(&t.db, C, now).await.unwrap().is_empty());
    assert!(store::subscribers(&t.db, C, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_subscriptions_are_not_subscribers() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let old = Connection::open(
        "old",
        &person("ann", Role::Student),
        now - Duration::hours(3),
    );
    store::register(&t.db, &old, None).await.unwrap();
    store::subscribe(&t.db, &old, C, &OPEN).await.unwrap();
    assert!(store::subscribers(&t.db, C, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_410_prunes_an_older_connection_but_not_one_still_opening() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let ann = person("ann", Role::Student);
    let young = Connection::open("young", &ann, now - Duration::seconds(5));
    let old = Connection::open("old", &ann, now - Duration::minutes(5));
    for conn in [&young, &old] {
        store::register(&t.db, conn, None).await.unwrap();
        store::subscribe(&t.db, conn, C, &OPEN).await.unwrap();
    }
    let old = store::get(&t.db, "old").await.unwrap().unwrap();
    store::subscribe(&t.db, &old, D, &OPEN).await.unwrap();

    assert_eq!(
        realtime::prune(&t.db, "young", Some(C), now).await.unwrap(),
        Pruned::StillConnecting
    );
    assert!(store::get(&t.db, "young").await.unwrap().is_some());
    // The same 410 a minute later: the connection really is gone.
    assert!(matches!(
        realtime::prune(&t.db, "young", Some(C), now + Duration::minutes(1))
            .await
            .unwrap(),
        Pruned::Removed {
            connection: Some(_),
            ..
        }
    ));

    match realtime::prune(&t.db, "old", Some(C), now).await.unwrap() {
        Pruned::Removed { connection, left } => {
            assert_eq!(connection.map(|c| c.connection_id).as_deref(), Some("old"));
            assert_eq!(left, [C, D], "ann has no connection left in either");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store::get(&t.db, "old").await.unwrap(), None);
    assert!(store::of_user(&t.db, "ann").await.unwrap().is_empty());
    assert!(store::subscribers(&t.db, C, now).await.unwrap().is_empty());
    assert!(store::online(&t.db, D, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_410_removes_a_subscription_row_that_outlived_its_connection_record() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let ghost = Connection::open(
        "ghost",
        &person("ann", Role::Student),
        now - Duration::minutes(5),
    );
    // No record: only the row.
    super::fakes::put(
        &t.db,
        shared::db::to_item(
            &shared::keys::subscription(C, "ghost"),
            &ghost.subscription(&OPEN),
        )
        .unwrap(),
    )
    .await;
    assert_eq!(store::subscribers(&t.db, C, now).await.unwrap().len(), 1);
    assert_eq!(
        realtime::prune(&t.db, "ghost", Some(C), now).await.unwrap(),
        Pruned::Removed {
            connection: None,
            left: Vec::new()
        }
    );
    assert!(store::subscribers(&t.db, C, now).await.unwrap().is_empty());
}

#[tokio::test]
async fn presence_rows_carry_their_edges_and_a_batch_is_told_once_per_room() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let (ann, bob, cy) = (
        person("ann", Role::Student),
        person("bob", Role::Student),
        person("cy", Role::Student),
    );
    community(&t.db, C, &[], &[&ann, &bob, &cy]).await;
    for (who, id) in [(&bob, "conn-bob"), (&ann, "conn-ann"), (&cy, "conn-cy")] {
        let conn = connections::connect(&t.db, now, who, id, Some(C))
            .await
            .unwrap();
        assert_eq!(conn.communities, [C]);
    }
    let row =
        t.db.get_item(&shared::keys::presence(C, "ann"))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
    assert_eq!(
        shared::db::attr_s(&row, "entity").as_deref(),
        Some(presence::ENTITY)
    );
    assert_eq!(shared::db::attr_s(&row, "community_id").as_deref(), Some(C));
    let gone = connections::disconnect(&t.db, "conn-cy").await.unwrap();
    assert_eq!(gone.map(|c| c.connection_id).as_deref(), Some("conn-cy"));
    assert_eq!(store::get(&t.db, "conn-cy").await.unwrap(), None);
    assert_eq!(
        connections::disconnect(&t.db, "conn-cy").await.unwrap(),
        None
    );

    // What the stream hands the consumer: ann came online, cy went, bob reconnected.
    let edge = |user: &str, edge| presence::Change {
        community_id: C.into(),
        user_id: user.into(),
        name: user.to_uppercase(),
        edge,
    };
    let pusher = RecordingPusher::default();
    let batch = [
        edge("ann", presence::Edge::Online),
        edge("bob", presence::Edge::Offline),
        edge("cy", presence::Edge::Offline),
        edge("bob", presence::Edge::Online),
    ];
    let report = presence::announce(&t.db, &pusher, &batch, now).await;
    assert_eq!(
        report.sent, 2,
        "one frame to each of ann's and bob's connections"
    );
    for id in ["conn-ann", "conn-bob"] {
        let heard = pusher.received(id);
        assert_eq!(heard.len(), 1, "{heard:?}");
        assert_eq!(heard[0]["type"], "presence");
        assert_eq!(heard[0]["community_id"], C);
        assert_eq!(
            heard[0]["joined"],
            serde_json::json!([{ "user_id": "ann", "name": "ANN" }])
        );
        assert_eq!(heard[0]["left"], serde_json::json!(["cy"]));
    }
    pusher.clear();
    let reconnects = [
        edge("bob", presence::Edge::Offline),
        edge("bob", presence::Edge::Online),
    ];
    assert_eq!(
        presence::announce(&t.db, &pusher, &reconnects, now)
            .await
            .sent,
        0
    );
    assert!(pusher.tried().is_empty(), "a reconnect is no news");
}

#[tokio::test]
async fn a_caller_who_may_not_read_the_community_is_refused_before_anything_is_written() {
    let t = TestTable::new().await;
    let now = Utc::now();
    community(&t.db, C, &[], &[]).await;
    // The community is public but eve is no member: she may see it, not read its chat.
    let eve = person("eve", Role::Student);
    let e = connections::connect(&t.db, now, &eve, "conn-eve", Some(C))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 403, "{e:?}");
    assert_eq!(store::get(&t.db, "conn-eve").await.unwrap(), None);
}

#[tokio::test]
async fn a_subscription_is_skipped_once_its_holders_access_ends_by_the_clock() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let ann = Connection::open("c1", &person("ann", Role::Student), now);
    store::register(&t.db, &ann, None).await.unwrap();
    let grant = ReadGrant {
        until: Some(now + Duration::minutes(5)),
        rests_on: Vec::new(),
    };
    store::subscribe(&t.db, &ann, C, &grant).await.unwrap();
    let before = store::subscribers(
        &t.db,
        C,
        now + Duration::minutes(5) - Duration::milliseconds(1),
    );
    assert_eq!(before.await.unwrap().len(), 1);
    let after = store::subscribers(&t.db, C, now + Duration::minutes(5));
    assert!(after.await.unwrap().is_empty());
}

#[tokio::test]
async fn a_subscription_is_not_written_when_a_fact_of_its_grant_changed_after_the_guard_read_it() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let ann = person("ann", Role::Student);
    community(&t.db, C, &[], &[&ann]).await;
    let access = shared::access::Access::load(&t.db, &ann, C, now)
        .await
        .unwrap();
    let grant = access.read_grant().expect("a member may read");
    // The membership ends between the guard's read and the subscription's write.
    shared::store::communities::delete_member(&t.db, C, "ann")
        .await
        .unwrap();
    let conn = Connection::open("c1", &ann, now);
    store::register(&t.db, &conn, None).await.unwrap();
    assert_eq!(
        store::subscribe(&t.db, &conn, C, &grant).await.unwrap(),
        Granted::FactsChanged
    );
    let mut with_sub = Connection::open("c2", &ann, now);
    with_sub.communities.push(C.into());
    assert_eq!(
        store::register(&t.db, &with_sub, Some((C, &grant)))
            .await
            .unwrap(),
        Granted::FactsChanged
    );
    assert!(store::subscribers(&t.db, C, now).await.unwrap().is_empty());
    assert_eq!(store::get(&t.db, "c2").await.unwrap(), None);
}

#[tokio::test]
async fn refreshing_access_keeps_a_reader_and_removes_one_who_lost_it() {
    let t = TestTable::new().await;
    let now = Utc::now();
    let (ann, bob) = (person("ann", Role::Student), person("bob", Role::Student));
    community(&t.db, C, &[], &[&ann, &bob]).await;
    for (who, id) in [(&ann, "conn-ann"), (&bob, "conn-bob"), (&bob, "conn-bob-2")] {
        connections::connect(&t.db, now, who, id, Some(C))
            .await
            .unwrap();
    }
    assert_eq!(
        connections::refresh_access(&t.db, C, "ann", now)
            .await
            .unwrap(),
        connections::Refreshed {
            kept: 1,
            removed: 0
        }
    );
    shared::store::communities::delete_member(&t.db, C, "bob")
        .await
        .unwrap();
    assert_eq!(
        connections::refresh_access(&t.db, C, "bob", now)
            .await
            .unwrap(),
        connections::Refreshed {
            kept: 0,
            removed: 2
        }
    );
    let left: Vec<String> = store::subscribers(&t.db, C, now)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.connection_id)
        .collect();
    assert_eq!(left, ["conn-ann"]);
    let online: Vec<String> = store::online(&t.db, C, now)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.user_id)
        .collect();
    assert_eq!(online, ["ann"], "bob's presence went with his rows");
    assert!(
        store::get(&t.db, "conn-bob")
            .await
            .unwrap()
            .unwrap()
            .communities
            .is_empty(),
        "the connection stays open, subscribed to nothing"
    );
    assert_eq!(
        connections::refresh_access(&t.db, C, "nobody", now)
            .await
            .unwrap(),
        connections::Refreshed::default()
    );
}
