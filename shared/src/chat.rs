//! Chat: the messages of a community's real-time room. A message is stored before it is
//! delivered; a retried send (same `client_id`) stores one message; edits and soft deletes are
//! their author's (deletes also moderators'); each user has one read position per community.
//!
//! The storing half (`send`, `edit`, `delete`, `mark_read`, `list`) touches only the table; the
//! live half (`deliver_*`, `typing`) pushes events through [`crate::realtime`].

use crate::access::{Access, Action};
use crate::cursor::Cursors;
use crate::db::{Db, WriteOutcome, from_item, is_condition_failed, key_item, n, s, sdk, to_item};
use crate::error::{Error, FieldError, Result};
use crate::http::{Page, PageParams};
use crate::keys;
use crate::realtime::{self, Audience, DeliveryReport};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, Select, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A retried send is recognised by its `client_id` for this long.
pub const CLIENT_ID_TTL_SECS: i64 = 24 * 3600;
pub const MAX_CLIENT_ID: usize = 64;
/// Unread counts stop at this many (clients show "999+").
pub const MAX_UNREAD_COUNT: i32 = 999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Text,
    Image,
    File,
    Link,
}

/// Where a message stands: stored, handed to another user's connection, read by another user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Sent,
    Delivered,
    Read,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub community_id: String,
    pub sender_id: String,
    pub sender_name: String,
    #[serde(default)]
    pub sender_username: Option<String>,
    pub message: String,
    pub message_type: MessageType,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    pub status: Status,
    pub created_at: String,
    #[serde(default)]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(default)]
    pub deleted_by: Option<String>,
}

impl Message {
    /// The message as `viewer` sees it: a deleted message keeps its place but not its text,
    /// except for admins, who can still read the history.
    pub fn seen_by(mut self, viewer: &crate::auth::Principal) -> Self {
        if self.is_deleted && !viewer.is_admin() {
            self.message = String::new();
        }
        self
    }
}

/// What happened in the chat, for whoever reacts to it beyond the room itself (notifications of
/// mentions and replies hook in here).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    MessageSent(Message),
}

/// The outcome of a send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// `false` when the `client_id` had already been used: `message` is the stored one.
    pub created: bool,
    pub events: Vec<ChatEvent>,
}

impl Sent {
    /// Whether the message goes out to the community: a new message, or the retry of one that
    /// no other user has received yet (its first delivery failed, or was cut short by a crash
    /// between storing and delivering). Delivery is at least once: clients keep one copy per id.
    pub fn needs_delivery(&self) -> bool {
        self.created || self.message.status == Status::Sent
    }
}

// ---------------------------------------------------------------- input

/// A send, over REST (`community`) or WebSocket (`community_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    #[serde(alias = "community_id")]
    pub community: Option<String>,
    pub message: Option<String>,
    pub message_type: Option<MessageType>,
    pub reply_to: Option<String>,
    pub client_id: Option<String>,
}

/// A send that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub community_id: String,
    pub message: String,
    pub message_type: MessageType,
    pub reply_to: Option<String>,
    pub client_id: Option<String>,
}

fn ulid_field(errors: &mut Vec<FieldError>, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    match ulid::Ulid::from_string(raw) {
        Ok(u) => Some(u.to_string()),
        Err(_) => {
            errors.push(FieldError::new(field, "is not a valid id"));
            None
        }
    }
}

/// Checks a `client_id`: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
pub fn parse_client_id(raw: &str) -> std::result::Result<String, FieldError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CLIENT_ID
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            "client_id",
            "must be 1-64 characters of letters, digits, '_', '.', ':' or '-'",
        ))
    }
}

