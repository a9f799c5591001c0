//! The notifier: takes one job from the stream, resolves who gets what (one type per
//! recipient), writes the notifications with their counters in bounded transactions and pushes
//! each to its recipient's open connections with the new unread count.
//!
//! Work per invocation is bounded: a job with more than `NOTIFY_PART_SIZE` recipients is split into
//! part items (each with its resolved recipients) that reach the notifier as their own stream
//! records. Delivery is at least once and idempotent: a notification's key is derived from
//! (job, recipient), so a retried batch finds it there and neither writes nor counts it again.

use super::jobs::{Delivery, Job, JobItem, JobKind};
use super::settings::{self, WatchRow};
use super::{Kind, Notification, NotificationActor, Target, notification_id};
use crate::access::{Action, Roster};
use crate::error::{Error, Result};
use crate::realtime::{self, DeliveryReport, Pusher, Target as Connection};
use crate::store::{Db, communities as community_store, lms as lms_store, notifications as store};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

pub use crate::store::notifications::RECIPIENTS_PER_TRANSACTION;
const TRANSACTIONS_IN_FLIGHT: usize = 4;
const RECIPIENTS_PUSHED_AT_ONCE: usize = 32;

/// What the notifier works with: the table, the pusher and the retention of what it writes.
#[derive(Clone, Copy)]
pub struct Notifier<'a> {
    pub db: &'a Db,
    pub push: &'a dyn Pusher,
    pub retention_days: u32,
    /// Recipients one invocation handles; more are split into part items.
    pub part_size: usize,
    /// Email is configured: notifications whose type a recipient gets by email are queued
    /// for their next email (`email::immediate`).
    pub email: bool,
    /// Web Push and SNS mobile push, when configured: notifications whose type a recipient
    /// gets by push go to their subscriptions (`push::deliver`).
    pub devices: Option<&'a crate::push::Sender>,
}

/// What one invocation did with one job item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Recipients this item was responsible for.
    pub recipients: usize,
    pub written: usize,
    /// Found already written (a retried delivery).
    pub already_delivered: usize,
    /// Queued for the recipients' next emails.
    pub emails_queued: usize,
    /// Recipients who turned the type off.
    pub opted_out: usize,
    /// Part items queued for the rest of a large fan-out.
    pub parts_queued: usize,
    pub push: DeliveryReport,
    /// Pushes to browsers and phones.
    pub devices: crate::push::Report,
}

/// Handles one job item (root or part).
#[tracing::instrument(skip_all, fields(job_id = %item.job.id, community_id = %item.job.community_id, part = ?item.part))]
pub async fn process(n: Notifier<'_>, item: JobItem, now: DateTime<Utc>) -> Result<Report> {
    let job = item.job;
    if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&job.created_at) {
        let lag_ms = (now - created.with_timezone(&Utc))
            .num_milliseconds()
            .max(0);
        crate::metrics::emit(&[(crate::metrics::Metric::NotifierLagMs, lag_ms as f64)]);
    }
    let Some(deliveries) = item.deliveries else {
        let mut deliveries = resolve(n.db, &job, now).await?;
        let part = n.part_size;
        let rest = if deliveries.len() > part {
            deliveries.split_off(part)
        } else {
            Vec::new()
        };
        let parts = queue_parts(n.db, &job, rest, part).await?;
        let mut report = deliver(n, &job, deliveries, now).await?;
        report.parts_queued = parts;
        return Ok(report);
    };
    deliver(n, &job, deliveries, now).await
}

/// Writes the part items of a large fan-out (conditional Puts: a retried root re-queues nothing).
async fn queue_parts(db: &Db, job: &Job, rest: Vec<Delivery>, size: usize) -> Result<usize> {
    let parts: Vec<JobItem> = rest
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| JobItem {
            job: job.clone(),
            part: Some(i as u32 + 1),
            deliveries: Some(chunk.to_vec()),
        })
        .collect();
    let count = parts.len();
    stream::iter(parts)
        .map(|part| async move { store::queue_part(db, &part).await })
        .buffer_unordered(TRANSACTIONS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(count)
}

