/* SPDX-License-Identifier: Apache-2.0
 * test_tbl_mem.c — the memory side of the aggregator's tables and report
 * (aggregator/tbl.c, aggregator/rpt.c; semantics in docs/MEMORY.md): fed
 * synthetic REC_STR / PROC_START / REC_MEM / REC_COPY / PROC_EXIT records
 * through tbl_ingest, it checks live, peak and net per line and process,
 * realloc moves, FINAL, the merged peak being the peak of the sum, the run's
 * footprint summing only processes alive at the same time, the leak rule
 * (fires for steady growth; not for churn, a one-shot allocation or growth
 * that stopped), Python fractions, bounded timelines, and the JSON rpt_write
 * produces (parsed back with json-c). Last, a report thread runs against
 * a live writer (make check-tsan builds this with -fsanitize=thread).
 * Context: thread.
 */
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "record.h"
#include "rpt.h"
#include "tap.h"
#include "tbl.h"

#define MIB (1ull << 20)
#define SEC 1000000000ull
#define T0 (1000 * SEC) /* the run's t0 (CLOCK_MONOTONIC ns) */

static uint64_t str(tbl_t *t, int32_t pid, const char *s)
{
    size_t n = strlen(s);
    uint64_t id = rec_str_id(s, n);
    for (unsigned k = 0; k < rec_str_nchunks(n); k++) {
        rec_t r;
        memset(&r, 0, sizeof r);
        rec_str_chunk(&r, id, s, n, k);
        tbl_ingest(t, pid, &r);
    }
    return id;
}

static void start(tbl_t *t, int32_t pid, uint64_t at)
{
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_PROC_START;
    r.h.tid = (uint32_t)pid;
    r.h.t_ns = T0 + at;
    r.u.proc.pid = pid;
    r.u.proc.ppid = 1;
    r.u.proc.start_ns = T0 + at;
    r.u.proc.pyver = 0x030b0000;
    tbl_ingest(t, pid, &r);
}

static void stop(tbl_t *t, int32_t pid, uint64_t at)
{
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_PROC_EXIT;
    r.h.tid = (uint32_t)pid;
    r.h.t_ns = T0 + at;
    r.u.exit.pid = pid;
    tbl_ingest(t, pid, &r);
}

/* One REC_MEM record: flags REC_M_*, at ns since t0. */
static void mem(tbl_t *t, int32_t pid, unsigned flags, uint64_t file, uint32_t line, uint64_t bytes, uint64_t volume,
                uint64_t at)
{
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_MEM;
    r.h.flags = (uint8_t)flags;
    r.h.tid = (uint32_t)pid;
    r.h.t_ns = T0 + at;
    r.u.mem.file_id = file;
    r.u.mem.func_id = file ^ 0x5a5a; /* some function of the file */
    r.u.mem.line = line;
    r.u.mem.func_line = file ? 1 : 0;
    r.u.mem.bytes = bytes;
    r.u.mem.volume = volume;
    tbl_ingest(t, pid, &r);
}

static void alloc(tbl_t *t, int32_t pid, uint64_t file, uint32_t line, uint64_t bytes, uint64_t at)
{
    mem(t, pid, REC_M_PYTHON, file, line, bytes, bytes, at);
}

static void release(tbl_t *t, int32_t pid, uint64_t file, uint32_t line, uint64_t bytes, uint64_t at)
{
    mem(t, pid, REC_M_PYTHON | REC_M_FREE, file, line, bytes, 0, at);
}

static void copy(tbl_t *t, int32_t pid, uint64_t file, uint32_t line, uint64_t bytes, uint64_t at)
{
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_COPY;
    r.h.tid = (uint32_t)pid;
    r.h.t_ns = T0 + at;
    r.u.copy.file_id = file;
    r.u.copy.func_id = file ^ 0x5a5a;
    r.u.copy.line = line;
    r.u.copy.func_line = 1;
    r.u.copy.bytes = bytes;
    tbl_ingest(t, pid, &r);
}

/* ---- reading the tables back ---- */

typedef struct find {
    int32_t pid;
    uint64_t file;
    uint32_t line;
    const tbl_mem_t *m;
    const tbl_proc_t *p;
} find_t;

static void find_line(const tbl_line_t *l, void *arg)
{
    find_t *f = arg;
    if (l->pid == f->pid && l->file_id == f->file && l->line == f->line)
        f->m = tbl_line_mem(l);
}

/* The memory block of (pid, file, line); pid 0: the merged row. */
static const tbl_mem_t *line_mem(tbl_t *t, int32_t pid, uint64_t file, uint32_t line)
{
    find_t f = {pid, file, line, NULL, NULL};
    if (pid)
        tbl_each_line(t, find_line, &f);
    else
        tbl_each_merged_line(t, find_line, &f);
    return f.m;
}

static void find_proc(const tbl_proc_t *p, void *arg)
{
    find_t *f = arg;
    if (p->pid == f->pid)
        f->p = p;
}

static const tbl_proc_t *proc(tbl_t *t, int32_t pid)
{
    find_t f = {pid, 0, 0, NULL, NULL};
    tbl_each_proc(t, find_proc, &f);
    return f.p;
}

static uint64_t rd(const tbl_mem_t *m, const uint64_t *field) { return m ? tbl_rd(field) : ~0ull; }

/* ---- the report ---- */

