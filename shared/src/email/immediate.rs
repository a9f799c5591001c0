//! Notification emails, coalesced: at most one email per user per [`COALESCE_SECS`].
//!
//! The notifier queues each notification whose type the recipient gets by email
//! ([`queue`]: the queued row, the user's due time if none is set, the due row). The `email`
//! function runs every minute ([`run`]): it reads what is due from [`keys::EMAIL_DUE_SHARDS`]
//! partitions (no Scan), claims each user (a lease on their email state, so two runs never send
//! the same email), renders what was queued through `notifications::shown` at that moment,
//! sends one email, and settles: nothing more due, or, if something was queued during the send,
//! the next email due [`COALESCE_SECS`] later. A send SES refuses for the time being (throttled,
//! a 5xx) is due again after a backoff; nothing due is dropped but what the reader may no longer
//! see, or an address that is suppressed or gone.
//!
//! [`keys::EMAIL_DUE_SHARDS`]: crate::keys::EMAIL_DUE_SHARDS

use super::compose::{Email, Item, Section};
use super::unsubscribe::{self, List};
use super::{EmailConfig, Mailer, SendError};
use crate::auth::{Principal, Role};
use crate::cursor::Cursors;
use crate::error::Result;
use crate::keys::EMAIL_DUE_SHARDS;
use crate::notifications::Notification;
use crate::store::Db;
use crate::store::email::{self as store, Claim, Due, Settle};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use serde::Serialize;

/// At most one notification email per user in this many seconds.
pub const COALESCE_SECS: i64 = 600;
/// How long a run holds a user's email before another run may take it over.
pub const LEASE_SECS: i64 = 120;
/// Users one run sends to at once.
const SENDS_IN_FLIGHT: usize = 8;
/// Most notifications listed in one email (the rest are counted).
pub const MAX_ITEMS: usize = 20;

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Queues notifications for their recipients' next emails (three writes each).
pub async fn queue(db: &Db, notifications: &[Notification], now: DateTime<Utc>) -> Result<()> {
    let due = at(now);
    stream::iter(notifications)
        .map(|n| store::queue(db, n, &due, now.timestamp()))
        .buffer_unordered(SENDS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub due: usize,
    pub sent: usize,
    /// Queued notifications in the emails sent.
    pub notifications: usize,
    /// Due, but the last email went out less than [`COALESCE_SECS`] ago: due again then.
    pub deferred: usize,
    /// Nothing left the reader may see, or no deliverable address: nothing sent.
    pub dropped: usize,
    /// SES refused for the time being: due again after a backoff.
    pub retried: usize,
    /// Held by another run, or a stale due row.
    pub skipped: usize,
}

impl std::ops::Add for RunReport {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            due: self.due + o.due,
            sent: self.sent + o.sent,
            notifications: self.notifications + o.notifications,
            deferred: self.deferred + o.deferred,
            dropped: self.dropped + o.dropped,
            retried: self.retried + o.retried,
            skipped: self.skipped + o.skipped,
        }
    }
}

/// What a run needs besides the table.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    pub db: &'a Db,
    pub mailer: &'a Mailer,
    pub config: &'a EmailConfig,
    pub cursors: &'a Cursors,
}

