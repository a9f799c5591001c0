//! Moderation: the approval workflow, flags and their review, moderator notes, and a community's
//! moderation queue (a sparse index: only pending and flagged posts carry its keys).
//!
//! Approvals, rejections and flags queue their notification job in the same transaction as the
//! decision or the flag.

pub use super::model::{Flag, Note};
pub use super::view::{FlagView, QueueEntry};

use super::{Lane, Post, PostAccess, PostEvent, PostStatus, PostView, load};
use crate::access::{Access, Action};
use crate::audit::{self, AuditAction};
use crate::auth::Principal;
use crate::clock::iso;
use crate::cursor::{Cursors, Page, PageParams};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::notifications::jobs::Job;
use crate::store::posts::{self as store, Decided, Flagged, NoteAdded, Resolved};
use crate::validate;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub note: Option<String>,
}

fn optional_reason(field: &str, raw: Option<&str>) -> Result<Option<String>> {
    let mut errors = Vec::new();
    let reason = validate::optional_text(&mut errors, field, raw, validate::MAX_REASON);
    if errors.is_empty() {
        Ok(reason.filter(|r| !r.is_empty()))
    } else {
        Err(Error::Validation(errors))
    }
}

fn required_reason(field: &str, raw: Option<&str>) -> Result<String> {
    let mut errors = Vec::new();
    match validate::text(&mut errors, field, raw, validate::MAX_REASON) {
        Some(r) => Ok(r),
        None => Err(Error::Validation(errors)),
    }
}

// ---------------------------------------------------------------- approval

/// Publishes a pending post (moderator+): adds it to `post_count` and its parent's
/// `reply_count`, and queues the author's notification, in the same transaction; 409 if the post
/// is not pending.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn approve(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<ReasonInput>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    decide(db, ids, &pa, PostStatus::Approved, input, now).await
}

/// Rejects a pending post (moderator+): it stays visible to its author and moderators only; the
/// author's notification is queued in the same transaction.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn reject(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<ReasonInput>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    decide(db, ids, &pa, PostStatus::Rejected, input, now).await
}

async fn decide(
    db: &Db,
    ids: &dyn Ids,
    pa: &PostAccess,
    to: PostStatus,
    input: Result<ReasonInput>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    pa.access.require_write(Action::Moderate)?;
    let input = input?;
    let reason = optional_reason("reason", input.reason.as_deref())?;
    check_pending(&pa.post)?;
    let at = iso(now);
    let mut post = pa.post.clone();
    post.status = to;
    post.moderated_by = Some(pa.me().to_string());
    post.moderated_at = Some(at);
    post.moderation_reason = reason.clone();
    post.queued_at = None;
    let event = match to {
        PostStatus::Approved => PostEvent::Approved {
            post: post.clone(),
            moderator_id: pa.me().to_string(),
        },
        _ => PostEvent::Rejected {
            post: post.clone(),
            moderator_id: pa.me().to_string(),
            reason,
        },
    };
    let job = Job::of_post_event(&event, now, ids);
    let action = match to {
        PostStatus::Approved => AuditAction::Approve,
        _ => AuditAction::Reject,
    };
    let entry = audit::entry(
        &pa.access,
        ids,
        action,
        &post,
        post.moderation_reason.clone(),
        now,
    );
    match store::decide(db, &post, job.as_ref(), Some(&entry)).await? {
        Decided::Decided => Ok(PostView::of(&post, &pa.access, None)),
        Decided::NotPending(current) => {
            check_pending(&current)?;
            Err(Error::Conflict(
                "the post changed during the review, retry".into(),
            ))
        }
    }
}

fn check_pending(post: &Post) -> Result<()> {
    if post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    if post.status != PostStatus::Pending {
        return Err(Error::Conflict(format!(
            "the post is not pending (it is {})",
            post.status.as_str()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- flags

/// Flags a published post (any member, once per post, not one's own). The flag, the post's
/// counters and queue entry (the post enters the queue at its first open flag) and the
/// moderators' notification job are written in one transaction.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn flag(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<ReasonInput>,
    now: DateTime<Utc>,
) -> Result<Flag> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Post)?;
    let input = input?;
    if pa.post.is_deleted {
        return Err(Error::NotFound("post"));
    }
    if pa.is_author() {
        return Err(Error::Forbidden("you cannot flag your own post".into()));
    }
    if pa.post.status != PostStatus::Approved {
        return Err(Error::Conflict("only approved posts can be flagged".into()));
    }
    let reason = required_reason("reason", input.reason.as_deref())?;
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::flags(), now).await?;
    let flag = Flag {
        post_id: pa.post.id.clone(),
        user_id: pa.me().to_string(),
        user_name: pa.access.principal.name.clone(),
        reason: reason.clone(),
        created_at: iso(now),
    };
    let mut post = pa.post.clone();
    post.flag_count += 1;
    post.open_flag_count += 1;
    let event = PostEvent::Flagged {
        post,
        flagger_id: pa.me().to_string(),
        reason,
    };
    let job = Job::of_post_event(&event, now, ids);
    match store::add_flag(db, &pa.post, &flag, job.as_ref()).await? {
        Flagged::Flagged => Ok(flag),
        Flagged::AlreadyFlagged => Err(Error::Conflict("you already flagged this post".into())),
        Flagged::NotFlaggable => Err(Error::NotFound("post")),
    }
}

/// A post's flags, oldest first (moderator+).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn flags(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    post_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<FlagView>> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require(Action::Moderate)?;
    let found = store::flags_page(db, cursors, &pa.post.id, page).await?;
    Ok(found.map(|flag| FlagView::of(flag, &pa.post)))
}

