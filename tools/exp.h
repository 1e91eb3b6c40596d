/* SPDX-License-Identifier: Apache-2.0
 * exp.h — `scalene view --collapsed` and `--speedscope`: the report's call
 * stacks (docs/REPORT.md, `processes[i].stacks`; Scalene's own files: the
 * top-level `stacks`) written as folded stacks for flamegraph.pl, inferno or
 * speedscope, or as a speedscope JSON file. Called by tools/view.c after its
 * loader has read and checked the profile; this module reads only the stack
 * fields and the few names it needs (pid, role, argv, program, entrypoint
 * dir). Never prints on stderr: view.c does, from the message it returns.
 */
#ifndef SCALENE_EXP_H
#define SCALENE_EXP_H

#include <stddef.h>

struct json_object;

typedef enum exp_format { EXP_COLLAPSED, EXP_SPEEDSCOPE } exp_format_t;

/* What the folded lines weigh (--collapsed): CPU time (the default), MB
 * allocated (--memory) or MB still live at the end (--memory=live), both in
 * bytes. A speedscope file holds them all: each process's CPU profile, then
 * its memory profiles (unit "bytes") when the report has memory stacks. */
typedef enum exp_what { EXP_CPU, EXP_MEM_ALLOC, EXP_MEM_LIVE } exp_what_t;

/* What to export. A plain struct because view.c fills it from its options,
 * one field per option, and nothing outlives the call. */
typedef struct exp_req {
    exp_format_t format;
    const char *profile; /* the profile's path: for messages and the default output name */
    const char *outfile; /* -o: a path, "-" for stdout, NULL for the format's default */
    long long pid;       /* --pid: only this process (> 0); 0 for all */
    exp_what_t what;     /* --collapsed: which weights; EXP_CPU for --speedscope */
} exp_req_t;

/* Writes the stacks of root (borrowed; the parsed profile) in req->format:
 * collapsed text goes to stdout by default, speedscope JSON to
 * DIR/NAME.speedscope.json for DIR/NAME.json. A file is written through a
 * temporary file renamed into place, then "Wrote PATH" is printed on stdout.
 * Returns the exit status: 0; 2 with msg set when the profile has no call
 * stacks (a run without --stacks; for --memory: no memory stacks), when
 * its stack data is malformed (msg
 * names the field) or when the file cannot be written; 1 when stdout cannot
 * be written. msg[0..n) is one line without the "scalene: " prefix.
 * Context: thread. */
int exp_run(struct json_object *root, const exp_req_t *req, char *msg, size_t n);

#endif /* SCALENE_EXP_H */
