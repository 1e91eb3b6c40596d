/* SPDX-License-Identifier: Apache-2.0
 * gui.h — the web view of a profile: assembles one self-contained HTML page
 * from the built viewer (gui/dist: index.html, scalene-gui.js,
 * scalene-gui.css) and the profile JSON, then writes it to a file or serves
 * it on 127.0.0.1 with libmicrohttpd. Called by tools/view.c, which has
 * already read and checked the profile; this module knows nothing of its
 * fields. Never makes a network request and never listens beyond loopback;
 * the served page's proposal endpoint hands requests to tools/view.c.
 */
#ifndef SCALENE_GUI_H
#define SCALENE_GUI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The file names gui_open() reads from its directory. */
#define GUI_TEMPLATE "index.html"
#define GUI_SCRIPT "scalene-gui.js"
#define GUI_STYLE "scalene-gui.css"

typedef struct gui gui_t;

/* Reads the three asset files from dir and checks that the template holds
 * the markers <!--SCALENE:CSS-->, <!--SCALENE:JS--> and <!--SCALENE:DATA-->.
 * Returns a new gui_t (caller frees with gui_close()), or NULL with errno
 * set and a one-line reason (no "scalene: " prefix) in err[0..n).
 * Context: thread. */
gui_t *gui_open(const char *dir, char *err, size_t n);

/* Assembles the page: the markers are replaced by the style, the script
 * (every "</script" written "<\/script", "<!--" "<\!--") and a
 * <script id="scalene-data" type="application/json"> block holding
 * json[0..len) with every "</" written "<\/" and "<!--" "\u003c!--", so no
 * text of the profile can end the block or change how it is parsed. json
 * must be valid JSON; it is copied. A second call replaces the page.
 * Returns 0 or -ENOMEM. Context: thread. */
int gui_build(gui_t *g, const char *json, size_t len);

/* Writes the page built by gui_build() to path, through sf_write().
 * Returns 0 or -errno. Context: thread. */
int gui_write(const gui_t *g, const char *path);


/* Serves the page at / (and download, when not NULL, at /profile.json) on
 * 127.0.0.1, a free port the kernel picks; prints the URL as one line on
 * stdout, starts the user's browser when one is set up ($BROWSER, or
 * xdg-open with a display) unless browser is false, and serves until
 * SIGINT, SIGTERM or SIGHUP. Requests whose Host is not this address are
 * refused (DNS rebinding). download is borrowed until return. Returns 0
 * after such a signal, or -errno when the server cannot start.
 * Context: thread; blocks those signals in the calling thread while it runs. */
int gui_serve(const gui_t *g, const char *download, size_t download_len, bool browser);

/* The page's proposal endpoint (POST GUI_API_PATH, docs/AI.md): fn gets
 * the request's JSON body[0..n) and returns the HTTP status with a new
 * JSON body in *out, *out_n (caller of fn frees *out with free()).
 * stop turns true (release; read it with acquire) when the server is
 * stopping: fn should give up then, as the daemon's thread waits for it.
 * Context: a worker thread of the server's (at most 4 at once; a fifth
 * request gets 503), while the request's connection is suspended, so the
 * server keeps serving; fn may block (it asks a model) and must be
 * thread-safe. gui_serve() joins the workers before it stops. */
typedef int (*gui_api_fn)(void *ctx, const char *body, size_t n, char **out, size_t *out_n, const atomic_bool *stop);

#define GUI_API_PATH "/api/optimize"

/* Turns the endpoint on for gui_serve(): makes a random token and, in
 * the page the next gui_build() assembles, a <script id="scalene-ai"
 * type="application/json"> block holding {"endpoint", "token",
 * "defaults": defaults_json} and a CSP that allows requests to the page's
 * own origin (connect-src 'self'). A request without the token, from
 * another Origin or Host, or not JSON, is refused before fn runs. Only
 * for a served page: a written one must hold no token. ctx is borrowed
 * until gui_serve() returns; defaults_json (valid JSON) is copied.
 * Returns 0, or -ENOMEM, or -errno from getrandom(). Context: thread. */
int gui_set_api(gui_t *g, gui_api_fn fn, void *ctx, const char *defaults_json);

/* Frees g and its page; NULL is fine. Context: thread. */
void gui_close(gui_t *g);

#endif /* SCALENE_GUI_H */
