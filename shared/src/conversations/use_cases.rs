//! The direct-message use cases, one function each, shared by the REST router and the WebSocket
//! handler. Each reads the conversation (404 unless the caller is a member), asks the guard's
//! [`Reach`] before every write (creating, sending, editing, typing), stores through
//! [`crate::store::conversations`] and the room requests, and delivers to every open connection
//! of every member through the [`Pusher`].

use super::{
    Conversation, ConversationView, DirectMessage, ListQuery, NewConversation, NewMessage,
    Participant,
};
use crate::access::direct::Reach;
use crate::auth::Principal;
use crate::chat::{MAX_UNREAD_COUNT, Status};
use crate::cursor::{Cursors, Page, PageParams};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Ids;
use crate::keys::Room;
use crate::notifications::jobs::Job;
use crate::realtime::{self, Blob, DeliveryReport, Pusher, Target};
use crate::store::chat::Advanced;
use crate::store::conversations::{self as store, Created, Inserted};
use crate::store::room::{self, Changed, History};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;

/// The conversation, if the caller is one of its members; 404 otherwise (whether it exists or
/// not: a conversation's existence is its members' business).
async fn as_member(db: &Db, caller: &Principal, conversation_id: &str) -> Result<Conversation> {
    tracing::Span::current().record("conversation_id", conversation_id);
    store::get(db, conversation_id)
        .await?
        .filter(|c| c.has_member(&caller.user_id))
        .ok_or(Error::NotFound("conversation"))
}

/// The right to write, now: the guard's rule between the caller and every other member.
async fn require_reach(
    db: &Db,
    caller: &Principal,
    others: &[String],
    now: DateTime<Utc>,
) -> Result<Reach> {
    let reach = Reach::load(db, caller, others, now).await?;
    reach.require_all()?;
    Ok(reach)
}

/// Delivers an event to every open connection of the members (one Query of each member's
/// connections), but `except_user`'s. A failure is logged by the fan-out, never returned.
async fn to_members(
    db: &Db,
    pusher: &dyn Pusher,
    conversation: &Conversation,
    except_user: Option<&str>,
    author: Option<&str>,
    payload: &Blob,
    now: DateTime<Utc>,
) -> DeliveryReport {
    if !pusher.reaches_connections() {
        return DeliveryReport::default();
    }
    let members: Vec<&str> = conversation
        .members
        .iter()
        .map(|m| m.user_id.as_str())
        .filter(|u| Some(*u) != except_user)
        .collect();
    let found = try_join_all(
        members
            .iter()
            .map(|u| crate::store::connections::of_user(db, u)),
    )
    .await;
    let connections = match found {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "direct message: connections not read");
            return DeliveryReport::default();
        }
    };
    let targets: Vec<Target> = members
        .iter()
        .zip(connections)
        .flat_map(|(user, ids)| {
            ids.into_iter().map(move |connection_id| Target {
                connection_id,
                user_id: user.to_string(),
                community_id: None,
            })
        })
        .collect();
    realtime::fan_out(pusher, db, targets, payload, author, now).await
}

/// How many messages of others `user_id` has not read in a conversation (COUNT Queries over
/// the messages after their read position only).
async fn unread_of(
    db: &Db,
    conversation_id: &str,
    after: Option<&str>,
    user_id: &str,
) -> Result<i32> {
    let count = room::count_unread(
        db,
        Room::Conversation(conversation_id),
        user_id,
        after,
        MAX_UNREAD_COUNT,
    )
    .await?;
    Ok(count.min(MAX_UNREAD_COUNT))
}

async fn view(db: &Db, caller: &Principal, conversation: Conversation) -> Result<ConversationView> {
    let row = store::member_row(db, &conversation.id, &caller.user_id).await?;
    let last_read_id = row.and_then(|r| r.last_read_id);
    let unread_count = unread_of(
        db,
        &conversation.id,
        last_read_id.as_deref(),
        &caller.user_id,
    )
    .await?;
    Ok(ConversationView {
        conversation,
        last_read_id,
        unread_count,
    })
}

