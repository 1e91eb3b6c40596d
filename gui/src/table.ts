// One collapsible section per source file: the line table and the function table. A section
// renders its tables only when it is open, and again only when the view changed (process,
// sort, filter) since it last rendered. Rows are built as one HTML string per table.
import { findRegions, lineButtons, onAiClick, type Region } from "./ai";
import { sparkline, stackBar } from "./charts";
import { highlightLines } from "./highlight";
import type { FileModel, Metrics, Profile, Row } from "./model";
import { metricsFor } from "./model";
import { esc, fmtFrac, fmtMb, fmtPct, fmtRate, fmtSec, splitPath } from "./util";

/** Lines with at least this share of the time (or memory) shown are hotspots. */
export const HOT_SHARE = 0.05;
/** Tables with more rows than this let the browser skip the rows off screen. */
const LONG_TABLE = 150;
/** Files longer than this open showing only the lines with activity. */
export const LONG_FILE = 300;

export interface ViewCtx {
  prof: Profile;
  pid: string | null;
  t0: number; // ns: the sparklines' time axis
  t1: number;
  maxCpu: number; // the hottest line's share in this view (bars are relative to it)
  maxMalloc: number;
  totalCpu: number; // all lines' shares in this view (for the hotspot rule)
  totalMalloc: number;
  secPerPct: number | null; // seconds per 1 % of the time, when the profile says
  gen: number; // bumped on every view change
}

export interface FileStat {
  cpu: number;
  py: number;
  c: number;
  sys: number;
  malloc: number;
  maxCpu: number;
  maxMalloc: number;
  active: number;
}

type SortKey = "line" | "time" | "mem" | "net" | "copy" | "gpu" | "name";

interface Col {
  id: string;
  label: string;
  title: string;
  sort: SortKey | null;
}

/** Column widths in rem (the source or function column takes the rest). */
const WIDTH: Record<string, number> = { line: 3.8, time: 11.6, mem: 11.6, net: 5.4, spark: 7.4, copy: 5.8, gpu: 5 };
/** The source column is at least as wide as the longest line, up to this many characters. */
const MAX_SRC_CH = 240;

function textWidth(rows: Row[]): number {
  let n = 8;
  for (const r of rows) {
    let w = r.text.length;
    if (w <= n) continue;
    if (r.text.includes("\t")) w += 3 * (r.text.split("\t").length - 1);
    if (w > n) n = w;
  }
  return Math.min(n + 4, MAX_SRC_CH);
}

/** The table's style: its grid columns, and a width that fits them. */
function gridStyle(cols: Col[], srcCh: number): string {
  let rem = 0;
  const tracks = cols.map((c) => {
    const w = WIDTH[c.id];
    if (w === undefined) return `minmax(calc(${srcCh}ch + 1rem), 1fr)`;
    rem += w;
    return `${w}rem`;
  });
  return `--cols:${tracks.join(" ")};min-width:calc(${rem.toFixed(1)}rem + ${srcCh}ch + 1rem)`;
}

export function isActive(m: Metrics): boolean {
  return m.cpu > 0 || m.mallocMb > 0 || m.peakMb > 0 || m.netMb !== 0 || m.copy > 0 || m.gpu > 0 ||
    m.samples.length > 0;
}

export function fileStat(f: FileModel, pid: string | null): FileStat {
  const s: FileStat = { cpu: 0, py: 0, c: 0, sys: 0, malloc: 0, maxCpu: 0, maxMalloc: 0, active: 0 };
  for (const r of f.lines) {
    const m = metricsFor(r, pid);
    if (!isActive(m)) continue;
    s.active++;
    s.py += m.py; s.c += m.c; s.sys += m.sys; s.cpu += m.cpu;
    s.malloc += m.mallocMb;
    if (m.cpu > s.maxCpu) s.maxCpu = m.cpu;
    if (m.mallocMb > s.maxMalloc) s.maxMalloc = m.mallocMb;
  }
  // Merged view of a profile whose file total is given: show the profile's own number.
  if (pid === null && f.pct > 0) s.cpu = f.pct;
  return s;
}

function sortVal(key: SortKey, r: Row, m: Metrics, net: boolean): number {
  switch (key) {
    case "time": return m.cpu;
    case "mem": return m.mallocMb;
    case "net": return net ? m.netMb : m.peakMb;
    case "copy": return m.copy;
    case "gpu": return m.gpu;
    default: return r.lineno;
  }
}

