//! The moderation audit log's record: who did which moderation action to what, and when.

use serde::{Deserialize, Serialize};

/// A moderation action the log keeps (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Approve,
    Reject,
    Pin,
    Unpin,
    /// A moderator deleted someone else's post or message.
    Delete,
    Endorse,
    Unendorse,
    /// Staff accepted an answer to someone else's question (or took the acceptance back).
    Accept,
    Unaccept,
    Duplicate,
    ResolveFlags,
    RoleChange,
    RemoveMember,
    Archive,
    Unarchive,
}

/// What an action was done to: a `post`, a `message`, a `user` or the `community`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// One entry of a community's log (`keys::audit_entry`), written in the same transaction as
/// the action where the action is a transaction of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub community_id: String,
    pub action: AuditAction,
    pub actor_id: String,
    pub actor_name: String,
    pub target: AuditTarget,
    /// What changed beyond the action itself (a reason, the new role, the original post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub created_at: String,
}
