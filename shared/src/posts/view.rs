//! What one caller sees of the forum: a post shown to a reader (deleted text hidden, moderation
//! state for moderators only, the author as [`author_for`] decides), a thread, a flag under
//! review, a moderation queue entry.

use super::model::{Audience, Flag, Post, PostKind, PostStatus, ReactionCounts, ReactionType};
use crate::access::Access;
use serde::Serialize;

/// An author as one reader sees them: `id` is `null` for an anonymous post shown to a student.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub id: Option<String>,
    pub name: String,
    pub username: Option<String>,
}

pub use super::model::ANONYMOUS;

impl Author {
    pub fn anonymous() -> Self {
        Self {
            id: None,
            name: ANONYMOUS.into(),
            username: None,
        }
    }
}

/// The one rule of anonymity: whether a reader may learn who wrote an anonymous post. The
/// author sees their own post as theirs; moderators, instructors and admins of the community
/// (`reader_is_staff`) see the real author; every other reader does not. Posts that are not
/// anonymous reveal their author to all.
pub fn reveals_author(post: &Post, reader_id: &str, reader_is_staff: bool) -> bool {
    !post.anonymous || reader_is_staff || post.author_id == reader_id
}

/// How the author of `post` is shown to `reader`: the only way an author reaches any output
/// (post and thread answers, lists, notifications, and every later channel such as search,
/// email and push). Callers without an [`Access`] (the notifier, for a recipient) ask
/// [`reveals_author`] with the roster's answer for that recipient.
pub fn author_for(reader: &Access, post: &Post) -> Author {
    if reveals_author(post, &reader.principal.user_id, reader.is_staff()) {
        Author {
            id: Some(post.author_id.clone()),
            name: post.author_name.clone(),
            username: post.author_username.clone(),
        }
    } else {
        Author::anonymous()
    }
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
    pub kind: PostKind,
    pub anonymous: bool,
    pub audience: Audience,
    pub tags: Vec<String>,
    /// The files the post references; none shown on a deleted post (admins excepted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::model::attachment::AttachmentInfo>,
    pub is_endorsed: bool,
    pub endorsed_by: Option<String>,
    /// Answers: accepted by the question's author or staff.
    pub is_accepted: bool,
    /// Questions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_answered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_resolved: Option<bool>,
    pub duplicate_of: Option<String>,
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
        let question = p.kind == PostKind::Question && !p.is_reply();
        let reveals = reveals_author(p, &access.principal.user_id, access.is_staff());
        Self {
            id: p.id.clone(),
            community: p.community_id.clone(),
            parent: p.parent_id.clone(),
            root: p.root_id.clone(),
            depth: p.depth,
            author: author_for(access, p),
            kind: p.kind,
            anonymous: p.anonymous,
            audience: p.audience,
            tags: p.tags.clone(),
            attachments: if hide_text {
                Vec::new()
            } else {
                p.attachments.clone()
            },
            is_endorsed: p.is_endorsed,
            endorsed_by: p
                .endorsed_by
                .clone()
                .filter(|by| by != &p.author_id || reveals),
            is_accepted: p.is_accepted,
            accepted_answer: p.accepted_answer_id.clone(),
            is_answered: question.then(|| p.is_answered()),
            is_resolved: question.then_some(p.is_resolved),
            duplicate_of: p.duplicate_of.clone(),
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
