/* SPDX-License-Identifier: Apache-2.0
 * rpt.c — the JSON report and the run summary (see rpt.h). Reads the tables
 * once into arrays, sorts them by file and line, and merges the rows of
 * every process per line (summing; never one process's numbers over
 * another's), keeping each process's share under `by_process`. Memory
 * fields come from the memory blocks: a line's merged numbers from its
 * merged block (whose peak is the peak of the sum over processes), each
 * process's from its own; leaks are judged per process (docs/MEMORY.md).
 */
#include "rpt.h"
#include "record.h"
#include "safefile.h"

#include <errno.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RPT_MIB 1048576.0                /* Scalene's "MB" */
#define RPT_FILE_MIN_MALLOC (1ull << 20) /* a file that grew this much (n_malloc_mb) is reported, as in Scalene */
#define RPT_STACKS_MAX 10000 /* stacks per process and merged: the hottest, as Scalene keeps its 10,000 keys */
#define RPT_LEAK_MIN_ALLOCS 4            /* the leak rule: see docs/MEMORY.md */
#define RPT_LEAK_MIN_SPAN 0.5            /* of the process's life the growth must span */
#define RPT_LEAK_MIN_BYTES (1ull << 20)
#define RPT_LEAK_MIN_LIKELIHOOD 0.95

typedef struct row {
    uint64_t file_id, func_id;
    uint32_t line; /* line, or function's first line */
    int32_t pid;
    uint64_t py, nat, sys, cpu, wall, samples;
    uint64_t times[TBL_TIMES];
    uint32_t ntimes;
    const tbl_mem_t *mem; /* NULL: no memory record; valid until tbl_free */
    tbl_gpu_t g;          /* GPU use while the row ran (issue 7) */
} row_t;

typedef struct vec {
    row_t *v;
    size_t n, cap;
} vec_t;

static row_t *vec_push(vec_t *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        row_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    row_t *r = &a->v[a->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void gpu_read(tbl_gpu_t *out, const tbl_gpu_t *g)
{
    out->util_ns = tbl_rd(&g->util_ns);
    out->wall_ns = tbl_rd(&g->wall_ns);
    out->mem_mib_us = tbl_rd(&g->mem_mib_us);
    out->mem_peak = tbl_rd(&g->mem_peak);
}

static void fill(row_t *r, const tbl_cpu_t *c)
{
    r->py = tbl_rd(&c->python_ns);
    r->nat = tbl_rd(&c->native_ns);
    r->sys = tbl_rd(&c->sys_ns);
    r->cpu = tbl_rd(&c->cpu_ns);
    r->wall = tbl_rd(&c->wall_ns);
    r->samples = tbl_rd(&c->samples);
    r->ntimes = (uint32_t)(r->samples < TBL_TIMES ? r->samples : TBL_TIMES);
    for (uint32_t i = 0; i < r->ntimes; i++)
        r->times[i] = tbl_rd(&c->times[i]);
}

static void take_line(const tbl_line_t *l, void *arg)
{
    row_t *r = vec_push(arg);
    if (!r)
        return;
    r->file_id = l->file_id;
    r->line = l->line;
    r->pid = l->pid;
    fill(r, &l->c);
    r->mem = tbl_line_mem(l);
    gpu_read(&r->g, &l->g);
}

static void take_func(const tbl_func_t *f, void *arg)
{
    row_t *r = vec_push(arg);
    if (!r)
        return;
    r->file_id = f->file_id;
    r->func_id = f->func_id;
    r->line = f->func_line;
    r->pid = f->pid;
    fill(r, &f->c);
    r->mem = tbl_func_mem(f);
    gpu_read(&r->g, &f->g);
}

/* A merged row's memory block, keyed like row_t. */
typedef struct mrow {
    uint64_t file_id, func_id;
    uint32_t line;
    const tbl_mem_t *mem;
} mrow_t;

typedef struct mvec {
    mrow_t *v;
    size_t n, cap;
} mvec_t;

static void mvec_add(mvec_t *a, uint64_t file, uint64_t func, uint32_t line, const tbl_mem_t *m)
{
    if (!m)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        mrow_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (mrow_t){file, func, line, m};
}

static void take_mline(const tbl_line_t *l, void *arg) { mvec_add(arg, l->file_id, 0, l->line, tbl_line_mem(l)); }
static void take_mfunc(const tbl_func_t *f, void *arg)
{
    mvec_add(arg, f->file_id, f->func_id, f->func_line, tbl_func_mem(f));
}

static int cmp_mrow(const void *a, const void *b)
{
    const mrow_t *x = a, *y = b;
    if (x->file_id != y->file_id)
        return x->file_id < y->file_id ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->func_id < y->func_id ? -1 : x->func_id > y->func_id;
}

static const tbl_mem_t *mvec_find(const mvec_t *a, uint64_t file, uint64_t func, uint32_t line)
{
    mrow_t k = {file, func, line, NULL};
    const mrow_t *m = a->n ? bsearch(&k, a->v, a->n, sizeof k, cmp_mrow) : NULL;
    return m ? m->mem : NULL;
}

/* A process's memory, for the leak rule (which is per process). */
typedef struct pmem {
    int32_t pid;
    uint64_t peak;
    uint64_t start_ns, end_ns; /* the process's life; end 0 while it runs */
    uint64_t final_ns;         /* when it began finalizing (REC_M_FINAL); 0: not (yet) */
} pmem_t;

typedef struct pvec {
    pmem_t *v;
    size_t n, cap;
} pvec_t;

static void take_pmem(const tbl_proc_t *p, void *arg)
{
    pvec_t *a = arg;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        pmem_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (pmem_t){p->pid, tbl_rd(&p->m.peak), p->start_ns, p->end_ns, tbl_rd(&p->m.final_ns)};
}

static int cmp_pmem(const void *a, const void *b)
{
    const pmem_t *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* What every part of the report needs. */
typedef struct rctx {
    tbl_t *t;
    uint64_t total;  /* all profiled CPU ns: the percentages' denominator */
    int ncpus;
    double elapsed;  /* seconds, for rates */
    uint64_t growth; /* all line rows' growth: n_usage_fraction's denominator */
    mvec_t mlines, mfuncs;
    pvec_t procs;    /* sorted by pid */
    bool reduced;              /* --reduced-profile: only active lines and functions */
    bool leaks;                /* judge likely leaks (--no-memory-leak-detector: no) */
    double cpu_threshold;      /* percent of all time that makes a line active */
    uint64_t malloc_threshold; /* allocation samples that make a line active (>= 1) */
    const tbl_prof_t *prof;    /* @profile functions; none: every line is kept */
    size_t nprof;
    uint32_t gpu_ndev;         /* GPUs sampled (n_gpu_percent is their mean); 0: none */
    bool compact;              /* issue 16: idle lines only in the file's `source` (docs/REPORT.md) */
} rctx_t;

/* Whether rows [b, e) (one line or function, a row per process) pass the
 * thresholds: enough of the time, or enough growth samples (n_mallocs, as
 * reported: churn freed at once makes no line active, as in Scalene). */
static bool rows_active(const rctx_t *c, const row_t *b, const row_t *e)
{
    uint64_t cpu = 0, allocs = 0;
    for (const row_t *r = b; r < e; r++) {
        cpu += r->py + r->nat + r->sys;
        allocs += r->mem ? tbl_rd(&r->mem->n_growth) : 0;
    }
    return (cpu > 0 && c->total > 0 && 100.0 * (double)cpu / (double)c->total >= c->cpu_threshold) ||
           allocs >= c->malloc_threshold;
}

/* With @profile functions, only their lines are reported (line 0: does the
 * file have any). */
static bool in_profiled(const rctx_t *c, uint64_t file_id, uint32_t line)
{
    if (c->nprof == 0)
        return true;
    for (size_t i = 0; i < c->nprof; i++)
        if (c->prof[i].file_id == file_id &&
            (line == 0 || (line >= c->prof[i].first_line && line <= c->prof[i].last_line)))
            return true;
    return false;
}

static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->file_id != y->file_id)
        return x->file_id < y->file_id ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->func_id != y->func_id)
        return x->func_id < y->func_id ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

typedef struct totals {
    uint64_t all, py, nat, sys;
} totals_t;

static void take_total(const tbl_proc_t *p, void *arg)
{
    totals_t *t = arg;
    uint64_t py = tbl_rd(&p->c.python_ns), nat = tbl_rd(&p->c.native_ns), sys = tbl_rd(&p->c.sys_ns);
    if (!tbl_rd(&p->ran)) { /* it never ran a line in scope: its start-up is its time */
        py += tbl_rd(&p->pre_py_ns);
        nat += tbl_rd(&p->pre_nat_ns);
        sys += tbl_rd(&p->pre_sys_ns);
    }
    t->py += py;
    t->nat += nat;
    t->sys += sys;
    t->all += py + nat + sys;
}

static json_object *jd(double v) { return json_object_new_double(v); }
static json_object *ji(int64_t v) { return json_object_new_int64(v); }
static json_object *js(const char *s) { return json_object_new_string(s ? s : ""); }

static double pct(uint64_t ns, uint64_t total) { return total ? 100.0 * (double)ns / (double)total : 0.0; }

/* Source text of a file, split in lines (each keeps its "\n"). */
typedef struct src {
    char **line;
    size_t n;
} src_t;

static src_t src_read(const char *path)
{
    src_t s = {NULL, 0};
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return s;
    char *buf = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        if (s.n == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            char **nl = realloc(s.line, alloc * sizeof *nl);
            if (!nl)
                break;
            s.line = nl;
        }
        s.line[s.n++] = strndup(buf, (size_t)len);
    }
    free(buf);
    fclose(f);
    return s;
}

