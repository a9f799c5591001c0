//! The connection use cases: `$connect`, `$disconnect`, subscribe, unsubscribe and who is
//! online. Each loads access once through the guard where the community is read, writes through
//! [`crate::store::connections`]. Presence is told by the stream's consumer, coalesced
//! ([`crate::realtime::presence`]), not by these.

use super::{Connection, Online};
use crate::access::{Access, Action};
use crate::auth::{Principal, Role};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::realtime::{self, Pusher};
use crate::store::connections::{self as store, Granted};
use chrono::{DateTime, Utc};

/// Who is speaking on a connection: its record, as its token said at `$connect` (401 when it is
/// not registered: the client reconnects).
pub async fn identify(db: &Db, connection_id: &str) -> Result<Connection> {
    store::get(db, connection_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("connection is not registered; reconnect".into()))
}

/// How often a subscription is decided again when the facts under its grant changed between the
/// guard's read and the write (a revocation racing it).
const GRANT_ATTEMPTS: usize = 3;

fn facts_kept_changing() -> Error {
    Error::Conflict("your access to this community is changing; try again".into())
}

/// Registers a new connection of `caller` (already authenticated) and subscribes it to
/// `community_id` if given; a caller who may not read that community is refused before anything
/// is written. Record, index row and subscription go in one transaction that checks the facts
/// the read grant rests on.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, connection_id = connection_id))]
pub async fn connect(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Principal,
    connection_id: &str,
    community_id: Option<&str>,
) -> Result<Connection> {
    let Some(id) = community_id else {
        let conn = Connection::open(connection_id, caller, now);
        store::register(db, &conn, None).await?;
        return Ok(conn);
    };
    tracing::Span::current().record("community_id", id);
    for _ in 0..GRANT_ATTEMPTS {
        let access = Access::load(db, caller, id, now).await?;
        access.require(Action::Read)?;
        let grant = access
            .read_grant()
            .ok_or_else(|| Error::internal("the guard allowed reading without a read grant"))?;
        let mut conn = Connection::open(connection_id, caller, now);
        conn.communities.push(access.community.id.clone());
        if store::register(db, &conn, Some((&access.community.id, &grant))).await?
            == Granted::FactsChanged
        {
            continue;
        }
        // The user's first connection there creates their presence row: the stream's presence
        // consumer tells the room ([`crate::realtime::presence`]).
        store::count_in(db, &conn, &access.community.id, &grant).await?;
        return Ok(conn);
    }
    Err(facts_kept_changing())
}

/// Removes a connection's records (the last connection of its user in a community removes their
/// presence row there, which the stream tells the room). Answers the connection, if it was
/// registered.
#[tracing::instrument(skip_all, fields(connection_id = connection_id))]
pub async fn disconnect(db: &Db, connection_id: &str) -> Result<Option<Connection>> {
    let Some(conn) = store::get(db, connection_id).await? else {
        return Ok(None);
    };
    store::remove(db, &conn).await?;
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
    let mut subscribed = None;
    for _ in 0..GRANT_ATTEMPTS {
        let access = Access::load(db, &conn.principal(), community_id, now).await?;
        access.require(Action::Read)?;
        let grant = access
            .read_grant()
            .ok_or_else(|| Error::internal("the guard allowed reading without a read grant"))?;
        if let Granted::Done(s) = store::subscribe(db, conn, community_id, &grant).await? {
            subscribed = Some(s);
            break;
        }
    }
    subscribed.ok_or_else(facts_kept_changing)?;
    let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
    let payload = realtime::event("subscribed", body, &crate::clock::iso(now));
    realtime::reply(pusher, &conn.connection_id, &payload).await
}

/// What [`refresh_access`] did to one user's subscriptions in a community.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Rows whose `access_until` was rewritten (the holder may still read).
    pub kept: usize,
    /// Rows removed (the holder may not read any more).
    pub removed: usize,
}

/// Makes a user's subscription rows in a community agree with their access now: called by every
/// change of a fact the guard reads for them there (membership, enrollment, course instructor
/// role), after that change is stored. Each row's holder is judged again by the guard with the
/// platform role the row carries; a row whose holder may still read gets the new end of their
/// access, the others are removed (with their presence count; nothing is pushed: the holder
/// simply stops receiving). One consistent Query of the user's connections, one BatchGetItem, then
/// per row one guard read and one write; nothing at all if the user has no open connection.
#[tracing::instrument(skip_all, fields(community_id, user_id))]
pub async fn refresh_access(
    db: &Db,
    community_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Refreshed> {
    let mut done = Refreshed::default();
    for (sub, conn) in store::subscriptions_of(db, community_id, user_id).await? {
        let mut settled = false;
        for _ in 0..GRANT_ATTEMPTS {
            let principal = match &conn {
                Some(c) => c.principal(),
                None => Principal {
                    user_id: sub.user_id.clone(),
                    role: sub.role.unwrap_or(Role::Student),
                    name: String::new(),
                    username: None,
                },
            };
            let grant = Access::load_many(db, &principal, &[community_id.to_string()], now)
                .await?
                .pop()
                .and_then(|a| a.read_grant());
            match grant {
                Some(grant) => {
                    if store::set_access(db, community_id, &sub, &grant).await? == Granted::Done(())
                    {
                        done.kept += 1;
                        settled = true;
                        break;
                    }
                }
                None => {
                    match &conn {
                        Some(c) => {
                            store::unsubscribe(db, c, community_id).await?;
                        }
                        None => {
                            store::delete_subscription(db, community_id, &sub.connection_id).await?
                        }
                    }
                    done.removed += 1;
                    settled = true;
                    break;
                }
            }
        }
        if !settled {
            // The facts kept changing under us: remove the row rather than let it outlive the
            // access; the client's next subscribe decides again.
            store::delete_subscription(db, community_id, &sub.connection_id).await?;
            done.removed += 1;
        }
    }
    tracing::info!(
        kept = done.kept,
        removed = done.removed,
        "subscriptions refreshed"
    );
    Ok(done)
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
    store::unsubscribe(db, conn, community_id).await?;
    let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
    let payload = realtime::event("unsubscribed", body, &crate::clock::iso(now));
    realtime::reply(pusher, &conn.connection_id, &payload).await
}

/// Users online in a community (at least one subscribed connection), each only while they may
/// read it: the presence rows carry the end of their holder's access and are rewritten or removed
/// with the subscriptions ([`refresh_access`]), so the list is the guard's check of the caller
/// and one Query, however many are online.
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
    store::online(db, community_id, now).await
}
