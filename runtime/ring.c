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

/* The segment's first page: shared, so every field but the atomics is
 * written once by ring_create and then only read -- or overwritten by a
 * process with a stray pointer. Nothing here is trusted after attach: each
 * handle keeps its own checked copy of the geometry and the config. */
typedef struct seg_hdr {
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
} seg_hdr_t;
_Static_assert(sizeof(seg_hdr_t) <= SEG_HDR_SIZE, "segment header fits its page");

/* The reader's own view of one slot (aggregator side). The shared x_tail,
 * x_torn and x_base are only mirrors of these, for statistics: any process
 * can overwrite the segment, so the drain never takes its position back
 * from it. A handle from ring_attach starts with RD_UNSET and copies the
 * shared counters at its first read of the slot; ring_create's handle
 * starts every slot at RD_OK, position 0. */
#define RD_UNSET 0u
#define RD_OK 1u
#define RD_QUARANTINED 2u
typedef struct rd_slot {
    uint64_t tail;    /* next position to consume */
    uint64_t base;    /* tail at the last release */
    uint64_t torn;    /* reserved, never published, owner dead */
    uint64_t invalid; /* cells whose sequence no writer can have stored */
    uint64_t head;    /* the last x_head that passed the checks */
    uint64_t dropped; /* x_dropped read with it */
    uint32_t state;   /* RD_* */
    uint32_t pad;
} rd_slot_t;

/* A handle: private memory (an anonymous mapping: ring_attach runs in a
 * preload constructor, before malloc may be called), written once by
 * ring_create/ring_attach, so the writer's fast path reads its geometry
 * from memory no other process can reach. */
struct ring_seg {
    seg_hdr_t *hdr;   /* the shared mapping */
    slot_t *slots;    /* hdr + SEG_HDR_SIZE */
    cell_t *cells;    /* slot 0's first cell */
    size_t size;      /* the shared mapping's length */
    size_t self_size; /* this handle's length */
    uint32_t nslots, cap;
    uint64_t mask;    /* cap - 1 */
    uint64_t t0_ns;
    ring_cfg_t cfg;
    rd_slot_t rd[];   /* nslots; pages touched only by a reader */
};

static slot_t *slot_at(const ring_seg_t *seg, int i) { return &seg->slots[i]; }

static cell_t *cells_of(const ring_seg_t *seg, int i) { return seg->cells + (size_t)i * seg->cap; }

static size_t seg_size(uint32_t nslots, uint32_t cap)
{
    size_t hdrs = SEG_HDR_SIZE + (size_t)nslots * SLOT_HDR_SIZE;
    hdrs = (hdrs + 4095u) & ~(size_t)4095u;
    return hdrs + (size_t)nslots * cap * CELL_SIZE;
}

/* Builds the private handle over a mapping whose geometry was checked.
 * Returns NULL with errno set. Context: thread (mmap only). */
