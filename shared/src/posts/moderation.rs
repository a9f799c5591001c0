//! Moderation: the approval workflow, flags and their review, moderator notes, and a community's
//! moderation queue (a sparse index: only pending and flagged posts carry its keys).

use super::{
    Lane, Post, PostAccess, PostEvent, PostStatus, PostView, falsy, publication, query_children,
    tx_put, tx_update, update,
};
use crate::access::{Access, Action};
use crate::clock::iso;
use crate::cursor::Cursors;
use crate::db::{Db, WriteOutcome, n, s, sdk, to_item};
use crate::error::{Error, Result};
use crate::http::{Page, PageParams};
use crate::keys::{self, GSI2};
use crate::validate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
/// `reply_count` in the same transaction; 409 if the post is not pending.
pub async fn approve(
    db: &Db,
    pa: &PostAccess,
    input: ReasonInput,
    now: DateTime<Utc>,
) -> Result<(PostView, Vec<PostEvent>)> {
    decide(db, pa, PostStatus::Approved, input, now).await
}

/// Rejects a pending post (moderator+): it stays visible to its author and moderators only.
pub async fn reject(
    db: &Db,
    pa: &PostAccess,
    input: ReasonInput,
    now: DateTime<Utc>,
) -> Result<(PostView, Vec<PostEvent>)> {
    decide(db, pa, PostStatus::Rejected, input, now).await
}

async fn decide(
    db: &Db,
    pa: &PostAccess,
    to: PostStatus,
    input: ReasonInput,
    now: DateTime<Utc>,
) -> Result<(PostView, Vec<PostEvent>)> {
    pa.access.require(Action::Moderate)?;
    let reason = optional_reason("reason", input.reason.as_deref())?;
    check_pending(&pa.post)?;
    let at = iso(now);
    let mut post = pa.post.clone();
    post.status = to;
    post.moderated_by = Some(pa.me().to_string());
    post.moderated_at = Some(at.clone());
    post.moderation_reason = reason.clone();
    post.queued_at = None;

    let mut set = vec!["#status = :to", "moderated_by = :by", "moderated_at = :now"];
    let mut remove = vec!["queued_at", "GSI2PK", "GSI2SK"];
    let mut u = update(db, &keys::post(&post.id))
        .condition_expression("#status = :pending AND is_deleted = :f")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":by", s(pa.me()))
        .expression_attribute_values(":now", s(&at))
        .expression_attribute_values(":pending", s("pending"))
        .expression_attribute_values(":f", falsy());
    match &reason {
        Some(r) => {
            set.push("moderation_reason = :reason");
            u = u.expression_attribute_values(":reason", s(r));
        }
        None => remove.push("moderation_reason"),
    }
    if !post.is_reply() {
        set.push("GSI1PK = :lane");
        u = u.expression_attribute_values(
            ":lane",
            s(keys::post_listing_pk(
                &post.community_id,
                post.lane().as_str(),
            )),
        );
    }
    let mut items = vec![tx_update(u.update_expression(format!(
        "SET {} REMOVE {}",
        set.join(", "),
        remove.join(", ")
    )))?];
    if to == PostStatus::Approved {
        items.extend(publication(db, &post, 1)?);
    }
    match db.transact(items).await? {
        WriteOutcome::Done => {}
        WriteOutcome::ConditionFailed(_) => {
            let current = super::fetch(db, &post.id)
                .await?
                .ok_or(Error::NotFound("post"))?;
            check_pending(&current)?;
            return Err(Error::Conflict(
                "the post changed during the review, retry".into(),
            ));
        }
    }
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
    Ok((PostView::of(&post, &pa.access, None), vec![event]))
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

/// A user's flag on a post (`keys::post_flag`), kept after review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub post_id: String,
    pub user_id: String,
    pub user_name: String,
    pub reason: String,
    pub created_at: String,
}

/// A flag as moderators see it: resolved once a moderator reviewed the post's flags after it.
#[derive(Debug, Serialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub flag: Flag,
    pub resolved: bool,
}

/// Flags a published post (any member, once per post, not one's own). The flag and the post's
/// counters and queue entry change in one transaction; the post enters the queue at its first
/// open flag.
pub async fn flag(
    db: &Db,
    pa: &PostAccess,
    input: ReasonInput,
    now: DateTime<Utc>,
) -> Result<(Flag, Vec<PostEvent>)> {
    pa.access.require(Action::Post)?;
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
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::FLAGS, now).await?;
    let at = iso(now);
    let flag = Flag {
        post_id: pa.post.id.clone(),
        user_id: pa.me().to_string(),
        user_name: pa.access.principal.name.clone(),
        reason: reason.clone(),
        created_at: at.clone(),
    };
    let queue = keys::moderation_entry(&pa.post.community_id, &at, &pa.post.id);
    let items = vec![
        tx_put(db, to_item(&keys::post_flag(&pa.post.id, pa.me()), &flag)?)?,
        tx_update(
            update(db, &keys::post(&pa.post.id))
                .update_expression(
                    "ADD flag_count :one, open_flag_count :one \
                     SET queued_at = if_not_exists(queued_at, :now), GSI2PK = :q, \
                     GSI2SK = if_not_exists(GSI2SK, :qsk)",
                )
                .condition_expression("is_deleted = :f AND #status = :approved")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", s(&at))
                .expression_attribute_values(":q", s(queue.pk))
                .expression_attribute_values(":qsk", s(queue.sk))
                .expression_attribute_values(":f", falsy())
                .expression_attribute_values(":approved", s("approved")),
        )?,
    ];
    match db.transact(items).await? {
        WriteOutcome::Done => {}
        WriteOutcome::ConditionFailed(reasons) if super::condition_failed_at(&reasons, 0) => {
            return Err(Error::Conflict("you already flagged this post".into()));
        }
        WriteOutcome::ConditionFailed(_) => return Err(Error::NotFound("post")),
    }
    let mut post = pa.post.clone();
    post.flag_count += 1;
    post.open_flag_count += 1;
    let event = PostEvent::Flagged {
        post,
        flagger_id: pa.me().to_string(),
        reason,
    };
    Ok((flag, vec![event]))
}