impl SendInput {
    pub fn parse(self) -> Result<NewMessage> {
        let mut errors = Vec::new();
        let community_id = match self.community.as_deref() {
            None => {
                errors.push(FieldError::new("community", "is required"));
                None
            }
            some => ulid_field(&mut errors, "community", some),
        };
        let message = crate::validate::text(
            &mut errors,
            "message",
            self.message.as_deref(),
            crate::validate::MAX_MESSAGE,
        );
        let reply_to = ulid_field(&mut errors, "reply_to", self.reply_to.as_deref());
        let client_id = match self.client_id.as_deref().map(parse_client_id) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
        };
        match (community_id, message) {
            (Some(community_id), Some(message)) if errors.is_empty() => Ok(NewMessage {
                community_id,
                message,
                message_type: self.message_type.unwrap_or_default(),
                reply_to,
                client_id,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// The new text of an edit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditInput {
    pub message: Option<String>,
}

impl EditInput {
    pub fn parse(self) -> Result<String> {
        let mut errors = Vec::new();
        crate::validate::text(
            &mut errors,
            "message",
            self.message.as_deref(),
            crate::validate::MAX_MESSAGE,
        )
        .ok_or(Error::Validation(errors))
    }
}

// ---------------------------------------------------------------- storing

fn put(db: &Db, item: crate::db::Item, condition: Option<&str>) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(&db.table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string));
    Ok(TransactWriteItem::builder()
        .put(put.build().map_err(Error::internal)?)
        .build())
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

/// Stores a message after checking the sender may chat here (now) and is within the chat rate
/// limit. One TransactWriteItems: the message, its id -> community reference, the `client_id`
/// claim (if any) and a check that `reply_to` exists in this community.
pub async fn send(db: &Db, access: &Access, new: NewMessage, now: DateTime<Utc>) -> Result<Sent> {
    access.require(Action::Chat)?;
    if new.community_id != access.community.id {
        return Err(Error::internal("send: access loaded for another community"));
    }
    let sender = &access.principal;
    crate::ratelimit::check(db, &sender.user_id, crate::ratelimit::CHAT, now).await?;
    let message = Message {
        id: crate::ids::new_id(),
        community_id: new.community_id.clone(),
        sender_id: sender.user_id.clone(),
        sender_name: sender.name.clone(),
        sender_username: sender.username.clone(),
        message: new.message,
        message_type: new.message_type,
        reply_to: new.reply_to.clone(),
        client_id: new.client_id.clone(),
        status: Status::Sent,
        created_at: crate::clock::iso(now),
        edited_at: None,
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
    };
    let mut items = vec![
        put(
            db,
            to_item(
                &keys::chat_message(&message.community_id, &message.id),
                &message,
            )?,
            Some("attribute_not_exists(PK)"),
        )?,
        put(
            db,
            to_item(
                &keys::chat_message_ref(&message.id),
                &MessageRef {
                    community_id: message.community_id.clone(),
                },
            )?,
            None,
        )?,
    ];
    let claim_at = new
        .client_id
        .as_ref()
        .map(|client_id| keys::chat_client_id(&message.community_id, &sender.user_id, client_id));
    let claim_index = items.len();
    if let Some(key) = &claim_at {
        let claim = ClientIdClaim {
            message_id: message.id.clone(),
            ttl: now.timestamp() + CLIENT_ID_TTL_SECS,
        };
        let item = to_item(key, &claim)?;
        let put = Put::builder()
            .table_name(&db.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #t < :now")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":now", n(now.timestamp()))
            .build()
            .map_err(Error::internal)?;
        items.push(TransactWriteItem::builder().put(put).build());
    }
    if let Some(reply_to) = &new.reply_to {
        let check = ConditionCheck::builder()
            .table_name(&db.table)
            .set_key(Some(key_item(&keys::chat_message(
                &message.community_id,
                reply_to,
            ))))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(Error::internal)?;
        items.push(TransactWriteItem::builder().condition_check(check).build());
    }
    match db.transact(items).await? {
        WriteOutcome::Done => Ok(Sent {
            events: vec![ChatEvent::MessageSent(message.clone())],
            message,
            created: true,
        }),
        WriteOutcome::ConditionFailed(reasons) => {
            let failed = |i: usize| reasons.get(i).is_some_and(Option::is_some);
            if let Some(key) = claim_at.filter(|_| failed(claim_index)) {
                let claim: ClientIdClaim = db
                    .get(&key)
                    .await?
                    .ok_or_else(|| Error::internal("client_id claim vanished"))?;
                let stored = get(db, &message.community_id, &claim.message_id)
                    .await?
                    .ok_or_else(|| Error::internal("claimed message is missing"))?;
                return Ok(Sent {
                    message: stored,
                    created: false,
                    events: Vec::new(),
                });
            }
            if new.reply_to.is_some() && failed(reasons.len() - 1) {
                return Err(Error::validation(
                    "reply_to",
                    "no such message in this community",
                ));
            }
            Err(Error::internal(format!(
                "send: condition failed {reasons:?}"
            )))
        }
    }
}

/// The community a message belongs to (404 if there is no such message).
pub async fn locate(db: &Db, message_id: &str) -> Result<String> {
    db.get::<MessageRef>(&keys::chat_message_ref(message_id))
        .await?
        .map(|r| r.community_id)
        .ok_or(Error::NotFound("message"))
}

pub async fn get(db: &Db, community_id: &str, message_id: &str) -> Result<Option<Message>> {
    db.get(&keys::chat_message(community_id, message_id)).await
}

/// A message the caller may read (404 if it is not in this community).
pub async fn read_one(db: &Db, access: &Access, message_id: &str) -> Result<Message> {
    access.require(Action::Read)?;
    get(db, &access.community.id, message_id)
        .await?
        .map(|m| m.seen_by(&access.principal))
        .ok_or(Error::NotFound("message"))
}

/// Why a conditional update of a message did not apply, read back from the stored message.
async fn explain(db: &Db, access: &Access, message_id: &str, action: &str) -> Error {
    match get(db, &access.community.id, message_id).await {
        Err(e) => e,
        Ok(None) => Error::NotFound("message"),
        Ok(Some(m)) if m.is_deleted => Error::Conflict("the message was deleted".into()),
        Ok(Some(m)) if m.sender_id != access.principal.user_id => {
            Error::Forbidden(format!("only its author may {action} a message"))
        }
        Ok(Some(_)) => Error::Conflict("the message changed meanwhile; try again".into()),
    }
}

/// Replaces a message's text (its author, while they may chat here). One UpdateItem whose
/// condition checks the author and that the message is not deleted.
pub async fn edit(
    db: &Db,
    access: &Access,
    message_id: &str,
    text: String,
    now: DateTime<Utc>,
) -> Result<Message> {
    access.require(Action::Chat)?;
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::chat_message(
            &access.community.id,
            message_id,
        ))))
        .update_expression("SET message = :m, edited_at = :now")
        .condition_expression("attribute_exists(PK) AND sender_id = :me AND is_deleted = :no")
        .expression_attribute_values(":m", s(text))
        .expression_attribute_values(":now", s(crate::clock::iso(now)))
        .expression_attribute_values(":me", s(&access.principal.user_id))
        .expression_attribute_values(":no", AttributeValue::Bool(false))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(o) => from_item(o.attributes.unwrap_or_default()),
        Err(e) if is_condition_failed(&e) => Err(explain(db, access, message_id, "edit").await),
        Err(e) => Err(sdk(e)),
    }
}

