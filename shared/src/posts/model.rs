//! The forum's records as stored: posts and replies, their edit history, reactions, flags and
//! moderator notes, and the events a post goes through. No rules, no requests: the store maps
//! these to items, the use cases decide what may happen to them.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    #[default]
    Approved,
    Pending,
    Rejected,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Approved => "approved",
            PostStatus::Pending => "pending",
            PostStatus::Rejected => "rejected",
        }
    }
}

/// The listing partition a top-level post sits in (its status, or `deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Approved,
    Pending,
    Rejected,
    Deleted,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Approved => "approved",
            Lane::Pending => "pending",
            Lane::Rejected => "rejected",
            Lane::Deleted => "deleted",
        }
    }

    /// Parses `?status=`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "approved" => Ok(Lane::Approved),
            "pending" => Ok(Lane::Pending),
            "rejected" => Ok(Lane::Rejected),
            "deleted" => Ok(Lane::Deleted),
            _ => Err(Error::BadRequest(
                "status must be one of approved, pending, rejected, deleted".into(),
            )),
        }
    }
}

/// The name every student sees in place of an anonymous author.
pub const ANONYMOUS: &str = "Anonymous";

/// What a top-level post is (SPEC §9); replies carry their thread's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    #[default]
    Discussion,
    Question,
    Announcement,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Discussion => "discussion",
            PostKind::Question => "question",
            PostKind::Announcement => "announcement",
        }
    }

    /// Parses `?kind=`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "discussion" => Ok(PostKind::Discussion),
            "question" => Ok(PostKind::Question),
            "announcement" => Ok(PostKind::Announcement),
            _ => Err(Error::BadRequest(
                "kind must be one of discussion, question, announcement".into(),
            )),
        }
    }
}

/// Who may read a thread: the community, or (a private question) its author and the staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    #[default]
    Everyone,
    Staff,
}

/// A post or a reply as stored (`keys::post`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub community_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The top-level post of the thread (the post itself for top-level posts).
    pub root_id: String,
    /// Ids from the root down to this post, joined by `/`: sorts a thread depth-first.
    pub path: String,
    pub depth: u32,
    pub author_id: String,
    /// Denormalized so listings need no read per author.
    pub author_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_username: Option<String>,
    /// Required on top-level posts, optional on replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub content: String,
    pub status: PostStatus,
    #[serde(default)]
    pub is_pinned: bool,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub view_count: i64,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub reaction_counts: ReactionCounts,
    #[serde(default)]
    pub flag_count: i64,
    #[serde(default)]
    pub open_flag_count: i64,
    /// How many times the text was edited; the version number of the next edit record.
    #[serde(default)]
    pub edit_count: i64,
    /// Since when the post waits in the moderation queue (pending, or flagged and unresolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_resolved_by: Option<String>,
    /// The thread's kind (a reply carries its root's, so "is this an answer" needs no read).
    #[serde(default)]
    pub kind: PostKind,
    /// Shown to students as "Anonymous" (`posts::view::author_for`).
    #[serde(default)]
    pub anonymous: bool,
    /// The thread's audience; replies inherit their root's.
    #[serde(default)]
    pub audience: Audience,
    /// The author of the thread's root (on replies of staff-only threads: who else may read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_author_id: Option<String>,
    /// The author was moderator, instructor or admin when writing it.
    #[serde(default)]
    pub by_staff: bool,
    /// Top-level posts only: tags of the community.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The files the post references (SPEC §11), fixed when it is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::model::attachment::AttachmentInfo>,
    #[serde(default)]
    pub is_endorsed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endorsed_by: Option<String>,
    /// On an answer: the question's author or staff accepted it.
    #[serde(default)]
    pub is_accepted: bool,
    /// On a question: its accepted answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_answer_id: Option<String>,
    /// On a question: published answers by staff, and endorsed answers.
    #[serde(default)]
    pub staff_answer_count: i64,
    #[serde(default)]
    pub endorsed_answer_count: i64,
    #[serde(default)]
    pub is_resolved: bool,
    /// On a question closed as a duplicate: the post it duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

impl Post {
    /// A direct reply to a question.
    pub fn is_answer(&self) -> bool {
        self.kind == PostKind::Question && self.depth == 1
    }

    /// A question with an accepted or staff-endorsed answer, or an answer by staff.
    pub fn is_answered(&self) -> bool {
        self.accepted_answer_id.is_some()
            || self.staff_answer_count > 0
            || self.endorsed_answer_count > 0
    }

