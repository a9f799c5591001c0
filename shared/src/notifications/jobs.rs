//! The outbox: one small job item per domain event, written by the request that caused the
//! event; its stream record triggers the notifier. Requests never wait for the fan-out.

use super::Kind;
use crate::chat::ChatEvent;
use crate::db::{Db, Item, n, s, sdk, to_item};
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::keys;
use crate::posts::{PostEvent, PostStatus};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `entity` attribute of job items: the stream's filter criteria match it.
pub const ENTITY: &str = "notification_job";
/// Jobs stay readable for this long after they were written (replays, inspection).
pub const JOB_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Characters of the post or message text carried in a job and shown in a notification.
pub const SNIPPET_CHARS: usize = 140;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A post or reply became visible to the community when it was created.
    PostPublished,
    /// A post or reply waits for a moderator's approval.
    PostPending,
    /// A moderator approved a pending post: it is published now (the actor is the moderator).
    PostApproved,
    PostRejected,
    PostFlagged,
    ChatMessage,
}

/// The post an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    pub id: String,
    pub root_id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    pub author_id: String,
    pub author_name: String,
    #[serde(default)]
    pub title: Option<String>,
}

/// The chat message an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub id: String,
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// One domain event, as small as the notifier needs: who did what where, on which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub community_id: String,
    pub actor: super::Actor,
    #[serde(default)]
    pub post: Option<PostRef>,
    #[serde(default)]
    pub message: Option<MessageRef>,
    /// The start of the text (post title or content, message, flag or rejection reason).
    pub snippet: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// `@username`s named in the text.
    #[serde(default)]
    pub mentions: Vec<String>,
    pub created_at: String,
}

/// A recipient resolved for a job, with the one type they get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub user_id: String,
    pub kind: Kind,
}

/// The stored job: the root (recipients not yet resolved) or one part of a large fan-out
/// (recipients resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobItem {
    pub job: Job,
    #[serde(default)]
    pub part: Option<u32>,
    #[serde(default)]
    pub deliveries: Option<Vec<Delivery>>,
}

