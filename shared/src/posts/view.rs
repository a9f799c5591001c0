//! What one caller sees of the forum: a post shown to a reader (deleted text hidden, moderation
//! state for moderators only), a thread, a flag under review, a moderation queue entry.

use super::model::{Flag, Post, PostStatus, ReactionCounts, ReactionType};
use crate::access::Access;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
}

/// What moderators see of a post's moderation state.
#[derive(Debug, Clone, Serialize)]
pub struct ModerationState {
    pub flag_count: i64,
    pub open_flag_count: i64,
    pub queued_at: Option<String>,
    pub moderated_by: Option<String>,
    pub moderated_at: Option<String>,
    pub deleted_by: Option<String>,
    pub flags_resolved_at: Option<String>,
    pub flags_resolved_by: Option<String>,
}

/// A post as the API shows it to one caller: a deleted post keeps its place and counters but
/// shows no title or content (except to admins).
#[derive(Debug, Clone, Serialize)]
pub struct PostView {
    pub id: String,
    pub community: String,
    pub parent: Option<String>,
    pub root: String,
    pub depth: u32,
    pub author: Author,
    pub title: Option<String>,
    pub content: Option<String>,
    pub status: PostStatus,
    pub is_pinned: bool,
    pub is_deleted: bool,
    pub view_count: i64,
    pub reply_count: i64,
    pub reaction_counts: ReactionCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_reactions: Option<Vec<ReactionType>>,
    pub created_at: String,
    pub updated_at: String,
    pub edited_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The moderator's reason for the approval or rejection (author and moderators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_reason: Option<String>,
    /// Moderators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationState>,
}

impl PostView {
    pub fn of(p: &Post, access: &Access, my_reactions: Option<Vec<ReactionType>>) -> Self {
        let moderator = access.is_moderator();
        let author = p.author_id == access.principal.user_id;
        let hide_text = p.is_deleted && !access.principal.is_admin();
        Self {
            id: p.id.clone(),
            community: p.community_id.clone(),
            parent: p.parent_id.clone(),
            root: p.root_id.clone(),
            depth: p.depth,
            author: Author {
                id: p.author_id.clone(),
                name: p.author_name.clone(),
                username: p.author_username.clone(),
            },
            title: if hide_text { None } else { p.title.clone() },
            content: if hide_text {
                None
            } else {
                Some(p.content.clone())
            },
            status: p.status,
            is_pinned: p.is_pinned,
            is_deleted: p.is_deleted,
            view_count: p.view_count,
            reply_count: p.reply_count,
            reaction_counts: p.reaction_counts.clone(),
            my_reactions,
            created_at: p.created_at.clone(),
            updated_at: p.updated_at.clone(),
            edited_at: p.edited_at.clone(),
            deleted_at: p.deleted_at.clone(),
            moderation_reason: (moderator || author)
                .then(|| p.moderation_reason.clone())
                .flatten(),
            moderation: moderator.then(|| ModerationState {
                flag_count: p.flag_count,
                open_flag_count: p.open_flag_count,
                queued_at: p.queued_at.clone(),
                moderated_by: p.moderated_by.clone(),
                moderated_at: p.moderated_at.clone(),
                deleted_by: p.deleted_by.clone(),
                flags_resolved_at: p.flags_resolved_at.clone(),
                flags_resolved_by: p.flags_resolved_by.clone(),
            }),
        }
    }
}

/// A post with (a page of) its thread: the replies below it, depth-first, each with `depth` and
/// `parent` so clients can indent them.
#[derive(Debug, Serialize)]
pub struct PostDetail {
    #[serde(flatten)]
    pub post: PostView,
    pub replies: Vec<PostView>,
    pub replies_next: Option<String>,
}

/// A flag as moderators see it: resolved once a moderator reviewed the post's flags after it.
#[derive(Debug, Serialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub flag: Flag,
    pub resolved: bool,
}

impl FlagView {
    pub fn of(flag: Flag, post: &Post) -> Self {
        let resolved_at = post.flags_resolved_at.as_deref();
        Self {
            resolved: resolved_at.is_some_and(|r| flag.created_at.as_str() <= r),
            flag,
        }
    }
}

/// A post in the moderation queue, with why it is there.
#[derive(Debug, Serialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub post: PostView,
    /// `pending` and/or `flagged`.
    pub queue_reasons: Vec<&'static str>,
}
