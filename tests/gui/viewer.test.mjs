// Browser tests of the web viewer (gui/). Run from the repository root:
//
//   (cd gui && npm ci)            # once: esbuild, highlight.js, playwright-core, typescript
//   node --test tests/gui/
//
// They build gui/dist, profile a real multi-process program with build/bin/scalene (so `make`
// first), assemble pages with `scalene view --standalone` when the C side writes them (else with
// gui/assemble.mjs; SCALENE_GUI_ASSEMBLE=node|c forces one), and load them from file:// in
// Debian's chromium (/usr/bin/chromium, or CHROMIUM=...). See tests/gui/README.md.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  expandLines, assemblePage, buildGui, cpuOf, embeddedBundle, embeddedStyle, FIX, fmtMb, fmtMbUnit, fmtPct, fmtSec, imageStats,
  launchBrowser, openPage, PROGRAMS, SCALENE, syntheticProfile,
} from "./helpers.mjs";

let browser;
let tmp;

before(async () => {
  buildGui();
  tmp = mkdtempSync(join(tmpdir(), "scalene-gui-test-"));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (tmp && !process.env.KEEP_GUI_TMP) rmSync(tmp, { recursive: true, force: true });
});

/** Checks shared by every page: only the page itself was requested, nothing logged an error, and it is not blank. */
async function commonChecks(t, p, shot) {
  assert.deepEqual(p.requests, [p.url], `the page made network requests: ${JSON.stringify(p.requests)}`);
  assert.deepEqual(p.errors, [], "console errors or uncaught exceptions");
  const png = await p.page.screenshot({ path: join(tmp, shot) });
  const st = imageStats(png);
  t.diagnostic(`screenshot ${shot}: ${st.colors} colours, ${(st.nonBackground * 100).toFixed(1)}% not background, luma sd ${st.lumaStd.toFixed(1)}`);
  assert.ok(st.colors >= 16, `screenshot looks blank: ${st.colors} colours`);
  assert.ok(st.nonBackground >= 0.02, `screenshot looks blank: ${(st.nonBackground * 100).toFixed(2)}% of pixels differ from the background`);
  assert.ok(st.lumaStd >= 4, `screenshot looks blank: luminance spread ${st.lumaStd}`);
}

async function page(t, html, via, opts) {
  t.diagnostic(`page assembled by ${via}`);
  if (via !== "gui/assemble.mjs") {
    const text = readFileSync(html, "utf8");
    assert.ok(text.includes(embeddedBundle()) && text.includes(embeddedStyle()),
      "`scalene view --standalone` embedded another script or style than gui/dist's (a stale build? run make; " +
      "or SCALENE_GUI_ASSEMBLE=node to test the page alone)");
  }
  const p = await openPage(browser, html, opts);
  t.after(() => p.context.close());
  return p;
}

const rowSel = (file, line, table = "lines") =>
  `section.file[data-file="${file}"] table.${table} tbody tr[data-line="${line}"]`;

async function cellText(pg, sel) {
  return (await pg.locator(sel).first().textContent())?.trim() ?? null;
}

async function lineOrder(pg, file) {
  return pg.$$eval(`section.file[data-file="${file}"] table.lines tbody tr[data-line]`,
    (trs) => trs.map((tr) => Number(tr.dataset.line)));
}

// ------------------------------------------------------------------ 1. a real report