/// Soft-deletes a message (its author, or a moderator+). Answers the deleted message, or `None`
/// if it was already deleted (deleting is idempotent).
pub async fn delete(
    db: &Db,
    access: &Access,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Message>> {
    let moderator = access.is_moderator();
    if !moderator {
        access.require(Action::Chat)?;
    }
    let condition = if moderator {
        "attribute_exists(PK) AND is_deleted = :no"
    } else {
        "attribute_exists(PK) AND is_deleted = :no AND sender_id = :me"
    };
    let mut update = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::chat_message(
            &access.community.id,
            message_id,
        ))))
        .update_expression("SET is_deleted = :yes, deleted_at = :now, deleted_by = :by")
        .condition_expression(condition)
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .expression_attribute_values(":no", AttributeValue::Bool(false))
        .expression_attribute_values(":now", s(crate::clock::iso(now)))
        .expression_attribute_values(":by", s(&access.principal.user_id))
        .return_values(ReturnValue::AllNew);
    if !moderator {
        update = update.expression_attribute_values(":me", s(&access.principal.user_id));
    }
    match update.send().await {
        Ok(o) => Ok(Some(from_item(o.attributes.unwrap_or_default())?)),
        Err(e) if is_condition_failed(&e) => {
            match explain(db, access, message_id, "delete").await {
                Error::Conflict(_) => Ok(None),
                other => Err(other),
            }
        }
        Err(e) => Err(sdk(e)),
    }
}

/// A user's read position in a community's chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadPosition {
    pub community_id: String,
    pub user_id: String,
    pub last_read_id: String,
    pub read_at: String,
}

/// A read receipt as stored and as delivered to the message's sender.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    pub message_id: String,
    pub community_id: String,
    pub user_id: String,
    pub name: String,
    pub read_at: String,
    /// The message's sender (who is told).
    #[serde(skip)]
    pub sender_id: String,
    /// Whether this receipt moved the reader's position forward.
    #[serde(skip)]
    pub advanced: bool,
}

