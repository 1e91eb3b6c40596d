/* SPDX-License-Identifier: Apache-2.0
 * gui.c — the web view: one HTML page built from the viewer's template,
 * script, style and the profile, written to a file or served on 127.0.0.1
 * by libmicrohttpd. Everything the page needs is inside it, so the same
 * bytes work from a file, from this server and offline; the server only
 * hands them out. Called by tools/view.c. Never listens beyond loopback and
 * never runs the browser through a shell word it did not quote.
 */
#include "gui.h"
#include "safefile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUI_MARK_CSS "<!--SCALENE:CSS-->"
#define GUI_MARK_JS "<!--SCALENE:JS-->"
#define GUI_MARK_DATA "<!--SCALENE:DATA-->"
#define GUI_MAX_ASSET (256u << 20) /* a bigger "asset" is not the viewer */
/* The server's limits (issue 13: slowloris). A connection first sits in
 * the front (gui_serve's own loop) until its request head -- request line
 * and headers -- is complete, valid and in time; only then does MHD get it,
 * and MHD closes it after one response. So MHD's connections are never
 * held by a slow sender, and the front never waits on one: it reads with
 * MSG_PEEK on edge-triggered readiness, drops a head older than
 * GUI_HEAD_DEADLINE_MS, and at GUI_PENDING_MAX drops the oldest head to
 * admit a new connection (a real client sends its head in one go). */
#define GUI_CONN_TIMEOUT_S 10u     /* MHD: an idle connection must not hold a stop back */
#define GUI_CONN_LIMIT 64u         /* MHD: connections with a complete request */
#define GUI_CONN_MEMORY (64u << 10) /* MHD: per-connection memory (the head, our headers) */
#define GUI_PENDING_MAX 256u       /* front: connections still sending their head */
#define GUI_HEAD_MAX (16u << 10)   /* front: request line and headers, bytes (431 above) */
#define GUI_HEAD_DEADLINE_MS 5000u /* front: to send them whole (408 after) */
#define GUI_API_MAX_BODY (256u << 10) /* a proposal request is a few hundred bytes */
#define GUI_API_JOBS 4                /* proposals asked at once (each a thread) */
#define GUI_CSP_FROM "default-src 'none';"
#define GUI_CSP_TO "default-src 'none'; connect-src 'self';"

extern char **environ;

struct gui {
    char *tmpl, *js, *css;
    size_t tmpl_n, js_n, css_n;
    char *page; /* the last gui_build(), or NULL */
    size_t page_n;
    /* the proposal endpoint (gui_set_api), or api NULL */
    gui_api_fn api;
    void *api_ctx;
    char token[65];  /* hex of 32 random bytes */
    char *api_block; /* the JSON of <script id="scalene-ai"> */
};

typedef struct gui_buf {
    char *p;
    size_t n, cap;
    int err; /* sticky: 0 or -ENOMEM */
} gui_buf_t;

/* What must not appear raw in which block; see gui_build(). */
typedef enum gui_esc { GUI_ESC_STYLE, GUI_ESC_SCRIPT, GUI_ESC_DATA } gui_esc_t;

/* ------------------------------------------------------------- assets */

static char *read_all(const char *dir, const char *name, size_t *len, char *err, size_t n)
{
    char path[PATH_MAX];
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd = -1, e;

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        e = ENAMETOOLONG;
        goto fail;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        e = errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size > GUI_MAX_ASSET) {
        e = S_ISREG(st.st_mode) ? EFBIG : EISDIR;
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        e = ENOMEM;
        goto fail;
    }
    while (got < (size_t)st.st_size) { /* a file that shrinks under us is read short */
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            e = errno;
            goto fail;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
fail:
    snprintf(err, n, "%s: %s", path, strerror(e));
    free(buf);
    if (fd >= 0)
        close(fd);
    errno = e;
    return NULL;
}

