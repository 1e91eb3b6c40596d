/* SPDX-License-Identifier: Apache-2.0
 * rt.h — the preload runtime's entry: a constructor that joins the process
 * to the shared segment, and the libc functions it interposes (exit paths
 * and wait family) to record how processes end. The loader runs it; its one
 * function is for the `_scalene` extension (ext.c). Environment it reads: SCALENE_SHM (path of the segment).
 */
#ifndef SCALENE_RT_H
#define SCALENE_RT_H

#include "ring.h"

/* The segment this process joined, NULL if it is not profiled (no
 * SCALENE_SHM, not Python, or no free slot). Borrowed, valid for the
 * process's life. Context: signal. */
ring_seg_t *rt_segment(void);

/* This process's ring slot, -1 if not profiled. Context: signal. */
int rt_slot(void);

#endif
