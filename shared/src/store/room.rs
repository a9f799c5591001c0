//! The requests of the chat contract, shared by every room that holds messages (a community's
//! chat, a conversation of direct messages): the new message with its `client_id` claim in a
//! transaction the room's store completes, the answer to a retried send, edit and soft delete as
//! conditional UpdateItems with typed outcomes, delivery and read status, unread counts and the
//! history pages (newest first, or after a given message oldest first).

use super::db::{Db, Tx, from_item, is_condition_failed, key_item, n, owned_by, s, sdk, to_item};
use crate::chat::{CLIENT_ID_TTL_SECS, Status};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::keys::{CHAT_MESSAGE_PREFIX, Key, Room};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, Select};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The condition names of a send's transaction.
pub const MESSAGE_IS_NEW: &str = "message";
/// The sender's `client_id` is not claimed (or its claim expired).
pub const CLIENT_ID_FREE: &str = "client_id";

/// What the shared requests need to know of a room's message record (its item has the fields
/// `message`, `sender_id`, `is_deleted`, `edited_at`, `deleted_at`, `deleted_by` and `status`).
pub trait RoomMessage: Serialize + DeserializeOwned {
    fn id(&self) -> &str;
    fn sender_id(&self) -> &str;
    fn client_id(&self) -> Option<&str>;
    fn is_deleted(&self) -> bool;
}

/// How a conditional change of one message ended.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per request, moved once
pub enum Changed<M> {
    /// Written; the message as it is now.
    Done(M),
    /// There is no such message in this room.
    Missing,
    /// The message is deleted (it cannot be edited, or was deleted already).
    Deleted,
    /// The change was limited to the message's author, and the caller is not.
    NotAuthor,
    /// The message changed between the write and the look at why it failed.
    Raced,
}

/// A page of history, or why there is none.
#[derive(Debug)]
pub enum History<M> {
    Page(Page<M>),
    /// The `after` message is not in this room.
    AfterMissing,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClientIdClaim {
    message_id: String,
    ttl: i64,
}

/// Adds a new message to a transaction: the message (which must be new) and its sender's
/// `client_id` claim, if any (free, or expired). Answers the claim's key, to find the stored
/// message if the transaction is refused by [`CLIENT_ID_FREE`] ([`claimed`]).
pub fn stage_new<M: RoomMessage>(
    tx: &mut Tx,
    room: Room<'_>,
    message: &M,
    now: DateTime<Utc>,
) -> Result<Option<Key>> {
    tx.put_new(
        MESSAGE_IS_NEW,
        owned_by(
            to_item(&room.message(message.id()), message)?,
            message.sender_id(),
        ),
    )?;
    let Some(client_id) = message.client_id() else {
        return Ok(None);
    };
    let key = room.client_id(message.sender_id(), client_id);
    let claim = ClientIdClaim {
        message_id: message.id().to_string(),
        ttl: now.timestamp() + CLIENT_ID_TTL_SECS,
    };
    tx.put_with(
        Some(CLIENT_ID_FREE),
        Put::builder()
            .set_item(Some(to_item(&key, &claim)?))
            .condition_expression("attribute_not_exists(PK) OR #t < :now")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":now", n(now.timestamp())),
    )?;
    Ok(Some(key))
}

/// The stored message a `client_id` claim names (a retried send answers it).
pub async fn claimed<M: RoomMessage>(db: &Db, room: Room<'_>, claim: &Key) -> Result<M> {
    let claim: ClientIdClaim = db
        .get(claim)
        .await?
        .ok_or_else(|| Error::internal("client_id claim vanished"))?;
    get(db, room, &claim.message_id)
        .await?
        .ok_or_else(|| Error::internal("claimed message is missing"))
}

pub async fn get<M: RoomMessage>(db: &Db, room: Room<'_>, message_id: &str) -> Result<Option<M>> {
    db.get(&room.message(message_id)).await
}

/// Why a conditional change did not apply, read back from the stored message.
async fn explain<M: RoomMessage>(
    db: &Db,
    room: Room<'_>,
    message_id: &str,
    author: Option<&str>,
) -> Result<Changed<M>> {
    Ok(match get::<M>(db, room, message_id).await? {
        None => Changed::Missing,
        Some(m) if m.is_deleted() => Changed::Deleted,
        Some(m) if author.is_some_and(|a| a != m.sender_id()) => Changed::NotAuthor,
        Some(_) => Changed::Raced,
    })
}

