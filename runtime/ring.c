/* SPDX-License-Identifier: Apache-2.0
 * ring.c — shared segment and per-process MPSC rings (see ring.h for the
 * synchronization table). Linked into the preload runtime (writer side) and
 * the aggregator (reader side).
 *
 * Design. Each slot is a bounded ring of 64-byte cells in the style of
 * Vyukov's bounded queue: a cell carries a sequence word next to its record.
 * A producer reserves position pos by CAS on x_head when the cell's sequence
 * equals pos, copies the record, then publishes by storing seq = pos+1 with
 * release. The single consumer takes the cell when it reads seq == pos+1
 * (acquire), copies it out, and hands the cell back to producers of the next
 * lap by storing seq = pos+cap (release).
 *
 * Why this and not a byte ring with a head/tail pair: producers in several
 * threads (and, for memory records, inside malloc) must never wait for each
 * other, and a producer SIGKILLed between reserve and publish must not hide
 * the records behind it. With per-cell sequences the consumer sees exactly
 * which cell is unpublished; once the owner is known dead it skips that cell
 * (counted as torn) and keeps every published record after it.
 *
 * A full ring drops the new record and counts it (x_dropped): the program
 * never blocks on the profiler.
 *
 * There is no attempts counter: attempts are x_head - x_base + x_dropped,
 * each write counted by the very atomic that decides its fate (the CAS that
 * reserves it, or the increment that records its drop). A separate counter
 * bumped on entry broke "attempts == consumed + dropped + torn" whenever a
 * writer was SIGKILLed between the bump and that decision (tests/unit/
 * test_ring.c, kill trials), and cost producers one more contended RMW.
 *
 * Atomics across processes need lock-free 64-bit operations, checked below.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to share across processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free to share across processes");

#define CELL_SIZE 64u
#define SEG_HDR_SIZE 4096u
#define SLOT_HDR_SIZE 192u

typedef struct cell {
    /* writer: producer (release, publishes rec) and consumer (release, frees
     * the cell); reader: both (acquire). Partner operations are named at each
     * access. */
    _Atomic uint64_t x_seq;
    rec_t rec;
} cell_t;
_Static_assert(sizeof(cell_t) == CELL_SIZE, "cell is one cache line");

/* One per process. Lines are split so producers (x_head) and the consumer
 * (x_tail) do not share a cache line. */
typedef struct slot {
    /* 0 = free. Written by ring_claim (CAS, acquire: sees the reset done by
     * ring_release) and ring_release (release store). Read by the drain. */
    _Atomic int32_t x_owner;
    uint32_t pad0;
    /* Written by producers (relaxed: statistics, read after the owner died). */
    _Atomic uint64_t x_dropped;
    char pad1[64 - 16];
    /* Next position to reserve. Written by producers (CAS, relaxed: the cell
     * sequence carries the ordering), read by the drain (acquire). */
    _Atomic uint64_t x_head;
    char pad2[64 - 8];
    /* Next position to consume and skipped cells. Written only by the drain;
     * relaxed loads elsewhere are statistics. */
    _Atomic uint64_t x_tail;
    _Atomic uint64_t x_torn;
    /* x_tail when the slot was last released: positions run on across
     * owners, so a released ring needs no reset. Written by the drain. */
    _Atomic uint64_t x_base;
    char pad3[64 - 24];
} slot_t;
_Static_assert(sizeof(slot_t) == SLOT_HDR_SIZE, "slot header size");

struct ring_seg {
    char magic[8];
    uint32_t version;
    uint32_t rec_size;
    uint32_t nslots;
    uint32_t cap; /* cells per slot, a power of two */
    uint64_t size;
    uint64_t t0_ns; /* aggregator's CLOCK_MONOTONIC at creation */
    /* Profiling switch: written by the aggregator/control tools (release),
     * read by samplers (acquire) before each tick. */
    _Atomic uint32_t x_enabled;
    /* Processes that found no free slot: written by ring_claim (relaxed,
     * statistics), read by the report. */
    _Atomic uint32_t x_unslotted;
    ring_cfg_t cfg;
};
_Static_assert(sizeof(struct ring_seg) <= SEG_HDR_SIZE, "segment header fits its page");

static slot_t *slot_at(const ring_seg_t *seg, int i)
{
    return (slot_t *)((char *)seg + SEG_HDR_SIZE + (size_t)i * SLOT_HDR_SIZE);
}

static cell_t *cells_of(const ring_seg_t *seg, int i)
{
    size_t hdrs = SEG_HDR_SIZE + (size_t)seg->nslots * SLOT_HDR_SIZE;
    hdrs = (hdrs + 4095u) & ~(size_t)4095u;
    return (cell_t *)((char *)seg + hdrs + (size_t)i * seg->cap * CELL_SIZE);
}

