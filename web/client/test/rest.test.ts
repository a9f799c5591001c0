import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  ApiError,
  CommunityClient,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
  ConflictError,
  RateLimitedError,
  type Post,
} from "../src/index.js";
import { api, eventually, newCourse, stack, type Course } from "./helpers/stack.js";

describe("problem+json answers are typed exceptions", () => {
  test("403 for the student whose enrollment expired", async () => {
    const erin = api(stack.token("EXPIRED_TOKEN"));
    const e = await erin.messages.list(stack.demoCommunity).page().catch((e: unknown) => e);
    assert.ok(e instanceof ForbiddenError, `ForbiddenError, got ${e}`);
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 403);
    assert.equal(e.code, "forbidden");
    assert.equal(e.source, "http");
    assert.ok(e.detail.length > 0);
  });

  test("422 with the bad fields named", async () => {
    const sam = api(stack.token("STUDENT_TOKEN"));
    const e = await sam.posts.create(stack.demoCommunity, { title: "   ", content: "" }).catch((e: unknown) => e);
    assert.ok(e instanceof ValidationError, `ValidationError, got ${e}`);
    assert.equal(e.status, 422);
    assert.equal(e.code, "validation_failed");
    assert.ok(e.fieldError("title"), `title named in ${JSON.stringify(e.errors)}`);
    assert.ok(e.fieldError("content"), `content named in ${JSON.stringify(e.errors)}`);
  });

  test("404 for an unknown post, 401 for a bad token", async () => {
    const sam = api(stack.token("STUDENT_TOKEN"));
    const missing = await sam.posts.get("01JF6R000000000000000P0ST1").catch((e: unknown) => e);
    assert.ok(missing instanceof NotFoundError, `NotFoundError, got ${missing}`);
    assert.equal(missing.code, "not_found");
    const nobody = new CommunityClient({ baseUrl: stack.httpUrl, token: () => "not-a-token" });
    const refused = await nobody.notifications.unreadCount().catch((e: unknown) => e);
    assert.ok(refused instanceof UnauthorizedError, `UnauthorizedError, got ${refused}`);
    assert.equal(refused.status, 401);
  });

  test("409 for a reply to a post that awaits approval", async () => {
    const course = await newCourse(1);
    const [student] = course.students as [Course["students"][0]];
    await course.instructor.api.communities.update(course.communityId, { require_post_approval: true });
    const post = await student.api.posts.create(course.communityId, { title: "Held", content: "for approval" });
    assert.equal(post.status, "pending");
    const e = await course.instructor.api.posts.reply(course.communityId, post.id, "too early").catch((e: unknown) => e);
    assert.ok(e instanceof ConflictError, `ConflictError, got ${e}`);
  });

  test("429 carries retry_after", async () => {
    const course = await newCourse(1);
    const [student] = course.students as [Course["students"][0]];
    let limited: RateLimitedError | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      await student.api.posts
        .create(course.communityId, { title: `Post ${i}`, content: "burst" })
        .catch((e: unknown) => {
          if (e instanceof RateLimitedError) limited = e;
          else throw e;
        });
    }
    assert.ok(limited, "the 11th post in a minute is refused");
    assert.equal(limited.status, 429);
    assert.ok(typeof limited.retryAfter === "number" && limited.retryAfter > 0, `retryAfter ${limited.retryAfter}`);
  });

  test("no answer at all is a NetworkError", async () => {
    const offline = new CommunityClient({ baseUrl: "http://127.0.0.1:9", token: () => "t" });
    const e = await offline.notifications.unreadCount().catch((e: unknown) => e);
    assert.ok(e instanceof NetworkError, `NetworkError, got ${e}`);
    assert.ok(!(e instanceof ApiError));
  });
});

describe("lists", () => {
  let course: Course;
  const titles: string[] = [];
  before(async () => {
    course = await newCourse(1);
    // Instructors are not rate limited below 10 posts a minute: 7 posts, read 3 per page.
    for (let i = 0; i < 7; i++) {
      const p = await course.instructor.api.posts.create(course.communityId, { title: `Topic ${i}`, content: `Body ${i}` });
      titles.push(p.title as string);
    }
  });

  test("await answers one page with the cursor of the next", async () => {
    const page = await course.instructor.api.posts.list(course.communityId, { limit: 3 });
    assert.equal(page.results.length, 3);
    assert.equal(typeof page.next, "string");
    const second = await course.instructor.api.posts.list(course.communityId, { limit: 3, cursor: page.next as string });
    assert.equal(second.results.length, 3);
    assert.notEqual(second.results[0]?.id, page.results[0]?.id);
  });

  test("for await follows next across pages and yields each item once", async () => {
    const seen: Post[] = [];
    for await (const post of course.instructor.api.posts.list(course.communityId, { limit: 3 })) seen.push(post);
    assert.equal(seen.length, 7);
    assert.deepEqual(seen.map((p) => p.title), [...titles].reverse(), "newest first");
    const pages: number[] = [];
    for await (const page of course.instructor.api.posts.list(course.communityId, { limit: 3 }).pages()) pages.push(page.results.length);
    assert.deepEqual(pages, [3, 3, 1]);
  });

  test("chat history pages newest first; ?after= answers the newer ones oldest first", async () => {
    const [student] = course.students as [Course["students"][0]];
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await student.api.messages.send(course.communityId, { message: `m${i}` }));
    const all = await student.api.messages.list(course.communityId, { limit: 2 }).all();
    assert.deepEqual(all.map((m) => m.message), ["m4", "m3", "m2", "m1", "m0"]);
    const newer = await student.api.messages.list(course.communityId, { after: (sent[1] as { id: string }).id, limit: 2 }).all();
    assert.deepEqual(newer.map((m) => m.message), ["m2", "m3", "m4"]);
  });
});

