//! The LMS's users (with their unique usernames), courses (each creating its community) and
//! enrollments.

use super::communities::{
    COMMUNITY_MISSING, MEMBER_EXISTS, community_item, member_item, role_update,
};
use super::db::{Db, TxOutcome, delete_of, n, owned_by, s, sdk, to_item, update_of};
use crate::error::Result;
use crate::keys;
use crate::model::{Community, CommunityRole, Course, Enrollment, Member, User};
use aws_sdk_dynamodb::types::Put;
use serde::Deserialize;

/// Condition names of this store's transactions.
pub const USERNAME_TAKEN: &str = "username";
pub const COURSE_EXISTS: &str = "course";
pub const COURSE_CHANGED: &str = "course_version";

pub async fn user(db: &Db, user_id: &str) -> Result<Option<User>> {
    db.get(&keys::user(user_id)).await
}

/// Writes a user and claims its username (unique, case-insensitive), releasing the old one.
/// `false` when the username belongs to another user (nothing is written).
pub async fn put_user(db: &Db, user: &User, previous: Option<&User>) -> Result<bool> {
    let mut tx = db.tx();
    tx.put(to_item(&keys::user(&user.user_id), user)?)?;
    tx.put_with(
        Some(USERNAME_TAKEN),
        Put::builder()
            .set_item(Some(to_item(
                &keys::username(&user.username),
                &serde_json::json!({ "user_id": user.user_id }),
            )?))
            .condition_expression("attribute_not_exists(PK) OR user_id = :me")
            .expression_attribute_values(":me", s(&user.user_id)),
    )?;
    if let Some(old) = previous.filter(|o| !o.username.eq_ignore_ascii_case(&user.username)) {
        tx.delete(None, delete_of(&keys::username(&old.username)))?;
    }
    Ok(db.run(tx).await? == TxOutcome::Done)
}

/// Resolves `@username` to a user id (mentions).
pub async fn user_id_by_username(db: &Db, username: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Claim {
        user_id: String,
    }
    Ok(db
        .get::<Claim>(&keys::username(username))
        .await?
        .map(|c| c.user_id))
}

pub async fn course(db: &Db, course_id: &str) -> Result<Option<Course>> {
    db.get(&keys::course(course_id)).await
}

/// Writes a new course, its community and its instructors' memberships in one transaction;
/// `false` if the course was created concurrently (nothing is written).
pub async fn create_course(
    db: &Db,
    course: &Course,
    community: &Community,
    instructors: &[Member],
) -> Result<bool> {
    let mut tx = db.tx();
    tx.put_new(
        COURSE_EXISTS,
        to_item(&keys::course(&course.course_id), course)?,
    )?;
    tx.put(community_item(community)?)?;
    for m in instructors {
        tx.put_new(MEMBER_EXISTS, member_item(m)?)?;
    }
    Ok(db.run(tx).await? == TxOutcome::Done)
}

/// How the course's instructors change, as the membership items stand.
pub struct InstructorChanges {
    /// New instructors who were not members: their membership is written.
    pub new_members: Vec<Member>,
    /// Members who become instructors, or former instructors who stay as members.
    pub role_changes: Vec<(String, CommunityRole)>,
}

/// Replaces the course (only if it is still the version `seen`), applies the instructors'
/// membership changes and the community's instructor list and count, in one transaction.
/// `false` if anything changed concurrently (nothing is written).
pub async fn update_course(
    db: &Db,
    course: &Course,
    seen: &str,
    changes: &InstructorChanges,
    now: &str,
) -> Result<bool> {
    let cid = &course.community_id;
    let mut tx = db.tx();
    tx.put_with(
        Some(COURSE_CHANGED),
        Put::builder()
            .set_item(Some(to_item(&keys::course(&course.course_id), course)?))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", s(seen)),
    )?;
    for m in &changes.new_members {
        tx.put_new(MEMBER_EXISTS, member_item(m)?)?;
    }
    for (user, role) in &changes.role_changes {
        tx.update(Some(MEMBER_EXISTS), role_update(cid, user, *role))?;
    }
    tx.update(
        Some(COMMUNITY_MISSING),
        update_of(&keys::community(cid))
            .update_expression("SET instructor_ids = :i, updated_at = :now ADD member_count :d")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(
                ":i",
                serde_dynamo::to_attribute_value(&course.instructor_ids)?,
            )
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":d", n(changes.new_members.len() as i64)),
    )?;
    Ok(db.run(tx).await? == TxOutcome::Done)
}

pub async fn enrollment(db: &Db, community_id: &str, user_id: &str) -> Result<Option<Enrollment>> {
    db.get(&keys::enrollment(community_id, user_id)).await
}

pub async fn put_enrollment(db: &Db, e: &Enrollment) -> Result<()> {
    db.put_item()
        .set_item(Some(owned_by(
            to_item(&keys::enrollment(&e.community_id, &e.user_id), e)?,
            &e.user_id,
        )))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Removes an enrollment (idempotent).
pub async fn delete_enrollment(db: &Db, community_id: &str, user_id: &str) -> Result<()> {
    db.delete_item(&keys::enrollment(community_id, user_id))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}
