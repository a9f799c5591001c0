//! Daily and weekly digests: what is new in each of the user's communities (threads started
//! since the last period, as the user may see them) and how many notifications they got.
//!
//! An hourly schedule runs [`run`]. From [`DigestSchedule::hour`] (UTC) on, the day's daily
//! period is due, and on Mondays the week's weekly one. For each due period not yet finished
//! (one GetItem of its run record), the run pages through the period's subscribers (one
//! partition per frequency, no Scan), claims each user's digest of the period (a conditional
//! PutItem: a retried or overlapping run sends no second digest), and sends it, or nothing
//! when nothing is new. A send SES refuses for the time being gives the claim back, and the
//! period is not marked finished, so the next hourly run tries that user again.

use super::SendError;
use super::compose::{Email, Item, Section};
use super::immediate::{Sender, unsubscribe_url};
use super::unsubscribe::List;
use crate::access::Access;
use crate::auth::{Principal, Role};
use crate::error::Result;
use crate::model::notification::Digest;
use crate::posts::model::Post;
use crate::store::{
    communities as community_store, email as store, notifications, posts, settings,
};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// New threads listed per community (the rest are counted).
pub const THREADS_PER_COMMUNITY: usize = 10;
/// Users prepared and sent at once.
const USERS_IN_FLIGHT: usize = 8;

/// When digests go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    /// The hour (UTC) from which the day's digests are due (`DIGEST_HOUR_UTC`, default 7).
    pub hour: u32,
}

impl Default for DigestSchedule {
    fn default() -> Self {
        Self { hour: 7 }
    }
}

/// One period: its id (`daily#2026-12-03`, `weekly#2026-W49`), frequency and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub id: String,
    pub frequency: Digest,
    pub since: DateTime<Utc>,
}

