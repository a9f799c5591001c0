//! The chat use cases, one function each, shared by the WebSocket handler and the REST router:
//! each loads the caller's access once through the guard, checks the rate limit where there is
//! one, stores through [`crate::store::chat`], delivers through the [`Pusher`] (or
//! acknowledges) and queues what follows (the notification job, in the message's transaction).

use super::{
    ChatEvent, ListQuery, MAX_UNREAD_COUNT, Message, NewMessage, ReadPosition, Receipt, SendInput,
    Sent, Status, Unread,
};
use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::cursor::{Cursors, Page};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::notifications::jobs::Job;
use crate::realtime::{self, Audience, DeliveryReport, Pusher};
use crate::store::chat::{self as store, Advanced, Changed, History, Inserted};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use chrono::{DateTime, Utc};

/// A message named by id, and the community the client says it is in (if it says).
#[derive(Debug, Clone)]
pub struct MessageAt {
    pub message_id: String,
    pub community_id: Option<String>,
}

impl MessageAt {
    /// Checks the message id (a ULID) at the boundary.
    pub fn parse(message_id: &str, community_id: Option<&str>) -> Result<Self> {
        Ok(Self {
            message_id: crate::ids::parse_ulid("message", message_id)?,
            community_id: community_id
                .map(|c| crate::ids::parse_ulid("community", c))
                .transpose()?,
        })
    }
}

