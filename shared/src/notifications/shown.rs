//! What a notification shows: its texts are rendered from the live object whenever it is
//! answered (the REST list and get, and the live `notification` event), never replayed from
//! the moment it was made. A notification is only ids and a kind: who acted, which community,
//! which post or message.
//!
//! - The object was edited: the texts show its current words.
//! - The object was deleted (or is no longer visible to the reader, like a post sent back to
//!   moderation): "This post was deleted" / "This message was deleted", no snippet.
//! - The reader may no longer read the community (enrollment ended, removed), or no longer
//!   moderate it for a flag: the notification stays in the list (the unread count and
//!   mark-as-read keep working) but shows no text of the community, the object or the actor.
//!
//! Email and push render through [`sendable`] at the moment they send, after the same checks,
//! and send nothing for a hidden or deleted object.

use super::jobs::snippet;
use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::chat::Message;
use crate::conversations::DirectMessage;
use crate::error::Result;
use crate::model::notification::{Kind, Notification};
use crate::posts::model::{Post, PostStatus};
use crate::store::{Db, notifications as store};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The state of what a notification points at, as its reader may see it now.
#[derive(Debug, Clone, Copy)]
pub enum Live<'a> {
    /// A post the reader may see, and the title of its thread (for replies) if readable.
    Post {
        post: &'a Post,
        root_title: Option<&'a str>,
    },
    Message(&'a Message),
    /// A direct message (its reader is a member of its conversation: members are fixed).
    Direct(&'a DirectMessage),
    /// Deleted, missing or no longer visible: `"post"` or `"message"`.
    Gone(&'static str),
    /// The reader may no longer read (or, for a flag, moderate) the community.
    Hidden,
}

/// Shown instead of the texts of a notification whose community the reader lost.
pub const HIDDEN_TITLE: &str = "You no longer have access to this community";

/// The title and message of a notification of `kind` about `live`, by `who`, in `community`.
pub fn texts(
    kind: Kind,
    who: &str,
    community: &str,
    live: Live<'_>,
    reason: Option<&str>,
) -> (String, String) {
    let (snippet, pending, root_title) = match live {
        Live::Hidden => return (HIDDEN_TITLE.to_string(), String::new()),
        Live::Gone(what) => return (format!("This {what} was deleted"), String::new()),
        Live::Post { post, root_title } => (
            snippet(post.title.as_deref().unwrap_or(&post.content)),
            post.status == PostStatus::Pending,
            root_title,
        ),
        Live::Message(m) => (snippet(&m.message), false, None),
        Live::Direct(m) => (snippet(&m.message), false, None),
    };
    match kind {
        Kind::NewPost if pending => (
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
                root_title.unwrap_or(community)
            ),
        ),
        Kind::NewMention => (format!("{who} mentioned you"), snippet),
        Kind::NewMessage => (format!("{who} replied to your message"), snippet),
        Kind::NewDirectMessage => (format!("{who} sent you a direct message"), snippet),
        Kind::PostApproved => (
            "Your post was approved".to_string(),
            format!("\"{snippet}\" is now visible in {community}"),
        ),
        Kind::PostRejected => (
            "Your post was rejected".to_string(),
            match reason {
                Some(r) => format!("\"{snippet}\": {r}"),
                None => format!("\"{snippet}\" was not approved"),
            },
        ),
        Kind::PostFlagged => (
            format!("A post was flagged in {community}"),
            format!("\"{snippet}\": {}", reason.unwrap_or("no reason given")),
        ),
        Kind::Announcement => (
            format!("Announcement in {community}"),
            format!("{who} announced \"{snippet}\""),
        ),
        Kind::AnswerAccepted => (
            "Your answer was accepted".to_string(),
            format!("{who} accepted \"{snippet}\""),
        ),
        Kind::AnswerEndorsed => (
            "Your post was endorsed".to_string(),
            format!("{who} endorsed \"{snippet}\""),
        ),
        Kind::MarkedDuplicate => (
            "Your question was closed as a duplicate".to_string(),
            format!("\"{snippet}\" duplicates an earlier question in {community}"),
        ),
    }
}

/// The right a reader needs to see a notification of this kind.
fn needs(kind: Kind) -> Action {
    match kind {
        Kind::PostFlagged => Action::Moderate,
        _ => Action::Read,
    }
}

/// What `live` is for one notification, given what was read.
fn live_of<'a>(
    n: &Notification,
    access: Option<&Access>,
    posts: &'a HashMap<String, Post>,
    messages: &'a HashMap<String, Message>,
    direct: &'a HashMap<String, DirectMessage>,
) -> Live<'a> {
    if n.target.kind == "direct_message" {
        return match direct.get(&n.target.id) {
            Some(m)
                if !m.is_deleted
                    && Some(&m.conversation_id) == n.target.conversation_id.as_ref() =>
            {
                Live::Direct(m)
            }
            _ => Live::Gone("message"),
        };
    }
    let Some(access) = access.filter(|a| a.can(needs(n.notification_type))) else {
        return Live::Hidden;
    };
    match n.target.kind.as_str() {
        "message" => match messages.get(&n.target.id) {
            Some(m) if !m.is_deleted && m.community_id == n.community_id => Live::Message(m),
            _ => Live::Gone("message"),
        },
        _ => match posts.get(&n.target.id) {
            Some(p)
                if !p.is_deleted && p.community_id == n.community_id && p.visible_to(access) =>
            {
                let root_title = n
                    .target
                    .root_id
                    .as_ref()
                    .and_then(|r| posts.get(r))
                    .filter(|r| !r.is_deleted && r.visible_to(access))
                    .and_then(|r| r.title.as_deref());
                Live::Post {
                    post: p,
                    root_title,
                }
            }
            _ => Live::Gone("post"),
        },
    }
}

