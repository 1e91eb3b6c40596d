/* SPDX-License-Identifier: Apache-2.0
 * view.c — `scalene view`: the terminal view of a profile. Reads the whole
 * file, parses it with json-c, checks every field it uses into a small
 * model (so printing cannot meet a surprise), then prints a header, one
 * line table and one function table per file, or the process table.
 * Reads this project's format (docs/REPORT.md) and Scalene's own; a key
 * that is missing or null reads as 0. When the profile has memory, the
 * tables gain memory columns (net MB, Python share, then allocated MB and
 * copy MB/s where the terminal has room) and leak marks. Bad input is one "scalene: " line on
 * stderr and exit 2, never a crash. Text from the profile is sanitized
 * before it reaches the terminal: a profile must not be able to send
 * escape sequences.
 */
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define VW_DEFAULT_FILE "scalene-profile.json"
#define VW_DEFAULT_COLS 100
#define VW_MAX_COLS 1000 /* keeps vw_line_t (4 bytes per column) big enough */
#define VW_MIN_TEXT 10   /* narrowest source column: below it, let it wrap */
#define VW_HOT_PCT 10.0  /* a line at or above this total CPU % is "hot" */
#define VW_BRIEF_PROCS 10
#define VW_NUM_MAX 1e12  /* any number read is clamped to +-this */

#define VW_PCT_W 7  /* "  100.0" */
#define VW_MB_W 9   /* "  12345.6" */
#define VW_FRAC_W 8 /* " Mem Py%" */
#define VW_LEAK_W 5 /* " Leak" / "  97%" */
#define VW_ROOM_TEXT 24 /* the optional memory columns need this much source text left */

#define VW_BOLD "\033[1m"
#define VW_HOT "\033[1;31m"
#define VW_DIM "\033[2m"
#define VW_RESET "\033[0m"

/* One line or function row, with the numbers this view shows (merged, or
 * one process's share under --pid). Strings are borrowed from the json-c
 * tree, which lives until vw_prof_free(). */
typedef struct vw_row {
    long long lineno;
    const char *text;
    size_t text_len;
    double py, nat, sys; /* % of total profiled time */
    double mb, pyfrac;   /* net MB (n_net_mb; Scalene's: n_peak_mb); Python share of allocations [0,1] */
    double alloc, copy;  /* n_malloc_mb; n_copy_mb_s */
    double leak, leak_vel; /* leak likelihood [0,1] (0: none) and MB/s, from the file's leaks */
} vw_row_t;

typedef struct vw_file {
    const char *name;
    double pct;
    vw_row_t *lines, *funcs;
    size_t nlines, nfuncs;
    size_t nleaks; /* lines with a leak mark */
} vw_file_t;

typedef struct vw_proc {
    long long pid, ppid;
    const char *role;
    double cpu, py, nat, sys, samples, dropped;
    double peak_mb; /* peak_footprint_mb */
    long long code, sig;
    bool has_code, has_sig;
    json_object *argv; /* array of strings (checked), or NULL */
} vw_proc_t;

typedef struct vw_prof {
    json_object *root;
    const char *program;
    json_object *args; /* array of strings (checked), or NULL */
    double elapsed, total_sec, peak_mb;
    const char *peak_file; /* max_footprint_fname, or NULL */
    long long peak_line;
    bool has_total, memory;
    vw_file_t *files;
    size_t nfiles;
    vw_proc_t *procs;
    size_t nprocs;
    bool has_procs;
} vw_prof_t;

typedef struct vw_opts {
    const char *path;
    bool reduced, processes;
    bool has_pid;
    long long pid;
    char pidkey[24];
} vw_opts_t;

/* Where the loader is: the first error, without the "scalene: FILE: " part. */
typedef struct vw_load {
    const vw_opts_t *opts;
    char msg[768];
} vw_load_t;

typedef struct vw_out {
    FILE *f;
    int cols;
    bool color;
} vw_out_t;

/* A bounded line of text, so printing needs no allocation. */
typedef struct vw_line {
    char b[4 * VW_MAX_COLS + 64];
    size_t n;
} vw_line_t;

/* ------------------------------------------------------------------ text */