describe("a real multi-process report (mp_pool.py, fork)", () => {
  let prof, json, file, burn, burnLine, pool, html, via;

  before(async () => {
    json = join(tmp, "p.json");
    const r = spawnSync(SCALENE, ["run", "-o", json, join(PROGRAMS, "mp_pool.py"), "fork", "6", "0.15"],
      { cwd: tmp, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, `scalene run failed (is it built? make): ${r.error ?? ""}\n${r.stderr}`);
    prof = expandLines(JSON.parse(readFileSync(json, "utf8")));
    file = Object.keys(prof.files).find((f) => f.endsWith("/mp_pool.py"));
    assert.ok(file, "mp_pool.py is not in the report");
    const lines = prof.files[file].lines;
    burn = lines.find((l) => l.line.includes("# POOL_BURN"));
    assert.ok(burn && cpuOf(burn) > 0, "the POOL_BURN line has no time in the report");
    burnLine = burn.lineno;
    pool = prof.files[file].functions.find((f) => f.line.endsWith("pool_work"));
    ({ html, via } = await assemblePage(json, tmp));
  });

  test("shows the marker line with the report's numbers, the header and the process tree", async (t) => {
    const p = await page(t, html, via);
    const pg = p.page;
    assert.equal(await pg.evaluate(() => document.body.dataset.state), "ready");
    assert.match(await cellText(pg, `${rowSel(file, burnLine)} td.c-src`), /POOL_BURN/);
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-time .num`), fmtPct(cpuOf(burn)));
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-mem`), fmtMb(burn.n_malloc_mb));
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-net`), fmtMb(burn.n_net_mb));
    assert.equal(await pg.locator(`${rowSel(file, burnLine)} td.c-spark svg.spark`).count(),
      burn.memory_samples.length > 0 ? 1 : 0, "sparkline of the line's memory_samples");
    // hovering the time bar explains it, in seconds
    // scroll first and let the scroll events pass: a scroll hides the tip
    // (the page's own rule), and hover()'s own scrolling raced its mouseover
    const bar = pg.locator(`${rowSel(file, burnLine)} td.c-time .bar`);
    await bar.scrollIntoViewIfNeeded();
    await pg.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await bar.hover();
    await pg.waitForSelector("#tip:not([hidden])");
    const tip = await pg.textContent("#tip");
    const secPerPct = (prof.scalene_c.python_sec + prof.scalene_c.native_sec + prof.scalene_c.sys_sec) / 100;
    assert.ok(tip.includes(`Python ${fmtPct(burn.n_cpu_percent_python)} (${fmtSec(burn.n_cpu_percent_python * secPerPct)})`), tip);
    // the hottest line stands out
    const hottest = prof.files[file].lines.reduce((a, b) => (cpuOf(b) > cpuOf(a) ? b : a));
    assert.ok(await pg.locator(rowSel(file, hottest.lineno)).evaluate((tr) => tr.classList.contains("hot")),
      `the hottest line ${hottest.lineno} is not highlighted`);
    // the function table
    assert.ok(pool, "pool_work is not in the report's functions");
    assert.equal(await cellText(pg, `${rowSel(file, pool.lineno, "fns")} td.c-time .num`), fmtPct(cpuOf(pool)));
    // header: program, elapsed, peak memory, the time split
    assert.match(await cellText(pg, "#program"), /mp_pool\.py\s+fork 6 0\.15/);
    assert.equal(await cellText(pg, "#elapsed"), fmtSec(prof.elapsed_time_sec));
    assert.equal(await cellText(pg, "#peak-mem"), fmtMbUnit(prof.max_footprint_mb));
    assert.equal(await pg.locator("#timebar .seg").count(),
      ["python_sec", "native_sec", "sys_sec"].filter((k) => prof.scalene_c[k] > 0).length);
    const pyTip = await pg.locator("#timebar .seg.py").getAttribute("data-tip");
    assert.ok(pyTip.includes(fmtSec(prof.scalene_c.python_sec)), `time bar tooltip without seconds: ${pyTip}`);
    assert.ok(await pg.locator("#footprint svg path.line").count() >= 1, "no footprint chart");
    // process tree: every process, with its peak memory and exit status
    for (const pr of prof.processes) {
      const tr = pg.locator(`#processes tr.proc[data-pid="${pr.pid}"]`);
      assert.equal(await tr.count(), 1, `process ${pr.pid} is not in the tree`);
      assert.equal((await tr.locator("td.role").textContent()).trim(), pr.role);
      assert.equal((await tr.locator("td.c-pmem").textContent()).trim(), fmtMb(pr.peak_footprint_mb) || "0");
      if (pr.exit_code === 0) assert.equal((await tr.locator("td.c-exit").textContent()).trim(), "0");
    }
    // threads open under their process
    const main = prof.processes.find((pr) => pr.role === "main");
    const nthreads = prof.threads.filter((th) => th.pid === main.pid).length;
    assert.ok(nthreads > 0);
    await pg.click(`#processes button[data-threads="${main.pid}"]`);
    assert.equal(await pg.locator(`#processes tr.thread[data-of="${main.pid}"]:visible`).count(), nthreads);
    await commonChecks(t, p, "real.png");
  });

  test("sorting a column reorders the lines", async (t) => {
    const p = await page(t, html, via);
    const pg = p.page;
    const before = await lineOrder(pg, file);
    assert.deepEqual(before, [...before].sort((a, b) => a - b), "lines are not in line order at first");
    await pg.click(`section.file[data-file="${file}"] table.lines th.c-time button.sort`);
    await pg.waitForSelector(`section.file[data-file="${file}"] table.lines th.c-time[aria-sort="descending"]`);
    const after = await lineOrder(pg, file);
    assert.notDeepEqual(after, before, "sorting by time did not change the order");
    const byLine = new Map(prof.files[file].lines.map((l) => [l.lineno, cpuOf(l)]));
    for (let i = 1; i < after.length; i++)
      assert.ok(byLine.get(after[i - 1]) >= byLine.get(after[i]), `not sorted by time at ${after[i - 1]}, ${after[i]}`);
    assert.equal(after[0], prof.files[file].lines.reduce((a, b) => (cpuOf(b) > cpuOf(a) ? b : a)).lineno);
    // again: ascending
    await pg.click(`section.file[data-file="${file}"] table.lines th.c-time button.sort`);
    await pg.waitForSelector(`section.file[data-file="${file}"] table.lines th.c-time[aria-sort="ascending"]`);
    const asc = await lineOrder(pg, file);
    for (let i = 1; i < asc.length; i++) assert.ok(byLine.get(asc[i - 1]) <= byLine.get(asc[i]));
    // the "lines with activity" filter keeps only lines with activity
    await pg.click(`section.file[data-file="${file}"] button[data-mode="active"]`);
    await pg.waitForSelector(`section.file[data-file="${file}"] button[data-mode="active"][aria-pressed="true"]`);
    const shown = await lineOrder(pg, file);
    assert.ok(shown.length < prof.files[file].lines.length && shown.includes(burnLine));
    assert.deepEqual(p.errors, []);
  });

  test("selecting one process shows its by_process numbers", async (t) => {
    const p = await page(t, html, via);
    const pg = p.page;
    const merged = fmtPct(cpuOf(burn));
    const [pid, share] = Object.entries(burn.by_process).sort((a, b) => cpuOf(b[1]) - cpuOf(a[1]))[0];
    assert.notEqual(fmtPct(cpuOf(share)), merged, "test needs a line whose process share differs from the merged one");
    await pg.selectOption("#proc-select", pid);
    await pg.waitForSelector(`body[data-pid="${pid}"]`);
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-time .num`), fmtPct(cpuOf(share)));
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-mem`), fmtMb(share.n_malloc_mb));
    assert.equal(await cellText(pg, `${rowSel(file, pool.lineno, "fns")} td.c-time .num`),
      fmtPct(cpuOf(pool.by_process[pid] ?? {})));
    assert.equal(await cellText(pg, ".card.run .big"), pid);
    assert.ok(await pg.locator(`#processes tr.proc[data-pid="${pid}"].selected`).count() === 1);
    // a process that never ran the line: blank
    const other = prof.processes.find((pr) => !(String(pr.pid) in burn.by_process));
    if (other) {
      await pg.click(`#processes tr.proc[data-pid="${other.pid}"] td.role`);
      await pg.waitForSelector(`body[data-pid="${other.pid}"]`);
      assert.equal(await pg.inputValue("#proc-select"), String(other.pid));
      const cell = pg.locator(`${rowSel(file, burnLine)} td.c-time`);
      assert.equal((await cell.count()) ? (await cell.textContent()).trim() : "", "");
    }
    // back to all processes
    await pg.click("#view-note button[data-select]");
    await pg.waitForSelector(`body[data-pid=""]`);
    assert.equal(await cellText(pg, `${rowSel(file, burnLine)} td.c-time .num`), merged);
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.requests, [p.url]);
  });
});

