/* SPDX-License-Identifier: Apache-2.0
 * merge.h — `scalene merge -o OUT REPORT...` (issue 16): one report from the
 * reports of several runs (several hosts, or several runs of one host), in
 * the same format as one run's (docs/REPORT.md, "Merged reports"). Processes
 * keep their host and pid under a key that stays unique when two hosts reuse
 * a pid; lines, functions, memory and stacks combine by the rules that
 * combine one run's processes; times are aligned by the reports' absolute
 * start times. Merging is associative: merge(merge(a, b), c) gives the
 * numbers of merge(a, b, c).
 */
#ifndef SCALENE_MERGE_H
#define SCALENE_MERGE_H

#include <stddef.h>

struct json_object;

/* Merges the parsed reports in[0..n) (borrowed; n >= 1) into a new report,
 * returned in *out (caller frees with json_object_put). Returns 0, or
 * -EINVAL with msg[0..msz) naming the input (by index) and the field that is
 * malformed, or -ENOMEM. Context: thread. */
int mrg_reports(struct json_object *const *in, size_t n, struct json_object **out, char *msg, size_t msz);

/* Turns a compact report (issue 16, docs/REPORT.md "Compact reports": a
 * file's idle lines only in its `source`, stacks as indexes into
 * `stack_frames`) into the full form in place: every line a row, every
 * stack its frames, `combined_stacks` and `stacks` derived from the
 * processes' stacks. A report already full is left as it is. Returns 0 or
 * -ENOMEM. Context: thread. */
int mrg_expand(struct json_object *root);

/* The inverse: a full report made compact in place (a file whose rows are
 * not every line of its source, or a report without per-process stacks,
 * keeps that part full). Returns 0 or -ENOMEM. Context: thread. */
int mrg_compact(struct json_object *root);

/* Runs `scalene merge` (argv[0] is "merge"). Returns the exit status: 0;
 * 2 after one line on stderr ("scalene: ...") for a usage error, an input
 * that cannot be read or is not a report, or an output that cannot be
 * written. Context: thread. */
int mrg_main(int argc, char **argv);

#endif /* SCALENE_MERGE_H */