static int cp_width(uint32_t cp)
{
    if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
        (cp >= 0xfe00 && cp <= 0xfe0f))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
        (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
        (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
        (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
        (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
        return 2;
    return 1;
}

/* Decodes the glyph at s[0..n): returns its byte length, sets its width
 * and whether it must print as '?'. Controls (C0, DEL, C1), invalid UTF-8
 * and bidi overrides ("trojan source") are replaced; a tab, when tabs is
 * set, is the spaces up to the next 8-column stop from col. */
static size_t glyph(const char *str, size_t n, int col, bool tabs, int *w, bool *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t len;
    uint32_t cp;

    *w = 1;
    *bad = false;
    if (c == '\t' && tabs) {
        *w = 8 - col % 8;
        return 1;
    }
    if (c < 0x80) {
        *bad = c < 0x20 || c == 0x7f;
        return 1;
    }
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
        *bad = true;
        return 1;
    }
    if (len > n) {
        *bad = true;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *bad = true;
            return 1;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        *bad = true;
        return 1;
    }
    if (cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
        *bad = true;
        return len;
    }
    *w = cp_width(cp);
    return len;
}

static int text_width(const char *s, size_t n, bool tabs)
{
    int col = 0, w;
    bool bad;
    for (size_t i = 0; i < n;) {
        i += glyph(s + i, n - i, col, tabs, &w, &bad);
        col += w;
    }
    return col;
}

/* Prints the glyphs of s[0..n) while they fit in limit columns (col is
 * where s starts, for tab stops); returns the column reached. */
static int put_text(FILE *f, const char *s, size_t n, int col, int limit, bool tabs)
{
    int w;
    bool bad;
    for (size_t i = 0; i < n;) {
        size_t len = glyph(s + i, n - i, col, tabs, &w, &bad);
        if (col + w > limit)
            break;
        if (s[i] == '\t' && tabs)
            fprintf(f, "%*s", w, "");
        else if (bad)
            fputc('?', f);
        else
            fwrite(s + i, 1, len, f);
        col += w;
        i += len;
    }
    return col;
}

/* Prints s sanitized in at most maxw columns, cut at the end with "…" when
 * it does not fit; returns the columns used. */
static int put_cut(FILE *f, const char *s, size_t n, int maxw, bool tabs)
{
    if (maxw <= 0)
        return 0;
    if (text_width(s, n, tabs) <= maxw)
        return put_text(f, s, n, 0, maxw, tabs);
    int col = put_text(f, s, n, 0, maxw - 1, tabs);
    fputs("\xe2\x80\xa6", f);
    return col + 1;
}

/* Like put_cut, but cuts at the start ("…/deep/path/app.py"), for paths. */
static int put_cut_left(FILE *f, const char *s, size_t n, int maxw)
{
    int total = text_width(s, n, false), w;
    bool bad;
    size_t i = 0;

    if (maxw <= 0)
        return 0;
    if (total <= maxw)
        return put_text(f, s, n, 0, maxw, false);
    while (i < n && total > maxw - 1) {
        i += glyph(s + i, n - i, 0, false, &w, &bad);
        total -= w;
    }
    fputs("\xe2\x80\xa6", f);
    return 1 + put_text(f, s + i, n - i, 1, maxw, false);
}

static void put_pad(FILE *f, const char *s, int w)
{
    int used = put_cut(f, s ? s : "", s ? strlen(s) : 0, w, false);
    fprintf(f, "%*s", w - used, "");
}

static void line_add(vw_line_t *l, const char *s, size_t n)
{
    size_t room = sizeof l->b - 1 - l->n;
    if (n > room)
        n = room;
    memcpy(l->b + l->n, s, n);
    l->n += n;
    l->b[l->n] = '\0';
}

static void line_addf(vw_line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_addf(vw_line_t *l, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof l->b - l->n;
    va_start(ap, fmt);
    int k = vsnprintf(l->b + l->n, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        l->n += (size_t)k < room ? (size_t)k : room - 1;
}

/* Appends a JSON array of strings as a shell-like command line. */
static void line_add_argv(vw_line_t *l, json_object *arr)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(arr, i);
        const char *s = json_object_get_string(a);
        size_t len = (size_t)json_object_get_string_len(a);
        bool quote = len == 0 || strpbrk(s, " \t'\"") != NULL;
        if (l->n > 0)
            line_add(l, " ", 1);
        if (quote)
            line_add(l, "'", 1);
        line_add(l, s, len);
        if (quote)
            line_add(l, "'", 1);
    }
}

/* Formats a table number: blank for 0, one decimal, or 3 digits of
 * mantissa when it would not fit the column. */
static const char *fmt_num(char *buf, size_t size, double v)
{
    if (v == 0.0 || !isfinite(v))
        buf[0] = '\0';
    else if (fabs(v) < 1e6)
        snprintf(buf, size, "%.1f", v);
    else
        snprintf(buf, size, "%.3g", v);
    return buf;
}

/* Formats a header number with the given decimals, never wider than a
 * dozen characters. */
static const char *fmt_fixed(char *buf, size_t size, double v, int decimals)
{
    if (fabs(v) < 1e9)
        snprintf(buf, size, "%.*f", decimals, v);
    else
        snprintf(buf, size, "%.3g", v);
    return buf;
}

static double pct_of(double part, double total) { return total > 0 ? 100.0 * part / total : 0.0; }

/* One line on stderr: "scalene: " and the message, sanitized. */
static void err_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_line(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs("scalene: ", stderr);
    put_text(stderr, buf, strlen(buf), 0, INT_MAX, false);
    fputc('\n', stderr);
}

/* ----------------------------------------------------------------- input */

static int fail(vw_load_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(vw_load_t *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->msg, sizeof ld->msg, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Prefixes the error with where it happened: `files["a.py"]` + `.lines[3]`
 * + `.n_sys_percent is a string, ...`. Returns rc. */
static int wrap(vw_load_t *ld, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wrap(vw_load_t *ld, int rc, const char *fmt, ...)
{
    char pre[512], old[sizeof ld->msg];
    va_list ap;
    if (rc != -EINVAL)
        return rc;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, ld->msg, sizeof old);
    vw_line_t l = {.n = 0};
    line_add(&l, pre, strlen(pre));
    line_add(&l, strncmp(old, "is ", 3) == 0 ? " " : ".", 1);
    line_add(&l, old, strlen(old));
    size_t n = l.n < sizeof ld->msg - 1 ? l.n : sizeof ld->msg - 1;
    memcpy(ld->msg, l.b, n);
    ld->msg[n] = '\0';
    return rc;
}

static const char *type_desc(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "something else";
}

/* Field getters: a missing or null key reads as 0 / NULL; any other wrong
 * type is an error naming the key. */
static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static int num_of(vw_load_t *ld, json_object *o, const char *key, double *out)
{
    json_object *v = field(o, key);
    *out = 0.0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return fail(ld, "%s is %s, expected a number", key, type_desc(v));
    /* NaN and infinities (Python's json writes them) read as 0; absurd
     * magnitudes are clamped so that sums stay finite and sortable. */
    double d = json_object_get_double(v);
    *out = !isfinite(d) ? 0.0 : d > VW_NUM_MAX ? VW_NUM_MAX : d < -VW_NUM_MAX ? -VW_NUM_MAX : d;
    return 0;
}

static int int_of(vw_load_t *ld, json_object *o, const char *key, long long *out, bool *has)
{
    json_object *v = field(o, key);
    *out = 0;
    if (has)
        *has = v != NULL;
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = (long long)json_object_get_int64(v);
        return 0;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9e15) {
            *out = (long long)d;
            return 0;
        }
    }
    return fail(ld, "%s is %s, expected an integer", key, type_desc(v));
}

static int str_of(vw_load_t *ld, json_object *o, const char *key, const char **s, size_t *len)
{
    json_object *v = field(o, key);
    *s = NULL;
    if (len)
        *len = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(ld, "%s is %s, expected a string", key, type_desc(v));
    *s = json_object_get_string(v);
    if (len)
        *len = (size_t)json_object_get_string_len(v);
    return 0;
}

static int typed_of(vw_load_t *ld, json_object *o, const char *key, enum json_type t,
                    json_object **out)
{
    json_object *v = field(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, t))
        return fail(ld, "%s is %s, expected %s", key, type_desc(v),
                    t == json_type_object ? "an object" : "an array");
    *out = v;
    return 0;
}

static int bool_of(vw_load_t *ld, json_object *o, const char *key, bool *out)
{
    json_object *v = field(o, key);
    *out = false;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean) && !json_object_is_type(v, json_type_int))
        return fail(ld, "%s is %s, expected a boolean", key, type_desc(v));
    *out = json_object_get_boolean(v);
    return 0;
}