static void src_free(src_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->line[i]);
    free(s->line);
}

/* The fields of later issues (async), zero until they land. */
static void zero_fields(json_object *o)
{
    static const char *const names[] = {"n_async_await_percent", "n_async_concurrency_mean",
                                        "n_async_concurrency_peak"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_object_add(o, names[i], ji(0));
    json_object_object_add(o, "async_task_names", json_object_new_array());
    json_object_object_add(o, "is_coroutine", json_object_new_boolean(0));
}

static double mib(uint64_t bytes) { return (double)bytes / RPT_MIB; }

/* Scalene's GPU fields of a line or function (docs/GPU.md) from counters g
 * (zeros when NULL): n_gpu_percent, the mean utilisation of the ndev GPUs
 * while the row ran; the GPU memory its process used meanwhile, mean and
 * peak. */
static void gpu_fields(json_object *o, const tbl_gpu_t *g, uint32_t ndev)
{
    double util = 0, avg = 0, peak = 0;
    if (g && g->wall_ns && ndev) {
        util = 100.0 * (double)g->util_ns / (double)g->wall_ns / ndev;
        avg = (double)g->mem_mib_us / ((double)g->wall_ns / 1000.0);
    }
    if (g)
        peak = mib(g->mem_peak);
    json_object_object_add(o, "n_gpu_percent", jd(util));
    json_object_object_add(o, "n_gpu_avg_memory_mb", jd(avg > peak ? peak : avg));
    json_object_object_add(o, "n_gpu_peak_memory_mb", jd(peak));
}

/* A timeline as Scalene writes one: [[ns since start, MB], ...], time-sorted. */
static json_object *series_json(const tbl_series_t *s)
{
    tbl_point_t pts[TBL_POINTS];
    size_t n = tbl_series_read(s, pts);
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *pt = json_object_new_array();
        json_object_array_add(pt, ji((int64_t)pts[i].t_ns));
        json_object_array_add(pt, jd(mib(pts[i].bytes)));
        json_object_array_add(a, pt);
    }
    return a;
}

/* Scalene's memory fields of a line or function, and ours (n_alloc_volume_mb,
 * n_net_mb, n_freed_mb), from memory block m (zeros and [] when NULL). As in
 * Scalene, n_malloc_mb / n_mallocs / n_peak_mb measure growth: the rises of
 * the row's held level (docs/MEMORY.md "Growth"); n_alloc_volume_mb is the
 * gross volume. */
static void mem_fields(json_object *o, const tbl_mem_t *m, const rctx_t *c)
{
    uint64_t vol = 0, pyv = 0, ab = 0, pyb = 0, peak = 0, nlive = 0, kib = 0, copy = 0, net = 0, freed = 0,
             grown = 0, ngrow = 0;
    if (m) {
        vol = tbl_rd(&m->volume);
        pyv = tbl_rd(&m->py_volume);
        ab = tbl_rd(&m->alloc_bytes);
        pyb = tbl_rd(&m->py_bytes);
        peak = tbl_rd(&m->peak);
        nlive = tbl_rd(&m->n_live);
        kib = tbl_rd(&m->live_kib_sum);
        copy = tbl_rd(&m->copy_bytes);
        net = tbl_rd(&m->net_end) + tbl_rd(&m->live);
        freed = tbl_rd(&m->freed_bytes);
        grown = tbl_rd(&m->growth);
        ngrow = tbl_rd(&m->n_growth);
    }
    double peak_mb = mib(peak), avg_mb = nlive ? (double)kib / (double)nlive / 1024.0 : 0.0;
    if (avg_mb > peak_mb)
        avg_mb = peak_mb; /* a snapshot taken mid-update */
    double pyfrac = vol ? (double)pyv / (double)vol : ab ? (double)pyb / (double)ab : 0.0;
    json_object_object_add(o, "n_malloc_mb", jd(mib(grown)));
    json_object_object_add(o, "n_mallocs", ji((int64_t)ngrow));
    json_object_object_add(o, "n_peak_mb", jd(peak_mb));
    json_object_object_add(o, "n_avg_mb", jd(avg_mb));
    json_object_object_add(o, "n_growth_mb", jd(peak_mb));
    json_object_object_add(o, "n_python_fraction", jd(pyfrac > 1.0 ? 1.0 : pyfrac));
    json_object_object_add(o, "n_usage_fraction", jd(c->growth ? (double)grown / (double)c->growth : 0.0));
    json_object_object_add(o, "n_copy_mb_s", jd(c->elapsed > 0 ? mib(copy) / c->elapsed : 0.0));
    json_object_object_add(o, "memory_samples", m ? series_json(&m->tl) : json_object_new_array());
    json_object_object_add(o, "n_alloc_volume_mb", jd(mib(vol)));
    json_object_object_add(o, "n_net_mb", jd(mib(net)));
    json_object_object_add(o, "n_freed_mb", jd(mib(freed)));
}

/* The held level of block m at time at (ns since t0): its timeline's last
 * point at or before it. */
static uint64_t level_at(const tbl_mem_t *m, uint64_t at)
{
    tbl_point_t pts[TBL_POINTS];
    size_t n = tbl_series_read(&m->tl, pts);
    uint64_t v = 0;
    for (size_t i = 0; i < n && pts[i].t_ns <= at; i++)
        v = pts[i].bytes;
    return v;
}

/* The leak rule (docs/MEMORY.md) on one process's block of a line, whose
 * process peaked at proc_peak bytes. It reads growth, as the other memory
 * fields do: rises of the held level (n_mallocs: the samples in them) and
 * give-backs (frees that lowered it), so churn freed at once neither makes
 * nor hides a leak. True when it fires, with its Laplace likelihood and
 * growth velocity (MB/s). */
