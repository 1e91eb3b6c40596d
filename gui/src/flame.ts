// Flame graphs (icicles: the outermost frame on top) of the report's call stacks: CPU
// (`processes[].stacks` weighted by seconds, or `combined_stacks` weighted by samples) and
// memory (`memory_stacks`: MB allocated, and MB still live at the end where the report says).
// Frames are merged by function (kind, name, file), not by line, so a function called from
// two lines of one caller is one box; a Python box remembers its heaviest line, which
// "Show line" opens in the file tables. Drawn as absolutely placed divs, only the boxes at
// least MIN_PX wide: a box narrower than that has no visible child either, so 10,000 stacks
// draw a few hundred to a few thousand boxes whatever their depth.
import type { Profile } from "./model";
import { esc, fmtMbUnit, fmtSec, splitPath } from "./util";

type J = Record<string, unknown>;

/** Frame kinds, as their CSS class: Python, native (C, Cython, mypyc), system (libc, kernel). */
const KINDS = ["py", "nat", "sys"] as const;
type Kind = 0 | 1 | 2;

const ROW_PX = 18;
const MIN_PX = 0.75;
/** Merged CPU stacks are summed from the processes' own (seconds) up to this many, else
 *  the run's `combined_stacks` (samples) are used: summing 64 × 10,000 stacks would be slow. */
const MAX_PROC_STACKS = 60000;

interface Node {
  id: number;
  fid: number; // the frame (Tree.frames); -1 for the root
  name: string;
  file: string;
  kind: Kind;
  total: number;
  self: number;
  line: number; // Python: the line executing in this frame with the most weight
  members: Int32Array; // the stacks through this node (indices into Tree's stacks)
  kids: Node[] | null; // null until expanded
  parent: Node | null;
  depth: number; // the root is 0; a node at depth d is frame d-1 of its stacks
}

export type Unit = "sec" | "samples" | "mb";

interface Frame { name: string; file: string; kind: Kind }

