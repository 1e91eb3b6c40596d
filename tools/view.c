/* SPDX-License-Identifier: Apache-2.0
 * view.c — `scalene view`. Reads the whole profile, parses it with json-c
 * and checks every field the terminal view uses into a small model (so
 * printing cannot meet a surprise); the web modes make the same checks,
 * then hand the profile, re-written as strict JSON, to tools/gui.c, which
 * builds the page and writes or serves it.
 * The terminal view prints a header, one line table and one function table
 * per file, or the process table. Reads this project's format
 * (docs/REPORT.md) and Scalene's own; a key that is missing or null reads
 * as 0. When the profile has memory, the tables gain memory columns (net
 * MB, Python share, then allocated MB and copy MB/s where the terminal has
 * room) and leak marks. Lines fit the terminal's width; optional columns go
 * first when it is narrow. Bad input is one "scalene: " line on stderr and
 * exit 2, never a crash. Text from the profile is sanitized before it
 * reaches the terminal: a profile must not be able to send escape sequences.
 */
#include "view.h"

#include "ai.h"
#include "exp.h"
#include "merge.h"
#include "pprof.h"
#include "gui.h"
#include "jsonv.h"

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
#define VW_DEFAULT_HTML "scalene-profile.html"
#define VW_DEFAULT_COLS 100
#define VW_MAX_COLS 1000 /* keeps vw_line_t (4 bytes per column) big enough */
#define VW_MIN_TEXT 10   /* narrowest source column: below it, let it wrap */
#define VW_HOT_PCT 10.0  /* a line at or above this total CPU % is "hot" */
#define VW_BRIEF_PROCS 10
#define VW_NUM_MAX 1e12  /* any number read is clamped to +-this */
#define VW_FN_ROWS 15    /* rows of each table of functions in the stacks */

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
    const char *host; /* issue 16: the host it ran on (NULL in older reports) */
    const char *key;  /* issue 16: HOST:PID in a merged report, else NULL */
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
    char *page;      /* VW_SERVE: the page's data, the report as read (compact), taken before
                      * the model was expanded for the proposal endpoint; NULL otherwise */
    size_t page_len;
} vw_prof_t;

/* The view asked for: the page served on 127.0.0.1 (the default), the
 * page written to a file (--html, --standalone), the terminal (--cli), or
 * the call stacks exported (--collapsed, --speedscope: tools/exp.c). */
typedef enum vw_mode { VW_SERVE, VW_FILE, VW_CLI, VW_EXPORT, VW_OPTIMIZE } vw_mode_t;

typedef struct vw_opts {
    const char *path;
    vw_mode_t mode;
    const char *outfile; /* VW_FILE, VW_EXPORT: -o, or NULL for the mode's default */
    exp_format_t format; /* VW_EXPORT */
    bool pprof;          /* VW_EXPORT: --pprof (tools/pprof.c) instead of exp's formats */
    exp_what_t what;     /* VW_EXPORT, --collapsed: --memory[=live] */
    bool browser;        /* VW_SERVE: start the browser (--no-browser: not) */
    bool reduced, processes;
    bool has_pid;
    long long pid;
    char pidkey[300]; /* by_process key: the pid, or HOST:PID in a merged report (issue 16) */
    const char *optimize; /* VW_OPTIMIZE: FILE:LINE[-END] */
    ai_req_t ai;          /* --ai-*: the provider for --optimize and the page's default */
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

/* Prints short items on a line, separated by sep, the way a paragraph
 * flows: an item that would pass the terminal's width starts a new line
 * indented by indent; one wider than a line is cut. */
typedef struct vw_flow {
    FILE *f;
    int cols, col, indent;
    bool fresh; /* nothing printed on this line yet */
} vw_flow_t;

static void flow(vw_flow_t *fl, const char *sep, const char *item)
{
    size_t n = strlen(item);
    int w = text_width(item, n, false), sw = (int)strlen(sep);
    if (!fl->fresh) {
        if (fl->col + sw + w <= fl->cols) {
            fputs(sep, fl->f);
            fl->col += sw;
        } else {
            fprintf(fl->f, "\n%*s", fl->indent, "");
            fl->col = fl->indent;
        }
    }
    fl->fresh = false;
    fl->col += put_cut(fl->f, item, n, fl->cols - fl->col, false);
}

/* Prints text as words flowed to the width, then a newline. */
static void put_words(FILE *f, int cols, int indent, const char *text)
{
    vw_flow_t fl = {.f = f, .cols = cols, .indent = indent, .fresh = true};
    char word[256];
    while (*text) {
        size_t k = strcspn(text, " ");
        if (k > 0) {
            snprintf(word, sizeof word, "%.*s", (int)k, text);
            flow(&fl, " ", word);
        }
        text += k + (text[k] == ' ');
    }
    fputc('\n', f);
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

/* Appends s[0..n), cut to maxw columns with "…" (at a glyph boundary). */
static void line_add_cut(vw_line_t *l, const char *s, size_t n, int maxw)
{
    int col = 0, w;
    bool bad;
    size_t i = 0;
    if (text_width(s, n, false) <= maxw) {
        line_add(l, s, n);
        return;
    }
    while (i < n) {
        size_t len = glyph(s + i, n - i, col, false, &w, &bad);
        if (col + w > maxw - 1)
            break;
        col += w;
        i += len;
    }
    line_add(l, s, i);
    line_add(l, "\xe2\x80\xa6", 3);
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

/* Field getters: a missing or null key reads as 0 / NULL; any other wrong
 * type is an error naming the key. */
static int num_of(vw_load_t *ld, json_object *o, const char *key, double *out)
{
    json_object *v = jv_field(o, key);
    *out = 0.0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return fail(ld, "%s is %s, expected a number", key, jv_type_desc(v));
    /* NaN and infinities (Python's json writes them) read as 0; absurd
     * magnitudes are clamped so that sums stay finite and sortable. */
    double d = json_object_get_double(v);
    *out = !isfinite(d) ? 0.0 : d > VW_NUM_MAX ? VW_NUM_MAX : d < -VW_NUM_MAX ? -VW_NUM_MAX : d;
    return 0;
}

static int int_of(vw_load_t *ld, json_object *o, const char *key, long long *out, bool *has)
{
    json_object *v = jv_field(o, key);
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
    return fail(ld, "%s is %s, expected an integer", key, jv_type_desc(v));
}

static int str_of(vw_load_t *ld, json_object *o, const char *key, const char **s, size_t *len)
{
    json_object *v = jv_field(o, key);
    *s = NULL;
    if (len)
        *len = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(ld, "%s is %s, expected a string", key, jv_type_desc(v));
    *s = json_object_get_string(v);
    if (len)
        *len = (size_t)json_object_get_string_len(v);
    return 0;
}

static int typed_of(vw_load_t *ld, json_object *o, const char *key, enum json_type t,
                    json_object **out)
{
    json_object *v = jv_field(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, t))
        return fail(ld, "%s is %s, expected %s", key, jv_type_desc(v),
                    t == json_type_object ? "an object" : "an array");
    *out = v;
    return 0;
}

static int bool_of(vw_load_t *ld, json_object *o, const char *key, bool *out)
{
    json_object *v = jv_field(o, key);
    *out = false;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean) && !json_object_is_type(v, json_type_int))
        return fail(ld, "%s is %s, expected a boolean", key, jv_type_desc(v));
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
            rc = fail(ld, "%s[%zu] is %s, expected a string", key, i, jv_type_desc(a));
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
        return fail(ld, "is %s, expected an object", jv_type_desc(o));
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
        src = bp ? jv_field(bp, ld->opts->pidkey) : NULL;
        if (src && !json_object_is_type(src, json_type_object))
            return fail(ld, "by_process[\"%s\"] is %s, expected an object", ld->opts->pidkey,
                        jv_type_desc(src));
        if (!src)
            return 0; /* the process never ran this line */
    }
    /* Net: ours, else Scalene's n_peak_mb (what its own view shows as "Net (MB)") */
    const char *net = jv_field(src, "n_net_mb") ? "n_net_mb" : "n_peak_mb";
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
            return fail(ld, "leaks[\"%s\"] is %s, expected an object", key, jv_type_desc(lk));
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
        return fail(ld, "is %s, expected an object", jv_type_desc(fo));
    if ((rc = load_rows(ld, fo, "lines", &f->lines, &f->nlines)) ||
        (rc = load_rows(ld, fo, "functions", &f->funcs, &f->nfuncs)) || (rc = load_leaks(ld, fo, f)))
        return rc;
    if (!ld->opts->has_pid && jv_field(fo, "percent_cpu_time"))
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
        return fail(ld, "is %s, expected an object", jv_type_desc(o));
    if ((rc = int_of(ld, o, "pid", &p->pid, NULL)) ||
        (rc = int_of(ld, o, "ppid", &p->ppid, NULL)) ||
        (rc = str_of(ld, o, "role", &p->role, NULL)) || (rc = str_of(ld, o, "host", &p->host, NULL)) ||
        (rc = str_of(ld, o, "key", &p->key, NULL)) ||
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
    free(p->page);
    json_object_put(p->root);
    memset(p, 0, sizeof *p);
}

