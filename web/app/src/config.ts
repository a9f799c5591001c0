/** What the app is told at run time by /config.json (written at deploy time, or by the local server). */
export interface AppConfig {
  /** Base URL of the HTTP API (the stage URL in AWS); empty: the app's own origin. */
  httpUrl: string;
  /** WebSocket API URL, without `?token=`. */
  wsUrl: string;
  /** Local stack only: /demo-users.json lists demo users to sign in as. */
  demo?: boolean;
}

export async function loadConfig(): Promise<AppConfig> {
  const res = await fetch("config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  const c = (await res.json()) as Partial<AppConfig>;
  if (typeof c.wsUrl !== "string") throw new Error("config.json has no wsUrl");
  const httpUrl = new URL(c.httpUrl || "/", location.href).href.replace(/\/$/, "");
  return { httpUrl, wsUrl: c.wsUrl, demo: Boolean(c.demo) };
}
