import type { Notification } from "@course-community/client";
import { client } from "../session";
import { session, unreadNotifications } from "../realtime";
import { href } from "../router";

export const listNotifications = (unread: boolean, cursor?: string) =>
  client().notifications.list({ limit: 20, ...(unread ? { unread: true } : {}), ...(cursor ? { cursor } : {}) });

export async function markRead(n: Notification): Promise<Notification> {
  const s = session.value;
  if (s) return s.markNotificationRead(n.id);
  const read = await client().notifications.markRead(n.id);
  unreadNotifications.value = await client().notifications.unreadCount();
  return read;
}

export async function markAllRead(): Promise<void> {
  const s = session.value;
  if (s) await s.markAllNotificationsRead();
  else {
    const r = await client().notifications.markAllRead();
    unreadNotifications.value = r.unread_count;
  }
}

/** Where a notification leads in the app: the thread of a post, or the chat room. */
export function targetHref(n: Notification): string | null {
  if (!n.community_id) return null;
  if (n.target?.type === "post") return href("c", n.community_id, "post", n.target.root_id ?? n.target.id);
  if (n.target?.type === "message") return href("c", n.community_id, "chat");
  return href("c", n.community_id);
}
