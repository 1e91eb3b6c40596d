/* SPDX-License-Identifier: Apache-2.0
 * ai.c — optimization proposals (issue 15). The prompt is ours (the
 * region's source, its profile figures, the Python version and the file's
 * imports); each provider is one request builder and one reply reader
 * over a single libcurl POST. libcurl does the transport, the proxies it
 * reads from the environment and TLS; Bedrock's SigV4 signature is ours
 * (sigv4_headers(): libcurl 7.88's CURLOPT_AWS_SIGV4 signs the path as sent,
 * without the second encoding AWS wants for a model id with ':'). No redirects are followed: a key must reach only the
 * host the user named. Every failure is one line; a key never appears in it.
 * Called by tools/view.c, from the main thread or the page server's thread.
 */
#include "ai.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AI_MAX_REPLY (16u << 20) /* a bigger reply is no chat completion */
#define AI_MAX_TOKENS 4096
#define AI_MAX_DIFF_LINES 2000    /* the LCS table is (a+1)*(b+1) ints */
#define AI_CONNECT_TIMEOUT_S 10.0 /* at most; never beyond the whole timeout */

static const char ai_system[] =
    "You are an expert in making Python programs faster. You answer with code that is a drop-in "
    "replacement for the code you are given and behaves the same.";

static const struct {
    const char *name;
    ai_provider_t p;
} ai_names[] = {
    {"openai", AI_OPENAI}, {"azure", AI_AZURE}, {"ollama", AI_OLLAMA}, {"anthropic", AI_ANTHROPIC}, {"bedrock", AI_BEDROCK},
};

int ai_provider_parse(const char *name, ai_provider_t *out)
{
    for (size_t i = 0; name && i < sizeof ai_names / sizeof *ai_names; i++)
        if (strcmp(name, ai_names[i].name) == 0) {
            *out = ai_names[i].p;
            return 0;
        }
    return -EINVAL;
}

const char *ai_provider_name(ai_provider_t p)
{
    for (size_t i = 0; i < sizeof ai_names / sizeof *ai_names; i++)
        if (ai_names[i].p == p)
            return ai_names[i].name;
    return "auto";
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ------------------------------------------------------------- prompt */

char *ai_prompt(const ai_region_t *r)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    long long first = r->n ? r->lines[0].lineno : 0, last = r->n ? r->lines[r->n - 1].lineno : 0;
    fprintf(m, "Make this Python code faster. It is %s %lld", first == last ? "line" : "lines", first);
    if (last != first)
        fprintf(m, "-%lld", last);
    fprintf(m, " (%s) of %s", r->kind ? r->kind : "lines", r->file ? r->file : "a file");
    if (r->python_version)
        fprintf(m, ", run by Python %s", r->python_version);
    fputs(".\n\n", m);
    if (r->imports && *r->imports)
        fprintf(m, "The file's imports:\n%s%s\n", r->imports, r->imports[strlen(r->imports) - 1] == '\n' ? "" : "\n");
    fputs("What a profiler measured on each line, as % of the whole program's time: \"Python\" is time in "
          "the line's own bytecode, \"native\" is time in the C code the line calls (libraries, "
          "extensions), \"system\" is time in the kernel or waiting (I/O, sleep, locks).",
          m);
    if (r->memory)
        fputs(" Memory: MB allocated by the line, the share of it allocated by Python (the rest by "
              "native code), MB the line still held at the end, and MB/s copied (memcpy).",
              m);
    fputs("\n", m);
    size_t shown = 0;
    for (size_t i = 0; i < r->n; i++) {
        const ai_line_t *l = &r->lines[i];
        double cpu = l->py + l->nat + l->sys;
        if (cpu <= 0 && l->alloc_mb <= 0 && l->copy_mb_s <= 0 && l->net_mb <= 0)
            continue;
        shown++;
        fprintf(m, "  line %lld: Python %.1f%%, native %.1f%%, system %.1f%%", l->lineno, l->py, l->nat, l->sys);
        if (cpu > 0)
            fprintf(m, " (%s)", l->nat + l->sys > l->py ? "mostly in what the line calls or waits for"
                                                        : "mostly in the line itself");
        if (r->memory)
            fprintf(m, "; allocated %.1f MB (%.0f%% by Python), still held %.1f MB, copied %.1f MB/s", l->alloc_mb,
                    100.0 * l->pyfrac, l->net_mb, l->copy_mb_s);
        fputs("\n", m);
    }
    if (shown == 0)
        fputs("  (no samples on these lines)\n", m);
    fputs("\nThe code:\n```python\n", m);
    for (size_t i = 0; i < r->n; i++) {
        fwrite(r->lines[i].text, 1, r->lines[i].text_len, m);
        fputc('\n', m);
    }
    fputs("```\n\nReply with a faster equivalent of exactly these lines in one ```python code block: the "
          "same behaviour and results, the same indentation, usable in place of the original (keep names "
          "the rest of the file uses). Use only the standard library and the modules already imported, "
          "unless a listed import shows a better tool is in use. After the block, write one line that "
          "starts with \"Reason:\" and says in one sentence why it is faster. If the code cannot be made "
          "faster, return it unchanged and say why.\n",
          m);
    if (fclose(m) != 0) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------ reply parsing */

static bool fence_at(const char *p) { return p[0] == '`' && p[1] == '`' && p[2] == '`'; }

/* The start of a line (after its indentation) that opens or closes a fence. */
static const char *find_fence(const char *p)
{
    for (const char *line = p; line && *line;) {
        const char *q = line;
        while (*q == ' ' || *q == '\t')
            q++;
        if (fence_at(q))
            return q;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NULL;
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '*' || *s == '#' || *s == '>' || *s == '-'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '*'))
        n--;
    return strndup(s, n);
}