static bool leak_of(const tbl_mem_t *m, const pmem_t *proc, double *likelihood, double *velocity)
{
    uint64_t proc_peak = proc ? proc->peak : 0;
    uint64_t grows = tbl_rd(&m->n_growth), gives = tbl_rd(&m->n_giveback);
    uint64_t end = tbl_rd(&m->net_end) + tbl_rd(&m->live), peak = tbl_rd(&m->peak);
    uint64_t first = tbl_rd(&m->first_grow_ns), last = tbl_rd(&m->last_grow_ns);
    uint64_t floor = proc_peak / 100 > RPT_LEAK_MIN_BYTES ? proc_peak / 100 : RPT_LEAK_MIN_BYTES;
    if (grows < RPT_LEAK_MIN_ALLOCS || end < floor || last <= first)
        return false;
    if ((double)end < 0.9 * (double)peak) /* it gave memory back */
        return false;
    if ((double)level_at(m, first + (last - first) / 2) > 0.75 * (double)end) /* it stopped growing */
        return false;
    /* it grew through most of its process's life, not in one burst (a table
     * built at start-up and kept is no leak, however steadily it grew). The
     * life ends when Python began finalizing: its teardown (seconds, for a
     * big heap on a loaded machine) is no time the line could grow in. */
    if (proc && proc->start_ns) {
        uint64_t stop = proc->final_ns ? proc->final_ns : proc->end_ns ? proc->end_ns : tbl_now_ns();
        if (stop > proc->start_ns && (double)(last - first) < RPT_LEAK_MIN_SPAN * (double)(stop - proc->start_ns))
            return false;
    }
    double lik = 1.0 - (double)(gives + 1) / (double)(grows + 2);
    if (lik < RPT_LEAK_MIN_LIKELIHOOD)
        return false;
    *likelihood = lik;
    *velocity = ((double)end - (double)tbl_rd(&m->first_level)) / RPT_MIB / ((double)(last - first) / 1e9);
    return true;
}

static const pmem_t *proc_mem(const rctx_t *c, int32_t pid)
{
    pmem_t k = {pid, 0, 0, 0, 0};
    return c->procs.n ? bsearch(&k, c->procs.v, c->procs.n, sizeof k, cmp_pmem) : NULL;
}

/* Sums rows [b, e) (one line or function, one row per process) into a
 * JSON object with by_process; mm is the merged memory block. */
static void merged(json_object *o, const row_t *b, const row_t *e, const tbl_mem_t *mm, const rctx_t *c)
{
    uint64_t total = c->total;
    int ncpus = c->ncpus;
    uint64_t py = 0, nat = 0, sys = 0, cpu = 0, wall = 0;
    tbl_gpu_t g = {0, 0, 0, 0}; /* over processes: sums, and the highest peak */
    json_object *times = json_object_new_array();
    json_object *byp = json_object_new_object();
    for (const row_t *r = b; r < e; r++) {
        g.util_ns += r->g.util_ns;
        g.wall_ns += r->g.wall_ns;
        g.mem_mib_us += r->g.mem_mib_us;
        if (r->g.mem_peak > g.mem_peak)
            g.mem_peak = r->g.mem_peak;
        py += r->py;
        nat += r->nat;
        sys += r->sys;
        cpu += r->cpu;
        wall += r->wall;
        for (uint32_t i = 0; i < r->ntimes && json_object_array_length(times) < TBL_TIMES; i++)
            json_object_array_add(times, jd((double)r->times[i] / 1e9));
        char key[16];
        snprintf(key, sizeof key, "%d", r->pid);
        json_object *p = json_object_new_object();
        json_object_object_add(p, "n_cpu_percent_python", jd(pct(r->py, total)));
        json_object_object_add(p, "n_cpu_percent_c", jd(pct(r->nat, total)));
        json_object_object_add(p, "n_sys_percent", jd(pct(r->sys, total)));
        mem_fields(p, r->mem, c);
        gpu_fields(p, &r->g, c->gpu_ndev);
        json_object_object_add(byp, key, p);
    }
    json_object_object_add(o, "n_cpu_percent_python", jd(pct(py, total)));
    json_object_object_add(o, "n_cpu_percent_c", jd(pct(nat, total)));
    json_object_object_add(o, "n_sys_percent", jd(pct(sys, total)));
    json_object_object_add(o, "n_core_utilization", jd(wall ? (double)cpu / (double)wall / (ncpus > 0 ? ncpus : 1) : 0));
    json_object_object_add(o, "cpu_samples_list", times);
    mem_fields(o, mm, c);
    gpu_fields(o, &g, c->gpu_ndev);
    json_object_object_add(o, "by_process", byp);
}

static json_object *idle_line(uint32_t lineno, const char *text)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "lineno", ji(lineno));
    json_object_object_add(o, "line", js(text));
    json_object_object_add(o, "n_cpu_percent_python", jd(0));
    json_object_object_add(o, "n_cpu_percent_c", jd(0));
    json_object_object_add(o, "n_sys_percent", jd(0));
    json_object_object_add(o, "n_core_utilization", jd(0));
    json_object_object_add(o, "cpu_samples_list", json_object_new_array());
    gpu_fields(o, NULL, 0);
    return o;
}

static void region(json_object *o, uint32_t lineno)
{
    json_object_object_add(o, "start_region_line", ji(lineno));
    json_object_object_add(o, "end_region_line", ji(lineno));
    json_object_object_add(o, "start_outermost_loop", ji(lineno));
    json_object_object_add(o, "end_outermost_loop", ji(lineno));
    json_object_object_add(o, "start_function_line", ji(0));
    json_object_object_add(o, "end_function_line", ji(0));
}

static uint64_t row_total(const row_t *r) { return r->py + r->nat + r->sys; }

static json_object *file_obj(const rctx_t *c, const char *fname, const row_t *lb, const row_t *le, const row_t *fb,
                             const row_t *fe)
{
    tbl_t *t = c->t;
    uint64_t total = c->total;
    json_object *file = json_object_new_object();
    json_object *lines = json_object_new_array();
    json_object *leaks = json_object_new_object();
    src_t src = src_read(fname);
    uint64_t ftotal = 0;
    uint32_t next = 1;
    for (const row_t *r = lb; r < le;) {
        const row_t *q = r;
        double lik = 0, vel = 0;
        for (; q < le && q->line == r->line; q++) {
            ftotal += row_total(q);
            double l, v;
            /* per process; across processes the most likely one speaks */
            if (c->leaks && q->mem && leak_of(q->mem, proc_mem(c, q->pid), &l, &v) && l > lik) {
                lik = l;
                vel = v;
            }
        }
        if (lik > 0) {
            char key[16];
            snprintf(key, sizeof key, "%u", r->line);
            json_object *lk = json_object_new_object();
            json_object_object_add(lk, "likelihood", jd(lik));
            json_object_object_add(lk, "velocity_mb_s", jd(vel));
            json_object_object_add(leaks, key, lk);
        }
        if ((c->reduced && !rows_active(c, r, q)) || !in_profiled(c, r->file_id, r->line)) {
            r = q;
            continue;
        }
        for (; !c->reduced && !c->compact && next < r->line && next <= src.n; next++) {
            if (!in_profiled(c, lb->file_id, next))
                continue;
            json_object *o = idle_line(next, src.line[next - 1]);
            mem_fields(o, NULL, c);
            zero_fields(o);
            region(o, next);
            json_object_array_add(lines, o);
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "lineno", ji(r->line));
        json_object_object_add(o, "line", js(r->line >= 1 && r->line <= src.n ? src.line[r->line - 1] : ""));
        merged(o, r, q, mvec_find(&c->mlines, r->file_id, 0, r->line), c);
        zero_fields(o);
        region(o, r->line);
        json_object_array_add(lines, o);
        next = r->line + 1;
        r = q;
    }
    for (; !c->reduced && !c->compact && next <= src.n; next++) {
        if (lb < le && !in_profiled(c, lb->file_id, next))
            continue;
        json_object *o = idle_line(next, src.line[next - 1]);
        mem_fields(o, NULL, c);
        zero_fields(o);
        region(o, next);
        json_object_array_add(lines, o);
    }
    /* issue 16: a compact report lists only the lines with rows; every
     * line's text is here once, and a reader makes the idle rows from it */
    json_object *source = NULL;
    if (c->compact) {
        source = json_object_new_array_ext((int)src.n);
        for (uint32_t i = 0; i < src.n; i++)
            json_object_array_add(source, js(src.line[i]));
    }
    src_free(&src);
    json_object *funcs = json_object_new_array();
    for (const row_t *r = fb; r < fe;) {
        const row_t *q = r;
        while (q < fe && q->line == r->line && q->func_id == r->func_id)
            q++;
        if ((c->reduced && !rows_active(c, r, q)) || !in_profiled(c, r->file_id, r->line)) {
            r = q;
            continue;
        }
        json_object *o = json_object_new_object();
        const char *name = tbl_str(t, r->func_id, NULL);
        json_object_object_add(o, "lineno", ji(r->line));
        json_object_object_add(o, "line", js(name ? name : "<unknown>"));
        merged(o, r, q, mvec_find(&c->mfuncs, r->file_id, r->func_id, r->line), c);
        zero_fields(o);
        region(o, r->line);
        json_object_array_add(funcs, o);
        r = q;
    }
    json_object_object_add(file, "percent_cpu_time", jd(pct(ftotal, total)));
    json_object_object_add(file, "lines", lines);
    if (source)
        json_object_object_add(file, "source", source);
    json_object_object_add(file, "functions", funcs);
    json_object_object_add(file, "leaks", leaks);
    json_object_object_add(file, "imports", json_object_new_array());
    return file;
}