/// Marks a message (and so everything before it) read by the caller: moves their read position
/// forward (a conditional UpdateItem, never backward) and, if the reader is not the sender,
/// marks the message `read`.
pub async fn mark_read(
    db: &Db,
    access: &Access,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Receipt> {
    access.require(Action::Read)?;
    let community_id = &access.community.id;
    let reader = &access.principal;
    let message = get(db, community_id, message_id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    let read_at = crate::clock::iso(now);
    let moved = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::chat_read_position(
            community_id,
            &reader.user_id,
        ))))
        .update_expression("SET last_read_id = :m, read_at = :now, community_id = :c, user_id = :u")
        .condition_expression("attribute_not_exists(last_read_id) OR last_read_id < :m")
        .expression_attribute_values(":m", s(message_id))
        .expression_attribute_values(":now", s(&read_at))
        .expression_attribute_values(":c", s(community_id))
        .expression_attribute_values(":u", s(&reader.user_id))
        .send()
        .await;
    let advanced = match moved {
        Ok(_) => true,
        Err(e) if is_condition_failed(&e) => false,
        Err(e) => return Err(sdk(e)),
    };
    if message.sender_id != reader.user_id && message.status != Status::Read {
        let marked = db
            .client
            .update_item()
            .table_name(&db.table)
            .set_key(Some(key_item(&keys::chat_message(
                community_id,
                message_id,
            ))))
            .update_expression("SET #s = :read")
            .condition_expression("attribute_exists(PK) AND #s <> :read")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":read", s(Status::Read.as_str()))
            .send()
            .await;
        if let Err(e) = marked
            && !is_condition_failed(&e)
        {
            return Err(sdk(e));
        }
    }
    Ok(Receipt {
        message_id: message_id.to_string(),
        community_id: community_id.clone(),
        user_id: reader.user_id.clone(),
        name: reader.name.clone(),
        read_at,
        sender_id: message.sender_id,
        advanced,
    })
}

/// How many messages of others a user has not read yet in a community.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unread {
    pub community_id: String,
    pub last_read_id: Option<String>,
    pub unread_count: i32,
    /// `true` when there are more than `unread_count` (the count stops at [`MAX_UNREAD_COUNT`]).
    pub capped: bool,
}

/// One GetItem for the read position, then a COUNT Query over the messages after it only.
pub async fn unread(db: &Db, access: &Access) -> Result<Unread> {
    access.require(Action::Read)?;
    let community_id = &access.community.id;
    let me = &access.principal.user_id;
    let position: Option<ReadPosition> =
        db.get(&keys::chat_read_position(community_id, me)).await?;
    let last_read_id = position.map(|p| p.last_read_id);
    let mut start = last_read_id
        .as_deref()
        .map(|id| key_item(&keys::chat_message(community_id, id)));
    let mut count = 0;
    loop {
        let out = db
            .client
            .query()
            .table_name(&db.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .filter_expression("sender_id <> :me AND is_deleted = :no")
            .expression_attribute_values(":pk", s(keys::chat_pk(community_id)))
            .expression_attribute_values(":msg", s(keys::CHAT_MESSAGE_PREFIX))
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        count += out.count;
        start = out.last_evaluated_key;
        if start.is_none() || count > MAX_UNREAD_COUNT {
            break;
        }
    }
    Ok(Unread {
        community_id: community_id.clone(),
        last_read_id,
        unread_count: count.min(MAX_UNREAD_COUNT),
        capped: count > MAX_UNREAD_COUNT,
    })
}

/// Which part of the history to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Only messages newer than this one, oldest first (catching up after a reconnect);
    /// otherwise newest first.
    pub after: Option<String>,
    pub page: PageParams,
}

/// A page of a community's history: one strongly consistent Query (plus, with `after`, a
/// GetItem proving that message belongs to this community).
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    access: &Access,
    q: &ListQuery,
) -> Result<Page<Message>> {
    access.require(Action::Read)?;
    let community_id = &access.community.id;
    let scope = match &q.after {
        Some(after) => format!("chat-after:{community_id}:{after}"),
        None => format!("chat:{community_id}"),
    };
    let start = match (&q.page.cursor, &q.after) {
        (Some(c), _) => Some(cursors.decode(&scope, c)?),
        (None, Some(after)) => {
            if get(db, community_id, after).await?.is_none() {
                return Err(Error::NotFound("message"));
            }
            Some(key_item(&keys::chat_message(community_id, after)))
        }
        (None, None) => None,
    };
    let out = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
        .expression_attribute_values(":pk", s(keys::chat_pk(community_id)))
        .expression_attribute_values(":msg", s(keys::CHAT_MESSAGE_PREFIX))
        .scan_index_forward(q.after.is_some())
        .consistent_read(true)
        .limit(q.page.limit + 1)
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
    let next = if results.len() > q.page.limit as usize {
        results.truncate(q.page.limit as usize);
        results.last().map(|last| {
            cursors.encode(
                &scope,
                &key_item(&keys::chat_message(community_id, &last.id)),
            )
        })
    } else {
        None
    };
    Ok(Page {
        results: results
            .into_iter()
            .map(|m| m.seen_by(&access.principal))
            .collect(),
        next,
    })
}

