import { effect, signal } from "@preact/signals";
import { RealtimeSession, type ConnectionState, type NotificationEvent, type OutboxStorage, type StoredOutgoing } from "@course-community/client";
import { api, config, handleAuth, me, token } from "./session";

/**
 * The signed-in user's one real-time session (the library does reconnects, catch-up, resends),
 * mirrored into signals the screens read.
 */
export const session = signal<RealtimeSession | null>(null);
export const connection = signal<ConnectionState | "offline">("connecting");
/** When the next connection attempt starts (ms since the epoch), while reconnecting. */
export const nextAttemptAt = signal<number | undefined>(undefined);
export const unreadNotifications = signal<number | undefined>(undefined);
/** Bumped on every chat change of a community, so its room re-renders. */
export const chatVersion = signal(0);
/** The latest notification pushed live (the list screen prepends it). */
export const lastNotification = signal<NotificationEvent | null>(null);

/** Unsent chat messages survive a reload: kept in sessionStorage, per user. */
function outboxStorage(userId: string): OutboxStorage {
  const key = `course-community.outbox.${userId}`;
  return {
    load: () => {
      try {
        return JSON.parse(sessionStorage.getItem(key) ?? "[]") as StoredOutgoing[];
      } catch {
        return [];
      }
    },
    save: (entries) => {
      if (entries.length) sessionStorage.setItem(key, JSON.stringify(entries));
      else sessionStorage.removeItem(key);
    },
  };
}

effect(() => {
  const c = config.value;
  const t = token.value;
  const user = me.value;
  const client = api.value;
  if (!c || !t || !user || !client) return;
  const s = new RealtimeSession({
    wsUrl: c.wsUrl,
    api: client,
    token: () => token.value ?? "",
    userId: user.id,
    outboxStorage: outboxStorage(user.id),
  });
  const offs = [
    s.state.subscribe((v) => (connection.value = navigator.onLine ? v : "offline")),
    s.nextAttemptAt.subscribe((v) => (nextAttemptAt.value = v)),
    s.unreadNotifications.subscribe((v) => {
      if (v !== undefined) unreadNotifications.value = v;
    }),
    s.on("message", () => chatVersion.value++),
    s.on("outbox", () => chatVersion.value++),
    s.on("typing", () => chatVersion.value++),
    s.on("presence", () => chatVersion.value++),
    s.on("read_receipt", () => chatVersion.value++),
    s.on("notification", (n) => (lastNotification.value = n)),
    s.on("error", (e) => handleAuth(e)),
  ];
  const onNet = () => (connection.value = navigator.onLine ? s.state.value : "offline");
  addEventListener("online", onNet);
  addEventListener("offline", onNet);
  session.value = s;
  s.connect();
  // The badge shows at once, before the socket is up.
  client.notifications.unreadCount().then(
    (n) => {
      if (unreadNotifications.value === undefined) unreadNotifications.value = n;
    },
    (e) => handleAuth(e),
  );
  return () => {
    offs.forEach((off) => off());
    removeEventListener("online", onNet);
    removeEventListener("offline", onNet);
    s.close();
    session.value = null;
    unreadNotifications.value = undefined;
    connection.value = "connecting";
  };
});