/* The reason in text[0..n): a "Reason:" line, else the first prose line. */
static char *find_reason(const char *text, size_t n, bool *found)
{
    const char *end = text + n, *first = NULL;
    size_t first_n = 0;
    for (const char *l = text; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t ln = nl ? (size_t)(nl - l) : (size_t)(end - l);
        const char *q = l;
        while (q < l + ln && (*q == ' ' || *q == '\t' || *q == '*' || *q == '#' || *q == '-' || *q == '>'))
            q++;
        if ((size_t)(l + ln - q) >= 7 && strncasecmp(q, "reason:", 7) == 0) {
            *found = true;
            return trim_dup(q + 7, (size_t)(l + ln - q - 7));
        }
        if (!first && q < l + ln && !fence_at(q)) {
            first = l;
            first_n = ln;
        }
        l = nl ? nl + 1 : end;
    }
    *found = false;
    return first ? trim_dup(first, first_n) : strdup("");
}

int ai_extract(const char *reply, char **code, char **reason)
{
    *code = *reason = NULL;
    /* A reasoning model's <think> part may hold drafts: skip it. */
    const char *body = reply, *think = strstr(reply, "<think>");
    if (think && strstr(think, "</think>"))
        body = strstr(think, "</think>") + 8;
    const char *open = find_fence(body);
    if (!open)
        return -EPROTO;
    const char *start = strchr(open, '\n');
    if (!start)
        return -EPROTO;
    start++;
    const char *close = find_fence(start);
    const char *stop = close ? close : start + strlen(start);
    /* the fence line's indentation is not part of the code */
    while (close && stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    size_t n = (size_t)(stop - start);
    if (n && start[n - 1] == '\n')
        n--;
    *code = strndup(start, n);
    bool found = false;
    const char *after = close ? strchr(close, '\n') : NULL;
    if (after)
        *reason = find_reason(after + 1, strlen(after + 1), &found);
    if (!found) {
        free(*reason);
        *reason = find_reason(body, (size_t)(open - body), &found);
    }
    if (!*code || !*reason) {
        free(*code);
        free(*reason);
        *code = *reason = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* ---------------------------------------------------------------- diff */

typedef struct ai_lines {
    const char **p;
    size_t *n;
    size_t count;
} ai_lines_t;

static int split_lines(const char *s, size_t len, ai_lines_t *out)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += s[i] == '\n';
    out->p = malloc(cap * sizeof *out->p);
    out->n = malloc(cap * sizeof *out->n);
    out->count = 0;
    if (!out->p || !out->n)
        return -ENOMEM;
    const char *end = s + len;
    if (len == 0) { /* one empty line, not none: a region can be a blank line */
        out->p[0] = s;
        out->n[out->count++] = 0;
    }
    for (const char *l = s; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        out->p[out->count] = l;
        out->n[out->count++] = nl ? (size_t)(nl - l) : (size_t)(end - l);
        l = nl ? nl + 1 : end;
    }
    return 0;
}

static bool same_line(const ai_lines_t *a, size_t i, const ai_lines_t *b, size_t j)
{
    return a->n[i] == b->n[j] && memcmp(a->p[i], b->p[j], a->n[i]) == 0;
}

char *ai_diff(const char *a, size_t na, const char *b, size_t nb, const char *name_a, const char *name_b,
              long long first_line)
{
    ai_lines_t A = {0}, B = {0};
    char *s = NULL;
    size_t len = 0;
    unsigned *t = NULL;
    FILE *m = NULL;
    if (split_lines(a, na, &A) || split_lines(b, nb, &B))
        goto out;
    size_t x = A.count, y = B.count;
    /* LCS by dynamic programming: regions are a few dozen lines; past the
     * cap the diff is "all of a out, all of b in", still correct. */
    bool lcs = x <= AI_MAX_DIFF_LINES && y <= AI_MAX_DIFF_LINES;
    if (lcs && !(t = calloc((x + 1) * (y + 1), sizeof *t)))
        goto out;
    for (size_t i = x; lcs && i-- > 0;)
        for (size_t j = y; j-- > 0;)
            t[i * (y + 1) + j] = same_line(&A, i, &B, j) ? t[(i + 1) * (y + 1) + j + 1] + 1
                                 : t[(i + 1) * (y + 1) + j] > t[i * (y + 1) + j + 1] ? t[(i + 1) * (y + 1) + j]
                                                                                     : t[i * (y + 1) + j + 1];
    if (!(m = open_memstream(&s, &len)))
        goto out;
    fprintf(m, "--- %s\n+++ %s\n@@ -%lld,%zu +%lld,%zu @@\n", name_a, name_b, first_line, x, first_line, y);
    size_t i = 0, j = 0;
    while (i < x || j < y) {
        if (lcs && i < x && j < y && same_line(&A, i, &B, j)) {
            fprintf(m, " %.*s\n", (int)A.n[i], A.p[i]);
            i++, j++;
        } else if (i < x && (j >= y || !lcs || t[(i + 1) * (y + 1) + j] >= t[i * (y + 1) + j + 1])) {
            fprintf(m, "-%.*s\n", (int)A.n[i], A.p[i]);
            i++;
        } else {
            fprintf(m, "+%.*s\n", (int)B.n[j], B.p[j]);
            j++;
        }
    }
    if (fclose(m) != 0) {
        free(s);
        s = NULL;
    }
out:
    free(t);
    free(A.p), free(A.n), free(B.p), free(B.n);
    if (!s)
        errno = ENOMEM;
    return s;
}

/* ---------------------------------------------------------------- http */

typedef struct ai_http {
    char *body;
    size_t n;
    bool too_big;
    char retry_after[32];
} ai_http_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    ai_http_t *h = ud;
    size_t k = size * nmemb;
    if (h->n + k > AI_MAX_REPLY) {
        h->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    char *b = realloc(h->body, h->n + k + 1);
    if (!b)
        return 0;
    memcpy(b + h->n, p, k);
    h->body = b;
    h->n += k;
    b[h->n] = 0;
    return k;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    ai_http_t *h = ud;
    size_t k = size * nmemb;
    if (k > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        size_t o = 12, w = 0;
        while (o < k && (p[o] == ' ' || p[o] == '\t'))
            o++;
        while (o < k && p[o] != '\r' && p[o] != '\n' && w + 1 < sizeof h->retry_after)
            h->retry_after[w++] = (unsigned char)p[o] < 0x20 ? '?' : p[o], o++;
        h->retry_after[w] = 0;
    }
    return k;
}

/* One request's worth of state, so a failure can be described. */
typedef struct ai_call {
    const char *who;    /* the provider's name */
    char url[2048];     /* the endpoint */
    const char *secret; /* cut out of every error line */
    const char *secret2;
    double timeout_s;
    const atomic_bool *cancel;
    char *err;
    size_t errn;
} ai_call_t;

static pthread_once_t ai_once = PTHREAD_ONCE_INIT;
static CURLcode ai_init_rc;
static void ai_init(void) { ai_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Writes one line to c->err: control characters as ' ', every copy of
 * the secrets as "***", at most errn - 1 bytes. */
__attribute__((format(printf, 3, 4))) static int ai_fail(ai_call_t *c, int rc, const char *fmt, ...)
{
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    const char *secrets[] = {c->secret, c->secret2};
    for (size_t k = 0; k < 2; k++) {
        size_t sl = secrets[k] ? strlen(secrets[k]) : 0;
        if (sl < 4)
            continue; /* no key, or one too short to look for safely */
        for (char *p = strstr(raw, secrets[k]); p; p = strstr(p, secrets[k])) {
            memmove(p + 3, p + sl, strlen(p + sl) + 1);
            memcpy(p, "***", 3);
        }
    }
    size_t o = 0;
    for (size_t i = 0; raw[i] && o + 1 < c->errn; i++)
        c->err[o++] = (unsigned char)raw[i] < 0x20 || raw[i] == 0x7f ? ' ' : raw[i];
    if (c->errn)
        c->err[o] = 0;
    return rc;
}

/* The URL without user:password@ and without its query, for messages. */
static void url_shown(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        host = at + 1;
    size_t q = strcspn(host, "?#");
    snprintf(out, n, "%.*s%.*s", scheme ? (int)(scheme + 3 - url) : 0, url, (int)q, host);
}

/* The "message" of an error body, whatever the provider's shape:
 * {"error":{"message"}}, {"error":"..."}, {"message"}, {"Message"}. */
static void error_text(const ai_http_t *h, char *out, size_t n)
{
    out[0] = 0;
    json_object *o = h->body ? json_tokener_parse(h->body) : NULL, *e = NULL, *msg = NULL;
    if (o && json_object_object_get_ex(o, "error", &e)) {
        if (json_object_is_type(e, json_type_string))
            msg = e;
        else if (json_object_is_type(e, json_type_object))
            json_object_object_get_ex(e, "message", &msg);
    }
    if (o && !msg && !json_object_object_get_ex(o, "message", &msg))
        json_object_object_get_ex(o, "Message", &msg);
    if (msg && json_object_is_type(msg, json_type_string))
        snprintf(out, n, ": %.200s", json_object_get_string(msg));
    else if (h->body && h->n && !o)
        snprintf(out, n, ": %.120s", h->body);
    json_object_put(o);
}

/* CURLOPT_XFERINFOFUNCTION: libcurl calls it often, at least once a
 * second while waiting, so a stop request is seen that soon. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    /* acquire: pairs with the release store in gui_serve() before it stops the daemon */
    return ud && atomic_load_explicit((const atomic_bool *)ud, memory_order_acquire) ? 1 : 0;
}

/* POSTs body (JSON) to c->url with headers h. On a 2xx answer returns 0 with the reply in *out; otherwise
 * the failure's errno and line. */
static int ai_post(ai_call_t *c, struct curl_slist *h, const char *body, ai_http_t *out)
{
    char shown[512], why[256], errbuf[CURL_ERROR_SIZE] = "";
    url_shown(c->url, shown, sizeof shown);
    pthread_once(&ai_once, ai_init);
    if (ai_init_rc != CURLE_OK)
        return ai_fail(c, -EIO, "%s: libcurl did not start: %s", c->who, curl_easy_strerror(ai_init_rc));
    CURL *cu = curl_easy_init();
    if (!cu)
        return ai_fail(c, -ENOMEM, "%s: out of memory", c->who);
    long ms = (long)(c->timeout_s * 1000.0), cms = (long)(AI_CONNECT_TIMEOUT_S * 1000.0);
    curl_easy_setopt(cu, CURLOPT_URL, c->url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, cms < ms ? cms : ms);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L); /* the page server calls from its own thread */
    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L); /* a key goes only where the user said */
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "scalene-c");
    curl_easy_setopt(cu, CURLOPT_ACCEPT_ENCODING, "");
    if (c->cancel) {
        curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(cu, CURLOPT_XFERINFODATA, (void *)c->cancel);
        curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
    }
    /* libcurl itself reads the proxy variables (http_proxy, https_proxy,
     * no_proxy); the CA bundle variables are the curl tool's and
     * OpenSSL's, so they are passed on here. */
    const char *ca = env("CURL_CA_BUNDLE") ? env("CURL_CA_BUNDLE") : env("SSL_CERT_FILE");
    if (ca)
        curl_easy_setopt(cu, CURLOPT_CAINFO, ca);
    CURLcode rc = curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(cu);
    snprintf(why, sizeof why, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    switch (rc) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (status == 0 && strstr(errbuf, "onnect"))
            return ai_fail(c, -EHOSTUNREACH, "%s: cannot reach %s: %s", c->who, shown, why);
        return ai_fail(c, -ETIMEDOUT, "%s: no reply from %s within %g s (--ai-timeout SEC)", c->who, shown,
                       c->timeout_s);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return ai_fail(c, -EHOSTUNREACH, "%s: cannot reach %s: %s", c->who, shown, why);
    case CURLE_ABORTED_BY_CALLBACK:
        return ai_fail(c, -ECANCELED, "%s: stopped: scalene view is shutting down", c->who);
    case CURLE_WRITE_ERROR:
        if (out->too_big)
            return ai_fail(c, -EPROTO, "%s: the reply from %s is over %u MiB: not a chat reply", c->who, shown,
                           AI_MAX_REPLY >> 20);
        return ai_fail(c, -ENOMEM, "%s: out of memory reading the reply", c->who);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return ai_fail(c, -EINVAL, "%s: bad URL %s: %s", c->who, shown, why);
    default:
        if (status == 0)
            return ai_fail(c, -EHOSTUNREACH, "%s: request to %s failed: %s", c->who, shown, why);
        return ai_fail(c, -EIO, "%s: request to %s failed: %s", c->who, shown, why);
    }
    if (status >= 200 && status < 300)
        return 0;
    error_text(out, why, sizeof why);
    if (status == 401 || status == 403)
        return ai_fail(c, -EACCES, "%s: %s refused the key (HTTP %ld%s)", c->who, shown, status, why);
    if (status == 429) {
        if (out->retry_after[0])
            return ai_fail(c, -EAGAIN, "%s: rate limit reached (HTTP 429%s); retry after %s%s", c->who, why,
                           out->retry_after, strspn(out->retry_after, "0123456789") == strlen(out->retry_after) ? " s" : "");
        return ai_fail(c, -EAGAIN, "%s: rate limit reached (HTTP 429%s); retry later", c->who, why);
    }
    return ai_fail(c, -EIO, "%s: %s answered HTTP %ld%s", c->who, shown, status, why);
}

