//! Per-user write rate limits: a fixed-window counter per (user, action) in the table, one
//! conditional UpdateItem per accepted write, expired by TTL.

use crate::db::{Db, is_condition_failed, key_item, n, sdk};
use crate::error::{Error, Result};
use crate::keys;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub action: &'static str,
    pub max: u32,
    pub window_secs: i64,
}

pub const POSTS: Limit = Limit {
    action: "post",
    max: 10,
    window_secs: 60,
};
pub const REACTIONS: Limit = Limit {
    action: "react",
    max: 60,
    window_secs: 60,
};
pub const FLAGS: Limit = Limit {
    action: "flag",
    max: 10,
    window_secs: 60,
};
pub const CHAT: Limit = Limit {
    action: "chat",
    max: 20,
    window_secs: 10,
};

/// Counts one attempt; `Err(RateLimited)` with the seconds until the window ends when over.
pub async fn check(db: &Db, user_id: &str, limit: Limit, now: DateTime<Utc>) -> Result<()> {
    let t = now.timestamp();
    let window = t - t.rem_euclid(limit.window_secs);
    let key = keys::rate_window(user_id, limit.action, window);
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&key)))
        .update_expression("ADD #c :one SET #t = :ttl")
        .condition_expression("attribute_not_exists(#c) OR #c < :max")
        .expression_attribute_names("#c", "count")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":max", n(limit.max))
        .expression_attribute_values(":ttl", n(window + limit.window_secs * 2))
        .send()
        .await;
    match out {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failed(&e) => Err(Error::RateLimited {
            retry_after_secs: (window + limit.window_secs - t).max(1) as u64,
        }),
        Err(e) => Err(sdk(e)),
    }
}
