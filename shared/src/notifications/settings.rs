//! Who wants what: watching or muting a community (new posts), and per-type preferences.
//!
//! By default a community's instructors and moderators watch it and members do not; an explicit
//! watch or mute (one item per user and community) overrides the default either way.

use super::Kind;
use crate::access::{Access, Action};
use crate::error::Result;
use crate::model::CommunityRole;
pub use crate::model::notification::{State, WatchRow};
use crate::store::{Db, settings as store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The caller's watch state of a community, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchState {
    pub community_id: String,
    pub watching: bool,
    /// `default` (from the role) or `explicit` (a watch or mute the user set).
    pub source: &'static str,
}

/// Whether someone with `role` watches by default.
pub fn watches_by_default(role: Option<CommunityRole>) -> bool {
    role.is_some_and(|r| r >= CommunityRole::Moderator)
}

/// The caller's watch state (one GetItem; the role comes from the loaded access).
pub async fn watch_state(db: &Db, access: &Access) -> Result<WatchState> {
    access.require(Action::Read)?;
    let row = store::watch(db, &access.community.id, &access.principal.user_id).await?;
    Ok(match row {
        Some(r) => WatchState {
            community_id: r.community_id,
            watching: r.watching,
            source: "explicit",
        },
        None => WatchState {
            community_id: access.community.id.clone(),
            watching: watches_by_default(access.effective_role()),
            source: "default",
        },
    })
}

/// Sets an explicit watch or mute (one PutItem; idempotent). Only someone who may read the
/// community may watch it.
pub async fn set_watch(db: &Db, access: &Access, watching: bool, now: &str) -> Result<WatchState> {
    access.require(Action::Read)?;
    let row = WatchRow {
        community_id: access.community.id.clone(),
        user_id: access.principal.user_id.clone(),
        watching,
        role: Some(access.principal.role),
        updated_at: now.to_string(),
    };
    store::put_watch(db, &row).await?;
    Ok(WatchState {
        community_id: row.community_id,
        watching,
        source: "explicit",
    })
}

/// Every explicit watch and mute of a community (one Query per 1 MB page).
pub async fn watch_rows(db: &Db, community_id: &str) -> Result<Vec<WatchRow>> {
    store::watch_rows(db, community_id).await
}

/// Preferences as the API shows them: every type with whether the user gets it.
pub type Preferences = BTreeMap<&'static str, bool>;

/// A change of preferences: any subset of the types.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    pub new_post: Option<bool>,
    pub new_reply: Option<bool>,
    pub new_mention: Option<bool>,
    pub new_message: Option<bool>,
    pub post_approved: Option<bool>,
    pub post_rejected: Option<bool>,
    pub post_flagged: Option<bool>,
    pub announcement: Option<bool>,
    pub answer_accepted: Option<bool>,
    pub answer_endorsed: Option<bool>,
    pub marked_duplicate: Option<bool>,
}

impl PreferencesInput {
    fn get(&self, kind: Kind) -> Option<bool> {
        match kind {
            Kind::NewPost => self.new_post,
            Kind::NewReply => self.new_reply,
            Kind::NewMention => self.new_mention,
            Kind::NewMessage => self.new_message,
            Kind::PostApproved => self.post_approved,
            Kind::PostRejected => self.post_rejected,
            Kind::PostFlagged => self.post_flagged,
            Kind::Announcement => self.announcement,
            Kind::AnswerAccepted => self.answer_accepted,
            Kind::AnswerEndorsed => self.answer_endorsed,
            Kind::MarkedDuplicate => self.marked_duplicate,
        }
    }
}

fn view(disabled: &[Kind]) -> Preferences {
    Kind::ALL
        .iter()
        .map(|k| (k.as_str(), !disabled.contains(k)))
        .collect()
}

pub async fn state(db: &Db, user_id: &str) -> Result<State> {
    Ok(crate::store::notifications::state(db, user_id)
        .await?
        .unwrap_or_default())
}

pub async fn preferences(db: &Db, user_id: &str) -> Result<Preferences> {
    Ok(view(&state(db, user_id).await?.disabled_types))
}

/// Applies a change (read, then one UpdateItem that sets only the list, leaving the counter).
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    input: PreferencesInput,
) -> Result<Preferences> {
    let current = state(db, user_id).await?.disabled_types;
    let disabled: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| !input.get(*k).unwrap_or(!current.contains(k)))
        .collect();
    crate::store::notifications::set_disabled_types(db, user_id, &disabled).await?;
    Ok(view(&disabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderators_and_instructors_watch_by_default_and_members_do_not() {
        assert!(watches_by_default(Some(CommunityRole::Instructor)));
        assert!(watches_by_default(Some(CommunityRole::Moderator)));
        assert!(!watches_by_default(Some(CommunityRole::Member)));
        assert!(!watches_by_default(None));
    }

    #[test]
    fn preferences_list_every_type() {
        let v = view(&[Kind::NewPost]);
        assert_eq!(v.len(), Kind::ALL.len());
        assert!(v["announcement"] && v["marked_duplicate"]);
        assert!(!v["new_post"]);
        assert!(v["new_reply"]);
    }
}
