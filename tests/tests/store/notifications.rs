//! The notifications store against DynamoDB Local: delivered once, counted exactly.

use e2e::TestTable;
use shared::model::notification::{Kind, Notification, Target};
use shared::store::notifications as store;

fn notification(user: &str, id: &str) -> Notification {
    Notification {
        id: id.into(),
        recipient_id: user.into(),
        notification_type: Kind::NewMention,
        title: "Sam mentioned you".into(),
        message: "hi".into(),
        actor: None,
        community_id: "c".into(),
        target: Target {
            kind: "message".into(),
            id: "m".into(),
            root_id: None,
            conversation_id: None,
            link: "/api/community/messages/m/".into(),
        },
        is_read: false,
        read_at: None,
        created_at: "2026-11-23T10:00:00.000Z".into(),
        reason: None,
    }
}

const FAR: i64 = 4_000_000_000;

#[tokio::test]
async fn a_retried_delivery_writes_and_counts_only_what_is_new() {
    let t = TestTable::new().await;
    // One job's notifications: one per recipient.
    let id =
        |user: &str| shared::notifications::notification_id("01JF0000000000000000000000", user);
    let users = ["alex", "kim", "sam"];
    let first = vec![
        notification("alex", &id("alex")),
        notification("kim", &id("kim")),
    ];
    assert_eq!(
        store::insert_many(&t.db, first, FAR).await.unwrap().len(),
        2
    );
    // The same job again with one more recipient: only the new one is written and counted.
    let retried: Vec<Notification> = users.iter().map(|u| notification(u, &id(u))).collect();
    let written = store::insert_many(&t.db, retried, FAR).await.unwrap();
    assert_eq!(
        written
            .iter()
            .map(|n| n.recipient_id.as_str())
            .collect::<Vec<_>>(),
        vec!["sam"]
    );
    for user in users {
        assert_eq!(store::unread_count(&t.db, user).await.unwrap(), 1, "{user}");
    }
}

#[tokio::test]
async fn marking_read_counts_down_exactly_once_per_notification() {
    let t = TestTable::new().await;
    let ids: Vec<String> = (0..4).map(|_| shared::ids::new_id()).collect();
    for id in &ids {
        store::insert_many(&t.db, vec![notification("alex", id)], FAR)
            .await
            .unwrap();
    }
    assert_eq!(
        store::mark_read(
            &t.db,
            "alex",
            vec![ids[0].clone()],
            "2026-11-23T11:00:00.000Z"
        )
        .await
        .unwrap(),
        1
    );
    // One already read among four: only the other three are flipped and counted.
    let flipped = store::mark_read(&t.db, "alex", ids.clone(), "2026-11-23T11:00:00.000Z")
        .await
        .unwrap();
    assert_eq!(flipped, 3);
    assert_eq!(store::unread_count(&t.db, "alex").await.unwrap(), 0);
    let (unread, _) = store::unread_ids(&t.db, "alex", "~", None).await.unwrap();
    assert!(unread.is_empty());
}

#[tokio::test]
async fn another_users_notification_is_not_in_my_partition() {
    let t = TestTable::new().await;
    let id = shared::ids::new_id();
    store::insert_many(&t.db, vec![notification("alex", &id)], FAR)
        .await
        .unwrap();
    assert!(store::get(&t.db, "sam", &id).await.unwrap().is_none());
    assert!(store::get(&t.db, "alex", &id).await.unwrap().is_some());
    // Marking it as someone else changes nothing of Alex's.
    assert_eq!(
        store::mark_read(&t.db, "sam", vec![id.clone()], "now")
            .await
            .unwrap(),
        0
    );
    assert_eq!(store::unread_count(&t.db, "alex").await.unwrap(), 1);
}

#[tokio::test]
async fn a_rate_window_refuses_the_attempt_past_its_maximum() {
    let t = TestTable::new().await;
    for _ in 0..3 {
        assert!(
            shared::store::settings::count_attempt(&t.db, "sam", "chat", 600, 10, 3)
                .await
                .unwrap()
        );
    }
    assert!(
        !shared::store::settings::count_attempt(&t.db, "sam", "chat", 600, 10, 3)
            .await
            .unwrap()
    );
    // The next window starts afresh.
    assert!(
        shared::store::settings::count_attempt(&t.db, "sam", "chat", 610, 10, 3)
            .await
            .unwrap()
    );
}