static json_object *report(tbl_t *t, int32_t main_pid, uint64_t end, bool memory)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_tbl_mem.%d.json", (int)getpid());
    rpt_meta_t m;
    memset(&m, 0, sizeof m);
    m.program = "/nonexistent/prog.py";
    m.entrypoint_dir = "/nonexistent";
    m.python = "/usr/bin/python3";
    m.t0_ns = T0;
    m.end_ns = T0 + end;
    m.main_pid = main_pid;
    m.interval_sec = 0.01;
    m.cpu_percent_threshold = 1.0;
    m.ncpus = 1;
    m.memory = memory;
    m.alloc_window = memory ? MIB : 0;
    m.copy_window = memory ? 2 * MIB : 0;
    int rc = rpt_write(t, &m, path);
    json_object *o = rc == 0 ? json_object_from_file(path) : NULL;
    unlink(path);
    return o;
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static double num(json_object *o, const char *key) { return json_object_get_double(get(o, key)); }

static json_object *line_obj(json_object *root, const char *file, int lineno)
{
    json_object *lines = get(get(get(root, "files"), file), "lines");
    for (size_t i = 0; lines && i < json_object_array_length(lines); i++) {
        json_object *l = json_object_array_get_idx(lines, i);
        if (json_object_get_int(get(l, "lineno")) == lineno)
            return l;
    }
    return NULL;
}

static json_object *proc_obj(json_object *root, int pid)
{
    json_object *ps = get(root, "processes");
    for (size_t i = 0; ps && i < json_object_array_length(ps); i++)
        if (json_object_get_int(get(json_object_array_get_idx(ps, i), "pid")) == pid)
            return json_object_array_get_idx(ps, i);
    return NULL;
}

static bool near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* Points [[ns, MB]...]: at most TBL_POINTS, strictly time-sorted. */
static bool good_series(json_object *a, size_t *n_out)
{
    if (!a || !json_object_is_type(a, json_type_array))
        return false;
    size_t n = json_object_array_length(a);
    if (n_out)
        *n_out = n;
    if (n > TBL_POINTS)
        return false;
    int64_t prev = -1;
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(a, i);
        if (json_object_array_length(p) != 2)
            return false;
        int64_t t = json_object_get_int64(json_object_array_get_idx(p, 0));
        if (t <= prev)
            return false;
        prev = t;
    }
    return true;
}

/* ---- the tests ---- */

#define TEST_WINDOW (64 * 1024ull)

/* A table whose allocation window is 64 KiB: the whole-MiB weights of the
 * tests below are then big blocks (growth at once), not k-window samples
 * of small blocks (test_growth covers those at the default window). */
static tbl_t *new_tbl(void)
{
    tbl_t *t = tbl_new(T0);
    if (t)
        tbl_mem_window(t, TEST_WINDOW);
    return t;
}

/* One process: allocations, frees, realloc moves, FINAL, exit, copies. */
static void test_one_process(void)
{
    tbl_t *t = new_tbl();
    uint64_t a = str(t, 100, "/w/a.py");
    start(t, 100, 0);
    for (int i = 0; i < 3; i++)
        alloc(t, 100, a, 10, 4 * MIB, (uint64_t)(i + 1) * SEC);
    release(t, 100, a, 10, 4 * MIB, 4 * SEC);
    const tbl_mem_t *m = line_mem(t, 100, a, 10);
    ok(rd(m, &m->live) == 8 * MIB && rd(m, &m->peak) == 12 * MIB, "line: live 8 MiB, peak 12 MiB after 3 x 4 allocated, 4 freed");
    ok(rd(m, &m->n_allocs) == 3 && rd(m, &m->n_frees) == 1 && rd(m, &m->freed_bytes) == 4 * MIB,
       "line: 3 allocation samples, 1 free of 4 MiB");

    /* realloc: the old block is credited back as a move, the new one arrives
     * with its weight and only the growth as volume */
    alloc(t, 100, a, 11, 2 * MIB, 5 * SEC);
    mem(t, 100, REC_M_PYTHON | REC_M_FREE | REC_M_MOVE, a, 11, 2 * MIB, 0, 6 * SEC);
    mem(t, 100, REC_M_PYTHON, a, 11, 3 * MIB, 1 * MIB, 6 * SEC);
    const tbl_mem_t *r = line_mem(t, 100, a, 11);
    ok(rd(r, &r->live) == 3 * MIB && rd(r, &r->n_frees) == 0 && rd(r, &r->moved_bytes) == 2 * MIB,
       "realloc: live 3 MiB, the move is no free");
    ok(rd(r, &r->volume) == 3 * MIB && rd(r, &r->alloc_bytes) == 5 * MIB, "realloc: volume 3 MiB (2 + growth 1), weights 5");

    /* a free of more than the line holds (a block sampled before) clamps at 0 */
    release(t, 100, a, 12, 1 * MIB, 6 * SEC);
    const tbl_mem_t *z = line_mem(t, 100, a, 12);
    ok(rd(z, &z->live) == 0 && rd(z, &z->n_frees) == 1, "a free with nothing live clamps at 0");

    const tbl_proc_t *p = proc(t, 100);
    ok(p && tbl_rd(&p->m.live) == 11 * MIB && tbl_rd(&p->m.peak) == 12 * MIB,
       "process: live 11 MiB (8 + 3), peak 12 MiB");

    mem(t, 100, REC_M_FINAL, 0, 0, 0, 0, 7 * SEC);
    alloc(t, 100, a, 10, 50 * MIB, 8 * SEC); /* after FINAL: ignored */
    ok(rd(m, &m->live) == 8 * MIB && p && tbl_rd(&p->m.peak) == 12 * MIB, "after FINAL, allocations do not count");
    copy(t, 100, a, 10, 10 * MIB, 8 * SEC);
    stop(t, 100, 9 * SEC);
    ok(rd(m, &m->live) == 0 && rd(m, &m->net_end) == 8 * MIB, "at exit the line's 8 MiB become its net at end");
    ok(p && tbl_rd(&p->m.live) == 0 && tbl_rd(&p->m.net_end) == 11 * MIB, "at exit the process's 11 MiB become its net");
    tbl_msum_t s;
    tbl_mem_summary(t, &s);
    ok(s.live == 0 && s.peak == 12 * MIB && s.peak_file_id == a && s.peak_line == 10,
       "run: footprint 0 after the exit, peak 12 MiB set at a.py:10");
    tbl_proc_gone(t, 100, T0 + 10 * SEC); /* the drain's own end: a no-op now */
    ok(rd(m, &m->net_end) == 8 * MIB, "tbl_proc_gone after PROC_EXIT changes nothing");

    json_object *j = report(t, 100, 10 * SEC, true);
    json_object *l10 = line_obj(j, "/w/a.py", 10);
    ok(j && json_object_get_boolean(get(j, "memory")), "report: memory true");
    ok(near(num(l10, "n_malloc_mb"), 12, 1e-9) && json_object_get_int(get(l10, "n_mallocs")) == 3 &&
           near(num(l10, "n_peak_mb"), 12, 1e-9) && near(num(l10, "n_growth_mb"), 12, 1e-9) &&
           near(num(l10, "n_net_mb"), 8, 1e-9) && near(num(l10, "n_freed_mb"), 4, 1e-9),
       "report a.py:10: malloc 12, 3 mallocs, peak 12, net 8, freed 4 (MB)");
    /* live after each sample: 4, 8, 12, 8 -> 8 MB on average */
    ok(near(num(l10, "n_avg_mb"), 8, 1e-6) && num(l10, "n_avg_mb") <= num(l10, "n_peak_mb"), "report: n_avg_mb 8 <= peak");
    ok(near(num(l10, "n_copy_mb_s"), 1.0, 1e-9), "report: 10 MB copied in 10 s: n_copy_mb_s 1");
    ok(near(num(l10, "n_usage_fraction"), 12.0 / 15.0, 1e-9), "report: usage fraction 12 of 15 MB");
    json_object *bp = get(get(l10, "by_process"), "100");
    ok(bp && near(num(bp, "n_net_mb"), 8, 1e-9) && good_series(get(bp, "memory_samples"), NULL),
       "report: by_process carries the memory fields");
    json_object *fn = get(j, "max_footprint_fname");
    ok(near(num(j, "max_footprint_mb"), 12, 1e-9) && json_object_get_int(get(j, "max_footprint_lineno")) == 10 &&
           fn && strcmp(json_object_get_string(fn), "/w/a.py") == 0,
       "report: max footprint 12 MB at /w/a.py:10");
    ok(near(num(j, "growth_rate"), 100.0 * 11 / 15, 1e-6), "report: growth_rate = 100 x 11 MB held / 15 MB allocated");
    ok(json_object_get_int(get(j, "alloc_samples")) == 8, "report: alloc_samples counts the 8 counted MEM samples");
    ok(near(num(proc_obj(j, 100), "peak_footprint_mb"), 12, 1e-9) &&
           get(proc_obj(j, 100), "peak_rss_mb") == NULL && near(num(proc_obj(j, 100), "copy_mb"), 10, 1e-9),
       "report: process peak 12 MB, copy 10 MB, no RSS known");
    json_object_put(j);
    tbl_free(t);
}

