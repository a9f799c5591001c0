//! Pushing events to WebSocket connections through the API Gateway Management API: an event is
//! serialized once, fanned out to its audience concurrently (with a bound), connections API
//! Gateway reports gone are pruned, throttling and API Gateway's own errors (5xx) are retried,
//! and a connection that still could not be reached is logged and closed (its client reconnects
//! and catches up), without stopping delivery to the others. Every function that pushes goes through here.

use crate::access::{Action, Decision, Facts, decide};
use crate::auth::{Principal, Role};
use crate::communities::Community;
use crate::connections::{self, Connection, Presence, Subscription};
use crate::db::{Db, from_item, s, sdk};
use crate::error::{Error, Result};
use crate::keys::{self, Key};
use crate::lms::Enrollment;
use crate::membership::Member;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// PostToConnection calls in flight at once per fan-out (override with `FANOUT_CONCURRENCY`).
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Retries of one PostToConnection that API Gateway throttled (429, LimitExceededException) or
/// failed on its side (5xx), with jittered exponential backoff (at most about 0.3 s in all).
pub const TRANSIENT_RETRIES: u32 = 5;
/// Time allowed for one PostToConnection attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// What became of one PostToConnection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// API Gateway says the connection is gone (410): its records should be removed.
    Gone,
}

enum Attempt {
    Sent,
    Gone,
    /// Throttled (429) or an error on API Gateway's side (5xx): worth another attempt.
    Transient(String),
    Failed(String),
}

/// What a fan-out did: one count per connection it tried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Connections API Gateway reported gone; their records were removed.
    pub gone: usize,
    /// Connections that could not be reached for another reason (logged with their id).
    pub failed: usize,
    /// Throttled or failed (5xx) attempts that were retried.
    pub retried: usize,
    /// Of `sent`, those that reached a connection of a user other than the event's author.
    pub sent_to_others: usize,
}

impl DeliveryReport {
    fn add(mut self, other: DeliveryReport) -> Self {
        self.sent += other.sent;
        self.gone += other.gone;
        self.failed += other.failed;
        self.retried += other.retried;
        self.sent_to_others += other.sent_to_others;
        self
    }
}

/// One connection an event goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub connection_id: String,
    pub user_id: String,
    /// The community whose subscription row led here (pruned with the connection if it is gone).
    pub community_id: Option<String>,
}

impl Target {
    fn of(sub: Subscription, community_id: &str) -> Self {
        Self {
            connection_id: sub.connection_id,
            user_id: sub.user_id,
            community_id: Some(community_id.to_string()),
        }
    }
}

/// The Management API client and the fan-out bound.
#[derive(Clone)]
pub struct Push {
    client: Client,
    concurrency: usize,
}

impl Push {
    /// SDK retries are off: throttling and 5xx are retried here, per connection, with a small
    /// budget, and other failures are counted rather than retried, so that one slow connection
    /// cannot hold up a fan-out.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build();
        let concurrency = std::env::var("FANOUT_CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        Self {
            client: Client::from_conf(config),
            concurrency: concurrency.max(1),
        }
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    async fn attempt(&self, connection_id: &str, payload: Blob) -> Attempt {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(payload)
            .send()
            .await
        {
            Ok(_) => Attempt::Sent,
            Err(SdkError::ServiceError(e)) if e.err().is_gone_exception() => Attempt::Gone,
            // Not a gone connection: this function may not post at all (its role lacks
            // execute-api:ManageConnections on this API and stage). A deployment error.
            Err(SdkError::ServiceError(e)) if e.err().is_forbidden_exception() => {
                tracing::error!(
                    connection_id,
                    error = %aws_smithy_types::error::display::DisplayErrorContext(e.err()),
                    "the Management API refused this function (403): its role needs execute-api:ManageConnections on the WebSocket API's stage"
                );
                Attempt::Failed("forbidden (403): missing execute-api:ManageConnections".into())
            }
            Err(SdkError::ServiceError(e))
                if e.err().is_limit_exceeded_exception()
                    || e.raw().status().as_u16() == 429
                    || e.raw().status().is_server_error() =>
            {
                Attempt::Transient(format!("status {}", e.raw().status().as_u16()))
            }
            Err(e) => Attempt::Failed(
                aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            ),
        }
    }

    /// Posts to one connection, retrying transient failures with backoff; answers the retries made.
    async fn post(&self, connection_id: &str, payload: &Blob) -> (Attempt, usize) {
        let mut retries = 0;
        loop {
            match self.attempt(connection_id, payload.clone()).await {
                Attempt::Transient(_) if retries < TRANSIENT_RETRIES as usize => {
                    retries += 1;
                    crate::db::backoff(retries as u32).await;
                }
                Attempt::Transient(cause) => {
                    return (
                        Attempt::Transient(format!("{cause}; retries exhausted")),
                        retries,
                    );
                }
                other => return (other, retries),
            }
        }
    }

