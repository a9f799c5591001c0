import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity, connectionIds, cutConnection, USERS, eventually } from "./harness.mjs";

let t, room;
before(async () => {
  t = await setup();
  room = await freshCommunity("Reconnect");
});
after(() => t?.stop());

async function openChat(who) {
  const u = await signIn(t, who);
  await u.page.goto(`${t.url}/#/c/${room.id}/chat`);
  await u.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
  return u;
}

test("the gateway cuts Sam's socket: what was sent meanwhile, by Alex and by Sam, appears once each after it reconnects", async () => {
  const sam = await openChat("sam");
  const alex = await openChat("alex");
  try {
    await sam.page.locator(".presence li", { hasText: "Alex Student" }).waitFor();
    const ids = await eventually(async () => {
      const c = await connectionIds(USERS.sam);
      return c.length ? c : null;
    }, 10_000, "Sam's connection in the table");
    // Hold Sam's reconnect (the browser is offline) so the messages below are really sent meanwhile.
    await sam.context.setOffline(true);
    for (const id of ids) await cutConnection(id);
    await sam.page.locator('[data-connection="offline"], [data-connection="reconnecting"]').waitFor({ timeout: 10_000 });

    const alexInput = alex.page.getByRole("textbox", { name: /Message to/ });
    for (const n of [1, 2, 3]) {
      await alexInput.fill(`while you were away ${n}`);
      await alexInput.press("Enter");
      await alex.page.locator("li.msg[data-message]", { hasText: `while you were away ${n}` }).waitFor();
    }
    // Sam writes while cut off: the message stays, marked, and goes out after the reconnect.
    const samInput = sam.page.getByRole("textbox", { name: /Message to/ });
    await samInput.fill("sent while offline");
    await samInput.press("Enter");
    await sam.page.locator("li[data-pending]", { hasText: "sent while offline" }).waitFor();
    assert.equal(await sam.page.locator("li.msg", { hasText: "while you were away" }).count(), 0, "nothing arrived while cut off");

    await sam.context.setOffline(false);
    await sam.page.locator('[data-connection="open"]').waitFor({ timeout: 40_000 });
    for (const n of [1, 2, 3]) await sam.page.locator("li.msg", { hasText: `while you were away ${n}` }).waitFor();
    await alex.page.locator("li.msg[data-message]", { hasText: "sent while offline" }).waitFor({ timeout: 20_000 });
    await sam.page.locator("li.msg[data-message]", { hasText: "sent while offline" }).waitFor();
    // Settle, then count: one copy each, in both windows, and nothing left pending.
    await new Promise((r) => setTimeout(r, 1500));
    for (const n of [1, 2, 3]) assert.equal(await sam.page.locator("li.msg", { hasText: `while you were away ${n}` }).count(), 1);
    assert.equal(await alex.page.locator("li.msg", { hasText: "sent while offline" }).count(), 1);
    assert.equal(await sam.page.locator("li.msg", { hasText: "sent while offline" }).count(), 1);
    assert.equal(await sam.page.locator("li[data-pending]").count(), 0);
    const texts = await sam.page.locator("li.msg .text").allInnerTexts();
    assert.deepEqual(texts.filter((x) => x.startsWith("while you were away")), [1, 2, 3].map((n) => `while you were away ${n}`), "in order");
    assert.deepEqual([...sam.errors, ...alex.errors], []);
  } finally {
    await sam.context.close();
    await alex.context.close();
  }
});
