/* SPDX-License-Identifier: Apache-2.0
 * pprof.c — `scalene view --pprof` (issue 16): a report as pprof's
 * profile.proto, gzip'd.
 *
 * The messages are libprotobuf-c's, generated from tools/profile.proto at
 * build time; the encoding (varints, packed fields) is the library's and the
 * compression zlib's. A sample's values are nanoseconds of CPU (all, then
 * Python, native, system) and bytes (allocated, still held), so pprof's
 * percentages are shares of the same time the report's are. Strings,
 * functions and locations are interned: pprof ids start at 1, string 0 is "".
 */
#include "pprof.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "profile.pb-c.h"
#include "jsonv.h"
#include "safefile.h"

#define PP_SUFFIX ".pb.gz"
#define PP_NVAL 6 /* cpu, cpu_python, cpu_native, cpu_system, alloc_space, inuse_space */
#define PP_NLABEL 4 /* host, pid, thread, process_role */
#define PP_MIB 1048576.0

typedef Perftools__Profiles__Profile pp_profile_t;
typedef Perftools__Profiles__Sample pp_sample_t;
typedef Perftools__Profiles__Label pp_label_t;
typedef Perftools__Profiles__Location pp_location_t;
typedef Perftools__Profiles__Line pp_line_t;
typedef Perftools__Profiles__Function pp_function_t;
typedef Perftools__Profiles__ValueType pp_vtype_t;
typedef Perftools__Profiles__Mapping pp_mapping_t;

/* A growable array of pointers, each malloc'd by its owner here. */
typedef struct pp_vec {
    void **v;
    size_t n, cap;
    bool oom;
} pp_vec_t;

typedef struct pp_proc {
    const char *key, *host, *role;
    int64_t pid;
} pp_proc_t;

typedef struct pp_ctx {
    pp_vec_t strs;     /* char *, owned */
    json_object *sidx; /* string -> index */
    pp_vec_t funcs;    /* pp_function_t * */
    json_object *fidx; /* "name\tfile" -> id */
    pp_vec_t locs;     /* pp_location_t * (each with one pp_line_t) */
    json_object *lidx; /* "fid:line" -> id */
    pp_vec_t samples;  /* pp_sample_t * */
    pp_proc_t *procs;
    size_t nprocs;
    double total;      /* scalene_c.total_sec */
    int64_t k_host, k_pid, k_thread, k_role, s_all;
} pp_ctx_t;

