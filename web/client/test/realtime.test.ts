import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ForbiddenError,
  RateLimitedError,
  UnauthorizedError,
  ValidationError,
  type ApiError,
  type ConnectionState,
  type Message,
  type RealtimeSession,
  type ServerEvent,
} from "../src/index.js";
import { cut, eventually, newCourse, rawSocket, session, setFaults, stack, type Course, type User } from "./helpers/stack.js";

/** What a session saw: its states, the store's changes, every raw event, every error. */
function watch(s: RealtimeSession) {
  const seen = {
    states: [] as ConnectionState[],
    added: [] as Array<{ message: Message; source: string }>,
    events: [] as ServerEvent[],
    errors: [] as Error[],
  };
  s.state.subscribe((state) => seen.states.push(state));
  s.on("message", ({ message, change, source }) => {
    if (change === "added") seen.added.push({ message, source });
  });
  s.on("event", (e) => seen.events.push(e));
  s.on("error", (e) => seen.errors.push(e));
  return seen;
}

function addedCount(seen: ReturnType<typeof watch>, id: string): number {
  return seen.added.filter((a) => a.message.id === id).length;
}

async function openSession(user: User, communityId: string, options = {}) {
  const s = session(user, options);
  const seen = watch(s);
  s.connect();
  await s.subscribe(communityId);
  await s.whenOpen();
  return { s, seen };
}

function two(course: Course): [User, User] {
  return course.students as [User, User];
}

/** Lets a token provider hold every call until opened (so a cut connection stays down). */
function gate() {
  let release: () => void = () => {};
  let blocked: Promise<void> | undefined;
  return {
    close() {
      blocked = new Promise((r) => (release = r));
    },
    open() {
      blocked = undefined;
      release();
    },
    token(user: User) {
      return async () => {
        await blocked;
        return user.token;
      };
    },
  };
}

describe("reconnect and catch-up", () => {
  test("a message sent while the socket is down is delivered exactly once after the reconnect", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS, seen: samSeen } = await openSession(sam, course.communityId);
    const { s: alexS, seen: alexSeen } = await openSession(alex, course.communityId);
    const statesBefore = samSeen.states.length;

    assert.equal(await cut(sam.id), 1);
    await eventually("sam's session to notice the cut", () => samS.state.value === "reconnecting");
    const handle = samS.send(course.communityId, "sent while down");
    assert.equal(handle.status, "queued");

    const stored = await handle.acknowledged;
    assert.equal(stored.message, "sent while down");
    assert.equal(stored.client_id, handle.clientId);
    assert.equal(handle.status, "acknowledged");
    await samS.whenOpen();
    await eventually("alex to receive it", () => alexS.messages(course.communityId).some((m) => m.id === stored.id));

    assert.deepEqual(samSeen.states.slice(statesBefore), ["reconnecting", "catching_up", "open"]);
    assert.equal(addedCount(samSeen, stored.id), 1, "acknowledged once, one copy for the sender");
    assert.equal(addedCount(alexSeen, stored.id), 1, "one copy for the other session");
    assert.equal(samS.messages(course.communityId).filter((m) => m.message === "sent while down").length, 1);
    assert.equal(alexS.messages(course.communityId).filter((m) => m.message === "sent while down").length, 1);
    assert.deepEqual(samS.pending(), []);
    const history = await alex.api.messages.list(course.communityId).all();
    assert.equal(history.filter((m) => m.message === "sent while down").length, 1, "stored once");
  });

  test("messages sent by someone else while this session was down are filled from the history", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const g = gate();
    const { s: samS, seen: samSeen } = await openSession(sam, course.communityId, { token: g.token(sam) });
    const before = await alex.api.messages.send(course.communityId, { message: "before the cut" });
    await eventually("sam to hold the first message", () => samS.messages(course.communityId).some((m) => m.id === before.id));

    g.close();
    await cut(sam.id);
    await eventually("sam's session to notice the cut", () => samS.state.value === "reconnecting");
    const gap = [];
    for (let i = 0; i < 3; i++) gap.push(await alex.api.messages.send(course.communityId, { message: `in the gap ${i}` }));
    assert.ok(!samS.messages(course.communityId).some((m) => m.message.startsWith("in the gap")), "not received while down");

    g.open();
    await eventually("sam to be caught up", () => samS.state.value === "open" && samS.messages(course.communityId).length === 4);
    assert.deepEqual(
      samS.messages(course.communityId).map((m) => m.message),
      ["before the cut", "in the gap 0", "in the gap 1", "in the gap 2"],
    );
    for (const m of gap) {
      assert.equal(addedCount(samSeen, m.id), 1);
      assert.equal(samSeen.added.find((a) => a.message.id === m.id)?.source, "history");
    }
  });

  test("a catch-up longer than one page follows next", async () => {
    const course = await newCourse(3);
    const [sam, alex, kim] = course.students as [User, User, User];
    const g = gate();
    const { s: samS } = await openSession(sam, course.communityId, { token: g.token(sam), catchUpPageSize: 2 });
    await alex.api.messages.send(course.communityId, { message: "seed" });
    await eventually("the seed message", () => samS.messages(course.communityId).length === 1);
    g.close();
    await cut(sam.id);
    await eventually("the cut", () => samS.state.value === "reconnecting");
    for (let i = 0; i < 7; i++) await (i % 2 ? alex : kim).api.messages.send(course.communityId, { message: `gap ${i}` });
    g.open();
    await eventually("all 8", () => samS.state.value === "open" && samS.messages(course.communityId).length === 8);
    assert.deepEqual(
      samS.messages(course.communityId).slice(1).map((m) => m.message),
      [0, 1, 2, 3, 4, 5, 6].map((i) => `gap ${i}`),
    );
  });
});

