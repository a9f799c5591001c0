import { useEffect, useState } from "preact/hooks";
import type {
  DigestFrequency,
  NotificationChannel,
  NotificationPreferences,
  NotificationType,
} from "@course-community/client";
import { client, handleAuth } from "../session";
import { useLoad } from "../lib/load";
import { ErrorNotice, Loading, Notice } from "../ui/Notice";
import { BrowserPush } from "./BrowserPush";

/** The types in the order a person thinks of them: about me first, then what I follow. */
export const TYPES: { type: NotificationType; label: string }[] = [
  { type: "new_mention", label: "Someone mentions me" },
  { type: "new_reply", label: "Replies to my posts" },
  { type: "new_message", label: "Answers to my chat messages" },
  { type: "new_direct_message", label: "Direct messages" },
  { type: "answer_accepted", label: "My answer is accepted" },
  { type: "answer_endorsed", label: "My answer is endorsed" },
  { type: "marked_duplicate", label: "My question is marked a duplicate" },
  { type: "post_approved", label: "My post is approved" },
  { type: "post_rejected", label: "My post is rejected" },
  { type: "announcement", label: "Announcements" },
  { type: "new_post", label: "New posts in communities I watch" },
  { type: "post_flagged", label: "Flagged posts (moderators)" },
];

const CHANNELS: { channel: NotificationChannel; label: string }[] = [
  { channel: "in_app", label: "In the app" },
  { channel: "email", label: "Email" },
  { channel: "push", label: "Push" },
];

const DIGESTS: { value: DigestFrequency; label: string }[] = [
  { value: "off", label: "No digest" },
  { value: "daily", label: "Daily" },
  { value: "weekly", label: "Weekly (Mondays)" },
];

/** `#/settings/notifications`: which notification reaches me how, and the digest. */
export function NotificationSettings() {
  const prefs = useLoad(() => client().notifications.preferences(), []);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => handleAuth(prefs.error), [prefs.error]);

  // Every change shows at once and is saved at once; then the server's answer is what the grid
  // shows (a refused change goes back to what is stored).
  async function change(
    body: Parameters<ReturnType<typeof client>["notifications"]["setPreferences"]>[0],
    what: string,
    shown: (p: NotificationPreferences) => NotificationPreferences,
  ) {
    setError(null);
    setSaved(null);
    prefs.set((p) => (p ? shown(p) : p));
    try {
      const next = await client().notifications.setPreferences(body);
      prefs.set(() => next);
      setSaved(what);
    } catch (e) {
      setError(e);
      prefs.reload();
    }
  }

  const p: NotificationPreferences | undefined = prefs.data;
  return (
    <main id="main" tabIndex={-1}>
      <h1>Notification settings</h1>
      {prefs.loading && !p && <Loading />}
      <ErrorNotice error={prefs.error && !p ? prefs.error : null} retry={prefs.reload} />
      {p && (
        <>
          {!p.email.address_known && (
            <Notice kind="info">
              <p>Your school has not given us an email address for you, so no email can reach you.</p>
            </Notice>
          )}
          {p.email.suppressed && (
            <Notice kind="warn">
              <p>
                Email to your address bounced or was marked as spam, so we stopped sending email to it. Ask your
                school to check the address.
              </p>
            </Notice>
          )}
          <table class="prefs">
            <caption class="sr-only">Which notifications reach you, and how</caption>
            <thead>
              <tr>
                <th scope="col">Notification</th>
                {CHANNELS.map((c) => (
                  <th scope="col" key={c.channel}>
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {TYPES.map(({ type, label }) => (
                <tr key={type} data-type={type}>
                  <th scope="row">{label}</th>
                  {CHANNELS.map(({ channel, label: channelLabel }) => (
                    <td key={channel}>
                      <input
                        type="checkbox"
                        aria-label={`${label}: ${channelLabel}`}
                        checked={p.types[type]?.[channel] ?? false}
                        onChange={(e) => {
                          const on = e.currentTarget.checked;
                          change({ types: { [type]: { [channel]: on } } }, `${label}: ${channelLabel} ${on ? "on" : "off"}`, (p) => ({
                            ...p,
                            types: { ...p.types, [type]: { ...p.types[type], [channel]: on } },
                          }));
                        }}
                      />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <fieldset class="digest">
            <legend>Email digest of my communities</legend>
            {DIGESTS.map((d) => (
              <label class="check" key={d.value}>
                <input
                  type="radio"
                  name="digest"
                  value={d.value}
                  checked={p.digest === d.value}
                  onChange={() => change({ digest: d.value }, `Digest: ${d.label}`, (p) => ({ ...p, digest: d.value }))}
                />
                {d.label}
              </label>
            ))}
            <p class="muted">New threads you can read and your unread count; nothing is sent when there is nothing new.</p>
          </fieldset>
          <BrowserPush />
          <ErrorNotice error={error} />
          {saved && (
            <p class="muted" role="status" data-saved>
              Saved. {saved}.
            </p>
          )}
        </>
      )}
    </main>
  );
}