static void push(pp_vec_t *v, void *p)
{
    if (!p) {
        v->oom = true;
        return;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        void **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) {
            v->oom = true;
            free(p);
            return;
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
}

static int64_t intern(pp_ctx_t *c, const char *s)
{
    json_object *i = jv_get(c->sidx, s ? s : "");
    if (i)
        return json_object_get_int64(i);
    int64_t id = (int64_t)c->strs.n;
    push(&c->strs, strdup(s ? s : ""));
    json_object_object_add(c->sidx, s ? s : "", json_object_new_int64(id));
    return id;
}

static uint64_t func_id(pp_ctx_t *c, const char *name, const char *file, int64_t start)
{
    char key[2048];
    snprintf(key, sizeof key, "%s\t%s", name, file);
    json_object *i = jv_get(c->fidx, key);
    if (i)
        return (uint64_t)json_object_get_int64(i);
    pp_function_t *f = malloc(sizeof *f);
    if (!f) {
        c->funcs.oom = true;
        return 0;
    }
    perftools__profiles__function__init(f);
    f->id = c->funcs.n + 1;
    f->name = intern(c, name);
    f->system_name = f->name;
    f->filename = intern(c, file);
    f->start_line = start;
    push(&c->funcs, f);
    json_object_object_add(c->fidx, key, json_object_new_int64((int64_t)f->id));
    return f->id;
}

static uint64_t loc_id(pp_ctx_t *c, const char *name, const char *file, int64_t line, int64_t start)
{
    uint64_t fid = func_id(c, name, file, start);
    char key[64];
    snprintf(key, sizeof key, "%llu:%lld", (unsigned long long)fid, (long long)line);
    json_object *i = jv_get(c->lidx, key);
    if (i)
        return (uint64_t)json_object_get_int64(i);
    pp_location_t *l = malloc(sizeof *l);
    pp_line_t *ln = malloc(sizeof *ln);
    pp_line_t **lv = malloc(sizeof *lv);
    if (!l || !ln || !lv) {
        free(l);
        free(ln);
        free(lv);
        c->locs.oom = true;
        return 0;
    }
    perftools__profiles__location__init(l);
    perftools__profiles__line__init(ln);
    ln->function_id = fid;
    ln->line = line;
    lv[0] = ln;
    l->id = c->locs.n + 1;
    l->mapping_id = 1;
    l->n_line = 1;
    l->line = lv;
    push(&c->locs, l);
    json_object_object_add(c->lidx, key, json_object_new_int64((int64_t)l->id));
    return l->id;
}

/* One sample: locations leaf first, values as PP_NVAL, the process's labels. */
static void add_sample(pp_ctx_t *c, const uint64_t *locs, size_t nloc, const int64_t *vals, const pp_proc_t *p)
{
    pp_sample_t *s = malloc(sizeof *s);
    uint64_t *lv = malloc((nloc ? nloc : 1) * sizeof *lv);
    int64_t *vv = malloc(PP_NVAL * sizeof *vv);
    pp_label_t *lab = calloc(PP_NLABEL, sizeof *lab);
    pp_label_t **lp = malloc(PP_NLABEL * sizeof *lp);
    if (!s || !lv || !vv || !lab || !lp) {
        free(s);
        free(lv);
        free(vv);
        free(lab);
        free(lp);
        c->samples.oom = true;
        return;
    }
    perftools__profiles__sample__init(s);
    memcpy(lv, locs, nloc * sizeof *lv);
    memcpy(vv, vals, PP_NVAL * sizeof *vv);
    for (int i = 0; i < PP_NLABEL; i++) {
        perftools__profiles__label__init(&lab[i]);
        lp[i] = &lab[i];
    }
    lab[0].key = c->k_host;
    lab[0].str = intern(c, p && p->host ? p->host : "unknown");
    lab[1].key = c->k_pid;
    lab[1].num = p ? p->pid : 0;
    /* the report keeps time per process and line (and stack), not per
     * thread: "all" says the sample is every thread's of that process */
    lab[2].key = c->k_thread;
    lab[2].str = c->s_all;
    lab[3].key = c->k_role;
    lab[3].str = intern(c, p && p->role ? p->role : "");
    s->n_location_id = nloc;
    s->location_id = lv;
    s->n_value = PP_NVAL;
    s->value = vv;
    s->n_label = PP_NLABEL;
    s->label = lp;
    push(&c->samples, s);
}

static const pp_proc_t *proc_of(const pp_ctx_t *c, const char *key)
{
    for (size_t i = 0; i < c->nprocs; i++)
        if (c->procs[i].key && strcmp(c->procs[i].key, key) == 0)
            return &c->procs[i];
    return NULL;
}

static void read_procs(pp_ctx_t *c, json_object *root)
{
    json_object *ps = jv_arr(root, "processes");
    size_t n = ps ? json_object_array_length(ps) : 0;
    c->procs = calloc(n ? n : 1, sizeof *c->procs);
    if (!c->procs)
        return;
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(ps, i);
        pp_proc_t *q = &c->procs[c->nprocs];
        q->pid = (int64_t)jv_num(p, "pid");
        q->host = jv_str(p, "host") ? jv_str(p, "host") : jv_str(root, "host");
        q->role = jv_str(p, "role");
        q->key = jv_str(p, "key");
        if (!q->key) { /* a single run's report: by_process keys are the pids */
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)q->pid);
            json_object_object_add(p, "key", json_object_new_string(buf)); /* the tree is ours for the call */
            q->key = jv_str(p, "key");
        }
        c->nprocs++;
    }
}

