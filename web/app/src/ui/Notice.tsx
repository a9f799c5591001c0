import type { ComponentChildren } from "preact";
import { describe } from "../lib/errors";

/** An error from a call, in words, with an optional retry. Announced to screen readers. */
export function ErrorNotice({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  return (
    <div class="notice error" role="alert">
      <p>
        {describe(error)}{" "}
        {retry && (
          <button type="button" class="small" onClick={retry}>
            Try again
          </button>
        )}
      </p>
    </div>
  );
}

export function Notice({ kind, children }: { kind: "info" | "warn" | "ok" | "error"; children: ComponentChildren }) {
  return (
    <div class={`notice ${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}
