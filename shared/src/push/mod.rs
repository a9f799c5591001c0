//! Push notifications: browsers by Web Push, phones by SNS mobile push (APNs, FCM).
//!
//! - The caller's subscriptions: [`overview`], [`subscribe`] (a browser's `PushSubscription` or
//!   a device token; at most [`MAX_SUBSCRIPTIONS`] a user, the oldest replaced), [`unsubscribe`].
//! - [`deliver`]: the notifier hands it the notifications it just wrote whose type their
//!   recipient gets by push; each is rendered for its recipient through
//!   `notifications::shown::sendable`, like an email, and sent to each of their subscriptions.
//!   A subscription the push service calls gone (404, 410, SNS `EndpointDisabled`) is removed;
//!   any other failure is logged and never fails the job: push is best effort, the notification
//!   is stored either way.
//!
//! Table rows in `store::push`; Web Push and SNS requests in `store::pusher`. See
//! `docs/notifications.md` ("Push").

pub mod payload;
pub mod validate;

use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::model::notification::Notification;
use crate::model::push::{Platform, PushSubscription};
use crate::store::{Db, push as store};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

pub use crate::store::pusher::{Outcome, Sender};
pub use payload::Payload;
pub use validate::Registration;

/// Subscriptions a user keeps at most; registering one more replaces the oldest.
pub const MAX_SUBSCRIPTIONS: usize = 10;
/// Recipients whose pushes are sent at once by one notifier invocation.
const RECIPIENTS_AT_ONCE: usize = 16;

/// One subscription as its owner sees it (never its keys, token or endpoint path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub platform: Platform,
    pub created_at: String,
    /// Web: the push service's host (e.g. `fcm.googleapis.com`), to tell browsers apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_host: Option<String>,
}

impl From<&PushSubscription> for SubscriptionView {
    fn from(s: &PushSubscription) -> Self {
        Self {
            id: s.id.clone(),
            platform: s.platform,
            created_at: s.created_at.clone(),
            endpoint_host: s
                .endpoint
                .as_deref()
                .and_then(|e| reqwest::Url::parse(e).ok())
                .and_then(|u| u.host_str().map(str::to_string)),
        }
    }
}

/// `GET notifications/push/`: what a client needs to subscribe, and the caller's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// The VAPID public key (`applicationServerKey`), when Web Push is configured.
    pub vapid_public_key: Option<String>,
    /// The platforms this deployment pushes to.
    pub platforms: Vec<Platform>,
    pub subscriptions: Vec<SubscriptionView>,
}

/// The caller's subscriptions and what subscribing needs (one Query).
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn overview(db: &Db, sender: Option<&Sender>, user_id: &str) -> Result<Overview> {
    let subscriptions = store::list(db, user_id).await?;
    Ok(Overview {
        vapid_public_key: sender
            .and_then(Sender::vapid_public_key)
            .map(str::to_string),
        platforms: sender.map(Sender::platforms).unwrap_or_default(),
        subscriptions: subscriptions.iter().map(SubscriptionView::from).collect(),
    })
}

/// What [`subscribe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription (201).
    New(SubscriptionView),
    /// This endpoint or token was registered already: that subscription (200).
    Existing(SubscriptionView),
}

/// `POST notifications/push/subscriptions/`: registers a browser or a device of the caller.
/// Nothing is stored when the registration is refused. A phone's token becomes an SNS platform
/// endpoint first. Past [`MAX_SUBSCRIPTIONS`], the oldest are removed in the same transaction.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn subscribe(
    db: &Db,
    sender: Option<&Sender>,
    ids: &dyn Ids,
    now: &str,
    user_id: &str,
    body: &serde_json::Value,
) -> Result<Subscribed> {
    let configured = sender.map(Sender::platforms).unwrap_or_default();
    let registration = validate::registration(body, &configured)?;
    let existing = store::list(db, user_id).await?;
    if let Some(same) = existing
        .iter()
        .find(|s| s.platform == registration.platform() && s.address() == registration.address())
    {
        return Ok(Subscribed::Existing(same.into()));
    }
    let sender = sender.ok_or_else(|| Error::internal("push sender missing"))?;
    let mut subscription = PushSubscription {
        id: ids.new_id(),
        user_id: user_id.to_string(),
        platform: registration.platform(),
        created_at: now.to_string(),
        endpoint: None,
        p256dh: None,
        auth: None,
        token: None,
        endpoint_arn: None,
    };
    match registration {
        Registration::Web {
            endpoint,
            p256dh,
            auth,
        } => {
            subscription.endpoint = Some(endpoint);
            subscription.p256dh = Some(p256dh);
            subscription.auth = Some(auth);
        }
        Registration::Mobile { platform, token } => {
            let arn = match sender.create_endpoint(platform, &token).await {
                Ok(arn) => arn,
                Err((true, why)) => {
                    tracing::info!(why, "SNS refused the device token");
                    return Err(Error::validation(
                        "token",
                        "was refused by the push service",
                    ));
                }
                Err((false, why)) => return Err(Error::internal(format!("sns: {why}"))),
            };
            subscription.token = Some(token);
            subscription.endpoint_arn = Some(arn);
        }
    }
    let over = (existing.len() + 1).saturating_sub(MAX_SUBSCRIPTIONS);
    let replaced = &existing[..over];
    if let Err(e) = store::insert(db, &subscription, replaced).await {
        if let Some(arn) = &subscription.endpoint_arn {
            forget_endpoint(sender, arn).await;
        }
        return Err(e);
    }
    for old in replaced {
        tracing::info!(subscription_id = %old.id, "oldest push subscription replaced");
        if let Some(arn) = &old.endpoint_arn {
            forget_endpoint(sender, arn).await;
        }
    }
    Ok(Subscribed::New((&subscription).into()))
}

