/* SPDX-License-Identifier: Apache-2.0
 * exp.c — `scalene view --collapsed` / `--speedscope` (exp.h). Reads the
 * stacks of every process into one table of distinct frames (speedscope's
 * shared frames) and one list of weighted samples per process, then writes
 * them as folded lines or as speedscope JSON (json-c). Text from the profile
 * is cleaned on the way in: folded lines go to a terminal by default, and a
 * ';' or a newline in a name would break the folded format.
 *
 * Weights are time, not sample counts: one sample of this profiler stands
 * for the CPU time since the thread's previous tick (a jittered interval,
 * longer when the sampler was late, and a thread that used no CPU sends
 * none), so counts are not proportional to time. A stack's weight is the
 * `cpu_sec` the line tables charged for its samples; folded lines carry it
 * in integer microseconds, speedscope in seconds.
 */
#include "exp.h"

#include "jsonv.h"
#include "safefile.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXP_SCHEMA "https://www.speedscope.app/file-format-schema.json"
#define EXP_EXPORTER "scalene-c"
#define EXP_SUFFIX ".speedscope.json"
#define EXP_ROOT_MAX 80     /* bytes of command line in a folded root frame */
#define EXP_MAX_SEC 1e12    /* any weight read is clamped to this */

/* A growing string; after a failed allocation it only counts (oom). */
typedef struct exp_buf {
    char *b;
    size_t n, cap;
    bool oom;
} exp_buf_t;

/* One distinct frame: speedscope's name/file/line, and the folded text. */
typedef struct exp_frame {
    char *name, *file; /* file: NULL when none */
    long long line;
    bool has_line;
    char *text;
    uint64_t hash;
    size_t out; /* index in the written frames, SIZE_MAX until used */
} exp_frame_t;

/* One stack of one process. key is the folded line without its weight. */
typedef struct exp_sample {
    size_t *frames; /* indices into the frame table, outermost first */
    size_t n;
    double weight;
    char *key;
    size_t order; /* position in the report: ties in key keep it */
} exp_sample_t;

typedef struct exp_proc {
    char *root; /* folded root frame: "python3 app.py [1234]" */
    char *name; /* speedscope profile name: "pid 1234 main: argv" */
    bool main;
    bool bytes; /* a memory profile: weights in bytes (folded as they are) */
    exp_sample_t *s;
    size_t n, cap;
} exp_proc_t;

typedef struct exp_doc {
    exp_frame_t *frames;
    size_t nframes, capframes;
    size_t *slots; /* open addressing over frames: index + 1, 0 empty */
    size_t nslots;
    exp_proc_t *procs;
    size_t nprocs;
    const char *base; /* entrypoint dir: py files under it are named relative to it */
    size_t base_len;
    const char *unit; /* speedscope unit of the weights */
    double scale;     /* folded weight = llround(weight * scale) */
    size_t entries;   /* stack entries in the profile, whatever --pid keeps */
    char why[768];
} exp_doc_t;

/* ------------------------------------------------------------------ text */

static void buf_add(exp_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *nb = realloc(b->b, cap);
        if (!nb) {
            b->oom = true;
            return;
        }
        b->b = nb;
        b->cap = cap;
    }
    memcpy(b->b + b->n, s, n);
    b->n += n;
    b->b[b->n] = '\0';
}

