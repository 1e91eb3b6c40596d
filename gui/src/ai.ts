// AI optimization proposals (issue 15): ⚡ beside each line with time or memory, 💥 beside
// each function and loop, a settings panel ("AI optimization options": provider, model,
// URL, key), and the proposal under its line with a copy button and an "another" button.
// The page asks only its own server (`scalene view`, POST /api/optimize with the token the
// server put in <script id="scalene-ai">); the server asks the provider, so the page's CSP
// stays 'self'-only and a typed key goes nowhere else. A key is kept in localStorage only
// when the user ticks "remember". The standalone page (no such block) says how to get
// proposals and sends nothing.
import { esc } from "./util";

export interface AiConfig {
  endpoint: string;
  token: string;
  defaults: { provider?: string; model?: string; url?: string; env_keys?: string[] };
}

export interface Region {
  start: number;
  end: number;
  kind: "function" | "loop";
}

interface Settings {
  provider: string;
  model: string;
  url: string;
  key: string;
  remember: boolean;
}

const PROVIDERS: [string, string][] = [
  ["auto", "Automatic (the server's first key, else Ollama)"],
  ["openai", "OpenAI or compatible (vLLM, llama.cpp, LM Studio)"],
  ["azure", "Azure OpenAI"],
  ["anthropic", "Anthropic"],
  ["bedrock", "Amazon Bedrock"],
  ["ollama", "Ollama (local)"],
];
const STORE = "scalene.ai.settings";
const STORE_KEY = "scalene.ai.key";

let cfg: AiConfig | null | undefined;

/** The served page's endpoint and token, or null for a standalone page. */
export function aiConfig(): AiConfig | null {
  if (cfg !== undefined) return cfg;
  cfg = null;
  const el = document.getElementById("scalene-ai");
  if (!el) return cfg;
  try {
    const v = JSON.parse(el.textContent ?? "");
    if (v && typeof v.endpoint === "string" && typeof v.token === "string")
      cfg = { endpoint: v.endpoint, token: v.token, defaults: typeof v.defaults === "object" && v.defaults ? v.defaults : {} };
  } catch {
    cfg = null;
  }
  return cfg;
}

function indentOf(s: string): number {
  let col = 0;
  for (const ch of s) {
    if (ch === " ") col++;
    else if (ch === "\t") col = (Math.floor(col / 8) + 1) * 8;
    else return ch === "#" ? -1 : col;
  }
  return -1;
}

/**
 * The functions and loops of a file, by the line that opens each (def, async def, for,
 * while): the block is every following line indented deeper, blank and comment lines
 * between included. The same rule as block_end() in tools/view.c.
 */
export function findRegions(lines: { lineno: number; text: string }[]): Map<number, Region> {
  const out = new Map<number, Region>();
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].text.trimStart();
    const kind = /^(async\s+)?def[\s(]/.test(t) ? "function" : /^(async\s+for|for|while)[\s(:]/.test(t) ? "loop" : null;
    if (!kind) continue;
    const base = indentOf(lines[i].text);
    let last = i;
    for (let j = i + 1; j < lines.length; j++) {
      const ind = indentOf(lines[j].text);
      if (ind < 0) continue;
      if (ind <= base) break;
      last = j;
    }
    if (last > i) out.set(lines[i].lineno, { start: lines[i].lineno, end: lines[last].lineno, kind });
  }
  return out;
}

function loadSettings(): Settings {
  const d = aiConfig()?.defaults ?? {};
  const s: Settings = { provider: d.provider ?? "auto", model: d.model ?? "", url: d.url ?? "", key: "", remember: false };
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) ?? "null");
    if (saved && typeof saved === "object") {
      for (const k of ["provider", "model", "url"] as const) if (typeof saved[k] === "string") s[k] = saved[k];
    }
    const key = localStorage.getItem(STORE_KEY);
    if (key) { s.key = key; s.remember = true; }
  } catch { /* storage off: the defaults */ }
  return s;
}

let settings: Settings | null = null;

function current(): Settings {
  settings ??= loadSettings();
  return settings;
}

