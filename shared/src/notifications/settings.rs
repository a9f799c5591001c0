//! Who wants what: watching or muting a community (new posts), and per-type, per-channel
//! preferences with the digest frequency.
//!
//! By default a community's instructors and moderators watch it and members do not; an explicit
//! watch or mute (one item per user and community) overrides the default either way.

use super::Kind;
use crate::access::{Access, Action};
use crate::error::{Error, FieldError, Result};
use crate::model::CommunityRole;
pub use crate::model::notification::{Channel, Channels, Digest, State, WatchRow};
use crate::store::{Db, settings as store};
use serde::Serialize;
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

/// Whether email can reach the user at all: the LMS gave an address, and no bounce or
/// complaint stopped mail to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmailStatus {
    pub address_known: bool,
    pub suppressed: bool,
}

/// Preferences as the API shows them: every type with its channels, the digest frequency, and
/// whether email reaches the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preferences {
    pub types: BTreeMap<&'static str, Channels>,
    pub digest: &'static str,
    pub email: EmailStatus,
}

fn view(state: &State, email: EmailStatus) -> Preferences {
    Preferences {
        types: Kind::ALL
            .iter()
            .map(|k| (k.as_str(), state.channels(*k)))
            .collect(),
        digest: state.digest.as_str(),
        email,
    }
}

pub async fn state(db: &Db, user_id: &str) -> Result<State> {
    Ok(crate::store::notifications::state(db, user_id)
        .await?
        .unwrap_or_default())
}

/// Reads the preferences (the state item, the user's profile and, with an address, its
/// suppression: three GetItems).
pub async fn preferences(db: &Db, user_id: &str) -> Result<Preferences> {
    let state = state(db, user_id).await?;
    Ok(view(&state, crate::email::status(db, user_id).await?))
}