// ---------------------------------------------------------------- who gets what

/// Candidates with the one type each gets (the most specific rule that matched).
#[derive(Default)]
struct Candidates(HashMap<String, Kind>);

impl Candidates {
    fn offer(&mut self, user_id: &str, kind: Kind) {
        let entry = self.0.entry(user_id.to_string()).or_insert(kind);
        if kind.precedence() > entry.precedence() {
            *entry = kind;
        }
    }
}

/// Moderators and instructors unless they muted, members who chose to watch.
fn watchers(roster: &Roster, rows: &[WatchRow]) -> Vec<String> {
    let mut out: HashSet<String> = roster.moderators().into_iter().collect();
    for row in rows {
        if row.watching {
            out.insert(row.user_id.clone());
        } else {
            out.remove(&row.user_id);
        }
    }
    out.into_iter().collect()
}

fn is_publication(kind: JobKind) -> bool {
    matches!(kind, JobKind::PostPublished | JobKind::PostApproved)
}

/// Who gets which type for a job, after the access rule, sorted by user id (parts are stable).
pub async fn resolve(db: &Db, job: &Job, now: DateTime<Utc>) -> Result<Vec<Delivery>> {
    if job.kind == JobKind::DirectMessage {
        return resolve_direct(db, job).await;
    }
    let top_level_publication =
        is_publication(job.kind) && job.post.as_ref().is_some_and(|p| p.parent_id.is_none());
    let needs_roster = top_level_publication
        || matches!(
            job.kind,
            JobKind::PostPending | JobKind::PostFlagged | JobKind::Announcement
        );
    let mut roster = if needs_roster {
        match Roster::whole(db, &job.community_id, false, now).await? {
            Some(r) => Some(r),
            // The community is gone: nobody is told anything.
            None => return Ok(Vec::new()),
        }
    } else {
        None
    };
    let watch_rows = if top_level_publication {
        settings::watch_rows(db, &job.community_id).await?
    } else {
        Vec::new()
    };
    let mut c = Candidates::default();
    match job.kind {
        JobKind::PostPending | JobKind::PostFlagged => {
            let kind = if job.kind == JobKind::PostPending {
                Kind::NewPost
            } else {
                Kind::PostFlagged
            };
            for m in roster.as_ref().map(Roster::moderators).unwrap_or_default() {
                c.offer(&m, kind);
            }
        }
        JobKind::PostRejected => {
            if let Some(p) = &job.post {
                c.offer(&p.author_id, Kind::PostRejected);
            }
        }
        JobKind::PostPublished | JobKind::PostApproved => {
            let post = job
                .post
                .as_ref()
                .ok_or_else(|| Error::internal("post job without a post"))?;
            if job.kind == JobKind::PostApproved {
                c.offer(&post.author_id, Kind::PostApproved);
            }
            if let Some(roster) = roster.as_ref().filter(|_| top_level_publication) {
                for w in watchers(roster, &watch_rows) {
                    c.offer(&w, Kind::NewPost);
                }
            } else {
                for p in reply_audience(db, post).await? {
                    c.offer(&p, Kind::NewReply);
                }
            }
            for m in mentioned(db, &job.mentions).await? {
                c.offer(&m, Kind::NewMention);
            }
        }
        JobKind::DirectMessage => {}
        JobKind::Announcement => {
            if let Some(roster) = roster.as_ref() {
                for u in roster.everyone() {
                    c.offer(&u, Kind::Announcement);
                }
            }
            for m in mentioned(db, &job.mentions).await? {
                c.offer(&m, Kind::NewMention);
            }
        }
        JobKind::AnswerAccepted | JobKind::AnswerEndorsed | JobKind::MarkedDuplicate => {
            if let Some(p) = &job.post {
                let kind = match job.kind {
                    JobKind::AnswerAccepted => Kind::AnswerAccepted,
                    JobKind::AnswerEndorsed => Kind::AnswerEndorsed,
                    _ => Kind::MarkedDuplicate,
                };
                c.offer(&p.author_id, kind);
            }
        }
        JobKind::ChatMessage => {
            for m in mentioned(db, &job.mentions).await? {
                c.offer(&m, Kind::NewMention);
            }
            if let Some(reply_to) = job.message.as_ref().and_then(|m| m.reply_to.as_deref())
                && let Some(original) =
                    crate::store::chat::get(db, &job.community_id, reply_to).await?
                && !original.is_deleted
            {
                c.offer(&original.sender_id, Kind::NewMessage);
            }
        }
    }
    // Never to the one who acted; the author of an approved post is told only of the approval.
    c.0.remove(&job.actor.id);
    if job.kind == JobKind::PostApproved
        && let Some(p) = &job.post
    {
        c.0.retain(|user, kind| user != &p.author_id || *kind == Kind::PostApproved);
    }
    if c.0.is_empty() {
        return Ok(Vec::new());
    }
    let mut users: Vec<String> = c.0.keys().cloned().collect();
    users.sort();
    let roster = match roster.take() {
        Some(r) => r,
        None => match community_store::community(db, &job.community_id).await? {
            Some(community) => Roster::of(db, community, &users, now).await?,
            None => return Ok(Vec::new()),
        },
    };
    let roster = roster.with_roles(
        watch_rows
            .iter()
            .filter_map(|r| Some((r.user_id.clone(), r.role?))),
    );
    let action = match job.kind {
        JobKind::PostPending | JobKind::PostFlagged => Action::Moderate,
        _ => Action::Read,
    };
    Ok(users
        .into_iter()
        .filter(|u| roster.allows(u, action))
        .map(|u| Delivery {
            kind: c.0[&u],
            user_id: u,
        })
        .collect())
}