function saveSettings(): void {
  const s = current();
  try {
    localStorage.setItem(STORE, JSON.stringify({ provider: s.provider, model: s.model, url: s.url }));
    if (s.remember && s.key) localStorage.setItem(STORE_KEY, s.key);
    else localStorage.removeItem(STORE_KEY);
  } catch { /* storage off: this page only */ }
}

/** The "AI optimization options" panel, for the files header. */
export function settingsPanel(): string {
  const c = aiConfig();
  if (!c) {
    return `<details class="ai-panel" id="ai-panel"><summary>AI optimization options</summary>` +
      `<p class="ai-note" id="ai-standalone">Optimization proposals (⚡ beside a line, 💥 beside a function or loop) ` +
      `need the page served by <code>scalene view profile.json</code>, which asks the model for the page. ` +
      `This file sends nothing anywhere.</p></details>`;
  }
  const s = current();
  const env = c.defaults.env_keys ?? [];
  const opts = PROVIDERS.map(([v, label]) => `<option value="${v}"${v === s.provider ? " selected" : ""}>${esc(label)}</option>`).join("");
  return `<details class="ai-panel" id="ai-panel"><summary>AI optimization options</summary>` +
    `<div class="ai-form">` +
    `<label>Provider <select id="ai-provider">${opts}</select></label>` +
    `<label>Model <input id="ai-model" type="text" spellcheck="false" placeholder="the provider's default" value="${esc(s.model)}"></label>` +
    `<label>URL <input id="ai-url" type="url" spellcheck="false" placeholder="e.g. http://127.0.0.1:11434 or http://host:8000/v1" value="${esc(s.url)}"></label>` +
    `<label>Key <input id="ai-key" type="password" autocomplete="off" spellcheck="false" placeholder="${env.length ? esc("from the server's environment: " + env.join(", ")) : "API key (Bedrock: ID:SECRET)"}" value="${esc(s.key)}"></label>` +
    `<label class="ai-remember"><input id="ai-remember" type="checkbox"${s.remember ? " checked" : ""}> remember the key in this browser</label>` +
    `</div><p class="ai-note">The page asks its own server, which asks the provider; the key is sent to that server only.</p></details>`;
}

/** Wires the panel's inputs (after settingsPanel() is in the document). */
export function bindSettings(root: HTMLElement): void {
  if (!aiConfig()) return;
  const s = current();
  const get = (id: string) => root.querySelector(`#${id}`) as HTMLInputElement | HTMLSelectElement | null;
  const update = () => {
    s.provider = (get("ai-provider")?.value ?? "auto");
    s.model = (get("ai-model")?.value ?? "").trim();
    s.url = (get("ai-url")?.value ?? "").trim();
    s.key = (get("ai-key")?.value ?? "").trim();
    s.remember = !!(get("ai-remember") as HTMLInputElement | null)?.checked;
    saveSettings();
  };
  for (const id of ["ai-provider", "ai-model", "ai-url", "ai-key", "ai-remember"]) {
    get(id)?.addEventListener("change", update);
    get(id)?.addEventListener("input", update);
  }
}

/**
 * The ⚡ and 💥 buttons of a line's source cell. Their glyphs come from the style sheet
 * (::before), so the cell's text stays the line's source (copying, searching, tests).
 */
export function lineButtons(lineno: number, active: boolean, region: Region | undefined): string {
  let h = "";
  if (active)
    h += `<button type="button" class="ai-btn" data-ai="line" data-start="${lineno}" data-end="${lineno}" data-kind="line" title="Propose an optimization of this line" aria-label="Propose an optimization of line ${lineno}"></button>`;
  if (region)
    h += `<button type="button" class="ai-btn" data-ai="region" data-start="${region.start}" data-end="${region.end}" data-kind="${region.kind}" title="Propose an optimization of this ${region.kind} (lines ${region.start}-${region.end})" aria-label="Propose an optimization of the ${region.kind} at lines ${region.start}-${region.end}"></button>`;
  return h ? `<span class="ai-btns">${h}</span>` : "";
}

interface Proposal {
  code: string;
  reason: string;
  diff: string;
  provider: string;
  model: string;
}

