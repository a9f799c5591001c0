// The WebSocket part of the smoke test (scripts/smoke.sh): two real sessions on a community,
// a chat message from the student to the instructor, then a reply to the instructor's post that
// must reach them as a `notification` event. Prints one JSON line per check; exits 1 on a failure.
//
//   node scripts/smoke-ws.mjs <http-url> <ws-url> <community-id> <post-id> <instructor-token> <student-token>
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WebSocket = createRequire(path.join(root, "web/client/package.json"))("ws");

const [httpUrl, wsUrl, communityId, postId, instructorToken, studentToken] = process.argv.slice(2);
if (!studentToken) {
  console.error("usage: smoke-ws.mjs <http-url> <ws-url> <community-id> <post-id> <instructor-token> <student-token>");
  process.exit(2);
}
const WAIT_MS = Number(process.env.SMOKE_WAIT_MS || 15000);
const run = Date.now().toString(36);

function report(check, ok, detail) {
  console.log(JSON.stringify({ check, ok, ...detail }));
  if (!ok) failed = true;
}
let failed = false;

function open(token) {
  const url = `${wsUrl}/?token=${encodeURIComponent(token)}&community_id=${encodeURIComponent(communityId)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const events = [];
    const waiters = [];
    ws.on("message", (data) => {
      let ev;
      try { ev = JSON.parse(data.toString()); } catch { return; }
      events.push(ev);
      for (const w of waiters.splice(0)) w();
    });
    ws.once("open", () => resolve({
      ws,
      send: (v) => ws.send(JSON.stringify(v)),
      // The first event (already received or to come) that matches, or null after the wait.
      next: async (match, ms = WAIT_MS) => {
        const deadline = Date.now() + ms;
        for (;;) {
          const i = events.findIndex(match);
          if (i >= 0) return events.splice(i, 1)[0];
          const left = deadline - Date.now();
          if (left <= 0) return null;
          await new Promise((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
        }
      },
    }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

let instructor, student;
try {
  const started = Date.now();
  [instructor, student] = await Promise.all([open(instructorToken), open(studentToken)]);
  report("websocket_connect", true, { sessions: 2, ms: Date.now() - started });
} catch (e) {
  report("websocket_connect", false, { error: String(e.message || e) });
  process.exit(1);
}

// Chat: the student's message is acknowledged to them and delivered to the instructor.
{
  const clientId = `smoke-${run}`;
  const text = `smoke test ${run}`;
  const started = Date.now();
  student.send({ type: "chat_message", community_id: communityId, message: text, client_id: clientId });
  const ack = await student.next((e) => e.type === "chat_message" && e.client_id === clientId);
  const got = await instructor.next((e) => e.type === "chat_message" && e.message === text);
  const refused = await student.next((e) => e.type === "error", 0);
  report("chat_over_websocket", Boolean(ack && got), {
    acknowledged: Boolean(ack), delivered: Boolean(got), ms: Date.now() - started,
    ...(refused ? { error: refused.detail } : {}),
  });
}

// Notification: a reply to the instructor's post reaches the instructor's open session.
{
  const started = Date.now();
  const r = await fetch(`${httpUrl}/api/community/posts/`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${studentToken}` },
    body: JSON.stringify({ community: communityId, parent: postId, content: `A smoke-test reply ${run}` }),
  });
  const reply = await r.json().catch(() => ({}));
  report("reply_posted", r.status === 201, { status: r.status, ...(r.status === 201 ? {} : { body: reply }) });
  const ev = await instructor.next((e) => e.type === "notification");
  report("notification_pushed", Boolean(ev), {
    ms: Date.now() - started,
    ...(ev ? { notification_type: ev.notification?.notification_type ?? null, unread_count: ev.unread_count ?? null } : {}),
  });
}

instructor.ws.close();
student.ws.close();
process.exit(failed ? 1 : 0);
