//! Direct messages: conversations of 2 to 10 users who share a community, and their messages.
//! A conversation's members are fixed when it is created; the same pair of users always has the
//! same conversation. Its messages follow the chat contract (a retried send with the same
//! `client_id` stores one message, `?after=` catches up, edits and soft deletes are their
//! author's, one read position per member), through the requests rooms share
//! ([`crate::store::room`]). Who may write to whom is the guard's
//! ([`crate::access::direct`]), asked on every write.
//!
//! The use cases are in [`use_cases`], their DynamoDB requests in
//! [`crate::store::conversations`].

pub mod use_cases;

use crate::chat::{MessageType, Status, parse_client_id};
use crate::cursor::PageParams;
use crate::error::{Error, FieldError, Result};
use serde::{Deserialize, Serialize};

/// Members of a conversation, the caller included.
pub const MIN_MEMBERS: usize = 2;
pub const MAX_MEMBERS: usize = 10;
/// Characters of a conversation's title.
pub const MAX_TITLE: usize = 200;

/// One member as the conversation shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub user_id: String,
    pub name: String,
}

/// The newest message of a conversation, as its listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    pub id: String,
    pub sender_id: String,
    pub snippet: String,
    pub created_at: String,
}

/// A conversation as stored (`keys::conversation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub members: Vec<Participant>,
    #[serde(default)]
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: String,
    #[serde(default)]
    pub last_message: Option<LastMessage>,
}

impl Conversation {
    pub fn has_member(&self, user_id: &str) -> bool {
        self.members.iter().any(|m| m.user_id == user_id)
    }

    /// Every member but `user_id`.
    pub fn others(&self, user_id: &str) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.user_id != user_id)
            .map(|m| m.user_id.clone())
            .collect()
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.user_id.clone()).collect()
    }
}

/// One member's row of a conversation (`keys::conversation_member`), indexed by the
/// conversation's last activity for the member's listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRow {
    pub conversation_id: String,
    pub user_id: String,
    /// The ULID of the conversation's last message (or of the conversation while it has none).
    pub activity_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
}

/// A conversation as one member sees it in a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub last_read_id: Option<String>,
    pub unread_count: i32,
}

/// A direct message as stored (`keys::Room::Conversation`) and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectMessage {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    pub sender_name: String,
    #[serde(default)]
    pub sender_username: Option<String>,
    pub message: String,
    pub message_type: MessageType,
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

impl DirectMessage {
    /// A deleted message keeps its place but not its text, for every member.
    pub fn shown(mut self) -> Self {
        if self.is_deleted {
            self.message = String::new();
            self.attachment = None;
        }
        self
    }
}

// ---------------------------------------------------------------- input

/// `POST conversations/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    pub members: Option<Vec<String>>,
    pub title: Option<String>,
}

/// A new conversation that passed validation: its other members (sorted, without the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConversation {
    pub others: Vec<String>,
    pub title: Option<String>,
}

impl CreateInput {
    /// `members` may name the caller or not; with the caller, 2 to 10 distinct users.
    pub fn parse(self, caller: &str) -> Result<NewConversation> {
        let mut errors = Vec::new();
        let mut others: Vec<String> = Vec::new();
        match self.members {
            None => errors.push(FieldError::new("members", "is required")),
            Some(list) => {
                for raw in list {
                    match crate::ids::parse_user_id(&raw) {
                        Ok(id) if id == caller => {}
                        Ok(id) => {
                            if !others.contains(&id) {
                                others.push(id);
                            }
                        }
                        Err(_) => {
                            errors.push(FieldError::new("members", "holds an invalid user id"));
                            break;
                        }
                    }
                }
                let total = others.len() + 1;
                if errors.is_empty() && !(MIN_MEMBERS..=MAX_MEMBERS).contains(&total) {
                    errors.push(FieldError::new(
                        "members",
                        format!(
                            "a conversation has {MIN_MEMBERS} to {MAX_MEMBERS} members, you included"
                        ),
                    ));
                }
            }
        }
        let title =
            crate::validate::optional_text(&mut errors, "title", self.title.as_deref(), MAX_TITLE)
                .filter(|t| !t.is_empty());
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        others.sort();
        Ok(NewConversation { others, title })
    }
}

/// A send, over REST or WebSocket (`dm_message`, which also names `conversation_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    pub message: Option<String>,
    pub message_type: Option<MessageType>,
    pub client_id: Option<String>,
    /// An `image` or `file` message's upload (in this conversation).
    pub attachment_id: Option<String>,
}

/// A send that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub message: String,
    pub message_type: MessageType,
    pub client_id: Option<String>,
    pub attachment_id: Option<String>,
}

impl SendInput {
    pub fn parse(self) -> Result<NewMessage> {
        let mut errors = Vec::new();
        let message_type = self.message_type.unwrap_or_default();
        let (message, attachment_id) = crate::chat::parse_body(
            &mut errors,
            message_type,
            self.message.as_deref(),
            self.attachment_id.as_deref(),
        );
        let client_id = match self.client_id.as_deref().map(parse_client_id) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
        };
        match message {
            Some(message) if errors.is_empty() => Ok(NewMessage {
                message,
                message_type,
                client_id,
                attachment_id,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// Which part of a conversation's history to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Only messages newer than this one, oldest first; otherwise newest first.
    pub after: Option<String>,
    pub page: PageParams,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<NewConversation> {
        crate::http::parse_json::<CreateInput>(json.to_string().as_bytes())?.parse("me")
    }

    #[test]
    fn the_caller_is_counted_once_and_members_are_deduplicated_and_sorted() {
        let c = create(serde_json::json!({ "members": ["me", "b", "a", "b"] })).unwrap();
        assert_eq!(c.others, ["a", "b"]);
        assert_eq!(c.title, None);
        let c = create(serde_json::json!({ "members": ["a"], "title": "  Study group " })).unwrap();
        assert_eq!(c.title.as_deref(), Some("Study group"));
    }

    #[test]
    fn two_to_ten_members_and_valid_ids_only() {
        for members in [
            serde_json::json!([]),
            serde_json::json!(["me"]),
            serde_json::json!((0..10).map(|i| format!("u{i}")).collect::<Vec<_>>()),
        ] {
            let e = create(serde_json::json!({ "members": members })).unwrap_err();
            assert_eq!(e.status(), 422, "{members}");
            assert!(e.detail().starts_with("members"), "{}", e.detail());
        }
        assert!(
            create(serde_json::json!({ "members": (0..9).map(|i| format!("u{i}")).collect::<Vec<_>>() }))
                .is_ok()
        );
        let e = create(serde_json::json!({ "members": ["a#NOTIFS"] })).unwrap_err();
        assert_eq!(e.status(), 422);
        let e = create(serde_json::json!({ "title": "x" })).unwrap_err();
        assert!(e.detail().starts_with("members"), "{}", e.detail());
        let e = create(serde_json::json!({ "members": ["a"], "extra": 1 })).unwrap_err();
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn a_send_checks_text_and_client_id() {
        let ok = SendInput {
            message: Some(" hi ".into()),
            message_type: None,
            client_id: Some("c-1".into()),
            attachment_id: None,
        }
        .parse()
        .unwrap();
        assert_eq!(ok.message, "hi");
        let e = SendInput {
            message: Some("x".repeat(4001)),
            message_type: None,
            client_id: Some("bad id".into()),
            attachment_id: None,
        }
        .parse()
        .unwrap_err();
        let Error::Validation(errors) = e else {
            panic!("validation")
        };
        let fields: Vec<&str> = errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["message", "client_id"]);
    }
}
