/* SPDX-License-Identifier: Apache-2.0
 * cfg.c — the YAML config file of `scalene run -c FILE`. Loads the file with
 * libyaml's document API, checks every key against cfg_keys[] (name, type,
 * range) and turns the mapping into long options placed ahead of the
 * command line's. Called once by tools/cli.c before it parses; a bad file is
 * one line on stderr naming file, line and key, and the program never runs.
 * It validates so that errors can name the file's line; tools/cli.c still
 * parses every value it is given (the file's options are plain argv).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "cfg.h"

typedef enum { CFG_BOOL, CFG_INT, CFG_FLOAT, CFG_STR, CFG_LIST } cfg_type_t;

/* The options a config file may set: every option of `scalene run --help`
 * and `--help-advanced` except -h/--help/--help-advanced, -c itself, -m and
 * --- (the program belongs on the command line); docs/CONFIG.md lists it.
 * cfg_expand's scan also learns from it which options take a value: an
 * option of tools/cli.c missing here would have its value taken for the
 * script, and a -c after that for the program's. `min` bounds CFG_INT and
 * CFG_FLOAT values, the same bounds tools/cli.c enforces. */
static const struct cfg_key {
    const char *name; /* the long option without its dashes */
    char shortopt;    /* its one-letter form, 0 for none */
    cfg_type_t type;
    bool advanced;    /* listed by --help-advanced only */
    double min;
    bool view;        /* an option of `scalene view` (--ai-*), not of `scalene run` */
} cfg_keys[] = {
    {"outfile", 'o', CFG_STR, false, 0, false},
    {"json", 0, CFG_BOOL, false, 0, false},
    {"cli", 0, CFG_BOOL, false, 0, false},
    {"html", 0, CFG_BOOL, false, 0, false},
    {"web", 0, CFG_BOOL, false, 0, false},
    {"no-browser", 0, CFG_BOOL, false, 0, false},
    {"cpu-only", 0, CFG_BOOL, false, 0, false},
    {"memory", 0, CFG_BOOL, false, 0, false},
    {"off", 0, CFG_BOOL, false, 0, false},
    {"on", 0, CFG_BOOL, false, 0, false},
    {"python", 0, CFG_STR, false, 0, false},
    {"gpu", 0, CFG_BOOL, false, 0, false},
    {"no-gpu", 0, CFG_BOOL, false, 0, false},
    {"cpu-sampling-rate", 0, CFG_FLOAT, true, 0.0005, false},
    {"use-virtual-time", 0, CFG_BOOL, true, 0, false},
    {"profile-all", 0, CFG_BOOL, true, 0, false},
    {"program-path", 0, CFG_STR, true, 0, false},
    {"cpu-percent-threshold", 0, CFG_FLOAT, true, 0, false},
    {"allocation-sampling-window", 0, CFG_INT, true, 1, false},
    {"malloc-threshold", 0, CFG_INT, true, 0, false},
    {"profile-only", 0, CFG_LIST, true, 0, false},
    {"profile-exclude", 0, CFG_LIST, true, 0, false},
    {"profile-system-libraries", 0, CFG_BOOL, true, 0, false},
    {"reduced-profile", 0, CFG_BOOL, true, 0, false},
    {"profile-interval", 0, CFG_FLOAT, true, 0.001, false},
    {"stacks", 0, CFG_BOOL, true, 0, false},
    {"no-stacks", 0, CFG_BOOL, true, 0, false},
    {"native", 0, CFG_BOOL, true, 0, false},
    {"memory-leak-detector", 0, CFG_BOOL, true, 0, false},
    {"no-memory-leak-detector", 0, CFG_BOOL, true, 0, false},
    {"disable-jit", 0, CFG_BOOL, true, 0, false},
    {"no-async", 0, CFG_BOOL, true, 0, false},
    {"async", 0, CFG_BOOL, true, 0, false},
    {"nvml-lib", 0, CFG_STR, true, 0, false},
    {"quiet", 'q', CFG_BOOL, true, 0, false},
    /* `scalene view`'s optimization proposals (tools/ai.c, docs/AI.md): one
     * file can serve both commands, each taking its own keys. No key for
     * the API key: keys come from the environment or the page only. */
    {"ai-provider", 0, CFG_STR, false, 0, true},
    {"ai-model", 0, CFG_STR, false, 0, true},
    {"ai-url", 0, CFG_STR, false, 0, true},
    {"ai-timeout", 0, CFG_FLOAT, false, 0.001, true},
    {"ai-api-version", 0, CFG_STR, false, 0, true},
    {"ai-region", 0, CFG_STR, false, 0, true},
};
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* The growing argument vector. Kept in statics so that the strings stay
 * reachable until exit: agg_opts_t points into them (and LeakSanitizer
 * does not count them as lost). */