static void buf_str(exp_buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_addf(exp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(exp_buf_t *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        buf_add(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* Hands over the text (caller frees); NULL after a failed allocation. */
static char *buf_take(exp_buf_t *b)
{
    char *s = b->oom ? NULL : b->b ? b->b : strdup("");
    if (b->oom)
        free(b->b);
    memset(b, 0, sizeof *b);
    return s;
}

/* Length of the valid UTF-8 sequence at s[0..n) that may be shown, or 0
 * for a byte that must be replaced: invalid UTF-8, C0 and C1 controls,
 * DEL, and the bidi overrides ("trojan source"), as view.c's terminal view
 * does. */
static size_t glyph_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return c < 0x20 || c == 0x7f ? 0 : 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0;
    return len;
}

/* Appends s[0..n) with every byte glyph_len() refuses written '?'; in
 * folded text also ';' (the frame separator) written ','. */
static void buf_clean(exp_buf_t *b, const char *s, size_t n, bool folded)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = glyph_len(u + i, n - i);
        if (k == 0) {
            buf_add(b, "?", 1);
            i++;
        } else if (folded && s[i] == ';') {
            buf_add(b, ",", 1);
            i++;
        } else {
            buf_add(b, s + i, k);
            i += k;
        }
    }
}

static void buf_clean_str(exp_buf_t *b, const char *s, bool folded) { buf_clean(b, s, strlen(s), folded); }

/* A folded line is "frames WEIGHT", and flamegraph.pl reads a line whose
 * frames end in " NUMBER" as a differential profile (two weights). So a
 * frame's text must not end in a space, nor in a space and a number, and
 * must not be empty ("a;;b"). Our own frames end in ')' or ']'; this is for
 * names from the profile. */
static void fix_tail(exp_buf_t *b)
{
    if (b->oom)
        return;
    while (b->n > 0 && b->b[b->n - 1] == ' ')
        b->b[--b->n] = '\0';
    if (b->n == 0) {
        buf_add(b, "?", 1);
        return;
    }
    size_t i = b->n;
    while (i > 0 && ((b->b[i - 1] >= '0' && b->b[i - 1] <= '9') || b->b[i - 1] == '.'))
        i--;
    if (i < b->n && i > 0 && b->b[i - 1] == ' ')
        b->b[i - 1] = '_';
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* ------------------------------------------------------------ reading */

static bool push(json_object *a, json_object *v);

static int fail(exp_doc_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(exp_doc_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof d->why, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int oom(exp_doc_t *d) { return fail(d, "out of memory"), -ENOMEM; }

static bool is_num(json_object *v)
{
    return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int);
}

/* A weight: missing, NaN, infinite or negative reads as 0 (dropped). */
static int weight_of(exp_doc_t *d, json_object *v, const char *where, const char *key, double *out)
{
    *out = 0;
    if (!v)
        return 0;
    if (!is_num(v))
        return fail(d, "%s%s is %s, expected a number", where, key, jv_type_desc(v));
    double x = json_object_get_double(v);
    *out = !isfinite(x) || x < 0 ? 0 : x > EXP_MAX_SEC ? EXP_MAX_SEC : x;
    return 0;
}

static int str_of(exp_doc_t *d, json_object *o, const char *key, const char *where, const char **out)
{
    json_object *v = jv_field(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(d, "%s%s%s is %s, expected a string", where, *where ? "." : "", key, jv_type_desc(v));
    *out = json_object_get_string(v);
    return 0;
}

static int line_of(exp_doc_t *d, json_object *v, const char *where, const char *key, long long *out, bool *has)
{
    *has = false;
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = (long long)json_object_get_int64(v);
        *has = true;
        return 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double x = json_object_get_double(v);
        if (isfinite(x) && x == floor(x) && fabs(x) < 9e15) {
            *out = (long long)x;
            *has = true;
            return 0;
        }
    }
    return fail(d, "%s.%s is %s, expected an integer or null", where, key, jv_type_desc(v));
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* a separator, so ("ab","c") != ("a","bc") */
}

static int grow_slots(exp_doc_t *d)
{
    size_t n = d->nslots ? 2 * d->nslots : 256;
    size_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < d->nframes; i++) {
        size_t j = d->frames[i].hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = i + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = n;
    return 0;
}

/* Finds or adds the frame; takes ownership of name, file and text (all
 * freed here when the frame is already known). Returns its index in *idx. */
static int intern(exp_doc_t *d, char *name, char *file, long long line, bool has_line, char *text,
                  size_t *idx)
{
    /* The folded text holds the name, the line and the file's short name;
     * the full file tells two files of the same short name apart. */
    uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, text), file ? file : "");
    if (2 * (d->nframes + 1) > d->nslots && grow_slots(d) != 0)
        goto nomem;
    for (size_t j = h & (d->nslots - 1);; j = (j + 1) & (d->nslots - 1)) {
        if (!d->slots[j]) {
            if (d->nframes == d->capframes) {
                size_t cap = d->capframes ? 2 * d->capframes : 64;
                exp_frame_t *nf = realloc(d->frames, cap * sizeof *nf);
                if (!nf)
                    goto nomem;
                d->frames = nf;
                d->capframes = cap;
            }
            d->frames[d->nframes] = (exp_frame_t){.name = name, .file = file, .line = line,
                                                  .has_line = has_line, .text = text, .hash = h,
                                                  .out = SIZE_MAX};
            d->slots[j] = ++d->nframes;
            *idx = d->nframes - 1;
            return 0;
        }
        exp_frame_t *f = &d->frames[d->slots[j] - 1];
        if (f->hash == h && strcmp(f->text, text) == 0 &&
            strcmp(f->file ? f->file : "", file ? file : "") == 0) {
            *idx = d->slots[j] - 1;
            free(name);
            free(file);
            free(text);
            return 0;
        }
    }
nomem:
    free(name);
    free(file);
    free(text);
    return oom(d);
}

/* A py file's folded name: relative to the entrypoint dir when under it. */
static const char *short_file(const exp_doc_t *d, const char *file)
{
    if (d->base_len > 0 && strncmp(file, d->base, d->base_len) == 0 && file[d->base_len] == '/' &&
        file[d->base_len + 1] != '\0')
        return file + d->base_len + 1;
    return file;
}

/* Adds one frame. Python: "func (file:line)"; native: "func [libfoo.so]",
 * or the name alone when it already is "[libfoo.so]+0x..." (see
 * read_frame_obj), named by its address when there is no name at all. */
static int add_frame(exp_doc_t *d, bool native, const char *func, const char *file, long long line,
                     bool has_line, const char *ip, size_t *idx)
{
    exp_buf_t name = {0}, path = {0}, text = {0};
    const char *fn = func && *func ? func : native && ip && *ip ? ip : "?";

    if (file && !*file)
        file = NULL;
    if (native || line <= 0) /* lines count from 1; the "..." frame of a cut stack has 0 */
        has_line = false;
    buf_clean_str(&name, fn, false);
    if (file)
        buf_clean_str(&path, file, false);
    buf_clean_str(&text, fn, true);
    if (native) {
        if (file && fn[0] != '[') {
            buf_add(&text, " [", 2);
            buf_clean_str(&text, base_name(file), true);
            buf_add(&text, "]", 1);
        }
    } else if (file) {
        buf_add(&text, " (", 2);
        buf_clean_str(&text, short_file(d, file), true);
        if (has_line)
            buf_addf(&text, ":%lld", line);
        buf_add(&text, ")", 1);
    } else if (has_line) {
        buf_addf(&text, " (line %lld)", line);
    }
    fix_tail(&text);
    char *n = buf_take(&name), *p = file ? buf_take(&path) : NULL, *t = buf_take(&text);
    if (!n || (file && !p) || !t) {
        free(n);
        free(p);
        free(t);
        return oom(d);
    }
    return intern(d, n, p, line, has_line, t, idx);
}

/* A frame of our report or of Scalene's combined_stacks:
 * {kind, display_name, filename_or_module, line, ip, offset}. */
static int read_frame_obj(exp_doc_t *d, json_object *o, const char *where, size_t *idx)
{
    const char *kind, *func, *file, *ip;
    long long line = 0, off = 0;
    bool has_line, has_off, native;
    char named[320];
    int rc;
    if (!json_object_is_type(o, json_type_object))
        return fail(d, "%s is %s, expected an object", where, jv_type_desc(o));
    if ((rc = str_of(d, o, "kind", where, &kind)) || (rc = str_of(d, o, "display_name", where, &func)) ||
        (rc = str_of(d, o, "filename_or_module", where, &file)) || (rc = str_of(d, o, "ip", where, &ip)) ||
        (rc = line_of(d, jv_field(o, "line"), where, "line", &line, &has_line)) ||
        (rc = line_of(d, jv_field(o, "offset"), where, "offset", &off, &has_off)))
        return rc;
    native = kind && strcmp(kind, "native") == 0;
    /* A C function without an exported symbol is named "[libfoo.so]"; when
     * the report gives its start in the module (offset, the same in every
     * process) it is "[libfoo.so]+0x1a2b0", so two such functions are two
     * boxes. This project's report folds them per module (offset 0), and a
     * named function needs no offset. */
    if (native && func && func[0] == '[' && func[strlen(func) - 1] == ']' && has_off && off > 0 &&
        strlen(func) < sizeof named - 24) {
        snprintf(named, sizeof named, "%s+0x%llx", func, (unsigned long long)off);
        func = named;
    }
    return add_frame(d, native, func, file, line, has_line, ip, idx);
}

/* A frame of Scalene's `stacks`: "file func:line;" (Scalene 2.x), or
 * [file, func, line] (older files, a StackFrame tuple). */
static int read_frame_scalene(exp_doc_t *d, json_object *o, const char *where, size_t *idx)
{
    if (json_object_is_type(o, json_type_array) && json_object_array_length(o) >= 3) {
        json_object *f = json_object_array_get_idx(o, 0), *fn = json_object_array_get_idx(o, 1);
        long long line = 0;
        bool has_line;
        int rc = line_of(d, json_object_array_get_idx(o, 2), where, "[2]", &line, &has_line);
        if (rc)
            return rc;
        if (!json_object_is_type(f, json_type_string) || !json_object_is_type(fn, json_type_string))
            return fail(d, "%s is not [file, function, line]", where);
        return add_frame(d, false, json_object_get_string(fn), json_object_get_string(f), line, has_line,
                         NULL, idx);
    }
    if (!json_object_is_type(o, json_type_string))
        return fail(d, "%s is %s, expected a string", where, jv_type_desc(o));
    const char *s = json_object_get_string(o);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ';' || s[n - 1] == ' '))
        n--;
    char *copy = strndup(s, n);
    if (!copy)
        return oom(d);
    /* The file may hold spaces and colons; the qualified name holds neither. */
    char *colon = strrchr(copy, ':'), *func = copy, *file = NULL, *end = NULL;
    long long line = 0;
    bool has_line = false;
    if (colon && colon[1]) {
        errno = 0;
        line = strtoll(colon + 1, &end, 10);
        has_line = *end == '\0' && errno == 0;
    }
    if (has_line)
        *colon = '\0';
    char *space = strrchr(copy, ' ');
    if (space) {
        *space = '\0';
        file = copy;
        func = space + 1;
    }
    int rc = add_frame(d, false, func, file, line, has_line, NULL, idx);
    free(copy);
    return rc;
}

