import type { NewPost, Post, PostListOptions, ReactionType } from "@course-community/client";
import { client } from "../session";

export const listPosts = (communityId: string, options: PostListOptions) => client().posts.list(communityId, options);
export const getThread = (postId: string) => client().posts.get(postId);
export const getThreadPage = (postId: string, cursor: string) => client().posts.get(postId, { cursor });
export const createPost = (communityId: string, body: NewPost) => client().posts.create(communityId, body);
export const editPost = (postId: string, body: { title?: string; content?: string }) => client().posts.update(postId, body);
export const deletePost = (postId: string) => client().posts.delete(postId);
export const pin = (postId: string, on: boolean) => (on ? client().posts.pin(postId) : client().posts.unpin(postId));
export const flagPost = (postId: string, reason: string) => client().posts.flag(postId, reason);

export async function toggleReaction(post: Post, type: ReactionType): Promise<Post> {
  const mine = post.my_reactions ?? [];
  const on = mine.includes(type);
  if (on) await client().posts.unreact(post.id, type);
  else await client().posts.react(post.id, type);
  return {
    ...post,
    my_reactions: on ? mine.filter((t) => t !== type) : [...mine, type],
    reaction_counts: { ...post.reaction_counts, [type]: Math.max(0, post.reaction_counts[type] + (on ? -1 : 1)) },
  };
}
