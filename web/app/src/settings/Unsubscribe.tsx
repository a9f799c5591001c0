import { useState } from "preact/hooks";
import type { Unsubscribed } from "@course-community/client";
import { anyClient } from "../session";
import { ErrorNotice, Notice } from "../ui/Notice";
import { href } from "../router";

const WHAT = {
  notifications: "notification emails",
  digest: "the email digest",
} as const;

/**
 * `#/unsubscribe?token=`: where an email's unsubscribe link leads (the API's GET sends people
 * here). Asks before it unsubscribes, since mail scanners follow links; works signed out.
 */
export function Unsubscribe({ token, signedIn }: { token: string; signedIn: boolean }) {
  const [done, setDone] = useState<Unsubscribed | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      const c = anyClient();
      if (!c) throw new Error("The app is still starting; try again in a moment.");
      setDone(await c.notifications.unsubscribe(token));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" tabIndex={-1} class="narrow">
      <h1>Unsubscribe</h1>
      {!token && <Notice kind="error">This link has no unsubscribe token. Open the link from the email again.</Notice>}
      {token && !done && (
        <>
          <p>Stop the emails this link came with? You can turn them back on in your notification settings.</p>
          <button type="button" disabled={busy} onClick={confirm}>
            Unsubscribe
          </button>
        </>
      )}
      {done && (
        <Notice kind="ok">
          <p>You are unsubscribed from {WHAT[done.unsubscribed]}. Nothing else changed.</p>
        </Notice>
      )}
      <ErrorNotice error={error} />
      {(done || error) && signedIn && (
        <p>
          <a href={href("settings", "notifications")}>Notification settings</a>
        </p>
      )}
    </main>
  );
}
