// Browser tests of the optimization proposals (issue 15, gui/src/ai.ts) on the page served by
// `scalene view --no-browser`, against a loopback stand-in that speaks OpenAI's
// /v1/chat/completions. The profile is real: tests/e2e/programs/ai_hot.py under scalene.
// Checks: ⚡ on the hot line shows the stand-in's proposal under it, Copy copies its code; 💥 on the function sends
// the whole function; "Another" asks again; the key typed in the settings panel reaches the
// stand-in, is in no file written and in no request the page makes to anything but its own
// server, and in no storage unless "remember" is ticked; the endpoint refuses a request
// without the page's token; the standalone page sends nothing and says how to get proposals.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { assemblePage, buildGui, launchBrowser, openPage, PROGRAMS, SCALENE } from "./helpers.mjs";

const KEY = "sk-typed-in-the-page-5c1f0e9d8b7a";
const PROG = join(PROGRAMS, "ai_hot.py");
const AI_VARS = ["OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN", "OPENAI_BASE_URL", "OLLAMA_HOST", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];

let browser, tmp, json, server, standin, hot, src;

function cleanEnv() {
  const e = { ...process.env, BROWSER: "true" };
  for (const k of AI_VARS) delete e[k];
  return e;
}

/** An OpenAI-compatible stand-in: records each request, answers with a numbered proposal. */
function startStandin() {
  const s = { requests: [] };
  s.server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body };
      s.requests.push(rec);
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") { res.writeHead(404); res.end("{}"); return; }
      const n = s.requests.length;
      const content = "Faster:\n\n```python\n    total = sum(i * i for i in range(n))  # STAND-IN #" + n +
        "\n```\n\nReason: the loop runs in C (stand-in " + n + ")\n";
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content } }] }));
    });
  });
  return new Promise((ok) => s.server.listen(0, "127.0.0.1", () => { s.base = `http://127.0.0.1:${s.server.address().port}`; ok(s); }));
}

function startView(profile) {
  return new Promise((ok, fail) => {
    const p = spawn(SCALENE, ["view", "--no-browser", profile], { cwd: tmp, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) ok({ proc: p, url: m[1] });
    });
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => fail(new Error(`scalene view exited ${code}: ${err}`)));
  });
}

before(async () => {
  buildGui();
  tmp = mkdtempSync(join(tmpdir(), "scalene-ai-test-"));
  json = join(tmp, "p.json");
  const r = spawnSync(SCALENE, ["run", "-o", json, PROG, "---", "1.0"], { cwd: tmp, encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, `scalene run failed: ${r.stderr}`);
  src = readFileSync(PROG, "utf8").split("\n");
  hot = src.findIndex((l) => l.includes("# HOT")) + 1;
  standin = await startStandin();
  server = await startView(json);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.proc.kill("SIGTERM");
  standin?.server.close();
  if (tmp && !process.env.KEEP_GUI_TMP) rmSync(tmp, { recursive: true, force: true });
});

/** Opens the served page, recording every request with its body. */
async function openServed() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const requests = [], errors = [];
  page.on("request", (r) => requests.push({ url: r.url(), body: r.postData() ?? "", headers: r.headers() }));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(server.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]");
  return { context, page, requests, errors };
}

async function fillSettings(page, key) {
  await page.click("#ai-panel summary");
  await page.selectOption("#ai-provider", "openai");
  await page.fill("#ai-model", "gpt-standin");
  await page.fill("#ai-url", standin.base + "/v1");
  if (key) await page.fill("#ai-key", key);
}

const file = () => Object.keys(JSON.parse(readFileSync(json, "utf8")).files).find((f) => f.endsWith("/ai_hot.py"));
const rowSel = (line) => `section.file[data-file="${file()}"] table.lines tbody tr[data-line="${line}"]`;
const promptOf = (rec) => JSON.parse(rec.body).messages.find((m) => m.role === "user").content;

function filesUnder(dir) {
  const out = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p)); else out.push(p);
  }
  return out;
}

