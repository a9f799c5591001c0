//! Records of the community aggregate and the LMS's identities: what the table stores, below
//! the access guard and the use cases, which both import them. Keys are in [`crate::keys`].

pub mod attachment;
pub mod audit;
pub mod grant;
pub mod notification;
pub mod push;

use crate::auth::Principal;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

/// Whether members may post so that classmates do not see who they are (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousPosting {
    #[default]
    Off,
    ToClassmates,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Community {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub banner_image: Option<String>,
    #[serde(default)]
    pub require_post_approval: bool,
    /// Whether students may write direct messages to each other on the strength of this
    /// community (its moderators and instructors are always reachable).
    #[serde(default = "yes")]
    pub student_dms: bool,
    #[serde(default)]
    pub course_id: Option<String>,
    /// The course's instructors (kept by the LMS sync); they hold `instructor` here.
    #[serde(default)]
    pub instructor_ids: Vec<String>,
    #[serde(default)]
    pub member_count: i64,
    #[serde(default)]
    pub post_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Read-only for everyone but admins: every write answers 409 `archived`.
    #[serde(default)]
    pub is_archived: bool,
    #[serde(default)]
    pub anonymous_posting: AnonymousPosting,
    /// The instructor-managed tags root posts may carry (at most 30).
    #[serde(default)]
    pub tags: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommunityRole {
    Member,
    Moderator,
    Instructor,
}

impl CommunityRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CommunityRole::Member => "member",
            CommunityRole::Moderator => "moderator",
            CommunityRole::Instructor => "instructor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub community_id: String,
    pub user_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub role: CommunityRole,
    pub joined_at: String,
}

impl Member {
    pub fn new(community_id: &str, p: &Principal, role: CommunityRole, now: &str) -> Self {
        Self {
            community_id: community_id.into(),
            user_id: p.user_id.clone(),
            name: p.name.clone(),
            username: p.username.clone(),
            role,
            joined_at: now.into(),
        }
    }

    /// A course instructor's membership, written by the LMS sync before they ever sign in.
    pub fn instructor(community_id: &str, user_id: &str, now: &str) -> Self {
        Self {
            community_id: community_id.into(),
            user_id: user_id.into(),
            name: user_id.into(),
            username: None,
            role: CommunityRole::Instructor,
            joined_at: now.into(),
        }
    }
}

/// A user pushed by the LMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub username: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Where email notifications go: given by the LMS, never by the user's own clients, and
    /// shown to no one but the LMS and the data-rights export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub updated_at: String,
}

/// A course pushed by the LMS, with the id of its community (1:1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub course_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub instructor_ids: Vec<String>,
    pub community_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A user's enrollment in a course, stored in the course community's partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub course_id: String,
    pub community_id: String,
    pub user_id: String,
    pub is_active: bool,
    #[serde(default)]
    pub expiry_date: Option<String>,
    pub updated_at: String,
}

impl Enrollment {
    /// Active and not yet expired at `now`.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.is_active
            && match &self.expiry_date {
                None => true,
                Some(d) => DateTime::parse_from_rfc3339(d).is_ok_and(|d| d > now),
            }
    }
}