// ------------------------------------------------------- 2. Scalene's own format

describe("Scalene's own format (fixtures/scalene_format.json)", () => {
  const prof = JSON.parse(readFileSync(join(FIX, "scalene_format.json"), "utf8"));
  const PROG = "/srv/fixture/prog_phases.py";
  const CHECKS = "/srv/fixture/checks.py";
  const line = (f, marker) => prof.files[f].lines.find((l) => l.line.includes(marker));

  test("shows the marker lines, no process selector, and sorts", async (t) => {
    const { html, via } = await assemblePage(join(FIX, "scalene_format.json"), tmp);
    const p = await page(t, html, via);
    const pg = p.page;
    assert.equal(await pg.evaluate(() => document.body.dataset.state), "ready");
    for (const m of ["# MARK_PY_HOT", "# MARK_NATIVE", "# MARK_SLEEP", "# MARK_ALLOC"]) {
      const l = line(PROG, m);
      assert.match(await cellText(pg, `${rowSel(PROG, l.lineno)} td.c-src`), new RegExp(m));
      assert.equal(await cellText(pg, `${rowSel(PROG, l.lineno)} td.c-time .num`), fmtPct(cpuOf(l)), m);
    }
    const alloc = line(PROG, "# MARK_ALLOC");
    assert.equal(await cellText(pg, `${rowSel(PROG, alloc.lineno)} td.c-mem`), fmtMb(alloc.n_malloc_mb));
    // no n_net_mb in Scalene's format: the column is the peak
    assert.equal(await cellText(pg, `section.file[data-file="${PROG}"] table.lines th.c-net`), "Peak MB");
    assert.equal(await cellText(pg, `${rowSel(PROG, alloc.lineno)} td.c-net`), fmtMb(alloc.n_peak_mb));
    assert.equal(await pg.isVisible("#proc-select"), false, "a process selector for a profile without processes");
    assert.equal(await pg.locator("#processes").count(), 0);
    assert.equal(await cellText(pg, "#elapsed"), fmtSec(prof.elapsed_time_sec));
    assert.equal(await cellText(pg, "#peak-mem"), fmtMbUnit(prof.max_footprint_mb));
    // the hottest file first and open; checks.py closed until clicked
    const order = await pg.$$eval("section.file", (ss) => ss.map((s) => s.dataset.file));
    assert.deepEqual(order, [PROG, CHECKS]);
    assert.equal(await pg.locator(`section.file[data-file="${CHECKS}"] table.lines`).count(), 0, "closed section rendered");
    await pg.click(`section.file[data-file="${CHECKS}"] .file-head`);
    const util = line(CHECKS, "# MARK_UTIL");
    await pg.waitForSelector(rowSel(CHECKS, util.lineno));
    assert.equal(await cellText(pg, `${rowSel(CHECKS, util.lineno)} td.c-time .num`), fmtPct(cpuOf(util)));
    // sort by memory: the MARK_ALLOC line first
    const before = await lineOrder(pg, PROG);
    await pg.click(`section.file[data-file="${PROG}"] table.lines th.c-mem button.sort`);
    await pg.waitForSelector(`section.file[data-file="${PROG}"] table.lines th.c-mem[aria-sort="descending"]`);
    const after = await lineOrder(pg, PROG);
    assert.notDeepEqual(after, before);
    assert.equal(after[0], alloc.lineno);
    // the function table sorts too
    await pg.click(`section.file[data-file="${PROG}"] table.fns th.c-line button.sort`);
    await pg.waitForSelector(`section.file[data-file="${PROG}"] table.fns th.c-line[aria-sort="ascending"]`);
    const fns = await pg.$$eval(`section.file[data-file="${PROG}"] table.fns tbody tr`, (trs) => trs.map((tr) => tr.dataset.fn));
    assert.deepEqual(fns, [...prof.files[PROG].functions].sort((a, b) => a.lineno - b.lineno).map((f) => f.line));
    await commonChecks(t, p, "scalene-format.png");
  });
});

