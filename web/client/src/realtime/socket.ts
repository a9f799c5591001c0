//! One logical WebSocket that stays up: connects, pings to keep from idling out, notices a dead
//! link, and reconnects with backoff until closed for good.
import { Backoff } from "./backoff.js";
import type { ClientFrame, ServerEvent } from "./events.js";
import { type Clock, Repeat, Timeout } from "./timers.js";

/** The part of the WebSocket API this library uses (the browser's, or Node's `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;

export interface SocketOptions {
  /** The URL of the next attempt (with a fresh token). */
  url: () => Promise<string>;
  WebSocket: WebSocketConstructor;
  clock: Clock;
  backoff: Backoff;
  /** A `ping` this often, ms. */
  pingIntervalMs: number;
  /** No `pong` within this long: the link is dead, reconnect. */
  pongTimeoutMs: number;
  /** An attempt that has not opened within this long is abandoned. */
  connectTimeoutMs: number;
  onOpen: () => void;
  onEvent: (event: ServerEvent) => void;
  /** The socket went down (`wasOpen` false: an attempt that never opened). */
  onDown: (info: { wasOpen: boolean; code: number | undefined; reason: string }) => void;
  /** The delay before the next attempt, for observers. */
  onRetry?: (delayMs: number) => void;
}

export class Socket {
  readonly #o: SocketOptions;
  #ws: WebSocketLike | undefined;
  #opened = false;
  #closedForGood = false;
  #pings = 0;
  readonly #retry: Timeout;
  readonly #keepAlive: Repeat;
  readonly #pongDeadline: Timeout;
  readonly #connectDeadline: Timeout;
  readonly #pongWaiters = new Map<string, (ok: boolean) => void>();

  constructor(options: SocketOptions) {
    this.#o = options;
    this.#retry = new Timeout(options.clock, () => void this.#attempt());
    this.#keepAlive = new Repeat(options.clock, () => void this.ping());
    this.#pongDeadline = new Timeout(options.clock, () => this.drop("no pong"));
    this.#connectDeadline = new Timeout(options.clock, () => this.drop("connect timeout"));
  }

  get isOpen(): boolean {
    return this.#opened && this.#ws?.readyState === OPEN;
  }

  get closedForGood(): boolean {
    return this.#closedForGood;
  }

  connect(): void {
    if (this.#closedForGood || this.#ws || this.#retry.pending) return;
    void this.#attempt();
  }

  /** Sends a frame if the socket is open; answers whether it was handed to the socket. */
  send(frame: ClientFrame): boolean {
    if (!this.isOpen || !this.#ws) return false;
    try {
      this.#ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a `ping`; resolves true on its `pong`, false if the link died first. */
  ping(): Promise<boolean> {
    const clientId = `ping-${++this.#pings}`;
    if (!this.send({ type: "ping", client_id: clientId })) return Promise.resolve(false);
    if (!this.#pongDeadline.pending) this.#pongDeadline.schedule(this.#o.pongTimeoutMs);
    return new Promise((resolve) => this.#pongWaiters.set(clientId, resolve));
  }

  /** Closes the current socket and reconnects (after the backoff delay). */
  drop(reason: string): void {
    const ws = this.#ws;
    if (!ws) return;
    this.#down(ws, { code: undefined, reason });
    try {
      ws.close(4000, reason.slice(0, 100));
    } catch {
      // Already closing.
    }
  }

  /** Closes for good: no reconnect. */
  close(): void {
    this.#closedForGood = true;
    this.#retry.cancel();
    const ws = this.#ws;
    if (ws) {
      this.#down(ws, { code: 1000, reason: "closed" });
      try {
        ws.close(1000, "closed");
      } catch {
        // Already closing.
      }
    }
  }

  async #attempt(): Promise<void> {
    if (this.#closedForGood) return;
    let url: string;
    try {
      url = await this.#o.url();
    } catch (e) {
      this.#scheduleRetry();
      this.#o.onDown({ wasOpen: false, code: undefined, reason: `no token: ${(e as Error)?.message ?? e}` });
      return;
    }
    if (this.#closedForGood) return;
    let ws: WebSocketLike;
    try {
      ws = new this.#o.WebSocket(url);
    } catch (e) {
      this.#scheduleRetry();
      this.#o.onDown({ wasOpen: false, code: undefined, reason: String((e as Error)?.message ?? e) });
      return;
    }
    this.#ws = ws;
    this.#opened = false;
    this.#connectDeadline.schedule(this.#o.connectTimeoutMs);
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#connectDeadline.cancel();
      this.#opened = true;
      this.#keepAlive.start(this.#o.pingIntervalMs);
      this.#o.onOpen();
    };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      const text = typeof event.data === "string" ? event.data : String(event.data);
      let parsed: ServerEvent;
      try {
        parsed = JSON.parse(text) as ServerEvent;
      } catch {
        return;
      }
      if (parsed.type === "pong") this.#pong(parsed.client_id ?? undefined);
      this.#o.onEvent(parsed);
    };
    ws.onerror = () => {
      // A close follows; its handler does the work.
    };
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#down(ws, { code: event?.code, reason: event?.reason ?? "" });
    };
  }

  #pong(clientId: string | undefined): void {
    this.#pongDeadline.cancel();
    if (clientId === undefined) return;
    const waiter = this.#pongWaiters.get(clientId);
    this.#pongWaiters.delete(clientId);
    waiter?.(true);
  }

  #down(ws: WebSocketLike, info: { code: number | undefined; reason: string }): void {
    if (this.#ws !== ws) return;
    const wasOpen = this.#opened;
    this.#ws = undefined;
    this.#opened = false;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    this.#keepAlive.stop();
    this.#pongDeadline.cancel();
    this.#connectDeadline.cancel();
    for (const waiter of this.#pongWaiters.values()) waiter(false);
    this.#pongWaiters.clear();
    if (!this.#closedForGood) this.#scheduleRetry();
    this.#o.onDown({ wasOpen, ...info });
  }

  #scheduleRetry(): void {
    if (this.#closedForGood) return;
    const delay = this.#o.backoff.next();
    this.#o.onRetry?.(delay);
    this.#retry.schedule(delay);
  }
}
