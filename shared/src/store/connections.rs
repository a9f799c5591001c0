//! The connections store: every DynamoDB request of WebSocket connections, their community
//! subscriptions and the presence counts.

use super::TxOutcome;
use super::db::{Db, Tx, attr_n, attr_s, check_of, n, s, sdk, to_item, update_of};
use crate::connections::{Connection, Online, Subscription};
use crate::error::Result;
use crate::keys;
use crate::model::grant::{Basis, ReadGrant};
use aws_sdk_dynamodb::types::AttributeValue;
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

/// How a write that made or changed a subscription under a read grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted<T> {
    Done(T),
    /// A fact the grant rests on changed since it was read (its transaction's checks failed):
    /// nothing was written; decide again from fresh facts.
    FactsChanged,
}

/// Adds to `tx` the checks that the facts a read grant rests on are still those read: the
/// membership exists, the enrollment is the version read and active, the user is still one of
/// the course's instructors. A revocation that lands between the guard's read and this write
/// fails the transaction instead of leaving a row that outlives the access.
fn check_grant(tx: &mut Tx, community_id: &str, user_id: &str, grant: &ReadGrant) -> Result<()> {
    for basis in &grant.rests_on {
        match basis {
            Basis::Membership => {
                tx.require_exists("membership", &keys::member(community_id, user_id))?;
            }
            Basis::Enrollment { updated_at } => {
                tx.check(
                    "enrollment",
                    check_of(&keys::enrollment(community_id, user_id))
                        .condition_expression("updated_at = :u AND is_active = :t")
                        .expression_attribute_values(":u", s(updated_at))
                        .expression_attribute_values(":t", AttributeValue::Bool(true)),
                )?;
            }
            Basis::CourseInstructor => {
                tx.check(
                    "instructor",
                    check_of(&keys::community(community_id))
                        .condition_expression("contains(instructor_ids, :u)")
                        .expression_attribute_values(":u", s(user_id)),
                )?;
            }
        }
    }
    Ok(())
}

fn grant_refused(r: &super::Refused) -> bool {
    r.by("membership") || r.by("enrollment") || r.by("instructor")
}

/// Writes a new connection: its record and the user's index row, and, with `subscription`, its
/// subscription row in that community under the grant (checked), in one transaction. The record
/// must list that community already.
pub async fn register(
    db: &Db,
    conn: &Connection,
    subscription: Option<(&str, &ReadGrant)>,
) -> Result<Granted<()>> {
    let user_row = to_item(
        &keys::user_connection(&conn.user_id, &conn.connection_id),
        &serde_json::json!({ "connection_id": conn.connection_id, "ttl": conn.ttl }),
    )?;
    let mut tx = db.tx();
    tx.put(to_item(&keys::connection(&conn.connection_id), conn)?)?
        .put(user_row)?;
    if let Some((community_id, grant)) = subscription {
        tx.put(to_item(
            &keys::subscription(community_id, &conn.connection_id),
            &conn.subscription(grant),
        )?)?;
        check_grant(&mut tx, community_id, &conn.user_id, grant)?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Granted::Done(())),
        TxOutcome::Refused(r) if grant_refused(&r) => Ok(Granted::FactsChanged),
        TxOutcome::Refused(r) => Err(crate::Error::internal(format!(
            "register: refused by {:?}",
            r.names()
        ))),
    }
}

pub async fn get(db: &Db, connection_id: &str) -> Result<Option<Connection>> {
    db.get(&keys::connection(connection_id)).await
}

