//! LMS sync: users, courses (each with its community, 1:1) and enrollments pushed by the LMS.
//! Every operation is an idempotent upsert: repeating one writes nothing.

use crate::access::{PlatformAction, require_platform};
use crate::auth::Principal;
use crate::connections::use_cases::refresh_access;
use crate::error::{Error, FieldError, Result};
use crate::ids::Ids;
use crate::model::{Community, CommunityRole, Member, Visibility};
use crate::store::{Db, lms as store};
use crate::validate;
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub use crate::model::{Course, Enrollment, User};

pub const MAX_INSTRUCTORS: usize = 50;

fn require_admin(p: &Principal) -> Result<()> {
    require_platform(p, PlatformAction::SyncLms)
}

// ---------------------------------------------------------------- users

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
    /// The address email notifications go to (absent: no email is sent to this user).
    pub email: Option<String>,
}

fn parse_username(errors: &mut Vec<FieldError>, raw: Option<&str>) -> Option<String> {
    let u = validate::text(errors, "username", raw, 64)?;
    if u.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        Some(u)
    } else {
        errors.push(FieldError::new(
            "username",
            "may contain only letters, digits, '_', '.' and '-'",
        ));
        None
    }
}

/// Upserts a user; the username is unique (case-insensitive). Answers the user and whether it
/// was written (`false` when nothing changed).
pub async fn upsert_user(
    db: &Db,
    principal: &Principal,
    user_id: &str,
    input: UserInput,
    now: &str,
) -> Result<(User, bool)> {
    require_admin(principal)?;
    let mut errors = Vec::new();
    let name = validate::text(
        &mut errors,
        "name",
        input.name.as_deref(),
        validate::MAX_NAME,
    );
    let username = parse_username(&mut errors, input.username.as_deref());
    let avatar_url =
        validate::optional_text(&mut errors, "avatar_url", input.avatar_url.as_deref(), 2048)
            .filter(|u| !u.is_empty());
    let email = input
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .and_then(|e| match validate::email_address(e) {
            Ok(()) => Some(e.to_string()),
            Err(why) => {
                errors.push(FieldError::new("email", why));
                None
            }
        });
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let (name, username) = (name.unwrap_or_default(), username.unwrap_or_default());
    let existing = store::user(db, user_id).await?;
    if let Some(u) = &existing
        && u.name == name
        && u.username == username
        && u.avatar_url == avatar_url
        && u.email == email
    {
        return Ok((u.clone(), false));
    }
    let user = User {
        user_id: user_id.into(),
        name,
        username,
        avatar_url,
        email,
        updated_at: now.into(),
    };
    if store::put_user(db, &user, existing.as_ref()).await? {
        Ok((user, true))
    } else {
        Err(Error::Conflict(format!(
            "username {} belongs to another user",
            user.username
        )))
    }
}

/// The address the LMS gave for a user, if any.
pub async fn email_of(db: &Db, user_id: &str) -> Result<Option<String>> {
    Ok(store::user(db, user_id).await?.and_then(|u| u.email))
}

/// Resolves `@username` to a user id (mentions).
pub async fn user_id_by_username(db: &Db, username: &str) -> Result<Option<String>> {
    store::user_id_by_username(db, username).await
}

// ---------------------------------------------------------------- courses

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub instructor_ids: Option<Vec<String>>,
    /// Archives (or unarchives) the course's community: read-only for everyone but admins.
    #[serde(default)]
    pub is_archived: Option<bool>,
}