    pub fn is_reply(&self) -> bool {
        self.parent_id.is_some()
    }

    pub fn lane(&self) -> Lane {
        match (self.is_deleted, self.status) {
            (true, _) => Lane::Deleted,
            (false, PostStatus::Approved) => Lane::Approved,
            (false, PostStatus::Pending) => Lane::Pending,
            (false, PostStatus::Rejected) => Lane::Rejected,
        }
    }

    /// Published: counted in `post_count` and its parent's `reply_count`.
    pub fn is_published(&self) -> bool {
        self.status == PostStatus::Approved && !self.is_deleted
    }
}

/// An earlier text of a post, kept when an edit replaces it (`keys::post_edit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub post_id: String,
    /// 1 for the text replaced by the first edit.
    pub version: i64,
    #[serde(default)]
    pub title: Option<String>,
    pub content: String,
    /// When this text was replaced, and by whom.
    pub replaced_at: String,
    pub replaced_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReactionType {
    Like,
    Love,
    Helpful,
    Haha,
    Wow,
    Sad,
}

impl ReactionType {
    pub const ALL: [ReactionType; 6] = [
        ReactionType::Like,
        ReactionType::Love,
        ReactionType::Helpful,
        ReactionType::Haha,
        ReactionType::Wow,
        ReactionType::Sad,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReactionType::Like => "like",
            ReactionType::Love => "love",
            ReactionType::Helpful => "helpful",
            ReactionType::Haha => "haha",
            ReactionType::Wow => "wow",
            ReactionType::Sad => "sad",
        }
    }

    /// Parses `?reaction_type=`; a missing or unknown type is a 422 on that field.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = raw
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::validation("reaction_type", "is required"))?;
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                Error::validation(
                    "reaction_type",
                    "must be one of like, love, helpful, haha, wow, sad",
                )
            })
    }
}

/// A post's reaction counters, one per type (stored as a map on the post item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCounts {
    #[serde(default)]
    pub like: i64,
    #[serde(default)]
    pub love: i64,
    #[serde(default)]
    pub helpful: i64,
    #[serde(default)]
    pub haha: i64,
    #[serde(default)]
    pub wow: i64,
    #[serde(default)]
    pub sad: i64,
}

/// One user's reaction of one type to one post (`keys::reaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub post_id: String,
    pub user_id: String,
    pub reaction_type: ReactionType,
    pub created_at: String,
}

/// A user's flag on a post (`keys::post_flag`), kept after review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub post_id: String,
    pub user_id: String,
    pub user_name: String,
    pub reason: String,
    pub created_at: String,
}

/// A moderator's note on a post (`keys::post_note`), seen by moderators only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub post_id: String,
    pub author_id: String,
    pub author_name: String,
    pub note: String,
    pub created_at: String,
}

/// What happened to a post, for whoever reacts to it (notifications): each event's job is
/// written in the same transaction as the write that caused it.
#[derive(Debug, Clone, PartialEq)]
pub enum PostEvent {
    /// A post or reply was stored, published or pending approval; `mentions` are the
    /// `@username`s in its text.
    Created {
        post: Post,
        mentions: Vec<String>,
    },
    Approved {
        post: Post,
        moderator_id: String,
    },
    Rejected {
        post: Post,
        moderator_id: String,
        reason: Option<String>,
    },
    Flagged {
        post: Post,
        flagger_id: String,
        reason: String,
    },
    /// An answer was accepted (`post` is the answer).
    Accepted {
        post: Post,
        by: String,
    },
    /// A post was endorsed by a moderator.
    Endorsed {
        post: Post,
        by: String,
    },
    /// A question was closed as a duplicate of `of`.
    Duplicated {
        post: Post,
        by: String,
        of: String,
    },
}

impl PostEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            PostEvent::Created { .. } => "created",
            PostEvent::Approved { .. } => "approved",
            PostEvent::Rejected { .. } => "rejected",
            PostEvent::Flagged { .. } => "flagged",
            PostEvent::Accepted { .. } => "accepted",
            PostEvent::Endorsed { .. } => "endorsed",
            PostEvent::Duplicated { .. } => "duplicated",
        }
    }

    pub fn post(&self) -> &Post {
        match self {
            PostEvent::Created { post, .. }
            | PostEvent::Approved { post, .. }
            | PostEvent::Rejected { post, .. }
            | PostEvent::Flagged { post, .. }
            | PostEvent::Accepted { post, .. }
            | PostEvent::Endorsed { post, .. }
            | PostEvent::Duplicated { post, .. } => post,
        }
    }
}
