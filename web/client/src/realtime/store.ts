//! The messages a session holds, one copy per id, in id (= time) order; edits and deletes
//! update that copy, a second delivery of an id is dropped.
import type { Message } from "../types.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The creation time (ms) a ULID carries in its first 10 characters. */
export function ulidTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10).toUpperCase()) {
    const v = CROCKFORD.indexOf(ch);
    if (v < 0) return Number.NaN;
    t = t * 32 + v;
  }
  return t;
}

export type Applied = "added" | "updated" | "duplicate";

class Room {
  readonly byId = new Map<string, Message>();
  /** Ids in ascending order. */
  readonly ids: string[] = [];
  /** The cursor of the next older page, `null` once the start was reached, undefined if none was read. */
  olderCursor: string | null | undefined = undefined;

  insert(message: Message): void {
    this.byId.set(message.id, message);
    const ids = this.ids;
    if (ids.length === 0 || (ids[ids.length - 1] as string) < message.id) {
      ids.push(message.id);
      return;
    }
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((ids[mid] as string) < message.id) lo = mid + 1;
      else hi = mid;
    }
    ids.splice(lo, 0, message.id);
  }
}

function sameContent(a: Message, b: Message): boolean {
  return (
    a.message === b.message &&
    a.status === b.status &&
    a.edited_at === b.edited_at &&
    a.is_deleted === b.is_deleted &&
    a.deleted_at === b.deleted_at
  );
}

export class MessageStore {
  readonly #rooms = new Map<string, Room>();

  #room(communityId: string): Room {
    let room = this.#rooms.get(communityId);
    if (!room) this.#rooms.set(communityId, (room = new Room()));
    return room;
  }

  /** The community's messages, oldest first. */
  list(communityId: string): Message[] {
    const room = this.#rooms.get(communityId);
    return room ? room.ids.map((id) => room.byId.get(id) as Message) : [];
  }

  get(communityId: string, id: string): Message | undefined {
    return this.#rooms.get(communityId)?.byId.get(id);
  }

  has(communityId: string, id: string): boolean {
    return this.#rooms.get(communityId)?.byId.has(id) ?? false;
  }

  size(communityId: string): number {
    return this.#rooms.get(communityId)?.ids.length ?? 0;
  }

  /**
   * A live `chat_message`: added if new, otherwise a duplicate of at-least-once delivery
   * (the copy held, possibly newer, stays as it is).
   */
  addLive(message: Message): Applied {
    const room = this.#room(message.community_id);
    if (room.byId.has(message.id)) return "duplicate";
    room.insert(strip(message));
    return "added";
  }

  /** A message read from the history: its current state replaces the copy held. */
  addFromHistory(message: Message): Applied {
    const room = this.#room(message.community_id);
    const held = room.byId.get(message.id);
    if (!held) {
      room.insert(strip(message));
      return "added";
    }
    if (sameContent(held, message)) return "duplicate";
    // A deletion or a read status seen live is not undone by an older read.
    room.byId.set(message.id, {
      ...strip(message),
      status: rank(held.status) > rank(message.status) ? held.status : message.status,
    });
    return "updated";
  }

  /** `message_edited`: updates the copy held (an unknown id is outside the window held). */
  edit(message: Message): Message | undefined {
    const room = this.#rooms.get(message.community_id);
    const held = room?.byId.get(message.id);
    if (!room || !held) return undefined;
    const next = { ...held, ...strip(message), status: held.status };
    room.byId.set(message.id, next);
    return next;
  }

  /** `message_deleted`: the copy keeps its place, without its text. */
  delete(communityId: string, id: string, deletedBy: string, deletedAt: string): Message | undefined {
    const room = this.#rooms.get(communityId);
    const held = room?.byId.get(id);
    if (!room || !held) return undefined;
    if (held.is_deleted) return undefined;
    const next: Message = { ...held, is_deleted: true, message: "", deleted_by: deletedBy, deleted_at: deletedAt };
    room.byId.set(id, next);
    return next;
  }

  /** A read receipt for `id`: the sender's messages up to it become `read`. Answers those changed. */
  markRead(communityId: string, id: string, senderId: string | undefined): Message[] {
    const room = this.#rooms.get(communityId);
    if (!room) return [];
    const changed: Message[] = [];
    for (const mid of room.ids) {
      if (mid > id) break;
      const m = room.byId.get(mid) as Message;
      if (m.status === "read" || (senderId !== undefined && m.sender_id !== senderId)) continue;
      const next: Message = { ...m, status: "read" };
      room.byId.set(mid, next);
      changed.push(next);
    }
    return changed;
  }

  /**
   * Where to resume after a reconnect: not the newest id held but the newest one at least
   * `marginMs` older than it (an id is assigned just before its write, so a message can land a
   * little after a newer one); the oldest held if none is that old; undefined for none held.
   */
  resumeId(communityId: string, marginMs = 5_000): string | undefined {
    const ids = this.#rooms.get(communityId)?.ids;
    if (!ids || ids.length === 0) return undefined;
    const newest = ulidTime(ids[ids.length - 1] as string);
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i] as string;
      if (ulidTime(id) <= newest - marginMs) return id;
    }
    return ids[0];
  }

  olderCursor(communityId: string): string | null | undefined {
    return this.#rooms.get(communityId)?.olderCursor;
  }

  setOlderCursor(communityId: string, cursor: string | null): void {
    this.#room(communityId).olderCursor = cursor;
  }
}

function rank(status: Message["status"]): number {
  return status === "read" ? 2 : status === "delivered" ? 1 : 0;
}

/** A stored copy without the event envelope's fields. */
function strip(message: Message): Message {
  const { type: _type, timestamp: _timestamp, ...rest } = message as Message & { type?: unknown; timestamp?: unknown };
  return rest as Message;
}
