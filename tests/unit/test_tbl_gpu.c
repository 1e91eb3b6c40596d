/* SPDX-License-Identifier: Apache-2.0
 * test_tbl_gpu.c — the GPU side of the aggregator's tables (aggregator/tbl.c,
 * issue 7; semantics in docs/GPU.md): synthetic main-thread CPU records and
 * GPU polls (tbl_gpu_use / tbl_gpu_upto), fed in both orders, must charge
 * each line with its process's GPU use over the same time: utilisation x
 * overlap, covered time, mean and peak GPU memory; the process's GPU-seconds
 * from the polls alone; nothing for other threads' records; records past the
 * polls wait, and tbl_gpu_flush charges what is known; time whose uses were
 * pushed out of the history is left uncovered, not counted as idle.
 * Context: thread.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "record.h"
#include "tap.h"
#include "tbl.h"

#define MS 1000000ull
#define MIB (1ull << 20)
#define T0 (1000 * 1000 * MS) /* the run's t0 (CLOCK_MONOTONIC ns) */

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

static void start(tbl_t *t, int32_t pid)
{
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_PROC_START;
    r.h.tid = (uint32_t)pid;
    r.h.t_ns = T0;
    r.u.proc.pid = pid;
    r.u.proc.ppid = 1;
    r.u.proc.start_ns = T0;
    r.u.proc.pyver = 0x030b0000;
    tbl_ingest(t, pid, &r);
}

/* CPU records of pid's thread tid on `line` (its own function, first line
 * = line) every 10 ms over [from, to) ms since t0. */
static void cpu(tbl_t *t, int32_t pid, int32_t tid, uint64_t file, uint32_t line, uint64_t from, uint64_t to)
{
    for (uint64_t ms = from; ms < to; ms += 10) {
        rec_t r;
        memset(&r, 0, sizeof r);
        r.h.kind = REC_CPU;
        r.h.flags = pid == tid ? REC_F_MAIN : 0;
        r.h.tid = (uint32_t)tid;
        r.h.t_ns = T0 + (ms + 10) * MS;
        r.u.cpu.file_id = file;
        r.u.cpu.func_id = file ^ line;
        r.u.cpu.line = line;
        r.u.cpu.func_line = line;
        r.u.cpu.cpu_ns = 10 * MS;
        r.u.cpu.wall_ns = 10 * MS;
        tbl_ingest(t, pid, &r);
    }
}

/* Polls every `step` ms over [from, to) ms: pid used util_bp and mem over
 * each (when its [a, b) lies in [ufrom, uto)), then the poll closes. */
static void polls(tbl_t *t, int32_t pid, uint64_t from, uint64_t to, uint64_t step, uint64_t ufrom, uint64_t uto,
                  uint32_t util_bp, uint64_t mem)
{
    for (uint64_t ms = from; ms < to; ms += step) {
        if (ms >= ufrom && ms + step <= uto)
            tbl_gpu_use(t, pid, T0 + ms * MS, T0 + (ms + step) * MS, util_bp, mem);
        tbl_gpu_upto(t, T0 + ms * MS, T0 + (ms + step) * MS);
    }
}

typedef struct find {
    int32_t pid;
    uint32_t line;
    tbl_gpu_t g;
    bool found;
} find_t;

static void find_line(const tbl_line_t *l, void *arg)
{
    find_t *f = arg;
    if (l->pid == f->pid && l->line == f->line) {
        f->g = (tbl_gpu_t){tbl_rd(&l->g.util_ns), tbl_rd(&l->g.wall_ns), tbl_rd(&l->g.mem_mib_us),
                           tbl_rd(&l->g.mem_peak)};
        f->found = true;
    }
}

static void find_func(const tbl_func_t *fn, void *arg)
{
    find_t *f = arg;
    if (fn->pid == f->pid && fn->func_line == f->line) {
        f->g = (tbl_gpu_t){tbl_rd(&fn->g.util_ns), tbl_rd(&fn->g.wall_ns), tbl_rd(&fn->g.mem_mib_us),
                           tbl_rd(&fn->g.mem_peak)};
        f->found = true;
    }
}