function isObj(v: unknown): v is J {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** System code: the C library, the dynamic loader, the vDSO, the kernel. */
const SYS_MODULE = /(^|\/)(libc|libpthread|libm|libdl|librt|ld-linux[^/]*|ld)([.-][^/]*)?\.so|linux-vdso|linux-gate|\[kernel|\[vdso|^kernel$/;

function frameKind(o: J): Kind {
  const k = o["kind"];
  if (k === "py" || k === undefined) return 0;
  const m = typeof o["filename_or_module"] === "string" ? (o["filename_or_module"] as string) : "";
  return k === "system" || k === "kernel" || SYS_MODULE.test(m) ? 2 : 1;
}

/**
 * The merged call tree of a set of stacks, built lazily: the stacks are read once into frame
 * ids (frames interned by kind, file and name), and a node's children are grouped only when
 * the node is drawn. A box too narrow to draw is never expanded, so 10,000 deep stacks cost
 * one pass over their frames plus the few hundred boxes on screen, not a 200,000-node tree
 * (which cost seconds of garbage collection in Chromium).
 */
export class Tree {
  readonly frames: Frame[] = [];
  readonly nodes: Node[] = [];
  readonly root: Node;
  private sf: Int32Array[] = []; // per stack: frame ids, outermost first
  private sl: Int32Array[] = []; // per stack: the line of each frame (0: none)
  private sw: number[] = []; // per stack: weight

  /** Each entry: [frames (outermost first), weight]; a malformed entry or frame is skipped
   *  (the stacks are an extra: the tables stay right without them). */
  constructor(entries: Array<[unknown, number]>, readonly unit: Unit) {
    const ids = new Map<string, Map<string, number>>(); // kind+file -> name -> frame id
    for (const [framesRaw, w] of entries) {
      if (!Array.isArray(framesRaw) || !(w > 0) || !Number.isFinite(w)) continue;
      const fs = new Int32Array(framesRaw.length), ls = new Int32Array(framesRaw.length);
      let k = 0;
      for (const f of framesRaw) {
        let name: string, file: string, kind: Kind, line = 0;
        if (isObj(f)) {
          const dn = f["display_name"], fm = f["filename_or_module"], ln = f["line"];
          name = typeof dn === "string" ? dn : "?";
          file = typeof fm === "string" ? fm : "";
          kind = f["kind"] === "py" ? 0 : frameKind(f);
          line = typeof ln === "number" ? ln : 0;
        } else if (typeof f === "string") {
          // Scalene's older `stacks` shape: "file func:line;"
          const m = /^(.*) ([^ ]+):(\d+);?$/.exec(f);
          if (m) { file = m[1]; name = m[2]; line = Number(m[3]); } else { file = ""; name = f; }
          kind = 0;
        } else continue;
        const fk = kind === 0 ? file : kind + "\u0000" + file;
        let byName = ids.get(fk);
        if (!byName) ids.set(fk, (byName = new Map()));
        let fid = byName.get(name);
        if (fid === undefined) {
          byName.set(name, (fid = this.frames.length));
          this.frames.push({ name, file, kind });
        }
        fs[k] = fid;
        ls[k++] = line;
      }
      this.sf.push(k === fs.length ? fs : fs.slice(0, k));
      this.sl.push(k === ls.length ? ls : ls.slice(0, k));
      this.sw.push(w);
    }
    const all = new Int32Array(this.sw.length);
    for (let i = 0; i < all.length; i++) all[i] = i;
    this.root = this.node(-1, null, all);
  }

  get stacks(): number { return this.sw.length; }

  private node(fid: number, parent: Node | null, members: Int32Array): Node {
    const depth = parent ? parent.depth + 1 : 0;
    const fr = fid >= 0 ? this.frames[fid] : { name: "all", file: "", kind: 0 as Kind };
    let total = 0, self = 0, line = 0, lineW = 0;
    let lines: Map<number, number> | null = null;
    for (let i = 0; i < members.length; i++) {
      const s = members[i], w = this.sw[s];
      total += w;
      if (this.sf[s].length === depth) self += w;
      if (depth > 0 && fr.kind === 0) {
        const l = this.sl[s][depth - 1];
        if (l <= 0) continue;
        if (lineW === 0 || l === line) { line = l; lineW += w; }
        else { lines ??= new Map([[line, lineW]]); lines.set(l, (lines.get(l) ?? 0) + w); }
      }
    }
    if (lines) { let bw = -1; for (const [l, w] of lines) if (w > bw) { line = l; bw = w; } }
    const n: Node = { id: this.nodes.length, fid, name: fr.name, file: fr.file, kind: fr.kind, total, self, line, members, kids: null, parent, depth };
    this.nodes.push(n);
    return n;
  }

  /** A node's children, heaviest first (grouped on first use). */
  kids(n: Node): Node[] {
    if (n.kids) return n.kids;
    const groups = new Map<number, number[]>();
    const d = n.depth;
    for (let i = 0; i < n.members.length; i++) {
      const s = n.members[i], f = this.sf[s];
      if (f.length <= d) continue;
      const g = groups.get(f[d]);
      if (g) g.push(s); else groups.set(f[d], [s]);
    }
    const kids: Node[] = [];
    for (const [fid, m] of groups) kids.push(this.node(fid, n, Int32Array.from(m)));
    kids.sort((a, b) => b.total - a.total);
    return (n.kids = kids);
  }

  /** The frames whose name or file holds q (lower case), and the weight of the stacks holding one. */
  search(q: string): { hit: Uint8Array; weight: number } {
    const hit = new Uint8Array(this.frames.length);
    this.frames.forEach((f, i) => { if (f.name.toLowerCase().includes(q) || f.file.toLowerCase().includes(q)) hit[i] = 1; });
    let weight = 0;
    for (let s = 0; s < this.sf.length; s++) {
      const f = this.sf[s];
      for (let i = 0; i < f.length; i++) if (hit[f[i]]) { weight += this.sw[s]; break; }
    }
    return { hit, weight };
  }
}

function fmtValue(v: number, unit: Unit): string {
  if (unit === "sec") return fmtSec(v);
  if (unit === "mb") return fmtMbUnit(v);
  return `${Math.round(v)} sample${Math.round(v) === 1 ? "" : "s"}`;
}

/** The share of `part` in `whole`, in %, as shown (one decimal). */
function share(part: number, whole: number): string {
  return whole > 0 ? ((100 * part) / whole).toFixed(1) : "0.0";
}

type View = "cpu" | "alloc" | "live";

/** The stacks of the current view, read from the raw report. */
function entriesFor(raw: J, prof: Profile, pid: string | null, view: View): { e: Array<[unknown, number]>; unit: Unit } {
  const e: Array<[unknown, number]> = [];
  const procs = Array.isArray(raw["processes"]) ? (raw["processes"] as unknown[]).filter(isObj) : [];
  const ofPid = (p: J) => String(p["pid"]) === pid;
  if (view === "cpu") {
    const fromProc = (list: unknown) => {
      if (!Array.isArray(list)) return;
      for (const s of list) {
        if (!Array.isArray(s) || !isObj(s[1])) continue;
        const c = s[1]["cpu_sec"];
        if (typeof c === "number") e.push([s[0], c]);
      }
    };
    if (pid !== null) {
      for (const p of procs) if (ofPid(p)) fromProc(p["stacks"]);
      return { e, unit: "sec" };
    }
    let n = 0;
    for (const p of procs) if (Array.isArray(p["stacks"])) n += (p["stacks"] as unknown[]).length;
    if (n > 0 && n <= MAX_PROC_STACKS) {
      for (const p of procs) fromProc(p["stacks"]);
      return { e, unit: "sec" };
    }
    const cs = raw["combined_stacks"];
    if (Array.isArray(cs) && cs.length) {
      for (const s of cs) if (Array.isArray(s) && typeof s[1] === "number") e.push([s[0], s[1]]);
      return { e, unit: "samples" };
    }
    // Scalene's older shape: [["file func:line;", ...], {count, ...}]
    const st = raw["stacks"];
    if (Array.isArray(st))
      for (const s of st) if (Array.isArray(s) && isObj(s[1]) && typeof s[1]["count"] === "number") e.push([s[0], s[1]["count"] as number]);
    return { e, unit: "samples" };
  }
  // memory_stacks: [[frame, ...], MB allocated, MB live at the end (ours; absent in Scalene's)]
  const fromMem = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const s of list) {
      if (!Array.isArray(s)) continue;
      const w = view === "alloc" ? s[1] : s[2];
      if (typeof w === "number") e.push([s[0], w]);
    }
  };
  if (pid !== null) for (const p of procs) { if (ofPid(p)) fromMem(p["memory_stacks"]); }
  else fromMem(raw["memory_stacks"]);
  void prof;
  return { e, unit: "mb" };
}

function hasMem(raw: J, live: boolean): boolean {
  const m = raw["memory_stacks"];
  if (!Array.isArray(m)) return false;
  return m.some((s) => Array.isArray(s) && typeof s[live ? 2 : 1] === "number");
}

/**
 * A compact report (docs/REPORT.md "Compact reports") names its stacks' frames by index into
 * `stack_frames`: write them out, in place, so the rest of this module reads one form.
 */
function resolveFrames(raw: J): void {
  const frames = raw["stack_frames"];
  if (!Array.isArray(frames)) return;
  const fix = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const e of list) {
      if (!Array.isArray(e) || !Array.isArray(e[0])) continue;
      e[0] = (e[0] as unknown[]).map((i) => (typeof i === "number" ? (isObj(frames[i]) ? frames[i] : {}) : i));
    }
  };
  const procs = raw["processes"];
  if (Array.isArray(procs))
    for (const p of procs)
      if (isObj(p)) {
        fix(p["stacks"]);
        fix(p["memory_stacks"]);
      }
  fix(raw["memory_stacks"]);
  delete raw["stack_frames"];
}

