/* SPDX-License-Identifier: Apache-2.0
 * agg.h — `scalene run`: the parent process. Creates the shared segment,
 * starts the program with the runtime preloaded, drains while it runs,
 * waits (as a child subreaper) for every descendant, writes the report.
 */
#ifndef SCALENE_AGG_H
#define SCALENE_AGG_H

#include <stdbool.h>
#include <stdint.h>

/* Mean bytes between allocation samples when --allocation-sampling-window
 * is not given (Scalene's default threshold; to be tuned, see
 * docs/MEMORY.md), and between copy samples. */
#define AGG_ALLOC_WINDOW_DEFAULT 1048576ull
#define AGG_COPY_WINDOW_DEFAULT 2097152ull

/* Time between NVML polls (issue 7, docs/GPU.md): a few CPU samples each. */
#define AGG_GPU_PERIOD_NS 15000000ull

/* Options of one run. Visible: tools/cli.c fills it field by field. */
typedef struct agg_opts {
    const char *outfile;      /* report path */
    const char *python;       /* --python: a path, or a name looked up in PATH; NULL: choose (agg_run) */
    const char *host_python;  /* the interpreter `python -m scalene` runs under, NULL if none: the default
                               * before the script's #! and PATH's python3 */
    const char *target;       /* script path, or module name when module */
    bool module;              /* -m */
    char **args;              /* the program's arguments */
    int nargs;
    double interval_sec;      /* --cpu-sampling-rate */
    bool virtual_time;        /* --use-virtual-time */
    bool cpu_only;            /* --cpu-only: also sets both windows to 0 */
    uint64_t alloc_window;    /* --allocation-sampling-window, bytes; 0: memory off */
    uint64_t copy_window;     /* bytes between copy samples; 0: copy volume off */
    bool profile_all;         /* --profile-all */
    const char *program_path; /* --program-path: the scope, instead of the script's dir and cwd */
    double cpu_percent_threshold;
    const char *runtime_lib;  /* absolute path of libscalene.so */
    const char *self_dir;     /* the profiler's own install dir (never in scope) */
    bool quiet;               /* no summary */
    int gpu;                  /* 0: on unless --cpu-only (the default); 1: --gpu; -1: --no-gpu */
    const char *nvml_lib;     /* --nvml-lib; NULL: $SCALENE_NVML_LIB, else libnvidia-ml.so.1 */
    bool off;                 /* --off: profiling starts off (start(), scalene control on) */
    const char *profile_only;    /* --profile-only: ","-separated substrings, NULL: none */
    const char *profile_exclude; /* --profile-exclude */
    bool profile_syslibs;        /* --profile-system-libraries */
    uint64_t malloc_threshold;   /* --malloc-threshold: allocation samples that count as activity */
    bool reduced;                /* --reduced-profile: only lines with activity */
    double profile_interval;     /* --profile-interval: seconds between report rewrites; 0: at the end only */
    bool stacks;                 /* --stacks: each CPU sample names its call stack */
    bool native;                 /* --native: with the C frames under the Python leaf (implies stacks) */
    bool no_leaks;               /* --no-memory-leak-detector */
    bool disable_jit;            /* --disable-jit: JAX_DISABLE_JIT=1 and PYTORCH_JIT=0 for the program */
} agg_opts_t;

/* Runs the program under the profiler. Returns the exit status for
 * `scalene run`: the program's own (128+N when killed by signal N), 128+N
 * when signal N stopped the wait (a third SIGINT/SIGTERM, or SIGQUIT), or 2
 * with one line on stderr for a user error (missing script, syntax error,
 * no interpreter, an interpreter outside record.h's REC_PY_MIN_HEX..MAX_HEX
 * or free-threaded, an -o that cannot be written: all refused before the
 * program runs). *written: whether the final report was written.
 * Context: thread (the process's main thread, which must live until the
 * process exits: the program's PR_SET_PDEATHSIG follows the thread). */
int agg_run(const agg_opts_t *o, bool *written);

#endif