gui_t *gui_open(const char *dir, char *err, size_t n)
{
    static const char *const marks[] = {GUI_MARK_CSS, GUI_MARK_JS, GUI_MARK_DATA};
    gui_t *g = calloc(1, sizeof *g);

    if (!g) {
        snprintf(err, n, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    if (!(g->tmpl = read_all(dir, GUI_TEMPLATE, &g->tmpl_n, err, n)) ||
        !(g->js = read_all(dir, GUI_SCRIPT, &g->js_n, err, n)) ||
        !(g->css = read_all(dir, GUI_STYLE, &g->css_n, err, n))) {
        int e = errno;
        gui_close(g);
        errno = e;
        return NULL;
    }
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        if (!memmem(g->tmpl, g->tmpl_n, marks[i], strlen(marks[i]))) {
            snprintf(err, n, "%s/%s has no %s marker (not the viewer's template)", dir, GUI_TEMPLATE,
                     marks[i]);
            gui_close(g);
            errno = EINVAL;
            return NULL;
        }
    }
    return g;
}

int gui_set_api(gui_t *g, gui_api_fn fn, void *ctx, const char *defaults_json)
{
    unsigned char r[32];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k < 0 && errno != EINTR)
            return -errno;
        got += k > 0 ? (size_t)k : 0;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(g->token + 2 * i, 3, "%02x", r[i]);
    char *block = NULL;
    if (asprintf(&block, "{\"endpoint\":\"%s\",\"token\":\"%s\",\"defaults\":%s}", GUI_API_PATH, g->token,
                 defaults_json && *defaults_json ? defaults_json : "{}") < 0)
        return -ENOMEM;
    free(g->api_block);
    g->api_block = block;
    g->api = fn;
    g->api_ctx = ctx;
    return 0;
}

void gui_close(gui_t *g)
{
    if (!g)
        return;
    free(g->tmpl);
    free(g->js);
    free(g->css);
    free(g->page);
    free(g->api_block);
    explicit_bzero(g->token, sizeof g->token);
    free(g);
}

/* --------------------------------------------------------------- page */

static void buf_add(gui_buf_t *b, const char *s, size_t n)
{
    if (b->err || n == 0)
        return;
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->err = -ENOMEM;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(gui_buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static bool at(const char *s, size_t n, size_t i, const char *what, bool nocase)
{
    size_t k = strlen(what);
    return n - i >= k && (nocase ? strncasecmp(s + i, what, k) : strncmp(s + i, what, k)) == 0;
}

/* Copies s[0..n) so that it cannot end its <style>/<script> element early:
 * the HTML tokenizer ends one at "</style" or "</script" in any case, and
 * after "<!--" followed by "<script" it would even skip the real end tag
 * (the "script data double escaped" state). The rewrites keep the meaning:
 * "\/" is "/" in a JSON or JS string and in CSS, "\!" is "!" in a JS string,
 * and "<" can only stand inside a string in JSON. */
static void buf_escaped(gui_buf_t *b, const char *s, size_t n, gui_esc_t how)
{
    size_t i = 0, run = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt)
            break;
        i = (size_t)(lt - s);
        const char *rep = NULL;
        size_t skip = 1;
        if (how == GUI_ESC_DATA && at(s, n, i, "</", false)) {
            rep = "<\\/";
            skip = 2;
        } else if (how == GUI_ESC_DATA && at(s, n, i, "<!--", false)) {
            rep = "\\u003c!--";
            skip = 4;
        } else if (how == GUI_ESC_SCRIPT && at(s, n, i, "</script", true)) {
            rep = "<\\/"; /* the name keeps its own case */
            skip = 2;
        } else if (how == GUI_ESC_SCRIPT && at(s, n, i, "<!--", false)) {
            rep = "<\\!";
            skip = 2;
        } else if (how == GUI_ESC_STYLE && at(s, n, i, "</style", true)) {
            rep = "<\\/";
            skip = 2;
        }
        if (rep) {
            buf_add(b, s + run, i - run);
            buf_str(b, rep);
            run = i + skip;
        }
        i += skip;
    }
    buf_add(b, s + run, n - run);
}

typedef struct gui_mark {
    const char *at;
    size_t len;
    int which; /* 0 css, 1 js, 2 data */
} gui_mark_t;