static int add_sample(exp_doc_t *d, exp_proc_t *p, size_t *frames, size_t n, double weight)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        exp_sample_t *ns = realloc(p->s, cap * sizeof *ns);
        if (!ns) {
            free(frames);
            return oom(d);
        }
        p->s = ns;
        p->cap = cap;
    }
    exp_buf_t key = {0};
    buf_str(&key, p->root);
    for (size_t i = 0; i < n; i++) {
        buf_add(&key, ";", 1);
        buf_str(&key, d->frames[frames[i]].text);
    }
    char *k = buf_take(&key);
    if (!k) {
        free(frames);
        return oom(d);
    }
    p->s[p->n] = (exp_sample_t){.frames = frames, .n = n, .weight = weight, .key = k, .order = p->n};
    p->n++;
    return 0;
}

/* How an entry's frames and weight are written. */
typedef enum exp_shape {
    SHAPE_OURS,     /* [[frame obj...], {count, cpu_sec, python_sec, native_sec, system_sec}] */
    SHAPE_SCALENE,  /* [["file func:line;"...], {count, python_time, c_time, cpu_samples}] */
    SHAPE_COMBINED, /* [[frame obj...], hits] */
    SHAPE_MEM,      /* memory_stacks: [[frame obj...], MB allocated, MB live (ours only)] */
    SHAPE_MEM_LIVE, /* the same, weighed by its MB live at the end */
} exp_shape_t;

