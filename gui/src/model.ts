// The profile, read from its JSON into a model the page renders. Accepts this project's
// report (docs/REPORT.md: `processes`, `threads`, `by_process`, `scalene_c`, `n_net_mb`) and
// Scalene's own scalene-profile.json (none of those). Missing fields read as 0 / empty; a
// field of the wrong type is an error (as in `scalene view --cli`), so a damaged profile is
// reported instead of shown with wrong numbers.

export type Pt = [number, number];
type J = Record<string, unknown>;

export class ProfileError extends Error {}

export interface Metrics {
  py: number; // % of all profiled time: Python, native, system
  c: number;
  sys: number;
  cpu: number; // py + c + sys
  core: number; // n_core_utilization [0,1]
  mallocMb: number;
  mallocs: number;
  pyFrac: number;
  usage: number;
  peakMb: number;
  avgMb: number;
  netMb: number; // n_net_mb where present, else 0 (see hasNet)
  hasNet: boolean;
  freedMb: number;
  copy: number; // MB/s
  gpu: number; // %
  gpuMem: number; // MB (average)
  gpuPeak: number;
  samples: Pt[];
}

export interface Leak {
  likelihood: number;
  velocity: number;
}

export interface Row {
  lineno: number;
  text: string; // source text (lines) or qualified name (functions), without the newline
  m: Metrics; // merged over processes
  bp: J | null; // by_process, read lazily
  cache: Map<string, Metrics> | null;
}

export interface FileModel {
  name: string;
  idx: number;
  lines: Row[];
  fns: Row[];
  leaks: Map<number, Leak>;
  pct: number; // percent_cpu_time (or the lines' sum)
  hasNet: boolean; // our report: n_net_mb; Scalene's: fall back to n_peak_mb
  mallocMb: number;
}

export interface Thread {
  pid: string;
  tid: string;
  name: string;
  main: boolean;
  cpu: number;
  py: number;
  nat: number;
  sys: number;
  samples: number;
}

export interface Proc {
  pid: string; // its key: the pid, or host:pid in a merged report (by_process's keys)
  ppid: string;
  host: string; // issue 16: the host it ran on ("" in older reports)
  realPid: string;
  argv: string[];
  role: string;
  python: string | null;
  start: number | null;
  end: number | null;
  exitCode: number | null;
  exitSignal: number | null;
  cpu: number;
  py: number;
  nat: number;
  sys: number;
  samples: number;
  written: number;
  dropped: number;
  torn: number;
  peakMb: number | null;
  peakSec: number | null;
  footprint: Pt[];
  netMb: number | null;
  pyMallocMb: number;
  natMallocMb: number;
  copyMb: number;
  peakRss: number | null;
  rss: Pt[];
  children: Proc[];
  threads: Thread[];
  depth: number;
}

export interface TimeSplit {
  py: number; // seconds where known (ours), else % of all time
  c: number;
  sys: number;
  seconds: boolean;
  secPerPct: number | null; // seconds in 1 % of all profiled time, when the profile says
}

export interface Profile {
  format: "ours" | "scalene";
  program: string;
  args: string[];
  elapsed: number;
  startAbs: number | null;
  files: FileModel[];
  gpu: boolean;
  gpuDevice: string;
  memory: boolean;
  samples: Pt[];
  maxFootprint: number;
  maxFootprintPyFrac: number;
  maxSite: { file: string; line: number } | null;
  growthRate: number;
  nativeAllocMb: number;
  allocSamples: number;
  processes: Proc[]; // in tree order (parents before children)
  roots: Proc[];
  procByPid: Map<string, Proc>;
  threads: Thread[];
  time: TimeSplit;
  version: string | null;
  samplingInterval: number | null;
}

function isObj(v: unknown): v is J {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const t = typeof v;
  return t === "object" ? "an object" : t === "string" ? "a string" : t === "boolean" ? "a boolean" : t;
}

/** A number field: absent or null -> dflt; a non-number -> ProfileError naming the field. */
function num(o: J, key: string, where: string, dflt = 0): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  throw new ProfileError(`${where}: ${key} is ${typeName(v)}, expected a number`);
}

function optNum(o: J, key: string, where: string): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  return num(o, key, where);
}

