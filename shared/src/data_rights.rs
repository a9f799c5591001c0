//! Data rights (FERPA, GDPR): an admin exports everything stored about a user, or erases the
//! user. Erasure leaves the user's content in its threads under [`DELETED_USER`] and removes
//! the rest: name, username, memberships (with their counters), connections (closed),
//! notifications, notification state and preferences, watch settings, read positions,
//! enrollments, rate-limit windows, conversation memberships (their read positions and unread
//! counts; their name in a conversation's member list becomes [`DELETED_USER`]), pair claims
//! and the user's blocks.
//!
//! Erasure is a list of steps ([`ERASURE`]), one per aggregate, each idempotent, run in order:
//! a request that failed half-way is simply sent again. A new per-user aggregate adds a
//! [`Step`] (and its export section), or keeps its items in the user's partition (`USER#{id}`,
//! deleted whole by the last step) or in the owner index (GSI3, see `store::user_data`).

use crate::access::{PlatformAction, require_platform};
use crate::auth::Principal;
use crate::error::Result;
use crate::keys::{self, Key};
use crate::realtime::Pusher;
use crate::store::user_data::{self as store, Owned};
use crate::store::{Db, Item, communities, connections, lms};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The name erased users' content is shown under.
pub const DELETED_USER: &str = "Deleted user";

/// One step of an erasure, one aggregate each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Open WebSocket connections: closed through the Management API, their rows (connection,
    /// subscriptions, presence) removed.
    Connections,
    /// Memberships, each removed with its community's `member_count`.
    Memberships,
    /// The owner index: content renamed to [`DELETED_USER`]; read positions, watch settings,
    /// enrollments deleted.
    OwnedItems,
    /// The user's notifications (`USER#{id}#NOTIFS`).
    Notifications,
    /// Direct-message conversations: the user's member rows (listing, read position and so
    /// unread count) and pair claims deleted, their name in each member list renamed.
    Conversations,
    /// The blocks the user made (`USER#{id}#BLOCKS`).
    Blocks,
    /// Rate-limit windows (`RATE#{id}#{action}`).
    RateWindows,
    /// The username claim, if it is still the user's.
    Username,
    /// The user's push subscriptions and, for phones, their SNS platform endpoints (the device
    /// token would otherwise stay in SNS).
    PushSubscriptions,
    /// The user's partition: profile, notification state and preferences, everything kept per
    /// user. Last, so a re-run still finds the username.
    UserPartition,
}

/// The steps of an erasure, in order.
pub const ERASURE: [Step; 10] = [
    Step::Connections,
    Step::Memberships,
    Step::OwnedItems,
    Step::Notifications,
    Step::Conversations,
    Step::Blocks,
    Step::RateWindows,
    Step::Username,
    Step::PushSubscriptions,
    Step::UserPartition,
];

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepDone {
    pub step: Step,
    /// Items removed or renamed (0 when a previous run did it all).
    pub items: usize,
}

/// The answer of an erasure.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    pub user_id: String,
    pub steps: Vec<StepDone>,
}

/// Erases a user (admins only); idempotent.
#[tracing::instrument(skip(db, pusher, devices, caller), fields(caller = %caller.user_id))]
pub async fn erase(
    db: &Db,
    pusher: &dyn Pusher,
    devices: Option<&crate::push::Sender>,
    caller: &Principal,
    user_id: &str,
) -> Result<Erased> {
    require_platform(caller, PlatformAction::ManageUserData)?;
    let username = lms::user(db, user_id).await?.map(|u| u.username);
    let mut steps = Vec::with_capacity(ERASURE.len());
    for step in ERASURE {
        let items = run(db, pusher, devices, user_id, username.as_deref(), step).await?;
        tracing::info!(?step, items, "erasure step done");
        steps.push(StepDone { step, items });
    }
    Ok(Erased {
        user_id: user_id.to_string(),
        steps,
    })
}

