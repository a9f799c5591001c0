//! The single-table key design: every entity's keys are stated here and nowhere else.
//!
//! See `docs/data-model.md` for the access patterns each key and index serves.

/// Primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

fn key(pk: String, sk: impl Into<String>) -> Key {
    Key { pk, sk: sk.into() }
}

pub const GSI1: &str = "GSI1";
pub const GSI2: &str = "GSI2";
pub const GSI3: &str = "GSI3";

// ---------------------------------------------------------------- owners (data rights)

/// GSI3 of an item that names a user but lives outside the user's own partitions (sparse):
/// `OWNER#{user_id} / {PK}|{SK}`. The user's posts, replies, notes, flags, chat messages, read
/// positions, watch rows, enrollments and the notifications they are the actor of carry it, so
/// export and erasure find them with one Query instead of walking every community.
pub fn owner_entry(user_id: &str, item: &Key) -> Key {
    key(owner_pk(user_id), format!("{}|{}", item.pk, item.sk))
}

pub fn owner_pk(user_id: &str) -> String {
    format!("OWNER#{user_id}")
}

/// `USER#{user_id}`: the user's own partition (profile, connections, notification state and
/// preferences, and whatever else is kept per user); erasure deletes all of it.
pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// `RATE#{user_id}#{action}`: the partition of one user's windows of one rate limit.
pub fn rate_pk(user_id: &str, action: &str) -> String {
    format!("RATE#{user_id}#{action}")
}

// ---------------------------------------------------------------- identities (LMS-owned)

/// `USER#{user_id} / PROFILE`: a user pushed by the LMS.
pub fn user(user_id: &str) -> Key {
    key(format!("USER#{user_id}"), "PROFILE")
}

/// `USERNAME#{username} / USERNAME`: claims a username (unique), maps it to its user.
pub fn username(username: &str) -> Key {
    key(format!("USERNAME#{}", username.to_lowercase()), "USERNAME")
}

/// `COURSE#{course_id} / COURSE`: a course and the id of its community.
pub fn course(course_id: &str) -> Key {
    key(format!("COURSE#{course_id}"), "COURSE")
}

// ---------------------------------------------------------------- communities

/// `COMMUNITY#{id} / META`: a community with its counters.
pub fn community(community_id: &str) -> Key {
    key(format!("COMMUNITY#{community_id}"), "META")
}

/// GSI1 of a community: `COMMUNITIES / {community_id}` lists all communities.
pub fn community_listing(community_id: &str) -> Key {
    key("COMMUNITIES".into(), community_id)
}

/// `COMMUNITY#{id} / MEMBER#{user_id}`: a membership and its role.
pub fn member(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}"),
        format!("MEMBER#{user_id}"),
    )
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// GSI1 of a membership: `USER#{user_id}#COMMUNITIES / {community_id}` lists a user's communities.
pub fn membership_by_user(user_id: &str, community_id: &str) -> Key {
    key(format!("USER#{user_id}#COMMUNITIES"), community_id)
}

pub const ENROLLMENT_PREFIX: &str = "ENROLL#";

/// `COMMUNITY#{id} / ENROLL#{user_id}`: the user's enrollment in the community's course.
///
/// Stored beside the community so the access guard reads community, membership and enrollment in
/// one BatchGetItem.
pub fn enrollment(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}"),
        format!("{ENROLLMENT_PREFIX}{user_id}"),
    )
}

// ---------------------------------------------------------------- WebSocket connections

/// `CONN#{connection_id} / META`: an open connection, its user and its subscriptions (TTL).
pub fn connection(connection_id: &str) -> Key {
    key(format!("CONN#{connection_id}"), "META")
}

/// `USER#{user_id} / CONN#{connection_id}`: a user's open connections (notifications go to all).
pub fn user_connection(user_id: &str, connection_id: &str) -> Key {
    key(format!("USER#{user_id}"), format!("CONN#{connection_id}"))
}

pub const USER_CONNECTION_PREFIX: &str = "CONN#";

/// `COMMUNITY#{id}#SUBS / CONN#{connection_id}`: a connection subscribed to a community's events.
pub fn subscription(community_id: &str, connection_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}#SUBS"),
        format!("CONN#{connection_id}"),
    )
}

pub fn subscriptions_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#SUBS")
}

/// `COMMUNITY#{id}#ONLINE / USER#{user_id}`: how many of a user's connections are in a community.
pub fn presence(community_id: &str, user_id: &str) -> Key {
    key(
        format!("COMMUNITY#{community_id}#ONLINE"),
        format!("USER#{user_id}"),
    )
}