static int64_t ns(double sec) { return (int64_t)llround(sec * 1e9); }

/* Stacks: processes[].stacks, [[frame...outermost first], {count, cpu_sec,
 * python_sec, native_sec, system_sec}]. Returns the number of samples. */
static size_t from_stacks(pp_ctx_t *c, json_object *root)
{
    json_object *ps = jv_arr(root, "processes");
    size_t got = 0;
    for (size_t i = 0, n = ps ? json_object_array_length(ps) : 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(ps, i), *st = jv_arr(p, "stacks");
        const pp_proc_t *q = i < c->nprocs ? &c->procs[i] : NULL;
        for (size_t k = 0, m = st ? json_object_array_length(st) : 0; k < m; k++) {
            json_object *e = json_object_array_get_idx(st, k);
            json_object *fr = json_object_array_get_idx(e, 0), *o = json_object_array_get_idx(e, 1);
            if (!json_object_is_type(fr, json_type_array) || !json_object_is_type(o, json_type_object))
                continue;
            size_t nf = json_object_array_length(fr);
            uint64_t *locs = malloc((nf ? nf : 1) * sizeof *locs);
            if (!locs) {
                c->samples.oom = true;
                return got;
            }
            for (size_t j = 0; j < nf; j++) { /* pprof: leaf first */
                json_object *f = json_object_array_get_idx(fr, nf - 1 - j);
                const char *name = jv_str(f, "display_name"), *file = jv_str(f, "filename_or_module");
                locs[j] = loc_id(c, name ? name : "?", file ? file : "?", (int64_t)jv_num(f, "line"), 0);
            }
            int64_t v[PP_NVAL] = {ns(jv_num(o, "python_sec") + jv_num(o, "native_sec") + jv_num(o, "system_sec")),
                                  ns(jv_num(o, "python_sec")), ns(jv_num(o, "native_sec")), ns(jv_num(o, "system_sec")), 0, 0};
            if (v[0] > 0) {
                add_sample(c, locs, nf, v, q);
                got++;
            }
            free(locs);
        }
    }
    return got;
}

typedef struct pp_fn {
    int64_t line;
    const char *name;
} pp_fn_t;

