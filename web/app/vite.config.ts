import { defineConfig } from "vite";

// Preact through Vite's own JSX transform (no Babel, no React plugin). The API endpoints are not
// part of the build: the app reads them from /config.json at start.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    reportCompressedSize: true,
  },
});
