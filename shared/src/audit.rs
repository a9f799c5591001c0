//! The moderation audit log (SPEC §9): every moderation action of a community (approve, reject,
//! pin, unpin, deleting another's content, endorse, staff's accept, duplicate, resolving flags,
//! role changes, member removal, archive) with its actor, target and time. Entries are written
//! with the action and never changed; the course's instructors and admins read them, newest
//! first.

pub use crate::model::audit::{AuditAction, AuditEntry, AuditTarget};

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::Result;
use crate::ids::Ids;
use crate::posts::Post;
use crate::store::{Db, audit as store};
use chrono::{DateTime, Utc};

impl AuditTarget {
    pub fn post(post: &Post) -> Self {
        Self {
            kind: "post".into(),
            id: post.id.clone(),
        }
    }

    pub fn user(user_id: &str) -> Self {
        Self {
            kind: "user".into(),
            id: user_id.into(),
        }
    }

    pub fn message(message_id: &str) -> Self {
        Self {
            kind: "message".into(),
            id: message_id.into(),
        }
    }

    pub fn community(community_id: &str) -> Self {
        Self {
            kind: "community".into(),
            id: community_id.into(),
        }
    }
}

impl From<&Post> for AuditTarget {
    fn from(post: &Post) -> Self {
        Self::post(post)
    }
}

/// The entry of `action` by the caller of `access` on `target`, with a new id.
pub fn entry(
    access: &Access,
    ids: &dyn Ids,
    action: AuditAction,
    target: impl Into<AuditTarget>,
    detail: Option<String>,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        id: ids.new_id(),
        community_id: access.community.id.clone(),
        action,
        actor_id: access.principal.user_id.clone(),
        actor_name: access.principal.name.clone(),
        target: target.into(),
        detail,
        created_at: crate::clock::iso(now),
    }
}

/// A page of a community's log, newest first (the course's instructors and admins): one Query.
#[tracing::instrument(skip_all, fields(community_id = %community_id, user_id = %principal.user_id))]
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    community_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<AuditEntry>> {
    let access = Access::load(db, principal, community_id, now).await?;
    list_with(db, cursors, &access, page).await
}

/// [`list`] with the caller's access loaded.
pub async fn list_with(
    db: &Db,
    cursors: &Cursors,
    access: &Access,
    page: &PageParams,
) -> Result<Page<AuditEntry>> {
    access.require(Action::ReadAudit)?;
    store::page(db, cursors, &access.community.id, page).await
}
