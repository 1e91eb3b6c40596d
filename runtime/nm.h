/* SPDX-License-Identifier: Apache-2.0
 * nm.h — names on the wire: sends a string (file, function, thread name) to
 * the process's ring once, as REC_STR chunks, before the first record that
 * uses its id. Shared by the sampler thread and the allocation/copy hooks,
 * so the set of ids already sent is lock-free; two threads racing to send
 * the same name both send it, which is harmless (ids are content hashes).
 */
#ifndef SCALENE_NM_H
#define SCALENE_NM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ring.h"

/* Sends s (n bytes, id = rec_str_id(s, n)) to slot unless this process (or
 * the one it was forked from) sent it already. A chunk refused by a full
 * ring leaves the id unsent, so it is tried again next time.
 * Context: malloc (no allocation, no lock). */
void nm_send(ring_seg_t *seg, int slot, uint64_t id, const char *s, size_t n, pid_t tid, uint64_t now);

#endif
