/* SPDX-License-Identifier: Apache-2.0
 * tbl.h — the aggregator's tables: interned strings, per-process line and
 * function counters, processes and threads. RCU-published lock-free hash
 * tables (liburcu cds_lfht): the drain thread inserts rows and bumps their
 * counters while a reader (the report, a periodic snapshot) walks them
 * without a lock. Rows are never removed during a run; tbl_free() frees all.
 */
#ifndef SCALENE_TBL_H
#define SCALENE_TBL_H

#include <stdbool.h>
#include <stdint.h>

#include "record.h"
#include "ring.h"

#define TBL_TIMES 100 /* sample times kept per row (reservoir) */

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

typedef struct tbl_line {
    int32_t pid;
    uint32_t line;
    uint64_t file_id;
    tbl_cpu_t c;
} tbl_line_t;

typedef struct tbl_func {
    int32_t pid;
    uint32_t func_line;
    uint64_t file_id, func_id;
    tbl_cpu_t c;
} tbl_func_t;

typedef struct tbl_proc {
    int32_t pid, ppid;
    uint64_t argv_id;
    uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC; 0 if unknown */
    uint32_t pyver;
    uint32_t how;    /* 0 exec'd, 1 forked (REC_PROC_START) */
    bool has_wait;   /* wait_status came from a wait (parent's or ours) */
    int wait_status; /* raw wait status */
    bool has_code;   /* exit_code came from the process's own exit()/_exit() */
    int exit_code;
    uint64_t utime_us, stime_us; /* getrusage at exit, if it exited by itself */
    uint64_t written, dropped, torn;
    tbl_cpu_t c;
} tbl_proc_t;

typedef struct tbl_thread {
    int32_t pid, tid;
    uint64_t name_id;
    bool main;
    tbl_cpu_t c;
} tbl_thread_t;

typedef struct tbl tbl_t;

/* Returns NULL with errno set. Caller frees with tbl_free(). Context: thread. */
tbl_t *tbl_new(uint64_t t0_ns);
void tbl_free(tbl_t *t);

/* Threads that call any tbl_ function must be registered with RCU
 * (rcu_register_thread) for their lifetime. */

/* Merges one record written by process pid. Single writer: the drain
 * thread. Context: thread. */
void tbl_ingest(tbl_t *t, int32_t pid, const rec_t *r);

/* Slot counters of pid (attempts, drops, torn), replacing earlier values. */
void tbl_slot_stats(tbl_t *t, int32_t pid, const ring_slot_info_t *info);

/* The aggregator (or drain) learnt that pid ended: wait status if has_status,
 * at now_ns. */
void tbl_proc_end(tbl_t *t, int32_t pid, bool has_status, int status, uint64_t now_ns);

/* The program's first process: its main thread's off-CPU time is the
 * run's wall clock and always counts. Context: thread. */
void tbl_set_main(tbl_t *t, int32_t pid);

/* Borrowed text of string id (NUL-terminated), NULL until all chunks came. */
const char *tbl_str(tbl_t *t, uint64_t id, uint32_t *len);

/* Walks every row of a kind under an RCU read lock. Rows are borrowed for
 * the duration of the callback. */
void tbl_each_line(tbl_t *t, void (*fn)(const tbl_line_t *, void *), void *arg);
void tbl_each_func(tbl_t *t, void (*fn)(const tbl_func_t *, void *), void *arg);
void tbl_each_proc(tbl_t *t, void (*fn)(const tbl_proc_t *, void *), void *arg);
void tbl_each_thread(tbl_t *t, void (*fn)(const tbl_thread_t *, void *), void *arg);

/* CLOCK_MONOTONIC in ns: the clock of every record's t_ns, for the
 * aggregator's own timestamps. Context: thread. */
uint64_t tbl_now_ns(void);

/* Reads a counter of a row published by the drain thread. */
uint64_t tbl_rd(const uint64_t *field);

#endif