/* The process --pid names: by its key (HOST:PID) in a merged report, else by pid. */
static const vw_proc_t *find_proc(const vw_prof_t *p, const vw_opts_t *opts)
{
    bool by_key = strchr(opts->pidkey, ':') != NULL;
    for (size_t i = 0; i < p->nprocs; i++)
        if (by_key ? p->procs[i].key && strcmp(p->procs[i].key, opts->pidkey) == 0 : p->procs[i].pid == opts->pid)
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
                    jv_type_desc(p->root));
    if (!json_object_object_get_ex(p->root, "files", &files))
        return fail(ld, "not a profile (no \"files\" object)");
    if (!json_object_is_type(files, json_type_object))
        return fail(ld, "not a profile (\"files\" is %s, not an object)", jv_type_desc(files));
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
        p->has_total = jv_field(sc, "total_sec") != NULL;
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
    if (ld->opts->has_pid && !strchr(ld->opts->pidkey, ':')) {
        /* issue 16: a merged report keys its processes HOST:PID */
        const vw_proc_t *k = NULL;
        for (size_t i = 0; i < p->nprocs && !k; i++)
            k = p->procs[i].key ? &p->procs[i] : NULL;
        if (k)
            return fail(ld, "a merged report: name the process as HOST:PID with --pid (%s, ...)", k->key);
    }
    if (ld->opts->has_pid && !find_proc(p, ld->opts)) {
        if (!p->has_procs)
            return fail(ld, "pid %lld is not in this profile (it has no process table)",
                        ld->opts->pid);
        vw_line_t l = {.n = 0};
        for (size_t i = 0; i < p->nprocs && i < 20; i++)
            if (p->procs[i].key) /* a merged report's HOST:PID (profile text: cut, not raw) */
                line_addf(&l, "%s%.40s", i ? ", " : "", p->procs[i].key);
            else
                line_addf(&l, "%s%lld", i ? ", " : "", p->procs[i].pid);
        return fail(ld, "pid %s is not in this profile (its pids: %s%s)", ld->opts->pidkey,
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
 * terminal); Leak when some line has a leak mark. Where even VW_MIN_TEXT
 * columns of source would not fit, Leak (the marks are also listed under
 * the table), Mem Py% and Net MB go too, in that order: the CPU columns
 * and the source line are the table. */
typedef struct vw_cols {
    bool net, frac, alloc, copy, leak;
} vw_cols_t;

static int fixed_width(int lw, const vw_cols_t *c)
{
    return lw + 3 * (1 + VW_PCT_W) + (c->net ? 1 + VW_MB_W : 0) + (c->frac ? 1 + VW_FRAC_W : 0) +
           (c->alloc ? 1 + VW_MB_W : 0) + (c->copy ? 1 + VW_MB_W : 0) + (c->leak ? 1 + VW_LEAK_W : 0) + 2;
}

static vw_cols_t choose_cols(const vw_out_t *o, int lw, const vw_row_t *rows, size_t n, bool memory)
{
    vw_cols_t c = {.net = memory, .frac = memory};
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
    bool *drop[] = {&c.leak, &c.frac, &c.net};
    for (size_t i = 0; i < sizeof drop / sizeof *drop && o->cols - fixed_width(lw, &c) < VW_MIN_TEXT; i++)
        *drop[i] = false;
    return c;
}

static void put_rule(const vw_out_t *o, int lw, const vw_cols_t *c, int textw)
{
    FILE *f = o->f;
    int widths[8], nw = 0;
    widths[nw++] = VW_PCT_W;
    widths[nw++] = VW_PCT_W;
    widths[nw++] = VW_PCT_W;
    if (c->net)
        widths[nw++] = VW_MB_W;
    if (c->frac)
        widths[nw++] = VW_FRAC_W;
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

    if (textw < 1) /* only with absurd line numbers on a 40-column terminal */
        textw = 1;
    if (o->color)
        fputs(VW_BOLD, f);
    fprintf(f, "%*s %*s %*s %*s", lw, "Line", VW_PCT_W, "Python", VW_PCT_W, "native", VW_PCT_W,
            "system");
    if (cols.net)
        fprintf(f, " %*s", VW_MB_W, "Net MB");
    if (cols.frac)
        fprintf(f, " %*s", VW_FRAC_W, "Mem Py%");
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
        if (cols.net)
            fprintf(f, " %*s", VW_MB_W, fmt_num(a, sizeof a, r->mb));
        if (cols.frac)
            fprintf(f, " %*s", VW_FRAC_W,
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
            char msg[160];
            if (r->leak <= 0)
                continue;
            snprintf(msg, sizeof msg, "Possible memory leak at line %lld (likelihood %s%%, growing %s MB/s)",
                     r->lineno, fmt_fixed(a, sizeof a, 100.0 * r->leak, 0), fmt_fixed(b, sizeof b, r->leak_vel, 2));
            put_words(f, o->cols, 2, msg);
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

/* "Python 1.00 s (10.0%)   native ...   system ...", flowed on from fl
 * (whose line holds something already unless fl->fresh), then a newline. */
static void put_split(vw_flow_t *fl, const char *lead, double py, double nat, double sys, double total)
{
    const char *name[3] = {"Python", "native", "system"};
    double v[3] = {py, nat, sys};
    for (int i = 0; i < 3; i++) {
        char item[96], a[32], b[32];
        snprintf(item, sizeof item, "%s %s s (%s%%)", name[i], fmt_fixed(a, sizeof a, v[i], 2),
                 fmt_fixed(b, sizeof b, pct_of(v[i], total), 1));
        flow(fl, i == 0 ? lead : "   ", item);
    }
    fputc('\n', fl->f);
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
    vw_flow_t fl = {.f = f, .cols = o->cols, .indent = 2, .fresh = true};
    char item[128];
    snprintf(item, sizeof item, "elapsed %s s", fmt_fixed(a, sizeof a, p->elapsed, 2));
    flow(&fl, "", item);
    snprintf(item, sizeof item, "profiled time %s s", fmt_fixed(b, sizeof b, total, 2));
    flow(&fl, ", ", item);
    if (p->has_procs) {
        snprintf(item, sizeof item, "%zu process%s", p->nprocs, p->nprocs == 1 ? "" : "es");
        flow(&fl, ", ", item);
    }
    if (p->memory) {
        vw_line_t pk = {.n = 0};
        line_addf(&pk, "peak memory %s MB", fmt_fixed(a, sizeof a, p->peak_mb, 1));
        if (p->peak_file && *p->peak_file && p->peak_line > 0) {
            const char *base = strrchr(p->peak_file, '/');
            base = base ? base + 1 : p->peak_file;
            line_add(&pk, " at ", 4);
            line_add_cut(&pk, base, strlen(base), 40); /* flow() sanitizes it */
            line_addf(&pk, ":%lld", p->peak_line);
        }
        flow(&fl, ", ", pk.b);
    }
    fputs("\n  ", f);
    fl.col = 2;
    fl.fresh = true;
    put_split(&fl, "", py, nat, sys, total);
    if (p->nprocs > 1) {
        for (size_t i = 0; i < p->nprocs && i < VW_BRIEF_PROCS; i++)
            put_proc_brief(o, &p->procs[i]);
        if (p->nprocs > VW_BRIEF_PROCS)
            fprintf(f, "  ... and %zu more (--processes lists all)\n",
                    p->nprocs - VW_BRIEF_PROCS);
    }
    if (opts->has_pid) {
        const vw_proc_t *pr = find_proc(p, opts);
        if (o->color)
            fputs(VW_BOLD, f);
        int col = fprintf(f, "Showing pid %lld only (", opts->pid);
        col += put_cut(f, pr->role ? pr->role : "?", pr->role ? strlen(pr->role) : 1, 16, false);
        col += fprintf(f, "):");
        if (o->color)
            fputs(VW_RESET, f);
        vw_flow_t pf = {.f = f, .cols = o->cols, .col = col, .indent = 2, .fresh = false};
        put_split(&pf, " ", pr->py, pr->nat, pr->sys, total);
    }
}

static int put_functions(const vw_out_t *o, const vw_prof_t *p, const vw_opts_t *opts);

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
    if (shown == 0) {
        fputc('\n', o->f);
        put_words(o->f, o->cols, 0,
                  opts->has_pid ? "(no sampled lines in the profiled files for this process)"
                                : "(no lines sampled: the program may have run too briefly)");
    }    if (put_functions(o, p, opts) != 0)
        err_line("view: out of memory: the table of functions in the stacks is left out");
}

/* ------------------------------------------------- functions in the stacks */

/* One function of the call stacks (Python or native), keyed by kind, name
 * and file or module; strings borrowed from the json-c tree. */
typedef struct vw_fn {
    const char *name, *file;
    bool native;
    double self, total; /* seconds (our report) or samples (Scalene's) */
    size_t stamp;       /* 1 + the stack last added to total: recursion counts once */
} vw_fn_t;

typedef struct vw_fns {
    vw_fn_t *v; /* open addressing; cap a power of two, at most half full */
    size_t n, cap;
    double all;  /* the weight of every stack read */
    size_t nstacks;
    bool any_native, seconds;
} vw_fns_t;

static uint64_t fn_hash(const char *name, const char *file, bool native)
{
    uint64_t h = native ? 1469598103934665603ull ^ 0x9e37ull : 1469598103934665603ull;
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *c = file; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return h;
}

/* The entry for a function, added when new; NULL when out of memory. */
static vw_fn_t *fn_get(vw_fns_t *t, const char *name, const char *file, bool native)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        vw_fn_t *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].name)
                continue;
            size_t j = fn_hash(t->v[i].name, t->v[i].file, t->v[i].native) & (cap - 1);
            while (v[j].name)
                j = (j + 1) & (cap - 1);
            v[j] = t->v[i];
        }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    size_t j = fn_hash(name, file, native) & (t->cap - 1);
    while (t->v[j].name) {
        vw_fn_t *e = &t->v[j];
        if (e->native == native && strcmp(e->name, name) == 0 && strcmp(e->file, file) == 0)
            return e;
        j = (j + 1) & (t->cap - 1);
    }
    t->n++;
    t->v[j] = (vw_fn_t){.name = name, .file = file, .native = native};
    return &t->v[j];
}

