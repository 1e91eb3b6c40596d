/* SPDX-License-Identifier: Apache-2.0
 * merge.c — `scalene merge` (issue 16): several reports into one.
 *
 * Why at the JSON level: the runs happened on other machines, so their
 * tables are gone; what travels is the report. Every percentage in a report
 * is a share of its own total time (scalene_c.total_sec), so a line's time is
 * recovered as percent x total / 100, summed, and divided by the sum of the
 * totals: exactly the rule rpt.c applies to one run's processes, and
 * associative (a weighted mean whose weights add). Memory volumes add; a
 * line's peak is the peak of the sum of its inputs' live-memory series laid
 * on one clock (the reports' start_time_absolute), and never below any input's
 * own peak. The sample series (<= 100 points) are decimated again, so they are
 * the one part of a merge that is not exactly associative.
 */
#include "merge.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonv.h"
#include "safefile.h"

#define MRG_SERIES_MAX 100 /* points kept in a series, as rpt.c */

typedef struct inp {
    json_object *root; /* borrowed */
    const char *host;  /* the report's host, "unknown" for a report without one */
    double total;      /* scalene_c.total_sec */
    double elapsed;    /* elapsed_time_sec */
    double start;      /* start_time_absolute */
    double off;        /* start - the earliest start (seconds) */
    double alloc;      /* MB allocated by the whole run */
    double stack_sec;  /* time of all its stacks (the denominator of `stacks`' fractions) */
    json_object *keys; /* owned: by_process key in this input -> key in the output */
} inp_t;

typedef struct ser {
    int in;
    json_object *a; /* borrowed: [[ns, MB], ...] */
    double end;     /* seconds since its run's start when it ends (holds 0 after); < 0: its run's end */
} ser_t;

/* One merged line or function row. */
typedef struct acc {
    json_object *first; /* borrowed: the first input's row (text, line numbers, regions) */
    double py, nat, sys; /* seconds */
    double core_w, malloc_mb, mallocs, net, freed, copy_mb;
    double pyfrac_w, pyfrac_n, avg_w, avg_n, peak;
    double gpu_w, gpu_avg_w, gpu_peak;
    bool gpu;
    ser_t *ser;
    size_t nser;
    json_object *times; /* owned until output */
    json_object *byp;   /* owned until output */
} acc_t;

typedef struct rows {
    acc_t *v;
    size_t n, cap;
    json_object *idx; /* owned: key -> index */
} rows_t;

typedef struct mfile {
    const char *name;
    double sec; /* Σ percent_cpu_time x total / 100 */
    rows_t lines, funcs;
    json_object *leaks; /* owned */
    json_object *source; /* owned ref: every line's text (an input's `source`, or its full rows'), or NULL */
} mfile_t;

typedef struct mctx {
    inp_t *in;
    size_t n;
    double total, elapsed, alloc, start;
    mfile_t *f;
    size_t nf, capf;
    json_object *fidx; /* owned: file name -> index */
    json_object *used; /* owned: output process keys */
    char *msg;
    size_t msz;
} mctx_t;

/* ------------------------------------------------------------ small helpers */

static json_object *jd(double v) { return json_object_new_double(v); }

static void set(json_object *o, const char *k, json_object *v) { json_object_object_add(o, k, v); }

static json_object *dup(json_object *o)
{
    json_object *c = NULL;
    if (json_object_deep_copy(o, &c, NULL) != 0)
        return NULL;
    return c;
}

