//! LMS sync: users, courses (each with its community, 1:1) and enrollments pushed by the LMS.
//! Every operation is an idempotent upsert: repeating one writes nothing.

use crate::auth::Principal;
use crate::communities::{Community, Visibility, community_item};
use crate::db::{Db, WriteOutcome, key_item, s, sdk, to_item};
use crate::error::{Error, FieldError, Result};
use crate::keys;
use crate::membership::{CommunityRole, Member, put_member};
use crate::validate;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_INSTRUCTORS: usize = 50;

fn require_admin(p: &Principal) -> Result<()> {
    if p.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("LMS sync requires an admin token".into()))
    }
}

// ---------------------------------------------------------------- users

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub username: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub name: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
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
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let (name, username) = (name.unwrap_or_default(), username.unwrap_or_default());
    let existing = db.get::<User>(&keys::user(user_id)).await?;
    if let Some(u) = &existing
        && u.name == name
        && u.username == username
        && u.avatar_url == avatar_url
    {
        return Ok((u.clone(), false));
    }
    let user = User {
        user_id: user_id.into(),
        name,
        username,
        avatar_url,
        updated_at: now.into(),
    };
    let claim = Put::builder()
        .table_name(&db.table)
        .set_item(Some(to_item(
            &keys::username(&user.username),
            &serde_json::json!({ "user_id": user_id }),
        )?))
        .condition_expression("attribute_not_exists(PK) OR user_id = :me")
        .expression_attribute_values(":me", s(user_id))
        .build()
        .map_err(Error::internal)?;
    let mut items = vec![
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&db.table)
                    .set_item(Some(to_item(&keys::user(user_id), &user)?))
                    .build()
                    .map_err(Error::internal)?,
            )
            .build(),
        TransactWriteItem::builder().put(claim).build(),
    ];
    if let Some(old) = existing
        .as_ref()
        .filter(|o| !o.username.eq_ignore_ascii_case(&user.username))
    {
        items.push(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&db.table)
                        .set_key(Some(key_item(&keys::username(&old.username))))
                        .build()
                        .map_err(Error::internal)?,
                )
                .build(),
        );
    }
    match db.transact(items).await? {
        WriteOutcome::Done => Ok((user, true)),
        WriteOutcome::ConditionFailed(_) => Err(Error::Conflict(format!(
            "username {} belongs to another user",
            user.username
        ))),
    }
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

// ---------------------------------------------------------------- courses

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub course_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub instructor_ids: Vec<String>,
    pub community_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub instructor_ids: Option<Vec<String>>,
}

