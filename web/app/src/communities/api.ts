import type { Community, UpdateCommunity } from "@course-community/client";
import { client, me } from "../session";

export async function myCommunities(): Promise<{ mine: Community[]; others: Community[] }> {
  const api = client();
  const [mine, open] = await Promise.all([api.communities.mine({ limit: 100 }).all(), api.communities.list({ limit: 50 })]);
  const ids = new Set(mine.map((c) => c.id));
  return { mine, others: open.results.filter((c) => !ids.has(c.id)) };
}

export const getCommunity = (id: string) => client().communities.get(id);
export const joinCommunity = (id: string) => client().communities.join(id);
export const updateCommunity = (id: string, body: UpdateCommunity) => client().communities.update(id, body);

/** Moderators, instructors and admins moderate (approve, reject, pin, flags, notes). */
export function canModerate(c: Community): boolean {
  return me.value?.role === "admin" || c.my_role === "moderator" || c.my_role === "instructor";
}

/** The course's instructors and admins change settings and roles. */
export function canManage(c: Community): boolean {
  return me.value?.role === "admin" || (!!me.value && c.instructor_ids.includes(me.value.id));
}

/** Who may read the community's content (the API decides; this only picks the screen). */
export function mayRead(c: Community): boolean {
  return me.value?.role === "admin" || c.is_member;
}