static int bad(mctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(mctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msz, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ------------------------------------------------------------ series */

typedef struct pt {
    double t; /* ns on the merged clock */
    double v; /* MB; for an end mark 0 */
    size_t s; /* which series */
} pt_t;

static int cmp_pt(const void *a, const void *b)
{
    const pt_t *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* Keeps at most MRG_SERIES_MAX of out's n points, evenly spread, the
 * highest one always among them. */
static json_object *decimate(const double (*p)[2], size_t n)
{
    json_object *a = json_object_new_array();
    size_t hi = 0;
    for (size_t i = 1; i < n; i++)
        if (p[i][1] > p[hi][1])
            hi = i;
    size_t k = n < MRG_SERIES_MAX ? n : MRG_SERIES_MAX;
    size_t prev = (size_t)-1;
    for (size_t j = 0; j < k; j++) {
        size_t i = k > 1 ? (size_t)llround((double)j * (double)(n - 1) / (double)(k - 1)) : 0;
        if (n > k && prev != (size_t)-1 && prev < hi && i > hi) /* the peak falls between two picks */
            i = hi;
        if (i == prev)
            continue;
        prev = i;
        json_object *e = json_object_new_array_ext(2);
        json_object_array_add(e, json_object_new_int64((int64_t)llround(p[i][0])));
        json_object_array_add(e, jd(p[i][1]));
        json_object_array_add(a, e);
    }
    return a;
}

/* The sum of several live-memory series ([[ns since its run's start, MB]]),
 * each a step function that holds its last value until its run ends and is 0
 * outside its run, laid on the merged clock. Returns the sum's peak; *out (new)
 * is the summed series, decimated. */
static double sum_series(const mctx_t *c, const ser_t *s, size_t ns, json_object **out)
{
    size_t np = 0;
    for (size_t i = 0; i < ns; i++)
        np += json_object_array_length(s[i].a) + 1;
    pt_t *p = malloc((np ? np : 1) * sizeof *p);
    double *cur = calloc(ns ? ns : 1, sizeof *cur);
    double(*o)[2] = malloc((np ? np : 1) * sizeof *o);
    double peak = 0;
    size_t no = 0;
    if (!p || !cur || !o) {
        free(p);
        free(cur);
        free(o);
        *out = json_object_new_array();
        return 0;
    }
    np = 0;
    for (size_t i = 0; i < ns; i++) {
        const inp_t *in = &c->in[s[i].in];
        double base = in->off * 1e9, last = base;
        size_t n = json_object_array_length(s[i].a);
        for (size_t j = 0; j < n; j++) {
            json_object *e = json_object_array_get_idx(s[i].a, j);
            json_object *t = json_object_array_get_idx(e, 0), *v = json_object_array_get_idx(e, 1);
            if (!jv_is_num(t) || !jv_is_num(v))
                continue;
            p[np++] = (pt_t){base + json_object_get_double(t), json_object_get_double(v), i};
            last = p[np - 1].t;
        }
        double end = (in->off + (s[i].end >= 0 ? s[i].end : in->elapsed)) * 1e9;
        p[np++] = (pt_t){end > last ? end + 1 : last + 1, 0.0, i}; /* its run is over: holds nothing */
    }
    qsort(p, np, sizeof *p, cmp_pt);
    double sum = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        for (; j < np && p[j].t == p[i].t; j++) {
            sum += p[j].v - cur[p[j].s];
            cur[p[j].s] = p[j].v;
        }
        if (sum > peak)
            peak = sum;
        if (j < np || ns == 1 || sum != 0) { /* the final end mark adds nothing */
            o[no][0] = p[i].t;
            o[no][1] = sum < 0 ? 0 : sum;
            no++;
        }
        i = j;
    }
    /* drop the end marks of a single series: it is a copy, shifted */
    if (ns == 1 && no > 0)
        no--;
    *out = decimate((const double(*)[2])o, no);
    free(p);
    free(cur);
    free(o);
    return peak;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A row's cpu_samples_list (seconds since start), shifted, joined, sorted,
 * at most MRG_SERIES_MAX evenly spread. */
static json_object *times_out(json_object *t)
{
    size_t n = json_object_array_length(t);
    double *v = malloc((n ? n : 1) * sizeof *v);
    json_object *a = json_object_new_array();
    if (!v)
        return a;
    for (size_t i = 0; i < n; i++)
        v[i] = json_object_get_double(json_object_array_get_idx(t, i));
    qsort(v, n, sizeof *v, cmp_dbl);
    size_t k = n < MRG_SERIES_MAX ? n : MRG_SERIES_MAX;
    for (size_t j = 0; j < k; j++)
        json_object_array_add(a, jd(v[k > 1 ? (size_t)llround((double)j * (double)(n - 1) / (double)(k - 1)) : 0]));
    free(v);
    return a;
}

/* A copy of [[ns, MB], ...] moved by off seconds. */
static json_object *shift_series(json_object *a, double off)
{
    json_object *o = json_object_new_array();
    size_t n = a ? json_object_array_length(a) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        json_object *t = json_object_array_get_idx(e, 0), *v = json_object_array_get_idx(e, 1);
        if (!jv_is_num(t) || !jv_is_num(v))
            continue;
        json_object *x = json_object_new_array_ext(2);
        json_object_array_add(x, json_object_new_int64((int64_t)llround(json_object_get_double(t) + off * 1e9)));
        json_object_array_add(x, jd(json_object_get_double(v)));
        json_object_array_add(o, x);
    }
    return o;
}

static void shift_sec(json_object *o, const char *k, double off)
{
    json_object *v = jv_get(o, k);
    if (jv_is_num(v))
        set(o, k, jd(json_object_get_double(v) + off));
}

/* ------------------------------------------------------------ process keys */

/* The output key for a process of input in: its own key if it has one (a
 * merged report's), else host:pid; made unique with #2, #3, ... */
static const char *new_key(mctx_t *c, inp_t *in, const char *old, const char *host, const char *given)
{
    json_object *v = jv_get(in->keys, old);
    if (v)
        return json_object_get_string(v);
    char base[512], key[540];
    if (given)
        snprintf(base, sizeof base, "%s", given);
    else
        snprintf(base, sizeof base, "%s:%s", host, old);
    snprintf(key, sizeof key, "%s", base);
    for (int k = 2; jv_get(c->used, key); k++)
        snprintf(key, sizeof key, "%s#%d", base, k);
    set(c->used, key, json_object_new_boolean(1));
    set(in->keys, old, json_object_new_string(key));
    return json_object_get_string(jv_get(in->keys, old));
}

static const char *proc_old_key(json_object *p, char *buf, size_t n)
{
    const char *k = jv_str(p, "key");
    if (k)
        return k;
    snprintf(buf, n, "%lld", (long long)json_object_get_int64(jv_get(p, "pid")));
    return buf;
}

/* ------------------------------------------------------------ rows */

static acc_t *row_at(rows_t *r, const char *key, json_object *first)
{
    json_object *i = jv_get(r->idx, key);
    if (i)
        return &r->v[json_object_get_int(i)];
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        acc_t *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return NULL;
        r->v = v;
        r->cap = cap;
    }
    acc_t *a = &r->v[r->n];
    memset(a, 0, sizeof *a);
    a->first = first;
    a->times = json_object_new_array();
    a->byp = json_object_new_object();
    set(r->idx, key, json_object_new_int((int)r->n));
    r->n++;
    return a;
}

static void rescale(json_object *o, const char *k, double f)
{
    json_object *v = jv_get(o, k);
    if (jv_is_num(v))
        set(o, k, jd(json_object_get_double(v) * f));
}

static int acc_row(mctx_t *c, acc_t *a, json_object *row, int ii)
{
    inp_t *in = &c->in[ii];
    double py = jv_num(row, "n_cpu_percent_python") * in->total / 100;
    double nat = jv_num(row, "n_cpu_percent_c") * in->total / 100;
    double sys = jv_num(row, "n_sys_percent") * in->total / 100;
    double cpu = py + nat + sys;
    a->py += py;
    a->nat += nat;
    a->sys += sys;
    a->core_w += jv_num(row, "n_core_utilization") * cpu;
    double mb = jv_num(row, "n_malloc_mb"), n = jv_num(row, "n_mallocs");
    a->malloc_mb += mb;
    a->mallocs += n;
    a->net += jv_num(row, "n_net_mb");
    a->freed += jv_num(row, "n_freed_mb");
    a->copy_mb += jv_num(row, "n_copy_mb_s") * in->elapsed;
    double w = mb > 0 ? mb : n;
    a->pyfrac_w += jv_num(row, "n_python_fraction") * w;
    a->pyfrac_n += w;
    a->avg_w += jv_num(row, "n_avg_mb") * (n > 0 ? n : 0);
    a->avg_n += n > 0 ? n : 0;
    if (jv_num(row, "n_peak_mb") > a->peak)
        a->peak = jv_num(row, "n_peak_mb");
    if (jv_get(row, "n_gpu_percent")) {
        a->gpu = true;
        a->gpu_w += jv_num(row, "n_gpu_percent") * cpu;
        a->gpu_avg_w += jv_num(row, "n_gpu_avg_memory_mb") * cpu;
        if (jv_num(row, "n_gpu_peak_memory_mb") > a->gpu_peak)
            a->gpu_peak = jv_num(row, "n_gpu_peak_memory_mb");
    }
    json_object *ms = jv_arr(row, "memory_samples");
    if (ms && json_object_array_length(ms)) {
        ser_t *s = realloc(a->ser, (a->nser + 1) * sizeof *s);
        if (!s)
            return -ENOMEM;
        a->ser = s;
        a->ser[a->nser++] = (ser_t){ii, ms, -1};
    }
    json_object *ts = jv_arr(row, "cpu_samples_list");
    for (size_t i = 0, k = ts ? json_object_array_length(ts) : 0; i < k; i++) {
        json_object *t = json_object_array_get_idx(ts, i);
        if (jv_is_num(t))
            json_object_array_add(a->times, jd(json_object_get_double(t) + in->off));
    }
    json_object *bp = jv_get(row, "by_process");
    if (bp && json_object_is_type(bp, json_type_object)) {
        json_object_object_foreach(bp, key, val)
        {
            if (!json_object_is_type(val, json_type_object))
                return bad(c, "by_process[\"%s\"] is not an object", key);
            const char *nk = new_key(c, in, key, in->host, NULL);
            json_object *v = dup(val);
            if (!v)
                return -ENOMEM;
            double f = c->total > 0 ? in->total / c->total : 0;
            rescale(v, "n_cpu_percent_python", f);
            rescale(v, "n_cpu_percent_c", f);
            rescale(v, "n_sys_percent", f);
            rescale(v, "n_copy_mb_s", c->elapsed > 0 ? in->elapsed / c->elapsed : 0);
            rescale(v, "n_usage_fraction", c->alloc > 0 ? in->alloc / c->alloc : 0);
            if (jv_arr(v, "memory_samples"))
                set(v, "memory_samples", shift_series(jv_arr(v, "memory_samples"), in->off));
            set(a->byp, nk, v);
        }
    }
    return 0;
}

static json_object *row_out(mctx_t *c, acc_t *a)
{
    json_object *o = dup(a->first);
    if (!o)
        return NULL;
    double cpu = a->py + a->nat + a->sys, T = c->total;
    set(o, "n_cpu_percent_python", jd(T > 0 ? 100 * a->py / T : 0));
    set(o, "n_cpu_percent_c", jd(T > 0 ? 100 * a->nat / T : 0));
    set(o, "n_sys_percent", jd(T > 0 ? 100 * a->sys / T : 0));
    set(o, "n_core_utilization", jd(cpu > 0 ? a->core_w / cpu : 0));
    set(o, "cpu_samples_list", times_out(a->times));
    if (jv_get(a->first, "n_malloc_mb") || a->malloc_mb > 0) {
        json_object *series = NULL;
        double peak = a->nser ? sum_series(c, a->ser, a->nser, &series) : 0;
        if (a->peak > peak)
            peak = a->peak;
        set(o, "n_malloc_mb", jd(a->malloc_mb));
        set(o, "n_mallocs", json_object_new_int64((int64_t)llround(a->mallocs)));
        set(o, "n_peak_mb", jd(peak));
        double avg = a->avg_n > 0 ? a->avg_w / a->avg_n : 0;
        set(o, "n_avg_mb", jd(avg > peak ? peak : avg));
        set(o, "n_growth_mb", jd(peak));
        set(o, "n_python_fraction", jd(a->pyfrac_n > 0 ? a->pyfrac_w / a->pyfrac_n : 0));
        set(o, "n_usage_fraction", jd(c->alloc > 0 ? a->malloc_mb / c->alloc : 0));
        set(o, "n_copy_mb_s", jd(c->elapsed > 0 ? a->copy_mb / c->elapsed : 0));
        set(o, "memory_samples", series ? series : json_object_new_array());
        set(o, "n_net_mb", jd(a->net));
        set(o, "n_freed_mb", jd(a->freed));
    }
    if (a->gpu) {
        set(o, "n_gpu_percent", jd(cpu > 0 ? a->gpu_w / cpu : 0));
        set(o, "n_gpu_avg_memory_mb", jd(cpu > 0 ? a->gpu_avg_w / cpu : 0));
        set(o, "n_gpu_peak_memory_mb", jd(a->gpu_peak));
    }
    if (json_object_object_length(a->byp) || jv_get(a->first, "by_process")) {
        set(o, "by_process", a->byp);
        a->byp = NULL;
    }
    return o;
}

static void rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_object_put(r->v[i].times);
        json_object_put(r->v[i].byp);
        free(r->v[i].ser);
    }
    free(r->v);
    json_object_put(r->idx);
}