/* Two processes allocating 100 MiB each on the same line, with lifetimes
 * that overlap or follow each other. */
static void test_two_processes(bool overlap)
{
    tbl_t *t = new_tbl();
    uint64_t b = str(t, 200, "/w/b.py");
    const char *how = overlap ? "overlapping" : "sequential";
    start(t, 200, 0);
    if (overlap)
        start(t, 201, 0);
    for (int i = 0; i < 10; i++)
        alloc(t, 200, b, 5, 10 * MIB, (uint64_t)(i + 1) * SEC);
    if (!overlap) {
        stop(t, 200, 11 * SEC);
        start(t, 201, 12 * SEC);
    }
    for (int i = 0; i < 10; i++)
        alloc(t, 201, b, 5, 10 * MIB, (uint64_t)(i + 13) * SEC);
    tbl_msum_t s;
    tbl_mem_summary(t, &s);
    ok(s.peak == (overlap ? 200 : 100) * MIB, "%s: the run's peak footprint is %d MiB (got %.1f)", how,
       overlap ? 200 : 100, (double)s.peak / MIB);
    const tbl_mem_t *mg = line_mem(t, 0, b, 5);
    ok(rd(mg, &mg->peak) == (overlap ? 200 : 100) * MIB, "%s: the merged line's peak is the peak of the sum", how);
    const tbl_mem_t *m0 = line_mem(t, 200, b, 5), *m1 = line_mem(t, 201, b, 5);
    ok(rd(m0, &m0->peak) == 100 * MIB && rd(m1, &m1->peak) == 100 * MIB, "%s: each process's line peaked at 100 MiB",
       how);
    stop(t, 201, 30 * SEC);
    if (overlap)
        tbl_proc_gone(t, 200, T0 + 31 * SEC); /* ended without an exit record: the drain says so */
    tbl_mem_summary(t, &s);
    ok(s.live == 0 && rd(mg, &mg->live) == 0 && rd(mg, &mg->net_end) == 200 * MIB,
       "%s: after both ended nothing is live; merged net at end is 200 MiB", how);
    json_object *j = report(t, 200, 32 * SEC, true);
    json_object *l5 = line_obj(j, "/w/b.py", 5);
    ok(near(num(l5, "n_peak_mb"), overlap ? 200 : 100, 1e-9) && near(num(l5, "n_net_mb"), 200, 1e-9) &&
           near(num(get(get(l5, "by_process"), "201"), "n_peak_mb"), 100, 1e-9),
       "%s: report line peak %d MB, net 200 MB, pid 201's peak 100 MB", how, overlap ? 200 : 100);
    size_t n = 0;
    bool good = good_series(get(j, "samples"), &n);
    ok(good && n > 0 && near(num(j, "max_footprint_mb"), overlap ? 200 : 100, 1e-9),
       "%s: samples time-sorted (%zu points), max_footprint_mb %d", how, n, overlap ? 200 : 100);
    json_object_put(j);
    tbl_free(t);
}

