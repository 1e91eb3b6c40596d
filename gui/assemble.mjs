#!/usr/bin/env node
// Assembles the self-contained viewer page, as `scalene view --standalone` does natively:
// the template dist/index.html with its three marker lines replaced by
//   <!--SCALENE:CSS-->   <style>dist/scalene-gui.css</style>
//   <!--SCALENE:JS-->    <script>dist/scalene-gui.js</script>   ("</script" as "<\/script", "<!--" as "<\!--")
//   <!--SCALENE:DATA-->  <script id="scalene-data" type="application/json">PROFILE</script>
// where PROFILE is the profile's JSON with every "</" written "<\/" (and "<!--" written
// "\u003c!--", so no text in the profile can change how the HTML parser ends the element).
// A profile that cannot be read or is not JSON is embedded as {"scalene_view_error": "..."},
// which the page shows as an error.
//
//   node assemble.mjs PROFILE.json OUT.html [--dist DIR] [--raw] [--error MESSAGE]
//     --dist DIR       where the built files are (default: gui/dist beside this script)
//     --raw            embed the profile's text as it is, even if it is not JSON
//     --error MESSAGE  embed {"scalene_view_error": MESSAGE} instead of a profile
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export function escapeScript(js) {
  return js.replace(/<\/script/gi, (m) => "<\\/" + m.slice(2)).replace(/<!--/g, "<\\!--");
}

export function escapeData(json) {
  return json.replace(/<\//g, "<\\/").replace(/<!--/g, "\\u003c!--");
}

export function errorData(message) {
  return JSON.stringify({ scalene_view_error: message });
}

/** The page for `dataText` (already JSON text, or any text with raw). */
export function assemble(dataText, dist = join(here, "dist")) {
  const template = readFileSync(join(dist, "index.html"), "utf8");
  const css = readFileSync(join(dist, "scalene-gui.css"), "utf8").replace(/<\/style/gi, "<\\/style");
  const js = escapeScript(readFileSync(join(dist, "scalene-gui.js"), "utf8"));
  const parts = {
    "<!--SCALENE:CSS-->": `<style>${css}</style>`,
    "<!--SCALENE:JS-->": `<script>${js}</script>`,
    "<!--SCALENE:DATA-->": `<script id="scalene-data" type="application/json">${escapeData(dataText)}</script>`,
  };
  const out = template.split("\n").map((line) => {
    const key = line.trim();
    return Object.prototype.hasOwnProperty.call(parts, key) ? parts[key] : line;
  });
  return out.join("\n");
}

/** The data text for the profile file at `path`: its JSON, or an error object. */
export function profileData(path, raw = false) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return errorData(`${path}: ${e.code === "ENOENT" ? "No such file or directory" : e.message}`);
  }
  if (raw) return text;
  if (text.trim() === "") return errorData(`${path}: the profile is empty`);
  try {
    JSON.parse(text);
  } catch (e) {
    return errorData(`${path}: not valid JSON (${e.message})`);
  }
  return text;
}

function main(argv) {
  const pos = [];
  let dist, raw = false, error = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--dist") dist = argv[++i];
    else if (a === "--raw") raw = true;
    else if (a === "--error") error = argv[++i] ?? "";
    else if (a === "-h" || a === "--help") {
      console.log("usage: node assemble.mjs PROFILE.json OUT.html [--dist DIR] [--raw] [--error MESSAGE]");
      return 0;
    } else pos.push(a);
  }
  if (pos.length !== 2) {
    console.error("usage: node assemble.mjs PROFILE.json OUT.html [--dist DIR] [--raw] [--error MESSAGE]");
    return 2;
  }
  const data = error !== null ? errorData(error) : profileData(pos[0], raw);
  writeFileSync(pos[1], assemble(data, dist));
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
