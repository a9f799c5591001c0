import { useState } from "preact/hooks";
import type { Community } from "@course-community/client";
import { ForbiddenError } from "@course-community/client";
import { joinCommunity } from "./api";
import { ErrorNotice } from "../ui/Notice";
import { me } from "../session";

/**
 * The clear "no access" state: not a member, or a student whose enrollment ended (the API keeps the
 * membership, so access comes back by itself when the enrollment is renewed).
 */
export function NoAccess({ community, detail, onJoined }: { community?: Community; detail?: string; onJoined?: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [refused, setRefused] = useState(false);
  const [busy, setBusy] = useState(false);
  const student = me.value?.role === "student";
  async function join() {
    if (!community) return;
    setBusy(true);
    setError(null);
    try {
      await joinCommunity(community.id);
      onJoined?.();
    } catch (e) {
      if (e instanceof ForbiddenError) setRefused(true);
      else setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="card noaccess" role="alert" aria-labelledby="noaccess-h" data-state="no-access">
      <h2 id="noaccess-h">No access{community ? ` to ${community.title}` : ""}</h2>
      {refused || detail ? (
        <p>
          {student
            ? "Your enrollment in this course is not active: it has ended or was removed. The community opens again when your enrollment is renewed; ask your instructor or the course office if you think this is wrong."
            : "You are not allowed into this community."}
        </p>
      ) : (
        <p>
          {student
            ? "You are not a member of this community, or your enrollment in its course has ended. With an active enrollment you can join it."
            : "You are not a member of this community."}
        </p>
      )}
      {detail && <p class="muted small">The server said: {detail}.</p>}
      <ErrorNotice error={error} />
      <div class="row" style="justify-content:center">
        {community && !refused && community.visibility === "public" && (
          <button type="button" class="primary" onClick={join} disabled={busy}>
            {busy ? "Joining…" : "Join this community"}
          </button>
        )}
        <a class="button" href="#/">
          Back to my communities
        </a>
      </div>
    </section>
  );
}

/** An error of a community screen: 403 is the no-access state, anything else a message. */
export function AccessOrError({ error, retry, community }: { error: unknown; retry?: () => void; community?: Community }) {
  if (error instanceof ForbiddenError) return <NoAccess community={community} detail={error.detail} />;
  return <ErrorNotice error={error} retry={retry} />;
}