pub fn presence_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#ONLINE")
}

// ---------------------------------------------------------------- rate limits

/// `RATE#{user_id}#{action} / {window}`: a fixed-window counter with a TTL.
pub fn rate_window(user_id: &str, action: &str, window: i64) -> Key {
    key(rate_pk(user_id, action), window.to_string())
}

// ---------------------------------------------------------------- posts

/// `POST#{post_id} / META`: a post or reply with its counters, status and moderation state.
pub fn post(post_id: &str) -> Key {
    key(format!("POST#{post_id}"), "META")
}

pub fn post_pk(post_id: &str) -> String {
    format!("POST#{post_id}")
}

/// GSI1 of a top-level post: `COMMUNITY#{id}#POSTS#{lane} / {0|1 pinned}#{post_id}`; one
/// partition per lane (approved, pending, rejected, deleted), read newest first, pinned first.
pub fn post_listing(community_id: &str, lane: &str, pinned: bool, post_id: &str) -> Key {
    key(
        post_listing_pk(community_id, lane),
        format!("{}#{post_id}", u8::from(pinned)),
    )
}

pub fn post_listing_pk(community_id: &str, lane: &str) -> String {
    format!("COMMUNITY#{community_id}#POSTS#{lane}")
}

/// GSI1 of a reply: `THREAD#{root_id} / {materialized path of ULIDs}`; one Query reads a whole
/// thread depth-first.
pub fn thread_entry(root_id: &str, path: &str) -> Key {
    key(thread_pk(root_id), path)
}

pub fn thread_pk(root_id: &str) -> String {
    format!("THREAD#{root_id}")
}

/// GSI2 of a post awaiting a moderator (pending or flagged), sparse:
/// `COMMUNITY#{id}#MODQ / {queued_at}#{post_id}`, read oldest first.
pub fn moderation_entry(community_id: &str, queued_at: &str, post_id: &str) -> Key {
    key(
        moderation_pk(community_id),
        format!("{queued_at}#{post_id}"),
    )
}

pub fn moderation_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#MODQ")
}

/// `POST#{post_id} / EDIT#{version:06}`: the text a post had before its edit number `version`.
pub fn post_edit(post_id: &str, version: i64) -> Key {
    key(post_pk(post_id), format!("{POST_EDIT_PREFIX}{version:06}"))
}

pub const POST_EDIT_PREFIX: &str = "EDIT#";

/// `REACTS#{root_id}#{user_id} / {post_id}#{type}`: one reaction of a user; one Query reads the
/// caller's reactions on a whole thread.
pub fn reaction(root_id: &str, user_id: &str, post_id: &str, reaction_type: &str) -> Key {
    key(
        reactions_pk(root_id, user_id),
        format!("{post_id}#{reaction_type}"),
    )
}

pub fn reactions_pk(root_id: &str, user_id: &str) -> String {
    format!("REACTS#{root_id}#{user_id}")
}

/// `POST#{post_id} / FLAG#{user_id}`: a user's flag on a post (one per user, kept after review).
pub fn post_flag(post_id: &str, user_id: &str) -> Key {
    key(post_pk(post_id), format!("{POST_FLAG_PREFIX}{user_id}"))
}

pub const POST_FLAG_PREFIX: &str = "FLAG#";

/// `POST#{post_id} / NOTE#{note_id}`: a moderator note on a post.
pub fn post_note(post_id: &str, note_id: &str) -> Key {
    key(post_pk(post_id), format!("{POST_NOTE_PREFIX}{note_id}"))
}

pub const POST_NOTE_PREFIX: &str = "NOTE#";

// ---------------------------------------------------------------- chat

/// Where messages live: a community's chat room or a conversation. Both keep their messages
/// (`MSG#{message_id}`) and their senders' `client_id` claims (`CLIENT#{user_id}#{client_id}`)
/// in one partition, so the chat contract (idempotent sends, history, catch-up, edit, soft
/// delete, unread counts) is one set of requests for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room<'a> {
    Community(&'a str),
    Conversation(&'a str),
}

impl Room<'_> {
    /// The partition of the room's messages.
    pub fn pk(&self) -> String {
        match self {
            Room::Community(id) => chat_pk(id),
            Room::Conversation(id) => conversation_pk(id),
        }
    }

    pub fn message(&self, message_id: &str) -> Key {
        key(self.pk(), format!("{CHAT_MESSAGE_PREFIX}{message_id}"))
    }

    /// A sender's `client_id` claim (with a TTL): a retried send stores one message.
    pub fn client_id(&self, user_id: &str, client_id: &str) -> Key {
        key(self.pk(), format!("CLIENT#{user_id}#{client_id}"))
    }

    /// The scope a history cursor is signed for (newest first, or after a given message).
    pub fn scope(&self, after: Option<&str>) -> String {
        let (kind, id) = match self {
            Room::Community(id) => ("chat", id),
            Room::Conversation(id) => ("conversation", id),
        };
        match after {
            Some(after) => format!("{kind}-after:{id}:{after}"),
            None => format!("{kind}:{id}"),
        }
    }
}

