// The browser tests' harness: the app's own server in front of the stack that
// ../client/scripts/with-stack.sh started (DynamoDB Local + the local gateway with the demo data),
// Debian's Chromium driven by playwright-core, and a few direct API calls to set up a test's data.
import { chromium } from "playwright-core";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { start } from "../server/serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run the browser tests through npm test (scripts/with-stack.sh)`);
  return v;
};

export const HTTP_URL = env("HTTP_URL");
export const WS_URL = env("WS_URL");
export const COMMUNITY_ID = env("COMMUNITY_ID");
export const TOKENS = {
  admin: env("ADMIN_TOKEN"),
  instructor: env("INSTRUCTOR_TOKEN"),
  sam: env("STUDENT_TOKEN"),
  alex: env("STUDENT2_TOKEN"),
  erin: env("EXPIRED_TOKEN"),
};
export const USERS = {
  admin: "demo-admin",
  instructor: "demo-instructor",
  sam: "demo-student-1",
  alex: "demo-student-2",
  erin: "demo-expired",
};

/** Starts the app server (the built dist/) and Chromium; `stop()` ends both. */
export async function setup() {
  const work = mkdtempSync(join(tmpdir(), "cc-web-tests-"));
  const demoEnv = join(work, "demo.env");
  writeFileSync(
    demoEnv,
    Object.entries({ ADMIN_TOKEN: TOKENS.admin, INSTRUCTOR_TOKEN: TOKENS.instructor, STUDENT_TOKEN: TOKENS.sam, STUDENT2_TOKEN: TOKENS.alex, EXPIRED_TOKEN: TOKENS.erin })
      .map(([k, v]) => `export ${k}=${v}\n`)
      .join(""),
  );
  const app = await start({
    port: Number(process.env.WEB_TEST_PORT ?? 0),
    host: "127.0.0.1",
    dist: resolve(here, "../dist"),
    api: HTTP_URL,
    ws: WS_URL,
    demoEnv,
  });
  // playwright-core gives the browser a fresh temporary profile (--user-data-dir) of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    url: app.url,
    browser,
    async stop() {
      await browser.close();
      await new Promise((r) => app.server.close(r));
      app.server.closeAllConnections?.();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/**
 * A user in a browser context of their own (own storage, own WebSocket), signed in through the
 * sign-in screen's demo-user list. Page errors are collected: a test can assert there were none.
 */
export async function signIn(t, who, { viewport } = {}) {
  const context = await t.browser.newContext({ viewport: viewport ?? { width: 1100, height: 760 } });
  const page = await context.newPage();
  const errors = [];
  const log = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on("framenavigated", (f) => f === page.mainFrame() && log.push(`navigated: ${f.url()}`));
  await page.goto(t.url + "/");
  await page.locator(`button[data-user="${USERS[who]}"]`).click();
  await page.getByRole("heading", { name: "My communities" }).waitFor();
  return { context, page, errors, log };
}

/**
 * Runs a test's steps for one signed-in user; when a step fails, prints what that user's page
 * showed (its text, page errors, console and navigations) before the failure propagates.
 */
export async function showingPageOnFailure(user, steps) {
  try {
    return await steps();
  } catch (e) {
    const text = await user.page.locator("body").innerText({ timeout: 2_000 }).catch((x) => `(unreadable: ${x.message})`);
    console.log(`page at ${user.page.url()}:\n${text}\npage errors: ${JSON.stringify(user.errors)}\nconsole and navigations:\n${user.log.join("\n")}`);
    throw e;
  }
}

export async function api(token, method, path, body) {
  const res = await fetch(`${HTTP_URL}/api/community/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

let courses = 0;
/** A course community of this test's own: the demo instructor teaches it, Sam and Alex are enrolled members. */
export async function freshCommunity(title, { students = ["sam", "alex"] } = {}) {
  const course = `web-${process.pid}-${Date.now().toString(36)}-${++courses}`;
  const { community_id } = await api(TOKENS.admin, "PUT", `lms/courses/${course}/`, {
    title,
    description: "A community made by the browser tests.",
    instructor_ids: [USERS.instructor],
  });
  for (const s of students) {
    await api(TOKENS.admin, "PUT", `lms/courses/${course}/enrollments/${USERS[s]}/`, { is_active: true, expiry_date: null });
    await api(TOKENS[s], "POST", `groups/${community_id}/join/`);
  }
  return { id: community_id, course };
}

/** The ids of a user's open WebSocket connections, read from the table (`USER#{id}` / `CONN#…`). */
export async function connectionIds(userId) {
  const res = await fetch(env("DYNAMODB_ENDPOINT"), {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "DynamoDB_20120810.Query",
      // DynamoDB Local wants a SigV4-shaped header; it does not check the signature.
      authorization: "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    },
    body: JSON.stringify({
      TableName: env("TABLE_NAME"),
      ConsistentRead: true,
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :conn)",
      ExpressionAttributeValues: { ":pk": { S: `USER#${userId}` }, ":conn": { S: "CONN#" } },
    }),
  });
  if (!res.ok) throw new Error(`DynamoDB Query: ${res.status} ${await res.text()}`);
  const { Items } = await res.json();
  return Items.map((i) => i.SK.S.slice("CONN#".length));
}

/** Closes a connection from the server side, through the gateway's Management API. */
export async function cutConnection(id) {
  const mgmt = WS_URL.replace(/^ws/, "http").replace(/\/$/, "");
  // Signed, as the Management API requires (the local gateway reads the key, not the signature).
  const res = await fetch(`${mgmt}/@connections/${encodeURIComponent(id)}`, {
    method: "DELETE",
    headers: {
      authorization:
        "AWS4-HMAC-SHA256 Credential=local-tests/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0",
    },
  });
  if (res.status !== 204 && res.status !== 410) throw new Error(`DELETE @connections/${id}: ${res.status}`);
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function eventually(fn, ms = 15_000, what = "condition") {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/** Runs one of the template's schedules now, through the local gateway (its WebSocket port). */
export async function runSchedule(id) {
  const origin = new URL(WS_URL.replace(/^ws/, "http")).origin;
  const res = await fetch(`${origin}/@gateway/schedules/${encodeURIComponent(id)}`, { method: "POST" });
  if (!res.ok) throw new Error(`schedule ${id}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The raw emails the AWS emulator's SES received for `address`, oldest first. */
export async function emailsTo(address) {
  const res = await fetch(`${env("AWS_EMULATOR_ENDPOINT")}/moto-api/data.json`);
  if (!res.ok) throw new Error(`the AWS emulator: ${res.status}`);
  const data = await res.json();
  return (data.ses?.RawMessage ?? []).filter((m) => (m.destinations ?? []).includes(address)).map((m) => m.raw_data);
}

/**
 * The unsubscribe token of the latest email to `address`: runs the email schedule until one has
 * arrived and reads its link (headers unfolded). Answers `{ raw, token }`; `token` is undefined
 * when the email has no link.
 */
export async function latestUnsubscribeLink(address) {
  const raw = await eventually(
    async () => {
      await runSchedule("EmailFunction.Due");
      return (await emailsTo(address)).at(-1);
    },
    30_000,
    `an email to ${address}`,
  );
  const token = /notifications\/unsubscribe\/\?token=([A-Za-z0-9_-]+)/.exec(raw.replace(/\r?\n[ \t]+/g, " "))?.[1];
  return { raw, token };
}