describe("at-least-once delivery, one copy per id", () => {
  test("a resend with the same client_id comes back as a duplicate and is dropped", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    // Every push is slowed so the acknowledgement takes longer than the resend timeout.
    const { s: samS, seen: samSeen } = await openSession(sam, course.communityId, { ackTimeoutMs: 150 });
    const { s: alexS, seen: alexSeen } = await openSession(alex, course.communityId);
    await setFaults({ latency_ms: 400 });
    try {
      const handle = samS.send(course.communityId, "resent");
      const stored = await handle.acknowledged;
      await eventually("the resend's copy to come back", () =>
        samSeen.events.filter((e) => e.type === "chat_message" && e.id === stored.id).length >= 2,
      );
      await eventually("alex to receive it", () => addedCount(alexSeen, stored.id) === 1);
      assert.equal(addedCount(samSeen, stored.id), 1);
      assert.equal(samS.messages(course.communityId).length, 1);
      assert.equal(alexS.messages(course.communityId).length, 1);
    } finally {
      await setFaults({});
    }
    const history = await alex.api.messages.list(course.communityId).all();
    assert.equal(history.length, 1, "stored once");
  });

  test("a message replayed live after it came through the history is dropped", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS, seen: samSeen } = await openSession(sam, course.communityId);
    // Every push fails: the message is stored, reaches no one, and the unreachable connections are closed.
    await setFaults({ fail_rate: 1, fail_status: 500 });
    let first: Message;
    try {
      first = await alex.api.messages.send(course.communityId, { message: "replayed", client_id: "replay-1" });
      await eventually("sam's connection to be closed", () => samSeen.states.includes("reconnecting"));
    } finally {
      await setFaults({});
    }
    await eventually("the catch-up to bring it", () => samS.state.value === "open" && samS.messages(course.communityId).some((m) => m.id === first.id));
    assert.equal(samSeen.added.find((a) => a.message.id === first.id)?.source, "history");

    // The retry of a send whose first delivery reached no other user is delivered again.
    const again = await alex.api.messages.send(course.communityId, { message: "replayed", client_id: "replay-1" });
    assert.equal(again.id, first.id);
    await eventually("the replayed event", () => samSeen.events.some((e) => e.type === "chat_message" && e.id === first.id));
    assert.equal(addedCount(samSeen, first.id), 1);
    assert.equal(samS.messages(course.communityId).filter((m) => m.id === first.id).length, 1);
  });

  test("edits and deletes update the one copy", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS } = await openSession(sam, course.communityId);
    const { s: alexS } = await openSession(alex, course.communityId);
    const m = await samS.send(course.communityId, "first draft").acknowledged;
    await eventually("alex holds it", () => alexS.messages(course.communityId).length === 1);
    await samS.edit(m.id, "second draft");
    await eventually("alex sees the edit", () => alexS.messages(course.communityId)[0]?.message === "second draft");
    assert.ok(alexS.messages(course.communityId)[0]?.edited_at);
    await samS.delete(m.id);
    await eventually("alex sees the delete", () => alexS.messages(course.communityId)[0]?.is_deleted);
    assert.equal(alexS.messages(course.communityId)[0]?.message, "");
    assert.equal(alexS.messages(course.communityId).length, 1);
  });
});

