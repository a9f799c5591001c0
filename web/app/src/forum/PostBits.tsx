import { useState } from "preact/hooks";
import type { Post, ReactionType } from "@course-community/client";
import { REACTION_TYPES } from "@course-community/client";
import { exact, when } from "../lib/format";
import { toggleReaction } from "./api";
import { describe } from "../lib/errors";

const EMOJI: Record<ReactionType, string> = { like: "👍", love: "❤️", helpful: "💡", haha: "😄", wow: "😮", sad: "😢" };
const LABEL: Record<ReactionType, string> = { like: "Like", love: "Love", helpful: "Helpful", haha: "Haha", wow: "Wow", sad: "Sad" };

export function StatusTags({ post }: { post: Post }) {
  return (
    <>
      {post.is_pinned && <span class="tag pinned">Pinned</span>}
      {post.status === "pending" && <span class="tag pending">Awaiting approval</span>}
      {post.status === "rejected" && <span class="tag rejected">Rejected</span>}
    </>
  );
}

export function Byline({ post }: { post: Post }) {
  return (
    <span class="meta">
      <span>{post.author.name}</span>
      <time dateTime={post.created_at} title={exact(post.created_at)}>
        {when(post.created_at)}
      </time>
      {post.edited_at && <span title={`edited ${exact(post.edited_at)}`}>(edited)</span>}
    </span>
  );
}

/** The reaction buttons: each a toggle (aria-pressed) with its count. */
export function Reactions({ post, onChange }: { post: Post; onChange: (p: Post) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (post.is_deleted || post.status !== "approved") return null;
  return (
    <div>
      <div class="reactions" role="group" aria-label="Reactions">
        {REACTION_TYPES.map((t) => {
          const pressed = (post.my_reactions ?? []).includes(t);
          const n = post.reaction_counts[t];
          return (
            <button
              type="button"
              aria-pressed={pressed}
              disabled={busy}
              aria-label={`${LABEL[t]}, ${n}`}
              onClick={async () => {
                setBusy(true);
                setError(null);
                try {
                  onChange(await toggleReaction(post, t));
                } catch (e) {
                  setError(describe(e));
                } finally {
                  setBusy(false);
                }
              }}
            >
              <span aria-hidden="true">{EMOJI[t]}</span> {LABEL[t]} {n > 0 ? <strong>{n}</strong> : ""}
            </button>
          );
        })}
      </div>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