/* ------------------------------------------------------------ files */

static mfile_t *file_at(mctx_t *c, const char *name)
{
    json_object *i = jv_get(c->fidx, name);
    if (i)
        return &c->f[json_object_get_int(i)];
    if (c->nf == c->capf) {
        size_t cap = c->capf ? 2 * c->capf : 16;
        mfile_t *v = realloc(c->f, cap * sizeof *v);
        if (!v)
            return NULL;
        c->f = v;
        c->capf = cap;
    }
    mfile_t *f = &c->f[c->nf];
    memset(f, 0, sizeof *f);
    f->name = name;
    f->lines.idx = json_object_new_object();
    f->funcs.idx = json_object_new_object();
    f->leaks = json_object_new_object();
    set(c->fidx, name, json_object_new_int((int)c->nf));
    c->nf++;
    return f;
}

static bool is_idle(json_object *row);

/* A file's text, line by line: its `source` (compact), or its rows' text when
 * they are every line 1..n in order (full); else NULL. A new reference. */
static json_object *source_of(json_object *fo)
{
    json_object *src = jv_arr(fo, "source"), *rows = jv_arr(fo, "lines");
    if (src)
        return json_object_get(src);
    size_t n = rows ? json_object_array_length(rows) : 0;
    for (size_t i = 0; i < n; i++)
        if (json_object_get_int64(jv_get(json_object_array_get_idx(rows, i), "lineno")) != (int64_t)i + 1 ||
            !jv_str(json_object_array_get_idx(rows, i), "line"))
            return NULL;
    if (!n)
        return NULL;
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_get(jv_get(json_object_array_get_idx(rows, i), "line")));
    return a;
}

static int take_rows(mctx_t *c, rows_t *r, json_object *rows, int ii, bool funcs, bool skip_idle, const char *where)
{
    if (!rows)
        return 0;
    for (size_t i = 0, n = json_object_array_length(rows); i < n; i++) {
        json_object *row = json_object_array_get_idx(rows, i);
        json_object *ln = jv_get(row, "lineno");
        if (!json_object_is_type(row, json_type_object) || !json_object_is_type(ln, json_type_int))
            return bad(c, "%s[%zu] is not a row with a lineno", where, i);
        if (skip_idle && !funcs && is_idle(row))
            continue; /* adds nothing; its text is in the file's source */
        char key[600];
        const char *name = funcs ? jv_str(row, "line") : NULL;
        snprintf(key, sizeof key, "%lld\t%s", (long long)json_object_get_int64(ln), name ? name : "");
        acc_t *a = row_at(r, key, row);
        if (!a)
            return -ENOMEM;
        int rc = acc_row(c, a, row, ii);
        if (rc)
            return rc;
    }
    return 0;
}

static int take_files(mctx_t *c, int ii)
{
    json_object *files = jv_get(c->in[ii].root, "files");
    json_object_object_foreach(files, name, fo)
    {
        if (!json_object_is_type(fo, json_type_object))
            return bad(c, "files[\"%s\"] is not an object", name);
        mfile_t *f = file_at(c, name);
        if (!f)
            return -ENOMEM;
        f->sec += jv_num(fo, "percent_cpu_time") * c->in[ii].total / 100;
        if (!f->source)
            f->source = source_of(fo);
        int rc;
        char wl[320], wf[320];
        snprintf(wl, sizeof wl, "files[\"%.200s\"].lines", name);
        snprintf(wf, sizeof wf, "files[\"%.200s\"].functions", name);
        if ((rc = take_rows(c, &f->lines, jv_arr(fo, "lines"), ii, false, f->source != NULL, wl)) ||
            (rc = take_rows(c, &f->funcs, jv_arr(fo, "functions"), ii, true, false, wf)))
            return rc;
        json_object *lk = jv_get(fo, "leaks");
        if (json_object_is_type(lk, json_type_object)) {
            json_object_object_foreach(lk, ln, v)
            {
                json_object *old = jv_get(f->leaks, ln);
                if (!old || jv_num(v, "likelihood") > jv_num(old, "likelihood"))
                    set(f->leaks, ln, dup(v));
            }
        }
    }
    return 0;
}

static int cmp_lineno(const void *a, const void *b)
{
    int64_t x = json_object_get_int64(jv_get(*(json_object *const *)a, "lineno"));
    int64_t y = json_object_get_int64(jv_get(*(json_object *const *)b, "lineno"));
    return x < y ? -1 : x > y;
}

static json_object *files_out(mctx_t *c)
{
    json_object *files = json_object_new_object();
    for (size_t i = 0; i < c->nf; i++) {
        mfile_t *f = &c->f[i];
        json_object *fo = json_object_new_object();
        set(fo, "percent_cpu_time", jd(c->total > 0 ? 100 * f->sec / c->total : 0));
        json_object *lines = json_object_new_array(), *funcs = json_object_new_array();
        for (size_t k = 0; k < f->lines.n; k++)
            json_object_array_add(lines, row_out(c, &f->lines.v[k]));
        json_object_array_sort(lines, cmp_lineno);
        for (size_t k = 0; k < f->funcs.n; k++)
            json_object_array_add(funcs, row_out(c, &f->funcs.v[k]));
        set(fo, "lines", lines);
        if (f->source) {
            set(fo, "source", f->source);
            f->source = NULL;
        }
        set(fo, "functions", funcs);
        set(fo, "leaks", f->leaks);
        f->leaks = NULL;
        set(fo, "imports", json_object_new_array());
        set(files, f->name, fo);
    }
    return files;
}