static int mark_cmp(const void *a, const void *b)
{
    const gui_mark_t *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

int gui_build(gui_t *g, const char *json, size_t len)
{
    gui_mark_t m[3] = {
        {memmem(g->tmpl, g->tmpl_n, GUI_MARK_CSS, strlen(GUI_MARK_CSS)), strlen(GUI_MARK_CSS), 0},
        {memmem(g->tmpl, g->tmpl_n, GUI_MARK_JS, strlen(GUI_MARK_JS)), strlen(GUI_MARK_JS), 1},
        {memmem(g->tmpl, g->tmpl_n, GUI_MARK_DATA, strlen(GUI_MARK_DATA)), strlen(GUI_MARK_DATA), 2},
    };
    gui_buf_t b = {.p = NULL};
    const char *from = g->tmpl;

    qsort(m, 3, sizeof *m, mark_cmp); /* gui_open() checked all three are there */
    for (int i = 0; i < 3; i++) {
        if (m[i].at < from)
            return -EINVAL; /* overlapping markers: cannot happen with distinct texts */
        /* The served page asks its own server for proposals: the one
         * source its CSP gains, in the policy before the first marker. */
        const char *csp = i == 0 && g->api_block ? memmem(from, (size_t)(m[i].at - from), GUI_CSP_FROM, strlen(GUI_CSP_FROM)) : NULL;
        if (i == 0 && g->api_block && !csp) {
            free(b.p);
            return -EINVAL; /* a template without the policy we extend */
        }
        if (csp) {
            buf_add(&b, from, (size_t)(csp - from));
            buf_str(&b, GUI_CSP_TO);
            from = csp + strlen(GUI_CSP_FROM);
        }
        buf_add(&b, from, (size_t)(m[i].at - from));
        if (m[i].which == 0) {
            buf_str(&b, "<style>");
            buf_escaped(&b, g->css, g->css_n, GUI_ESC_STYLE);
            buf_str(&b, "</style>");
        } else if (m[i].which == 1) {
            buf_str(&b, "<script>");
            buf_escaped(&b, g->js, g->js_n, GUI_ESC_SCRIPT);
            buf_str(&b, "</script>");
        } else {
            buf_str(&b, "<script id=\"scalene-data\" type=\"application/json\">");
            buf_escaped(&b, json, len, GUI_ESC_DATA);
            buf_str(&b, "</script>");
            if (g->api_block) {
                buf_str(&b, "<script id=\"scalene-ai\" type=\"application/json\">");
                buf_escaped(&b, g->api_block, strlen(g->api_block), GUI_ESC_DATA);
                buf_str(&b, "</script>");
            }
        }
        from = m[i].at + m[i].len;
    }
    buf_add(&b, from, (size_t)(g->tmpl + g->tmpl_n - from));
    if (b.err) {
        free(b.p);
        return b.err;
    }
    free(g->page);
    g->page = b.p;
    g->page_n = b.n;
    return 0;
}

/* -------------------------------------------------------------- write */

int gui_write(const gui_t *g, const char *path)
{
    if (!g->page)
        return -EINVAL;
    return sf_write(path, g->page, g->page_n);
}

/* -------------------------------------------------------------- serve */

/* A proposal being worked on: the worker thread asks the model while its
 * connection is suspended, so the server keeps serving (the page, another
 * proposal) meanwhile. At most GUI_API_JOBS at once. */
typedef struct gui_job {
    pthread_t t;
    bool used;        /* t was started and not yet joined; guarded by gui_srv.jobs_lock */
    atomic_bool x_done; /* release: the worker's last step; acquire: the reaper's pthread_join */
} gui_job_t;

/* Set up before the daemon starts and freed after it stops: the server
 * thread only reads it but for jobs[] (jobs_lock) and x_stop. */
typedef struct gui_srv {
    struct MHD_Response *page, *json, *missing, *forbidden, *method;
    char host_ip[32], host_name[32]; /* "127.0.0.1:PORT", "localhost:PORT" */
    const gui_t *g;                  /* for the proposal endpoint */
    /* set by gui_serve() on a stop signal (release), read by the endpoint's
     * provider call (acquire, ai.c on_progress) so MHD_stop_daemon() does
     * not wait out a model's answer */
    atomic_bool x_stop;
    pthread_mutex_t jobs_lock;
    gui_job_t jobs[GUI_API_JOBS];
} gui_srv_t;

/* A proposal request: its body, gathered over MHD's upload calls, then
 * the worker's answer. Freed by the call that queues the answer or, for a
 * request cut short, by api_done(); the worker never touches it after it
 * resumes the connection. */
typedef struct gui_upload {
    char *p;
    size_t n;
    bool too_big;
    gui_srv_t *srv;
    struct MHD_Connection *c;
    size_t slot;        /* its jobs[] entry */
    char *out;          /* the answer's JSON (malloc'd), or NULL: out of memory */
    size_t out_n;
    int status;
    bool started;       /* a worker took it: the next call is the answer's */
} gui_upload_t;

/* A browser on another site can point a name of its own at 127.0.0.1 (DNS
 * rebinding) and read the page with its scripts; its requests then carry
 * that name as Host. A request without Host (HTTP/1.0 tools) is no browser. */
static bool host_ok(const gui_srv_t *s, const char *host)
{
    return !host || strcmp(host, s->host_ip) == 0 || strcasecmp(host, s->host_name) == 0;
}

/* A JSON answer of the endpoint; takes body (malloc'd) or copies a literal. */
static enum MHD_Result api_reply(struct MHD_Connection *c, unsigned status, char *body, size_t n, const char *literal)
{
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(strlen(literal), (void *)literal,
                                                                    MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Equal in time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (!a || strlen(a) != n)
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static void upload_free(gui_upload_t *u)
{
    if (u->p)
        explicit_bzero(u->p, u->n); /* it may hold a key typed in the page */
    free(u->p);
    free(u->out);
    free(u);
}

/* The worker: asks (gui_api_fn), keeps the answer in u, resumes the
 * connection so that the server thread sends it. Context: its own thread. */
static void *api_worker(void *arg)
{
    gui_upload_t *u = arg;
    gui_srv_t *s = u->srv;
    gui_job_t *job = &s->jobs[u->slot];
    struct MHD_Connection *c = u->c;
    u->status = s->g->api(s->g->api_ctx, u->p, u->n, &u->out, &u->out_n, &s->x_stop);
    explicit_bzero(u->p, u->n);
    /* MHD_resume_connection() takes the daemon's lock: what was written to u
     * above is visible to the server thread's next call, which may free u */
    MHD_resume_connection(c);
    /* release: pairs with the acquire in reap_jobs() before pthread_join */
    atomic_store_explicit(&job->x_done, true, memory_order_release);
    return NULL;
}

/* Joins the workers that are done (all of them when wait), freeing their
 * slots. Context: the server thread, or gui_serve() once the front stopped. */
static void reap_jobs(gui_srv_t *s, bool wait)
{
    pthread_mutex_lock(&s->jobs_lock);
    for (size_t i = 0; i < GUI_API_JOBS; i++) {
        gui_job_t *j = &s->jobs[i];
        /* acquire: pairs with the release in api_worker() */
        if (j->used && (wait || atomic_load_explicit(&j->x_done, memory_order_acquire))) {
            pthread_join(j->t, NULL);
            j->used = false;
        }
    }
    pthread_mutex_unlock(&s->jobs_lock);
}

/* Starts a worker for u in a free slot. Returns false when all are busy
 * or the thread cannot start. Context: the server thread. */
static bool start_job(gui_srv_t *s, gui_upload_t *u)
{
    reap_jobs(s, false);
    bool ok = false;
    pthread_mutex_lock(&s->jobs_lock);
    /* under the lock: gui_serve() sets x_stop before it takes the lock to
     * join every worker, so no worker starts after that join */
    bool stopping = atomic_load_explicit(&s->x_stop, memory_order_acquire);
    for (size_t i = 0; i < GUI_API_JOBS && !ok && !stopping; i++) {
        gui_job_t *j = &s->jobs[i];
        if (j->used)
            continue;
        u->srv = s;
        u->slot = i;
        u->started = true;
        atomic_store_explicit(&j->x_done, false, memory_order_relaxed); /* no worker reads it yet */
        MHD_suspend_connection(u->c);
        if (pthread_create(&j->t, NULL, api_worker, u) == 0) {
            j->used = ok = true;
        } else {
            u->started = false;
            MHD_resume_connection(u->c);
            break;
        }
    }
    pthread_mutex_unlock(&s->jobs_lock);
    return ok;
}

/* POST GUI_API_PATH: the page's token (X-Scalene-Token), this server's
 * Host, the page's own Origin when the browser sends one, and a JSON
 * body; then the caller's gui_api_fn, in a worker thread (start_job()).
 * Other local pages cannot read the token (same-origin policy) and cannot
 * send the header without a CORS preflight, which this server never grants. */
static enum MHD_Result api_answer(gui_srv_t *s, struct MHD_Connection *c, const char *method,
                                  const char *upload, size_t *upload_n, void **req)
{
    gui_upload_t *u = *req;
    if (u && u->started) {
        /* resumed by its worker: send the answer */
        enum MHD_Result rc = u->out ? api_reply(c, (unsigned)u->status, u->out, u->out_n, NULL)
                                    : api_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, 0,
                                                "{\"error\":\"out of memory\"}");
        u->out = NULL; /* api_reply took it */
        *req = NULL;
        upload_free(u);
        return rc;
    }
    if (!u) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return api_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, "{\"error\":\"only POST\"}");
        if (!(u = calloc(1, sizeof *u)))
            return MHD_NO;
        *req = u;
        return MHD_YES;
    }
    if (*upload_n > 0) {
        if (u->n + *upload_n > GUI_API_MAX_BODY)
            u->too_big = true;
        else {
            char *p = realloc(u->p, u->n + *upload_n + 1);
            if (!p)
                return MHD_NO;
            memcpy(p + u->n, upload, *upload_n);
            u->p = p;
            u->n += *upload_n;
            p[u->n] = 0;
        }
        *upload_n = 0;
        return MHD_YES;
    }
    /* the whole body is here: judge the request */
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Scalene-Token");
    enum MHD_Result rc;
    bool origin_ok = !origin || (strncmp(origin, "http://", 7) == 0 && host && strcasecmp(origin + 7, host) == 0);
    if (!host || !host_ok(s, host) || !origin_ok)
        rc = api_reply(c, MHD_HTTP_FORBIDDEN, NULL, 0, "{\"error\":\"forbidden: not this page's origin\"}");
    else if (!same_secret(token, s->g->token))
        rc = api_reply(c, MHD_HTTP_FORBIDDEN, NULL, 0, "{\"error\":\"forbidden: no valid page token\"}");
    else if (!type || strncasecmp(type, "application/json", 16) != 0)
        rc = api_reply(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, 0, "{\"error\":\"send application/json\"}");
    else if (u->too_big || !u->p)
        rc = api_reply(c, MHD_HTTP_BAD_REQUEST, NULL, 0, "{\"error\":\"no body, or too big\"}");
    else {
        u->c = c;
        if (start_job(s, u))
            return MHD_YES; /* the worker resumes the connection with the answer */
        rc = api_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, 0,
                       "{\"error\":\"busy: other proposals are being asked; try again when one is done\"}");
    }
    *req = NULL;
    upload_free(u);
    return rc;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a proposal request cut short leaves its body. */