static char **cfg_argv;
static int cfg_argc, cfg_cap;
static bool cfg_view; /* expanding `scalene view`'s arguments: the view keys are the ones taken */

static int cfg_push(const char *s, size_t len)
{
    if (cfg_argc + 2 > cfg_cap) {
        int cap = cfg_cap ? 2 * cfg_cap : 32;
        char **v = realloc(cfg_argv, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        cfg_argv = v;
        cfg_cap = cap;
    }
    char *c = strndup(s, len);
    if (!c)
        return -ENOMEM;
    cfg_argv[cfg_argc++] = c;
    cfg_argv[cfg_argc] = NULL;
    return 0;
}

/* The table entry of a key, `cpu_only` and `cpu-only` alike. */
static const struct cfg_key *cfg_lookup(const char *key, size_t len)
{
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const char *n = cfg_keys[i].name;
        if (strlen(n) != len)
            continue;
        size_t j = 0;
        while (j < len && (key[j] == n[j] || (key[j] == '_' && n[j] == '-')))
            j++;
        if (j == len)
            return &cfg_keys[i];
    }
    return NULL;
}

/* The table entry of a command-line option (`--name`, `--name=v`, `-o`),
 * or NULL when it is not one of the table's. */
static const struct cfg_key *cfg_option(const char *a)
{
    if (a[0] == '-' && a[1] != '-' && a[1] != 0 && a[2] == 0) {
        for (size_t i = 0; i < CFG_NKEYS; i++)
            if (cfg_keys[i].shortopt == a[1])
                return &cfg_keys[i];
        return NULL;
    }
    if (strncmp(a, "--", 2) != 0)
        return NULL;
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    const struct cfg_key *k = cfg_lookup(a + 2, len);
    /* the command line spells options with dashes only */
    return k && k->view == cfg_view && memchr(a + 2, '_', len) == NULL ? k : NULL;
}

/* A value or key for an error line: at most 40 bytes, control characters
 * as '?', so that the error stays one line whatever the file holds. */
static const char *cfg_show(const char *s, size_t len)
{
    static char buf[48];
    size_t n = len < 40 ? len : 40, j = 0;
    for (size_t i = 0; i < n; i++)
        buf[j++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (len > n) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = 0;
    return buf;
}

__attribute__((format(printf, 3, 4))) static int cfg_fail(const char *file, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "scalene: %s:%zu: ", file, n->start_mark.line + 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -EINVAL;
}

static bool cfg_plain(const yaml_node_t *n, const char *s)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp((const char *)n->data.scalar.value, s) == 0;
}

/* YAML's null: an empty plain scalar, `~` or `null`. */
static bool cfg_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE &&
           (cfg_plain(n, "") || cfg_plain(n, "~") || cfg_plain(n, "null") || cfg_plain(n, "Null") || cfg_plain(n, "NULL"));
}

/* "want X, got Y", Y saying what the node is: a quoted "true" is a
 * string, which is why a boolean key rejects it. */
