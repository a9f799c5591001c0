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

use crate::cursor::Cursors;
use crate::db::{
    Db, Item, WriteOutcome, attr_n, from_item, key_item, n, s, sdk, to_item, with_gsi,
};
use crate::error::{Error, Result};
use crate::http::{Page, PageParams};
use crate::keys::{self, GSI1};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use jobs::{Job, JobKind, enqueue, publish_chat_events, publish_post_events};

/// The `entity` attribute of a stored notification (the stream filter of expiries matches it).
pub const ENTITY: &str = "notification";
/// Unread notifications marked per TransactWriteItems by mark-all-as-read (plus the counter).
pub const MARK_ALL_BATCH: usize = 99;
/// Most notifications one mark-all-as-read request marks (about 50 transactions); a client with
/// more gets `"more": true` and calls again.
pub const MARK_ALL_MAX: usize = 5_000;

/// The notification types of SPEC §6.
///
/// One event gives a recipient at most one notification; when several rules match, the type
/// with the highest [`Kind::precedence`] wins (a mention in a reply to your post is a
/// `new_mention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    NewPost,
    NewReply,
    NewMention,
    NewMessage,
    PostApproved,
    PostRejected,
    PostFlagged,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::NewPost,
        Kind::NewReply,
        Kind::NewMention,
        Kind::NewMessage,
        Kind::PostApproved,
        Kind::PostRejected,
        Kind::PostFlagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewPost => "new_post",
            Kind::NewReply => "new_reply",
            Kind::NewMention => "new_mention",
            Kind::NewMessage => "new_message",
            Kind::PostApproved => "post_approved",
            Kind::PostRejected => "post_rejected",
            Kind::PostFlagged => "post_flagged",
        }
    }

    /// Most specific first: the outcome of your own post, then a flag for a moderator, then
    /// being named, then being answered (forum, then chat), then a post you merely watch.
    pub fn precedence(self) -> u8 {
        match self {
            Kind::PostApproved | Kind::PostRejected => 6,
            Kind::PostFlagged => 5,
            Kind::NewMention => 4,
            Kind::NewReply => 3,
            Kind::NewMessage => 2,
            Kind::NewPost => 1,
        }
    }
}

/// Who caused a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// What a notification points at; `link` is the API path of the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `post` or `message`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// The thread's top-level post, for replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    pub link: String,
}

/// A notification as stored (`keys::notification`) and shown to its recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub recipient_id: String,
    pub notification_type: Kind,
    pub title: String,
    pub message: String,
    pub actor: Option<Actor>,
    pub community_id: String,
    pub target: Target,
    pub is_read: bool,
    #[serde(default)]
    pub read_at: Option<String>,
    pub created_at: String,
}

/// The stored item: the record, its TTL, the sparse unread index while unread, and `entity`.
pub fn notification_item(notification: &Notification, ttl: i64) -> Result<Item> {
    let key = keys::notification(&notification.recipient_id, &notification.id);
    let mut item = to_item(&key, notification)?;
    item.insert("entity".into(), s(ENTITY));
    item.insert("ttl".into(), n(ttl));
    if !notification.is_read {
        item = with_gsi(
            item,
            GSI1,
            &keys::unread_notification(&notification.recipient_id, &notification.id),
        );
    }
    Ok(item)
}

/// `ADD unread :delta` on a user's notification state (created on first use).
pub fn bump_unread(db: &Db, user_id: &str, delta: i64) -> Result<Update> {
    Update::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::notification_state(user_id))))
        .update_expression("ADD unread :d SET user_id = :u")
        .expression_attribute_values(":d", n(delta))
        .expression_attribute_values(":u", s(user_id))
        .build()
        .map_err(Error::internal)
}

/// A new notification and its counter increment, as two actions of one transaction; the Put
/// fails its condition if this (job, recipient) was already delivered.
pub fn create_actions(
    db: &Db,
    notification: &Notification,
    ttl: i64,
) -> Result<[TransactWriteItem; 2]> {
    let put = Put::builder()
        .table_name(&db.table)
        .set_item(Some(notification_item(notification, ttl)?))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(Error::internal)?;
    Ok([
        TransactWriteItem::builder().put(put).build(),
        TransactWriteItem::builder()
            .update(bump_unread(db, &notification.recipient_id, 1)?)
            .build(),
    ])
}

/// The conditional flip of one notification to read, leaving the unread index.
fn mark_read_action(db: &Db, user_id: &str, id: &str, now: &str) -> Result<TransactWriteItem> {
    let update = Update::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::notification(user_id, id))))
        .update_expression("SET is_read = :t, read_at = :now REMOVE GSI1PK, GSI1SK")
        .condition_expression("is_read = :f")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .expression_attribute_values(":now", s(now))
        .build()
        .map_err(Error::internal)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

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
    let out = db
        .client
        .get_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::notification_state(user_id))))
        .projection_expression("unread")
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    let unread = out
        .item
        .as_ref()
        .and_then(|i| attr_n(i, "unread"))
        .unwrap_or(0);
    Ok(UnreadCount {
        unread_count: unread.max(0),
    })
}

