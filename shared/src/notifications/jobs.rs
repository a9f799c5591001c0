//! The outbox: one small job item per domain event, written by the request that caused the
//! event; its stream record triggers the notifier. Requests never wait for the fan-out.

use crate::chat::ChatEvent;
use crate::ids::Ids;
pub use crate::model::notification::{
    Delivery, JOB_ENTITY as ENTITY, JOB_RETENTION_SECS, Job, JobItem, JobKind, MessageRef, PostRef,
};
use crate::posts::model::{PostEvent, PostKind, PostStatus};
use crate::validate::mentions;
use chrono::{DateTime, Utc};

/// Characters of the post or message text carried in a job and shown in a notification.
pub const SNIPPET_CHARS: usize = 140;

pub fn snippet(text: &str) -> String {
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
    actor: crate::model::notification::Actor,
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
        anonymous_actor: false,
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
            anonymous: post.anonymous,
        };
        let author = crate::model::notification::Actor {
            id: post.author_id.clone(),
            name: Some(post.author_name.clone()),
        };
        let by = |id: &str| crate::model::notification::Actor {
            id: id.to_string(),
            name: None,
        };
        let text = || snippet(post.title.as_deref().unwrap_or(&post.content));
        let mut j = match event {
            PostEvent::Created { mentions, .. } => {
                let kind = match post.status {
                    PostStatus::Approved
                        if post.kind == PostKind::Announcement && !post.is_reply() =>
                    {
                        JobKind::Announcement
                    }
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
                j.mentions = mentions(&post.content);
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
            PostEvent::Accepted { by: actor, .. }
            | PostEvent::Endorsed { by: actor, .. }
            | PostEvent::Duplicated { by: actor, .. } => {
                let kind = match event {
                    PostEvent::Accepted { .. } => JobKind::AnswerAccepted,
                    PostEvent::Endorsed { .. } => JobKind::AnswerEndorsed,
                    _ => JobKind::MarkedDuplicate,
                };
                let mut j = job(ids, kind, &post.community_id, by(actor), at);
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
        let mentions = mentions(&message.message);
        if mentions.is_empty() && message.reply_to.is_none() {
            return None;
        }
        let actor = crate::model::notification::Actor {
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
            crate::model::notification::Actor {
                id: "u1".into(),
                name: None,
            },
            chrono::DateTime::from_timestamp(1_000, 0).unwrap(),
        );
        let item = crate::store::outbox::job_item(&JobItem {
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
        let back: JobItem = crate::store::db::from_item(item).unwrap();
        assert_eq!(back.job, j);
    }
}