/* ------------------------------------------------------------ stacks */

/* combined_stacks ([[frame...], hits]) joined by their frames; `stacks`
 * ([[names], {count, python_time, c_time, cpu_samples}]) by their names,
 * the fractions turned back into seconds by each input's stack time. */
static void stacks_out(mctx_t *c, json_object *root)
{
    json_object *cidx = json_object_new_object(), *comb = json_object_new_array();
    json_object *sidx = json_object_new_object(), *sc = json_object_new_array();
    double all = 0, count = 0;
    size_t ns = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_object *cs = jv_arr(c->in[i].root, "combined_stacks");
        for (size_t k = 0, n = cs ? json_object_array_length(cs) : 0; k < n; k++) {
            json_object *e = json_object_array_get_idx(cs, k);
            json_object *fr = json_object_array_get_idx(e, 0), *h = json_object_array_get_idx(e, 1);
            if (!fr || !jv_is_num(h))
                continue;
            const char *key = json_object_to_json_string_ext(fr, JSON_C_TO_STRING_PLAIN);
            json_object *at = jv_get(cidx, key);
            if (at) {
                json_object *x = json_object_array_get_idx(comb, (size_t)json_object_get_int(at));
                json_object_array_put_idx(x, 1, json_object_new_int64(json_object_get_int64(json_object_array_get_idx(x, 1)) +
                                                                       json_object_get_int64(h)));
            } else {
                set(cidx, key, json_object_new_int((int)json_object_array_length(comb)));
                json_object_array_add(comb, dup(e));
            }
        }
        json_object *st = jv_arr(c->in[i].root, "stacks");
        for (size_t k = 0, n = st ? json_object_array_length(st) : 0; k < n; k++) {
            json_object *e = json_object_array_get_idx(st, k);
            json_object *names = json_object_array_get_idx(e, 0), *o = json_object_array_get_idx(e, 1);
            if (!names || !json_object_is_type(o, json_type_object))
                continue;
            const char *key = json_object_to_json_string_ext(names, JSON_C_TO_STRING_PLAIN);
            double py = jv_num(o, "python_time") * c->in[i].stack_sec, ct = jv_num(o, "c_time") * c->in[i].stack_sec;
            double cnt = jv_num(o, "count");
            all += py + ct;
            count += cnt;
            json_object *at = jv_get(sidx, key), *x;
            if (at) {
                x = json_object_array_get_idx(sc, (size_t)json_object_get_int(at));
            } else {
                set(sidx, key, json_object_new_int((int)ns++));
                x = json_object_new_array_ext(2);
                json_object_array_add(x, dup(names));
                json_object *z = json_object_new_object();
                set(z, "count", jd(0));
                set(z, "python_time", jd(0));
                set(z, "c_time", jd(0));
                json_object_array_add(x, z);
                json_object_array_add(sc, x);
            }
            json_object *z = json_object_array_get_idx(x, 1);
            set(z, "count", jd(jv_num(z, "count") + cnt));
            set(z, "python_time", jd(jv_num(z, "python_time") + py)); /* seconds until the end */
            set(z, "c_time", jd(jv_num(z, "c_time") + ct));
        }
    }
    for (size_t k = 0; k < ns; k++) {
        json_object *z = json_object_array_get_idx(json_object_array_get_idx(sc, k), 1);
        double cnt = jv_num(z, "count");
        set(z, "count", json_object_new_int64((int64_t)llround(cnt)));
        set(z, "python_time", jd(all > 0 ? jv_num(z, "python_time") / all : 0));
        set(z, "c_time", jd(all > 0 ? jv_num(z, "c_time") / all : 0));
        set(z, "cpu_samples", jd(count > 0 ? cnt / count : 0));
    }
    json_object_put(cidx);
    json_object_put(sidx);
    set(root, "combined_stacks", comb);
    set(root, "stacks", sc);
}

/* ------------------------------------------------------------ the merge */

static int cmp_hits(const void *a, const void *b)
{
    int64_t x = json_object_get_int64(json_object_array_get_idx(*(json_object *const *)a, 1));
    int64_t y = json_object_get_int64(json_object_array_get_idx(*(json_object *const *)b, 1));
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(json_object_get_string(*(json_object *const *)a), json_object_get_string(*(json_object *const *)b));
}

static int prepare(mctx_t *c)
{
    c->start = INFINITY;
    for (size_t i = 0; i < c->n; i++) {
        inp_t *in = &c->in[i];
        json_object *r = in->root, *files = jv_get(r, "files");
        if (!json_object_is_type(r, json_type_object) || !json_object_is_type(files, json_type_object))
            return bad(c, "input %zu: not a profile (no \"files\" object)", i + 1);
        in->host = jv_str(r, "host");
        if (!in->host || !*in->host)
            in->host = "unknown";
        json_object *sc = jv_get(r, "scalene_c");
        in->total = jv_num(sc, "total_sec");
        json_object *procs = jv_arr(r, "processes");
        if (!jv_get(sc, "total_sec")) /* a report without it: its processes' time */
            for (size_t k = 0, n = procs ? json_object_array_length(procs) : 0; k < n; k++) {
                json_object *p = json_object_array_get_idx(procs, k);
                in->total += jv_num(p, "python_sec") + jv_num(p, "native_sec") + jv_num(p, "sys_sec");
            }
        in->elapsed = jv_num(r, "elapsed_time_sec");
        in->start = jv_num(r, "start_time_absolute");
        for (size_t k = 0, n = procs ? json_object_array_length(procs) : 0; k < n; k++) {
            json_object *p = json_object_array_get_idx(procs, k);
            if (!json_object_is_type(p, json_type_object) || !json_object_is_type(jv_get(p, "pid"), json_type_int))
                return bad(c, "input %zu: processes[%zu] is not a process with a pid", i + 1, k);
            in->alloc += jv_num(p, "python_malloc_mb") + jv_num(p, "native_malloc_mb");
            json_object *ps = jv_arr(p, "stacks");
            for (size_t j = 0, m = ps ? json_object_array_length(ps) : 0; j < m; j++)
                in->stack_sec += jv_num(json_object_array_get_idx(json_object_array_get_idx(ps, j), 1), "cpu_sec");
        }
        if (in->stack_sec <= 0)
            in->stack_sec = in->total;
        in->keys = json_object_new_object();
        if (in->start < c->start)
            c->start = in->start;
        c->total += in->total;
        c->alloc += in->alloc;
    }
    for (size_t i = 0; i < c->n; i++) {
        inp_t *in = &c->in[i];
        in->off = in->start - c->start;
        if (in->off + in->elapsed > c->elapsed)
            c->elapsed = in->off + in->elapsed;
    }
    return 0;
}