/// The members of a direct message's conversation but its sender who have no open connection
/// now (those connected got the message live): one GetItem of the conversation and one Query of
/// each member's connections. Members are fixed when a conversation is created, so each may
/// read it.
async fn resolve_direct(db: &Db, job: &Job) -> Result<Vec<Delivery>> {
    let Some(conversation_id) = &job.conversation_id else {
        return Err(Error::internal("direct message job without a conversation"));
    };
    let Some(conversation) = crate::store::conversations::get(db, conversation_id).await? else {
        return Ok(Vec::new());
    };
    let others = conversation.others(&job.actor.id);
    let connections = futures::future::try_join_all(
        others
            .iter()
            .map(|u| crate::store::connections::of_user(db, u)),
    )
    .await?;
    let mut out: Vec<Delivery> = others
        .into_iter()
        .zip(connections)
        .filter(|(_, c)| c.is_empty())
        .map(|(user_id, _)| Delivery {
            user_id,
            kind: Kind::NewDirectMessage,
        })
        .collect();
    out.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    Ok(out)
}

/// Users named with `@username` who exist (one GetItem per name, at most 20 names).
async fn mentioned(db: &Db, usernames: &[String]) -> Result<Vec<String>> {
    stream::iter(usernames.iter().take(20))
        .map(|u| lms_store::user_id_by_username(db, u))
        .buffer_unordered(8)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await
}

/// Those a reply concerns: the author of the post it answers and everyone who wrote in the
/// thread (the root post and its replies; one GetItem and one Query of the thread index).
async fn reply_audience(db: &Db, post: &super::jobs::PostRef) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(root) = crate::posts::fetch(db, &post.root_id).await? {
        out.push(root.author_id);
    }
    out.extend(store::thread_authors(db, &post.root_id).await?);
    Ok(out)
}

// ---------------------------------------------------------------- writing and pushing

/// What the texts of a job's notifications need beyond the job itself: the community's title,
/// and the object as it is now (one GetItem: the post or message may have been edited or
/// deleted since the job was written), with its thread's title for a reply (one more).
struct Context {
    community_title: String,
    post: Option<crate::posts::Post>,
    root_title: Option<String>,
    message: Option<crate::chat::Message>,
    direct: Option<crate::conversations::DirectMessage>,
    actor_name: String,
}

