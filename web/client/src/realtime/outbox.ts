//! Messages sent and not yet acknowledged: each has a client_id minted here, is resent with it
//! until its own copy comes back (the acknowledgement), waits out a rate limit, and fails only on
//! a refusal that a retry cannot change.
import { ApiError, CommunityError } from "../errors.js";
import type { Message, MessageType } from "../types.js";

export type OutgoingStatus = "queued" | "sent" | "waiting" | "acknowledged" | "failed";

/** What an outgoing message is, without its promise: what pluggable storage keeps. */
export interface StoredOutgoing {
  clientId: string;
  communityId: string;
  message: string;
  messageType?: MessageType;
  replyTo?: string;
  /** When `send` was called (ms since the epoch). */
  createdAt: number;
  status: OutgoingStatus;
  attempts: number;
  /** The refusal of a failed message. */
  error?: { code: string; detail: string };
}

/** Keeps the outbox across page loads (e.g. in localStorage); the default keeps it in memory. */
export interface OutboxStorage {
  load(): StoredOutgoing[];
  save(entries: StoredOutgoing[]): void;
}

/** A message handed to `RealtimeSession.send`. */
export interface OutgoingMessage {
  readonly clientId: string;
  readonly communityId: string;
  readonly message: string;
  readonly createdAt: number;
  /** The current status (`acknowledged` once the server's copy arrived). */
  readonly status: OutgoingStatus;
  /** Resolves with the stored message when acknowledged; rejects with the ApiError that refused it. */
  readonly acknowledged: Promise<Message>;
  /** The refusal, once failed. */
  readonly error: ApiError | CommunityError | undefined;
}

class Entry implements OutgoingMessage {
  status: OutgoingStatus;
  attempts: number;
  error: ApiError | CommunityError | undefined;
  lastSentAt = 0;
  readonly acknowledged: Promise<Message>;
  resolve!: (m: Message) => void;
  reject!: (e: unknown) => void;

  constructor(readonly stored: Omit<StoredOutgoing, "status" | "attempts" | "error">, status: OutgoingStatus, attempts: number) {
    this.status = status;
    this.attempts = attempts;
    this.acknowledged = new Promise<Message>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // A caller that never awaits must not cause an unhandled rejection.
    this.acknowledged.catch(() => {});
  }

  get clientId(): string {
    return this.stored.clientId;
  }
  get communityId(): string {
    return this.stored.communityId;
  }
  get message(): string {
    return this.stored.message;
  }
  get createdAt(): number {
    return this.stored.createdAt;
  }

  toStored(): StoredOutgoing {
    return {
      ...this.stored,
      status: this.status,
      attempts: this.attempts,
      ...(this.error ? { error: { code: (this.error as ApiError).code ?? "failed", detail: this.error.message } } : {}),
    };
  }
}

/** Codes a resend with the same client_id cannot change: the message fails. */
const FINAL = new Set(["bad_request", "validation_failed", "not_found", "forbidden", "conflict", "payload_too_large"]);

export function memoryStorage(): OutboxStorage {
  let entries: StoredOutgoing[] = [];
  return { load: () => entries, save: (e) => (entries = e) };
}

/** A client_id: 1-64 characters of `[A-Za-z0-9_.:-]`, unique enough to be an idempotency key. */
export function mintClientId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `c-${Date.now().toString(36)}-${random}`;
}

export interface OutboxDecision {
  /** Resend after this many ms (a rate limit, a server error). */
  retryInMs?: number;
  /** The connection is not registered: reconnect. */
  reconnect?: boolean;
}

export class Outbox {
  readonly #entries = new Map<string, Entry>();
  readonly #storage: OutboxStorage;
  readonly #onChange: () => void;
  readonly #maxServerErrors: number;

  constructor(storage: OutboxStorage, onChange: () => void, maxServerErrors = 5) {
    this.#storage = storage;
    this.#onChange = onChange;
    this.#maxServerErrors = maxServerErrors;
    for (const s of storage.load()) {
      const { status, attempts, error, ...rest } = s;
      const entry = new Entry(rest, status === "failed" ? "failed" : "queued", attempts);
      if (status === "failed") {
        entry.error = new CommunityError(error?.detail ?? "failed");
        entry.reject(entry.error);
      }
      this.#entries.set(s.clientId, entry);
    }
  }