static void procs_out(mctx_t *c, json_object *root)
{
    json_object *procs = json_object_new_array(), *threads = json_object_new_array();
    json_object *hosts = json_object_new_object(), *devs = json_object_new_array();
    for (size_t i = 0; i < c->n; i++) {
        inp_t *in = &c->in[i];
        json_object *ps = jv_arr(in->root, "processes");
        for (size_t k = 0, n = ps ? json_object_array_length(ps) : 0; k < n; k++) {
            json_object *p = dup(json_object_array_get_idx(ps, k));
            char host[256];
            const char *ph = jv_str(p, "host");
            snprintf(host, sizeof host, "%s", ph && *ph ? ph : in->host);
            char buf[32];
            const char *old = proc_old_key(p, buf, sizeof buf);
            const char *key = new_key(c, in, old, host, jv_str(p, "key"));
            set(p, "host", json_object_new_string(host));
            set(p, "key", json_object_new_string(key));
            set(hosts, host, json_object_new_boolean(1));
            shift_sec(p, "start_sec", in->off);
            shift_sec(p, "end_sec", in->off);
            shift_sec(p, "peak_footprint_sec", in->off);
            if (jv_arr(p, "footprint_samples"))
                set(p, "footprint_samples", shift_series(jv_arr(p, "footprint_samples"), in->off));
            if (jv_arr(p, "rss_samples"))
                set(p, "rss_samples", shift_series(jv_arr(p, "rss_samples"), in->off));
            json_object_array_add(procs, p);
        }
        if (!ps || !json_object_array_length(ps))
            set(hosts, in->host, json_object_new_boolean(1));
        json_object *hs = jv_arr(in->root, "hosts");
        for (size_t k = 0, n = hs ? json_object_array_length(hs) : 0; k < n; k++)
            if (json_object_is_type(json_object_array_get_idx(hs, k), json_type_string))
                set(hosts, json_object_get_string(json_object_array_get_idx(hs, k)), json_object_new_boolean(1));
        json_object *ts = jv_arr(in->root, "threads");
        for (size_t k = 0, n = ts ? json_object_array_length(ts) : 0; k < n; k++) {
            json_object *t = dup(json_object_array_get_idx(ts, k));
            char buf[32];
            const char *old = jv_str(t, "process_key");
            if (!old) {
                snprintf(buf, sizeof buf, "%lld", (long long)json_object_get_int64(jv_get(t, "pid")));
                old = buf;
            }
            char host[256];
            const char *th = jv_str(t, "host");
            snprintf(host, sizeof host, "%s", th ? th : in->host);
            set(t, "process_key", json_object_new_string(new_key(c, in, old, host, NULL)));
            set(t, "host", json_object_new_string(host));
            json_object_array_add(threads, t);
        }
        json_object *gd = jv_arr(in->root, "gpu_devices");
        for (size_t k = 0, n = gd ? json_object_array_length(gd) : 0; k < n; k++) {
            json_object *d = dup(json_object_array_get_idx(gd, k));
            if (!jv_str(d, "host"))
                set(d, "host", json_object_new_string(in->host));
            json_object_array_add(devs, d);
        }
    }
    json_object *hl = json_object_new_array();
    json_object_object_foreach(hosts, h, v)
    {
        (void)v;
        json_object_array_add(hl, json_object_new_string(h));
    }
    json_object_array_sort(hl, cmp_str);
    json_object_put(hosts);
    set(root, "host", json_object_new_string(json_object_array_length(hl) == 1
                                                  ? json_object_get_string(json_object_array_get_idx(hl, 0))
                                                  : ""));
    set(root, "hosts", hl);
    set(root, "gpu_devices", devs);
    set(root, "processes", procs);
    set(root, "threads", threads);
}

static int cmp_pair(const void *a, const void *b)
{
    double x = json_object_get_double(json_object_array_get_idx(*(json_object *const *)a, 0));
    double y = json_object_get_double(json_object_array_get_idx(*(json_object *const *)b, 0));
    return x < y ? -1 : x > y;
}

/* The run-wide footprint: the peak of the sum of every process's live
 * memory, over all inputs. A process's series is its footprint_samples with
 * its own peak (peak_footprint_sec, peak_footprint_mb) put in, since a
 * decimated series may have lost it; between points a series holds its last
 * value, and after the process ends it holds nothing. A run's own peak is a
 * floor: the merged peak is never below any input's. */
static void footprint_out(mctx_t *c, json_object *root)
{
    size_t np = 0, ns = 0, top = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_object *ps = jv_arr(c->in[i].root, "processes");
        np += ps ? json_object_array_length(ps) : 0;
    }
    ser_t *s = calloc(np ? np : 1, sizeof *s);
    json_object *own = json_object_new_array(); /* keeps the augmented series alive */
    double best = -1, growth = 0, nat = 0;
    int64_t alloc_samples = 0;
    bool memory = false;
    for (size_t i = 0; i < c->n; i++) {
        json_object *r = c->in[i].root, *ps = jv_arr(r, "processes");
        for (size_t k = 0, n = ps ? json_object_array_length(ps) : 0; s && k < n; k++) {
            json_object *p = json_object_array_get_idx(ps, k), *fs = jv_arr(p, "footprint_samples");
            json_object *a = fs ? dup(fs) : json_object_new_array();
            if (!a)
                continue;
            if (jv_num(p, "peak_footprint_mb") > 0) {
                json_object *e = json_object_new_array_ext(2);
                json_object_array_add(e, json_object_new_int64((int64_t)llround(jv_num(p, "peak_footprint_sec") * 1e9)));
                json_object_array_add(e, jd(jv_num(p, "peak_footprint_mb")));
                json_object_array_add(a, e);
                json_object_array_sort(a, cmp_pair);
            }
            json_object_array_add(own, a);
            if (json_object_array_length(a))
                s[ns++] = (ser_t){(int)i, a, jv_is_num(jv_get(p, "end_sec")) ? jv_num(p, "end_sec") : -1};
        }
        if (jv_num(r, "max_footprint_mb") > best) {
            best = jv_num(r, "max_footprint_mb");
            top = i;
        }
        growth += jv_num(r, "growth_rate") / 100 * c->in[i].alloc;
        nat += jv_num(r, "native_allocations_mb");
        alloc_samples += (int64_t)jv_num(r, "alloc_samples");
        memory = memory || json_object_get_boolean(jv_get(r, "memory"));
    }
    json_object *series = NULL;
    double peak = s && ns ? sum_series(c, s, ns, &series) : 0;
    free(s);
    json_object_put(own);
    json_object *tr = c->in[top].root;
    set(root, "memory", json_object_new_boolean(memory));
    set(root, "samples", series ? series : json_object_new_array());
    set(root, "max_footprint_mb", jd(peak > best ? peak : best));
    set(root, "max_footprint_python_fraction", jd(jv_num(tr, "max_footprint_python_fraction")));
    set(root, "max_footprint_fname", jv_get(tr, "max_footprint_fname") ? dup(jv_get(tr, "max_footprint_fname")) : NULL);
    set(root, "max_footprint_lineno", jv_get(tr, "max_footprint_lineno") ? dup(jv_get(tr, "max_footprint_lineno")) : NULL);
    set(root, "growth_rate", jd(c->alloc > 0 ? 100 * growth / c->alloc : 0));
    set(root, "native_allocations_mb", jd(nat));
    set(root, "alloc_samples", json_object_new_int64(alloc_samples));
}

