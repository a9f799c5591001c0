//! Notifications and their exact unread counter, the notifier's part items, and the reads the
//! notifier makes to resolve an audience and reach its connections.

use super::db::{
    Db, Item, TxOutcome, attr_n, attr_s, from_item, n, owned_by, s, sdk, to_item, with_gsi,
};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::keys::{self, GSI1, Key};
use crate::model::notification::{ENTITY, JobItem, Notification, State};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::HashMap;

/// Condition names of this store's transactions.
pub const DELIVERED: &str = "notification";
pub const UNREAD: &str = "unread";

/// Recipients per TransactWriteItems (a Put and a counter update each: 100 actions).
pub const RECIPIENTS_PER_TRANSACTION: usize = 50;
/// Unread notifications marked per TransactWriteItems by mark-all-as-read (plus the counter).
pub const MARK_ALL_BATCH: usize = 99;
const STATE_READS_IN_FLIGHT: usize = 8;

/// The stored item: the record, its TTL, the sparse unread index while unread, and `entity`.
pub fn notification_item(notification: &Notification, ttl: i64) -> Result<Item> {
    let key = keys::notification(&notification.recipient_id, &notification.id);
    let mut item = to_item(&key, notification)?;
    item.insert("entity".into(), s(ENTITY));
    item.insert("ttl".into(), n(ttl));
    if let Some(actor) = notification.actor.as_ref().and_then(|a| a.id.as_deref()) {
        item = owned_by(item, actor);
    }
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
fn unread_update(user_id: &str, delta: i64) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    super::db::update_of(&keys::notification_state(user_id))
        .update_expression("ADD unread :d SET user_id = :u")
        .expression_attribute_values(":d", n(delta))
        .expression_attribute_values(":u", s(user_id))
}

/// The conditional flip of one notification to read, leaving the unread index.
fn mark_read_update(
    user_id: &str,
    id: &str,
    at: &str,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    super::db::update_of(&keys::notification(user_id, id))
        .update_expression("SET is_read = :t, read_at = :now REMOVE GSI1PK, GSI1SK")
        .condition_expression("is_read = :f")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .expression_attribute_values(":now", s(at))
}

/// Writes the notifications of one job (one per recipient) with their counter increments, up
/// to [`RECIPIENTS_PER_TRANSACTION`] in one transaction; those already delivered (a retried job: the same id is already there) are
/// left out and the rest written. Answers the notifications written now.
pub async fn insert_many(
    db: &Db,
    mut pending: Vec<Notification>,
    ttl: i64,
) -> Result<Vec<Notification>> {
    debug_assert!(pending.len() <= RECIPIENTS_PER_TRANSACTION);
    loop {
        if pending.is_empty() {
            return Ok(pending);
        }
        let mut tx = db.tx();
        for notification in &pending {
            tx.put_new(DELIVERED, notification_item(notification, ttl)?)?;
            tx.update(None, unread_update(&notification.recipient_id, 1))?;
        }
        match db.run(tx).await? {
            TxOutcome::Done => return Ok(pending),
            TxOutcome::Refused(r) => {
                let delivered = r.ordinals(DELIVERED);
                if delivered.is_empty() {
                    return Err(Error::internal(format!(
                        "notification write refused by {:?}",
                        r.names()
                    )));
                }
                pending = pending
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !delivered.contains(i))
                    .map(|(_, n)| n)
                    .collect();
            }
        }
    }
}

/// A user's unread count (one strongly consistent GetItem of the state item).
pub async fn unread_count(db: &Db, user_id: &str) -> Result<i64> {
    let out = db
        .get_item(&keys::notification_state(user_id))
        .projection_expression("unread")
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    Ok(out
        .item
        .as_ref()
        .and_then(|i| attr_n(i, "unread"))
        .unwrap_or(0)
        .max(0))
}

/// One page of a user's live notifications, newest first; `unread_only` reads the sparse
/// unread index instead.
pub async fn page(
    db: &Db,
    cursors: &Cursors,
    user_id: &str,
    unread_only: bool,
    page: &PageParams,
    now: i64,
) -> Result<Page<Notification>> {
    let scope = format!("notifications:{user_id}:{}", u8::from(unread_only));
    let query = db
        .query()
        .scan_index_forward(false)
        .filter_expression("attribute_not_exists(#t) OR #t > :now")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":now", n(now));
    let query = if unread_only {
        query
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::unread_notifications_pk(user_id)))
    } else {
        query
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::notifications_pk(user_id)))
    };
    db.page(cursors, &scope, page, query).await
}