static int cmp_fn(const void *a, const void *b)
{
    const pp_fn_t *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Per line: a one-frame location named by the function whose def is the
 * nearest above the line (the report's function rows), CPU (unless the
 * stacks carry it) and memory per process. */
static size_t from_lines(pp_ctx_t *c, json_object *root, bool cpu)
{
    json_object *files = jv_get(root, "files");
    size_t got = 0;
    if (!json_object_is_type(files, json_type_object))
        return 0;
    json_object_object_foreach(files, fname, fo)
    {
        json_object *fs = jv_arr(fo, "functions"), *ls = jv_arr(fo, "lines");
        size_t nfn = fs ? json_object_array_length(fs) : 0;
        pp_fn_t *fn = calloc(nfn ? nfn : 1, sizeof *fn);
        if (!fn) {
            c->samples.oom = true;
            return got;
        }
        for (size_t i = 0; i < nfn; i++) {
            json_object *r = json_object_array_get_idx(fs, i);
            fn[i] = (pp_fn_t){(int64_t)jv_num(r, "lineno"), jv_str(r, "line") ? jv_str(r, "line") : "?"};
        }
        qsort(fn, nfn, sizeof *fn, cmp_fn);
        for (size_t i = 0, n = ls ? json_object_array_length(ls) : 0; i < n; i++) {
            json_object *r = json_object_array_get_idx(ls, i);
            int64_t line = (int64_t)jv_num(r, "lineno");
            const char *name = "<module>";
            int64_t start = 0;
            for (size_t k = 0; k < nfn && fn[k].line <= line; k++) {
                name = fn[k].name;
                start = fn[k].line;
            }
            json_object *bp = jv_get(r, "by_process");
            bool split = bp && json_object_is_type(bp, json_type_object) && json_object_object_length(bp) > 0;
            json_object *one = json_object_new_object(); /* a row without by_process: one entry, no process */
            json_object_object_add(one, "", json_object_get(r));
            json_object *src = split ? bp : one;
            json_object_object_foreach(src, key, v)
            {
                double T = c->total;
                int64_t val[PP_NVAL] = {0};
                if (cpu) {
                    val[1] = ns(jv_num(v, "n_cpu_percent_python") * T / 100);
                    val[2] = ns(jv_num(v, "n_cpu_percent_c") * T / 100);
                    val[3] = ns(jv_num(v, "n_sys_percent") * T / 100);
                    val[0] = val[1] + val[2] + val[3];
                }
                val[4] = (int64_t)llround(jv_num(v, "n_malloc_mb") * PP_MIB);
                double held = jv_get(v, "n_net_mb") ? jv_num(v, "n_net_mb") : jv_num(v, "n_peak_mb");
                val[5] = (int64_t)llround((held > 0 ? held : 0) * PP_MIB);
                if (!val[0] && !val[4] && !val[5])
                    continue;
                uint64_t loc = loc_id(c, name, fname, line, start);
                const pp_proc_t *q = *key ? proc_of(c, key) : (c->nprocs ? &c->procs[0] : NULL);
                add_sample(c, &loc, 1, val, q);
                got++;
            }
            json_object_put(one);
        }
        free(fn);
    }
    return got;
}

/* gzip (zlib, windowBits 31) of in[0..n); *out is malloc'd. */
static int gzip_buf(const uint8_t *in, size_t n, uint8_t **out, size_t *outn)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uLong cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *b = malloc(cap);
    if (!b) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = b;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *outn = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(b);
        return -EIO;
    }
    *out = b;
    return 0;
}

