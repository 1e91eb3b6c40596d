// The page: header (program, run summary, time split, memory footprint), the process tree
// with the process selector, and the file sections. A process selection re-renders the
// header cards, the file headers and the open sections only; closed sections render when
// opened.
import { bindSettings, settingsPanel } from "./ai";
import { footprintChart, type Series, showTip, stackBar } from "./charts";
import { Flame, hasStacks } from "./flame";
import type { Proc, Profile } from "./model";
import { fileStat, FileSection, HOT_SHARE, type ViewCtx } from "./table";
import { esc, fmtFrac, fmtMb, fmtMbUnit, fmtPct, fmtSec, signalName, splitPath } from "./util";

/** Sections opened at start: the hottest file, and the next ones with at least this share. */
const OPEN_SHARE = 10;
const OPEN_MAX = 3;

export class App {
  private pid: string | null = null;
  private gen = 0;
  private view!: ViewCtx;
  private sections: FileSection[] = [];
  private byName = new Map<string, FileSection>();
  private tip!: HTMLElement;
  private flame: Flame | null = null;

  /** raw: the report's JSON, for the call stacks (read only by the flame graphs). */
  constructor(private root: HTMLElement, private prof: Profile, private raw: unknown = null) {}

  mount(): void {
    const p = this.prof;
    const multi = p.processes.length > 0;
    document.title = `Scalene: ${splitPath(p.program)[1] || "profile"}`;
    this.root.innerHTML =
      `<header class="topbar">` +
      `<div class="brand"><span class="logo" aria-hidden="true"></span>Scalene</div>` +
      `<div class="program" id="program"></div>` +
      `<label class="proc-select"${multi ? "" : " hidden"}><span>Process</span><select id="proc-select"></select></label>` +
      `</header>` +
      `<main>` +
      `<section class="summary" id="summary" aria-label="Summary"></section>` +
      (multi ? `<section class="panel" id="processes" aria-label="Processes"></section>` : "") +
      `<div id="flame-host"></div>` +
      `<div class="files-head"><h2>Files</h2><div class="legend">${legend(p.memory)}</div></div>` +
      settingsPanel() +
      `<div class="view-note" id="view-note" hidden></div>` +
      `<div id="files"></div>` +
      `<footer class="foot" id="foot"></footer>` +
      `</main>`;
    this.tip = document.createElement("div");
    this.tip.id = "tip";
    this.tip.className = "tip";
    this.tip.hidden = true;
    this.tip.setAttribute("role", "tooltip");
    document.body.appendChild(this.tip);
    this.installTips();
    bindSettings(this.root);

    const prog = this.root.querySelector("#program")!;
    const [dir, base] = splitPath(p.program || "(unknown program)");
    prog.innerHTML = `<code class="prog-path" title="${esc(p.program)}"><span class="dir">${esc(dir)}</span>${esc(base)}</code>` +
      (p.args.length ? ` <code class="prog-args">${esc(p.args.map(shellQuote).join(" "))}</code>` : "");

    if (multi) {
      const sel = this.root.querySelector("#proc-select") as HTMLSelectElement;
      let opts = `<option value="">All processes (merged)</option>`;
      for (const pr of p.processes) {
        const ind = "\u00a0\u00a0".repeat(Math.min(pr.depth, 8));
        opts += `<option value="${esc(pr.pid)}">${ind}${esc(pr.pid)} · ${esc(pr.role || "process")} · ${esc(fmtSec(pr.cpu))}</option>`;
      }
      sel.innerHTML = opts;
      sel.addEventListener("change", () => this.select(sel.value === "" ? null : sel.value));
    }

    const host = this.root.querySelector("#files")!;
    for (const f of p.files) {
      const s = new FileSection(f, () => this.view);
      this.sections.push(s);
      this.byName.set(f.name, s);
    }
    if (p.files.length === 0) host.innerHTML = `<div class="empty">This profile has no files: no profiled line reached the thresholds.</div>`;
    this.computeView();
    this.order();
    for (const s of this.sections) { s.renderHead(); host.appendChild(s.root); }
    this.openDefaults();
    this.renderSummary();
    if (multi) this.renderProcs();
    if (hasStacks(this.raw)) {
      performance.mark("scalene:flame");
      this.flame = new Flame(this.raw as Record<string, unknown>, p, (file, line) => {
        const s = this.byName.get(file);
        if (s) s.reveal(line);
        return s !== undefined;
      });
      this.root.querySelector("#flame-host")!.appendChild(this.flame.root);
      this.flame.mount();
      performance.mark("scalene:flame-drawn");
    }
    this.renderFoot();
    this.root.addEventListener("click", (e) => this.onClick(e));
  }

