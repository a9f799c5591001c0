//! Reactions to posts: one of each type per user and post, counted exactly because the reaction
//! item (written only if absent) and the post's counter change in one transaction.

use super::{PostAccess, PostStatus, falsy, fetch, tx_update, update};
use crate::access::Action;
use crate::clock::iso;
use crate::db::{Db, WriteOutcome, from_item, key_item, n, s, sdk, to_item};
use crate::error::{Error, Result};
use crate::keys;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReactionType {
    Like,
    Love,
    Helpful,
    Haha,
    Wow,
    Sad,
}

impl ReactionType {
    pub const ALL: [ReactionType; 6] = [
        ReactionType::Like,
        ReactionType::Love,
        ReactionType::Helpful,
        ReactionType::Haha,
        ReactionType::Wow,
        ReactionType::Sad,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReactionType::Like => "like",
            ReactionType::Love => "love",
            ReactionType::Helpful => "helpful",
            ReactionType::Haha => "haha",
            ReactionType::Wow => "wow",
            ReactionType::Sad => "sad",
        }
    }

    /// Parses `?reaction_type=`; a missing or unknown type is a 422 on that field.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = raw
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::validation("reaction_type", "is required"))?;
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                Error::validation(
                    "reaction_type",
                    "must be one of like, love, helpful, haha, wow, sad",
                )
            })
    }
}

/// A post's reaction counters, one per type (stored as a map on the post item).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCounts {
    #[serde(default)]
    pub like: i64,
    #[serde(default)]
    pub love: i64,
    #[serde(default)]
    pub helpful: i64,
    #[serde(default)]
    pub haha: i64,
    #[serde(default)]
    pub wow: i64,
    #[serde(default)]
    pub sad: i64,
}

/// One user's reaction of one type to one post (`keys::reaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub post_id: String,
    pub user_id: String,
    pub reaction_type: ReactionType,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionInput {
    pub reaction_type: Option<ReactionType>,
}

impl ReactionInput {
    pub fn reaction_type(&self) -> Result<ReactionType> {
        self.reaction_type
            .ok_or_else(|| Error::validation("reaction_type", "is required"))
    }
}

/// `SET reaction_counts.<type> = reaction_counts.<type> + :delta` on a post.
fn bump(
    db: &Db,
    post_id: &str,
    t: ReactionType,
    delta: i64,
    condition: &str,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    update(db, &keys::post(post_id))
        .update_expression("SET reaction_counts.#t = reaction_counts.#t + :d")
        .condition_expression(condition)
        .expression_attribute_names("#t", t.as_str())
        .expression_attribute_values(":d", n(delta))
}

/// Adds the caller's reaction; answers whether it is new (an existing one changes nothing).
/// Only published posts take reactions.
pub async fn add(
    db: &Db,
    pa: &PostAccess,
    t: ReactionType,
    now: DateTime<Utc>,
) -> Result<(Reaction, bool)> {
    pa.access.require(Action::Post)?;
    check_reactable(&pa.post)?;
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::REACTIONS, now).await?;
    let reaction = Reaction {
        post_id: pa.post.id.clone(),
        user_id: pa.me().to_string(),
        reaction_type: t,
        created_at: iso(now),
    };
    let key = keys::reaction(&pa.post.root_id, pa.me(), &pa.post.id, t.as_str());
    let put = Put::builder()
        .table_name(&db.table)
        .set_item(Some(to_item(&key, &reaction)?))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(Error::internal)?;
    let items = vec![
        TransactWriteItem::builder().put(put).build(),
        tx_update(
            bump(
                db,
                &pa.post.id,
                t,
                1,
                "attribute_exists(PK) AND is_deleted = :f AND #status = :approved",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":f", falsy())
            .expression_attribute_values(":approved", s("approved")),
        )?,
    ];
    match db.transact(items).await? {
        WriteOutcome::Done => Ok((reaction, true)),
        WriteOutcome::ConditionFailed(reasons) if super::condition_failed_at(&reasons, 0) => {
            let existing = db.get::<Reaction>(&key).await?.unwrap_or(reaction);
            Ok((existing, false))
        }
        WriteOutcome::ConditionFailed(_) => {
            let post = fetch(db, &pa.post.id)
                .await?
                .ok_or(Error::NotFound("post"))?;
            check_reactable(&post)?;
            Err(Error::Conflict(
                "the post changed while reacting, retry".into(),
            ))
        }
    }
}

fn check_reactable(post: &super::Post) -> Result<()> {
    if post.is_deleted {
        return Err(Error::NotFound("post"));
    }
    if post.status != PostStatus::Approved {
        return Err(Error::Conflict("only approved posts take reactions".into()));
    }
    Ok(())
}

/// Removes the caller's reaction of one type; 404 if there is none.
pub async fn remove(db: &Db, pa: &PostAccess, t: ReactionType, now: DateTime<Utc>) -> Result<()> {
    pa.access.require(Action::Post)?;
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::REACTIONS, now).await?;
    let key = keys::reaction(&pa.post.root_id, pa.me(), &pa.post.id, t.as_str());
    let delete = Delete::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(&key)))
        .condition_expression("attribute_exists(PK)")
        .build()
        .map_err(Error::internal)?;
    let items = vec![
        TransactWriteItem::builder().delete(delete).build(),
        tx_update(bump(db, &pa.post.id, t, -1, "attribute_exists(PK)"))?,
    ];
    match db.transact(items).await? {
        WriteOutcome::Done => Ok(()),
        WriteOutcome::ConditionFailed(_) => Err(Error::NotFound("reaction")),
    }
}

/// The caller's reactions in one thread, by post id: one Query (more only past 1 MB).
pub async fn mine(
    db: &Db,
    root_id: &str,
    user_id: &str,
) -> Result<HashMap<String, Vec<ReactionType>>> {
    let items = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", s(keys::reactions_pk(root_id, user_id)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(sdk)?;
    let mut found: HashMap<String, Vec<ReactionType>> = HashMap::new();
    for item in items {
        let r: Reaction = from_item(item)?;
        found.entry(r.post_id).or_default().push(r.reaction_type);
    }
    for types in found.values_mut() {
        types.sort_by_key(|t| ReactionType::ALL.iter().position(|a| a == t));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_reaction_types_parse_and_anything_else_is_a_422() {
        for t in ReactionType::ALL {
            assert_eq!(ReactionType::parse(Some(t.as_str())).unwrap(), t);
        }
        assert_eq!(
            ReactionType::parse(Some("angry")).unwrap_err().status(),
            422
        );
        assert_eq!(ReactionType::parse(None).unwrap_err().status(), 422);
    }

    #[test]
    fn counts_serialize_with_one_field_per_type() {
        let v = serde_json::to_value(ReactionCounts::default()).unwrap();
        let names: Vec<&str> = ReactionType::ALL.iter().map(|t| t.as_str()).collect();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        let mut names_sorted = names.clone();
        names_sorted.sort();
        assert_eq!(keys, names_sorted);
    }
}