static void api_done(void *cls, struct MHD_Connection *c, void **req, enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    gui_upload_t *u = *req;
    if (u) {
        upload_free(u);
        *req = NULL;
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_n, void **req)
{
    gui_srv_t *s = cls;
    (void)version;
    if (s->g->api && strcmp(url, GUI_API_PATH) == 0)
        return api_answer(s, c, method, upload, upload_n, req);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, s->method);
    if (!host_ok(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
        return MHD_queue_response(c, MHD_HTTP_FORBIDDEN, s->forbidden);
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return MHD_queue_response(c, MHD_HTTP_OK, s->page);
    if (strcmp(url, "/profile.json") == 0 && s->json)
        return MHD_queue_response(c, MHD_HTTP_OK, s->json);
    return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->missing);
}

/* A response over bytes that outlive the daemon (PERSISTENT: no copy). */
static struct MHD_Response *response(const char *body, size_t n, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer") != MHD_YES ||
        /* one request per connection: a kept-alive connection would let
         * its next head trickle into MHD past the front */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static void srv_free(gui_srv_t *s)
{
    pthread_mutex_destroy(&s->jobs_lock); /* every worker was joined */
    struct MHD_Response *all[] = {s->page, s->json, s->missing, s->forbidden, s->method};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i])
            MHD_destroy_response(all[i]);
}