fn snippet(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= SNIPPET_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(SNIPPET_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

fn job(
    ids: &dyn Ids,
    kind: JobKind,
    community_id: &str,
    actor: super::Actor,
    at: DateTime<Utc>,
) -> Job {
    Job {
        id: ids.new_id(),
        kind,
        community_id: community_id.to_string(),
        actor,
        post: None,
        message: None,
        snippet: String::new(),
        reason: None,
        mentions: Vec::new(),
        created_at: crate::clock::iso(at),
    }
}

impl Job {
    /// The job of a post event (none for events that notify nobody).
    pub fn of_post_event(event: &PostEvent, at: DateTime<Utc>, ids: &dyn Ids) -> Option<Job> {
        let post = event.post();
        let post_ref = PostRef {
            id: post.id.clone(),
            root_id: post.root_id.clone(),
            parent_id: post.parent_id.clone(),
            author_id: post.author_id.clone(),
            author_name: post.author_name.clone(),
            title: post.title.clone(),
        };
        let author = super::Actor {
            id: post.author_id.clone(),
            name: Some(post.author_name.clone()),
        };
        let by = |id: &str| super::Actor {
            id: id.to_string(),
            name: None,
        };
        let text = || snippet(post.title.as_deref().unwrap_or(&post.content));
        let mut j = match event {
            PostEvent::Created { mentions, .. } => {
                let kind = match post.status {
                    PostStatus::Approved => JobKind::PostPublished,
                    PostStatus::Pending => JobKind::PostPending,
                    PostStatus::Rejected => return None,
                };
                let mut j = job(ids, kind, &post.community_id, author, at);
                j.mentions = mentions.clone();
                j.snippet = text();
                j
            }
            PostEvent::Approved { moderator_id, .. } => {
                let mut j = job(
                    ids,
                    JobKind::PostApproved,
                    &post.community_id,
                    by(moderator_id),
                    at,
                );
                j.mentions = crate::posts::mentions(&post.content);
                j.snippet = text();
                j
            }
            PostEvent::Rejected {
                moderator_id,
                reason,
                ..
            } => {
                let mut j = job(
                    ids,
                    JobKind::PostRejected,
                    &post.community_id,
                    by(moderator_id),
                    at,
                );
                j.reason = reason.clone();
                j.snippet = text();
                j
            }
            PostEvent::Flagged {
                flagger_id, reason, ..
            } => {
                let mut j = job(
                    ids,
                    JobKind::PostFlagged,
                    &post.community_id,
                    by(flagger_id),
                    at,
                );
                j.reason = Some(snippet(reason));
                j.snippet = text();
                j
            }
        };
        j.post = Some(post_ref);
        Some(j)
    }

    /// The job of a chat event: only messages that name someone or answer someone notify.
    pub fn of_chat_event(event: &ChatEvent, at: DateTime<Utc>, ids: &dyn Ids) -> Option<Job> {
        let ChatEvent::MessageSent(message) = event;
        let mentions = crate::posts::mentions(&message.message);
        if mentions.is_empty() && message.reply_to.is_none() {
            return None;
        }
        let actor = super::Actor {
            id: message.sender_id.clone(),
            name: Some(message.sender_name.clone()),
        };
        let mut j = job(ids, JobKind::ChatMessage, &message.community_id, actor, at);
        j.mentions = mentions;
        j.snippet = snippet(&message.message);
        j.message = Some(MessageRef {
            id: message.id.clone(),
            reply_to: message.reply_to.clone(),
        });
        Some(j)
    }
}

/// The job item (root or part) with its key, `entity` and TTL.
pub fn job_item(item: &JobItem) -> Result<Item> {
    let key = match item.part {
        None => keys::notification_job(&item.job.id),
        Some(part) => keys::notification_job_part(&item.job.id, part),
    };
    let created = chrono::DateTime::parse_from_rfc3339(&item.job.created_at)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let mut stored = to_item(&key, item)?;
    stored.insert("entity".into(), s(ENTITY));
    stored.insert("ttl".into(), n(created + JOB_RETENTION_SECS));
    Ok(stored)
}

/// The job's Put, for a caller that writes it in the same transaction as the event.
pub fn put_job(db: &Db, job: &Job) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(&db.table)
        .set_item(Some(job_item(&JobItem {
            job: job.clone(),
            part: None,
            deliveries: None,
        })?))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(Error::internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Writes one job (one PutItem); the notifier takes it from the table's stream.
pub async fn enqueue(db: &Db, job: &Job) -> Result<()> {
    let item = job_item(&JobItem {
        job: job.clone(),
        part: None,
        deliveries: None,
    })?;
    db.client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The notifier's hook for the posts function: one job per event, written after the event's
/// own write succeeded. A failure is logged, not returned: the post is stored and the client
/// must not retry it because a notification could not be queued.
pub async fn publish_post_events(app: &crate::App, events: &[PostEvent]) {
    let now = app.clock.now();
    for event in events {
        if let Some(job) = Job::of_post_event(event, now, app.ids.as_ref()) {
            log_enqueue(&app.db, &job).await;
        }
    }
}

/// The notifier's hook for chat (REST and WebSocket sends).
pub async fn publish_chat_events(app: &crate::App, events: &[ChatEvent]) {
    let now = app.clock.now();
    for event in events {
        if let Some(job) = Job::of_chat_event(event, now, app.ids.as_ref()) {
            log_enqueue(&app.db, &job).await;
        }
    }
}

async fn log_enqueue(db: &Db, job: &Job) {
    match enqueue(db, job).await {
        Ok(()) => tracing::info!(job_id = %job.id, kind = ?job.kind, "notification job queued"),
        Err(e) => tracing::error!(job_id = %job.id, error = %e, "notification job lost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_to_a_snippet() {
        let long = "x".repeat(500);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS);
        assert_eq!(snippet("  short  "), "short");
    }

    #[test]
    fn a_job_item_carries_its_entity_and_ttl() {
        let j = job(
            &crate::ids::Ulids,
            JobKind::ChatMessage,
            "c1",
            super::super::Actor {
                id: "u1".into(),
                name: None,
            },
            chrono::DateTime::from_timestamp(1_000, 0).unwrap(),
        );
        let item = job_item(&JobItem {
            job: j.clone(),
            part: Some(2),
            deliveries: Some(vec![]),
        })
        .unwrap();
        assert_eq!(item["entity"].as_s().unwrap(), ENTITY);
        assert_eq!(item["SK"].as_s().unwrap(), "PART#0002");
        assert_eq!(
            item["ttl"].as_n().unwrap(),
            &(1_000 + JOB_RETENTION_SECS).to_string()
        );
        let back: JobItem = crate::db::from_item(item).unwrap();
        assert_eq!(back.job, j);
    }
}