typedef struct pctx {
    tbl_t *t;
    const rpt_meta_t *m;
    json_object *arr;
    struct frtab *ft; /* compact stacks (issue 16), or NULL */
} pctx_t;

static json_object *argv_array(tbl_t *t, uint64_t id)
{
    json_object *a = json_object_new_array();
    uint32_t len = 0;
    const char *s = tbl_str(t, id, &len);
    for (uint32_t i = 0; s && i < len;) {
        size_t k = strnlen(s + i, len - i);
        json_object_array_add(a, json_object_new_string_len(s + i, (int)k));
        i += (uint32_t)k + 1;
    }
    return a;
}

static bool has_word(tbl_t *t, uint64_t argv_id, const char *w)
{
    uint32_t len = 0;
    const char *s = tbl_str(t, argv_id, &len);
    size_t wl = strlen(w);
    for (uint32_t i = 0; s && i + wl <= len; i++)
        if (memcmp(s + i, w, wl) == 0)
            return true;
    return false;
}

/* What a process is, from how it started and its command line: enough for
 * a reader to tell a gunicorn master from its workers or a pool worker from
 * a subprocess. */
static const char *role(tbl_t *t, const tbl_proc_t *p, int32_t main_pid)
{
    if (p->pid == main_pid)
        return "main";
    bool gunicorn = has_word(t, p->argv_id, "gunicorn"), uwsgi = has_word(t, p->argv_id, "uwsgi");
    if (p->how == 1)
        return gunicorn ? "gunicorn worker" : uwsgi ? "uwsgi worker" : "forked";
    if (has_word(t, p->argv_id, "forkserver"))
        return "multiprocessing forkserver";
    if (has_word(t, p->argv_id, "spawn_main"))
        return "multiprocessing spawn";
    if (has_word(t, p->argv_id, "resource_tracker"))
        return "multiprocessing resource tracker";
    return "subprocess";
}

static double rel(uint64_t ns, uint64_t t0) { return ns > t0 ? (double)(ns - t0) / 1e9 : 0.0; }

/* ---- call stacks (--stacks) ---- */

/* One frame in Scalene's combined_stacks shape (a C frame: kind "native",
 * line null, offset its function's start in the module); the marker of a stack cut
 * short (deeper than the walk keeps, or torn mid-walk) is "...". */
static json_object *frame_json(tbl_t *t, const stk_frame_t *f)
{
    json_object *o = json_object_new_object();
    bool marker = f->file_id == 0 && f->func_id == 0;
    const char *func = marker ? "..." : tbl_str(t, f->func_id, NULL);
    const char *file = marker ? "" : tbl_str(t, f->file_id, NULL);
    json_object_object_add(o, "kind", js(f->native ? "native" : "py"));
    json_object_object_add(o, "display_name", js(func ? func : "?"));
    json_object_object_add(o, "filename_or_module", js(file ? file : "?"));
    json_object_object_add(o, "line", f->native ? NULL : ji(f->line));
    /* addresses differ per process (ASLR): the module-relative start of the
     * function is what compares across processes */
    json_object_object_add(o, "ip", NULL);
    json_object_object_add(o, "offset", f->native ? ji((int64_t)f->offset) : NULL);
    return o;
}

/* issue 16: a compact report stores each distinct frame once, in the
 * top-level `stack_frames`, and a stack as the frames' indexes there. */
typedef struct frtab {
    json_object *arr; /* the frames, in order of first use */
    json_object *idx; /* "native:file:func:line:offset" -> index */
} frtab_t;

static json_object *frame_ref(frtab_t *ft, tbl_t *t, const stk_frame_t *f)
{
    char key[96];
    snprintf(key, sizeof key, "%d:%llx:%llx:%u:%llx", f->native ? 1 : 0, (unsigned long long)f->file_id,
             (unsigned long long)f->func_id, f->line, (unsigned long long)f->offset);
    json_object *i = NULL;
    if (!json_object_object_get_ex(ft->idx, key, &i)) {
        i = ji((int64_t)json_object_array_length(ft->arr));
        json_object_array_add(ft->arr, frame_json(t, f));
        json_object_object_add(ft->idx, key, i);
    }
    return ji(json_object_get_int64(i));
}

static json_object *frames_json(tbl_t *t, const stk_frame_t *f, uint32_t n, frtab_t *ft)
{
    json_object *a = json_object_new_array_ext((int)n);
    for (uint32_t i = 0; i < n; i++)
        json_object_array_add(a, ft ? frame_ref(ft, t, &f[i]) : frame_json(t, &f[i]));
    return a;
}

static uint64_t stk_total(const stk_stats_t *st) { return st->python_ns + st->native_ns + st->sys_ns; }

typedef struct sjctx {
    tbl_t *t;
    json_object *arr;
    frtab_t *ft; /* compact: frames by index; NULL: frames written out */
} sjctx_t;

/* processes[i].stacks: [[frame, ...], {count, cpu_sec, python_sec, native_sec, system_sec}] */
static void take_proc_stack(const stk_frame_t *f, uint32_t n, const stk_stats_t *st, void *arg)
{
    sjctx_t *c = arg;
    json_object *e = json_object_new_array_ext(2), *o = json_object_new_object();
    json_object_object_add(o, "count", ji((int64_t)st->count));
    json_object_object_add(o, "cpu_sec", jd((double)stk_total(st) / 1e9));
    json_object_object_add(o, "python_sec", jd((double)st->python_ns / 1e9));
    json_object_object_add(o, "native_sec", jd((double)st->native_ns / 1e9));
    json_object_object_add(o, "system_sec", jd((double)st->sys_ns / 1e9));
    json_object_array_add(e, frames_json(c->t, f, n, c->ft));
    json_object_array_add(e, o);
    json_object_array_add(c->arr, e);
}