static void find_proc(const tbl_proc_t *p, void *arg)
{
    find_t *f = arg;
    if (p->pid == f->pid) {
        f->g = (tbl_gpu_t){tbl_rd(&p->g.util_ns), tbl_rd(&p->g.wall_ns), tbl_rd(&p->g.mem_mib_us),
                           tbl_rd(&p->g.mem_peak)};
        f->found = true;
    }
}

static tbl_gpu_t line_gpu(tbl_t *t, int32_t pid, uint32_t line)
{
    find_t f = {pid, line, {0, 0, 0, 0}, false};
    tbl_each_line(t, find_line, &f);
    return f.g;
}

static tbl_gpu_t func_gpu(tbl_t *t, int32_t pid, uint32_t line)
{
    find_t f = {pid, line, {0, 0, 0, 0}, false};
    tbl_each_func(t, find_func, &f);
    return f.g;
}

static tbl_gpu_t proc_gpu(tbl_t *t, int32_t pid)
{
    find_t f = {pid, 0, {0, 0, 0, 0}, false};
    tbl_each_proc(t, find_proc, &f);
    return f.g;
}

static double pct(tbl_gpu_t g) { return g.wall_ns ? 100.0 * (double)g.util_ns / (double)g.wall_ns : -1; }
static double avg_mib(tbl_gpu_t g) { return g.wall_ns ? (double)g.mem_mib_us / ((double)g.wall_ns / 1000.0) : -1; }
static bool near(double a, double b, double tol) { return a >= b - tol && a <= b + tol; }

/* Phase A (line 10, 0-500 ms) at 80 % holding 256 MiB, phase B (line 20,
 * 500-1000 ms) idle; records drained before the polls (records_first) or
 * after them. Another thread's records (line 30) get nothing. */
static void test_phases(bool records_first)
{
    const char *how = records_first ? "records first" : "polls first";
    tbl_t *t = tbl_new(T0);
    const int32_t pid = 100;
    uint64_t file = str(t, pid, "/w/prog.py");
    start(t, pid);
    tbl_gpu_upto(t, T0, T0); /* GPU accounting on from t0 */
    if (records_first) {
        cpu(t, pid, pid, file, 10, 0, 500);
        cpu(t, pid, pid, file, 20, 500, 1000);
        cpu(t, pid, pid + 1, file, 30, 0, 1000);
    }
    polls(t, pid, 0, 1000, 20, 0, 500, 8000, 256 * MIB);
    if (!records_first) {
        cpu(t, pid, pid, file, 10, 0, 500);
        cpu(t, pid, pid, file, 20, 500, 1000);
        cpu(t, pid, pid + 1, file, 30, 0, 1000);
    }
    tbl_gpu_t a = line_gpu(t, pid, 10), b = line_gpu(t, pid, 20), other = line_gpu(t, pid, 30);
    ok(a.wall_ns == 500 * MS && near(pct(a), 80.0, 0.01), "%s: phase A's line covered %.0f ms at %.2f %%", how,
       (double)a.wall_ns / MS, pct(a));
    ok(near(avg_mib(a), 256.0, 0.01) && a.mem_peak == 256 * MIB, "%s: phase A's GPU memory mean %.2f MiB, peak %llu MiB",
       how, avg_mib(a), (unsigned long long)(a.mem_peak / MIB));
    ok(b.wall_ns == 500 * MS && b.util_ns == 0 && b.mem_peak == 0, "%s: phase B's line: %.0f ms covered, idle", how,
       (double)b.wall_ns / MS);
    ok(other.wall_ns == 0 && other.util_ns == 0, "%s: a non-main thread's line gets no GPU time", how);
    tbl_gpu_t f = func_gpu(t, pid, 10);
    ok(f.util_ns == a.util_ns && f.wall_ns == a.wall_ns, "%s: the function row matches its line", how);
    tbl_gpu_t p = proc_gpu(t, pid);
    ok(p.util_ns == 400 * MS && p.mem_peak == 256 * MIB, "%s: process: %.3f GPU-seconds, peak %llu MiB", how,
       (double)p.util_ns / 1e9, (unsigned long long)(p.mem_peak / MIB));
    tbl_free(t);
}