static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    while (path && *path) {
        size_t k = strcspn(path, ":");
        if (k > 0 && snprintf(buf, sizeof buf, "%.*s/%s", (int)k, path, name) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return true;
        path += k + (path[k] == ':');
    }
    return false;
}

/* The browser command as a sh script that gets the URL as "$1": the first
 * entry of $BROWSER (entries are ':'-separated, "%s" stands for the URL)
 * whose program exists, else xdg-open when there is a display to open on.
 * Returns false when no browser is set up. */
static bool browser_script(char *out, size_t n)
{
    const char *b = getenv("BROWSER");
    const char *disp = getenv("DISPLAY"), *way = getenv("WAYLAND_DISPLAY");

    while (b && *b) {
        size_t k = strcspn(b, ":"), o = 0;
        char prog[PATH_MAX];
        size_t w = strcspn(b, ": \t");
        bool subst = false;
        if (w > 0 && w < sizeof prog) {
            memcpy(prog, b, w);
            prog[w] = '\0';
            if (on_path(prog)) {
                for (size_t i = 0; i < k && o + 8 < n; i++) {
                    if (b[i] == '%' && i + 1 < k && b[i + 1] == 's') {
                        memcpy(out + o, "\"$1\"", 4);
                        o += 4;
                        i++;
                        subst = true;
                    } else if (b[i] == '%' && i + 1 < k && b[i + 1] == '%') {
                        out[o++] = '%';
                        i++;
                    } else {
                        out[o++] = b[i];
                    }
                }
                if (!subst && o + 6 < n) {
                    memcpy(out + o, " \"$1\"", 5);
                    o += 5;
                }
                out[o] = '\0';
                return true;
            }
        }
        b += k + (b[k] == ':');
    }
    if (((disp && *disp) || (way && *way)) && on_path("xdg-open")) {
        snprintf(out, n, "exec xdg-open \"$1\"");
        return true;
    }
    return false;
}