static int strings_of(vw_load_t *ld, json_object *o, const char *key, json_object **out)
{
    int rc = typed_of(ld, o, key, json_type_array, out);
    size_t n = *out ? json_object_array_length(*out) : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_object *a = json_object_array_get_idx(*out, i);
        if (!json_object_is_type(a, json_type_string))
            rc = fail(ld, "%s[%zu] is %s, expected a string", key, i, type_desc(a));
    }
    return rc;
}

/* Reads the whole file into a NUL-terminated buffer (caller frees). */
static int slurp(vw_load_t *ld, const char *path, char **out, size_t *outlen)
{
    struct stat st;
    size_t cap = 1 << 16, len = 0;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0)
        return fail(ld, "%s", strerror(errno));
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            return fail(ld, "is a directory, not a profile");
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size < INT_MAX)
            cap = (size_t)st.st_size + 1;
    }
    buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return fail(ld, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            char *nb = cap < INT_MAX ? realloc(buf, 2 * cap + 1) : NULL;
            if (!nb) {
                free(buf);
                close(fd);
                return fail(ld, "too large to read");
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return fail(ld, "%s", strerror(e));
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    if (len >= INT_MAX) { /* json_tokener_parse_ex takes an int length */
        free(buf);
        return fail(ld, "too large to read");
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

static size_t line_no(const char *buf, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off; i++)
        line += buf[i] == '\n';
    return line;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Parses buf as one JSON document; returns a new reference or NULL. */
static json_object *parse(vw_load_t *ld, const char *buf, size_t len)
{
    struct json_tokener *tok;
    json_object *root;
    enum json_tokener_error e;
    size_t end, i = 0;

    while (i < len && is_space(buf[i]))
        i++;
    if (i == len) {
        fail(ld, "empty file, not a profile");
        return NULL;
    }
    tok = json_tokener_new();
    if (!tok) {
        fail(ld, "out of memory");
        return NULL;
    }
    root = json_tokener_parse_ex(tok, buf, (int)len);
    e = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        /* Whole input seen but incomplete; a lone top-level number only
         * ends at a delimiter, which the NUL gives it. */
        root = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
        end = len;
        if (!root)
            fail(ld, "not valid JSON (unexpected end of data at byte %zu, line %zu)", len,
                 line_no(buf, len));
    } else if (e != json_tokener_success) {
        if (buf[i] != '{' && buf[i] != '[') /* json-c would say "boolean expected" for "Trace" */
            fail(ld, "not valid JSON (unexpected character at byte %zu, line %zu)", i,
                 line_no(buf, i));
        else if (e == json_tokener_error_parse_eof && end < len && buf[end] == '\0')
            fail(ld, "not valid JSON (NUL byte at byte %zu, line %zu)", end, line_no(buf, end));
        else
            fail(ld, "not valid JSON (%s at byte %zu, line %zu)", json_tokener_error_desc(e), end,
                 line_no(buf, end));
    } else {
        while (end < len && is_space(buf[end]))
            end++;
        if (end < len) {
            fail(ld, "not valid JSON (unexpected data after the end at byte %zu, line %zu)", end,
                 line_no(buf, end));
            json_object_put(root);
            root = NULL;
        }
    }
    json_tokener_free(tok);
    return root;
}

static int load_row(vw_load_t *ld, json_object *o, vw_row_t *r)
{
    json_object *src = o, *bp;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return fail(ld, "is %s, expected an object", type_desc(o));
    if ((rc = int_of(ld, o, "lineno", &r->lineno, NULL)) ||
        (rc = str_of(ld, o, "line", &r->text, &r->text_len)))
        return rc;
    if (!r->text)
        r->text = "";
    while (r->text_len > 0 &&
           (r->text[r->text_len - 1] == '\n' || r->text[r->text_len - 1] == '\r'))
        r->text_len--;
    if (ld->opts->has_pid) {
        if ((rc = typed_of(ld, o, "by_process", json_type_object, &bp)))
            return rc;
        src = bp ? field(bp, ld->opts->pidkey) : NULL;
        if (src && !json_object_is_type(src, json_type_object))
            return fail(ld, "by_process[\"%s\"] is %s, expected an object", ld->opts->pidkey,
                        type_desc(src));
        if (!src)
            return 0; /* the process never ran this line */
    }
    /* Net: ours, else Scalene's n_peak_mb (what its own view shows as "Net (MB)") */
    const char *net = field(src, "n_net_mb") ? "n_net_mb" : "n_peak_mb";
    if ((rc = num_of(ld, src, "n_cpu_percent_python", &r->py)) ||
        (rc = num_of(ld, src, "n_cpu_percent_c", &r->nat)) ||
        (rc = num_of(ld, src, "n_sys_percent", &r->sys)) ||
        (rc = num_of(ld, src, net, &r->mb)) ||
        (rc = num_of(ld, src, "n_malloc_mb", &r->alloc)) ||
        (rc = num_of(ld, src, "n_copy_mb_s", &r->copy)) ||
        (rc = num_of(ld, src, "n_python_fraction", &r->pyfrac)))
        return src == o ? rc : wrap(ld, rc, "by_process[\"%s\"]", ld->opts->pidkey);
    return 0;
}

static int load_rows(vw_load_t *ld, json_object *fo, const char *key, vw_row_t **rows, size_t *n)
{
    json_object *arr;
    int rc = typed_of(ld, fo, key, json_type_array, &arr);

    *rows = NULL;
    *n = 0;
    if (rc || !arr)
        return rc;
    size_t len = json_object_array_length(arr);
    *rows = calloc(len ? len : 1, sizeof **rows);
    if (!*rows)
        return fail(ld, "out of memory");
    for (size_t i = 0; i < len; i++) {
        if ((rc = load_row(ld, json_object_array_get_idx(arr, i), &(*rows)[i])))
            return wrap(ld, rc, "%s[%zu]", key, i);
    }
    *n = len;
    return 0;
}

static double row_cpu(const vw_row_t *r) { return r->py + r->nat + r->sys; }

static bool row_active(const vw_row_t *r)
{
    return row_cpu(r) > 0 || r->mb != 0 || r->alloc != 0 || r->copy != 0;
}

/* Marks the lines named in the file's `leaks` ({"<lineno>": {likelihood,
 * velocity_mb_s}}). A key that is not a line of the file is ignored. Leaks
 * are judged over all processes, so --pid shows none. */
static int load_leaks(vw_load_t *ld, json_object *fo, vw_file_t *f)
{
    json_object *leaks;
    int rc = typed_of(ld, fo, "leaks", json_type_object, &leaks);
    if (rc || !leaks || ld->opts->has_pid)
        return rc;
    json_object_object_foreach(leaks, key, lk)
    {
        char *end;
        long long lineno = strtoll(key, &end, 10);
        double lik, vel;
        if (!json_object_is_type(lk, json_type_object))
            return fail(ld, "leaks[\"%s\"] is %s, expected an object", key, type_desc(lk));
        if ((rc = num_of(ld, lk, "likelihood", &lik)) || (rc = num_of(ld, lk, "velocity_mb_s", &vel)))
            return wrap(ld, rc, "leaks[\"%s\"]", key);
        for (size_t i = 0; *key && !*end && i < f->nlines; i++) {
            if (f->lines[i].lineno == lineno) {
                f->lines[i].leak = lik > 0 ? lik : 1e-9;
                f->lines[i].leak_vel = vel;
                f->nleaks++;
                break;
            }
        }
    }
    return 0;
}

static int load_file(vw_load_t *ld, const char *name, json_object *fo, vw_file_t *f)
{
    int rc;
    f->name = name;
    if (!json_object_is_type(fo, json_type_object))
        return fail(ld, "is %s, expected an object", type_desc(fo));
    if ((rc = load_rows(ld, fo, "lines", &f->lines, &f->nlines)) ||
        (rc = load_rows(ld, fo, "functions", &f->funcs, &f->nfuncs)) || (rc = load_leaks(ld, fo, f)))
        return rc;
    if (!ld->opts->has_pid && field(fo, "percent_cpu_time"))
        return num_of(ld, fo, "percent_cpu_time", &f->pct);
    /* One process's share, or a file without the key: its lines' sum. */
    f->pct = 0;
    for (size_t i = 0; i < f->nlines; i++)
        f->pct += row_cpu(&f->lines[i]);
    return 0;
}

static int load_proc(vw_load_t *ld, json_object *o, vw_proc_t *p)
{
    int rc;
    if (!json_object_is_type(o, json_type_object))
        return fail(ld, "is %s, expected an object", type_desc(o));
    if ((rc = int_of(ld, o, "pid", &p->pid, NULL)) ||
        (rc = int_of(ld, o, "ppid", &p->ppid, NULL)) ||
        (rc = str_of(ld, o, "role", &p->role, NULL)) ||
        (rc = num_of(ld, o, "cpu_sec", &p->cpu)) || (rc = num_of(ld, o, "python_sec", &p->py)) ||
        (rc = num_of(ld, o, "native_sec", &p->nat)) || (rc = num_of(ld, o, "sys_sec", &p->sys)) ||
        (rc = num_of(ld, o, "samples", &p->samples)) ||
        (rc = num_of(ld, o, "records_dropped", &p->dropped)) ||
        (rc = num_of(ld, o, "peak_footprint_mb", &p->peak_mb)) ||
        (rc = int_of(ld, o, "exit_code", &p->code, &p->has_code)) ||
        (rc = int_of(ld, o, "exit_signal", &p->sig, &p->has_sig)) ||
        (rc = strings_of(ld, o, "argv", &p->argv)))
        return rc;
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    const vw_file_t *x = a, *y = b;
    if (x->pct != y->pct)
        return x->pct > y->pct ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void prof_free(vw_prof_t *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].lines);
        free(p->files[i].funcs);
    }
    free(p->files);
    free(p->procs);
    json_object_put(p->root);
    memset(p, 0, sizeof *p);
}