/** Whether the report has any stacks to draw. */
export function hasStacks(raw: unknown): boolean {
  if (!isObj(raw)) return false;
  const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;
  if (nonEmpty(raw["combined_stacks"]) || nonEmpty(raw["memory_stacks"]) || nonEmpty(raw["stacks"])) return true;
  const procs = raw["processes"];
  return Array.isArray(procs) && procs.some((p) => isObj(p) && (nonEmpty(p["stacks"]) || nonEmpty(p["memory_stacks"])));
}

/** The panel: view tabs (CPU / memory allocated / memory live), search, zoom path, the graph. */
export class Flame {
  readonly root: HTMLElement;
  private view: View = "cpu";
  private pid: string | null = null;
  private tree: Tree | null = null;
  private zoom: Node | null = null;
  private query = "";
  private graph!: HTMLElement;
  private detail!: HTMLElement;
  private selected: Node | null = null;

  constructor(private raw: J, private prof: Profile, private reveal: (file: string, line: number) => boolean) {
    resolveFrames(raw);
    this.root = document.createElement("section");
    this.root.className = "panel flame-panel";
    this.root.id = "flame";
    this.root.setAttribute("aria-label", "Call stacks");
  }

  mount(): void {
    const tabs: string[] = [`<button type="button" class="tab" data-view="cpu">CPU time</button>`];
    if (hasMem(this.raw, false)) tabs.push(`<button type="button" class="tab" data-view="alloc">Memory allocated</button>`);
    if (hasMem(this.raw, true)) tabs.push(`<button type="button" class="tab" data-view="live">Memory live at the end</button>`);
    this.root.innerHTML =
      `<div class="panel-head"><h2>Call stacks</h2><div class="tabs" role="tablist">${tabs.join("")}</div>` +
      `<input type="search" class="flame-search" id="flame-search" placeholder="Search functions" aria-label="Search functions">` +
      `<span class="flame-match" id="flame-match"></span>` +
      `<span class="flame-legend"><span class="key f-py"></span>Python<span class="key f-nat"></span>native<span class="key f-sys"></span>system</span></div>` +
      `<div class="flame-path" id="flame-path"></div>` +
      `<div class="flame" id="flame-graph" role="tree"></div>` +
      `<div class="flame-detail" id="flame-detail"></div>`;
    this.graph = this.root.querySelector("#flame-graph") as HTMLElement;
    this.detail = this.root.querySelector("#flame-detail") as HTMLElement;
    this.root.addEventListener("click", (e) => this.onClick(e));
    const search = this.root.querySelector("#flame-search") as HTMLInputElement;
    search.addEventListener("input", () => { this.query = search.value.trim().toLowerCase(); this.draw(); });
    let t = 0;
    window.addEventListener("resize", () => { clearTimeout(t); t = window.setTimeout(() => this.draw(), 100); });
    this.rebuild();
  }

