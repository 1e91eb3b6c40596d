/* SPDX-License-Identifier: Apache-2.0
 * view.h — `scalene view`: reads a profile (this project's format, see
 * docs/REPORT.md, or Scalene's own scalene-profile.json), checks it, and
 * shows it: served as a web page on 127.0.0.1 (tools/gui.c), written as one
 * self-contained HTML file, or printed as tables in the terminal. Called by
 * tools/cli.c; touches nothing but the named files, stdout, stderr and the
 * loopback socket it serves on.
 */
#ifndef SCALENE_VIEW_H
#define SCALENE_VIEW_H

/* Runs `scalene view [--no-browser | --html | --standalone [-o FILE] |
 * --cli [-r|--reduced] [--pid N] [--processes] | --collapsed | --speedscope
 * [--pid N] [-o FILE]] [-h|--help] [profile.json]` (the exports: tools/exp.h);
 * argv[0] is "view". libdir is <prefix>/lib/scalene, where the web view's
 * files are (gui/), or NULL when unknown (then only --cli works). Returns
 * the process exit status: 0 on success (the served mode: once SIGINT,
 * SIGTERM or SIGHUP stopped it), 2 on a usage error, missing web files or
 * a bad profile (after one line on stderr that starts with "scalene: ";
 * the served mode serves a page with that message first, then exits 2 when
 * stopped), 1 when stdout cannot be written. Allocates and frees everything it uses; no
 * global state, so it may be called again.
 * Context: thread. */
int vw_main(int argc, char **argv, const char *libdir);

#endif /* SCALENE_VIEW_H */