/* Whether a native frame's module is the interpreter itself (the python
 * binary, libpython): its frames are the machinery of a call or of the eval
 * loop, charged to the function that called into it, as a Python line's
 * time is. */
static bool interp_module(const char *file)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    return strncmp(b, "libpython", 9) == 0 || (strncmp(b, "python", 6) == 0 && !strstr(b, ".so"));
}

/* System code: the C library, the dynamic loader, the vDSO, the kernel. */
static bool system_module(const char *file)
{
    static const char *const sys[] = {"libc.so", "libc-", "libm.so", "libpthread", "libdl", "librt",
                                      "ld-linux", "linux-vdso", "linux-gate", "[kernel", "[vdso"};
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    for (size_t i = 0; i < sizeof sys / sizeof *sys; i++)
        if (strncmp(b, sys[i], strlen(sys[i])) == 0)
            return true;
    return false;
}

/* Adds one stack ([frame, ...], outermost first) of weight w. A malformed
 * stack or frame is skipped: the table is an extra beside the line tables,
 * which the loader has checked. Returns -ENOMEM or 0. */
static int fns_add(vw_fns_t *t, json_object *frames, double w)
{
    if (!json_object_is_type(frames, json_type_array) || !(w > 0) || !isfinite(w))
        return 0;
    size_t n = json_object_array_length(frames);
    vw_fn_t *leaf = NULL;
    t->nstacks++;
    t->all += w;
    for (size_t i = 0; i < n; i++) {
        json_object *fr = json_object_array_get_idx(frames, i), *v;
        const char *name = NULL, *file = "";
        bool native = false;
        if (!json_object_is_type(fr, json_type_object))
            continue;
        if (json_object_object_get_ex(fr, "display_name", &v) && json_object_is_type(v, json_type_string))
            name = json_object_get_string(v);
        if (json_object_object_get_ex(fr, "filename_or_module", &v) && json_object_is_type(v, json_type_string))
            file = json_object_get_string(v);
        if (json_object_object_get_ex(fr, "kind", &v) && json_object_is_type(v, json_type_string))
            native = strcmp(json_object_get_string(v), "py") != 0;
        if (!name || strcmp(name, "...") == 0 || (native && interp_module(file)))
            continue; /* the mark of a cut stack; the interpreter's own C code */
        vw_fn_t *e = fn_get(t, name, file, native);
        if (!e)
            return -ENOMEM;
        if (e->stamp != t->nstacks) {
            e->stamp = t->nstacks;
            e->total += w;
        }
        t->any_native |= native;
        leaf = e;
    }
    if (leaf)
        leaf->self += w;
    return 0;
}

/* Reads the stacks of the view: with a process table, each process's own
 * (`processes[].stacks`, in seconds; only the chosen one under --pid), else
 * Scalene's `combined_stacks` (samples). */
static int fns_load(const vw_prof_t *p, const vw_opts_t *opts, vw_fns_t *t)
{
    json_object *procs, *cs;
    int rc = 0;
    if (p->has_procs && json_object_object_get_ex(p->root, "processes", &procs)) {
        t->seconds = true;
        size_t np = json_object_array_length(procs);
        for (size_t i = 0; i < np && rc == 0; i++) {
            json_object *po = json_object_array_get_idx(procs, i), *st, *pid;
            if (!json_object_is_type(po, json_type_object))
                continue;
            if (opts->has_pid && (!json_object_object_get_ex(po, "pid", &pid) ||
                                  json_object_get_int64(pid) != opts->pid))
                continue;
            if (!json_object_object_get_ex(po, "stacks", &st) || !json_object_is_type(st, json_type_array))
                continue;
            size_t ns = json_object_array_length(st);
            for (size_t k = 0; k < ns && rc == 0; k++) {
                json_object *e = json_object_array_get_idx(st, k), *m, *c;
                if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) < 2)
                    continue;
                m = json_object_array_get_idx(e, 1);
                if (!json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, "cpu_sec", &c))
                    continue;
                rc = fns_add(t, json_object_array_get_idx(e, 0), json_object_get_double(c));
            }
        }
        return rc;
    }
    if (!json_object_object_get_ex(p->root, "combined_stacks", &cs) || !json_object_is_type(cs, json_type_array))
        return 0;
    size_t ns = json_object_array_length(cs);
    for (size_t k = 0; k < ns && rc == 0; k++) {
        json_object *e = json_object_array_get_idx(cs, k);
        if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) < 2)
            continue;
        rc = fns_add(t, json_object_array_get_idx(e, 0), json_object_get_double(json_object_array_get_idx(e, 1)));
    }
    return rc;
}

static int fn_by_self(const void *a, const void *b)
{
    const vw_fn_t *x = *(const vw_fn_t *const *)a, *y = *(const vw_fn_t *const *)b;
    return x->self < y->self ? 1 : x->self > y->self ? -1 : (y->total > x->total) - (y->total < x->total);
}

static int fn_by_total(const void *a, const void *b)
{
    const vw_fn_t *x = *(const vw_fn_t *const *)a, *y = *(const vw_fn_t *const *)b;
    return x->total < y->total ? 1 : x->total > y->total ? -1 : (y->self > x->self) - (y->self < x->self);
}

/* One table: the top VW_FN_ROWS functions in the order cmp gives. */
static void put_fn_table(const vw_out_t *o, const vw_fns_t *t, vw_fn_t **v, size_t n,
                         int (*cmp)(const void *, const void *), const char *title)
{
    FILE *f = o->f;
    char a[32], b[32], c[32], d[32];

    qsort(v, n, sizeof *v, cmp);
    fputc('\n', f);
    if (o->color)
        fputs(VW_BOLD, f);
    fprintf(f, "%s\n", title);
    fprintf(f, "%7s %8s %7s %8s  %-6s %s%s\n", "Self%", t->seconds ? "Self s" : "Self n", "Total%",
            t->seconds ? "Total s" : "Total n", "Kind", "Function [module or file name]", o->color ? VW_RESET : "");
    int fixed = 7 + 1 + 8 + 1 + 7 + 1 + 8 + 2 + 6 + 1;
    for (size_t i = 0; i < n && i < VW_FN_ROWS; i++) {
        const vw_fn_t *e = v[i];
        if ((cmp == fn_by_self ? e->self : e->total) <= 0)
            break;
        fmt_fixed(a, sizeof a, pct_of(e->self, t->all), 1);
        fmt_fixed(b, sizeof b, e->self, t->seconds ? 2 : 0);
        fmt_fixed(c, sizeof c, pct_of(e->total, t->all), 1);
        fmt_fixed(d, sizeof d, e->total, t->seconds ? 2 : 0);
        fprintf(f, "%6s%% %8s %6s%% %8s  %-6s ", a, b, c, d,
                !e->native ? "Python" : system_module(e->file) ? "system" : "native");
        vw_line_t l = {.n = 0};
        const char *slash = strrchr(e->file, '/');
        const char *where = slash ? slash + 1 : e->file;
        line_add(&l, e->name, strlen(e->name));
        if (*where && e->name[0] != '[') { /* "[module]": a native frame without a symbol */
            line_add(&l, " [", 2);
            line_add(&l, where, strlen(where));
            line_add(&l, "]", 1);
        }
        put_cut(f, l.b, l.n, o->cols - fixed, false);
        fputc('\n', f);
    }
}