// ---------------------------------------------------------------- live

fn message_body(m: &Message) -> serde_json::Value {
    serde_json::to_value(m).expect("a message serializes")
}

/// Delivers a stored message to the community (and to `reply_to`, the sending connection, as
/// the acknowledgement), then records `delivered` if another user's connection got it.
/// A failed delivery never undoes the stored message: clients catch up from the history.
pub async fn deliver_sent(
    app: &crate::App,
    access: &Access,
    message: &Message,
    reply_to: Option<&str>,
) -> DeliveryReport {
    let payload = realtime::event("chat_message", message_body(message), &app.now_iso());
    let audience = Audience {
        community_id: &message.community_id,
        community: Some(&access.community),
        author: Some(&message.sender_id),
        reply_to,
        ..Default::default()
    };
    let report = match realtime::broadcast(app, audience, &payload).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(message_id = %message.id, error = %e, "chat: delivery failed; the message is stored");
            return DeliveryReport::default();
        }
    };
    if report.sent_to_others > 0
        && let Err(e) = mark_delivered(&app.db, message).await
    {
        tracing::warn!(message_id = %message.id, error = %e, "chat: could not mark delivered");
    }
    tracing::info!(message_id = %message.id, community_id = %message.community_id, ?report, "chat message delivered");
    report
}

async fn mark_delivered(db: &Db, m: &Message) -> Result<()> {
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::chat_message(&m.community_id, &m.id))))
        .update_expression("SET #s = :delivered")
        .condition_expression("#s = :sent")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":delivered", s(Status::Delivered.as_str()))
        .expression_attribute_values(":sent", s(Status::Sent.as_str()))
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Ok(()),
        Err(e) => Err(sdk(e)),
    }
}

/// Sends a stored message back to one connection only (the acknowledgement of a retried send).
pub async fn acknowledge(app: &crate::App, message: &Message, connection_id: &str) {
    let Some(push) = &app.push else { return };
    let payload = realtime::event("chat_message", message_body(message), &app.now_iso());
    if let Err(e) = push.send(connection_id, payload).await {
        tracing::warn!(connection_id, error = %e, "chat: acknowledgement failed");
    }
}

/// `message_edited` to the community (the edited message, with `edited_at`).
pub async fn deliver_edit(
    app: &crate::App,
    access: &Access,
    message: &Message,
    reply_to: Option<&str>,
) -> DeliveryReport {
    let payload = realtime::event("message_edited", message_body(message), &app.now_iso());
    community_event(app, access, &payload, reply_to).await
}

/// `message_deleted` to the community (the id, who deleted it and when; never the text).
pub async fn deliver_delete(
    app: &crate::App,
    access: &Access,
    message: &Message,
    reply_to: Option<&str>,
) -> DeliveryReport {
    let body = serde_json::json!({
        "message_id": message.id,
        "community_id": message.community_id,
        "deleted_by": message.deleted_by,
        "deleted_at": message.deleted_at,
    });
    let payload = realtime::event("message_deleted", body, &app.now_iso());
    community_event(app, access, &payload, reply_to).await
}

async fn community_event(
    app: &crate::App,
    access: &Access,
    payload: &aws_sdk_apigatewaymanagement::primitives::Blob,
    reply_to: Option<&str>,
) -> DeliveryReport {
    let audience = Audience {
        community_id: &access.community.id,
        community: Some(&access.community),
        author: Some(&access.principal.user_id),
        reply_to,
        ..Default::default()
    };
    realtime::broadcast(app, audience, payload)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(community_id = %access.community.id, error = %e, "chat: event not delivered");
            DeliveryReport::default()
        })
}