static const vw_proc_t *find_proc(const vw_prof_t *p, long long pid)
{
    for (size_t i = 0; i < p->nprocs; i++)
        if (p->procs[i].pid == pid)
            return &p->procs[i];
    return NULL;
}

/* Builds the model from the parsed tree; on error ld->msg says why. */
static int load_model(vw_load_t *ld, vw_prof_t *p)
{
    json_object *files, *procs, *sc;
    int rc;

    if (!json_object_is_type(p->root, json_type_object))
        return fail(ld, "not a profile (the top level is %s, not an object)",
                    type_desc(p->root));
    if (!json_object_object_get_ex(p->root, "files", &files))
        return fail(ld, "not a profile (no \"files\" object)");
    if (!json_object_is_type(files, json_type_object))
        return fail(ld, "not a profile (\"files\" is %s, not an object)", type_desc(files));
    if ((rc = str_of(ld, p->root, "program", &p->program, NULL)) ||
        (rc = strings_of(ld, p->root, "args", &p->args)) ||
        (rc = num_of(ld, p->root, "elapsed_time_sec", &p->elapsed)) ||
        (rc = num_of(ld, p->root, "max_footprint_mb", &p->peak_mb)) ||
        (rc = str_of(ld, p->root, "max_footprint_fname", &p->peak_file, NULL)) ||
        (rc = int_of(ld, p->root, "max_footprint_lineno", &p->peak_line, NULL)) ||
        (rc = bool_of(ld, p->root, "memory", &p->memory)) ||
        (rc = typed_of(ld, p->root, "scalene_c", json_type_object, &sc)) ||
        (rc = typed_of(ld, p->root, "processes", json_type_array, &procs)))
        return rc;
    if (sc) {
        p->has_total = field(sc, "total_sec") != NULL;
        if ((rc = num_of(ld, sc, "total_sec", &p->total_sec)))
            return wrap(ld, rc, "scalene_c");
    }
    if (procs) {
        size_t n = json_object_array_length(procs);
        p->has_procs = true;
        p->procs = calloc(n ? n : 1, sizeof *p->procs);
        if (!p->procs)
            return fail(ld, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if ((rc = load_proc(ld, json_object_array_get_idx(procs, i), &p->procs[i])))
                return wrap(ld, rc, "processes[%zu]", i);
            p->nprocs++;
        }
    }
    if (ld->opts->has_pid && !find_proc(p, ld->opts->pid)) {
        if (!p->has_procs)
            return fail(ld, "pid %lld is not in this profile (it has no process table)",
                        ld->opts->pid);
        vw_line_t l = {.n = 0};
        for (size_t i = 0; i < p->nprocs && i < 20; i++)
            line_addf(&l, "%s%lld", i ? ", " : "", p->procs[i].pid);
        return fail(ld, "pid %lld is not in this profile (its pids: %s%s)", ld->opts->pid,
                    p->nprocs ? l.b : "none", p->nprocs > 20 ? ", ..." : "");
    }
    size_t n = (size_t)json_object_object_length(files);
    p->files = calloc(n ? n : 1, sizeof *p->files);
    if (!p->files)
        return fail(ld, "out of memory");
    json_object_object_foreach(files, name, fo)
    {
        if (p->nfiles == n)
            break; /* cannot happen: the count and the walk agree */
        vw_file_t *f = &p->files[p->nfiles++];
        if ((rc = load_file(ld, name, fo, f)))
            return wrap(ld, rc, "files[\"%s\"]", name);
    }
    qsort(p->files, p->nfiles, sizeof *p->files, file_cmp);
    return 0;
}