static int cfg_wrong(const char *file, const yaml_node_t *n, const char *key, const char *want)
{
    if (n->type != YAML_SCALAR_NODE)
        return cfg_fail(file, n, "%s: want %s, got %s", key, want, n->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
    if (cfg_null(n))
        return cfg_fail(file, n, "%s: want %s, got nothing", key, want);
    const char *s = cfg_show((const char *)n->data.scalar.value, n->data.scalar.length);
    return cfg_fail(file, n, "%s: want %s, got %s'%s'", key, want,
                    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the quoted string ", s);
}

/* A scalar that may stand for a string: not null, no NUL byte inside. */
static bool cfg_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !cfg_null(n) && n->data.scalar.length > 0 &&
           strlen((const char *)n->data.scalar.value) == n->data.scalar.length;
}

/* One `key: value` pair to argv: a true boolean to `--key`, a false one to
 * nothing (as if the key were absent), any other value to `--key VALUE`.
 * Numbers go over as written: tools/cli.c parses the same text. */
static int cfg_pair(const char *file, yaml_document_t *doc, const struct cfg_key *k, const char *key, yaml_node_t *v)
{
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", k->name);
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
    int rc;
    switch (k->type) {
    case CFG_BOOL:
        if (v->type == YAML_SCALAR_NODE && (cfg_plain(v, "true") || cfg_plain(v, "True") || cfg_plain(v, "TRUE")))
            return cfg_push(opt, strlen(opt));
        if (v->type == YAML_SCALAR_NODE && (cfg_plain(v, "false") || cfg_plain(v, "False") || cfg_plain(v, "FALSE")))
            return 0;
        return cfg_wrong(file, v, key, "true or false");
    case CFG_INT: {
        /* digits only: no sign, no 0x, no 1e6, no 1_000 */
        bool ok = v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && v->data.scalar.length > 0 &&
                  strspn(s, "0123456789") == v->data.scalar.length;
        errno = 0;
        unsigned long long n = ok ? strtoull(s, NULL, 10) : 0;
        if (!ok || errno || (double)n < k->min)
            return cfg_wrong(file, v, key, k->min >= 1 ? "a positive integer" : "an integer >= 0");
        break;
    }
    case CFG_FLOAT: {
        /* decimal only: strtod would also take inf, nan and hex */
        bool ok = v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && v->data.scalar.length > 0 &&
                  strspn(s, "0123456789.eE+-") == v->data.scalar.length;
        char *end = NULL;
        errno = 0;
        double d = ok ? strtod(s, &end) : 0;
        if (!ok || errno || *end || !isfinite(d) || d < k->min) {
            char want[64];
            snprintf(want, sizeof want, "a number >= %g", k->min);
            return cfg_wrong(file, v, key, want);
        }
        break;
    }
    case CFG_STR:
        if (!cfg_text(v))
            return cfg_wrong(file, v, key, "a string");
        break;
    case CFG_LIST:
        if (v->type == YAML_SEQUENCE_NODE) {
            /* the command line's form: patterns joined by commas */
            char *joined = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&joined, &len);
            if (!m)
                return -ENOMEM;
            rc = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top && rc == 0; it++) {
                yaml_node_t *e = yaml_document_get_node(doc, *it);
                if (!cfg_text(e))
                    rc = cfg_wrong(file, e, key, "a list of patterns");
                else if (strchr((const char *)e->data.scalar.value, ','))
                    rc = cfg_fail(file, e, "%s: a pattern cannot hold ',' (the separator): '%s'", key,
                                  cfg_show((const char *)e->data.scalar.value, e->data.scalar.length));
                else
                    fprintf(m, "%s%s", it == v->data.sequence.items.start ? "" : ",", e->data.scalar.value);
            }
            if (fclose(m) != 0 && rc == 0)
                rc = -ENOMEM;
            if (rc == 0 && len > 0 && (rc = cfg_push(opt, strlen(opt))) == 0)
                rc = cfg_push(joined, len);
            free(joined);
            return rc; /* an empty list: as if the key were absent */
        }
        if (!cfg_text(v))
            return cfg_wrong(file, v, key, "a list of patterns or a comma-separated string");
        break;
    }
    if ((rc = cfg_push(opt, strlen(opt))) != 0)
        return rc;
    return cfg_push(s, v->data.scalar.length);
}

