//! Typing indicators: others' expire 3 s after their last `is_typing: true`; ours repeats every
//! 2 s while the user types and sends `false` when they stop or send.
import { type Clock, Repeat, Timeout } from "./timers.js";

export interface TypingUser {
  user_id: string;
  name: string;
}

/** Others typing, per community, each with its expiry. */
export class TypingIndicators {
  readonly #rooms = new Map<string, Map<string, { name: string; expiry: Timeout }>>();

  constructor(
    private readonly clock: Clock,
    private readonly expiryMs: number,
    private readonly onChange: (communityId: string) => void,
  ) {}

  /** A `typing` event. */
  apply(communityId: string, userId: string, name: string, isTyping: boolean): void {
    if (!isTyping) return this.clear(communityId, userId);
    let room = this.#rooms.get(communityId);
    if (!room) this.#rooms.set(communityId, (room = new Map()));
    const held = room.get(userId);
    if (held) {
      held.expiry.schedule(this.expiryMs);
      return;
    }
    const expiry = new Timeout(this.clock, () => this.clear(communityId, userId));
    expiry.schedule(this.expiryMs);
    room.set(userId, { name, expiry });
    this.onChange(communityId);
  }

  /** `is_typing: false`, a message from them, or the expiry. */
  clear(communityId: string, userId: string): void {
    const room = this.#rooms.get(communityId);
    const held = room?.get(userId);
    if (!room || !held) return;
    held.expiry.cancel();
    room.delete(userId);
    this.onChange(communityId);
  }

  clearAll(): void {
    for (const [communityId, room] of this.#rooms) {
      if (room.size === 0) continue;
      for (const held of room.values()) held.expiry.cancel();
      room.clear();
      this.onChange(communityId);
    }
  }

  list(communityId: string): TypingUser[] {
    return [...(this.#rooms.get(communityId)?.entries() ?? [])].map(([user_id, { name }]) => ({ user_id, name }));
  }
}

/** Our own typing, per community: `true` now and every `repeatMs` until stopped. */
export class OwnTyping {
  readonly #repeats = new Map<string, Repeat>();

  constructor(
    private readonly clock: Clock,
    private readonly repeatMs: number,
    private readonly send: (communityId: string, isTyping: boolean) => void,
  ) {}

  isTyping(communityId: string): boolean {
    return this.#repeats.get(communityId)?.running ?? false;
  }

  set(communityId: string, isTyping: boolean): void {
    const running = this.#repeats.get(communityId);
    if (isTyping) {
      if (running?.running) return;
      const repeat = running ?? new Repeat(this.clock, () => this.send(communityId, true));
      this.#repeats.set(communityId, repeat);
      this.send(communityId, true);
      repeat.start(this.repeatMs);
    } else if (running?.running) {
      running.stop();
      this.send(communityId, false);
    }
  }

  stopAll(): void {
    for (const repeat of this.#repeats.values()) repeat.stop();
  }
}