/* The leak rule on lines of one process. */
static void test_leaks(void)
{
    tbl_t *t = new_tbl();
    uint64_t c = str(t, 300, "/w/c.py");
    start(t, 300, 0);
    /* line 1: grows 1 MiB every 2 s from 2 s to 60 s and never frees: a leak */
    for (int i = 0; i < 30; i++)
        alloc(t, 300, c, 1, MIB, (uint64_t)(i + 1) * 2 * SEC);
    /* line 2: churn: allocates and frees, 30 times */
    for (int i = 0; i < 30; i++) {
        alloc(t, 300, c, 2, 2 * MIB, (uint64_t)(i + 1) * SEC);
        release(t, 300, c, 2, 2 * MIB, (uint64_t)(i + 1) * SEC + SEC / 2);
    }
    /* line 3: one big allocation kept to the end */
    alloc(t, 300, c, 3, 200 * MIB, 1 * SEC);
    /* line 4: grew fast, then almost stopped: 20 MiB by 20 s, 2 more at 59-60 s */
    for (int i = 0; i < 20; i++)
        alloc(t, 300, c, 4, MIB, (uint64_t)(i + 1) * SEC);
    alloc(t, 300, c, 4, MIB, 59 * SEC);
    alloc(t, 300, c, 4, MIB, 60 * SEC);
    /* line 5: grows steadily but in small steps: below 1% of the 255 MiB peak */
    for (int i = 0; i < 30; i++)
        alloc(t, 300, c, 5, MIB / 16, (uint64_t)(i + 1) * SEC);
    /* line 6: grows steadily (60 x 0.5 MiB in 30 s), then gives 5 of its 30
     * MiB back: likely (1 - 2/62) and growing, but below 0.9 x its peak */
    for (int i = 0; i < 60; i++)
        alloc(t, 300, c, 6, MIB / 2, (uint64_t)(i + 1) * (SEC / 2));
    release(t, 300, c, 6, 5 * MIB, 31 * SEC);
    /* line 7: a table built steadily at start-up (30 x 1 MiB from 1 s to
     * 15.5 s) and kept: grows, never frees, but over a quarter of the life */
    for (int i = 0; i < 30; i++)
        alloc(t, 300, c, 7, MIB, SEC + (uint64_t)i * (SEC / 2));
    mem(t, 300, REC_M_FINAL, 0, 0, 0, 0, 61 * SEC);
    stop(t, 300, 62 * SEC);
    json_object *j = report(t, 300, 62 * SEC, true);
    json_object *leaks = get(get(get(j, "files"), "/w/c.py"), "leaks");
    json_object *l1 = get(leaks, "1");
    ok(l1 != NULL, "leak: a steadily growing line is reported");
    ok(l1 && near(num(l1, "likelihood"), 1.0 - 1.0 / 32.0, 1e-9), "leak: likelihood 1 - (0+1)/(30+2) (got %.4f)",
       l1 ? num(l1, "likelihood") : -1);
    ok(l1 && near(num(l1, "velocity_mb_s"), 0.5, 1e-6), "leak: velocity (30 - 1) MB / (60 - 2) s = 0.5 MB/s (got %.4f)",
       l1 ? num(l1, "velocity_mb_s") : -1);
    ok(!get(leaks, "2"), "no leak: churn");
    ok(!get(leaks, "3"), "no leak: one big allocation");
    ok(!get(leaks, "4"), "no leak: growth that stopped before the second half");
    ok(!get(leaks, "5"), "no leak: growth below 1%% of the process's peak");
    ok(!get(leaks, "6"), "no leak: memory given back at the end");
    ok(!get(leaks, "7"), "no leak: a table built in a burst at start-up and kept");
    ok(leaks && json_object_object_length(leaks) == 1, "exactly one leak in c.py");
    json_object_put(j);
    tbl_free(t);
}

/* A leak whose process takes long to tear down after FINAL (a big heap on
 * a loaded machine): its life for the leak rule ends at FINAL. */
static void test_leak_teardown(void)
{
    tbl_t *t = new_tbl();
    uint64_t c = str(t, 310, "/w/c2.py");
    start(t, 310, 0);
    for (int i = 0; i < 40; i++)
        alloc(t, 310, c, 1, MIB, SEC + (uint64_t)i * (SEC / 4)); /* 1 s to 10.75 s */
    mem(t, 310, REC_M_FINAL, 0, 0, 0, 0, 11 * SEC);
    stop(t, 310, 30 * SEC); /* 19 s of teardown */
    json_object *j = report(t, 310, 30 * SEC, true);
    json_object *l1 = get(get(get(get(j, "files"), "/w/c2.py"), "leaks"), "1");
    ok(l1 && near(num(l1, "likelihood"), 1.0 - 1.0 / 42.0, 1e-9),
       "leak: growth over 1..10.75 s of a life that ends at FINAL (11 s), not at exit (30 s)");
    json_object_put(j);
    tbl_free(t);
}