/// `COMMUNITY#{id}#CHAT / MSG#{message_id}`: a chat message; one strongly consistent Query reads
/// a community's history newest first, or everything after a given message oldest first.
pub fn chat_message(community_id: &str, message_id: &str) -> Key {
    Room::Community(community_id).message(message_id)
}

pub fn chat_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#CHAT")
}

pub const CHAT_MESSAGE_PREFIX: &str = "MSG#";

/// `CHATMSG#{message_id} / REF`: which community a message belongs to (edit, delete and read
/// receipts name only the message).
pub fn chat_message_ref(message_id: &str) -> Key {
    key(format!("CHATMSG#{message_id}"), "REF")
}

/// `COMMUNITY#{id}#CHAT / CLIENT#{user_id}#{client_id}`: claims a sender's `client_id` (with a
/// TTL) so that a retried send stores one message.
pub fn chat_client_id(community_id: &str, user_id: &str, client_id: &str) -> Key {
    Room::Community(community_id).client_id(user_id, client_id)
}

/// `COMMUNITY#{id}#READ / USER#{user_id}`: how far a user has read a community's chat (the id of
/// the newest message read); unread counts and "who read" are read from it.
pub fn chat_read_position(community_id: &str, user_id: &str) -> Key {
    key(chat_reads_pk(community_id), format!("USER#{user_id}"))
}

pub fn chat_reads_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#READ")
}

// ---------------------------------------------------------------- direct messages

/// `CONV#{id} / META`: a conversation, its members (fixed at creation) and its last message.
/// Its messages (`MSG#`) and `client_id` claims (`CLIENT#`) share the partition
/// ([`Room::Conversation`]).
pub fn conversation(conversation_id: &str) -> Key {
    key(conversation_pk(conversation_id), "META")
}

pub fn conversation_pk(conversation_id: &str) -> String {
    format!("CONV#{conversation_id}")
}

/// `CONV#{id} / MEMBER#{user_id}`: one member's place in a conversation and how far they read.
pub fn conversation_member(conversation_id: &str, user_id: &str) -> Key {
    key(
        conversation_pk(conversation_id),
        format!("{MEMBER_PREFIX}{user_id}"),
    )
}

/// GSI1 of a conversation member: `USER#{user_id}#CONVS / {activity id}`, where the activity id
/// is the ULID of the conversation's last message (or of the conversation itself): one Query
/// lists a user's conversations, most recent activity first.
pub fn conversation_by_user(user_id: &str, activity_id: &str) -> Key {
    key(format!("USER#{user_id}#CONVS"), activity_id)
}

/// `DMPAIR#{a}#{b} / PAIR` (the two user ids sorted; `#` never occurs in a user id): the one
/// conversation of a pair of users, claimed when it is created.
pub fn conversation_pair(a: &str, b: &str) -> Key {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    key(format!("DMPAIR#{a}#{b}"), "PAIR")
}

/// `USER#{user_id}#BLOCKS / USER#{blocked_id}`: a user's block of another; one BatchGetItem
/// reads both directions for every pair of a conversation.
pub fn block(user_id: &str, blocked_id: &str) -> Key {
    key(
        format!("USER#{user_id}#BLOCKS"),
        format!("USER#{blocked_id}"),
    )
}

// ---------------------------------------------------------------- notifications

/// `USER#{user_id}#NOTIFS / {notification_id}`: one notification of a user (TTL); one Query
/// lists a user's notifications newest first, and a user can only ever address their own.
pub fn notification(user_id: &str, notification_id: &str) -> Key {
    key(notifications_pk(user_id), notification_id)
}

pub fn notifications_pk(user_id: &str) -> String {
    format!("USER#{user_id}#NOTIFS")
}

/// GSI1 of an unread notification, sparse (removed when read):
/// `USER#{user_id}#UNREAD / {notification_id}`; `?unread=true` and mark-all-as-read read it.
pub fn unread_notification(user_id: &str, notification_id: &str) -> Key {
    key(unread_notifications_pk(user_id), notification_id)
}