static struct curl_slist *add_header(struct curl_slist *h, bool *oom, const char *fmt, const char *v)
{
    char line[4096];
    if (snprintf(line, sizeof line, fmt, v) >= (int)sizeof line) {
        *oom = true;
        return h;
    }
    struct curl_slist *n = curl_slist_append(h, line);
    explicit_bzero(line, sizeof line); /* it may hold a key */
    if (!n)
        *oom = true;
    return n ? n : h;
}

/* --------------------------------------------------------------- SigV4 */

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, n, d);
    hex(d, sizeof d, out);
}

static void hmac(const unsigned char *key, size_t kn, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* RFC 3986 encoding of s[0..n), '/' kept when keep_slash (AWS's UriEncode). */
static void aws_encode(FILE *m, const char *s, size_t n, bool keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch) ||
            (keep_slash && ch == '/'))
            fputc(ch, m);
        else
            fprintf(m, "%%%02X", ch);
    }
}

/* Adds Host, X-Amz-Date, the session token and Authorization for AWS
 * Signature Version 4 (AWS's documented algorithm: canonical request,
 * string to sign, a key derived from the secret by date, region and
 * service). The canonical URI encodes the path as sent a second time, as
 * AWS does for every service but S3. Returns 0 or -ENOMEM/-EINVAL. */