/** Lenient number (by_process entries, read while rendering). */
function lnum(o: J, key: string): number {
  const v = o[key];
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function str(o: J, key: string, dflt = ""): string {
  const v = o[key];
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return dflt;
}

function pts(v: unknown): Pt[] {
  if (!Array.isArray(v)) return [];
  const out: Pt[] = [];
  for (const p of v) {
    if (Array.isArray(p) && typeof p[0] === "number" && typeof p[1] === "number" &&
        Number.isFinite(p[0]) && Number.isFinite(p[1]))
      out.push([p[0], p[1]]);
  }
  return out;
}

const LINE_FIELDS = ["n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent", "n_core_utilization",
  "n_malloc_mb", "n_mallocs", "n_python_fraction", "n_usage_fraction", "n_peak_mb", "n_avg_mb",
  "n_net_mb", "n_freed_mb", "n_copy_mb_s", "n_gpu_percent", "n_gpu_avg_memory_mb",
  "n_gpu_peak_memory_mb"];

function metrics(o: J, where: string, strict: boolean): Metrics {
  const g = strict ? (k: string) => num(o, k, where) : (k: string) => lnum(o, k);
  if (strict) for (const k of LINE_FIELDS) g(k); // type-check every field once
  const py = g("n_cpu_percent_python"), c = g("n_cpu_percent_c"), sys = g("n_sys_percent");
  return {
    py, c, sys, cpu: py + c + sys,
    core: g("n_core_utilization"),
    mallocMb: g("n_malloc_mb"),
    mallocs: g("n_mallocs"),
    pyFrac: g("n_python_fraction"),
    usage: g("n_usage_fraction"),
    peakMb: g("n_peak_mb"),
    avgMb: g("n_avg_mb"),
    netMb: g("n_net_mb"),
    hasNet: typeof o["n_net_mb"] === "number",
    freedMb: g("n_freed_mb"),
    copy: g("n_copy_mb_s"),
    gpu: g("n_gpu_percent"),
    gpuMem: g("n_gpu_avg_memory_mb"),
    gpuPeak: g("n_gpu_peak_memory_mb"),
    samples: pts(o["memory_samples"]),
  };
}

export const ZERO: Metrics = Object.freeze({
  py: 0, c: 0, sys: 0, cpu: 0, core: 0, mallocMb: 0, mallocs: 0, pyFrac: 0, usage: 0, peakMb: 0,
  avgMb: 0, netMb: 0, hasNet: true, freedMb: 0, copy: 0, gpu: 0, gpuMem: 0, gpuPeak: 0,
  samples: [] as Pt[],
}) as Metrics;

/** A row's numbers in the current view: merged (pid null) or one process's share. */
export function metricsFor(row: Row, pid: string | null): Metrics {
  if (pid === null) return row.m;
  if (!row.bp) return ZERO;
  const cached = row.cache?.get(pid);
  if (cached) return cached;
  const o = row.bp[pid];
  const m = isObj(o) ? metrics(o, "", false) : ZERO;
  if (m !== ZERO) {
    // by_process has no GPU or core-utilization fields: they stay merged-only.
    m.hasNet = row.m.hasNet;
    (row.cache ??= new Map()).set(pid, m);
  }
  return m;
}

// issue 16: a compact report lists only the lines with samples in "lines" and
// every line's text in "source"; the others are idle rows (all numbers 0).
const IDLE: J = { n_net_mb: 0 };
function withSource(rows: Row[], src: unknown, where: string): Row[] {
  if (src === undefined || src === null) return rows;
  if (!Array.isArray(src)) throw new ProfileError(`${where}: "source" is ${typeName(src)}, expected a list`);
  const out: Row[] = [];
  let k = 0;
  let zero: Metrics | null = null; // one shared, never written: an idle row's numbers
  for (let i = 1; i <= src.length; i++) {
    while (k < rows.length && rows[k].lineno < i) out.push(rows[k++]);
    if (k < rows.length && rows[k].lineno === i) { out.push(rows[k++]); continue; }
    let text = typeof src[i - 1] === "string" ? (src[i - 1] as string) : "";
    if (text.endsWith("\n")) text = text.slice(0, -1);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    out.push({ lineno: i, text, m: zero ?? (zero = metrics(IDLE, where, false)), bp: null, cache: null });
  }
  while (k < rows.length) out.push(rows[k++]);
  return out;
}

function readRows(v: unknown, where: string, kind: string): Row[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ProfileError(`${where}: "${kind}" is ${typeName(v)}, expected a list`);
  const rows: Row[] = [];
  let sorted = true;
  for (let i = 0; i < v.length; i++) {
    const o = v[i];
    if (!isObj(o)) throw new ProfileError(`${where}: ${kind}[${i}] is ${typeName(o)}, expected an object`);
    const lineno = num(o, "lineno", `${where}: ${kind}[${i}]`, i + 1);
    const w = `${where}:${lineno}`;
    let text = str(o, "line");
    if (text.endsWith("\n")) text = text.slice(0, -1);
    if (text.endsWith("\r")) text = text.slice(0, -1);
    const bp = o["by_process"];
    rows.push({ lineno, text, m: metrics(o, w, true), bp: isObj(bp) ? bp : null, cache: null });
    if (i > 0 && rows[i - 1].lineno > lineno) sorted = false;
  }
  if (!sorted && kind === "lines") rows.sort((a, b) => a.lineno - b.lineno);
  return rows;
}

function readProcs(v: unknown, threads: Thread[]): { list: Proc[]; roots: Proc[]; byPid: Map<string, Proc> } {
  const byPid = new Map<string, Proc>();
  const all: Proc[] = [];
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const o = v[i];
      if (!isObj(o)) continue;
      const w = `processes[${i}]`;
      const argv = Array.isArray(o["argv"]) ? (o["argv"] as unknown[]).map((a) => String(a)) : [];
      const p: Proc = {
        pid: typeof o["key"] === "string" ? (o["key"] as string) : str(o, "pid", `?${i}`),
        ppid: str(o, "ppid"),
        host: typeof o["host"] === "string" ? (o["host"] as string) : "",
        realPid: str(o, "pid", `?${i}`),
        argv,
        role: str(o, "role"),
        python: typeof o["python"] === "string" ? (o["python"] as string) : null,
        start: optNum(o, "start_sec", w),
        end: optNum(o, "end_sec", w),
        exitCode: optNum(o, "exit_code", w),
        exitSignal: optNum(o, "exit_signal", w),
        cpu: num(o, "cpu_sec", w),
        py: num(o, "python_sec", w),
        nat: num(o, "native_sec", w),
        sys: num(o, "sys_sec", w),
        samples: num(o, "samples", w),
        written: num(o, "records_written", w),
        dropped: num(o, "records_dropped", w),
        torn: num(o, "records_torn", w),
        peakMb: optNum(o, "peak_footprint_mb", w),
        peakSec: optNum(o, "peak_footprint_sec", w),
        footprint: pts(o["footprint_samples"]),
        netMb: optNum(o, "net_mb", w),
        pyMallocMb: num(o, "python_malloc_mb", w),
        natMallocMb: num(o, "native_malloc_mb", w),
        copyMb: num(o, "copy_mb", w),
        peakRss: optNum(o, "peak_rss_mb", w),
        rss: pts(o["rss_samples"]),
        children: [],
        threads: [],
        depth: 0,
      };
      if (byPid.has(p.pid)) continue;
      byPid.set(p.pid, p);
      all.push(p);
    }
  }
  for (const t of threads) byPid.get(t.pid)?.threads.push(t);
  // A parent is the process with its ppid on the same host (a merged report's
  // hosts reuse pids).
  const byHostPid = new Map<string, Proc>();
  for (const p of all) if (!byHostPid.has(`${p.host}\u0000${p.realPid}`)) byHostPid.set(`${p.host}\u0000${p.realPid}`, p);
  const roots: Proc[] = [];
  for (const p of all) {
    const parent = p.ppid !== p.realPid ? byHostPid.get(`${p.host}\u0000${p.ppid}`) : undefined;
    if (parent) parent.children.push(p);
    else roots.push(p);
  }
  const byStart = (a: Proc, b: Proc) => (a.start ?? 0) - (b.start ?? 0) || Number(a.realPid) - Number(b.realPid);
  roots.sort((a, b) => a.host.localeCompare(b.host) || (a.role === "main" ? -1 : 0) - (b.role === "main" ? -1 : 0) || byStart(a, b));
  // Depth-first order, iterative (a chain of nested forks can be deep); a cycle in
  // ppid links cannot loop: each process is placed once.
  const list: Proc[] = [];
  const seen = new Set<Proc>();
  const stack: Proc[] = roots.slice().reverse();
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    list.push(p);
    p.children.sort(byStart);
    p.threads.sort((a, b) => Number(b.main) - Number(a.main) || b.cpu - a.cpu);
    for (let i = p.children.length - 1; i >= 0; i--) {
      p.children[i].depth = p.depth + 1;
      stack.push(p.children[i]);
    }
  }
  for (const p of all) if (!seen.has(p)) { roots.push(p); list.push(p); } // in a ppid cycle
  return { list, roots, byPid };
}

