import { useEffect, useState } from "preact/hooks";
import type { PushSettings } from "@course-community/client";
import { client } from "../session";
import { ErrorNotice } from "../ui/Notice";

const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Offers push notifications in this browser when the stack has Web Push. */
export function BrowserPush() {
  const [settings, setSettings] = useState<PushSettings | null>(null);
  const [here, setHere] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client()
      .notifications.push()
      .then(setSettings)
      .catch(() => setSettings(null));
  }, []);

  // Whether this browser is subscribed already.
  useEffect(() => {
    if (!supported()) return;
    navigator.serviceWorker.getRegistration().then(async (reg) => {
      const sub = await reg?.pushManager.getSubscription();
      setHere(sub ? sub.endpoint : null);
    });
  }, [settings]);

  if (!settings?.vapid_public_key) return null;
  if (!supported()) return <p class="muted">This browser cannot show push notifications.</p>;

  async function turnOn() {
    setBusy(true);
    setError(null);
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        throw new Error("The browser did not allow notifications for this site.");
      }
      const reg = await navigator.serviceWorker.register("./sw.js");
      await navigator.serviceWorker.ready;
      const sub = await reg.pushManager
        .subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(settings!.vapid_public_key!),
        })
        .catch((e: unknown) => {
          // The browser asks its vendor's push service for an endpoint; without one (offline,
          // blocked, or a browser with none) it refuses.
          const why = e instanceof Error && e.message ? ` (${e.message})` : "";
          throw new Error(`This browser could not reach its push service, so push cannot be turned on here${why}.`);
        });
      const json = sub.toJSON();
      await client().notifications.subscribePush({
        platform: "web",
        endpoint: sub.endpoint,
        keys: { p256dh: json.keys?.p256dh ?? "", auth: json.keys?.auth ?? "" },
      });
      setSettings(await client().notifications.push());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function turnOff() {
    setBusy(true);
    setError(null);
    try {
      const reg = await navigator.serviceWorker.getRegistration();
      const sub = await reg?.pushManager.getSubscription();
      const host = sub ? new URL(sub.endpoint).host : null;
      for (const s of settings!.subscriptions.filter((s) => s.platform === "web" && s.endpoint_host === host)) {
        await client().notifications.unsubscribePush(s.id);
      }
      await sub?.unsubscribe();
      setSettings(await client().notifications.push());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="push">
      <h2>Push notifications in this browser</h2>
      <p class="muted">
        The types with "Push" checked above appear as notifications of your system, even when the app is closed.
        {settings.subscriptions.length > 0 && ` ${settings.subscriptions.length} device(s) or browser(s) receive them.`}
      </p>
      {here ? (
        <button type="button" disabled={busy} onClick={turnOff}>
          Turn off push in this browser
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={turnOn}>
          Turn on push in this browser
        </button>
      )}
      <ErrorNotice error={error} />
    </section>
  );
}
