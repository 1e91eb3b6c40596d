/* SPDX-License-Identifier: Apache-2.0
 * drn.h — the drain: one aggregator thread that empties every process's
 * ring into the tables while the program runs, notices (through pidfds)
 * when a slot's owner has died, takes what it published before it died,
 * and frees the slot for the next process. With a GPU sampler attached
 * (drn_gpu), it also tells the sampler which pids to watch (the slots'
 * owners) and hands its polls to the tables, so the tables keep one writer.
 */
#ifndef SCALENE_DRN_H
#define SCALENE_DRN_H

#include <stdbool.h>
#include <stdint.h>

#include "nv.h"
#include "ring.h"
#include "tbl.h"

typedef struct drn drn_t;

/* Starts the drain thread, passing over all slots every period_ns.
 * Returns NULL with errno set. Context: thread. */
drn_t *drn_start(ring_seg_t *seg, tbl_t *tbl, uint64_t period_ns);

/* A drain without its thread, for tests and fuzzing: drn_pass runs one pass
 * over every slot in the calling thread (registered with RCU; no other
 * drain on seg). dead(pid, arg), when not NULL, says whether a slot's owner
 * is gone instead of the kernel. Returns the slots still owned. drn_free
 * frees a drain from drn_new. Context: thread. */
drn_t *drn_new(ring_seg_t *seg, tbl_t *tbl);
int drn_pass(drn_t *d, bool (*dead)(int32_t pid, void *arg), void *arg);
void drn_free(drn_t *d);

/* Attaches the GPU sampler (issue 7): from the next pass on, the drain
 * sends it the live pids and merges its polls. nv stays the caller's; it
 * must outlive drn_stop. Context: thread. */
void drn_gpu(drn_t *d, nv_t *nv);

/* Stops the thread after a last pass, then drains synchronously until every
 * slot is free or wait_ns has passed (a process that is still alive keeps its
 * slot; what it wrote so far is in the tables), merges the GPU sampler's
 * last polls (stop it first, nv_stop) and charges what still waited for
 * them (tbl_gpu_flush). Frees d. Returns the number
 * of slots still owned. The caller must be registered with RCU.
 * Context: thread. */
int drn_stop(drn_t *d, uint64_t wait_ns);

#endif
