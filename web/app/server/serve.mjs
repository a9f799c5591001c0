#!/usr/bin/env node
// Serves the built app for local use: the static files of dist/, a config.json made at start (the
// API endpoints, given at run time and not baked into the build), and, for the local stack only,
// demo-users.json with the demo tokens the gateway's seed wrote. `/api/` is proxied to the HTTP API,
// so the app and the API share one origin locally and no CORS preflight is needed.
//
//   node server/serve.mjs [--port 3002] [--host 127.0.0.1] [--dist dist]
//                         [--api http://127.0.0.1:3000/dev] [--ws ws://127.0.0.1:3001/dev]
//                         [--demo-env ../../.local/demo.env]
//
// Every option also reads an environment variable: WEB_PORT, WEB_HOST, WEB_DIST, API_URL, WS_URL,
// DEMO_ENV_FILE. Without --demo-env there is no demo-users.json (as in a deployment).
import { createServer, request as httpRequest } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import sirv from "sirv";

const here = dirname(fileURLToPath(import.meta.url));

function options(argv) {
  const o = {
    port: Number(process.env.WEB_PORT ?? 3002),
    host: process.env.WEB_HOST ?? "127.0.0.1",
    dist: process.env.WEB_DIST ?? resolve(here, "../dist"),
    api: process.env.API_URL ?? "http://127.0.0.1:3000/dev",
    ws: process.env.WS_URL ?? "ws://127.0.0.1:3001/dev",
    demoEnv: process.env.DEMO_ENV_FILE ?? "",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === "--port") o.port = Number(v);
    else if (k === "--host") o.host = v;
    else if (k === "--dist") o.dist = resolve(v);
    else if (k === "--api") o.api = v;
    else if (k === "--ws") o.ws = v;
    else if (k === "--demo-env") o.demoEnv = resolve(v);
    else throw new Error(`unknown option ${k}`);
  }
  return o;
}

/** The demo users of the local seed: `export NAME=<jwt>` lines, each JWT's claims decoded. */
async function demoUsers(file) {
  const text = await readFile(file, "utf8");
  const users = [];
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z0-9_]+_TOKEN)=(\S+)$/.exec(line);
    if (!m) continue;
    const token = m[2];
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    users.push({
      token,
      user_id: claims.sub,
      name: claims.name,
      username: claims.preferred_username ?? null,
      role: claims.role,
    });
  }
  return users;
}

function send(res, status, body, type = "application/json") {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

function proxy(req, res, target) {
  // The API's base URL may carry a path (its stage, `/dev`): requests go below it.
  const base = new URL(target);
  const url = new URL(base.pathname.replace(/\/+$/, "") + req.url, base);
  const headers = { ...req.headers, host: url.host };
  delete headers.origin; // same origin as far as the browser knows; the API sees a plain client
  const upstream = httpRequest(url, { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on("error", (e) => {
    if (res.headersSent) return res.destroy();
    send(res, 502, {
      type: "about:blank",
      title: "Bad Gateway",
      status: 502,
      detail: `the HTTP API at ${target} did not answer (${e.code ?? e.message})`,
      code: "api_unreachable",
    }, "application/problem+json");
  });
  req.pipe(upstream);
}

export async function start(opts) {
  if (!existsSync(resolve(opts.dist, "index.html"))) {
    throw new Error(`${opts.dist}/index.html is missing: build the app first (npm run build -w @course-community/app)`);
  }
  const files = sirv(opts.dist, {
    etag: true,
    gzip: false,
    setHeaders(res, path) {
      // Hashed assets never change; index.html must be re-read to pick up a new build.
      res.setHeader("cache-control", path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    },
  });
  const config = { httpUrl: "", wsUrl: opts.ws, demo: Boolean(opts.demoEnv) };
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path.startsWith("/api/")) return proxy(req, res, opts.api);
      if (path === "/config.json") return send(res, 200, config);
      if (path === "/demo-users.json") {
        if (!opts.demoEnv) return send(res, 404, { detail: "no demo users outside the local stack" });
        if (!existsSync(opts.demoEnv)) return send(res, 503, { detail: "the local stack has not written its demo tokens yet" });
        return send(res, 200, await demoUsers(opts.demoEnv));
      }
      files(req, res, () => send(res, 404, "Not found", "text/plain"));
    } catch (e) {
      send(res, 500, { detail: String(e?.message ?? e) });
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port, opts.host, ok);
  });
  const addr = server.address();
  return { server, url: `http://${opts.host}:${addr.port}` };
}

/** Waits until `file` is written after `since` (the seed rewrites it on every start). */
async function waitForWrite(file, since, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const s = await stat(file).catch(() => null);
    if (s && s.mtimeMs >= since) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = options(process.argv.slice(2));
  const started = Date.now() - 1000;
  const { url } = await start(opts).catch((e) => {
    console.error(`web app: ${e.message}`);
    process.exit(1);
  });
  // Printed once the demo tokens exist, so the line comes right after the gateway's own list.
  if (opts.demoEnv) await waitForWrite(opts.demoEnv, started, 180_000);
  console.error(`Web app:         ${url}   (API ${opts.api} proxied at /api/, WebSocket ${opts.ws})`);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
}