/* A record that ends after the last poll waits; tbl_gpu_flush charges the
 * part the polls covered. Two processes' uses stay apart. */
static void test_wait_and_flush(void)
{
    tbl_t *t = tbl_new(T0);
    uint64_t file = str(t, 7, "/w/prog.py");
    start(t, 7);
    start(t, 8);
    tbl_gpu_upto(t, T0, T0);
    polls(t, 7, 0, 100, 10, 0, 100, 5000, 64 * MIB);
    polls(t, 8, 100, 200, 10, 0, 200, 10000, 32 * MIB); /* pid 8 from 100 ms on */
    cpu(t, 7, 7, file, 40, 190, 200);                   /* [190, 200]: covered */
    cpu(t, 7, 7, file, 41, 200, 210);                   /* [200, 210]: not yet */
    tbl_gpu_t w = line_gpu(t, 7, 41);
    ok(w.wall_ns == 0, "a record past the last poll waits");
    tbl_gpu_use(t, 7, T0 + 200 * MS, T0 + 205 * MS, 10000, 64 * MIB);
    tbl_gpu_upto(t, T0 + 200 * MS, T0 + 205 * MS);
    tbl_gpu_flush(t);
    w = line_gpu(t, 7, 41);
    ok(w.wall_ns == 5 * MS && near(pct(w), 100.0, 0.01), "flush: %.1f ms covered of the 10 at %.1f %%",
       (double)w.wall_ns / MS, pct(w));
    tbl_gpu_t x = line_gpu(t, 7, 40);
    ok(x.wall_ns == 10 * MS && x.util_ns == 0, "pid 7 idle in [190, 200] though pid 8 was busy");
    tbl_gpu_t p7 = proc_gpu(t, 7), p8 = proc_gpu(t, 8);
    ok(p7.util_ns == 55 * MS && p8.util_ns == 100 * MS, "GPU-seconds per process: %.3f and %.3f",
       (double)p7.util_ns / 1e9, (double)p8.util_ns / 1e9);
    tbl_free(t);
}

/* A drain far behind the polls: uses pushed out of the history leave their
 * time uncovered (not idle); later time is charged normally. */
static void test_history_overflow(void)
{
    tbl_t *t = tbl_new(T0);
    uint64_t file = str(t, 9, "/w/prog.py");
    start(t, 9);
    tbl_gpu_upto(t, T0, T0);
    polls(t, 9, 0, 2000, 10, 0, 2000, 5000, 8 * MIB); /* 200 uses: more than the history keeps */
    cpu(t, 9, 9, file, 50, 0, 700);
    cpu(t, 9, 9, file, 60, 1000, 2000);
    tbl_gpu_t early = line_gpu(t, 9, 50), late = line_gpu(t, 9, 60);
    ok(early.wall_ns == 0 && early.util_ns == 0, "time whose uses were lost is uncovered (%.0f ms)",
       (double)early.wall_ns / MS);
    ok(late.wall_ns == 1000 * MS && near(pct(late), 50.0, 0.01), "recent time: %.0f ms at %.1f %%",
       (double)late.wall_ns / MS, pct(late));
    tbl_free(t);
}

/* Before the first poll GPU accounting is off: no record waits. */
static void test_off(void)
{
    tbl_t *t = tbl_new(T0);
    uint64_t file = str(t, 11, "/w/prog.py");
    start(t, 11);
    cpu(t, 11, 11, file, 70, 0, 100);
    polls(t, 11, 0, 100, 10, 0, 100, 10000, MIB);
    tbl_gpu_t g = line_gpu(t, 11, 70);
    ok(g.wall_ns == 0, "records drained before GPU accounting began are not charged");
    tbl_free(t);
}

int main(void)
{
    plan(19);
    rcu_register_thread();
    test_phases(true);
    test_phases(false);
    test_wait_and_flush();
    test_history_overflow();
    test_off();
    rcu_unregister_thread();
    return done_testing();
}