/// The periods due at `now`.
pub fn periods(schedule: DigestSchedule, now: DateTime<Utc>) -> Vec<Period> {
    if now.hour() < schedule.hour {
        return Vec::new();
    }
    let today = now.date_naive();
    let start = today
        .and_hms_opt(schedule.hour, 0, 0)
        .expect("an hour of the day")
        .and_utc();
    let mut due = vec![Period {
        id: format!("daily#{today}"),
        frequency: Digest::Daily,
        since: start - Duration::days(1),
    }];
    if today.weekday() == chrono::Weekday::Mon {
        let week = today.iso_week();
        due.push(Period {
            id: format!("weekly#{}-W{:02}", week.year(), week.week()),
            frequency: Digest::Weekly,
            since: start - Duration::days(7),
        });
    }
    due
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DigestReport {
    pub periods: Vec<String>,
    pub subscribers: usize,
    pub sent: usize,
    /// Nothing new, or no deliverable address.
    pub skipped_empty: usize,
    /// Claimed by an earlier run already.
    pub already_sent: usize,
    /// SES refused for now: the claim was given back for the next run.
    pub retried: usize,
}

/// A ULID of the first instant of `t`: every id minted from then on sorts after it.
fn id_at(t: DateTime<Utc>) -> String {
    ulid::Ulid::from_parts(t.timestamp_millis() as u64, 0).to_string()
}

/// Sends the digests due at `now`.
#[tracing::instrument(skip_all)]
pub async fn run(
    s: Sender<'_>,
    schedule: DigestSchedule,
    now: DateTime<Utc>,
) -> Result<DigestReport> {
    let mut report = DigestReport::default();
    for period in periods(schedule, now) {
        if store::digest_run_done(s.db, &period.id).await? {
            continue;
        }
        report.periods.push(period.id.clone());
        let mut start = None;
        let mut retried = 0;
        loop {
            let (users, next) = settings::digest_subscribers(s.db, period.frequency, start).await?;
            report.subscribers += users.len();
            let outcomes: Vec<Outcome> = stream::iter(users.chunks(100).map(<[String]>::to_vec))
                .then(|chunk| send_chunk(s, &period, chunk, now))
                .try_collect::<Vec<Vec<Outcome>>>()
                .await?
                .into_iter()
                .flatten()
                .collect();
            for o in outcomes {
                match o {
                    Outcome::Sent => report.sent += 1,
                    Outcome::Empty => report.skipped_empty += 1,
                    Outcome::Already => report.already_sent += 1,
                    Outcome::Retry => retried += 1,
                }
            }
            start = next;
            if start.is_none() {
                break;
            }
        }
        report.retried += retried;
        if retried == 0 {
            store::finish_digest_run(s.db, &period.id, report.sent, now.timestamp()).await?;
        }
    }
    tracing::info!(?report, "digest run");
    Ok(report)
}

enum Outcome {
    Sent,
    Empty,
    Already,
    Retry,
}

/// Prepares and sends the digests of up to 100 users: their communities (one Query each), the
/// new threads of each community involved (one Query per community, shared by the chunk), then
/// per user a claim, their access (one BatchGetItem), a count of their new notifications and
/// the send.
async fn send_chunk(
    s: Sender<'_>,
    period: &Period,
    users: Vec<String>,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    let since = id_at(period.since);
    let communities_of: Vec<(String, Vec<String>)> = stream::iter(users)
        .map(|u| async move {
            let ids = community_store::community_ids_of(s.db, &u).await?;
            Ok::<_, crate::error::Error>((u, ids))
        })
        .buffer_unordered(USERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let involved: BTreeSet<String> = communities_of
        .iter()
        .flat_map(|(_, ids)| ids.iter().cloned())
        .collect();
    let threads: HashMap<String, Vec<Post>> = stream::iter(involved)
        .map(|c| {
            let since = since.clone();
            async move {
                // More than one reader's list: some may be hidden from some readers (staff-only, pending).
                let posts =
                    posts::approved_since(s.db, &c, &since, THREADS_PER_COMMUNITY * 5).await?;
                Ok::<_, crate::error::Error>((c, posts))
            }
        })
        .buffer_unordered(USERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let threads = &threads;
    let since = &since;
    stream::iter(communities_of)
        .map(|(user, communities)| async move {
            send_one(s, period, &user, &communities, threads, since, now).await
        })
        .buffer_unordered(USERS_IN_FLIGHT)
        .try_collect()
        .await
}

#[allow(clippy::too_many_arguments)]
async fn send_one(
    s: Sender<'_>,
    period: &Period,
    user: &str,
    communities: &[String],
    threads: &HashMap<String, Vec<Post>>,
    since: &str,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    if !store::claim_digest(s.db, user, &period.id, now.timestamp()).await? {
        return Ok(Outcome::Already);
    }
    let Some(address) = super::deliverable_address(s.db, user).await? else {
        return Ok(Outcome::Empty);
    };
    let reader = Principal {
        user_id: user.to_string(),
        role: Role::Student,
        name: String::new(),
        username: None,
    };
    let with_news: Vec<String> = communities
        .iter()
        .filter(|c| threads.get(*c).is_some_and(|t| !t.is_empty()))
        .cloned()
        .collect();
    let access = Access::load_many(s.db, &reader, &with_news, now).await?;
    let mut sections = Vec::new();
    for a in access.iter().filter(|a| a.can(crate::access::Action::Read)) {
        let visible: Vec<&Post> = threads[&a.community.id]
            .iter()
            .filter(|p| p.visible_to(a))
            .collect();
        if visible.is_empty() {
            continue;
        }
        let items = visible
            .iter()
            .take(THREADS_PER_COMMUNITY)
            .map(|p| {
                let author = crate::posts::author_for(a, p).name;
                let replies = match p.reply_count {
                    0 => String::new(),
                    1 => " · 1 reply".to_string(),
                    n => format!(" · {n} replies"),
                };
                Item {
                    heading: p
                        .title
                        .clone()
                        .unwrap_or_else(|| crate::notifications::jobs::snippet(&p.content)),
                    detail: format!("{author}{replies}"),
                    link: s
                        .config
                        .app_link(&format!("/c/{}/post/{}", a.community.id, p.id)),
                }
            })
            .collect();
        sections.push(Section {
            title: a.community.title.clone(),
            items,
            more: (visible.len() > THREADS_PER_COMMUNITY).then(|| {
                format!(
                    "and {} more new threads",
                    visible.len() - THREADS_PER_COMMUNITY
                )
            }),
        });
    }
    let new_notifications = notifications::count_since(s.db, user, since).await?;
    if sections.is_empty() && new_notifications == 0 {
        return Ok(Outcome::Empty);
    }
    let (label, word) = match period.frequency {
        Digest::Weekly => ("Your weekly digest", "week"),
        _ => ("Your daily digest", "day"),
    };
    let intro = match new_notifications {
        0 => format!("What is new in your communities this {word}."),
        1 => format!("What is new in your communities this {word}, and 1 new notification."),
        n => format!("What is new in your communities this {word}, and {n} new notifications."),
    };
    let email = Email {
        to: address.clone(),
        subject: format!("{label}: {}", s.config.product),
        intro,
        sections,
        open_link: ("Open your communities".into(), s.config.app_link("/")),
        settings_link: s.config.app_link("/settings/notifications"),
        unsubscribe_url: unsubscribe_url(s.config, s.cursors, user, List::Digest),
        unsubscribe_label: "Unsubscribe from the digest".into(),
    };
    let raw = super::compose::message(s.mailer.from(), &email);
    match s.mailer.send(&address, raw, "digest").await {
        Ok(message_id) => {
            tracing::info!(user_id = user, message_id, period = %period.id, "digest sent");
            Ok(Outcome::Sent)
        }
        Err(SendError::Retry(why)) => {
            tracing::warn!(user_id = user, why, "SES refused the digest for now");
            store::release_digest(s.db, user, &period.id).await?;
            Ok(Outcome::Retry)
        }
        Err(SendError::Rejected(why)) => {
            tracing::error!(user_id = user, why, "SES rejected the digest");
            Ok(Outcome::Empty)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_digests_are_due_from_their_hour_and_weekly_ones_on_mondays() {
        let s = DigestSchedule { hour: 7 };
        assert!(periods(s, at("2026-12-03T06:59:00Z")).is_empty());
        let thursday = periods(s, at("2026-12-03T07:00:00Z"));
        assert_eq!(thursday.len(), 1);
        assert_eq!(thursday[0].id, "daily#2026-12-03");
        assert_eq!(thursday[0].since, at("2026-12-02T07:00:00Z"));
        let monday = periods(s, at("2026-12-07T09:30:00Z"));
        assert_eq!(
            monday.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["daily#2026-12-07", "weekly#2026-W50"]
        );
        assert_eq!(monday[1].since, at("2026-11-30T07:00:00Z"));
        // A later run of the same day is the same period (the claims make it idempotent).
        assert_eq!(periods(s, at("2026-12-03T23:00:00Z"))[0].id, thursday[0].id);
    }
}
