//! Questions and answers (SPEC §9): a question's direct replies are its answers; its author or
//! staff accept one (accepting another moves the mark), moderators endorse any post, the author
//! or staff resolve it, moderators close it as a duplicate of another post of the community.
//! A question is answered once an accepted or a staff-endorsed answer exists, or staff answered.
//!
//! Accepting, endorsing and closing as a duplicate notify the author of the answer or question
//! (never the actor), in the same transaction as the change; staff's accepting for someone
//! else's question, endorsing and duplicates are written to the audit log with it.

use super::{PostAccess, PostEvent, PostKind, PostView, fetch, load};
use crate::access::Action;
use crate::audit::{self, AuditAction};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::{Ids, parse_ulid};
use crate::notifications::jobs::Job;
use crate::store::answers::{self as store, Changed};
use chrono::{DateTime, Utc};
use serde::Deserialize;

fn stale() -> Error {
    Error::Conflict("the post changed meanwhile, retry".into())
}

fn live(pa: &PostAccess) -> Result<()> {
    if pa.post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    if !pa.post.is_published() {
        return Err(Error::Conflict(
            "the post is not published (pending or rejected)".into(),
        ));
    }
    Ok(())
}

/// Endorses (or takes back the endorsement of) a post or reply (moderator+). Endorsing an
/// answer notifies its author; both directions are logged.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn endorse(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    endorsed: bool,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Endorse)?;
    live(&pa)?;
    let mut post = pa.post.clone();
    if post.is_endorsed == endorsed {
        return Ok(PostView::of(&post, &pa.access, None));
    }
    post.is_endorsed = endorsed;
    post.endorsed_by = endorsed.then(|| pa.me().to_string());
    let job = endorsed
        .then(|| {
            Job::of_post_event(
                &PostEvent::Endorsed {
                    post: post.clone(),
                    by: pa.me().to_string(),
                },
                now,
                ids,
            )
        })
        .flatten();
    let action = if endorsed {
        AuditAction::Endorse
    } else {
        AuditAction::Unendorse
    };
    let entry = audit::entry(&pa.access, ids, action, &post, None, now);
    match store::endorse(db, &pa.post, endorsed, pa.me(), job.as_ref(), Some(&entry)).await? {
        Changed::Done => Ok(PostView::of(&post, &pa.access, None)),
        Changed::Stale => Err(stale()),
    }
}

/// The question an answer answers, with the caller's right to accept for it: its author (while
/// they may post here) or staff.
async fn question_of(db: &Db, pa: &PostAccess) -> Result<super::Post> {
    if !pa.post.is_answer() {
        return Err(Error::Conflict(
            "only a direct reply to a question (an answer) can be accepted".into(),
        ));
    }
    let question = fetch(db, &pa.post.root_id)
        .await?
        .filter(|q| q.visible_to(&pa.access))
        .ok_or(Error::NotFound("question"))?;
    let own = question.author_id == pa.access.principal.user_id;
    if own {
        pa.access.require_write(Action::Post)?;
    } else if pa.access.is_staff() {
        pa.access.require_write(Action::Endorse)?;
    } else {
        return Err(Error::Forbidden(
            "only the question's author or staff may accept an answer".into(),
        ));
    }
    if question.is_deleted {
        return Err(Error::Conflict("the question is deleted".into()));
    }
    Ok(question)
}

/// Accepts an answer (the question's author or staff), moving the mark from another one; with
/// `accepted: false`, takes the acceptance of this answer back. Accepting notifies the
/// answer's author.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn accept(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    accepted: bool,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    let question = question_of(db, &pa).await?;
    live(&pa)?;
    let mut answer = pa.post.clone();
    let is_current = question.accepted_answer_id.as_deref() == Some(answer.id.as_str());
    if is_current == accepted {
        answer.is_accepted = accepted;
        return Ok(PostView::of(&answer, &pa.access, None));
    }
    answer.is_accepted = accepted;
    let own = question.author_id == pa.access.principal.user_id;
    let job = accepted
        .then(|| {
            Job::of_post_event(
                &PostEvent::Accepted {
                    post: answer.clone(),
                    by: pa.me().to_string(),
                },
                now,
                ids,
            )
        })
        .flatten()
        .map(|mut j| {
            j.anonymous_actor = own && question.anonymous;
            j
        });
    let entry = (!own).then(|| {
        let action = if accepted {
            AuditAction::Accept
        } else {
            AuditAction::Unaccept
        };
        audit::entry(&pa.access, ids, action, &answer, None, now)
    });
    let chosen = accepted.then_some(&pa.post);
    match store::accept(db, &question, chosen, job.as_ref(), entry.as_ref()).await? {
        Changed::Done => Ok(PostView::of(&answer, &pa.access, None)),
        Changed::Stale => Err(stale()),
    }
}

/// Marks a question resolved or open again (its author or staff).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn resolve(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    resolved: bool,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    if pa.is_author() {
        pa.access.require_write(Action::Post)?;
    } else if pa.access.is_staff() {
        pa.access.require_write(Action::Endorse)?;
    } else {
        return Err(Error::Forbidden(
            "only the question's author or staff may resolve it".into(),
        ));
    }
    if pa.post.kind != PostKind::Question || pa.post.is_reply() {
        return Err(Error::Conflict("only questions are resolved".into()));
    }
    if pa.post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    let mut post = pa.post.clone();
    post.is_resolved = resolved;
    match store::resolve(db, &pa.post, resolved).await? {
        Changed::Done => Ok(PostView::of(&post, &pa.access, None)),
        Changed::Stale => Err(Error::Conflict("the post is deleted".into())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateInput {
    /// The post this question duplicates.
    pub of: Option<String>,
}

/// Closes a question as a duplicate of another post of the same community (moderator+): it
/// shows `duplicate_of`, takes no new answers, and its author is told. The body is judged
/// after the caller's right (SPEC §8).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn duplicate(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    input: Result<DuplicateInput>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Endorse)?;
    let input = input?;
    let of = match input.of.as_deref() {
        None => return Err(Error::validation("of", "is required")),
        Some(raw) => {
            parse_ulid("of", raw).map_err(|_| Error::validation("of", "is not a valid id"))?
        }
    };
    if of == pa.post.id {
        return Err(Error::validation("of", "a post cannot duplicate itself"));
    }
    if pa.post.kind != PostKind::Question || pa.post.is_reply() {
        return Err(Error::Conflict(
            "only questions are closed as duplicates".into(),
        ));
    }
    live(&pa)?;
    if pa.post.duplicate_of.is_some() {
        return Err(Error::Conflict(
            "the question is already closed as a duplicate".into(),
        ));
    }
    let original = fetch(db, &of)
        .await?
        .filter(|o| {
            o.community_id == pa.post.community_id
                && !o.is_reply()
                && o.is_published()
                && o.visible_to(&pa.access)
        })
        .ok_or_else(|| Error::validation("of", "no such post in this community"))?;
    let mut post = pa.post.clone();
    post.duplicate_of = Some(original.id.clone());
    let job = Job::of_post_event(
        &PostEvent::Duplicated {
            post: post.clone(),
            by: pa.me().to_string(),
            of: original.id.clone(),
        },
        now,
        ids,
    );
    let entry = audit::entry(
        &pa.access,
        ids,
        AuditAction::Duplicate,
        &post,
        Some(format!("duplicate of {}", original.id)),
        now,
    );
    match store::duplicate(db, &pa.post, &original, job.as_ref(), Some(&entry)).await? {
        Changed::Done => Ok(PostView::of(&post, &pa.access, None)),
        Changed::Stale => Err(stale()),
    }
}
