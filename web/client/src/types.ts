//! The API's resources and request bodies, written from docs/api.md and docs/openapi.yaml.

/** An id the API minted: a ULID (26 characters, sortable by creation time). */
export type Ulid = string;
/** An id chosen by the LMS: 1-64 characters of `[A-Za-z0-9_.:-]`. */
export type ExternalId = string;
/** ISO-8601 UTC with milliseconds. */
export type Timestamp = string;

/** Every list answers one page and the cursor of the next one (`null` on the last). */
export interface Page<T> {
  results: T[];
  next: string | null;
}

export interface PageOptions {
  /** 1 to 100; the API's default is 20. */
  limit?: number;
  /** The `next` of the previous page (bound to the same listing and filters). */
  cursor?: string;
}

// ---------------------------------------------------------------- communities

export type Visibility = "public" | "private";
export type CommunityRole = "member" | "moderator" | "instructor";

export interface Community {
  id: Ulid;
  title: string;
  description: string;
  visibility: Visibility;
  banner_image: string | null;
  require_post_approval: boolean;
  course_id: ExternalId | null;
  instructor_ids: ExternalId[];
  member_count: number;
  post_count: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** The caller's role here, `null` when not a member. */
  my_role: CommunityRole | null;
  is_member: boolean;
}

export interface CommunityListOptions extends PageOptions {
  /** Only the caller's communities with current access. */
  mine?: boolean;
  /** The community of this LMS course. */
  course?: ExternalId;
}

export interface CreateCommunity {
  title: string;
  description?: string | null;
  visibility?: Visibility | null;
  banner_image?: string | null;
  require_post_approval?: boolean | null;
}

/** The settings of a community; only the given fields change (`banner_image: ""` removes it). */
export interface UpdateCommunity {
  title?: string | null;
  description?: string | null;
  visibility?: Visibility | null;
  banner_image?: string | null;
  require_post_approval?: boolean | null;
}

export interface Member {
  community_id: Ulid;
  user_id: ExternalId;
  name: string;
  username?: string;
  role: CommunityRole;
  joined_at: Timestamp;
}

export interface OnlineUser {
  user_id: ExternalId;
  name: string;
  /** Open connections of this user subscribed to the community. */
  connections: number;
}

export interface WatchState {
  community_id: Ulid;
  watching: boolean;
  source: "default" | "explicit";
}

// ---------------------------------------------------------------- posts

export type PostStatus = "approved" | "pending" | "rejected";
export type ReactionType = "like" | "love" | "helpful" | "haha" | "wow" | "sad";
export const REACTION_TYPES: readonly ReactionType[] = ["like", "love", "helpful", "haha", "wow", "sad"];

export type ReactionCounts = Record<ReactionType, number>;

export interface Author {
  id: ExternalId;
  name: string;
  username: string | null;
}

/** Shown to moderators only. */
export interface PostModeration {
  flag_count: number;
  open_flag_count: number;
  queued_at: Timestamp | null;
  moderated_by: ExternalId | null;
  moderated_at: Timestamp | null;
  deleted_by: ExternalId | null;
  flags_resolved_at: Timestamp | null;
  flags_resolved_by: ExternalId | null;
}

export interface Post {
  id: Ulid;
  community: Ulid;
  parent: Ulid | null;
  root: Ulid;
  depth: number;
  author: Author;
  /** `null` on replies without a title and on deleted posts. */
  title: string | null;
  /** `null` on deleted posts (except for admins). */
  content: string | null;
  status: PostStatus;
  is_pinned: boolean;
  is_deleted: boolean;
  view_count: number;
  reply_count: number;
  reaction_counts: ReactionCounts;
  /** Present where the caller's reactions were read (a post, its thread, a new post). */
  my_reactions?: ReactionType[];
  created_at: Timestamp;
  updated_at: Timestamp;
  edited_at: Timestamp | null;
  deleted_at?: Timestamp;
  /** The reason given on approval or rejection (the author and moderators). */
  moderation_reason?: string;
  moderation?: PostModeration;
}

/** A post with a page of its thread, depth-first. */
export interface PostDetail extends Post {
  replies: Post[];
  replies_next: string | null;
}

export interface PostListOptions extends PageOptions {
  /** `pending`/`rejected`: a member's own, moderators everyone's; `deleted`: moderators. */
  status?: PostStatus | "deleted";
  pinned?: boolean;
  author?: ExternalId;
}

export interface NewPost {
  /** Required on top-level posts (1-200 characters), optional on replies. */
  title?: string | null;
  content: string;
  /** Makes the post a reply. */
  parent?: Ulid | null;
}

export interface PostPatch {
  title?: string | null;
  content?: string | null;
}

export interface PostReplace {
  title?: string | null;
  content: string;
}

export interface Revision {
  post_id: Ulid;
  version: number;
  title: string | null;
  content: string;
  replaced_at: Timestamp;
  replaced_by: ExternalId;
}

export interface Reaction {
  post_id: Ulid;
  user_id: ExternalId;
  reaction_type: ReactionType;
  created_at: Timestamp;
}

export interface Flag {
  post_id: Ulid;
  user_id: ExternalId;
  user_name: string;
  reason: string;
  created_at: Timestamp;
  /** In the moderators' list: reviewed since. */
  resolved?: boolean;
}

export interface Note {
  id: Ulid;
  post_id: Ulid;
  author_id: ExternalId;
  author_name: string;
  note: string;
  created_at: Timestamp;
}

export interface QueueEntry extends Post {
  queue_reasons: Array<"pending" | "flagged">;
}

// ---------------------------------------------------------------- chat

