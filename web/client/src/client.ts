//! CommunityClient: a typed method for every endpoint of the HTTP API (docs/api.md).
import { Http, type HttpOptions, type Query } from "./http.js";
import { PageRequest } from "./pages.js";
import type {
  Community,
  CommunityListOptions,
  CommunityRole,
  CreateCommunity,
  Flag,
  LmsCourse,
  LmsCourseInput,
  LmsEnrollment,
  LmsEnrollmentInput,
  LmsUser,
  LmsUserInput,
  MarkedAll,
  MarkedRead,
  Member,
  Message,
  MessageListOptions,
  NewPost,
  Note,
  Notification,
  NotificationListOptions,
  NotificationPreferences,
  NotificationPreferencesInput,
  Unsubscribed,
  PushSettings,
  PushSubscription,
  PushSubscriptionInput,
  OnlineUser,
  Page,
  PageOptions,
  Post,
  PostDetail,
  PostListOptions,
  PostPatch,
  PostReplace,
  QueueEntry,
  Reaction,
  ReactionType,
  Revision,
  SendMessage,
  UnreadCount,
  UnreadMessages,
  UpdateCommunity,
  WatchState,
} from "./types.js";

export type CommunityClientOptions = HttpOptions;

const seg = encodeURIComponent;

function list<T>(http: Http, path: string, query: Query & PageOptions = {}): PageRequest<T> {
  const { cursor, ...rest } = query;
  return new PageRequest<T>(
    (c) => http.request<Page<T>>("GET", path, { query: { ...rest, cursor: c } }),
    cursor ?? undefined,
  );
}

/** Communities (`groups/`): settings, membership, roles, presence and watching. */
export class Communities {
  constructor(readonly http: Http) {}
  list(options: CommunityListOptions = {}): PageRequest<Community> {
    return list(this.http, "groups/", { ...options });
  }
  /** The caller's communities with current access. */
  mine(options: PageOptions = {}): PageRequest<Community> {
    return list(this.http, "groups/", { ...options, mine: true });
  }
  get(id: string): Promise<Community> {
    return this.http.request("GET", `groups/${seg(id)}/`);
  }
  /** Admins: a community not tied to a course. */
  create(body: CreateCommunity): Promise<Community> {
    return this.http.request("POST", "groups/", { body });
  }
  /** Course instructors and admins: the settings given change. */
  update(id: string, body: UpdateCommunity): Promise<Community> {
    return this.http.request("PATCH", `groups/${seg(id)}/`, { body });
  }
  join(id: string): Promise<Member> {
    return this.http.request("POST", `groups/${seg(id)}/join/`);
  }
  leave(id: string): Promise<void> {
    return this.http.request("POST", `groups/${seg(id)}/leave/`);
  }
  members(id: string, options: PageOptions = {}): PageRequest<Member> {
    return list(this.http, `groups/${seg(id)}/members/`, { ...options });
  }
  setRole(id: string, userId: string, role: CommunityRole): Promise<Member> {
    return this.http.request("PATCH", `groups/${seg(id)}/members/${seg(userId)}/`, { body: { role } });
  }
  removeMember(id: string, userId: string): Promise<void> {
    return this.http.request("DELETE", `groups/${seg(id)}/members/${seg(userId)}/`);
  }
  /** Users with a connection subscribed to the community (one page). */
  async online(id: string): Promise<OnlineUser[]> {
    const page = await this.http.request<Page<OnlineUser>>("GET", `groups/${seg(id)}/online/`);
    return page.results;
  }
  watchState(id: string): Promise<WatchState> {
    return this.http.request("GET", `groups/${seg(id)}/watch/`);
  }
  watch(id: string): Promise<WatchState> {
    return this.http.request("POST", `groups/${seg(id)}/watch/`);
  }
  mute(id: string): Promise<WatchState> {
    return this.http.request("DELETE", `groups/${seg(id)}/watch/`);
  }
  /** Moderators and up: pending and flagged posts, oldest first. */
  moderationQueue(id: string, options: PageOptions = {}): PageRequest<QueueEntry> {
    return list(this.http, `groups/${seg(id)}/moderation/`, { ...options });
  }
}

