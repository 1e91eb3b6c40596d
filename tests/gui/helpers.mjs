// Helpers for the web viewer's browser tests (viewer.test.mjs): building the page,
// assembling it for a profile, driving Debian's chromium with playwright-core from
// gui/node_modules, a tiny PNG decoder to tell a blank screenshot, the page's number
// formats (kept in step with gui/src/util.ts), and a large synthetic profile.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inflateSync } from "node:zlib";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const GUI = join(REPO, "gui");
export const DIST = join(GUI, "dist");
export const FIX = join(REPO, "tests/e2e/fixtures");
export const PROGRAMS = join(REPO, "tests/e2e/programs");
export const BUILD = process.env.SCALENE_BUILD ? resolve(process.env.SCALENE_BUILD) : join(REPO, "build");
export const SCALENE = join(BUILD, "bin/scalene");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Builds gui/dist with gui/build.mjs (fails the tests with the reason if it cannot). */
export function buildGui() {
  if (!existsSync(join(GUI, "node_modules/esbuild")) || !existsSync(join(GUI, "node_modules/playwright-core")))
    throw new Error("gui/node_modules is missing: run `cd gui && npm ci` first");
  const r = spawnSync(process.execPath, [join(GUI, "build.mjs")], { cwd: GUI, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gui/build.mjs failed:\n${r.stdout}\n${r.stderr}`);
  for (const f of ["index.html", "scalene-gui.js", "scalene-gui.css"])
    if (!existsSync(join(DIST, f))) throw new Error(`gui/build.mjs did not write dist/${f}`);
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM=/path/to/chrome)`);
  const url = pathToFileURL(join(GUI, "node_modules/playwright-core/index.mjs")).href;
  const { chromium } = await import(url);
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
}

let seq = 0;

/**
 * The page for a profile file: `scalene view --standalone PROFILE` when the C side can write it
 * (SCALENE_GUI_ASSEMBLE=c insists on it, =node never tries it), else gui/assemble.mjs.
 * Returns { html, via }.
 */
export async function assemblePage(profile, tmp, extra = []) {
  const mode = process.env.SCALENE_GUI_ASSEMBLE || "auto";
  const dir = join(tmp, `page-${++seq}`);
  mkdirSync(dir, { recursive: true });
  if (mode !== "node" && extra.length === 0 && existsSync(SCALENE)) {
    // -o: never write beside the profile (the default is PROFILE_DIR/scalene-profile.html).
    const out = join(dir, "scalene-view.html");
    const r = spawnSync(SCALENE, ["view", "--standalone", "-o", out, profile], {
      cwd: dir, encoding: "utf8", timeout: 60_000, env: { ...process.env, BROWSER: "true" },
    });
    if (r.status === 0 && existsSync(out)) return { html: out, via: "scalene view --standalone" };
    if (mode === "c")
      throw new Error(`scalene view --standalone -o ${out} ${profile}: exit ${r.status}\n${r.stderr}`);
  }
  const out = join(dir, "page.html");
  const r = spawnSync(process.execPath, [join(GUI, "assemble.mjs"), profile, out, ...extra], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`assemble.mjs failed: ${r.stderr}`);
  return { html: out, via: "gui/assemble.mjs" };
}

/** The style sheet as the assembler must embed it. */
export function embeddedStyle() {
  return readFileSync(join(DIST, "scalene-gui.css"), "utf8").replace(/<\/style/gi, (m) => "<\\/" + m.slice(2));
}

/** The bundle as the assembler must embed it (with "</script" escaped). */
export function embeddedBundle() {
  return readFileSync(join(DIST, "scalene-gui.js"), "utf8")
    .replace(/<\/script/gi, (m) => "<\\/" + m.slice(2)).replace(/<!--/g, "<\\!--");
}

/**
 * Opens a page and records what the tests check: every request, console errors and
 * uncaught exceptions. Waits until the viewer says it is ready or showing an error.
 */
export async function openPage(browser, html, { width = 1400, height = 1000 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errors.push(`console.${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  const url = pathToFileURL(html).href;
  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 60_000 });
  await page.waitForSelector("body[data-state]", { timeout: 30_000 });
  const loadMs = Date.now() - t0;
  return { page, context, url, requests, errors, loadMs };
}

// ------------------------------------------------------------ PNG, to tell a blank page

/** Decodes an 8-bit, non-interlaced PNG (what chromium's screenshots are). */
export function decodePng(buf) {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  for (let i = 0; i < 8; i++) if (buf[i] !== sig[i]) throw new Error("not a PNG");
  let pos = 8, width = 0, height = 0, depth = 0, ctype = 0, interlace = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; ctype = data[9]; interlace = data[12];
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[ctype];
  if (depth !== 8 || !channels || interlace !== 0) throw new Error(`unsupported PNG (depth ${depth}, type ${ctype}, interlace ${interlace})`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[dst + x - channels] : 0;
      const b = y > 0 ? px[dst - stride + x] : 0;
      const c = x >= channels && y > 0 ? px[dst - stride + x - channels] : 0;
      let v = raw[src + x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[dst + x] = v & 255;
    }
  }
  return { width, height, channels, px };
}

/** Colour statistics of a screenshot: distinct colours, share of pixels unlike the background, luminance spread. */
export function imageStats(png) {
  const { width, height, channels, px } = decodePng(png);
  const counts = new Map();
  let sum = 0, sum2 = 0;
  const n = width * height;
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    const r = px[o], g = channels >= 3 ? px[o + 1] : r, b = channels >= 3 ? px[o + 2] : r;
    const key = (r << 16) | (g << 8) | b;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += l; sum2 += l * l;
  }
  let bg = 0;
  for (const c of counts.values()) if (c > bg) bg = c;
  const mean = sum / n;
  return { width, height, colors: counts.size, nonBackground: 1 - bg / n, lumaStd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}

// ----------------------------------------------- the page's number formats (gui/src/util.ts)

export function fmtPct(v) {
  if (!(v > 0)) return "";
  if (v < 0.05) return "<0.1%";
  return v.toFixed(1) + "%";
}

export function fmtMb(v) {
  if (!(v > 0)) return v < 0 ? "-" + fmtMb(-v) : "";
  if (v < 0.05) return "<0.1";
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

export function fmtMbUnit(v) {
  if (!(v > 0)) return "0 MB";
  if (v >= 10240) return (v / 1024).toFixed(1) + " GB";
  return fmtMb(v) + " MB";
}

export function fmtSec(s) {
  if (!(s > 0)) return "0 s";
  if (s < 1) return (s * 1000 < 10 ? (s * 1000).toFixed(1) : (s * 1000).toFixed(0)) + " ms";
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  if (m < 60) return `${m} m ${String(r).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

export const cpuOf = (o) => (o.n_cpu_percent_python ?? 0) + (o.n_cpu_percent_c ?? 0) + (o.n_sys_percent ?? 0);

// ------------------------------------------------------------------ a large profile

/** A deterministic pseudo-random generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r6 = (v) => Math.round(v * 1e6) / 1e6;

/**
 * Our report's shape for a program with `nprocs` processes (a tree: main, workers, nested
 * children) and `nfiles` files, the first `bigLines` long, every `activeEvery`-th line active
 * with a by_process entry for a few processes (every 50th for all of them).
 */
export function syntheticProfile({ nprocs = 64, bigLines = 5000, nfiles = 12, smallLines = 300, activeEvery = 3, seed = 7 } = {}) {
  const rand = rng(seed);
  const pids = Array.from({ length: nprocs }, (_, i) => 20000 + i);
  const elapsed = 42.0;
  const processes = pids.map((pid, i) => ({
    pid, ppid: i === 0 ? 19999 : i < 8 ? 20000 : 20000 + 1 + ((i - 8) % 7),
    argv: ["/usr/bin/python3", "/srv/big/app.py", "--worker", String(i)],
    role: i === 0 ? "main" : i < 8 ? "multiprocessing spawn" : "forked", python: "3.11",
    start_sec: i === 0 ? 0 : r6(0.5 + i * 0.3), end_sec: r6(i === 0 ? elapsed : 10 + i * 0.4),
    exit_code: i === 13 ? null : i === 21 ? 3 : 0, exit_signal: i === 13 ? 9 : null,
    cpu_sec: r6(1 + rand() * 5), python_sec: r6(rand() * 3), native_sec: r6(rand() * 2), sys_sec: r6(rand()),
    samples: 100 + i, records_written: 1000, records_dropped: i === 5 ? 12 : 0, records_torn: 0,
    peak_footprint_mb: r6(10 + rand() * 100), peak_footprint_sec: r6(1 + rand() * 9),
    footprint_samples: Array.from({ length: 20 }, (_, k) => [Math.round((k + 1) * 0.4e9), r6(rand() * 80)]),
    net_mb: r6(rand() * 5), python_malloc_mb: r6(rand() * 300), native_malloc_mb: r6(rand() * 100), copy_mb: r6(rand() * 10),
    peak_rss_mb: r6(50 + rand() * 50), rss_samples: [[1e8, 40], [5e9, 60]],
  }));
  const threads = pids.flatMap((pid, i) => [
    { pid, tid: pid, name: "MainThread", main: true, cpu_sec: 1, python_sec: 0.5, native_sec: 0.3, sys_sec: 0.2, samples: 100 },
    ...(i % 4 === 0 ? [{ pid, tid: pid + 100000, name: "worker-thread", main: false, cpu_sec: 0.5, python_sec: 0.2, native_sec: 0.2, sys_sec: 0.1, samples: 50 }] : []),
  ]);
  const memFields = (scale) => {
    const malloc = r6(rand() * 8 * scale);
    const net = r6(malloc * rand() * 0.3);
    return {
      n_malloc_mb: malloc, n_mallocs: Math.round(malloc), n_peak_mb: r6(malloc * 0.6), n_avg_mb: r6(malloc * 0.3),
      n_growth_mb: r6(malloc * 0.6), n_python_fraction: r6(rand()), n_usage_fraction: r6(malloc / 50000),
      n_copy_mb_s: r6(rand() < 0.1 ? rand() * 3 : 0),
      memory_samples: malloc > 0.5 ? Array.from({ length: 8 }, (_, k) => [Math.round((k + 1) * 4e9), r6(rand() * malloc)]) : [],
      n_net_mb: net, n_freed_mb: r6(malloc - net),
    };
  };
  const zeroLine = (lineno, text) => ({
    lineno, line: text + "\n", n_cpu_percent_python: 0, n_cpu_percent_c: 0, n_sys_percent: 0, n_core_utilization: 0,
    cpu_samples_list: [], n_malloc_mb: 0, n_mallocs: 0, n_peak_mb: 0, n_avg_mb: 0, n_growth_mb: 0, n_python_fraction: 0,
    n_usage_fraction: 0, n_copy_mb_s: 0, memory_samples: [], n_net_mb: 0, n_freed_mb: 0, n_gpu_percent: 0,
    n_gpu_avg_memory_mb: 0, n_gpu_peak_memory_mb: 0, start_region_line: lineno, end_region_line: lineno,
    start_outermost_loop: lineno, end_outermost_loop: lineno, start_function_line: 0, end_function_line: 0,
  });
  const activeRow = (row, share, allProcs) => {
    const chosen = allProcs ? pids : Array.from({ length: 4 }, () => pids[Math.floor(rand() * nprocs)]);
    const bp = {};
    let py = 0, c = 0, sys = 0;
    for (const pid of new Set(chosen)) {
      const e = { n_cpu_percent_python: r6(rand() * share), n_cpu_percent_c: r6(rand() * share * 0.5), n_sys_percent: r6(rand() * share * 0.2), ...memFields(0.3) };
      bp[String(pid)] = e;
      py += e.n_cpu_percent_python; c += e.n_cpu_percent_c; sys += e.n_sys_percent;
    }
    const mem = memFields(1);
    let malloc = 0, net = 0;
    for (const e of Object.values(bp)) { malloc += e.n_malloc_mb; net += e.n_net_mb; }
    Object.assign(row, mem, {
      n_cpu_percent_python: r6(py), n_cpu_percent_c: r6(c), n_sys_percent: r6(sys), n_core_utilization: r6(rand()),
      cpu_samples_list: [0.5, 1.5], n_malloc_mb: r6(malloc), n_net_mb: r6(net), by_process: bp,
    });
    return row;
  };
  const files = {};
  const words = ["total", "value", "items", "result", "buffer", "index", "cache", "record"];
  for (let f = 0; f < nfiles; f++) {
    const name = f === 0 ? "/srv/big/app.py" : `/srv/big/pkg/module_${String(f).padStart(2, "0")}.py`;
    const n = f === 0 ? bigLines : smallLines;
    const lines = [];
    const functions = [];
    for (let i = 1; i <= n; i++) {
      let text;
      if (i % 40 === 1) { text = `def fn_${f}_${i}(${words[i % 8]}, n=${i}):`; }
      else if (i % 40 === 2) text = `    """Docstring for line ${i} <b>&amp;</b>."""`;
      else text = `    ${words[i % 8]} = [x * ${i} for x in range(n)]  # L${i}`;
      const row = zeroLine(i, text);
      if (i % activeEvery === 0 && (f === 0 || i % (activeEvery * 4) === 0)) activeRow(row, f === 0 ? 0.02 : 0.005, i % 50 === 0);
      lines.push(row);
      if (i % 40 === 1) {
        const fn = { ...zeroLine(i, `fn_${f}_${i}`) };
        delete fn.start_region_line;
        activeRow(fn, 0.3, false);
        fn.line = `fn_${f}_${i}`;
        functions.push(fn);
      }
    }
    let pct = 0;
    for (const l of lines) pct += cpuOf(l);
    const leaks = f === 0 ? { "300": { likelihood: 0.99, velocity_mb_s: 1.5 }, "4500": { likelihood: 0.97, velocity_mb_s: 0.25 } } : {};
    files[name] = { percent_cpu_time: r6(pct), lines, functions, leaks, imports: [] };
  }
  return {
    program: "/srv/big/app.py", entrypoint_dir: "/srv/big", filename: "/srv/big", args: ["--workers", "63"],
    elapsed_time_sec: elapsed, start_time_absolute: 1785000000.5, start_time_perf: 811.9, files,
    gpu: false, gpu_device: "", async_profile: false, memory: true,
    samples: Array.from({ length: 100 }, (_, k) => [Math.round(k * 0.42e9), r6(100 + 50 * Math.sin(k / 9))]),
    max_footprint_mb: 150, max_footprint_fname: "/srv/big/app.py", max_footprint_lineno: 300,
    max_footprint_python_fraction: 0.8, growth_rate: 3.5, native_allocations_mb: 12, alloc_samples: 99999,
    stacks: [], combined_stacks: [], memory_stacks: [], main_thread_id: 20000,
    processes, threads,
    scalene_c: { version: "0.1.0", record_version: 2, sampling_interval_sec: 0.01, virtual_time: false, total_sec: 400,
      python_sec: 200, native_sec: 120, sys_sec: 80, unslotted_processes: 0, allocation_sampling_window: 1048576,
      copy_sampling_window: 2097152, python: "/usr/bin/python3" },
  };
}

/**
 * A compact report (issue 16, docs/REPORT.md "Compact reports") with its idle lines put back
 * from each file's `source` (all numbers 0), as the page shows them; a full report as it is.
 */
export function expandLines(prof) {
  for (const f of Object.values(prof.files ?? {})) {
    if (!Array.isArray(f.source)) continue;
    const rows = f.lines ?? [], out = [];
    let k = 0;
    for (let i = 1; i <= f.source.length; i++) {
      while (k < rows.length && rows[k].lineno < i) out.push(rows[k++]);
      if (k < rows.length && rows[k].lineno === i) out.push(rows[k++]);
      else out.push({ lineno: i, line: f.source[i - 1], n_cpu_percent_python: 0, n_cpu_percent_c: 0, n_sys_percent: 0,
        n_malloc_mb: 0, n_net_mb: 0, n_peak_mb: 0 });
    }
    while (k < rows.length) out.push(rows[k++]);
    f.lines = out;
    delete f.source;
  }
  return prof;
}

/**
 * A compact report's stacks with their frames written out: `processes[].stacks` and the
 * memory stacks (top level and per process) name frames by index into `stack_frames`
 * (docs/REPORT.md "Compact reports"); a full report is returned as it is.
 */
export function expandFrames(prof) {
  const frames = prof.stack_frames;
  if (!Array.isArray(frames)) return prof;
  const fix = (list) => {
    for (const e of list ?? []) e[0] = e[0].map((i) => (typeof i === "number" ? frames[i] ?? {} : i));
  };
  for (const p of prof.processes ?? []) {
    fix(p.stacks);
    fix(p.memory_stacks);
  }
  fix(prof.memory_stacks);
  delete prof.stack_frames;
  return prof;
}
