import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Message, OutgoingMessage } from "@course-community/client";
import { ForbiddenError, NotFoundError } from "@course-community/client";
import { chatVersion, connection, session } from "../realtime";
import { me } from "../session";
import { useDraft } from "../lib/draft";
import { describe } from "../lib/errors";
import { exact, when } from "../lib/format";
import { canModerate } from "../communities/api";
import { NoAccess } from "../communities/NoAccess";
import { ErrorNotice, Loading } from "../ui/Notice";
import type { CommunityProps } from "../communities/props";

/** `@name` of the signed-in user stands out. */
function Text({ text }: { text: string }) {
  const mine = me.value?.username;
  if (!mine) return <span class="text">{text}</span>;
  const parts = text.split(new RegExp(`(@${mine}\\b)`, "i"));
  return (
    <span class="text">
      {parts.map((p, i) => (i % 2 ? <mark>{p}</mark> : p))}
    </span>
  );
}

function MessageItem({ m, mod, seenBy }: { m: Message; mod: boolean; seenBy?: string }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(m.message);
  const [error, setError] = useState<unknown>(null);
  const mine = m.sender_id === me.value?.id;
  const s = session.value;
  async function run(fn: () => Promise<unknown>) {
    setError(null);
    try {
      await fn();
      setEditing(false);
    } catch (e) {
      setError(e);
    }
  }
  return (
    <li class={`msg ${mine ? "mine" : ""}`} data-message={m.id}>
      <span class="who">{m.sender_name}</span>
      <time class="muted small" dateTime={m.created_at} title={exact(m.created_at)}>
        {when(m.created_at)}
      </time>{" "}
      {m.is_deleted ? (
        <span class="deleted">message deleted</span>
      ) : editing ? (
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => s!.edit(m.id, text));
          }}
        >
          <label class="sr-only" for={`edit-${m.id}`}>
            Edit message
          </label>
          <input id={`edit-${m.id}`} type="text" value={text} onInput={(e) => setText(e.currentTarget.value)} style="flex:1" />
          <button type="submit" class="small primary" disabled={!text.trim()}>
            Save
          </button>
          <button type="button" class="small" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <>
          <Text text={m.message} />
          {m.edited_at && <span class="muted small"> (edited)</span>}
        </>
      )}
      {!m.is_deleted && !editing && (mine || mod) && (
        <span class="actions">
          {mine && (
            <button type="button" class="link small" onClick={() => (setText(m.message), setEditing(true))} aria-label="Edit this message">
              edit
            </button>
          )}
          <button type="button" class="link small" onClick={() => run(() => s!.delete(m.id))} aria-label="Delete this message">
            delete
          </button>
        </span>
      )}
      {mine && !m.is_deleted && (
        <span class="muted small" data-status={m.status}>
          {" "}
          · {m.status === "read" ? (seenBy ? `seen by ${seenBy}` : "seen") : m.status === "delivered" ? "delivered" : "sent"}
        </span>
      )}
      {error != null && (
        <p class="field-error" role="alert">
          {describe(error)}
        </p>
      )}
    </li>
  );
}

/** `status` and `error` are passed on their own: the entry object stays the same while they change,
 * and a component reading signals re-renders only when its props change. */
function PendingItem({ p, status, error }: { p: OutgoingMessage; status: OutgoingMessage["status"]; error: unknown }) {
  const s = session.value;
  const failed = status === "failed";
  const waiting = connection.value !== "open";
  return (
    <li class={`msg mine ${failed ? "failed" : "sending"}`} data-pending={p.clientId} data-status={status}>
      <span class="who">{me.value?.name}</span>
      <span class="text">{p.message}</span>
      <span class="small">
        {" "}
        ·{" "}
        {failed ? (
          <>
            <strong>Not sent</strong>: {describe(error)}{" "}
            <button type="button" class="link small" onClick={() => s?.retry(p.clientId)}>
              Retry
            </button>
            <button type="button" class="link small" onClick={() => s?.discard(p.clientId)}>
              Discard
            </button>
          </>
        ) : status === "waiting" ? (
          "waiting to resend…"
        ) : waiting ? (
          "will send when reconnected"
        ) : (
          "sending…"
        )}
      </span>
    </li>
  );
}