  /** Switches every table to one process (pid) or back to all processes merged (null). */
  select(pid: string | null): void {
    if (pid !== null && !this.prof.procByPid.has(pid)) pid = null;
    if (pid === this.pid) return;
    this.pid = pid;
    const sel = this.root.querySelector("#proc-select") as HTMLSelectElement | null;
    if (sel && sel.value !== (pid ?? "")) sel.value = pid ?? "";
    this.computeView();
    this.order();
    const host = this.root.querySelector("#files")!;
    for (const s of this.sections) { host.appendChild(s.root); s.refresh(); }
    this.renderSummary();
    this.markSelectedProc();
    this.flame?.setPid(pid);
    const note = this.root.querySelector("#view-note") as HTMLElement;
    if (pid === null) {
      note.hidden = true;
    } else {
      const pr = this.prof.procByPid.get(pid)!;
      note.hidden = false;
      note.innerHTML = `Showing process <b>${esc(pid)}</b>${pr.role ? ` (${esc(pr.role)})` : ""} only: each number is its share ` +
        `of all profiled time and its own memory. <button type="button" class="link" data-select="">Show all processes</button>`;
    }
    document.body.dataset.pid = pid ?? "";
  }

  private computeView(): void {
    const p = this.prof;
    let maxCpu = 0, maxMalloc = 0, totalCpu = 0, totalMalloc = 0;
    for (const s of this.sections) {
      s.stat = fileStat(s.file, this.pid);
      const st = s.stat;
      if (st.maxCpu > maxCpu) maxCpu = st.maxCpu;
      if (st.maxMalloc > maxMalloc) maxMalloc = st.maxMalloc;
      totalCpu += st.py + st.c + st.sys;
      totalMalloc += st.malloc;
    }
    let t1 = p.elapsed * 1e9;
    if (!(t1 > 0)) for (const pt of p.samples) t1 = Math.max(t1, pt[0]);
    this.view = {
      prof: p, pid: this.pid, t0: 0, t1: t1 > 0 ? t1 : 1,
      maxCpu, maxMalloc, totalCpu, totalMalloc,
      secPerPct: p.time.secPerPct,
      gen: ++this.gen,
    };
  }

  private order(): void {
    this.sections.sort((a, b) => b.stat.cpu - a.stat.cpu || b.stat.malloc - a.stat.malloc || a.file.idx - b.file.idx);
  }

  private openDefaults(): void {
    let n = 0;
    for (const s of this.sections) {
      if (n === 0 || (n < OPEN_MAX && (s.stat.cpu >= OPEN_SHARE ||
          (this.view.totalMalloc > 0 && s.stat.malloc >= 0.1 * this.view.totalMalloc)))) {
        s.setOpen(true);
        n++;
      }
    }
  }

  private procOf(): Proc | null {
    return this.pid === null ? null : this.prof.procByPid.get(this.pid) ?? null;
  }