static int default_path(const char *profile, char *out, size_t n)
{
    size_t len = strlen(profile);
    const char *base = strrchr(profile, '/');
    base = base ? base + 1 : profile;
    if (len > 5 && strcmp(profile + len - 5, ".json") == 0 && strlen(base) > 5)
        len -= 5;
    int k = snprintf(out, n, "%.*s%s", (int)len, profile, PP_SUFFIX);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static void vec_free(pp_vec_t *v, void (*f)(void *))
{
    for (size_t i = 0; i < v->n; i++)
        f(v->v[i]);
    free(v->v);
}

static void free_loc(void *p)
{
    pp_location_t *l = p;
    free(l->line[0]);
    free(l->line);
    free(l);
}

static void free_sample(void *p)
{
    pp_sample_t *s = p;
    free(s->location_id);
    free(s->value);
    free(s->label[0]); /* the labels are one calloc */
    free(s->label);
    free(s);
}

int pp_run(json_object *root, const pp_req_t *req, char *msg, size_t n)
{
    pp_ctx_t c = {.sidx = json_object_new_object(), .fidx = json_object_new_object(), .lidx = json_object_new_object()};
    uint8_t *pb = NULL, *gz = NULL;
    size_t gzn = 0;
    int st = 2, rc;
    char path[PATH_MAX];
    const char *dest = req->outfile;

    msg[0] = '\0';
    intern(&c, ""); /* string 0 is "" */
    c.k_host = intern(&c, "host");
    c.k_pid = intern(&c, "pid");
    c.k_thread = intern(&c, "thread");
    c.k_role = intern(&c, "process_role");
    c.s_all = intern(&c, "all");
    c.total = jv_num(jv_get(root, "scalene_c"), "total_sec");
    read_procs(&c, root);
    size_t stacked = from_stacks(&c, root);
    size_t lined = from_lines(&c, root, stacked == 0);
    if (c.strs.oom || c.funcs.oom || c.locs.oom || c.samples.oom || !c.sidx || !c.procs) {
        snprintf(msg, n, "view: out of memory");
        goto done;
    }
    if (stacked + lined == 0) {
        snprintf(msg, n, "%s: no samples to export (no line has time or memory)", req->profile);
        goto done;
    }

    static const char *const types[PP_NVAL][2] = {{"cpu", "nanoseconds"},         {"cpu_python", "nanoseconds"},
                                                   {"cpu_native", "nanoseconds"},  {"cpu_system", "nanoseconds"},
                                                   {"alloc_space", "bytes"},       {"inuse_space", "bytes"}};
    pp_vtype_t vt[PP_NVAL], *vtp[PP_NVAL], period_type;
    for (int i = 0; i < PP_NVAL; i++) {
        perftools__profiles__value_type__init(&vt[i]);
        vt[i].type = intern(&c, types[i][0]);
        vt[i].unit = intern(&c, types[i][1]);
        vtp[i] = &vt[i];
    }
    perftools__profiles__value_type__init(&period_type);
    period_type.type = vt[0].type;
    period_type.unit = vt[0].unit;
    pp_mapping_t map, *mapp = &map;
    perftools__profiles__mapping__init(&map);
    map.id = 1;
    map.filename = intern(&c, "python");
    map.has_functions = map.has_filenames = map.has_line_numbers = true;
    if (c.strs.oom) {
        snprintf(msg, n, "view: out of memory");
        goto done;
    }

    pp_profile_t prof;
    perftools__profiles__profile__init(&prof);
    prof.n_sample_type = PP_NVAL;
    prof.sample_type = vtp;
    prof.n_sample = c.samples.n;
    prof.sample = (pp_sample_t **)c.samples.v;
    prof.n_mapping = 1;
    prof.mapping = &mapp;
    prof.n_location = c.locs.n;
    prof.location = (pp_location_t **)c.locs.v;
    prof.n_function = c.funcs.n;
    prof.function = (pp_function_t **)c.funcs.v;
    prof.n_string_table = c.strs.n;
    prof.string_table = (char **)c.strs.v;
    prof.time_nanos = ns(jv_num(root, "start_time_absolute"));
    prof.duration_nanos = ns(jv_num(root, "elapsed_time_sec"));
    prof.period_type = &period_type;
    double iv = jv_num(jv_get(root, "scalene_c"), "sampling_interval_sec");
    prof.period = ns(iv > 0 ? iv : 0.01);
    prof.default_sample_type = vt[0].type;

    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    pb = malloc(len ? len : 1);
    if (!pb) {
        snprintf(msg, n, "view: out of memory");
        goto done;
    }
    perftools__profiles__profile__pack(&prof, pb);
    if ((rc = gzip_buf(pb, len, &gz, &gzn)) != 0) {
        snprintf(msg, n, "view: cannot compress the profile: %s", strerror(-rc));
        goto done;
    }
    if (!dest) {
        if (default_path(req->profile, path, sizeof path) != 0) {
            snprintf(msg, n, "view: %s: the output's path is too long; use -o", req->profile);
            goto done;
        }
        dest = path;
    }
    if ((rc = sf_write(dest, (const char *)gz, gzn)) != 0) {
        if (strcmp(dest, "-") == 0) {
            snprintf(msg, n, "view: cannot write the output: %s", strerror(-rc));
            st = 1;
        } else {
            snprintf(msg, n, "view: cannot write %s: %s", dest, strerror(-rc));
        }
        goto done;
    }
    if (strcmp(dest, "-") != 0 && (printf("Wrote %s\n", dest) < 0 || fflush(stdout) != 0)) {
        snprintf(msg, n, "view: cannot write the output: %s", strerror(errno));
        st = 1;
        goto done;
    }
    st = 0;
done:
    free(pb);
    free(gz);
    vec_free(&c.strs, free);
    vec_free(&c.funcs, free);
    vec_free(&c.locs, free_loc);
    vec_free(&c.samples, free_sample);
    free(c.procs);
    json_object_put(c.sidx);
    json_object_put(c.fidx);
    json_object_put(c.lidx);
    return st;
}