  /** Switches to one process's stacks (pid) or the whole run's (null). */
  setPid(pid: string | null): void {
    if (pid === this.pid) return;
    this.pid = pid;
    this.rebuild();
  }

  private rebuild(): void {
    const { e, unit } = entriesFor(this.raw, this.prof, this.pid, this.view);
    this.tree = new Tree(e, unit);
    this.zoom = null;
    this.selected = null;
    this.root.querySelectorAll(".tab").forEach((b) => {
      const on = (b as HTMLElement).dataset.view === this.view;
      b.classList.toggle("on", on);
      b.setAttribute("aria-selected", String(on));
    });
    this.root.dataset.view = this.view;
    this.root.dataset.unit = unit;
    this.draw();
  }

  private what(): string {
    return this.view === "cpu" ? "time" : this.view === "alloc" ? "allocated" : "live at the end";
  }

  private draw(): void {
    const tr = this.tree!;
    const g = this.graph;
    const pathEl = this.root.querySelector("#flame-path") as HTMLElement;
    const matchEl = this.root.querySelector("#flame-match") as HTMLElement;
    if (tr.root.total <= 0) {
      const whose = this.pid === null ? "this run" : `process ${this.pid}`;
      g.style.height = "";
      g.innerHTML = `<div class="chart-empty">No ${this.view === "cpu" ? "CPU" : "memory"} stacks for ${esc(whose)}.</div>`;
      pathEl.innerHTML = "";
      matchEl.textContent = "";
      this.detail.innerHTML = "";
      return;
    }
    const W = Math.max(200, g.clientWidth || 1000);
    const z = this.zoom ?? tr.root;
    const total = tr.root.total;
    const q = this.query;
    const found = q !== "" ? tr.search(q) : null;
    const matches = (n: Node) => found !== null && n.fid >= 0 && found.hit[n.fid] === 1;
    const parts: string[] = [];
    let rows = 0;
    const box = (n: Node, x: number, w: number) => {
      const cls = n === tr.root ? "f-root" : "f-" + KINDS[n.kind];
      const hit = q !== "" ? (matches(n) ? " match" : " dim") : "";
      const line = n.kind === 0 ? n.line : 0;
      const where = n.file ? `${n.file}${line ? ":" + line : ""}` : "";
      const tip = n === tr.root
        ? `All stacks${this.pid !== null ? ` of process ${this.pid}` : ""}: ${fmtValue(n.total, tr.unit)} ${this.what()}\n${tr.stacks} stacks`
        : `${n.name}\n${where ? where + "\n" : ""}${fmtValue(n.total, tr.unit)} ${this.what()} (${share(n.total, total)}%)` +
          (n.self > 0 ? `\nself ${fmtValue(n.self, tr.unit)} (${share(n.self, total)}%)` : "") +
          `\n${["Python", "native", "system"][n.kind]} frame`;
      const label = n === tr.root ? (this.pid !== null ? `process ${this.pid}` : "all") : n.name;
      parts.push(`<div class="fb ${cls}${hit}${n === this.selected ? " sel" : ""}" data-n="${n.id}" data-name="${esc(n.name)}" ` +
        `data-share="${share(n.total, total)}" data-tip="${esc(tip)}" ` +
        `style="left:${x.toFixed(1)}px;width:${Math.max(0, w - 1).toFixed(1)}px;top:${n.depth * ROW_PX}px">` +
        (w > 28 ? esc(label) : "") + `</div>`);
      if (n.depth + 1 > rows) rows = n.depth + 1;
    };
    // the zoomed box's ancestors, full width
    for (let a = z.parent; a; a = a.parent) box(a, 0, W);
    // the zoomed box and what fits under it; iterative (a stack can be 256 deep)
    const todo: Array<[Node, number, number]> = [[z, 0, W]];
    const scale = W / z.total;
    while (todo.length) {
      const [n, x, w] = todo.pop()!;
      box(n, x, w);
      let cx = x;
      for (const k of tr.kids(n)) {
        const kw = k.total * scale;
        if (kw < MIN_PX) break; // sorted heaviest first: the rest are narrower still
        todo.push([k, cx, kw]);
        cx += kw;
      }
    }
    g.style.height = `${rows * ROW_PX + 2}px`;
    g.innerHTML = parts.join("");
    g.dataset.boxes = String(parts.length);

    // the zoom path
    const path: Node[] = [];
    for (let a: Node | null = z; a; a = a.parent) path.unshift(a);
    pathEl.innerHTML = path.length > 1
      ? path.map((n) => `<button type="button" class="link" data-zoom="${n.id}">${esc(n === tr.root ? "all" : n.name)}</button>`).join(" › ") +
        ` <span class="muted">(${share(z.total, total)}% of all; click a box to zoom, "all" to zoom out)</span>`
      : `<span class="muted">Click a box to zoom into it; hover for its ${this.view === "cpu" ? "time" : "MB"} and share.</span>`;

    // search: the share of the stacks holding a matched function (each stack counted once)
    if (found) {
      matchEl.textContent = `matched ${share(found.weight, total)}%`;
      matchEl.dataset.share = share(found.weight, total);
    } else {
      matchEl.textContent = "";
      delete matchEl.dataset.share;
    }
    this.showDetail();
  }

