import { useEffect, useState } from "preact/hooks";
import type { Notification } from "@course-community/client";
import { useLoad } from "../lib/load";
import { listNotifications, markAllRead, markRead, targetHref } from "./api";
import { lastNotification, unreadNotifications } from "../realtime";
import { Empty, ErrorNotice, Loading } from "../ui/Notice";
import { exact, when } from "../lib/format";
import { go } from "../router";
import { handleAuth } from "../session";

export function NotificationsPage() {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [next, setNext] = useState<string | null>(null);
  const page = useLoad(async () => {
    const p = await listNotifications(unreadOnly);
    setNext(p.next);
    return p.results;
  }, [unreadOnly]);
  useEffect(() => handleAuth(page.error), [page.error]);

  // A notification pushed live goes on top.
  useEffect(() => {
    const n = lastNotification.value?.notification;
    if (n) page.set((list) => (list && !list.some((x) => x.id === n.id) ? [n, ...list] : list));
  }, [lastNotification.value]);

  function replace(n: Notification) {
    page.set((list) => list?.map((x) => (x.id === n.id ? n : x)));
  }

  async function open(n: Notification) {
    setError(null);
    try {
      if (!n.is_read) replace(await markRead(n));
      const to = targetHref(n);
      if (to) go(to);
    } catch (e) {
      setError(e);
    }
  }

  async function more() {
    if (!next) return;
    try {
      const p = await listNotifications(unreadOnly, next);
      page.set((list) => [...(list ?? []), ...p.results]);
      setNext(p.next);
    } catch (e) {
      setError(e);
    }
  }

  const unread = unreadNotifications.value ?? 0;
  return (
    <main id="main" tabIndex={-1}>
      <div class="spread">
        <h1>Notifications</h1>
        <div class="row">
          <label class="check">
            <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} />
            Unread only
          </label>
          <button
            type="button"
            disabled={unread === 0}
            onClick={async () => {
              setError(null);
              try {
                await markAllRead();
                page.set((list) => list?.map((x) => ({ ...x, is_read: true })));
              } catch (e) {
                setError(e);
              }
            }}
          >
            Mark all as read
          </button>
        </div>
      </div>
      <p class="muted" aria-live="polite">{unread === 0 ? "Nothing unread." : `${unread} unread.`}</p>
      <ErrorNotice error={error ?? page.error} retry={page.error ? page.reload : undefined} />
      {page.loading && !page.data && <Loading what="Loading notifications" />}
      {page.data && page.data.length === 0 && <Empty>{unreadOnly ? "No unread notifications." : "No notifications yet."}</Empty>}
      <ul class="list" aria-label="Notifications">
        {page.data?.map((n) => (
          <li class={`card notif ${n.is_read ? "" : "unread"}`} data-notification={n.id} data-type={n.notification_type}>
            <div>
              <h2 style="font-size:1rem;margin:0">
                {n.is_read ? "" : <span class="sr-only">Unread: </span>}
                {n.title}
              </h2>
              <p style="margin:0.25rem 0">{n.message}</p>
              <time class="muted small" dateTime={n.created_at} title={exact(n.created_at)}>
                {when(n.created_at)}
              </time>
            </div>
            <div class="row">
              <button type="button" class="small primary" onClick={() => open(n)}>
                Open
              </button>
              {!n.is_read && (
                <button
                  type="button"
                  class="small"
                  onClick={async () => {
                    setError(null);
                    try {
                      replace(await markRead(n));
                    } catch (e) {
                      setError(e);
                    }
                  }}
                >
                  Mark as read
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {next && (
        <button type="button" onClick={more}>
          Older notifications
        </button>
      )}
    </main>
  );
}