static int sigv4_headers(struct curl_slist **h, bool *oom, const char *url, const char *body, const char *region,
                         const char *service, const char *id, const char *secret, const char *token)
{
    const char *auth = strstr(url, "://");
    if (!auth)
        return -EINVAL;
    auth += 3;
    size_t an = strcspn(auth, "/?#");
    const char *path = auth + an;
    size_t pn = strcspn(path, "?#");
    const char *at = memchr(auth, '@', an);
    if (at) {
        an -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    char host[256], amz_date[32], date[16], payload[65], creq_hash[65], sig[65];
    if (an == 0 || an >= sizeof host)
        return -EINVAL;
    memcpy(host, auth, an);
    host[an] = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, sizeof date, "%Y%m%d", &tm);
    sha256_hex(body, strlen(body), payload);

    char *creq = NULL, *sts = NULL;
    size_t cn = 0, sn = 0;
    FILE *m = open_memstream(&creq, &cn);
    if (!m)
        return -ENOMEM;
    const char *signed_h = token ? "content-type;host;x-amz-date;x-amz-security-token" : "content-type;host;x-amz-date";
    fputs("POST\n", m);
    if (pn == 0)
        fputc('/', m);
    aws_encode(m, path, pn, true);
    fprintf(m, "\n\ncontent-type:application/json\nhost:%s\nx-amz-date:%s\n", host, amz_date);
    if (token)
        fprintf(m, "x-amz-security-token:%s\n", token);
    fprintf(m, "\n%s\n%s", signed_h, payload);
    if (fclose(m) != 0)
        return -ENOMEM;
    sha256_hex(creq, cn, creq_hash);
    free(creq);
    if (!(m = open_memstream(&sts, &sn)))
        return -ENOMEM;
    fprintf(m, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, region, service, creq_hash);
    if (fclose(m) != 0)
        return -ENOMEM;
    unsigned char k[32], k2[32];
    char kk[256];
    int kl = snprintf(kk, sizeof kk, "AWS4%s", secret);
    if (kl < 0 || (size_t)kl >= sizeof kk) {
        free(sts);
        return -EINVAL;
    }
    hmac((const unsigned char *)kk, (size_t)kl, date, k);
    hmac(k, 32, region, k2);
    hmac(k2, 32, service, k);
    hmac(k, 32, "aws4_request", k2);
    hmac(k2, 32, sts, k);
    hex(k, 32, sig);
    explicit_bzero(kk, sizeof kk);
    explicit_bzero(k2, sizeof k2);
    free(sts);

    char line[1024];
    *h = add_header(*h, oom, "Host: %s", host);
    *h = add_header(*h, oom, "X-Amz-Date: %s", amz_date);
    if (token)
        *h = add_header(*h, oom, "X-Amz-Security-Token: %s", token);
    snprintf(line, sizeof line, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
             id, date, region, service, signed_h, sig);
    *h = add_header(*h, oom, "Authorization: %s", line);
    return *oom ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ providers */

static json_object *message(const char *role, const char *text)
{
    json_object *m = json_object_new_object();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_string(text));
    return m;
}

