//! Reactions to posts: one of each type per user and post, counted exactly because the reaction
//! item (written only if absent) and the post's counter change in one transaction.

pub use super::model::{Reaction, ReactionCounts, ReactionType};

use super::{PostAccess, PostStatus, fetch, load};
use crate::access::Action;
use crate::auth::Principal;
use crate::clock::iso;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::store::posts::{self as store, Reacted, Unreacted};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

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

/// Adds the caller's reaction of one type; answers it and whether it is new (an existing one
/// changes nothing). Only published posts take reactions. The type is judged after the
/// caller's right to react (SPEC §8).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn react(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    t: Result<ReactionType>,
    now: DateTime<Utc>,
) -> Result<(Reaction, bool)> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Post)?;
    add(db, &pa, t?, now).await
}

/// [`react`] on a post whose access is loaded.
pub async fn add(
    db: &Db,
    pa: &PostAccess,
    t: ReactionType,
    now: DateTime<Utc>,
) -> Result<(Reaction, bool)> {
    pa.access.require_write(Action::Post)?;
    check_reactable(&pa.post)?;
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::reactions(), now).await?;
    let reaction = Reaction {
        post_id: pa.post.id.clone(),
        user_id: pa.me().to_string(),
        reaction_type: t,
        created_at: iso(now),
    };
    match store::add_reaction(db, &pa.post.root_id, &reaction).await? {
        Reacted::Added => Ok((reaction, true)),
        Reacted::AlreadyThere(existing) => Ok((existing, false)),
        Reacted::PostChanged => {
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
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn unreact(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    t: Result<ReactionType>,
    now: DateTime<Utc>,
) -> Result<()> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Post)?;
    let t = t?;
    crate::ratelimit::check(db, pa.me(), crate::ratelimit::reactions(), now).await?;
    match store::remove_reaction(db, &pa.post.root_id, &pa.post.id, pa.me(), t).await? {
        Unreacted::Removed => Ok(()),
        Unreacted::NotThere => Err(Error::NotFound("reaction")),
    }
}

/// The caller's reactions in one thread, by post id, each post's in the order of
/// [`ReactionType::ALL`]: one Query (more only past 1 MB).
pub async fn mine(
    db: &Db,
    root_id: &str,
    user_id: &str,
) -> Result<HashMap<String, Vec<ReactionType>>> {
    let mut found: HashMap<String, Vec<ReactionType>> = HashMap::new();
    for r in store::reactions_in_thread(db, root_id, user_id).await? {
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