#define EXP_MB 1048576.0

static int read_weight(exp_doc_t *d, exp_shape_t shape, json_object *st, const char *where, double *w)
{
    int rc;
    if (shape == SHAPE_COMBINED)
        return weight_of(d, st, where, "[1]", w);
    if (shape == SHAPE_MEM || shape == SHAPE_MEM_LIVE) {
        rc = weight_of(d, st, where, shape == SHAPE_MEM ? "[1]" : "[2]", w);
        *w = rc == 0 ? *w * EXP_MB : 0; /* MB -> bytes */
        return rc;
    }
    if (shape == SHAPE_SCALENE && json_object_is_type(st, json_type_array)) {
        /* an older file's StackStats tuple: [count, python_time, c_time, cpu_samples] */
        double py = 0, c = 0;
        size_t n = json_object_array_length(st);
        if ((n > 1 && (rc = weight_of(d, json_object_array_get_idx(st, 1), where, "[1][1]", &py))) ||
            (n > 2 && (rc = weight_of(d, json_object_array_get_idx(st, 2), where, "[1][2]", &c))))
            return rc;
        *w = py + c;
        return 0;
    }
    if (!json_object_is_type(st, json_type_object))
        return fail(d, "%s[1] is %s, expected an object", where, jv_type_desc(st));
    char at[256];
    snprintf(at, sizeof at, "%.200s[1].", where);
    if (shape == SHAPE_SCALENE) {
        /* time, not cpu_samples: that one is a share of the samples */
        double py, c;
        if ((rc = weight_of(d, jv_field(st, "python_time"), at, "python_time", &py)) ||
            (rc = weight_of(d, jv_field(st, "c_time"), at, "c_time", &c)))
            return rc;
        *w = py + c;
        return 0;
    }
    if (jv_field(st, "cpu_sec"))
        return weight_of(d, jv_field(st, "cpu_sec"), at, "cpu_sec", w);
    double py, nat, sys; /* cpu_sec is their sum; a writer may leave it out */
    if ((rc = weight_of(d, jv_field(st, "python_sec"), at, "python_sec", &py)) ||
        (rc = weight_of(d, jv_field(st, "native_sec"), at, "native_sec", &nat)) ||
        (rc = weight_of(d, jv_field(st, "system_sec"), at, "system_sec", &sys)))
        return rc;
    *w = py + nat + sys;
    return 0;
}

/* Reads one stack entry, `[frames, stats]`, into process p. */
static int read_entry(exp_doc_t *d, exp_proc_t *p, exp_shape_t shape, json_object *e, const char *where)
{
    char at[256];
    double w = 0;
    int rc;
    if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) < 2)
        return fail(d, "%s is %s, expected [frames, %s]", where,
                    json_object_is_type(e, json_type_array) ? "a short array" : jv_type_desc(e),
                    shape == SHAPE_COMBINED ? "hits" : shape >= SHAPE_MEM ? "MB" : "stats");
    json_object *fr = json_object_array_get_idx(e, 0);
    if (!json_object_is_type(fr, json_type_array))
        return fail(d, "%s[0] is %s, expected an array of frames", where, jv_type_desc(fr));
    if (shape == SHAPE_MEM_LIVE && json_object_array_length(e) < 3)
        return fail(d, "%s has no live MB (Scalene's memory stacks have only MB allocated)", where);
    if ((rc = read_weight(d, shape, json_object_array_get_idx(e, shape == SHAPE_MEM_LIVE ? 2 : 1), where, &w)))
        return rc;
    size_t n = json_object_array_length(fr);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (!idx)
        return oom(d);
    for (size_t i = 0; i < n; i++) {
        json_object *f = json_object_array_get_idx(fr, i);
        snprintf(at, sizeof at, "%.200s[0][%zu]", where, i);
        rc = shape == SHAPE_SCALENE ? read_frame_scalene(d, f, at, &idx[i])
                                    : read_frame_obj(d, f, at, &idx[i]);
        if (rc) {
            free(idx);
            return rc;
        }
    }
    return add_sample(d, p, idx, n, w);
}

