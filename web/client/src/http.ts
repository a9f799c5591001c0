//! One HTTP request to the API: the bearer token, JSON in and out, problem+json as ApiError.
import { ApiError, NetworkError } from "./errors.js";
import type { Problem } from "./types.js";

/** Gives the bearer token of each request (called every time, so it may refresh). */
export type TokenProvider = () => string | Promise<string>;
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface HttpOptions {
  /** The HTTP API's base URL (its stage URL), e.g. `http://127.0.0.1:3000/dev` (paths under /api/community/ are added). */
  baseUrl: string;
  token: TokenProvider;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
}

export class Http {
  readonly #base: string;
  readonly #token: TokenProvider;
  readonly #fetch: FetchLike;

  constructor(options: HttpOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, "") + "/api/community/";
    this.#token = options.token;
    const f = options.fetch ?? globalThis.fetch;
    if (!f) throw new TypeError("no fetch: pass options.fetch");
    this.#fetch = (input, init) => f(input, init);
  }

  url(path: string, query?: Query): string {
    const url = new URL(path.replace(/^\/+/, ""), this.#base);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  async request<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const token = await this.#token();
    // No token (signed out): no Authorization header, for the calls that need no sign-in.
    const headers: Record<string, string> = { accept: "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const url = this.url(path, options.query);
    let response: Response;
    try {
      response = await this.#fetch(url, init);
    } catch (cause) {
      throw new NetworkError(`${method} ${url}: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      throw new NetworkError(`${method} ${url}: reading the answer: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    if (!response.ok) throw errorOf(response, text);
    if (response.status === 204 || text === "") return undefined as T;
    return JSON.parse(text) as T;
  }
}

function errorOf(response: Response, text: string): ApiError {
  const header = response.headers.get("retry-after");
  const retryAfter = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (isProblem(body)) {
    return ApiError.from(retryAfter !== undefined && body.retry_after === undefined ? { ...body, retry_after: retryAfter } : body);
  }
  const message =
    body && typeof body === "object" && typeof (body as { message?: unknown }).message === "string"
      ? (body as { message: string }).message
      : response.statusText || `HTTP ${response.status}`;
  return ApiError.fromStatus(response.status, message, retryAfter);
}

function isProblem(body: unknown): body is Problem {
  if (!body || typeof body !== "object") return false;
  const p = body as Partial<Problem>;
  return typeof p.status === "number" && typeof p.code === "string";
}