// ------------------------------------------------ our hand-written multi-process fixture

describe("our format, hand-written (fixtures/ours_multi.json)", () => {
  test("process tree with exit statuses, per-process numbers, CPU-only profile, GPU", async (t) => {
    const prof = JSON.parse(readFileSync(join(FIX, "ours_multi.json"), "utf8"));
    const PROG = "/srv/fixture/prog_phases.py";
    // with a GPU: its card and column
    prof.gpu = true;
    prof.gpu_device = "GPU";
    const gpuLine = prof.files[PROG].lines.find((l) => l.line.includes("# MARK_NATIVE"));
    gpuLine.n_gpu_percent = 12.5;
    gpuLine.n_gpu_peak_memory_mb = 300;
    const path = join(tmp, "ours_gpu.json");
    writeFileSync(path, JSON.stringify(prof));
    const { html, via } = await assemblePage(path, tmp);
    const p = await page(t, html, via);
    const pg = p.page;
    assert.match(await cellText(pg, `#processes tr.proc[data-pid="4102"] td.c-exit`), /SIGKILL/);
    assert.equal(await pg.locator(`#processes tr.proc[data-pid="4101"] .warn-dot`).count(), 1, "dropped records not flagged");
    assert.equal(await pg.locator("th.c-mem").count(), 0, "memory columns in a --cpu-only profile");
    assert.equal(await cellText(pg, `${rowSel(PROG, gpuLine.lineno)} td.c-gpu`), "12.5%");
    assert.match(await cellText(pg, ".card.gpu"), /GPU[\s\S]*300 MB/);
    const hot = prof.files[PROG].lines.find((l) => l.line.includes("# MARK_PY_HOT"));
    await pg.selectOption("#proc-select", "4101");
    await pg.waitForSelector(`body[data-pid="4101"]`);
    assert.equal(await cellText(pg, `${rowSel(PROG, hot.lineno)} td.c-time .num`), fmtPct(cpuOf(hot.by_process["4101"])));
    await commonChecks(t, p, "ours-multi.png");
  });
});