static int read_entries(exp_doc_t *d, exp_proc_t *p, exp_shape_t shape, json_object *arr, const char *where)
{
    char at[256];
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        snprintf(at, sizeof at, "%.200s[%zu]", where, i);
        int rc = read_entry(d, p, shape, json_object_array_get_idx(arr, i), at);
        if (rc)
            return rc;
    }
    return 0;
}

/* An array under key, or NULL when missing or null; another type is an error. */
static int array_of(exp_doc_t *d, json_object *o, const char *key, const char *where, json_object **out)
{
    json_object *v = jv_field(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return fail(d, "%s%s is %s, expected an array", where, key, jv_type_desc(v));
    *out = v;
    return 0;
}

/* Appends argv[0] and absolute paths shortened to their last component (the
 * root frame is a label, not a command to rerun), cleaned for folding, cut
 * to EXP_ROOT_MAX bytes at a character boundary. */
static void put_short_argv(exp_buf_t *b, json_object *argv)
{
    exp_buf_t cmd = {0};
    size_t n = argv ? json_object_array_length(argv) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(argv, i);
        if (!json_object_is_type(a, json_type_string))
            continue;
        const char *s = json_object_get_string(a);
        if (i == 0 || (s[0] == '/' && !strchr(s, ' ')))
            s = base_name(s);
        if (cmd.n > 0)
            buf_add(&cmd, " ", 1);
        buf_clean_str(&cmd, s, true);
    }
    if (cmd.n == 0)
        buf_str(&cmd, "process");
    if (!cmd.oom && cmd.n > EXP_ROOT_MAX) {
        size_t cut = EXP_ROOT_MAX - 3;
        while (cut > 0 && ((unsigned char)cmd.b[cut] & 0xc0) == 0x80)
            cut--;
        cmd.n = cut;
        cmd.b[cut] = '\0';
        buf_str(&cmd, "...");
    }
    if (cmd.oom)
        b->oom = true;
    else
        buf_add(b, cmd.b, cmd.n);
    free(cmd.b);
}

/* Appends argv as a command line, arguments with blanks or quotes quoted. */
static void put_argv(exp_buf_t *b, json_object *argv)
{
    size_t n = argv ? json_object_array_length(argv) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(argv, i);
        if (!json_object_is_type(a, json_type_string))
            continue;
        const char *s = json_object_get_string(a);
        bool quote = !*s || strpbrk(s, " \t'\"");
        buf_str(b, i ? " " : "");
        buf_str(b, quote ? "'" : "");
        buf_clean_str(b, s, false);
        buf_str(b, quote ? "'" : "");
    }
}

static int new_proc(exp_doc_t *d, char *root, char *name, bool main)
{
    if (!root || !name) {
        free(root);
        free(name);
        return oom(d);
    }
    exp_proc_t *np = realloc(d->procs, (d->nprocs + 1) * sizeof *np);
    if (!np) {
        free(root);
        free(name);
        return oom(d);
    }
    d->procs = np;
    d->procs[d->nprocs++] = (exp_proc_t){.root = root, .name = name, .main = main};
    return 0;
}

/* Whether memory stack entries carry MB live at the end (ours: a third element). */
static bool has_live(json_object *mem)
{
    json_object *e = mem && json_object_array_length(mem) ? json_object_array_get_idx(mem, 0) : NULL;
    return json_object_is_type(e, json_type_array) && json_object_array_length(e) >= 3;
}

/* The memory profiles of one process (root and name borrowed): for the
 * folded export, the one req asks for; for speedscope, MB allocated and,
 * where the report has it, MB live at the end. */
static int read_mem(exp_doc_t *d, const exp_req_t *req, const char *root, const char *name, bool main,
                    json_object *mem, const char *where)
{
    static const char *const label[] = {" (bytes allocated)", " (bytes live at the end)"};
    if (!mem || json_object_array_length(mem) == 0)
        return 0;
    d->entries += json_object_array_length(mem);
    for (int live = 0; live < 2; live++) {
        if (req->format == EXP_COLLAPSED && (req->what == EXP_MEM_LIVE) != live)
            continue;
        if (req->format == EXP_SPEEDSCOPE && live && !has_live(mem))
            continue;
        exp_buf_t nm = {0};
        buf_str(&nm, name);
        buf_str(&nm, label[live]);
        int rc = new_proc(d, strdup(root), buf_take(&nm), main);
        if (rc)
            return rc;
        d->procs[d->nprocs - 1].bytes = true;
        if ((rc = read_entries(d, &d->procs[d->nprocs - 1], live ? SHAPE_MEM_LIVE : SHAPE_MEM, mem, where)))
            return rc;
    }
    return 0;
}

