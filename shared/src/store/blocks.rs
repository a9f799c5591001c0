//! Blocks between users: one item per block, read both ways for every pair of a conversation.

use super::db::{Db, sdk, to_item};
use crate::error::Result;
use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One user's block of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub user_id: String,
    pub blocked_id: String,
    pub created_at: String,
}

/// Writes a block (idempotent: blocking twice keeps one item, with the first time).
pub async fn put(db: &Db, block: &Block) -> Result<()> {
    let out = db
        .put_item()
        .set_item(Some(to_item(
            &keys::block(&block.user_id, &block.blocked_id),
            block,
        )?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if super::db::is_condition_failed(&e) => Ok(()),
        Err(e) => Err(sdk(e)),
    }
}

/// Removes a block (idempotent).
pub async fn delete(db: &Db, user_id: &str, blocked_id: &str) -> Result<()> {
    db.delete_item(&keys::block(user_id, blocked_id))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Those of `others` between whom and `user_id` there is a block, either way (one
/// BatchGetItem per 50 others).
pub async fn between(db: &Db, user_id: &str, others: &[String]) -> Result<HashSet<String>> {
    let mut blocked = HashSet::new();
    for chunk in others.chunks(50) {
        let keys: Vec<keys::Key> = chunk
            .iter()
            .flat_map(|o| [keys::block(user_id, o), keys::block(o, user_id)])
            .collect();
        let found = db.get_many(&keys).await?;
        for (other, pair) in chunk.iter().zip(found.chunks(2)) {
            if pair.iter().any(Option::is_some) {
                blocked.insert(other.clone());
            }
        }
    }
    Ok(blocked)
}