/// Loads the access to a message's community (one GetItem for the message's reference, then the
/// guard); 404 "message not found" if there is no such message, the client named another
/// community, or the caller may not see its community.
async fn access_to_message(
    db: &Db,
    caller: &Principal,
    at: &MessageAt,
    now: DateTime<Utc>,
) -> Result<Access> {
    let community_id = store::locate(db, &at.message_id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    if at.community_id.as_ref().is_some_and(|c| *c != community_id) {
        return Err(Error::NotFound("message"));
    }
    // A message in a community the caller may not see answers exactly like an unknown one.
    let access = match Access::load(db, caller, &community_id, now).await {
        Err(Error::NotFound(_)) => return Err(Error::NotFound("message")),
        other => other?,
    };
    tracing::Span::current().record("community_id", community_id.as_str());
    Ok(access)
}

fn chat_message_event(m: &Message, now: DateTime<Utc>) -> Blob {
    let body = serde_json::to_value(m).expect("a message serializes");
    realtime::event("chat_message", body, &crate::clock::iso(now))
}

/// Sends a message: the sender must be allowed to chat in the community and within the chat
/// rate limit. One TransactWriteItems stores the message, its reference, its `client_id` claim,
/// the `reply_to` check and, if the message mentions someone or answers someone, its
/// notification job: they are stored together or not at all. A retry with a used `client_id`
/// writes nothing (no second job) and answers the stored message.
///
/// A new message (or a retry of one no other user has received yet) goes to the community, the
/// sending connection (`origin`) included: its copy is the acknowledgement; a retry of a message
/// already delivered is acknowledged to `origin` only. A failed delivery never undoes the stored
/// message: clients catch up from the history.
#[tracing::instrument(skip_all, fields(community_id = %new.community_id, user_id = %caller.user_id, message_id))]
pub async fn send(
    db: &Db,
    pusher: &dyn Pusher,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    caller: &Principal,
    new: NewMessage,
    origin: Option<&str>,
) -> Result<Sent> {
    let access = Access::load(db, caller, &new.community_id, now).await?;
    send_as(db, pusher, None, ids, now, &access, new, origin).await
}

/// [`send`] of a message as the client sent it: the community is the body's, or else
/// `default_community` (the path's, or the one community a WebSocket connection is subscribed
/// to, SPEC §8). The caller's right to chat there is decided before the body is judged: one who
/// may not chat gets 403/404 whatever the body holds.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, message_id))]
#[allow(clippy::too_many_arguments)]
pub async fn send_input(
    db: &Db,
    pusher: &dyn Pusher,
    files: &crate::store::objects::Files,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    caller: &Principal,
    input: Result<SendInput>,
    default_community: Option<&str>,
    origin: Option<&str>,
) -> Result<Sent> {
    let named = input.as_ref().ok().and_then(|i| i.community.clone());
    let community = match (named, default_community) {
        (Some(c), _) => crate::ids::ulid(c.trim())
            .ok_or_else(|| Error::validation("community", "is not a valid id"))?,
        (None, Some(c)) => c.to_string(),
        (None, None) => {
            input?;
            return Err(Error::validation("community_id", "is required"));
        }
    };
    tracing::Span::current().record("community_id", community.as_str());
    let access = Access::load(db, caller, &community, now).await?;
    access.require_write(Action::Chat)?;
    let mut input = input?;
    input.community = Some(community);
    send_as(
        db,
        pusher,
        Some(files),
        ids,
        now,
        &access,
        input.parse()?,
        origin,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn send_as(
    db: &Db,
    pusher: &dyn Pusher,
    files: Option<&crate::store::objects::Files>,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    access: &Access,
    new: NewMessage,
    origin: Option<&str>,
) -> Result<Sent> {
    let caller = &access.principal;
    access.require_write(Action::Chat)?;
    let checked = match (&new.attachment_id, files) {
        (None, _) => Vec::new(),
        (Some(id), Some(files)) => {
            let scope = crate::model::attachment::Scope::Community(new.community_id.clone());
            let ids = [id.clone()];
            let kind = Some(new.message_type);
            let retry = new.client_id.is_some();
            crate::attachments::resolve(
                db,
                files,
                caller,
                &scope,
                "attachment_id",
                &ids,
                kind,
                retry,
            )
            .await?
        }
        (Some(_), None) => return Err(Error::internal("an attachment without a bucket")),
    };
    if !access.is_staff() {
        crate::ratelimit::check(db, &caller.user_id, crate::ratelimit::chat(), now).await?;
    }
    let attachment = match files {
        Some(files) => crate::attachments::keep(files, &checked).await?.pop(),
        None => None,
    };
    let message = Message {
        id: ids.new_id(),
        community_id: new.community_id,
        sender_id: caller.user_id.clone(),
        sender_name: caller.name.clone(),
        sender_username: caller.username.clone(),
        message: new.message,
        message_type: new.message_type,
        reply_to: new.reply_to,
        client_id: new.client_id,
        attachment,
        status: Status::Sent,
        created_at: crate::clock::iso(now),
        edited_at: None,
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
    };
    let job = Job::of_chat_event(&ChatEvent::MessageSent(message.clone()), now, ids);
    let sent = match store::insert(db, &message, job.as_ref(), now).await? {
        Inserted::New => Sent {
            message,
            created: true,
        },
        Inserted::Duplicate(stored) => Sent {
            message: stored,
            created: false,
        },
        Inserted::ReplyMissing => {
            return Err(Error::validation(
                "reply_to",
                "no such message in this community",
            ));
        }
        Inserted::AttachmentTaken => {
            return Err(Error::validation(
                "attachment_id",
                "the attachment was attached elsewhere meanwhile",
            ));
        }
    };
    tracing::Span::current().record("message_id", sent.message.id.as_str());
    if sent.created
        && let Some(job) = &job
    {
        tracing::info!(job_id = %job.id, "notification job queued with the message");
    }
    let payload = chat_message_event(&sent.message, now);
    if sent.needs_delivery() {
        let audience = Audience {
            community_id: &sent.message.community_id,
            author: Some(&sent.message.sender_id),
            reply_to: origin,
            ..Default::default()
        };
        match realtime::broadcast(db, pusher, audience, &payload, now).await {
            Ok(report) => {
                if report.sent_to_others > 0
                    && let Err(e) = store::mark_delivered(db, &sent.message).await
                {
                    tracing::warn!(error = %e, "chat: could not mark delivered");
                }
                tracing::info!(?report, "chat message delivered");
            }
            Err(e) => tracing::warn!(error = %e, "chat: delivery failed; the message is stored"),
        }
    } else if let Some(origin) = origin
        && let Err(e) = realtime::reply(pusher, origin, &payload).await
    {
        tracing::warn!(connection_id = origin, error = %e, "chat: acknowledgement failed");
    }
    Ok(sent)
}

/// A community event to everyone there (the author's other connections included, and `origin`
/// even if not subscribed); a failure is logged, never returned: the change is stored.
async fn to_community(
    db: &Db,
    pusher: &dyn Pusher,
    access: &Access,
    payload: &Blob,
    origin: Option<&str>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    let audience = Audience {
        community_id: &access.community.id,
        author: Some(&access.principal.user_id),
        reply_to: origin,
        ..Default::default()
    };
    realtime::broadcast(db, pusher, audience, payload, now)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "chat: event not delivered");
            DeliveryReport::default()
        })
}