/* The top-level mapping of one document to argv. */
static int cfg_mapping(const char *file, yaml_document_t *doc)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || cfg_null(root))
        return 0; /* an empty file, or one of comments only */
    if (root->type != YAML_MAPPING_NODE)
        return cfg_fail(file, root, "want a mapping of option: value at the top level, got %s",
                        root->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar");
    size_t seen[CFG_NKEYS] = {0}; /* line of each key's first setting, 0: not set */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return cfg_fail(file, kn, "a key must be an option name, got %s", kn->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        const char *key = (const char *)kn->data.scalar.value;
        size_t klen = kn->data.scalar.length;
        const struct cfg_key *k = strlen(key) == klen ? cfg_lookup(key, klen) : NULL;
        if (!k)
            return cfg_fail(file, kn, "unknown key '%s' (the keys are the long options of scalene run --help-advanced "
                            "and the --ai-* options of scalene view, without the dashes)",
                            cfg_show(key, klen));
        size_t i = (size_t)(k - cfg_keys);
        if (seen[i])
            return cfg_fail(file, kn, "duplicate key '%s' (first set at line %zu)", cfg_show(key, klen), seen[i]);
        seen[i] = kn->start_mark.line + 1;
        if (k->view != cfg_view)
            continue; /* the other command's key: a shared file */
        char shown[48]; /* cfg_show's buffer is reused for the value */
        snprintf(shown, sizeof shown, "%s", cfg_show(key, klen));
        int rc = cfg_pair(file, doc, k, shown, vn);
        if (rc)
            return rc;
    }
    return 0;
}

/* libyaml's own error, as one line with the file's line and column. */
static int cfg_yaml_error(const char *file, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    const char *what = p->problem ? p->problem : "bad YAML";
    if (p->error == YAML_READER_ERROR) /* bad UTF-8 or a read error: no mark, an offset */
        fprintf(stderr, "scalene: %s: byte %zu: %s\n", file, p->problem_offset, what);
    else if (p->context) /* where the unclosed thing began: often the real mistake */
        fprintf(stderr, "scalene: %s:%zu:%zu: YAML syntax error: %s %s started at line %zu\n", file, p->problem_mark.line + 1,
                p->problem_mark.column + 1, what, p->context, p->context_mark.line + 1);
    else
        fprintf(stderr, "scalene: %s:%zu:%zu: YAML syntax error: %s\n", file, p->problem_mark.line + 1, p->problem_mark.column + 1,
                what);
    return -EINVAL;
}

/* Deeper than this, a file cannot be a config (its deepest is a list
 * under a key: 2 levels). */
#define CFG_MAX_DEPTH 32

/* Refuses a file nested deeper than CFG_MAX_DEPTH before libyaml builds its
 * document: libyaml's scanner looks through its whole stack of possible
 * simple keys for every token, so 40,000 nested '[' took 7 s. The event
 * API stops at the first level too deep, having read a few hundred bytes
 * past it. Returns 0 (including on a syntax error, which the document pass
 * reports with its context), or -EINVAL after one line on stderr. */