/// Upserts a course; creates its community (with its instructors as members) the first time.
/// Answers the course and whether anything was written. `is_archived`, when given, archives or
/// unarchives its community (logged in its audit log with the LMS's admin as the actor).
#[tracing::instrument(skip_all, fields(course_id))]
pub async fn upsert_course(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    course_id: &str,
    input: CourseInput,
    now: &str,
) -> Result<(Course, bool)> {
    require_admin(principal)?;
    let mut errors = Vec::new();
    let title = validate::text(
        &mut errors,
        "title",
        input.title.as_deref(),
        validate::MAX_NAME,
    );
    let description = validate::optional_text(
        &mut errors,
        "description",
        input.description.as_deref(),
        validate::MAX_DESCRIPTION,
    )
    .unwrap_or_default();
    let mut instructors = input.instructor_ids.unwrap_or_default();
    instructors.sort();
    instructors.dedup();
    if instructors.len() > MAX_INSTRUCTORS {
        errors.push(FieldError::new(
            "instructor_ids",
            format!("at most {MAX_INSTRUCTORS} instructors"),
        ));
    }
    for id in &instructors {
        if crate::ids::parse_user_id(id).is_err() {
            errors.push(FieldError::new(
                "instructor_ids",
                format!("invalid user id {id:.40}"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let title = title.unwrap_or_default();
    let (course, written) =
        upsert_course_record(db, ids, course_id, &title, &description, &instructors, now).await?;
    let archived = match input.is_archived {
        Some(a) => set_archived(db, ids, principal, &course.community_id, a, now).await?,
        None => false,
    };
    Ok((course, written || archived))
}

/// Archives or unarchives a community for the LMS (one GetItem; one UpdateItem and the audit
/// entry's PutItem when it changes). Answers whether it changed.
async fn set_archived(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    community_id: &str,
    archived: bool,
    now: &str,
) -> Result<bool> {
    let Some(c) = crate::store::communities::community(db, community_id).await? else {
        return Err(Error::NotFound("community"));
    };
    if c.is_archived == archived {
        return Ok(false);
    }
    crate::store::communities::update_community(
        db,
        community_id,
        crate::store::communities::CommunityChanges {
            is_archived: Some(archived),
            ..Default::default()
        },
        now,
    )
    .await?;
    let entry = crate::audit::AuditEntry {
        id: ids.new_id(),
        community_id: community_id.into(),
        action: if archived {
            crate::audit::AuditAction::Archive
        } else {
            crate::audit::AuditAction::Unarchive
        },
        actor_id: principal.user_id.clone(),
        actor_name: principal.name.clone(),
        target: crate::audit::AuditTarget::community(community_id),
        detail: Some("by the LMS course sync".into()),
        created_at: now.into(),
    };
    crate::store::audit::put(db, &entry).await?;
    Ok(true)
}

async fn upsert_course_record(
    db: &Db,
    ids: &dyn Ids,
    course_id: &str,
    title: &str,
    description: &str,
    instructors: &[String],
    now: &str,
) -> Result<(Course, bool)> {
    let (title, description) = (title.to_string(), description.to_string());
    let instructors = instructors.to_vec();
    for _attempt in 0..4 {
        let existing = store::course(db, course_id).await?;
        let outcome = match &existing {
            None => {
                create_course(db, ids, course_id, &title, &description, &instructors, now).await?
            }
            Some(c)
                if c.title == title
                    && c.description == description
                    && c.instructor_ids == instructors =>
            {
                return Ok((c.clone(), false));
            }
            Some(c) => update_course(db, c, &title, &description, &instructors, now).await?,
        };
        if let Some(course) = outcome {
            // Instructors added or removed: their open subscriptions follow their access.
            if let Some(old) = &existing {
                let at = crate::clock::parse_iso(now)?;
                for user in old
                    .instructor_ids
                    .iter()
                    .filter(|i| !instructors.contains(i))
                {
                    refresh_access(db, &course.community_id, user, at).await?;
                }
                for user in instructors
                    .iter()
                    .filter(|i| !old.instructor_ids.contains(i))
                {
                    refresh_access(db, &course.community_id, user, at).await?;
                }
            }
            return Ok((course, true));
        }
        // A concurrent upsert changed what we read: read again and redo.
    }
    Err(Error::Conflict(
        "the course is being changed concurrently, retry".into(),
    ))
}

async fn create_course(
    db: &Db,
    ids: &dyn Ids,
    course_id: &str,
    title: &str,
    description: &str,
    instructors: &[String],
    now: &str,
) -> Result<Option<Course>> {
    let community_id = ids.new_id();
    let course = Course {
        course_id: course_id.into(),
        title: title.into(),
        description: description.into(),
        instructor_ids: instructors.to_vec(),
        community_id: community_id.clone(),
        created_at: now.into(),
        updated_at: now.into(),
    };
    let community = Community {
        id: community_id.clone(),
        title: title.into(),
        description: description.into(),
        visibility: Visibility::Public,
        banner_image: None,
        require_post_approval: false,
        student_dms: true,
        course_id: Some(course_id.into()),
        instructor_ids: instructors.to_vec(),
        member_count: instructors.len() as i64,
        post_count: 0,
        created_at: now.into(),
        updated_at: now.into(),
        ..Default::default()
    };
    let members: Vec<Member> = instructors
        .iter()
        .map(|i| Member::instructor(&community_id, i, now))
        .collect();
    Ok(store::create_course(db, &course, &community, &members)
        .await?
        .then_some(course))
}

async fn update_course(
    db: &Db,
    old: &Course,
    title: &str,
    description: &str,
    instructors: &[String],
    now: &str,
) -> Result<Option<Course>> {
    let cid = &old.community_id;
    let added: Vec<&String> = instructors
        .iter()
        .filter(|i| !old.instructor_ids.contains(i))
        .collect();
    let removed: Vec<&String> = old
        .instructor_ids
        .iter()
        .filter(|i| !instructors.contains(i))
        .collect();
    let added_ids: Vec<&str> = added.iter().map(|u| u.as_str()).collect();
    let removed_ids: Vec<&str> = removed.iter().map(|u| u.as_str()).collect();
    let current = crate::store::communities::members(db, cid, &added_ids).await?;
    let removed_members = crate::store::communities::members(db, cid, &removed_ids).await?;
    let course = Course {
        title: title.into(),
        description: description.into(),
        instructor_ids: instructors.to_vec(),
        updated_at: now.into(),
        ..old.clone()
    };
    let mut changes = store::InstructorChanges {
        new_members: Vec::new(),
        role_changes: Vec::new(),
    };
    for (user, existing) in added.iter().zip(current) {
        if existing.is_some() {
            changes
                .role_changes
                .push((user.to_string(), CommunityRole::Instructor));
        } else {
            changes.new_members.push(Member::instructor(cid, user, now));
        }
    }
    // Former instructors stay in the community as plain members.
    for (user, existing) in removed.iter().zip(removed_members) {
        if existing.is_some() {
            changes
                .role_changes
                .push((user.to_string(), CommunityRole::Member));
        }
    }
    // The course item is replaced only if it is still the version we read.
    Ok(
        store::update_course(db, &course, &old.updated_at, &changes, now)
            .await?
            .then_some(course),
    )
}

// ---------------------------------------------------------------- enrollments

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInput {
    pub is_active: Option<bool>,
    /// ISO-8601 date-time, or a date (`YYYY-MM-DD`, meaning the end of that day UTC), or null.
    #[serde(default)]
    pub expiry_date: Option<String>,
}

/// The expiry as stored: a UTC instant in a year RFC 3339 can write (1 to 9999), else nothing.
fn parse_expiry(raw: &str) -> Option<String> {
    use chrono::Datelike;
    let t = match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(23, 59, 59)?
            .and_utc(),
    };
    (1..=9999).contains(&t.year()).then(|| crate::clock::iso(t))
}

/// Upserts an enrollment in a known course.
pub async fn upsert_enrollment(
    db: &Db,
    principal: &Principal,
    course_id: &str,
    user_id: &str,
    input: EnrollmentInput,
    now: &str,
) -> Result<(Enrollment, bool)> {
    require_admin(principal)?;
    let mut errors = Vec::new();
    if input.is_active.is_none() {
        errors.push(FieldError::new("is_active", "is required"));
    }
    let expiry = match input.expiry_date.as_deref() {
        None => None,
        Some(raw) => match parse_expiry(raw) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new(
                    "expiry_date",
                    "must be an ISO-8601 date or date-time, or null",
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let course = store::course(db, course_id)
        .await?
        .ok_or(Error::NotFound("course"))?;
    let existing = store::enrollment(db, &course.community_id, user_id).await?;
    let enrollment = Enrollment {
        course_id: course_id.into(),
        community_id: course.community_id.clone(),
        user_id: user_id.into(),
        is_active: input.is_active.unwrap_or(false),
        expiry_date: expiry,
        updated_at: now.into(),
    };
    if let Some(e) = existing
        && e.is_active == enrollment.is_active
        && e.expiry_date == enrollment.expiry_date
    {
        return Ok((e, false));
    }
    store::put_enrollment(db, &enrollment).await?;
    // Open subscriptions follow the enrollment: a new expiry, or no access any more.
    refresh_access(
        db,
        &course.community_id,
        user_id,
        crate::clock::parse_iso(now)?,
    )
    .await?;
    Ok((enrollment, true))
}

/// Removes an enrollment; access ends with it. Idempotent.
pub async fn delete_enrollment(
    db: &Db,
    principal: &Principal,
    course_id: &str,
    user_id: &str,
    now: &str,
) -> Result<()> {
    require_admin(principal)?;
    let course = store::course(db, course_id)
        .await?
        .ok_or(Error::NotFound("course"))?;
    store::delete_enrollment(db, &course.community_id, user_id).await?;
    refresh_access(
        db,
        &course.community_id,
        user_id,
        crate::clock::parse_iso(now)?,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_dates_and_date_times() {
        assert_eq!(
            parse_expiry("2030-01-02").unwrap(),
            "2030-01-02T23:59:59.000Z"
        );
        assert_eq!(
            parse_expiry("2030-01-02T10:00:00+02:00").unwrap(),
            "2030-01-02T08:00:00.000Z"
        );
        assert!(parse_expiry("tomorrow").is_none());
        assert!(parse_expiry("-1-1-1").is_none());
        assert!(parse_expiry("+10000-01-01").is_none());
        assert!(parse_expiry("0001-01-01T00:30:00+01:00").is_none());
    }

    proptest::proptest! {
        #[test]
        fn when_an_expiry_or_username_is_any_string_it_parses_to_a_canonical_value_or_nothing(
            raw in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[0-9+-]{0,7}-[0-9]{1,2}-[0-9]{1,2}(T[0-9:.]{0,15}(Z|[+-][0-9]{2}:[0-9]{2})?)?",
            ]
        ) {
            if let Some(t) = parse_expiry(&raw) {
                proptest::prop_assert!(DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
                proptest::prop_assert_eq!(parse_expiry(&t), Some(t.clone()));
            }
            let mut errors = Vec::new();
            match parse_username(&mut errors, Some(&raw)) {
                Some(u) => {
                    proptest::prop_assert!(errors.is_empty());
                    proptest::prop_assert!(!u.is_empty() && u.len() <= 64);
                }
                None => proptest::prop_assert!(!errors.is_empty()),
            }
        }
    }

    #[test]
    fn an_enrollment_is_current_until_its_expiry() {
        let now = Utc::now();
        let mut e = Enrollment {
            course_id: "c".into(),
            community_id: "x".into(),
            user_id: "u".into(),
            is_active: true,
            expiry_date: Some(crate::clock::iso(now + chrono::Duration::seconds(5))),
            updated_at: String::new(),
        };
        assert!(e.is_current(now));
        assert!(!e.is_current(now + chrono::Duration::seconds(6)));
        e.expiry_date = None;
        assert!(e.is_current(now));
        e.is_active = false;
        assert!(!e.is_current(now));
    }
}
