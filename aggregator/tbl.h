/* SPDX-License-Identifier: Apache-2.0
 * tbl.h — the aggregator's tables: interned strings, per-process line and
 * function counters, processes and threads. RCU-published lock-free hash
 * tables (liburcu cds_lfht): the drain thread inserts rows and bumps their
 * counters while a reader (the report, a periodic snapshot) walks them
 * without a lock. Rows are never removed during a run; tbl_free() frees all.
 *
 * Memory (issue 4, semantics in docs/MEMORY.md): a line or function row gets
 * a memory block (tbl_mem_t) at its first REC_MEM/REC_COPY record; merged
 * rows (one per file and line or function, all processes together) keep the
 * live memory of the processes alive at the same time, so their peak is the
 * peak of the sum. A process's live memory leaves the run's footprint when
 * the drain sees the last of its records (REC_PROC_EXIT, or tbl_proc_gone).
 * Issue 11: a row's growth (Scalene's n_malloc_mb) counts the rises of its
 * held level, not the samples' gross volume (TBL_HOLD_NS), and timelines
 * keep their peaks and troughs when thinned (tbl_series_t).
 *
 * GPU (issue 7, docs/GPU.md): the drain hands over each NVML poll
 * (tbl_gpu_use per pid, then tbl_gpu_upto); a main-thread CPU sample is
 * charged with its process's GPU use over the same time once the polls
 * cover it, so a line's GPU numbers are those of the time it was running.
 */
#ifndef SCALENE_TBL_H
#define SCALENE_TBL_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "ring.h"
#include "stk.h"

#define TBL_TIMES 100 /* sample times kept per row (reservoir) */
#define TBL_POINTS 100 /* timeline points kept per memory timeline */

/* A bounded timeline of [ns since t0, bytes] that keeps its peaks and troughs
 * (issue 11): time is cut into buckets of `stride` ns from the first point;
 * a closed bucket keeps at most its lowest, its highest and its last point,
 * and when the series is full it is re-cut into buckets at least twice as
 * wide (at most TBL_POINTS/4 over its span), each keeping its lowest and
 * highest point. The first point and the latest value always stay, and the
 * highest and lowest value ever added survive every thinning. Written by
 * the drain (relaxed stores; n last, with a release store), read with
 * tbl_series_read, which returns the points time-sorted. */
typedef struct tbl_point {
    uint64_t t_ns, bytes;
} tbl_point_t;
typedef struct tbl_series {
    uint64_t n;      /* points in use, <= TBL_POINTS */
    uint64_t stride; /* writer-private: bucket width, ns (0: a bucket per distinct time) */
    uint64_t open;   /* writer-private: index of the first point of the last (open) bucket */
    tbl_point_t p[TBL_POINTS];
} tbl_series_t;

/* Growth (issue 11, docs/MEMORY.md "Growth"): Scalene's n_malloc_mb counts a
 * line's net growth, not its gross volume. A row's held `level` follows its
 * live memory down at once, and up only for rises that last: a rise is
 * counted once it has held TBL_HOLD_NS, or at once for one allocation sample
 * of more than 2 allocation windows (a big block, as Scalene's threshold
 * sampler would), or when its process ends holding it. */
#define TBL_HOLD_NS 100000000ull /* 100 ms: a rise held this long is growth */

/* Memory counters of one line or function row (one process's, or merged over
 * all processes). Bytes are the samples' weights (estimates of real bytes).
 * Written by the drain thread with relaxed stores, read with tbl_rd. */
typedef struct tbl_mem {
    uint64_t alloc_bytes, py_bytes; /* sum of allocation samples' weights; Python's part */
    uint64_t volume, py_volume;     /* newly requested bytes they stand for; Python's part */
    uint64_t n_allocs;              /* allocation samples */
    uint64_t n_frees;               /* frees of sampled blocks (realloc moves not counted) */
    uint64_t freed_bytes;           /* weight credited back by those frees */
    uint64_t moved_bytes;           /* weight credited back by realloc moves */
    uint64_t live;                  /* alloc - freed - moved, clamped at 0 (0 once the process ended) */
    uint64_t level;                 /* held level (see TBL_HOLD_NS), <= live but for a realloc's instant; 0 once ended */
    uint64_t growth;                /* the level's rises summed: n_malloc_mb */
    uint64_t n_growth;              /* allocation samples (net of frees) in those rises: n_mallocs */
    uint64_t n_giveback;            /* frees that lowered the level (realloc moves do not) */
    uint64_t peak, peak_ns;         /* highest level and when (ns since t0) */
    uint64_t live_kib_sum, n_live;  /* level (KiB) summed after each sample, and their count: the average */
    uint64_t first_ns, last_ns;     /* first and last allocation sample (ns since t0) */
    uint64_t first_grow_ns, last_grow_ns; /* first and last rise of the level (ns since t0) */
    uint64_t first_level;           /* the level after its first rise */
    uint64_t net_end;               /* live at the end of the processes that ended (FINAL or exit) */
    uint64_t copy_bytes;            /* bytes copied (REC_COPY) */
    tbl_series_t tl;                /* the level over time */
} tbl_mem_t;