function readThreads(v: unknown): Thread[] {
  if (!Array.isArray(v)) return [];
  const out: Thread[] = [];
  for (const o of v) {
    if (!isObj(o)) continue;
    out.push({
      pid: typeof o["process_key"] === "string" ? (o["process_key"] as string) : str(o, "pid"), tid: str(o, "tid"), name: str(o, "name"), main: o["main"] === true,
      cpu: lnum(o, "cpu_sec"), py: lnum(o, "python_sec"), nat: lnum(o, "native_sec"),
      sys: lnum(o, "sys_sec"), samples: lnum(o, "samples"),
    });
  }
  return out;
}

/** Parses the embedded text. Throws ProfileError with a message for the user. */
export function parseProfileText(text: string): unknown {
  if (text.trim() === "") throw new ProfileError("the profile is empty");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ProfileError(`not valid JSON (${(e as Error).message})`);
  }
}

export function buildProfile(raw: unknown): Profile {
  if (!isObj(raw)) throw new ProfileError(`not a profile (the JSON is ${typeName(raw)}, not an object)`);
  const filesRaw = raw["files"];
  if (!isObj(filesRaw)) throw new ProfileError('not a profile: no "files" object');

  const files: FileModel[] = [];
  let idx = 0;
  for (const name of Object.keys(filesRaw)) {
    const f = filesRaw[name];
    if (!isObj(f)) throw new ProfileError(`${name}: ${typeName(f)}, expected an object`);
    const lines = withSource(readRows(f["lines"], name, "lines"), f["source"], name);
    const fns = readRows(f["functions"], name, "functions");
    const leaks = new Map<number, Leak>();
    if (isObj(f["leaks"])) {
      for (const [k, lv] of Object.entries(f["leaks"] as J)) {
        const n = Number(k);
        if (!Number.isInteger(n) || !isObj(lv)) continue;
        leaks.set(n, { likelihood: lnum(lv, "likelihood"), velocity: lnum(lv, "velocity_mb_s") });
      }
    }
    let sum = 0, mallocMb = 0, hasNet = false;
    for (const r of lines) {
      sum += r.m.cpu;
      mallocMb += r.m.mallocMb;
      if (r.m.hasNet) hasNet = true;
    }
    const pct = f["percent_cpu_time"] === undefined ? sum : num(f, "percent_cpu_time", name);
    files.push({ name, idx: idx++, lines, fns, leaks, pct, hasNet, mallocMb });
  }

  const threads = readThreads(raw["threads"]);
  const procs = readProcs(raw["processes"], threads);
  const sc = isObj(raw["scalene_c"]) ? (raw["scalene_c"] as J) : null;
  const ours = sc !== null || Array.isArray(raw["processes"]);

  // Percentages are shares of scalene_c.total_sec (= python_sec + native_sec + sys_sec).
  let time: TimeSplit;
  const total = sc ? lnum(sc, "total_sec") : 0;
  if (sc && (lnum(sc, "python_sec") || lnum(sc, "native_sec") || lnum(sc, "sys_sec"))) {
    const py = lnum(sc, "python_sec"), c = lnum(sc, "native_sec"), sys = lnum(sc, "sys_sec");
    time = { py, c, sys, seconds: true, secPerPct: (total > 0 ? total : py + c + sys) / 100 };
  } else {
    let py = 0, c = 0, sys = 0;
    for (const f of files) for (const r of f.lines) { py += r.m.py; c += r.m.c; sys += r.m.sys; }
    time = total > 0
      ? { py: (py * total) / 100, c: (c * total) / 100, sys: (sys * total) / 100, seconds: true, secPerPct: total / 100 }
      : { py, c, sys, seconds: false, secPerPct: null };
  }

  const argsRaw = raw["args"];
  const mf = raw["max_footprint_fname"];
  const ml = raw["max_footprint_lineno"];
  const memRaw = raw["memory"];
  let anyMem = false;
  for (const f of files) if (f.mallocMb > 0) anyMem = true;
  return {
    format: ours ? "ours" : "scalene",
    program: str(raw, "program"),
    args: Array.isArray(argsRaw) ? argsRaw.map((a) => String(a)) : [],
    elapsed: num(raw, "elapsed_time_sec", "elapsed_time_sec"),
    startAbs: optNum(raw, "start_time_absolute", "start_time_absolute"),
    files,
    gpu: raw["gpu"] === true,
    gpuDevice: str(raw, "gpu_device"),
    memory: memRaw === true || anyMem, // Scalene's files may lack the flag; numbers decide
    samples: pts(raw["samples"]),
    maxFootprint: num(raw, "max_footprint_mb", "max_footprint_mb"),
    maxFootprintPyFrac: num(raw, "max_footprint_python_fraction", "max_footprint_python_fraction"),
    maxSite: typeof mf === "string" && mf !== "" && typeof ml === "number" && ml > 0 ? { file: mf, line: ml } : null,
    growthRate: num(raw, "growth_rate", "growth_rate"),
    nativeAllocMb: num(raw, "native_allocations_mb", "native_allocations_mb"),
    allocSamples: num(raw, "alloc_samples", "alloc_samples"),
    processes: procs.list,
    roots: procs.roots,
    procByPid: procs.byPid,
    threads,
    time,
    version: sc ? str(sc, "version") || null : null,
    samplingInterval: sc ? lnum(sc, "sampling_interval_sec") || null : null,
  };
}