  private renderSummary(): void {
    const p = this.prof;
    const pr = this.procOf();
    const host = this.root.querySelector("#summary") as HTMLElement;
    let run: string;
    if (pr) {
      const life = pr.start !== null && pr.end !== null ? fmtSec(pr.end - pr.start) : "–";
      run = card("Process", `<div class="big">${esc(pr.pid)}</div>` +
        `<div class="sub">${esc(pr.role || "process")}${pr.ppid ? ` · parent ${esc(pr.ppid)}` : ""}</div>` +
        `<dl class="kv"><dt>Lifetime</dt><dd>${life}${pr.start !== null ? ` (from ${fmtSec(pr.start)})` : ""}</dd>` +
        `<dt>Exit</dt><dd>${exitText(pr)}</dd>` +
        `<dt>Samples</dt><dd>${pr.samples}${pr.dropped ? ` <span class="warn">${pr.dropped} records dropped</span>` : ""}</dd>` +
        `<dt>Command</dt><dd class="cmd"><code>${esc(pr.argv.join(" "))}</code></dd></dl>`, "run");
    } else {
      const nth = p.threads.length;
      const started = p.startAbs ? new Date(p.startAbs * 1000) : null;
      run = card("Elapsed", `<div class="big" id="elapsed">${fmtSec(p.elapsed)}</div>` +
        `<div class="sub">wall-clock time</div>` +
        `<dl class="kv">` +
        (p.processes.length ? `<dt>Processes</dt><dd>${p.processes.length}</dd>` : "") +
        (nth ? `<dt>Threads</dt><dd>${nth}</dd>` : "") +
        (started && !isNaN(started.getTime()) ? `<dt>Started</dt><dd>${esc(started.toLocaleString())}</dd>` : "") +
        `<dt>Files</dt><dd>${p.files.length}</dd></dl>`, "run");
    }

    // Time split.
    let py: number, c: number, sys: number, seconds: boolean, title: string;
    if (pr) {
      py = pr.py; c = pr.nat; sys = pr.sys; seconds = true;
      title = `Time in process ${pr.pid}`;
    } else {
      py = p.time.py; c = p.time.c; sys = p.time.sys; seconds = p.time.seconds;
      title = "Time";
    }
    const tot = py + c + sys;
    const part = (v: number) => (tot > 0 ? (v / tot) * 100 : 0);
    const secs = (v: number) => seconds ? fmtSec(v) : p.elapsed > 0 ? "≈ " + fmtSec((v / 100) * p.elapsed) : "";
    const segTip = (name: string, v: number, what: string) => `${name}: ${secs(v)} (${part(v).toFixed(1)}% of the time)\n${what}`;
    const bar =
      `<div class="timebar" id="timebar">` +
      [[py, "py", "Python", "running Python bytecode"], [c, "nat", "Native", "in native code (C extensions, the interpreter's C)"],
       [sys, "sys", "System", "in the kernel or blocked (sleep, I/O, waiting)"]]
        .filter(([v]) => (v as number) > 0)
        .map(([v, cls, name, what]) => `<span class="seg ${cls}" style="width:${part(v as number).toFixed(3)}%" data-tip="${esc(segTip(name as string, v as number, what as string))}"></span>`)
        .join("") +
      `</div>`;
    const row = (cls: string, name: string, v: number) =>
      `<li><span class="key ${cls}"></span><span class="lk">${name}</span><span class="lv">${part(v).toFixed(1)}%</span><span class="ls">${secs(v)}</span></li>`;
    const timeBody = `<div class="big">${seconds ? fmtSec(tot) : fmtPct(tot) || "0%"}</div>` +
      `<div class="sub">${seconds ? (pr ? `sampled; CPU ${fmtSec(pr.cpu)}` : "of CPU and waiting, all processes") : "of the samples, in profiled lines"}</div>` +
      bar + `<ul class="split">${row("py", "Python", py)}${row("nat", "Native", c)}${row("sys", "System", sys)}</ul>`;
    const time = card(title, timeBody, "time");

    // Memory.
    let mem: string;
    if (!p.memory) {
      mem = card("Memory", `<div class="big muted">off</div><div class="sub">Memory was not profiled (<code>--cpu-only</code>).</div>`, "mem");
    } else if (pr) {
      mem = card(`Memory of process ${pr.pid}`,
        `<div class="mem-top"><div><div class="big">${pr.peakMb !== null ? fmtMbUnit(pr.peakMb) : "–"}</div>` +
        `<div class="sub">peak footprint${pr.peakSec !== null ? ` at ${fmtSec(pr.peakSec)}` : ""}</div></div>` +
        `<dl class="kv"><dt>Held at the end</dt><dd>${pr.netMb !== null ? fmtMbUnit(pr.netMb) : "–"}</dd>` +
        `<dt>Allocated</dt><dd>${fmtMbUnit(pr.pyMallocMb + pr.natMallocMb)} (Python ${fmtMbUnit(pr.pyMallocMb)})</dd>` +
        (pr.copyMb > 0 ? `<dt>Copied</dt><dd>${fmtMbUnit(pr.copyMb)}</dd>` : "") +
        (pr.peakRss !== null ? `<dt>Peak RSS</dt><dd>${fmtMbUnit(pr.peakRss)}</dd>` : "") +
        `</dl></div><div class="chart-host" id="footprint"></div>`, "mem wide");
    } else {
      const site = p.maxSite;
      const siteLink = site ? `<a href="#" class="jump-site" data-file="${esc(site.file)}" data-line="${site.line}">${esc(splitPath(site.file)[1])}:${site.line}</a>` : "";
      let allocated = 0;
      for (const s of this.sections) allocated += s.file.mallocMb;
      mem = card("Memory",
        `<div class="mem-top"><div><div class="big" id="peak-mem">${fmtMbUnit(p.maxFootprint)}</div>` +
        `<div class="sub">peak footprint${p.maxFootprintPyFrac > 0 ? `, ${fmtFrac(p.maxFootprintPyFrac)} Python` : ""}</div></div>` +
        `<dl class="kv">` + (siteLink ? `<dt>Peak set at</dt><dd>${siteLink}</dd>` : "") +
        (allocated > 0 ? `<dt>Allocated</dt><dd>${fmtMbUnit(allocated)} in profiled lines</dd>` : "") +
        `<dt>Growth</dt><dd data-tip="Share of what was allocated that was still held at the end">${p.growthRate.toFixed(1)}%</dd>` +
        (p.nativeAllocMb > 0 ? `<dt>No Python frame</dt><dd>${fmtMbUnit(p.nativeAllocMb)}</dd>` : "") +
        `</dl></div><div class="chart-host" id="footprint"></div>`, "mem wide");
    }
    let gpu = "";
    if (p.gpu) {
      let peak = 0, util = 0;
      for (const s of this.sections) for (const r of s.file.lines) { peak = Math.max(peak, r.m.gpuPeak); util += r.m.gpu; }
      gpu = card("GPU", `<div class="big">${fmtPct(util) || "0%"}</div><div class="sub">utilization in profiled lines${pr ? ", all processes" : ""}</div>` +
        `<dl class="kv"><dt>Device</dt><dd>${esc(p.gpuDevice || "GPU")}</dd><dt>Peak memory</dt><dd>${fmtMbUnit(peak)}</dd></dl>`, "gpu");
    }
    host.innerHTML = run + time + mem + gpu;
    const fp = host.querySelector("#footprint") as HTMLElement | null;
    if (fp) {
      const series: Series[] = [];
      if (pr) {
        series.push({ pts: pr.footprint, cls: "s-mem", label: "Footprint", area: true });
        if (pr.rss.length) series.push({ pts: pr.rss, cls: "s-rss", label: "RSS", area: false });
        const end = pr.end ?? p.elapsed;
        footprintChart(fp, series, end, pr.peakMb !== null && pr.peakSec !== null ? { sec: pr.peakSec, mb: pr.peakMb } : null);
      } else {
        series.push({ pts: p.samples, cls: "s-mem", label: "Footprint", area: true });
        footprintChart(fp, series, p.elapsed, null);
      }
    }
  }