/// A post's flags, oldest first (moderator+).
pub async fn flags(
    db: &Db,
    cursors: &Cursors,
    pa: &PostAccess,
    page: &PageParams,
) -> Result<Page<FlagView>> {
    pa.access.require(Action::Moderate)?;
    let found: Page<Flag> = query_children(
        db,
        cursors,
        &pa.post.id,
        keys::POST_FLAG_PREFIX,
        "flags",
        page,
    )
    .await?;
    let resolved_at = pa.post.flags_resolved_at.as_deref();
    Ok(Page {
        results: found
            .results
            .into_iter()
            .map(|flag| FlagView {
                resolved: resolved_at.is_some_and(|r| flag.created_at.as_str() <= r),
                flag,
            })
            .collect(),
        next: found.next,
    })
}

/// Resolves a post's open flags (moderator+): the post leaves the queue; an optional note is
/// stored as a moderator note in the same transaction. 409 if no flag is open.
pub async fn resolve_flags(
    db: &Db,
    pa: &PostAccess,
    input: NoteInput,
    now: DateTime<Utc>,
) -> Result<PostView> {
    pa.access.require(Action::Moderate)?;
    let note_text = optional_reason("note", input.note.as_deref())?;
    if pa.post.open_flag_count == 0 {
        return Err(Error::Conflict("the post has no open flags".into()));
    }
    let at = iso(now);
    let mut items = vec![tx_update(
        update(db, &keys::post(&pa.post.id))
            .update_expression(
                "SET open_flag_count = :zero, flags_resolved_at = :now, flags_resolved_by = :by \
                 REMOVE queued_at, GSI2PK, GSI2SK",
            )
            .condition_expression("open_flag_count > :zero AND #status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(&at))
            .expression_attribute_values(":by", s(pa.me()))
            .expression_attribute_values(":approved", s("approved")),
    )?];
    if let Some(text) = note_text {
        let note = Note::new(pa, text, &at);
        items.push(tx_put(
            db,
            to_item(&keys::post_note(&pa.post.id, &note.id), &note)?,
        )?);
    }
    match db.transact(items).await? {
        WriteOutcome::Done => {}
        WriteOutcome::ConditionFailed(_) => {
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

impl Note {
    fn new(pa: &PostAccess, note: String, at: &str) -> Self {
        Self {
            id: crate::ids::new_id(),
            post_id: pa.post.id.clone(),
            author_id: pa.me().to_string(),
            author_name: pa.access.principal.name.clone(),
            note,
            created_at: at.to_string(),
        }
    }
}

/// Adds a moderator note (moderator+), one PutItem.
pub async fn add_note(
    db: &Db,
    pa: &PostAccess,
    input: NoteInput,
    now: DateTime<Utc>,
) -> Result<Note> {
    pa.access.require(Action::Moderate)?;
    let text = required_reason("note", input.note.as_deref())?;
    let note = Note::new(pa, text, &iso(now));
    db.client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(to_item(
            &keys::post_note(&pa.post.id, &note.id),
            &note,
        )?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(sdk)?;
    Ok(note)
}

/// A post's moderator notes, oldest first (moderator+), one Query per page.
pub async fn notes(
    db: &Db,
    cursors: &Cursors,
    pa: &PostAccess,
    page: &PageParams,
) -> Result<Page<Note>> {
    pa.access.require(Action::Moderate)?;
    query_children(
        db,
        cursors,
        &pa.post.id,
        keys::POST_NOTE_PREFIX,
        "notes",
        page,
    )
    .await
}

// ---------------------------------------------------------------- queue

/// A post in the moderation queue, with why it is there.
#[derive(Debug, Serialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub post: PostView,
    /// `pending` and/or `flagged`.
    pub queue_reasons: Vec<&'static str>,
}

/// The community's pending and flagged posts, oldest first (moderator+): one Query on the sparse
/// GSI2 per page.
pub async fn queue(
    db: &Db,
    cursors: &Cursors,
    access: &Access,
    page: &PageParams,
) -> Result<Page<QueueEntry>> {
    access.require(Action::Moderate)?;
    let query = db
        .client
        .query()
        .table_name(&db.table)
        .index_name(GSI2)
        .key_condition_expression("GSI2PK = :pk")
        .expression_attribute_values(":pk", s(keys::moderation_pk(&access.community.id)))
        .scan_index_forward(true);
    let scope = format!("modq:{}", access.community.id);
    let posts: Page<Post> = crate::cursor::query_page(cursors, &scope, page, query).await?;
    Ok(posts.map(|post| {
        let mut reasons = Vec::new();
        if post.lane() == Lane::Pending {
            reasons.push("pending");
        }
        if post.open_flag_count > 0 {
            reasons.push("flagged");
        }
        QueueEntry {
            post: PostView::of(&post, access, None),
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