/* Our report: one exported profile per process, in the report's order. */
static int read_ours(exp_doc_t *d, json_object *procs, const exp_req_t *req)
{
    long long want_pid = req->pid;
    bool cpu = req->format == EXP_SPEEDSCOPE || req->what == EXP_CPU;
    bool mem = req->format == EXP_SPEEDSCOPE || req->what != EXP_CPU;
    char where[64];
    size_t n = json_object_array_length(procs);
    /* the CPU profiles first, one per process in the report's order, then
     * the memory profiles: a speedscope reader's index of a process's CPU
     * profile is its index in the report */
    for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n; i++) {
        json_object *po = json_object_array_get_idx(procs, i), *stacks, *argv, *pidv, *mstacks;
        const char *role;
        int rc;
        snprintf(where, sizeof where, "processes[%zu]", i);
        if (!json_object_is_type(po, json_type_object))
            return fail(d, "%s is %s, expected an object", where, jv_type_desc(po));
        snprintf(where, sizeof where, "processes[%zu].", i);
        if ((rc = array_of(d, po, "stacks", where, &stacks)) || (rc = array_of(d, po, "argv", where, &argv)) ||
            (rc = array_of(d, po, "memory_stacks", where, &mstacks)))
            return rc;
        where[strlen(where) - 1] = '\0';
        if ((rc = str_of(d, po, "role", where, &role)))
            return rc;
        if (cpu && pass == 0)
            d->entries += stacks ? json_object_array_length(stacks) : 0;
        /* view.c's loader checked pid's type (and that --pid names a process) */
        pidv = jv_field(po, "pid");
        long long pid = pidv ? (long long)json_object_get_int64(pidv) : 0;
        if (want_pid > 0 && pid != want_pid)
            continue;
        bool main = role && strcmp(role, "main") == 0;
        exp_buf_t root = {0}, name = {0};
        put_short_argv(&root, argv);
        buf_addf(&root, " [%lld", pid);
        if (role && !main) {
            buf_add(&root, " ", 1);
            buf_clean_str(&root, role, true);
        }
        buf_add(&root, "]", 1);
        buf_addf(&name, "pid %lld", pid);
        if (role) {
            buf_add(&name, " ", 1);
            buf_clean_str(&name, role, false);
        }
        buf_add(&name, ": ", 2);
        put_argv(&name, argv);
        char *rs = buf_take(&root), *ns = buf_take(&name);
        if (!rs || !ns) {
            free(rs);
            free(ns);
            return oom(d);
        }
        rc = 0;
        if (cpu && pass == 0) {
            snprintf(where, sizeof where, "processes[%zu].stacks", i);
            rc = new_proc(d, strdup(rs), strdup(ns), main);
            if (rc == 0 && stacks)
                rc = read_entries(d, &d->procs[d->nprocs - 1], SHAPE_OURS, stacks, where);
        }
        if (rc == 0 && mem && pass == 1) {
            snprintf(where, sizeof where, "processes[%zu].memory_stacks", i);
            rc = read_mem(d, req, rs, ns, main, mstacks, where);
        }
        free(rs);
        free(ns);
        if (rc)
            return rc;
    }
    return 0;
}

/* Scalene's own file: one profile, from `stacks` (which has time), else
 * from `combined_stacks` (hit counts only, but native frames too). */
static int read_scalene(exp_doc_t *d, json_object *root, const exp_req_t *req)
{
    json_object *stacks, *combined, *args, *cmd, *mstacks;
    bool cpu = req->format == EXP_SPEEDSCOPE || req->what == EXP_CPU;
    const char *program;
    int rc;
    if ((rc = array_of(d, root, "stacks", "", &stacks)) ||
        (rc = array_of(d, root, "combined_stacks", "", &combined)) ||
        (rc = array_of(d, root, "args", "", &args)) || (rc = array_of(d, root, "memory_stacks", "", &mstacks)) ||
        (rc = str_of(d, root, "program", "", &program)))
        return rc;
    size_t ns = stacks ? json_object_array_length(stacks) : 0;
    d->entries = cpu ? ns + (combined ? json_object_array_length(combined) : 0) : 0;
    exp_buf_t rt = {0}, name = {0};
    /* Scalene's python_time and c_time are fractions of all stacks' time:
     * proportional to time but not seconds, so folded lines carry
     * millionths and speedscope's unit is "none". combined_stacks has only
     * hits (samples), carried as they are. */
    d->unit = "none";
    d->scale = ns > 0 ? 1e6 : 1.0;
    /* the root is the command line, [program, args...], shortened as ours */
    if (!(cmd = json_object_new_array()) || !push(cmd, json_object_new_string(program ? program : "program")))
        rt.oom = true;
    for (size_t i = 0; !rt.oom && args && i < json_object_array_length(args); i++) {
        json_object *a = json_object_array_get_idx(args, i);
        if (json_object_is_type(a, json_type_string))
            rt.oom = !push(cmd, json_object_get(a));
    }
    put_short_argv(&rt, cmd);
    json_object_put(cmd);
    fix_tail(&rt); /* "app.py --n 3" must not end in " 3": flamegraph.pl would take it for a weight */
    buf_clean_str(&name, program ? program : "program", false);
    char *rs = buf_take(&rt), *nm = buf_take(&name);
    if (!rs || !nm) {
        free(rs);
        free(nm);
        return oom(d);
    }
    rc = cpu ? new_proc(d, strdup(rs), strdup(nm), true) : 0;
    if (rc == 0 && cpu && ns > 0)
        rc = read_entries(d, &d->procs[0], SHAPE_SCALENE, stacks, "stacks");
    else if (rc == 0 && cpu && combined)
        rc = read_entries(d, &d->procs[0], SHAPE_COMBINED, combined, "combined_stacks");
    if (rc == 0 && (req->format == EXP_SPEEDSCOPE || req->what != EXP_CPU))
        rc = read_mem(d, req, rs, nm, true, mstacks, "memory_stacks");
    free(rs);
    free(nm);
    return rc;
}