impl Context {
    async fn load(db: &Db, job: &Job) -> Result<Self> {
        let community_title = match job.community_id.as_str() {
            "" => String::new(),
            id => community_store::community(db, id)
                .await?
                .map(|c| c.title)
                .unwrap_or_default(),
        };
        let post = match &job.post {
            Some(p) => crate::posts::fetch(db, &p.id).await?,
            None => None,
        };
        let root_title = match (&job.post, &post) {
            (Some(p), Some(_)) if p.parent_id.is_some() => crate::posts::fetch(db, &p.root_id)
                .await?
                .filter(|r| !r.is_deleted)
                .and_then(|r| r.title),
            (_, Some(live)) => live.title.clone(),
            _ => None,
        };
        let message = match (&job.post, &job.message, &job.conversation_id) {
            (None, Some(m), None) => crate::store::chat::get(db, &job.community_id, &m.id).await?,
            _ => None,
        };
        let direct = match (&job.message, &job.conversation_id) {
            (Some(m), Some(c)) => {
                crate::store::room::get(db, crate::keys::Room::Conversation(c), &m.id).await?
            }
            _ => None,
        };
        let actor_name = match &job.actor.name {
            Some(n) => n.clone(),
            None => lms_store::user(db, &job.actor.id)
                .await?
                .map(|u| u.name)
                .unwrap_or_else(|| "A moderator".into()),
        };
        Ok(Self {
            community_title,
            post,
            root_title,
            message,
            direct,
            actor_name,
        })
    }

    /// The object as the notifier sees it now. The recipients were checked by the roster; a
    /// pending post stays shown to the moderators it was sent to.
    fn live(&self, job: &Job) -> super::shown::Live<'_> {
        use super::shown::Live;
        if job.conversation_id.is_some() {
            return match &self.direct {
                Some(m) if !m.is_deleted => Live::Direct(m),
                _ => Live::Gone("message"),
            };
        }
        match (&job.post, &job.message) {
            (Some(_), _) => match &self.post {
                Some(p) if !p.is_deleted => Live::Post {
                    post: p,
                    root_title: self.root_title.as_deref(),
                },
                _ => Live::Gone("post"),
            },
            (None, Some(_)) => match &self.message {
                Some(m) if !m.is_deleted => Live::Message(m),
                _ => Live::Gone("message"),
            },
            (None, None) => Live::Gone("post"),
        }
    }
}

/// The notification one recipient gets for a job; `reveals` says whether this recipient may
/// learn who wrote the job's post when it is anonymous.
fn render(job: &Job, d: &Delivery, ctx: &Context, reveals: bool) -> Notification {
    let moderation = matches!(
        d.kind,
        Kind::PostApproved | Kind::PostRejected | Kind::PostFlagged
    );
    // In an approval job the moderator acted, but the post (and its mentions) are its author's.
    let (actor_id, actor_name) = match (&job.post, job.kind == JobKind::PostApproved && !moderation)
    {
        (Some(p), true) => (p.author_id.clone(), p.author_name.clone()),
        _ => (job.actor.id.clone(), ctx.actor_name.clone()),
    };
    let hidden_author = !reveals
        && (job.anonymous_actor
            || job
                .post
                .as_ref()
                .is_some_and(|p| p.anonymous && p.author_id == actor_id));
    let actor = if hidden_author {
        NotificationActor::anonymous()
    } else {
        NotificationActor {
            id: Some(actor_id),
            name: Some(actor_name),
        }
    };
    let who = actor.name.clone().unwrap_or_default();
    let reason = match d.kind {
        Kind::PostRejected | Kind::PostFlagged => job.reason.clone(),
        _ => None,
    };
    let live = ctx.live(job);
    let (title, message) =
        super::shown::texts(d.kind, &who, &ctx.community_title, live, reason.as_deref());
    let reason = reason.filter(|_| !matches!(live, super::shown::Live::Gone(_)));
    let target = match (&job.post, &job.message, &job.conversation_id) {
        (_, Some(m), Some(c)) => Target {
            kind: "direct_message".into(),
            id: m.id.clone(),
            root_id: None,
            conversation_id: Some(c.clone()),
            link: format!("/api/community/conversations/{c}/messages/"),
        },
        (Some(p), _, _) => Target {
            kind: "post".into(),
            id: p.id.clone(),
            root_id: p.parent_id.as_ref().map(|_| p.root_id.clone()),
            conversation_id: None,
            link: format!("/api/community/posts/{}/", p.id),
        },
        (None, Some(m), None) => Target {
            kind: "message".into(),
            id: m.id.clone(),
            root_id: None,
            conversation_id: None,
            link: format!("/api/community/messages/{}/", m.id),
        },
        (None, None, _) => Target {
            kind: "community".into(),
            id: job.community_id.clone(),
            root_id: None,
            conversation_id: None,
            link: format!("/api/community/groups/{}/", job.community_id),
        },
    };
    Notification {
        id: notification_id(&job.id, &d.user_id),
        recipient_id: d.user_id.clone(),
        notification_type: d.kind,
        title,
        message,
        actor: Some(actor),
        community_id: job.community_id.clone(),
        target,
        is_read: false,
        read_at: None,
        created_at: job.created_at.clone(),
        reason,
    }
}