async fn run(
    db: &Db,
    pusher: &dyn Pusher,
    devices: Option<&crate::push::Sender>,
    user_id: &str,
    username: Option<&str>,
    step: Step,
) -> Result<usize> {
    match step {
        Step::Connections => {
            let ids = connections::of_user(db, user_id).await?;
            for id in &ids {
                pusher.close(id).await;
                match connections::get(db, id).await? {
                    Some(conn) => {
                        connections::remove(db, &conn).await?;
                    }
                    None => {
                        store::delete_all(db, vec![keys::user_connection(user_id, id)]).await?;
                    }
                }
            }
            Ok(ids.len())
        }
        Step::Memberships => {
            let mut removed = 0;
            for community_id in communities::community_ids_of(db, user_id).await? {
                removed +=
                    usize::from(communities::delete_member(db, &community_id, user_id).await?);
            }
            Ok(removed)
        }
        Step::OwnedItems => {
            let mut done = 0;
            for key in store::owned_keys(db, user_id).await? {
                done += usize::from(store::erase_owned(db, &key, DELETED_USER).await?);
            }
            Ok(done)
        }
        Step::Notifications => {
            let items = store::partition(db, &keys::notifications_pk(user_id)).await?;
            store::delete_all(db, store::keys_of(&items)).await
        }
        Step::Conversations => {
            let mut written = 0;
            for row in store::conversation_rows(db, user_id).await? {
                if let Some(conversation_id) = crate::store::db::attr_s(&row, "conversation_id") {
                    written +=
                        store::leave_conversation(db, &conversation_id, user_id, DELETED_USER)
                            .await?;
                }
            }
            Ok(written)
        }
        Step::Blocks => {
            let items = store::partition(db, &keys::block(user_id, "").pk).await?;
            store::delete_all(db, store::keys_of(&items)).await
        }
        Step::RateWindows => {
            let mut keys = Vec::new();
            for limit in crate::ratelimit::ALL {
                let items = store::partition(db, &keys::rate_pk(user_id, limit.action)).await?;
                keys.extend(store::keys_of(&items));
            }
            store::delete_all(db, keys).await
        }
        Step::Username => match username {
            Some(name) => Ok(usize::from(
                store::release_username(db, name, user_id).await?,
            )),
            None => Ok(0),
        },
        Step::PushSubscriptions => crate::push::forget_all(db, devices, user_id).await,
        Step::UserPartition => {
            let items = store::partition(db, &keys::user_pk(user_id)).await?;
            store::delete_all(db, store::keys_of(&items)).await
        }
    }
}

/// Everything stored about a user, by section; each item as stored, without its keys.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub user_id: String,
    pub exported_at: String,
    pub sections: BTreeMap<&'static str, Vec<Value>>,
}

/// Exports a user (admins only). Sections: `profile` and the rest of the user's partition
/// (`connections`, `notification_state`, …), `memberships`, `notifications`,
/// `rate_windows`, `conversation_memberships`, `blocks`, and one per kind of the owner index (`posts`, `chat_messages`, …).
#[tracing::instrument(skip(db, caller), fields(caller = %caller.user_id))]
pub async fn export(db: &Db, caller: &Principal, user_id: &str, now: &str) -> Result<Export> {
    require_platform(caller, PlatformAction::ManageUserData)?;
    let mut sections: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    let mut add = |section: &'static str, item: Item| -> Result<()> {
        sections.entry(section).or_default().push(shown(item)?);
        Ok(())
    };
    for item in store::partition(db, &keys::user_pk(user_id)).await? {
        let sk = crate::store::db::attr_s(&item, "SK").unwrap_or_default();
        let section = match sk.as_str() {
            "PROFILE" => "profile",
            keys::NOTIFICATION_STATE_SK => "notification_state",
            _ if sk.starts_with(keys::USER_CONNECTION_PREFIX) => "connections",
            _ => "other",
        };
        add(section, item)?;
    }
    for item in store::memberships(db, user_id).await? {
        add("memberships", item)?;
    }
    for item in store::partition(db, &keys::notifications_pk(user_id)).await? {
        add("notifications", item)?;
    }
    for limit in crate::ratelimit::ALL {
        for item in store::partition(db, &keys::rate_pk(user_id, limit.action)).await? {
            add("rate_windows", item)?;
        }
    }
    for item in store::conversation_rows(db, user_id).await? {
        add("conversation_memberships", item)?;
    }
    for item in store::partition(db, &keys::block(user_id, "").pk).await? {
        add("blocks", item)?;
    }
    let owned = store::owned_keys(db, user_id).await?;
    for item in store::items(db, &owned).await? {
        let kind = match (
            crate::store::db::attr_s(&item, "PK"),
            crate::store::db::attr_s(&item, "SK"),
        ) {
            (Some(pk), Some(sk)) => Owned::of(&Key { pk, sk }),
            _ => Owned::Other,
        };
        // Other users' notifications the user acted in belong to their recipients; jobs are
        // the notifier's transient work.
        if !matches!(kind, Owned::Notification | Owned::Job | Owned::Other) {
            add(kind.section(), item)?;
        }
    }
    Ok(Export {
        user_id: user_id.to_string(),
        exported_at: now.to_string(),
        sections,
    })
}

/// An item as JSON without its table and index keys (storage details, not data).
fn shown(mut item: Item) -> Result<Value> {
    item.retain(|k, _| {
        !matches!(k.as_str(), "PK" | "SK" | "entity")
            && !(k.starts_with("GSI") && (k.ends_with("PK") || k.ends_with("SK")))
    });
    Ok(serde_dynamo::from_item(item)?)
}
