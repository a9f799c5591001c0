import { signal } from "@preact/signals";

/** Hash routes (`#/c/{id}/chat`): any static host serves them, no rewrite rules needed. */
export type Route =
  | { name: "signin" }
  | { name: "home" }
  | { name: "notifications" }
  | { name: "settings-notifications" }
  | { name: "unsubscribe"; token: string }
  | { name: "community"; id: string; tab: CommunityTab; postId?: string; query: URLSearchParams };

export type CommunityTab = "forum" | "post" | "new" | "chat" | "moderation" | "members" | "settings";
const TABS: CommunityTab[] = ["forum", "post", "new", "chat", "moderation", "members", "settings"];

export function parse(hash: string): Route {
  const [path = "", qs = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(qs);
  if (parts[0] === "signin") return { name: "signin" };
  if (parts[0] === "notifications") return { name: "notifications" };
  if (parts[0] === "settings" && parts[1] === "notifications") return { name: "settings-notifications" };
  if (parts[0] === "unsubscribe") return { name: "unsubscribe", token: query.get("token") ?? "" };
  if (parts[0] === "c" && parts[1]) {
    const tab = (TABS as string[]).includes(parts[2] ?? "") ? (parts[2] as CommunityTab) : "forum";
    return { name: "community", id: parts[1], tab, postId: tab === "post" ? parts[3] : undefined, query };
  }
  return { name: "home" };
}

export const route = signal<Route>(parse(location.hash));
addEventListener("hashchange", () => {
  route.value = parse(location.hash);
});

export function href(...parts: string[]): string {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

export function go(to: string): void {
  if (location.hash === to) route.value = parse(to);
  else location.hash = to;
}