fn kind_of(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// Applies a change to `state`. The body is any subset of
/// `{"types": {type: {channel: bool}}, "digest": "off" | "daily" | "weekly"}`; the first form
/// (`{type: bool}` at the top level) still turns a type's in-app notifications on or off.
/// A `null` changes nothing. Anything unknown is a 422 naming it, and nothing is applied.
pub fn apply(state: &mut State, body: &serde_json::Value) -> Result<()> {
    let Some(fields) = body.as_object() else {
        return Err(Error::BadRequest("the body must be a JSON object".into()));
    };
    let mut errors = Vec::new();
    let mut changes: Vec<(Kind, Channel, bool)> = Vec::new();
    let mut digest = None;
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        match (name.as_str(), value) {
            ("types", serde_json::Value::Object(types)) => {
                for (type_name, channels) in types.iter().filter(|(_, v)| !v.is_null()) {
                    let field = format!("types.{type_name}");
                    let Some(kind) = kind_of(type_name) else {
                        errors.push(FieldError::new(field, "unknown notification type"));
                        continue;
                    };
                    let Some(channels) = channels.as_object() else {
                        errors.push(FieldError::new(
                            field,
                            "must be an object of channels (in_app, email, push)",
                        ));
                        continue;
                    };
                    for (channel_name, on) in channels.iter().filter(|(_, v)| !v.is_null()) {
                        let field = format!("types.{type_name}.{channel_name}");
                        match (Channel::parse(channel_name), on.as_bool()) {
                            (None, _) => errors.push(FieldError::new(
                                field,
                                "unknown channel: in_app, email or push",
                            )),
                            (Some(_), None) => {
                                errors.push(FieldError::new(field, "must be true or false"))
                            }
                            (Some(channel), Some(on)) => changes.push((kind, channel, on)),
                        }
                    }
                }
            }
            ("types", _) => errors.push(FieldError::new("types", "must be an object")),
            ("digest", value) => match value.as_str().and_then(Digest::parse) {
                Some(d) => digest = Some(d),
                None => errors.push(FieldError::new("digest", "must be off, daily or weekly")),
            },
            (other, value) => match (kind_of(other), value.as_bool()) {
                (Some(kind), Some(on)) => changes.push((kind, Channel::InApp, on)),
                (Some(_), None) => errors.push(FieldError::new(other, "must be true or false")),
                (None, _) => errors.push(FieldError::new(other, "unknown field")),
            },
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    for (kind, channel, on) in changes {
        state.set(kind, channel, on);
    }
    if let Some(d) = digest {
        state.digest = d;
    }
    Ok(())
}

/// Applies a change (read, then one transaction that sets the lists, leaving the counter, and
/// moves the user among the digest subscribers if the frequency changed).
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    body: serde_json::Value,
) -> Result<Preferences> {
    let mut state = state(db, user_id).await?;
    let previous = state.digest;
    apply(&mut state, &body)?;
    store::set_preferences(db, user_id, &state, previous).await?;
    Ok(view(&state, crate::email::status(db, user_id).await?))
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

    const REACHABLE: EmailStatus = EmailStatus {
        address_known: true,
        suppressed: false,
    };

    #[test]
    fn preferences_list_every_type_with_its_channels() {
        let mut state = State::default();
        apply(&mut state, &serde_json::json!({"new_post": false})).unwrap();
        let v = view(&state, REACHABLE);
        assert_eq!(v.types.len(), Kind::ALL.len());
        assert!(v.types["new_direct_message"].in_app);
        assert!(!v.types["new_post"].in_app);
        assert!(v.types["new_reply"].in_app && v.types["new_reply"].email);
        assert_eq!(v.digest, "off");
    }

    #[test]
    fn the_defaults_email_what_is_about_the_reader_and_keep_the_rest_in_the_app() {
        let state = State::default();
        for kind in [
            Kind::NewMention,
            Kind::NewReply,
            Kind::AnswerAccepted,
            Kind::PostApproved,
            Kind::PostRejected,
            Kind::Announcement,
        ] {
            assert!(state.channels(kind).email, "{kind:?}");
        }
        for kind in [Kind::NewPost, Kind::NewMessage, Kind::PostFlagged] {
            assert!(!state.channels(kind).email, "{kind:?}");
            assert!(!state.channels(kind).push, "{kind:?}");
            assert!(state.channels(kind).in_app, "{kind:?}");
        }
    }

    #[test]
    fn a_choice_back_to_the_default_is_not_kept() {
        let mut state = State::default();
        apply(
            &mut state,
            &serde_json::json!({"types": {"new_post": {"email": true}}}),
        )
        .unwrap();
        assert!(state.channels(Kind::NewPost).email);
        assert_eq!(state.choices.len(), 1);
        apply(
            &mut state,
            &serde_json::json!({"types": {"new_post": {"email": false}}}),
        )
        .unwrap();
        assert!(!state.channels(Kind::NewPost).email);
        assert!(state.choices.is_empty());
    }

    #[test]
    fn anything_unknown_is_refused_and_nothing_is_applied() {
        let mut state = State::default();
        for body in [
            serde_json::json!({"types": {"new_post": {"sms": true}}, "digest": "daily"}),
            serde_json::json!({"types": {"new_thing": {"email": true}}, "digest": "daily"}),
            serde_json::json!({"types": {"new_post": {"email": "yes"}}, "digest": "daily"}),
            serde_json::json!({"digest": "hourly", "new_post": false}),
            serde_json::json!({"colour": "blue", "digest": "daily"}),
        ] {
            assert!(
                matches!(apply(&mut state, &body), Err(Error::Validation(_))),
                "{body}"
            );
            assert_eq!(state, State::default(), "{body}");
        }
        assert!(matches!(
            apply(&mut state, &serde_json::json!([])),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn null_changes_nothing_at_any_level() {
        let mut state = State::default();
        let body = serde_json::json!({
            "types": {"new_post": null, "new_reply": {"email": null}},
            "digest": null,
            "new_mention": null
        });
        apply(&mut state, &body).unwrap();
        assert_eq!(state, State::default());
    }
}
