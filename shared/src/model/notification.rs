//! Notifications and the notifier's jobs as stored: the records below the notifications module
//! and its store.

use crate::auth::Role;
use serde::{Deserialize, Serialize};

/// The `entity` attribute of a stored notification (the stream filter of expiries matches it).
pub const ENTITY: &str = "notification";
/// The notification types of SPEC §6.
///
/// One event gives a recipient at most one notification; when several rules match, the type
/// with the highest [`Kind::precedence`] wins (a mention in a reply to your post is a
/// `new_mention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    NewPost,
    NewReply,
    NewMention,
    NewMessage,
    PostApproved,
    PostRejected,
    PostFlagged,
    /// A direct message, to a member of the conversation who was not connected.
    NewDirectMessage,
    /// An announcement of the community's staff, to every member.
    Announcement,
    /// Your answer was accepted.
    AnswerAccepted,
    /// Your post or answer was endorsed by staff.
    AnswerEndorsed,
    /// Your question was closed as a duplicate.
    MarkedDuplicate,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::NewPost,
        Kind::NewReply,
        Kind::NewMention,
        Kind::NewMessage,
        Kind::PostApproved,
        Kind::PostRejected,
        Kind::PostFlagged,
        Kind::NewDirectMessage,
        Kind::Announcement,
        Kind::AnswerAccepted,
        Kind::AnswerEndorsed,
        Kind::MarkedDuplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NewPost => "new_post",
            Kind::NewReply => "new_reply",
            Kind::NewMention => "new_mention",
            Kind::NewMessage => "new_message",
            Kind::PostApproved => "post_approved",
            Kind::PostRejected => "post_rejected",
            Kind::PostFlagged => "post_flagged",
            Kind::NewDirectMessage => "new_direct_message",
            Kind::Announcement => "announcement",
            Kind::AnswerAccepted => "answer_accepted",
            Kind::AnswerEndorsed => "answer_endorsed",
            Kind::MarkedDuplicate => "marked_duplicate",
        }
    }

    /// Most specific first: the outcome of your own post, then a flag for a moderator, then
    /// being named, then being answered (forum, then chat), then a post you merely watch.
    pub fn precedence(self) -> u8 {
        match self {
            Kind::PostApproved
            | Kind::PostRejected
            | Kind::AnswerAccepted
            | Kind::AnswerEndorsed
            | Kind::MarkedDuplicate => 6,
            Kind::Announcement => 5,
            Kind::PostFlagged | Kind::NewDirectMessage => 5,
            Kind::NewMention => 4,
            Kind::NewReply => 3,
            Kind::NewMessage => 2,
            Kind::NewPost => 1,
        }
    }
}

/// Who caused a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Who caused a notification, as its recipient sees them: `id` is `null` for the author of an
/// anonymous post shown to a student (`posts::view::reveals_author`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationActor {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl NotificationActor {
    pub fn anonymous() -> Self {
        Self {
            id: None,
            name: Some(crate::posts::model::ANONYMOUS.into()),
        }
    }
}

/// What a notification points at; `link` is the API path of the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// `post`, `message` or `direct_message`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// The thread's top-level post, for replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    /// The conversation of a direct message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub link: String,
}

/// A notification as stored (`keys::notification`) and shown to its recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    pub recipient_id: String,
    pub notification_type: Kind,
    pub title: String,
    pub message: String,
    pub actor: Option<NotificationActor>,
    pub community_id: String,
    pub target: Target,
    pub is_read: bool,
    #[serde(default)]
    pub read_at: Option<String>,
    pub created_at: String,
    /// The moderator's reason of a rejection, the flagger's of a flag: the one text a
    /// notification keeps, because it is not the object's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A notification id that is the same every time the same job reaches the same recipient (so