/** The forum: posts, replies, edits, reactions and moderation. */
export class Posts {
  constructor(readonly http: Http) {}
  /** Top-level posts, pinned first, then newest first. */
  list(communityId: string, options: PostListOptions = {}): PageRequest<Post> {
    return list(this.http, `groups/${seg(communityId)}/posts/`, { ...options });
  }
  /** A post or, with `parent`, a reply (`status: "pending"` when it awaits approval). */
  create(communityId: string, body: NewPost): Promise<Post> {
    return this.http.request("POST", `groups/${seg(communityId)}/posts/`, { body });
  }
  reply(communityId: string, parentId: string, content: string, title?: string): Promise<Post> {
    return this.create(communityId, { parent: parentId, content, ...(title === undefined ? {} : { title }) });
  }
  /** The post and a page of its thread (depth-first); counts a view on the first page. */
  get(id: string, options: PageOptions = {}): Promise<PostDetail> {
    return this.http.request("GET", `posts/${seg(id)}/`, { query: { ...options } });
  }
  /** Every reply of a thread, following `replies_next`. */
  async *replies(id: string, options: { limit?: number } = {}): AsyncGenerator<Post, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.get(id, { ...options, ...(cursor ? { cursor } : {}) });
      yield* page.replies;
      if (!page.replies_next) return;
      cursor = page.replies_next;
    }
  }
  /** The author only: the given fields change. */
  update(id: string, body: PostPatch): Promise<Post> {
    return this.http.request("PATCH", `posts/${seg(id)}/`, { body });
  }
  replace(id: string, body: PostReplace): Promise<Post> {
    return this.http.request("PUT", `posts/${seg(id)}/`, { body });
  }
  delete(id: string): Promise<void> {
    return this.http.request("DELETE", `posts/${seg(id)}/`);
  }
  edits(id: string, options: PageOptions = {}): PageRequest<Revision> {
    return list(this.http, `posts/${seg(id)}/edits/`, { ...options });
  }
  react(id: string, reactionType: ReactionType): Promise<Reaction> {
    return this.http.request("POST", `posts/${seg(id)}/react/`, { body: { reaction_type: reactionType } });
  }
  unreact(id: string, reactionType: ReactionType): Promise<void> {
    return this.http.request("DELETE", `posts/${seg(id)}/react/`, { query: { reaction_type: reactionType } });
  }
  approve(id: string, reason?: string): Promise<Post> {
    return this.http.request("POST", `posts/${seg(id)}/approve/`, { body: reason === undefined ? {} : { reason } });
  }
  reject(id: string, reason?: string): Promise<Post> {
    return this.http.request("POST", `posts/${seg(id)}/reject/`, { body: reason === undefined ? {} : { reason } });
  }
  pin(id: string): Promise<Post> {
    return this.http.request("POST", `posts/${seg(id)}/pin/`);
  }
  unpin(id: string): Promise<Post> {
    return this.http.request("POST", `posts/${seg(id)}/unpin/`);
  }
  flag(id: string, reason: string): Promise<Flag> {
    return this.http.request("POST", `posts/${seg(id)}/flag/`, { body: { reason } });
  }
  flags(id: string, options: PageOptions = {}): PageRequest<Flag> {
    return list(this.http, `posts/${seg(id)}/flags/`, { ...options });
  }
  resolveFlags(id: string, note?: string): Promise<Post> {
    return this.http.request("POST", `posts/${seg(id)}/resolve-flags/`, { body: note === undefined ? {} : { note } });
  }
  notes(id: string, options: PageOptions = {}): PageRequest<Note> {
    return list(this.http, `posts/${seg(id)}/notes/`, { ...options });
  }
  addNote(id: string, note: string): Promise<Note> {
    return this.http.request("POST", `posts/${seg(id)}/notes/`, { body: { note } });
  }
}

/** Chat history and the REST side of the room (RealtimeSession does the live side). */
export class Messages {
  constructor(readonly http: Http) {}
  /** Newest first, `next` pointing to older pages; with `after`, the newer ones oldest first. */
  list(communityId: string, options: MessageListOptions = {}): PageRequest<Message> {
    return list(this.http, `groups/${seg(communityId)}/messages/`, { ...options });
  }
  /** Sends over HTTP (delivered live like a WebSocket message); a repeated client_id stores nothing. */
  send(communityId: string, body: SendMessage): Promise<Message> {
    return this.http.request("POST", "messages/", { body: { community: communityId, ...body } });
  }
  get(id: string): Promise<Message> {
    return this.http.request("GET", `messages/${seg(id)}/`);
  }
  edit(id: string, message: string): Promise<Message> {
    return this.http.request("PATCH", `messages/${seg(id)}/`, { body: { message } });
  }
  delete(id: string): Promise<void> {
    return this.http.request("DELETE", `messages/${seg(id)}/`);
  }
  /** This message and everything before it read by the caller. */
  markRead(id: string): Promise<MarkedRead> {
    return this.http.request("POST", `messages/${seg(id)}/mark-as-read/`);
  }
  unreadCount(communityId: string): Promise<UnreadMessages> {
    return this.http.request("GET", "messages/unread-count/", { query: { community: communityId } });
  }
}

