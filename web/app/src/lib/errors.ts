import { ApiError, NetworkError } from "@course-community/client";

const cap = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);
const sentence = (s: string) => (/[.!?]$/.test(s) ? cap(s) : cap(s) + ".");

/** A readable message for anything a call can throw (problem+json, network, a bug). */
export function describe(e: unknown): string {
  if (e instanceof NetworkError) return "The server could not be reached. Check your connection; nothing was changed.";
  if (e instanceof ApiError) {
    const detail = e.detail && e.detail !== e.code ? e.detail : "";
    switch (e.status) {
      case 400:
        return detail ? `That request was not understood: ${detail}.` : "That request was not understood.";
      case 401:
        return "Your sign-in is no longer valid. Please sign in again.";
      case 403:
        return detail ? `Not allowed: ${detail}.` : "You are not allowed to do that.";
      case 404:
        return "Not found: it does not exist, was removed, or is not visible to you.";
      case 409:
        return detail ? `That cannot be done now: ${detail}.` : "That cannot be done in the current state.";
      case 413:
        return "That is too large to send.";
      case 422:
        if (e.errors.length) return "Please fix: " + e.errors.map((f) => `${f.field} ${f.message}`).join("; ") + ".";
        return detail ? sentence(detail) : "Some of the input is not valid.";
      case 429:
        return `You are doing that too often. Try again in ${e.retryAfter ?? "a few"} seconds.`;
      default:
        if (e.status >= 500) return "The server had a problem; nothing was lost. Try again in a moment.";
        return sentence(detail || e.title || `Error ${e.status}`);
    }
  }
  return e instanceof Error ? sentence(e.message) : "Something went wrong.";
}

/** The message of one field of a 422, to show beside its input. */
export function fieldError(e: unknown, field: string): string | undefined {
  return e instanceof ApiError ? e.fieldError(field) : undefined;
}
