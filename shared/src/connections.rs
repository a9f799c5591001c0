//! WebSocket connections: the records of a connection (registered on `$connect` with a TTL,
//! since `$disconnect` is best-effort), its community subscriptions and presence counts.
//!
//! The use cases (connect, disconnect, subscribe, unsubscribe, who is online) are in
//! [`use_cases`]; their DynamoDB requests in [`crate::store::connections`].

pub mod use_cases;

use crate::auth::{Principal, Role};
use crate::model::grant::ReadGrant;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// API Gateway closes every connection after 2 hours; records outlive that by a margin.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 600;

/// For this long after it registered, a connection answered 410 is not pruned: API Gateway
/// answers 410 for a connection whose `$connect` has not completed yet (that can take up to the
/// 29 s integration timeout), and an event sent to the community in that window must not remove
/// the connection being opened. A connection really gone that young is removed by its
/// `$disconnect`, or by a later 410.
pub const CONNECT_GRACE_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub user_id: String,
    pub name: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The platform role of the token the connection was opened with.
    #[serde(default)]
    pub role: Option<Role>,
    pub connected_at: String,
    /// Communities this connection receives chat events of.
    #[serde(default)]
    pub communities: Vec<String>,
    pub ttl: i64,
}

/// A subscription row: one per (community, connection), read by fan-out with one Query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub connection_id: String,
    pub user_id: String,
    /// The subscriber's platform role, so fan-out can re-check access without reading the
    /// connection record (absent: treated as a student, the strictest).
    #[serde(default)]
    pub role: Option<Role>,
    pub ttl: i64,
    /// When the holder's access ends if nothing changes but the clock (epoch milliseconds; absent:
    /// no end), from the guard's [`crate::model::grant::ReadGrant`]. Fan-out skips a row past it;
    /// a change of the holder's membership, enrollment or role rewrites or removes the row
    /// ([`use_cases::refresh_access`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_until: Option<i64>,
}

impl Connection {
    /// A new connection of `principal`, registered now.
    pub fn open(connection_id: &str, principal: &Principal, now: DateTime<Utc>) -> Self {
        Self {
            connection_id: connection_id.into(),
            user_id: principal.user_id.clone(),
            name: principal.name.clone(),
            username: principal.username.clone(),
            role: Some(principal.role),
            connected_at: crate::clock::iso(now),
            communities: Vec::new(),
            ttl: now.timestamp() + CONNECTION_TTL_SECS,
        }
    }

    /// The connection's subscription row in a community, under a read grant.
    pub fn subscription(&self, grant: &ReadGrant) -> Subscription {
        Subscription {
            connection_id: self.connection_id.clone(),
            user_id: self.user_id.clone(),
            role: self.role,
            ttl: self.ttl,
            access_until: grant.until_ms(),
        }
    }

    /// Whether the connection may still be in its `$connect` (see [`CONNECT_GRACE_SECS`]).
    pub fn may_be_connecting(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() < self.ttl - CONNECTION_TTL_SECS + CONNECT_GRACE_SECS
    }

    /// The caller behind this connection, as its token said at `$connect`.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id.clone(),
            role: self.role.unwrap_or(Role::Student),
            name: self.name.clone(),
            username: self.username.clone(),
        }
    }
}

/// The `entity` of a presence row: its edges (created by the user's first connection in a
/// community, removed with the last) reach the stream's presence consumer
/// ([`crate::realtime::presence`]).
pub const PRESENCE_ENTITY: &str = "presence";

/// Who is online in a community: users with at least one subscribed connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Online {
    pub user_id: String,
    pub name: String,
    pub connections: i64,
}
