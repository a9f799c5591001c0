//! Per-user write rate limits: a fixed-window counter per (user, action) in the table, one
//! conditional UpdateItem per accepted write, expired by TTL.

use crate::error::{Error, Result};
use crate::store::Db;
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

/// Typing indicators: a client sends one every few seconds while someone types; 30 in 10
/// seconds is far above that and stops a socket from flooding every subscriber.
pub const TYPING: Limit = Limit {
    action: "typing",
    max: 30,
    window_secs: 10,
};

/// Every limit, by its action: erasure removes a user's windows of each.
pub const ALL: [Limit; 5] = [POSTS, REACTIONS, FLAGS, CHAT, TYPING];

/// Counts one attempt; `Err(RateLimited)` with the seconds until the window ends when over.
pub async fn check(db: &Db, user_id: &str, limit: Limit, now: DateTime<Utc>) -> Result<()> {
    let t = now.timestamp();
    let window = t - t.rem_euclid(limit.window_secs);
    if crate::store::settings::count_attempt(
        db,
        user_id,
        limit.action,
        window,
        limit.window_secs,
        limit.max,
    )
    .await?
    {
        Ok(())
    } else {
        Err(Error::RateLimited {
            retry_after_secs: (window + limit.window_secs - t).max(1) as u64,
        })
    }
}