  add(s: Omit<StoredOutgoing, "status" | "attempts" | "error">): OutgoingMessage {
    const entry = new Entry(s, "queued", 0);
    this.#entries.set(s.clientId, entry);
    this.#changed();
    return entry;
  }

  get(clientId: string): OutgoingMessage | undefined {
    return this.#entries.get(clientId);
  }

  /** Not yet acknowledged (failed ones included, so nothing typed is lost), oldest first. */
  list(communityId?: string): OutgoingMessage[] {
    return [...this.#entries.values()]
      .filter((e) => communityId === undefined || e.communityId === communityId)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Entries to (re)send now: queued, or sent longer than `ackTimeoutMs` ago with no answer. */
  due(now: number, ackTimeoutMs: number): StoredOutgoing[] {
    return [...this.#entries.values()]
      .filter((e) => e.status === "queued" || (e.status === "sent" && now - e.lastSentAt >= ackTimeoutMs))
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((e) => e.toStored());
  }

  sent(clientId: string, now: number): void {
    const e = this.#entries.get(clientId);
    if (!e || (e.status !== "queued" && e.status !== "sent")) return;
    e.status = "sent";
    e.attempts += 1;
    e.lastSentAt = now;
    this.#changed();
  }

  /** The socket went down: what was sent and not acknowledged goes out again on the next one. */
  requeueAll(): void {
    let changed = false;
    for (const e of this.#entries.values()) {
      if (e.status === "sent") {
        e.status = "queued";
        changed = true;
      }
    }
    if (changed) this.#changed();
  }

  /** A waiting entry's delay is over. */
  requeue(clientId: string): void {
    const e = this.#entries.get(clientId);
    if (e && e.status === "waiting") {
      e.status = "queued";
      this.#changed();
    }
  }

  /** A stored message carrying a client_id (live or from the history): acknowledges its entry. */
  acknowledge(message: Message): boolean {
    if (!message.client_id) return false;
    const e = this.#entries.get(message.client_id);
    if (!e || e.communityId !== message.community_id || e.status === "failed") return false;
    e.status = "acknowledged";
    this.#entries.delete(message.client_id);
    this.#changed();
    e.resolve(message);
    return true;
  }

  /** An `error` event for one of ours: wait, reconnect, or fail. */
  refused(clientId: string, error: ApiError): OutboxDecision | undefined {
    const e = this.#entries.get(clientId);
    if (!e || e.status === "failed" || e.status === "acknowledged") return undefined;
    if (error.code === "rate_limited") {
      e.status = "waiting";
      this.#changed();
      return { retryInMs: Math.max(1, error.retryAfter ?? 1) * 1000 };
    }
    if (error.code === "unauthorized") {
      e.status = "queued";
      this.#changed();
      return { reconnect: true };
    }
    if (!FINAL.has(error.code) && e.attempts < this.#maxServerErrors) {
      e.status = "waiting";
      this.#changed();
      return { retryInMs: Math.min(30_000, 500 * 2 ** e.attempts) };
    }
    this.fail(clientId, error);
    return undefined;
  }

  fail(clientId: string, error: ApiError | CommunityError): void {
    const e = this.#entries.get(clientId);
    if (!e) return;
    e.status = "failed";
    e.error = error;
    this.#changed();
    e.reject(error);
  }

  /** Forgets an entry (a failed message the user discarded). */
  remove(clientId: string): OutgoingMessage | undefined {
    const e = this.#entries.get(clientId);
    if (!e) return undefined;
    this.#entries.delete(clientId);
    this.#changed();
    return e;
  }

  /** The session closed: promises reject, entries stay in storage for the next session. */
  abandon(error: CommunityError): void {
    for (const e of this.#entries.values()) if (e.status !== "failed") e.reject(error);
  }

  #changed(): void {
    this.#storage.save([...this.#entries.values()].map((e) => e.toStored()));
    this.#onChange();
  }
}
