// Screenshots of the main screens, taken in headless Chromium against a stack of its own with a
// little demo content (make web-screenshots). Writes PNGs to the folder given (docs/screenshots).
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { setup, signIn, freshCommunity, api, TOKENS, latestUnsubscribeLink } from "../tests/harness.mjs";

const out = resolve(process.argv[2] ?? "screenshots");
mkdirSync(out, { recursive: true });
const t = await setup();
const shot = (page, name) => page.screenshot({ path: `${out}/${name}.png` });

try {
  const room = await freshCommunity("Intro to Rust — spring");
  const c = room.id;
  const welcome = await api(TOKENS.instructor, "POST", `groups/${c}/posts/`, {
    title: "Welcome! Read this first",
    content: "Office hours are on Fridays at 10:00. Ask anything here; @sam @alex introduce yourselves.",
  });
  await api(TOKENS.instructor, "POST", `posts/${welcome.id}/pin/`);
  const q = await api(TOKENS.sam, "POST", `groups/${c}/posts/`, {
    title: "Borrow checker error in exercise 3",
    content: "I get `cannot borrow `v` as mutable more than once`. What am I missing?",
  });
  const r1 = await api(TOKENS.alex, "POST", `groups/${c}/posts/`, { parent: q.id, content: "Same here! Did you keep a reference from the first loop?" });
  await api(TOKENS.instructor, "POST", `groups/${c}/posts/`, { parent: r1.id, content: "Exactly: end the first borrow before the push. See chapter 4.2." });
  await api(TOKENS.alex, "POST", `posts/${q.id}/react/`, { reaction_type: "helpful" });
  await api(TOKENS.instructor, "POST", `posts/${q.id}/react/`, { reaction_type: "like" });
  await api(TOKENS.alex, "POST", `groups/${c}/posts/`, { title: "Study group on Friday?", content: "Library, room 2, after the lecture." });
  await api(TOKENS.instructor, "PATCH", `groups/${c}/`, { require_post_approval: true });
  await api(TOKENS.sam, "POST", `groups/${c}/posts/`, { title: "Can we get the slides as PDF?", content: "The online viewer is slow on my phone." });
  await api(TOKENS.alex, "POST", `posts/${welcome.id}/flag/`, { reason: "The office-hours room changed." });
  for (const [who, text] of [
    ["instructor", "Hi all, the chat is open during the lab."],
    ["alex", "Has anyone started exercise 3?"],
    ["sam", "Yes! Stuck on the borrow checker, see my post."],
  ]) {
    await api(TOKENS[who], "POST", "messages/", { community: c, message: text, client_id: `shot-${who}-${text.length}` });
  }

  const signin = await t.browser.newContext({ viewport: { width: 1000, height: 680 } });
  const sp = await signin.newPage();
  await sp.goto(t.url + "/");
  await sp.locator("button[data-user]").first().waitFor();
  await shot(sp, "sign-in");
  await signin.close();

  const sam = await signIn(t, "sam", { viewport: { width: 1000, height: 680 } });
  const alex = await signIn(t, "alex", { viewport: { width: 1000, height: 680 } });
  await alex.page.locator(".community-card").first().waitFor();
  await shot(alex.page, "communities");

  await sam.page.goto(`${t.url}/#/c/${c}/forum`);
  await sam.page.locator("li.post-item").nth(2).waitFor();
  await shot(sam.page, "forum");
  await sam.page.goto(`${t.url}/#/c/${c}/post/${q.id}`);
  await sam.page.locator("li.reply").nth(1).waitFor();
  await shot(sam.page, "thread");

  await sam.page.goto(`${t.url}/#/c/${c}/chat`);
  await alex.page.goto(`${t.url}/#/c/${c}/chat`);
  await sam.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
  await alex.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
  await alex.page.getByRole("textbox", { name: /Message to/ }).fill("@sam I'll look at it after class");
  await alex.page.keyboard.press("Enter");
  await alex.page.getByRole("textbox", { name: /Message to/ }).pressSequentially("Meanwhile", { delay: 30 });
  await sam.page.getByText("Alex Student is typing…").waitFor();
  await sam.page.locator("li.msg", { hasText: "after class" }).waitFor();
  await shot(sam.page, "chat");

  await sam.page.goto(`${t.url}/#/notifications`);
  await sam.page.locator("li[data-notification]").first().waitFor();
  await shot(sam.page, "notifications");
  await sam.page.goto(`${t.url}/#/settings/notifications`);
  await sam.page.getByRole("checkbox", { name: "Someone mentions me: Email" }).waitFor();
  await sam.page.waitForLoadState("networkidle"); // the push section, when push is configured
  await sam.page.screenshot({ path: `${out}/notification-settings.png`, fullPage: true });

  // The page an email's unsubscribe link leads to, signed out, with the link of a real email (the
  // welcome post mentions Alex): it asks before it unsubscribes.
  const { raw, token } = await latestUnsubscribeLink("alex@example.edu");
  if (!token) throw new Error(`no unsubscribe link in:\n${raw}`);
  const signedOut = await t.browser.newContext({ viewport: { width: 1000, height: 680 } });
  const up = await signedOut.newPage();
  await up.goto(`${t.url}/#/unsubscribe?token=${token}`);
  await up.getByRole("button", { name: "Unsubscribe" }).waitFor();
  await shot(up, "unsubscribe");
  await signedOut.close();

  const phone = await signIn(t, "sam", { viewport: { width: 390, height: 760 } });
  await phone.page.goto(`${t.url}/#/c/${c}/chat`);
  await phone.page.locator("li.msg", { hasText: "after class" }).waitFor({ timeout: 20_000 });
  await shot(phone.page, "chat-phone");

  const irene = await signIn(t, "instructor", { viewport: { width: 1000, height: 680 } });
  await irene.page.goto(`${t.url}/#/c/${c}/moderation`);
  await irene.page.locator("li[data-queue-entry]").nth(1).waitFor();
  await shot(irene.page, "moderation");
  await irene.page.goto(`${t.url}/#/c/${c}/members`);
  await irene.page.locator("tr[data-member]").nth(2).waitFor();
  await shot(irene.page, "members");
  await irene.page.goto(`${t.url}/#/c/${c}/settings`);
  await irene.page.getByRole("button", { name: "Save settings" }).waitFor();
  await shot(irene.page, "settings");

  const erin = await signIn(t, "erin", { viewport: { width: 1000, height: 680 } });
  await erin.page.getByRole("link", { name: "Intro to Rust", exact: true }).click();
  await erin.page.getByRole("heading", { name: /No access/ }).waitFor();
  await shot(erin.page, "no-access");
  console.error(`screenshots written to ${out}`);
} finally {
  await t.stop();
}