export class FileSection {
  readonly root: HTMLElement;
  private head: HTMLButtonElement;
  private body: HTMLElement;
  open = false;
  private renderedGen = -1;
  private mode: "all" | "active";
  private lineSort: { key: SortKey; desc: boolean } = { key: "line", desc: false };
  private fnSort: { key: SortKey; desc: boolean } = { key: "time", desc: true };
  private hl: string[] | null = null;
  private srcCh: number | undefined;
  private fnCh: number | undefined;
  private regions: Map<number, Region> | null = null;
  stat: FileStat;

  constructor(readonly file: FileModel, private ctx: () => ViewCtx) {
    this.mode = file.lines.length > LONG_FILE ? "active" : "all";
    this.root = document.createElement("section");
    this.root.className = "file";
    this.root.dataset.file = file.name;
    this.head = document.createElement("button");
    this.head.className = "file-head";
    this.head.type = "button";
    this.head.setAttribute("aria-expanded", "false");
    this.body = document.createElement("div");
    this.body.className = "file-body";
    this.body.hidden = true;
    this.root.append(this.head, this.body);
    this.head.addEventListener("click", () => this.toggle());
    this.body.addEventListener("click", (e) => this.onClick(e));
    this.stat = fileStat(file, null);
  }

  /** The header (always rendered: cheap) for the current view's numbers. */
  renderHead(): void {
    const c = this.ctx();
    const f = this.file;
    const st = this.stat;
    const [dir, base] = splitPath(f.name);
    const leaks = f.leaks.size;
    const tip = timeTip(st.py, st.c, st.sys, c.secPerPct, "this file");
    const memory = c.prof.memory
      ? `<span class="fstat fmem" data-tip="Memory allocated by this file's lines">${fmtMb(st.malloc) ? fmtMb(st.malloc) + " MB" : ""}</span>`
      : "";
    this.head.innerHTML =
      `<span class="chev" aria-hidden="true"></span>` +
      `<span class="fname" title="${esc(f.name)}"><span class="dir">${esc(dir)}</span><span class="base">${esc(base)}</span></span>` +
      (leaks ? `<span class="pill leak" data-tip="Lines flagged as likely leaks">${leaks} likely leak${leaks > 1 ? "s" : ""}</span>` : "") +
      `<span class="fstat flines">${f.lines.length} lines</span>` +
      memory +
      `<span class="fstat ftime">${stackBar([{ v: st.py, cls: "py" }, { v: st.c, cls: "nat" }, { v: st.sys, cls: "sys" }], 100, tip, "fbar")}` +
      `<span class="num">${fmtPct(st.cpu) || "0%"}</span></span>`;
    this.root.classList.toggle("idle", st.cpu === 0 && st.malloc === 0 && st.active === 0);
  }

  setOpen(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    this.head.setAttribute("aria-expanded", String(open));
    this.root.classList.toggle("open", open);
    this.body.hidden = !open;
    if (open) this.renderBody();
  }

  toggle(): void {
    this.setOpen(!this.open);
  }

  /** Called on a view change: re-render now if open, else when next opened. */
  refresh(): void {
    this.renderHead();
    if (this.open) this.renderBody();
  }

  /** Opens the section, shows the line (switching to all lines if it is hidden) and flashes it. */
  reveal(lineno: number): void {
    this.setOpen(true);
    let tr = this.body.querySelector(`table.lines tr[data-line="${lineno}"]`) as HTMLElement | null;
    if (!tr && this.mode === "active") {
      this.mode = "all";
      this.renderedGen = -1;
      this.renderBody();
      tr = this.body.querySelector(`table.lines tr[data-line="${lineno}"]`) as HTMLElement | null;
    }
    if (!tr) return;
    tr.scrollIntoView({ block: "center" });
    tr.classList.remove("flash");
    void tr.offsetWidth;
    tr.classList.add("flash");
  }

  private cols(fns: boolean): Col[] {
    const c = this.ctx();
    const mem = c.prof.memory;
    const netLabel = this.file.hasNet ? "Net MB" : "Peak MB";
    const cols: Col[] = [
      { id: "line", label: fns ? "Line" : "#", title: fns ? "Line of the def" : "Line number", sort: "line" },
      { id: "time", label: "Time", title: "Share of all profiled time: Python, native, system (click to sort)", sort: "time" },
    ];
    if (mem) {
      cols.push(
        { id: "mem", label: "Memory MB", title: "MB allocated: Python vs native (click to sort)", sort: "mem" },
        { id: "net", label: netLabel, title: this.file.hasNet ?
          "MB still held when the process ended: allocated minus freed" : "Peak live memory (Scalene's per-line peak)", sort: "net" },
        { id: "spark", label: "Timeline", title: "Live memory over the run", sort: null },
        { id: "copy", label: "Copy MB/s", title: "MB copied per second (memcpy and friends)", sort: "copy" });
    }
    if (c.prof.gpu) cols.push({ id: "gpu", label: "GPU %", title: "GPU utilization", sort: "gpu" });
    cols.push({ id: fns ? "name" : "src", label: fns ? "Function" : "Source", title: "", sort: null });
    return cols;
  }

