//! The notifier: takes one job from the stream, resolves who gets what (one type per
//! recipient), writes the notifications with their counters in bounded transactions and pushes
//! each to its recipient's open connections with the new unread count.
//!
//! Work per invocation is bounded: a job with more than [`PART_SIZE`] recipients is split into
//! part items (each with its resolved recipients) that reach the notifier as their own stream
//! records. Delivery is at least once and idempotent: a notification's key is derived from
//! (job, recipient), so a retried batch finds it there and neither writes nor counts it again.

use super::jobs::{Delivery, Job, JobItem, JobKind, job_item};
use super::settings::{self, State, WatchRow};
use super::{Actor, Kind, Notification, Target, create_actions, notification_id};
use crate::access::{Action, Decision, Facts, decide};
use crate::auth::{Principal, Role};
use crate::communities::Community;
use crate::db::{Db, Item, WriteOutcome, attr_n, attr_s, from_item, s, sdk};
use crate::error::{Error, Result};
use crate::keys::{self, GSI1, Key};
use crate::lms::Enrollment;
use crate::membership::{CommunityRole, Member};
use crate::realtime::{self, DeliveryReport, Target as Connection};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Recipients handled by one notifier invocation; more are split into part items (override
/// with `NOTIFY_PART_SIZE`).
pub const PART_SIZE: usize = 500;

fn part_size() -> usize {
    std::env::var("NOTIFY_PART_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PART_SIZE)
        .max(1)
}
/// Recipients per TransactWriteItems (a Put and a counter update each: 100 actions).
pub const RECIPIENTS_PER_TRANSACTION: usize = 50;
const TRANSACTIONS_IN_FLIGHT: usize = 4;
const RECIPIENTS_PUSHED_AT_ONCE: usize = 32;
const STATE_READS_IN_FLIGHT: usize = 8;
/// Users per BatchGetItem when reading access facts (two keys each).
const USERS_PER_BATCH: usize = 50;

/// What one invocation did with one job item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Recipients this item was responsible for.
    pub recipients: usize,
    pub written: usize,
    /// Found already written (a retried delivery).
    pub already_delivered: usize,
    /// Recipients who turned the type off.
    pub opted_out: usize,
    /// Part items queued for the rest of a large fan-out.
    pub parts_queued: usize,
    pub push: DeliveryReport,
}

/// Handles one job item (root or part).
pub async fn process(app: &crate::App, item: JobItem) -> Result<Report> {
    let job = item.job;
    let Some(deliveries) = item.deliveries else {
        let mut deliveries = resolve(app, &job).await?;
        let part = part_size();
        let rest = if deliveries.len() > part {
            deliveries.split_off(part)
        } else {
            Vec::new()
        };
        let parts = queue_parts(&app.db, &job, rest).await?;
        let mut report = deliver(app, &job, deliveries).await?;
        report.parts_queued = parts;
        return Ok(report);
    };
    deliver(app, &job, deliveries).await
}

/// Writes the part items of a large fan-out (conditional Puts: a retried root re-queues nothing).
async fn queue_parts(db: &Db, job: &Job, rest: Vec<Delivery>) -> Result<usize> {
    let parts: Vec<JobItem> = rest
        .chunks(part_size())
        .enumerate()
        .map(|(i, chunk)| JobItem {
            job: job.clone(),
            part: Some(i as u32 + 1),
            deliveries: Some(chunk.to_vec()),
        })
        .collect();
    let count = parts.len();
    stream::iter(parts)
        .map(|part| async move {
            let put = db
                .client
                .put_item()
                .table_name(&db.table)
                .set_item(Some(job_item(&part)?))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await;
            match put {
                Ok(_) => Ok(()),
                Err(e) if crate::db::is_condition_failed(&e) => Ok(()),
                Err(e) => Err(sdk(e)),
            }
        })
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

/// The facts the access rule needs about many users of one community.
struct Roster {
    community: Community,
    members: HashMap<String, Member>,
    enrollments: HashMap<String, Enrollment>,
    /// Platform roles known from watch rows; anyone else is judged as a student (the strictest).
    roles: HashMap<String, Role>,
}

impl Roster {
    /// The whole community partition (community, memberships, enrollments): a few Query pages
    /// even for thousands of members, instead of a BatchGetItem per 50 of them.
    async fn whole(db: &Db, community_id: &str) -> Result<Option<Self>> {
        let mut community = None;
        let mut members = HashMap::new();
        let mut enrollments = HashMap::new();
        let key = keys::community(community_id);
        let items = db
            .client
            .query()
            .table_name(&db.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(&key.pk))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk)?;
        for item in items {
            let sk = attr_s(&item, "SK").unwrap_or_default();
            if sk == key.sk {
                community = Some(from_item::<Community>(item)?);
            } else if sk.starts_with(keys::MEMBER_PREFIX) {
                let m: Member = from_item(item)?;
                members.insert(m.user_id.clone(), m);
            } else if sk.starts_with("ENROLL#") {
                let e: Enrollment = from_item(item)?;
                enrollments.insert(e.user_id.clone(), e);
            }
        }
        Ok(community.map(|community| Self {
            community,
            members,
            enrollments,
            roles: HashMap::new(),
        }))
    }

    /// Only the given users (BatchGetItems of their membership and enrollment).
    async fn of(db: &Db, community_id: &str, users: &[String]) -> Result<Option<Self>> {
        let Some(community) = db.get::<Community>(&keys::community(community_id)).await? else {
            return Ok(None);
        };
        let mut members = HashMap::new();
        let mut enrollments = HashMap::new();
        for chunk in users.chunks(USERS_PER_BATCH) {
            let keys: Vec<Key> = chunk
                .iter()
                .flat_map(|u| {
                    [
                        keys::member(community_id, u),
                        keys::enrollment(community_id, u),
                    ]
                })
                .collect();
            let mut found = db.get_many(&keys).await?.into_iter();
            for user in chunk {
                if let Some(Some(m)) = found.next() {
                    members.insert(user.clone(), from_item::<Member>(m)?);
                }
                if let Some(Some(e)) = found.next() {
                    enrollments.insert(user.clone(), from_item::<Enrollment>(e)?);
                }
            }
        }
        Ok(Some(Self {
            community,
            members,
            enrollments,
            roles: HashMap::new(),
        }))
    }

    /// The one access rule, applied to a user who is not the caller.
    fn allows(&self, user_id: &str, action: Action, now: DateTime<Utc>) -> bool {
        let principal = Principal {
            user_id: user_id.to_string(),
            role: self.roles.get(user_id).copied().unwrap_or(Role::Student),
            name: String::new(),
            username: None,
        };
        let facts = Facts {
            principal: &principal,
            community: &self.community,
            membership: self.members.get(user_id),
            enrollment: self.enrollments.get(user_id),
            now,
        };
        decide(&facts, action) == Decision::Allow
    }

    /// The course's instructors and the members holding moderator or instructor.
    fn moderators(&self) -> Vec<String> {
        let mut out: Vec<String> = self.community.instructor_ids.clone();
        out.extend(
            self.members
                .values()
                .filter(|m| m.role >= CommunityRole::Moderator)
                .map(|m| m.user_id.clone()),
        );
        out
    }

    /// Moderators and instructors unless they muted, members who chose to watch.
    fn watchers(&self, rows: &[WatchRow]) -> Vec<String> {
        let mut out: HashSet<String> = self.moderators().into_iter().collect();
        for row in rows {
            if row.watching {
                out.insert(row.user_id.clone());
            } else {
                out.remove(&row.user_id);
            }
        }
        out.into_iter().collect()
    }
}

fn is_publication(kind: JobKind) -> bool {
    matches!(kind, JobKind::PostPublished | JobKind::PostApproved)
}

/// Who gets which type for a job, after the access rule, sorted by user id (parts are stable).
pub async fn resolve(app: &crate::App, job: &Job) -> Result<Vec<Delivery>> {
    let db = &app.db;
    let now = app.clock.now();
    let top_level_publication =
        is_publication(job.kind) && job.post.as_ref().is_some_and(|p| p.parent_id.is_none());
    let needs_roster =
        top_level_publication || matches!(job.kind, JobKind::PostPending | JobKind::PostFlagged);
    let mut roster = if needs_roster {
        match Roster::whole(db, &job.community_id).await? {
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
                for w in roster.watchers(&watch_rows) {
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
    let mut roster = match roster.take() {
        Some(r) => r,
        None => match Roster::of(db, &job.community_id, &users).await? {
            Some(r) => r,
            None => return Ok(Vec::new()),
        },
    };
    roster.roles.extend(
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
        .filter(|u| roster.allows(u, action, now))
        .map(|u| Delivery {
            kind: c.0[&u],
            user_id: u,
        })
        .collect())
}

/// Users named with `@username` who exist (one GetItem per name, at most 20 names).
async fn mentioned(db: &Db, usernames: &[String]) -> Result<Vec<String>> {
    stream::iter(usernames.iter().take(20))
        .map(|u| crate::lms::user_id_by_username(db, u))
        .buffer_unordered(8)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await
}

/// Those a reply concerns: the author of the post it answers and everyone who wrote in the
/// thread (the root post and its replies; one GetItem and one Query of the thread index).
async fn reply_audience(db: &Db, post: &super::jobs::PostRef) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(root) = db
        .get::<crate::posts::Post>(&keys::post(&post.root_id))
        .await?
    {
        out.push(root.author_id);
    }
    let items = db
        .client
        .query()
        .table_name(&db.table)
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s(keys::thread_pk(&post.root_id)))
        .projection_expression("author_id, is_deleted")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(sdk)?;
    for item in items {
        let deleted = item
            .get("is_deleted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        if !deleted && let Some(author) = attr_s(&item, "author_id") {
            out.push(author);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- writing and pushing

/// What the texts of a job's notifications need beyond the job itself.
struct Context {
    community_title: String,
    root_title: Option<String>,
    actor_name: String,
}

impl Context {
    async fn load(db: &Db, job: &Job) -> Result<Self> {
        let community_title = db
            .get::<Community>(&keys::community(&job.community_id))
            .await?
            .map(|c| c.title)
            .unwrap_or_default();
        let root_title = match &job.post {
            Some(p) if p.parent_id.is_some() => db
                .get::<crate::posts::Post>(&keys::post(&p.root_id))
                .await?
                .and_then(|r| r.title),
            Some(p) => p.title.clone(),
            None => None,
        };
        let actor_name = match &job.actor.name {
            Some(n) => n.clone(),
            None => db
                .get::<crate::lms::User>(&keys::user(&job.actor.id))
                .await?
                .map(|u| u.name)
                .unwrap_or_else(|| "A moderator".into()),
        };
        Ok(Self {
            community_title,
            root_title,
            actor_name,
        })
    }
}

/// The notification one recipient gets for a job.
fn render(job: &Job, d: &Delivery, ctx: &Context) -> Notification {
    let moderation = matches!(
        d.kind,
        Kind::PostApproved | Kind::PostRejected | Kind::PostFlagged
    );
    // In an approval job the moderator acted, but the post (and its mentions) are its author's.
    let actor = match (&job.post, job.kind == JobKind::PostApproved && !moderation) {
        (Some(p), true) => Actor {
            id: p.author_id.clone(),
            name: Some(p.author_name.clone()),
        },
        _ => Actor {
            id: job.actor.id.clone(),
            name: Some(ctx.actor_name.clone()),
        },
    };
    let who = actor.name.clone().unwrap_or_default();
    let snippet = &job.snippet;
    let community = &ctx.community_title;
    let (title, message) = match d.kind {
        Kind::NewPost if job.kind == JobKind::PostPending => (
            format!("A post awaits approval in {community}"),
            format!("{who} posted \"{snippet}\""),
        ),
        Kind::NewPost => (
            format!("New post in {community}"),
            format!("{who} posted \"{snippet}\""),
        ),
        Kind::NewReply => (
            "New reply".to_string(),
            format!(
                "{who} replied in \"{}\": {snippet}",
                ctx.root_title.as_deref().unwrap_or(community)
            ),
        ),
        Kind::NewMention => (format!("{who} mentioned you"), snippet.clone()),
        Kind::NewMessage => (format!("{who} replied to your message"), snippet.clone()),
        Kind::PostApproved => (
            "Your post was approved".to_string(),
            format!("\"{snippet}\" is now visible in {community}"),
        ),
        Kind::PostRejected => (
            "Your post was rejected".to_string(),
            match &job.reason {
                Some(r) => format!("\"{snippet}\": {r}"),
                None => format!("\"{snippet}\" was not approved"),
            },
        ),
        Kind::PostFlagged => (
            format!("A post was flagged in {community}"),
            format!(
                "\"{snippet}\": {}",
                job.reason.as_deref().unwrap_or("no reason given")
            ),
        ),
    };
    let target = match (&job.post, &job.message) {
        (Some(p), _) => Target {
            kind: "post".into(),
            id: p.id.clone(),
            root_id: p.parent_id.as_ref().map(|_| p.root_id.clone()),
            link: format!("/api/community/posts/{}/", p.id),
        },
        (None, Some(m)) => Target {
            kind: "message".into(),
            id: m.id.clone(),
            root_id: None,
            link: format!("/api/community/messages/{}/", m.id),
        },
        (None, None) => Target {
            kind: "community".into(),
            id: job.community_id.clone(),
            root_id: None,
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
    }
}

/// Writes and pushes the notifications of resolved recipients.
pub async fn deliver(app: &crate::App, job: &Job, deliveries: Vec<Delivery>) -> Result<Report> {
    let db = &app.db;
    let mut report = Report {
        recipients: deliveries.len(),
        ..Default::default()
    };
    if deliveries.is_empty() {
        return Ok(report);
    }
    let users: Vec<String> = deliveries.iter().map(|d| d.user_id.clone()).collect();
    let states = read_states(db, &users).await?;
    let (kept, opted): (Vec<Delivery>, Vec<Delivery>) = deliveries.into_iter().partition(|d| {
        !states
            .get(&d.user_id)
            .is_some_and(|s| s.disabled_types.contains(&d.kind))
    });
    report.opted_out = opted.len();
    let ctx = Context::load(db, job).await?;
    let created = chrono::DateTime::parse_from_rfc3339(&job.created_at)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| app.clock.now().timestamp());
    let ttl = created + i64::from(app.config.notification_retention_days) * 86_400;
    let notifications: Vec<Notification> = kept.iter().map(|d| render(job, d, &ctx)).collect();
    let chunks: Vec<Vec<Notification>> = notifications
        .chunks(RECIPIENTS_PER_TRANSACTION)
        .map(<[Notification]>::to_vec)
        .collect();
    let written: Vec<Vec<Notification>> = stream::iter(chunks)
        .map(|chunk| write_chunk(db, chunk, ttl))
        .buffer_unordered(TRANSACTIONS_IN_FLIGHT)
        .try_collect()
        .await?;
    let written: Vec<Notification> = written.into_iter().flatten().collect();
    report.written = written.len();
    report.already_delivered = notifications.len() - written.len();
    report.push = push_all(app, &written).await;
    Ok(report)
}

/// The recipients' state items (preferences), 100 keys per BatchGetItem, a few in flight.
async fn read_states(db: &Db, users: &[String]) -> Result<HashMap<String, State>> {
    let chunks: Vec<Vec<String>> = users.chunks(100).map(<[String]>::to_vec).collect();
    let found: Vec<Vec<(String, Option<Item>)>> = stream::iter(chunks)
        .map(|chunk| async move {
            let keys: Vec<Key> = chunk.iter().map(|u| keys::notification_state(u)).collect();
            let items = db.get_many(&keys).await?;
            Ok::<_, Error>(chunk.into_iter().zip(items).collect())
        })
        .buffer_unordered(STATE_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    found
        .into_iter()
        .flatten()
        .filter_map(|(u, item)| item.map(|i| (u, i)))
        .map(|(u, i)| Ok((u, from_item::<State>(i)?)))
        .collect()
}

/// One TransactWriteItems for up to 50 recipients; those already delivered (their Put failed
/// its condition) are left out and the rest retried. Answers the notifications written now.
async fn write_chunk(
    db: &Db,
    mut pending: Vec<Notification>,
    ttl: i64,
) -> Result<Vec<Notification>> {
    loop {
        if pending.is_empty() {
            return Ok(pending);
        }
        let mut items = Vec::with_capacity(pending.len() * 2);
        for notification in &pending {
            items.extend(create_actions(db, notification, ttl)?);
        }
        match db.transact(items).await? {
            WriteOutcome::Done => return Ok(pending),
            WriteOutcome::ConditionFailed(reasons) => {
                let before = pending.len();
                pending = pending
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| reasons.get(2 * i).is_none_or(Option::is_none))
                    .map(|(_, n)| n)
                    .collect();
                if pending.len() == before {
                    return Err(Error::internal(format!(
                        "notification write: unexpected condition failure {reasons:?}"
                    )));
                }
            }
        }
    }
}

/// Pushes each new notification to every open connection of its recipient, with the unread
/// count read together with the connections (one Query per recipient). Push failures are
/// logged by the fan-out and never fail the job: the notification is stored either way.
async fn push_all(app: &crate::App, written: &[Notification]) -> DeliveryReport {
    let pusher = app.push.as_ref();
    if !pusher.reaches_connections() {
        return DeliveryReport::default();
    }
    let at = app.clock.now();
    let now = crate::clock::iso(at);
    stream::iter(written)
        .map(|notification| {
            let now = now.clone();
            async move {
                let (connections, unread) = match reach(&app.db, &notification.recipient_id).await
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
                realtime::fan_out(pusher, &app.db, targets, &payload, None, at).await
            }
        })
        .buffer_unordered(RECIPIENTS_PUSHED_AT_ONCE)
        .fold(DeliveryReport::default(), |total, one| async move {
            add(total, one)
        })
        .await
}

fn add(a: DeliveryReport, b: DeliveryReport) -> DeliveryReport {
    DeliveryReport {
        sent: a.sent + b.sent,
        gone: a.gone + b.gone,
        failed: a.failed + b.failed,
        retried: a.retried + b.retried,
        sent_to_others: a.sent_to_others + b.sent_to_others,
    }
}

/// A user's open connections and unread count, in one strongly consistent Query of the user's
/// partition (`CONN#...` rows sort just before the `NOTIFICATIONS` state item).
pub async fn reach(db: &Db, user_id: &str) -> Result<(Vec<String>, i64)> {
    let state = keys::notification_state(user_id);
    let out = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
        .expression_attribute_values(":pk", s(&state.pk))
        .expression_attribute_values(":from", s(keys::USER_CONNECTION_PREFIX))
        .expression_attribute_values(":to", s(&state.sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk)?;
    let mut connections = Vec::new();
    let mut unread = 0;
    for item in out.items.unwrap_or_default() {
        let sk = attr_s(&item, "SK").unwrap_or_default();
        if sk == state.sk {
            unread = attr_n(&item, "unread").unwrap_or(0).max(0);
        } else if sk.starts_with(keys::USER_CONNECTION_PREFIX)
            && let Some(id) = attr_s(&item, "connection_id")
        {
            connections.push(id);
        }
    }
    Ok((connections, unread))
}

/// Counts of a resolved fan-out by type (logs and the benchmark).
pub fn by_kind(deliveries: &[Delivery]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for d in deliveries {
        *out.entry(d.kind.as_str()).or_insert(0) += 1;
    }
    out
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