static void runs_out(mctx_t *c, json_object *root)
{
    json_object *runs = json_object_new_array();
    for (size_t i = 0; i < c->n; i++) {
        json_object *r = c->in[i].root, *rr = jv_arr(r, "runs");
        if (rr) { /* a merged report: its runs, flattened (merging stays associative) */
            for (size_t k = 0, n = json_object_array_length(rr); k < n; k++)
                json_object_array_add(runs, dup(json_object_array_get_idx(rr, k)));
            continue;
        }
        json_object *o = json_object_new_object();
        set(o, "host", json_object_new_string(c->in[i].host));
        set(o, "program", jv_get(r, "program") ? dup(jv_get(r, "program")) : NULL);
        set(o, "start_time_absolute", jd(c->in[i].start));
        set(o, "elapsed_time_sec", jd(c->in[i].elapsed));
        set(o, "total_sec", jd(c->in[i].total));
        json_object_array_add(runs, o);
    }
    set(root, "runs", runs);
}

static void totals_out(mctx_t *c, json_object *root)
{
    json_object *sc = dup(jv_get(c->in[0].root, "scalene_c"));
    if (!sc)
        sc = json_object_new_object();
    const char *sum[] = {"python_sec", "native_sec", "sys_sec"};
    const char *isum[] = {"unslotted_processes", "gpu_polls", "gpu_samples_lost", "stack_samples_lost", "stacks_omitted"};
    for (size_t k = 0; k < sizeof sum / sizeof *sum; k++) {
        double v = 0;
        for (size_t i = 0; i < c->n; i++)
            v += jv_num(jv_get(c->in[i].root, "scalene_c"), sum[k]);
        set(sc, sum[k], jd(v));
    }
    for (size_t k = 0; k < sizeof isum / sizeof *isum; k++) {
        int64_t v = 0;
        for (size_t i = 0; i < c->n; i++)
            v += (int64_t)jv_num(jv_get(c->in[i].root, "scalene_c"), isum[k]);
        set(sc, isum[k], json_object_new_int64(v));
    }
    bool stacks = false;
    for (size_t i = 0; i < c->n; i++)
        stacks = stacks || json_object_get_boolean(jv_get(jv_get(c->in[i].root, "scalene_c"), "stacks"));
    set(sc, "stacks", json_object_new_boolean(stacks));
    set(sc, "total_sec", jd(c->total));
    set(root, "scalene_c", sc);
}

int mrg_reports(json_object *const *in, size_t n, json_object **out, char *msg, size_t msz)
{
    mctx_t c = {0};
    int rc = -ENOMEM;
    *out = NULL;
    msg[0] = 0;
    c.msg = msg;
    c.msz = msz;
    c.n = n;
    c.in = calloc(n ? n : 1, sizeof *c.in);
    c.fidx = json_object_new_object();
    c.used = json_object_new_object();
    if (!c.in || !c.fidx || !c.used || n == 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        c.in[i].root = in[i];
    if ((rc = prepare(&c)))
        goto done; /* prepare names the input */
    json_object *root = json_object_new_object();
    json_object *r0 = in[0];
    const char *copy[] = {"program", "entrypoint_dir", "filename", "args", "start_time_perf", "gpu", "gpu_device"};
    for (size_t k = 0; k < sizeof copy / sizeof *copy; k++)
        set(root, copy[k], jv_get(r0, copy[k]) ? dup(jv_get(r0, copy[k])) : NULL);
    set(root, "elapsed_time_sec", jd(c.elapsed));
    set(root, "start_time_absolute", jd(c.start));
    procs_out(&c, root); /* first: it assigns the process keys in input order */
    for (size_t i = 0; i < n; i++)
        if ((rc = take_files(&c, (int)i))) {
            char m2[400];
            snprintf(m2, sizeof m2, "%s", msg);
            snprintf(msg, msz, "input %zu: %s", i + 1, m2);
            json_object_put(root);
            goto done;
        }
    set(root, "files", files_out(&c));
    bool gpu = false;
    for (size_t i = 0; i < n; i++)
        gpu = gpu || json_object_get_boolean(jv_get(in[i], "gpu"));
    set(root, "gpu", json_object_new_boolean(gpu));
    set(root, "gpu_device", json_object_new_string(gpu ? "GPU" : ""));
    set(root, "async_profile", json_object_new_boolean(0));
    footprint_out(&c, root);
    stacks_out(&c, root);
    json_object *cs = jv_arr(root, "combined_stacks");
    json_object_array_sort(cs, cmp_hits);
    set(root, "memory_stacks", json_object_new_array());
    set(root, "main_thread_id", jv_get(r0, "main_thread_id") ? dup(jv_get(r0, "main_thread_id")) : NULL);
    runs_out(&c, root);
    totals_out(&c, root);
    *out = root;
    rc = 0;
done:
    for (size_t i = 0; c.in && i < n; i++)
        json_object_put(c.in[i].keys);
    for (size_t i = 0; i < c.nf; i++) {
        rows_free(&c.f[i].lines);
        rows_free(&c.f[i].funcs);
        json_object_put(c.f[i].leaks);
        json_object_put(c.f[i].source);
    }
    free(c.f);
    free(c.in);
    json_object_put(c.fidx);
    json_object_put(c.used);
    if (rc == -ENOMEM && !msg[0])
        snprintf(msg, msz, "out of memory");
    return rc;
}

/* ------------------------------------------------------------ compact form */

static json_object *ji64(int64_t v) { return json_object_new_int64(v); }

/* An idle line as rpt.c writes it in the full form. */
static json_object *idle_row(int64_t lineno, json_object *text)
{
    json_object *o = json_object_new_object();
    set(o, "lineno", ji64(lineno));
    set(o, "line", json_object_get(text));
    const char *zero_d[] = {"n_cpu_percent_python", "n_cpu_percent_c", "n_sys_percent", "n_core_utilization"};
    for (size_t i = 0; i < sizeof zero_d / sizeof *zero_d; i++)
        set(o, zero_d[i], jd(0));
    set(o, "cpu_samples_list", json_object_new_array());
    const char *gpu[] = {"n_gpu_percent", "n_gpu_avg_memory_mb", "n_gpu_peak_memory_mb"};
    for (size_t i = 0; i < sizeof gpu / sizeof *gpu; i++)
        set(o, gpu[i], jd(0));
    set(o, "n_malloc_mb", jd(0));
    set(o, "n_mallocs", ji64(0));
    const char *mem[] = {"n_peak_mb", "n_avg_mb", "n_growth_mb", "n_python_fraction", "n_usage_fraction", "n_copy_mb_s"};
    for (size_t i = 0; i < sizeof mem / sizeof *mem; i++)
        set(o, mem[i], jd(0));
    set(o, "memory_samples", json_object_new_array());
    set(o, "n_net_mb", jd(0));
    set(o, "n_freed_mb", jd(0));
    const char *az[] = {"n_async_await_percent", "n_async_concurrency_mean", "n_async_concurrency_peak"};
    for (size_t i = 0; i < sizeof az / sizeof *az; i++)
        set(o, az[i], ji64(0));
    set(o, "async_task_names", json_object_new_array());
    set(o, "is_coroutine", json_object_new_boolean(0));
    const char *reg[] = {"start_region_line", "end_region_line", "start_outermost_loop", "end_outermost_loop"};
    for (size_t i = 0; i < sizeof reg / sizeof *reg; i++)
        set(o, reg[i], ji64(lineno));
    set(o, "start_function_line", ji64(0));
    set(o, "end_function_line", ji64(0));
    return o;
}

static int expand_lines(json_object *fo)
{
    json_object *src = jv_arr(fo, "source"), *rows = jv_arr(fo, "lines");
    if (!src)
        return 0;
    size_t n = json_object_array_length(src), nr = rows ? json_object_array_length(rows) : 0;
    json_object *out = json_object_new_array_ext((int)(n + nr));
    if (!out)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 1; i <= n; i++) {
        /* rows are sorted by lineno; a row out of the source's range stays where it falls */
        while (k < nr && json_object_get_int64(jv_get(json_object_array_get_idx(rows, k), "lineno")) < (int64_t)i)
            json_object_array_add(out, json_object_get(json_object_array_get_idx(rows, k++)));
        if (k < nr && json_object_get_int64(jv_get(json_object_array_get_idx(rows, k), "lineno")) == (int64_t)i)
            json_object_array_add(out, json_object_get(json_object_array_get_idx(rows, k++)));
        else
            json_object_array_add(out, idle_row((int64_t)i, json_object_array_get_idx(src, i - 1)));
    }
    while (k < nr)
        json_object_array_add(out, json_object_get(json_object_array_get_idx(rows, k++)));
    set(fo, "lines", out);
    json_object_object_del(fo, "source");
    return 0;
}

