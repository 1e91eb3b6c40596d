/* SPDX-License-Identifier: Apache-2.0
 * view.h — `scalene view`: reads a profile (this project's format, see
 * docs/REPORT.md, or Scalene's own scalene-profile.json) and prints it as
 * tables in the terminal. Called by tools/cli.c; touches nothing but the
 * named file, stdout and stderr.
 */
#ifndef SCALENE_VIEW_H
#define SCALENE_VIEW_H

/* Runs `scalene view [--cli] [-r|--reduced] [--pid N] [--processes]
 * [--html] [--standalone] [-h|--help] [profile.json]`; argv[0] is "view".
 * Returns the process exit status: 0 on success, 2 on a usage error or a
 * bad profile (after one line on stderr that starts with "scalene: "),
 * 1 when stdout cannot be written. Allocates and frees everything it uses;
 * reentrant (no global state), so it may be called again.
 * Context: thread. */
int vw_main(int argc, char **argv);

#endif /* SCALENE_VIEW_H */
