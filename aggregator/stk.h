/* SPDX-License-Identifier: Apache-2.0
 * stk.h — call stacks (--stacks): each process numbers the stacks its
 * sampler sees and defines each number once with REC_STACK records; its CPU
 * samples then carry the number (REC_CPU aux). This module keeps, per
 * process, the definitions and the time charged to each stack, and merges
 * equal stacks over processes for the report.
 *
 * Threads: the drain thread writes (stk_define, stk_charge); a report
 * (final, or a periodic one from another thread) reads (stk_each,
 * stk_each_merged). One mutex guards all: a report walks a few thousand
 * stacks at most once a second, so the drain never waits long, and stack
 * records are a small share of all records.
 */
#ifndef SCALENE_STK_H
#define SCALENE_STK_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

typedef struct stk stk_t;

/* One frame, outermost first in a stack: Python frames, then (--native)
 * the C frames under the Python leaf. func_id == 0 with file_id == 0 is the
 * "deeper frames were cut" marker at position 0. */
typedef struct stk_frame {
    uint64_t file_id, func_id; /* native: the module and the function (or "[module]") */
    uint32_t line, func_line;  /* 0 for a native frame */
    uint64_t offset;           /* native: the function's start in its module, 0 if unknown */
    uint32_t native;           /* a C frame (--native) */
    uint32_t pad;              /* 0: frames are compared with memcmp */
} stk_frame_t;

/* Time the line tables charged for the samples of one stack. */
typedef struct stk_stats {
    uint64_t count;                        /* samples */
    uint64_t python_ns, native_ns, sys_ns; /* their split; the sum is the stack's time */
} stk_stats_t;

/* Memory charged to one stack (allocation samples of --stacks runs): bytes
 * allocated, and bytes of those freed before the process finalized (so
 * alloc - freed is what the stack still held at the end). */
typedef struct stk_mem {
    uint64_t alloc, freed;
    uint64_t count; /* allocation samples */
} stk_mem_t;

stk_t *stk_new(void);
void stk_free(stk_t *s);

/* A REC_STACK record of process pid. Context: drain thread. */
void stk_define(stk_t *s, int32_t pid, const rec_t *r);

/* A CPU sample of pid on stack number num (REC_CPU aux), with the time the
 * line tables charged for it. Unknown or incomplete numbers (a definition
 * record dropped by a full ring) are counted as lost. Context: drain thread. */
void stk_charge(stk_t *s, int32_t pid, uint16_t num, uint64_t python_ns, uint64_t native_ns, uint64_t sys_ns);

typedef void (*stk_fn)(const stk_frame_t *frames, uint32_t n, const stk_stats_t *st, void *arg);

/* Calls fn for each stack of pid that has samples, in a stable order (by
 * first appearance); with more than max of them, only the max with the
 * most time (a server can see tens of thousands of distinct stacks; the
 * report stays readable). Returns how many were left out. fn must not call
 * back into stk_. */
size_t stk_each(stk_t *s, int32_t pid, size_t max, stk_fn fn, void *arg);

/* Calls fn for each distinct stack over all processes, its stats summed,
 * hottest first, at most max of them. Returns how many were left out. */
size_t stk_each_merged(stk_t *s, size_t max, stk_fn fn, void *arg);

/* An allocation sample (freed == 0) or the free of a sampled block
 * (alloc == 0) of pid on stack number num (REC_MEM aux): the same numbers
 * as the CPU samples'. Unknown numbers are dropped (the lines still count
 * the bytes). Context: drain thread. */
void stk_charge_mem(stk_t *s, int32_t pid, uint16_t num, uint64_t alloc, uint64_t freed);

typedef void (*stk_mem_fn)(const stk_frame_t *frames, uint32_t n, const stk_mem_t *m, void *arg);

/* Calls fn for each stack with allocations, of process pid (pid >= 0) or
 * merged over processes by content (pid < 0), most bytes allocated first,
 * at most max of them. Returns how many were left out. */
size_t stk_each_mem(stk_t *s, int32_t pid, size_t max, stk_mem_fn fn, void *arg);

/* Samples whose stack was unknown (see stk_charge). */
uint64_t stk_lost(stk_t *s);

#endif