  private renderProcs(): void {
    const p = this.prof;
    const host = this.root.querySelector("#processes") as HTMLElement;
    let maxT = 0;
    for (const pr of p.processes) maxT = Math.max(maxT, pr.py + pr.nat + pr.sys);
    let endT = p.elapsed;
    for (const pr of p.processes) endT = Math.max(endT, pr.end ?? 0);
    let rows =
      `<tr class="all" data-select=""><td class="pid"><button type="button" class="link" data-select="">All processes</button></td>` +
      `<td>merged</td><td class="cmd"></td><td></td><td></td><td></td><td></td><td></td></tr>`;
    // issue 16: a merged report's processes, grouped by host under a heading row
    const hosts = new Set(p.processes.map((pr) => pr.host));
    let lastHost: string | null = null;
    for (const pr of p.processes) {
      if (hosts.size > 1 && pr.depth === 0 && pr.host !== lastHost) {
        lastHost = pr.host;
        rows += `<tr class="host-head"><td colspan="8"><b>host ${esc(pr.host || "unknown")}</b></td></tr>`;
      }
      const ind = Math.min(pr.depth, 12);
      const tip = `Python ${fmtSec(pr.py)} · native ${fmtSec(pr.nat)} · system ${fmtSec(pr.sys)}\nCPU (user+kernel) ${fmtSec(pr.cpu)} · ${pr.samples} samples`;
      const life = pr.start !== null && endT > 0
        ? `<span class="life" data-tip="${esc(`from ${fmtSec(pr.start)} to ${pr.end !== null ? fmtSec(pr.end) : "?"}`)}"><span class="span" style="left:${((pr.start / endT) * 100).toFixed(2)}%;width:${Math.max(0.5, (((pr.end ?? endT) - pr.start) / endT) * 100).toFixed(2)}%"></span></span>`
        : "";
      const memTip = pr.netMb !== null ? `Held at the end ${fmtMb(pr.netMb) || "0"} MB\nAllocated: Python ${fmtMb(pr.pyMallocMb) || "0"} MB, native ${fmtMb(pr.natMallocMb) || "0"} MB` : "";
      const warn = pr.dropped > 0 || pr.torn > 0
        ? ` <span class="warn-dot" data-tip="${pr.dropped} records dropped, ${pr.torn} torn: this process's numbers are lower bounds">!</span>` : "";
      rows +=
        `<tr class="proc" data-pid="${esc(pr.pid)}" data-select="${esc(pr.pid)}" tabindex="0">` +
        `<td class="pid" style="padding-left:${0.6 + ind * 1.1}rem">${pr.depth > 0 ? `<span class="branch" aria-hidden="true">└</span>` : ""}<b>${esc(pr.pid)}</b>${warn}</td>` +
        `<td class="role">${esc(pr.role)}</td>` +
        `<td class="cmd" title="${esc(pr.argv.join(" "))}"><code>${esc(shortArgv(pr.argv))}</code></td>` +
        `<td class="c-life">${life}</td>` +
        `<td class="c-pcpu"><div class="cell">${stackBar([{ v: pr.py, cls: "py" }, { v: pr.nat, cls: "nat" }, { v: pr.sys, cls: "sys" }], maxT, tip)}<span class="num">${fmtSec(pr.py + pr.nat + pr.sys)}</span></div></td>` +
        `<td class="c-pmem"${memTip ? ` data-tip="${esc(memTip)}"` : ""}>${pr.peakMb !== null ? fmtMb(pr.peakMb) || "0" : ""}</td>` +
        `<td class="c-exit">${exitText(pr)}</td>` +
        `<td class="c-threads">${pr.threads.length ? `<button type="button" class="link thr" data-threads="${esc(pr.pid)}" aria-expanded="false">${pr.threads.length}</button>` : ""}</td>` +
        `</tr>`;
      for (const t of pr.threads) {
        rows += `<tr class="thread" data-of="${esc(pr.pid)}" hidden>` +
          `<td class="pid" style="padding-left:${1.7 + ind * 1.1}rem"><span class="tid">${esc(t.tid)}</span></td>` +
          `<td class="role">${t.main ? "main thread" : "thread"}</td><td class="cmd"><code>${esc(t.name)}</code></td><td></td>` +
          `<td class="c-pcpu"><div class="cell">${stackBar([{ v: t.py, cls: "py" }, { v: t.nat, cls: "nat" }, { v: t.sys, cls: "sys" }], maxT, `Python ${fmtSec(t.py)} · native ${fmtSec(t.nat)} · system ${fmtSec(t.sys)}\n${t.samples} samples`)}<span class="num">${fmtSec(t.py + t.nat + t.sys)}</span></div></td>` +
          `<td></td><td></td><td></td></tr>`;
      }
    }
    const nthreads = p.threads.length;
    host.innerHTML =
      `<div class="panel-head"><h2>Processes <span class="count">${p.processes.length}</span>` +
      (nthreads ? ` <span class="count muted">${nthreads} threads</span>` : "") + `</h2>` +
      `<span class="hint">Click a process to see only its share of every line</span></div>` +
      `<div class="table-wrap"><table class="proc-tree"><thead><tr><th>PID</th><th>Role</th><th>Command</th>` +
      `<th title="When it ran, over the whole run">Lifetime</th><th title="Python / native / system seconds">Time</th>` +
      `<th title="Its peak memory footprint">Peak MB</th><th>Exit</th><th>Threads</th></tr></thead><tbody>${rows}</tbody></table></div>`;
    host.addEventListener("keydown", (e) => {
      const tr = (e.target as HTMLElement).closest("tr.proc") as HTMLElement | null;
      if (tr && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); this.select(tr.dataset.select || null); }
    });
    this.markSelectedProc();
  }

  private markSelectedProc(): void {
    const rows = this.root.querySelectorAll("#processes tr[data-select]");
    rows.forEach((tr) => {
      const v = (tr as HTMLElement).dataset.select ?? "";
      tr.classList.toggle("selected", v === (this.pid ?? ""));
    });
  }

  private renderFoot(): void {
    const p = this.prof;
    const foot = this.root.querySelector("#foot") as HTMLElement;
    const bits: string[] = [];
    bits.push(p.format === "ours" ? `Profile by scalene${p.version ? " " + esc(p.version) : ""}` : "Profile in Scalene's format");
    if (p.samplingInterval) bits.push(`sampling every ${fmtSec(p.samplingInterval)}`);
    bits.push(`lines with ≥ ${(HOT_SHARE * 100).toFixed(0)}% of the time or memory shown are highlighted; bars are relative to the hottest line`);
    foot.innerHTML = bits.join(" · ");
  }

  private onClick(e: Event): void {
    const t = e.target as HTMLElement;
    const thr = t.closest("button[data-threads]") as HTMLElement | null;
    if (thr) {
      e.stopPropagation();
      const pid = thr.dataset.threads!;
      const open = thr.getAttribute("aria-expanded") !== "true";
      thr.setAttribute("aria-expanded", String(open));
      this.root.querySelectorAll(`#processes tr.thread`).forEach((tr) => {
        if ((tr as HTMLElement).dataset.of === pid) (tr as HTMLElement).hidden = !open;
      });
      return;
    }
    const selEl = t.closest("[data-select]") as HTMLElement | null;
    if (selEl && this.root.contains(selEl)) {
      this.select(selEl.dataset.select ? selEl.dataset.select : null);
      return;
    }
    const site = t.closest("a.jump-site") as HTMLElement | null;
    if (site) {
      e.preventDefault();
      this.byName.get(site.dataset.file ?? "")?.reveal(Number(site.dataset.line));
    }
  }

  /** A tooltip's text: its data-tip, or for a table cell (data-tipk) built by its section. */
  private tipText(t: HTMLElement): string {
    if (t.dataset.tip !== undefined) return t.dataset.tip;
    const tr = t.closest("tr") as HTMLElement | null;
    const sec = t.closest("section.file") as HTMLElement | null;
    const s = sec ? this.byName.get(sec.dataset.file ?? "") : undefined;
    return tr && s ? s.tipFor(t.dataset.tipk ?? "", tr) : "";
  }

  private installTips(): void {
    let cur: HTMLElement | null = null;
    let text = "";
    document.addEventListener("mouseover", (e) => {
      const t = (e.target as HTMLElement).closest?.("[data-tip],[data-tipk]") as HTMLElement | null;
      if (t === cur) return;
      cur = t;
      text = t ? this.tipText(t) : "";
      if (!text) { this.tip.hidden = true; return; }
      showTip(this.tip, text, e.clientX, e.clientY);
    });
    document.addEventListener("mousemove", (e) => {
      if (cur && text) showTip(this.tip, text, e.clientX, e.clientY);
    });
    // a scroll moves the page under the pointer: hide the tip; the next
    // mouse move over the same element shows it again
    document.addEventListener("scroll", () => { this.tip.hidden = true; }, true);
  }
}