/// `DELETE notifications/push/subscriptions/{id}/`: removes one of the caller's subscriptions
/// (404 for an id that is not theirs) and, for a phone, its SNS endpoint.
#[tracing::instrument(skip_all, fields(user_id = %user_id, subscription_id = %id))]
pub async fn unsubscribe(db: &Db, sender: Option<&Sender>, user_id: &str, id: &str) -> Result<()> {
    let removed = store::delete(db, user_id, id)
        .await?
        .ok_or(Error::NotFound("push subscription"))?;
    if let (Some(arn), Some(sender)) = (&removed.endpoint_arn, sender) {
        forget_endpoint(sender, arn).await;
    }
    Ok(())
}

/// Removes every subscription of a user and their SNS endpoints (a data-rights erasure); answers
/// how many were removed. Idempotent: a re-run finds none.
pub async fn forget_all(db: &Db, sender: Option<&Sender>, user_id: &str) -> Result<usize> {
    let subscriptions = store::list(db, user_id).await?;
    for subscription in &subscriptions {
        if let (Some(arn), Some(sender)) = (&subscription.endpoint_arn, sender) {
            forget_endpoint(sender, arn).await;
        }
        store::delete(db, user_id, &subscription.id).await?;
    }
    Ok(subscriptions.len())
}

/// Deletes an SNS endpoint whose subscription is gone; a failure only leaves an unused endpoint.
async fn forget_endpoint(sender: &Sender, arn: &str) {
    if let Err(why) = sender.delete_endpoint(arn).await {
        tracing::warn!(endpoint_arn = arn, why, "cannot delete the SNS endpoint");
    }
}

/// What [`deliver`] did, one count per subscription tried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub sent: usize,
    /// Subscriptions the push service called gone; removed.
    pub removed: usize,
    /// Failed for another reason (logged).
    pub failed: usize,
}

impl std::ops::Add for Report {
    type Output = Report;
    fn add(self, o: Report) -> Report {
        Report {
            sent: self.sent + o.sent,
            removed: self.removed + o.removed,
            failed: self.failed + o.failed,
        }
    }
}

/// Pushes each notification to its recipient's subscriptions (one Query per recipient; the
/// rendering reads of `shown::sendable` only for those with a subscription). Never fails.
pub async fn deliver(
    db: &Db,
    sender: &Sender,
    notifications: &[Notification],
    now: DateTime<Utc>,
) -> Report {
    stream::iter(notifications)
        .map(|n| async move {
            match deliver_one(db, sender, n, now).await {
                Ok(report) => report,
                Err(e) => {
                    tracing::warn!(user_id = %n.recipient_id, notification_id = %n.id, error = %e, "push not sent");
                    Report {
                        failed: 1,
                        ..Report::default()
                    }
                }
            }
        })
        .buffer_unordered(RECIPIENTS_AT_ONCE)
        .fold(Report::default(), |total, one| async move { total + one })
        .await
}

async fn deliver_one(
    db: &Db,
    sender: &Sender,
    n: &Notification,
    now: DateTime<Utc>,
) -> Result<Report> {
    let mut report = Report::default();
    let subscriptions: Vec<PushSubscription> = store::list(db, &n.recipient_id)
        .await?
        .into_iter()
        .filter(|s| sender.reaches(s.platform))
        .collect();
    if subscriptions.is_empty() {
        return Ok(report);
    }
    let reader = Principal {
        user_id: n.recipient_id.clone(),
        // The least a platform role allows: a push never shows more than a student could see.
        role: Role::Student,
        name: String::new(),
        username: None,
    };
    let shown = crate::notifications::shown::sendable(db, &reader, now, vec![n.clone()]).await?;
    let Some(shown) = shown.first() else {
        return Ok(report);
    };
    let payload = Payload::of(shown);
    for subscription in &subscriptions {
        match sender.send(subscription, &payload).await {
            Outcome::Sent => report.sent += 1,
            Outcome::Gone => {
                tracing::info!(user_id = %n.recipient_id, subscription_id = %subscription.id, "push subscription gone; removed");
                store::delete(db, &n.recipient_id, &subscription.id).await?;
                if let Some(arn) = &subscription.endpoint_arn {
                    forget_endpoint(sender, arn).await;
                }
                report.removed += 1;
            }
            Outcome::Failed(why) => {
                tracing::warn!(user_id = %n.recipient_id, subscription_id = %subscription.id, why, "push failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}
