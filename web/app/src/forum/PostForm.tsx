import { useState } from "preact/hooks";
import { describe, fieldError } from "../lib/errors";
import { useDraft } from "../lib/draft";

export interface PostFormValue {
  title: string;
  content: string;
}

/**
 * Title (top-level posts) and text. The text is a draft kept until the server accepted it: a failed
 * send leaves it in place, marked, with the reason, to send again.
 */
export function PostForm(props: {
  draftKey: string;
  withTitle: boolean;
  initial?: PostFormValue;
  submitLabel: string;
  onSubmit: (v: PostFormValue) => Promise<void>;
  onCancel?: () => void;
  idPrefix: string;
}) {
  const [title, setTitle, clearTitle] = useDraft(`${props.draftKey}.title`, props.initial?.title ?? "");
  const [content, setContent, clearContent] = useDraft(`${props.draftKey}.content`, props.initial?.content ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const id = props.idPrefix;
  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit({ title: title.trim(), content });
      clearTitle();
      clearContent();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const titleErr = fieldError(error, "title");
  const contentErr = fieldError(error, "content");
  return (
    <form onSubmit={submit} class={error ? "failed" : undefined} aria-busy={busy}>
      {props.withTitle && (
        <div class="field">
          <label for={`${id}-title`}>Title</label>
          <input
            id={`${id}-title`}
            type="text"
            value={title}
            maxLength={200}
            required
            onInput={(e) => setTitle(e.currentTarget.value)}
            aria-invalid={titleErr ? true : undefined}
            aria-describedby={titleErr ? `${id}-title-err` : undefined}
          />
          {titleErr && (
            <p class="field-error" id={`${id}-title-err`}>
              Title {titleErr}
            </p>
          )}
        </div>
      )}
      <div class="field">
        <label for={`${id}-content`}>{props.withTitle ? "Text" : "Your reply"}</label>
        <textarea
          id={`${id}-content`}
          value={content}
          maxLength={40000}
          required
          onInput={(e) => setContent(e.currentTarget.value)}
          aria-invalid={contentErr ? true : undefined}
          aria-describedby={`${id}-content-help`}
        />
        <p class="muted small" id={`${id}-content-help`}>
          {contentErr ? <span class="field-error">Text {contentErr}. </span> : null}
          Mention someone with @username.
        </p>
      </div>
      {error != null && (
        <div class="notice error" role="alert">
          <p>Not sent: {describe(error)} Your text is kept here; send it again when ready.</p>
        </div>
      )}
      <div class="row">
        <button type="submit" class="primary" disabled={busy || !content.trim() || (props.withTitle && !title.trim())}>
          {busy ? "Sending…" : error ? `Try again: ${props.submitLabel.toLowerCase()}` : props.submitLabel}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
