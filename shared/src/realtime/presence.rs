//! Presence, coalesced: a user's first connection into a community creates their presence row
//! and their last one out removes it; the table's stream hands those edges to the notifier in
//! batches (a window of a second), which tells each community once per batch what changed, net:
//! one `presence` frame with the users who came online and those who went. A user who left and
//! came back within one batch (a reconnect, a mass reconnect after a network blip) changed
//! nothing and is not mentioned; a room where nothing changed, net, gets no frame at all.

use super::{Audience, DeliveryReport, Pusher, broadcast, event};
use crate::db::Db;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The `entity` of a presence row (what the stream's filter selects).
pub use crate::connections::PRESENCE_ENTITY as ENTITY;

/// A presence row appeared (the user's first connection in) or went (their last one out, or its
/// TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Online,
    Offline,
}

/// One presence edge, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub community_id: String,
    pub user_id: String,
    pub name: String,
    pub edge: Edge,
}

/// A user who came online, as the frame names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Joined {
    pub user_id: String,
    pub name: String,
}

/// What changed in one community over a batch, net.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Net {
    pub joined: Vec<Joined>,
    pub left: Vec<String>,
}

/// The net change of each community over a batch of edges (in stream order): a user whose first
/// and last edge leave them as they were (offline -> online -> offline, or the reverse) is
/// left out. Communities with no net change are absent.
pub fn coalesce(changes: &[Change]) -> BTreeMap<String, Net> {
    // (community, user) -> (state before the batch, state after, name)
    let mut users: BTreeMap<(&str, &str), (bool, bool, &str)> = BTreeMap::new();
    for c in changes {
        let online = c.edge == Edge::Online;
        users
            .entry((&c.community_id, &c.user_id))
            .and_modify(|(_, after, name)| {
                *after = online;
                if online {
                    *name = &c.name;
                }
            })
            // A first edge to online means they were offline before, and the reverse.
            .or_insert((!online, online, &c.name));
    }
    let mut out: BTreeMap<String, Net> = BTreeMap::new();
    for ((community, user), (before, after, name)) in users {
        if before == after {
            continue;
        }
        let net = out.entry(community.to_string()).or_default();
        if after {
            net.joined.push(Joined {
                user_id: user.to_string(),
                name: name.to_string(),
            });
        } else {
            net.left.push(user.to_string());
        }
    }
    out
}

/// Tells each community of a batch its net presence change: one `presence` frame to every
/// connection subscribed there (one subscription Query per community that changed). Best
/// effort: a community that could not be told is logged, the others still are.
pub async fn announce(
    db: &Db,
    pusher: &dyn Pusher,
    changes: &[Change],
    now: DateTime<Utc>,
) -> DeliveryReport {
    let mut total = DeliveryReport::default();
    for (community_id, net) in coalesce(changes) {
        let payload = event(
            "presence",
            serde_json::json!({ "community_id": community_id, "joined": net.joined, "left": net.left }),
            &crate::clock::iso(now),
        );
        let audience = Audience {
            community_id: &community_id,
            ..Default::default()
        };
        match broadcast(db, pusher, audience, &payload, now).await {
            Ok(report) => {
                tracing::info!(
                    community_id,
                    joined = net.joined.len(),
                    left = net.left.len(),
                    ?report,
                    "presence told"
                );
                total = total + report;
            }
            Err(e) => tracing::warn!(community_id, error = %e, "presence: could not tell"),
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(community: &str, user: &str, edge: Edge) -> Change {
        Change {
            community_id: community.into(),
            user_id: user.into(),
            name: user.to_uppercase(),
            edge,
        }
    }

    #[test]
    fn a_reconnect_within_a_batch_changes_nothing_and_real_changes_are_told_once() {
        use Edge::*;
        let batch = [
            change("c1", "ann", Offline),
            change("c1", "bob", Online),
            change("c1", "ann", Online),
            change("c2", "cid", Online),
            change("c2", "cid", Offline),
            change("c1", "dan", Offline),
            change("c1", "eve", Online),
            change("c1", "eve", Offline),
            change("c1", "eve", Online),
        ];
        let net = coalesce(&batch);
        assert_eq!(net.len(), 1, "c2 changed nothing, net: {net:?}");
        let c1 = &net["c1"];
        let joined: Vec<&str> = c1.joined.iter().map(|j| j.user_id.as_str()).collect();
        assert_eq!(joined, ["bob", "eve"]);
        assert_eq!(c1.joined[0].name, "BOB");
        assert_eq!(c1.left, ["dan"]);
    }

    #[test]
    fn a_mass_reconnect_is_no_presence_change_at_all() {
        let mut batch = Vec::new();
        for n in 0..500 {
            batch.push(change("c1", &format!("u{n}"), Edge::Offline));
        }
        for n in 0..500 {
            batch.push(change("c1", &format!("u{n}"), Edge::Online));
        }
        assert!(coalesce(&batch).is_empty());
    }
}