/* ---------------------------------------------------------------- output */

static int lineno_width(const vw_row_t *rows, size_t n)
{
    int w = 4; /* "Line" */
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(NULL, 0, "%lld", rows[i].lineno);
        if (k > w)
            w = k;
    }
    return w;
}

/* The memory columns a table shows: Net MB and Mem Py% whenever the
 * profile has memory; Alloc MB and Copy MB/s when some row has a value and
 * the source keeps VW_ROOM_TEXT columns (they go first on a narrow
 * terminal); Leak when some line has a leak mark. */
typedef struct vw_cols {
    bool memory, alloc, copy, leak;
} vw_cols_t;

static int fixed_width(int lw, const vw_cols_t *c)
{
    return lw + 3 * (1 + VW_PCT_W) + (c->memory ? 2 + VW_MB_W + VW_FRAC_W : 0) + (c->alloc ? 1 + VW_MB_W : 0) +
           (c->copy ? 1 + VW_MB_W : 0) + (c->leak ? 1 + VW_LEAK_W : 0) + 2;
}

static vw_cols_t choose_cols(const vw_out_t *o, int lw, const vw_row_t *rows, size_t n, bool memory)
{
    vw_cols_t c = {.memory = memory};
    bool alloc = false, copy = false;
    if (!memory)
        return c;
    for (size_t i = 0; i < n; i++) {
        alloc |= rows[i].alloc != 0;
        copy |= rows[i].copy != 0;
        c.leak |= rows[i].leak > 0;
    }
    c.alloc = alloc;
    if (o->cols - fixed_width(lw, &c) < VW_ROOM_TEXT)
        c.alloc = false;
    c.copy = copy;
    if (o->cols - fixed_width(lw, &c) < VW_ROOM_TEXT)
        c.copy = false;
    return c;
}

static void put_rule(const vw_out_t *o, int lw, const vw_cols_t *c, int textw)
{
    FILE *f = o->f;
    int widths[8], nw = 0;
    widths[nw++] = VW_PCT_W;
    widths[nw++] = VW_PCT_W;
    widths[nw++] = VW_PCT_W;
    if (c->memory) {
        widths[nw++] = VW_MB_W;
        widths[nw++] = VW_FRAC_W;
    }
    if (c->alloc)
        widths[nw++] = VW_MB_W;
    if (c->copy)
        widths[nw++] = VW_MB_W;
    if (c->leak)
        widths[nw++] = VW_LEAK_W;
    if (o->color)
        fputs(VW_DIM, f);
    fprintf(f, "%.*s", lw, "--------------------");
    for (int i = 0; i < nw; i++)
        fprintf(f, " %.*s", widths[i], "----------");
    fputs("  ", f);
    for (int i = 0; i < textw; i++)
        fputc('-', f);
    if (o->color)
        fputs(VW_RESET, f);
    fputc('\n', f);
}

