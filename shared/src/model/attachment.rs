//! Records of attachments (SPEC §11): an uploaded file's declared name, type and size, where it
//! belongs (a community or a conversation), who uploaded it, and the one post or message that
//! references it. Keys in [`crate::keys::attachment`].

use serde::{Deserialize, Serialize};

/// Where an attachment may be referenced: a community's posts and chat, or one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    Community(String),
    Conversation(String),
}

/// What references an attachment (set once, when the post or message is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reference {
    Post {
        post_id: String,
    },
    ChatMessage {
        community_id: String,
        message_id: String,
    },
    DirectMessage {
        conversation_id: String,
        message_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentStatus {
    /// Presigned, maybe uploaded, not referenced yet: expires (TTL) after a day.
    Pending,
    /// Referenced by a post or message: kept.
    Referenced,
}

/// `ATTACH#{id} / META`: one attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub scope: Scope,
    pub uploader_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// The object's key in the attachments bucket.
    pub object_key: String,
    pub status: AttachmentStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_by: Option<Reference>,
    /// DynamoDB TTL (epoch seconds) while pending; removed when referenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl Attachment {
    pub fn info(&self) -> AttachmentInfo {
        AttachmentInfo {
            id: self.id.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
        }
    }
}

/// What a post or message carries of each attachment it references, and what readers see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}