describe("endpoint groups", () => {
  test("forum: reply, react, edit, pin, flag, resolve, notes, moderation queue", async () => {
    const course = await newCourse(2);
    const [sam, alex] = course.students as [Course["students"][0], Course["students"][0]];
    const teacher = course.instructor.api;
    const post = await sam.api.posts.create(course.communityId, { title: "Question", content: "How?" });
    const reply = await alex.api.posts.reply(course.communityId, post.id, "Like this.");
    assert.equal(reply.parent, post.id);
    await alex.api.posts.react(post.id, "helpful");
    const edited = await sam.api.posts.update(post.id, { content: "How, exactly?" });
    assert.ok(edited.edited_at);
    const edits = await sam.api.posts.edits(post.id).all();
    assert.equal(edits[0]?.content, "How?");
    assert.equal((await teacher.posts.pin(post.id)).is_pinned, true);
    await alex.api.posts.flag(post.id, "spoiler");
    const queue = await teacher.communities.moderationQueue(course.communityId).all();
    assert.deepEqual(queue.map((q) => [q.id, q.queue_reasons]), [[post.id, ["flagged"]]]);
    assert.equal((await teacher.posts.flags(post.id).all()).length, 1);
    const resolved = await teacher.posts.resolveFlags(post.id, "fine");
    assert.equal(resolved.moderation?.open_flag_count, 0);
    await teacher.posts.addNote(post.id, "watch this thread");
    assert.deepEqual((await teacher.posts.notes(post.id).all()).map((n) => n.note), ["fine", "watch this thread"]);
    const detail = await alex.api.posts.get(post.id);
    assert.equal(detail.reaction_counts.helpful, 1);
    assert.deepEqual(detail.my_reactions, ["helpful"]);
    assert.deepEqual(detail.replies.map((r) => r.id), [reply.id]);
    await alex.api.posts.unreact(post.id, "helpful");
    assert.equal((await alex.api.posts.get(post.id)).reaction_counts.helpful, 0);
  });

  test("communities and notifications: members, roles, watch, mentions, unread count, mark read", async () => {
    const course = await newCourse(2);
    const [sam, alex] = course.students as [Course["students"][0], Course["students"][0]];
    const teacher = course.instructor.api;
    const members = await teacher.communities.members(course.communityId).all();
    assert.equal(members.length, 3);
    assert.equal((await teacher.communities.setRole(course.communityId, alex.id, "moderator")).role, "moderator");
    assert.equal((await sam.api.communities.get(course.communityId)).my_role, "member");
    assert.equal((await sam.api.communities.watch(course.communityId)).watching, true);
    assert.equal((await sam.api.communities.mute(course.communityId)).watching, false);
    const mine = await sam.api.communities.mine().all();
    assert.ok(mine.some((c) => c.id === course.communityId));
    const prefs = await sam.api.notifications.setPreferences({ types: { new_post: { in_app: false, email: true } }, digest: "weekly" });
    assert.deepEqual(prefs.types.new_post, { in_app: false, email: true, push: false });
    assert.equal(prefs.digest, "weekly");
    // An unsubscribe token that was not issued is refused, and nothing changes.
    const refused = await sam.api.notifications.unsubscribe("not-a-token").catch((e: unknown) => e);
    assert.ok(refused instanceof ApiError && refused.status === 400, `400, got ${refused}`);
    assert.equal((await sam.api.notifications.preferences()).types.new_mention.email, true);
    assert.deepEqual((await sam.api.notifications.preferences()).types.new_post, prefs.types.new_post);
    const username = (await sam.api.communities.members(course.communityId).all()).find((m) => m.user_id === alex.id)?.username;
    await sam.api.posts.create(course.communityId, { title: "Ping", content: `Hello @${username}` });
    const count = await eventually("the mention's notification", async () => (await alex.api.notifications.unreadCount()) || undefined);
    assert.equal(count, 1);
    const [notification] = await alex.api.notifications.list({ unread: true }).all();
    assert.equal(notification?.notification_type, "new_mention");
    assert.equal((await alex.api.notifications.markRead(notification?.id as string)).is_read, true);
    assert.equal(await alex.api.notifications.unreadCount(), 0);
  });
});