// ------------------------------------------------------------ a minimal profile

describe("a minimal profile (every optional field missing)", () => {
  test("reads missing numbers as zero", async (t) => {
    const path = join(tmp, "min.json");
    writeFileSync(path, '{"files": {"a.py": {"lines": [{"lineno": 1, "line": "x = 1", "n_cpu_percent_python": 12.5}, {"lineno": 2}]}}}');
    const { html, via } = await assemblePage(path, tmp);
    const p = await page(t, html, via);
    const pg = p.page;
    assert.equal(await pg.evaluate(() => document.body.dataset.state), "ready");
    assert.equal(await cellText(pg, `${rowSel("a.py", 1)} td.c-time .num`), "12.5%");
    assert.equal(await cellText(pg, `section.file[data-file="a.py"] .ftime .num`), "12.5%"); // no percent_cpu_time: the lines' sum
    assert.equal(await cellText(pg, `${rowSel("a.py", 2)} td.c-src`), "");
    assert.equal(await pg.isVisible("#proc-select"), false);
    await commonChecks(t, p, "minimal.png");
  });
});

// ------------------------------------------------------------- 3. broken profiles

describe("broken profiles show an error, never a blank page", () => {
  for (const name of ["truncated.json", "not_json.json"]) {
    test(`${name}, assembled with error data`, async (t) => {
      const { html, via } = await assemblePage(join(FIX, name), tmp);
      const p = await page(t, html, via);
      assert.equal(await p.page.evaluate(() => document.body.dataset.state), "error");
      assert.ok(await p.page.isVisible("#scalene-error"));
      assert.match(await cellText(p.page, "#scalene-error .error-message"), /not valid JSON/);
      await commonChecks(t, p, `error-${name}.png`);
    });
  }

  // The page's own checks, with the file's text embedded as it is.
  const cases = {
    "truncated.json": /not valid JSON/,
    "not_json.json": /not valid JSON/,
    "empty.json": /empty/,
    "array.json": /not a profile/,
    "no_files.json": /no "files" object/,
    "wrong_types.json": /n_cpu_percent_python is a string, expected a number/,
  };
  for (const [name, re] of Object.entries(cases)) {
    test(`${name}, embedded raw`, async (t) => {
      const { html } = await assemblePage(join(FIX, name), tmp, ["--raw"]);
      const p = await page(t, html, "gui/assemble.mjs");
      assert.equal(await p.page.evaluate(() => document.body.dataset.state), "error");
      assert.match(await cellText(p.page, "#scalene-error .error-message"), re);
      assert.deepEqual(p.errors, []);
      assert.deepEqual(p.requests, [p.url]);
    });
  }

  test("scalene_view_error is shown as it is", async (t) => {
    const { html } = await assemblePage(join(FIX, "ours_multi.json"), tmp, ["--error", "prof.json: No such file or directory"]);
    const p = await page(t, html, "gui/assemble.mjs");
    assert.equal(await cellText(p.page, "#scalene-error .error-message"), "prof.json: No such file or directory");
    await commonChecks(t, p, "error-view.png");
  });

  test("source text cannot break out of the page", async (t) => {
    const d = JSON.parse(readFileSync(join(FIX, "scalene_format.json"), "utf8"));
    const f = d.files["/srv/fixture/prog_phases.py"];
    const evil = `x = "</script><script>window.__owned = 1</script> <!-- <script> <b>bold</b>"  # MARK_EVIL\n`;
    f.lines[11].line = evil;
    f.functions[0].line = "<img src=x onerror=alert(1)>";
    const path = join(tmp, "evil.json");
    writeFileSync(path, JSON.stringify(d));
    const { html, via } = await assemblePage(path, tmp);
    const p = await page(t, html, via);
    assert.equal(await p.page.evaluate(() => document.body.dataset.state), "ready");
    assert.equal(await p.page.evaluate(() => window.__owned), undefined);
    const text = await cellText(p.page, `${rowSel("/srv/fixture/prog_phases.py", 12)} td.c-src`);
    assert.equal(text, evil.trimEnd());
    assert.equal(await p.page.locator("img").count(), 0);
    await commonChecks(t, p, "evil.png");
  });
});