/// Creates a conversation, or answers the one the pair already has (`false`): the caller must
/// be allowed to write to every other member now. One TransactWriteItems writes the
/// conversation, its members' rows and, for a pair, the pair's claim.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id))]
pub async fn create(
    db: &Db,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    caller: &Principal,
    new: NewConversation,
) -> Result<(ConversationView, bool)> {
    let reach = require_reach(db, caller, &new.others, now).await?;
    let pair = new.others.len() == 1;
    if pair && let Some(existing) = store::of_pair(db, &caller.user_id, &new.others[0]).await? {
        return Ok((view(db, caller, existing).await?, false));
    }
    let mut members = vec![Participant {
        user_id: caller.user_id.clone(),
        name: caller.name.clone(),
    }];
    members.extend(new.others.iter().map(|u| Participant {
        user_id: u.clone(),
        name: reach.name(u).unwrap_or(u).to_string(),
    }));
    members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let conversation = Conversation {
        id: ids.new_id(),
        members,
        title: new.title,
        created_by: caller.user_id.clone(),
        created_at: crate::clock::iso(now),
        last_message: None,
    };
    tracing::Span::current().record("conversation_id", conversation.id.as_str());
    match store::create(db, &conversation, pair).await? {
        Created::New => Ok((
            ConversationView {
                conversation,
                last_read_id: None,
                unread_count: 0,
            },
            true,
        )),
        Created::Existing(existing) => Ok((view(db, caller, existing).await?, false)),
    }
}

/// The caller's conversations, most recent activity first, each with its unread count: one
/// Query of the caller's rows, one BatchGetItem of the conversations and one COUNT Query per
/// conversation (concurrently) over the messages after the caller's read position.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    caller: &Principal,
    page: &PageParams,
) -> Result<Page<ConversationView>> {
    let rows = store::rows_of(db, cursors, &caller.user_id, page).await?;
    let ids: Vec<String> = rows
        .results
        .iter()
        .map(|r| r.conversation_id.clone())
        .collect();
    let mut conversations = store::many(db, &ids).await?;
    let views = try_join_all(rows.results.into_iter().filter_map(|row| {
        let conversation = conversations.remove(&row.conversation_id)?;
        Some(async move {
            let unread_count = unread_of(
                db,
                &conversation.id,
                row.last_read_id.as_deref(),
                &caller.user_id,
            )
            .await?;
            Ok::<_, Error>(ConversationView {
                conversation,
                last_read_id: row.last_read_id,
                unread_count,
            })
        })
    }))
    .await?;
    Ok(Page {
        results: views,
        next: rows.next,
    })
}

/// One conversation of the caller's, with their unread count.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id))]
pub async fn get(db: &Db, caller: &Principal, conversation_id: &str) -> Result<ConversationView> {
    let conversation = as_member(db, caller, conversation_id).await?;
    view(db, caller, conversation).await
}

/// The outcome of a send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: DirectMessage,
    /// `false` when the `client_id` had already been used: `message` is the stored one.
    pub created: bool,
}

fn dm_event(m: &DirectMessage, now: DateTime<Utc>) -> Blob {
    let body = serde_json::to_value(m).expect("a message serializes");
    realtime::event("dm_message", body, &crate::clock::iso(now))
}

/// Sends a direct message (`new` is the parsed body, looked at only once the caller may
/// write): the sender must be a member, allowed to write to every other member
/// now, and within the chat rate limit. One TransactWriteItems stores the message, its
/// `client_id` claim, the conversation's last message, every member's activity and the
/// notification job (for the members who are not connected when the notifier runs). A retry
/// with a used `client_id` writes nothing and answers the stored message.
///
/// A new message (or a retry of one nobody else received yet) goes to every connection of
/// every member, the sender's included (its copy is the acknowledgement); a retry of a
/// message already delivered is acknowledged to `origin` only.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id, message_id))]
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &Db,
    pusher: &dyn Pusher,
    files: &crate::store::objects::Files,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    caller: &Principal,
    conversation_id: &str,
    new: Result<NewMessage>,
    origin: Option<&str>,
) -> Result<Sent> {
    let conversation = as_member(db, caller, conversation_id).await?;
    require_reach(db, caller, &conversation.others(&caller.user_id), now).await?;
    // Only a caller who may write learns what is wrong with the body.
    let new = new?;
    let checked = match &new.attachment_id {
        None => Vec::new(),
        Some(id) => {
            let scope = crate::model::attachment::Scope::Conversation(conversation.id.clone());
            crate::attachments::resolve(
                db,
                files,
                caller,
                &scope,
                "attachment_id",
                std::slice::from_ref(id),
                Some(new.message_type),
                new.client_id.is_some(),
            )
            .await?
        }
    };
    crate::ratelimit::check(db, &caller.user_id, crate::ratelimit::CHAT, now).await?;
    let attachment = crate::attachments::keep(files, &checked).await?.pop();
    let message = DirectMessage {
        id: ids.new_id(),
        conversation_id: conversation.id.clone(),
        sender_id: caller.user_id.clone(),
        sender_name: caller.name.clone(),
        sender_username: caller.username.clone(),
        message: new.message,
        message_type: new.message_type,
        client_id: new.client_id,
        attachment,
        status: Status::Sent,
        created_at: crate::clock::iso(now),
        edited_at: None,
        is_deleted: false,
        deleted_at: None,
        deleted_by: None,
    };
    let job = Job::of_direct_message(&message, now, ids);
    let sent = match store::insert_message(db, &conversation, &message, Some(&job), now).await? {
        Inserted::New => Sent {
            message,
            created: true,
        },
        Inserted::Duplicate(stored) => Sent {
            message: stored,
            created: false,
        },
    };
    tracing::Span::current().record("message_id", sent.message.id.as_str());
    let payload = dm_event(&sent.message, now);
    if sent.created || sent.message.status == Status::Sent {
        let report = to_members(
            db,
            pusher,
            &conversation,
            None,
            Some(&caller.user_id),
            &payload,
            now,
        )
        .await;
        if report.sent_to_others > 0
            && let Err(e) = room::set_status(
                db,
                Room::Conversation(&conversation.id),
                &sent.message.id,
                Status::Delivered,
            )
            .await
        {
            tracing::warn!(error = %e, "direct message: could not mark delivered");
        }
        tracing::info!(?report, "direct message delivered");
    } else if let Some(origin) = origin
        && let Err(e) = realtime::reply(pusher, origin, &payload).await
    {
        tracing::warn!(connection_id = origin, error = %e, "direct message: acknowledgement failed");
    }
    Ok(sent)
}