    /// Closes a connection that missed an event for good: its client reconnects and catches up
    /// from the history rather than never learning of the gap.
    async fn close(&self, connection_id: &str) {
        if let Err(e) = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            tracing::warn!(connection_id, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "could not close the connection");
        }
    }

    /// Sends one already-serialized event to one connection (replies, acknowledgements).
    pub async fn send(&self, connection_id: &str, payload: Blob) -> Result<Delivery> {
        match self.post(connection_id, &payload).await.0 {
            Attempt::Sent => Ok(Delivery::Sent),
            Attempt::Gone => Ok(Delivery::Gone),
            Attempt::Transient(cause) => Err(Error::internal(cause)),
            Attempt::Failed(cause) => Err(Error::internal(format!(
                "post to connection {connection_id}: {cause}"
            ))),
        }
    }

    /// Delivers one payload to every target, at most `concurrency` at a time. A gone connection's
    /// records are removed and delivery to the others goes on; nothing here fails the caller.
    pub async fn fan_out(
        &self,
        db: &Db,
        targets: Vec<Target>,
        payload: &Blob,
        author: Option<&str>,
    ) -> DeliveryReport {
        self.fan_out_stream(db, stream::iter(targets), payload, author)
            .await
    }

    /// [`Push::fan_out`] over targets that arrive while delivery is under way (a pipeline).
    pub async fn fan_out_stream(
        &self,
        db: &Db,
        targets: impl Stream<Item = Target>,
        payload: &Blob,
        author: Option<&str>,
    ) -> DeliveryReport {
        targets
            .map(|target| async move {
                let (attempt, retried) = self.post(&target.connection_id, payload).await;
                let mut report = DeliveryReport {
                    retried,
                    ..Default::default()
                };
                match attempt {
                    Attempt::Sent => {
                        report.sent = 1;
                        if author != Some(target.user_id.as_str()) {
                            report.sent_to_others = 1;
                        }
                    }
                    Attempt::Gone => {
                        report.gone = 1;
                        prune(db, &target).await;
                    }
                    Attempt::Transient(cause) => {
                        // API Gateway answered, and kept failing: the client would never learn
                        // of the gap, so the connection is closed and its client catches up.
                        report.failed = 1;
                        tracing::warn!(connection_id = %target.connection_id, error = %cause, "delivery failed; closing the connection");
                        self.close(&target.connection_id).await;
                    }
                    Attempt::Failed(cause) => {
                        // No answer (timeout, network): closing would most likely fail the same
                        // way and only add load; the connection's next failure decides.
                        report.failed = 1;
                        tracing::warn!(connection_id = %target.connection_id, error = %cause, "delivery failed");
                    }
                }
                report
            })
            .buffer_unordered(self.concurrency)
            .fold(DeliveryReport::default(), |total, one| async move {
                total.add(one)
            })
            .await
    }
}

async fn prune(db: &Db, target: &Target) {
    let now = chrono::Utc::now();
    match connections::prune(
        db,
        &target.connection_id,
        target.community_id.as_deref(),
        now,
    )
    .await
    {
        Ok(Some(_)) => {
            tracing::info!(connection_id = %target.connection_id, "pruned a gone connection")
        }
        Ok(None) => {
            tracing::info!(connection_id = %target.connection_id, "410 from a connection still opening; kept")
        }
        Err(e) => {
            tracing::warn!(connection_id = %target.connection_id, error = %e, "could not prune a gone connection")
        }
    }
}

/// A server -> client event: `{"type": ..., ..., "timestamp": ...}`, serialized once.
pub fn event(kind: &str, mut body: serde_json::Value, timestamp: &str) -> Blob {
    if !body.is_object() {
        body = serde_json::json!({});
    }
    body["type"] = serde_json::json!(kind);
    body["timestamp"] = serde_json::json!(timestamp);
    Blob::new(serde_json::to_vec(&body).expect("a JSON value serializes"))
}

/// The `error` event sent to the one connection whose message was refused.
pub fn error_event(e: &Error, client_id: Option<&str>, timestamp: &str) -> Blob {
    let mut body =
        serde_json::json!({ "code": e.code(), "detail": e.detail(), "client_id": client_id });
    match e {
        Error::RateLimited { retry_after_secs } => {
            body["retry_after"] = serde_json::json!(retry_after_secs)
        }
        Error::Validation(errors) => body["errors"] = serde_json::json!(errors),
        _ => {}
    }
    event("error", body, timestamp)
}