/** The community's chat room: live messages, typing, presence, receipts, history. */
export function ChatRoom({ community }: CommunityProps) {
  const s = session.value;
  const cid = community.id;
  chatVersion.value; // re-render on every change of the session's rooms
  const [ready, setReady] = useState(false);
  const [refused, setRefused] = useState<unknown>(null);
  const [olderError, setOlderError] = useState<unknown>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [draft, setDraft, clearDraft] = useDraft(`chat.${cid}`);
  const [readers, setReaders] = useState<Record<string, string>>({});
  const list = useRef<HTMLUListElement>(null);
  const box = useRef<HTMLElement>(null);
  const [top, setTop] = useState(0);
  const atBottom = useRef(true);
  const lastRead = useRef<string>("");

  useEffect(() => {
    if (!s) return;
    setReady(false);
    setRefused(null);
    s.subscribe(cid).then(
      () => setReady(true),
      (e) => setRefused(e),
    );
    const off = s.on("read_receipt", (r) => {
      if (r.community_id === cid) setReaders((x) => ({ ...x, [r.message_id]: r.name }));
    });
    return () => {
      off();
      s.setTyping(cid, false);
      s.unsubscribe(cid);
    };
  }, [s, cid]);

  const messages = s ? s.messages(cid) : [];
  const pending = s ? s.pending(cid) : [];
  const typing = s ? s.typing(cid) : [];
  const online = s ? s.online(cid) : [];
  const newest = messages[messages.length - 1];

  // The room fills the window below the header, whatever its height (phone or desktop).
  useLayoutEffect(() => {
    const measure = () => box.current && setTop(box.current.getBoundingClientRect().top + window.scrollY);
    measure();
    addEventListener("resize", measure);
    return () => removeEventListener("resize", measure);
  }, [ready]);

  // Follow new messages while the reader is at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages.length, pending.length, newest?.id]);

  // What is on screen is read: one receipt for the newest message of someone else.
  useEffect(() => {
    if (!s || !ready || !newest || document.visibilityState !== "visible") return;
    const theirs = [...messages].reverse().find((m) => m.sender_id !== me.value?.id && !m.is_deleted);
    if (!theirs || theirs.id <= lastRead.current) return;
    lastRead.current = theirs.id;
    s.markRead(theirs.id).catch(() => {
      lastRead.current = "";
    });
  }, [s, ready, newest?.id]);

  if (refused instanceof ForbiddenError || refused instanceof NotFoundError)
    return <NoAccess community={community} detail={(refused as ForbiddenError).detail} />;
  if (!s) return <Loading what="Connecting" />;
  const otherRefusal = refused != null ? <ErrorNotice error={refused} /> : null;

  async function older() {
    setOlderError(null);
    setLoadingOlder(true);
    const el = list.current;
    const before = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      await s!.loadOlder(cid);
      requestAnimationFrame(() => {
        if (el) el.scrollTop = el.scrollHeight - before;
      });
    } catch (e) {
      setOlderError(e);
    } finally {
      setLoadingOlder(false);
    }
  }

  function send() {
    const text = draft.trim();
    if (!text) return;
    atBottom.current = true;
    s!.send(cid, text);
    clearDraft();
  }

  // The last of my messages someone read, and who.
  const lastSeen = [...messages].reverse().find((m) => m.sender_id === me.value?.id && readers[m.id]);
  const mod = canModerate(community);
  const typingText =
    typing.length === 0
      ? ""
      : typing.length === 1
        ? `${typing[0]!.name} is typing…`
        : typing.length === 2
          ? `${typing[0]!.name} and ${typing[1]!.name} are typing…`
          : `${typing.length} people are typing…`;

  return (
    <section class="chat" aria-label="Chat room" ref={box} style={top ? `height: calc(100dvh - ${Math.round(top)}px - 0.75rem)` : undefined}>
      <div class="chat-main">
        {otherRefusal}
        <ul
          class="messages"
          ref={list}
          aria-label="Messages"
          aria-live="polite"
          aria-relevant="additions"
          tabIndex={0}
          onScroll={(e) => {
            const el = e.currentTarget;
            atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}
        >
          <li class="row" style="justify-content:center">
            {s.hasOlder(cid) && ready ? (
              <button type="button" class="small" onClick={older} disabled={loadingOlder}>
                {loadingOlder ? "Loading…" : "Show earlier messages"}
              </button>
            ) : ready ? (
              <span class="muted small">The start of the conversation.</span>
            ) : (
              <span class="muted small">Loading messages…</span>
            )}
          </li>
          {olderError != null && (
            <li>
              <ErrorNotice error={olderError} retry={older} />
            </li>
          )}
          {messages.map((m) => (
            <MessageItem m={m} mod={mod} seenBy={lastSeen?.id === m.id ? readers[m.id] : undefined} key={m.id} />
          ))}
          {pending.map((p) => (
            <PendingItem p={p} status={p.status} error={p.error} key={p.clientId} />
          ))}
        </ul>
        <div class="typing" aria-live="polite" data-typing={typing.map((t) => t.user_id).join(",")}>
          {typingText}
        </div>
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          <label class="sr-only" for="chat-input">
            Message to {community.title}
          </label>
          <textarea
            id="chat-input"
            value={draft}
            placeholder="Write a message"
            aria-describedby="chat-hint"
            maxLength={4000}
            onInput={(e) => {
              const v = e.currentTarget.value;
              setDraft(v);
              s.setTyping(cid, v.trim().length > 0);
            }}
            onBlur={() => s.setTyping(cid, false)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send();
              }
            }}
          />
          <span id="chat-hint" class="sr-only">
            Enter sends, Shift+Enter starts a new line.
          </span>
          <button type="submit" class="primary" disabled={!draft.trim()}>
            Send
          </button>
        </form>
      </div>
      <aside class="presence card" aria-labelledby="online-h">
        <h2 id="online-h">Online now</h2>
        <ul class="list" data-online={online.map((u) => u.user_id).join(",")}>
          {online.map((u) => (
            <li>{u.user_id === me.value?.id ? `${u.name} (you)` : u.name}</li>
          ))}
        </ul>
      </aside>
    </section>
  );
}