/// A page of a conversation's history: newest first, or with `after` the messages after that
/// one oldest first (catching up after a reconnect).
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id))]
pub async fn history(
    db: &Db,
    cursors: &Cursors,
    caller: &Principal,
    conversation_id: &str,
    q: &ListQuery,
) -> Result<Page<DirectMessage>> {
    let conversation = as_member(db, caller, conversation_id).await?;
    let room = Room::Conversation(&conversation.id);
    match room::history(db, cursors, room, q.after.as_deref(), &q.page).await? {
        History::Page(page) => Ok(page.map(DirectMessage::shown)),
        History::AfterMissing => Err(Error::NotFound("message")),
    }
}

fn changed(c: Changed<DirectMessage>, verb: &str) -> Result<Option<DirectMessage>> {
    match c {
        Changed::Done(m) => Ok(Some(m)),
        Changed::Missing => Err(Error::NotFound("message")),
        Changed::Deleted if verb == "delete" => Ok(None),
        Changed::Raced if verb == "delete" => Ok(None),
        Changed::Deleted => Err(Error::Conflict("the message was deleted".into())),
        Changed::NotAuthor => Err(Error::Forbidden(format!(
            "only its author may {verb} a message"
        ))),
        Changed::Raced => Err(Error::Conflict(
            "the message changed meanwhile; try again".into(),
        )),
    }
}

/// Replaces a message's text (its author, while they may still write to the others) and tells
/// every member (`message_edited`). One conditional UpdateItem.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id, message_id))]
#[allow(clippy::too_many_arguments)]
pub async fn edit(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    conversation_id: &str,
    message_id: &str,
    text: Result<String>,
) -> Result<DirectMessage> {
    let conversation = as_member(db, caller, conversation_id).await?;
    require_reach(db, caller, &conversation.others(&caller.user_id), now).await?;
    let text = text?;
    let room = Room::Conversation(&conversation.id);
    let edited = changed(
        room::edit(db, room, message_id, &caller.user_id, &text, now).await?,
        "edit",
    )?
    .ok_or(Error::NotFound("message"))?;
    let payload = realtime::event(
        "message_edited",
        serde_json::to_value(&edited).expect("a message serializes"),
        &crate::clock::iso(now),
    );
    to_members(
        db,
        pusher,
        &conversation,
        None,
        Some(&caller.user_id),
        &payload,
        now,
    )
    .await;
    Ok(edited)
}

/// Soft-deletes one of the caller's own messages and tells every member (`message_deleted`:
/// the id, who and when, never the text). Taking one's words back needs no right to write:
/// a member who lost every shared community may still delete their messages. Idempotent.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id, message_id))]
pub async fn delete(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    conversation_id: &str,
    message_id: &str,
) -> Result<Option<DirectMessage>> {
    let conversation = as_member(db, caller, conversation_id).await?;
    let room = Room::Conversation(&conversation.id);
    let me = caller.user_id.as_str();
    let Some(deleted) = changed(
        room::soft_delete(db, room, message_id, me, Some(me), now).await?,
        "delete",
    )?
    else {
        return Ok(None);
    };
    let body = serde_json::json!({
        "message_id": deleted.id,
        "conversation_id": deleted.conversation_id,
        "deleted_by": deleted.deleted_by,
        "deleted_at": deleted.deleted_at,
    });
    let payload = realtime::event("message_deleted", body, &crate::clock::iso(now));
    to_members(db, pusher, &conversation, None, Some(me), &payload, now).await;
    Ok(Some(deleted))
}