describe("refusals", () => {
  test("a send the server refuses rejects its handle and is not retried", async () => {
    const course = await newCourse(1);
    const [sam] = course.students as [User];
    const { s, seen } = await openSession(sam, course.communityId, { ackTimeoutMs: 100 });
    const handle = s.send(course.communityId, "x".repeat(4001));
    const e = await handle.acknowledged.catch((e: unknown) => e);
    assert.ok(e instanceof ValidationError, `ValidationError, got ${e}`);
    assert.equal(e.source, "websocket");
    assert.equal(e.clientId, handle.clientId);
    assert.ok(e.fieldError("message"));
    assert.equal(handle.status, "failed");
    // Well past several resend timeouts: still one refusal, and the text is kept for the user.
    await s.ping();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(seen.errors.filter((x) => (x as ApiError).clientId === handle.clientId).length, 1);
    assert.deepEqual(s.pending().map((p) => [p.clientId, p.status]), [[handle.clientId, "failed"]]);
    const retried = s.retry(handle.clientId);
    assert.ok(retried);
    assert.notEqual(retried.clientId, handle.clientId);
    s.discard(retried.clientId);
  });

  test("over the chat rate limit, messages wait out retry_after and each arrives once", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS, seen: samSeen } = await openSession(sam, course.communityId);
    const { s: alexS } = await openSession(alex, course.communityId);
    // More than two windows' worth (20 per 10 s, fixed windows): a window boundary in the middle
    // of the burst cannot hide the limit.
    const burst = 41;
    const handles = Array.from({ length: burst }, (_, i) => samS.send(course.communityId, `burst ${i}`));
    const stored = await Promise.all(handles.map((h) => h.acknowledged));
    assert.ok(samSeen.errors.some((e) => e instanceof RateLimitedError && e.retryAfter !== undefined), "some were rate limited");
    assert.equal(new Set(stored.map((m) => m.id)).size, burst);
    await eventually("alex to hold them all", () => alexS.messages(course.communityId).length === burst, 30_000);
    assert.deepEqual(
      [...alexS.messages(course.communityId).map((m) => m.message)].sort(),
      handles.map((h) => h.message).sort(),
    );
    assert.equal((await alex.api.messages.list(course.communityId, { limit: 100 }).all()).length, burst, "stored once each");
  });

  test("subscribing to a community the user may no longer read rejects with ForbiddenError", async () => {
    const erin = { id: "demo-expired", name: "Erin", token: stack.token("EXPIRED_TOKEN") } as User;
    const s = session(erin);
    s.connect();
    const e = await s.subscribe(stack.demoCommunity).catch((e: unknown) => e);
    assert.ok(e instanceof ForbiddenError, `ForbiddenError, got ${e}`);
    assert.deepEqual(s.subscriptions(), []);
    await s.whenOpen();
  });

  test("a token the API refuses closes the session with UnauthorizedError", async () => {
    const s = session({ id: "x", name: "x", token: "bad" } as User);
    const errors: Error[] = [];
    s.on("error", (e) => errors.push(e));
    s.connect();
    await eventually("the session to close", () => s.state.value === "closed");
    assert.ok(errors.some((e) => e instanceof UnauthorizedError));
  });

  test("close() is for good: no reconnect", async () => {
    const course = await newCourse(1);
    const [sam] = course.students as [User];
    const { s } = await openSession(sam, course.communityId);
    s.close();
    assert.equal(s.state.value, "closed");
    await eventually("the server to drop the connection", async () => (await cutCount(sam.id)) === 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await cutCount(sam.id), 0, "no new connection");
  });
});

