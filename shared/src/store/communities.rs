//! Communities and memberships: their items, the listing, `member_count` kept exact by writing a
//! membership and the counter in one transaction, and the access facts the guard reads.

use super::db::{Db, Item, TxOutcome, attr_s, from_item, n, s, sdk, to_item, update_of, with_gsi};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::Result;
use crate::keys::{self, GSI1, Key};
use crate::model::{Community, CommunityRole, Enrollment, Member, Visibility};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

/// Condition names of this store's transactions.
pub const MEMBER_EXISTS: &str = "member";
pub const COMMUNITY_MISSING: &str = "community";

/// Users per BatchGetItem when reading many users' facts (two keys each).
pub const USERS_PER_BATCH: usize = 50;

/// The community item with its listing index key.
pub fn community_item(c: &Community) -> Result<Item> {
    Ok(with_gsi(
        to_item(&keys::community(&c.id), c)?,
        GSI1,
        &keys::community_listing(&c.id),
    ))
}

/// The membership item with its index key (the user's communities).
pub fn member_item(m: &Member) -> Result<Item> {
    Ok(with_gsi(
        to_item(&keys::member(&m.community_id, &m.user_id), m)?,
        GSI1,
        &keys::membership_by_user(&m.user_id, &m.community_id),
    ))
}

/// `ADD member_count :delta` on the community, which must exist.
pub fn member_count_update(
    community_id: &str,
    delta: i64,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    update_of(&keys::community(community_id))
        .update_expression("ADD member_count :d")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":d", n(delta))
}

/// `SET role` on a membership, which must exist.
pub fn role_update(
    community_id: &str,
    user_id: &str,
    role: CommunityRole,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    update_of(&keys::member(community_id, user_id))
        .update_expression("SET #r = :r")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#r", "role")
        .expression_attribute_values(":r", s(role.as_str()))
}

pub async fn community(db: &Db, community_id: &str) -> Result<Option<Community>> {
    db.get(&keys::community(community_id)).await
}

/// Writes a new community (its id is new: a clash is a bug, not an outcome).
pub async fn insert_community(db: &Db, c: &Community) -> Result<()> {
    db.put_item()
        .set_item(Some(community_item(c)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The settings a community update may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct CommunityChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub banner_image: Option<Option<String>>,
    pub require_post_approval: Option<bool>,
    pub anonymous_posting: Option<crate::model::AnonymousPosting>,
    pub is_archived: Option<bool>,
    pub tags: Option<Vec<String>>,
}

/// Applies the changes in one UpdateItem and answers the community as it is now (`None` if it
/// is gone).
pub async fn update_community(
    db: &Db,
    community_id: &str,
    changes: CommunityChanges,
    now: &str,
) -> Result<Option<Community>> {
    let mut sets = vec!["updated_at = :now".to_string()];
    let mut req = db
        .update_item(&keys::community(community_id))
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":now", s(now))
        .return_values(ReturnValue::AllNew);
    if let Some(t) = changes.title {
        sets.push("title = :title".into());
        req = req.expression_attribute_values(":title", s(t));
    }
    if let Some(d) = changes.description {
        sets.push("description = :d".into());
        req = req.expression_attribute_values(":d", s(d));
    }
    if let Some(v) = changes.visibility {
        sets.push("visibility = :v".into());
        req = req.expression_attribute_values(":v", serde_dynamo::to_attribute_value(v)?);
    }
    if let Some(b) = changes.banner_image {
        sets.push("banner_image = :b".into());
        req = req.expression_attribute_values(":b", serde_dynamo::to_attribute_value(b)?);
    }
    if let Some(r) = changes.require_post_approval {
        sets.push("require_post_approval = :r".into());
        req = req.expression_attribute_values(":r", AttributeValue::Bool(r));
    }
    if let Some(a) = changes.anonymous_posting {
        sets.push("anonymous_posting = :anon".into());
        req = req.expression_attribute_values(":anon", serde_dynamo::to_attribute_value(a)?);
    }
    if let Some(a) = changes.is_archived {
        sets.push("is_archived = :archived".into());
        req = req.expression_attribute_values(":archived", AttributeValue::Bool(a));
    }
    if let Some(t) = changes.tags {
        sets.push("tags = :tags".into());
        req = req.expression_attribute_values(":tags", serde_dynamo::to_attribute_value(t)?);
    }
    match req
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await
    {
        Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
        Err(e) if super::db::is_condition_failed(&e) => Ok(None),
        Err(e) => Err(sdk(e)),
    }
}

/// One page of the ids of all communities (GSI1), newest first; only public ones unless
/// `include_private`.
pub async fn listing_page(
    db: &Db,
    cursors: &Cursors,
    page: &PageParams,
    include_private: bool,
) -> Result<Page<String>> {
    #[derive(serde::Deserialize)]
    struct Listed {
        id: String,
    }
    let mut q = db
        .query()
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s(keys::community_listing("").pk))
        .scan_index_forward(false);
    if !include_private {
        q = q
            .filter_expression("visibility = :public")
            .expression_attribute_values(":public", s("public"));
    }
    Ok(db
        .page::<Listed>(cursors, "communities", page, q)
        .await?
        .map(|l| l.id))
}

