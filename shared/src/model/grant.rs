//! A read grant: how long a user may go on receiving a community's events if nothing changes but
//! the clock, and the facts that grant rests on. The guard makes one ([`crate::access`]); a
//! subscription row carries its end (`access_until`), and writing a subscription checks, in the
//! same transaction, that the facts are still those the grant was made from.

use chrono::{DateTime, Utc};

/// One fact a read grant rests on; if it changes, the grant is made again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The user is one of the course's instructors (the community's `instructor_ids`).
    CourseInstructor,
    /// The user's membership item exists.
    Membership,
    /// The user's enrollment is the version read (`updated_at`) and active.
    Enrollment { updated_at: String },
}

/// Read access that holds until `until` (`None`: until one of its facts changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGrant {
    pub until: Option<DateTime<Utc>>,
    /// Empty for an admin: nothing stored can end their access.
    pub rests_on: Vec<Basis>,
}

impl ReadGrant {
    /// The end as stored on a subscription row: epoch milliseconds, `None` for no end.
    pub fn until_ms(&self) -> Option<i64> {
        self.until.map(|t| t.timestamp_millis())
    }
}
