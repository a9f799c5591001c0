import { unreadNotifications } from "../realtime";
import { route } from "../router";

/** The bell: a link to the notifications with the live unread count. */
export function Bell() {
  const n = unreadNotifications.value ?? 0;
  const label = n === 0 ? "Notifications, none unread" : `Notifications, ${n} unread`;
  return (
    <a
      class="button bell"
      href="#/notifications"
      aria-label={label}
      aria-current={route.value.name === "notifications" ? "page" : undefined}
      data-unread={n}
    >
      <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">
        <path d="M6 8a6 6 0 1 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
        <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
      </svg>
      {n > 0 && (
        <span class="badge" aria-hidden="true">
          {n > 99 ? "99+" : n}
        </span>
      )}
    </a>
  );
}
