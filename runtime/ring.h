/* SPDX-License-Identifier: Apache-2.0
 * ring.h — the shared segment: a header, a config block, and one bounded
 * MPSC ring of fixed-size records per process ("slot"). The aggregator
 * creates the segment in a sealed memfd; every profiled process maps it and
 * claims a slot of its own, so a busy or dead process can neither starve nor
 * corrupt another's records.
 *
 * Synchronization table (who may run concurrently with whom):
 *
 *   operation         | caller                  | concurrent with
 *   ------------------+-------------------------+----------------------------------
 *   ring_create       | aggregator, once        | nothing (before the program starts)
 *   ring_attach       | each process, once      | everything
 *   ring_claim        | a process (or its child | other ring_claim (CAS on x_owner),
 *                     | after fork)             | ring_release of other slots
 *   ring_put          | any thread of the owner | ring_put (same slot: CAS on x_head),
 *                     |                         | ring_drain (same slot)
 *   ring_drain        | one aggregator thread   | ring_put; never with itself on a slot
 *   ring_release      | the slot's drain thread | ring_claim of other slots; the owner
 *                     |                         | must be dead
 *
 * Invariants:
 *   - the cell for position pos holds seq == pos when free for the producer,
 *     seq == pos+1 when published, seq == pos+cap once consumed.
 *   - x_tail <= x_head; records are consumed in position order.
 *   - attempts (reserved + refused) == received + dropped + torn + invalid
 *     once the owner is dead and the slot drained (the stress test checks
 *     exactly this; invalid is 0 unless something overwrote the segment).
 *
 * Trust. Every profiled process maps the segment read-write, C extensions
 * with stray pointers included, so nothing in it is trusted after creation:
 * each handle keeps its own checked copy of the geometry and the config;
 * the reader keeps its own position per slot, reads at most tail + cap
 * cells per slot and call, and quarantines a slot whose x_head leaves
 * [tail, tail + cap] (nothing more is read from it; ring_release rebuilds
 * it once its owner is dead). A writer whose cell and x_head disagree
 * drops its record instead of spinning. The records' contents are the
 * decoder's to check (aggregator/tbl.c).
 */
#ifndef SCALENE_RING_H
#define SCALENE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define RING_MAGIC "SCLNSEG1"
#define RING_PATH_MAX 1024u
#define RING_PAT_MAX 448u /* the two pattern lists share what the header page has left */

/* cfg.flags */
#define RING_CFG_VIRTUAL 0x01u      /* --use-virtual-time: count CPU time only */
#define RING_CFG_PROFILE_ALL 0x02u  /* --profile-all: every file is in scope */
#define RING_CFG_CPU_ONLY 0x04u     /* --cpu-only */
#define RING_CFG_SYSLIBS 0x08u      /* --profile-system-libraries: the standard library and packages too */
#define RING_CFG_STACKS 0x10u       /* --stacks: each CPU sample names its thread's call stack */
#define RING_CFG_NATIVE 0x20u       /* --native: and the C frames under a thread running C code */

/* Options every process reads at join. Visible: it is wire format. Written
 * by the aggregator before the program starts, read-only afterwards, so no
 * field needs an atomic. */
typedef struct ring_cfg {
    uint64_t interval_ns;              /* mean CPU sampling interval */
    uint32_t flags;                    /* RING_CFG_* */
    uint32_t pad;
    uint64_t alloc_window;             /* mean bytes between allocation samples; 0: memory off */
    uint64_t copy_window;              /* mean bytes between copy samples; 0: copy volume off */
    char scope[RING_PATH_MAX];         /* ":"-separated dirs: files under them are in scope */
    char self_dir[RING_PATH_MAX];      /* the profiler's own files: never in scope */
    char only[RING_PAT_MAX];           /* --profile-only: ","-separated substrings; a file with one is in scope */
    char exclude[RING_PAT_MAX];        /* --profile-exclude: ","-separated substrings; a file with one is out */
} ring_cfg_t;

typedef struct ring_seg ring_seg_t;