/* With native frames in the call stacks (a run with --native, or Scalene's
 * combined_stacks), the hottest functions across Python and native frames,
 * by self and by total time: where a mypyc or Cython program spends its
 * time, which its line tables (one Python line calling into C) cannot say.
 * The interpreter's own frames are folded into their caller (interp_module). */
static int put_functions(const vw_out_t *o, const vw_prof_t *p, const vw_opts_t *opts)
{
    vw_fns_t t = {.v = NULL};
    int rc = fns_load(p, opts, &t);
    if (rc == 0 && t.any_native && t.all > 0) {
        vw_fn_t **v = malloc((t.n ? t.n : 1) * sizeof *v);
        if (!v) {
            rc = -ENOMEM;
        } else {
            size_t k = 0;
            for (size_t i = 0; i < t.cap; i++)
                if (t.v[i].name)
                    v[k++] = &t.v[i];
            char title[160];
            snprintf(title, sizeof title, "Functions in the call stacks (%zu stacks%s), by self %s:",
                     t.nstacks, opts->has_pid ? " of this process" : "", t.seconds ? "time" : "samples");
            put_fn_table(o, &t, v, k, fn_by_self, title);
            snprintf(title, sizeof title, "... and by total %s (with the functions they call):",
                     t.seconds ? "time" : "samples");
            put_fn_table(o, &t, v, k, fn_by_total, title);
            free(v);
        }
    }
    free(t.v);
    return rc;
}

/* The process table's columns, in the order shown. */
enum { PC_PID, PC_PPID, PC_ROLE, PC_CPU, PC_PY, PC_NAT, PC_SYS, PC_SAMPLES, PC_DROPPED, PC_EXIT, PC_PEAK, PC_N };

static const struct {
    const char *title;
    int w; /* negative: left-aligned */
} vw_pcols[PC_N] = {
    [PC_PID] = {"PID", 7},          [PC_PPID] = {"PPID", 7},         [PC_ROLE] = {"role", -6},
    [PC_CPU] = {"CPU s", 7},        [PC_PY] = {"Python s", 8},       [PC_NAT] = {"native s", 8},
    [PC_SYS] = {"sys s", 8},        [PC_SAMPLES] = {"samples", 7},   [PC_DROPPED] = {"dropped", 7},
    [PC_EXIT] = {"exit", -8},       [PC_PEAK] = {"peak MB", 8},
};

/* Which columns fit: pid, role, CPU and exit always; the others in order of
 * use while VW_MIN_TEXT columns of argv still fit. */
static void choose_pcols(const vw_out_t *o, bool memory, bool show[PC_N])
{
    static const int extra[] = {PC_PPID, PC_PY, PC_NAT, PC_SYS, PC_PEAK, PC_SAMPLES, PC_DROPPED};
    int used = 0;
    for (int c = 0; c < PC_N; c++) {
        show[c] = c == PC_PID || c == PC_ROLE || c == PC_CPU || c == PC_EXIT;
        used += show[c] ? abs(vw_pcols[c].w) + 1 : 0;
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        int c = extra[i], w = abs(vw_pcols[c].w) + 1;
        if ((c != PC_PEAK || memory) && used + w + VW_MIN_TEXT <= o->cols) {
            show[c] = true;
            used += w;
        }
    }
}

static bool same_host(const vw_proc_t *a, const vw_proc_t *b)
{
    return (!a->host && !b->host) || (a->host && b->host && strcmp(a->host, b->host) == 0);
}

static void put_proc_row(const vw_out_t *o, const vw_proc_t *pr, const bool show[PC_N], int argw)
{
    FILE *f = o->f;
    vw_line_t l = {.n = 0};
    char cell[PC_N][32];
    double secs[PC_N] = {[PC_CPU] = pr->cpu, [PC_PY] = pr->py, [PC_NAT] = pr->nat, [PC_SYS] = pr->sys};
    for (int c = PC_CPU; c <= PC_SYS; c++)
        fmt_fixed(cell[c], sizeof cell[c], secs[c], 2);
    snprintf(cell[PC_PID], sizeof cell[PC_PID], "%lld", pr->pid);
    snprintf(cell[PC_PPID], sizeof cell[PC_PPID], "%lld", pr->ppid);
    fmt_fixed(cell[PC_SAMPLES], sizeof cell[PC_SAMPLES], pr->samples, 0);
    fmt_fixed(cell[PC_DROPPED], sizeof cell[PC_DROPPED], pr->dropped, 0);
    fmt_fixed(cell[PC_PEAK], sizeof cell[PC_PEAK], pr->peak_mb, 1);
    exit_desc(pr, cell[PC_EXIT], sizeof cell[PC_EXIT]);
    for (int c = 0; c < PC_N; c++) {
        if (!show[c])
            continue;
        if (c == PC_ROLE) {
            put_pad(f, pr->role ? pr->role : "?", -vw_pcols[c].w); /* profile text: sanitized */
            fputc(' ', f);
        } else {
            fprintf(f, "%*s ", vw_pcols[c].w, cell[c]);
        }
    }
    line_add_argv(&l, pr->argv);
    put_cut(f, l.b, l.n, argw, false);
    fputc('\n', f);
}

