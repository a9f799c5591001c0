import { useState } from "preact/hooks";
import type { Post, PostDetail } from "@course-community/client";
import { useLoad } from "../lib/load";
import { createPost, deletePost, editPost, flagPost, getThread, getThreadPage, pin } from "./api";
import { Byline, Reactions, StatusTags } from "./PostBits";
import { PostForm } from "./PostForm";
import { AccessOrError } from "../communities/NoAccess";
import { ErrorNotice, Loading, Notice } from "../ui/Notice";
import type { CommunityProps } from "../communities/props";
import { canModerate } from "../communities/api";
import { me } from "../session";
import { href } from "../router";
import { describe } from "../lib/errors";

function Actions({ post, community, onChange, onReply }: {
  post: Post;
  community: CommunityProps["community"];
  onChange: (p: Post | null) => void;
  onReply?: () => void;
}) {
  const [mode, setMode] = useState<"" | "edit" | "flag" | "delete">("");
  const [error, setError] = useState<unknown>(null);
  const [flagReason, setFlagReason] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const mine = post.author.id === me.value?.id;
  const mod = canModerate(community);
  if (post.is_deleted) return null;
  async function run(fn: () => Promise<void>) {
    setError(null);
    try {
      await fn();
      setMode("");
    } catch (e) {
      setError(e);
    }
  }
  return (
    <div>
      <div class="row" style="margin-top:0.5rem">
        {onReply && post.status === "approved" && (
          <button type="button" class="small" onClick={onReply}>
            Reply
          </button>
        )}
        {mine && (
          <button type="button" class="small" aria-expanded={mode === "edit"} onClick={() => setMode(mode === "edit" ? "" : "edit")}>
            Edit
          </button>
        )}
        {mod && post.depth === 0 && post.status === "approved" && (
          <button type="button" class="small" onClick={() => run(async () => onChange(await pin(post.id, !post.is_pinned)))}>
            {post.is_pinned ? "Unpin" : "Pin"}
          </button>
        )}
        {!mine && post.status === "approved" && (
          <button type="button" class="small" aria-expanded={mode === "flag"} onClick={() => setMode(mode === "flag" ? "" : "flag")}>
            Flag
          </button>
        )}
        {(mine || mod) &&
          (mode === "delete" ? (
            <>
              <button type="button" class="small danger" onClick={() => run(async () => { await deletePost(post.id); onChange(null); })}>
                Yes, delete
              </button>
              <button type="button" class="small" onClick={() => setMode("")}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" class="small danger" onClick={() => setMode("delete")}>
              Delete
            </button>
          ))}
      </div>
      {done && <p class="small" role="status">{done}</p>}
      <ErrorNotice error={error} />
      {mode === "edit" && (
        <div class="card" style="margin-top:0.5rem">
          <PostForm
            draftKey={`edit.${post.id}`}
            idPrefix={`edit-${post.id}`}
            withTitle={post.depth === 0}
            initial={{ title: post.title ?? "", content: post.content ?? "" }}
            submitLabel="Save changes"
            onSubmit={async (v) => {
              const body: { title?: string; content: string } = { content: v.content };
              if (post.depth === 0) body.title = v.title;
              onChange(await editPost(post.id, body));
              setMode("");
            }}
            onCancel={() => setMode("")}
          />
        </div>
      )}
      {mode === "flag" && (
        <form
          class="card"
          style="margin-top:0.5rem"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              await flagPost(post.id, flagReason);
              setFlagReason("");
              setDone("Thank you: the moderators will look at it.");
            });
          }}
        >
          <div class="field">
            <label for={`flag-${post.id}`}>Why should a moderator look at this?</label>
            <input id={`flag-${post.id}`} type="text" required maxLength={1000} value={flagReason} onInput={(e) => setFlagReason(e.currentTarget.value)} />
          </div>
          <button type="submit" class="primary" disabled={!flagReason.trim()}>
            Send flag
          </button>
        </form>
      )}
    </div>
  );
}

function Body({ post }: { post: Post }) {
  if (post.is_deleted) return <p class="deleted">This post was deleted.</p>;
  return <div class="content">{post.content}</div>;
}

function Moderated({ post }: { post: Post }) {
  if (post.status === "pending")
    return <Notice kind="warn"><p>Awaiting approval: only you and the moderators see this until a moderator approves it.</p></Notice>;
  if (post.status === "rejected")
    return (
      <Notice kind="error">
        <p>
          A moderator rejected this post{post.moderation_reason ? `: ${post.moderation_reason}` : "."} Only you and the
          moderators see it.
        </p>
      </Notice>
    );
  return null;
}