/* OpenAI's and Ollama's messages: the system prompt, then ours. */
static json_object *chat_messages(const char *prompt)
{
    json_object *a = json_object_new_array();
    json_object_array_add(a, message("system", ai_system));
    json_object_array_add(a, message("user", prompt));
    return a;
}

/* The string at a path of keys and array indexes ("choices", "#0", ...). */
static const char *path_str(json_object *o, const char *const *path)
{
    for (; o && *path; path++) {
        if ((*path)[0] == '#')
            o = json_object_is_type(o, json_type_array) ? json_object_array_get_idx(o, (size_t)atoi(*path + 1)) : NULL;
        else if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, *path, &o))
            o = NULL;
    }
    return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

/* Text parts of an array of content blocks ({"type":"text","text"} for
 * Anthropic, {"text"} for Bedrock), joined; NULL if there is none. */
static char *join_text(json_object *arr)
{
    if (!arr || !json_object_is_type(arr, json_type_array))
        return NULL;
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    int parts = 0;
    for (size_t i = 0, n = json_object_array_length(arr); i < n; i++) {
        json_object *t = NULL, *e = json_object_array_get_idx(arr, i);
        if (e && json_object_is_type(e, json_type_object) && json_object_object_get_ex(e, "text", &t) &&
            json_object_is_type(t, json_type_string)) {
            fputs(json_object_get_string(t), m);
            parts++;
        }
    }
    if (fclose(m) != 0 || parts == 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Percent-encodes s into out (RFC 3986 unreserved characters kept). */
static void url_encode(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch))
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", ch);
    }
    out[o] = 0;
}

