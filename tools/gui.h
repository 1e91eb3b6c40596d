/* SPDX-License-Identifier: Apache-2.0
 * gui.h — the web view of a profile: assembles one self-contained HTML page
 * from the built viewer (gui/dist: index.html, scalene-gui.js,
 * scalene-gui.css) and the profile JSON, then writes it to a file or serves
 * it on 127.0.0.1 with libmicrohttpd. Called by tools/view.c, which has
 * already read and checked the profile; this module knows nothing of its
 * fields. Never makes a network request and never listens beyond loopback.
 */
#ifndef SCALENE_GUI_H
#define SCALENE_GUI_H

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

/* Frees g and its page; NULL is fine. Context: thread. */
void gui_close(gui_t *g);

#endif /* SCALENE_GUI_H */