/// Upserts a course; creates its community (with its instructors as members) the first time.
/// Answers the course and whether anything was written.
pub async fn upsert_course(
    db: &Db,
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
        if crate::ids::parse_external("instructor", id).is_err() {
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

    for _attempt in 0..4 {
        let existing = db.get::<Course>(&keys::course(course_id)).await?;
        let outcome = match &existing {
            None => create_course(db, course_id, &title, &description, &instructors, now).await?,
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
            return Ok((course, true));
        }
        // A concurrent upsert changed what we read: read again and redo.
    }
    Err(Error::Conflict(
        "the course is being changed concurrently, retry".into(),
    ))
}

fn instructor_member(community_id: &str, user_id: &str, now: &str) -> Member {
    Member {
        community_id: community_id.into(),
        user_id: user_id.into(),
        name: user_id.into(),
        username: None,
        role: CommunityRole::Instructor,
        joined_at: now.into(),
    }
}

async fn create_course(
    db: &Db,
    course_id: &str,
    title: &str,
    description: &str,
    instructors: &[String],
    now: &str,
) -> Result<Option<Course>> {
    let community_id = crate::ids::new_id();
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
        course_id: Some(course_id.into()),
        instructor_ids: instructors.to_vec(),
        member_count: instructors.len() as i64,
        post_count: 0,
        created_at: now.into(),
        updated_at: now.into(),
    };
    let mut items = vec![
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&db.table)
                    .set_item(Some(to_item(&keys::course(course_id), &course)?))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(Error::internal)?,
            )
            .build(),
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&db.table)
                    .set_item(Some(community_item(&community)?))
                    .build()
                    .map_err(Error::internal)?,
            )
            .build(),
    ];
    for i in instructors {
        items.push(
            TransactWriteItem::builder()
                .put(put_member(db, &instructor_member(&community_id, i, now))?)
                .build(),
        );
    }
    Ok(match db.transact(items).await? {
        WriteOutcome::Done => Some(course),
        WriteOutcome::ConditionFailed(_) => None,
    })
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
    let current = db
        .get_many(
            &added
                .iter()
                .map(|u| keys::member(cid, u))
                .collect::<Vec<_>>(),
        )
        .await?;
    let course = Course {
        title: title.into(),
        description: description.into(),
        instructor_ids: instructors.to_vec(),
        updated_at: now.into(),
        ..old.clone()
    };
    // The course item is replaced only if it is still the version we read.
    let mut items = vec![
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&db.table)
                    .set_item(Some(to_item(&keys::course(&old.course_id), &course)?))
                    .condition_expression("updated_at = :seen")
                    .expression_attribute_values(":seen", s(&old.updated_at))
                    .build()
                    .map_err(Error::internal)?,
            )
            .build(),
    ];
    let mut new_members = 0i64;
    let role_update = |user: &str, role: CommunityRole| {
        Update::builder()
            .table_name(&db.table)
            .set_key(Some(key_item(&keys::member(cid, user))))
            .update_expression("SET #r = :r")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#r", "role")
            .expression_attribute_values(":r", s(crate::membership::role_str(role)))
            .build()
            .map_err(Error::internal)
    };
    for (user, existing) in added.iter().zip(current) {
        let item = if existing.is_some() {
            TransactWriteItem::builder()
                .update(role_update(user, CommunityRole::Instructor)?)
                .build()
        } else {
            new_members += 1;
            TransactWriteItem::builder()
                .put(put_member(db, &instructor_member(cid, user, now))?)
                .build()
        };
        items.push(item);
    }
    // Former instructors stay in the community as plain members.
    let removed_members = db
        .get_many(
            &removed
                .iter()
                .map(|u| keys::member(cid, u))
                .collect::<Vec<_>>(),
        )
        .await?;
    for (user, existing) in removed.iter().zip(removed_members) {
        if existing.is_some() {
            items.push(
                TransactWriteItem::builder()
                    .update(role_update(user, CommunityRole::Member)?)
                    .build(),
            );
        }
    }
    items.push(
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&db.table)
                    .set_key(Some(key_item(&keys::community(cid))))
                    .update_expression(
                        "SET instructor_ids = :i, updated_at = :now ADD member_count :d",
                    )
                    .condition_expression("attribute_exists(PK)")
                    .expression_attribute_values(
                        ":i",
                        serde_dynamo::to_attribute_value(instructors)?,
                    )
                    .expression_attribute_values(":now", s(now))
                    .expression_attribute_values(":d", crate::db::n(new_members))
                    .build()
                    .map_err(Error::internal)?,
            )
            .build(),
    );
    Ok(match db.transact(items).await? {
        WriteOutcome::Done => Some(course),
        WriteOutcome::ConditionFailed(_) => None,
    })
}

// ---------------------------------------------------------------- enrollments

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub course_id: String,
    pub community_id: String,
    pub user_id: String,
    pub is_active: bool,
    #[serde(default)]
    pub expiry_date: Option<String>,
    pub updated_at: String,
}

impl Enrollment {
    /// Active and not yet expired at `now`.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.is_active
            && match &self.expiry_date {
                None => true,
                Some(d) => DateTime::parse_from_rfc3339(d).is_ok_and(|d| d > now),
            }
    }
}

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
    let course = db
        .get::<Course>(&keys::course(course_id))
        .await?
        .ok_or(Error::NotFound("course"))?;
    let key = keys::enrollment(&course.community_id, user_id);
    let existing = db.get::<Enrollment>(&key).await?;
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
    db.client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(to_item(&key, &enrollment)?))
        .send()
        .await
        .map_err(sdk)?;
    Ok((enrollment, true))
}

/// Removes an enrollment; access ends with it. Idempotent.
pub async fn delete_enrollment(
    db: &Db,
    principal: &Principal,
    course_id: &str,
    user_id: &str,
) -> Result<()> {
    require_admin(principal)?;
    let course = db
        .get::<Course>(&keys::course(course_id))
        .await?
        .ok_or(Error::NotFound("course"))?;
    db.client
        .delete_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::enrollment(
            &course.community_id,
            user_id,
        ))))
        .send()
        .await
        .map_err(sdk)?;
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
