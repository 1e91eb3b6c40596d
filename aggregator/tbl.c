/* SPDX-License-Identifier: Apache-2.0
 * tbl.c — RCU-published tables (see tbl.h).
 *
 * Design. One cds_lfht per row kind. The single writer (the drain thread)
 * finds a row with cds_lfht_lookup under rcu_read_lock and, when missing,
 * allocates and publishes it with cds_lfht_add_unique, which orders the
 * row's initialization before its publication (liburcu documents the
 * barrier). Counters are then bumped with uatomic_add/uatomic_set so a
 * concurrent reader (the report writer, a periodic snapshot) reads each
 * counter whole without taking a lock; a snapshot may see one counter of a
 * row a record ahead of another, which a profile tolerates. Rows are never
 * deleted during a run, so no call_rcu is needed until tbl_free(), which
 * runs when no reader is left.
 *
 * Strings arrive in chunks, possibly from several processes at once (ids
 * are content hashes, so duplicates are identical). A string row assembles
 * its chunks privately and publishes the finished text with
 * rcu_assign_pointer; readers use rcu_dereference and see NULL or all.
 *
 * Memory (issue 4; what the numbers mean is docs/MEMORY.md). A row's memory
 * block is allocated at its first REC_MEM/REC_COPY and published with a
 * release store of the row's `mem` pointer (acquire in tbl_line_mem), so rows
 * that never see memory pay one pointer. Each per-process block is linked
 * (writer-private) to the process, for REC_M_FINAL and the process's end,
 * and to the merged block of its line or function (tables mlines/mfuncs,
 * pid 0), which receives the same samples with the per-process block's
 * actual decrease on a free: merged live is then the sum over processes,
 * and its peak the peak of the sum. When a process ends, its blocks' live
 * memory moves to their net_end and leaves the merged blocks and the run's
 * footprint. Records are merged in drain order (process by process, a pass
 * every few ms), not time order: "at the same time" holds to a drain pass.
 *
 * The memory counters are relaxed atomics written with MW() and read with
 * tbl_rd(), not uatomic_set/uatomic_read: liburcu 0.13 implements those as
 * volatile accesses, which ThreadSanitizer cannot tell from racy ones, and
 * make check-tsan runs a report against a live drain (test_tbl_mem.c). Only
 * the drain thread writes them, so it reads its own fields plainly.
 *
 * GPU (issue 7; docs/GPU.md). Two streams meet here out of order: CPU
 * records (drained process by process every few ms) and NVML polls (nv.c,
 * every ~15 ms, handed over by the same drain thread). A main-thread CPU
 * record covers [t - wall, t] on one line; a poll says what each pid used
 * over (from, to]. Each process keeps, writer-private, its recent non-zero
 * GPU uses (a ring) and the main-thread records that end after the last
 * poll (a queue); a record is charged once the polls cover its end: the
 * overlap with each use adds util x overlap, the overlap itself (zero use
 * included) adds to the row's covered wall time. So a line's n_gpu_percent
 * is the mean utilisation while it ran, as in Scalene, at the polls' time
 * resolution rather than one NVML call per CPU sample. Uses pushed out of
 * the ring (a drain seconds behind) leave the time before them uncovered
 * rather than counted as idle.
 */
#include "tbl.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

typedef struct str_row {
    struct cds_lfht_node node;
    uint64_t id;
    uint16_t total;
    uint16_t got_chunks;
    uint64_t have[3]; /* chunk bitmap: REC_STR_MAX / REC_STR_CHUNK <= 192 */
    char *buf;        /* writer-private while assembling */
    char *text;       /* published with rcu_assign_pointer once complete */
} str_row_t;

/* A memory block with the writer's links. `m` comes first: the published
 * tbl_mem_t pointer is the node's. */
typedef struct mem_node {
    tbl_mem_t m;
    struct mem_node *next;   /* writer-private: the next block of the same process */
    struct mem_node *merged; /* writer-private: the merged block of the same row; NULL in merged blocks */
    /* writer-private, per-process blocks only: the rise of live above the
     * level that has not held TBL_HOLD_NS yet (docs/MEMORY.md "Growth") */
    bool line;         /* a line row: its growth counts in the run's total */
    bool pend;         /* live rose above the level at pend_ns ... */
    uint64_t pend_ns;  /* ... (ns since t0) */
    uint64_t pend_min; /* ... and has been at least this since then */
    int64_t pn;        /* allocation samples, net of frees, since the level was last set */
    int64_t pn_mark;   /* of them, those in pend_min */
} mem_node_t;

typedef struct line_row {
    struct cds_lfht_node node;
    tbl_line_t v;
} line_row_t;
typedef struct func_row {
    struct cds_lfht_node node;
    tbl_func_t v;
} func_row_t;
/* GPU state of one process (writer-private, created at its first GPU use
 * or main-thread CPU record once GPU accounting is on). */
#define TBL_GPU_HIST 128 /* recent non-zero uses: ~2 s of polls */
#define TBL_GPU_PEND 256 /* main-thread records waiting for the polls: ~2.5 s */
typedef struct gpu_use {
    uint64_t from, to, mem;
    uint32_t util_bp;
} gpu_use_t;
typedef struct gpu_pend {
    uint64_t from, to;
    tbl_gpu_t *l, *f; /* the rows' counters (rows live until tbl_free) */
} gpu_pend_t;
typedef struct proc_gpu {
    gpu_use_t h[TBL_GPU_HIST]; /* time-ordered ring */
    uint32_t h_next, h_n;
    uint64_t h_lost; /* uses ending at or before this were pushed out */
    gpu_pend_t q[TBL_GPU_PEND];
    uint32_t q_head, q_n;
    struct proc_gpu *next; /* all processes with GPU state (tbl.gpu_procs) */
} proc_gpu_t;

typedef struct proc_row {
    struct cds_lfht_node node;
    tbl_proc_t v;
    /* writer-private (drain thread) */
    mem_node_t *mem;      /* its rows' memory blocks, for FINAL and its end */
    uint64_t native_live; /* live memory of sites with no Python frame (no row) */
    uint64_t outside_live; /* live memory of sites out of scope (no row, as for CPU) */
    proc_gpu_t *gpu;       /* NULL until GPU use or a main-thread record with GPU on */
} proc_row_t;
typedef struct thread_row {
    struct cds_lfht_node node;
    tbl_thread_t v;
} thread_row_t;

struct tbl {
    struct cds_lfht *strs, *lines, *funcs, *procs, *threads;
    struct cds_lfht *mlines, *mfuncs; /* merged memory rows, pid 0 */
    tbl_msum_t m; /* the run's memory: written by the drain with MW(), read by tbl_mem_summary */
    uint64_t t0_ns;
    uint64_t window; /* writer-private: the allocation sampling window (bytes) */
    uint64_t rng; /* writer-private: reservoir sampling */
    int32_t main_pid; /* the program's first process: uatomic_set by tbl_set_main, read by the drain */
    /* writer-private GPU state: on after the first poll, which covered
     * (gpu_from, ...]; the polls cover everything up to gpu_upto */
    bool gpu_on;
    uint64_t gpu_from, gpu_upto;
    proc_gpu_t *gpu_procs;
    /* @profile functions: written by the drain (entries first, then the
     * count with a release store), read by tbl_profiled (acquire) */
    tbl_prof_t prof[TBL_PROF_MAX];
    uint64_t n_prof;
    uint64_t n_quarantined; /* written by the drain (uatomic_add), read by the report */
    stk_t *stk; /* call stacks (--stacks): a module of its own, with its own lock */
};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static struct cds_lfht *ht(void)
{
    return cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
}