async function cutCount(userId: string): Promise<number> {
  const { connectionIds } = await import("./helpers/stack.js");
  return (await connectionIds(userId)).length;
}

describe("typing, presence, receipts, notifications", () => {
  test("typing shows, is repeated while typing, clears on stop, and expires 3 s after the last one", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS } = await openSession(sam, course.communityId);
    const { s: alexS } = await openSession(alex, course.communityId);

    alexS.setTyping(course.communityId, true);
    await eventually("alex typing", () => samS.typing(course.communityId).some((u) => u.user_id === alex.id));
    // Longer than the expiry: alex's repeats keep it shown.
    await new Promise((r) => setTimeout(r, 4_000));
    assert.deepEqual(samS.typing(course.communityId).map((u) => u.user_id), [alex.id]);
    alexS.setTyping(course.communityId, false);
    await eventually("alex stopped", () => samS.typing(course.communityId).length === 0, 1_000);

    // A client that vanished mid-word sends one `true` and nothing after: it expires.
    const raw = await rawSocket(alex);
    raw.send({ type: "subscribe", community_id: course.communityId, client_id: "s" });
    await eventually("raw subscribed", () => raw.events.some((e) => e.type === "subscribed"));
    raw.send({ type: "typing", community_id: course.communityId, is_typing: true });
    await eventually("shown", () => samS.typing(course.communityId).length === 1);
    const shownAt = Date.now();
    await eventually("expired", () => samS.typing(course.communityId).length === 0, 5_000);
    const shownFor = Date.now() - shownAt;
    assert.ok(shownFor > 2_500, `shown ${shownFor} ms, expiry is 3 s`);

    // A message from the typist clears it at once.
    alexS.setTyping(course.communityId, true);
    await eventually("typing again", () => samS.typing(course.communityId).length === 1);
    raw.send({ type: "typing", community_id: course.communityId, is_typing: true });
    await alexS.send(course.communityId, "done typing").acknowledged;
    await eventually("cleared by the message", () => samS.typing(course.communityId).length === 0, 1_000);
  });

  test("presence: the online list on subscribe, then joins and leaves", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS } = await openSession(sam, course.communityId);
    assert.deepEqual(samS.online(course.communityId).map((u) => u.user_id), [sam.id]);
    const { s: alexS } = await openSession(alex, course.communityId);
    assert.deepEqual(alexS.online(course.communityId).map((u) => u.user_id).sort(), [alex.id, sam.id].sort());
    await eventually("sam sees alex join", () => samS.online(course.communityId).some((u) => u.user_id === alex.id));
    alexS.close();
    await eventually("sam sees alex leave", () => !samS.online(course.communityId).some((u) => u.user_id === alex.id));
  });

  test("read receipts mark the sender's messages read", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: samS } = await openSession(sam, course.communityId);
    const { s: alexS } = await openSession(alex, course.communityId);
    const a = await samS.send(course.communityId, "one").acknowledged;
    const b = await samS.send(course.communityId, "two").acknowledged;
    await eventually("alex holds both", () => alexS.messages(course.communityId).length === 2);
    const receipts: string[] = [];
    samS.on("read_receipt", (r) => receipts.push(`${r.user_id}:${r.message_id}`));
    const marked = await alexS.markRead(b.id);
    assert.equal(marked.unread_count, 0);
    await eventually("sam's receipt", () => receipts.length === 1);
    assert.deepEqual(receipts, [`${alex.id}:${b.id}`]);
    assert.deepEqual(samS.messages(course.communityId).map((m) => [m.id, m.status]), [
      [a.id, "read"],
      [b.id, "read"],
    ]);
  });

  test("notifications arrive live with the unread count", async () => {
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const { s: alexS } = await openSession(alex, course.communityId);
    assert.equal(alexS.unreadNotifications.value, 0);
    const username = (await alex.api.communities.members(course.communityId).all()).find((m) => m.user_id === alex.id)?.username;
    const notified: string[] = [];
    alexS.on("notification", (n) => notified.push(n.notification.notification_type));
    await sam.api.posts.create(course.communityId, { title: "Hey", content: `@${username} look` });
    await eventually("the live count", () => alexS.unreadNotifications.value === 1);
    assert.deepEqual(notified, ["new_mention"]);
    await alexS.markAllNotificationsRead();
    assert.equal(alexS.unreadNotifications.value, 0);
  });

  test("history: the newest page on subscribe, older pages on demand", async () => {
    const course = await newCourse(1);
    const [sam] = course.students as [User];
    for (let i = 0; i < 5; i++) await sam.api.messages.send(course.communityId, { message: `old ${i}` });
    const { s } = await openSession(sam, course.communityId, { historyLimit: 2 });
    assert.deepEqual(s.messages(course.communityId).map((m) => m.message), ["old 3", "old 4"]);
    assert.equal(await s.loadOlder(course.communityId), 2);
    assert.equal(await s.loadOlder(course.communityId), 1);
    assert.equal(s.hasOlder(course.communityId), false);
    assert.deepEqual(s.messages(course.communityId).map((m) => m.message), [0, 1, 2, 3, 4].map((i) => `old ${i}`));
  });
});

