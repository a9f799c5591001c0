//! The conversations store: every DynamoDB request of conversations, their members' rows (the
//! listing index and the read positions) and the pair claims. Their messages go through the
//! requests rooms share ([`super::room`], for [`Room::Conversation`]); a send's transaction is
//! completed here with the conversation's last message, every member's activity and the
//! notification job.

use super::chat::Advanced;
use super::db::{Db, Item, TxOutcome, from_item, is_condition_failed, s, sdk, to_item, with_gsi};
use super::outbox;
use super::room::{self, RoomMessage};
use crate::conversations::{Conversation, DirectMessage, LastMessage, MemberRow};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::keys::{self, GSI1, Room};
use crate::model::notification::Job;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub use super::room::{CLIENT_ID_FREE, MESSAGE_IS_NEW};
/// The condition names of a new conversation's transaction.
pub const CONVERSATION_IS_NEW: &str = "conversation";
/// The pair of users has no conversation yet.
pub const PAIR_FREE: &str = "pair";
/// The conversation still exists when a message is added.
pub const CONVERSATION_EXISTS: &str = "conversation_exists";

impl RoomMessage for DirectMessage {
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

/// How creating a conversation ended.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per request, moved once
pub enum Created {
    New,
    /// The pair of users had a conversation already: nothing was written; this is it.
    Existing(Conversation),
}

/// How a send's transaction ended.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per request, moved once
pub enum Inserted {
    New,
    /// The `client_id` was used already: nothing was written; this is the stored message.
    Duplicate(DirectMessage),
}

#[derive(Debug, Serialize, Deserialize)]
struct PairClaim {
    conversation_id: String,
}

/// A member's row with its listing key (the conversation's last activity).
pub fn member_item(row: &MemberRow) -> Result<Item> {
    Ok(with_gsi(
        to_item(
            &keys::conversation_member(&row.conversation_id, &row.user_id),
            row,
        )?,
        GSI1,
        &keys::conversation_by_user(&row.user_id, &row.activity_id),
    ))
}

/// Writes a new conversation and its members' rows in one TransactWriteItems; for a pair of
/// users, with the pair's claim, so that one pair has one conversation whatever the races.
pub async fn create(db: &Db, conversation: &Conversation, pair: bool) -> Result<Created> {
    let mut tx = db.tx();
    tx.put_new(
        CONVERSATION_IS_NEW,
        to_item(&keys::conversation(&conversation.id), conversation)?,
    )?;
    for m in &conversation.members {
        tx.put(member_item(&MemberRow {
            conversation_id: conversation.id.clone(),
            user_id: m.user_id.clone(),
            activity_id: conversation.id.clone(),
            last_read_id: None,
            read_at: None,
        })?)?;
    }
    let pair_key = match (pair, conversation.members.as_slice()) {
        (true, [a, b]) => Some(keys::conversation_pair(&a.user_id, &b.user_id)),
        _ => None,
    };
    if let Some(key) = &pair_key {
        tx.put_new(
            PAIR_FREE,
            to_item(
                key,
                &PairClaim {
                    conversation_id: conversation.id.clone(),
                },
            )?,
        )?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Created::New),
        TxOutcome::Refused(r) if r.by(PAIR_FREE) => {
            let key = pair_key.expect("a pair was claimed");
            let claim: PairClaim = db
                .get(&key)
                .await?
                .ok_or_else(|| Error::internal("pair claim vanished"))?;
            let existing = get(db, &claim.conversation_id)
                .await?
                .ok_or_else(|| Error::internal("claimed conversation is missing"))?;
            Ok(Created::Existing(existing))
        }
        TxOutcome::Refused(r) => Err(Error::internal(format!(
            "conversation create refused by {:?}",
            r.names()
        ))),
    }
}

/// The conversation of a pair of users, if they have one (two GetItems).
pub async fn of_pair(db: &Db, a: &str, b: &str) -> Result<Option<Conversation>> {
    match db.get::<PairClaim>(&keys::conversation_pair(a, b)).await? {
        Some(claim) => get(db, &claim.conversation_id).await,
        None => Ok(None),
    }
}

pub async fn get(db: &Db, conversation_id: &str) -> Result<Option<Conversation>> {
    db.get(&keys::conversation(conversation_id)).await
}

pub async fn member_row(
    db: &Db,
    conversation_id: &str,
    user_id: &str,
) -> Result<Option<MemberRow>> {
    db.get(&keys::conversation_member(conversation_id, user_id))
        .await
}

