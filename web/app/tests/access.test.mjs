import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { setup, signIn, freshCommunity, api, showingPageOnFailure, TOKENS, USERS, COMMUNITY_ID } from "./harness.mjs";

let t;
before(async () => {
  t = await setup();
});
after(() => t?.stop());

test("a student whose enrollment expired sees a clear no-access state, not a broken page", async () => {
  const erin = await signIn(t, "erin");
  try {
    await erin.page.getByText("You have no community open to you right now.").waitFor();
    // The course's community is still listed among the public ones; opening it says why it is closed.
    await erin.page.getByRole("link", { name: "Intro to Rust", exact: true }).click();
    await erin.page.getByRole("heading", { name: "No access to Intro to Rust" }).waitFor();
    await erin.page.getByText(/your enrollment in its course has ended/).waitFor();
    // Trying to join says the enrollment is not active.
    await erin.page.getByRole("button", { name: "Join this community" }).click();
    await erin.page.getByText(/Your enrollment in this course is not active/).waitFor();
    // A link straight into the chat or a thread lands on the same state.
    await erin.page.goto(`${t.url}/#/c/${COMMUNITY_ID}/chat`);
    await erin.page.getByRole("heading", { name: "No access to Intro to Rust" }).waitFor();
    assert.equal(await erin.page.getByRole("textbox", { name: /Message to/ }).count(), 0);
    assert.deepEqual(erin.errors, []);
  } finally {
    await erin.context.close();
  }
});

test("an enrollment that expires while the student is in the forum closes it at the next step", async () => {
  const room = await freshCommunity("Expiring", { students: ["alex"] });
  const alex = await signIn(t, "alex");
  try {
    await alex.page.goto(`${t.url}/#/c/${room.id}/forum`);
    await alex.page.getByRole("heading", { name: "Forum" }).waitFor();
    await api(TOKENS.admin, "PUT", `lms/courses/${room.course}/enrollments/${USERS.alex}/`, { is_active: true, expiry_date: "2020-01-31" });
    await alex.page.reload();
    await alex.page.getByRole("heading", { name: "No access to Expiring" }).waitFor();
    assert.deepEqual(alex.errors, []);
  } finally {
    await alex.context.close();
  }
});

test("problem+json errors are shown in words and what was typed stays", async () => {
  const room = await freshCommunity("Errors", { students: ["sam"] });
  const sam = await signIn(t, "sam");
  try {
    await sam.page.goto(`${t.url}/#/c/${room.id}/new`);
    await sam.page.getByLabel("Title").fill("x".repeat(10));
    await sam.page.getByLabel("Text").fill("My long answer");
    // The enrollment ends between opening the form and sending it: a 403, in words; the text stays.
    await api(TOKENS.admin, "DELETE", `lms/courses/${room.course}/enrollments/${USERS.sam}/`);
    await sam.page.getByRole("button", { name: "Publish" }).click();
    await sam.page.getByRole("alert").getByText(/Not sent: Not allowed: .*enrollment/).waitFor();
    assert.equal(await sam.page.getByLabel("Text").inputValue(), "My long answer");
    // Back in the course: the same text is sent with one click.
    await api(TOKENS.admin, "PUT", `lms/courses/${room.course}/enrollments/${USERS.sam}/`, { is_active: true, expiry_date: null });
    await sam.page.getByRole("button", { name: /Try again/ }).click();
    await sam.page.getByRole("heading", { name: "xxxxxxxxxx" }).waitFor();

    // A bad token: the sign-in screen says it was refused.
    const ctx = await t.browser.newContext();
    const p = await ctx.newPage();
    await p.goto(t.url + "/");
    await p.getByLabel("Access token").fill(TOKENS.sam.slice(0, -4) + "AAAA");
    await p.getByRole("button", { name: "Sign in", exact: true }).click();
    await p.getByRole("alert").getByText(/The API refused this token/).waitFor();
    await ctx.close();
    assert.deepEqual(sam.errors, []);
  } finally {
    await sam.context.close();
  }
});

test("a chat message the server refuses stays in the room, marked with the reason, and is sent again with Retry", async () => {
  const room = await freshCommunity("Refused chat", { students: ["alex"] });
  const alex = await signIn(t, "alex");
  try {
    await showingPageOnFailure(alex, async () => {
      await alex.page.goto(`${t.url}/#/c/${room.id}/chat`);
      await alex.page.locator('[data-connection="open"]').waitFor({ timeout: 20_000 });
      const input = alex.page.getByRole("textbox", { name: /Message to/ });
      await input.fill("first, while enrolled");
      await input.press("Enter");
      await alex.page.locator("li.msg[data-message]", { hasText: "first, while enrolled" }).waitFor();

      await api(TOKENS.admin, "DELETE", `lms/courses/${room.course}/enrollments/${USERS.alex}/`);
      await input.fill("my question about the exam");
      await input.press("Enter");
      const failed = alex.page.locator('li[data-pending][data-status="failed"]', { hasText: "my question about the exam" });
      await failed.getByText("Not sent").waitFor({ timeout: 15_000 });
      await failed.getByText(/Not allowed/).waitFor();

      await api(TOKENS.admin, "PUT", `lms/courses/${room.course}/enrollments/${USERS.alex}/`, { is_active: true, expiry_date: null });
      await failed.getByRole("button", { name: "Retry" }).click();
      await alex.page.locator("li.msg[data-message]", { hasText: "my question about the exam" }).waitFor({ timeout: 15_000 });
      assert.equal(await alex.page.locator("li[data-pending]").count(), 0);
      const stored = await api(TOKENS.alex, "GET", `groups/${room.id}/messages/?limit=10`);
      assert.equal(stored.results.filter((m) => m.message === "my question about the exam").length, 1, "stored once");
      assert.deepEqual(alex.errors, []);
    });
  } finally {
    await alex.context.close();
  }
});