typedef struct mstk {
    const stk_frame_t *f;
    uint32_t n;
    stk_stats_t st;
} mstk_t;
typedef struct mctx {
    mstk_t *v;
    size_t n, cap;
} mctx_t;

static void take_merged_stack(const stk_frame_t *f, uint32_t n, const stk_stats_t *st, void *arg)
{
    mctx_t *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        mstk_t *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return;
        c->v = v;
        c->cap = cap;
    }
    /* the frames outlive the callback: stk keeps definitions for the run */
    c->v[c->n++] = (mstk_t){f, n, *st};
}

/* memory_stacks: [[frame, ...], MB allocated, MB live at the end] */
static void take_mem_stack(const stk_frame_t *f, uint32_t n, const stk_mem_t *m, void *arg)
{
    sjctx_t *c = arg;
    json_object *e = json_object_new_array_ext(3);
    json_object_array_add(e, frames_json(c->t, f, n, c->ft)); /* compact: frame indexes, as the CPU stacks */
    json_object_array_add(e, jd(mib(m->alloc)));
    json_object_array_add(e, jd(mib(m->alloc > m->freed ? m->alloc - m->freed : 0)));
    json_object_array_add(c->arr, e);
}

static json_object *mem_stacks_json(tbl_t *t, int32_t pid, frtab_t *ft)
{
    sjctx_t sj = {t, json_object_new_array(), ft};
    stk_each_mem(tbl_stk(t), pid, RPT_STACKS_MAX, take_mem_stack, &sj);
    return sj.arr;
}

/* Top level, merged over processes: Scalene's `combined_stacks` ([[frame,
 * ...], hits]) and `stacks` ([["file func:line;", ...], {count,
 * python_time, c_time, cpu_samples}], fractions of all stacks' time and
 * samples; c_time is native + system). */
static uint64_t stacks_json(tbl_t *t, json_object *root, bool compact)
{
    mctx_t c = {0};
    if (compact) { /* issue 16: derived from processes[].stacks by a reader (docs/REPORT.md) */
        json_object_object_add(root, "stacks", json_object_new_array());
        json_object_object_add(root, "combined_stacks", json_object_new_array());
        return 0;
    }
    uint64_t left = stk_each_merged(tbl_stk(t), RPT_STACKS_MAX, take_merged_stack, &c);
    uint64_t all = 0, count = 0;
    for (size_t i = 0; i < c.n; i++) {
        all += stk_total(&c.v[i].st);
        count += c.v[i].st.count;
    }
    json_object *comb = json_object_new_array(), *sc = json_object_new_array();
    for (size_t i = 0; i < c.n; i++) {
        const mstk_t *s = &c.v[i];
        json_object *e = json_object_new_array_ext(2);
        json_object_array_add(e, frames_json(t, s->f, s->n, NULL));
        json_object_array_add(e, ji((int64_t)s->st.count));
        json_object_array_add(comb, e);
        json_object *names = json_object_new_array_ext((int)s->n);
        for (uint32_t k = 0; k < s->n; k++) {
            const stk_frame_t *f = &s->f[k];
            const char *file = f->file_id ? tbl_str(t, f->file_id, NULL) : "";
            const char *func = f->func_id ? tbl_str(t, f->func_id, NULL) : "...";
            char buf[1024];
            snprintf(buf, sizeof buf, "%s %s:%u;", file ? file : "?", func ? func : "?", f->line);
            json_object_array_add(names, js(buf));
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "count", ji((int64_t)s->st.count));
        json_object_object_add(o, "python_time", jd(all ? (double)s->st.python_ns / (double)all : 0.0));
        json_object_object_add(o, "c_time",
                               jd(all ? (double)(s->st.native_ns + s->st.sys_ns) / (double)all : 0.0));
        json_object_object_add(o, "cpu_samples", jd(count ? (double)s->st.count / (double)count : 0.0));
        e = json_object_new_array_ext(2);
        json_object_array_add(e, names);
        json_object_array_add(e, o);
        json_object_array_add(sc, e);
    }
    free(c.v);
    json_object_object_add(root, "stacks", sc);
    json_object_object_add(root, "combined_stacks", comb);
    return left;
}

/* Whether a process has its entry in `processes` (and is counted by the
 * summary): not one that was forked, then execve'd a program that is not
 * Python (sh, gzip), nor one known only from its parent's wait: noise. */
/* Forked, then execve'd a program that is not Python (sh, gzip): noise;
 * but one that wrote broken records is shown (records_invalid). */
static bool proc_shown(const tbl_proc_t *p, int32_t main_pid)
{
    return p->pyver != 0 || tbl_rd(&p->c.samples) != 0 || p->pid == main_pid ||
           tbl_rd(&p->invalid_recs) + tbl_rd(&p->invalid_cells) != 0 || __atomic_load_n(&p->quarantined, __ATOMIC_RELAXED);
}

static void take_proc(const tbl_proc_t *p, void *arg)
{
    pctx_t *c = arg;
    if (!proc_shown(p, c->m->main_pid))
        return;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "host", js(c->m->host));
    json_object_object_add(o, "pid", ji(p->pid));
    json_object_object_add(o, "ppid", ji(p->ppid));
    json_object_object_add(o, "argv", argv_array(c->t, p->argv_id));
    json_object_object_add(o, "role", js(role(c->t, p, c->m->main_pid)));
    char ver[16];
    snprintf(ver, sizeof ver, "%u.%u", p->pyver >> 24, (p->pyver >> 16) & 0xff);
    json_object_object_add(o, "python", p->pyver ? js(ver) : NULL);
    const char *exe = p->exe_id ? tbl_str(c->t, p->exe_id, NULL) : NULL;
    json_object_object_add(o, "executable", exe ? js(exe) : NULL);
    json_object_object_add(o, "start_sec", jd(rel(p->start_ns, c->m->t0_ns)));
    json_object_object_add(o, "end_sec", p->end_ns ? jd(rel(p->end_ns, c->m->t0_ns)) : NULL);
    json_object *code = NULL, *sig = NULL;
    if (p->has_wait && WIFEXITED(p->wait_status))
        code = ji(WEXITSTATUS(p->wait_status));
    else if (p->has_wait && WIFSIGNALED(p->wait_status))
        sig = ji(WTERMSIG(p->wait_status));
    else if (p->has_code)
        code = ji(p->exit_code);
    json_object_object_add(o, "exit_code", code);
    json_object_object_add(o, "exit_signal", sig);
    uint64_t cpu = tbl_rd(&p->c.cpu_ns), ru = (p->utime_us + p->stime_us) * 1000u;
    json_object_object_add(o, "cpu_sec", jd((double)(ru > cpu ? ru : cpu) / 1e9));
    bool ran = tbl_rd(&p->ran);
    uint64_t pre_py = ran ? 0 : tbl_rd(&p->pre_py_ns), pre_nat = ran ? 0 : tbl_rd(&p->pre_nat_ns),
             pre_sys = ran ? 0 : tbl_rd(&p->pre_sys_ns);
    json_object_object_add(o, "python_sec", jd((double)(tbl_rd(&p->c.python_ns) + pre_py) / 1e9));
    json_object_object_add(o, "native_sec", jd((double)(tbl_rd(&p->c.native_ns) + pre_nat) / 1e9));
    json_object_object_add(o, "sys_sec", jd((double)(tbl_rd(&p->c.sys_ns) + pre_sys) / 1e9));
    json_object_object_add(o, "samples", ji((int64_t)tbl_rd(&p->c.samples)));
    json_object_object_add(o, "records_written", ji((int64_t)p->written));
    json_object_object_add(o, "records_dropped", ji((int64_t)p->dropped));
    json_object_object_add(o, "records_torn", ji((int64_t)p->torn));
    json_object_object_add(o, "records_invalid", ji((int64_t)(tbl_rd(&p->invalid_recs) + tbl_rd(&p->invalid_cells))));
    json_object_object_add(o, "ring_quarantined", json_object_new_boolean(__atomic_load_n(&p->quarantined, __ATOMIC_RELAXED)));
    json_object_object_add(o, "unattributed_sec",
                           jd((double)(tbl_rd(&p->unattributed_ns) + pre_py + pre_nat + pre_sys) / 1e9));
    json_object_object_add(o, "unattributed_samples", ji((int64_t)tbl_rd(&p->unattributed_samples)));
    json_object_object_add(o, "held_samples", ji((int64_t)tbl_rd(&p->held_samples)));
    json_object_object_add(o, "interpreter_sec", jd((double)tbl_rd(&p->interpreter_ns) / 1e9));
    const tbl_pmem_t *pm = &p->m;
    uint64_t vol = tbl_rd(&pm->volume), pyv = tbl_rd(&pm->py_volume);
    json_object_object_add(o, "peak_footprint_mb", jd(mib(tbl_rd(&pm->peak))));
    json_object_object_add(o, "peak_footprint_sec", jd((double)tbl_rd(&pm->peak_ns) / 1e9));
    json_object_object_add(o, "footprint_samples", series_json(&pm->tl));
    json_object_object_add(o, "net_mb", jd(mib(tbl_rd(&pm->net_end) + tbl_rd(&pm->live))));
    json_object_object_add(o, "python_malloc_mb", jd(mib(pyv)));
    json_object_object_add(o, "native_malloc_mb", jd(mib(vol > pyv ? vol - pyv : 0)));
    json_object_object_add(o, "copy_mb", jd(mib(tbl_rd(&pm->copy_bytes))));
    bool rss = tbl_rd(&pm->n_rss) > 0;
    json_object_object_add(o, "peak_rss_mb", rss ? jd(mib(tbl_rd(&pm->rss_peak))) : NULL);
    json_object_object_add(o, "rss_samples", series_json(&pm->rss_tl));
    /* GPU-seconds (utilisation summed over devices x time) and peak GPU memory */
    json_object_object_add(o, "gpu_sec", jd((double)tbl_rd(&p->g.util_ns) / 1e9));
    json_object_object_add(o, "peak_gpu_memory_mb", jd(mib(tbl_rd(&p->g.mem_peak))));
    if (c->m->stacks) {
        sjctx_t sj = {c->t, json_object_new_array(), c->ft};
        uint64_t left = stk_each(tbl_stk(c->t), p->pid, RPT_STACKS_MAX, take_proc_stack, &sj);
        json_object_object_add(o, "stacks", sj.arr);
        json_object_object_add(o, "stacks_omitted", ji((int64_t)left));
        json_object_object_add(o, "memory_stacks", mem_stacks_json(c->t, p->pid, c->ft));
    }
    json_object_array_add(c->arr, o);
}

