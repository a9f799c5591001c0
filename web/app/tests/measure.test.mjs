// Figures, not assertions: the bundle's weight (gzip) and the first load in Chromium, printed as
// test diagnostics and written to test-results/measure.json.
import { test, before, after } from "node:test";
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { setup, TOKENS } from "./harness.mjs";

const dist = join(dirname(fileURLToPath(import.meta.url)), "../dist");
let t;
before(async () => {
  t = await setup();
});
after(() => t?.stop());

test("measure: bundle size and first load", async (ctx) => {
  const files = ["index.html", ...readdirSync(join(dist, "assets")).filter((f) => /\.(js|css)$/.test(f)).map((f) => `assets/${f}`)];
  const sizes = files.map((f) => {
    const b = readFileSync(join(dist, f));
    return { file: f, bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
  });
  const total = sizes.reduce((a, s) => ({ bytes: a.bytes + s.bytes, gzip: a.gzip + s.gzip }), { bytes: 0, gzip: 0 });

  // Cold loads (a new context each: empty cache) of the sign-in screen, and of "My communities"
  // for a signed-in student (token already in the tab), until the list is on screen.
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const context = await t.browser.newContext();
    await context.addInitScript((tok) => sessionStorage.setItem("course-community.token", tok), TOKENS.sam);
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(t.url + "/");
    await page.locator(".community-card").first().waitFor();
    const visible = Date.now() - t0;
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return { domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: fcp?.startTime ?? null };
    });
    runs.push({ ...nav, communitiesVisible: visible });
    await context.close();
  }
  const median = (k) => {
    const v = runs.map((r) => r[k]).filter((x) => x !== null).sort((a, b) => a - b);
    return Math.round(v[Math.floor(v.length / 2)]);
  };
  const figures = {
    bundle: { files: sizes, total },
    firstLoadMs: { domContentLoaded: median("domContentLoaded"), firstContentfulPaint: median("fcp"), load: median("load"), myCommunitiesVisible: median("communitiesVisible") },
    runs,
  };
  mkdirSync("test-results", { recursive: true });
  writeFileSync("test-results/measure.json", JSON.stringify(figures, null, 2));
  ctx.diagnostic(`bundle: ${(total.bytes / 1024).toFixed(1)} KiB, ${(total.gzip / 1024).toFixed(1)} KiB gzip (${sizes.map((s) => `${s.file} ${(s.gzip / 1024).toFixed(1)}`).join(", ")})`);
  ctx.diagnostic(
    `first load, median of 5 cold loads: DOMContentLoaded ${figures.firstLoadMs.domContentLoaded} ms, first paint ${figures.firstLoadMs.firstContentfulPaint} ms, load ${figures.firstLoadMs.load} ms, "My communities" listed ${figures.firstLoadMs.myCommunitiesVisible} ms`,
  );
});