/* Counters of one row. Visible because the report reads them: every field
 * is written by the drain thread with uatomic_set/add and read with
 * uatomic_read. */
typedef struct tbl_cpu {
    uint64_t python_ns, native_ns, sys_ns; /* charged time */
    uint64_t cpu_ns;                       /* user+kernel CPU of the samples */
    uint64_t wall_ns;                      /* wall time covered by the samples */
    uint64_t samples;
    uint64_t times[TBL_TIMES]; /* sample times, ns since t0 (reservoir of `samples`) */
} tbl_cpu_t;

/* GPU counters (issue 7, docs/GPU.md). Of a line or function row: the GPU
 * use of its process while its main thread was on this row. Of a process:
 * all its GPU use (wall_ns: the time it used any). Written by the drain
 * thread (relaxed stores), read with tbl_rd. */
typedef struct tbl_gpu {
    uint64_t util_ns;    /* utilisation (GPUs busy, summed over devices) x time, ns */
    uint64_t wall_ns;    /* the time those numbers cover, ns */
    uint64_t mem_mib_us; /* used GPU memory (MiB) x time (us): / wall is the mean */
    uint64_t mem_peak;   /* highest used GPU memory, bytes */
} tbl_gpu_t;

/* pid is 0 in merged rows (tbl_each_merged_*). */
typedef struct tbl_line {
    int32_t pid;
    uint32_t line;
    uint64_t file_id;
    tbl_cpu_t c;
    tbl_mem_t *mem; /* NULL until the first memory record: read with tbl_line_mem */
    tbl_gpu_t g;    /* per-process rows only (merged rows: zero) */
} tbl_line_t;

typedef struct tbl_func {
    int32_t pid;
    uint32_t func_line;
    uint64_t file_id, func_id;
    tbl_cpu_t c;
    tbl_mem_t *mem; /* as in tbl_line_t: read with tbl_func_mem */
    tbl_gpu_t g;
} tbl_func_t;

/* A process's memory: written by the drain thread with uatomic_set, read
 * with tbl_rd (state with uatomic_read). */
#define TBL_MEM_ACTIVE 0u /* memory records count */
#define TBL_MEM_FINAL 1u  /* Python finalizing (REC_M_FINAL): its memory records are ignored */
#define TBL_MEM_GONE 2u   /* ended: its live memory left the footprint */
typedef struct tbl_pmem {
    uint32_t state;                   /* TBL_MEM_* */
    uint64_t live, py_live;           /* sampled live memory; Python's part */
    uint64_t peak, peak_ns;           /* highest live and when (ns since t0) */
    uint64_t net_end;                 /* live when it finalized or ended (summed over execs) */
    uint64_t final_ns;                /* CLOCK_MONOTONIC of its REC_M_FINAL (the last image's); 0: none */
    uint64_t alloc_bytes;             /* weights of its allocation samples */
    uint64_t volume, py_volume;       /* newly requested bytes; Python's part */
    uint64_t noframe_volume;          /* of volume, by threads with no Python frame */
    uint64_t n_allocs, n_frees;       /* samples: allocations, frees (not moves) */
    uint64_t copy_bytes;
    uint64_t rss, rss_peak, n_rss;    /* REC_M_RSS marks: last, highest, how many */
    tbl_series_t tl;                  /* live over time */
    tbl_series_t rss_tl;              /* resident set size over time */
} tbl_pmem_t;