static void take_thread(const tbl_thread_t *th, void *arg)
{
    pctx_t *c = arg;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", ji(th->pid));
    json_object_object_add(o, "tid", ji(th->tid));
    const char *name = tbl_str(c->t, th->name_id, NULL);
    json_object_object_add(o, "name", js(name ? name : ""));
    json_object_object_add(o, "main", json_object_new_boolean(th->main));
    json_object_object_add(o, "cpu_sec", jd((double)tbl_rd(&th->c.cpu_ns) / 1e9));
    json_object_object_add(o, "python_sec", jd((double)tbl_rd(&th->c.python_ns) / 1e9));
    json_object_object_add(o, "native_sec", jd((double)tbl_rd(&th->c.native_ns) / 1e9));
    json_object_object_add(o, "sys_sec", jd((double)tbl_rd(&th->c.sys_ns) / 1e9));
    json_object_object_add(o, "samples", ji((int64_t)tbl_rd(&th->c.samples)));
    json_object_array_add(c->arr, o);
}

static int cmp_pid(const void *a, const void *b)
{
    int64_t x = json_object_get_int64(json_object_object_get(*(json_object *const *)a, "pid"));
    int64_t y = json_object_get_int64(json_object_object_get(*(json_object *const *)b, "pid"));
    return x < y ? -1 : x > y;
}