/// Replaces a message's text (its author, while they may chat here) and tells the community
/// (`message_edited`, with `edited_at`). One conditional UpdateItem.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, message_id = %at.message_id))]
pub async fn edit(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    at: &MessageAt,
    text: Result<String>,
    origin: Option<&str>,
) -> Result<Message> {
    let access = access_to_message(db, caller, at, now).await?;
    access.require_write(Action::Chat)?;
    let text = text?;
    let edited = match store::edit(
        db,
        &access.community.id,
        &at.message_id,
        &caller.user_id,
        &text,
        now,
    )
    .await?
    {
        Changed::Done(m) => m,
        Changed::Missing => return Err(Error::NotFound("message")),
        Changed::Deleted => return Err(Error::Conflict("the message was deleted".into())),
        Changed::NotAuthor => {
            return Err(Error::Forbidden(
                "only its author may edit a message".into(),
            ));
        }
        Changed::Raced => {
            return Err(Error::Conflict(
                "the message changed meanwhile; try again".into(),
            ));
        }
    };
    let payload = realtime::event(
        "message_edited",
        serde_json::to_value(&edited).expect("a message serializes"),
        &crate::clock::iso(now),
    );
    to_community(db, pusher, &access, &payload, origin, now).await;
    Ok(edited)
}

/// Soft-deletes a message and tells the community (`message_deleted`: the id, who and when,
/// never the text). Moderators may delete any message; others their own while they may chat.
/// Answers the deleted message, or `None` if it was deleted already (deleting is idempotent).
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, message_id = %at.message_id))]
pub async fn delete(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    at: &MessageAt,
    origin: Option<&str>,
) -> Result<Option<Message>> {
    let access = access_to_message(db, caller, at, now).await?;
    let only_author = if access.is_moderator() {
        access.require_write(Action::Moderate)?;
        None
    } else {
        access.require_write(Action::Chat)?;
        Some(caller.user_id.as_str())
    };
    let deleted = match store::soft_delete(
        db,
        &access.community.id,
        &at.message_id,
        &caller.user_id,
        only_author,
        now,
    )
    .await?
    {
        Changed::Done(m) => m,
        Changed::Deleted | Changed::Raced => return Ok(None),
        Changed::Missing => return Err(Error::NotFound("message")),
        Changed::NotAuthor => {
            return Err(Error::Forbidden(
                "only its author may delete a message".into(),
            ));
        }
    };
    let body = serde_json::json!({
        "message_id": deleted.id,
        "community_id": deleted.community_id,
        "deleted_by": deleted.deleted_by,
        "deleted_at": deleted.deleted_at,
    });
    let payload = realtime::event("message_deleted", body, &crate::clock::iso(now));
    to_community(db, pusher, &access, &payload, origin, now).await;
    Ok(Some(deleted))
}

/// What marking a message read answered.
#[derive(Debug, Clone)]
pub struct Read {
    pub receipt: Receipt,
    /// The reader's unread count after it, when asked for.
    pub unread: Option<Unread>,
}