describe("proposals on the served page", () => {
  test("⚡ on the hot line shows the stand-in's proposal under it; the typed key reaches only our server", async (t) => {
    const { context, page, requests, errors } = await openServed();
    t.after(() => context.close());
    const before = standin.requests.length;
    await fillSettings(page, KEY);
    const bolt = page.locator(`${rowSel(hot)} button.ai-btn[data-ai=line]`);
    assert.equal(await bolt.count(), 1, "no ⚡ on the hot line");
    await bolt.click();
    const box = page.locator(`${rowSel(hot)} + tr.ai-row[data-state=done]`);
    await box.waitFor({ timeout: 30_000 });
    const text = await box.textContent();
    const n = before + 1;
    assert.match(text, new RegExp(`total = sum\\(i \\* i for i in range\\(n\\)\\)  # STAND-IN #${n}`));
    assert.match(text, new RegExp(`the loop runs in C \\(stand-in ${n}\\)`));
    assert.match(text, /-\s+total \+= i \* i {2}# HOT/);
    // the stand-in got the key, the model and the line with its figures
    const rec = standin.requests[n - 1];
    assert.equal(rec.headers.authorization, `Bearer ${KEY}`);
    assert.equal(JSON.parse(rec.body).model, "gpt-standin");
    assert.ok(promptOf(rec).includes(src[hot - 1]) && promptOf(rec).includes(`line ${hot}: Python `), promptOf(rec));
    // the page's requests: its own origin only; the key only in the POST to its own server
    const origin = new URL(server.url).origin;
    for (const r of requests) assert.equal(new URL(r.url).origin, origin, `a request elsewhere: ${r.url}`);
    const withKey = requests.filter((r) => r.body.includes(KEY) || JSON.stringify(r.headers).includes(KEY));
    assert.ok(withKey.length >= 1 && withKey.every((r) => r.url === origin + "/api/optimize"), JSON.stringify(withKey.map((r) => r.url)));
    // not remembered: no storage holds it, nor the page, nor any file
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.ok(!stored.includes(KEY), "the key is in the browser's storage without 'remember'");
    assert.ok(!(await page.content()).includes(KEY), "the key is in the page's markup");
    for (const f of filesUnder(tmp)) assert.ok(!readFileSync(f).includes(KEY), `the key is in ${f}`);
    // Copy puts the proposed code (not the diff) on the clipboard
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.url).origin });
    await box.locator("button.ai-copy").click();
    await page.locator(`${rowSel(hot)} + tr.ai-row button.ai-copy`).filter({ hasText: "Copied" }).waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()),
      `    total = sum(i * i for i in range(n))  # STAND-IN #${n}`);
    // "Another" asks again and shows the new answer
    await box.locator("button.ai-again").click();
    await page.locator(`${rowSel(hot)} + tr.ai-row[data-state=done]`).filter({ hasText: `STAND-IN #${n + 1}` }).waitFor({ timeout: 30_000 });
    assert.equal(standin.requests.length, n + 1);
    // "remember" is the one way into storage
    await page.check("#ai-remember");
    const kept = await page.evaluate(() => localStorage.getItem("scalene.ai.key"));
    assert.equal(kept, KEY);
    await page.uncheck("#ai-remember");
    assert.equal(await page.evaluate(() => localStorage.getItem("scalene.ai.key")), null);
    assert.deepEqual(errors, []);
  });

  test("💥 on the function sends the whole function", async (t) => {
    const { context, page, errors } = await openServed();
    t.after(() => context.close());
    await fillSettings(page, KEY);
    const def = src.findIndex((l) => l.startsWith("def sum_squares")) + 1;
    const boom = page.locator(`${rowSel(def)} button.ai-btn[data-ai=region]`);
    assert.equal(await boom.count(), 1, "no 💥 on the def line");
    assert.equal(await boom.getAttribute("data-end"), String(def + 4));
    const before = standin.requests.length;
    await boom.click();
    await page.locator(`${rowSel(def)} + tr.ai-row[data-state=done]`).waitFor({ timeout: 30_000 });
    const prompt = promptOf(standin.requests[before]);
    for (let l = def; l <= def + 4; l++) assert.ok(prompt.includes(src[l - 1]), `line ${l} missing from the prompt`);
    assert.ok(!prompt.includes("def main():"), "a line after the function was sent");
    assert.ok(prompt.includes("(function)"), prompt);
    // the loop inside has its own 💥
    assert.equal(await page.locator(`${rowSel(def + 2)} button.ai-btn[data-ai=region][data-kind=loop]`).count(), 1);
    assert.deepEqual(errors, []);
  });

  test("the endpoint refuses a request without the page's token", async (t) => {
    const { context, page } = await openServed();
    t.after(() => context.close());
    const before = standin.requests.length;
    const body = JSON.stringify({ file: file(), start: hot, end: hot, kind: "line", provider: "openai", url: standin.base + "/v1", key: KEY });
    const fromNode = await fetch(server.url + "api/optimize", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    assert.equal(fromNode.status, 403);
    const fromPage = await page.evaluate(async (b) => (await fetch("/api/optimize", { method: "POST", headers: { "Content-Type": "application/json" }, body: b })).status, body);
    assert.equal(fromPage, 403);
    const wrong = await fetch(server.url + "api/optimize", { method: "POST", headers: { "Content-Type": "application/json", "X-Scalene-Token": "f".repeat(64) }, body });
    assert.equal(wrong.status, 403);
    assert.equal(standin.requests.length, before, "a refused request reached the provider");
  });

  test("the standalone page says how to get proposals and sends nothing", async (t) => {
    const { html } = await assemblePage(json, tmp);
    const p = await openPage(browser, html);
    t.after(() => p.context.close());
    assert.equal(await p.page.locator("#ai-standalone").count(), 1);
    await p.page.locator(`${rowSel(hot)} button.ai-btn[data-ai=line]`).click();
    const note = await p.page.locator(`${rowSel(hot)} + tr.ai-row`).textContent();
    assert.match(note, /scalene view profile\.json/);
    assert.deepEqual(p.requests, [p.url]);
    assert.deepEqual(p.errors, []);
  });
});