/// Ids of the communities a user belongs to (GSI1, id order), at most about 1,000.
pub async fn community_ids_of(db: &Db, user_id: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut start = None;
    loop {
        let out = db
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::membership_by_user(user_id, "").pk))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        ids.extend(
            out.items
                .unwrap_or_default()
                .iter()
                .filter_map(|i| attr_s(i, "GSI1SK")),
        );
        start = out.last_evaluated_key;
        if start.is_none() || ids.len() >= 1000 {
            return Ok(ids);
        }
    }
}

/// What writing a membership found.
#[derive(Debug, PartialEq)]
pub enum Joined {
    New,
    /// The user was a member already (a concurrent join won): the stored membership.
    Already(Member),
    CommunityGone,
}

/// Writes a membership and counts it, in one transaction.
pub async fn insert_member(db: &Db, m: &Member) -> Result<Joined> {
    let mut tx = db.tx();
    tx.put_new(MEMBER_EXISTS, member_item(m)?)?;
    tx.update(
        Some(COMMUNITY_MISSING),
        member_count_update(&m.community_id, 1),
    )?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Joined::New),
        TxOutcome::Refused(r) if r.by(MEMBER_EXISTS) => {
            match db.get(&keys::member(&m.community_id, &m.user_id)).await? {
                Some(stored) => Ok(Joined::Already(stored)),
                None => Ok(Joined::CommunityGone),
            }
        }
        TxOutcome::Refused(_) => Ok(Joined::CommunityGone),
    }
}

/// Removes a membership and uncounts it in one transaction; `false` if there was none.
pub async fn delete_member(db: &Db, community_id: &str, user_id: &str) -> Result<bool> {
    let mut tx = db.tx();
    tx.delete(
        Some(MEMBER_EXISTS),
        super::db::delete_of(&keys::member(community_id, user_id))
            .condition_expression("attribute_exists(PK)"),
    )?;
    tx.update(
        Some(COMMUNITY_MISSING),
        member_count_update(community_id, -1),
    )?;
    Ok(db.run(tx).await? == TxOutcome::Done)
}

/// One page of a community's members (one Query).
pub async fn members_page(
    db: &Db,
    cursors: &Cursors,
    community_id: &str,
    page: &PageParams,
) -> Result<Page<Member>> {
    let query = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(":pk", s(keys::community(community_id).pk))
        .expression_attribute_values(":sk", s(keys::MEMBER_PREFIX));
    db.page(cursors, &format!("members:{community_id}"), page, query)
        .await
}