/// One page of a user's conversation rows, most recent activity first (GSI1).
pub async fn rows_of(
    db: &Db,
    cursors: &Cursors,
    user_id: &str,
    page: &PageParams,
) -> Result<Page<MemberRow>> {
    let q = db
        .query()
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s(keys::conversation_by_user(user_id, "").pk))
        .scan_index_forward(false);
    db.page(cursors, &format!("conversations:{user_id}"), page, q)
        .await
}

/// Conversations by id (one BatchGetItem per 100).
pub async fn many(db: &Db, ids: &[String]) -> Result<HashMap<String, Conversation>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(100) {
        let keys: Vec<keys::Key> = chunk.iter().map(|id| keys::conversation(id)).collect();
        for item in db.get_many(&keys).await?.into_iter().flatten() {
            let c: Conversation = from_item(item)?;
            out.insert(c.id.clone(), c);
        }
    }
    Ok(out)
}

/// Writes a new message in one TransactWriteItems: the message and its `client_id` claim, the
/// conversation's last message (it must still exist), every member's activity (their listings
/// put it first) and the notification job, all or nothing.
pub async fn insert_message(
    db: &Db,
    conversation: &Conversation,
    message: &DirectMessage,
    job: Option<&Job>,
    now: DateTime<Utc>,
) -> Result<Inserted> {
    let room = Room::Conversation(&conversation.id);
    let mut tx = db.tx();
    let claim_at = room::stage_new(&mut tx, room, message, now)?;
    let last = LastMessage {
        id: message.id.clone(),
        sender_id: message.sender_id.clone(),
        snippet: crate::notifications::jobs::snippet(&message.message),
        created_at: message.created_at.clone(),
    };
    tx.update(
        Some(CONVERSATION_EXISTS),
        super::db::update_of(&keys::conversation(&conversation.id))
            .update_expression("SET last_message = :last")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":last", serde_dynamo::to_attribute_value(&last)?),
    )?;
    for m in &conversation.members {
        let listed = keys::conversation_by_user(&m.user_id, &message.id);
        tx.update(
            None,
            super::db::update_of(&keys::conversation_member(&conversation.id, &m.user_id))
                .update_expression("SET activity_id = :a, GSI1PK = :pk, GSI1SK = :a")
                .expression_attribute_values(":a", s(&message.id))
                .expression_attribute_values(":pk", s(listed.pk)),
        )?;
    }
    if let Some(job) = job {
        outbox::stage(&mut tx, job)?;
    }
    if let Some(a) = &message.attachment {
        let by = crate::model::attachment::Reference::DirectMessage {
            conversation_id: conversation.id.clone(),
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
        TxOutcome::Refused(r) if r.by(CONVERSATION_EXISTS) => Err(Error::NotFound("conversation")),
        TxOutcome::Refused(r) if r.by(super::attachments::ATTACHMENT_PENDING) => {
            Err(Error::validation(
                "attachment_id",
                "the attachment was attached elsewhere meanwhile",
            ))
        }
        TxOutcome::Refused(r) => Err(Error::internal(format!(
            "direct message insert refused by {:?}",
            r.names()
        ))),
    }
}

/// Moves a member's read position to `message_id` if that is further (one UpdateItem).
pub async fn advance_read(
    db: &Db,
    conversation_id: &str,
    user_id: &str,
    message_id: &str,
    at: &str,
) -> Result<Advanced> {
    let moved = db
        .update_item(&keys::conversation_member(conversation_id, user_id))
        .update_expression("SET last_read_id = :m, read_at = :now")
        .condition_expression(
            "attribute_exists(PK) AND (attribute_not_exists(last_read_id) OR last_read_id < :m)",
        )
        .expression_attribute_values(":m", s(message_id))
        .expression_attribute_values(":now", s(at))
        .send()
        .await;
    match moved {
        Ok(_) => Ok(Advanced::Forward),
        Err(e) if is_condition_failed(&e) => Ok(Advanced::NotForward),
        Err(e) => Err(sdk(e)),
    }
}

/// Direct messages by (conversation, message) id (one BatchGetItem per 100), by message id.
pub async fn messages(
    db: &Db,
    keys: &[(String, String)],
) -> Result<HashMap<String, DirectMessage>> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(100) {
        let keys: Vec<keys::Key> = chunk
            .iter()
            .map(|(c, m)| Room::Conversation(c).message(m))
            .collect();
        for item in db.get_many(&keys).await?.into_iter().flatten() {
            let m: DirectMessage = from_item(item)?;
            out.insert(m.id.clone(), m);
        }
    }
    Ok(out)
}
