import type { CommunityRole } from "@course-community/client";
import { client } from "../session";

export const queue = (communityId: string, cursor?: string) =>
  client().communities.moderationQueue(communityId, { limit: 20, ...(cursor ? { cursor } : {}) });
export const approve = (postId: string, reason?: string) => client().posts.approve(postId, reason || undefined);
export const reject = (postId: string, reason?: string) => client().posts.reject(postId, reason || undefined);
export const flags = (postId: string) => client().posts.flags(postId, { limit: 100 }).all();
export const resolveFlags = (postId: string, note?: string) => client().posts.resolveFlags(postId, note || undefined);
export const notes = (postId: string) => client().posts.notes(postId, { limit: 100 }).all();
export const addNote = (postId: string, note: string) => client().posts.addNote(postId, note);
export const members = (communityId: string) => client().communities.members(communityId, { limit: 100 }).all();
export const setRole = (communityId: string, userId: string, role: CommunityRole) =>
  client().communities.setRole(communityId, userId, role);
export const removeMember = (communityId: string, userId: string) => client().communities.removeMember(communityId, userId);