/* Starts the browser detached (its own session, a grandchild we need not
 * wait for, nothing of ours inherited). Failure is silent: the URL is on
 * the screen already. The server thread runs, so the child calls only
 * async-signal-safe functions; everything it needs is built before fork. */
static void open_browser(const char *url)
{
    char script[PATH_MAX + 64];
    if (!browser_script(script, sizeof script))
        return;
    char *argv[] = {"sh", "-c", script, "sh", (char *)url, NULL};
    sigset_t none;
    sigemptyset(&none);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        sigprocmask(SIG_SETMASK, &none, NULL); /* ours blocks SIGINT/SIGTERM; exec keeps masks */
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1); /* browsers chatter; the terminal is ours */
            dup2(fd, 2);
        }
        close_range(3, ~0u, 0);
        if (fork() == 0) {
            execve("/bin/sh", argv, environ);
            _exit(127);
        }
        _exit(0);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* ------------------------------------------------------------ the front */

typedef struct gui_pend {
    int fd;
    uint64_t t0_ms; /* accepted */
    struct sockaddr_in addr;
} gui_pend_t;

typedef enum gui_head { GUI_HEAD_MORE, GUI_HEAD_DONE, GUI_HEAD_BAD, GUI_HEAD_BIG } gui_head_t;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* RFC 9110 tchar: the method's characters. */
static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* "METHOD SP target SP HTTP/d.d" (the "\r" before "\n" already cut). */
static bool request_line_ok(const unsigned char *l, size_t n)
{
    size_t i = 0;
    while (i < n && tchar(l[i]))
        i++;
    if (i == 0 || i >= n || l[i++] != ' ')
        return false;
    size_t t = i;
    while (i < n && l[i] > ' ' && l[i] < 0x7f)
        i++;
    if (i == t || i >= n || l[i++] != ' ')
        return false;
    return n - i == 8 && memcmp(l + i, "HTTP/", 5) == 0 && l[i + 5] >= '0' && l[i + 5] <= '9' && l[i + 6] == '.' &&
           l[i + 7] >= '0' && l[i + 7] <= '9';
}

/* Judges the first n bytes a connection sent: a bad request line or a
 * control byte is BAD at once; a head that ends (an empty line) is DONE;
 * GUI_HEAD_MAX bytes without an end are BIG. Header lines themselves are
 * MHD's to parse. */
static gui_head_t head_check(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((b[i] < ' ' && b[i] != '\r' && b[i] != '\n' && b[i] != '\t') || b[i] == 0x7f)
            return GUI_HEAD_BAD;
    const unsigned char *nl = memchr(b, '\n', n);
    if (!nl)
        return n >= GUI_HEAD_MAX ? GUI_HEAD_BIG : GUI_HEAD_MORE;
    size_t ln = (size_t)(nl - b);
    if (!request_line_ok(b, ln > 0 && b[ln - 1] == '\r' ? ln - 1 : ln))
        return GUI_HEAD_BAD;
    for (size_t i = ln + 1; i < n; i++) {
        /* an empty line: "\n" right after the previous "\n", or "\r\n" */
        if (b[i] == '\n' && (b[i - 1] == '\n' || (b[i - 1] == '\r' && b[i - 2] == '\n')))
            return GUI_HEAD_DONE;
    }
    return n >= GUI_HEAD_MAX ? GUI_HEAD_BIG : GUI_HEAD_MORE;
}