/** The caller's notifications, unread count and preferences. */
export class Notifications {
  constructor(readonly http: Http) {}
  list(options: NotificationListOptions = {}): PageRequest<Notification> {
    return list(this.http, "notifications/", { ...options });
  }
  get(id: string): Promise<Notification> {
    return this.http.request("GET", `notifications/${seg(id)}/`);
  }
  markRead(id: string): Promise<Notification> {
    return this.http.request("POST", `notifications/${seg(id)}/mark-as-read/`);
  }
  /** Marks up to 5,000; call again while `more` is true. */
  markAllRead(): Promise<MarkedAll> {
    return this.http.request("POST", "notifications/mark-all-as-read/");
  }
  async unreadCount(): Promise<number> {
    return (await this.http.request<UnreadCount>("GET", "notifications/unread-count/")).unread_count;
  }
  preferences(): Promise<NotificationPreferences> {
    return this.http.request("GET", "notifications/preferences/");
  }
  setPreferences(body: NotificationPreferencesInput): Promise<NotificationPreferences> {
    return this.http.request("PATCH", "notifications/preferences/", { body });
  }
  /**
   * Follows an email's unsubscribe link (its `token`): needs no sign-in. A token that was altered
   * is a 400; one of another user, used while signed in, a 403. Nothing changes then.
   */
  unsubscribe(token: string): Promise<Unsubscribed> {
    return this.http.request("POST", "notifications/unsubscribe/", { query: { token } });
  }
  /** The VAPID key, the platforms and the caller's push subscriptions. */
  push(): Promise<PushSettings> {
    return this.http.request("GET", "notifications/push/");
  }
  /** Registers a browser's subscription or a device token (the same one again is kept once). */
  subscribePush(body: PushSubscriptionInput): Promise<PushSubscription> {
    return this.http.request("POST", "notifications/push/subscriptions/", { body });
  }
  unsubscribePush(id: string): Promise<void> {
    return this.http.request("DELETE", `notifications/push/subscriptions/${seg(id)}/`);
  }
}

/** LMS sync, for admin tokens: idempotent upserts of users, courses and enrollments. */
export class Lms {
  constructor(readonly http: Http) {}
  putUser(userId: string, body: LmsUserInput): Promise<LmsUser> {
    return this.http.request("PUT", `lms/users/${seg(userId)}/`, { body });
  }
  putCourse(courseId: string, body: LmsCourseInput): Promise<LmsCourse> {
    return this.http.request("PUT", `lms/courses/${seg(courseId)}/`, { body });
  }
  putEnrollment(courseId: string, userId: string, body: LmsEnrollmentInput): Promise<LmsEnrollment> {
    return this.http.request("PUT", `lms/courses/${seg(courseId)}/enrollments/${seg(userId)}/`, { body });
  }
  deleteEnrollment(courseId: string, userId: string): Promise<void> {
    return this.http.request("DELETE", `lms/courses/${seg(courseId)}/enrollments/${seg(userId)}/`);
  }
}

/**
 * The HTTP API. Every method throws an `ApiError` subclass for a problem+json answer and a
 * `NetworkError` when no answer came.
 *
 * ```ts
 * const api = new CommunityClient({ baseUrl: "http://127.0.0.1:3000/dev", token: () => jwt });
 * for await (const post of api.posts.list(communityId)) console.log(post.title);
 * ```
 */
export class CommunityClient {
  readonly http: Http;
  readonly communities: Communities;
  readonly posts: Posts;
  readonly messages: Messages;
  readonly notifications: Notifications;
  readonly lms: Lms;

  constructor(options: CommunityClientOptions) {
    this.http = new Http(options);
    this.communities = new Communities(this.http);
    this.posts = new Posts(this.http);
    this.messages = new Messages(this.http);
    this.notifications = new Notifications(this.http);
    this.lms = new Lms(this.http);
  }
}