/// Adds the subscription row under the grant and the community to the connection's list, in one
/// transaction with the grant's checks; then, if the row is new, one to the user's presence count
/// there.
pub async fn subscribe(
    db: &Db,
    conn: &Connection,
    community_id: &str,
    grant: &ReadGrant,
) -> Result<Granted<Subscribed>> {
    let mut tx = db.tx();
    tx.put_new(
        "subscribed",
        to_item(
            &keys::subscription(community_id, &conn.connection_id),
            &conn.subscription(grant),
        )?,
    )?
    .update(
        Some("connection"),
        update_of(&keys::connection(&conn.connection_id))
            .update_expression(
                "SET communities = list_append(if_not_exists(communities, :empty), :c)",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(
                ":c",
                serde_dynamo::to_attribute_value(vec![community_id])?,
            )
            .expression_attribute_values(
                ":empty",
                serde_dynamo::to_attribute_value(Vec::<String>::new())?,
            ),
    )?;
    check_grant(&mut tx, community_id, &conn.user_id, grant)?;
    match db.run(tx).await? {
        TxOutcome::Done => {}
        TxOutcome::Refused(r) if r.by("subscribed") => {
            return Ok(Granted::Done(Subscribed::Already));
        }
        TxOutcome::Refused(r) if grant_refused(&r) => return Ok(Granted::FactsChanged),
        TxOutcome::Refused(_) => {
            return Err(crate::Error::Unauthorized(
                "connection is not registered; reconnect".into(),
            ));
        }
    }
    let connections = presence_add(db, community_id, conn, 1, Some(grant)).await?;
    Ok(Granted::Done(Subscribed::New { connections }))
}

/// Adds one to the user's presence count in a community for a connection registered with its
/// subscription there ([`register`]).
pub async fn count_in(
    db: &Db,
    conn: &Connection,
    community_id: &str,
    grant: &ReadGrant,
) -> Result<Subscribed> {
    let connections = presence_add(db, community_id, conn, 1, Some(grant)).await?;
    Ok(Subscribed::New { connections })
}

/// One user's subscriptions in a community, with their connection records (absent if the record
/// is gone already): the user's connections (one consistent Query), then the subscription rows
/// and records of those (BatchGetItem, consistent).
pub async fn subscriptions_of(
    db: &Db,
    community_id: &str,
    user_id: &str,
) -> Result<Vec<(Subscription, Option<Connection>)>> {
    let ids = of_user_consistent(db, user_id).await?;
    let mut out = Vec::new();
    // Two keys per connection, 100 keys a batch.
    for chunk in ids.chunks(50) {
        let keys: Vec<_> = chunk
            .iter()
            .flat_map(|id| [keys::subscription(community_id, id), keys::connection(id)])
            .collect();
        let items = db.get_many(&keys).await?;
        for pair in items.chunks(2) {
            if let [Some(sub), conn] = pair {
                let sub: Subscription = super::db::from_item(sub.clone())?;
                let conn = match conn {
                    Some(c) => Some(super::db::from_item(c.clone())?),
                    None => None,
                };
                out.push((sub, conn));
            }
        }
    }
    Ok(out)
}

/// Rewrites the end of a subscription's access under a new grant, in one transaction with the
/// grant's checks (a row already gone stays gone).
pub async fn set_access(
    db: &Db,
    community_id: &str,
    sub: &Subscription,
    grant: &ReadGrant,
) -> Result<Granted<()>> {
    let key = keys::subscription(community_id, &sub.connection_id);
    let update = match grant.until_ms() {
        Some(ms) => update_of(&key)
            .update_expression("SET access_until = :a")
            .expression_attribute_values(":a", n(ms)),
        None => update_of(&key).update_expression("REMOVE access_until"),
    }
    .condition_expression("attribute_exists(PK)");
    let mut tx = db.tx();
    tx.update(Some("subscription"), update)?;
    check_grant(&mut tx, community_id, &sub.user_id, grant)?;
    match db.run(tx).await? {
        TxOutcome::Done => {}
        TxOutcome::Refused(r) if grant_refused(&r) => return Ok(Granted::FactsChanged),
        TxOutcome::Refused(_) => return Ok(Granted::Done(())),
    }
    // The user's presence row shows the same end (it may be gone: their last connection left).
    let presence = keys::presence(community_id, &sub.user_id);
    let update = match grant.until_ms() {
        Some(ms) => db
            .update_item(&presence)
            .update_expression("SET access_until = :a")
            .expression_attribute_values(":a", n(ms)),
        None => db
            .update_item(&presence)
            .update_expression("REMOVE access_until"),
    };
    match update
        .condition_expression("attribute_exists(PK)")
        .send()
        .await
    {
        Ok(_) => Ok(Granted::Done(())),
        Err(e) if super::db::is_condition_failed(&e) => Ok(Granted::Done(())),
        Err(e) => Err(sdk(e)),
    }
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
    let connections = presence_add(db, community_id, conn, -1, None).await?;
    Ok(Unsubscribed::Removed { connections })
}

/// Adjusts a user's connection count in a community; removes the row when it reaches zero. With
/// a grant (a new subscription), the row takes the end of the user's access as well, so the
/// online list needs no access read.
async fn presence_add(
    db: &Db,
    community_id: &str,
    conn: &Connection,
    delta: i64,
    grant: Option<&ReadGrant>,
) -> Result<i64> {
    let key = keys::presence(community_id, &conn.user_id);
    // `entity` and `community_id` let the stream's presence consumer read the row's edges.
    let set = "ADD connections :d SET user_id = :u, #n = :name, #t = :ttl, entity = :e, community_id = :c";
    let (expression, until) = match grant.map(ReadGrant::until_ms) {
        Some(Some(ms)) => (format!("{set}, access_until = :a"), Some(ms)),
        Some(None) => (format!("{set} REMOVE access_until"), None),
        None => (set.to_string(), None),
    };
    let out = db
        .update_item(&key)
        .update_expression(expression)
        .set_expression_attribute_values(until.map(|ms| [(":a".to_string(), n(ms))].into()))
        .expression_attribute_names("#n", "name")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":d", n(delta))
        .expression_attribute_values(":u", s(&conn.user_id))
        .expression_attribute_values(":e", s(crate::connections::PRESENCE_ENTITY))
        .expression_attribute_values(":c", s(community_id))
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

/// The live subscriptions of a community whose holders may still read it: one Query per 1 MB
/// page, rows past their connection's `ttl` or their holder's `access_until` skipped.
pub async fn subscribers(
    db: &Db,
    community_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .filter_expression(
                "#t > :now AND (attribute_not_exists(access_until) OR access_until > :now_ms)",
            )
            .expression_attribute_names("#t", "ttl")
            .expression_attribute_values(":pk", s(keys::subscriptions_pk(community_id)))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis())),
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

/// Connection ids of one user, read strongly consistent (a revocation must see every connection
/// registered before it).
async fn of_user_consistent(db: &Db, user_id: &str) -> Result<Vec<String>> {
    let items = db
        .read_all_items(
            db.query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .consistent_read(true)
                .expression_attribute_values(":pk", s(keys::user_connection(user_id, "").pk))
                .expression_attribute_values(":sk", s(keys::USER_CONNECTION_PREFIX)),
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(|i| attr_s(i, "connection_id"))
        .collect())
}

/// Users with at least one subscribed connection in a community who may still read it (their
/// row's `access_until` not passed): one Query per 1 MB page, no access read.
pub async fn online(db: &Db, community_id: &str, now: DateTime<Utc>) -> Result<Vec<Online>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .filter_expression(
                "connections > :zero AND (attribute_not_exists(access_until) OR access_until > :now_ms)",
            )
            .expression_attribute_values(":pk", s(keys::presence_pk(community_id)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now_ms", n(now.timestamp_millis())),
    )
    .await
}