static json_object *build(tbl_t *t, const rpt_meta_t *m)
{
    vec_t lines = {0}, funcs = {0};
    tbl_each_line(t, take_line, &lines);
    tbl_each_func(t, take_func, &funcs);
    if (lines.n)
        qsort(lines.v, lines.n, sizeof(row_t), cmp_row);
    if (funcs.n)
        qsort(funcs.v, funcs.n, sizeof(row_t), cmp_row);
    totals_t tot = {0};
    tbl_each_proc(t, take_total, &tot);
    tbl_msum_t ms;
    tbl_mem_summary(t, &ms);
    nv_state_t *gs = m->nv ? malloc(sizeof *gs) : NULL;
    if (gs)
        nv_state(m->nv, gs);
    rctx_t c = {.t = t,
                .total = tot.all,
                .ncpus = m->ncpus,
                .elapsed = rel(m->end_ns, m->t0_ns),
                .growth = ms.growth,
                .reduced = m->reduced,
                .leaks = !m->no_leaks,
                .cpu_threshold = m->cpu_percent_threshold,
                .malloc_threshold = m->malloc_threshold ? m->malloc_threshold : 1};
    c.nprof = tbl_profiled(t, &c.prof);
    c.compact = !c.nprof && !m->reduced; /* @profile and reduced reports have no idle lines to spare */
    c.gpu_ndev = gs && gs->found ? gs->ndev : 0;
    tbl_each_merged_line(t, take_mline, &c.mlines);
    tbl_each_merged_func(t, take_mfunc, &c.mfuncs);
    tbl_each_proc(t, take_pmem, &c.procs);
    if (c.mlines.n)
        qsort(c.mlines.v, c.mlines.n, sizeof(mrow_t), cmp_mrow);
    if (c.mfuncs.n)
        qsort(c.mfuncs.v, c.mfuncs.n, sizeof(mrow_t), cmp_mrow);
    if (c.procs.n)
        qsort(c.procs.v, c.procs.n, sizeof(pmem_t), cmp_pmem);

    json_object *root = json_object_new_object();
    json_object_object_add(root, "program", js(m->program));
    json_object_object_add(root, "entrypoint_dir", js(m->entrypoint_dir));
    json_object_object_add(root, "filename", js(m->entrypoint_dir));
    json_object *args = json_object_new_array();
    for (int i = 0; i < m->nargs; i++)
        json_object_array_add(args, js(m->args[i]));
    json_object_object_add(root, "args", args);
    json_object_object_add(root, "elapsed_time_sec", jd(rel(m->end_ns, m->t0_ns)));
    json_object_object_add(root, "start_time_absolute", jd(m->start_epoch));
    json_object_object_add(root, "start_time_perf", jd((double)m->t0_ns / 1e9));
    /* issue 16: where it ran, so `scalene merge` keeps hosts apart */
    json_object_object_add(root, "host", js(m->host));
    json_object *hosts = json_object_new_array();
    json_object_array_add(hosts, js(m->host));
    json_object_object_add(root, "hosts", hosts);

    json_object *files = json_object_new_object();
    size_t fi = 0;
    for (size_t i = 0; i < lines.n;) {
        size_t j = i;
        uint64_t ftotal = 0, fvol = 0, fallocs = 0;
        for (; j < lines.n && lines.v[j].file_id == lines.v[i].file_id; j++) {
            ftotal += row_total(&lines.v[j]);
            fvol += lines.v[j].mem ? tbl_rd(&lines.v[j].mem->growth) : 0;
            fallocs += lines.v[j].mem ? tbl_rd(&lines.v[j].mem->n_growth) : 0;
        }
        /* as in Scalene: enough of the time, or enough allocated (growth:
         * n_malloc_mb) */
        bool keep = (ftotal > 0 && pct(ftotal, tot.all) >= m->cpu_percent_threshold) ||
                    (fvol >= RPT_FILE_MIN_MALLOC && fallocs >= c.malloc_threshold);
        if (c.nprof)
            keep = in_profiled(&c, lines.v[i].file_id, 0); /* @profile: exactly the decorated functions' files */
        if (keep) {
            while (fi < funcs.n && funcs.v[fi].file_id < lines.v[i].file_id)
                fi++;
            size_t fj = fi;
            while (fj < funcs.n && funcs.v[fj].file_id == lines.v[i].file_id)
                fj++;
            const char *fname = tbl_str(t, lines.v[i].file_id, NULL);
            if (fname)
                json_object_object_add(files, fname,
                                       file_obj(&c, fname, &lines.v[i], &lines.v[j], funcs.v ? &funcs.v[fi] : NULL,
                                                funcs.v ? &funcs.v[fj] : NULL));
        }
        i = j;
    }
    json_object_object_add(root, "files", files);
    free(lines.v);
    free(funcs.v);
    free(c.mlines.v);
    free(c.mfuncs.v);
    free(c.procs.v);

    /* GPU (issue 7): Scalene's two keys, and ours: the devices sampled */
    json_object_object_add(root, "gpu", json_object_new_boolean(c.gpu_ndev > 0));
    json_object_object_add(root, "gpu_device", js(c.gpu_ndev > 0 ? "GPU" : ""));
    json_object *devs = json_object_new_array();
    for (uint32_t i = 0; i < c.gpu_ndev; i++) {
        const nv_dev_t *d = &gs->dev[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "index", ji(d->index));
        json_object_object_add(o, "name", js(d->name));
        json_object_object_add(o, "total_memory_mb", jd(mib(d->total)));
        json_object_object_add(o, "peak_memory_mb", jd(mib(d->peak_used)));
        json_object_object_add(o, "utilization_percent",
                               jd(d->wall_ns ? 100.0 * (double)d->util_ns / (double)d->wall_ns : 0.0));
        json_object_object_add(o, "utilization_source", js(d->proc_util ? "process" : "device"));
        json_object_array_add(devs, o);
    }
    json_object_object_add(root, "gpu_devices", devs);
    json_object_object_add(root, "memory", json_object_new_boolean(m->memory));
    json_object_object_add(root, "async_profile", json_object_new_boolean(0));
    json_object_object_add(root, "samples", series_json(&ms.tl));
    json_object_object_add(root, "max_footprint_mb", jd(mib(ms.peak)));
    json_object_object_add(root, "max_footprint_python_fraction",
                           jd(ms.peak ? (double)ms.peak_py_live / (double)ms.peak : 0.0));
    const char *peak_file = ms.peak_file_id ? tbl_str(t, ms.peak_file_id, NULL) : NULL;
    json_object_object_add(root, "max_footprint_fname", peak_file ? js(peak_file) : NULL);
    json_object_object_add(root, "max_footprint_lineno", peak_file ? ji(ms.peak_line) : NULL);
    /* what the processes still held when they ended, over what they allocated */
    json_object_object_add(root, "growth_rate",
                           jd(ms.volume ? 100.0 * (double)(ms.net_end + ms.live) / (double)ms.volume : 0.0));
    json_object_object_add(root, "native_allocations_mb", jd(mib(ms.noframe_volume)));
    json_object_object_add(root, "alloc_samples", ji((int64_t)ms.records));
    bool compact_stacks = c.compact; /* one rule: a compact report is compact in both */
    uint64_t stacks_left = stacks_json(t, root, compact_stacks);
    frtab_t ft = {json_object_new_array(), json_object_new_object()};
    json_object_object_add(root, "memory_stacks", mem_stacks_json(t, -1, compact_stacks ? &ft : NULL));
    json_object_object_add(root, "main_thread_id", ji(m->main_pid));

    pctx_t pc = {t, m, json_object_new_array(), compact_stacks ? &ft : NULL};
    tbl_each_proc(t, take_proc, &pc);
    if (compact_stacks)
        json_object_object_add(root, "stack_frames", ft.arr);
    else
        json_object_put(ft.arr);
    json_object_put(ft.idx);
    json_object_array_sort(pc.arr, cmp_pid);
    json_object_object_add(root, "processes", pc.arr);
    pc.arr = json_object_new_array();
    tbl_each_thread(t, take_thread, &pc);
    json_object_object_add(root, "threads", pc.arr);

    json_object *me = json_object_new_object();
    json_object_object_add(me, "version", js("0.1.0"));
    json_object_object_add(me, "record_version", ji(REC_VERSION));
    json_object_object_add(me, "sampling_interval_sec", jd(m->interval_sec));
    json_object_object_add(me, "virtual_time", json_object_new_boolean(m->virtual_time));
    json_object_object_add(me, "total_sec", jd((double)tot.all / 1e9));
    json_object_object_add(me, "python_sec", jd((double)tot.py / 1e9));
    json_object_object_add(me, "native_sec", jd((double)tot.nat / 1e9));
    json_object_object_add(me, "sys_sec", jd((double)tot.sys / 1e9));
    json_object_object_add(me, "unslotted_processes", ji((int64_t)m->unslotted));
    json_object *unp = json_object_new_array();
    for (size_t i = 0; i < m->nunprofiled; i++) {
        const rpt_child_t *u = &m->unprofiled[i];
        json_object *o = json_object_new_object(), *av = json_object_new_array();
        for (size_t j = 0; j < u->argv_len; j += strlen(u->argv + j) + 1)
            json_object_array_add(av, json_object_new_string(u->argv + j));
        json_object_object_add(o, "pid", ji(u->pid));
        json_object_object_add(o, "ppid", ji(u->ppid));
        json_object_object_add(o, "argv", av);
        json_object_object_add(o, "why", js(u->why));
        json_object_array_add(unp, o);
    }
    json_object_object_add(me, "children_unprofiled", unp);
    json_object_object_add(me, "stopped", m->stopped ? js(m->stopped) : NULL);
    json_object_object_add(me, "slots_quarantined", ji((int64_t)tbl_quarantined(t)));
    json_object_object_add(me, "allocation_sampling_window", ji((int64_t)m->alloc_window));
    json_object_object_add(me, "copy_sampling_window", ji((int64_t)m->copy_window));
    json_object_object_add(me, "gpu_status", js(gs ? gs->why : m->gpu_off ? m->gpu_off : "off"));
    json_object_object_add(me, "gpu_sampling_interval_sec", jd(gs ? m->gpu_period_sec : 0.0));
    json_object_object_add(me, "gpu_polls", ji(gs ? (int64_t)gs->polls : 0));
    json_object_object_add(me, "gpu_samples_lost", ji(gs ? (int64_t)gs->lost : 0));
    free(gs);
    json_object_object_add(me, "python", js(m->python));
    json_object_object_add(me, "python_version", m->python_version ? js(m->python_version) : NULL);
    json_object_object_add(me, "stacks", json_object_new_boolean(m->stacks));
    json_object_object_add(me, "native_stacks", json_object_new_boolean(m->native));
    json_object_object_add(me, "stack_samples_lost", ji((int64_t)stk_lost(tbl_stk(t))));
    json_object_object_add(me, "stacks_omitted", ji((int64_t)stacks_left));
    json_object_object_add(root, "scalene_c", me);
    return root;
}