/// Who receives a community event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience<'a> {
    pub community_id: &'a str,
    /// The community, when the caller has it loaded (saves a read).
    pub community: Option<&'a Community>,
    /// The event's author: their connections count apart in [`DeliveryReport::sent_to_others`].
    pub author: Option<&'a str>,
    /// Leave out every connection of this user (a typing indicator goes to the others).
    pub except_user: Option<&'a str>,
    /// Leave out this connection.
    pub except_connection: Option<&'a str>,
    /// Also deliver to this connection of the author's, subscribed or not (acknowledgements).
    pub reply_to: Option<&'a str>,
}

/// Delivers a community event to the subscribers who may still read the community: one Query
/// for the subscriptions, the access re-check ([`readers`]), then the fan-out (the author's own
/// connection first: its copy is the acknowledgement).
pub async fn broadcast(
    app: &crate::App,
    audience: Audience<'_>,
    payload: &Blob,
) -> Result<DeliveryReport> {
    let Some(push) = &app.push else {
        return Ok(DeliveryReport::default());
    };
    let now = app.clock.now();
    let started = std::time::Instant::now();
    let community_id = audience.community_id;
    let subscribers = connections::subscribers(&app.db, community_id, now).await?;
    let queried = started.elapsed();
    let loaded;
    let community = match audience.community {
        Some(c) => c,
        None => {
            loaded = app
                .db
                .get::<Community>(&keys::community(community_id))
                .await?
                .ok_or(Error::NotFound("community"))?;
            &loaded
        }
    };
    let mut seen = HashSet::new();
    let subscribers: Vec<Subscription> = subscribers
        .into_iter()
        .filter(|s| audience.except_user != Some(s.user_id.as_str()))
        .filter(|s| audience.except_connection != Some(s.connection_id.as_str()))
        .filter(|s| seen.insert(s.connection_id.clone()))
        .collect();
    let connections = subscribers.len();
    let acknowledgement = match (audience.reply_to, audience.author) {
        (Some(connection_id), Some(author)) if !seen.contains(connection_id) => Some(Target {
            connection_id: connection_id.to_string(),
            user_id: author.to_string(),
            community_id: None,
        }),
        _ => None,
    };
    let readers = readers(&app.db, community, subscribers, now).await?;
    let checked = started.elapsed();
    let targets: Vec<Target> = acknowledgement
        .into_iter()
        .chain(readers.into_iter().map(|s| Target::of(s, community_id)))
        .collect();
    let report = push
        .fan_out(&app.db, targets, payload, audience.author)
        .await;
    tracing::info!(
        community_id,
        connections,
        sent = report.sent,
        gone = report.gone,
        failed = report.failed,
        retried = report.retried,
        query_ms = queried.as_millis() as u64,
        access_check_ms = (checked - queried).as_millis() as u64,
        fan_out_ms = (started.elapsed() - checked).as_millis() as u64,
        "broadcast"
    );
    Ok(report)
}

/// Delivers an event to every open connection of one user (receipts, notifications).
pub async fn to_user(app: &crate::App, user_id: &str, payload: &Blob) -> Result<DeliveryReport> {
    let Some(push) = &app.push else {
        return Ok(DeliveryReport::default());
    };
    let targets: Vec<Target> = connections::of_user(&app.db, user_id)
        .await?
        .into_iter()
        .map(|connection_id| Target {
            connection_id,
            user_id: user_id.to_string(),
            community_id: None,
        })
        .collect();
    Ok(push.fan_out(&app.db, targets, payload, None).await)
}

/// Users whose membership and enrollment fill one BatchGetItem (the DynamoDB maximum of 100 keys).
const USERS_PER_BATCH: usize = 50;

