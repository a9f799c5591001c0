import { useState } from "preact/hooks";
import type { Flag, Note, QueueEntry } from "@course-community/client";
import { useLoad } from "../lib/load";
import { addNote, approve, flags, notes, queue, reject, resolveFlags } from "./api";
import { Byline } from "../forum/PostBits";
import { AccessOrError } from "../communities/NoAccess";
import { Empty, ErrorNotice, Loading, Notice } from "../ui/Notice";
import type { CommunityProps } from "../communities/props";
import { exact, when } from "../lib/format";
import { href } from "../router";

function Notes({ postId }: { postId: string }) {
  const list = useLoad(() => notes(postId), [postId]);
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  return (
    <div>
      <ErrorNotice error={list.error} retry={list.reload} />
      {list.data && list.data.length === 0 && <p class="muted small">No notes yet.</p>}
      <ul class="list">
        {list.data?.map((n: Note) => (
          <li class="small" style="margin-bottom:0.35rem">
            <strong>{n.author_name}</strong>{" "}
            <time class="muted" dateTime={n.created_at} title={exact(n.created_at)}>
              {when(n.created_at)}
            </time>
            : {n.note}
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            const n = await addNote(postId, text);
            list.set((l) => [...(l ?? []), n]);
            setText("");
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label class="sr-only" for={`note-${postId}`}>
          New moderator note
        </label>
        <input id={`note-${postId}`} type="text" placeholder="A note for the other moderators" maxLength={1000} value={text} onInput={(e) => setText(e.currentTarget.value)} style="flex:1" />
        <button type="submit" class="small" disabled={!text.trim()}>
          Add note
        </button>
      </form>
      <ErrorNotice error={error} />
    </div>
  );
}

function Flags({ postId }: { postId: string }) {
  const list = useLoad(() => flags(postId), [postId]);
  if (list.error) return <ErrorNotice error={list.error} retry={list.reload} />;
  if (!list.data) return <Loading what="Loading flags" />;
  return (
    <ul class="list small">
      {list.data.map((f: Flag) => (
        <li>
          <strong>{f.user_name}</strong>: {f.reason} <span class="muted">({when(f.created_at)}{f.resolved ? ", resolved" : ""})</span>
        </li>
      ))}
    </ul>
  );
}

function Entry({ entry, community, onDone }: { entry: QueueEntry; community: CommunityProps["community"]; onDone: (msg: string) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const pending = entry.queue_reasons.includes("pending");
  const flagged = entry.queue_reasons.includes("flagged");
  const title = entry.title ?? "(reply)";
  async function act(fn: () => Promise<unknown>, msg: string) {
    setBusy(true);
    setError(null);
    try {
      await fn();
      onDone(msg);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  const rid = `reason-${entry.id}`;
  return (
    <li class="card" data-queue-entry={entry.id} aria-labelledby={`q-${entry.id}`}>
      <div class="spread">
        <h3 id={`q-${entry.id}`}>
          <a href={href("c", community.id, "post", entry.root)}>{title}</a>
        </h3>
        <span class="row">
          {pending && <span class="tag pending">Awaiting approval</span>}
          {flagged && <span class="tag rejected">Flagged ({entry.moderation?.open_flag_count ?? "?"})</span>}
        </span>
      </div>
      <Byline post={entry} />
      <div class="content">{entry.content}</div>
      <div class="field">
        <label for={rid}>{pending ? "Reason (optional; shown to the author)" : "Note on resolving (optional)"}</label>
        <input id={rid} type="text" maxLength={1000} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </div>
      <div class="row">
        {pending && (
          <>
            <button type="button" class="primary" disabled={busy} onClick={() => act(() => approve(entry.id, reason), `Approved “${title}”.`)}>
              Approve
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => act(() => reject(entry.id, reason), `Rejected “${title}”.`)}>
              Reject
            </button>
          </>
        )}
        {flagged && (
          <button type="button" disabled={busy} onClick={() => act(() => resolveFlags(entry.id, reason), `Flags of “${title}” resolved.`)}>
            Resolve flags
          </button>
        )}
      </div>
      <ErrorNotice error={error} />
      {flagged && (
        <details>
          <summary>Flags</summary>
          <Flags postId={entry.id} />
        </details>
      )}
      <details>
        <summary>Moderator notes</summary>
        <Notes postId={entry.id} />
      </details>
    </li>
  );
}

/** Pending and flagged posts, oldest first: approve, reject with a reason, resolve flags, notes. */
export function ModerationQueue({ community }: CommunityProps) {
  const [next, setNext] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const page = useLoad(async () => {
    const p = await queue(community.id);
    setNext(p.next);
    return p.results;
  }, [community.id]);
  async function more() {
    if (!next) return;
    const p = await queue(community.id, next);
    page.set((l) => [...(l ?? []), ...p.results]);
    setNext(p.next);
  }
  return (
    <section aria-labelledby="mod-h">
      <div class="spread">
        <h2 id="mod-h">Moderation queue</h2>
        <button type="button" class="small" onClick={page.reload}>
          Refresh
        </button>
      </div>
      {done && <Notice kind="ok">{done}</Notice>}
      {page.error ? <AccessOrError error={page.error} retry={page.reload} community={community} /> : null}
      {page.loading && !page.data && <Loading what="Loading the queue" />}
      {page.data && page.data.length === 0 && <Empty>Nothing waits for a moderator.</Empty>}
      <ul class="list">
        {page.data?.map((e) => (
          <Entry
            key={e.id}
            entry={e}
            community={community}
            onDone={(msg) => {
              setDone(msg);
              page.set((l) => l?.filter((x) => x.id !== e.id));
            }}
          />
        ))}
      </ul>
      {next && (
        <button type="button" onClick={more}>
          More
        </button>
      )}
    </section>
  );
}