describe("keep-alive and storage", () => {
  test("pings keep the link alive; a link whose pong does not come back is replaced", async () => {
    const course = await newCourse(1);
    const [sam] = course.students as [User];
    const { s, seen } = await openSession(sam, course.communityId, { pingIntervalMs: 150, pongTimeoutMs: 250 });
    await eventually("three pongs", () => seen.events.filter((e) => e.type === "pong").length >= 3);
    assert.equal(s.state.value, "open");
    const before = seen.states.length;
    // Every push now takes longer than the pong timeout: the session gives the link up and reconnects.
    await setFaults({ latency_ms: 600 });
    try {
      await eventually("the dead link to be noticed", () => seen.states.slice(before).includes("reconnecting"));
    } finally {
      await setFaults({});
    }
    await eventually("open again", () => s.state.value === "open");
  });

  test("with pluggable storage, a message typed in one session is delivered by the next", async () => {
    const { memoryStorage } = await import("../src/index.js");
    const course = await newCourse(2);
    const [sam, alex] = two(course);
    const storage = memoryStorage();
    const g = gate();
    g.close();
    const first = session(sam, { token: g.token(sam), outboxStorage: storage });
    first.connect();
    const handle = first.send(course.communityId, "typed offline");
    first.close();
    assert.equal(((await handle.acknowledged.catch((e: Error) => e)) as Error).name, "SessionClosedError");
    assert.deepEqual(storage.load().map((e) => e.message), ["typed offline"]);
    g.open();

    const { s: alexS } = await openSession(alex, course.communityId);
    const second = session(sam, { outboxStorage: storage });
    assert.deepEqual(second.pending().map((p) => p.clientId), [handle.clientId]);
    const acked = new Promise<Message>((resolve) => second.on("message", ({ message }) => message.client_id === handle.clientId && resolve(message)));
    second.connect();
    await second.subscribe(course.communityId);
    const stored = await acked;
    await eventually("the outbox to empty", () => second.pending().length === 0 && storage.load().length === 0);
    await eventually("alex to receive it", () => alexS.messages(course.communityId).some((m) => m.id === stored.id));
    assert.equal((await alex.api.messages.list(course.communityId).all()).length, 1);
  });
});