pub fn unread_notifications_pk(user_id: &str) -> String {
    format!("USER#{user_id}#UNREAD")
}

/// `USER#{user_id} / NOTIFICATIONS`: a user's exact unread count and notification preferences.
///
/// It sorts after the user's `CONN#` rows, so one Query (`SK BETWEEN "CONN#" AND
/// "NOTIFICATIONS"`) reads a recipient's open connections and unread count together.
pub fn notification_state(user_id: &str) -> Key {
    key(format!("USER#{user_id}"), NOTIFICATION_STATE_SK)
}

pub const NOTIFICATION_STATE_SK: &str = "NOTIFICATIONS";

/// `DIGEST#{frequency} / USER#{user_id}`: a user who wants the daily or weekly digest; the
/// digest run reads one partition per frequency instead of scanning for them.
pub fn digest_subscriber(frequency: &str, user_id: &str) -> Key {
    key(digest_subscribers_pk(frequency), format!("USER#{user_id}"))
}

pub fn digest_subscribers_pk(frequency: &str) -> String {
    format!("DIGEST#{frequency}")
}

/// `USER#{user_id} / OUTGOING_EMAIL`: when the user's next email is due, when the last one
/// went out, the claim of the run sending it, and a counter of what was queued. Its sort key
/// (like every one below) sorts after `NOTIFICATIONS`, outside the range [`notification_state`]'s
/// Query reads.
pub fn email_state(user_id: &str) -> Key {
    key(user_pk(user_id), EMAIL_STATE_SK)
}

pub const EMAIL_STATE_SK: &str = "OUTGOING_EMAIL";

/// `USER#{user_id} / OUTGOING_EMAIL#{notification_id}`: a notification waiting for the user's
/// next email (kept, marked sent, until its TTL).
pub fn queued_email(user_id: &str, notification_id: &str) -> Key {
    key(
        user_pk(user_id),
        format!("{QUEUED_EMAIL_PREFIX}{notification_id}"),
    )
}

pub const QUEUED_EMAIL_PREFIX: &str = "OUTGOING_EMAIL#";

/// `USER#{user_id} / PUSH#{subscription_id}`: one push subscription of a user (a browser's
/// Web Push endpoint or a phone's SNS platform endpoint); the id is a ULID, so a Query of the
/// prefix answers them oldest first. Sorts after `NOTIFICATIONS` like the rows above.
pub fn push_subscription(user_id: &str, subscription_id: &str) -> Key {
    key(
        user_pk(user_id),
        format!("{PUSH_SUBSCRIPTION_PREFIX}{subscription_id}"),
    )
}

pub const PUSH_SUBSCRIPTION_PREFIX: &str = "PUSH#";

/// `USER#{user_id} / PUSHED#{notification_id}`: a notification pushed to a user who gets that
/// type by push but not in the app, so no notification row records it: a retried job finds the
/// marker and pushes nothing twice. Kept a day (`ttl`).
pub fn pushed(user_id: &str, notification_id: &str) -> Key {
    key(user_pk(user_id), format!("PUSHED#{notification_id}"))
}

/// How many partitions the due emails are spread over (each run reads them all).
pub const EMAIL_DUE_SHARDS: u32 = 4;

/// `EMAIL_DUE#{shard} / {due_at}#{user_id}`: a user whose email is due at `due_at` (RFC 3339,
/// to the second); the sender queries each shard for everything due up to now.
pub fn email_due(user_id: &str, due_at: &str) -> Key {
    key(
        email_due_pk(email_due_shard(user_id)),
        format!("{due_at}#{user_id}"),
    )
}

pub fn email_due_pk(shard: u32) -> String {
    format!("EMAIL_DUE#{shard}")
}

pub fn email_due_shard(user_id: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(user_id.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % EMAIL_DUE_SHARDS
}

/// `EMAIL#{address, lowercased} / SUPPRESSED`: an address that bounced or complained; nothing
/// is sent to it again.
pub fn email_suppression(address: &str) -> Key {
    key(
        format!("EMAIL#{}", address.to_ascii_lowercase()),
        "SUPPRESSED",
    )
}

/// `USER#{user_id} / SENT_DIGEST#{period}`: the claim of one digest (`daily#2026-12-03`,
/// `weekly#2026-W49`); a retried run finds it and sends nothing.
pub fn digest_claim(user_id: &str, period: &str) -> Key {
    key(user_pk(user_id), format!("SENT_DIGEST#{period}"))
}

/// `DIGEST_RUN#{period} / DONE`: every digest of the period went out; later runs skip it.
pub fn digest_run(period: &str) -> Key {
    key(format!("DIGEST_RUN#{period}"), "DONE")
}

/// `COMMUNITY#{id}#WATCH / USER#{user_id}`: a user's explicit watch (or mute) of a community;
/// one Query reads every explicit setting of a community when a post fans out.
pub fn watch(community_id: &str, user_id: &str) -> Key {
    key(watch_pk(community_id), format!("USER#{user_id}"))
}

pub fn watch_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#WATCH")
}