static int cfg_depth(const char *file, FILE *f)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_file(&parser, f);
    int depth = 0, rc = 0;
    for (bool end = false; !end && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_DEPTH) {
                fprintf(stderr, "scalene: %s:%zu: nested deeper than %d levels; a config is a mapping of option: value\n", file,
                        ev.start_mark.line + 1, CFG_MAX_DEPTH);
                rc = -EINVAL;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int cfg_load(const char *file)
{
    FILE *f = fopen(file, "rb");
    struct stat st;
    int e = !f ? errno : fstat(fileno(f), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e) { /* a directory opens fine and fails only at the first read */
        if (f)
            fclose(f);
        fprintf(stderr, "scalene: config file '%s': %s\n", file, strerror(e));
        return -EINVAL;
    }
    int rc = cfg_depth(file, f);
    if (rc != 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        if (rc == 0)
            fprintf(stderr, "scalene: config file '%s': cannot read it twice: %s\n", file, strerror(errno));
        return rc ? rc : -EINVAL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);
    bool loaded = yaml_parser_load(&parser, &doc);
    if (loaded) {
        rc = cfg_mapping(file, &doc);
        yaml_document_delete(&doc);
        /* a second document would be silently ignored: say so instead */
        if (rc == 0)
            loaded = yaml_parser_load(&parser, &doc);
        if (rc == 0 && loaded) {
            yaml_node_t *root = yaml_document_get_root_node(&doc);
            if (root)
                rc = cfg_fail(file, root, "more than one YAML document (a second '---'); the options go in one mapping");
            yaml_document_delete(&doc);
        }
    }
    if (!loaded && rc == 0)
        rc = cfg_yaml_error(file, &parser);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int cfg_expand(int *argcp, char ***argvp)
{
    int argc = *argcp;
    char **argv = *argvp;
    /* Which words are scalene's options: the same walk as cmd_run's, so
     * that the program's own `-c` (after its name, after `---`, after -m)
     * is never taken. `drop` marks the -c words and their file names. */
    bool *drop = calloc(argc + 1, sizeof *drop), *split = calloc(argc + 1, sizeof *split);
    if (!drop || !split) {
        free(drop);
        free(split);
        return -ENOMEM;
    }
    int nfiles = 0, nsplit = 0, rc = 0;
    bool target = false;
    cfg_view = strcmp(argv[0], "view") == 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cfg_view && strcmp(a, "--") == 0)
            break; /* view: only the profile's name follows */
        if (!cfg_view && (strcmp(a, "---") == 0 || strcmp(a, "-m") == 0))
            break;
        if (cfg_view && (a[0] != '-' || a[1] == 0))
            continue; /* view has no program: a word is the profile */
        if (a[0] != '-' || a[1] == 0) {
            if (target)
                break; /* the program's first argument */
            target = true;
            continue;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "scalene: %s needs a file name\n", a);
                free(drop);
                free(split);
                return -EINVAL;
            }
            drop[i] = drop[i + 1] = true;
            nfiles++;
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0) {
            drop[i] = true;
            nfiles++;
            continue;
        }
        const struct cfg_key *k = cfg_option(a);
        if (!k) {
            if (target)
                break; /* not scalene's, after the script: the program's */
            continue; /* -h and the like; cmd_run rejects the unknown */
        }
        if (k->type != CFG_BOOL && !strchr(a, '='))
            i++; /* its value, whatever it looks like */
        else if (k->type != CFG_BOOL && a[1] == '-')
            nsplit += split[i] = true; /* --name=value: two words for cmd_run */
    }
    if (nfiles == 0 && nsplit == 0) {
        free(drop);
        free(split);
        return 0;
    }
    /* argv[0], the files' options in order, then the command line's */
    if ((rc = cfg_push(argv[0], strlen(argv[0]))) != 0)
        goto out;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (!drop[i])
            continue;
        /* a dropped word is `--config=F`, or `-c`/`--config` then F */
        const char *file = strncmp(argv[i], "--config=", 9) == 0 ? argv[i] + 9 : argv[++i];
        rc = cfg_load(file);
    }
    for (int i = 1; i < argc && rc == 0; i++) {
        if (drop[i])
            continue;
        const char *eq = split[i] ? strchr(argv[i], '=') : NULL;
        if (eq && (rc = cfg_push(argv[i], (size_t)(eq - argv[i]))) == 0)
            rc = cfg_push(eq + 1, strlen(eq + 1));
        else if (!eq)
            rc = cfg_push(argv[i], strlen(argv[i]));
    }
out:
    free(drop);
    free(split);
    if (rc == -ENOMEM)
        fprintf(stderr, "scalene: out of memory reading the config file\n");
    if (rc)
        return rc;
    *argcp = cfg_argc;
    *argvp = cfg_argv;
    return 0;
}