/// Marks a message (and so everything before it) read by the caller: their read position moves
/// forward (never back) and, if they are not the sender, the message becomes `read` and its
/// sender's connections get a `read_receipt`. `count_unread`: also answer the unread count.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, message_id = %at.message_id))]
pub async fn mark_read(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    at: &MessageAt,
    count_unread: bool,
) -> Result<Read> {
    let access = access_to_message(db, caller, at, now).await?;
    access.require(Action::Read)?;
    let community_id = &access.community.id;
    let message = store::get(db, community_id, &at.message_id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    let position = ReadPosition {
        community_id: community_id.clone(),
        user_id: caller.user_id.clone(),
        last_read_id: message.id.clone(),
        read_at: crate::clock::iso(now),
    };
    let advanced = store::advance_read(db, &position).await? == Advanced::Forward;
    let own = message.sender_id == caller.user_id;
    if !own && message.status != Status::Read {
        store::mark_read(db, &message).await?;
    }
    let receipt = Receipt {
        message_id: message.id,
        community_id: community_id.clone(),
        user_id: caller.user_id.clone(),
        name: caller.name.clone(),
        read_at: position.read_at,
        sender_id: message.sender_id,
        advanced,
    };
    if !own {
        let body = serde_json::to_value(&receipt).expect("a receipt serializes");
        let payload = realtime::event("read_receipt", body, &crate::clock::iso(now));
        if let Err(e) = realtime::to_user(db, pusher, &receipt.sender_id, &payload, now).await {
            tracing::warn!(error = %e, "chat: receipt not delivered");
        }
    }
    let unread = if count_unread {
        Some(count(db, &access).await?)
    } else {
        None
    };
    Ok(Read { receipt, unread })
}

/// `typing` to the others in the community; never stored, at most [`crate::ratelimit::typing`]
/// per user. Receivers clear the indicator after
/// 3 seconds without a new one, so a client repeats `is_typing: true` while typing goes on.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id))]
pub async fn typing(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    community_id: &str,
    is_typing: bool,
) -> Result<DeliveryReport> {
    tracing::Span::current().record("community_id", community_id);
    let access = Access::load(db, caller, community_id, now).await?;
    access.require_write(Action::Chat)?;
    // One UpdateItem per indicator; over the limit the sender gets a `rate_limited` error
    // event and no one else anything.
    crate::ratelimit::check(db, &caller.user_id, crate::ratelimit::typing(), now).await?;
    let payload = realtime::event(
        "typing",
        serde_json::json!({
            "community_id": access.community.id,
            "user_id": caller.user_id,
            "name": caller.name,
            "is_typing": is_typing,
        }),
        &crate::clock::iso(now),
    );
    let audience = Audience {
        community_id: &access.community.id,
        author: Some(&caller.user_id),
        except_user: Some(&caller.user_id),
        ..Default::default()
    };
    realtime::broadcast(db, pusher, audience, &payload, now).await
}

/// One message the caller may read (404 if it is not in this community).
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id, message_id = %at.message_id))]
pub async fn read_one(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Principal,
    at: &MessageAt,
) -> Result<Message> {
    let access = access_to_message(db, caller, at, now).await?;
    access.require(Action::Read)?;
    store::get(db, &access.community.id, &at.message_id)
        .await?
        .map(|m| m.seen_by(caller))
        .ok_or(Error::NotFound("message"))
}

/// A page of a community's history: newest first, or with `after` the messages after that one
/// oldest first (catching up after a reconnect).
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id))]
pub async fn history(
    db: &Db,
    cursors: &Cursors,
    now: DateTime<Utc>,
    caller: &Principal,
    community_id: &str,
    q: &ListQuery,
) -> Result<Page<Message>> {
    tracing::Span::current().record("community_id", community_id);
    let access = Access::load(db, caller, community_id, now).await?;
    access.require(Action::Read)?;
    match store::history(db, cursors, community_id, q.after.as_deref(), &q.page).await? {
        History::Page(page) => Ok(page.map(|m| m.seen_by(caller))),
        History::AfterMissing => Err(Error::NotFound("message")),
    }
}

/// How many messages of others the caller has not read yet in a community.
#[tracing::instrument(skip_all, fields(community_id, user_id = %caller.user_id))]
pub async fn unread(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Principal,
    community_id: &str,
) -> Result<Unread> {
    tracing::Span::current().record("community_id", community_id);
    let access = Access::load(db, caller, community_id, now).await?;
    access.require(Action::Read)?;
    count(db, &access).await
}

/// One GetItem for the read position, then COUNT Queries over the messages after it only.
async fn count(db: &Db, access: &Access) -> Result<Unread> {
    let community_id = &access.community.id;
    let me = &access.principal.user_id;
    let last_read_id = store::read_position(db, community_id, me)
        .await?
        .map(|p| p.last_read_id);
    let count = store::count_unread(
        db,
        community_id,
        me,
        last_read_id.as_deref(),
        MAX_UNREAD_COUNT,
    )
    .await?;
    Ok(Unread {
        community_id: community_id.clone(),
        last_read_id,
        unread_count: count.min(MAX_UNREAD_COUNT),
        capped: count > MAX_UNREAD_COUNT,
    })
}
