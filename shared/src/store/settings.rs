//! Watching and muting communities, and the per-user rate-limit windows.

use super::db::{Db, n, owned_by, s, sdk, to_item};
use crate::error::Result;
use crate::keys;
use crate::model::notification::WatchRow;

pub async fn watch(db: &Db, community_id: &str, user_id: &str) -> Result<Option<WatchRow>> {
    db.get(&keys::watch(community_id, user_id)).await
}

/// Sets an explicit watch or mute (one PutItem; idempotent).
pub async fn put_watch(db: &Db, row: &WatchRow) -> Result<()> {
    db.put_item()
        .set_item(Some(owned_by(
            to_item(&keys::watch(&row.community_id, &row.user_id), row)?,
            &row.user_id,
        )))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Every explicit watch and mute of a community (one Query per 1 MB page).
pub async fn watch_rows(db: &Db, community_id: &str) -> Result<Vec<WatchRow>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::watch_pk(community_id))),
    )
    .await
}

/// Counts one attempt in a fixed window; `false` when the window is full (nothing counted).
pub async fn count_attempt(
    db: &Db,
    user_id: &str,
    action: &str,
    window_start: i64,
    window_secs: i64,
    max: u32,
) -> Result<bool> {
    let out = db
        .update_item(&keys::rate_window(user_id, action, window_start))
        .update_expression("ADD #c :one SET #t = :ttl")
        .condition_expression("attribute_not_exists(#c) OR #c < :max")
        .expression_attribute_names("#c", "count")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":max", n(max))
        .expression_attribute_values(":ttl", n(window_start + window_secs * 2))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if super::db::is_condition_failed(&e) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}