export type MessageType = "text" | "image" | "file" | "link";
export type MessageStatus = "sent" | "delivered" | "read";

export interface Message {
  id: Ulid;
  community_id: Ulid;
  sender_id: ExternalId;
  sender_name: string;
  sender_username: string | null;
  /** Empty for a deleted message (except to admins). */
  message: string;
  message_type: MessageType;
  reply_to: Ulid | null;
  client_id: string | null;
  status: MessageStatus;
  created_at: Timestamp;
  edited_at: Timestamp | null;
  is_deleted: boolean;
  deleted_at: Timestamp | null;
  deleted_by: ExternalId | null;
}

export interface MessageListOptions extends PageOptions {
  /** A message id: the newer messages, oldest first (otherwise newest first). */
  after?: Ulid;
}

export interface SendMessage {
  message: string;
  message_type?: MessageType | null;
  reply_to?: Ulid | null;
  /** Makes retries idempotent for 24 hours: 1-64 characters of `[A-Za-z0-9_.:-]`. */
  client_id?: string | null;
}

export interface MarkedRead {
  message_id: Ulid;
  community_id: Ulid;
  user_id: ExternalId;
  read_at: Timestamp;
  last_read_id: Ulid | null;
  unread_count: number;
}

export interface UnreadMessages {
  community_id: Ulid;
  last_read_id: Ulid | null;
  /** Stops at 999 (`capped`). */
  unread_count: number;
  capped: boolean;
}

// ---------------------------------------------------------------- notifications

export type NotificationType =
  | "new_post"
  | "new_reply"
  | "new_mention"
  | "new_message"
  | "post_approved"
  | "post_rejected"
  | "post_flagged"
  | "new_direct_message"
  | "announcement"
  | "answer_accepted"
  | "answer_endorsed"
  | "marked_duplicate";

export interface Notification {
  id: Ulid;
  recipient_id: ExternalId;
  notification_type: NotificationType;
  title: string;
  message: string;
  actor: { id: ExternalId; name: string | null } | null;
  community_id: Ulid;
  target: { type: "post" | "message"; id: Ulid; root_id?: Ulid; link: string };
  is_read: boolean;
  read_at: Timestamp | null;
  created_at: Timestamp;
}

export interface NotificationListOptions extends PageOptions {
  unread?: boolean;
}

export interface UnreadCount {
  unread_count: number;
}

export interface MarkedAll {
  marked: number;
  unread_count: number;
  /** More remain than one call marks (5,000): call again. */
  more?: boolean;
}

/** The ways a notification reaches someone. */
export type NotificationChannel = "in_app" | "email" | "push";
export type NotificationChannels = Record<NotificationChannel, boolean>;
/** How often a digest of the caller's communities is emailed. */
export type DigestFrequency = "off" | "daily" | "weekly";

export interface NotificationPreferences {
  types: Record<NotificationType, NotificationChannels>;
  digest: DigestFrequency;
  /** Whether email can reach the caller at all: the LMS gave an address, and it did not bounce. */
  email: { address_known: boolean; suppressed: boolean };
}

/** Any subset; `null` changes nothing. */
export interface NotificationPreferencesInput {
  types?: Partial<Record<NotificationType, Partial<Record<NotificationChannel, boolean | null>> | null>>;
  digest?: DigestFrequency | null;
}

/** Where push notifications can go: browsers (Web Push), Apple and Android devices (SNS). */
export type PushPlatform = "web" | "apns" | "fcm";

export interface PushSubscription {
  id: Ulid;
  platform: PushPlatform;
  created_at: Timestamp;
  /** The push service's host of a browser subscription (its full endpoint is not shown). */
  endpoint_host?: string;
}

export interface PushSettings {
  /** The VAPID public key a browser subscribes with (base64url), null when Web Push is off. */
  vapid_public_key: string | null;
  /** The platforms this stack can push to. */
  platforms: PushPlatform[];
  subscriptions: PushSubscription[];
}

/** A browser's `PushSubscription.toJSON()` with its platform, or a device token. */
export type PushSubscriptionInput =
  | { platform: "web"; endpoint: string; keys: { p256dh: string; auth: string } }
  | { platform: "apns" | "fcm"; token: string };

/** What an unsubscribe link stopped: every notification email, or the digest. */
export interface Unsubscribed {
  unsubscribed: "notifications" | "digest";
}

// ---------------------------------------------------------------- LMS (admin tokens)

export interface LmsUserInput {
  name: string;
  username: string;
  avatar_url?: string | null;
  /** Where email notifications go; only the LMS gives it, and no API answer shows it. */
  email?: string | null;
}

export interface LmsUser {
  user_id: ExternalId;
  name: string;
  username: string;
  avatar_url: string | null;
  updated_at: Timestamp;
}

export interface LmsCourseInput {
  title: string;
  description?: string | null;
  instructor_ids?: ExternalId[] | null;
}

export interface LmsCourse {
  course_id: ExternalId;
  title: string;
  description: string;
  instructor_ids: ExternalId[];
  community_id: Ulid;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface LmsEnrollmentInput {
  is_active: boolean;
  /** An ISO-8601 date-time, a date (the end of that day, UTC), or null. */
  expiry_date?: string | null;
}

export interface LmsEnrollment {
  course_id: ExternalId;
  community_id: Ulid;
  user_id: ExternalId;
  is_active: boolean;
  expiry_date: Timestamp | null;
  updated_at: Timestamp;
}

// ---------------------------------------------------------------- errors

export type ProblemCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "validation_failed"
  | "rate_limited"
  | "internal_error";

export interface FieldError {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every refused request answers. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
  retry_after?: number;
}
