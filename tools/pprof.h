/* SPDX-License-Identifier: Apache-2.0
 * pprof.h — `scalene view --pprof` (issue 16): the report as a gzip'd
 * pprof profile.proto, the format `go tool pprof`, Grafana Pyroscope, Parca
 * and Google Cloud Profiler read. Sample types: cpu (the three below summed;
 * the default), cpu_python, cpu_native, cpu_system (nanoseconds),
 * alloc_space and inuse_space (bytes). Labels: host, pid, thread,
 * process_role. With call stacks in the report (--stacks) CPU samples are
 * the stacks, one per process; otherwise one one-frame location per line.
 * Memory is per line. Encoded with libprotobuf-c (tools/profile.proto) and
 * compressed with zlib. Called by tools/view.c after its loader has read the
 * report; never prints on stderr: view.c does, from the message it returns.
 */
#ifndef SCALENE_PPROF_H
#define SCALENE_PPROF_H

#include <stddef.h>

struct json_object;

typedef struct pp_req {
    const char *profile; /* the report's path: for messages and the default output name */
    const char *outfile; /* -o: a path, "-" for stdout, NULL: DIR/NAME.pb.gz for DIR/NAME.json */
} pp_req_t;

/* Writes root (borrowed; the parsed report) as a gzip'd profile.proto.
 * Prints "Wrote PATH" on stdout after a file. Returns the exit status: 0; 2
 * with msg[0..n) set (one line, no "scalene: " prefix) when the report holds
 * no samples to export or the file cannot be written; 1 when stdout cannot
 * be written. Context: thread. */
int pp_run(struct json_object *root, const pp_req_t *req, char *msg, size_t n);

#endif /* SCALENE_PPROF_H */
