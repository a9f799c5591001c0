//! Pushing events to WebSocket connections: a [`Pusher`] sends one payload to one connection
//! (the Management API in AWS, [`NoopPusher`] without a WebSocket API); on top of it an event is
//! serialized once and fanned out to its audience concurrently (with a bound), connections
//! reported gone are pruned, and a connection that kept failing is closed (its client reconnects
//! and catches up), without stopping delivery to the others. Every function that pushes goes
//! through here.

mod management;
pub mod presence;

pub use crate::config::DEFAULT_FANOUT_CONCURRENCY as DEFAULT_CONCURRENCY;
pub use aws_sdk_apigatewaymanagement::primitives::Blob;
pub use management::{ManagementApi, TRANSIENT_RETRIES};

use crate::connections::{Connection, Subscription};
use crate::error::{Error, Result};
use crate::store::{Db, connections as store};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use serde::Serialize;
use std::collections::HashSet;

/// What became of one payload sent to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The connection is gone (API Gateway's 410): its records should be removed.
    Gone,
    /// Not reached. `answered`: API Gateway kept answering errors (throttling, 5xx) until the
    /// retries ran out, so the connection missed the event for good; otherwise there was no
    /// answer (timeout, network).
    Failed {
        cause: String,
        answered: bool,
    },
}

/// A [`Delivery`] and the transient failures retried on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub delivery: Delivery,
    pub retried: usize,
}

/// Sends to WebSocket connections. Object safe (boxed futures), so the composition root holds
/// one `Arc<dyn Pusher>` and use cases take `&dyn Pusher`.
pub trait Pusher: Send + Sync {
    /// Sends one already-serialized event to one connection.
    fn send<'a>(&'a self, connection_id: &'a str, payload: &'a Blob) -> BoxFuture<'a, Pushed>;

    /// Closes a connection that missed an event for good: its client reconnects and catches up
    /// from the history rather than never learning of the gap.
    fn close<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, ()>;

    /// Whether this pusher reaches any connection at all; without one, a fan-out reads nothing.
    fn reaches_connections(&self) -> bool {
        true
    }

    /// Sends in flight at once per fan-out.
    fn concurrency(&self) -> usize {
        DEFAULT_CONCURRENCY
    }
}

/// The pusher when no WebSocket API is configured: nobody is connected, nothing is sent.
pub struct NoopPusher;

impl Pusher for NoopPusher {
    fn send<'a>(&'a self, _: &'a str, _: &'a Blob) -> BoxFuture<'a, Pushed> {
        Box::pin(async {
            Pushed {
                delivery: Delivery::Failed {
                    cause: "no WebSocket API is configured".into(),
                    answered: false,
                },
                retried: 0,
            }
        })
    }

    fn close<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn reaches_connections(&self) -> bool {
        false
    }
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

