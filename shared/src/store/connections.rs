//! The connections store: every DynamoDB request of WebSocket connections, their community
//! subscriptions and the presence counts.

use super::db::{Db, attr_n, attr_s, is_condition_failed, n, s, sdk, to_item};
use crate::connections::{Connection, Online, Subscription};
use crate::error::Result;
use crate::keys;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

/// What a subscription write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// The row is new; the user now has `connections` connections in the community.
    New { connections: i64 },
    /// The connection was subscribed already (the row's PutItem condition): nothing changed.
    Already,
}

/// What removing a subscription did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The row was there; the user has `connections` connections left in the community.
    Removed { connections: i64 },
    /// There was no such subscription: nothing changed.
    NotSubscribed,
}

/// Writes a new connection: its record and the user's index row, in one transaction.
pub async fn register(db: &Db, conn: &Connection) -> Result<()> {
    let user_row = to_item(
        &keys::user_connection(&conn.user_id, &conn.connection_id),
        &serde_json::json!({ "connection_id": conn.connection_id, "ttl": conn.ttl }),
    )?;
    let mut tx = db.tx();
    tx.put(to_item(&keys::connection(&conn.connection_id), conn)?)?
        .put(user_row)?;
    match db.run(tx).await? {
        super::TxOutcome::Done => Ok(()),
        super::TxOutcome::Refused(r) => Err(crate::Error::internal(format!(
            "register: refused by {:?}",
            r.names()
        ))),
    }
}

pub async fn get(db: &Db, connection_id: &str) -> Result<Option<Connection>> {
    db.get(&keys::connection(connection_id)).await
}

/// Adds the subscription row (conditional PutItem), then, if it is new, the community to the
/// connection's list and one to the user's presence count there.
pub async fn subscribe(db: &Db, conn: &Connection, community_id: &str) -> Result<Subscribed> {
    let added = db
        .put_item()
        .set_item(Some(to_item(
            &keys::subscription(community_id, &conn.connection_id),
            &conn.subscription(),
        )?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match added {
        Ok(_) => {}
        Err(e) if is_condition_failed(&e) => return Ok(Subscribed::Already),
        Err(e) => return Err(sdk(e)),
    }
    db.update_item(&keys::connection(&conn.connection_id))
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
    let connections = presence_add(db, community_id, conn, 1).await?;
    Ok(Subscribed::New { connections })
}

/// Removes one subscription row and, if it was there, the community from the connection's list
/// and one from the user's presence count.
pub async fn unsubscribe(db: &Db, conn: &Connection, community_id: &str) -> Result<Unsubscribed> {
    let removed = db
        .delete_item(&keys::subscription(community_id, &conn.connection_id))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .map_err(sdk)?;
    if removed.attributes.is_none() {
        return Ok(Unsubscribed::NotSubscribed);
    }
    let remaining: Vec<&String> = conn
        .communities
        .iter()
        .filter(|c| c.as_str() != community_id)
        .collect();
    // The connection record may be gone already (a prune, its TTL): the count still goes down.
    let _ = db
        .update_item(&keys::connection(&conn.connection_id))
        .update_expression("SET communities = :c")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":c", serde_dynamo::to_attribute_value(remaining)?)
        .send()
        .await;
    let connections = presence_add(db, community_id, conn, -1).await?;
    Ok(Unsubscribed::Removed { connections })
}

/// Adjusts a user's connection count in a community; removes the row when it reaches zero.
async fn presence_add(db: &Db, community_id: &str, conn: &Connection, delta: i64) -> Result<i64> {
    let key = keys::presence(community_id, &conn.user_id);
    // The platform role rides along so the online list can ask the guard about each user.
    let role = conn.role.unwrap_or(crate::auth::Role::Student);
    let out = db
        .update_item(&key)
        .update_expression("ADD connections :d SET user_id = :u, #n = :name, #t = :ttl, #r = :role")
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_names("#r", "role")
        .expression_attribute_values(":d", n(delta))
        .expression_attribute_values(":u", s(&conn.user_id))
        .expression_attribute_values(":name", s(&conn.name))
        .expression_attribute_values(":ttl", n(conn.ttl))
        .expression_attribute_values(
            ":role",
            s(serde_json::to_value(role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
        )
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
        // Only if no connection came in meanwhile.
        let _ = db
            .delete_item(&key)
            .condition_expression("connections <= :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
    }
    Ok(count)
}

/// Removes a connection's subscriptions (one [`unsubscribe`] each) and then its record and index
/// row; answers the communities where the user has no connection left.
pub async fn remove(db: &Db, conn: &Connection) -> Result<Vec<String>> {
    let mut left = Vec::new();
    for community_id in &conn.communities {
        if let Unsubscribed::Removed { connections } = unsubscribe(db, conn, community_id).await?
            && connections <= 0
        {
            left.push(community_id.clone());
        }
    }
    for key in [
        keys::connection(&conn.connection_id),
        keys::user_connection(&conn.user_id, &conn.connection_id),
    ] {
        db.delete_item(&key).send().await.map_err(sdk)?;
    }
    Ok(left)
}

/// Deletes one subscription row by its key alone (a row that outlived its connection record).
pub async fn delete_subscription(db: &Db, community_id: &str, connection_id: &str) -> Result<()> {
    db.delete_item(&keys::subscription(community_id, connection_id))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The live subscriptions of a community (one Query per 1 MB page; expired rows skipped).
pub async fn subscribers(
    db: &Db,
    community_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .filter_expression("#t > :now")
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":pk", s(keys::subscriptions_pk(community_id)))
            .expression_attribute_values(":now", n(now.timestamp())),
    )
    .await
}

/// Connection ids of one user (one Query of the user's partition).
pub async fn of_user(db: &Db, user_id: &str) -> Result<Vec<String>> {
    let out = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(":pk", s(keys::user_connection(user_id, "").pk))
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

/// Users with at least one subscribed connection in a community (one Query).
pub async fn online(db: &Db, community_id: &str) -> Result<Vec<Online>> {
    let out = db
        .query()
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
        .map(super::db::from_item)
        .collect()
}
