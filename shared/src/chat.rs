//! Chat: the records of a community's real-time room and their rules. A message is stored
//! before it is delivered; a retried send (same `client_id`) stores one message; edits and soft
//! deletes are their author's (deletes also moderators'); each user has one read position per
//! community.
//!
//! The use cases (send, edit, delete, read receipt, typing, history, unread) are in
//! [`use_cases`]; their DynamoDB requests in [`crate::store::chat`].

pub mod use_cases;

use crate::cursor::PageParams;
use crate::error::{Error, FieldError, Result};
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
    pub fn as_str(self) -> &'static str {
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
    /// The file of an `image` or `file` message (SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<crate::model::attachment::AttachmentInfo>,
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
            self.attachment = None;
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
    /// An `image` or `file` message's upload.
    pub attachment_id: Option<String>,
}

/// A send that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub community_id: String,
    pub message: String,
    pub message_type: MessageType,
    pub reply_to: Option<String>,
    pub client_id: Option<String>,
    pub attachment_id: Option<String>,
}

/// The text and attachment of a message of `message_type`: an `image` or `file` message names
/// its `attachment_id` and may go without text (a caption); any other has text and no
/// attachment.
pub fn parse_body(
    errors: &mut Vec<FieldError>,
    message_type: MessageType,
    message: Option<&str>,
    attachment_id: Option<&str>,
) -> (Option<String>, Option<String>) {
    let max = crate::validate::MAX_MESSAGE;
    match message_type {
        MessageType::Image | MessageType::File => {
            let text = crate::validate::optional_text(errors, "message", message, max)
                .or(Some(String::new()));
            let attachment = match attachment_id {
                None => {
                    errors.push(FieldError::new(
                        "attachment_id",
                        "is required for an image or file message",
                    ));
                    None
                }
                some => ulid_field(errors, "attachment_id", some),
            };
            (text, attachment)
        }
        MessageType::Text | MessageType::Link => {
            if attachment_id.is_some() {
                errors.push(FieldError::new(
                    "attachment_id",
                    "only image and file messages carry an attachment",
                ));
            }
            (crate::validate::text(errors, "message", message, max), None)
        }
    }
}

fn ulid_field(errors: &mut Vec<FieldError>, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    match crate::ids::ulid(raw) {
        Some(id) => Some(id),
        None => {
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
        let message_type = self.message_type.unwrap_or_default();
        let (message, attachment_id) = parse_body(
            &mut errors,
            message_type,
            self.message.as_deref(),
            self.attachment_id.as_deref(),
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
                message_type,
                reply_to,
                client_id,
                attachment_id,
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

// ---------------------------------------------------------------- reading

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

/// How many messages of others a user has not read yet in a community.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unread {
    pub community_id: String,
    pub last_read_id: Option<String>,
    pub unread_count: i32,
    /// `true` when there are more than `unread_count` (the count stops at [`MAX_UNREAD_COUNT`]).
    pub capped: bool,
}

/// Which part of the history to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Only messages newer than this one, oldest first (catching up after a reconnect);
    /// otherwise newest first.
    pub after: Option<String>,
    pub page: PageParams,
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
            attachment: None,
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