/// One notification of a user with its TTL (strongly consistent).
pub async fn get(db: &Db, user_id: &str, id: &str) -> Result<Option<(Notification, Option<i64>)>> {
    let out = db
        .get_item(&keys::notification(user_id, id))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    out.item
        .map(|item| {
            let ttl = attr_n(&item, "ttl");
            Ok((from_item(item)?, ttl))
        })
        .transpose()
}

/// Flips some unread notifications to read with one counter decrement of exactly the number
/// flipped, [`MARK_ALL_BATCH`] at most; those read meanwhile by another request fail their
/// condition and are left out of the retry, so the counter stays exact. Answers how many this
/// call flipped.
pub async fn mark_read(db: &Db, user_id: &str, mut ids: Vec<String>, at: &str) -> Result<usize> {
    debug_assert!(ids.len() <= MARK_ALL_BATCH);
    while !ids.is_empty() {
        let mut tx = db.tx();
        for id in &ids {
            tx.update(Some(UNREAD), mark_read_update(user_id, id, at))?;
        }
        tx.update(None, unread_update(user_id, -(ids.len() as i64)))?;
        match db.run(tx).await? {
            TxOutcome::Done => return Ok(ids.len()),
            TxOutcome::Refused(r) => {
                let read = r.ordinals(UNREAD);
                if read.is_empty() {
                    return Err(Error::internal("mark read: refused by no notification"));
                }
                ids = ids
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !read.contains(i))
                    .map(|(_, id)| id)
                    .collect();
            }
        }
    }
    Ok(0)
}

/// Ids of a user's unread notifications up to the id `upto`, one page of the unread index.
pub async fn unread_ids(
    db: &Db,
    user_id: &str,
    upto: &str,
    start: Option<Item>,
) -> Result<(Vec<String>, Option<Item>)> {
    let out = db
        .query()
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk AND GSI1SK <= :upto")
        .expression_attribute_values(":pk", s(keys::unread_notifications_pk(user_id)))
        .expression_attribute_values(":upto", s(upto))
        .projection_expression("SK")
        .limit(MARK_ALL_BATCH as i32)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(sdk)?;
    let ids = out
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(|i| attr_s(i, "SK"))
        .collect();
    Ok((ids, out.last_evaluated_key))
}

/// Counts down one unread notification that expired (TTL) or was removed while unread.
pub async fn forget_unread(db: &Db, user_id: &str) -> Result<()> {
    db.update_item(&keys::notification_state(user_id))
        .update_expression("ADD unread :d")
        .condition_expression("unread > :zero")
        .expression_attribute_values(":d", n(-1))
        .expression_attribute_values(":zero", n(0))
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            if super::db::is_condition_failed(&e) {
                Ok(())
            } else {
                Err(sdk(e))
            }
        })
}

/// Writes a part item of a large fan-out (a retried root re-queues nothing).
pub async fn queue_part(db: &Db, part: &JobItem) -> Result<()> {
    let put = db
        .put_item()
        .set_item(Some(super::outbox::job_item(part)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e) if super::db::is_condition_failed(&e) => Ok(()),
        Err(e) => Err(sdk(e)),
    }
}

/// A user's state item (preferences and counter).
pub async fn state(db: &Db, user_id: &str) -> Result<Option<State>> {
    db.get(&keys::notification_state(user_id)).await
}