// ------------------------------------------------------------- 4. a large profile

describe("a large profile (5,000-line file, 64 processes)", () => {
  test("loads and stays interactive", async (t) => {
    const prof = syntheticProfile();
    const path = join(tmp, "big.json");
    writeFileSync(path, JSON.stringify(prof));
    const BIG = "/srv/big/app.py";
    const { html, via } = await assemblePage(path, tmp);
    t.diagnostic(`profile ${(readFileSync(path).length / 1e6).toFixed(1)} MB`);
    const p = await page(t, html, via);
    const pg = p.page;
    t.diagnostic(`load ${p.loadMs} ms`);
    assert.equal(await pg.evaluate(() => document.body.dataset.state), "ready");
    assert.ok(p.loadMs < 5000, `load took ${p.loadMs} ms`);
    assert.equal(await pg.locator("#processes tr.proc").count(), 64);
    // the long file opens with only its active lines
    assert.equal(await pg.getAttribute(`section.file[data-file="${BIG}"] button[data-mode="active"]`, "aria-pressed"), "true");
    const active = prof.files[BIG].lines.filter((l) => cpuOf(l) > 0 || l.n_malloc_mb > 0).length;
    assert.equal((await lineOrder(pg, BIG)).length, active);
    // leaks are flagged on their lines
    for (const ln of Object.keys(prof.files[BIG].leaks)) {
      const tr = pg.locator(rowSel(BIG, ln));
      assert.equal(await tr.locator(".pill.leak").count(), 1, `leak on line ${ln} not flagged`);
    }
    const timed = async (what, fn, limit) => {
      const t0 = Date.now();
      await fn();
      const ms = Date.now() - t0;
      t.diagnostic(`${what}: ${ms} ms`);
      assert.ok(ms < limit, `${what} took ${ms} ms`);
    };
    await timed("sort by time", async () => {
      await pg.click(`section.file[data-file="${BIG}"] table.lines th.c-time button.sort`);
      await pg.waitForSelector(`section.file[data-file="${BIG}"] table.lines th.c-time[aria-sort="descending"]`);
    }, 3000);
    const pid = "20033";
    await timed("switch to one process", async () => {
      await pg.selectOption("#proc-select", pid);
      await pg.waitForSelector(`body[data-pid="${pid}"]`);
    }, 3000);
    const mine = prof.files[BIG].lines.filter((l) => l.by_process && pid in l.by_process);
    assert.ok(mine.length > 0);
    const l = mine[0];
    assert.equal(await cellText(pg, `${rowSel(BIG, l.lineno)} td.c-time .num`), fmtPct(cpuOf(l.by_process[pid])));
    await timed("all 5,000 lines", async () => {
      await pg.click(`section.file[data-file="${BIG}"] button[data-mode="all"]`);
      await pg.waitForSelector(`section.file[data-file="${BIG}"] button[data-mode="all"][aria-pressed="true"]`);
    }, 3000);
    assert.equal((await lineOrder(pg, BIG)).length, 5000);
    await timed("back to all processes", async () => {
      await pg.selectOption("#proc-select", "");
      await pg.waitForSelector(`body[data-pid=""]`);
    }, 3000);
    await timed("open another file", async () => {
      const other = "/srv/big/pkg/module_05.py";
      await pg.click(`section.file[data-file="${other}"] .file-head`);
      await pg.waitForSelector(`section.file[data-file="${other}"] table.lines tbody tr`);
    }, 3000);
    await commonChecks(t, p, "big.png");
  });
});