typedef struct tbl_proc {
    int32_t pid, ppid;
    uint64_t argv_id;
    uint64_t exe_id;           /* string id of the binary it runs (tbl_proc_exe); 0 if unknown */
    uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC; 0 if unknown */
    uint32_t pyver;
    uint32_t how;    /* 0 exec'd, 1 forked (REC_PROC_START) */
    bool has_wait;   /* wait_status came from a wait (parent's or ours) */
    int wait_status; /* raw wait status */
    bool has_code;   /* exit_code came from the process's own exit()/_exit() */
    int exit_code;
    uint64_t utime_us, stime_us; /* getrusage at exit, if it exited by itself */
    uint64_t written, dropped, torn;
    /* Broken input (runtime/ring.h, Trust): records the decoder refused
     * (tbl_ingest), cells the ring skipped as overwritten (tbl_slot_stats),
     * and whether its slot was quarantined. */
    uint64_t invalid_recs, invalid_cells;
    bool quarantined;
    /* CPU samples whose time reached no line: no Python frame (interpreter
     * start-up and shut-down, a thread in C only) or none in profile scope;
     * and samples charged where the thread was last seen because its frames
     * could not be read consistently (REC_F_HELD). uatomic_add by the drain. */
    uint64_t unattributed_ns, unattributed_samples, held_samples;
    /* Main-thread time with no Python frame at all, or out of scope before
     * the process's first in-scope sample: the interpreter starting up or
     * shutting down around the program (module teardown after the last
     * line). Not the program's time, so in no total, as in Scalene, which
     * profiles from the program's first line to its exit. */
    uint64_t interpreter_ns;
    /* Main-thread time out of scope before the first sample in scope (ran):
     * start-up once ran is set, else the process's own time. */
    uint64_t pre_py_ns, pre_nat_ns, pre_sys_ns;
    uint64_t ran; /* 0 or 1 */
    tbl_cpu_t c;
    tbl_pmem_t m;
    tbl_gpu_t g;
} tbl_proc_t;

typedef struct tbl_thread {
    int32_t pid, tid;
    uint64_t name_id;
    bool main;
    tbl_cpu_t c;
} tbl_thread_t;

/* The run's memory: the footprint is the live memory of the processes
 * alive at the same time. Filled by tbl_mem_summary. */
typedef struct tbl_msum {
    uint64_t live, py_live;        /* now */
    uint64_t peak, peak_ns;        /* highest footprint and when (ns since t0) */
    uint64_t peak_py_live;         /* Python's part of it then */
    uint64_t peak_file_id;         /* site of the allocation sample that set it; 0 if none */
    uint32_t peak_line;
    uint64_t volume, py_volume;    /* all allocation samples of all processes */
    uint64_t growth;               /* growth of all line rows of all processes (tbl_mem_t.growth) */
    uint64_t noframe_volume;       /* of volume, by threads with no Python frame */
    uint64_t copy_bytes;
    uint64_t records;              /* REC_MEM allocation and free samples */
    uint64_t net_end;              /* live at the end of the processes that ended */
    tbl_series_t tl;               /* the footprint over time (points time-sorted) */
} tbl_msum_t;

typedef struct tbl tbl_t;

/* Returns NULL with errno set. Caller frees with tbl_free(). Context: thread. */
tbl_t *tbl_new(uint64_t t0_ns);
void tbl_free(tbl_t *t);

/* The allocation sampling window (bytes; default AGG's 1 MiB): one sample
 * of more than twice it is growth at once (TBL_HOLD_NS). Call before the
 * first record. Context: thread. */
void tbl_mem_window(tbl_t *t, uint64_t window);

/* Threads that call any tbl_ function must be registered with RCU
 * (rcu_register_thread) for their lifetime. */

/* Merges one record written by process pid. The record comes from shared
 * memory any process can write: one that breaks the format (tbl_rec_ok) is
 * counted in pid's invalid_recs and charged nowhere. Single writer: the
 * drain thread. Context: thread. */
void tbl_ingest(tbl_t *t, int32_t pid, const rec_t *r);

/* Whether r keeps the record format (docs/ARCHITECTURE.md, The record):
 * a known kind, and every length, index and count that a reader would use
 * within its bounds. Pure. Context: signal. */
bool tbl_rec_ok(const rec_t *r);

/* The drain found a slot broken (quarantined) owned by pid: counted once
 * per quarantine; marks pid's process row if it has one (a scribbled owner
 * gets none). Context: thread. */
void tbl_quarantine(tbl_t *t, int32_t pid);

/* Slots quarantined so far in the run. Context: thread. */
uint64_t tbl_quarantined(tbl_t *t);

/* Slot counters of pid (attempts, drops, torn, invalid cells), replacing
 * earlier values. A quarantined slot's counters go only to a row that
 * exists (its owner field may be garbage). */
void tbl_slot_stats(tbl_t *t, int32_t pid, const ring_slot_info_t *info);

/* The binary pid runs, as the kernel names it (/proc/<pid>/exe, read by
 * the drain when it meets the process's REC_PROC_START): interned like a
 * string the runtime sent, the latest one wins (an execve starts again).
 * Single writer, like tbl_ingest: the drain thread. Context: thread. */
