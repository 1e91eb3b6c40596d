/* SPDX-License-Identifier: Apache-2.0
 * nm.c — the once-per-process string sender (see nm.h). The set of sent ids
 * is an open-addressing table of 64-bit ids with a short probe window; an
 * id is added after all its chunks went out. A forked child inherits the
 * set, which is right: the aggregator's string table is global and the
 * parent already sent those ids.
 */
#include "nm.h"

#include <stdatomic.h>
#include <stdbool.h>

#define NM_SLOTS 8192u /* power of two */
#define NM_PROBE 16u

/* Each slot goes 0 -> id once and never changes again (no removal). */
static _Atomic uint64_t x_nm_sent[NM_SLOTS];

static bool nm_has(uint64_t id)
{
    for (uint32_t i = 0, h = (uint32_t)id; i < NM_PROBE; i++) {
        /* relaxed: a stale 0 only makes us send a string twice */
        uint64_t v = atomic_load_explicit(&x_nm_sent[(h + i) & (NM_SLOTS - 1)], memory_order_relaxed);
        if (v == id)
            return true;
        if (v == 0)
            return false;
    }
    return false;
}

static void nm_add(uint64_t id)
{
    for (uint32_t i = 0, h = (uint32_t)id; i < NM_PROBE; i++) {
        uint64_t want = 0;
        /* relaxed: the id guards no other data (the chunks are in the ring,
         * published by ring_put's own release) */
        if (atomic_compare_exchange_strong_explicit(&x_nm_sent[(h + i) & (NM_SLOTS - 1)], &want, id,
                                                    memory_order_relaxed, memory_order_relaxed) ||
            want == id)
            return;
    }
    /* full neighbourhood: sent again next time, harmless */
}

void nm_send(ring_seg_t *seg, int slot, uint64_t id, const char *s, size_t n, pid_t tid, uint64_t now)
{
    if (id == 0 || !seg || slot < 0 || nm_has(id))
        return;
    for (unsigned k = 0, nch = rec_str_nchunks(n); k < nch; k++) {
        rec_t r;
        rec_str_chunk(&r, id, s, n, k);
        r.h.tid = (uint32_t)tid;
        r.h.t_ns = now;
        if (ring_put(seg, slot, &r) != 0)
            return;
    }
    nm_add(id);
}