/* One table: line or function rows of a file. */
static void put_table(const vw_out_t *o, const vw_row_t *rows, size_t n, bool memory,
                      bool reduced, const char *what)
{
    FILE *f = o->f;
    int lw = lineno_width(rows, n);
    vw_cols_t cols = choose_cols(o, lw, rows, n, memory);
    int textw = o->cols - fixed_width(lw, &cols);
    char a[32], b[32], c[32];

    if (textw < VW_MIN_TEXT)
        textw = VW_MIN_TEXT;
    if (o->color)
        fputs(VW_BOLD, f);
    fprintf(f, "%*s %*s %*s %*s", lw, "Line", VW_PCT_W, "Python", VW_PCT_W, "native", VW_PCT_W,
            "system");
    if (cols.memory)
        fprintf(f, " %*s %*s", VW_MB_W, "Net MB", VW_FRAC_W, "Mem Py%");
    if (cols.alloc)
        fprintf(f, " %*s", VW_MB_W, "Alloc MB");
    if (cols.copy)
        fprintf(f, " %*s", VW_MB_W, "Copy MB/s");
    if (cols.leak)
        fprintf(f, " %*s", VW_LEAK_W, "Leak");
    fprintf(f, "  %s", what);
    if (o->color)
        fputs(VW_RESET, f);
    fputc('\n', f);
    put_rule(o, lw, &cols, textw);
    for (size_t i = 0; i < n; i++) {
        const vw_row_t *r = &rows[i];
        bool hot = row_cpu(r) >= VW_HOT_PCT;
        if (reduced && !row_active(r))
            continue;
        if (o->color && hot)
            fputs(VW_HOT, f);
        fprintf(f, "%*lld %*s %*s %*s", lw, r->lineno, VW_PCT_W, fmt_num(a, sizeof a, r->py),
                VW_PCT_W, fmt_num(b, sizeof b, r->nat), VW_PCT_W, fmt_num(c, sizeof c, r->sys));
        if (cols.memory)
            fprintf(f, " %*s %*s", VW_MB_W, fmt_num(a, sizeof a, r->mb), VW_FRAC_W,
                    fmt_num(b, sizeof b, r->mb != 0 || r->alloc != 0 ? 100.0 * r->pyfrac : 0.0));
        if (cols.alloc)
            fprintf(f, " %*s", VW_MB_W, fmt_num(a, sizeof a, r->alloc));
        if (cols.copy)
            fprintf(f, " %*s", VW_MB_W, fmt_num(a, sizeof a, r->copy));
        if (cols.leak) {
            if (r->leak > 0)
                snprintf(a, sizeof a, "%.0f%%", 100.0 * r->leak);
            else
                a[0] = '\0';
            fprintf(f, " %*s", VW_LEAK_W, a);
        }
        fputs("  ", f);
        put_cut(f, r->text, r->text_len, textw, true);
        if (o->color && hot)
            fputs(VW_RESET, f);
        fputc('\n', f);
    }
}

static bool any_active(const vw_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (row_active(&rows[i]))
            return true;
    return false;
}

static void put_file(const vw_out_t *o, const vw_prof_t *p, const vw_file_t *file, bool reduced)
{
    FILE *f = o->f;
    char pct[64], num[32];
    int n = snprintf(pct, sizeof pct, ": %s%% of time", fmt_fixed(num, sizeof num, file->pct, 1));

    fputc('\n', f);
    if (o->color)
        fputs(VW_BOLD, f);
    put_cut_left(f, file->name, strlen(file->name), o->cols - n);
    fputs(pct, f);
    if (o->color)
        fputs(VW_RESET, f);
    fputc('\n', f);
    put_table(o, file->lines, file->nlines, p->memory, reduced, "Source");
    if (file->nfuncs > 0 && (!reduced || any_active(file->funcs, file->nfuncs))) {
        fputc('\n', f);
        put_table(o, file->funcs, file->nfuncs, p->memory, reduced, "Function");
    }
    if (p->memory && file->nleaks > 0) {
        fputc('\n', f);
        for (size_t i = 0; i < file->nlines; i++) {
            const vw_row_t *r = &file->lines[i];
            char a[32], b[32];
            if (r->leak > 0)
                fprintf(f, "Possible memory leak at line %lld (likelihood %s%%, growing %s MB/s)\n", r->lineno,
                        fmt_fixed(a, sizeof a, 100.0 * r->leak, 0), fmt_fixed(b, sizeof b, r->leak_vel, 2));
        }
    }
}

static void exit_desc(const vw_proc_t *pr, char *buf, size_t size)
{
    if (pr->has_sig) {
        const char *name = NULL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
        if (pr->sig > 0 && pr->sig < 128)
            name = sigabbrev_np((int)pr->sig);
#endif
        if (name)
            snprintf(buf, size, "SIG%s", name);
        else
            snprintf(buf, size, "signal %lld", pr->sig);
    } else if (pr->has_code) {
        snprintf(buf, size, "%lld", pr->code);
    } else {
        snprintf(buf, size, "-");
    }
}

/* The split of profiled time: from the processes where they have it, else
 * from the lines' percentages of a base (scalene_c.total_sec, or for a
 * Scalene profile the elapsed time, as Scalene's own view does). */
