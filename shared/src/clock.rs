//! The clock, injected so that time-dependent rules (enrollment expiry, TTLs) are testable.

use chrono::{DateTime, Utc};
use std::sync::Arc;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that always answers the same instant (tests).
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// An instant written by [`iso`] (or any RFC 3339 date-time), back as a time.
pub fn parse_iso(raw: &str) -> crate::error::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| crate::error::Error::internal(format!("not an RFC 3339 instant {raw:?}: {e}")))
}

/// ISO-8601 UTC with millisecond precision, the one timestamp format of the API.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
