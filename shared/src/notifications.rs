//! Notifications: what a user is told about (new posts they watch, replies, mentions, chat
//! replies, moderation outcomes), their unread count kept exact in O(1), and the caller-only
//! endpoints that list and mark them.
//!
//! Generation goes through a transactional outbox ([`jobs`]): the request that caused an event
//! writes one small job item; the table's stream hands it to the notifier ([`fanout`]), which
//! resolves the recipients and writes and pushes their notifications in bounded batches. Watch /
//! mute and per-type preferences live in [`settings`]. See `docs/notifications.md`.

pub mod fanout;
pub mod jobs;
pub mod settings;
pub mod shown;

use crate::auth::Principal;
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::store::{Db, notifications as store};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::model::notification::{
    Actor, ENTITY, Kind, Notification, NotificationActor, Target, notification_id,
};
pub use crate::store::outbox::enqueue;
pub use jobs::{Job, JobKind};

pub use crate::store::notifications::MARK_ALL_BATCH;
/// Most notifications one mark-all-as-read request marks (about 50 transactions); a client with
/// more gets `"more": true` and calls again.
pub const MARK_ALL_MAX: usize = 5_000;

/// Not past its retention (TTL deletion may lag behind the `ttl` attribute).
fn live(ttl: Option<i64>, now: DateTime<Utc>) -> bool {
    ttl.is_none_or(|t| t > now.timestamp())
}

/// The caller's unread count (one GetItem).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnreadCount {
    pub unread_count: i64,
}

pub async fn unread_count(db: &Db, user_id: &str) -> Result<UnreadCount> {
    Ok(UnreadCount {
        unread_count: store::unread_count(db, user_id).await?,
    })
}

/// Lists the caller's notifications newest first (one Query per page); `unread_only` reads the
/// sparse unread index instead. Each is shown from its live object ([`shown::render`]): with
/// the Query, two BatchGetItems for a page of up to 100 (three when every one is a reply).
#[tracing::instrument(skip_all, fields(user_id = %reader.user_id))]
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    reader: &Principal,
    unread_only: bool,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<Notification>> {
    let page = store::page(
        db,
        cursors,
        &reader.user_id,
        unread_only,
        page,
        now.timestamp(),
    )
    .await?;
    Ok(Page {
        results: shown::render(db, reader, now, page.results).await?,
        next: page.next,
    })
}

/// One of the caller's notifications, shown from its live object; another user's id is simply
/// not in the caller's partition, so it is a 404 like an unknown one.
pub async fn get(
    db: &Db,
    reader: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Notification> {
    match store::get(db, &reader.user_id, id).await? {
        Some((notification, ttl)) if live(ttl, now) => {
            Ok(shown::render(db, reader, now, vec![notification])
                .await?
                .remove(0))
        }
        _ => Err(Error::NotFound("notification")),
    }
}

/// Marks one notification read and decrements the counter in one transaction; marking a read
/// notification again changes nothing.
#[tracing::instrument(skip_all, fields(user_id = %reader.user_id, notification_id = id))]
pub async fn mark_read(
    db: &Db,
    reader: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Notification> {
    store::mark_read(
        db,
        &reader.user_id,
        vec![id.to_string()],
        &crate::clock::iso(now),
    )
    .await?;
    // Either it is not there (404 from `get`) or it was read already (answered as is).
    get(db, reader, id, now).await
}

/// What mark-all-as-read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MarkedAll {
    pub marked: usize,
    pub unread_count: i64,
    /// The request stopped at [`MARK_ALL_MAX`]; older unread notifications are left.
    pub more: bool,
}

/// Marks every notification that was unread when the call began: pages through the sparse
/// unread index and flips a page at a time with one counter decrement of exactly the number
/// flipped, so the counter stays exact.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn mark_all_read(db: &Db, user_id: &str, now: DateTime<Utc>) -> Result<MarkedAll> {
    let at = crate::clock::iso(now);
    // Every id minted up to now sorts at or below this one.
    let upto = ulid::Ulid::from_parts(now.timestamp_millis() as u64, u128::MAX >> 48).to_string();
    let mut marked = 0;
    let mut start = None;
    let mut more = false;
    loop {
        if marked >= MARK_ALL_MAX {
            more = true;
            break;
        }
        let (ids, next) = store::unread_ids(db, user_id, &upto, start).await?;
        marked += store::mark_read(db, user_id, ids, &at).await?;
        start = next;
        if start.is_none() {
            break;
        }
    }
    Ok(MarkedAll {
        marked,
        unread_count: store::unread_count(db, user_id).await?,
        more,
    })
}

/// A stored notification expired (TTL) or was removed while unread: the counter follows.
pub async fn forget_unread(db: &Db, user_id: &str) -> Result<()> {
    store::forget_unread(db, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_same_job_reaches_the_same_recipient_the_id_is_the_same() {
        let job = crate::ids::new_id();
        assert_eq!(notification_id(&job, "u1"), notification_id(&job, "u1"));
        assert_ne!(notification_id(&job, "u1"), notification_id(&job, "u2"));
    }

    #[test]
    fn notification_ids_sort_with_their_jobs() {
        let first = crate::ids::new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = crate::ids::new_id();
        assert!(notification_id(&first, "zzz") < notification_id(&second, "aaa"));
        assert!(ulid::Ulid::from_string(&notification_id(&first, "u")).is_ok());
    }

    #[test]
    fn the_most_specific_type_wins() {
        assert!(Kind::NewMention.precedence() > Kind::NewReply.precedence());
        assert!(Kind::NewReply.precedence() > Kind::NewPost.precedence());
        assert!(Kind::NewMention.precedence() > Kind::NewMessage.precedence());
        assert!(Kind::PostApproved.precedence() > Kind::NewMention.precedence());
    }

    #[test]
    fn an_unread_notification_is_in_the_unread_index_and_a_read_one_is_not() {
        let mut notification = Notification {
            id: crate::ids::new_id(),
            recipient_id: "u1".into(),
            notification_type: Kind::NewPost,
            title: "t".into(),
            message: "m".into(),
            actor: None,
            community_id: "c".into(),
            target: Target {
                kind: "post".into(),
                id: "p".into(),
                root_id: None,
                link: "/api/community/posts/p/".into(),
            },
            is_read: false,
            read_at: None,
            created_at: "2025-01-01T00:00:00.000Z".into(),
            reason: None,
        };
        let item = crate::store::notifications::notification_item(&notification, 10).unwrap();
        assert_eq!(item["GSI1PK"].as_s().unwrap(), "USER#u1#UNREAD");
        assert_eq!(item["entity"].as_s().unwrap(), ENTITY);
        notification.is_read = true;
        assert!(
            !crate::store::notifications::notification_item(&notification, 10)
                .unwrap()
                .contains_key("GSI1PK")
        );
    }
}
