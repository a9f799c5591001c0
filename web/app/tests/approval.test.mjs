import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity } from "./harness.mjs";

let t, room;
before(async () => {
  t = await setup();
  room = await freshCommunity("Approval first");
});
after(() => t?.stop());

test("with approval required, Sam's post is invisible to Alex until the instructor approves it in the moderation queue", async () => {
  const irene = await signIn(t, "instructor");
  const sam = await signIn(t, "sam");
  const alex = await signIn(t, "alex");
  try {
    // The instructor turns approval on in the community settings.
    await irene.page.goto(`${t.url}/#/c/${room.id}/settings`);
    await irene.page.getByLabel(/Posts need approval/).check();
    await irene.page.getByRole("button", { name: "Save settings" }).click();
    await irene.page.getByText("Settings saved.").waitFor();

    // Sam posts: it is held, and Sam is told so.
    await sam.page.goto(`${t.url}/#/c/${room.id}/new`);
    await sam.page.getByText(/A moderator checks new posts here/).waitFor();
    await sam.page.getByLabel("Title").fill("Is lab 2 graded?");
    await sam.page.getByLabel("Text").fill("The syllabus does not say.");
    await sam.page.getByRole("button", { name: "Publish" }).click();
    await sam.page.getByText(/Awaiting approval: only you and the moderators see this/).waitFor();
    // Sam sees it in the forum, marked; Alex does not see it at all.
    await sam.page.goto(`${t.url}/#/c/${room.id}/forum`);
    await sam.page.locator("li.post-item", { hasText: "Is lab 2 graded?" }).getByText("Awaiting approval").waitFor();
    await alex.page.goto(`${t.url}/#/c/${room.id}/forum`);
    await alex.page.getByText(/No posts here yet/).waitFor();
    assert.equal(await alex.page.getByText("Is lab 2 graded?").count(), 0);

    // The instructor approves it from the queue.
    await irene.page.goto(`${t.url}/#/c/${room.id}/moderation`);
    const entry = irene.page.locator("li[data-queue-entry]", { hasText: "Is lab 2 graded?" });
    await entry.getByText("Awaiting approval").waitFor();
    await entry.getByRole("button", { name: "Approve" }).click();
    await irene.page.getByText("Approved “Is lab 2 graded?”.").waitFor();
    await irene.page.getByText("Nothing waits for a moderator.").waitFor();

    // Now Alex sees it, published.
    await alex.page.reload();
    const post = alex.page.locator("li.post-item", { hasText: "Is lab 2 graded?" });
    await post.waitFor();
    assert.equal(await post.getByText("Awaiting approval").count(), 0);
    assert.deepEqual([...irene.errors, ...sam.errors, ...alex.errors], []);
  } finally {
    for (const u of [irene, sam, alex]) await u.context.close();
  }
});

test("a rejected post stays visible to its author with the reason; a flag reaches the queue and is resolved with a note", async () => {
  const irene = await signIn(t, "instructor");
  const sam = await signIn(t, "sam");
  const alex = await signIn(t, "alex");
  try {
    await sam.page.goto(`${t.url}/#/c/${room.id}/new`);
    await sam.page.getByLabel("Title").fill("Exam answers inside");
    await sam.page.getByLabel("Text").fill("…");
    await sam.page.getByRole("button", { name: "Publish" }).click();
    await sam.page.getByText(/Awaiting approval/).first().waitFor();

    await irene.page.goto(`${t.url}/#/c/${room.id}/moderation`);
    const entry = irene.page.locator("li[data-queue-entry]", { hasText: "Exam answers inside" });
    await entry.getByLabel(/Reason/).fill("Please do not share exam answers.");
    await entry.getByRole("button", { name: "Reject" }).click();
    await irene.page.getByText("Rejected “Exam answers inside”.").waitFor();

    await sam.page.goto(`${t.url}/#/c/${room.id}/forum`);
    const own = sam.page.locator("li.post-item", { hasText: "Exam answers inside" });
    await own.getByText("Rejected").waitFor();
    await own.getByText("Reason given: Please do not share exam answers.").waitFor();

    // Alex flags the approved post of the first test; the instructor resolves the flag with a note.
    await alex.page.goto(`${t.url}/#/c/${room.id}/forum`);
    await alex.page.getByRole("link", { name: "Is lab 2 graded?" }).click();
    await alex.page.getByRole("button", { name: "Flag" }).first().click();
    await alex.page.getByLabel(/Why should a moderator look at this/).fill("Off topic");
    await alex.page.getByRole("button", { name: "Send flag" }).click();
    await alex.page.getByText(/the moderators will look at it/).waitFor();

    await irene.page.getByRole("button", { name: "Refresh" }).click();
    const flagged = irene.page.locator("li[data-queue-entry]", { hasText: "Is lab 2 graded?" });
    await flagged.getByText(/Flagged \(1\)/).waitFor();
    await flagged.locator("summary", { hasText: "Flags" }).click();
    await flagged.getByText("Off topic").waitFor();
    await flagged.getByLabel(/Note on resolving/).fill("Fine as it is.");
    await flagged.getByRole("button", { name: "Resolve flags" }).click();
    await irene.page.getByText(/Flags of “Is lab 2 graded\?” resolved/).waitFor();
    assert.deepEqual([...irene.errors, ...sam.errors, ...alex.errors], []);
  } finally {
    for (const u of [irene, sam, alex]) await u.context.close();
  }
});