static void put_processes(const vw_out_t *o, const vw_prof_t *p)
{
    FILE *f = o->f;
    bool show[PC_N];
    int fixed = 0;

    choose_pcols(o, p->memory, show);
    if (o->color)
        fputs(VW_BOLD, f);
    /* The header uses the rows' widths, so the two cannot drift apart. */
    for (int c = 0; c < PC_N; c++)
        if (show[c])
            fixed += fprintf(f, "%*s ", vw_pcols[c].w, vw_pcols[c].title);
    int argw = o->cols - fixed;
    if (argw < 1)
        argw = 1;
    fprintf(f, "argv%s\n", o->color ? VW_RESET : "");
    /* issue 16: a merged report's processes, grouped by host (in the order
     * the hosts first appear); one host's report prints no heading */
    bool multi = false;
    for (size_t i = 1; i < p->nprocs; i++)
        multi = multi || !same_host(&p->procs[i], &p->procs[0]);
    for (size_t h = 0; h < p->nprocs; h++) {
        bool first = true;
        for (size_t k = 0; k < h && first; k++)
            first = !same_host(&p->procs[k], &p->procs[h]);
        if (!first)
            continue;
        if (multi) {
            fprintf(f, "%shost ", o->color ? VW_BOLD : "");
            const char *hn = p->procs[h].host ? p->procs[h].host : "?";
            put_cut(f, hn, strlen(hn), o->cols > 10 ? o->cols - 10 : 10, false); /* profile text: sanitized */
            fprintf(f, "%s\n", o->color ? VW_RESET : "");
        }
        for (size_t i = h; i < p->nprocs; i++)
            if (same_host(&p->procs[i], &p->procs[h]))
                put_proc_row(o, &p->procs[i], show, argw);
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
    fputs("usage: scalene view [--no-browser] [profile.json]\n"
          "       scalene view --html|--standalone [-o FILE] [profile.json]\n"
          "       scalene view --cli [-r|--reduced] [--pid N] [--processes] [profile.json]\n"
          "       scalene view --collapsed [--memory[=live]]|--speedscope [--pid N] [-o FILE] [profile.json]\n"
          "       scalene view --pprof [-o FILE] [profile.json]\n"
          "       scalene view --optimize FILE:LINE[-END] [--ai-provider P] [--ai-model M]\n"
          "                    [--ai-url URL] [profile.json]\n"
          "\n"
          "Shows a profile written by `scalene run` (or by Scalene).\n"
          "\n"
          "  profile.json     the profile to show (default: " VW_DEFAULT_FILE ")\n"
          "\n"
          "  (no mode)        serve the web view on http://127.0.0.1:<a free port>/, print\n"
          "                   that URL and open it in the browser if one is set up ($BROWSER,\n"
          "                   or xdg-open with a display); Ctrl-C stops the server\n"
          "  --no-browser     serve, print the URL, start no browser\n"
          "  --html           write the web view as one self-contained HTML file, next to\n"
          "                   the profile: DIR/" VW_DEFAULT_HTML " for DIR/profile.json;\n"
          "                   no browser is started\n"
          "  --standalone     the same as --html: the page has every script, style and the\n"
          "                   data inside it and makes no network request, so it can be\n"
          "                   mailed or opened offline\n"
          "  -o, --outfile FILE\n"
          "                   with --html/--standalone: write the page to FILE ('-': stdout);\n"
          "                   with --collapsed/--speedscope: write the export to FILE ('-':\n"
          "                   stdout)\n"
          "  --cli            show the profile in the terminal\n"
          "  -r, --reduced    (terminal) show only lines and functions with activity\n"
          "  --pid N          (terminal) show only process N's share of each line\n"
          "  --processes      (terminal) list the profiled processes\n"
          "  --collapsed      write the call stacks (a run with --stacks) as folded lines for\n"
          "                   flamegraph.pl, inferno or speedscope, one tower per process,\n"
          "                   weights in microseconds of CPU time; to stdout by default\n"
          "  --memory[=live]  with --collapsed: the memory stacks instead, weighed in bytes\n"
          "                   allocated (or still live at the end: =live)\n"
          "  --speedscope     write the call stacks as a speedscope file, one profile per\n"
          "                   process (and its memory profiles in bytes, when the report has\n"
          "                   memory stacks): DIR/NAME.speedscope.json for DIR/NAME.json\n"
          "                   (--pid N with either: only process N)\n"
          "  --pprof          write a gzip'd pprof profile.proto (go tool pprof, Pyroscope,\n"
          "                   Parca): DIR/NAME.pb.gz for DIR/NAME.json; labels host, pid,\n"
          "                   thread, process_role; the call stacks when the run had them\n"
          "  --optimize FILE:LINE[-END]\n"
          "                   ask a language model for a faster version of those lines of\n"
          "                   FILE (matched by the end of the report's file name) and print\n"
          "                   it as a diff with its reason (docs/AI.md)\n"
          "  --ai-provider P  openai, azure, ollama, anthropic or bedrock (default: the first\n"
          "                   whose key is set: OPENAI_API_KEY, AZURE_OPENAI_API_KEY,\n"
          "                   ANTHROPIC_API_KEY, AWS_ACCESS_KEY_ID; else ollama on localhost)\n"
          "  --ai-model NAME  the model (azure: the deployment)\n"
          "  --ai-url BASE    the server's base URL (http://127.0.0.1:11434, http://host:8000/v1)\n"
          "  --ai-timeout SEC give up after SEC seconds (default: 120)\n"
          "  --ai-api-version V, --ai-region R\n"
          "                   azure's api-version; bedrock's AWS region\n"
          "  -c, --config FILE\n"
          "                   read the ai-* keys from a YAML file (docs/CONFIG.md)\n"
          "  -h, --help       show this help and exit\n"
          "\n"
          "-r, --pid and --processes imply --cli. The terminal view fits the terminal's\n"
          "width ($COLUMNS when not a terminal) and uses colours only on a terminal and\n"
          "when NO_COLOR is not set. A profile that cannot be read is one line on stderr\n"
          "and exit status 2; the served page then shows the same message.\n",
          f);
}

static int parse_pid(const char *s, vw_opts_t *opts)
{
    char *end;
    /* HOST:PID (a merged report's key, issue 16; maybe HOST:PID#2) or PID */
    const char *colon = strrchr(s, ':');
    const char *num = colon ? colon + 1 : s;
    errno = 0;
    long long v = strtoll(num, &end, 10);
    if (colon && *end == '#' && end[1] >= '1' && end[1] <= '9')
        end += strspn(end + 1, "0123456789") + 1;
    if (num[0] == '\0' || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX || (colon && colon == s) ||
        strlen(s) >= sizeof opts->pidkey) {
        err_line("view: --pid needs a process id or HOST:PID, not '%s'", s);
        return -EINVAL;
    }
    opts->has_pid = true;
    opts->pid = v;
    snprintf(opts->pidkey, sizeof opts->pidkey, "%s", colon ? s : num);
    if (!colon)
        snprintf(opts->pidkey, sizeof opts->pidkey, "%lld", v);
    return 0;
}

/* --optimize and --ai-*: the options that take a value, with or without '='. */
static const char *const ai_opts[] = {"--optimize", "--ai-provider", "--ai-model", "--ai-url",
                                      "--ai-timeout", "--ai-api-version", "--ai-region", NULL};

static bool is_ai_opt(const char *a)
{
    for (size_t i = 0; ai_opts[i]; i++) {
        size_t n = strlen(ai_opts[i]);
        if (strncmp(a, ai_opts[i], n) == 0 && (a[n] == 0 || a[n] == '='))
            return true;
    }
    return false;
}

static int set_ai_opt(vw_opts_t *opts, const char *a, size_t nl, const char *v)
{
#define VW_IS(name) (nl == sizeof(name) - 1 && strncmp(a, name, nl) == 0)
    if (VW_IS("--optimize"))
        opts->optimize = v;
    else if (VW_IS("--ai-provider")) {
        if (ai_provider_parse(v, &opts->ai.provider) != 0) {
            err_line("view: --ai-provider is one of openai, azure, ollama, anthropic, bedrock, not '%s'", v);
            return -EINVAL;
        }
    } else if (VW_IS("--ai-model"))
        opts->ai.model = v;
    else if (VW_IS("--ai-url")) {
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            err_line("view: --ai-url needs an http:// or https:// URL, not '%s'", v);
            return -EINVAL;
        }
        opts->ai.url = v;
    } else if (VW_IS("--ai-timeout")) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || *end || !(d > 0 && d <= 3600)) {
            err_line("view: --ai-timeout needs seconds, more than 0 and at most 3600, not '%s'", v);
            return -EINVAL;
        }
        opts->ai.timeout_s = d;
    } else if (VW_IS("--ai-api-version"))
        opts->ai.api_version = v;
    else if (VW_IS("--ai-region"))
        opts->ai.region = v;
#undef VW_IS
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, vw_opts_t *opts)
{
    bool dashdash = false, cli = false, html = false;
    const char *exp_opt = NULL; /* --collapsed or --speedscope (tools/exp.c) */
    const char *term_opt = NULL; /* the first terminal-only option seen */

    opts->browser = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0)
                dashdash = true;
            else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(stdout);
                return 0;
            } else if (strcmp(a, "--cli") == 0)
                cli = true;
            else if (strcmp(a, "-r") == 0 || strcmp(a, "--reduced") == 0) {
                opts->reduced = true;
                term_opt = term_opt ? term_opt : a;
            } else if (strcmp(a, "--processes") == 0) {
                opts->processes = true;
                term_opt = term_opt ? term_opt : a;
            } else if (strcmp(a, "--html") == 0 || strcmp(a, "--standalone") == 0)
                html = true;
            else if (strcmp(a, "--no-browser") == 0)
                opts->browser = false;
            /* ---- exports (tools/exp.c) ---- */
            else if (strcmp(a, "--collapsed") == 0 || strcmp(a, "--speedscope") == 0 || strcmp(a, "--pprof") == 0) {
                if (exp_opt && strcmp(exp_opt, a) != 0) {
                    err_line("view: %s and %s are different exports; choose one", exp_opt, a);
                    return 2;
                }
                exp_opt = a;
                opts->pprof = a[2] == 'p';
                opts->format = a[2] == 'c' ? EXP_COLLAPSED : EXP_SPEEDSCOPE;
            }
            else if (strcmp(a, "--memory") == 0 || strcmp(a, "--memory=allocated") == 0)
                opts->what = EXP_MEM_ALLOC;
            else if (strcmp(a, "--memory=live") == 0)
                opts->what = EXP_MEM_LIVE;
            /* ---- end of exports ---- */
            else if (strcmp(a, "-o") == 0 || strcmp(a, "--outfile") == 0) {
                if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                    err_line("view: %s needs a file name", a);
                    return 2;
                }
                opts->outfile = argv[++i];
            } else if (strncmp(a, "--outfile=", 10) == 0 && a[10] != '\0')
                opts->outfile = a + 10;
            else if (strcmp(a, "--pid") == 0) {
                if (i + 1 >= argc) {
                    err_line("view: --pid needs a process id");
                    return 2;
                }
                if (parse_pid(argv[++i], opts))
                    return 2;
                term_opt = term_opt ? term_opt : a;
            } else if (strncmp(a, "--pid=", 6) == 0) {
                if (parse_pid(a + 6, opts))
                    return 2;
                term_opt = term_opt ? term_opt : "--pid";
            } else if (is_ai_opt(a)) {
                /* ---- optimization proposals (tools/ai.c) ---- */
                const char *v = strchr(a, '=');
                size_t nl = v ? (size_t)(v - a) : strlen(a);
                if (v)
                    v++;
                else if (i + 1 < argc)
                    v = argv[++i];
                if (!v || !*v) {
                    err_line("view: %.*s needs a value", (int)nl, a);
                    return 2;
                }
                if (set_ai_opt(opts, a, nl, v))
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
    if (cli && html) {
        err_line("view: --cli and --html/--standalone are different views; choose one");
        return 2;
    }
    if (opts->optimize) {
        if (cli || html || exp_opt || term_opt || opts->outfile) {
            err_line("view: --optimize prints a proposal; leave out %s",
                     cli ? "--cli" : html ? "--html/--standalone" : exp_opt ? exp_opt : term_opt ? term_opt : "-o");
            return 2;
        }
        opts->mode = VW_OPTIMIZE;
        if (!opts->path)
            opts->path = VW_DEFAULT_FILE;
        return -1;
    }
    /* ---- exports (tools/exp.c): --pid and -o go with them ---- */
    if (opts->what != EXP_CPU && (!exp_opt || opts->format != EXP_COLLAPSED)) {
        err_line("view: --memory goes with --collapsed (a speedscope file holds the memory profiles already)");
        return 2;
    }
    if (exp_opt) {
        if (cli || html) {
            err_line("view: %s is an export, not a view; leave out %s", exp_opt,
                     cli ? "--cli" : "--html/--standalone");
            return 2;
        }
        if (opts->reduced || opts->processes) {
            err_line("view: %s is for the terminal view (--cli), not %s",
                     opts->reduced ? "-r/--reduced" : "--processes", exp_opt);
            return 2;
        }
        opts->mode = VW_EXPORT;
        if (!opts->path)
            opts->path = VW_DEFAULT_FILE;
        return -1;
    }
    /* ---- end of exports ---- */
    if (html && term_opt) {
        err_line("view: %s is for the terminal view (--cli), not --html/--standalone", term_opt);
        return 2;
    }
    if (opts->outfile && !html) {
        err_line("view: -o/--outfile goes with --html or --standalone");
        return 2;
    }
    opts->mode = html ? VW_FILE : cli || term_opt ? VW_CLI : VW_SERVE;
    if (!opts->path)
        opts->path = VW_DEFAULT_FILE;
    return -1;
}

