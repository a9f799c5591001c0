//! Membership: joining, leaving, roles and the member list; `member_count` kept exact by
//! writing the membership and the counter in one transaction. A change of someone's membership
//! then refreshes their open subscriptions in the community
//! ([`crate::connections::use_cases::refresh_access`]).

use crate::access::{Access, Action};
use crate::connections::use_cases::refresh_access;
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::store::{Db, communities as store};

pub use crate::model::{CommunityRole, Member};

/// Joins the caller; answers the membership and whether it was created now.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn join(db: &Db, access: &Access, now: &str) -> Result<(Member, bool)> {
    access.require(Action::Join)?;
    if let Some(m) = &access.membership {
        return Ok((m.clone(), false));
    }
    let role = if access.principal.role == crate::auth::Role::Instructor
        && access
            .community
            .instructor_ids
            .contains(&access.principal.user_id)
    {
        CommunityRole::Instructor
    } else {
        CommunityRole::Member
    };
    let m = Member::new(&access.community.id, &access.principal, role, now);
    match store::insert_member(db, &m).await? {
        store::Joined::New => Ok((m, true)),
        // A concurrent join of the same user won: answer the stored membership.
        store::Joined::Already(stored) => Ok((stored, false)),
        store::Joined::CommunityGone => Err(Error::NotFound("community")),
    }
}

/// The caller leaves; course instructors cannot leave their own course's community.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn leave(db: &Db, access: &Access) -> Result<()> {
    if access
        .community
        .instructor_ids
        .contains(&access.principal.user_id)
    {
        return Err(Error::Conflict(
            "course instructors stay in their course's community".into(),
        ));
    }
    if access.membership.is_none() {
        return Err(Error::Conflict(
            "you are not a member of this community".into(),
        ));
    }
    if store::delete_member(db, &access.community.id, &access.principal.user_id).await? {
        refresh_access(
            db,
            &access.community.id,
            &access.principal.user_id,
            access.now,
        )
        .await?;
        Ok(())
    } else {
        Err(Error::Conflict(
            "you are not a member of this community".into(),
        ))
    }
}

/// Lists members, one Query per page.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    access: &Access,
    page: &PageParams,
) -> Result<Page<Member>> {
    access.require(Action::Read)?;
    store::members_page(db, cursors, &access.community.id, page).await
}

/// Changes a member's role (instructor+); course instructors' roles belong to the LMS.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn set_role(
    db: &Db,
    ids: &dyn crate::ids::Ids,
    access: &Access,
    user_id: &str,
    role: Result<CommunityRole>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Member> {
    access.require(Action::ManageMembers)?;
    let role = role?;
    if role == CommunityRole::Instructor {
        access.require(Action::AssignInstructor)?;
    }
    if access.community.instructor_ids.iter().any(|i| i == user_id) {
        return Err(Error::Conflict(
            "a course instructor's role is set by the LMS".into(),
        ));
    }
    let member = store::set_role(db, &access.community.id, user_id, role)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let entry = crate::audit::entry(
        access,
        ids,
        crate::audit::AuditAction::RoleChange,
        crate::audit::AuditTarget::user(user_id),
        Some(format!("role {}", role.as_str())),
        now,
    );
    crate::store::audit::put(db, &entry).await?;
    refresh_access(db, &access.community.id, user_id, access.now).await?;
    Ok(member)
}

/// Removes another member (instructor+).
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn remove_member(
    db: &Db,
    ids: &dyn crate::ids::Ids,
    access: &Access,
    user_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    access.require(Action::ManageMembers)?;
    if access.community.instructor_ids.iter().any(|i| i == user_id) {
        return Err(Error::Conflict(
            "a course instructor's membership is set by the LMS".into(),
        ));
    }
    if !store::delete_member(db, &access.community.id, user_id).await? {
        return Err(Error::NotFound("member"));
    }
    refresh_access(db, &access.community.id, user_id, access.now).await?;
    let entry = crate::audit::entry(
        access,
        ids,
        crate::audit::AuditAction::RemoveMember,
        crate::audit::AuditTarget::user(user_id),
        None,
        now,
    );
    crate::store::audit::put(db, &entry).await
}