/// The recipients who see the real author of an anonymous post (the community's moderators,
/// instructors and admins, as the guard's roster judges them; one BatchGetItem); none is read
/// for a post that is not anonymous.
async fn staff_among(
    db: &Db,
    job: &Job,
    deliveries: &[Delivery],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>> {
    if !job.anonymous_actor && !job.post.as_ref().is_some_and(|p| p.anonymous) {
        return Ok(Default::default());
    }
    let Some(community) = community_store::community(db, &job.community_id).await? else {
        return Ok(Default::default());
    };
    let users: Vec<String> = deliveries.iter().map(|d| d.user_id.clone()).collect();
    let roster = Roster::for_users(db, &community, &users, now).await?;
    Ok(users
        .into_iter()
        .filter(|u| roster.allows(u, Action::Moderate))
        .collect())
}

/// Writes and pushes the notifications of resolved recipients.
pub async fn deliver(
    n: Notifier<'_>,
    job: &Job,
    deliveries: Vec<Delivery>,
    now: DateTime<Utc>,
) -> Result<Report> {
    let db = n.db;
    let mut report = Report {
        recipients: deliveries.len(),
        ..Default::default()
    };
    if deliveries.is_empty() {
        return Ok(report);
    }
    let users: Vec<String> = deliveries.iter().map(|d| d.user_id.clone()).collect();
    let states = store::states(db, &users).await?;
    let default_state = crate::model::notification::State::default();
    let channels_of = |d: &Delivery| {
        states
            .get(&d.user_id)
            .unwrap_or(&default_state)
            .channels(d.kind)
    };
    let (kept, opted): (Vec<Delivery>, Vec<Delivery>) = deliveries.into_iter().partition(|d| {
        let c = channels_of(d);
        c.in_app || (n.email && c.email) || (n.devices.is_some() && c.push)
    });
    report.opted_out = opted.len();
    let ctx = Context::load(db, job).await?;
    let created = chrono::DateTime::parse_from_rfc3339(&job.created_at)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| now.timestamp());
    let ttl = created + i64::from(n.retention_days) * 86_400;
    let staff = staff_among(db, job, &kept, now).await?;
    let mut by_email = Vec::new();
    let mut notifications = Vec::new();
    let mut push_only = Vec::new();
    for d in &kept {
        let reveals = staff.contains(&d.user_id) || d.user_id == job.actor.id;
        let notification = render(job, d, &ctx, reveals);
        let c = channels_of(d);
        if n.email && c.email {
            by_email.push(notification.clone());
        }
        if c.in_app {
            notifications.push(notification);
        } else if n.devices.is_some() && c.push {
            push_only.push(notification);
        }
    }
    if !by_email.is_empty() {
        crate::email::immediate::queue(db, &by_email, now).await?;
        report.emails_queued = by_email.len();
    }
    let chunks: Vec<Vec<Notification>> = notifications
        .chunks(RECIPIENTS_PER_TRANSACTION)
        .map(<[Notification]>::to_vec)
        .collect();
    let written: Vec<Vec<Notification>> = stream::iter(chunks)
        .map(|chunk| store::insert_many(db, chunk, ttl))
        .buffer_unordered(TRANSACTIONS_IN_FLIGHT)
        .try_collect()
        .await?;
    let written: Vec<Notification> = written.into_iter().flatten().collect();
    report.written = written.len();
    report.already_delivered = notifications.len() - written.len();
    report.push = push_all(n, &written, now).await;
    if let Some(devices) = n.devices {
        // Only what was written now, or claimed now for those who get it by push alone: a
        // retried job finds its notifications stored (or claimed) and pushes nothing twice.
        let mut by_push: Vec<Notification> = written
            .iter()
            .filter(|w| {
                states
                    .get(&w.recipient_id)
                    .unwrap_or(&default_state)
                    .channels(w.notification_type)
                    .push
            })
            .cloned()
            .collect();
        by_push.extend(claim_push_only(db, push_only, now).await?);
        report.devices = crate::push::deliver(db, devices, &by_push, now).await;
    }
    Ok(report)
}

