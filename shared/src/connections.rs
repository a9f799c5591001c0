//! WebSocket connections: registration on `$connect` (with a TTL, since `$disconnect` is
//! best-effort), community subscriptions, presence counts, and removal.

use crate::auth::{Principal, Role};
use crate::db::{Db, Item, attr_n, attr_s, from_item, key_item, n, s, sdk, to_item};
use crate::error::{Error, Result};
use crate::keys;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
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
}

impl Connection {
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

/// Whether a subscription change crossed a presence edge (first connection in / last out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Joined,
    Left,
    Unchanged,
}

fn put(db: &Db, item: Item) -> Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&db.table)
                .set_item(Some(item))
                .build()
                .map_err(Error::internal)?,
        )
        .build())
}

/// Registers a new connection of `principal` (the connection record and the user's index row).
pub async fn register(
    db: &Db,
    connection_id: &str,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Connection> {
    let ttl = now.timestamp() + CONNECTION_TTL_SECS;
    let conn = Connection {
        connection_id: connection_id.into(),
        user_id: principal.user_id.clone(),
        name: principal.name.clone(),
        username: principal.username.clone(),
        role: Some(principal.role),
        connected_at: crate::clock::iso(now),
        communities: Vec::new(),
        ttl,
    };
    let user_row = to_item(
        &keys::user_connection(&principal.user_id, connection_id),
        &serde_json::json!({ "connection_id": connection_id, "ttl": ttl }),
    )?;
    db.transact(vec![
        put(db, to_item(&keys::connection(connection_id), &conn)?)?,
        put(db, user_row)?,
    ])
    .await?;
    Ok(conn)
}

pub async fn get(db: &Db, connection_id: &str) -> Result<Option<Connection>> {
    db.get(&keys::connection(connection_id)).await
}

/// Subscribes a connection to a community's events; idempotent. The caller checks access first.
pub async fn subscribe(db: &Db, conn: &Connection, community_id: &str) -> Result<Presence> {
    let sub = Subscription {
        connection_id: conn.connection_id.clone(),
        user_id: conn.user_id.clone(),
        role: conn.role,
        ttl: conn.ttl,
    };
    let added = db
        .client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(to_item(
            &keys::subscription(community_id, &conn.connection_id),
            &sub,
        )?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match added {
        Ok(_) => {}
        Err(e) if crate::db::is_condition_failed(&e) => return Ok(Presence::Unchanged),
        Err(e) => return Err(sdk(e)),
    }
    db.client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::connection(&conn.connection_id))))
        .update_expression("SET communities = list_append(if_not_exists(communities, :empty), :c)")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":c", serde_dynamo::to_attribute_value(vec![community_id])?)
        .expression_attribute_values(
            ":empty",
            serde_dynamo::to_attribute_value(Vec::<String>::new())?,
        )
        .send()
        .await
        .map_err(sdk)?;
    let count = presence_add(db, community_id, conn, 1).await?;
    Ok(if count == 1 {
        Presence::Joined
    } else {
        Presence::Unchanged
    })
}

/// Removes one subscription; idempotent.
pub async fn unsubscribe(db: &Db, conn: &Connection, community_id: &str) -> Result<Presence> {
    let removed = db
        .client
        .delete_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::subscription(
            community_id,
            &conn.connection_id,
        ))))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .map_err(sdk)?;
    if removed.attributes.is_none() {
        return Ok(Presence::Unchanged);
    }
    let remaining: Vec<&String> = conn
        .communities
        .iter()
        .filter(|c| c.as_str() != community_id)
        .collect();
    let _ = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::connection(&conn.connection_id))))
        .update_expression("SET communities = :c")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":c", serde_dynamo::to_attribute_value(remaining)?)
        .send()
        .await;
    let count = presence_add(db, community_id, conn, -1).await?;
    Ok(if count <= 0 {
        Presence::Left
    } else {
        Presence::Unchanged
    })
}