  private showDetail(): void {
    const n = this.selected;
    const tr = this.tree!;
    if (!n || n === tr.root) { this.detail.innerHTML = ""; return; }
    const line = n.kind === 0 ? n.line : 0;
    const inReport = n.kind === 0 && line > 0 && this.prof.files.some((f) => f.name === n.file);
    const [dir, base] = splitPath(n.file);
    this.detail.innerHTML =
      `<b>${esc(n.name)}</b> <span class="muted">${["Python", "native", "system"][n.kind]}</span> ` +
      (n.file ? `<code title="${esc(n.file)}"><span class="dir">${esc(dir)}</span>${esc(base)}${line ? ":" + line : ""}</code> ` : "") +
      `· ${fmtValue(n.total, tr.unit)} (${share(n.total, tr.root.total)}%), self ${fmtValue(n.self, tr.unit)}` +
      (inReport ? ` <button type="button" class="link" data-reveal="${n.id}">Show line ${line}</button>` : "");
  }

  private onClick(e: Event): void {
    const t = e.target as HTMLElement;
    const tab = t.closest("button.tab") as HTMLElement | null;
    if (tab) {
      const v = tab.dataset.view as View;
      if (v !== this.view) { this.view = v; this.rebuild(); }
      return;
    }
    const zb = t.closest("[data-zoom]") as HTMLElement | null;
    if (zb) {
      const n = this.tree!.nodes[Number(zb.dataset.zoom)];
      this.zoom = n && n !== this.tree!.root ? n : null;
      this.draw();
      return;
    }
    const rv = t.closest("[data-reveal]") as HTMLElement | null;
    if (rv) {
      const n = this.tree!.nodes[Number(rv.dataset.reveal)];
      if (n) this.reveal(n.file, n.line);
      return;
    }
    const b = t.closest(".fb") as HTMLElement | null;
    if (b) {
      const n = this.tree!.nodes[Number(b.dataset.n)];
      if (!n) return;
      this.zoom = n === this.tree!.root ? null : n;
      this.selected = n;
      this.draw();
    }
  }
}