static ring_seg_t *handle_new(void *map, uint32_t nslots, uint32_t cap, size_t size, uint32_t rd_state)
{
    size_t self = sizeof(ring_seg_t) + (size_t)nslots * sizeof(rd_slot_t);
    self = (self + 4095u) & ~(size_t)4095u;
    void *p = mmap(NULL, self, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    ring_seg_t *seg = p; /* zero-filled: every rd slot RD_UNSET at position 0 */
    seg->hdr = map;
    seg->slots = (slot_t *)((char *)map + SEG_HDR_SIZE);
    size_t hdrs = (SEG_HDR_SIZE + (size_t)nslots * SLOT_HDR_SIZE + 4095u) & ~(size_t)4095u;
    seg->cells = (cell_t *)((char *)map + hdrs);
    seg->size = size;
    seg->self_size = self;
    seg->nslots = nslots;
    seg->cap = cap;
    seg->mask = (uint64_t)cap - 1;
    seg->t0_ns = seg->hdr->t0_ns;
    seg->cfg = seg->hdr->cfg;
    /* the copy is used as C strings by the runtime: end each one inside its field */
    seg->cfg.scope[sizeof seg->cfg.scope - 1] = 0;
    seg->cfg.self_dir[sizeof seg->cfg.self_dir - 1] = 0;
    seg->cfg.only[sizeof seg->cfg.only - 1] = 0;
    seg->cfg.exclude[sizeof seg->cfg.exclude - 1] = 0;
    if (rd_state != RD_UNSET)
        for (uint32_t i = 0; i < nslots; i++)
            seg->rd[i].state = rd_state;
    return seg;
}

/* Cell sequences are stored minus the cell's index, so the all-zero memory
 * of a fresh memfd already means "cell k is free for position k": creating
 * the segment touches no ring page, and a slot costs memory only once a
 * process writes to it. */
static uint64_t seq_load(cell_t *c, uint64_t k, memory_order mo) { return atomic_load_explicit(&c->x_seq, mo) + k; }
static void seq_store(cell_t *c, uint64_t k, uint64_t seq, memory_order mo) { atomic_store_explicit(&c->x_seq, seq - k, mo); }

/* Geometry ring_create accepts and ring_attach believes: a zero or huge
 * count in a header from another process could wrap a size. */
static bool geometry_ok(uint32_t nslots, uint32_t cap)
{
    return nslots > 0 && nslots <= (1u << 20) && cap >= 2 && cap <= (1u << 24) && (cap & (cap - 1)) == 0;
}

ring_seg_t *ring_create(uint32_t nslots, uint32_t cap, const ring_cfg_t *cfg, int *fd_out)
{
    if (!geometry_ok(nslots, cap)) {
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
    seg_hdr_t *h = p;
    memcpy(h->magic, RING_MAGIC, 8);
    h->version = REC_VERSION;
    h->rec_size = REC_SIZE;
    h->nslots = nslots;
    h->cap = cap;
    h->size = size;
    h->t0_ns = sys_now_ns();
    if (cfg)
        h->cfg = *cfg;
    atomic_store_explicit(&h->x_enabled, 1, memory_order_release);
    /* The creator is the reader: it knows every slot starts empty at 0. */
    ring_seg_t *seg = handle_new(p, nslots, cap, size, RD_OK);
    if (!seg) {
        munmap(p, size);
        goto fail;
    }
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
    if (seg) {
        munmap(seg->hdr, seg->size);
        munmap(seg, seg->self_size);
    }
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
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto out;
    /* The header comes from another process: read each field once, check
     * the geometry before any size is computed from it, and keep the
     * checked copy. */
    seg_hdr_t *h = p;
    uint32_t nslots = h->nslots, cap = h->cap;
    uint64_t hsize = h->size;
    if (memcmp(h->magic, RING_MAGIC, 8) != 0 || h->version != REC_VERSION || h->rec_size != REC_SIZE ||
        !geometry_ok(nslots, cap) || hsize != (uint64_t)size || hsize != seg_size(nslots, cap)) {
        munmap(p, size);
        errno = EPROTO;
        goto out;
    }
    seg = handle_new(p, nslots, cap, size, RD_UNSET);
    if (!seg)
        munmap(p, size);
out:;
    int e = errno;
    close(fd);
    errno = e;
    return seg;
}

const ring_cfg_t *ring_cfg(const ring_seg_t *seg) { return &seg->cfg; }
uint64_t ring_t0_ns(const ring_seg_t *seg) { return seg->t0_ns; }
uint32_t ring_nslots(const ring_seg_t *seg) { return seg->nslots; }
uint32_t ring_cap(const ring_seg_t *seg) { return seg->cap; }

bool ring_enabled(const ring_seg_t *seg)
{
    /* acquire: pairs with the release in ring_set_enabled() */
    return atomic_load_explicit(&seg->hdr->x_enabled, memory_order_acquire) != 0;
}

void ring_set_enabled(ring_seg_t *seg, bool on)
{
    /* release: pairs with the acquire in ring_enabled() */
    atomic_store_explicit(&seg->hdr->x_enabled, on ? 1u : 0u, memory_order_release);
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
    atomic_fetch_add_explicit(&seg->hdr->x_unslotted, 1, memory_order_relaxed);
    return -ENOSPC;
}

int ring_put(ring_seg_t *seg, int slot, const rec_t *r)
{
    slot_t *s = slot_at(seg, slot);
    cell_t *cells = cells_of(seg, slot);
    uint64_t mask = seg->mask;
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
            /* The cell is ahead of pos: another writer reserved pos, so
             * x_head has moved on (its CAS precedes the release we just
             * acquired). A head still at pos means the slot was overwritten:
             * drop rather than spin on it forever. */
            uint64_t now = atomic_load_explicit(&s->x_head, memory_order_relaxed);
            if (now == pos) {
                /* relaxed: statistics */
                atomic_fetch_add_explicit(&s->x_dropped, 1, memory_order_relaxed);
                return -ENOBUFS;
            }
            pos = now;
        }
    }
    memcpy(&c->rec, r, sizeof *r);
    /* release: publishes rec; pairs with the acquire in ring_drain() */
    seq_store(c, pos & mask, pos + 1, memory_order_release);
    return 0;
}