  private thead(cols: Col[], sort: { key: SortKey; desc: boolean }): string {
    let h = "<thead><tr>";
    for (const col of cols) {
      const active = col.sort !== null && sort.key === col.sort;
      const aria = col.sort ? ` aria-sort="${active ? (sort.desc ? "descending" : "ascending") : "none"}"` : "";
      const inner = col.sort
        ? `<button type="button" class="sort" data-sort="${col.sort}" title="${esc(col.title)}">${esc(col.label)}<span class="arrow" aria-hidden="true"></span></button>`
        : `<span title="${esc(col.title)}">${esc(col.label)}</span>`;
      h += `<th class="c-${col.id}${active ? " sorted" : ""}"${aria}>${inner}</th>`;
    }
    return h + "</tr></thead>";
  }

  private renderBody(): void {
    const c = this.ctx();
    if (this.renderedGen === c.gen) return;
    this.renderedGen = c.gen;
    const f = this.file;
    if (!this.hl) this.hl = highlightLines(f.lines.map((r) => r.text));
    const lineCols = this.cols(false);
    const fnCols = this.cols(true);
    const { html: rowsHtml, shown } = this.lineRows(lineCols);
    const nActive = this.stat.active;
    const fnRows = this.fnRows(fnCols);
    const who = c.pid === null ? "" : ` in process ${esc(c.pid)}`;
    this.srcCh ??= textWidth(f.lines);
    this.fnCh ??= textWidth(f.fns);
    this.body.innerHTML =
      `<div class="file-tools">` +
      `<div class="segmented" role="group" aria-label="Lines to show">` +
      `<button type="button" data-mode="active" aria-pressed="${this.mode === "active"}">Lines with activity</button>` +
      `<button type="button" data-mode="all" aria-pressed="${this.mode === "all"}">All lines</button></div>` +
      `<span class="count">${shown} of ${f.lines.length} lines shown · ${nActive} with activity${who}</span>` +
      `</div>` +
      `<div class="table-wrap"><table class="lines${shown > LONG_TABLE ? " long" : ""}" style="${gridStyle(lineCols, this.srcCh)}">${this.thead(lineCols, this.lineSort)}<tbody>${rowsHtml}</tbody></table></div>` +
      (f.fns.length
        ? `<h3 class="fn-title">Functions</h3><div class="table-wrap"><table class="fns${f.fns.length > LONG_TABLE ? " long" : ""}" style="${gridStyle(fnCols, this.fnCh)}">${this.thead(fnCols, this.fnSort)}<tbody>${fnRows}</tbody></table></div>`
        : "");
  }

