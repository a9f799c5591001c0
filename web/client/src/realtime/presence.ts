//! Who is online in each community: the REST list after every (re)connect, then the
//! `presence` frames (each the net change of a batch: who came online, who went).
import type { OnlineUser } from "../types.js";

export class Presence {
  readonly #rooms = new Map<string, Map<string, OnlineUser>>();

  /** Replaces a community's list with a fresh read of it. */
  reset(communityId: string, users: OnlineUser[]): void {
    this.#rooms.set(communityId, new Map(users.map((u) => [u.user_id, u])));
  }

  /** A user's first connection entered; answers whether the list changed. */
  join(communityId: string, userId: string, name: string): boolean {
    const room = this.#room(communityId);
    if (room.has(userId)) return false;
    room.set(userId, { user_id: userId, name, connections: 1 });
    return true;
  }

  /** One `presence` frame: its joins, then its leaves; answers whether the list changed. */
  apply(communityId: string, joined: Array<{ user_id: string; name: string }>, left: string[]): boolean {
    let changed = false;
    for (const u of joined) changed = this.join(communityId, u.user_id, u.name) || changed;
    for (const id of left) changed = this.leave(communityId, id) || changed;
    return changed;
  }

  /** A user's last connection left. */
  leave(communityId: string, userId: string): boolean {
    return this.#rooms.get(communityId)?.delete(userId) ?? false;
  }

  list(communityId: string): OnlineUser[] {
    return [...(this.#rooms.get(communityId)?.values() ?? [])];
  }

  forget(communityId: string): void {
    this.#rooms.delete(communityId);
  }

  #room(communityId: string): Map<string, OnlineUser> {
    let room = this.#rooms.get(communityId);
    if (!room) this.#rooms.set(communityId, (room = new Map()));
    return room;
  }
}