static void time_split(const vw_prof_t *p, double *py, double *nat, double *sys, double *total)
{
    *py = *nat = *sys = 0;
    for (size_t i = 0; i < p->nprocs; i++) {
        *py += p->procs[i].py;
        *nat += p->procs[i].nat;
        *sys += p->procs[i].sys;
    }
    if (*py + *nat + *sys > 0) {
        *total = p->has_total && p->total_sec > 0 ? p->total_sec : *py + *nat + *sys;
        return;
    }
    double base = p->has_total ? p->total_sec : p->elapsed;
    for (size_t i = 0; i < p->nfiles; i++) {
        for (size_t j = 0; j < p->files[i].nlines; j++) {
            *py += p->files[i].lines[j].py;
            *nat += p->files[i].lines[j].nat;
            *sys += p->files[i].lines[j].sys;
        }
    }
    *py *= base / 100.0;
    *nat *= base / 100.0;
    *sys *= base / 100.0;
    *total = base;
}

static void put_split(FILE *f, const char *lead, double py, double nat, double sys, double total)
{
    char a[32], b[32], c[32], d[32], e[32], g[32];
    fprintf(f, "%sPython %s s (%s%%)   native %s s (%s%%)   system %s s (%s%%)\n", lead,
            fmt_fixed(a, sizeof a, py, 2), fmt_fixed(b, sizeof b, pct_of(py, total), 1),
            fmt_fixed(c, sizeof c, nat, 2), fmt_fixed(d, sizeof d, pct_of(nat, total), 1),
            fmt_fixed(e, sizeof e, sys, 2), fmt_fixed(g, sizeof g, pct_of(sys, total), 1));
}

static void put_proc_brief(const vw_out_t *o, const vw_proc_t *pr)
{
    vw_line_t l = {.n = 0};
    char a[32];
    int used = fprintf(o->f, "  pid %-7lld ", pr->pid);
    put_pad(o->f, pr->role ? pr->role : "?", 6);
    used += 6 + fprintf(o->f, " %8s s  ", fmt_fixed(a, sizeof a, pr->cpu, 2));
    line_add_argv(&l, pr->argv);
    put_cut(o->f, l.b, l.n, o->cols - used, false);
    fputc('\n', o->f);
}

static void put_header(const vw_out_t *o, const vw_prof_t *p, const vw_opts_t *opts)
{
    FILE *f = o->f;
    vw_line_t l = {.n = 0};
    double py, nat, sys, total;
    char a[32], b[32];

    if (p->program)
        line_add(&l, p->program, strlen(p->program));
    else
        line_add(&l, "(unknown program)", 17);
    line_add_argv(&l, p->args);
    if (o->color)
        fputs(VW_BOLD, f);
    fputs("Profile of ", f);
    put_cut(f, l.b, l.n, o->cols - 11, false);
    if (o->color)
        fputs(VW_RESET, f);
    fputc('\n', f);

    time_split(p, &py, &nat, &sys, &total);
    fprintf(f, "elapsed %s s, profiled time %s s", fmt_fixed(a, sizeof a, p->elapsed, 2),
            fmt_fixed(b, sizeof b, total, 2));
    if (p->has_procs)
        fprintf(f, ", %zu process%s", p->nprocs, p->nprocs == 1 ? "" : "es");
    if (p->memory) {
        fprintf(f, ", peak memory %s MB", fmt_fixed(a, sizeof a, p->peak_mb, 1));
        if (p->peak_file && *p->peak_file && p->peak_line > 0) {
            const char *base = strrchr(p->peak_file, '/');
            base = base ? base + 1 : p->peak_file;
            fputs(" at ", f);
            put_cut(f, base, strlen(base), 40, false);
            fprintf(f, ":%lld", p->peak_line);
        }
    }
    fputc('\n', f);
    put_split(f, "  ", py, nat, sys, total);
    if (p->nprocs > 1) {
        for (size_t i = 0; i < p->nprocs && i < VW_BRIEF_PROCS; i++)
            put_proc_brief(o, &p->procs[i]);
        if (p->nprocs > VW_BRIEF_PROCS)
            fprintf(f, "  ... and %zu more (--processes lists all)\n",
                    p->nprocs - VW_BRIEF_PROCS);
    }
    if (opts->has_pid) {
        const vw_proc_t *pr = find_proc(p, opts->pid);
        if (o->color)
            fputs(VW_BOLD, f);
        fprintf(f, "Showing pid %lld only (", opts->pid);
        put_cut(f, pr->role ? pr->role : "?", pr->role ? strlen(pr->role) : 1, 16, false);
        fputs("):", f);
        if (o->color)
            fputs(VW_RESET, f);
        put_split(f, " ", pr->py, pr->nat, pr->sys, total);
    }
}

static void put_profile(const vw_out_t *o, const vw_prof_t *p, const vw_opts_t *opts)
{
    bool reduced = opts->reduced;
    size_t shown = 0;

    put_header(o, p, opts);
    for (size_t i = 0; i < p->nfiles; i++) {
        const vw_file_t *file = &p->files[i];
        /* A file the chosen process never ran is not part of its view. */
        if ((reduced || opts->has_pid) && !any_active(file->lines, file->nlines))
            continue;
        put_file(o, p, file, reduced);
        shown++;
    }
    if (shown == 0)
        fprintf(o->f, "\n%s\n",
                opts->has_pid ? "(no sampled lines in the profiled files for this process)"
                              : "(no lines sampled: the program may have run too briefly)");
}

