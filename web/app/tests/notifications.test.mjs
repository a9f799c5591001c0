import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity, api, TOKENS } from "./harness.mjs";

let t, room;
before(async () => {
  t = await setup();
  room = await freshCommunity("Mentions");
  await api(TOKENS.alex, "POST", "notifications/mark-all-as-read/");
});
after(() => t?.stop());

const bell = (page) => page.locator("a.bell");

test("the bell counts up live when Alex is mentioned in chat and in a post, and down as Alex reads them", async () => {
  const alex = await signIn(t, "alex");
  const sam = await signIn(t, "sam");
  try {
    await alex.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
    await bell(alex.page).and(alex.page.locator('[data-unread="0"]')).waitFor();
    assert.equal(await bell(alex.page).getAttribute("aria-label"), "Notifications, none unread");

    // A mention in chat (Alex is on the communities screen, not in the room).
    await sam.page.goto(`${t.url}/#/c/${room.id}/chat`);
    const input = sam.page.getByRole("textbox", { name: /Message to/ });
    await sam.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
    await input.fill("@alex can you share your notes?");
    await input.press("Enter");
    await alex.page.locator('a.bell[data-unread="1"]').waitFor({ timeout: 20_000 });
    assert.equal(await bell(alex.page).getAttribute("aria-label"), "Notifications, 1 unread");

    // A mention in a forum post, through the new-post screen.
    await sam.page.goto(`${t.url}/#/c/${room.id}/new`);
    await sam.page.getByLabel("Title").fill("Study group");
    await sam.page.getByLabel("Text").fill("Who joins on Friday? @alex");
    await sam.page.getByRole("button", { name: "Publish" }).click();
    await sam.page.getByRole("heading", { name: "Study group" }).waitFor();
    await alex.page.locator('a.bell[data-unread="2"]').waitFor({ timeout: 20_000 });

    // Alex opens the bell: both are listed; opening the post's notification reads it and leads to the post.
    await bell(alex.page).click();
    const items = alex.page.locator("li[data-type=new_mention]");
    await items.nth(1).waitFor();
    assert.equal(await items.count(), 2);
    await alex.page.locator("li[data-type=new_mention]", { hasText: "Study group" }).getByRole("button", { name: "Open" }).click();
    await alex.page.getByRole("heading", { name: "Study group" }).waitFor();
    await alex.page.locator('a.bell[data-unread="1"]').waitFor();

    // The chat one is marked read from the list.
    await bell(alex.page).click();
    await alex.page.getByRole("button", { name: "Mark as read" }).click();
    await alex.page.locator('a.bell[data-unread="0"]').waitFor();
    assert.equal(await bell(alex.page).getAttribute("aria-label"), "Notifications, none unread");
    // The server agrees.
    assert.equal((await api(TOKENS.alex, "GET", "notifications/unread-count/")).unread_count, 0);
    assert.deepEqual([...alex.errors, ...sam.errors], []);
  } finally {
    await alex.context.close();
    await sam.context.close();
  }
});
