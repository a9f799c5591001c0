// The local stack the tests run against (started by scripts/with-stack.sh): its settings, fresh
// users and courses made through the LMS endpoints, sessions, and ways to cut a connection.
import { createHmac, randomBytes } from "node:crypto";
import { after } from "node:test";
import WebSocket from "ws";
import { CommunityClient, RealtimeSession, type RealtimeSessionOptions, type WebSocketConstructor } from "../../src/index.js";

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through scripts/with-stack.sh (npm test)`);
  return v;
}

export const stack = {
  get httpUrl() {
    return need("HTTP_URL");
  },
  get wsUrl() {
    return need("WS_URL");
  },
  /** The demo course's community. */
  get demoCommunity() {
    return need("COMMUNITY_ID");
  },
  token(name: "ADMIN_TOKEN" | "INSTRUCTOR_TOKEN" | "STUDENT_TOKEN" | "STUDENT2_TOKEN" | "EXPIRED_TOKEN") {
    return need(name);
  },
};

/** A client of the HTTP API with this token. */
export function api(token: string): CommunityClient {
  return new CommunityClient({ baseUrl: stack.httpUrl, token: () => token });
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** An HS256 token as the LMS issues them. */
export function mintToken(claims: { sub: string; role: "student" | "instructor" | "admin"; name: string; username: string }): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(
    JSON.stringify({
      sub: claims.sub,
      role: claims.role,
      name: claims.name,
      preferred_username: claims.username,
      iss: need("JWT_ISSUER"),
      aud: need("JWT_AUDIENCE"),
      iat: now,
      exp: now + 3600,
    }),
  );
  const signature = createHmac("sha256", need("JWT_SECRET")).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

export interface User {
  id: string;
  name: string;
  token: string;
  api: CommunityClient;
}

export interface Course {
  courseId: string;
  communityId: string;
  instructor: User;
  students: User[];
}

let counter = 0;
const suffix = randomBytes(3).toString("hex");

/** A course of its own (so tests do not share rate limits or history): an instructor and students who joined. */
export async function newCourse(students = 2): Promise<Course> {
  const admin = api(stack.token("ADMIN_TOKEN"));
  const tag = `${suffix}-${++counter}`;
  const user = async (role: "student" | "instructor", i: number): Promise<User> => {
    const id = `t-${role}-${tag}-${i}`;
    const name = `${role === "student" ? "Student" : "Instructor"} ${i} ${tag}`;
    const username = id.replace(/[^A-Za-z0-9_.-]/g, "");
    await admin.lms.putUser(id, { name, username });
    const token = mintToken({ sub: id, role, name, username });
    return { id, name, token, api: api(token) };
  };
  const instructor = await user("instructor", 0);
  const people: User[] = [];
  for (let i = 1; i <= students; i++) people.push(await user("student", i));
  const courseId = `course-${tag}`;
  const course = await admin.lms.putCourse(courseId, { title: `Course ${tag}`, instructor_ids: [instructor.id] });
  for (const s of people) {
    await admin.lms.putEnrollment(courseId, s.id, { is_active: true, expiry_date: null });
    await s.api.communities.join(course.community_id);
  }
  return { courseId, communityId: course.community_id, instructor, students: people };
}

const sessions: RealtimeSession[] = [];
after(() => {
  for (const s of sessions) s.close();
});

/** A session of this user over the `ws` package's WebSocket, closed when the test file ends. */
export function session(user: User, options: Partial<RealtimeSessionOptions> = {}): RealtimeSession {
  const s = new RealtimeSession({
    wsUrl: stack.wsUrl,
    baseUrl: stack.httpUrl,
    token: () => user.token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    // Reconnect fast: the tests cut connections on purpose.
    backoff: { baseMs: 100, maxMs: 1_000 },
    ...options,
  });
  sessions.push(s);
  return s;
}

/** The user's open connections, as the backend registered them (USER#{id} / CONN#{connection}). */
export async function connectionIds(userId: string): Promise<string[]> {
  const r = await fetch(need("DYNAMODB_ENDPOINT"), {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "DynamoDB_20120810.Query",
      authorization: "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    },
    body: JSON.stringify({
      TableName: need("TABLE_NAME"),
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :sk)",
      ExpressionAttributeValues: { ":pk": { S: `USER#${userId}` }, ":sk": { S: "CONN#" } },
      ConsistentRead: true,
    }),
  });
  if (!r.ok) throw new Error(`DynamoDB Local: ${r.status} ${await r.text()}`);
  const body = (await r.json()) as { Items: Array<{ SK: { S: string } }> };
  return body.Items.map((i) => i.SK.S.slice("CONN#".length));
}

function managementUrl(): string {
  return stack.wsUrl.replace(/^ws/, "http");
}

/**
 * The Management API refuses unsigned calls (403), as on AWS; the local gateway reads the
 * access key of a SigV4 header (not the signature) and lets callers that are not one of the
 * template's functions through.
 */
const MANAGEMENT_SIGNATURE =
  "AWS4-HMAC-SHA256 Credential=local-tests/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0";

/**
 * Cuts every connection of the user as API Gateway would (Management API DELETE
 * /@connections/{id}); answers how many were cut.
 */
export async function cut(userId: string): Promise<number> {
  const ids = await connectionIds(userId);
  for (const id of ids) {
    const r = await fetch(`${managementUrl()}/@connections/${encodeURIComponent(id)}`, {
      method: "DELETE",
      headers: { authorization: MANAGEMENT_SIGNATURE },
    });
    if (r.status !== 204 && r.status !== 410) throw new Error(`DELETE @connections/${id}: ${r.status}`);
  }
  return ids.length;
}

/** Sets the gateway's Management API faults (fail_rate of PostToConnection calls). */
export async function setFaults(faults: { latency_ms?: number; fail_rate?: number; fail_status?: number }): Promise<void> {
  const r = await fetch(`${managementUrl()}/@gateway/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ latency_ms: 0, fail_rate: 0, fail_status: 500, ...faults }),
  });
  if (!r.ok) throw new Error(`PUT @gateway/faults: ${r.status} ${await r.text()}`);
}

/** Polls until `check` answers a value that is not undefined/false (or throws after `timeoutMs`). */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A raw WebSocket of this user, for frames the session would never send. */
export async function rawSocket(user: User): Promise<{ ws: WebSocket; events: Array<Record<string, unknown>>; send: (f: object) => void }> {
  const ws = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(user.token)}`);
  const events: Array<Record<string, unknown>> = [];
  ws.on("message", (data) => events.push(JSON.parse(String(data)) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  after(() => ws.close());
  return { ws, events, send: (f) => ws.send(JSON.stringify(f)) };
}
