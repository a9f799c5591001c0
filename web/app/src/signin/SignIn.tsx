import { useEffect, useState } from "preact/hooks";
import { CommunityClient, UnauthorizedError } from "@course-community/client";
import { claims, config, signIn, signOutReason } from "../session";
import { ErrorNotice, Notice } from "../ui/Notice";
import { go } from "../router";

interface DemoUser {
  token: string;
  user_id: string;
  name: string;
  username: string | null;
  role: string;
}

/** Sign in with a token from the LMS; on the local stack, pick one of the demo users. */
export function SignIn() {
  const [pasted, setPasted] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [demo, setDemo] = useState<DemoUser[] | null>(null);
  const [demoError, setDemoError] = useState<string | null>(null);

  useEffect(() => {
    if (!config.value?.demo) return;
    fetch("demo-users.json", { cache: "no-store" })
      .then(async (r) => {
        if (!r.ok) throw new Error((await r.json().catch(() => null))?.detail ?? `HTTP ${r.status}`);
        return r.json() as Promise<DemoUser[]>;
      })
      .then(setDemo, (e) => setDemoError(String(e.message ?? e)));
  }, []);

  async function use(jwt: string) {
    setError(null);
    const c = claims(jwt.trim());
    if (!c) {
      setError(new Error("That is not a valid token: expected a JWT (three dot-separated parts)"));
      return;
    }
    setBusy(true);
    try {
      // One cheap call proves the API accepts the token before the app keeps it.
      const probe = new CommunityClient({ baseUrl: config.value!.httpUrl, token: () => jwt.trim() });
      await probe.notifications.unreadCount();
      signIn(jwt.trim());
      go("#/");
    } catch (e) {
      setError(e instanceof UnauthorizedError ? new Error("The API refused this token: it has expired, or it was not issued for this site") : e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" tabIndex={-1} class="signin">
      <h1>Sign in</h1>
      {signOutReason.value && <Notice kind="warn">{signOutReason.value}</Notice>}
      <ErrorNotice error={error} />
      {config.value?.demo && (
        <section class="card" aria-labelledby="demo-h">
          <h2 id="demo-h">Demo users of the local stack</h2>
          <p class="muted small">Tokens from the local seed; this list exists only on the local stack.</p>
          {demoError && <Notice kind="warn">Demo users are not available: {demoError}</Notice>}
          {!demo && !demoError && <p class="muted">Loading demo users…</p>}
          {demo && (
            <div class="users">
              {demo.map((u) => (
                <button type="button" disabled={busy} onClick={() => use(u.token)} data-user={u.user_id}>
                  <span>
                    Sign in as <strong>{u.name}</strong>
                    {u.username && <span class="muted"> @{u.username}</span>}
                  </span>
                  <span class="tag role">{u.role}</span>
                </button>
              ))}
            </div>
          )}
        </section>
      )}
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          void use(pasted);
        }}
      >
        <div class="field">
          <label for="token">Access token</label>
          <textarea
            id="token"
            value={pasted}
            onInput={(e) => setPasted(e.currentTarget.value)}
            placeholder="eyJ…"
            spellcheck={false}
            autocomplete="off"
            aria-describedby="token-help"
          />
          <p id="token-help" class="muted small">
            The JWT your learning platform gives you. It is kept in this tab only.
          </p>
        </div>
        <button type="submit" class="primary" disabled={busy || !pasted.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