  private cells(cols: Col[], r: Row, m: Metrics, code: string, fn: boolean): string {
    const c = this.ctx();
    const leak = fn ? undefined : this.file.leaks.get(r.lineno);
    let h = "";
    for (const col of cols) {
      switch (col.id) {
        case "line":
          h += fn ? `<td class="c-line"><a href="#" class="jump" data-jump="${r.lineno}">${r.lineno}</a></td>`
                  : `<td class="c-line">${r.lineno}</td>`;
          break;
        case "time":
          h += m.cpu > 0
            ? `<td class="c-time" data-tipk="time"><div class="cell">${stackBar([{ v: m.py, cls: "py" }, { v: m.c, cls: "nat" }, { v: m.sys, cls: "sys" }], c.maxCpu, "")}<span class="num">${fmtPct(m.cpu)}</span></div></td>`
            : `<td class="c-time"></td>`;
          break;
        case "mem":
          h += m.mallocMb > 0
            ? `<td class="c-mem" data-tipk="mem"><div class="cell">${stackBar([{ v: m.mallocMb * m.pyFrac, cls: "mpy" }, { v: m.mallocMb * (1 - m.pyFrac), cls: "mnat" }], c.maxMalloc, "")}<span class="num">${fmtMb(m.mallocMb)}</span></div></td>`
            : `<td class="c-mem"></td>`;
          break;
        case "net": {
          const v = this.file.hasNet ? m.netMb : m.peakMb;
          h += `<td class="c-net">${fmtMb(v)}</td>`;
          break;
        }
        case "spark":
          h += m.samples.length > 0
            ? `<td class="c-spark" data-tipk="spark">${sparkline(m.samples, c.t0, c.t1, !!leak)}</td>`
            : `<td class="c-spark"></td>`;
          break;
        case "copy":
          h += `<td class="c-copy">${fmtRate(m.copy)}</td>`;
          break;
        case "gpu":
          h += `<td class="c-gpu"${m.gpuMem > 0 ? ` data-tip="GPU memory: ${fmtMb(m.gpuMem)} MB average, ${fmtMb(m.gpuPeak)} MB peak"` : ""}>${fmtPct(m.gpu)}</td>`;
          break;
        case "src":
          this.regions ??= findRegions(this.file.lines);
          h += `<td class="c-src">${lineButtons(r.lineno, m.cpu > 0 || m.mallocMb > 0, this.regions.get(r.lineno))}<code>${code}</code>` +
            (leak ? `<span class="pill leak" data-tip="Likely leak: ${fmtFrac(leak.likelihood)} likely, growing ${esc(fmtRate(leak.velocity) || "0")} MB/s">leak</span>` : "") +
            `</td>`;
          break;
        case "name":
          h += `<td class="c-name"><code>${esc(r.text)}</code></td>`;
          break;
      }
    }
    return h;
  }

  private rowClass(m: Metrics, leak: boolean): string {
    const c = this.ctx();
    let cls = "";
    if (m.cpu > 0 && c.totalCpu > 0 && m.cpu >= HOT_SHARE * c.totalCpu) cls += " hot";
    if (m.mallocMb > 0 && c.totalMalloc > 0 && m.mallocMb >= HOT_SHARE * c.totalMalloc) cls += " memhot";
    if (leak) cls += " leaky";
    return cls;
  }

  private lineRows(cols: Col[]): { html: string; shown: number } {
    const c = this.ctx();
    const f = this.file;
    const parts: string[] = [];
    let shown = 0;
    const hl = this.hl!;
    const row = (i: number, m: Metrics) => {
      const r = f.lines[i];
      const leak = f.leaks.has(r.lineno);
      const cls = this.rowClass(m, leak);
      parts.push(`<tr data-line="${r.lineno}"${cls ? ` class="${cls.trim()}"` : ""}>${this.cells(cols, r, m, hl[i], false)}</tr>`);
      shown++;
    };
    const ncol = cols.length;
    if (this.lineSort.key === "line" && !this.lineSort.desc) {
      let gap = 0;
      const flush = () => {
        if (gap > 0) parts.push(`<tr class="gap"><td colspan="${ncol}">⋯ ${gap} line${gap > 1 ? "s" : ""} without activity</td></tr>`);
        gap = 0;
      };
      for (let i = 0; i < f.lines.length; i++) {
        const m = metricsFor(f.lines[i], c.pid);
        if (this.mode === "active" && !isActive(m) && !f.leaks.has(f.lines[i].lineno)) { gap++; continue; }
        flush();
        row(i, m);
      }
      flush();
    } else {
      const key = this.lineSort.key, dir = this.lineSort.desc ? -1 : 1, net = f.hasNet;
      const items: { i: number; m: Metrics; v: number }[] = [];
      for (let i = 0; i < f.lines.length; i++) {
        const m = metricsFor(f.lines[i], c.pid);
        if (this.mode === "active" && !isActive(m) && !f.leaks.has(f.lines[i].lineno)) continue;
        items.push({ i, m, v: sortVal(key, f.lines[i], m, net) });
      }
      items.sort((a, b) => (a.v - b.v) * dir || f.lines[a.i].lineno - f.lines[b.i].lineno);
      for (const it of items) row(it.i, it.m);
    }
    if (shown === 0) parts.push(`<tr class="gap"><td colspan="${ncol}">No line of this file has activity${c.pid === null ? "" : " in this process"}.</td></tr>`);
    return { html: parts.join(""), shown };
  }

  private fnRows(cols: Col[]): string {
    const c = this.ctx();
    const f = this.file;
    const key = this.fnSort.key, dir = this.fnSort.desc ? -1 : 1, net = f.hasNet;
    const items = f.fns.map((r, i) => {
      const m = metricsFor(r, c.pid);
      return { r, i, m, v: key === "name" ? 0 : sortVal(key, r, m, net) };
    });
    items.sort((a, b) => (a.v - b.v) * dir || a.r.lineno - b.r.lineno);
    let h = "";
    for (const it of items) {
      const cls = this.rowClass(it.m, false);
      h += `<tr data-fn="${esc(it.r.text)}" data-fi="${it.i}" data-line="${it.r.lineno}"${cls ? ` class="${cls.trim()}"` : ""}>${this.cells(cols, it.r, it.m, "", true)}</tr>`;
    }
    return h;
  }