/* Python fraction, native allocations (no frame), out-of-scope sites. */
static void test_fractions(void)
{
    tbl_t *t = new_tbl();
    uint64_t d = str(t, 400, "/w/d.py"), lib = str(t, 400, "/usr/lib/x.py");
    start(t, 400, 0);
    mem(t, 400, REC_M_PYTHON, d, 7, 3 * MIB, 3 * MIB, 1 * SEC);
    mem(t, 400, 0, d, 7, MIB, MIB, 2 * SEC);
    mem(t, 400, REC_M_NOFRAME, 0, 0, 4 * MIB, 4 * MIB, 3 * SEC);
    mem(t, 400, REC_M_OUTSIDE | REC_M_PYTHON, lib, 9, 2 * MIB, 2 * MIB, 4 * SEC);
    ok(line_mem(t, 400, lib, 9) == NULL, "an out-of-scope site makes no row (as for CPU)");
    mem(t, 400, REC_M_OUTSIDE | REC_M_PYTHON | REC_M_FREE, lib, 9, 2 * MIB, 0, 5 * SEC);
    const tbl_proc_t *p = proc(t, 400);
    ok(p && tbl_rd(&p->m.live) == 8 * MIB && tbl_rd(&p->m.py_live) == 3 * MIB,
       "process: 8 MiB live, 3 Python, after the out-of-scope free");
    mem(t, 400, REC_M_RSS, 0, 0, 64 * MIB, 0, 6 * SEC);
    mem(t, 400, REC_M_RSS, 0, 0, 48 * MIB, 0, 7 * SEC);
    json_object *j = report(t, 400, 10 * SEC, true);
    json_object *l7 = line_obj(j, "/w/d.py", 7);
    ok(near(num(l7, "n_python_fraction"), 0.75, 1e-9), "python fraction 3 of 4 MB (got %.3f)", num(l7, "n_python_fraction"));
    ok(near(num(j, "native_allocations_mb"), 4, 1e-9), "native_allocations_mb: the 4 MB with no frame");
    ok(near(num(j, "max_footprint_mb"), 10, 1e-9) && near(num(j, "max_footprint_python_fraction"), 0.5, 1e-9),
       "peak 10 MB (3 + 1 + 4 + 2), half of it Python");
    ok(json_object_get_int(get(j, "max_footprint_lineno")) == 9, "the peak names the out-of-scope site that set it");
    json_object *po = proc_obj(j, 400);
    ok(near(num(po, "python_malloc_mb"), 5, 1e-9) && near(num(po, "native_malloc_mb"), 5, 1e-9),
       "process: 5 MB allocated by Python, 5 natively");
    size_t n = 0;
    bool good = good_series(get(po, "rss_samples"), &n);
    ok(near(num(po, "peak_rss_mb"), 64, 1e-9) && good && n == 2,
       "process: peak RSS 64 MB, 2 RSS samples");
    json_object_put(j);
    tbl_free(t);
}

/* A long run: every timeline stays within TBL_POINTS, spread over time. */
static void test_timeline(void)
{
    tbl_t *t = new_tbl();
    uint64_t e = str(t, 500, "/w/e.py");
    start(t, 500, 0);
    for (int i = 1; i <= 10000; i++)
        alloc(t, 500, e, 3, MIB / 64, (uint64_t)i * (SEC / 100)); /* 100 s */
    /* the line's timeline is its held level (issue 11), which takes the last
     * rise (< TBL_HOLD_NS old) when the process ends holding it */
    stop(t, 500, 100 * SEC + SEC / 2);
    json_object *j = report(t, 500, 101 * SEC, true);
    json_object *ms = get(line_obj(j, "/w/e.py", 3), "memory_samples");
    size_t n = 0;
    bool good = good_series(ms, &n);
    ok(good && n >= TBL_POINTS / 2 - 1 && n <= TBL_POINTS, "line timeline: %zu points (bounded, not thinned away)", n);
    double first = n ? (double)json_object_get_int64(json_object_array_get_idx(json_object_array_get_idx(ms, 0), 0)) / 1e9 : -1;
    json_object *lastp = n ? json_object_array_get_idx(ms, n - 1) : NULL;
    double last = lastp ? (double)json_object_get_int64(json_object_array_get_idx(lastp, 0)) / 1e9 : -1;
    double lastv = lastp ? json_object_get_double(json_object_array_get_idx(lastp, 1)) : -1;
    ok(first < 1.0 && near(last, 100.0, 1e-9) && near(lastv, 10000.0 / 64, 1e-9),
       "line timeline spans the run: first %.2f s, last %.2f s with the final %.1f MB", first, last, lastv);
    double maxgap = 0;
    for (size_t i = 1; i < n; i++) {
        double a = (double)json_object_get_int64(json_object_array_get_idx(json_object_array_get_idx(ms, i - 1), 0));
        double b = (double)json_object_get_int64(json_object_array_get_idx(json_object_array_get_idx(ms, i), 0));
        if (b - a > maxgap)
            maxgap = b - a;
    }
    ok(maxgap <= 5.0 * 100.0 * 1e9 / TBL_POINTS, "line timeline evenly spread: largest gap %.2f s", maxgap / 1e9);
    good = good_series(get(j, "samples"), &n);
    ok(good && n <= TBL_POINTS && n >= TBL_POINTS / 2 - 1,
       "run timeline bounded too: %zu points", n);
    json_object_put(j);
    tbl_free(t);
}

/* Growth (issue 11, docs/MEMORY.md "Growth") at the default 1 MiB window:
 * whole-window weights are samples of small blocks. */
