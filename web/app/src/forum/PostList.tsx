import { useState } from "preact/hooks";
import type { Post, PostListOptions, PostStatus } from "@course-community/client";
import { href, go } from "../router";
import { useLoad } from "../lib/load";
import { listPosts } from "./api";
import { Byline, StatusTags } from "./PostBits";
import { AccessOrError } from "../communities/NoAccess";
import { Empty, ErrorNotice, Loading } from "../ui/Notice";
import type { CommunityProps } from "../communities/props";
import { canModerate } from "../communities/api";
import { me } from "../session";
import { plural } from "../lib/format";

async function firstN(list: AsyncIterable<Post>, n: number): Promise<Post[]> {
  const out: Post[] = [];
  for await (const p of list) {
    out.push(p);
    if (out.length >= n) break;
  }
  return out;
}

function PostItem({ post, cid }: { post: Post; cid: string }) {
  return (
    <li class="card post-item" data-post={post.id}>
      <div class="spread">
        <a class="title" href={href("c", cid, "post", post.id)}>
          {post.is_deleted ? <span class="deleted">Deleted post</span> : post.title}
        </a>
        <span class="row">
          <StatusTags post={post} />
        </span>
      </div>
      <div class="meta">
        <Byline post={post} />
        <span>{plural(post.reply_count, "reply", "replies")}</span>
      </div>
      {post.status === "rejected" && post.moderation_reason && (
        <p class="small">Reason given: {post.moderation_reason}</p>
      )}
    </li>
  );
}

/** The forum: pinned first, then newest; filters by status, pinned and author; the caller's own
 * pending and rejected posts on top. */
export function PostList({ community, query }: CommunityProps & { query: URLSearchParams }) {
  const status = (query.get("status") ?? "approved") as PostStatus | "deleted";
  const pinned = query.get("pinned") ?? "";
  const mine = query.get("author") === "me";
  const mod = canModerate(community);
  const options: PostListOptions = { limit: 20, status: status as PostStatus };
  if (pinned) options.pinned = pinned === "true";
  if (mine && me.value) options.author = me.value.id;

  const [extra, setExtra] = useState<Post[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const key = JSON.stringify(options);
  const page = useLoad(async () => {
    setExtra([]);
    const p = await listPosts(community.id, options);
    setNext(p.next);
    return p.results;
  }, [community.id, key]);
  // My posts that others do not see yet (awaiting approval) or at all (rejected).
  const own = useLoad(async () => {
    if (status !== "approved" || mine || !me.value) return [];
    const author = me.value.id;
    const [pending, rejected] = await Promise.all([
      firstN(listPosts(community.id, { status: "pending", author, limit: 20 }), 20),
      firstN(listPosts(community.id, { status: "rejected", author, limit: 20 }), 20),
    ]);
    return [...pending, ...rejected];
  }, [community.id, key]);

  function setFilter(name: string, value: string) {
    const q = new URLSearchParams(query);
    if (value) q.set(name, value);
    else q.delete(name);
    const s = q.toString();
    go(href("c", community.id, "forum") + (s ? `?${s}` : ""));
  }

  async function more() {
    if (!next) return;
    setMoreError(null);
    try {
      const p = await listPosts(community.id, { ...options, cursor: next });
      setExtra((x) => [...x, ...p.results]);
      setNext(p.next);
    } catch (e) {
      setMoreError(e);
    }
  }

  const posts = [...(page.data ?? []), ...extra];
  return (
    <section aria-labelledby="forum-h">
      <div class="spread">
        <h2 id="forum-h">Forum</h2>
        <a class="button primary" href={href("c", community.id, "new")}>
          New post
        </a>
      </div>
      <form class="filters" aria-label="Filter posts" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="f-status">Show</label>
          <select id="f-status" value={status} onChange={(e) => setFilter("status", e.currentTarget.value === "approved" ? "" : e.currentTarget.value)}>
            <option value="approved">Published</option>
            <option value="pending">{mod ? "Awaiting approval" : "Mine awaiting approval"}</option>
            <option value="rejected">{mod ? "Rejected" : "Mine rejected"}</option>
            {mod && <option value="deleted">Deleted</option>}
          </select>
        </div>
        <div class="field">
          <label for="f-pinned">Pinned</label>
          <select id="f-pinned" value={pinned} onChange={(e) => setFilter("pinned", e.currentTarget.value)}>
            <option value="">All posts</option>
            <option value="true">Pinned only</option>
            <option value="false">Not pinned</option>
          </select>
        </div>
        <label class="check">
          <input type="checkbox" checked={mine} onChange={(e) => setFilter("author", e.currentTarget.checked ? "me" : "")} />
          Only my posts
        </label>
      </form>
      {own.data && own.data.length > 0 && (
        <section aria-labelledby="own-h">
          <h3 id="own-h">Your posts not published</h3>
          <p class="muted small">Only you and the moderators see these.</p>
          <ul class="list">
            {own.data.map((p) => (
              <PostItem post={p} cid={community.id} />
            ))}
          </ul>
        </section>
      )}
      {page.error ? <AccessOrError error={page.error} retry={page.reload} community={community} /> : null}
      {page.loading && !page.data && <Loading what="Loading posts" />}
      {page.data && posts.length === 0 && <Empty>No posts here yet. Start the conversation with “New post”.</Empty>}
      <ul class="list" aria-label="Posts">
        {posts.map((p) => (
          <PostItem post={p} cid={community.id} />
        ))}
      </ul>
      <ErrorNotice error={moreError} retry={more} />
      {next && (
        <button type="button" onClick={more}>
          Show older posts
        </button>
      )}
    </section>
  );
}
