/* SPDX-License-Identifier: Apache-2.0
 * drn.h — the drain: one aggregator thread that empties every process's
 * ring into the tables while the program runs, notices (through pidfds)
 * when a slot's owner has died, takes what it published before it died,
 * and frees the slot for the next process.
 */
#ifndef SCALENE_DRN_H
#define SCALENE_DRN_H

#include <stdint.h>

#include "ring.h"
#include "tbl.h"

typedef struct drn drn_t;

/* Starts the drain thread, passing over all slots every period_ns.
 * Returns NULL with errno set. Context: thread. */
drn_t *drn_start(ring_seg_t *seg, tbl_t *tbl, uint64_t period_ns);

/* Stops the thread after a last pass, then drains synchronously until every
 * slot is free or wait_ns has passed (a process that is still alive keeps its
 * slot; what it wrote so far is in the tables). Frees d. Returns the number
 * of slots still owned. The caller must be registered with RCU.
 * Context: thread. */
int drn_stop(drn_t *d, uint64_t wait_ns);

#endif
