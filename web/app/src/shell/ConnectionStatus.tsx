import { useEffect, useState } from "preact/hooks";
import { connection, nextAttemptAt } from "../realtime";

const LABEL: Record<string, string> = {
  open: "Live",
  connecting: "Connecting…",
  catching_up: "Catching up…",
  reconnecting: "Connection lost, reconnecting",
  closed: "Disconnected",
  offline: "Offline: waiting for the network",
};

/** The real-time connection's state, in words; announced politely when it changes. */
export function ConnectionStatus() {
  const state = connection.value;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (state !== "reconnecting") return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [state]);
  const at = nextAttemptAt.value;
  const secs = state === "reconnecting" && at ? Math.max(0, Math.ceil((at - now) / 1000)) : 0;
  return (
    <span class={`conn ${state}`} role="status" aria-live="polite" data-connection={state}>
      {LABEL[state] ?? state}
      {secs > 0 ? ` in ${secs} s` : state === "reconnecting" ? "…" : ""}
    </span>
  );
}