/// `NOTIFYJOB#{job_id} / JOB`: the outbox item of one domain event (TTL); its stream record
/// triggers the notifier.
pub fn notification_job(job_id: &str) -> Key {
    key(format!("NOTIFYJOB#{job_id}"), "JOB")
}

/// `NOTIFYJOB#{job_id} / PART#{n:04}`: a slice of a large fan-out with its resolved recipients,
/// delivered by its own notifier invocation.
pub fn notification_job_part(job_id: &str, part: u32) -> Key {
    key(format!("NOTIFYJOB#{job_id}"), format!("PART#{part:04}"))
}

// ---------------------------------------------------------------- search

/// `COMMUNITY#{id}#SEARCH#{first two characters of the stem} / {stem}#{doc_id}`: one posting of
/// the inverted index (a stem occurring in a post or chat message). A stem's postings are one
/// key range, newest document first; the stems beginning with a prefix are one range too (the
/// last word of a query), and the two-character shards keep a community's index off one hot
/// partition.
pub fn search_posting(community_id: &str, stem: &str, doc_id: &str) -> Key {
    key(
        search_pk(community_id, stem),
        format!("{}{doc_id}", search_term_prefix(stem)),
    )
}

/// The index partition holding the stems that begin like `stem_or_prefix` (at least two
/// characters for a prefix search).
pub fn search_pk(community_id: &str, stem_or_prefix: &str) -> String {
    let shard: String = stem_or_prefix.chars().take(2).collect();
    format!("COMMUNITY#{community_id}#SEARCH#{shard}")
}

/// What an item of the table is to the search index, from its keys: a post (`POST#{id} /
/// META`), a community chat message (`COMMUNITY#{id}#CHAT / MSG#{id}`), or nothing (direct
/// messages, in `CONV#{id}`, are not searched). The indexer's stream filter says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Searched {
    Post,
    ChatMessage,
}

pub fn searched(pk: &str, sk: &str) -> Option<Searched> {
    if pk.starts_with("POST#") && sk == "META" {
        return Some(Searched::Post);
    }
    if pk.starts_with("COMMUNITY#") && pk.ends_with("#CHAT") && sk.starts_with(CHAT_MESSAGE_PREFIX)
    {
        return Some(Searched::ChatMessage);
    }
    None
}

/// The sort-key prefix of one stem's postings.
pub fn search_term_prefix(stem: &str) -> String {
    format!("{stem}#")
}

// ---------------------------------------------------------------- moderation audit log

/// `COMMUNITY#{id}#AUDIT / {entry_id}`: one moderation action, written once, never changed;
/// read newest first (entry ids are ULIDs). Its own partition, so that reading a community's
/// roster never reads its log.
pub fn audit_entry(community_id: &str, entry_id: &str) -> Key {
    key(audit_pk(community_id), entry_id)
}

pub fn audit_pk(community_id: &str) -> String {
    format!("COMMUNITY#{community_id}#AUDIT")
}

// ---------------------------------------------------------------- attachments

/// `ATTACH#{id} / META`: an attachment, its declared name, type and size, its scope (community
/// or conversation), its uploader and, once referenced, the post or message that references it.
/// A pending attachment carries a TTL of 24 hours; referencing it removes the TTL.
pub fn attachment(attachment_id: &str) -> Key {
    key(format!("ATTACH#{attachment_id}"), "META")
}

/// The S3 object key of an attachment: `uploads/{community|conversation}/{scope id}/{id}`. The
/// bucket's lifecycle rule expires objects under `uploads/` still tagged `state=pending`.
pub fn attachment_object(scope_kind: &str, scope_id: &str, attachment_id: &str) -> String {
    format!("{ATTACHMENT_UPLOAD_PREFIX}{scope_kind}/{scope_id}/{attachment_id}")
}

pub const ATTACHMENT_UPLOAD_PREFIX: &str = "uploads/";