function card(title: string, body: string, cls: string): string {
  return `<div class="card ${cls}"><h2 class="card-title">${esc(title)}</h2>${body}</div>`;
}

function exitText(pr: Proc): string {
  if (pr.exitSignal !== null && pr.exitSignal > 0) return `<span class="bad">${signalName(pr.exitSignal)}</span>`;
  if (pr.exitCode === null) return `<span class="muted">–</span>`;
  return pr.exitCode === 0 ? `<span class="ok">0</span>` : `<span class="bad">exit ${pr.exitCode}</span>`;
}

function shortArgv(argv: string[]): string {
  const a = argv.slice();
  if (a.length > 1 && /(^|\/)python[0-9.]*$/.test(a[0])) a[0] = splitPath(a[0])[1];
  return a.map((s, i) => (i > 0 && s.startsWith("/") ? splitPath(s)[1] : s)).map(shellQuote).join(" ");
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function legend(memory: boolean): string {
  const k = (cls: string, label: string) => `<span class="key ${cls}"></span>${label}`;
  return `<span class="lg">${k("py", "Python")}${k("nat", "native")}${k("sys", "system")}</span>` +
    (memory ? `<span class="lg">${k("mpy", "Python memory")}${k("mnat", "native memory")}</span>` : "") +
    `<span class="lg">${k("hot", "hotspot")}${memory ? k("leak", "likely leak") : ""}</span>`;
}