static size_t seg_size(uint32_t nslots, uint32_t cap)
{
    size_t hdrs = SEG_HDR_SIZE + (size_t)nslots * SLOT_HDR_SIZE;
    hdrs = (hdrs + 4095u) & ~(size_t)4095u;
    return hdrs + (size_t)nslots * cap * CELL_SIZE;
}

/* Cell sequences are stored minus the cell's index, so the all-zero memory
 * of a fresh memfd already means "cell k is free for position k": creating
 * the segment touches no ring page, and a slot costs memory only once a
 * process writes to it. */
static uint64_t seq_load(cell_t *c, uint64_t k, memory_order mo) { return atomic_load_explicit(&c->x_seq, mo) + k; }
static void seq_store(cell_t *c, uint64_t k, uint64_t seq, memory_order mo) { atomic_store_explicit(&c->x_seq, seq - k, mo); }

ring_seg_t *ring_create(uint32_t nslots, uint32_t cap, const ring_cfg_t *cfg, int *fd_out)
{
    if (nslots == 0 || cap < 2 || (cap & (cap - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = seg_size(nslots, cap);
    int fd = sys_memfd("scalene-ring");
    if (fd < 0)
        return NULL;
    if (ftruncate(fd, (off_t)size) != 0)
        goto fail;
    /* A child that truncates the file would SIGBUS every process mapping it. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        goto fail;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    ring_seg_t *seg = p;
    memcpy(seg->magic, RING_MAGIC, 8);
    seg->version = REC_VERSION;
    seg->rec_size = REC_SIZE;
    seg->nslots = nslots;
    seg->cap = cap;
    seg->size = size;
    seg->t0_ns = sys_now_ns();
    if (cfg)
        seg->cfg = *cfg;
    atomic_store_explicit(&seg->x_enabled, 1, memory_order_release);
    *fd_out = fd;
    return seg;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return NULL;
}

void ring_destroy(ring_seg_t *seg)
{
    if (seg)
        munmap(seg, seg->size);
}

ring_seg_t *ring_attach(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    ring_seg_t *seg = NULL;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < SEG_HDR_SIZE) {
        errno = EINVAL;
        goto out;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto out;
    seg = p;
    /* The header comes from another process: check the geometry before
     * any size is computed from it (a zero or huge count could wrap). */
    if (memcmp(seg->magic, RING_MAGIC, 8) != 0 || seg->version != REC_VERSION || seg->rec_size != REC_SIZE ||
        seg->nslots == 0 || seg->nslots > (1u << 20) || seg->cap < 2 || seg->cap > (1u << 24) ||
        (seg->cap & (seg->cap - 1)) != 0 || seg->size != (uint64_t)st.st_size ||
        seg->size != seg_size(seg->nslots, seg->cap)) {
        munmap(p, (size_t)st.st_size);
        seg = NULL;
        errno = EPROTO;
    }
out:;
    int e = errno;
    close(fd);
    errno = e;
    return seg;
}

const ring_cfg_t *ring_cfg(const ring_seg_t *seg) { return &seg->cfg; }
uint64_t ring_t0_ns(const ring_seg_t *seg) { return seg->t0_ns; }
uint32_t ring_nslots(const ring_seg_t *seg) { return seg->nslots; }

bool ring_enabled(const ring_seg_t *seg)
{
    /* acquire: pairs with the release in ring_set_enabled() */
    return atomic_load_explicit(&((ring_seg_t *)seg)->x_enabled, memory_order_acquire) != 0;
}

void ring_set_enabled(ring_seg_t *seg, bool on)
{
    /* release: pairs with the acquire in ring_enabled() */
    atomic_store_explicit(&seg->x_enabled, on ? 1u : 0u, memory_order_release);
}

int ring_find(const ring_seg_t *seg, int32_t pid)
{
    for (uint32_t k = 0; k < seg->nslots; k++)
        /* acquire: pairs with the CAS in ring_claim() of our pre-exec self */
        if (atomic_load_explicit(&slot_at(seg, (int)k)->x_owner, memory_order_acquire) == pid)
            return (int)k;
    return -ENOENT;
}

int ring_claim(ring_seg_t *seg, int32_t pid)
{
    uint32_t n = seg->nslots;
    uint32_t start = (uint32_t)pid * 2654435761u % n; /* spread claimants */
    /* A slot already owned by pid belongs to this process's image before
     * execve(): pids are unique among live processes, so take it back
     * rather than hold two. */
    int mine = ring_find(seg, pid);
    if (mine >= 0)
        return mine;
    for (uint32_t k = 0; k < n; k++) {
        slot_t *s = slot_at(seg, (int)((start + k) % n));
        int32_t want = 0;
        /* acquire: sees the cell reset done before ring_release's release
         * store of 0 */
        if (atomic_compare_exchange_strong_explicit(&s->x_owner, &want, pid, memory_order_acquire,
                                                    memory_order_relaxed))
            return (int)((start + k) % n);
    }
    /* relaxed: a statistic read after the run */
    atomic_fetch_add_explicit(&seg->x_unslotted, 1, memory_order_relaxed);
    return -ENOSPC;
}

int ring_put(ring_seg_t *seg, int slot, const rec_t *r)
{
    slot_t *s = slot_at(seg, slot);
    cell_t *cells = cells_of(seg, slot);
    uint64_t mask = seg->cap - 1;
    uint64_t pos = atomic_load_explicit(&s->x_head, memory_order_relaxed);
    cell_t *c;
    for (;;) {
        c = &cells[pos & mask];
        /* acquire: pairs with the consumer's release in ring_drain() that
         * frees the cell, so our copy cannot overtake its read */
        uint64_t seq = seq_load(c, pos & mask, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            /* relaxed: the reservation orders nothing; publication does */
            if (atomic_compare_exchange_weak_explicit(&s->x_head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (dif < 0) {
            /* relaxed: statistics */
            atomic_fetch_add_explicit(&s->x_dropped, 1, memory_order_relaxed);
            return -ENOBUFS;
        } else {
            pos = atomic_load_explicit(&s->x_head, memory_order_relaxed);
        }
    }
    memcpy(&c->rec, r, sizeof *r);
    /* release: publishes rec; pairs with the acquire in ring_drain() */
    seq_store(c, pos & mask, pos + 1, memory_order_release);
    return 0;
}

size_t ring_drain(ring_seg_t *seg, int slot, rec_t *out, size_t max, bool owner_dead)
{
    slot_t *s = slot_at(seg, slot);
    cell_t *cells = cells_of(seg, slot);
    uint64_t cap = seg->cap, mask = cap - 1;
    uint64_t pos = atomic_load_explicit(&s->x_tail, memory_order_relaxed);
    size_t n = 0;
    while (n < max) {
        cell_t *c = &cells[pos & mask];
        /* acquire: pairs with the producer's release in ring_put() */
        uint64_t seq = seq_load(c, pos & mask, memory_order_acquire);
        if (seq == pos + 1) {
            memcpy(&out[n++], &c->rec, sizeof(rec_t));
        } else {
            /* acquire: a reservation seen here was made before the owner
             * died, which the caller learnt from the kernel */
            uint64_t head = atomic_load_explicit(&s->x_head, memory_order_acquire);
            if (head == pos || !owner_dead)
                break;
            /* reserved, never published: the writer died mid-write */
            atomic_fetch_add_explicit(&s->x_torn, 1, memory_order_relaxed);
        }
        /* release: hands the cell to the producer of the next lap; pairs
         * with the acquire in ring_put() */
        seq_store(c, pos & mask, pos + cap, memory_order_release);
        pos++;
    }
    /* relaxed: only this thread writes x_tail; others read it as a statistic */
    atomic_store_explicit(&s->x_tail, pos, memory_order_relaxed);
    return n;
}

void ring_slot_info(const ring_seg_t *seg, int slot, ring_slot_info_t *info)
{
    slot_t *s = slot_at(seg, slot);
    /* relaxed throughout: statistics; exact once the owner is dead */
    info->owner = atomic_load_explicit(&s->x_owner, memory_order_relaxed);
    uint64_t base = atomic_load_explicit(&s->x_base, memory_order_relaxed);
    info->dropped = atomic_load_explicit(&s->x_dropped, memory_order_relaxed);
    info->torn = atomic_load_explicit(&s->x_torn, memory_order_relaxed);
    info->consumed = atomic_load_explicit(&s->x_tail, memory_order_relaxed) - base - info->torn;
    /* reserved + dropped: see "no attempts counter" at the top */
    info->attempts = atomic_load_explicit(&s->x_head, memory_order_relaxed) - base + info->dropped;
}

uint64_t ring_unslotted(const ring_seg_t *seg)
{
    /* relaxed: a statistic */
    return atomic_load_explicit(&((ring_seg_t *)seg)->x_unslotted, memory_order_relaxed);
}

int ring_release(ring_seg_t *seg, int slot)
{
    slot_t *s = slot_at(seg, slot);
    uint64_t tail = atomic_load_explicit(&s->x_tail, memory_order_relaxed);
    /* acquire: pairs with the producers' CAS on x_head (the owner is dead,
     * so the value is final) */
    if (atomic_load_explicit(&s->x_head, memory_order_acquire) != tail)
        return -EBUSY;
    /* Every cell is now free for its next lap: only the counters restart. */
    atomic_store_explicit(&s->x_dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&s->x_torn, 0, memory_order_relaxed);
    atomic_store_explicit(&s->x_base, tail, memory_order_relaxed);
    /* release: publishes the counter reset; pairs with the acquire CAS in
     * ring_claim() */
    atomic_store_explicit(&s->x_owner, 0, memory_order_release);
    return 0;
}