  /** The tooltip of a cell (built on hover, not for every row up front). */
  tipFor(kind: string, tr: HTMLElement): string {
    const c = this.ctx();
    const fi = tr.dataset.fi;
    const row = fi !== undefined ? this.file.fns[Number(fi)] : this.rowAt(Number(tr.dataset.line));
    if (!row) return "";
    const m = metricsFor(row, c.pid);
    const fn = fi !== undefined;
    if (kind === "time") {
      return timeTip(m.py, m.c, m.sys, c.secPerPct, fn ? "this function" : "this line") +
        (m.core > 0 && c.pid === null ? `\nCore utilization ${fmtFrac(m.core)}` : "");
    }
    if (kind === "mem") {
      return `${fmtMb(m.mallocMb)} MB allocated (${m.mallocs} sample${m.mallocs === 1 ? "" : "s"})\n` +
        `Python ${fmtFrac(m.pyFrac)} · native ${fmtFrac(1 - m.pyFrac)}` +
        (m.peakMb > 0 ? `\nPeak ${fmtMb(m.peakMb)} MB · average ${fmtMb(m.avgMb) || "0"} MB` : "") +
        (m.hasNet ? `\nHeld at the end ${fmtMb(m.netMb) || "0"} MB` : "") +
        (m.freedMb > 0 ? `\nFreed ${fmtMb(m.freedMb)} MB` : "") +
        (m.usage > 0 ? `\n${fmtFrac(m.usage)} of all memory allocated` : "");
    }
    if (kind === "spark") {
      let peak = 0, at = 0;
      for (const p of m.samples) if (p[1] > peak) { peak = p[1]; at = p[0]; }
      const leak = fn ? undefined : this.file.leaks.get(row.lineno);
      return `Live memory over the run: peak ${fmtMb(peak) || "0"} MB at ${fmtSec(at / 1e9)}` +
        (leak ? `\nLikely leak: ${fmtFrac(leak.likelihood)} likely, growing ${fmtRate(leak.velocity) || "0"} MB/s` : "");
    }
    return "";
  }

  private rowAt(lineno: number): Row | undefined {
    const ls = this.file.lines;
    let lo = 0, hi = ls.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ls[mid].lineno === lineno) return ls[mid];
      if (ls[mid].lineno < lineno) lo = mid + 1; else hi = mid - 1;
    }
    return undefined;
  }

  private onClick(e: Event): void {
    const t = e.target as HTMLElement;
    const sortBtn = t.closest("button.sort") as HTMLElement | null;
    if (sortBtn) {
      const key = sortBtn.dataset.sort as SortKey;
      const fns = !!sortBtn.closest("table.fns");
      const s = fns ? this.fnSort : this.lineSort;
      if (s.key === key) s.desc = !s.desc;
      else { s.key = key; s.desc = key !== "line"; }
      this.renderedGen = -1;
      this.renderBody();
      return;
    }
    const modeBtn = t.closest("button[data-mode]") as HTMLElement | null;
    if (modeBtn) {
      const mode = modeBtn.dataset.mode as "all" | "active";
      if (mode !== this.mode) {
        this.mode = mode;
        this.renderedGen = -1;
        this.renderBody();
      }
      return;
    }
    const ai = t.closest("button.ai-btn, button.ai-again") as HTMLElement | null;
    if (ai) {
      void onAiClick(ai, this.file.name, this.cols(false).length);
      return;
    }
    const jump = t.closest("a.jump") as HTMLElement | null;
    if (jump) {
      e.preventDefault();
      this.reveal(Number(jump.dataset.jump));
    }
  }
}

export function timeTip(py: number, c: number, sys: number, secPerPct: number | null, what: string): string {
  const total = py + c + sys;
  const s = (v: number) => (secPerPct !== null ? ` (${fmtSec(v * secPerPct)})` : "");
  return `${fmtPct(total) || "0%"} of all time in ${what}${s(total)}\n` +
    `Python ${fmtPct(py) || "0%"}${s(py)}\nnative ${fmtPct(c) || "0%"}${s(c)}\nsystem ${fmtPct(sys) || "0%"}${s(sys)}`;
}