/* Answers a head the front refuses and closes. What the client sent is
 * read first: closing with unread bytes would reset the connection and
 * could lose the answer. Non-blocking: a client that does not read gets
 * what fits. */
static void refuse(int fd, int status)
{
    static const char r400[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
    static const char r408[] = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 16\r\nConnection: close\r\n\r\nrequest timeout\n";
    static const char r431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; "
                               "charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\nrequest head too big\n";
    const char *r = status == 400 ? r400 : status == 408 ? r408 : r431;
    size_t n = status == 400 ? sizeof r400 - 1 : status == 408 ? sizeof r408 - 1 : sizeof r431 - 1;
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    if (send(fd, r, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing to do: the connection goes anyway */
    }
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void pend_drop(gui_pend_t *p, size_t *np, size_t i, int ep, int status)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, p[i].fd, NULL);
    if (status)
        refuse(p[i].fd, status);
    else
        close(p[i].fd);
    p[i] = p[--*np];
}

/* Looks at what connection i has sent so far (MSG_PEEK: MHD reads it
 * again) and hands a complete, valid head to MHD. */
static void pend_check(gui_pend_t *p, size_t *np, size_t i, int ep, struct MHD_Daemon *d)
{
    static unsigned char buf[GUI_HEAD_MAX];
    ssize_t n = recv(p[i].fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        pend_drop(p, np, i, ep, 0); /* closed before sending a whole head */
        return;
    }
    switch (head_check(buf, (size_t)n)) {
    case GUI_HEAD_MORE:
        return;
    case GUI_HEAD_BAD:
        pend_drop(p, np, i, ep, 400);
        return;
    case GUI_HEAD_BIG:
        pend_drop(p, np, i, ep, 431);
        return;
    case GUI_HEAD_DONE:
        break;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, p[i].fd, NULL);
    /* MHD owns the socket from here, and closes it if it cannot take it
     * (at its connection limit) */
    MHD_add_connection(d, p[i].fd, (const struct sockaddr *)&p[i].addr, sizeof p[i].addr);
    p[i] = p[--*np];
}

static size_t pend_find(const gui_pend_t *p, size_t np, int fd)
{
    for (size_t i = 0; i < np; i++)
        if (p[i].fd == fd)
            return i;
    return np;
}

/* Accepts every waiting connection into the front. */
static void front_accept(int lfd, gui_pend_t *p, size_t *np, int ep, struct MHD_Daemon *d)
{
    for (;;) {
        struct sockaddr_in a;
        socklen_t alen = sizeof a;
        int fd = accept4(lfd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        bool full = fd < 0 && (errno == EMFILE || errno == ENFILE);
        if (fd < 0 && !(full && *np > 0))
            return; /* EAGAIN (or out of descriptors with none of ours to free) */
        if (full || *np == GUI_PENDING_MAX) {
            /* the oldest head makes room: a real client sent its own long ago */
            size_t old = 0;
            for (size_t i = 1; i < *np; i++)
                if (p[i].t0_ms < p[old].t0_ms)
                    old = i;
            pend_drop(p, np, old, ep, 408);
            if (full)
                continue; /* a descriptor is free now: accept again */
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        p[*np] = (gui_pend_t){.fd = fd, .t0_ms = now_ms(), .addr = a};
        (*np)++;
        pend_check(p, np, *np - 1, ep, d); /* its head may be here already */
    }
}

/* The front's loop: until SIGINT, SIGTERM or SIGHUP arrives on sfd.
 * Returns 0, or -errno if epoll fails. */
static int front_run(int lfd, int sfd, struct MHD_Daemon *d)
{
    static gui_pend_t p[GUI_PENDING_MAX];
    size_t np = 0;
    int rc = 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    struct epoll_event es = {.events = EPOLLIN, .data.fd = sfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &es) != 0) {
        rc = -errno;
        close(ep);
        return rc;
    }
    for (;;) {
        uint64_t now = now_ms();
        int wait = -1;
        for (size_t i = 0; i < np; i++) {
            uint64_t end = p[i].t0_ms + GUI_HEAD_DEADLINE_MS;
            int left = end > now ? (int)(end - now) : 0;
            if (wait < 0 || left < wait)
                wait = left;
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, wait);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        bool stop = false;
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == sfd) {
                /* read, so the signal is not delivered again once unblocked */
                struct signalfd_siginfo si;
                stop = read(sfd, &si, sizeof si) == (ssize_t)sizeof si;
            } else if (fd == lfd) {
                front_accept(lfd, p, &np, ep, d);
            } else {
                size_t i = pend_find(p, np, fd);
                if (i < np)
                    pend_check(p, &np, i, ep, d);
            }
        }
        if (stop)
            break;
        now = now_ms();
        for (size_t i = 0; i < np;)
            if (now - p[i].t0_ms >= GUI_HEAD_DEADLINE_MS)
                pend_drop(p, &np, i, ep, 408);
            else
                i++;
    }
    while (np > 0)
        pend_drop(p, &np, 0, ep, 0);
    close(ep);
    return rc;
}

