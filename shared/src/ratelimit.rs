//! Per-user write rate limits: a fixed-window counter per (user, action) in the table, one
//! conditional UpdateItem per accepted write, expired by TTL.
//!
//! The limits are configuration: `RATE_LIMIT_POSTS`, `RATE_LIMIT_REACTIONS`,
//! `RATE_LIMIT_FLAGS`, `RATE_LIMIT_CHAT` and `RATE_LIMIT_TYPING`, each `<max>/<seconds>`
//! (template parameters; the constants below are their defaults), read once per process.
//! Moderators, instructors and admins are exempt from the posting and chat limits in their
//! communities (the use cases ask the guard).

use crate::error::{Error, Result};
use crate::store::Db;
use chrono::{DateTime, Utc};
use std::sync::OnceLock;

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

/// The limits in force: the defaults, overridden by the environment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub posts: Limit,
    pub reactions: Limit,
    pub flags: Limit,
    pub chat: Limit,
    pub typing: Limit,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        posts: POSTS,
        reactions: REACTIONS,
        flags: FLAGS,
        chat: CHAT,
        typing: TYPING,
    };

    /// Reads `RATE_LIMIT_*` (`<max>/<seconds>`, both positive); a malformed value is an error
    /// naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> std::result::Result<Self, String> {
        let one = |var: &str, default: Limit| -> std::result::Result<Limit, String> {
            let Some(raw) = get(var).filter(|v| !v.trim().is_empty()) else {
                return Ok(default);
            };
            let parsed = raw.trim().split_once('/').and_then(|(max, secs)| {
                Some((
                    max.trim().parse::<u32>().ok()?,
                    secs.trim().parse::<i64>().ok()?,
                ))
            });
            match parsed {
                Some((max, window_secs)) if max > 0 && window_secs > 0 => Ok(Limit {
                    action: default.action,
                    max,
                    window_secs,
                }),
                _ => Err(format!("{var} must be <max>/<seconds>, e.g. 10/60")),
            }
        };
        Ok(Limits {
            posts: one("RATE_LIMIT_POSTS", POSTS)?,
            reactions: one("RATE_LIMIT_REACTIONS", REACTIONS)?,
            flags: one("RATE_LIMIT_FLAGS", FLAGS)?,
            chat: one("RATE_LIMIT_CHAT", CHAT)?,
            typing: one("RATE_LIMIT_TYPING", TYPING)?,
        })
    }
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// The process's limits, from the environment at first use (the configuration checked them at
/// cold start; a bad value there keeps the function from starting).
pub fn limits() -> Limits {
    *LIMITS
        .get_or_init(|| Limits::from_lookup(|k| std::env::var(k).ok()).unwrap_or(Limits::DEFAULT))
}

pub fn posts() -> Limit {
    limits().posts
}

pub fn reactions() -> Limit {
    limits().reactions
}

pub fn flags() -> Limit {
    limits().flags
}

pub fn chat() -> Limit {
    limits().chat
}

pub fn typing() -> Limit {
    limits().typing
}

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
        crate::metrics::emit(&[(crate::metrics::Metric::RateLimitRefusals, 1.0)]);
        Err(Error::RateLimited {
            retry_after_secs: (window + limit.window_secs - t).max(1) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_todays_and_follow_the_environment() {
        let l = Limits::from_lookup(|_| None).unwrap();
        assert_eq!((l.posts.max, l.posts.window_secs), (10, 60));
        assert_eq!((l.chat.max, l.chat.window_secs), (20, 10));
        let l =
            Limits::from_lookup(|k| (k == "RATE_LIMIT_CHAT").then(|| "3/5".to_string())).unwrap();
        assert_eq!(
            (l.chat.max, l.chat.window_secs, l.chat.action),
            (3, 5, "chat")
        );
        assert_eq!(l.posts.max, 10);
        for bad in ["0/10", "ten/10", "10", "10/-1"] {
            let e = Limits::from_lookup(|k| (k == "RATE_LIMIT_POSTS").then(|| bad.to_string()));
            assert!(e.unwrap_err().contains("RATE_LIMIT_POSTS"), "{bad}");
        }
    }
}
