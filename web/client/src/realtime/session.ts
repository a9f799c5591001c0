//! RealtimeSession: everything docs/websocket.md asks of a client, done for the app: resends
//! until acknowledged, catch-up after every (re)connect, one copy per id, typing, presence,
//! read receipts, notifications, keep-alive and reconnect with backoff; its state observable.
import { CommunityClient } from "../client.js";
import { ApiError, CommunityError, ForbiddenError, NotFoundError, UnauthorizedError } from "../errors.js";
import type { FetchLike, TokenProvider } from "../http.js";
import type { Message, MessageType, OnlineUser } from "../types.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import type {
  ChatMessageEvent,
  ServerErrorEvent,
  MessageDeletedEvent,
  MessageEditedEvent,
  NotificationEvent,
  ReadReceiptEvent,
  ServerEvent,
} from "./events.js";
import { Emitter, Observable, type Listener, type Unsubscribe } from "./observable.js";
import { memoryStorage, mintClientId, Outbox, type OutboxStorage, type OutgoingMessage } from "./outbox.js";
import { Presence } from "./presence.js";
import { Socket, type WebSocketConstructor } from "./socket.js";
import { MessageStore } from "./store.js";
import { type Clock, systemClock, Timeout } from "./timers.js";
import { OwnTyping, TypingIndicators, type TypingUser } from "./typing.js";

/**
 * `connecting`: the first connection is being opened. `catching_up`: the socket is open and the
 * subscribed communities are being re-subscribed and filled from the history. `open`: caught up,
 * live. `reconnecting`: the socket went down; the next attempt waits its backoff delay.
 * `closed`: closed for good (`close()`, or a token the API refuses).
 */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "catching_up" | "closed";

export interface RealtimeSessionOptions {
  /** The WebSocket API's stage URL, e.g. `ws://127.0.0.1:3001/dev` (`?token=` is added). */
  wsUrl: string;
  /** The HTTP API's origin, for catch-up, presence and counts (or pass `api`). */
  baseUrl?: string;
  token: TokenProvider;
  /** A REST client to use instead of one built from `baseUrl`, `token` and `fetch`. */
  api?: CommunityClient;
  fetch?: FetchLike;
  /** Defaults to the global WebSocket (browsers, Node 22+); in older Node pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  /** The caller's user id; read from the token's `sub` when not given. */
  userId?: string;
  /** Messages read when a community is first subscribed (newest first, default 50). */
  historyLimit?: number;
  /** Page size of the catch-up after a reconnect (default 100). */
  catchUpPageSize?: number;
  /** Keep-alive ping interval (default 4 min; API Gateway closes after 10 idle minutes). */
  pingIntervalMs?: number;
  /** No pong within this long: reconnect (default 10 s). */
  pongTimeoutMs?: number;
  /** A connection attempt that has not opened within this long is retried (default 10 s). */
  connectTimeoutMs?: number;
  /** A sent message with no acknowledgement within this long is sent again (default 10 s). */
  ackTimeoutMs?: number;
  /** A `subscribe` with no answer within this long: reconnect (default 10 s). */
  subscribeTimeoutMs?: number;
  /** While typing, `is_typing: true` is repeated this often (default 2 s). */
  typingRepeatMs?: number;
  /** Others' typing indicator clears this long after their last `true` (default 3 s). */
  typingExpiryMs?: number;
  /** Catch-up resumes from the newest message at least this much older than the newest held (5 s). */
  resumeMarginMs?: number;
  /** Internal errors (`internal_error`) a message may meet before it fails (default 5). */
  maxServerErrors?: number;
  backoff?: Backoff | BackoffOptions;
  clock?: Clock;
  /** Keeps unacknowledged messages across page loads; the default keeps them in memory. */
  outboxStorage?: OutboxStorage;
}

export type MessageChange = "added" | "updated" | "deleted";