/* base without trailing slashes, then suffix; -EINVAL when it does not fit. */
static int join_url(char *out, size_t n, const char *base, const char *suffix)
{
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int k = snprintf(out, n, "%.*s%s", (int)bl, base, suffix);
    return k < 0 || (size_t)k >= n ? -EINVAL : 0;
}

/* "127.0.0.1:11434" (OLLAMA_HOST's usual form) to "http://127.0.0.1:11434". */
static const char *with_scheme(const char *u, char *buf, size_t n)
{
    if (strstr(u, "://"))
        return u;
    snprintf(buf, n, "http://%s", u);
    return buf;
}

static ai_provider_t auto_provider(const ai_req_t *req)
{
    if (req->provider != AI_AUTO)
        return req->provider;
    if (req->key || env("OPENAI_API_KEY"))
        return AI_OPENAI;
    if (env("AZURE_OPENAI_API_KEY"))
        return AI_AZURE;
    if (env("ANTHROPIC_API_KEY"))
        return AI_ANTHROPIC;
    if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY"))
        return AI_BEDROCK;
    return AI_OLLAMA;
}

int ai_propose(const ai_req_t *req, const ai_region_t *r, ai_proposal_t *out, char *err, size_t errn)
{
    ai_provider_t p = auto_provider(req);
    ai_call_t c = {.who = ai_provider_name(p), .timeout_s = req->timeout_s > 0 ? req->timeout_s : AI_DEFAULT_TIMEOUT_S,
                   .cancel = req->cancel, .err = err, .errn = errn};
    ai_http_t http = {0};
    struct curl_slist *h = NULL;
    json_object *body = json_object_new_object(), *reply = NULL;
    char *prompt = ai_prompt(r), *text = NULL, *userpwd = NULL;
    const char *model = req->model, *key = req->key, *token = NULL, *region = NULL;
    char buf[1024], enc[512];
    bool oom = !body || !prompt;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (oom) {
        rc = ai_fail(&c, -ENOMEM, "%s: out of memory", c.who);
        goto out;
    }
    h = add_header(h, &oom, "Content-Type: %s", "application/json");
    h = add_header(h, &oom, "Accept: %s", "application/json");
    switch (p) {
    case AI_AUTO: /* resolved above */
    case AI_OPENAI: {
        const char *base = req->url ? req->url : env("OPENAI_BASE_URL");
        key = key ? key : env("OPENAI_API_KEY");
        if (!key && !base) {
            rc = ai_fail(&c, -ENOKEY, "openai: no API key: set OPENAI_API_KEY (or choose another --ai-provider; "
                                      "an OpenAI-compatible server named by --ai-url needs none)");
            goto out;
        }
        if (join_url(c.url, sizeof c.url, base ? base : "https://api.openai.com/v1", "/chat/completions")) {
            rc = ai_fail(&c, -EINVAL, "openai: --ai-url is too long");
            goto out;
        }
        model = model ? model : "gpt-4o";
        if (key)
            h = add_header(h, &oom, "Authorization: Bearer %s", key);
        json_object_object_add(body, "model", json_object_new_string(model));
        json_object_object_add(body, "messages", chat_messages(prompt));
        break;
    }
    case AI_AZURE: {
        const char *endpoint = req->url ? req->url : env("AZURE_OPENAI_ENDPOINT");
        const char *dep = model ? model : env("AZURE_OPENAI_DEPLOYMENT");
        const char *ver = req->api_version ? req->api_version : env("OPENAI_API_VERSION");
        key = key ? key : env("AZURE_OPENAI_API_KEY");
        if (!key) {
            rc = ai_fail(&c, -ENOKEY, "azure: no API key: set AZURE_OPENAI_API_KEY");
            goto out;
        }
        if (!endpoint || !dep) {
            rc = ai_fail(&c, -EINVAL, "azure: needs the resource's endpoint (--ai-url https://NAME.openai.azure.com, or "
                                      "AZURE_OPENAI_ENDPOINT) and the deployment (--ai-model NAME)");
            goto out;
        }
        url_encode(dep, enc, sizeof enc);
        snprintf(buf, sizeof buf, "/openai/deployments/%s/chat/completions?api-version=", enc);
        url_encode(ver ? ver : "2024-06-01", enc, sizeof enc);
        strncat(buf, enc, sizeof buf - strlen(buf) - 1);
        if (join_url(c.url, sizeof c.url, endpoint, buf)) {
            rc = ai_fail(&c, -EINVAL, "azure: --ai-url is too long");
            goto out;
        }
        model = dep;
        h = add_header(h, &oom, "api-key: %s", key);
        json_object_object_add(body, "messages", chat_messages(prompt));
        break;
    }
    case AI_OLLAMA: {
        const char *base = req->url ? req->url : env("OLLAMA_HOST") ? with_scheme(env("OLLAMA_HOST"), buf, sizeof buf)
                                                                    : "http://127.0.0.1:11434";
        if (join_url(c.url, sizeof c.url, base, "/api/chat")) {
            rc = ai_fail(&c, -EINVAL, "ollama: --ai-url is too long");
            goto out;
        }
        model = model ? model : "llama3.2";
        json_object_object_add(body, "model", json_object_new_string(model));
        json_object_object_add(body, "messages", chat_messages(prompt));
        json_object_object_add(body, "stream", json_object_new_boolean(0));
        break;
    }
    case AI_ANTHROPIC: {
        key = key ? key : env("ANTHROPIC_API_KEY");
        if (!key) {
            rc = ai_fail(&c, -ENOKEY, "anthropic: no API key: set ANTHROPIC_API_KEY");
            goto out;
        }
        if (join_url(c.url, sizeof c.url, req->url ? req->url : "https://api.anthropic.com", "/v1/messages")) {
            rc = ai_fail(&c, -EINVAL, "anthropic: --ai-url is too long");
            goto out;
        }
        model = model ? model : "claude-3-5-sonnet-latest";
        h = add_header(h, &oom, "x-api-key: %s", key);
        h = add_header(h, &oom, "anthropic-version: %s", "2023-06-01");
        json_object *msgs = json_object_new_array();
        json_object_array_add(msgs, message("user", prompt));
        json_object_object_add(body, "model", json_object_new_string(model));
        json_object_object_add(body, "max_tokens", json_object_new_int(AI_MAX_TOKENS));
        json_object_object_add(body, "system", json_object_new_string(ai_system));
        json_object_object_add(body, "messages", msgs);
        break;
    }
    case AI_BEDROCK: {
        /* The key typed in the page is "ACCESS_KEY_ID:SECRET_ACCESS_KEY". */
        const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
        token = env("AWS_SESSION_TOKEN");
        region = req->region ? req->region : env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
        if (key) {
            if (!strchr(key, ':')) {
                rc = ai_fail(&c, -EINVAL, "bedrock: the key must be ACCESS_KEY_ID:SECRET_ACCESS_KEY");
                goto out;
            }
            userpwd = strdup(key);
            token = NULL;
        } else if (id && secret) {
            if (asprintf(&userpwd, "%s:%s", id, secret) < 0)
                userpwd = NULL;
        } else {
            rc = ai_fail(&c, -ENOKEY, "bedrock: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
            goto out;
        }
        if (!userpwd) {
            rc = ai_fail(&c, -ENOMEM, "bedrock: out of memory");
            goto out;
        }
        c.secret2 = strchr(userpwd, ':') + 1;
        region = region ? region : "us-east-1";
        if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region) || strlen(region) > 40) {
            rc = ai_fail(&c, -EINVAL, "bedrock: bad region '%.40s'", region);
            goto out;
        }
        model = model ? model : "anthropic.claude-3-5-sonnet-20240620-v1:0";
        char host[128];
        snprintf(host, sizeof host, "https://bedrock-runtime.%s.amazonaws.com", region);
        url_encode(model, enc, sizeof enc);
        snprintf(buf, sizeof buf, "/model/%s/converse", enc);
        if (join_url(c.url, sizeof c.url, req->url ? req->url : host, buf)) {
            rc = ai_fail(&c, -EINVAL, "bedrock: --ai-url is too long");
            goto out;
        }
        json_object *sys = json_object_new_array(), *s0 = json_object_new_object();
        json_object_object_add(s0, "text", json_object_new_string(ai_system));
        json_object_array_add(sys, s0);
        json_object *msgs = json_object_new_array(), *m0 = json_object_new_object(), *parts = json_object_new_array(),
                    *t0 = json_object_new_object();
        json_object_object_add(t0, "text", json_object_new_string(prompt));
        json_object_array_add(parts, t0);
        json_object_object_add(m0, "role", json_object_new_string("user"));
        json_object_object_add(m0, "content", parts);
        json_object_array_add(msgs, m0);
        json_object *inf = json_object_new_object();
        json_object_object_add(inf, "maxTokens", json_object_new_int(AI_MAX_TOKENS));
        json_object_object_add(body, "system", sys);
        json_object_object_add(body, "messages", msgs);
        json_object_object_add(body, "inferenceConfig", inf);
        break;
    }
    }
    c.secret = key;
    if (oom) {
        rc = ai_fail(&c, -ENOMEM, "%s: out of memory", c.who);
        goto out;
    }
    const char *js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!js) {
        rc = ai_fail(&c, -ENOMEM, "%s: out of memory", c.who);
        goto out;
    }
    if (p == AI_BEDROCK) {
        char *colon = strchr(userpwd, ':');
        *colon = 0; /* userpwd: "ID:SECRET" */
        rc = sigv4_headers(&h, &oom, c.url, js, region, "bedrock", userpwd, colon + 1, token);
        *colon = ':';
        if (rc != 0) {
            rc = ai_fail(&c, rc, "bedrock: cannot sign the request for %s", c.url);
            goto out;
        }
    }
    if ((rc = ai_post(&c, h, js, &http)) != 0)
        goto out;

    /* The reply: what each API promises, else one line saying what is missing. */
    static const char *const openai_path[] = {"choices", "#0", "message", "content", NULL};
    static const char *const ollama_path[] = {"message", "content", NULL};
    const char *promised = p == AI_OLLAMA ? "message.content" : p == AI_ANTHROPIC ? "content[].text"
                         : p == AI_BEDROCK ? "output.message.content[].text" : "choices[0].message.content";
    enum json_tokener_error jerr = json_tokener_success;
    reply = http.body ? json_tokener_parse_verbose(http.body, &jerr) : NULL;
    if (!reply || !json_object_is_type(reply, json_type_object)) {
        rc = ai_fail(&c, -EPROTO, "%s: the reply is not JSON (%s)", c.who,
                     http.body ? json_tokener_error_desc(jerr) : "empty");
        goto out;
    }
    if (p == AI_OLLAMA || p == AI_OPENAI || p == AI_AZURE) {
        const char *t = path_str(reply, p == AI_OLLAMA ? ollama_path : openai_path);
        text = t ? strdup(t) : NULL;
    } else if (p == AI_ANTHROPIC) {
        json_object *content = NULL;
        json_object_object_get_ex(reply, "content", &content);
        text = join_text(content);
    } else {
        json_object *o = NULL, *msg = NULL, *content = NULL;
        if (json_object_object_get_ex(reply, "output", &o) && json_object_is_type(o, json_type_object) &&
            json_object_object_get_ex(o, "message", &msg) && json_object_is_type(msg, json_type_object))
            json_object_object_get_ex(msg, "content", &content);
        text = join_text(content);
    }
    if (!text) {
        rc = ai_fail(&c, -EPROTO, "%s: the reply is not what the API promises (no %s)", c.who, promised);
        goto out;
    }
    if ((rc = ai_extract(text, &out->code, &out->reason)) != 0) {
        rc = rc == -ENOMEM ? ai_fail(&c, rc, "%s: out of memory", c.who)
                           : ai_fail(&c, rc, "%s: the model's answer has no code block (it said: %.100s)", c.who, text);
        goto out;
    }
    snprintf(out->provider, sizeof out->provider, "%s", c.who);
    snprintf(out->model, sizeof out->model, "%s", model);
    /* The diff: the region as the report has it against the proposal. */
    char *orig = NULL;
    size_t olen = 0;
    FILE *m = open_memstream(&orig, &olen);
    for (size_t i = 0; m && i < r->n; i++)
        fprintf(m, "%.*s%s", (int)r->lines[i].text_len, r->lines[i].text, i + 1 < r->n ? "\n" : "");
    if (!m || fclose(m) != 0 ||
        !(out->diff = ai_diff(orig, olen, out->code, strlen(out->code), "original", "proposed",
                              r->n ? r->lines[0].lineno : 1))) {
        free(orig);
        ai_proposal_free(out);
        rc = ai_fail(&c, -ENOMEM, "%s: out of memory", c.who);
        goto out;
    }
    free(orig);
out:
    if (userpwd) {
        explicit_bzero(userpwd, strlen(userpwd));
        free(userpwd);
    }
    /* the header list holds the key: wipe before freeing */
    for (struct curl_slist *e = h; e; e = e->next)
        explicit_bzero(e->data, strlen(e->data));
    curl_slist_free_all(h);
    json_object_put(body);
    json_object_put(reply);
    free(http.body);
    free(prompt);
    free(text);
    return rc;
}

void ai_proposal_free(ai_proposal_t *p)
{
    free(p->code);
    free(p->reason);
    free(p->diff);
    p->code = p->reason = p->diff = NULL;
}