/* The length of the valid UTF-8 sequence at s[0..n), 0 if none starts
 * there (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        k = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        k = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80;
        hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b >= 0xf0 && b <= 0xf4) {
        k = 4;
        lo = b == 0xf0 ? 0x90 : 0x80;
        hi = b == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return k;
}

/* The one place where text of the profiled processes (file, function and
 * thread names, argv, paths) reaches the file: json-c copies bytes >= 0x80
 * through unchanged, so a name that is not UTF-8 would make the report
 * invalid JSON. json-c's own output is ASCII outside strings, so every
 * such byte is inside a string literal: each byte that does not start or
 * belong to a valid sequence becomes "\udcXX", which is what Python's
 * surrogateescape makes of it (json.load gives the same str as the
 * program's own __file__; .encode('utf-8', 'surrogateescape') gives back
 * the bytes). Returns a malloc'd text and its length, or NULL (ENOMEM). */
static char *utf8_escape(const char *text, size_t n, size_t *out_n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t bad = 0;
    for (size_t i = 0, k; i < n; i += k ? k : 1)
        bad += (k = utf8_len(s + i, n - i)) == 0;
    char *out = malloc(n + 5 * bad + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0, k; i < n; i += k ? k : 1) {
        if ((k = utf8_len(s + i, n - i)) != 0) {
            memcpy(o, s + i, k);
            o += k;
        } else {
            o += sprintf(o, "\\udc%02x", s[i]);
        }
    }
    *o = 0;
    *out_n = (size_t)(o - out);
    return out;
}

int rpt_write(tbl_t *t, const rpt_meta_t *m, const char *path)
{
    json_c_set_serialization_double_format("%.12g", JSON_C_OPTION_GLOBAL);
    json_object *root = build(t, m);
    size_t n = 0;
    /* issue 16: plain, not pretty: indentation was a third of a large report */
    const char *text = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *clean = text ? utf8_escape(text, n, &n) : NULL;
    int rc = clean ? sf_write(path, clean, n) : -ENOMEM;
    free(clean);
    json_object_put(root);
    if (rc != 0)
        return rc;
    return 0;
}

typedef struct hot {
    uint64_t file_id;
    uint32_t line;
    uint64_t ns;
} hot_t;

static int cmp_hot(const void *a, const void *b)
{
    const hot_t *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

typedef struct sctx {
    int nproc;
    uint64_t dropped;
    int32_t main_pid;
} sctx_t;

static void count_proc(const tbl_proc_t *p, void *arg)
{
    sctx_t *s = arg;
    if (!proc_shown(p, s->main_pid))
        return; /* the report leaves it out: so does the count */
    s->nproc++;
    s->dropped += p->dropped + p->torn;
}

/* A process whose interpreter the runtime cannot read (a child started
 * with another Python; the program's own is checked before it runs): it
 * has no samples, and the summary says why rather than leave it unsaid. */
static void say_unreadable(const tbl_proc_t *p, void *arg)
{
    FILE **out = arg;
    if (p->pyver == 0 || (p->pyver >= REC_PY_MIN_HEX && p->pyver <= REC_PY_MAX_HEX))
        return;
    unsigned a = REC_PY_MIN_HEX >> 24, b = (REC_PY_MIN_HEX >> 16) & 0xff;
    unsigned c = REC_PY_MAX_HEX >> 24, d = (REC_PY_MAX_HEX >> 16) & 0xff;
    char ok[32];
    if (a == c && b == d)
        snprintf(ok, sizeof ok, "%u.%u", a, b);
    else
        snprintf(ok, sizeof ok, "%u.%u to %u.%u", a, b, c, d);
    fprintf(out[0], "scalene: process %d ran Python %u.%u, which scalene cannot profile (it profiles CPython %s): "
                    "it has no samples\n",
            (int)p->pid, p->pyver >> 24, (p->pyver >> 16) & 0xff, ok);
    out[1] = out[0]; /* non-NULL: at least one */
}

static void add_gpu_ns(const tbl_proc_t *p, void *arg) { *(uint64_t *)arg += tbl_rd(&p->g.util_ns); }

void rpt_summary(tbl_t *t, const rpt_meta_t *m, const char *path, FILE *out)
{
    totals_t tot = {0};
    tbl_each_proc(t, take_total, &tot);
    sctx_t sc = {0, 0, m->main_pid};
    tbl_each_proc(t, count_proc, &sc);
    fprintf(out, "scalene: profile written to %s (%d process%s, %.2f s elapsed, %llu records dropped)\n", path,
            sc.nproc, sc.nproc == 1 ? "" : "es", rel(m->end_ns, m->t0_ns), (unsigned long long)sc.dropped);
    for (size_t i = 0; i < m->nunprofiled; i++)
        fprintf(out, "scalene: Python process %d (child of %d) was not profiled: %s\n", (int)m->unprofiled[i].pid,
                (int)m->unprofiled[i].ppid, m->unprofiled[i].why);
    FILE *un[2] = {out, NULL};
    tbl_each_proc(t, say_unreadable, un);
    if (tot.all == 0) {
        if (!un[1])
            fprintf(out, "scalene: no samples: the program did not run for long enough to profile\n");
        return;
    }
    fprintf(out, "scalene: time %.2f s: Python %.1f%%, native %.1f%%, system %.1f%%\n", (double)tot.all / 1e9,
            pct(tot.py, tot.all), pct(tot.nat, tot.all), pct(tot.sys, tot.all));
    vec_t lines = {0};
    tbl_each_line(t, take_line, &lines);
    if (lines.n)
        qsort(lines.v, lines.n, sizeof(row_t), cmp_row);
    hot_t *h = calloc(lines.n + 1, sizeof *h);
    size_t nh = 0;
    for (size_t i = 0; h && i < lines.n;) {
        size_t j = i;
        uint64_t ns = 0;
        while (j < lines.n && lines.v[j].file_id == lines.v[i].file_id && lines.v[j].line == lines.v[i].line)
            ns += row_total(&lines.v[j++]);
        h[nh++] = (hot_t){lines.v[i].file_id, lines.v[i].line, ns};
        i = j;
    }
    if (h && nh)
        qsort(h, nh, sizeof *h, cmp_hot);
    for (size_t i = 0; h && i < nh && i < 5; i++) {
        const char *f = tbl_str(t, h[i].file_id, NULL);
        const char *base = f ? strrchr(f, '/') : NULL;
        fprintf(out, "  %5.1f%%  %s:%u\n", pct(h[i].ns, tot.all), base ? base + 1 : (f ? f : "?"), h[i].line);
    }
    free(h);
    free(lines.v);
    tbl_msum_t ms;
    tbl_mem_summary(t, &ms);
    if (m->memory && ms.records) {
        const char *f = ms.peak_file_id ? tbl_str(t, ms.peak_file_id, NULL) : NULL;
        const char *base = f ? strrchr(f, '/') : NULL;
        fprintf(out, "scalene: memory: peak %.1f MB", mib(ms.peak));
        if (f)
            fprintf(out, " (set at %s:%u)", base ? base + 1 : f, ms.peak_line);
        fprintf(out, ", %.1f MB allocated, %.1f MB still held at the end\n", mib(ms.volume),
                mib(ms.net_end + ms.live));
    }
    nv_state_t *gs = m->nv ? malloc(sizeof *gs) : NULL;
    if (gs)
        nv_state(m->nv, gs);
    if (gs && gs->found) {
        uint64_t gpu_ns = 0;
        tbl_each_proc(t, add_gpu_ns, &gpu_ns);
        fprintf(out, "scalene: GPU: %.2f GPU-seconds used by the profiled processes (%u device%s: %s)\n",
                (double)gpu_ns / 1e9, gs->ndev, gs->ndev == 1 ? "" : "s", gs->dev[0].name);
    }
    free(gs);
    fprintf(out, "scalene: view it with: scalene view --cli %s\n", path);
}