static void test_growth(void)
{
    tbl_t *t = tbl_new(T0);
    uint64_t h = str(t, 800, "/w/h.py");
    start(t, 800, 0);
    const uint64_t MS = SEC / 1000, US = SEC / 1000000;
    /* line 20: churn: 200 one-window samples, each freed 1 us later, 10 ms apart */
    for (int i = 0; i < 200; i++) {
        alloc(t, 800, h, 20, MIB, SEC + (uint64_t)i * 10 * MS);
        release(t, 800, h, 20, MIB, SEC + (uint64_t)i * 10 * MS + US);
    }
    /* line 21: kept: 100 one-window samples 10 ms apart, never freed */
    for (int i = 0; i < 100; i++)
        alloc(t, 800, h, 21, MIB, SEC + (uint64_t)i * 10 * MS);
    /* line 22: one line keeps a window every 20 ms and churns one between */
    for (int i = 0; i < 50; i++) {
        alloc(t, 800, h, 22, MIB, SEC + (uint64_t)i * 20 * MS);
        alloc(t, 800, h, 22, MIB, SEC + (uint64_t)i * 20 * MS + 10 * MS);
        release(t, 800, h, 22, MIB, SEC + (uint64_t)i * 20 * MS + 10 * MS + US);
    }
    /* line 23: a big block (100e6 + 1 bytes) made and freed 1 ms later, twice */
    for (int i = 0; i < 2; i++) {
        alloc(t, 800, h, 23, 100000001, 2 * SEC + (uint64_t)i * SEC);
        release(t, 800, h, 23, 100000001, 2 * SEC + (uint64_t)i * SEC + MS);
    }
    /* line 24: three-window samples (a block near the window crossed the
     * countdown three times), freed at once: still churn */
    for (int i = 0; i < 50; i++) {
        alloc(t, 800, h, 24, 3 * MIB, SEC + (uint64_t)i * 10 * MS);
        release(t, 800, h, 24, 3 * MIB, SEC + (uint64_t)i * 10 * MS + US);
    }
    /* line 25: one window held 0.5 s, then freed */
    alloc(t, 800, h, 25, MIB, SEC);
    release(t, 800, h, 25, MIB, SEC + SEC / 2);
    const tbl_mem_t *l20 = line_mem(t, 800, h, 20), *l21 = line_mem(t, 800, h, 21), *l22 = line_mem(t, 800, h, 22);
    ok(rd(l20, &l20->growth) == 0 && rd(l20, &l20->n_growth) == 0 && rd(l20, &l20->peak) == 0 &&
           rd(l20, &l20->n_giveback) == 0 && rd(l20, &l20->volume) == 200 * MIB,
       "churn: volume 200 MiB, growth %.1f MiB, %llu growth samples, peak 0, no give-back",
       (double)rd(l20, &l20->growth) / MIB, (unsigned long long)rd(l20, &l20->n_growth));
    ok(rd(l21, &l21->growth) >= 79 * MIB && rd(l21, &l21->growth) <= 100 * MIB,
       "kept, process running: growth %.0f MiB of 100 (all but the last 200 ms)", (double)rd(l21, &l21->growth) / MIB);
    /* the runtime's RSS marks, every 100 ms: the clock that settles rows
     * that get no record (line 21 got its last at 1.99 s) */
    for (uint64_t at = 2 * SEC; at < 7 * SEC; at += 100 * MS)
        mem(t, 800, REC_M_RSS, 0, 0, 64 * MIB, 0, at);
    ok(rd(l21, &l21->growth) == 100 * MIB, "kept, after RSS marks: growth 100 MiB (got %.0f)",
       (double)rd(l21, &l21->growth) / MIB);
    const tbl_mem_t *l23 = line_mem(t, 800, h, 23), *l24 = line_mem(t, 800, h, 24), *l25 = line_mem(t, 800, h, 25);
    ok(rd(l23, &l23->growth) == 200000002 && rd(l23, &l23->n_growth) == 2 && rd(l23, &l23->peak) == 100000001 &&
           rd(l23, &l23->n_giveback) == 2,
       "big block made and freed twice: growth 2 x 100e6+1, 2 growth samples, peak one block, 2 give-backs");
    ok(rd(l24, &l24->growth) == 0 && rd(l24, &l24->volume) == 150 * MIB,
       "three-window samples freed at once: no growth (got %.0f MiB)", (double)rd(l24, &l24->growth) / MIB);
    ok(rd(l25, &l25->growth) == MIB && rd(l25, &l25->n_giveback) == 1 && rd(l25, &l25->live) == 0,
       "a window held 0.5 s then freed: growth 1 MiB, one give-back");
    /* a second process keeps 10 windows on line 21 too: merged = sum */
    start(t, 801, 0);
    for (int i = 0; i < 10; i++)
        alloc(t, 801, h, 21, MIB, 3 * SEC + (uint64_t)i * 200 * MS);
    stop(t, 801, 6 * SEC);
    mem(t, 800, REC_M_FINAL, 0, 0, 0, 0, 7 * SEC);
    stop(t, 800, 8 * SEC);
    ok(rd(l21, &l21->growth) == 100 * MIB && rd(l21, &l21->n_growth) == 100 && rd(l21, &l21->peak) == 100 * MIB,
       "kept, after FINAL: growth 100 MiB, 100 growth samples, peak 100 MiB (got %.0f, %llu)",
       (double)rd(l21, &l21->growth) / MIB, (unsigned long long)rd(l21, &l21->n_growth));
    ok(rd(l22, &l22->growth) == 50 * MIB && rd(l22, &l22->n_growth) == 50 && rd(l22, &l22->n_giveback) == 0 &&
           rd(l22, &l22->volume) == 100 * MIB,
       "kept + churn on one line: growth 50 MiB of 100 allocated, 50 growth samples, no give-back (got %.0f, %llu, %llu)",
       (double)rd(l22, &l22->growth) / MIB, (unsigned long long)rd(l22, &l22->n_growth),
       (unsigned long long)rd(l22, &l22->n_giveback));
    const tbl_mem_t *mg = line_mem(t, 0, h, 21);
    ok(rd(mg, &mg->growth) == 110 * MIB && rd(mg, &mg->n_growth) == 110 && rd(mg, &mg->peak) == 110 * MIB,
       "merged: growth and growth samples add up over processes (110 MiB, 110), peak of the sum 110 MiB");
    json_object *j = report(t, 800, 9 * SEC, true);
    json_object *j20 = line_obj(j, "/w/h.py", 20), *j21 = line_obj(j, "/w/h.py", 21);
    ok(near(num(j20, "n_malloc_mb"), 0, 1e-9) && near(num(j20, "n_alloc_volume_mb"), 200, 1e-9) &&
           json_object_get_int(get(j20, "n_mallocs")) == 0 && near(num(j20, "n_peak_mb"), 0, 1e-9),
       "report churn line: n_malloc_mb 0, n_alloc_volume_mb 200, n_mallocs 0, n_peak_mb 0");
    ok(near(num(j21, "n_malloc_mb"), 110, 1e-9) && near(num(j21, "n_alloc_volume_mb"), 110, 1e-9) &&
           json_object_get_int(get(j21, "n_mallocs")) == 110 && near(num(j21, "n_net_mb"), 110, 1e-9) &&
           near(num(get(get(j21, "by_process"), "801"), "n_malloc_mb"), 10, 1e-9),
       "report kept line: n_malloc_mb 110 = volume = net, n_mallocs 110, pid 801's share 10");
    /* all growth: 110 + 50 + 190.7 + 0 + 1 MiB */
    double total = 161.0 + 200000002.0 / MIB;
    ok(near(num(j21, "n_usage_fraction"), 110.0 / total, 1e-9) && near(num(j20, "n_usage_fraction"), 0, 1e-9),
       "n_usage_fraction: the line's share of all growth (%.4f)", num(j21, "n_usage_fraction"));
    ok(get(get(get(j, "files"), "/w/h.py"), "leaks") && !get(get(get(get(j, "files"), "/w/h.py"), "leaks"), "20"),
       "churn is no leak");
    json_object_put(j);
    tbl_free(t);
}

