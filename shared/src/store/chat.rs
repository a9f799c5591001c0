//! The chat store: every DynamoDB request of chat messages, their `client_id` claims, the
//! message -> community references and the read positions. The requests of the chat contract
//! that conversations share (claims, edit, soft delete, status, unread counts, history) are in
//! [`super::room`], for the room [`Room::Community`]. Conditions are named and come back as
//! typed outcomes; which caller may change what is decided above, in the use cases.

use super::db::{Db, TxOutcome, is_condition_failed, s, sdk, to_item};
use super::outbox;
use super::room::{self, RoomMessage};
use crate::chat::{Message, ReadPosition, Status};
use crate::cursor::{Cursors, PageParams};
use crate::error::{Error, Result};
use crate::keys::{self, Room};
use crate::model::notification::Job;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::room::{CLIENT_ID_FREE, MESSAGE_IS_NEW};
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
    /// The attachment is no longer pending (referenced elsewhere first): nothing was written.
    AttachmentTaken,
}

/// How a conditional change of one chat message ended.
pub type Changed = room::Changed<Message>;

/// A page of chat history, or why there is none.
pub type History = room::History<Message>;

/// Whether a read position moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    Forward,
    /// The position was already at this message or past it: it never moves back.
    NotForward,
}

impl RoomMessage for Message {
    fn id(&self) -> &str {
        &self.id
    }
    fn sender_id(&self) -> &str {
        &self.sender_id
    }
    fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
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
    let room = Room::Community(community_id);
    let mut tx = db.tx();
    let claim_at = room::stage_new(&mut tx, room, message, now)?;
    tx.put(to_item(
        &keys::chat_message_ref(&message.id),
        &MessageRef {
            community_id: community_id.clone(),
        },
    )?)?;
    if let Some(reply_to) = &message.reply_to {
        tx.require_exists(REPLY_TO_EXISTS, &room.message(reply_to))?;
    }
    if let Some(job) = job {
        outbox::stage(&mut tx, job)?;
    }
    if let Some(a) = &message.attachment {
        let by = crate::model::attachment::Reference::ChatMessage {
            community_id: community_id.clone(),
            message_id: message.id.clone(),
        };
        super::attachments::stage_reference(&mut tx, &a.id, &message.sender_id, &by)?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Inserted::New),
        TxOutcome::Refused(r) if r.by(CLIENT_ID_FREE) => {
            let key = claim_at.expect("a claim was written");
            Ok(Inserted::Duplicate(room::claimed(db, room, &key).await?))
        }
        TxOutcome::Refused(r) if r.by(REPLY_TO_EXISTS) => Ok(Inserted::ReplyMissing),
        TxOutcome::Refused(r) if r.by(super::attachments::ATTACHMENT_PENDING) => {
            Ok(Inserted::AttachmentTaken)
        }
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
    room::get(db, Room::Community(community_id), message_id).await
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
    room::edit(
        db,
        Room::Community(community_id),
        message_id,
        author,
        text,
        now,
    )
    .await
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
    let room = Room::Community(community_id);
    room::soft_delete(db, room, message_id, deleted_by, only_author, now).await
}

/// `sent` -> `delivered`, once (a message already delivered or read is left as it is).
pub async fn mark_delivered(db: &Db, m: &Message) -> Result<()> {
    room::set_status(
        db,
        Room::Community(&m.community_id),
        &m.id,
        Status::Delivered,
    )
    .await
}

/// -> `read`, once.
pub async fn mark_read(db: &Db, m: &Message) -> Result<()> {
    room::set_status(db, Room::Community(&m.community_id), &m.id, Status::Read).await
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
    room::count_unread(db, Room::Community(community_id), reader, after, cap).await
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
    room::history(db, cursors, Room::Community(community_id), after, page).await
}
