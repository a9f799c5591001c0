import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity } from "./harness.mjs";

let t, room;
before(async () => {
  t = await setup();
  room = await freshCommunity("Chat live");
});
after(() => t?.stop());

async function openChat(who) {
  const u = await signIn(t, who);
  await u.page.goto(`${t.url}/#/c/${room.id}/chat`);
  await u.page.getByRole("textbox", { name: /Message to/ }).waitFor();
  await u.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
  return u;
}

test("a message appears in the other student's window without a reload; typing shows and clears; presence, edit and delete are live", async () => {
  const sam = await openChat("sam");
  const alex = await openChat("alex");
  try {
    // Presence: Sam sees Alex come online.
    await sam.page.locator(".presence li", { hasText: "Alex Student" }).waitFor();

    // Typing: Alex types, Sam sees it; it clears when Alex sends.
    const input = alex.page.getByRole("textbox", { name: /Message to/ });
    await input.pressSequentially("Has anyone started", { delay: 20 });
    await sam.page.getByText("Alex Student is typing…").waitFor();
    await input.pressSequentially(" exercise 3?", { delay: 10 });
    await input.press("Enter");
    const line = sam.page.locator("li.msg", { hasText: "Has anyone started exercise 3?" });
    await line.waitFor();
    assert.equal(await line.count(), 1, "one copy of the message");
    await sam.page.getByText("Alex Student is typing…").waitFor({ state: "detached" });
    // Alex's own copy was acknowledged (no longer pending).
    await alex.page.locator("li.msg[data-message]", { hasText: "Has anyone started exercise 3?" }).waitFor();
    assert.equal(await alex.page.locator("li[data-pending]").count(), 0);

    // Typing also clears by itself (3 s after the last "typing") when Alex stops without sending.
    await input.pressSequentially("hmm", { delay: 20 });
    await sam.page.getByText("Alex Student is typing…").waitFor();
    await alex.page.getByRole("heading", { name: "Online now" }).click(); // blur: "stopped typing"
    await sam.page.getByText("Alex Student is typing…").waitFor({ state: "detached", timeout: 6000 });
    await input.fill("");

    // Sam reads it: Alex sees the receipt on the message.
    await alex.page.locator("li.msg", { hasText: "exercise 3?" }).getByText(/seen by Sam Student/).waitFor({ timeout: 15_000 });

    // Alex edits the message: Sam sees the new text; then deletes it: Sam sees it deleted.
    const mine = alex.page.locator("li.msg", { hasText: "Has anyone started exercise 3?" });
    await mine.getByRole("button", { name: "Edit this message" }).click();
    await alex.page.getByRole("textbox", { name: "Edit message" }).fill("Has anyone started exercise 4?");
    await alex.page.getByRole("button", { name: "Save" }).click();
    await sam.page.locator("li.msg", { hasText: "Has anyone started exercise 4?" }).getByText("(edited)").waitFor();
    await alex.page.locator("li.msg", { hasText: "exercise 4?" }).getByRole("button", { name: "Delete this message" }).click();
    await sam.page.locator("li.msg", { hasText: "message deleted" }).waitFor();
    assert.equal(await sam.page.locator("li.msg", { hasText: "exercise 4?" }).count(), 0, "the deleted text is gone");

    // Sam leaves the room: Alex sees Sam go offline.
    await sam.page.getByRole("link", { name: "Forum" }).click();
    await alex.page.locator(".presence li", { hasText: "Sam Student" }).waitFor({ state: "detached" });
    assert.deepEqual([...sam.errors, ...alex.errors], []);
  } finally {
    await sam.context.close();
    await alex.context.close();
  }
});

test("scrolling back loads earlier messages, in order, once each", async () => {
  const { api, TOKENS } = await import("./harness.mjs");
  // 60 messages from four senders (the rate limit is 20 per user per 10 s).
  const senders = [TOKENS.alex, TOKENS.sam, TOKENS.instructor, TOKENS.admin];
  for (let i = 1; i <= 60; i++) {
    const message = `history ${String(i).padStart(2, "0")}`;
    await api(senders[i % 4], "POST", "messages/", { community: room.id, message, client_id: `hist-${i}` });
  }
  const sam = await openChat("sam");
  try {
    await sam.page.locator("li.msg", { hasText: "history 60" }).waitFor();
    assert.equal(await sam.page.locator("li.msg", { hasText: "history 01" }).count(), 0, "the first page is the newest 50");
    await sam.page.getByRole("button", { name: "Show earlier messages" }).click();
    await sam.page.locator("li.msg", { hasText: "history 01" }).waitFor();
    const texts = await sam.page.locator("li.msg .text").allInnerTexts();
    const hist = texts.filter((x) => x.startsWith("history "));
    assert.deepEqual(hist, Array.from({ length: 60 }, (_, i) => `history ${String(i + 1).padStart(2, "0")}`));
  } finally {
    await sam.context.close();
  }
});