/// Applies what `live` allows to one notification: its texts, and no actor when hidden. An
/// anonymous post's author stays "Anonymous" to a reader the post does not reveal its author
/// to (`reveals`, from [`crate::posts::reveals_author`]).
pub fn show(
    mut n: Notification,
    community_title: &str,
    live: Live<'_>,
    reveals: bool,
) -> Notification {
    if let Live::Post { post, .. } = live
        && post.anonymous
        && !reveals
        && n.actor
            .as_ref()
            .is_some_and(|a| a.id.as_deref() == Some(post.author_id.as_str()))
    {
        n.actor = Some(crate::model::notification::NotificationActor::anonymous());
    }
    let who = n
        .actor
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_default();
    let (title, message) = texts(
        n.notification_type,
        &who,
        community_title,
        live,
        n.reason.as_deref(),
    );
    n.title = title;
    n.message = message;
    if matches!(live, Live::Hidden | Live::Gone(_)) {
        n.reason = None;
    }
    if matches!(live, Live::Hidden) {
        n.actor = None;
    }
    n
}

/// Renders notifications for their reader from the live objects: one BatchGetItem for the
/// reader's access to the communities involved (three keys a community, 33 communities a
/// call) and one BatchGetItem per 100 objects (posts, threads' top posts, messages).
pub async fn render(
    db: &Db,
    reader: &Principal,
    now: DateTime<Utc>,
    list: Vec<Notification>,
) -> Result<Vec<Notification>> {
    Ok(render_live(db, reader, now, list)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

/// What an email or a push may say now: the notifications rendered as [`render`] does, without
/// those whose object is gone or no longer visible to the reader, and those of communities the
/// reader lost. Nothing is sent for those.
pub async fn sendable(
    db: &Db,
    reader: &Principal,
    now: DateTime<Utc>,
    list: Vec<Notification>,
) -> Result<Vec<Notification>> {
    Ok(render_live(db, reader, now, list)
        .await?
        .into_iter()
        .filter_map(|(n, visible)| visible.then_some(n))
        .collect())
}

/// Renders each notification, with whether its object is there for the reader to see.
async fn render_live(
    db: &Db,
    reader: &Principal,
    now: DateTime<Utc>,
    list: Vec<Notification>,
) -> Result<Vec<(Notification, bool)>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let communities: Vec<String> = list
        .iter()
        .map(|n| n.community_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let access: HashMap<String, Access> = Access::load_many(db, reader, &communities, now)
        .await?
        .into_iter()
        .map(|a| (a.community.id.clone(), a))
        .collect();
    let readable = |n: &Notification| {
        access
            .get(&n.community_id)
            .is_some_and(|a| a.can(needs(n.notification_type)))
    };
    let mut post_ids: Vec<String> = Vec::new();
    let mut message_keys: Vec<(String, String)> = Vec::new();
    let mut seen = HashSet::new();
    for n in list.iter().filter(|n| readable(n)) {
        match n.target.kind.as_str() {
            "message" => message_keys.push((n.community_id.clone(), n.target.id.clone())),
            "post" => {
                for id in std::iter::once(&n.target.id).chain(n.target.root_id.as_ref()) {
                    if seen.insert(id.clone()) {
                        post_ids.push(id.clone());
                    }
                }
            }
            _ => {}
        }
    }
    message_keys.sort();
    message_keys.dedup();
    let (posts, messages) = store::targets(db, &post_ids, &message_keys).await?;
    let direct_keys: Vec<(String, String)> = list
        .iter()
        .filter(|n| n.target.kind == "direct_message")
        .filter_map(|n| Some((n.target.conversation_id.clone()?, n.target.id.clone())))
        .collect();
    let direct = crate::store::conversations::messages(db, &direct_keys).await?;
    Ok(list
        .into_iter()
        .map(|n| {
            let a = access.get(&n.community_id);
            let live = live_of(&n, a, &posts, &messages, &direct);
            let title = a.map(|a| a.community.title.clone()).unwrap_or_default();
            let reveals = match (live, a) {
                (Live::Post { post, .. }, Some(a)) => {
                    crate::posts::reveals_author(post, &reader.user_id, a.is_staff())
                }
                _ => true,
            };
            let visible = !matches!(live, Live::Hidden | Live::Gone(_));
            (show(n, &title, live, reveals), visible)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_and_hidden_objects_show_no_text_of_them() {
        for kind in Kind::ALL {
            let (title, message) = texts(kind, "Sam", "Course 1", Live::Gone("post"), Some("r"));
            assert_eq!(
                (title.as_str(), message.as_str()),
                ("This post was deleted", "")
            );
            let (title, message) = texts(kind, "Sam", "Course 1", Live::Hidden, Some("r"));
            assert_eq!(title, HIDDEN_TITLE);
            assert!(message.is_empty());
            assert!(!title.contains("Sam") && !title.contains("Course 1"));
        }
        let (title, _) = texts(Kind::NewMessage, "Sam", "C", Live::Gone("message"), None);
        assert_eq!(title, "This message was deleted");
    }

    #[test]
    fn a_hidden_notification_loses_its_actor_and_reason() {
        let n: Notification = serde_json::from_value(serde_json::json!({
            "id": "01JF6R0000000000000000N0T1", "recipient_id": "u", "notification_type": "post_flagged",
            "title": "A post was flagged in C", "message": "\"secret\": spam", "actor": { "id": "a", "name": "Sam" },
            "community_id": "c", "target": { "type": "post", "id": "p", "link": "/api/community/posts/p/" },
            "is_read": false, "created_at": "2026-01-01T00:00:00Z", "reason": "spam"
        }))
        .unwrap();
        let shown = show(n.clone(), "C", Live::Hidden, true);
        assert!(shown.actor.is_none() && shown.reason.is_none());
        assert!(!serde_json::to_string(&shown).unwrap().contains("secret"));
        let gone = show(n, "C", Live::Gone("post"), true);
        assert_eq!(gone.title, "This post was deleted");
        assert!(gone.reason.is_none() && gone.actor.is_some());
    }
}