/// Replaces a message's text if `author` wrote it and it is not deleted (one UpdateItem).
pub async fn edit<M: RoomMessage>(
    db: &Db,
    room: Room<'_>,
    message_id: &str,
    author: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Changed<M>> {
    let out = db
        .update_item(&room.message(message_id))
        .update_expression("SET message = :m, edited_at = :now")
        .condition_expression("attribute_exists(PK) AND sender_id = :me AND is_deleted = :no")
        .expression_attribute_values(":m", s(text))
        .expression_attribute_values(":now", s(crate::clock::iso(now)))
        .expression_attribute_values(":me", s(author))
        .expression_attribute_values(":no", AttributeValue::Bool(false))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(o) => Ok(Changed::Done(from_item(o.attributes.unwrap_or_default())?)),
        Err(e) if is_condition_failed(&e) => explain(db, room, message_id, Some(author)).await,
        Err(e) => Err(sdk(e)),
    }
}

/// Soft-deletes a message not deleted yet (one UpdateItem), by `deleted_by`. `only_author`:
/// the caller may delete only their own messages (the use case decides who may delete what).
pub async fn soft_delete<M: RoomMessage>(
    db: &Db,
    room: Room<'_>,
    message_id: &str,
    deleted_by: &str,
    only_author: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Changed<M>> {
    let mut condition = String::from("attribute_exists(PK) AND is_deleted = :no");
    let mut update = db
        .update_item(&room.message(message_id))
        .update_expression("SET is_deleted = :yes, deleted_at = :now, deleted_by = :by")
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .expression_attribute_values(":no", AttributeValue::Bool(false))
        .expression_attribute_values(":now", s(crate::clock::iso(now)))
        .expression_attribute_values(":by", s(deleted_by))
        .return_values(ReturnValue::AllNew);
    if let Some(author) = only_author {
        condition.push_str(" AND sender_id = :author");
        update = update.expression_attribute_values(":author", s(author));
    }
    match update.condition_expression(condition).send().await {
        Ok(o) => Ok(Changed::Done(from_item(o.attributes.unwrap_or_default())?)),
        Err(e) if is_condition_failed(&e) => explain(db, room, message_id, only_author).await,
        Err(e) => Err(sdk(e)),
    }
}

/// `sent` -> `delivered`, or -> `read`, once each (one conditional UpdateItem; a message
/// already there or past it is left as it is).
pub async fn set_status(db: &Db, room: Room<'_>, message_id: &str, to: Status) -> Result<()> {
    let mut update = db
        .update_item(&room.message(message_id))
        .update_expression("SET #s = :to")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":to", s(to.as_str()));
    update = match to {
        Status::Delivered => update
            .condition_expression("#s = :sent")
            .expression_attribute_values(":sent", s(Status::Sent.as_str())),
        Status::Read => update
            .condition_expression("attribute_exists(PK) AND #s <> :read")
            .expression_attribute_values(":read", s(Status::Read.as_str())),
        Status::Sent => return Ok(()),
    };
    match update.send().await {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Ok(()),
        Err(e) => Err(sdk(e)),
    }
}

/// Counts the messages of others, not deleted, after `after` (all without it): COUNT Queries,
/// stopping once the count passes `cap`.
pub async fn count_unread(
    db: &Db,
    room: Room<'_>,
    reader: &str,
    after: Option<&str>,
    cap: i32,
) -> Result<i32> {
    let mut start = after.map(|id| key_item(&room.message(id)));
    let mut count = 0;
    loop {
        let out = db
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .filter_expression("sender_id <> :me AND is_deleted = :no")
            .expression_attribute_values(":pk", s(room.pk()))
            .expression_attribute_values(":msg", s(CHAT_MESSAGE_PREFIX))
            .expression_attribute_values(":me", s(reader))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        count += out.count;
        start = out.last_evaluated_key;
        if start.is_none() || count > cap {
            return Ok(count);
        }
    }
}

/// A page of a room's history: newest first, or, with `after`, the messages after that one
/// oldest first (a GetItem first proves it is in this room). One strongly consistent Query of
/// `limit + 1`, so `next` is only given when there is more.
pub async fn history<M: RoomMessage>(
    db: &Db,
    cursors: &Cursors,
    room: Room<'_>,
    after: Option<&str>,
    page: &PageParams,
) -> Result<History<M>> {
    let scope = room.scope(after);
    let start = match (&page.cursor, after) {
        (Some(c), _) => Some(cursors.decode(&scope, c)?),
        (None, Some(after)) => {
            if get::<M>(db, room, after).await?.is_none() {
                return Ok(History::AfterMissing);
            }
            Some(key_item(&room.message(after)))
        }
        (None, None) => None,
    };
    let out = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
        .expression_attribute_values(":pk", s(room.pk()))
        .expression_attribute_values(":msg", s(CHAT_MESSAGE_PREFIX))
        .scan_index_forward(after.is_some())
        .consistent_read(true)
        .limit(page.limit + 1)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(sdk)?;
    let mut results = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<Result<Vec<M>>>()?;
    let next = if results.len() > page.limit as usize {
        results.truncate(page.limit as usize);
        results
            .last()
            .map(|last| cursors.encode(&scope, &key_item(&room.message(last.id()))))
    } else {
        None
    };
    Ok(History::Page(Page { results, next }))
}
