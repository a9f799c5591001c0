import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity, api, TOKENS, eventually, latestUnsubscribeLink, showingPageOnFailure } from "./harness.mjs";

let t, room;
before(async () => {
  t = await setup();
  room = await freshCommunity("Settings");
});
after(() => t?.stop());

test("Alex chooses channels per type and a digest in the settings grid, and they hold after a reload", async () => {
  const alex = await signIn(t, "alex");
  try {
    await showingPageOnFailure(alex, async () => {
      const page = alex.page;
      await page.getByRole("link", { name: "Notification settings" }).click();
      await page.getByRole("heading", { name: "Notification settings" }).waitFor();
      const newPostEmail = page.getByRole("checkbox", { name: "New posts in communities I watch: Email" });
      const mentionEmail = page.getByRole("checkbox", { name: "Someone mentions me: Email" });
      // The defaults: mentions by email, new posts not.
      assert.equal(await mentionEmail.isChecked(), true);
      assert.equal(await newPostEmail.isChecked(), false);
      await newPostEmail.check();
      await page.getByRole("status").filter({ hasText: "Saved. New posts in communities I watch: Email on." }).waitFor();
      await page.getByRole("radio", { name: "Weekly (Mondays)" }).check();
      await page.getByRole("status").filter({ hasText: "Saved. Digest: Weekly (Mondays)." }).waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Notification settings" }).waitFor();
      assert.equal(await page.getByRole("checkbox", { name: "New posts in communities I watch: Email" }).isChecked(), true);
      assert.equal(await page.getByRole("radio", { name: "Weekly (Mondays)" }).isChecked(), true);
      // The server agrees; the demo users have an address, so no warning about email is shown.
      const prefs = await api(TOKENS.alex, "GET", "notifications/preferences/");
      assert.deepEqual(prefs.types.new_post, { in_app: true, email: true, push: false });
      assert.equal(prefs.digest, "weekly");
      assert.equal(await page.getByText("no email can reach you").count(), 0);
    });
    assert.deepEqual(alex.errors, []);
  } finally {
    await api(TOKENS.alex, "PATCH", "notifications/preferences/", { types: { new_post: { email: false } }, digest: "off" });
    await alex.context.close();
  }
});

test("an email's unsubscribe link works signed out, after asking; an altered one says so and changes nothing", async () => {
  // Alex is mentioned, so an email to Alex goes out (or went out earlier in this run: every one
  // of Alex's emails carries a link to the same list).
  await api(TOKENS.sam, "POST", "posts/", { community: room.id, title: "Notes", content: "@alex here are the notes" });
  const { raw, token } = await latestUnsubscribeLink("alex@example.edu");
  assert.ok(token, `an unsubscribe link in:\n${raw}`);

  const context = await t.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    // Altered: refused in words, nothing changed.
    await page.goto(`${t.url}/#/unsubscribe?token=${token.slice(0, -2)}xx`);
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await page.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
    assert.equal((await api(TOKENS.alex, "GET", "notifications/preferences/")).types.new_mention.email, true);

    // The real link: nothing happens until the person confirms.
    await page.goto(`${t.url}/#/unsubscribe?token=${token}`);
    await page.getByRole("heading", { name: "Unsubscribe" }).waitFor();
    assert.equal((await api(TOKENS.alex, "GET", "notifications/preferences/")).types.new_mention.email, true);
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await page.getByText("You are unsubscribed from notification emails.").waitFor();
    const prefs = await api(TOKENS.alex, "GET", "notifications/preferences/");
    for (const [type, channels] of Object.entries(prefs.types)) {
      assert.equal(channels.email, false, type);
    }
    assert.equal(prefs.types.new_mention.in_app, true);
    assert.deepEqual(errors, []);
  } finally {
    await api(TOKENS.alex, "PATCH", "notifications/preferences/", {
      types: Object.fromEntries(
        ["new_mention", "new_reply", "answer_accepted", "answer_endorsed", "marked_duplicate", "post_approved", "post_rejected", "announcement", "new_direct_message"].map((k) => [k, { email: true }]),
      ),
    });
    await context.close();
  }
});

test("with Web Push on, the settings offer push in this browser; its service worker shows a push, and a refused subscription is explained", async () => {
  const alex = await signIn(t, "alex");
  try {
    await showingPageOnFailure(alex, async () => {
      const page = alex.page;
      await alex.context.grantPermissions(["notifications"], { origin: t.url });
      // A real notification of Alex's, to push.
      await api(TOKENS.sam, "POST", "posts/", { community: room.id, title: "Push", content: "@alex a push for you" });
      const notification = await eventually(
        async () => (await api(TOKENS.alex, "GET", "notifications/")).results.find((n) => n.notification_type === "new_mention"),
        20_000,
        "Alex's mention notification",
      );
      await page.getByRole("link", { name: "Notification settings" }).click();
      await page.getByRole("heading", { name: "Push notifications in this browser" }).waitFor();
      await page.getByRole("button", { name: "Turn on push in this browser" }).click();
      // Headless Chromium reaches no push service here: the app says so in words, and nothing is
      // registered with the API.
      await page.getByRole("alert").filter({ hasText: "could not reach its push service" }).waitFor();
      assert.deepEqual((await api(TOKENS.alex, "GET", "notifications/push/")).subscriptions, []);

      // The service worker the offer registered shows what a push service delivers to it.
      const cdp = await alex.context.newCDPSession(page);
      const registrations = [];
      cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
      await cdp.send("ServiceWorker.enable");
      const registration = await eventually(
        async () => registrations.find((r) => r.scopeURL.startsWith(t.url) && !r.isDeleted),
        10_000,
        "the app's service worker",
      );
      const link = `#/c/${room.id}`;
      // A push reaches only an activated worker: wait for it, and deliver again until it shows
      // (the same tag replaces, so a repeat shows one notification).
      assert.equal(await page.evaluate(() => navigator.serviceWorker.ready.then(() => Notification.permission)), "granted");
      const message = JSON.stringify({
        type: "notification",
        id: notification.id,
        notification_type: notification.notification_type,
        title: notification.title,
        message: notification.message,
        link,
      });
      const shown = await eventually(
        async () => {
          const current = registrations.filter((r) => r.scopeURL.startsWith(t.url) && !r.isDeleted).at(-1) ?? registration;
          await cdp.send("ServiceWorker.deliverPushMessage", { origin: t.url, registrationId: current.registrationId, data: message });
          await new Promise((r) => setTimeout(r, 500));
          const list = await page.evaluate(async () =>
            (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, link: n.data?.link })),
          );
          return list.length ? list : null;
        },
        20_000,
        "a notification shown by the service worker",
      );
      assert.deepEqual(shown, [{ title: notification.title, body: notification.message, tag: notification.id, link }]);
    });
    assert.deepEqual(alex.errors, []);
  } finally {
    await alex.context.close();
  }
});
