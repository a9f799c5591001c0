//! The chat store: every DynamoDB request of chat messages, their `client_id` claims, the
//! message -> community references and the read positions. Conditions are named and come back
//! as typed outcomes; which caller may change what is decided above, in the use cases.

use super::db::{
    Db, TxOutcome, from_item, is_condition_failed, key_item, n, owned_by, s, sdk, to_item,
};
use super::outbox;
use crate::chat::{CLIENT_ID_TTL_SECS, Message, ReadPosition, Status};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::keys;
use crate::model::notification::Job;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, Select};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The condition names of a send's transaction.
pub const MESSAGE_IS_NEW: &str = "message";
/// The sender's `client_id` is not claimed (or its claim expired).
pub const CLIENT_ID_FREE: &str = "client_id";
/// The message answered exists in the same community.
pub const REPLY_TO_EXISTS: &str = "reply_to";

/// How a send's transaction ended.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per request, moved once
pub enum Inserted {
    /// The message, its reference, its claim and its notification job are written.
    New,
    /// The `client_id` was used already: nothing was written; this is the stored message.
    Duplicate(Message),
    /// `reply_to` names no message of this community: nothing was written.
    ReplyMissing,
}

/// How a conditional change of one message ended.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per request, moved once
pub enum Changed {
    /// Written; the message as it is now.
    Done(Message),
    /// There is no such message in this community.
    Missing,
    /// The message is deleted (it cannot be edited, or was deleted already).
    Deleted,
    /// The change was limited to the message's author, and the caller is not.
    NotAuthor,
    /// The message changed between the write and the look at why it failed.
    Raced,
}

/// Whether a read position moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    Forward,
    /// The position was already at this message or past it: it never moves back.
    NotForward,
}

/// A page of history, or why there is none.
#[derive(Debug)]
pub enum History {
    Page(Page<Message>),
    /// The `after` message is not in this community.
    AfterMissing,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClientIdClaim {
    message_id: String,
    ttl: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct MessageRef {
    community_id: String,
}

/// Writes a new message in one TransactWriteItems: the message, its id -> community reference,
/// the `client_id` claim (if any), a check that `reply_to` exists, and the notification job (if
/// any) through the outbox, so that a message and what it hands to the notifier are stored
/// together or not at all. A refused transaction writes nothing.
pub async fn insert(
    db: &Db,
    message: &Message,
    job: Option<&Job>,
    now: DateTime<Utc>,
) -> Result<Inserted> {
    let community_id = &message.community_id;
    let mut tx = db.tx();
    tx.put_new(
        MESSAGE_IS_NEW,
        owned_by(
            to_item(&keys::chat_message(community_id, &message.id), message)?,
            &message.sender_id,
        ),
    )?
    .put(to_item(
        &keys::chat_message_ref(&message.id),
        &MessageRef {
            community_id: community_id.clone(),
        },
    )?)?;
    let claim_at = message
        .client_id
        .as_ref()
        .map(|client_id| keys::chat_client_id(community_id, &message.sender_id, client_id));
    if let Some(key) = &claim_at {
        let claim = ClientIdClaim {
            message_id: message.id.clone(),
            ttl: now.timestamp() + CLIENT_ID_TTL_SECS,
        };
        tx.put_with(
            Some(CLIENT_ID_FREE),
            Put::builder()
                .set_item(Some(to_item(key, &claim)?))
                .condition_expression("attribute_not_exists(PK) OR #t < :now")
                .expression_attribute_names("#t", "ttl")
                .expression_attribute_values(":now", n(now.timestamp())),
        )?;
    }
    if let Some(reply_to) = &message.reply_to {
        tx.require_exists(REPLY_TO_EXISTS, &keys::chat_message(community_id, reply_to))?;
    }
    if let Some(job) = job {
        outbox::stage(&mut tx, job)?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Inserted::New),
        TxOutcome::Refused(r) if r.by(CLIENT_ID_FREE) => {
            let key = claim_at.expect("a claim was written");
            let claim: ClientIdClaim = db
                .get(&key)
                .await?
                .ok_or_else(|| Error::internal("client_id claim vanished"))?;
            let stored = get(db, community_id, &claim.message_id)
                .await?
                .ok_or_else(|| Error::internal("claimed message is missing"))?;
            Ok(Inserted::Duplicate(stored))
        }
        TxOutcome::Refused(r) if r.by(REPLY_TO_EXISTS) => Ok(Inserted::ReplyMissing),
        TxOutcome::Refused(r) => Err(Error::internal(format!(
            "chat insert refused by {:?}",
            r.names()
        ))),
    }
}

/// The community a message belongs to.
pub async fn locate(db: &Db, message_id: &str) -> Result<Option<String>> {
    Ok(db
        .get::<MessageRef>(&keys::chat_message_ref(message_id))
        .await?
        .map(|r| r.community_id))
}

pub async fn get(db: &Db, community_id: &str, message_id: &str) -> Result<Option<Message>> {
    db.get(&keys::chat_message(community_id, message_id)).await
}

/// Why a conditional change did not apply, read back from the stored message.
async fn explain(
    db: &Db,
    community_id: &str,
    message_id: &str,
    author: Option<&str>,
) -> Result<Changed> {
    Ok(match get(db, community_id, message_id).await? {
        None => Changed::Missing,
        Some(m) if m.is_deleted => Changed::Deleted,
        Some(m) if author.is_some_and(|a| a != m.sender_id) => Changed::NotAuthor,
        Some(_) => Changed::Raced,
    })
}

/// Replaces a message's text if `author` wrote it and it is not deleted (one UpdateItem).
pub async fn edit(
    db: &Db,
    community_id: &str,
    message_id: &str,
    author: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Changed> {
    let out = db
        .update_item(&keys::chat_message(community_id, message_id))
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
        Err(e) if is_condition_failed(&e) => {
            explain(db, community_id, message_id, Some(author)).await
        }
        Err(e) => Err(sdk(e)),
    }
}

/// Soft-deletes a message not deleted yet (one UpdateItem), by `deleted_by`. `only_author`:
/// the caller may delete only their own messages (the use case decides who may delete what).
pub async fn soft_delete(
    db: &Db,
    community_id: &str,
    message_id: &str,
    deleted_by: &str,
    only_author: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Changed> {
    let mut condition = String::from("attribute_exists(PK) AND is_deleted = :no");
    let mut update = db
        .update_item(&keys::chat_message(community_id, message_id))
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
        Err(e) if is_condition_failed(&e) => {
            explain(db, community_id, message_id, only_author).await
        }
        Err(e) => Err(sdk(e)),
    }
}

/// `sent` -> `delivered`, once (a message already delivered or read is left as it is).
pub async fn mark_delivered(db: &Db, m: &Message) -> Result<()> {
    set_status(db, m, Status::Delivered, "#s = :sent").await
}

/// -> `read`, once.
pub async fn mark_read(db: &Db, m: &Message) -> Result<()> {
    set_status(db, m, Status::Read, "attribute_exists(PK) AND #s <> :read").await
}

async fn set_status(db: &Db, m: &Message, to: Status, condition: &str) -> Result<()> {
    let mut update = db
        .update_item(&keys::chat_message(&m.community_id, &m.id))
        .update_expression("SET #s = :to")
        .condition_expression(condition)
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":to", s(to.as_str()));
    update = match to {
        Status::Delivered => update.expression_attribute_values(":sent", s(Status::Sent.as_str())),
        Status::Read => update.expression_attribute_values(":read", s(Status::Read.as_str())),
        Status::Sent => update,
    };
    match update.send().await {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Ok(()),
        Err(e) => Err(sdk(e)),
    }
}