static void doc_free(exp_doc_t *d)
{
    for (size_t i = 0; i < d->nframes; i++) {
        free(d->frames[i].name);
        free(d->frames[i].file);
        free(d->frames[i].text);
    }
    for (size_t i = 0; i < d->nprocs; i++) {
        for (size_t j = 0; j < d->procs[i].n; j++) {
            free(d->procs[i].s[j].frames);
            free(d->procs[i].s[j].key);
        }
        free(d->procs[i].s);
        free(d->procs[i].root);
        free(d->procs[i].name);
    }
    free(d->procs);
    free(d->frames);
    free(d->slots);
}

/* ------------------------------------------------------------ writing */

/* Same order for both formats: by folded text (so a stack's neighbours
 * share its prefix), then by the report's order. */
static int sample_cmp(const void *a, const void *b)
{
    const exp_sample_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* Folded lines: equal lines (stacks that differ only in what the text
 * leaves out, like an ip) are summed; lines that round to 0 are left out. */
static void put_collapsed(exp_doc_t *d, exp_buf_t *out)
{
    for (size_t i = 0; i < d->nprocs; i++) {
        exp_proc_t *p = &d->procs[i];
        if (p->n > 1) /* qsort(NULL, 0, ...) is undefined */
            qsort(p->s, p->n, sizeof *p->s, sample_cmp);
        for (size_t j = 0; j < p->n;) {
            double w = 0;
            size_t k = j;
            for (; k < p->n && strcmp(p->s[k].key, p->s[j].key) == 0; k++)
                w += p->s[k].weight;
            long long v = llround(p->bytes ? w : w * d->scale);
            if (v > 0) {
                buf_str(out, p->s[j].key);
                buf_addf(out, " %lld\n", v);
            }
            j = k;
        }
    }
}

static json_object *num(double v)
{
    char s[40];
    snprintf(s, sizeof s, "%.9g", v);
    return json_object_new_double_s(v, s);
}

/* Adders that always take ownership of v: on failure it is freed, and a
 * NULL v (a failed allocation) fails. */
static bool put(json_object *o, const char *key, json_object *v)
{
    if (v && json_object_object_add(o, key, v) == 0)
        return true;
    json_object_put(v);
    return false;
}

static bool push(json_object *a, json_object *v)
{
    if (v && json_object_array_add(a, v) == 0)
        return true;
    json_object_put(v);
    return false;
}

static json_object *frame_json(const exp_frame_t *f)
{
    json_object *o = json_object_new_object();
    if (!o || !put(o, "name", json_object_new_string(f->name)) ||
        (f->file && !put(o, "file", json_object_new_string(f->file))) ||
        (f->has_line && !put(o, "line", json_object_new_int64(f->line)))) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* One sampled profile; frames it uses for the first time are appended to
 * frames, so they are numbered in order of first use. */
static json_object *profile_json(exp_doc_t *d, exp_proc_t *p, json_object *frames)
{
    json_object *o = json_object_new_object(), *samples = json_object_new_array(),
                *weights = json_object_new_array();
    double total = 0;
    /* the arrays are put first and filled after: o owns them from here on */
    bool ok = o && put(o, "type", json_object_new_string("sampled")) &&
              put(o, "name", json_object_new_string(p->name)) &&
              put(o, "unit", json_object_new_string(p->bytes ? "bytes" : d->unit)) &&
              put(o, "startValue", json_object_new_int(0)) && put(o, "endValue", json_object_new_int(0)) &&
              put(o, "samples", samples) && put(o, "weights", weights);
    if (!ok) {
        if (!o) {
            json_object_put(samples);
            json_object_put(weights);
        }
        json_object_put(o);
        return NULL;
    }
    if (p->n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(p->s, p->n, sizeof *p->s, sample_cmp);
    for (size_t j = 0; ok && j < p->n; j++) {
        exp_sample_t *s = &p->s[j];
        if (s->weight <= 0)
            continue;
        json_object *stack = json_object_new_array();
        ok = push(samples, stack);
        for (size_t k = 0; ok && k < s->n; k++) {
            exp_frame_t *f = &d->frames[s->frames[k]];
            if (f->out == SIZE_MAX) {
                f->out = json_object_array_length(frames);
                ok = push(frames, frame_json(f));
            }
            ok = ok && push(stack, json_object_new_int64((int64_t)f->out));
        }
        ok = ok && push(weights, num(s->weight));
        total += s->weight;
    }
    if (ok && put(o, "endValue", num(total))) /* replaces the 0, in place */
        return o;
    json_object_put(o);
    return NULL;
}

static int put_speedscope(exp_doc_t *d, json_object *root, exp_buf_t *out)
{
    json_object *doc = json_object_new_object(), *shared = json_object_new_object(),
                *frames = json_object_new_array(), *profiles = json_object_new_array(), *pv;
    exp_buf_t name = {0};
    char *program = NULL;
    size_t active = 0, len = 0;

    /* Attached first, filled after: doc owns them all from here on. */
    bool ok = doc && put(doc, "$schema", json_object_new_string(EXP_SCHEMA)) && put(doc, "shared", shared) &&
              put(shared, "frames", frames) && put(doc, "profiles", profiles);
    if (!ok) {
        if (!doc) {
            json_object_put(shared);
            json_object_put(frames);
            json_object_put(profiles);
        }
        json_object_put(doc);
        return -ENOMEM;
    }
    for (size_t i = 0; ok && i < d->nprocs; i++)
        ok = push(profiles, profile_json(d, &d->procs[i], frames));
    for (size_t i = d->nprocs; i-- > 0;)
        active = d->procs[i].main ? i : active;
    pv = jv_field(root, "program");
    if (pv && json_object_is_type(pv, json_type_string)) {
        buf_clean_str(&name, json_object_get_string(pv), false);
        program = buf_take(&name);
        ok = ok && program && put(doc, "name", json_object_new_string(program));
    }
    ok = ok && put(doc, "activeProfileIndex", json_object_new_int64((int64_t)active)) &&
         put(doc, "exporter", json_object_new_string(EXP_EXPORTER));
    const char *s = ok ? json_object_to_json_string_length(
                             doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
                       : NULL;
    if (s) {
        buf_add(out, s, len);
        buf_add(out, "\n", 1);
    }
    free(program);
    json_object_put(doc);
    return s && !out->oom ? 0 : -ENOMEM;
}

/* DIR/NAME.speedscope.json for DIR/NAME.json (or DIR/NAME). */
static int default_path(const char *profile, char *out, size_t n)
{
    size_t len = strlen(profile);
    const char *base = base_name(profile);
    if (len > 5 && strcmp(profile + len - 5, ".json") == 0 && strlen(base) > 5)
        len -= 5;
    int k = snprintf(out, n, "%.*s%s", (int)len, profile, EXP_SUFFIX);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

int exp_run(json_object *root, const exp_req_t *req, char *msg, size_t n)
{
    exp_doc_t d = {.unit = "seconds", .scale = 1e6};
    exp_buf_t out = {0};
    json_object *procs = NULL, *bv;
    char path[PATH_MAX];
    const char *dest = req->outfile;
    int st = 2, rc;

    msg[0] = '\0';
    /* py files under the program's directory are named relative to it */
    bv = jv_field(root, "entrypoint_dir");
    if (!bv || !json_object_is_type(bv, json_type_string) || !*json_object_get_string(bv))
        bv = jv_field(root, "filename");
    if (bv && json_object_is_type(bv, json_type_string)) {
        d.base = json_object_get_string(bv);
        d.base_len = strlen(d.base);
        while (d.base_len > 0 && d.base[d.base_len - 1] == '/')
            d.base_len--;
    }
    rc = array_of(&d, root, "processes", "", &procs);
    if (rc == 0)
        rc = procs ? read_ours(&d, procs, req) : read_scalene(&d, root, req);
    if (rc == 0 && d.entries == 0) {
        if (req->format == EXP_COLLAPSED && req->what != EXP_CPU)
            snprintf(msg, n, "%s: no memory stacks in this profile (run with --stacks, memory on)", req->profile);
        else
            snprintf(msg, n, "%s: no call stacks in this profile (run with --stacks)", req->profile);
        goto done;
    }
    if (rc != 0) {
        snprintf(msg, n, "%s: %s", req->profile, d.why);
        goto done;
    }
    if (req->format == EXP_COLLAPSED)
        put_collapsed(&d, &out);
    else if (put_speedscope(&d, root, &out) != 0)
        out.oom = true;
    if (out.oom) {
        snprintf(msg, n, "view: out of memory");
        goto done;
    }
    if (!dest && req->format == EXP_SPEEDSCOPE) {
        if (default_path(req->profile, path, sizeof path) != 0) {
            snprintf(msg, n, "view: %s: the output's path is too long; use -o", req->profile);
            goto done;
        }
        dest = path;
    }
    if (!dest || strcmp(dest, "-") == 0) {
        if ((rc = sf_write("-", out.b ? out.b : "", out.n)) != 0) {
            snprintf(msg, n, "view: cannot write the output: %s", strerror(-rc));
            st = 1;
            goto done;
        }
    } else {
        if ((rc = sf_write(dest, out.b ? out.b : "", out.n)) != 0) {
            snprintf(msg, n, "view: cannot write %s: %s", dest, strerror(-rc));
            goto done;
        }
        exp_buf_t line = {0};
        buf_str(&line, "Wrote ");
        buf_clean_str(&line, dest, false);
        buf_add(&line, "\n", 1);
        char *s = buf_take(&line);
        bool ok = s && fputs(s, stdout) >= 0 && fflush(stdout) == 0;
        free(s);
        if (!ok) {
            snprintf(msg, n, "view: cannot write the output: %s", strerror(errno));
            st = 1;
            goto done;
        }
    }
    st = 0;
done:
    free(out.b);
    doc_free(&d);
    return st;
}
