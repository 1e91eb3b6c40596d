// Builds the web viewer: src/main.ts -> dist/scalene-gui.js (one minified IIFE),
// src/style.css -> dist/scalene-gui.css, index.html -> dist/index.html (the template
// with the <!--SCALENE:CSS-->, <!--SCALENE:JS-->, <!--SCALENE:DATA--> markers).
//   node build.mjs                 build into gui/dist
//   node build.mjs --outdir DIR    build into DIR
//   node build.mjs --dev           unminified, with inline source maps
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dev = args.includes("--dev");
const oi = args.indexOf("--outdir");
const outdir = oi >= 0 && args[oi + 1] ? resolve(args[oi + 1]) : join(here, "dist");

const MARKERS = ["<!--SCALENE:CSS-->", "<!--SCALENE:JS-->", "<!--SCALENE:DATA-->"];
const template = readFileSync(join(here, "index.html"), "utf8");
for (const m of MARKERS) {
  const own = template.split("\n").filter((l) => l.trim() === m).length;
  if (own !== 1 || template.split(m).length !== 2)
    throw new Error(`index.html must hold ${m} exactly once, on its own line`);
}

mkdirSync(outdir, { recursive: true });
const common = {
  bundle: true,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  target: ["es2020", "chrome90", "firefox90", "safari15"],
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: here,
};
await build({
  ...common,
  entryPoints: [join(here, "src/main.ts")],
  outfile: join(outdir, "scalene-gui.js"),
  format: "iife",
  platform: "browser",
  charset: "utf8",
});
await build({
  ...common,
  entryPoints: [join(here, "src/style.css")],
  outfile: join(outdir, "scalene-gui.css"),
});
copyFileSync(join(here, "index.html"), join(outdir, "index.html"));

const js = readFileSync(join(outdir, "scalene-gui.js"), "utf8");
if (/<\/script/i.test(js) && !dev)
  console.warn("note: the bundle contains </script; the assembler escapes it");
const kb = (f) => (statSync(join(outdir, f)).size / 1024).toFixed(1);
console.log(`gui: ${outdir}: scalene-gui.js ${kb("scalene-gui.js")} KiB, ` +
            `scalene-gui.css ${kb("scalene-gui.css")} KiB, index.html`);