/* Reads and checks the profile into prof (the checks --cli makes, so the
 * web view refuses what the terminal view refuses); on error ld->msg says
 * why. With raw, hands over the file's bytes too (caller frees). */
static const char *page_json(json_object *root, size_t *len);

static int load_profile(vw_load_t *ld, vw_prof_t *prof, char **raw, size_t *raw_len)
{
    char *buf = NULL;
    size_t len = 0;
    if (slurp(ld, ld->opts->path, &buf, &len) != 0)
        return -EINVAL;
    prof->root = parse(ld, buf, len);
    /* issue 16: a compact report's idle lines and stack frames, written out
     * for the terminal, the exports and the proposals (which read whole
     * functions); the page reads the compact form itself, so the served
     * page's data is taken before (--html needs no model beyond the checks) */
    vw_mode_t mode = ld->opts->mode;
    if (prof->root && mode == VW_SERVE) {
        size_t n = 0;
        const char *d = page_json(prof->root, &n);
        prof->page = d ? malloc(n + 1) : NULL;
        if (prof->page) {
            memcpy(prof->page, d, n + 1);
            prof->page_len = n;
        }
    }
    if (prof->root && mode != VW_FILE &&
        ((mode == VW_SERVE && !prof->page) || mrg_expand(prof->root) != 0)) {
        fail(ld, "out of memory");
        free(buf);
        return -EINVAL;
    }
    if (prof->root && load_model(ld, prof) == 0) {
        if (raw) {
            *raw = buf;
            *raw_len = len;
        } else {
            free(buf);
        }
        return 0;
    }
    free(buf);
    return -EINVAL;
}

/* ------------------------------------------------------------ web view */

/* JSON has no NaN or Infinity, yet Python's json writes them and json-c
 * reads them; in the page they would make JSON.parse throw. */
static int null_serializer(json_object *o, struct printbuf *pb, int level, int flags)
{
    (void)o;
    (void)level;
    (void)flags;
    return printbuf_strappend(pb, "null");
}

static void nonfinite_to_null(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double:
        if (!isfinite(json_object_get_double(o)))
            json_object_set_serializer(o, null_serializer, NULL, NULL);
        break;
    case json_type_array:
        for (size_t i = 0, n = json_object_array_length(o); i < n; i++)
            nonfinite_to_null(json_object_array_get_idx(o, i));
        break;
    case json_type_object: {
        json_object_object_foreach(o, key, v)
        {
            (void)key;
            nonfinite_to_null(v);
        }
        break;
    }
    default:
        break;
    }
}

/* The page's data: the profile re-written by json-c as strict JSON (json-c
 * also reads comments and other leniencies a browser's JSON.parse does
 * not), in its own key order; borrowed from root. */
static const char *page_json(json_object *root, size_t *len)
{
    nonfinite_to_null(root);
    return json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                              len);
}

/* DIR/scalene-profile.html for DIR/x.json; the working directory's for x.json. */
static int html_path(const char *profile, char *out, size_t n)
{
    const char *slash = strrchr(profile, '/');
    int k = slash ? snprintf(out, n, "%.*s/%s", (int)(slash - profile), profile, VW_DEFAULT_HTML)
                  : snprintf(out, n, "%s", VW_DEFAULT_HTML);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* ------------------------------------------- the page's proposal endpoint */

static int vw_propose(const vw_prof_t *p, const char *name, size_t name_n, long long s, long long e,
                      const char *kind, const ai_req_t *req, ai_proposal_t *out, char *why, size_t wn);

typedef struct vw_api {
    const vw_prof_t *prof;
    const vw_opts_t *opts;
} vw_api_t;

static const char *jstr(json_object *o, const char *key)
{
    json_object *v = o ? jv_field(o, key) : NULL;
    const char *s = v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    return s && *s ? s : NULL;
}

static int api_out(json_object *o, int status, char **out, size_t *out_n)
{
    size_t n = 0;
    const char *s = o ? json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n)
                      : NULL;
    *out = s ? strndup(s, n) : NULL;
    *out_n = *out ? n : 0;
    json_object_put(o);
    return status;
}

static int api_error(int status, const char *msg, char **out, size_t *out_n)
{
    json_object *o = json_object_new_object();
    if (o)
        json_object_object_add(o, "error", json_object_new_string(msg));
    return api_out(o, status, out, out_n);
}

/* gui_api_fn: {"file", "start", "end", "kind", "provider", "model", "url",
 * "key", "api_version", "region"} (file as the report names it; empty
 * settings fall back to the command line's and the environment's) to
 * {"code", "reason", "diff", "provider", "model"} or {"error"}: 400 for a
 * request the profile cannot answer, 502 when the provider failed.
 * Context: the page server's thread; reads the profile only. */
static int vw_api(void *ctx, const char *body, size_t n, char **out, size_t *out_n, const atomic_bool *stop)
{
    const vw_api_t *a = ctx;
    char why[1024];
    enum json_tokener_error jerr;
    json_object *rq = NULL;
    json_tokener *tok = json_tokener_new();
    if (tok) {
        rq = json_tokener_parse_ex(tok, body, (int)n);
        jerr = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (jerr != json_tokener_success) {
            json_object_put(rq);
            rq = NULL;
        }
    }
    if (!rq || !json_object_is_type(rq, json_type_object)) {
        json_object_put(rq);
        return api_error(400, "the request is not a JSON object", out, out_n);
    }
    const char *file = jstr(rq, "file"), *kind = jstr(rq, "kind"), *prov = jstr(rq, "provider");
    json_object *sv = jv_field(rq, "start"), *ev = jv_field(rq, "end");
    long long s = sv && json_object_is_type(sv, json_type_int) ? json_object_get_int64(sv) : 0;
    long long e = ev && json_object_is_type(ev, json_type_int) ? json_object_get_int64(ev) : s;
    ai_req_t req = a->opts->ai;
    int st;
    req.cancel = stop;
    if (prov && strcmp(prov, "auto") != 0 && ai_provider_parse(prov, &req.provider) != 0) {
        json_object_put(rq);
        return api_error(400, "unknown provider", out, out_n);
    }
    req.model = jstr(rq, "model") ? jstr(rq, "model") : req.model;
    req.url = jstr(rq, "url") ? jstr(rq, "url") : req.url;
    req.key = jstr(rq, "key");
    req.api_version = jstr(rq, "api_version") ? jstr(rq, "api_version") : req.api_version;
    req.region = jstr(rq, "region") ? jstr(rq, "region") : req.region;
    if (!file || s < 1 || e < s || e - s > 100000 ||
        (kind && strcmp(kind, "line") && strcmp(kind, "loop") && strcmp(kind, "function") && strcmp(kind, "lines"))) {
        json_object_put(rq);
        return api_error(400, "the request needs file, start <= end and a kind of line, loop or function", out, out_n);
    }
    if (req.url && strncmp(req.url, "http://", 7) != 0 && strncmp(req.url, "https://", 8) != 0) {
        json_object_put(rq);
        return api_error(400, "the URL must start with http:// or https://", out, out_n);
    }
    ai_proposal_t prop = {0};
    int rc = vw_propose(a->prof, file, strlen(file), s, e, kind, &req, &prop, why, sizeof why);
    /* req.key points into rq: wipe the key before the tree goes */
    json_object *kv = jv_field(rq, "key");
    if (kv && json_object_is_type(kv, json_type_string) && json_object_get_string_len(kv) > 0)
        explicit_bzero((char *)json_object_get_string(kv), (size_t)json_object_get_string_len(kv));
    json_object_put(rq);
    if (rc != 0)
        return api_error(rc == -ENOENT || rc == -EINVAL || rc == -ENOKEY ? 400 : 502, why, out, out_n);
    json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, "code", json_object_new_string(prop.code));
        json_object_object_add(o, "reason", json_object_new_string(prop.reason));
        json_object_object_add(o, "diff", json_object_new_string(prop.diff));
        json_object_object_add(o, "provider", json_object_new_string(prop.provider));
        json_object_object_add(o, "model", json_object_new_string(prop.model));
    }
    ai_proposal_free(&prop);
    st = api_out(o, 200, out, out_n);
    return st;
}