static void put_processes(const vw_out_t *o, const vw_prof_t *p)
{
    FILE *f = o->f;
    /* The header uses the rows' widths, so the two cannot drift apart. */
    int fixed = fprintf(f, "%s%7s %7s %-6s %7s %8s %8s %8s %7s %7s %-8s ", o->color ? VW_BOLD : "",
                        "PID", "PPID", "role", "CPU s", "Python s", "native s", "sys s", "samples",
                        "dropped", "exit");
    if (p->memory)
        fixed += fprintf(f, "%8s ", "peak MB");
    int argw = o->cols - (fixed - (o->color ? (int)strlen(VW_BOLD) : 0));

    if (argw < VW_MIN_TEXT)
        argw = VW_MIN_TEXT;
    fprintf(f, "argv%s\n", o->color ? VW_RESET : "");
    for (size_t i = 0; i < p->nprocs; i++) {
        const vw_proc_t *pr = &p->procs[i];
        vw_line_t l = {.n = 0};
        char ex[32], a[32], b[32], c[32], d[32], e[32], g[32];
        exit_desc(pr, ex, sizeof ex);
        fprintf(f, "%7lld %7lld ", pr->pid, pr->ppid);
        put_pad(f, pr->role ? pr->role : "?", 6);
        fprintf(f, " %7s %8s %8s %8s %7s %7s %-8s ", fmt_fixed(a, sizeof a, pr->cpu, 2),
                fmt_fixed(b, sizeof b, pr->py, 2), fmt_fixed(c, sizeof c, pr->nat, 2),
                fmt_fixed(d, sizeof d, pr->sys, 2), fmt_fixed(e, sizeof e, pr->samples, 0),
                fmt_fixed(g, sizeof g, pr->dropped, 0), ex);
        if (p->memory)
            fprintf(f, "%8s ", fmt_fixed(a, sizeof a, pr->peak_mb, 1));
        line_add_argv(&l, pr->argv);
        put_cut(f, l.b, l.n, argw, false);
        fputc('\n', f);
    }
}

static int term_cols(void)
{
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    long c = 0;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        c = ws.ws_col;
    else if (env && *env) {
        char *end;
        c = strtol(env, &end, 10);
        if (*end != '\0')
            c = 0;
    }
    if (c <= 0)
        c = VW_DEFAULT_COLS;
    if (c < 40)
        c = 40;
    return c > VW_MAX_COLS ? VW_MAX_COLS : (int)c;
}

/* --------------------------------------------------------------- command */

static void usage(FILE *f)
{
    fputs("usage: scalene view [--cli] [-r|--reduced] [--pid N] [--processes] [profile.json]\n"
          "\n"
          "Shows a profile written by `scalene run` (or by Scalene) in the terminal.\n"
          "\n"
          "  profile.json   the profile to show (default: " VW_DEFAULT_FILE ")\n"
          "  --cli          show it in the terminal (the default for now)\n"
          "  -r, --reduced  show only lines and functions with activity\n"
          "  --pid N        show only process N's share of each line\n"
          "  --processes    list the profiled processes and exit\n"
          "  --html         write an HTML view (not built yet)\n"
          "  --standalone   write a self-contained HTML view (not built yet)\n"
          "  -h, --help     show this help and exit\n"
          "\n"
          "Colours are used only on a terminal and when NO_COLOR is not set.\n",
          f);
}

static int parse_pid(const char *s, vw_opts_t *opts)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX) {
        err_line("view: --pid needs a process id, not '%s'", s);
        return -EINVAL;
    }
    opts->has_pid = true;
    opts->pid = v;
    snprintf(opts->pidkey, sizeof opts->pidkey, "%lld", v);
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, vw_opts_t *opts)
{
    bool html = false, dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0)
                dashdash = true;
            else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            } else if (strcmp(a, "--cli") == 0)
                ;
            else if (strcmp(a, "-r") == 0 || strcmp(a, "--reduced") == 0)
                opts->reduced = true;
            else if (strcmp(a, "--processes") == 0)
                opts->processes = true;
            else if (strcmp(a, "--html") == 0 || strcmp(a, "--standalone") == 0)
                html = true;
            else if (strcmp(a, "--pid") == 0) {
                if (i + 1 >= argc) {
                    err_line("view: --pid needs a process id");
                    return 2;
                }
                if (parse_pid(argv[++i], opts))
                    return 2;
            } else if (strncmp(a, "--pid=", 6) == 0) {
                if (parse_pid(a + 6, opts))
                    return 2;
            } else {
                err_line("view: unknown option '%s' (see scalene view --help)", a);
                return 2;
            }
            continue;
        }
        if (opts->path) {
            err_line("view: one profile at a time ('%s' and '%s')", opts->path, a);
            return 2;
        }
        opts->path = a;
    }
    if (html) {
        err_line("the web view is not built yet; use --cli");
        return 2;
    }
    if (!opts->path)
        opts->path = VW_DEFAULT_FILE;
    return -1;
}

int vw_main(int argc, char **argv)
{
    vw_opts_t opts = {.path = NULL};
    vw_load_t ld = {.opts = &opts};
    vw_prof_t prof = {.root = NULL};
    char *buf = NULL;
    size_t len = 0;
    bool ok = false;
    int st = parse_args(argc, argv, &opts);

    if (st >= 0)
        return st;
    if (slurp(&ld, opts.path, &buf, &len) == 0) {
        prof.root = parse(&ld, buf, len);
        free(buf);
        ok = prof.root && load_model(&ld, &prof) == 0;
    }
    if (!ok) {
        err_line("%s: %s", opts.path, ld.msg);
        prof_free(&prof);
        return 2;
    }
    if (opts.processes && !prof.has_procs) {
        err_line("%s: no process table in this profile (written by Scalene?)", opts.path);
        prof_free(&prof);
        return 2;
    }

    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    vw_out_t out = {
        .f = stdout,
        .cols = term_cols(),
        .color = isatty(STDOUT_FILENO) && !nc && !(term && strcmp(term, "dumb") == 0),
    };
    if (opts.processes)
        put_processes(&out, &prof);
    else
        put_profile(&out, &prof, &opts);
    prof_free(&prof);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        err_line("view: cannot write the output: %s", strerror(errno));
        return 1;
    }
    return 0;
}
