/* SPDX-License-Identifier: Apache-2.0
 * rpt.h — the JSON report (json-c), in Scalene's field names plus this
 * project's `processes`, `threads`, `by_process` and `scalene_c` (see
 * docs/REPORT.md), and the short summary printed after a run.
 */
#ifndef SCALENE_RPT_H
#define SCALENE_RPT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nv.h"
#include "tbl.h"

/* A Python process of the run that ran without the runtime (no record of
 * it reached the tables): seen by the aggregator in the process tree. */
typedef struct rpt_child {
    int32_t pid, ppid;
    char *argv;      /* its command line, NUL-separated, argv_len bytes */
    size_t argv_len;
    const char *why; /* what was missing from its environment */
} rpt_child_t;

/* What the report needs beyond the tables. Visible: filled field by field
 * by the aggregator. Strings are borrowed. */
typedef struct rpt_meta {
    const char *program;        /* absolute script path, or "-m module" */
    const char *entrypoint_dir; /* the script's directory ("" for -m) */
    char *const *args;          /* the program's arguments */
    int nargs;
    const char *python;         /* interpreter path, as run */
    const char *python_version; /* its version, "3.11.7" */
    double start_epoch;         /* time() at start */
    uint64_t t0_ns, end_ns;     /* CLOCK_MONOTONIC start and end */
    int32_t main_pid;
    double interval_sec;
    bool virtual_time;
    double cpu_percent_threshold;
    uint64_t unslotted;
    int ncpus;
    bool memory;                /* memory profiling was on (alloc_window != 0) */
    uint64_t alloc_window;      /* ring_cfg_t's, bytes; 0: off */
    uint64_t copy_window;
    nv_t *nv;                   /* the GPU sampler (read with nv_state); NULL: GPU sampling was off */
    const char *gpu_off;        /* why, when nv is NULL */
    double gpu_period_sec;      /* time between NVML polls */
    bool reduced;               /* --reduced-profile: only lines above the thresholds */
    uint64_t malloc_threshold;  /* allocation samples that make a line or file "allocating" */
    bool stacks;                /* --stacks: call stacks per process and merged */
    bool native;                /* --native: C frames in them */
    bool no_leaks;              /* --no-memory-leak-detector: no file gets `leaks` */
    const rpt_child_t *unprofiled; /* Python processes that ran without the runtime */
    size_t nunprofiled;
    const char *stopped;        /* why the run was cut short by a signal; NULL: it was not */
} rpt_meta_t;

/* Writes the report to path atomically (a temporary file in the same
 * directory, then rename). Every string in it comes from the profiled
 * processes and need not be UTF-8: bytes that are not are written as
 * \udcXX escapes (Python's surrogateescape), so the file is always strict
 * JSON (docs/REPORT.md). Returns 0 or -errno. The caller must be
 * registered with RCU. Context: thread. */
int rpt_write(tbl_t *t, const rpt_meta_t *m, const char *path);

/* Prints a few lines about the run and its hottest lines to out. */
void rpt_summary(tbl_t *t, const rpt_meta_t *m, const char *path, FILE *out);

#endif