/// `read_receipt` to every connection of the message's sender (not when they read their own).
pub async fn deliver_receipt(app: &crate::App, receipt: &Receipt) -> DeliveryReport {
    if receipt.sender_id == receipt.user_id {
        return DeliveryReport::default();
    }
    let body = serde_json::to_value(receipt).expect("a receipt serializes");
    let payload = realtime::event("read_receipt", body, &app.now_iso());
    realtime::to_user(app, &receipt.sender_id, &payload)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(message_id = %receipt.message_id, error = %e, "chat: receipt not delivered");
            DeliveryReport::default()
        })
}

/// `typing` to the others in the community; never stored. Receivers clear the indicator after
/// 3 seconds without a new one, so a client repeats `is_typing: true` while typing goes on.
pub async fn typing(app: &crate::App, access: &Access, is_typing: bool) -> Result<DeliveryReport> {
    access.require(Action::Chat)?;
    let who = &access.principal;
    let payload = realtime::event(
        "typing",
        serde_json::json!({
            "community_id": access.community.id,
            "user_id": who.user_id,
            "name": who.name,
            "is_typing": is_typing,
        }),
        &app.now_iso(),
    );
    let audience = Audience {
        community_id: &access.community.id,
        community: Some(&access.community),
        author: Some(&who.user_id),
        except_user: Some(&who.user_id),
        ..Default::default()
    };
    realtime::broadcast(app, audience, &payload).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> Result<NewMessage> {
        crate::http::parse_json::<SendInput>(json.to_string().as_bytes())?.parse()
    }

    const COMMUNITY: &str = "01JF0C0MMVN1TY000000000000";

    #[test]
    fn a_valid_send_is_trimmed_and_defaults_to_text() {
        let m =
            input(serde_json::json!({ "community_id": COMMUNITY, "message": "  hi  " })).unwrap();
        assert_eq!(m.message, "hi");
        assert_eq!(m.message_type, MessageType::Text);
        assert_eq!(m.community_id, COMMUNITY);
        assert!(m.client_id.is_none() && m.reply_to.is_none());
    }

    #[test]
    fn rest_and_websocket_name_the_community_differently_and_both_work() {
        let rest = input(serde_json::json!({ "community": COMMUNITY, "message": "a" })).unwrap();
        assert_eq!(rest.community_id, COMMUNITY);
    }

    #[test]
    fn a_message_over_4000_characters_is_refused_with_its_field() {
        let e = input(serde_json::json!({ "community": COMMUNITY, "message": "é".repeat(4001) }))
            .unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.detail().starts_with("message:"), "{}", e.detail());
        assert!(
            input(serde_json::json!({ "community": COMMUNITY, "message": "é".repeat(4000) }))
                .is_ok()
        );
    }

    #[test]
    fn missing_or_malformed_fields_are_all_reported() {
        let e =
            input(serde_json::json!({ "reply_to": "nope", "client_id": "has space" })).unwrap_err();
        let Error::Validation(errors) = e else {
            panic!("validation")
        };
        let fields: Vec<&str> = errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["community", "message", "reply_to", "client_id"]);
    }

    #[test]
    fn unknown_fields_and_message_types_are_refused() {
        let e = input(serde_json::json!({ "community": COMMUNITY, "message": "a", "extra": 1 }))
            .unwrap_err();
        assert_eq!(e.status(), 422);
        let e = input(
            serde_json::json!({ "community": COMMUNITY, "message": "a", "message_type": "video" }),
        )
        .unwrap_err();
        assert!(e.detail().starts_with("message_type"), "{}", e.detail());
    }

    #[test]
    fn a_deleted_message_shows_its_text_only_to_admins() {
        let m = Message {
            id: "m".into(),
            community_id: COMMUNITY.into(),
            sender_id: "u".into(),
            sender_name: "U".into(),
            sender_username: None,
            message: "secret".into(),
            message_type: MessageType::Text,
            reply_to: None,
            client_id: None,
            status: Status::Sent,
            created_at: String::new(),
            edited_at: None,
            is_deleted: true,
            deleted_at: None,
            deleted_by: None,
        };
        let who = |role| crate::auth::Principal {
            user_id: "x".into(),
            role,
            name: "X".into(),
            username: None,
        };
        assert_eq!(
            m.clone().seen_by(&who(crate::auth::Role::Student)).message,
            ""
        );
        assert_eq!(m.seen_by(&who(crate::auth::Role::Admin)).message, "secret");
    }
}
