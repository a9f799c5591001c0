//! The single-table key design: every entity's keys are stated here and nowhere else.
//!
//! See `docs/data-model.md` for the access patterns each key and index serves.

/// Primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

fn key(pk: String, sk: impl Into<String>) -> Key {
    Key { pk, sk: sk.into() }
}

pub const GSI1: &str = "GSI1";
pub const GSI2: &str = "GSI2";

// ---------------------------------------------------------------- identities (LMS-owned)

/// `USER#{user_id} / PROFILE`: a user pushed by the LMS.
pub fn user(user_id: &str) -> Key {
    key(format!("USER#{user_id}"), "PROFILE")
}

/// `USERNAME#{username} / USERNAME`: claims a username (unique), maps it to its user.
pub fn username(username: &str) -> Key {
    key(format!("USERNAME#{}", username.to_lowercase()), "USERNAME")
}

/// `COURSE#{course_id} / COURSE`: a course and the id of its community.
pub fn course(course_id: &str) -> Key {
    key(format!("COURSE#{course_id}"), "COURSE")
}

// ---------------------------------------------------------------- communities

/// `COMMUNITY#{id} / META`: a community with its counters.
pub fn community(community_id: &str) -> Key {
    key(format!("COMMUNITY#{community_id}"), "META")
}

/// GSI1 of a community: `COMMUNITIES / {community_id}` lists all communities.
pub fn community_listing(community_id: &str) -> Key {
    key("COMMUNITIES".into(), community_id)
}

/// `COMMUNITY#{id} / MEMBER#{user_id}`: a membership and its role.
pub fn member(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}"),
        format!("MEMBER#{user_id}"),
    )
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// GSI1 of a membership: `USER#{user_id}#COMMUNITIES / {community_id}` lists a user's communities.
pub fn membership_by_user(user_id: &str, community_id: &str) -> Key {
    key(format!("USER#{user_id}#COMMUNITIES"), community_id)
}

/// `COMMUNITY#{id} / ENROLL#{user_id}`: the user's enrollment in the community's course.
///
/// Stored beside the community so the access guard reads community, membership and enrollment in
/// one BatchGetItem.
pub fn enrollment(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}"),
        format!("ENROLL#{user_id}"),
    )
}

// ---------------------------------------------------------------- WebSocket connections

/// `CONN#{connection_id} / META`: an open connection, its user and its subscriptions (TTL).
pub fn connection(connection_id: &str) -> Key {
    key(format!("CONN#{connection_id}"), "META")
}

/// `USER#{user_id} / CONN#{connection_id}`: a user's open connections (notifications go to all).
pub fn user_connection(user_id: &str, connection_id: &str) -> Key {
    key(format!("USER#{user_id}"), format!("CONN#{connection_id}"))
}

pub const USER_CONNECTION_PREFIX: &str = "CONN#";

/// `COMMUNITY#{id}#SUBS / CONN#{connection_id}`: a connection subscribed to a community's events.
pub fn subscription(community_id: &str, connection_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}#SUBS"),
        format!("CONN#{connection_id}"),
    )
}

pub fn subscriptions_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#SUBS")
}

/// `COMMUNITY#{id}#ONLINE / USER#{user_id}`: how many of a user's connections are in a community.
pub fn presence(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}#ONLINE"),
        format!("USER#{user_id}"),
    )
}

pub fn presence_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#ONLINE")
}

// ---------------------------------------------------------------- rate limits

/// `RATE#{user_id}#{action} / {window}`: a fixed-window counter with a TTL.
pub fn rate_window(user_id: &str, action: &str, window: i64) -> Key {
    key(format!("RATE#{user_id}#{action}"), window.to_string())
}