/* The settings the page starts with: the command line's --ai-* and which
 * providers have a key in this server's environment (never the key). */
static char *api_defaults(const vw_opts_t *opts)
{
    json_object *o = json_object_new_object(), *keys = json_object_new_array();
    if (!o || !keys) {
        json_object_put(o);
        json_object_put(keys);
        return NULL;
    }
    json_object_object_add(o, "provider", json_object_new_string(ai_provider_name(opts->ai.provider)));
    if (opts->ai.model)
        json_object_object_add(o, "model", json_object_new_string(opts->ai.model));
    if (opts->ai.url)
        json_object_object_add(o, "url", json_object_new_string(opts->ai.url));
    static const char *const vars[][2] = {{"openai", "OPENAI_API_KEY"}, {"azure", "AZURE_OPENAI_API_KEY"},
                                          {"anthropic", "ANTHROPIC_API_KEY"}, {"bedrock", "AWS_SECRET_ACCESS_KEY"}};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i][1]);
        if (v && *v)
            json_object_array_add(keys, json_object_new_string(vars[i][0]));
    }
    json_object_object_add(o, "env_keys", keys);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = s ? strdup(s) : NULL;
    json_object_put(o);
    return copy;
}

static int show_web(const vw_opts_t *opts, const char *libdir)
{
    vw_load_t ld = {.opts = opts};
    vw_prof_t prof = {.root = NULL};
    char dir[PATH_MAX], why[PATH_MAX + 128], out[PATH_MAX];
    char *raw = NULL;
    size_t raw_len = 0, len = 0;
    json_object *err_doc = NULL;
    const char *data;
    gui_t *g = NULL;
    int st = 2, rc;

    /* Assets first: without them no mode here can do anything, and the
     * remedy (build) differs from a bad profile's. */
    if (!libdir || snprintf(dir, sizeof dir, "%s/gui", libdir) >= (int)sizeof dir) {
        err_line("view: cannot find the web view's files (this program's directory is unknown); "
                 "use --cli");
        return 2;
    }
    if (!(g = gui_open(dir, why, sizeof why))) {
        err_line("view: the web view's files are missing or broken (%s); build with make, or use --cli",
                 why);
        return 2;
    }
    bool ok = load_profile(&ld, &prof, opts->mode == VW_SERVE ? &raw : NULL, &raw_len) == 0;
    if (!ok) {
        err_line("%s: %s", opts->path, ld.msg);
        if (opts->mode == VW_FILE)
            goto done;
        /* The served page says it too: the user is looking at the browser. */
        snprintf(why, sizeof why, "%s: %s", opts->path, ld.msg);
        err_doc = json_object_new_object();
        if (!err_doc || json_object_object_add(err_doc, "scalene_view_error", json_object_new_string(why)))
            goto oom;
        data = json_object_to_json_string_length(err_doc, JSON_C_TO_STRING_PLAIN, &len);
        free(raw);
        raw = NULL;
    } else if (prof.page) {
        data = prof.page;
        len = prof.page_len;
    } else {
        data = page_json(prof.root, &len);
    }
    /* The served page of a readable profile gets the proposal endpoint. */
    vw_api_t api = {.prof = &prof, .opts = opts};
    if (ok && opts->mode == VW_SERVE) {
        char *defaults = api_defaults(opts);
        int arc = defaults ? gui_set_api(g, vw_api, &api, defaults) : -ENOMEM;
        free(defaults);
        if (arc != 0)
            goto oom;
    }
    if (!data || gui_build(g, data, len) != 0)
        goto oom;
    if (opts->mode == VW_FILE) {
        const char *path = opts->outfile;
        if (!path) {
            if (html_path(opts->path, out, sizeof out) != 0) {
                err_line("view: %s: the page's path is too long; use -o", opts->path);
                goto done;
            }
            path = out;
        }
        if ((rc = gui_write(g, path)) != 0) {
            err_line("view: cannot write %s: %s", path, strerror(-rc));
            goto done;
        }
        if (strcmp(path, "-") != 0) {
            fputs("Wrote ", stdout);
            put_text(stdout, path, strlen(path), 0, INT_MAX, false);
            fputc('\n', stdout);
        }
        st = 0;
    } else {
        if ((rc = gui_serve(g, raw, raw_len, opts->browser)) != 0) {
            err_line("view: cannot serve the web view on 127.0.0.1: %s", strerror(-rc));
            goto done;
        }
        st = ok ? 0 : 2; /* the page showed an error: so does the status */
    }
    goto done;
oom:
    err_line("view: out of memory");
    st = 2;
done:
    json_object_put(err_doc);
    free(raw);
    prof_free(&prof);
    gui_close(g);
    if (fflush(stdout) != 0 && st == 0) {
        err_line("view: cannot write the output: %s", strerror(errno));
        st = 1;
    }
    return st;
}

/* ------------------------------------------------------- terminal view */

/* https://no-color.org: "present and not an empty string" turns colour off. */
static bool want_color(void)
{
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}