impl std::ops::Add for DeliveryReport {
    type Output = Self;

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

/// Sends one event to one connection (a reply, an acknowledgement, an `error` frame). A gone
/// connection is no error (its `$disconnect` cleans up); a failure is.
pub async fn reply(pusher: &dyn Pusher, connection_id: &str, payload: &Blob) -> Result<()> {
    match pusher.send(connection_id, payload).await.delivery {
        Delivery::Delivered | Delivery::Gone => Ok(()),
        Delivery::Failed { cause, .. } => Err(Error::internal(format!(
            "post to connection {connection_id}: {cause}"
        ))),
    }
}

/// Delivers one payload to every target, at most `pusher.concurrency()` at a time. A gone
/// connection's records are removed (see [`prune`]) and delivery to the others goes on; nothing
/// here fails the caller.
pub async fn fan_out(
    pusher: &dyn Pusher,
    db: &Db,
    targets: Vec<Target>,
    payload: &Blob,
    author: Option<&str>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let tried = targets.len();
    let report = stream::iter(targets)
        .map(|target| async move {
            let pushed = pusher.send(&target.connection_id, payload).await;
            let mut report = DeliveryReport {
                retried: pushed.retried,
                ..Default::default()
            };
            match pushed.delivery {
                Delivery::Delivered => {
                    report.sent = 1;
                    if author != Some(target.user_id.as_str()) {
                        report.sent_to_others = 1;
                    }
                }
                Delivery::Gone => {
                    report.gone = 1;
                    log_prune(db, &target, now).await;
                }
                Delivery::Failed {
                    cause,
                    answered: true,
                } => {
                    // API Gateway answered, and kept failing: the client would never learn of
                    // the gap, so the connection is closed and its client catches up.
                    report.failed = 1;
                    tracing::warn!(connection_id = %target.connection_id, error = %cause, "delivery failed; closing the connection");
                    pusher.close(&target.connection_id).await;
                }
                Delivery::Failed {
                    cause,
                    answered: false,
                } => {
                    // No answer (timeout, network): closing would most likely fail the same way
                    // and only add load; the connection's next failure decides.
                    report.failed = 1;
                    tracing::warn!(connection_id = %target.connection_id, error = %cause, "delivery failed");
                }
            }
            report
        })
        .buffer_unordered(pusher.concurrency().max(1))
        .fold(DeliveryReport::default(), |total, one| async move {
            total + one
        })
        .await;
    if tried > 0 {
        use crate::metrics::{Metric, emit};
        emit(&[
            (Metric::EventsPushed, report.sent as f64),
            (Metric::PushFailures, report.failed as f64),
            (Metric::ConnectionsPruned, report.gone as f64),
        ]);
    }
    report
}

/// What a prune of a connection reported gone did.
#[derive(Debug, Clone, PartialEq)]
pub enum Pruned {
    /// Its records are removed (the record itself may have been gone already: `None`); `left`:
    /// the communities where its user has no connection any more.
    Removed {
        connection: Option<Connection>,
        left: Vec<String>,
    },
    /// Registered too recently: the 410 may come from its own `$connect` still under way
    /// ([`Connection::may_be_connecting`]); nothing was removed.
    StillConnecting,
}

/// Removes what is left of a connection API Gateway reported gone (410): its subscription row in
/// `community_id` (which may outlive a missing connection record) and all its other records.
pub async fn prune(
    db: &Db,
    connection_id: &str,
    community_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Pruned> {
    let (connection, left) = match store::get(db, connection_id).await? {
        Some(conn) if conn.may_be_connecting(now) => return Ok(Pruned::StillConnecting),
        Some(conn) => {
            let left = store::remove(db, &conn).await?;
            (Some(conn), left)
        }
        None => (None, Vec::new()),
    };
    if let Some(community_id) = community_id {
        store::delete_subscription(db, community_id, connection_id).await?;
    }
    Ok(Pruned::Removed { connection, left })
}

async fn log_prune(db: &Db, target: &Target, now: DateTime<Utc>) {
    match prune(
        db,
        &target.connection_id,
        target.community_id.as_deref(),
        now,
    )
    .await
    {
        Ok(Pruned::Removed { .. }) => {
            tracing::info!(connection_id = %target.connection_id, "pruned a gone connection")
        }
        Ok(Pruned::StillConnecting) => {
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

/// The `error` event sent to the one connection whose message was refused: the problem document
/// HTTP answers ([`Error::problem`]: `status`, `title`, `code`, `detail`, `errors`,
/// `retry_after`), its URN as `problem`, and the frame's `client_id`.
pub fn error_event(e: &Error, client_id: Option<&str>, timestamp: &str) -> Blob {
    let mut body = e.problem();
    if let Some(urn) = body.as_object_mut().and_then(|o| o.remove("type")) {
        body["problem"] = urn;
    }
    body["client_id"] = serde_json::json!(client_id);
    event("error", body, timestamp)
}

/// Who receives a community event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience<'a> {
    pub community_id: &'a str,
    /// The event's author: their connections count apart in [`DeliveryReport::sent_to_others`].
    pub author: Option<&'a str>,
    /// Leave out every connection of this user (a typing indicator goes to the others).
    pub except_user: Option<&'a str>,
    /// Leave out this connection.
    pub except_connection: Option<&'a str>,
    /// Also deliver to this connection of the author's, subscribed or not (acknowledgements).
    pub reply_to: Option<&'a str>,
}

/// Delivers a community event to the subscribers who may still read the community, the author's
/// own connection first (its copy is the acknowledgement). The audience is decided from the
/// subscription rows alone: one Query, which skips rows past their holder's `access_until` (an
/// enrollment's expiry) and finds no row of a user whose membership or enrollment was changed
/// since (the change rewrote or removed them: [`crate::connections::use_cases::refresh_access`]).
/// Without a WebSocket API nothing is read.
pub async fn broadcast(
    db: &Db,
    pusher: &dyn Pusher,
    audience: Audience<'_>,
    payload: &Blob,
    now: DateTime<Utc>,
) -> Result<DeliveryReport> {
    if !pusher.reaches_connections() {
        return Ok(DeliveryReport::default());
    }
    let started = std::time::Instant::now();
    let community_id = audience.community_id;
    let subscribers = store::subscribers(db, community_id, now).await?;
    let queried = started.elapsed();
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
    let targets: Vec<Target> = acknowledgement
        .into_iter()
        .chain(subscribers.into_iter().map(|s| Target::of(s, community_id)))
        .collect();
    let report = fan_out(pusher, db, targets, payload, audience.author, now).await;
    tracing::info!(
        community_id,
        connections,
        sent = report.sent,
        gone = report.gone,
        failed = report.failed,
        retried = report.retried,
        query_ms = queried.as_millis() as u64,
        fan_out_ms = (started.elapsed() - queried).as_millis() as u64,
        "broadcast"
    );
    Ok(report)
}

/// Delivers an event to every open connection of one user (receipts).
pub async fn to_user(
    db: &Db,
    pusher: &dyn Pusher,
    user_id: &str,
    payload: &Blob,
    now: DateTime<Utc>,
) -> Result<DeliveryReport> {
    if !pusher.reaches_connections() {
        return Ok(DeliveryReport::default());
    }
    let targets: Vec<Target> = store::of_user(db, user_id)
        .await?
        .into_iter()
        .map(|connection_id| Target {
            connection_id,
            user_id: user_id.to_string(),
            community_id: None,
        })
        .collect();
    Ok(fan_out(pusher, db, targets, payload, None, now).await)
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
    fn an_error_frame_carries_the_problem_http_answers() {
        let e = Error::Validation(vec![crate::error::FieldError::new(
            "message",
            "is required",
        )]);
        let blob = error_event(&e, None, "t");
        let v: serde_json::Value = serde_json::from_slice(blob.as_ref()).unwrap();
        let problem = e.problem();
        for field in ["status", "title", "detail", "code", "errors"] {
            assert_eq!(v[field], problem[field], "{field}");
        }
        assert_eq!(v["problem"], problem["type"]);
        assert_eq!(v["type"], "error");
        assert!(v["client_id"].is_null());
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
        let total = one + gone + one;
        assert_eq!(
            (total.sent, total.gone, total.retried, total.sent_to_others),
            (2, 1, 2, 2)
        );
    }
}