static const char *frame_name(json_object *f, char *buf, size_t n)
{
    const char *file = jv_str(f, "filename_or_module"), *func = jv_str(f, "display_name");
    snprintf(buf, n, "%s %s:%lld;", file ? file : "?", func ? func : "?", (long long)jv_num(f, "line"));
    return buf;
}

/* combined_stacks and stacks (Scalene's shapes) from processes[].stacks:
 * stacks with the same frames join, hottest first. */
static void derive_stacks(json_object *root)
{
    json_object *ps = jv_arr(root, "processes"), *idx = json_object_new_object(), *all = json_object_new_array();
    double tot = 0, cnt = 0;
    for (size_t i = 0, n = ps ? json_object_array_length(ps) : 0; i < n; i++) {
        json_object *st = jv_arr(json_object_array_get_idx(ps, i), "stacks");
        for (size_t k = 0, m = st ? json_object_array_length(st) : 0; k < m; k++) {
            json_object *e = json_object_array_get_idx(st, k);
            json_object *fr = json_object_array_get_idx(e, 0), *o = json_object_array_get_idx(e, 1);
            if (!json_object_is_type(fr, json_type_array) || !json_object_is_type(o, json_type_object))
                continue;
            const char *key = json_object_to_json_string_ext(fr, JSON_C_TO_STRING_PLAIN);
            json_object *at = jv_get(idx, key), *acc;
            if (at) {
                acc = json_object_array_get_idx(all, (size_t)json_object_get_int(at));
            } else {
                set(idx, key, json_object_new_int((int)json_object_array_length(all)));
                acc = json_object_new_array_ext(5);
                json_object_array_add(acc, json_object_get(fr));
                for (int z = 0; z < 4; z++)
                    json_object_array_add(acc, jd(0));
                json_object_array_add(all, acc);
            }
            double v[4] = {jv_num(o, "count"), jv_num(o, "python_sec"), jv_num(o, "native_sec") + jv_num(o, "system_sec"),
                           jv_num(o, "cpu_sec")};
            for (int z = 0; z < 4; z++)
                json_object_array_put_idx(acc, (size_t)z + 1,
                                          jd(json_object_get_double(json_object_array_get_idx(acc, (size_t)z + 1)) + v[z]));
            tot += v[1] + v[2];
            cnt += v[0];
        }
    }
    json_object_array_sort(all, cmp_hits);
    json_object *comb = json_object_new_array(), *sc = json_object_new_array();
    for (size_t i = 0, n = json_object_array_length(all); i < n; i++) {
        json_object *acc = json_object_array_get_idx(all, i), *fr = json_object_array_get_idx(acc, 0);
        double c = json_object_get_double(json_object_array_get_idx(acc, 1));
        json_object *e = json_object_new_array_ext(2);
        json_object_array_add(e, json_object_get(fr));
        json_object_array_add(e, ji64((int64_t)llround(c)));
        json_object_array_add(comb, e);
        json_object *names = json_object_new_array();
        for (size_t k = 0, m = json_object_array_length(fr); k < m; k++) {
            char buf[1024];
            json_object_array_add(names, json_object_new_string(frame_name(json_object_array_get_idx(fr, k), buf, sizeof buf)));
        }
        json_object *o = json_object_new_object();
        set(o, "count", ji64((int64_t)llround(c)));
        set(o, "python_time", jd(tot > 0 ? json_object_get_double(json_object_array_get_idx(acc, 2)) / tot : 0));
        set(o, "c_time", jd(tot > 0 ? json_object_get_double(json_object_array_get_idx(acc, 3)) / tot : 0));
        set(o, "cpu_samples", jd(cnt > 0 ? c / cnt : 0));
        json_object *x = json_object_new_array_ext(2);
        json_object_array_add(x, names);
        json_object_array_add(x, o);
        json_object_array_add(sc, x);
    }
    json_object_put(idx);
    json_object_put(all);
    set(root, "combined_stacks", comb);
    set(root, "stacks", sc);
}

/* lines: also the idle lines (the terminal view's and the exports' full
 * form); merge leaves them in `source` and skips them (they add nothing). */
/* Stacks of a compact report name their frames by index into
 * stack_frames: [[index, ...], ...] -> [[frame, ...], ...] in place. */
static void resolve_refs(json_object *st, json_object *frames)
{
    size_t nf = json_object_array_length(frames);
    for (size_t k = 0, m = st ? json_object_array_length(st) : 0; k < m; k++) {
        json_object *e = json_object_array_get_idx(st, k), *refs = json_object_array_get_idx(e, 0);
        if (!json_object_is_type(refs, json_type_array))
            continue;
        size_t nr = json_object_array_length(refs);
        json_object *fr = json_object_new_array_ext((int)nr);
        for (size_t j = 0; j < nr; j++) {
            json_object *r = json_object_array_get_idx(refs, j);
            if (json_object_is_type(r, json_type_object)) { /* already a frame (an expanded report) */
                json_object_array_add(fr, json_object_get(r));
                continue;
            }
            int64_t x = json_object_is_type(r, json_type_int) ? json_object_get_int64(r) : -1;
            /* a reference out of range names an unknown frame, never another one */
            json_object *f = x >= 0 && (size_t)x < nf ? json_object_get(json_object_array_get_idx(frames, (size_t)x))
                                                       : json_object_new_object();
            json_object_array_add(fr, f);
        }
        json_object_array_put_idx(e, 0, fr);
    }
}

static int expand(json_object *root, bool lines)
{
    json_object *files = jv_get(root, "files");
    if (lines && json_object_is_type(files, json_type_object)) {
        json_object_object_foreach(files, name, fo)
        {
            (void)name;
            if (json_object_is_type(fo, json_type_object) && expand_lines(fo) != 0)
                return -ENOMEM;
        }
    }
    json_object *frames = jv_arr(root, "stack_frames");
    if (!frames)
        return 0;
    json_object *ps = jv_arr(root, "processes");
    for (size_t i = 0, n = ps ? json_object_array_length(ps) : 0; i < n; i++) {
        resolve_refs(jv_arr(json_object_array_get_idx(ps, i), "stacks"), frames);
        resolve_refs(jv_arr(json_object_array_get_idx(ps, i), "memory_stacks"), frames);
    }
    resolve_refs(jv_arr(root, "memory_stacks"), frames);
    derive_stacks(root);
    json_object_object_del(root, "stack_frames");
    return 0;
}

int mrg_expand(json_object *root) { return expand(root, true); }

