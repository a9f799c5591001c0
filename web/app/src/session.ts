import { computed, signal } from "@preact/signals";
import { CommunityClient, UnauthorizedError } from "@course-community/client";
import type { AppConfig } from "./config";

/** The claims the app reads from the token (shown, never trusted: the API checks the token). */
export interface Me {
  id: string;
  name: string;
  username: string | null;
  role: "student" | "instructor" | "admin";
  exp: number;
}

const KEY = "course-community.token";

export const config = signal<AppConfig | null>(null);
/** Kept per tab (sessionStorage): a reload keeps you signed in, closing the tab signs you out. */
export const token = signal<string | null>(sessionStorage.getItem(KEY));
/** Why the last session ended, shown on the sign-in screen. */
export const signOutReason = signal<string | null>(null);

export function claims(jwt: string): Me | null {
  try {
    const part = jwt.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const c = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (ch) => ch.charCodeAt(0))));
    if (typeof c.sub !== "string") return null;
    return { id: c.sub, name: c.name ?? c.sub, username: c.preferred_username ?? null, role: c.role, exp: c.exp ?? 0 };
  } catch {
    return null;
  }
}

export const me = computed(() => (token.value ? claims(token.value) : null));
export const isStaffRole = computed(() => me.value?.role === "admin" || me.value?.role === "instructor");

export const api = computed(() => {
  const c = config.value;
  if (!c || !token.value) return null;
  return new CommunityClient({ baseUrl: c.httpUrl, token: () => token.value ?? "" });
});

/** A client for the calls that need no sign-in (it sends the token when there is one). */
export function anyClient(): CommunityClient | null {
  const c = config.value;
  if (!c) return null;
  return api.value ?? new CommunityClient({ baseUrl: c.httpUrl, token: () => "" });
}

/** The client of the signed-in user (screens behind sign-in only). */
export function client(): CommunityClient {
  const c = api.value;
  if (!c) throw new Error("not signed in");
  return c;
}

export function signIn(jwt: string): void {
  sessionStorage.setItem(KEY, jwt);
  signOutReason.value = null;
  token.value = jwt;
}

export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(KEY);
  signOutReason.value = reason;
  token.value = null;
}

/** A 401 anywhere means the token no longer verifies: back to sign-in, saying why. */
export function handleAuth(e: unknown): void {
  if (e instanceof UnauthorizedError) signOut("Your sign-in is no longer valid (expired or revoked). Please sign in again.");
}
