import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageStore, ulidTime, type Message } from "../src/index.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
function ulid(ms: number, tail = "0000000000000000"): string {
  let t = "";
  for (let i = 0; i < 10; i++) {
    t = (CROCKFORD[ms % 32] as string) + t;
    ms = Math.floor(ms / 32);
  }
  return t + tail;
}

function message(id: string, text = "hi", extra: Partial<Message> = {}): Message {
  return {
    id,
    community_id: "C",
    sender_id: "u1",
    sender_name: "U",
    sender_username: "u",
    message: text,
    message_type: "text",
    reply_to: null,
    client_id: null,
    status: "sent",
    created_at: "2026-01-01T00:00:00.000Z",
    edited_at: null,
    is_deleted: false,
    deleted_at: null,
    deleted_by: null,
    ...extra,
  };
}

test("a ULID's time is read from its first ten characters", () => {
  assert.equal(ulidTime(ulid(1_796_000_000_123)), 1_796_000_000_123);
});

test("one copy per id: a replayed live event is a duplicate, messages stay in id order", () => {
  const store = new MessageStore();
  const t = 1_796_000_000_000;
  assert.equal(store.addLive(message(ulid(t + 2))), "added");
  assert.equal(store.addLive(message(ulid(t))), "added");
  assert.equal(store.addLive(message(ulid(t + 1))), "added");
  assert.equal(store.addLive(message(ulid(t + 1), "replayed")), "duplicate");
  assert.deepEqual(
    store.list("C").map((m) => m.id),
    [ulid(t), ulid(t + 1), ulid(t + 2)],
  );
  assert.equal(store.get("C", ulid(t + 1))?.message, "hi");
});

test("the history's copy replaces an older one; a delete keeps the place without the text", () => {
  const store = new MessageStore();
  const id = ulid(1_796_000_000_000);
  store.addLive(message(id));
  assert.equal(store.addFromHistory(message(id)), "duplicate");
  assert.equal(store.addFromHistory(message(id, "edited", { edited_at: "2026-01-01T00:01:00.000Z", status: "delivered" })), "updated");
  assert.equal(store.get("C", id)?.message, "edited");
  const deleted = store.delete("C", id, "mod", "2026-01-01T00:02:00.000Z");
  assert.equal(deleted?.is_deleted, true);
  assert.equal(deleted?.message, "");
  assert.equal(store.delete("C", id, "mod", "2026-01-01T00:02:00.000Z"), undefined, "deleting twice changes nothing");
  assert.equal(store.size("C"), 1);
});

test("a read receipt marks the sender's messages up to it read", () => {
  const store = new MessageStore();
  const t = 1_796_000_000_000;
  store.addLive(message(ulid(t)));
  store.addLive(message(ulid(t + 1), "theirs", { sender_id: "u2" }));
  store.addLive(message(ulid(t + 2)));
  store.addLive(message(ulid(t + 3)));
  const changed = store.markRead("C", ulid(t + 2), "u1");
  assert.deepEqual(
    changed.map((m) => m.id),
    [ulid(t), ulid(t + 2)],
  );
  assert.deepEqual(
    store.list("C").map((m) => m.status),
    ["read", "sent", "read", "sent"],
  );
});

test("catch-up resumes from the newest message at least 5 s older than the newest held", () => {
  const store = new MessageStore();
  assert.equal(store.resumeId("C"), undefined);
  const t = 1_796_000_000_000;
  store.addLive(message(ulid(t)));
  store.addLive(message(ulid(t + 1_000)));
  assert.equal(store.resumeId("C"), ulid(t), "none is 5 s older: the oldest held");
  store.addLive(message(ulid(t + 9_000)));
  store.addLive(message(ulid(t + 12_000)));
  store.addLive(message(ulid(t + 14_000)));
  assert.equal(store.resumeId("C"), ulid(t + 9_000));
});

test("a presence frame applies its joins then its leaves and says whether the list changed", async () => {
  const { Presence } = await import("../src/realtime/presence.js");
  const p = new Presence();
  p.reset("C", [{ user_id: "ann", name: "Ann", connections: 1 }]);
  assert.equal(p.apply("C", [{ user_id: "ann", name: "Ann" }], []), false, "ann was online already");
  assert.equal(
    p.apply("C", [{ user_id: "bob", name: "Bob" }, { user_id: "cy", name: "Cy" }], ["ann", "dan"]),
    true,
  );
  assert.deepEqual(p.list("C").map((u) => u.user_id).sort(), ["bob", "cy"]);
  assert.equal(p.apply("C", [], ["nobody"]), false);
});
