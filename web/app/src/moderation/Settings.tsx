import { useState } from "preact/hooks";
import type { Visibility } from "@course-community/client";
import { updateCommunity } from "../communities/api";
import { ErrorNotice, Notice } from "../ui/Notice";
import { fieldError } from "../lib/errors";
import type { CommunityProps } from "../communities/props";

/** The community's settings (course instructors and admins). */
export function Settings({ community, refresh }: CommunityProps) {
  const [title, setTitle] = useState(community.title);
  const [description, setDescription] = useState(community.description ?? "");
  const [visibility, setVisibility] = useState<Visibility>(community.visibility);
  const [approval, setApproval] = useState(community.require_post_approval);
  const [banner, setBanner] = useState(community.banner_image ?? "");
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <section class="card" aria-labelledby="settings-h">
      <h2 id="settings-h">Community settings</h2>
      {saved && <Notice kind="ok">Settings saved.</Notice>}
      <ErrorNotice error={error} />
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          setSaved(false);
          try {
            await updateCommunity(community.id, {
              title: title.trim(),
              description,
              visibility,
              require_post_approval: approval,
              banner_image: banner.trim(),
            });
            setSaved(true);
            refresh();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <div class="field">
          <label for="s-title">Title</label>
          <input id="s-title" type="text" required value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          {fieldError(error, "title") && <p class="field-error">Title {fieldError(error, "title")}</p>}
        </div>
        <div class="field">
          <label for="s-desc">Description</label>
          <textarea id="s-desc" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="s-vis">Who can see it</label>
          <select id="s-vis" value={visibility} onChange={(e) => setVisibility(e.currentTarget.value as Visibility)}>
            <option value="public">Public: everyone signed in can see it; enrolled students join</option>
            <option value="private">Private: only its members, enrolled students and instructors</option>
          </select>
        </div>
        <div class="field">
          <label for="s-banner">Banner image URL</label>
          <input id="s-banner" type="text" inputMode="url" value={banner} onInput={(e) => setBanner(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label class="check">
            <input type="checkbox" id="s-approval" checked={approval} onChange={(e) => setApproval(e.currentTarget.checked)} />
            <span>
              Posts need approval
              <span class="muted small" style="display:block">
                Members’ posts and replies wait in the moderation queue until a moderator approves them.
              </span>
            </span>
          </label>
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Saving…" : "Save settings"}
        </button>
      </form>
    </section>
  );
}