/// Many users' state items, 100 keys per BatchGetItem, a few in flight.
pub async fn states(db: &Db, users: &[String]) -> Result<HashMap<String, State>> {
    let chunks: Vec<Vec<String>> = users.chunks(100).map(<[String]>::to_vec).collect();
    let found: Vec<Vec<(String, Option<Item>)>> = stream::iter(chunks)
        .map(|chunk| async move {
            let keys: Vec<Key> = chunk.iter().map(|u| keys::notification_state(u)).collect();
            let items = db.get_many(&keys).await?;
            Ok::<_, Error>(chunk.into_iter().zip(items).collect())
        })
        .buffer_unordered(STATE_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    found
        .into_iter()
        .flatten()
        .filter_map(|(u, item)| item.map(|i| (u, i)))
        .map(|(u, i)| Ok((u, from_item::<State>(i)?)))
        .collect()
}

/// Sets the types a user turned off (one UpdateItem that leaves the counter).
pub async fn set_disabled_types(
    db: &Db,
    user_id: &str,
    disabled: &[crate::model::notification::Kind],
) -> Result<()> {
    db.update_item(&keys::notification_state(user_id))
        .update_expression("SET disabled_types = :d, user_id = :u")
        .expression_attribute_values(":d", serde_dynamo::to_attribute_value(disabled)?)
        .expression_attribute_values(":u", s(user_id))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// A user's open connections and unread count, in one strongly consistent Query of the user's
/// partition (`CONN#...` rows sort just before the `NOTIFICATIONS` state item).
pub async fn reach(db: &Db, user_id: &str) -> Result<(Vec<String>, i64)> {
    let state = keys::notification_state(user_id);
    let out = db
        .query()
        .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
        .expression_attribute_values(":pk", s(&state.pk))
        .expression_attribute_values(":from", s(keys::USER_CONNECTION_PREFIX))
        .expression_attribute_values(":to", s(&state.sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    let mut connections = Vec::new();
    let mut unread = 0;
    for item in out.items.unwrap_or_default() {
        let sk = attr_s(&item, "SK").unwrap_or_default();
        if sk == state.sk {
            unread = attr_n(&item, "unread").unwrap_or(0).max(0);
        } else if sk.starts_with(keys::USER_CONNECTION_PREFIX)
            && let Some(id) = attr_s(&item, "connection_id")
        {
            connections.push(id);
        }
    }
    Ok((connections, unread))
}

/// Those who wrote in a thread and have not deleted what they wrote (one Query of the thread
/// index, projected to two attributes).
pub async fn thread_authors(db: &Db, root_id: &str) -> Result<Vec<String>> {
    let items = db
        .read_all_items(
            db.query()
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(keys::thread_pk(root_id)))
                .projection_expression("author_id, is_deleted"),
        )
        .await?;
    Ok(items
        .iter()
        .filter(|item| {
            !item
                .get("is_deleted")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false)
        })
        .filter_map(|item| attr_s(item, "author_id"))
        .collect())
}

// ---------------------------------------------------------------- what notifications show

/// The live objects a page of notifications points at: posts by id and chat messages by
/// (community, id), in BatchGetItems of 100 keys (one for a page of up to 100 notifications
/// about messages or top-level posts; two when every one is a reply, whose thread's title is
/// read too). Missing objects are simply absent from the answer.
pub async fn targets(
    db: &Db,
    posts: &[String],
    messages: &[(String, String)],
) -> Result<(
    HashMap<String, crate::posts::model::Post>,
    HashMap<String, crate::chat::Message>,
)> {
    let keys: Vec<Key> = posts
        .iter()
        .map(|id| keys::post(id))
        .chain(
            messages
                .iter()
                .map(|(community, id)| keys::chat_message(community, id)),
        )
        .collect();
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        found.extend(db.get_many(chunk).await?);
    }
    let mut found = found.into_iter();
    let mut live_posts = HashMap::new();
    for id in posts {
        if let Some(Some(item)) = found.next() {
            live_posts.insert(id.clone(), from_item::<crate::posts::model::Post>(item)?);
        }
    }
    let mut live_messages = HashMap::new();
    for (_, id) in messages {
        if let Some(Some(item)) = found.next() {
            live_messages.insert(id.clone(), from_item::<crate::chat::Message>(item)?);
        }
    }
    Ok((live_posts, live_messages))
}

/// How many notifications a user got after `since_id` (a ULID of that moment): one Query
/// that counts (`Select: COUNT`) the user's notification partition from there.
pub async fn count_since(db: &Db, user_id: &str, since_id: &str) -> Result<i64> {
    let mut count = 0i64;
    let mut start = None;
    loop {
        let out = db
            .query()
            .key_condition_expression("PK = :pk AND SK > :since")
            .expression_attribute_values(":pk", s(keys::notifications_pk(user_id)))
            .expression_attribute_values(":since", s(since_id))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        count += i64::from(out.count);
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(count);
        }
    }
}