int gui_serve(const gui_t *g, const char *download, size_t download_len, bool browser)
{
    gui_srv_t s = {.page = NULL, .g = g};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    sigset_t stop, old;
    struct MHD_Daemon *d;
    int fd, sfd, rc = 0;
    char url[64];

    atomic_init(&s.x_stop, false);
    pthread_mutex_init(&s.jobs_lock, NULL);
    for (size_t i = 0; i < GUI_API_JOBS; i++)
        atomic_init(&s.jobs[i].x_done, false);
    if (!g->page)
        return -EINVAL;
    /* Our own socket, not MHD's port option: it binds 127.0.0.1 only, and
     * getsockname() tells which free port the kernel chose. The front
     * accepts on it; MHD gets each connection once its request head is in. */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    unsigned port = ntohs(a.sin_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    snprintf(s.host_ip, sizeof s.host_ip, "127.0.0.1:%u", port);
    snprintf(s.host_name, sizeof s.host_name, "localhost:%u", port);

    static const char nf[] = "not found\n", fb[] = "forbidden: use the 127.0.0.1 address\n",
                      na[] = "only GET and HEAD\n";
    s.page = response(g->page, g->page_n, "text/html; charset=utf-8");
    s.json = download ? response(download, download_len, "application/json") : NULL;
    s.missing = response(nf, sizeof nf - 1, "text/plain; charset=utf-8");
    s.forbidden = response(fb, sizeof fb - 1, "text/plain; charset=utf-8");
    s.method = response(na, sizeof na - 1, "text/plain; charset=utf-8");
    if (!s.page || (download && !s.json) || !s.missing || !s.forbidden || !s.method ||
        MHD_add_response_header(s.method, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
        srv_free(&s);
        close(fd);
        return -ENOMEM;
    }

    /* Blocked before MHD starts its thread, which inherits the mask: the
     * signal then waits for the front's signalfd instead of killing us or
     * landing in the server thread. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    sfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    d = sfd < 0 ? NULL
                : MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
                                                        MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
                                   NULL, answer, &s, MHD_OPTION_CONNECTION_TIMEOUT, GUI_CONN_TIMEOUT_S,
                                   MHD_OPTION_CONNECTION_LIMIT, GUI_CONN_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                   (size_t)GUI_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, api_done, NULL,
                                   MHD_OPTION_END);
    if (!d) {
        rc = errno ? -errno : -EIO;
        if (sfd >= 0)
            close(sfd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        srv_free(&s);
        close(fd);
        return rc;
    }
    printf("Serving the profile view at %s (Ctrl-C to stop)\n", url);
    fflush(stdout);
    if (browser)
        open_browser(url);
    rc = front_run(fd, sfd, d);
    /* release: pairs with the acquire in ai.c's on_progress(), via gui_api_fn's stop */
    atomic_store_explicit(&s.x_stop, true, memory_order_release);
    reap_jobs(&s, true); /* they stop within a second and resume their connections; MHD
                          * must have no suspended connection when it stops */
    MHD_stop_daemon(d);
    close(fd);
    close(sfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    srv_free(&s);
    return rc;
}
