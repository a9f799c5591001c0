import { go, href } from "../router";
import { createPost } from "./api";
import { PostForm } from "./PostForm";
import type { CommunityProps } from "../communities/props";
import { canModerate } from "../communities/api";

export function PostEditor({ community }: CommunityProps) {
  const held = community.require_post_approval && !canModerate(community);
  return (
    <section class="card" aria-labelledby="new-h">
      <h2 id="new-h">New post</h2>
      {held && <p class="notice info">A moderator checks new posts here before the others see them.</p>}
      <PostForm
        draftKey={`new-post.${community.id}`}
        idPrefix="new"
        withTitle
        submitLabel="Publish"
        onSubmit={async (v) => {
          const post = await createPost(community.id, { title: v.title, content: v.content });
          go(href("c", community.id, "post", post.id));
        }}
        onCancel={() => go(href("c", community.id, "forum"))}
      />
    </section>
  );
}
