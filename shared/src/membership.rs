//! Membership: joining, leaving, roles and the member list; `member_count` kept exact by
//! writing the membership and the counter in one transaction.

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::cursor::Cursors;
use crate::db::{Db, WriteOutcome, from_item, key_item, n, s, sdk, to_item, with_gsi};
use crate::error::{Error, Result};
use crate::http::{Page, PageParams};
use crate::keys::{self, GSI1};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommunityRole {
    Member,
    Moderator,
    Instructor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub community_id: String,
    pub user_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub role: CommunityRole,
    pub joined_at: String,
}

impl Member {
    pub fn new(community_id: &str, p: &Principal, role: CommunityRole, now: &str) -> Self {
        Self {
            community_id: community_id.into(),
            user_id: p.user_id.clone(),
            name: p.name.clone(),
            username: p.username.clone(),
            role,
            joined_at: now.into(),
        }
    }
}

/// The membership item with its index keys.
pub fn put_member(db: &Db, m: &Member) -> Result<Put> {
    let item = to_item(&keys::member(&m.community_id, &m.user_id), m)?;
    let item = with_gsi(
        item,
        GSI1,
        &keys::membership_by_user(&m.user_id, &m.community_id),
    );
    Put::builder()
        .table_name(&db.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(Error::internal)
}

/// `ADD member_count :delta` on the community, which must exist.
pub fn bump_members(db: &Db, community_id: &str, delta: i64) -> Result<Update> {
    Update::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::community(community_id))))
        .update_expression("ADD member_count :d")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":d", n(delta))
        .build()
        .map_err(Error::internal)
}

/// Joins the caller; answers the membership and whether it was created now.
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
    let outcome = db
        .transact(vec![
            TransactWriteItem::builder()
                .put(put_member(db, &m)?)
                .build(),
            TransactWriteItem::builder()
                .update(bump_members(db, &m.community_id, 1)?)
                .build(),
        ])
        .await?;
    match outcome {
        WriteOutcome::Done => Ok((m, true)),
        // A concurrent join of the same user won: answer the stored membership.
        WriteOutcome::ConditionFailed(_) => {
            let stored = db
                .get::<Member>(&keys::member(&m.community_id, &m.user_id))
                .await?
                .ok_or(Error::NotFound("community"))?;
            Ok((stored, false))
        }
    }
}

/// Removes a membership and decrements the count in one transaction; `false` if there was none.
pub async fn remove(db: &Db, community_id: &str, user_id: &str) -> Result<bool> {
    let delete = Delete::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::member(community_id, user_id))))
        .condition_expression("attribute_exists(PK)")
        .build()
        .map_err(Error::internal)?;
    let outcome = db
        .transact(vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder()
                .update(bump_members(db, community_id, -1)?)
                .build(),
        ])
        .await?;
    Ok(outcome == WriteOutcome::Done)
}

/// The caller leaves; course instructors cannot leave their own course's community.
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
    if remove(db, &access.community.id, &access.principal.user_id).await? {
        Ok(())
    } else {
        Err(Error::Conflict(
            "you are not a member of this community".into(),
        ))
    }
}

/// Lists members, one Query per page.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    community_id: &str,
    page: &PageParams,
) -> Result<Page<Member>> {
    let query = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(":pk", s(format!("COMMUNITY#{community_id}")))
        .expression_attribute_values(":sk", s(keys::MEMBER_PREFIX));
    crate::cursor::query_page(cursors, &format!("members:{community_id}"), page, query).await
}

/// Changes a member's role (instructor+); course instructors' roles belong to the LMS.
pub async fn set_role(
    db: &Db,
    access: &Access,
    user_id: &str,
    role: CommunityRole,
) -> Result<Member> {
    access.require(Action::ManageMembers)?;
    if role == CommunityRole::Instructor && !access.principal.is_admin() {
        return Err(Error::Forbidden(
            "only admins may make a member an instructor".into(),
        ));
    }
    if access.community.instructor_ids.iter().any(|i| i == user_id) {
        return Err(Error::Conflict(
            "a course instructor's role is set by the LMS".into(),
        ));
    }
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::member(&access.community.id, user_id))))
        .update_expression("SET #r = :r")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#r", "role")
        .expression_attribute_values(":r", s(role_str(role)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(o) => from_item(o.attributes.unwrap_or_default()),
        Err(e) if crate::db::is_condition_failed(&e) => Err(Error::NotFound("member")),
        Err(e) => Err(sdk(e)),
    }
}

/// Removes another member (instructor+).
pub async fn remove_member(db: &Db, access: &Access, user_id: &str) -> Result<()> {
    access.require(Action::ManageMembers)?;
    if access.community.instructor_ids.iter().any(|i| i == user_id) {
        return Err(Error::Conflict(
            "a course instructor's membership is set by the LMS".into(),
        ));
    }
    if remove(db, &access.community.id, user_id).await? {
        Ok(())
    } else {
        Err(Error::NotFound("member"))
    }
}

pub fn role_str(role: CommunityRole) -> &'static str {
    match role {
        CommunityRole::Member => "member",
        CommunityRole::Moderator => "moderator",
        CommunityRole::Instructor => "instructor",
    }
}

/// Ids of the communities a user belongs to (GSI1), newest first is not needed: id order.
pub async fn communities_of(db: &Db, user_id: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let out = db
            .client
            .query()
            .table_name(&db.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(format!("USER#{user_id}#COMMUNITIES")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        ids.extend(
            out.items
                .unwrap_or_default()
                .iter()
                .filter_map(|i| crate::db::attr_s(i, "GSI1SK")),
        );
        start = out.last_evaluated_key;
        if start.is_none() || ids.len() >= 1000 {
            return Ok(ids);
        }
    }
}