/// Sends every email due at `now` (one Query per shard, then per user: a claim, a Query of
/// what was queued, the reads of rendering, the send, a settling transaction).
#[tracing::instrument(skip_all)]
pub async fn run(s: Sender<'_>, now: DateTime<Utc>) -> Result<RunReport> {
    let upto = at(now);
    let mut due = Vec::new();
    for shard in 0..EMAIL_DUE_SHARDS {
        due.extend(store::due(s.db, shard, &upto).await?);
    }
    let reports: Vec<Result<RunReport>> = stream::iter(due)
        .map(|d| async move {
            let user = d.user_id.clone();
            send_one(s, d, now).await.inspect_err(|e| {
                tracing::warn!(user_id = %user, error = %e, "email not settled; its lease will expire");
            })
        })
        .buffer_unordered(SENDS_IN_FLIGHT)
        .collect()
        .await;
    let mut total = RunReport::default();
    let mut first_error = None;
    for r in reports {
        match r {
            Ok(r) => total = total + r,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    tracing::info!(?total, "email run");
    // A user whose email could not be settled stays due and is taken again once the lease
    // expires; the run reports the failure so the schedule's retries and alarms see it.
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// Backoff of a send SES refused for the time being: 1, 2, 4 … 30 minutes.
fn backoff(previous_due: &str, now: DateTime<Utc>) -> Duration {
    let waited = DateTime::parse_from_rfc3339(previous_due)
        .map(|d| (now - d.with_timezone(&Utc)).num_seconds())
        .unwrap_or(0);
    Duration::seconds((waited * 2).clamp(60, 1800))
}

async fn send_one(s: Sender<'_>, due: Due, now: DateTime<Utc>) -> Result<RunReport> {
    let mut report = RunReport {
        due: 1,
        ..Default::default()
    };
    let now_s = at(now);
    let claimed =
        match store::claim(s.db, &due, &now_s, &at(now + Duration::seconds(LEASE_SECS))).await? {
            Claim::Taken(c) => c,
            Claim::NotMine => {
                if !store::is_due_at(s.db, &due.user_id, &due.due_at).await? {
                    store::drop_due(s.db, &due).await?;
                }
                report.skipped = 1;
                return Ok(report);
            }
        };
    // Not within the coalescing window of the last email: wait for its end.
    if let Some(last) = claimed
        .last_sent_at
        .as_deref()
        .and_then(|l| DateTime::parse_from_rfc3339(l).ok())
    {
        let next = last.with_timezone(&Utc) + Duration::seconds(COALESCE_SECS);
        if next > now {
            let next = at(next);
            store::settle(s.db, &due, &claimed, Settle::Later { due_at: &next }).await?;
            report.deferred = 1;
            return Ok(report);
        }
    }
    let queued = store::queued(s.db, &due.user_id).await?;
    let ids: Vec<String> = queued.iter().map(|n| n.id.clone()).collect();
    let address = super::deliverable_address(s.db, &due.user_id).await?;
    let reader = Principal {
        user_id: due.user_id.clone(),
        // The least a platform role allows: an email never shows more than a student could see.
        role: Role::Student,
        name: String::new(),
        username: None,
    };
    let shown = match &address {
        Some(_) if !queued.is_empty() => {
            crate::notifications::shown::sendable(s.db, &reader, now, queued).await?
        }
        _ => Vec::new(),
    };
    let next_due = at(now + Duration::seconds(COALESCE_SECS));
    // Marks what was queued as handled and ends the claim; `sent_at` records a send.
    let finish = |sent_at: Option<String>| {
        let (ids, claimed, due, now_s, next_due) = (&ids, &claimed, &due, &now_s, &next_due);
        async move {
            store::mark_sent(s.db, &due.user_id, ids, now_s).await?;
            store::settle(
                s.db,
                due,
                claimed,
                Settle::Done {
                    at: sent_at.as_deref(),
                    next_due,
                },
            )
            .await
        }
    };
    let (Some(address), false) = (address, shown.is_empty()) else {
        finish(None).await?;
        report.dropped = 1;
        return Ok(report);
    };
    let email = notification_email(s, &due.user_id, &address, &shown);
    let raw = super::compose::message(s.mailer.from(), &email);
    match s.mailer.send(&address, raw, "notification").await {
        Ok(message_id) => {
            tracing::info!(user_id = %due.user_id, message_id, notifications = shown.len(), "email sent");
            finish(Some(now_s.clone())).await?;
            report.sent = 1;
            report.notifications = shown.len();
        }
        Err(SendError::Retry(why)) => {
            tracing::warn!(user_id = %due.user_id, why, "SES refused for now; due again later");
            let again = at(now + backoff(&due.due_at, now));
            store::settle(s.db, &due, &claimed, Settle::Later { due_at: &again }).await?;
            report.retried = 1;
        }
        Err(SendError::Rejected(why)) => {
            tracing::error!(user_id = %due.user_id, why, "SES rejected the email; dropped");
            finish(None).await?;
            report.dropped = 1;
        }
    }
    Ok(report)
}

/// The email of a user's queued notifications, newest first.
pub fn notification_email(
    s: Sender<'_>,
    user_id: &str,
    address: &str,
    shown: &[Notification],
) -> Email {
    let mut newest: Vec<&Notification> = shown.iter().collect();
    newest.sort_by(|a, b| b.id.cmp(&a.id));
    let items: Vec<Item> = newest
        .iter()
        .take(MAX_ITEMS)
        .map(|n| Item {
            heading: n.title.clone(),
            detail: n.message.clone(),
            link: s.config.link_of(n),
        })
        .collect();
    let count = shown.len();
    let subject = if count == 1 {
        newest[0].title.clone()
    } else {
        format!("{count} new notifications")
    };
    Email {
        to: address.to_string(),
        subject,
        intro: if count == 1 {
            "You have a new notification.".into()
        } else {
            format!("You have {count} new notifications.")
        },
        sections: vec![Section {
            title: s.config.product.clone(),
            items,
            more: (count > MAX_ITEMS).then(|| format!("and {} more", count - MAX_ITEMS)),
        }],
        open_link: (
            "See all your notifications".into(),
            s.config.app_link("/notifications"),
        ),
        settings_link: s.config.app_link("/settings/notifications"),
        unsubscribe_url: unsubscribe_url(s.config, s.cursors, user_id, List::Notifications),
        unsubscribe_label: "Unsubscribe from notification emails".into(),
    }
}

/// The one-click unsubscribe URL of a user's list.
pub fn unsubscribe_url(
    config: &EmailConfig,
    cursors: &Cursors,
    user_id: &str,
    list: List,
) -> String {
    format!(
        "{}/api/community/notifications/unsubscribe/?token={}",
        config.api_url.trim_end_matches('/'),
        unsubscribe::token(cursors, user_id, list)
    )
}