static double series_max(json_object *a, int64_t *at)
{
    double mx = -1;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *p = json_object_array_get_idx(a, i);
        double v = json_object_get_double(json_object_array_get_idx(p, 1));
        if (v > mx) {
            mx = v;
            if (at)
                *at = json_object_get_int64(json_object_array_get_idx(p, 0));
        }
    }
    return mx;
}

/* The lowest value of series a strictly between times lo and hi (ns). */
static double series_min_in(json_object *a, int64_t lo, int64_t hi)
{
    double mn = 1e300;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *p = json_object_array_get_idx(a, i);
        int64_t t = json_object_get_int64(json_object_array_get_idx(p, 0));
        double v = json_object_get_double(json_object_array_get_idx(p, 1));
        if (t > lo && t < hi && v < mn)
            mn = v;
    }
    return mn;
}

/* Thinning keeps peaks and troughs (issue 11): a busy run (thousands of
 * samples, every timeline thinned many times) with a 1 ms spike of 200 MiB
 * and a 1 ms dip to 0 in a 50 MiB plateau. */
static void test_thinning(void)
{
    tbl_t *t = new_tbl();
    uint64_t k = str(t, 900, "/w/k.py");
    start(t, 900, 0);
    const uint64_t MS = SEC / 1000;
    alloc(t, 900, k, 2, 50 * MIB + 1, SEC / 2); /* the plateau, 0.5 s to 4.5 s */
    for (int i = 0; i < 5000; i++) {
        uint64_t at = (uint64_t)i * MS;
        /* noise: a 3 MiB + 1 block made and freed on line 1 every ms */
        alloc(t, 900, k, 1, 3 * MIB + 1, at + 1);
        release(t, 900, k, 1, 3 * MIB + 1, at + 2);
        if (i == 2500) { /* the spike */
            alloc(t, 900, k, 3, 200 * MIB + 1, at + 3);
            release(t, 900, k, 3, 200 * MIB + 1, at + MS / 2);
        }
        if (i == 3500) { /* the dip */
            release(t, 900, k, 2, 50 * MIB + 1, at + 3);
            alloc(t, 900, k, 2, 50 * MIB + 1, at + MS / 2);
        }
    }
    release(t, 900, k, 2, 50 * MIB + 1, 4500 * MS);
    stop(t, 900, 5 * SEC);
    json_object *j = report(t, 900, 5 * SEC, true);
    json_object *run = get(j, "samples"), *fp = get(proc_obj(j, 900), "footprint_samples");
    json_object *l1 = get(line_obj(j, "/w/k.py", 1), "memory_samples"), *l2 = get(line_obj(j, "/w/k.py", 2), "memory_samples");
    json_object *l3 = get(line_obj(j, "/w/k.py", 3), "memory_samples");
    size_t n1 = 0, n2 = 0, n3 = 0;
    bool good = good_series(run, &n1) && good_series(fp, &n2) && good_series(l1, &n3);
    ok(good && n1 > TBL_POINTS / 4 && n2 > TBL_POINTS / 4 && n3 > TBL_POINTS / 4,
       "thinned timelines stay bounded and time-sorted (run %zu, process %zu, noise line %zu points)", n1, n2, n3);
    int64_t at = 0;
    double peak = 253.0 + 2.0 / MIB, mx = series_max(run, &at); /* plateau + spike + one noise block */
    ok(mx >= 250.0 && mx <= peak && at >= 2500 * (int64_t)MS && at < 2501 * (int64_t)MS,
       "run samples keep the 1 ms spike: max %.1f MiB at %.4f s", mx, (double)at / 1e9);
    ok(series_max(fp, NULL) >= 250.0, "process footprint_samples keep the spike: max %.1f MiB", series_max(fp, NULL));
    ok(near(series_max(l3, NULL), 200.0, 1e-3), "the spike line's memory_samples keep it: %.1f MiB", series_max(l3, NULL));
    ok(series_min_in(run, SEC, 4 * SEC) <= 3.01 && series_min_in(fp, SEC, 4 * SEC) <= 3.01,
       "the 1 ms dip of the 50 MiB plateau survives: run min %.1f, process min %.1f MiB in 1..4 s",
       series_min_in(run, SEC, 4 * SEC), series_min_in(fp, SEC, 4 * SEC));
    ok(series_min_in(l2, SEC, 4 * SEC) <= 1e-6 && near(series_max(l2, NULL), 50.0, 1e-3),
       "the plateau line's memory_samples keep its dip to 0 and its 50 MiB");
    ok(near(num(line_obj(j, "/w/k.py", 1), "n_malloc_mb"), 5000 * (3.0 + 1.0 / MIB), 1e-3),
       "3 MiB + 1 blocks (big) made and freed: growth = volume, as in Scalene");
    json_object_put(j);
    tbl_free(t);
}