void tbl_proc_exe(tbl_t *t, int32_t pid, const char *path);

/* The aggregator (or drain) learnt that pid ended: wait status if has_status,
 * at now_ns. */
void tbl_proc_end(tbl_t *t, int32_t pid, bool has_status, int status, uint64_t now_ns);

/* The drain consumed the last record of pid (its owner is dead and its
 * ring empty): its live memory leaves the run's footprint; each of its rows
 * keeps what it held as its net at end. A no-op if REC_PROC_EXIT did it.
 * Single writer, like tbl_ingest: call from the drain thread only (not from
 * a thread that reaps children: the process's records may still be queued).
 * Context: thread. */
void tbl_proc_gone(tbl_t *t, int32_t pid, uint64_t now_ns);

/* GPU (issue 7). One NVML poll's use by pid over (from, to] (CLOCK_MONOTONIC
 * ns): util_bp in basis points of one GPU summed over devices, mem bytes.
 * Only non-zero uses are given: a pid a poll does not name used nothing.
 * Then tbl_gpu_upto(from, to) closes the poll: the GPU series is complete up
 * to `to`, and the main-thread CPU samples that end by then are charged
 * (later ones wait; the first tbl_gpu_upto turns GPU accounting on).
 * tbl_gpu_flush, at the end, charges the samples still waiting with what is
 * known. Single writer, like tbl_ingest: the drain thread. Context: thread. */
void tbl_gpu_use(tbl_t *t, int32_t pid, uint64_t from, uint64_t to, uint32_t util_bp, uint64_t mem);
void tbl_gpu_upto(tbl_t *t, uint64_t from, uint64_t to);
void tbl_gpu_flush(tbl_t *t);

/* The program's first process: its main thread's off-CPU time is the
 * run's wall clock and always counts. Context: thread. */
void tbl_set_main(tbl_t *t, int32_t pid);

/* The run's call stacks (REC_STACK definitions, charged by REC_CPU aux). */
stk_t *tbl_stk(tbl_t *t);

/* Borrowed text of string id (NUL-terminated), NULL until all chunks came. */
const char *tbl_str(tbl_t *t, uint64_t id, uint32_t *len);

/* Walks every row of a kind under an RCU read lock. Rows are borrowed for
 * the duration of the callback. */
void tbl_each_line(tbl_t *t, void (*fn)(const tbl_line_t *, void *), void *arg);
void tbl_each_func(tbl_t *t, void (*fn)(const tbl_func_t *, void *), void *arg);
void tbl_each_proc(tbl_t *t, void (*fn)(const tbl_proc_t *, void *), void *arg);
void tbl_each_thread(tbl_t *t, void (*fn)(const tbl_thread_t *, void *), void *arg);
/* Merged rows (pid 0): memory of all processes per line / function. */
void tbl_each_merged_line(tbl_t *t, void (*fn)(const tbl_line_t *, void *), void *arg);
void tbl_each_merged_func(tbl_t *t, void (*fn)(const tbl_func_t *, void *), void *arg);

/* The memory block of a row, NULL if it had no memory record. Call inside a
 * tbl_each_* callback; the block stays valid until tbl_free(). */
const tbl_mem_t *tbl_line_mem(const tbl_line_t *l);
const tbl_mem_t *tbl_func_mem(const tbl_func_t *f);

/* Copies the run's memory summary into *out. Context: thread. */
void tbl_mem_summary(tbl_t *t, tbl_msum_t *out);

/* Copies the points of s into out[TBL_POINTS], time-sorted and without
 * repeated times (a snapshot taken while the drain thins the series may
 * repeat a point); returns their number. Context: thread. */
size_t tbl_series_read(const tbl_series_t *s, tbl_point_t *out);

/* CLOCK_MONOTONIC in ns: the clock of every record's t_ns, for the
 * aggregator's own timestamps. Context: thread. */
uint64_t tbl_now_ns(void);

/* A function decorated with @profile (REC_PROFILED): when there is any,
 * the report keeps only the lines of such functions. */
#define TBL_PROF_MAX 4096
typedef struct tbl_prof {
    uint64_t file_id, func_id;
    uint32_t first_line, last_line;
} tbl_prof_t;

/* The @profile functions seen so far, in *out (borrowed, valid until
 * tbl_free); returns their count. Context: thread. */
size_t tbl_profiled(tbl_t *t, const tbl_prof_t **out);

/* Reads a counter of a row published by the drain thread. */
uint64_t tbl_rd(const uint64_t *field);

#endif