/// Resolves a post's open flags (moderator+): the post leaves the queue; an optional note is
/// stored as a moderator note in the same transaction. 409 if no flag is open.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn resolve_flags(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<NoteInput>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Moderate)?;
    let input = input?;
    let note_text = optional_reason("note", input.note.as_deref())?;
    if pa.post.open_flag_count == 0 {
        return Err(Error::Conflict("the post has no open flags".into()));
    }
    let at = iso(now);
    let note = note_text.map(|text| new_note(ids, &pa, text, &at));
    let entry = audit::entry(
        &pa.access,
        ids,
        AuditAction::ResolveFlags,
        &pa.post,
        None,
        now,
    );
    match store::resolve_flags(db, &pa.post.id, pa.me(), &at, note.as_ref(), Some(&entry)).await? {
        Resolved::Resolved => {}
        Resolved::NoOpenFlags => {
            return Err(Error::Conflict("the post has no open flags".into()));
        }
    }
    let mut post = pa.post.clone();
    post.open_flag_count = 0;
    post.flags_resolved_at = Some(at);
    post.flags_resolved_by = Some(pa.me().to_string());
    post.queued_at = None;
    Ok(PostView::of(&post, &pa.access, None))
}

// ---------------------------------------------------------------- notes

fn new_note(ids: &dyn Ids, pa: &PostAccess, note: String, at: &str) -> Note {
    Note {
        id: ids.new_id(),
        post_id: pa.post.id.clone(),
        author_id: pa.me().to_string(),
        author_name: pa.access.principal.name.clone(),
        note,
        created_at: at.to_string(),
    }
}

/// Adds a moderator note (moderator+), one PutItem.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn add_note(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<NoteInput>,
    now: DateTime<Utc>,
) -> Result<Note> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Moderate)?;
    let input = input?;
    let text = required_reason("note", input.note.as_deref())?;
    let note = new_note(ids, &pa, text, &iso(now));
    match store::add_note(db, &note).await? {
        NoteAdded::Added => Ok(note),
        NoteAdded::Duplicate => Err(Error::internal("a new note's id is taken")),
    }
}

/// A post's moderator notes, oldest first (moderator+), one Query per page.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn notes(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    post_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<Note>> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require(Action::Moderate)?;
    store::notes_page(db, cursors, &pa.post.id, page).await
}

// ---------------------------------------------------------------- queue

/// The community's pending and flagged posts, oldest first (moderator+): one Query on the sparse
/// GSI2 per page.
#[tracing::instrument(skip_all, fields(community_id = %community_id, user_id = %principal.user_id))]
pub async fn queue(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    community_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<QueueEntry>> {
    let access = Access::load(db, principal, community_id, now).await?;
    access.require(Action::Moderate)?;
    let posts = store::queue_page(db, cursors, &access.community.id, page).await?;
    Ok(posts.map(|post| {
        let mut reasons = Vec::new();
        if post.lane() == Lane::Pending {
            reasons.push("pending");
        }
        if post.open_flag_count > 0 {
            reasons.push("flagged");
        }
        QueueEntry {
            post: PostView::of(&post, &access, None),
            queue_reasons: reasons,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_optional_for_reviews_and_required_for_flags_within_the_limit() {
        assert_eq!(optional_reason("reason", None).unwrap(), None);
        assert_eq!(optional_reason("reason", Some("  ")).unwrap(), None);
        assert_eq!(
            optional_reason("reason", Some(" spam "))
                .unwrap()
                .as_deref(),
            Some("spam")
        );
        let long = "x".repeat(validate::MAX_REASON + 1);
        assert_eq!(
            optional_reason("reason", Some(&long)).unwrap_err().status(),
            422
        );
        assert_eq!(required_reason("reason", None).unwrap_err().status(), 422);
        assert_eq!(
            required_reason("note", Some(" ")).unwrap_err().status(),
            422
        );
        assert_eq!(required_reason("note", Some("ok")).unwrap(), "ok");
    }
}