function diffHtml(diff: string): string {
  return diff.split("\n").filter((l) => l !== "").map((l) => {
    const cls = l.startsWith("+++") || l.startsWith("---") ? "h" : l[0] === "+" ? "add" : l[0] === "-" ? "del" : l[0] === "@" ? "h" : "ctx";
    return `<span class="d-${cls}">${esc(l)}</span>`;
  }).join("\n");
}

/**
 * Handles a click on ⚡, 💥, "Another" or "Try again" (btn): the proposal, or why there is
 * none, in a row under the line's row.
 */
export async function onAiClick(btn: HTMLElement, file: string, ncol: number): Promise<void> {
  let tr = btn.closest("tr") as HTMLElement | null;
  if (tr?.classList.contains("ai-row")) tr = tr.previousElementSibling as HTMLElement | null;
  if (!tr) return;
  const start = Number(btn.dataset.start), end = Number(btn.dataset.end), kind = btn.dataset.kind ?? "line";
  let row = tr.nextElementSibling as HTMLElement | null;
  if (!row || !row.classList.contains("ai-row") || row.dataset.for !== `${start}-${end}`) {
    row = document.createElement("tr");
    row.className = "ai-row";
    row.dataset.for = `${start}-${end}`;
    tr.after(row);
  }
  const box = (inner: string) => {
    row!.innerHTML = `<td colspan="${ncol}"><div class="ai-box" role="region" aria-label="Proposed optimization">${inner}</div></td>`;
  };
  const c = aiConfig();
  if (!c) {
    box(`<p class="ai-note">Proposals need the page served by <code>scalene view profile.json</code> ` +
      `(or <code>scalene view --optimize FILE:${start}${end !== start ? `-${end}` : ""}</code> in a terminal). This file sends nothing anywhere.</p>`);
    return;
  }
  const s = current();
  const what = kind === "line" ? `line ${start}` : `the ${kind} at lines ${start}-${end}`;
  box(`<p class="ai-wait">Asking ${esc(s.provider === "auto" ? "the model" : s.provider)} about ${esc(what)}…</p>`);
  row.dataset.state = "waiting";
  const body: Record<string, unknown> = { file, start, end, kind, provider: s.provider };
  if (s.model) body.model = s.model;
  if (s.url) body.url = s.url;
  if (s.key) body.key = s.key;
  let reply: Partial<Proposal> & { error?: string };
  try {
    const r = await fetch(c.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Scalene-Token": c.token },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    reply = await r.json();
    if (!r.ok && !reply.error) reply.error = `the server answered HTTP ${r.status}`;
  } catch (e) {
    reply = { error: `cannot reach scalene view's server: ${(e as Error).message}` };
  }
  if (reply.error || typeof reply.code !== "string") {
    row.dataset.state = "error";
    const hint = /no API key|no AWS credentials/.test(reply.error ?? "") ? " Type a key under AI optimization options, or set it in the server's environment." : "";
    box(`<p class="ai-error" role="alert">${esc((reply.error ?? "no proposal") + hint)}</p>` +
      `<div class="ai-actions"><button type="button" class="ai-again" data-start="${start}" data-end="${end}" data-kind="${esc(kind)}">Try again</button></div>`);
    return;
  }
  row.dataset.state = "done";
  box(`<div class="ai-head">Proposed optimization of ${esc(what)} <span class="ai-by">${esc(reply.provider ?? "")} · ${esc(reply.model ?? "")}</span></div>` +
    (reply.reason ? `<p class="ai-reason">${esc(reply.reason)}</p>` : "") +
    `<pre class="ai-diff">${diffHtml(reply.diff ?? "")}</pre>` +
    `<pre class="ai-code" hidden>${esc(reply.code)}</pre>` +
    `<div class="ai-actions"><button type="button" class="ai-copy">Copy</button>` +
    `<button type="button" class="ai-again" data-start="${start}" data-end="${end}" data-kind="${esc(kind)}">Another</button></div>`);
  const code = reply.code;
  row.querySelector(".ai-copy")?.addEventListener("click", async (e) => {
    const b = e.currentTarget as HTMLElement;
    try {
      await navigator.clipboard.writeText(code);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Copy failed: select the code";
      (row!.querySelector(".ai-code") as HTMLElement).hidden = false;
    }
  });
}