export interface SessionEvents {
  state: ConnectionState;
  /** A message of the store changed: `source` says whether from a live event, the history or a REST call. */
  message: { communityId: string; message: Message; change: MessageChange; source: "live" | "history" | "rest" };
  typing: { communityId: string; users: TypingUser[] };
  presence: { communityId: string; users: OnlineUser[] };
  read_receipt: ReadReceiptEvent;
  notification: NotificationEvent;
  /** The outbox changed (a message queued, sent, acknowledged or failed). */
  outbox: OutgoingMessage[];
  /** A community finished its catch-up (after its subscribe or a reconnect). */
  caught_up: { communityId: string; added: number };
  /** A refused frame or a failure the session could not absorb. */
  error: ApiError | CommunityError;
  /** Every server event, as received. */
  event: ServerEvent;
}

export interface SendOptions {
  messageType?: MessageType;
  replyTo?: string;
  /** Your own idempotency key (1-64 of `[A-Za-z0-9_.:-]`); one is minted otherwise. */
  clientId?: string;
}

interface Subscription {
  caughtUp: boolean;
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

/** A failure that a reconnect may cure (network, server, timeout). */
class TransientError extends CommunityError {
  override name = "TransientError";
}

/** The session was closed before this could finish. */
export class SessionClosedError extends CommunityError {
  override name = "SessionClosedError";
}

/**
 * A real-time session of one user: one WebSocket, any number of communities.
 *
 * ```ts
 * const session = new RealtimeSession({ wsUrl, baseUrl, token: () => jwt });
 * session.state.subscribe((s) => console.log(s));
 * session.on("message", ({ communityId, message }) => render(session.messages(communityId)));
 * session.connect();
 * await session.subscribe(communityId);
 * const sent = session.send(communityId, "Hello!");
 * const stored = await sent.acknowledged;
 * ```
 */
export class RealtimeSession {
  /** The connection state, observable. */
  readonly state = new Observable<ConnectionState>("connecting");
  /** The user's unread notifications (undefined until first read), kept live by `notification` events. */
  readonly unreadNotifications = new Observable<number | undefined>(undefined);
  /** While reconnecting: when the next attempt starts (ms since the epoch), for "retrying in 3 s". */
  readonly nextAttemptAt = new Observable<number | undefined>(undefined);
  readonly api: CommunityClient;

  readonly #o: Required<
    Pick<
      RealtimeSessionOptions,
      | "historyLimit"
      | "catchUpPageSize"
      | "ackTimeoutMs"
      | "subscribeTimeoutMs"
      | "resumeMarginMs"
    >
  >;
  readonly #token: TokenProvider;
  readonly #wsUrl: string;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #socket: Socket;
  readonly #events = new Emitter<SessionEvents>();
  readonly #store = new MessageStore();
  readonly #presence = new Presence();
  readonly #typing: TypingIndicators;
  readonly #ownTyping: OwnTyping;
  readonly #outbox: Outbox;
  readonly #subs = new Map<string, Subscription>();
  /** Live chat events of communities being caught up, applied after the history. */
  readonly #buffers = new Map<string, ServerEvent[]>();
  readonly #inFlight = new Map<string, number>();
  readonly #subscribeWaiters = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  readonly #retryTimers = new Map<string, Timeout>();
  readonly #ackTimer: Timeout;
  #me: string | undefined;
  #generation = 0;
  #everOpen = false;
  #frames = 0;