/* The reader's view of slot; a handle from ring_attach takes the shared
 * counters at its first look. Context: thread. */
static rd_slot_t *rd_of(ring_seg_t *seg, int slot)
{
    rd_slot_t *q = &seg->rd[slot];
    if (q->state == RD_UNSET) {
        slot_t *s = slot_at(seg, slot);
        /* relaxed: the drain's own mirrors, written by whichever handle
         * drained before this one */
        q->tail = atomic_load_explicit(&s->x_tail, memory_order_relaxed);
        q->base = atomic_load_explicit(&s->x_base, memory_order_relaxed);
        q->torn = atomic_load_explicit(&s->x_torn, memory_order_relaxed);
        q->head = q->tail;
        q->state = RD_OK;
    }
    return q;
}

/* Reads x_head and x_dropped and checks them against the reader's own
 * position: tail <= head <= tail + cap holds for any interleaving of honest
 * writers (a writer reserves a position only in a cell the drain freed).
 * A slot that breaks it is quarantined: nothing more is read from it until
 * ring_release rebuilds it. Returns whether the slot is usable. */
static bool rd_check(ring_seg_t *seg, int slot, rd_slot_t *q)
{
    if (q->state == RD_QUARANTINED)
        return false;
    slot_t *s = slot_at(seg, slot);
    /* acquire: pairs with the producers' CAS on x_head (via the cell
     * sequence they publish after it); a reservation seen here after the
     * owner was found dead is final */
    uint64_t head = atomic_load_explicit(&s->x_head, memory_order_acquire);
    if (head - q->tail > seg->cap) { /* also head < tail, which wraps */
        q->state = RD_QUARANTINED;
        return false;
    }
    q->head = head;
    /* relaxed: statistics */
    q->dropped = atomic_load_explicit(&s->x_dropped, memory_order_relaxed);
    return true;
}