/// Lists the caller's notifications newest first (one Query per page); `unread_only` reads the
/// sparse unread index instead.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    user_id: &str,
    unread_only: bool,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<Notification>> {
    let scope = format!("notifications:{user_id}:{}", u8::from(unread_only));
    let start = page
        .cursor
        .as_deref()
        .map(|c| cursors.decode(&scope, c))
        .transpose()?;
    let mut query = db
        .client
        .query()
        .table_name(&db.table)
        .scan_index_forward(false)
        .filter_expression("attribute_not_exists(#t) OR #t > :now")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":now", n(now.timestamp()))
        .limit(page.limit)
        .set_exclusive_start_key(start);
    query = if unread_only {
        query
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::unread_notifications_pk(user_id)))
    } else {
        query
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::notifications_pk(user_id)))
    };
    let out = query.send().await.map_err(sdk)?;
    let results = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<Result<Vec<Notification>>>()?;
    Ok(Page {
        results,
        next: out.last_evaluated_key.map(|k| cursors.encode(&scope, &k)),
    })
}

/// One of the caller's notifications; another user's id is simply not in the caller's
/// partition, so it is a 404 like an unknown one.
pub async fn get(db: &Db, user_id: &str, id: &str, now: DateTime<Utc>) -> Result<Notification> {
    let out = db
        .client
        .get_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::notification(user_id, id))))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    let item = out.item.ok_or(Error::NotFound("notification"))?;
    let ttl = attr_n(&item, "ttl");
    if !live(ttl, now) {
        return Err(Error::NotFound("notification"));
    }
    from_item(item)
}

/// Marks one notification read and decrements the counter in one transaction; marking a read
/// notification again changes nothing.
pub async fn mark_read(
    db: &Db,
    user_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Notification> {
    let at = crate::clock::iso(now);
    let outcome = db
        .transact(vec![
            mark_read_action(db, user_id, id, &at)?,
            TransactWriteItem::builder()
                .update(bump_unread(db, user_id, -1)?)
                .build(),
        ])
        .await?;
    match outcome {
        // Either it is not there (404 from `get`) or it was read already (answered as is).
        WriteOutcome::Done | WriteOutcome::ConditionFailed(_) => get(db, user_id, id, now).await,
    }
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
/// unread index and flips up to [`MARK_ALL_BATCH`] per TransactWriteItems together with one
/// counter decrement of exactly the number flipped. Notifications read meanwhile by another
/// request fail their condition and are left out of the retry, so the counter stays exact.
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
        let out = db
            .client
            .query()
            .table_name(&db.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk AND GSI1SK <= :upto")
            .expression_attribute_values(":pk", s(keys::unread_notifications_pk(user_id)))
            .expression_attribute_values(":upto", s(&upto))
            .projection_expression("SK")
            .limit(MARK_ALL_BATCH as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let mut ids: Vec<String> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| crate::db::attr_s(i, "SK"))
            .collect();
        while !ids.is_empty() {
            let mut items = ids
                .iter()
                .map(|id| mark_read_action(db, user_id, id, &at))
                .collect::<Result<Vec<_>>>()?;
            items.push(
                TransactWriteItem::builder()
                    .update(bump_unread(db, user_id, -(ids.len() as i64))?)
                    .build(),
            );
            match db.transact(items).await? {
                WriteOutcome::Done => {
                    marked += ids.len();
                    ids.clear();
                }
                WriteOutcome::ConditionFailed(reasons) => {
                    let before = ids.len();
                    ids = ids
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| reasons.get(*i).is_none_or(Option::is_none))
                        .map(|(_, id)| id)
                        .collect();
                    if ids.len() == before {
                        return Err(Error::internal("mark-all: a condition failed on no item"));
                    }
                }
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(MarkedAll {
        marked,
        unread_count: unread_count(db, user_id).await?.unread_count,
        more,
    })
}

/// A stored notification expired (TTL) or was removed while unread: the counter follows.
pub async fn forget_unread(db: &Db, user_id: &str) -> Result<()> {
    db.client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::notification_state(user_id))))
        .update_expression("ADD unread :d")
        .condition_expression("unread > :zero")
        .expression_attribute_values(":d", n(-1))
        .expression_attribute_values(":zero", n(0))
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            if crate::db::is_condition_failed(&e) {
                Ok(())
            } else {
                Err(sdk(e))
            }
        })
}

/// A notification id that is the same every time the same job reaches the same recipient (so
/// a retried delivery finds it already there) and still sorts by time: the job's timestamp
/// and 80 bits of SHA-256 over (job id, recipient id).
pub fn notification_id(job_id: &str, recipient_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let millis = ulid::Ulid::from_string(job_id)
        .map(|u| u.timestamp_ms())
        .unwrap_or(0);
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update([0u8])
        .chain_update(recipient_id.as_bytes())
        .finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
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
        };
        let item = notification_item(&notification, 10).unwrap();
        assert_eq!(item["GSI1PK"].as_s().unwrap(), "USER#u1#UNREAD");
        assert_eq!(item["entity"].as_s().unwrap(), ENTITY);
        notification.is_read = true;
        assert!(
            !notification_item(&notification, 10)
                .unwrap()
                .contains_key("GSI1PK")
        );
    }
}