/* A row rpt.c writes for a line without samples: no by_process, nothing but zeros. */
static bool is_idle(json_object *row)
{
    if (jv_get(row, "by_process"))
        return false;
    json_object_object_foreach(row, k, v)
    {
        if (!strcmp(k, "lineno") || !strncmp(k, "start_", 6) || !strncmp(k, "end_", 4))
            continue;
        if (jv_is_num(v) && json_object_get_double(v) != 0)
            return false;
        if (json_object_is_type(v, json_type_array) && json_object_array_length(v))
            return false;
        if (json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v))
            return false;
    }
    return true;
}

static void compact_lines(json_object *fo)
{
    json_object *rows = jv_arr(fo, "lines");
    size_t n = rows ? json_object_array_length(rows) : 0;
    if (!n || jv_get(fo, "source"))
        return;
    for (size_t i = 0; i < n; i++) /* every line 1..n, in order, or leave it */
        if (json_object_get_int64(jv_get(json_object_array_get_idx(rows, i), "lineno")) != (int64_t)i + 1 ||
            !jv_str(json_object_array_get_idx(rows, i), "line"))
            return;
    json_object *src = json_object_new_array_ext((int)n), *kept = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(rows, i);
        json_object_array_add(src, json_object_get(jv_get(r, "line")));
        if (!is_idle(r))
            json_object_array_add(kept, json_object_get(r));
    }
    set(fo, "lines", kept);
    set(fo, "source", src);
}

int mrg_compact(json_object *root)
{
    json_object *files = jv_get(root, "files");
    if (json_object_is_type(files, json_type_object)) {
        json_object_object_foreach(files, name, fo)
        {
            (void)name;
            if (json_object_is_type(fo, json_type_object))
                compact_lines(fo);
        }
    }
    json_object *ps = jv_arr(root, "processes");
    bool any = false;
    for (size_t i = 0, n = ps ? json_object_array_length(ps) : 0; i < n; i++)
        any = any || jv_arr(json_object_array_get_idx(ps, i), "stacks");
    if (!any || jv_get(root, "stack_frames"))
        return 0;
    json_object *frames = json_object_new_array(), *idx = json_object_new_object();
    for (size_t i = 0, n = json_object_array_length(ps); i < n; i++) {
        json_object *st = jv_arr(json_object_array_get_idx(ps, i), "stacks");
        for (size_t k = 0, m = st ? json_object_array_length(st) : 0; k < m; k++) {
            json_object *e = json_object_array_get_idx(st, k), *fr = json_object_array_get_idx(e, 0);
            if (!json_object_is_type(fr, json_type_array))
                continue;
            size_t nr = json_object_array_length(fr);
            json_object *refs = json_object_new_array_ext((int)nr);
            for (size_t j = 0; j < nr; j++) {
                json_object *f = json_object_array_get_idx(fr, j);
                const char *key = json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN);
                json_object *at = jv_get(idx, key);
                if (!at) {
                    at = json_object_new_int64((int64_t)json_object_array_length(frames));
                    json_object_array_add(frames, json_object_get(f));
                    set(idx, key, at);
                }
                json_object_array_add(refs, ji64(json_object_get_int64(at)));
            }
            json_object_array_put_idx(e, 0, refs);
        }
    }
    json_object_put(idx);
    set(root, "stack_frames", frames);
    set(root, "combined_stacks", json_object_new_array());
    set(root, "stacks", json_object_new_array());
    return 0;
}

/* ------------------------------------------------------------ command */

static int usage(FILE *f, int rc)
{
    fprintf(f, "usage: scalene merge [-o OUT] REPORT...\n"
               "\n"
               "Merges the reports of several runs (several hosts, or runs of one host) into one:\n"
               "processes keep their host and pid, lines and functions add up, memory peaks are\n"
               "the peaks of the sum where the runs overlapped (docs/REPORT.md, \"Merged reports\").\n"
               "\n"
               "options:\n"
               "  -o, --outfile FILE   the merged report (default: scalene-merged.json; - for stdout)\n"
               "  -h, --help           show this help and exit\n");
    return rc;
}

int mrg_main(int argc, char **argv)
{
    const char *out = "scalene-merged.json";
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    size_t n = 0;
    bool opts = true;
    if (!paths) {
        fprintf(stderr, "scalene: out of memory\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            free(paths);
            return usage(stdout, 0);
        } else if (opts && (!strcmp(a, "-o") || !strcmp(a, "--outfile"))) {
            if (i + 1 >= argc) {
                free(paths);
                fprintf(stderr, "scalene: merge: %s needs a file name\n", a);
                return 2;
            }
            out = argv[++i];
        } else if (opts && !strncmp(a, "--outfile=", 10)) {
            out = a + 10;
        } else if (opts && !strcmp(a, "--")) {
            opts = false;
        } else if (opts && a[0] == '-' && a[1]) {
            free(paths);
            fprintf(stderr, "scalene: merge: unknown option %s (see scalene merge --help)\n", a);
            return 2;
        } else {
            paths[n++] = a;
        }
    }
    if (n == 0) {
        free(paths);
        fprintf(stderr, "scalene: merge: no reports to merge (usage: scalene merge -o OUT REPORT...)\n");
        return 2;
    }
    json_object **in = calloc(n, sizeof *in);
    int status = 2;
    char msg[512];
    if (!in) {
        fprintf(stderr, "scalene: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = json_object_from_file(paths[i]);
        if (!in[i]) {
            const char *why = json_util_get_last_err();
            char w[200];
            snprintf(w, sizeof w, "%s", why ? why : "cannot be read");
            size_t l = strlen(w);
            while (l && (w[l - 1] == '\n' || w[l - 1] == '.'))
                w[--l] = 0;
            fprintf(stderr, "scalene: %s: not a readable JSON report (%s)\n", paths[i], w);
            goto done;
        }
        if (!json_object_is_type(in[i], json_type_object) || !json_object_is_type(jv_get(in[i], "files"), json_type_object)) {
            fprintf(stderr, "scalene: %s: not a profile (no \"files\" object)\n", paths[i]);
            goto done;
        }
        if (expand(in[i], false) != 0) {
            fprintf(stderr, "scalene: out of memory\n");
            goto done;
        }
    }
    json_object *res = NULL;
    int rc = mrg_reports(in, n, &res, msg, sizeof msg);
    if (rc) {
        /* "input K: ..." names the file instead */
        const char *m = msg;
        size_t k = 0;
        if (sscanf(msg, "input %zu:", &k) == 1 && k >= 1 && k <= n) {
            m = strchr(msg, ':') + 2;
            fprintf(stderr, "scalene: %s: %s\n", paths[k - 1], m);
        } else {
            fprintf(stderr, "scalene: merge: %s\n", m);
        }
        goto done;
    }
    if (mrg_compact(res) != 0) {
        json_object_put(res);
        fprintf(stderr, "scalene: out of memory\n");
        goto done;
    }
    json_c_set_serialization_double_format("%.12g", JSON_C_OPTION_GLOBAL);
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(res, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    rc = text ? sf_write(out, text, len) : -ENOMEM;
    json_object_put(res);
    if (rc) {
        fprintf(stderr, "scalene: cannot write %s: %s\n", out, strerror(-rc));
        goto done;
    }
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "scalene: merged %zu report%s into %s\n", n, n == 1 ? "" : "s", out);
    status = 0;
done:
    for (size_t i = 0; in && i < n; i++)
        json_object_put(in[i]);
    free(in);
    free(paths);
    return status;
}