/// The push-only notifications (their recipients get the type by push, not in the app) this
/// run claims: one conditional write each, so a retried job pushes none of them again.
async fn claim_push_only(
    db: &Db,
    push_only: Vec<Notification>,
    now: DateTime<Utc>,
) -> Result<Vec<Notification>> {
    let claimed: Vec<Option<Notification>> = stream::iter(push_only)
        .map(|notification| async move {
            let first = crate::store::push::claim_pushed(
                db,
                &notification.recipient_id,
                &notification.id,
                now.timestamp(),
            )
            .await?;
            Ok::<_, crate::error::Error>(first.then_some(notification))
        })
        .buffer_unordered(TRANSACTIONS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(claimed.into_iter().flatten().collect())
}

/// Pushes each new notification to every open connection of its recipient, with the unread
/// count read together with the connections (one Query per recipient). Push failures are
/// logged by the fan-out and never fail the job: the notification is stored either way.
async fn push_all(n: Notifier<'_>, written: &[Notification], at: DateTime<Utc>) -> DeliveryReport {
    if !n.push.reaches_connections() {
        return DeliveryReport::default();
    }
    let now = crate::clock::iso(at);
    stream::iter(written)
        .map(|notification| {
            let now = now.clone();
            async move {
                let (connections, unread) = match store::reach(n.db, &notification.recipient_id).await
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(user_id = %notification.recipient_id, error = %e, "cannot look up connections");
                        return DeliveryReport::default();
                    }
                };
                if connections.is_empty() {
                    return DeliveryReport::default();
                }
                let payload = realtime::event(
                    "notification",
                    serde_json::json!({ "notification": notification, "unread_count": unread }),
                    &now,
                );
                let targets: Vec<Connection> = connections
                    .into_iter()
                    .map(|connection_id| Connection {
                        connection_id,
                        user_id: notification.recipient_id.clone(),
                        community_id: None,
                    })
                    .collect();
                realtime::fan_out(n.push, n.db, targets, &payload, None, at).await
            }
        })
        .buffer_unordered(RECIPIENTS_PUSHED_AT_ONCE)
        .fold(DeliveryReport::default(), |total, one| async move { total + one })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_type_per_recipient_and_the_most_specific_wins() {
        let mut c = Candidates::default();
        c.offer("u1", Kind::NewPost);
        c.offer("u1", Kind::NewMention);
        c.offer("u1", Kind::NewReply);
        c.offer("u2", Kind::NewReply);
        assert_eq!(c.0["u1"], Kind::NewMention);
        assert_eq!(c.0["u2"], Kind::NewReply);
        assert_eq!(c.0.len(), 2);
    }
}