/// a retried delivery finds it already there) and still sorts by time: the job's timestamp
/// and 80 bits of SHA-256 over (job id, recipient id).
pub fn notification_id(job_id: &str, recipient_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let millis = ulid::Ulid::from_string(job_id)
        .map(|u| u.timestamp_ms())
        .unwrap_or(0);
    let digest = Sha256::new()
        .chain_update(job_id.as_bytes())
        .chain_update([0u8])
        .chain_update(recipient_id.as_bytes())
        .finalize();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

// ---------------------------------------------------------------- the outbox's jobs

/// The `entity` attribute of job items: the stream's filter criteria match it.
pub const JOB_ENTITY: &str = "notification_job";
/// Jobs stay readable for this long after they were written (replays, inspection).
pub const JOB_RETENTION_SECS: i64 = 7 * 24 * 3600;
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
    /// A direct message (`community_id` is empty: a conversation belongs to no community).
    DirectMessage,
    /// An announcement was published: every member is told.
    Announcement,
    /// An answer was accepted, endorsed, or a question closed as a duplicate: its author is told.
    AnswerAccepted,
    AnswerEndorsed,
    MarkedDuplicate,
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
    /// The post is anonymous: its author is shown to students as "Anonymous".
    #[serde(default)]
    pub anonymous: bool,
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
    pub actor: Actor,
    #[serde(default)]
    pub post: Option<PostRef>,
    #[serde(default)]
    pub message: Option<MessageRef>,
    /// The conversation of a direct message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The start of the text (post title or content, message, flag or rejection reason).
    pub snippet: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// `@username`s named in the text.
    #[serde(default)]
    pub mentions: Vec<String>,
    pub created_at: String,
    /// The actor is the anonymous author of the thread (accepting an answer to their own
    /// anonymous question): students are not told who they are.
    #[serde(default)]
    pub anonymous_actor: bool,
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

// ---------------------------------------------------------------- who wants what

/// An explicit watch (`watching: true`) or mute (`false`) of a community.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRow {
    pub community_id: String,
    pub user_id: String,
    pub watching: bool,
    /// The platform role of the token that set it: the notifier checks access with it.
    #[serde(default)]
    pub role: Option<Role>,
    pub updated_at: String,
}

/// The channels a notification can reach its recipient by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The notification list, the unread count and the live `notification` event.
    InApp,
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::InApp, Channel::Email, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether `kind` reaches a user by this channel when they never chose: everything in the
    /// app; by email what is about the user themselves (mentions, replies to them, the outcome of
    /// their posts and answers) and what staff announce; by push what wants an answer soon.
    pub fn default_for(self, kind: Kind) -> bool {
        match self {
            Channel::InApp => true,
            Channel::Email => matches!(
                kind,
                Kind::NewMention
                    | Kind::NewReply
                    | Kind::AnswerAccepted
                    | Kind::AnswerEndorsed
                    | Kind::MarkedDuplicate
                    | Kind::PostApproved
                    | Kind::PostRejected
                    | Kind::Announcement
                    | Kind::NewDirectMessage
            ),
            Channel::Push => matches!(
                kind,
                Kind::NewMention | Kind::NewReply | Kind::NewDirectMessage | Kind::Announcement
            ),
        }
    }
}

/// Which channels one notification type reaches a user by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
    pub push: bool,
}

impl Channels {
    pub fn get(self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => self.in_app,
            Channel::Email => self.email,
            Channel::Push => self.push,
        }
    }

    pub fn any(self) -> bool {
        self.in_app || self.email || self.push
    }
}

/// How often a user gets a digest email of their communities' activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Digest {
    #[default]
    Off,
    Daily,
    Weekly,
}

impl Digest {
    pub fn as_str(self) -> &'static str {
        match self {
            Digest::Off => "off",
            Digest::Daily => "daily",
            Digest::Weekly => "weekly",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Digest::Off, Digest::Daily, Digest::Weekly]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A user's row among the subscribers of one digest frequency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSubscriber {
    pub user_id: String,
}

/// One channel a user set for one type, against its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelChoice {
    pub kind: Kind,
    pub channel: Channel,
    pub on: bool,
}

/// The per-user state item: unread count and the user's notification preferences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub unread: i64,
    /// Types whose in-app notifications the user turned off (the first preferences, kept as
    /// they were stored).
    #[serde(default)]
    pub disabled_types: Vec<Kind>,
    /// The email and push choices that differ from the defaults.
    #[serde(default)]
    pub choices: Vec<ChannelChoice>,
    #[serde(default)]
    pub digest: Digest,
}

impl State {
    /// Whether `kind` reaches the user by `channel`.
    pub fn wants(&self, kind: Kind, channel: Channel) -> bool {
        if channel == Channel::InApp {
            return !self.disabled_types.contains(&kind);
        }
        self.choices
            .iter()
            .rev()
            .find(|c| c.kind == kind && c.channel == channel)
            .map_or_else(|| channel.default_for(kind), |c| c.on)
    }

    pub fn channels(&self, kind: Kind) -> Channels {
        Channels {
            in_app: self.wants(kind, Channel::InApp),
            email: self.wants(kind, Channel::Email),
            push: self.wants(kind, Channel::Push),
        }
    }

    /// Sets one choice, keeping only choices that differ from the defaults.
    pub fn set(&mut self, kind: Kind, channel: Channel, on: bool) {
        if channel == Channel::InApp {
            self.disabled_types.retain(|k| *k != kind);
            if !on {
                self.disabled_types.push(kind);
                self.disabled_types.sort();
            }
            return;
        }
        self.choices
            .retain(|c| !(c.kind == kind && c.channel == channel));
        if on != channel.default_for(kind) {
            self.choices.push(ChannelChoice { kind, channel, on });
            self.choices.sort_by_key(|c| (c.kind, c.channel));
        }
    }
}