/// The receive-side access check: the subscribers who may read the community now.
///
/// A subscription was allowed when it was made, but enrollments expire and members are removed
/// while connections stay open, so every delivery re-checks each distinct user through the one
/// access rule ([`decide`]). Admins and the course's instructors need no read. For the others the
/// facts are read whichever way is cheaper: up to 50 users, one BatchGetItem of their membership
/// and enrollment items; beyond that, the community's whole roster, two Queries of its partition
/// (`MEMBER#` and `ENROLL#`, paginated per 1 MB), whose cost is the roster's size in 4 KB units
/// rather than one read per item, a fraction of it once many members are online.
pub async fn readers(
    db: &Db,
    community: &Community,
    subscribers: Vec<Subscription>,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>> {
    let mut roles: HashMap<&str, Role> = HashMap::new();
    for s in &subscribers {
        roles
            .entry(s.user_id.as_str())
            .or_insert(s.role.unwrap_or(Role::Student));
    }
    let to_check: Vec<&str> = roles
        .iter()
        .filter(|(user, role)| {
            **role != Role::Admin && !community.instructor_ids.iter().any(|i| i == *user)
        })
        .map(|(user, _)| *user)
        .collect();
    let (members, enrollments) = if to_check.is_empty() {
        Default::default()
    } else if to_check.len() <= USERS_PER_BATCH {
        facts_of(db, community, &to_check).await?
    } else {
        roster(db, community).await?
    };
    let allowed: HashSet<String> = roles
        .iter()
        .filter(|(user, role)| {
            let principal = Principal {
                user_id: user.to_string(),
                role: **role,
                name: String::new(),
                username: None,
            };
            let facts = Facts {
                principal: &principal,
                community,
                membership: members.get(**user),
                enrollment: enrollments.get(**user),
                now,
            };
            decide(&facts, Action::Read) == Decision::Allow
        })
        .map(|(user, _)| user.to_string())
        .collect();
    Ok(subscribers
        .into_iter()
        .filter(|s| allowed.contains(&s.user_id))
        .collect())
}

type Roster = (HashMap<String, Member>, HashMap<String, Enrollment>);

/// Memberships and enrollments of a few users: one BatchGetItem.
async fn facts_of(db: &Db, community: &Community, users: &[&str]) -> Result<Roster> {
    let keys: Vec<Key> = users
        .iter()
        .flat_map(|user| {
            [
                keys::member(&community.id, user),
                keys::enrollment(&community.id, user),
            ]
        })
        .collect();
    let mut items = db.get_many(&keys).await?.into_iter();
    let (mut members, mut enrollments) = (HashMap::new(), HashMap::new());
    for user in users {
        if let Some(m) = items.next().flatten() {
            members.insert(user.to_string(), from_item(m)?);
        }
        if let Some(e) = items.next().flatten() {
            enrollments.insert(user.to_string(), from_item(e)?);
        }
    }
    Ok((members, enrollments))
}

/// Every membership and enrollment of a community: two paginated Queries, run side by side.
async fn roster(db: &Db, community: &Community) -> Result<Roster> {
    let (members, enrollments) = futures::try_join!(
        query_prefix::<Member>(db, &community.id, keys::MEMBER_PREFIX),
        query_prefix::<Enrollment>(db, &community.id, ENROLLMENT_PREFIX),
    )?;
    Ok((
        members
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect(),
        enrollments
            .into_iter()
            .map(|e| (e.user_id.clone(), e))
            .collect(),
    ))
}

/// The SK prefix of enrollments in a community's partition (see [`keys::enrollment`]).
const ENROLLMENT_PREFIX: &str = "ENROLL#";

async fn query_prefix<T: serde::de::DeserializeOwned>(
    db: &Db,
    community_id: &str,
    prefix: &str,
) -> Result<Vec<T>> {
    db.client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", s(keys::community(community_id).pk))
        .expression_attribute_values(":prefix", s(prefix))
        .consistent_read(true)
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

/// Tells a community's other connections that a user came online (`user_joined`: their first
/// connection there) or went offline (`user_left`: their last one closed or unsubscribed).
pub async fn announce_presence(
    app: &crate::App,
    conn: &Connection,
    community_id: &str,
    presence: Presence,
) {
    let kind = match presence {
        Presence::Joined => "user_joined",
        Presence::Left => "user_left",
        Presence::Unchanged => return,
    };
    let payload = event(
        kind,
        serde_json::json!({ "community_id": community_id, "user_id": conn.user_id, "name": conn.name }),
        &app.now_iso(),
    );
    let audience = Audience {
        community_id,
        author: Some(&conn.user_id),
        except_connection: Some(&conn.connection_id),
        ..Default::default()
    };
    match broadcast(app, audience, &payload).await {
        Ok(report) => tracing::info!(community_id, kind, ?report, "presence announced"),
        Err(e) => tracing::warn!(community_id, error = %e, "presence: could not announce"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_carries_its_type_and_timestamp() {
        let blob = event(
            "pong",
            serde_json::json!({ "client_id": "c1" }),
            "2026-01-01T00:00:00.000Z",
        );
        let v: serde_json::Value = serde_json::from_slice(blob.as_ref()).unwrap();
        assert_eq!(v["type"], "pong");
        assert_eq!(v["client_id"], "c1");
        assert_eq!(v["timestamp"], "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_rate_limited_error_event_says_when_to_retry() {
        let e = Error::RateLimited {
            retry_after_secs: 4,
        };
        let blob = error_event(&e, Some("abc"), "t");
        let v: serde_json::Value = serde_json::from_slice(blob.as_ref()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "rate_limited");
        assert_eq!(v["retry_after"], 4);
        assert_eq!(v["client_id"], "abc");
    }

    #[test]
    fn reports_add_up() {
        let one = DeliveryReport {
            sent: 1,
            sent_to_others: 1,
            ..Default::default()
        };
        let gone = DeliveryReport {
            gone: 1,
            retried: 2,
            ..Default::default()
        };
        let total = one.add(gone).add(one);
        assert_eq!(
            (total.sent, total.gone, total.retried, total.sent_to_others),
            (2, 1, 2, 2)
        );
    }
}