typedef struct ring_slot_info {
    int32_t owner;       /* pid, 0 when free */
    uint64_t attempts;   /* records reserved or refused (x_head - x_base + x_dropped) */
    uint64_t dropped;    /* of those, refused because the ring was full */
    uint64_t torn;       /* claimed by a writer that died before publishing */
    uint64_t consumed;   /* drained so far */
    uint64_t invalid;    /* cells skipped because their sequence was overwritten */
    bool quarantined;    /* the slot broke the ring's rules: no longer read */
} ring_slot_info_t;

/* Creates the segment in a sealed memfd (no shrinking, no growing) and maps
 * it. *fd_out receives the memfd (close-on-exec; children open it through
 * /proc/<pid>/fd/<fd>). Returns NULL with errno set. Caller frees with
 * ring_destroy(). Context: thread. */
ring_seg_t *ring_create(uint32_t nslots, uint32_t cap, const ring_cfg_t *cfg, int *fd_out);

/* Unmaps a segment from ring_create() or ring_attach(), and the handle. */
void ring_destroy(ring_seg_t *seg);

/* Maps an existing segment by path (e.g. "/proc/123/fd/4"). Checks magic,
 * version and size, and keeps its own copy of the geometry and the config.
 * Returns NULL with errno set. Uses only open/fstat/mmap/close, so it is
 * safe in a preload constructor. Context: thread. */
ring_seg_t *ring_attach(const char *path);

/* The handle's own copies, taken at create/attach (a process overwriting
 * the segment later cannot change them). Borrowed; valid until
 * ring_destroy. Context: signal. */
const ring_cfg_t *ring_cfg(const ring_seg_t *seg);
uint64_t ring_t0_ns(const ring_seg_t *seg);
uint32_t ring_nslots(const ring_seg_t *seg);
uint32_t ring_cap(const ring_seg_t *seg); /* cells per slot */

/* Profiling switch shared by all processes (background on/off, issue 6).
 * Context: signal. */
bool ring_enabled(const ring_seg_t *seg);
void ring_set_enabled(ring_seg_t *seg, bool on);

/* Claims a free slot for pid. Returns the slot index, or -ENOSPC (and counts
 * the process as unslotted). Context: child (one CAS per slot tried). */
int ring_claim(ring_seg_t *seg, int32_t pid);

/* The slot pid owns, or -ENOENT: a process that replaced its image with
 * execve() finds the slot its forked self claimed. Context: child. */
int ring_find(const ring_seg_t *seg, int32_t pid);

/* Appends one record to slot. Never blocks: returns 0, or -ENOBUFS when the
 * ring is full (the record is dropped and counted). Lock-free across threads
 * and processes. Context: signal, malloc. */
int ring_put(ring_seg_t *seg, int slot, const rec_t *r);

/* Drains up to max records of slot into out, in order. When owner_dead is
 * true, cells claimed by a writer that died mid-write are skipped and counted
 * as torn; otherwise draining stops at the first unpublished cell. Cells
 * whose sequence no writer can have stored are skipped and counted as
 * invalid. Looks at no more than cap cells whatever the segment holds;
 * returns 0 for a quarantined slot (see Trust above). Returns the number of
 * records copied; their contents are unchecked. One drain thread per slot,
 * always through the same handle (it keeps the position). Context: thread. */
size_t ring_drain(ring_seg_t *seg, int slot, rec_t *out, size_t max, bool owner_dead);

/* Counters and owner of slot, as this handle's reader sees them (owner and
 * dropped are read from the segment: untrusted numbers). Context: thread. */
void ring_slot_info(ring_seg_t *seg, int slot, ring_slot_info_t *info);

/* Processes that found no free slot. Context: thread. */
uint64_t ring_unslotted(const ring_seg_t *seg);

/* Frees a drained slot whose owner is dead for reuse (its counters restart;
 * positions run on); a quarantined slot is rebuilt first (every cell reset).
 * Returns 0, or -EBUSY if records remain. Context: thread. */
int ring_release(ring_seg_t *seg, int slot);

#endif