  constructor(options: RealtimeSessionOptions) {
    this.#token = options.token;
    this.#wsUrl = options.wsUrl;
    this.#me = options.userId;
    this.#clock = options.clock ?? systemClock;
    this.#o = {
      historyLimit: options.historyLimit ?? 50,
      catchUpPageSize: options.catchUpPageSize ?? 100,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      subscribeTimeoutMs: options.subscribeTimeoutMs ?? 10_000,
      resumeMarginMs: options.resumeMarginMs ?? 5_000,
    };
    if (options.api) this.api = options.api;
    else if (options.baseUrl) {
      this.api = new CommunityClient({
        baseUrl: options.baseUrl,
        token: options.token,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    } else throw new TypeError("RealtimeSession needs baseUrl or api");
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) throw new TypeError("no WebSocket: pass options.WebSocket (e.g. the ws package's)");
    this.#backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.#typing = new TypingIndicators(this.#clock, options.typingExpiryMs ?? 3_000, (communityId) =>
      this.#events.emit("typing", { communityId, users: this.#typing.list(communityId) }),
    );
    this.#ownTyping = new OwnTyping(this.#clock, options.typingRepeatMs ?? 2_000, (communityId, isTyping) => {
      this.#socket.send({ type: "typing", community_id: communityId, is_typing: isTyping });
    });
    this.#outbox = new Outbox(
      options.outboxStorage ?? memoryStorage(),
      () => this.#events.emit("outbox", this.#outbox.list()),
      options.maxServerErrors ?? 5,
    );
    this.#ackTimer = new Timeout(this.#clock, () => this.#flushOutbox());
    this.#socket = new Socket({
      url: () => this.#url(),
      WebSocket: WebSocketImpl,
      clock: this.#clock,
      backoff: this.#backoff,
      pingIntervalMs: options.pingIntervalMs ?? 240_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      onOpen: () => this.#opened(),
      onEvent: (event) => this.#event(event),
      onDown: (info) => this.#down(info.wasOpen),
      onRetry: (delayMs) => this.nextAttemptAt.set(this.#clock.now() + delayMs),
    });
  }

  // ------------------------------------------------------------ lifecycle

  /** Opens the connection (and keeps it open until `close()`). */
  connect(): void {
    if (this.state.value === "closed") throw new SessionClosedError("the session is closed");
    this.#socket.connect();
  }

  /** Closes for good: no reconnect; unacknowledged messages stay in the outbox storage. */
  close(): void {
    if (this.state.value === "closed") return;
    this.#generation++;
    this.state.set("closed");
    this.#events.emit("state", "closed");
    this.#socket.close();
    this.#ownTyping.stopAll();
    this.#typing.clearAll();
    this.#ackTimer.cancel();
    for (const t of this.#retryTimers.values()) t.cancel();
    this.#retryTimers.clear();
    const closed = new SessionClosedError("the session is closed");
    this.#outbox.abandon(closed);
    for (const w of this.#subscribeWaiters.values()) w.reject(closed);
    this.#subscribeWaiters.clear();
    for (const sub of this.#subs.values()) for (const w of sub.waiters.splice(0)) w.reject(closed);
  }

  /** Resolves the next time the state is `open` (at once if it is). */
  whenOpen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const off = this.state.subscribe((s) => {
        if (s === "open") {
          queueMicrotask(() => off());
          resolve();
        } else if (s === "closed") {
          queueMicrotask(() => off());
          reject(new SessionClosedError("the session is closed"));
        }
      });
    });
  }

  on<K extends keyof SessionEvents>(event: K, listener: Listener<SessionEvents[K]>): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /** Sends a `ping`; true when its `pong` came back. */
  ping(): Promise<boolean> {
    return this.#socket.ping();
  }

  /** The user id the session acts as (from the token's `sub` unless given). */
  get userId(): string | undefined {
    return this.#me;
  }

  // ------------------------------------------------------------ communities

  /**
   * Receives the community's chat events from now on, here and after every reconnect. Resolves
   * once subscribed and filled from the history; rejects with the ApiError if refused.
   */
  subscribe(communityId: string): Promise<void> {
    if (this.state.value === "closed") return Promise.reject(new SessionClosedError("the session is closed"));
    let sub = this.#subs.get(communityId);
    if (!sub) this.#subs.set(communityId, (sub = { caughtUp: false, waiters: [] }));
    const s = sub;
    const done = new Promise<void>((resolve, reject) => {
      if (s.caughtUp && this.#socket.isOpen && !this.#buffers.has(communityId)) resolve();
      else s.waiters.push({ resolve, reject });
    });
    if (this.#socket.isOpen) this.#catchUpOrDrop(communityId, this.#generation);
    return done;
  }

  unsubscribe(communityId: string): void {
    const sub = this.#subs.get(communityId);
    if (!sub) return;
    this.#subs.delete(communityId);
    this.#buffers.delete(communityId);
    this.#socket.send({ type: "unsubscribe", community_id: communityId });
    this.#ownTyping.set(communityId, false);
    this.#presence.forget(communityId);
    this.#events.emit("presence", { communityId, users: [] });
    for (const w of sub.waiters.splice(0)) w.reject(new CommunityError("unsubscribed"));
  }

  subscriptions(): string[] {
    return [...this.#subs.keys()];
  }

  /** The community's messages held, oldest first, one copy per id. */
  messages(communityId: string): Message[] {
    return this.#store.list(communityId);
  }

  /** Reads the page before the oldest message held; answers how many were added (0 at the start). */
  async loadOlder(communityId: string, limit = this.#o.historyLimit): Promise<number> {
    const cursor = this.#store.olderCursor(communityId);
    if (cursor === null) return 0;
    const page = await this.api.messages.list(communityId, { limit, ...(cursor ? { cursor } : {}) });
    let added = 0;
    for (const m of [...page.results].reverse()) if (this.#applyHistory(m) === "added") added++;
    this.#store.setOlderCursor(communityId, page.next);
    return added;
  }

  /** False once the oldest message of the community is held. */
  hasOlder(communityId: string): boolean {
    return this.#store.olderCursor(communityId) !== null;
  }

  /** Others typing in the community now. */
  typing(communityId: string): TypingUser[] {
    return this.#typing.list(communityId);
  }

  /** Users online in the community. */
  online(communityId: string): OnlineUser[] {
    return this.#presence.list(communityId);
  }

  // ------------------------------------------------------------ chat

  /**
   * Sends a chat message: queued at once, sent when the socket is open, resent with the same
   * client_id until its copy comes back (across reconnects). A refusal a retry cannot change
   * (validation, access) rejects `acknowledged`; the entry stays in `pending()` as failed.
   */
  send(communityId: string, message: string, options: SendOptions = {}): OutgoingMessage {
    if (this.state.value === "closed") throw new SessionClosedError("the session is closed");
    this.#ownTyping.set(communityId, false);
    const entry = this.#outbox.add({
      clientId: options.clientId ?? mintClientId(),
      communityId,
      message,
      createdAt: this.#clock.now(),
      ...(options.messageType ? { messageType: options.messageType } : {}),
      ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    });
    this.#flushOutbox();
    return entry;
  }

  /** Messages not yet acknowledged (and failed ones, until retried or discarded), oldest first. */
  pending(communityId?: string): OutgoingMessage[] {
    return this.#outbox.list(communityId);
  }

  /** Sends a failed message again, as a new message. */
  retry(clientId: string): OutgoingMessage | undefined {
    const old = this.#outbox.get(clientId);
    if (!old || old.status !== "failed") return undefined;
    this.#outbox.remove(clientId);
    return this.send(old.communityId, old.message);
  }

  /** Forgets a failed message. */
  discard(clientId: string): void {
    const old = this.#outbox.get(clientId);
    if (old && old.status === "failed") this.#outbox.remove(clientId);
  }

  /** Tells the others the user is typing (repeated every 2 s) or stopped. */
  setTyping(communityId: string, isTyping: boolean): void {
    this.#ownTyping.set(communityId, isTyping);
  }

  /** Marks the message and everything before it read; the sender gets a read receipt. */
  markRead(messageId: string) {
    return this.api.messages.markRead(messageId);
  }

  /** Edits one's own message; the community gets `message_edited`. */
  async edit(messageId: string, text: string): Promise<Message> {
    const m = await this.api.messages.edit(messageId, text);
    const next = this.#store.edit(m);
    if (next) this.#events.emit("message", { communityId: m.community_id, message: next, change: "updated", source: "rest" });
    return m;
  }

  /** Deletes a message (the author or moderators); the community gets `message_deleted`. */
  async delete(messageId: string): Promise<void> {
    await this.api.messages.delete(messageId);
  }

  // ------------------------------------------------------------ notifications

  /** Marks one notification read and refreshes the unread count. */
  async markNotificationRead(id: string) {
    const n = await this.api.notifications.markRead(id);
    this.unreadNotifications.set(await this.api.notifications.unreadCount());
    return n;
  }

  /** Marks every notification read (calling again while the API says `more`). */
  async markAllNotificationsRead(): Promise<number> {
    let marked = 0;
    for (;;) {
      const r = await this.api.notifications.markAllRead();
      marked += r.marked;
      this.unreadNotifications.set(r.unread_count);
      if (!r.more) return marked;
    }
  }

  // ------------------------------------------------------------ internals

  async #url(): Promise<string> {
    const token = await this.#token();
    this.#me ??= subjectOf(token);
    const url = new URL(this.#wsUrl);
    url.searchParams.set("token", token);
    return url.toString();
  }

  #setState(state: ConnectionState): void {
    if (this.state.value === "closed" || this.state.value === state) return;
    this.state.set(state);
    this.#events.emit("state", state);
  }

  #opened(): void {
    const generation = ++this.#generation;
    this.nextAttemptAt.set(undefined);
    this.#everOpen = true;
    this.#setState("catching_up");
    this.#flushOutbox();
    void this.#catchUpAll(generation);
  }

  async #catchUpAll(generation: number): Promise<void> {
    try {
      await Promise.all([...this.#subs.keys()].map((id) => this.#catchUp(id, generation)));
      const unread = await this.api.notifications.unreadCount();
      if (generation !== this.#generation) return;
      this.unreadNotifications.set(unread);
      if (this.#socket.isOpen) {
        this.#backoff.reset();
        this.#setState("open");
      }
    } catch (e) {
      this.#failedCatchUp(e, generation);
    }
  }

  #catchUpOrDrop(communityId: string, generation: number): void {
    this.#catchUp(communityId, generation).catch((e) => this.#failedCatchUp(e, generation));
  }

  #failedCatchUp(e: unknown, generation: number): void {
    if (generation !== this.#generation) return;
    if (e instanceof UnauthorizedError) return this.#fatal(e);
    this.#events.emit("error", e instanceof CommunityError ? e : new CommunityError(String(e)));
    this.#socket.drop("catch-up failed");
  }

  /** Re-subscribes one community, then fills it from the history before its buffered live events. */
  async #catchUp(communityId: string, generation: number): Promise<void> {
    if (this.#inFlight.get(communityId) === generation) return;
    this.#inFlight.set(communityId, generation);
    this.#buffers.set(communityId, []);
    let added = 0;
    try {
      await this.#subscribeFrame(communityId);
      if (generation !== this.#generation) return;
      const [n, online] = await Promise.all([
        this.#fillHistory(communityId),
        this.api.communities.online(communityId),
      ]);
      added = n;
      if (generation !== this.#generation || !this.#subs.has(communityId)) return;
      this.#presence.reset(communityId, online);
      this.#events.emit("presence", { communityId, users: this.#presence.list(communityId) });
    } catch (e) {
      if (e instanceof ForbiddenError || e instanceof NotFoundError) {
        this.#refuseSubscription(communityId, e);
        return;
      }
      throw e;
    } finally {
      if (this.#inFlight.get(communityId) === generation) this.#inFlight.delete(communityId);
      const buffered = this.#buffers.get(communityId) ?? [];
      this.#buffers.delete(communityId);
      for (const event of buffered) this.#applyChat(event);
    }
    const sub = this.#subs.get(communityId);
    if (!sub || generation !== this.#generation) return;
    sub.caughtUp = true;
    for (const w of sub.waiters.splice(0)) w.resolve();
    this.#events.emit("caught_up", { communityId, added });
  }

  #subscribeFrame(communityId: string): Promise<void> {
    const clientId = `sub-${++this.#frames}`;
    return new Promise<void>((resolve, reject) => {
      const timer = new Timeout(this.#clock, () => {
        this.#subscribeWaiters.delete(clientId);
        reject(new TransientError(`no answer to subscribe ${communityId}`));
      });
      this.#subscribeWaiters.set(clientId, {
        resolve: () => (timer.cancel(), resolve()),
        reject: (e) => (timer.cancel(), reject(e)),
      });
      timer.schedule(this.#o.subscribeTimeoutMs);
      if (!this.#socket.send({ type: "subscribe", community_id: communityId, client_id: clientId })) {
        this.#subscribeWaiters.delete(clientId);
        timer.cancel();
        reject(new TransientError("the socket is not open"));
      }
    });
  }

  /** The newest page on a first subscribe; after a reconnect every message after the resume point. */
  async #fillHistory(communityId: string): Promise<number> {
    let added = 0;
    const after = this.#store.resumeId(communityId, this.#o.resumeMarginMs);
    if (after !== undefined) {
      try {
        const list = this.api.messages.list(communityId, { after, limit: this.#o.catchUpPageSize });
        for await (const m of list) if (this.#applyHistory(m) === "added") added++;
        return added;
      } catch (e) {
        // The resume point is gone from the community: read the newest page instead.
        if (!(e instanceof NotFoundError)) throw e;
      }
    }
    const page = await this.api.messages.list(communityId, { limit: this.#o.historyLimit });
    for (const m of [...page.results].reverse()) if (this.#applyHistory(m) === "added") added++;
    if (this.#store.olderCursor(communityId) === undefined) this.#store.setOlderCursor(communityId, page.next);
    return added;
  }

  #applyHistory(m: Message): "added" | "updated" | "duplicate" {
    const r = this.#store.addFromHistory(m);
    const held = this.#store.get(m.community_id, m.id) as Message;
    this.#outbox.acknowledge(held);
    if (r !== "duplicate") {
      this.#events.emit("message", { communityId: m.community_id, message: held, change: r, source: "history" });
    }
    return r;
  }

  #refuseSubscription(communityId: string, error: ApiError): void {
    const sub = this.#subs.get(communityId);
    this.#subs.delete(communityId);
    this.#presence.forget(communityId);
    for (const w of sub?.waiters.splice(0) ?? []) w.reject(error);
    this.#events.emit("error", error);
  }

  #event(event: ServerEvent): void {
    this.#events.emit("event", event);
    switch (event.type) {
      case "chat_message":
      case "message_edited":
      case "message_deleted":
        return this.#applyChat(event);
      case "typing":
        if (event.user_id !== this.#me) this.#typing.apply(event.community_id, event.user_id, event.name, event.is_typing);
        return;
      case "read_receipt": {
        for (const message of this.#store.markRead(event.community_id, event.message_id, this.#me)) {
          this.#events.emit("message", { communityId: event.community_id, message, change: "updated", source: "live" });
        }
        this.#events.emit("read_receipt", event);
        return;
      }
      case "presence": {
        if (!this.#subs.has(event.community_id)) return;
        const changed = this.#presence.apply(event.community_id, event.joined, event.left);
        if (changed) this.#events.emit("presence", { communityId: event.community_id, users: this.#presence.list(event.community_id) });
        return;
      }
      case "subscribed": {
        const w = event.client_id ? this.#subscribeWaiters.get(event.client_id) : undefined;
        if (w && event.client_id) {
          this.#subscribeWaiters.delete(event.client_id);
          w.resolve();
        }
        return;
      }
      case "notification":
        this.unreadNotifications.set(event.unread_count);
        this.#events.emit("notification", event);
        return;
      case "error":
        return this.#refused(event);
      default:
        return;
    }
  }

  #applyChat(event: ServerEvent): void {
    if (event.type !== "chat_message" && event.type !== "message_edited" && event.type !== "message_deleted") return;
    const buffer = this.#buffers.get(event.community_id);
    if (buffer) {
      buffer.push(event);
      return;
    }
    if (event.type === "chat_message") return this.#applyMessage(event);
    if (event.type === "message_edited") return this.#applyEdit(event);
    return this.#applyDelete(event);
  }

  #applyMessage(event: ChatMessageEvent): void {
    this.#typing.clear(event.community_id, event.sender_id);
    const r = this.#store.addLive(event);
    const held = this.#store.get(event.community_id, event.id) as Message;
    this.#outbox.acknowledge(held);
    if (r === "added") this.#events.emit("message", { communityId: event.community_id, message: held, change: "added", source: "live" });
  }

  #applyEdit(event: MessageEditedEvent): void {
    const next = this.#store.edit(event);
    if (next) this.#events.emit("message", { communityId: event.community_id, message: next, change: "updated", source: "live" });
  }

  #applyDelete(event: MessageDeletedEvent): void {
    const next = this.#store.delete(event.community_id, event.message_id, event.deleted_by, event.deleted_at);
    if (next) this.#events.emit("message", { communityId: event.community_id, message: next, change: "deleted", source: "live" });
  }

  #refused(event: ServerErrorEvent): void {
    const error = ApiError.fromEvent(event);
    const clientId = event.client_id ?? undefined;
    const subscribe = clientId ? this.#subscribeWaiters.get(clientId) : undefined;
    if (clientId && subscribe) {
      this.#subscribeWaiters.delete(clientId);
      subscribe.reject(error);
    } else if (clientId && this.#outbox.get(clientId)) {
      const decision = this.#outbox.refused(clientId, error);
      if (decision?.retryInMs !== undefined) {
        const timer = new Timeout(this.#clock, () => {
          this.#retryTimers.delete(clientId);
          this.#outbox.requeue(clientId);
          this.#flushOutbox();
        });
        this.#retryTimers.get(clientId)?.cancel();
        this.#retryTimers.set(clientId, timer);
        timer.schedule(decision.retryInMs);
      }
      if (decision?.reconnect) this.#socket.drop("connection not registered");
    } else if (error.code === "unauthorized") {
      this.#socket.drop("connection not registered");
    }
    this.#events.emit("error", error);
  }

  #flushOutbox(): void {
    if (!this.#socket.isOpen) return;
    const now = this.#clock.now();
    for (const m of this.#outbox.due(now, this.#o.ackTimeoutMs)) {
      const sent = this.#socket.send({
        type: "chat_message",
        community_id: m.communityId,
        message: m.message,
        client_id: m.clientId,
        ...(m.messageType ? { message_type: m.messageType } : {}),
        ...(m.replyTo ? { reply_to: m.replyTo } : {}),
      });
      if (sent) this.#outbox.sent(m.clientId, now);
    }
    if (this.#outbox.list().some((m) => m.status === "sent")) this.#ackTimer.schedule(this.#o.ackTimeoutMs);
    else this.#ackTimer.cancel();
  }

  #down(wasOpen: boolean): void {
    if (this.state.value === "closed") return;
    this.#generation++;
    this.#outbox.requeueAll();
    this.#ackTimer.cancel();
    this.#typing.clearAll();
    this.#buffers.clear();
    this.#inFlight.clear();
    const gone = new TransientError("the socket went down");
    for (const w of this.#subscribeWaiters.values()) w.reject(gone);
    this.#subscribeWaiters.clear();
    this.#setState(this.#everOpen ? "reconnecting" : "connecting");
    if (!wasOpen) void this.#checkToken();
  }

  /** A handshake refused: a token the API refuses ends the session, anything else is retried. */
  async #checkToken(): Promise<void> {
    try {
      await this.api.notifications.unreadCount();
    } catch (e) {
      if (e instanceof UnauthorizedError) this.#fatal(e);
    }
  }

  #fatal(error: ApiError): void {
    this.#events.emit("error", error);
    this.close();
  }
}

/** The `sub` claim of a JWT, read without verifying (the server does that). */
function subjectOf(token: string): string | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}