/// Sets a member's role; `None` if they are not a member.
pub async fn set_role(
    db: &Db,
    community_id: &str,
    user_id: &str,
    role: CommunityRole,
) -> Result<Option<Member>> {
    let out = db
        .update_item(&keys::member(community_id, user_id))
        .update_expression("SET #r = :r")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_names("#r", "role")
        .expression_attribute_values(":r", s(role.as_str()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(o) => Ok(Some(from_item(o.attributes.unwrap_or_default())?)),
        Err(e) if super::db::is_condition_failed(&e) => Ok(None),
        Err(e) => Err(sdk(e)),
    }
}

/// Memberships of some users of a community, in the order asked (`None`: not a member).
pub async fn members(db: &Db, community_id: &str, users: &[&str]) -> Result<Vec<Option<Member>>> {
    let keys: Vec<Key> = users
        .iter()
        .map(|u| keys::member(community_id, u))
        .collect();
    db.get_many(&keys)
        .await?
        .into_iter()
        .map(|i| i.map(from_item).transpose())
        .collect()
}

/// One user's facts in many communities: the community, the membership and the enrollment, in
/// as few BatchGetItems as the 100-key limit allows. Missing communities are left out.
pub async fn facts_of_user(
    db: &Db,
    user_id: &str,
    community_ids: &[String],
) -> Result<Vec<(Community, Option<Member>, Option<Enrollment>)>> {
    let mut out = Vec::with_capacity(community_ids.len());
    for chunk in community_ids.chunks(33) {
        let keys: Vec<Key> = chunk
            .iter()
            .flat_map(|id| {
                [
                    keys::community(id),
                    keys::member(id, user_id),
                    keys::enrollment(id, user_id),
                ]
            })
            .collect();
        let mut items = db.get_many(&keys).await?.into_iter();
        while let (Some(community), Some(membership), Some(enrollment)) =
            (items.next(), items.next(), items.next())
        {
            let Some(community) = community else { continue };
            out.push((
                from_item(community)?,
                membership.map(from_item).transpose()?,
                enrollment.map(from_item).transpose()?,
            ));
        }
    }
    Ok(out)
}

/// Memberships and enrollments of a community, by user.
pub type RosterFacts = (HashMap<String, Member>, HashMap<String, Enrollment>);

/// Many users' facts in one community: BatchGetItems of their membership and enrollment
/// ([`USERS_PER_BATCH`] users each).
pub async fn facts_of_users(db: &Db, community_id: &str, users: &[String]) -> Result<RosterFacts> {
    let (mut members, mut enrollments) = (HashMap::new(), HashMap::new());
    for chunk in users.chunks(USERS_PER_BATCH) {
        let keys: Vec<Key> = chunk
            .iter()
            .flat_map(|u| {
                [
                    keys::member(community_id, u),
                    keys::enrollment(community_id, u),
                ]
            })
            .collect();
        let mut found = db.get_many(&keys).await?.into_iter();
        for user in chunk {
            if let Some(Some(m)) = found.next() {
                members.insert(user.clone(), from_item::<Member>(m)?);
            }
            if let Some(Some(e)) = found.next() {
                enrollments.insert(user.clone(), from_item::<Enrollment>(e)?);
            }
        }
    }
    Ok((members, enrollments))
}

/// The whole community partition: the community, every membership and every enrollment, in a
/// few Query pages even for thousands of members (its cost is the roster's size in 4 KB units,
/// not one read per item). `None` if the community does not exist. `consistent` where a
/// just-ended enrollment must already count.
pub async fn partition(
    db: &Db,
    community_id: &str,
    consistent: bool,
) -> Result<Option<(Community, RosterFacts)>> {
    let key = keys::community(community_id);
    let items = db
        .read_all_items(
            db.query()
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(&key.pk))
                .consistent_read(consistent),
        )
        .await?;
    let (mut community, mut members, mut enrollments) = (None, HashMap::new(), HashMap::new());
    for item in items {
        let sk = attr_s(&item, "SK").unwrap_or_default();
        if sk == key.sk {
            community = Some(from_item::<Community>(item)?);
        } else if sk.starts_with(keys::MEMBER_PREFIX) {
            let m: Member = from_item(item)?;
            members.insert(m.user_id.clone(), m);
        } else if sk.starts_with(keys::ENROLLMENT_PREFIX) {
            let e: Enrollment = from_item(item)?;
            enrollments.insert(e.user_id.clone(), e);
        }
    }
    Ok(community.map(|c| (c, (members, enrollments))))
}