/* --cpu-only: no memory records; the fields are there, zero or empty. */
static void test_memory_off(void)
{
    tbl_t *t = new_tbl();
    uint64_t f = str(t, 600, "/w/f.py");
    start(t, 600, 0);
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_CPU;
    r.h.flags = REC_F_MAIN;
    r.h.tid = 600;
    r.h.t_ns = T0 + SEC;
    r.u.cpu.file_id = f;
    r.u.cpu.line = 2;
    r.u.cpu.cpu_ns = 10000000;
    r.u.cpu.wall_ns = 10000000;
    tbl_ingest(t, 600, &r);
    json_object *j = report(t, 600, 2 * SEC, false);
    json_object *l2 = line_obj(j, "/w/f.py", 2);
    size_t n = 1;
    ok(j && !json_object_get_boolean(get(j, "memory")) && num(j, "max_footprint_mb") == 0 &&
           good_series(get(j, "samples"), &n) && n == 0 && get(j, "max_footprint_fname") == NULL,
       "memory off: memory false, max_footprint_mb 0, samples [], no peak site");
    ok(l2 && get(l2, "n_malloc_mb") && num(l2, "n_malloc_mb") == 0 && num(l2, "n_net_mb") == 0 &&
           json_object_array_length(get(l2, "memory_samples")) == 0,
       "memory off: line fields present and zero");
    ok(json_object_object_length(get(get(get(j, "files"), "/w/f.py"), "leaks")) == 0, "memory off: leaks {}");
    json_object_put(j);
    tbl_free(t);
}

/* A report thread against a live writer: every snapshot is consistent
 * enough (live <= peak, time-sorted timelines), and under TSan, race-free. */
typedef struct live_ctx {
    tbl_t *t;
    atomic_int stop; /* release by the writer when done; acquire by the reader */
    int reports, bad;
} live_ctx_t;

static void *reader(void *arg)
{
    live_ctx_t *c = arg;
    rcu_register_thread();
    uint64_t last_peak = 0;
    /* acquire: pairs with the writer's release store of stop */
    while (!atomic_load_explicit(&c->stop, memory_order_acquire) || c->reports < 2) {
        tbl_msum_t s;
        tbl_mem_summary(c->t, &s);
        if (s.peak < last_peak || s.tl.n > TBL_POINTS)
            c->bad++;
        last_peak = s.peak;
        for (uint64_t i = 1; i < s.tl.n; i++)
            if (s.tl.p[i].t_ns <= s.tl.p[i - 1].t_ns)
                c->bad++;
        json_object *j = report(c->t, 700, 50 * SEC, true);
        size_t n;
        if (!j || !good_series(get(line_obj(j, "/w/g.py", 1), "memory_samples"), &n))
            c->bad++;
        json_object_put(j);
        c->reports++;
    }
    rcu_unregister_thread();
    return NULL;
}

static void test_concurrent_report(void)
{
    tbl_t *t = new_tbl();
    uint64_t g = str(t, 700, "/w/g.py");
    /* rows exist before the reader starts: new hash rows are published by
     * liburcu's barriers, which TSan does not see (tests/tsan.supp policy) */
    start(t, 700, 0);
    start(t, 701, 0);
    alloc(t, 700, g, 1, MIB, 1);
    alloc(t, 701, g, 1, MIB, 1);
    live_ctx_t c = {.t = t};
    atomic_init(&c.stop, 0);
    pthread_t th;
    if (!ok(pthread_create(&th, NULL, reader, &c) == 0, "reader thread started"))
        return;
    for (int i = 0; i < 20000; i++) {
        int32_t pid = 700 + (i & 1);
        uint64_t at = 2 + (uint64_t)i * (SEC / 1000);
        alloc(t, pid, g, 1, MIB, at);
        if (i % 3 == 0)
            release(t, pid, g, 1, MIB, at + 1);
        if (i % 500 == 0)
            copy(t, pid, g, 1, MIB, at);
    }
    /* release: the writes above happen before the reader's last rounds */
    atomic_store_explicit(&c.stop, 1, memory_order_release);
    pthread_join(th, NULL);
    ok(c.bad == 0, "concurrent reports: %d snapshots, %d inconsistent", c.reports, c.bad);
    const tbl_mem_t *mg = line_mem(t, 0, g, 1);
    const tbl_mem_t *a = line_mem(t, 700, g, 1), *b = line_mem(t, 701, g, 1);
    ok(rd(mg, &mg->live) == rd(a, &a->live) + rd(b, &b->live), "merged live = the sum of the processes' (%.0f MiB)",
       (double)rd(mg, &mg->live) / MIB);
    tbl_free(t);
}

int main(void)
{
    plan(82);
    rcu_register_thread();
    test_one_process();
    test_two_processes(true);
    test_two_processes(false);
    test_leaks();
    test_leak_teardown();
    test_fractions();
    test_timeline();
    test_growth();
    test_thinning();
    test_memory_off();
    test_concurrent_report();
    rcu_unregister_thread();
    return done_testing();
}