/// Adjusts a user's connection count in a community; removes the row when it reaches zero.
async fn presence_add(db: &Db, community_id: &str, conn: &Connection, delta: i64) -> Result<i64> {
    let key = keys::presence(community_id, &conn.user_id);
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&key)))
        .update_expression("ADD connections :d SET user_id = :u, #n = :name, #t = :ttl")
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":d", n(delta))
        .expression_attribute_values(":u", s(&conn.user_id))
        .expression_attribute_values(":name", s(&conn.name))
        .expression_attribute_values(":ttl", n(conn.ttl))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(sdk)?;
    let count = out
        .attributes
        .as_ref()
        .and_then(|a| attr_n(a, "connections"))
        .unwrap_or(0);
    if count <= 0 {
        let _ = db
            .client
            .delete_item()
            .table_name(&db.table)
            .set_key(Some(key_item(&key)))
            .condition_expression("connections <= :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
    }
    Ok(count)
}

/// Removes a connection and all its rows; answers the communities whose presence it left.
pub async fn unregister(db: &Db, connection_id: &str) -> Result<(Option<Connection>, Vec<String>)> {
    match get(db, connection_id).await? {
        Some(conn) => remove(db, conn).await,
        None => Ok((None, Vec::new())),
    }
}

async fn remove(db: &Db, conn: Connection) -> Result<(Option<Connection>, Vec<String>)> {
    let connection_id = conn.connection_id.as_str();
    let mut left = Vec::new();
    for community_id in &conn.communities {
        if unsubscribe(db, &conn, community_id).await? == Presence::Left {
            left.push(community_id.clone());
        }
    }
    for key in [
        keys::connection(connection_id),
        keys::user_connection(&conn.user_id, connection_id),
    ] {
        db.client
            .delete_item()
            .table_name(&db.table)
            .set_key(Some(key_item(&key)))
            .send()
            .await
            .map_err(sdk)?;
    }
    Ok((Some(conn), left))
}

/// Removes what is left of a connection API Gateway reported gone (410): its subscription row
/// in `community_id` (which may outlive a missing connection record) and all its other records.
/// A connection that may still be in its `$connect` is left alone (`None`).
pub async fn prune(
    db: &Db,
    connection_id: &str,
    community_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(Option<Connection>, Vec<String>)>> {
    let unregistered = match get(db, connection_id).await? {
        Some(conn) if conn.may_be_connecting(now) => return Ok(None),
        Some(conn) => remove(db, conn).await?,
        None => (None, Vec::new()),
    };
    if let Some(community_id) = community_id {
        db.client
            .delete_item()
            .table_name(&db.table)
            .set_key(Some(key_item(&keys::subscription(
                community_id,
                connection_id,
            ))))
            .send()
            .await
            .map_err(sdk)?;
    }
    Ok(Some(unregistered))
}

/// Connection ids subscribed to a community (one Query per 1 MB page; expired rows skipped).
pub async fn subscribers(
    db: &Db,
    community_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    db.client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk")
        .filter_expression("#t > :now")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":pk", s(keys::subscriptions_pk(community_id)))
        .expression_attribute_values(":now", n(now.timestamp()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(sdk)?
        .into_iter()
        .map(from_item)
        .collect()
}

/// Connection ids of one user (notifications go to every one of them).
pub async fn of_user(db: &Db, user_id: &str) -> Result<Vec<String>> {
    let out = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(":pk", s(format!("USER#{user_id}")))
        .expression_attribute_values(":sk", s(keys::USER_CONNECTION_PREFIX))
        .send()
        .await
        .map_err(sdk)?;
    Ok(out
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(|i| attr_s(i, "connection_id"))
        .collect())
}

/// Who is online in a community: users with at least one subscribed connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Online {
    pub user_id: String,
    pub name: String,
    pub connections: i64,
}

pub async fn online(db: &Db, community_id: &str) -> Result<Vec<Online>> {
    let out = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk")
        .filter_expression("connections > :zero")
        .expression_attribute_values(":pk", s(keys::presence_pk(community_id)))
        .expression_attribute_values(":zero", n(0))
        .send()
        .await
        .map_err(sdk)?;
    out.items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect()
}