/// Moves a user's read position to `position.last_read_id` if that is further (one UpdateItem).
pub async fn advance_read(db: &Db, position: &ReadPosition) -> Result<Advanced> {
    let key = keys::chat_read_position(&position.community_id, &position.user_id);
    let owner = keys::owner_entry(&position.user_id, &key);
    let moved = db
        .update_item(&key)
        .update_expression(
            "SET last_read_id = :m, read_at = :now, community_id = :c, user_id = :u, \
             GSI3PK = :owner, GSI3SK = :owned",
        )
        .condition_expression("attribute_not_exists(last_read_id) OR last_read_id < :m")
        .expression_attribute_values(":m", s(&position.last_read_id))
        .expression_attribute_values(":now", s(&position.read_at))
        .expression_attribute_values(":c", s(&position.community_id))
        .expression_attribute_values(":u", s(&position.user_id))
        .expression_attribute_values(":owner", s(&owner.pk))
        .expression_attribute_values(":owned", s(&owner.sk))
        .send()
        .await;
    match moved {
        Ok(_) => Ok(Advanced::Forward),
        Err(e) if is_condition_failed(&e) => Ok(Advanced::NotForward),
        Err(e) => Err(sdk(e)),
    }
}

pub async fn read_position(
    db: &Db,
    community_id: &str,
    user_id: &str,
) -> Result<Option<ReadPosition>> {
    db.get(&keys::chat_read_position(community_id, user_id))
        .await
}

/// Counts the messages of others, not deleted, after `after` (all without it): COUNT Queries,
/// stopping once the count passes `cap`.
pub async fn count_unread(
    db: &Db,
    community_id: &str,
    reader: &str,
    after: Option<&str>,
    cap: i32,
) -> Result<i32> {
    let mut start = after.map(|id| key_item(&keys::chat_message(community_id, id)));
    let mut count = 0;
    loop {
        let out = db
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .filter_expression("sender_id <> :me AND is_deleted = :no")
            .expression_attribute_values(":pk", s(keys::chat_pk(community_id)))
            .expression_attribute_values(":msg", s(keys::CHAT_MESSAGE_PREFIX))
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

/// A page of a community's history: newest first, or, with `after`, the messages after that
/// one oldest first (a GetItem first proves it is in this community). One strongly consistent
/// Query of `limit + 1`, so `next` is only given when there is more.
pub async fn history(
    db: &Db,
    cursors: &Cursors,
    community_id: &str,
    after: Option<&str>,
    page: &PageParams,
) -> Result<History> {
    let scope = match after {
        Some(after) => format!("chat-after:{community_id}:{after}"),
        None => format!("chat:{community_id}"),
    };
    let start = match (&page.cursor, after) {
        (Some(c), _) => Some(cursors.decode(&scope, c)?),
        (None, Some(after)) => {
            if get(db, community_id, after).await?.is_none() {
                return Ok(History::AfterMissing);
            }
            Some(key_item(&keys::chat_message(community_id, after)))
        }
        (None, None) => None,
    };
    let out = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
        .expression_attribute_values(":pk", s(keys::chat_pk(community_id)))
        .expression_attribute_values(":msg", s(keys::CHAT_MESSAGE_PREFIX))
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
        .collect::<Result<Vec<Message>>>()?;
    let next = if results.len() > page.limit as usize {
        results.truncate(page.limit as usize);
        results.last().map(|last| {
            cursors.encode(
                &scope,
                &key_item(&keys::chat_message(community_id, &last.id)),
            )
        })
    } else {
        None
    };
    Ok(History::Page(Page { results, next }))
}