size_t ring_drain(ring_seg_t *seg, int slot, rec_t *out, size_t max, bool owner_dead)
{
    if (slot < 0 || (uint32_t)slot >= seg->nslots)
        return 0;
    rd_slot_t *q = rd_of(seg, slot);
    if (!rd_check(seg, slot, q))
        return 0;
    slot_t *s = slot_at(seg, slot);
    cell_t *cells = cells_of(seg, slot);
    uint64_t cap = seg->cap, mask = seg->mask, head = q->head;
    uint64_t pos = q->tail;
    size_t n = 0;
    /* At most head - tail <= cap cells: the pass is bounded whatever the
     * shared memory says. */
    while (n < max && pos != head) {
        cell_t *c = &cells[pos & mask];
        /* acquire: pairs with the producer's release in ring_put() */
        uint64_t seq = seq_load(c, pos & mask, memory_order_acquire);
        if (seq == pos + 1) {
            memcpy(&out[n++], &c->rec, sizeof(rec_t));
        } else if (seq == pos) {
            /* reserved, not yet published: wait, unless the writer died
             * mid-write */
            if (!owner_dead)
                break;
            q->torn++;
        } else {
            /* A reserved cell holds pos or pos + 1 and nothing else: this
             * one was overwritten. Skip it, counted. */
            q->invalid++;
        }
        /* release: hands the cell to the producer of the next lap; pairs
         * with the acquire in ring_put() */
        seq_store(c, pos & mask, pos + cap, memory_order_release);
        pos++;
    }
    q->tail = pos;
    /* relaxed: mirrors for statistics and for a handle that attaches later;
     * the drain itself never reads them back */
    atomic_store_explicit(&s->x_tail, pos, memory_order_relaxed);
    atomic_store_explicit(&s->x_torn, q->torn, memory_order_relaxed);
    return n;
}

void ring_slot_info(ring_seg_t *seg, int slot, ring_slot_info_t *info)
{
    memset(info, 0, sizeof *info);
    if (slot < 0 || (uint32_t)slot >= seg->nslots)
        return;
    slot_t *s = slot_at(seg, slot);
    rd_slot_t *q = rd_of(seg, slot);
    rd_check(seg, slot, q); /* fresh head and dropped, unless quarantined */
    /* acquire: pairs with the CAS in ring_claim() (and the release in
     * ring_release()); the value itself is untrusted */
    info->owner = atomic_load_explicit(&s->x_owner, memory_order_acquire);
    info->dropped = q->dropped;
    info->torn = q->torn;
    info->invalid = q->invalid;
    info->quarantined = q->state == RD_QUARANTINED;
    info->consumed = q->tail - q->base - q->torn - q->invalid;
    /* reserved + dropped: see "no attempts counter" at the top */
    info->attempts = q->head - q->base + q->dropped;
}

uint64_t ring_unslotted(const ring_seg_t *seg)
{
    /* relaxed: a statistic */
    return atomic_load_explicit(&seg->hdr->x_unslotted, memory_order_relaxed);
}

int ring_release(ring_seg_t *seg, int slot)
{
    if (slot < 0 || (uint32_t)slot >= seg->nslots)
        return -EINVAL;
    slot_t *s = slot_at(seg, slot);
    rd_slot_t *q = rd_of(seg, slot);
    uint64_t tail = q->tail;
    if (q->state == RD_QUARANTINED) {
        /* Rebuilt from the reader's own position: every cell free for its
         * position in the lap that starts at tail, head at tail. The owner
         * is dead; a stray writer still at it is caught by the next check. */
        cell_t *cells = cells_of(seg, slot);
        for (uint64_t k = 0; k < seg->cap; k++)
            /* relaxed: published by the release store of x_owner below */
            seq_store(&cells[k], k, tail + ((k - tail) & seg->mask), memory_order_relaxed);
        atomic_store_explicit(&s->x_head, tail, memory_order_relaxed);
        atomic_store_explicit(&s->x_tail, tail, memory_order_relaxed);
        q->state = RD_OK;
    } else if (atomic_load_explicit(&s->x_head, memory_order_acquire) != tail) {
        /* acquire: pairs with the producers' CAS on x_head (the owner is
         * dead, so the value is final) */
        return -EBUSY;
    }
    /* Every cell is now free for its next lap: only the counters restart. */
    q->base = q->head = tail;
    q->torn = q->invalid = q->dropped = 0;
    atomic_store_explicit(&s->x_dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&s->x_torn, 0, memory_order_relaxed);
    atomic_store_explicit(&s->x_base, tail, memory_order_relaxed);
    /* release: publishes the counter reset; pairs with the acquire CAS in
     * ring_claim() */
    atomic_store_explicit(&s->x_owner, 0, memory_order_release);
    return 0;
}