export function Thread({ community, postId }: CommunityProps & { postId: string }) {
  const thread = useLoad(() => getThread(postId), [postId]);
  const [replyTo, setReplyTo] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(null);
  const t = thread.data;

  function replace(p: Post | null, id: string) {
    if (!p && id === postId) return setGone(true);
    thread.set((d) => {
      if (!d) return d;
      if (d.id === id) return p ? { ...d, ...p } : d;
      return { ...d, replies: d.replies.map((r) => (r.id === id ? (p ?? { ...r, is_deleted: true, content: null, title: null }) : r)) };
    });
  }

  async function reply(parent: string, content: string) {
    const post = await createPost(community.id, { parent, content });
    setReplyTo(null);
    thread.set((d) => {
      if (!d) return d;
      // Depth-first: the new reply goes after its parent's subtree.
      const replies = [...d.replies];
      let at = replies.length;
      const pi = replies.findIndex((r) => r.id === parent);
      if (pi >= 0) {
        at = pi + 1;
        while (at < replies.length && replies[at]!.depth > replies[pi]!.depth) at++;
      }
      replies.splice(at, 0, post);
      return { ...d, replies, reply_count: parent === d.id && post.status === "approved" ? d.reply_count + 1 : d.reply_count };
    });
  }

  async function moreReplies() {
    if (!t?.replies_next) return;
    setMoreError(null);
    try {
      const page: PostDetail = await getThreadPage(postId, t.replies_next);
      thread.set((d) => (d ? { ...d, replies: [...d.replies, ...page.replies], replies_next: page.replies_next } : d));
    } catch (e) {
      setMoreError(e);
    }
  }

  if (gone) return <Notice kind="ok"><p>The post was deleted. <a href={href("c", community.id, "forum")}>Back to the forum</a></p></Notice>;
  if (thread.error && !t) return <AccessOrError error={thread.error} retry={thread.reload} community={community} />;
  if (!t) return <Loading what="Loading the thread" />;
  return (
    <article aria-labelledby="thread-h">
      <p>
        <a href={href("c", community.id, "forum")}>← All posts</a>
      </p>
      <div class="card">
        <div class="spread">
          <h2 id="thread-h">{t.is_deleted ? <span class="deleted">Deleted post</span> : t.title}</h2>
          <span class="row">
            <StatusTags post={t} />
          </span>
        </div>
        <Byline post={t} />
        <Moderated post={t} />
        <Body post={t} />
        <Reactions post={t} onChange={(p) => replace(p, t.id)} />
        <Actions post={t} community={community} onChange={(p) => replace(p, t.id)} />
      </div>
      <section aria-labelledby="replies-h">
        <h3 id="replies-h">{t.reply_count === 1 ? "1 reply" : `${t.reply_count} replies`}</h3>
        <ul class="list">
          {t.replies.map((r) => (
            <li class="reply" style={`margin-left:${Math.min(r.depth - 1, 6) * 1.25}rem`} data-post={r.id}>
              <div class="row">
                <Byline post={r} />
                <StatusTags post={r} />
              </div>
              <Moderated post={r} />
              <Body post={r} />
              <Reactions post={r} onChange={(p) => replace(p, r.id)} />
              <Actions post={r} community={community} onChange={(p) => replace(p, r.id)} onReply={() => setReplyTo(r.id)} />
              {replyTo === r.id && (
                <div class="card" style="margin-top:0.5rem">
                  <PostForm
                    draftKey={`reply.${r.id}`}
                    idPrefix={`reply-${r.id}`}
                    withTitle={false}
                    submitLabel="Reply"
                    onSubmit={(v) => reply(r.id, v.content)}
                    onCancel={() => setReplyTo(null)}
                  />
                </div>
              )}
            </li>
          ))}
        </ul>
        <ErrorNotice error={moreError} retry={moreReplies} />
        {t.replies_next && (
          <button type="button" onClick={moreReplies}>
            More replies
          </button>
        )}
      </section>
      {t.status === "approved" && !t.is_deleted ? (
        <section class="card" aria-labelledby="reply-h">
          <h3 id="reply-h">Reply to this post</h3>
          <PostForm draftKey={`reply.${t.id}`} idPrefix="reply-root" withTitle={false} submitLabel="Reply" onSubmit={(v) => reply(t.id, v.content)} />
        </section>
      ) : null}
      {thread.error && t ? <p class="field-error">{describe(thread.error)}</p> : null}
    </article>
  );
}