static int show_cli(const vw_opts_t *opts)
{
    vw_load_t ld = {.opts = opts};
    vw_prof_t prof = {.root = NULL};

    if (load_profile(&ld, &prof, NULL, NULL) != 0) {
        err_line("%s: %s", opts->path, ld.msg);
        prof_free(&prof);
        return 2;
    }
    if (opts->processes && !prof.has_procs) {
        err_line("%s: no process table in this profile (written by Scalene?)", opts->path);
        prof_free(&prof);
        return 2;
    }
    vw_out_t out = {.f = stdout, .cols = term_cols(), .color = want_color()};
    if (opts->processes)
        put_processes(&out, &prof);
    else
        put_profile(&out, &prof, opts);
    prof_free(&prof);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        err_line("view: cannot write the output: %s", strerror(errno));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------ optimization proposals */

/* The file the report names that ends with name at a '/' (or is name);
 * NULL with why set when none or several do. */
static const vw_file_t *find_file(const vw_prof_t *p, const char *name, size_t n, char *why, size_t wn)
{
    const vw_file_t *hit = NULL;
    for (size_t i = 0; i < p->nfiles; i++)
        if (strlen(p->files[i].name) == n && memcmp(p->files[i].name, name, n) == 0)
            return &p->files[i]; /* the report's own name: no question */
    for (size_t i = 0; i < p->nfiles; i++) {
        const char *f = p->files[i].name;
        size_t fl = strlen(f);
        if (fl < n || memcmp(f + fl - n, name, n) != 0 || (fl > n && f[fl - n - 1] != '/'))
            continue;
        if (hit) {
            snprintf(why, wn, "'%.*s' names more than one file of the report (%s, %s); give more of the path",
                     (int)n, name, hit->name, f);
            return NULL;
        }
        hit = &p->files[i];
    }
    if (!hit)
        snprintf(why, wn, "no file of the report ends with '%.*s'", (int)n, name);
    return hit;
}

/* Indentation of a row's text in columns (a tab to the next multiple of
 * 8), or -1 for a blank or comment-only line. */
static int indent_of(const vw_row_t *r)
{
    int col = 0;
    for (size_t i = 0; i < r->text_len; i++) {
        char c = r->text[i];
        if (c == ' ')
            col++;
        else if (c == '\t')
            col = (col / 8 + 1) * 8;
        else
            return c == '#' ? -1 : col;
    }
    return -1;
}

/* Whether the row's statement starts with word (then a space, '(' or ':'). */
static bool starts_with_word(const vw_row_t *r, const char *word)
{
    size_t k = 0, n = strlen(word);
    while (k < r->text_len && (r->text[k] == ' ' || r->text[k] == '\t'))
        k++;
    return r->text_len - k > n && strncmp(r->text + k, word, n) == 0 &&
           (r->text[k + n] == ' ' || r->text[k + n] == '(' || r->text[k + n] == ':');
}

/* The last line of the block that row i opens (a def, for, while, ...):
 * every following line indented deeper, blank and comment lines between
 * them included, and lines inside a bracket the header left open. The
 * report's region fields are 0 when the profiler did not find them (this
 * project leaves them so), so the view judges by indentation, as the page
 * does (gui/src/regions.ts). Returns i itself for no block. */
static size_t block_end(const vw_file_t *f, size_t i)
{
    int base = indent_of(&f->lines[i]);
    size_t last = i;
    if (base < 0)
        return i;
    for (size_t j = i + 1; j < f->nlines; j++) {
        int ind = indent_of(&f->lines[j]);
        if (ind < 0)
            continue;
        if (ind <= base)
            break;
        last = j;
    }
    return last;
}

/* What lines s..e of f are: "line", "loop" (a for or while with its
 * body), "function" (a def with its body), else "lines". */
static const char *region_kind(const vw_prof_t *p, const vw_file_t *f, long long s, long long e)
{
    (void)p;
    if (s == e)
        return "line";
    for (size_t i = 0; i < f->nlines; i++) {
        if (f->lines[i].lineno != s)
            continue;
        const vw_row_t *r = &f->lines[i];
        if (f->lines[block_end(f, i)].lineno != e)
            return "lines";
        if (starts_with_word(r, "def") || starts_with_word(r, "async def"))
            return "function";
        if (starts_with_word(r, "for") || starts_with_word(r, "while") || starts_with_word(r, "async for"))
            return "loop";
        return "lines";
    }
    return "lines";
}

/* The file's import statements, one a line (new string, caller frees). */
static char *file_imports(const vw_file_t *f)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    for (size_t i = 0; i < f->nlines && len < 4096; i++) {
        const char *t = f->lines[i].text;
        size_t n = f->lines[i].text_len, k = 0;
        while (k < n && (t[k] == ' ' || t[k] == '\t'))
            k++;
        bool imp = (n - k > 7 && strncmp(t + k, "import ", 7) == 0) ||
                   (n - k > 5 && strncmp(t + k, "from ", 5) == 0 && memmem(t + k, n - k, " import ", 8));
        if (imp) {
            fprintf(m, "%.*s\n", (int)(n - k), t + k);
            fflush(m);
        }
    }
    if (fclose(m) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Asks req's provider about lines s..e of the file matched by name (kind:
 * the caller's word for the region, or NULL to judge it). Returns 0 with
 * *out filled, -ENOENT for a region the report does not have, or
 * ai_propose()'s error; why says it in one line. Context: thread (the page
 * server calls it from its thread; it only reads prof). */
static int vw_propose(const vw_prof_t *p, const char *name, size_t name_n, long long s, long long e,
                      const char *kind, const ai_req_t *req, ai_proposal_t *out, char *why, size_t wn)
{
    const vw_file_t *f = find_file(p, name, name_n, why, wn);
    if (!f)
        return -ENOENT;
    size_t first = f->nlines;
    for (size_t i = 0; i < f->nlines; i++)
        if (f->lines[i].lineno == s) {
            first = i;
            break;
        }
    size_t n = (size_t)(e - s + 1);
    if (first == f->nlines || first + n > f->nlines || f->lines[first + n - 1].lineno != e) {
        snprintf(why, wn, "%s has no line%s %lld%s%.0lld in the report%s", f->name, s == e ? "" : "s", s,
                 s == e ? "" : "-", s == e ? 0 : e, f->nlines ? "" : " (it lists none of its lines)");
        return -ENOENT;
    }
    ai_line_t *lines = calloc(n, sizeof *lines);
    char *imports = file_imports(f);
    if (!lines || !imports) {
        free(lines);
        free(imports);
        snprintf(why, wn, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const vw_row_t *r = &f->lines[first + i];
        lines[i] = (ai_line_t){.lineno = r->lineno, .text = r->text, .text_len = r->text_len, .py = r->py,
                               .nat = r->nat, .sys = r->sys, .alloc_mb = r->alloc, .net_mb = r->mb,
                               .pyfrac = r->pyfrac, .copy_mb_s = r->copy};
    }
    json_object *sc = jv_field(p->root, "scalene_c"), *pv = sc ? jv_field(sc, "python_version") : NULL;
    ai_region_t reg = {.file = f->name, .kind = kind ? kind : region_kind(p, f, s, e),
                       .python_version = pv && json_object_is_type(pv, json_type_string) ? json_object_get_string(pv) : NULL,
                       .imports = imports, .memory = p->memory, .lines = lines, .n = n};
    int rc = ai_propose(req, &reg, out, why, wn);
    free(lines);
    free(imports);
    return rc;
}

/* FILE:LINE or FILE:START-END (the last ':' splits: a path may hold one). */
static int parse_spec(const char *spec, size_t *name_n, long long *s, long long *e)
{
    const char *colon = strrchr(spec, ':');
    char *end;
    if (!colon || colon == spec)
        return -EINVAL;
    errno = 0;
    *s = strtoll(colon + 1, &end, 10);
    *e = *s;
    if (*end == '-') {
        const char *b = end + 1;
        *e = strtoll(b, &end, 10);
        if (end == b)
            return -EINVAL;
    }
    if (errno || *end || end == colon + 1 || *s < 1 || *e < *s || *e - *s > 100000)
        return -EINVAL;
    *name_n = (size_t)(colon - spec);
    return 0;
}

/* Prints text line by line, sanitized (the model's reply is untrusted text
 * for a terminal too), each line prefixed by lead. */
static void put_lines(FILE *f, const char *lead, const char *text, bool color)
{
    for (const char *l = text; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        const char *c = !color ? NULL : l[0] == '+' && strncmp(l, "+++", 3) ? "\033[32m"
                                      : l[0] == '-' && strncmp(l, "---", 3) ? "\033[31m"
                                      : l[0] == '@' ? VW_DIM : NULL;
        fputs(c ? c : "", f);
        fputs(lead, f);
        put_text(f, l, n, (int)strlen(lead), INT_MAX, false);
        fputs(c ? VW_RESET : "", f);
        fputc('\n', f);
        l = nl ? nl + 1 : NULL;
    }
}

static bool want_color(void);

/* --optimize FILE:LINE[-END]: one proposal, printed. */
static int show_optimize(const vw_opts_t *opts)
{
    vw_load_t ld = {.opts = opts};
    vw_prof_t prof = {.root = NULL};
    ai_proposal_t prop = {0};
    char why[1024];
    size_t name_n;
    long long s, e;

    if (parse_spec(opts->optimize, &name_n, &s, &e) != 0) {
        err_line("view: --optimize needs FILE:LINE or FILE:START-END, not '%s'", opts->optimize);
        return 2;
    }
    if (load_profile(&ld, &prof, NULL, NULL) != 0) {
        err_line("%s: %s", opts->path, ld.msg);
        prof_free(&prof);
        return 2;
    }
    int rc = vw_propose(&prof, opts->optimize, name_n, s, e, NULL, &opts->ai, &prop, why, sizeof why);
    if (rc != 0) {
        err_line("view: --optimize: %s", why);
        prof_free(&prof);
        return 2;
    }
    bool color = want_color();
    const vw_file_t *f = find_file(&prof, opts->optimize, name_n, why, sizeof why);
    printf("%sProposed optimization of ", color ? VW_BOLD : "");
    put_text(stdout, f->name, strlen(f->name), 0, INT_MAX, false);
    printf(":%lld", s);
    if (e != s)
        printf("-%lld", e);
    printf(" by %s, model ", prop.provider);
    put_text(stdout, prop.model, strlen(prop.model), 0, INT_MAX, false);
    printf("%s\n", color ? VW_RESET : "");
    put_lines(stdout, "Reason: ", prop.reason[0] ? prop.reason : "(the model gave none)", false);
    fputc('\n', stdout);
    put_lines(stdout, "", prop.diff, color);
    ai_proposal_free(&prop);
    prof_free(&prof);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        err_line("view: cannot write the output: %s", strerror(errno));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- exports */

/* --collapsed / --speedscope: the loader's checks, then tools/exp.c. */
static int show_export(const vw_opts_t *opts)
{
    vw_load_t ld = {.opts = opts};
    vw_prof_t prof = {.root = NULL};
    char msg[1024];

    if (load_profile(&ld, &prof, NULL, NULL) != 0) {
        err_line("%s: %s", opts->path, ld.msg);
        prof_free(&prof);
        return 2;
    }
    exp_req_t req = {.format = opts->format, .profile = opts->path, .outfile = opts->outfile,
                     .pid = opts->has_pid ? opts->pid : 0, .what = opts->what};
    pp_req_t preq = {.profile = opts->path, .outfile = opts->outfile};
    int st = opts->pprof ? pp_run(prof.root, &preq, msg, sizeof msg) : exp_run(prof.root, &req, msg, sizeof msg);
    if (st != 0)
        err_line("%s", msg);
    prof_free(&prof);
    return st;
}

int vw_main(int argc, char **argv, const char *libdir)
{
    vw_opts_t opts = {.path = NULL};
    int st = parse_args(argc, argv, &opts);

    if (st >= 0)
        return st;
    if (opts.mode == VW_EXPORT)
        return show_export(&opts);
    if (opts.mode == VW_OPTIMIZE)
        return show_optimize(&opts);
    return opts.mode == VW_CLI ? show_cli(&opts) : show_web(&opts, libdir);
}