tbl_t *tbl_new(uint64_t t0_ns)
{
    tbl_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->strs = ht();
    t->lines = ht();
    t->funcs = ht();
    t->procs = ht();
    t->threads = ht();
    t->mlines = ht();
    t->mfuncs = ht();
    t->stk = stk_new();
    t->t0_ns = t0_ns;
    t->window = 1048576ull; /* AGG_ALLOC_WINDOW_DEFAULT until tbl_mem_window says */
    t->rng = 0x2545f4914f6cdd1dull;
    if (!t->strs || !t->lines || !t->funcs || !t->procs || !t->threads || !t->mlines || !t->mfuncs || !t->stk) {
        tbl_free(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

void tbl_mem_window(tbl_t *t, uint64_t window) { t->window = window; }

#define FREE_ALL(h, type, extra)                                                                   \
    if (h) {                                                                                       \
        struct cds_lfht_iter it;                                                                   \
        type *row;                                                                                 \
        cds_lfht_for_each_entry(h, &it, row, node)                                                 \
        {                                                                                          \
            cds_lfht_del(h, &row->node);                                                           \
            extra;                                                                                 \
            free(row);                                                                             \
        }                                                                                          \
        cds_lfht_destroy(h, NULL);                                                                 \
    }

void tbl_free(tbl_t *t)
{
    if (!t)
        return;
    /* No reader is left (the caller's contract), so rows go without call_rcu. */
    rcu_read_lock();
    FREE_ALL(t->strs, str_row_t, (free(row->buf), free(row->text)));
    FREE_ALL(t->lines, line_row_t, free(row->v.mem));
    FREE_ALL(t->funcs, func_row_t, free(row->v.mem));
    FREE_ALL(t->mlines, line_row_t, free(row->v.mem));
    FREE_ALL(t->mfuncs, func_row_t, free(row->v.mem));
    FREE_ALL(t->procs, proc_row_t, free(row->gpu));
    FREE_ALL(t->threads, thread_row_t, (void)0);
    rcu_read_unlock();
    stk_free(t->stk);
    free(t);
}

/* ---- lookups (writer) ---- */

static int match_str(struct cds_lfht_node *n, const void *key)
{
    return caa_container_of(n, str_row_t, node)->id == *(const uint64_t *)key;
}
static int match_line(struct cds_lfht_node *n, const void *key)
{
    const tbl_line_t *a = &caa_container_of(n, line_row_t, node)->v, *b = key;
    return a->pid == b->pid && a->file_id == b->file_id && a->line == b->line;
}
static int match_func(struct cds_lfht_node *n, const void *key)
{
    const tbl_func_t *a = &caa_container_of(n, func_row_t, node)->v, *b = key;
    return a->pid == b->pid && a->file_id == b->file_id && a->func_id == b->func_id && a->func_line == b->func_line;
}
static int match_proc(struct cds_lfht_node *n, const void *key)
{
    return caa_container_of(n, proc_row_t, node)->v.pid == *(const int32_t *)key;
}
static int match_thread(struct cds_lfht_node *n, const void *key)
{
    const tbl_thread_t *a = &caa_container_of(n, thread_row_t, node)->v, *b = key;
    return a->pid == b->pid && a->tid == b->tid;
}

/* Every row is its hash node followed by its value, whose leading fields
 * are the key: one lookup serves all kinds. */
#define ROW_V offsetof(line_row_t, v)
_Static_assert(offsetof(func_row_t, v) == ROW_V && offsetof(proc_row_t, v) == ROW_V &&
                   offsetof(thread_row_t, v) == ROW_V,
               "rows share a layout");

/* Finds the row for key or publishes a new zeroed one of size bytes whose
 * value starts with the klen key bytes. cds_lfht_add_unique orders the
 * row's initialization before its publication; when a racing insert won,
 * ours is freed unseen. Must be called under rcu_read_lock. */
static void *row_get(struct cds_lfht *h, uint64_t hash, cds_lfht_match_fct match, const void *key, size_t klen,
                     size_t size)
{
    struct cds_lfht_iter it;
    cds_lfht_lookup(h, hash, match, key, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (n)
        return n;
    struct cds_lfht_node *fresh = calloc(1, size);
    if (!fresh)
        return NULL;
    memcpy((char *)fresh + ROW_V, key, klen);
    n = cds_lfht_add_unique(h, hash, match, key, fresh);
    if (n != fresh)
        free(fresh);
    return n;
}

static line_row_t *line_row_in(struct cds_lfht *h, int32_t pid, uint64_t file, uint32_t line)
{
    tbl_line_t k = {.pid = pid, .line = line, .file_id = file};
    return row_get(h, mix(file ^ mix((uint64_t)pid << 32 | line)), match_line, &k, offsetof(tbl_line_t, c),
                   sizeof(line_row_t));
}

static func_row_t *func_row_in(struct cds_lfht *h, int32_t pid, uint64_t file, uint64_t func, uint32_t fline)
{
    tbl_func_t k = {.pid = pid, .func_line = fline, .file_id = file, .func_id = func};
    return row_get(h, mix(file ^ mix(func ^ mix((uint64_t)pid << 32 | fline))), match_func, &k,
                   offsetof(tbl_func_t, c), sizeof(func_row_t));
}

static line_row_t *line_row(tbl_t *t, int32_t pid, uint64_t file, uint32_t line)
{
    return line_row_in(t->lines, pid, file, line);
}

static func_row_t *func_row(tbl_t *t, int32_t pid, uint64_t file, uint64_t func, uint32_t fline)
{
    return func_row_in(t->funcs, pid, file, func, fline);
}

static proc_row_t *proc_row(tbl_t *t, int32_t pid)
{
    return row_get(t->procs, mix((uint64_t)pid), match_proc, &pid, sizeof pid, sizeof(proc_row_t));
}

static thread_row_t *thread_row(tbl_t *t, int32_t pid, int32_t tid)
{
    tbl_thread_t k = {.pid = pid, .tid = tid, .main = pid == tid};
    return row_get(t->threads, mix((uint64_t)(uint32_t)pid << 32 | (uint32_t)tid), match_thread, &k,
                   offsetof(tbl_thread_t, c), sizeof(thread_row_t));
}

/* ---- ingest (writer) ---- */

/* Frames a REC_STACK may announce: the runtime sends at most 256 Python
 * frames, a cut marker and 64 C frames; a bigger n is not its. */
#define TBL_STACK_FRAMES_MAX 1024u

bool tbl_rec_ok(const rec_t *r)
{
    switch (r->h.kind) {
    case REC_STR: {
        /* what rec_str_chunk writes: chunk off of a text of total bytes */
        unsigned total = r->u.str.total, off = r->u.str.off, n = r->u.str.n;
        if (r->u.str.id == 0 || total > REC_STR_MAX || off % REC_STR_CHUNK != 0 || off > total ||
            (off == total && off != 0))
            return false;
        unsigned want = total - off < REC_STR_CHUNK ? total - off : REC_STR_CHUNK;
        return n == want;
    }
    case REC_STACK:
        return r->h.aux != 0 && r->u.stack.n != 0 && r->u.stack.n <= TBL_STACK_FRAMES_MAX &&
               r->u.stack.k < r->u.stack.n;
    case REC_CHILD_EXIT:
        return r->u.exit.pid > 0; /* it names the process it changes */
    case REC_CPU:
    case REC_PROC_START:
    case REC_PROC_EXIT:
    case REC_THREAD:
    case REC_MEM:
    case REC_COPY:
    case REC_PROFILED:
        return true; /* fixed-size numbers: any value is charged as it is */
    default:
        return false; /* REC_GPU never crosses the ring; others are not this version's */
    }
}

static void ingest_str(tbl_t *t, const rec_t *r)
{
    uint64_t id = r->u.str.id;
    unsigned total = r->u.str.total, off = r->u.str.off, n = r->u.str.n;
    if (total > REC_STR_MAX || off + n > total || off % REC_STR_CHUNK != 0 || n > REC_STR_CHUNK)
        return; /* tbl_rec_ok refuses these; also callers that build records here */
    struct cds_lfht_iter it;
    cds_lfht_lookup(t->strs, mix(id), match_str, &id, &it);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
    str_row_t *s;
    if (node) {
        s = caa_container_of(node, str_row_t, node);
    } else {
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        s->id = id;
        s->total = (uint16_t)total;
        s->buf = calloc(1, total + 1u);
        if (!s->buf) {
            free(s);
            return;
        }
        node = cds_lfht_add_unique(t->strs, mix(id), match_str, &id, &s->node);
        if (node != &s->node) {
            free(s->buf);
            free(s);
            s = caa_container_of(node, str_row_t, node);
        }
    }
    if (s->text || total != s->total)
        return; /* complete already, or an id collision: first text wins */
    unsigned k = off / REC_STR_CHUNK;
    if (s->have[k / 64] & (1ull << (k % 64)))
        return;
    s->have[k / 64] |= 1ull << (k % 64);
    memcpy(s->buf + off, r->u.str.text, n);
    if (++s->got_chunks == rec_str_nchunks(total)) {
        char *done = s->buf;
        s->buf = NULL;
        /* publishes the finished text; pairs with rcu_dereference in tbl_str() */
        rcu_assign_pointer(s->text, done);
    }
}

static void bump(tbl_t *t, tbl_cpu_t *c, uint64_t py, uint64_t nat, uint64_t sys, uint64_t cpu, uint64_t wall,
                 uint64_t when)
{
    uatomic_add(&c->python_ns, py);
    uatomic_add(&c->native_ns, nat);
    uatomic_add(&c->sys_ns, sys);
    uatomic_add(&c->cpu_ns, cpu);
    uatomic_add(&c->wall_ns, wall);
    uint64_t n = uatomic_add_return(&c->samples, 1);
    if (n <= TBL_TIMES) {
        uatomic_set(&c->times[n - 1], when);
    } else {
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        uint64_t j = t->rng % n;
        if (j < TBL_TIMES)
            uatomic_set(&c->times[j], when);
    }
}

/* ---- GPU (writer) ---- */

/* relaxed: a counter read whole by a snapshot (tbl_rd); orders nothing */
#define GW(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

static void gpu_add(tbl_gpu_t *g, uint64_t util_ns, uint64_t wall_ns, uint64_t mem_mib_us, uint64_t peak)
{
    GW(g->util_ns, g->util_ns + util_ns);
    GW(g->wall_ns, g->wall_ns + wall_ns);
    GW(g->mem_mib_us, g->mem_mib_us + mem_mib_us);
    if (peak > g->mem_peak)
        GW(g->mem_peak, peak);
}

static proc_gpu_t *proc_gpu(tbl_t *t, proc_row_t *p)
{
    if (!p->gpu) {
        p->gpu = calloc(1, sizeof *p->gpu);
        if (p->gpu) {
            p->gpu->next = t->gpu_procs;
            t->gpu_procs = p->gpu;
        }
    }
    return p->gpu;
}

/* Charges one main-thread record's [q->from, q->to] with what the polls
 * know: the part before GPU accounting began, after the polls' end, or
 * before uses were pushed out of the ring is not covered. */
static void gpu_charge(const tbl_t *t, const proc_gpu_t *g, const gpu_pend_t *q)
{
    uint64_t a = q->from > t->gpu_from ? q->from : t->gpu_from;
    if (a < g->h_lost)
        a = g->h_lost;
    uint64_t b = q->to < t->gpu_upto ? q->to : t->gpu_upto;
    if (b <= a)
        return;
    uint64_t util = 0, mem = 0, peak = 0;
    for (uint32_t k = 0; k < g->h_n; k++) {
        const gpu_use_t *u = &g->h[(g->h_next + TBL_GPU_HIST - 1 - k) % TBL_GPU_HIST];
        if (u->to <= a)
            break; /* time-ordered: the rest are older */
        uint64_t lo = u->from > a ? u->from : a, hi = u->to < b ? u->to : b;
        if (hi <= lo)
            continue;
        util += (uint64_t)u->util_bp * (hi - lo) / 10000;
        mem += (u->mem >> 20) * ((hi - lo) / 1000);
        if (u->mem > peak)
            peak = u->mem;
    }
    if (q->l)
        gpu_add(q->l, util, b - a, mem, peak);
    if (q->f)
        gpu_add(q->f, util, b - a, mem, peak);
}

/* A main-thread CPU record of p covering [from, to] on rows l and f. */
static void gpu_cpu(tbl_t *t, proc_row_t *p, tbl_gpu_t *l, tbl_gpu_t *f, uint64_t from, uint64_t to)
{
    if (!l && !f)
        return; /* out of scope: no row to charge (the process's total comes from the polls) */
    proc_gpu_t *g = proc_gpu(t, p);
    if (!g)
        return;
    gpu_pend_t q = {from, to, l, f};
    if (to <= t->gpu_upto) {
        gpu_charge(t, g, &q);
        return;
    }
    if (g->q_n == TBL_GPU_PEND) {
        /* the polls are far behind: charge the oldest with what is known */
        gpu_charge(t, g, &g->q[g->q_head]);
        g->q_head = (g->q_head + 1) % TBL_GPU_PEND;
        g->q_n--;
    }
    g->q[(g->q_head + g->q_n) % TBL_GPU_PEND] = q;
    g->q_n++;
}

/* Charges p's waiting records that the polls now cover (all when flush). */
static void gpu_settle(tbl_t *t, proc_gpu_t *g, bool flush)
{
    uint32_t n = g->q_n, head = g->q_head;
    g->q_n = 0;
    for (uint32_t k = 0; k < n; k++) {
        gpu_pend_t q = g->q[(head + k) % TBL_GPU_PEND];
        if (flush || q.to <= t->gpu_upto) {
            gpu_charge(t, g, &q);
        } else {
            g->q[(g->q_head + g->q_n) % TBL_GPU_PEND] = q;
            g->q_n++;
        }
    }
}

void tbl_gpu_use(tbl_t *t, int32_t pid, uint64_t from, uint64_t to, uint32_t util_bp, uint64_t mem)
{
    if (to <= from)
        return;
    rcu_read_lock();
    proc_row_t *p = proc_row(t, pid);
    proc_gpu_t *g = p ? proc_gpu(t, p) : NULL;
    if (g) {
        gpu_use_t *u = &g->h[g->h_next];
        if (g->h_n == TBL_GPU_HIST && u->to > g->h_lost)
            g->h_lost = u->to;
        *u = (gpu_use_t){from, to, mem, util_bp};
        g->h_next = (g->h_next + 1) % TBL_GPU_HIST;
        if (g->h_n < TBL_GPU_HIST)
            g->h_n++;
        gpu_add(&p->v.g, (uint64_t)util_bp * (to - from) / 10000, to - from, (mem >> 20) * ((to - from) / 1000), mem);
    }
    rcu_read_unlock();
}

void tbl_gpu_upto(tbl_t *t, uint64_t from, uint64_t to)
{
    if (!t->gpu_on) {
        t->gpu_on = true;
        t->gpu_from = from;
    }
    if (to > t->gpu_upto)
        t->gpu_upto = to;
    for (proc_gpu_t *g = t->gpu_procs; g; g = g->next)
        if (g->q_n)
            gpu_settle(t, g, false);
}

void tbl_gpu_flush(tbl_t *t)
{
    for (proc_gpu_t *g = t->gpu_procs; g; g = g->next)
        if (g->q_n)
            gpu_settle(t, g, true);
}

static void ingest_cpu(tbl_t *t, int32_t pid, const rec_t *r)
{
    uint64_t cpu = r->u.cpu.cpu_ns, sys = r->u.cpu.sys_ns, wall = r->u.cpu.wall_ns, other = r->u.cpu.other_ns;
    if (sys > cpu)
        sys = cpu;
    uint64_t user = cpu - sys, py = 0, nat = other;
    if (r->h.flags & REC_F_NATIVE)
        nat += user;
    else
        py = user;
    /* Off-CPU time of a main thread is system time (sleep, I/O, waits),
     * except in virtual-time mode, which counts CPU only. The program's
     * first process is its wall clock, so all of it counts; in a child it
     * counts only when the program's own line is the one blocked (its frame
     * is the leaf: time.sleep, a recv in user code). Otherwise an idle pool
     * or server worker waiting inside the framework for work would bury the
     * time of the lines that did the work. */
    if ((r->h.flags & REC_F_MAIN) && !(r->h.flags & REC_F_VIRTUAL) && wall > cpu &&
        (pid == (int32_t)uatomic_read(&t->main_pid) || (r->h.flags & REC_F_LEAFIN)))
        sys += wall - cpu;
    uint64_t when = r->h.t_ns > t->t0_ns ? r->h.t_ns - t->t0_ns : 0;
    proc_row_t *p = proc_row(t, pid);
    /* The main thread with no Python frame at all, or before the process
     * ran its first line of the program (site, runpy, a spawned child's
     * bootstrap): the interpreter starting up or shutting down. */
    bool in_scope = !(r->h.flags & (REC_F_OUTSIDE | REC_F_NOFRAME));
    if (p && in_scope && !uatomic_read(&p->v.ran)) {
        /* what ran before is start-up after all */
        uatomic_add(&p->v.interpreter_ns, p->v.pre_py_ns + p->v.pre_nat_ns + p->v.pre_sys_ns);
        uatomic_set(&p->v.ran, 1);
    }
    if ((r->h.flags & REC_F_MAIN) && !other && (r->h.flags & REC_F_NOFRAME)) {
        if (p)
            uatomic_add(&p->v.interpreter_ns, py + nat + sys);
        return;
    }
    if (p && (r->h.flags & REC_F_MAIN) && !other && !in_scope && !uatomic_read(&p->v.ran)) {
        /* start-up, unless the process never runs a line in scope (a scope
         * that holds none of its files): rpt counts it then */
        uatomic_add(&p->v.pre_py_ns, py);
        uatomic_add(&p->v.pre_nat_ns, nat);
        uatomic_add(&p->v.pre_sys_ns, sys);
        return;
    }
    if (p)
        bump(t, &p->v.c, py, nat, sys, cpu + other, wall, when);
    thread_row_t *th = thread_row(t, pid, (int32_t)r->h.tid);
    if (th)
        bump(t, &th->v.c, py, nat - other, sys, cpu, wall, when);
    if (r->h.aux)
        stk_charge(t->stk, pid, r->h.aux, py, nat, sys); /* what the line gets, or would if in scope */
    if (p && (r->h.flags & REC_F_HELD))
        uatomic_add(&p->v.held_samples, 1);
    if (r->h.flags & (REC_F_OUTSIDE | REC_F_NOFRAME)) {
        if (p) {
            uatomic_add(&p->v.unattributed_ns, py + nat + sys);
            uatomic_add(&p->v.unattributed_samples, 1);
        }
        return;
    }
    line_row_t *l = line_row(t, pid, r->u.cpu.file_id, r->u.cpu.line);
    if (l)
        bump(t, &l->v.c, py, nat, sys, cpu + other, wall, when);
    func_row_t *f = func_row(t, pid, r->u.cpu.file_id, r->u.cpu.func_id, r->u.cpu.func_line);
    if (f)
        bump(t, &f->v.c, py, nat, sys, cpu + other, wall, when);
    /* GPU time goes to the main thread's line, as in Scalene: the thread
     * that launches kernels and waits for them */
    if (t->gpu_on && p && (r->h.flags & REC_F_MAIN) && wall > 0 && r->h.t_ns > wall)
        gpu_cpu(t, p, l ? &l->v.g : NULL, f ? &f->v.g : NULL, r->h.t_ns - wall, r->h.t_ns);
}

/* ---- memory (writer) ---- */

/* relaxed: a counter read whole by a concurrent snapshot (tbl_rd); it
 * publishes nothing else. See the design note for why not uatomic_set. */
#define MW(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static uint64_t since_t0(const tbl_t *t, uint64_t ns) { return ns > t->t0_ns ? ns - t->t0_ns : 0; }

static void pt_set(tbl_series_t *s, uint64_t i, uint64_t t_ns, uint64_t bytes)
{
    MW(s->p[i].t_ns, t_ns);
    MW(s->p[i].bytes, bytes);
}

/* Publishes the count: the points are written before they are counted.
 * release: pairs with the acquire in tbl_series_read (a reader that saw an
 * older count may read points being moved: it sorts and dedups them). */
static void series_publish(tbl_series_t *s, uint64_t n) { __atomic_store_n(&s->n, n, __ATOMIC_RELEASE); }

/* The bucket of time t: buckets are stride ns wide from the first point. */
static uint64_t bucket(const tbl_series_t *s, uint64_t t)
{
    return s->stride ? (t - s->p[0].t_ns) / s->stride : t - s->p[0].t_ns;
}

/* Writes the points of c[0..m) (time-sorted) flagged in keep from index at;
 * returns the index after them. */
static uint64_t put_kept(tbl_series_t *s, uint64_t at, const tbl_point_t *c, const bool *keep, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (keep[i])
            pt_set(s, at++, c[i].t_ns, c[i].bytes);
    return at;
}

/* Flags the lowest and the highest of c[0..m) (the first of equals). */
static void flag_extremes(const tbl_point_t *c, size_t m, bool *keep)
{
    size_t lo = 0, hi = 0;
    for (size_t i = 1; i < m; i++) {
        if (c[i].bytes < c[lo].bytes)
            lo = i;
        if (c[i].bytes > c[hi].bytes)
            hi = i;
    }
    keep[lo] = keep[hi] = true;
}

/* Thins a full series (issue 11): re-cuts it into buckets at least twice as
 * wide as before and at most TBL_POINTS/4 over its span, each keeping its
 * lowest and highest point; the first point and the last stay. So a peak or
 * a trough is never thinned away in favour of points near it, and the
 * series stays spread over its whole span with at most ~TBL_POINTS/2 + 4
 * points. */
static void series_thin(tbl_series_t *s)
{
    uint64_t n = s->n, span = s->p[n - 1].t_ns - s->p[0].t_ns;
    uint64_t stride = span / (TBL_POINTS / 4) + 1;
    if (stride < 2 * s->stride)
        stride = 2 * s->stride;
    s->stride = stride;
    uint64_t j = 1, open = 1; /* p[0] stays: the buckets' origin */
    for (uint64_t i = 1; i < n;) {
        uint64_t b = bucket(s, s->p[i].t_ns), e = i;
        while (e < n && bucket(s, s->p[e].t_ns) == b)
            e++;
        /* copy the group out first: its kept points move down over it */
        tbl_point_t c[TBL_POINTS];
        bool keep[TBL_POINTS] = {false};
        size_t m = (size_t)(e - i);
        memcpy(c, &s->p[i], m * sizeof *c);
        flag_extremes(c, m, keep);
        if (e == n)
            keep[m - 1] = true; /* the latest value */
        open = j;
        j = put_kept(s, j, c, keep, m);
        i = e;
    }
    s->open = open;
    series_publish(s, j);
}

/* Appends [when, bytes]. Within the last (open) bucket, the point replaces
 * those that are neither the bucket's lowest nor its highest: a bucket
 * holds at most its lowest, its highest and its latest point, so the series
 * always ends with the latest value and no extreme is overwritten. */
static void series_add(tbl_series_t *s, uint64_t when, uint64_t bytes)
{
    uint64_t n = s->n;
    if (n == 0) {
        pt_set(s, 0, when, bytes);
        s->open = 1;
        series_publish(s, 1);
        return;
    }
    /* records reach us in drain order (process after process), not time order */
    if (when < s->p[n - 1].t_ns)
        when = s->p[n - 1].t_ns;
    if (s->open < n && bucket(s, s->p[s->open].t_ns) != bucket(s, when)) {
        s->open = n; /* the open bucket closes with its (at most 3) points */
    }
    if (n == TBL_POINTS) {
        /* full: the new point may need a slot even within the open bucket */
        series_thin(s);
        n = s->n;
        if (bucket(s, s->p[s->open].t_ns) != bucket(s, when))
            s->open = n;
    }
    tbl_point_t c[4];
    bool keep[4] = {false};
    size_t m = (size_t)(n - s->open);
    memcpy(c, &s->p[s->open], m * sizeof *c);
    c[m++] = (tbl_point_t){when, bytes};
    flag_extremes(c, m, keep);
    keep[m - 1] = true;
    series_publish(s, put_kept(s, s->open, c, keep, m));
}

/* After a sample: the row's level (KiB) enters its average. */
static void mem_sampled(tbl_mem_t *m)
{
    MW(m->live_kib_sum, m->live_kib_sum + (m->level >> 10));
    MW(m->n_live, m->n_live + 1);
}

static void mem_alloc(tbl_mem_t *m, uint64_t when, uint64_t w, uint64_t vol, bool py)
{
    MW(m->alloc_bytes, m->alloc_bytes + w);
    MW(m->volume, m->volume + vol);
    if (py) {
        MW(m->py_bytes, m->py_bytes + w);
        MW(m->py_volume, m->py_volume + vol);
    }
    MW(m->live, m->live + w);
    MW(m->n_allocs, m->n_allocs + 1);
    if (m->n_allocs == 1)
        MW(m->first_ns, when);
    if (when > m->last_ns)
        MW(m->last_ns, when);
}

/* A free of weight w whose live decrease is d (<= w: clamped by the
 * per-process block, so a merged block loses exactly what its part lost). */
static void mem_free(tbl_mem_t *m, uint64_t d, uint64_t w, bool move)
{
    if (move) {
        MW(m->moved_bytes, m->moved_bytes + w);
    } else {
        MW(m->freed_bytes, m->freed_bytes + w);
        MW(m->n_frees, m->n_frees + 1);
    }
    MW(m->live, m->live - min_u64(d, m->live));
}

/* ---- growth (writer; docs/MEMORY.md "Growth") ----
 *
 * Scalene's threshold sampler records a line only when the memory it holds
 * has grown (or shrunk) by a window since its last record: churn that is
 * freed at once never shows, an allocation that is kept does. Our samples
 * are Poisson by bytes, so a line that churns small objects gets samples of
 * one window each, freed microseconds later. A per-process row therefore
 * keeps a held `level`: it follows live down at once (a free that lowers it
 * is a give-back), and up only by what has held: the lowest live since the
 * rise began, once TBL_HOLD_NS have passed (checked at the row's next
 * record, at the process's RSS marks, every ~100 ms, and at its end, where
 * what it still holds counts), or
 * at once for one sample of a big block (big_block: Scalene counts it too,
 * however short-lived). The rises of the level are the row's growth
 * (n_malloc_mb); the merged row and the run's total take the same rises.
 * A realloc's move does not lower the level: the new block follows. */

enum { H_ALLOC, H_FREE, H_MOVE };

/* Whether an allocation sample of weight w is one big block: more than two
 * windows, and not k windows for a small k: a block smaller than the window
 * stands for k windows when the countdown crossed zero k times in it, which
 * for a block near the window's size happens often for k = 2 or 3 (more
 * than 8 times: ~1e-4). A big block whose size is such a multiple exactly
 * is taken for small ones: it is growth if it holds TBL_HOLD_NS. */
static bool big_block(const tbl_t *t, uint64_t w)
{
    uint64_t win = t->window ? t->window : 1;
    return w > 2 * win && (w % win != 0 || w / win > 8);
}

/* The level of m changed at time at: its peak and timeline. */
static void level_point(tbl_mem_t *m, uint64_t at)
{
    if (m->level > m->peak) {
        MW(m->peak, m->level);
        MW(m->peak_ns, at);
    }
    series_add(&m->tl, at, m->level);
}

static void grow_one(tbl_mem_t *m, uint64_t g, uint64_t k, uint64_t at)
{
    bool first = m->growth == 0;
    MW(m->level, m->level + g);
    MW(m->growth, m->growth + g);
    MW(m->n_growth, m->n_growth + k);
    if (first) {
        MW(m->first_grow_ns, at);
        MW(m->first_level, m->level);
    }
    if (at > m->last_grow_ns)
        MW(m->last_grow_ns, at);
    level_point(m, at);
}

/* n's level rises by g at time at: growth standing for k samples (>= 1). */
static void grow(tbl_t *t, mem_node_t *n, uint64_t g, int64_t k, uint64_t at)
{
    if (!g)
        return;
    uint64_t cnt = k > 0 ? (uint64_t)k : 1;
    grow_one(&n->m, g, cnt, at);
    grow_one(&n->merged->m, g, cnt, at);
    if (n->line)
        MW(t->m.growth, t->m.growth + g);
}

/* n's level falls to v (< level) at time at; a give-back when its process
 * freed it (not when the process ended). */
static void lower(mem_node_t *n, uint64_t v, uint64_t at, bool giveback, bool point)
{
    tbl_mem_t *m = &n->m, *mg = &n->merged->m;
    uint64_t d = m->level - v;
    MW(m->level, v);
    MW(mg->level, mg->level - min_u64(d, mg->level));
    if (giveback) {
        MW(m->n_giveback, m->n_giveback + 1);
        MW(mg->n_giveback, mg->n_giveback + 1);
    }
    if (point) {
        level_point(m, at);
        level_point(mg, at);
    }
}

static void unpend(mem_node_t *n)
{
    n->pend = false;
    n->pn = n->pn_mark = 0;
}

/* Before a record at `when` changes n's live: a rise that has held
 * TBL_HOLD_NS by now is growth (the lowest live since it began); what rose
 * after its start begins a new rise now. */
static void hold_check(tbl_t *t, mem_node_t *n, uint64_t when)
{
    tbl_mem_t *m = &n->m;
    if (!n->pend || when < n->pend_ns || when - n->pend_ns < TBL_HOLD_NS)
        return;
    if (n->pend_min > m->level)
        grow(t, n, n->pend_min - m->level, n->pn_mark, n->pend_ns);
    n->pn -= n->pn_mark;
    if (m->live > m->level) {
        n->pend_ns = when;
        n->pend_min = m->live;
        n->pn_mark = n->pn;
    } else {
        unpend(n);
    }
}

/* After a record changed n's live: an allocation of weight w, a free, or a
 * realloc's move. */
static void hold_after(tbl_t *t, mem_node_t *n, uint64_t when, uint64_t w, int what)
{
    tbl_mem_t *m = &n->m;
    if (what == H_ALLOC)
        n->pn++;
    else if (what == H_FREE && n->pn > 0)
        n->pn--;
    if (what == H_MOVE)
        return; /* the new block follows at once: the level waits for it */
    if (m->live <= m->level) {
        if (m->live < m->level)
            lower(n, m->live, when, true, true);
        unpend(n);
        return;
    }
    if (what == H_ALLOC && big_block(t, w)) {
        /* one big block: growth at once, whatever it lives */
        uint64_t g = min_u64(w, m->live - m->level);
        n->pn--;
        grow(t, n, g, 1, when);
        if (!n->pend || m->live <= m->level)
            unpend(n);
        else
            n->pend_min += g; /* it is in every live value from now on */
        return;
    }
    if (!n->pend) {
        n->pend = true;
        n->pend_ns = when;
        n->pend_min = m->live;
        n->pn_mark = n->pn;
    } else if (m->live < n->pend_min) {
        n->pend_min = m->live;
        if (n->pn < n->pn_mark)
            n->pn_mark = n->pn;
    }
}

/* n's process finalized or ended: what it still holds was held to the end
 * and is growth (the part that held since the rise began at its start, the
 * rest at the row's last allocation sample). */
static void hold_end(tbl_t *t, mem_node_t *n, uint64_t when)
{
    tbl_mem_t *m = &n->m;
    if (n->pend && n->pend_min > m->level && m->live > m->level) {
        grow(t, n, min_u64(n->pend_min, m->live) - m->level, n->pn_mark, n->pend_ns);
        n->pn -= n->pn_mark;
    }
    if (m->live > m->level) {
        uint64_t at = n->pend && n->pend_ns > m->last_ns ? n->pend_ns : m->last_ns;
        grow(t, n, m->live - m->level, n->pn, at);
    } else if (m->live < m->level) {
        lower(n, m->live, when, false, true); /* a realloc shrank the block last */
    }
    unpend(n);
}

/* A sample of weight w (volume vol) allocated at row n at `when`. */
static void row_alloc(tbl_t *t, mem_node_t *n, uint64_t when, uint64_t w, uint64_t vol, bool py)
{
    hold_check(t, n, when);
    mem_alloc(&n->m, when, w, vol, py);
    mem_alloc(&n->merged->m, when, w, vol, py);
    hold_after(t, n, when, w, H_ALLOC);
    mem_sampled(&n->m);
    mem_sampled(&n->merged->m);
}

/* A free (or realloc move) of weight w of a block row n allocated; returns
 * the row's live decrease. */
static uint64_t row_free(tbl_t *t, mem_node_t *n, uint64_t when, uint64_t w, bool move)
{
    hold_check(t, n, when);
    uint64_t d = min_u64(w, n->m.live);
    mem_free(&n->m, d, w, move);
    mem_free(&n->merged->m, d, w, move);
    hold_after(t, n, when, w, move ? H_MOVE : H_FREE);
    mem_sampled(&n->m);
    mem_sampled(&n->merged->m);
    return d;
}

static mem_node_t *node_new(tbl_mem_t **slot, mem_node_t *merged)
{
    mem_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->merged = merged;
    /* release: the zeroed block before the pointer; pairs with the acquire
     * in tbl_line_mem/tbl_func_mem */
    __atomic_store_n(slot, &n->m, __ATOMIC_RELEASE);
    return n;
}

/* The memory block of a merged row, created on first use. */
static mem_node_t *merged_node(tbl_mem_t **slot)
{
    return *slot ? (mem_node_t *)*slot : node_new(slot, NULL);
}

/* The memory block of process p's row behind slot, created on first use
 * with its merged block (merged_slot) and linked to p. */
static mem_node_t *proc_node(proc_row_t *p, tbl_mem_t **slot, tbl_mem_t **merged_slot)
{
    if (*slot)
        return (mem_node_t *)*slot;
    mem_node_t *mg = merged_node(merged_slot);
    if (!mg)
        return NULL;
    mem_node_t *n = node_new(slot, mg);
    if (n) {
        n->next = p->mem;
        p->mem = n;
    }
    return n;
}

static mem_node_t *line_node(tbl_t *t, proc_row_t *p, uint64_t file, uint32_t line)
{
    line_row_t *l = line_row(t, p->v.pid, file, line);
    if (!l || l->v.mem)
        return l ? (mem_node_t *)l->v.mem : NULL;
    line_row_t *ml = line_row_in(t->mlines, 0, file, line);
    mem_node_t *n = ml ? proc_node(p, &l->v.mem, &ml->v.mem) : NULL;
    if (n)
        n->line = true;
    return n;
}

static mem_node_t *func_node(tbl_t *t, proc_row_t *p, uint64_t file, uint64_t func, uint32_t fline)
{
    func_row_t *f = func_row(t, p->v.pid, file, func, fline);
    if (!f || f->v.mem)
        return f ? (mem_node_t *)f->v.mem : NULL;
    func_row_t *mf = func_row_in(t->mfuncs, 0, file, func, fline);
    return mf ? proc_node(p, &f->v.mem, &mf->v.mem) : NULL;
}

/* After the process's live memory changed: its peak and timeline. */
static void pmem_sampled(tbl_pmem_t *pm, uint64_t when)
{
    if (pm->live > pm->peak) {
        MW(pm->peak, pm->live);
        MW(pm->peak_ns, when);
    }
    series_add(&pm->tl, when, pm->live);
}

/* The run's footprint changed by +add / -sub (Python's part: py_add /
 * py_sub). An allocation sample that raises the peak names its site. */
static void run_sampled(tbl_t *t, uint64_t when, uint64_t add, uint64_t py_add, uint64_t sub, uint64_t py_sub,
                        uint64_t file, uint32_t line)
{
    tbl_msum_t *g = &t->m;
    MW(g->live, g->live + add - min_u64(sub, g->live + add));
    MW(g->py_live, g->py_live + py_add - min_u64(py_sub, g->py_live + py_add));
    if (g->py_live > g->live)
        MW(g->py_live, g->live);
    if (g->live > g->peak) {
        MW(g->peak, g->live);
        MW(g->peak_ns, when);
        MW(g->peak_py_live, g->py_live);
        MW(g->peak_file_id, file);
        MW(g->peak_line, line);
    }
    series_add(&g->tl, when, g->live);
}

/* Process p ended (or its image was replaced by execve): what its rows hold
 * becomes their net at end and leaves the merged rows and the footprint. */
static void proc_retire(tbl_t *t, proc_row_t *p, uint64_t when)
{
    tbl_pmem_t *pm = &p->v.m;
    if (pm->state == TBL_MEM_GONE)
        return;
    for (mem_node_t *n = p->mem; n; n = n->next) {
        if (pm->state == TBL_MEM_ACTIVE)
            hold_end(t, n, when);
        if (n->m.level)
            lower(n, 0, when, false, false); /* it leaves the merged level; its own timeline ends as it was */
        uint64_t live = n->m.live;
        if (!live)
            continue;
        MW(n->m.net_end, n->m.net_end + live);
        MW(n->m.live, 0);
        MW(n->merged->m.net_end, n->merged->m.net_end + live);
        MW(n->merged->m.live, n->merged->m.live - min_u64(live, n->merged->m.live));
    }
    p->native_live = p->outside_live = 0;
    uint64_t live = pm->live, py = pm->py_live;
    MW(pm->net_end, pm->net_end + live);
    MW(pm->live, 0);
    MW(pm->py_live, 0);
    MW(t->m.net_end, t->m.net_end + live);
    if (live)
        run_sampled(t, when, 0, 0, live, py, 0, 0);
    /* relaxed: read by reports only (tbl_rd-like snapshot) */
    __atomic_store_n(&pm->state, TBL_MEM_GONE, __ATOMIC_RELAXED);
}

static void ingest_mem(tbl_t *t, int32_t pid, const rec_t *r)
{
    proc_row_t *p = proc_row(t, pid);
    if (!p)
        return;
    tbl_pmem_t *pm = &p->v.m;
    uint64_t when = since_t0(t, r->h.t_ns), w = r->u.mem.bytes;
    unsigned fl = r->h.flags;
    if (fl & REC_M_RSS) {
        /* the process's coarse clock (every ~100 ms): rises that have held
         * by now are growth, also on rows that got no record since */
        if (pm->state == TBL_MEM_ACTIVE)
            for (mem_node_t *n = p->mem; n; n = n->next)
                hold_check(t, n, when);
        MW(pm->rss, w);
        if (w > pm->rss_peak)
            MW(pm->rss_peak, w);
        MW(pm->n_rss, pm->n_rss + 1);
        series_add(&pm->rss_tl, when, w);
        return;
    }
    if (fl & REC_M_FINAL) {
        if (pm->state == TBL_MEM_ACTIVE) {
            /* what the rows hold now they hold to the end: growth */
            for (mem_node_t *n = p->mem; n; n = n->next)
                hold_end(t, n, when);
            MW(pm->final_ns, r->h.t_ns);
            /* relaxed: read by reports only */
            __atomic_store_n(&pm->state, TBL_MEM_FINAL, __ATOMIC_RELAXED);
        }
        return;
    }
    if (pm->state != TBL_MEM_ACTIVE)
        return; /* finalizing or ended: its live memory is its net at end */
    MW(t->m.records, t->m.records + 1);
    if (r->h.aux != 0) /* --stacks: the allocating call stack (a free names its block's) */
        stk_charge_mem(t->stk, pid, r->h.aux, (fl & REC_M_FREE) ? 0 : w, (fl & REC_M_FREE) ? w : 0);
    bool py = fl & REC_M_PYTHON;
    uint64_t file = r->u.mem.file_id;
    bool noframe = (fl & REC_M_NOFRAME) || file == 0;
    /* out of scope: no row, as for CPU samples (ingest_cpu); the process and
     * the run still count it */
    bool outside = !noframe && (fl & REC_M_OUTSIDE);
    mem_node_t *ln = NULL, *fn = NULL;
    if (!noframe && !outside) {
        ln = line_node(t, p, file, r->u.mem.line);
        fn = func_node(t, p, file, r->u.mem.func_id, r->u.mem.func_line);
    }
    if (!(fl & REC_M_FREE)) {
        uint64_t vol = r->u.mem.volume;
        if (ln)
            row_alloc(t, ln, when, w, vol, py);
        if (fn)
            row_alloc(t, fn, when, w, vol, py);
        if (noframe)
            p->native_live += w;
        else if (outside)
            p->outside_live += w;
        MW(pm->alloc_bytes, pm->alloc_bytes + w);
        MW(pm->volume, pm->volume + vol);
        MW(pm->n_allocs, pm->n_allocs + 1);
        MW(pm->live, pm->live + w);
        if (py) {
            MW(pm->py_volume, pm->py_volume + vol);
            MW(pm->py_live, pm->py_live + w);
        }
        if (noframe)
            MW(pm->noframe_volume, pm->noframe_volume + vol);
        pmem_sampled(pm, when);
        MW(t->m.volume, t->m.volume + vol);
        if (py)
            MW(t->m.py_volume, t->m.py_volume + vol);
        if (noframe)
            MW(t->m.noframe_volume, t->m.noframe_volume + vol);
        run_sampled(t, when, w, py ? w : 0, 0, 0, noframe ? 0 : file, noframe ? 0 : r->u.mem.line);
        return;
    }
    /* A free credits the allocating site back; what the process loses is
     * what that site's block (or bucket) actually held. */
    bool move = fl & REC_M_MOVE;
    uint64_t d = 0;
    if (ln) {
        d = row_free(t, ln, when, w, move);
    } else if (noframe) {
        d = min_u64(w, p->native_live);
        p->native_live -= d;
    } else if (outside) {
        d = min_u64(w, p->outside_live);
        p->outside_live -= d;
    }
    if (fn)
        row_free(t, fn, when, w, move);
    if (!move)
        MW(pm->n_frees, pm->n_frees + 1);
    d = min_u64(d, pm->live);
    uint64_t pyd = py ? min_u64(d, pm->py_live) : 0;
    MW(pm->live, pm->live - d);
    MW(pm->py_live, pm->py_live - pyd);
    pmem_sampled(pm, when);
    run_sampled(t, when, 0, 0, d, pyd, 0, 0);
}

static void ingest_copy(tbl_t *t, int32_t pid, const rec_t *r)
{
    proc_row_t *p = proc_row(t, pid);
    if (!p)
        return;
    uint64_t b = r->u.copy.bytes, file = r->u.copy.file_id;
    MW(p->v.m.copy_bytes, p->v.m.copy_bytes + b);
    MW(t->m.copy_bytes, t->m.copy_bytes + b);
    if ((r->h.flags & (REC_M_NOFRAME | REC_M_OUTSIDE)) || file == 0)
        return; /* no row, as for CPU samples */
    mem_node_t *ln = line_node(t, p, file, r->u.copy.line);
    mem_node_t *fn = func_node(t, p, file, r->u.copy.func_id, r->u.copy.func_line);
    if (ln) {
        MW(ln->m.copy_bytes, ln->m.copy_bytes + b);
        MW(ln->merged->m.copy_bytes, ln->merged->m.copy_bytes + b);
    }
    if (fn) {
        MW(fn->m.copy_bytes, fn->m.copy_bytes + b);
        MW(fn->merged->m.copy_bytes, fn->merged->m.copy_bytes + b);
    }
}

void tbl_ingest(tbl_t *t, int32_t pid, const rec_t *r)
{
    rcu_read_lock();
    if (!tbl_rec_ok(r)) {
        proc_row_t *p = proc_row(t, pid);
        if (p)
            uatomic_add(&p->v.invalid_recs, 1);
        rcu_read_unlock();
        return;
    }
    switch (r->h.kind) {
    case REC_STR:
        ingest_str(t, r);
        break;
    case REC_CPU:
        ingest_cpu(t, pid, r);
        break;
    case REC_MEM:
        ingest_mem(t, pid, r);
        break;
    case REC_COPY:
        ingest_copy(t, pid, r);
        break;
    case REC_STACK:
        stk_define(t->stk, pid, r);
        break;
    case REC_PROC_START: {
        proc_row_t *p = proc_row(t, pid);
        if (!p)
            break;
        /* A start after an earlier one is an execve: the old image's memory
         * is gone (its rows keep it as their net at end). */
        proc_retire(t, p, since_t0(t, r->h.t_ns));
        MW(p->v.m.final_ns, 0); /* the new image has not finalized */
        __atomic_store_n(&p->v.m.state, TBL_MEM_ACTIVE, __ATOMIC_RELAXED); /* relaxed: read by reports only */
        /* A forked child's first start record is followed by another after
         * execve (same pid): the later one names the program it became. */
        uatomic_set(&p->v.ppid, r->u.proc.ppid);
        uatomic_set(&p->v.argv_id, r->u.proc.argv_id);
        uatomic_set(&p->v.pyver, r->u.proc.pyver);
        uatomic_set(&p->v.how, r->u.proc.how);
        if (uatomic_read(&p->v.start_ns) == 0)
            uatomic_set(&p->v.start_ns, r->u.proc.start_ns);
        break;
    }
    case REC_PROC_EXIT: {
        proc_row_t *p = proc_row(t, pid);
        if (!p)
            break;
        if (!(r->h.flags & 1)) {
            uatomic_set(&p->v.exit_code, r->u.exit.status);
            uatomic_set(&p->v.has_code, true);
        }
        uatomic_set(&p->v.utime_us, r->u.exit.utime_us);
        uatomic_set(&p->v.stime_us, r->u.exit.stime_us);
        uatomic_set(&p->v.end_ns, r->h.t_ns);
        /* The process's own last record: what follows from it (an atexit
         * free) no longer changes its memory. */
        proc_retire(t, p, since_t0(t, r->h.t_ns));
        break;
    }
    case REC_CHILD_EXIT:
        tbl_proc_end(t, r->u.exit.pid, true, r->u.exit.status, r->h.t_ns);
        break;
    case REC_THREAD: {
        thread_row_t *th = thread_row(t, pid, (int32_t)r->h.tid);
        if (th)
            uatomic_set(&th->v.name_id, r->u.thread.name_id);
        break;
    }
    case REC_PROFILED: {
        uint64_t n = t->n_prof;
        for (uint64_t i = 0; i < n; i++)
            if (t->prof[i].file_id == r->u.prof.file_id && t->prof[i].first_line == r->u.prof.first_line)
                goto known; /* decorated again, or in another process */
        if (n < TBL_PROF_MAX) {
            t->prof[n] = (tbl_prof_t){r->u.prof.file_id, r->u.prof.func_id, r->u.prof.first_line,
                                      r->u.prof.last_line};
            /* release: the entry is written before it is counted; pairs
             * with the acquire in tbl_profiled */
            __atomic_store_n(&t->n_prof, n + 1, __ATOMIC_RELEASE);
        }
    known:
        break;
    }
    default:
        break; /* tbl_rec_ok refused every other kind */
    }
    rcu_read_unlock();
}

size_t tbl_profiled(tbl_t *t, const tbl_prof_t **out)
{
    *out = t->prof;
    return (size_t)__atomic_load_n(&t->n_prof, __ATOMIC_ACQUIRE); /* see REC_PROFILED in tbl_ingest */
}

/* The row of pid if there is one: no row is made. Caller holds the RCU
 * read lock. */
static proc_row_t *proc_find(tbl_t *t, int32_t pid)
{
    struct cds_lfht_iter it;
    cds_lfht_lookup(t->procs, mix((uint64_t)pid), match_proc, &pid, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    return n ? caa_container_of(n, proc_row_t, node) : NULL;
}

void tbl_slot_stats(tbl_t *t, int32_t pid, const ring_slot_info_t *info)
{
    rcu_read_lock();
    proc_row_t *p = info->quarantined ? proc_find(t, pid) : proc_row(t, pid);
    if (p) {
        uatomic_set(&p->v.written, info->attempts);
        uatomic_set(&p->v.dropped, info->dropped);
        uatomic_set(&p->v.torn, info->torn);
        uatomic_set(&p->v.invalid_cells, info->invalid);
    }
    rcu_read_unlock();
}

void tbl_quarantine(tbl_t *t, int32_t pid)
{
    rcu_read_lock();
    uatomic_add(&t->n_quarantined, 1);
    proc_row_t *p = proc_find(t, pid);
    if (p)
        uatomic_set(&p->v.quarantined, true);
    rcu_read_unlock();
}

uint64_t tbl_quarantined(tbl_t *t) { return uatomic_read(&t->n_quarantined); }

void tbl_proc_exe(tbl_t *t, int32_t pid, const char *path)
{
    proc_row_t *p = proc_row(t, pid);
    if (!p)
        return;
    /* the text goes in as the runtime's REC_STR chunks would bring it, so
     * it is published (and cut) exactly like every other string */
    size_t n = strnlen(path, REC_STR_MAX);
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_STR;
    r.u.str.id = rec_str_id(path, n);
    r.u.str.total = (uint16_t)n;
    size_t off = 0;
    do {
        size_t k = n - off < REC_STR_CHUNK ? n - off : REC_STR_CHUNK;
        r.u.str.off = (uint16_t)off;
        r.u.str.n = (uint8_t)k;
        memset(r.u.str.text, 0, sizeof r.u.str.text);
        memcpy(r.u.str.text, path + off, k);
        ingest_str(t, &r);
        off += k;
    } while (off < n);
    uatomic_set(&p->v.exe_id, r.u.str.id);
}

void tbl_proc_end(tbl_t *t, int32_t pid, bool has_status, int status, uint64_t now_ns)
{
    rcu_read_lock();
    /* Without a status the drain says a slot's owner is gone: a pid that
     * never got a row (a scribbled owner field) gets none now. */
    proc_row_t *p = has_status ? proc_row(t, pid) : proc_find(t, pid);
    if (p) {
        if (has_status && !uatomic_read(&p->v.has_wait)) {
            uatomic_set(&p->v.wait_status, status);
            uatomic_set(&p->v.has_wait, true);
        }
        uint64_t end = uatomic_read(&p->v.end_ns);
        if (end == 0 || (has_status && now_ns < end))
            uatomic_set(&p->v.end_ns, now_ns);
    }
    rcu_read_unlock();
}

void tbl_proc_gone(tbl_t *t, int32_t pid, uint64_t now_ns)
{
    rcu_read_lock();
    proc_row_t *p = proc_find(t, pid);
    if (p)
        proc_retire(t, p, since_t0(t, now_ns));
    rcu_read_unlock();
}

const char *tbl_str(tbl_t *t, uint64_t id, uint32_t *len)
{
    const char *txt = NULL;
    rcu_read_lock();
    struct cds_lfht_iter it;
    cds_lfht_lookup(t->strs, mix(id), match_str, &id, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (n) {
        str_row_t *s = caa_container_of(n, str_row_t, node);
        /* pairs with rcu_assign_pointer in ingest_str(); rows live until
         * tbl_free, so the text stays valid after the read lock */
        txt = rcu_dereference(s->text);
        if (txt && len)
            *len = s->total;
    }
    rcu_read_unlock();
    return txt;
}

#define EACH(h, type, fn, arg)                                                                     \
    do {                                                                                           \
        struct cds_lfht_iter it;                                                                   \
        type *row;                                                                                 \
        rcu_read_lock();                                                                           \
        cds_lfht_for_each_entry(h, &it, row, node) fn(&row->v, arg);                               \
        rcu_read_unlock();                                                                         \
    } while (0)

void tbl_each_line(tbl_t *t, void (*fn)(const tbl_line_t *, void *), void *arg) { EACH(t->lines, line_row_t, fn, arg); }
void tbl_each_func(tbl_t *t, void (*fn)(const tbl_func_t *, void *), void *arg) { EACH(t->funcs, func_row_t, fn, arg); }
void tbl_each_proc(tbl_t *t, void (*fn)(const tbl_proc_t *, void *), void *arg) { EACH(t->procs, proc_row_t, fn, arg); }
void tbl_each_thread(tbl_t *t, void (*fn)(const tbl_thread_t *, void *), void *arg)
{
    EACH(t->threads, thread_row_t, fn, arg);
}

void tbl_each_merged_line(tbl_t *t, void (*fn)(const tbl_line_t *, void *), void *arg)
{
    EACH(t->mlines, line_row_t, fn, arg);
}
void tbl_each_merged_func(tbl_t *t, void (*fn)(const tbl_func_t *, void *), void *arg)
{
    EACH(t->mfuncs, func_row_t, fn, arg);
}

/* acquire: pairs with the release in node_new(), so the block is seen zeroed or later */
const tbl_mem_t *tbl_line_mem(const tbl_line_t *l) { return __atomic_load_n(&l->mem, __ATOMIC_ACQUIRE); }
const tbl_mem_t *tbl_func_mem(const tbl_func_t *f) { return __atomic_load_n(&f->mem, __ATOMIC_ACQUIRE); }

size_t tbl_series_read(const tbl_series_t *s, tbl_point_t *out)
{
    /* acquire: pairs with the releases in series_add/series_thin */
    uint64_t n = __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);
    if (n > TBL_POINTS)
        n = TBL_POINTS;
    size_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        tbl_point_t p = {tbl_rd(&s->p[i].t_ns), tbl_rd(&s->p[i].bytes)};
        /* insertion sort: the points are already in order unless a thinning
         * ran under us */
        size_t j = k;
        while (j > 0 && out[j - 1].t_ns > p.t_ns) {
            out[j] = out[j - 1];
            j--;
        }
        if (j > 0 && out[j - 1].t_ns == p.t_ns) {
            /* a repeated time: keep one (the later write wins, as in the series) */
            memmove(&out[j], &out[j + 1], (k - j) * sizeof *out);
            out[j - 1] = p;
            continue;
        }
        out[j] = p;
        k++;
    }
    return k;
}

void tbl_mem_summary(tbl_t *t, tbl_msum_t *out)
{
    const tbl_msum_t *g = &t->m;
    memset(out, 0, sizeof *out);
    out->live = tbl_rd(&g->live);
    out->py_live = tbl_rd(&g->py_live);
    out->peak = tbl_rd(&g->peak);
    out->peak_ns = tbl_rd(&g->peak_ns);
    out->peak_py_live = tbl_rd(&g->peak_py_live);
    out->peak_file_id = tbl_rd(&g->peak_file_id);
    /* relaxed: a snapshot of a value written by the drain (MW) */
    out->peak_line = __atomic_load_n(&g->peak_line, __ATOMIC_RELAXED);
    out->volume = tbl_rd(&g->volume);
    out->growth = tbl_rd(&g->growth);
    out->py_volume = tbl_rd(&g->py_volume);
    out->noframe_volume = tbl_rd(&g->noframe_volume);
    out->copy_bytes = tbl_rd(&g->copy_bytes);
    out->records = tbl_rd(&g->records);
    out->net_end = tbl_rd(&g->net_end);
    out->tl.n = tbl_series_read(&g->tl, out->tl.p);
}

stk_t *tbl_stk(tbl_t *t) { return t->stk; }

void tbl_set_main(tbl_t *t, int32_t pid) { uatomic_set(&t->main_pid, pid); }

uint64_t tbl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* relaxed: each counter is read whole; it orders nothing. An atomic load
 * rather than uatomic_read (a volatile load) so that ThreadSanitizer sees
 * the memory counters' reads pair with MW() stores. */
uint64_t tbl_rd(const uint64_t *field) { return __atomic_load_n(field, __ATOMIC_RELAXED); }