/// What marking a message read answered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Read {
    pub message_id: String,
    pub conversation_id: String,
    pub user_id: String,
    pub name: String,
    pub read_at: String,
    /// The reader's position and unread count after it.
    pub last_read_id: Option<String>,
    pub unread_count: i32,
}

/// Marks a message (and so everything before it) read by the caller: their read position moves
/// forward (never back); if the message is another's, it becomes `read` and the other members'
/// connections get a `read_receipt` (with `conversation_id`). Reading needs membership only.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id, message_id))]
pub async fn mark_read(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    conversation_id: &str,
    message_id: &str,
) -> Result<Read> {
    let conversation = as_member(db, caller, conversation_id).await?;
    let room = Room::Conversation(&conversation.id);
    let message: DirectMessage = room::get(db, room, message_id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    let at = crate::clock::iso(now);
    let advanced =
        store::advance_read(db, &conversation.id, &caller.user_id, &message.id, &at).await?;
    let row = store::member_row(db, &conversation.id, &caller.user_id).await?;
    let last_read_id = row.and_then(|r| r.last_read_id);
    let own = message.sender_id == caller.user_id;
    if !own && message.status != Status::Read {
        room::set_status(db, room, &message.id, Status::Read).await?;
    }
    let read = Read {
        message_id: message.id,
        conversation_id: conversation.id.clone(),
        user_id: caller.user_id.clone(),
        name: caller.name.clone(),
        read_at: at,
        unread_count: unread_of(
            db,
            &conversation.id,
            last_read_id.as_deref(),
            &caller.user_id,
        )
        .await?,
        last_read_id,
    };
    if !own && advanced == Advanced::Forward {
        let body = serde_json::json!({
            "message_id": read.message_id,
            "conversation_id": read.conversation_id,
            "user_id": read.user_id,
            "name": read.name,
            "read_at": read.read_at,
        });
        let payload = realtime::event("read_receipt", body, &crate::clock::iso(now));
        to_members(
            db,
            pusher,
            &conversation,
            Some(&caller.user_id),
            None,
            &payload,
            now,
        )
        .await;
    }
    Ok(read)
}

/// `typing` to the other members' connections; never stored, at most
/// [`crate::ratelimit::TYPING`] per user, and only while the caller may write to them.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, conversation_id))]
pub async fn typing(
    db: &Db,
    pusher: &dyn Pusher,
    now: DateTime<Utc>,
    caller: &Principal,
    conversation_id: &str,
    is_typing: bool,
) -> Result<DeliveryReport> {
    let conversation = as_member(db, caller, conversation_id).await?;
    require_reach(db, caller, &conversation.others(&caller.user_id), now).await?;
    crate::ratelimit::check(db, &caller.user_id, crate::ratelimit::TYPING, now).await?;
    let payload = realtime::event(
        "typing",
        serde_json::json!({
            "conversation_id": conversation.id,
            "user_id": caller.user_id,
            "name": caller.name,
            "is_typing": is_typing,
        }),
        &crate::clock::iso(now),
    );
    Ok(to_members(
        db,
        pusher,
        &conversation,
        Some(&caller.user_id),
        Some(&caller.user_id),
        &payload,
        now,
    )
    .await)
}

/// Blocks another user: from now on neither can write to the other (one conditional PutItem;
/// blocking twice is one block). Blocking oneself is a 422.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, blocked_id = %other))]
pub async fn block(db: &Db, now: DateTime<Utc>, caller: &Principal, other: &str) -> Result<()> {
    if other == caller.user_id {
        return Err(Error::validation("user", "you cannot block yourself"));
    }
    crate::store::blocks::put(
        db,
        &crate::store::blocks::Block {
            user_id: caller.user_id.clone(),
            blocked_id: other.to_string(),
            created_at: crate::clock::iso(now),
        },
    )
    .await
}

/// Lifts the caller's block of another user (idempotent; a block by the other stays).
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, blocked_id = %other))]
pub async fn unblock(db: &Db, caller: &Principal, other: &str) -> Result<()> {
    crate::store::blocks::delete(db, &caller.user_id, other).await
}
