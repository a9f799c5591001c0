//! The connection use cases: `$connect`, `$disconnect`, subscribe, unsubscribe and who is
//! online. Each loads access once through the guard where the community is read, writes through
//! [`crate::store::connections`] and tells the community when a user came online or went.

use super::{Connection, Online, Presence};
use crate::access::{Access, Action, Roster};
use crate::auth::{Principal, Role};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::realtime::{self, Pusher};
use crate::store::connections::{self as store, Subscribed, Unsubscribed};
use chrono::{DateTime, Utc};

fn joined(s: Subscribed) -> Presence {
    match s {
        Subscribed::New { connections: 1 } => Presence::Joined,
        _ => Presence::Unchanged,
    }
}

fn left(u: Unsubscribed) -> Presence {
    match u {
        Unsubscribed::Removed { connections } if connections <= 0 => Presence::Left,
        _ => Presence::Unchanged,
    }
}

/// Who is speaking on a connection: its record, as its token said at `$connect` (401 when it is
/// not registered: the client reconnects).
pub async fn identify(db: &Db, connection_id: &str) -> Result<Connection> {
    store::get(db, connection_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("connection is not registered; reconnect".into()))
}

/// Registers a new connection of `caller` (already authenticated) and subscribes it to
/// `community_id` if given; a caller who may not read that community is refused before anything
/// is written.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, connection_id = connection_id))]
pub async fn connect(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    connection_id: &str,
    community_id: Option<&str>,
) -> Result<Connection> {
    let access = match community_id {
        Some(id) => {
            tracing::Span::current().record("community_id", id);
            let access = Access::load(db, caller, id, now).await?;
            access.require(Action::Read)?;
            Some(access)
        }
        None => None,
    };
    let mut conn = Connection::open(connection_id, caller, now);
    store::register(db, &conn).await?;
    if let Some(access) = access {
        let id = &access.community.id;
        let presence = joined(store::subscribe(db, &conn, id).await?);
        conn.communities.push(id.clone());
        realtime::announce_presence(
            db,
            pusher,
            &conn,
            id,
            Some(&access.community),
            presence,
            now,
        )
        .await;
    }
    Ok(conn)
}

/// Removes a connection's records and tells each community its user left (their last
/// connection there). Answers the connection, if it was registered.
#[tracing::instrument(skip_all, fields(connection_id = connection_id))]
pub async fn disconnect(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    connection_id: &str,
) -> Result<Option<Connection>> {
    let Some(conn) = store::get(db, connection_id).await? else {
        return Ok(None);
    };
    for community_id in store::remove(db, &conn).await? {
        realtime::announce_presence(db, pusher, &conn, &community_id, None, Presence::Left, now)
            .await;
    }
    Ok(Some(conn))
}

/// Subscribes a connection to a community's events (idempotent) and answers `subscribed`.
#[tracing::instrument(skip_all, fields(community_id, user_id = %conn.user_id))]
pub async fn subscribe(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    conn: &Connection,
    community_id: &str,
    client_id: Option<&str>,
) -> Result<()> {
    tracing::Span::current().record("community_id", community_id);
    let access = Access::load(db, &conn.principal(), community_id, now).await?;
    access.require(Action::Read)?;
    let presence = joined(store::subscribe(db, conn, community_id).await?);
    let community = Some(&access.community);
    realtime::announce_presence(db, pusher, conn, community_id, community, presence, now).await;
    let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
    let payload = realtime::event("subscribed", body, &crate::clock::iso(now));
    realtime::reply(pusher, &conn.connection_id, &payload).await
}

/// Stops a connection's subscription (idempotent; no access needed) and answers `unsubscribed`.
#[tracing::instrument(skip_all, fields(community_id, user_id = %conn.user_id))]
pub async fn unsubscribe(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    conn: &Connection,
    community_id: &str,
    client_id: Option<&str>,
) -> Result<()> {
    tracing::Span::current().record("community_id", community_id);
    let presence = left(store::unsubscribe(db, conn, community_id).await?);
    realtime::announce_presence(db, pusher, conn, community_id, None, presence, now).await;
    let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
    let payload = realtime::event("unsubscribed", body, &crate::clock::iso(now));
    realtime::reply(pusher, &conn.connection_id, &payload).await
}

/// Users online in a community (at least one subscribed connection).
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id))]
pub async fn online(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Principal,
    community_id: &str,
) -> Result<Vec<Online>> {
    tracing::Span::current().record("community_id", community_id);
    let access = Access::load(db, caller, community_id, now).await?;
    access.require(Action::Read)?;
    let online = store::online(db, community_id).await?;
    // Only those who may read the community now: a member whose enrollment ended is not shown
    // while their socket stays open. One BatchGetItem per 50 users online (the roster's
    // cheaper read beyond).
    let users: Vec<String> = online.iter().map(|o| o.user_id.clone()).collect();
    let roster = Roster::for_users(db, &access.community, &users, now)
        .await?
        .with_roles(
            online
                .iter()
                .map(|o| (o.user_id.clone(), o.role.unwrap_or(Role::Student))),
        );
    Ok(online
        .into_iter()
        .filter(|o| roster.allows(&o.user_id, Action::Read))
        .collect())
}
