/* SPDX-License-Identifier: Apache-2.0
 * mh.c — allocation and copy hooks (see mh.h). Every function in this file
 * except mh_start/mh_py_install/mh_py_final/mh_thread_exclude runs inside
 * malloc or memcpy (Context: malloc): it never allocates, never takes the
 * GIL, and never blocks on a lock.
 *
 * Sampling. Each thread counts down a random number of bytes drawn from an
 * exponential distribution of mean W (the allocation window); the allocation
 * that crosses zero is sampled and stands for W bytes per crossing. So every
 * allocated byte has the same chance 1/W to be picked: per-line totals are
 * unbiased, whatever the sizes, and a size the program happens to use
 * (98,821 bytes, say) means nothing special. A block of W bytes or more is
 * always sampled and stands for exactly its size, so big arrays are exact.
 * Copies use the same scheme with their own window.
 *
 * Frees. A sampled block is remembered in a fixed open-addressing table
 * keyed by its address, with the site and weight. free() of a block in the
 * table writes a FREE record crediting the weight back to the allocating
 * site, so allocated-minus-freed per line estimates what the line holds.
 * A free only probes the table when the block's home slot has entries (a
 * byte per home slot), so the common free costs one load of a 64 KiB array.
 * realloc is a move: the old block's entry leaves with FREE|MOVE and the new
 * block is a new candidate, with `volume` counting only the growth.
 *
 * Python vs native. The domain wrappers raise the thread's depth before
 * calling the allocator they wrap; anything below (pymalloc asking malloc
 * for a big block) sees depth > 0 and passes through, so a Python
 * allocation is counted once, as Python, with the size Python asked for.
 *
 * Table protocol. A key goes 0 -> address (insert, by the thread that got
 * the block from malloc), address -> TOMB (the thread that frees it), TOMB
 * -> address (a later insert). The payload is written after the key by the
 * inserting thread and read before the key is taken by the freeing thread:
 * the program's own synchronization orders the two (no thread can free a
 * block before malloc returned it), so relaxed atomics suffice and nothing
 * here adds a fence to the program.
 */
#include "mh.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "nm.h"
#include "pyframe.h"
#include "record.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define MH_BITS 16u
#define MH_SLOTS (1u << MH_BITS)
#define MH_PROBE 32u  /* slots a key may sit from its home */
#define MH_TOMB ((uintptr_t)1)
#define MH_FILTER_BITS 13u
#define MH_FILTER (1u << MH_FILTER_BITS)
/* How long a sample may wait for the walk lock (held by the sampler for one
 * thread's walk, a few µs, or by a fork): past it the sample has no line. */
#define MH_WAIT_NS 5000000ull

/* ---- the real functions ---- */

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    size_t (*usable)(void *);
    void *(*memcpy)(void *, const void *, size_t);
    void *(*memmove)(void *, const void *, size_t);
    void *(*mempcpy)(void *, const void *, size_t);
    void *(*memcpy_chk)(void *, const void *, size_t, size_t);
    void *(*memmove_chk)(void *, const void *, size_t, size_t);
    void *(*mempcpy_chk)(void *, const void *, size_t, size_t);
} mh_real;

/* What dlsym allocates while we look up the real allocator comes from here
 * (mimalloc's _mi_preloading rule). Blocks carry their size in front so a
 * realloc can move them out; free ignores them. */
static _Alignas(16) char mh_boot[64 * 1024];
static _Atomic size_t x_mh_boot_used;
static int mh_resolving; /* only the loading thread resolves: the process is single-threaded then */

static bool mh_is_boot(const void *p)
{
    return (const char *)p >= mh_boot && (const char *)p < mh_boot + sizeof mh_boot;
}

static void *mh_boot_alloc(size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    /* relaxed: the counter only hands out disjoint ranges */
    size_t at = atomic_fetch_add_explicit(&x_mh_boot_used, need, memory_order_relaxed);
    if (n > sizeof mh_boot || at + need > sizeof mh_boot)
        return NULL;
    memcpy(mh_boot + at, &n, sizeof n); /* resolves to the fallback below until dlsym is done */
    return mh_boot + at + 16;
}

static size_t mh_boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const char *)p - 16, sizeof n);
    return n;
}

/* A byte loop the compiler must not turn back into a memcpy call (which
 * would be us): only used before the real memcpy is known. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void *mh_copy_bytes(void *d, const void *s,
                                                                                       size_t n)
{
    unsigned char *dd = d;
    const unsigned char *ss = s;
    if (dd < ss || dd >= ss + n)
        for (size_t i = 0; i < n; i++)
            dd[i] = ss[i];
    else
        for (size_t i = n; i-- > 0;)
            dd[i] = ss[i];
    return d;
}

static bool mh_resolve(void)
{
    if (mh_resolving)
        return false;
    mh_resolving = 1;
#define MH_SYM(f, name) *(void **)&mh_real.f = dlsym(RTLD_NEXT, name)
    MH_SYM(memcpy, "memcpy");
    MH_SYM(memmove, "memmove");
    MH_SYM(mempcpy, "mempcpy");
    MH_SYM(memcpy_chk, "__memcpy_chk");
    MH_SYM(memmove_chk, "__memmove_chk");
    MH_SYM(mempcpy_chk, "__mempcpy_chk");
    MH_SYM(calloc, "calloc");
    MH_SYM(realloc, "realloc");
    MH_SYM(free, "free");
    MH_SYM(posix_memalign, "posix_memalign");
    MH_SYM(aligned_alloc, "aligned_alloc");
    MH_SYM(memalign, "memalign");
    MH_SYM(valloc, "valloc");
    MH_SYM(pvalloc, "pvalloc");
    MH_SYM(reallocarray, "reallocarray");
    MH_SYM(usable, "malloc_usable_size");
    MH_SYM(malloc, "malloc"); /* last: its presence says "resolved" */
#undef MH_SYM
    mh_resolving = 0;
    return mh_real.malloc && mh_real.free && mh_real.calloc && mh_real.realloc;
}

/* Before anything else of ours: the real allocator is known before the
 * first constructor of the program can allocate through us. */
__attribute__((constructor(101))) static void mh_init(void) { mh_resolve(); }

/* ---- state ---- */

static ring_seg_t *mh_seg;
static int mh_slot = -1;
static uint64_t mh_window, mh_cp_window; /* written by mh_start before x_mh_on is set */
/* relaxed loads everywhere: a thread that sees the switch late samples a
 * few allocations more or fewer; nothing else is published through it */
static _Atomic int x_mh_on, x_mh_cp_on;

typedef struct mh_ent {
    _Atomic uintptr_t x_key; /* 0 empty, MH_TOMB, or the block's address */
    uint32_t line, func_line;
    uint64_t file_id, func_id;
    uint64_t weight; /* bytes the sample stands for */
    uint64_t size;   /* bytes the program asked for */
    uint32_t flags;  /* REC_M_PYTHON / NOFRAME / OUTSIDE of the allocation */
    uint32_t stack;  /* --stacks: the allocating call stack's number (REC_MEM aux), 0: none */
} mh_ent_t;

typedef struct mh_table {
    /* Live entries per filter bucket, saturating at 255 (then sticky).
     * 8 KiB, so the check every free makes stays in L1. */
    _Atomic uint8_t x_filter[MH_FILTER];
    mh_ent_t ent[MH_SLOTS];
} mh_table_t;

/* mmap'd by mh_start; NULL while memory is off and after FINAL. The
 * mapping itself is never unmapped (a free racing with FINAL may still
 * probe it). relaxed: the pointer guards only our own table. */
static _Atomic(mh_table_t *) x_mh_tbl;

static inline mh_table_t *mh_table(void) { return atomic_load_explicit(&x_mh_tbl, memory_order_relaxed); }

typedef struct mh_tls {
    uint32_t depth;   /* > 0: inside a hook, a wrapper, or an excluded thread: pass through */
    bool seeded;
    int64_t left;     /* bytes until the next allocation sample */
    int64_t cp_left;  /* bytes until the next copy sample */
    uint64_t rng;
    size_t inner_old; /* set by the C realloc under a Python realloc: the old block's usable size */
} mh_tls_t;

/* initial-exec: the library is loaded at startup (LD_PRELOAD), so its TLS is
 * static and an access is one %fs-relative load, with no call that could
 * allocate (a dynamic-TLS access can call malloc: the loop depth guards). */
static __thread mh_tls_t mh_t __attribute__((tls_model("initial-exec")));

static inline bool mh_on(void) { return atomic_load_explicit(&x_mh_on, memory_order_relaxed) != 0; }

static uint64_t mh_rand(mh_tls_t *t)
{
    if (!t->seeded) {
        t->rng = sys_now_ns() ^ ((uint64_t)sys_gettid() << 32) ^ (uint64_t)(uintptr_t)t ^ 0x9E3779B97F4A7C15ull;
        if (!t->rng)
            t->rng = 1;
        t->seeded = true;
    }
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545F4914F6CDD1Dull;
}

/* Bytes to the next sample: exponential with mean w (>= 1). */
static int64_t mh_draw(mh_tls_t *t, uint64_t w)
{
    double u = ((double)(mh_rand(t) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double x = -log(u) * (double)w;
    return x >= 9e18 ? INT64_MAX / 2 : (int64_t)x + 1;
}

static inline uint64_t mh_mix(const void *p) { return ((uint64_t)(uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull; }
static inline uint32_t mh_home(const void *p) { return (uint32_t)(mh_mix(p) >> (64 - MH_BITS)); }
/* other bits than the home's: a filter bucket is not a fixed group of slots */
static inline uint32_t mh_bucket(const void *p) { return (uint32_t)(mh_mix(p) >> 20) & (MH_FILTER - 1); }

/* Counts an entry in or out of p's filter bucket. A bucket that reached 255
 * stays there: it only costs probes. Context: malloc. */
static void mh_filter_add(mh_table_t *tb, const void *p, int d)
{
    _Atomic uint8_t *c = &tb->x_filter[mh_bucket(p)];
    /* relaxed: the filter is a hint ordered by the program (table protocol) */
    uint8_t v = atomic_load_explicit(c, memory_order_relaxed);
    while (v != 255 && !(d < 0 && v == 0)) {
        if (atomic_compare_exchange_weak_explicit(c, &v, (uint8_t)(v + d), memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

/* False when p is certainly not a sampled block: the check on every free. */
static inline bool mh_maybe_sampled(mh_table_t *tb, const void *p)
{
    return atomic_load_explicit(&tb->x_filter[mh_bucket(p)], memory_order_relaxed) != 0; /* see mh_filter_add */
}

/* ---- the sampled-block table ---- */

/* An entry's contents, all but its key: one place, so that no field is
 * left behind (the stack number once was, and every free of a sampled
 * block credited a stale number: memory_stacks showed freed memory as
 * live). Context: malloc. */
static inline void mh_copy(mh_ent_t *dst, const mh_ent_t *src)
{
    dst->line = src->line, dst->func_line = src->func_line, dst->file_id = src->file_id, dst->func_id = src->func_id;
    dst->weight = src->weight, dst->size = src->size, dst->flags = src->flags, dst->stack = src->stack;
}

static void mh_insert(const void *p, const mh_ent_t *v)
{
    mh_table_t *tb = mh_table();
    if (!tb)
        return;
    uint32_t h = mh_home(p);
    for (uint32_t i = 0; i < MH_PROBE; i++) {
        mh_ent_t *e = &tb->ent[(h + i) & (MH_SLOTS - 1)];
        /* relaxed: see the table protocol in the file comment */
        uintptr_t k = atomic_load_explicit(&e->x_key, memory_order_relaxed);
        if (k == (uintptr_t)p) {
            /* an entry whose free we never saw (freed by a path we do not
             * hook): the address is ours again, so is the entry */
            mh_copy(e, v);
            return;
        }
        if (k != 0 && k != MH_TOMB)
            continue;
        /* relaxed: the key publishes nothing (table protocol) */
        if (!atomic_compare_exchange_strong_explicit(&e->x_key, &k, (uintptr_t)p, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        mh_copy(e, v);
        mh_filter_add(tb, p, +1);
        return;
    }
    /* window full: the block stays untracked and its free is never credited */
}

/* Removes p's entry into *out. Returns false if p was not sampled. */
static bool mh_take(const void *p, mh_ent_t *out)
{
    mh_table_t *tb = mh_table();
    if (!tb || !p)
        return false;
    uint32_t h = mh_home(p);
    for (uint32_t i = 0; i < MH_PROBE; i++) {
        mh_ent_t *e = &tb->ent[(h + i) & (MH_SLOTS - 1)];
        uintptr_t k = atomic_load_explicit(&e->x_key, memory_order_relaxed); /* table protocol */
        if (k == 0)
            return false;
        if (k != (uintptr_t)p)
            continue;
        mh_copy(out, e);
        /* relaxed: only one thread frees a given block */
        if (!atomic_compare_exchange_strong_explicit(&e->x_key, &k, MH_TOMB, memory_order_relaxed,
                                                     memory_order_relaxed))
            return false;
        mh_filter_add(tb, p, -1);
        return true;
    }
    return false;
}

/* ---- records ---- */

static void mh_put(rec_t *r, pid_t tid, uint64_t now)
{
    r->h.tid = (uint32_t)tid;
    r->h.t_ns = now;
    ring_put(mh_seg, mh_slot, r);
}

/* --stacks: numbers an allocation's stack (smp_mem_stack, set by rt.c, so
 * this module and its unit test need no sampler). release by mh_set_stacker,
 * acquire in mh_where: the function is whole before a hook calls it. */
static _Atomic(mh_stacker_fn) x_mh_stacker;

void mh_set_stacker(mh_stacker_fn fn) { atomic_store_explicit(&x_mh_stacker, fn, memory_order_release); }

/* --stacks: the allocating thread's frames, leaf first; guarded by the pyf
 * lock (held across the walk and the numbering), so one buffer serves every
 * thread and no hook puts 12 KiB on a thread's stack. */
#define MH_STK_DEPTH 256
static pyf_frame_t mh_stk_buf[MH_STK_DEPTH];

/* Names the calling thread's Python line into the site fields, and with
 * --stacks its call stack's number into *stack (0: none; stack NULL: not
 * asked, as for copies). Returns the
 * REC_M_NOFRAME / REC_M_OUTSIDE flags. Caller has raised depth (the walk
 * copies memory). */
static unsigned mh_where(uint64_t *file_id, uint64_t *func_id, uint32_t *line, uint32_t *func_line, uint16_t *stack,
                         pid_t tid, uint64_t now)
{
    *file_id = *func_id = 0;
    *line = *func_line = 0;
    if (stack)
        *stack = 0;
    const void *ts = pyf_self_tstate();
    if (!ts || !pyf_trylock(MH_WAIT_NS))
        return REC_M_NOFRAME;
    pyf_loc_t loc;
    unsigned fl = REC_M_NOFRAME;
    mh_stacker_fn stacker = stack ? atomic_load_explicit(&x_mh_stacker, memory_order_acquire) : NULL;
    bool stacks = stacker && (ring_cfg(mh_seg)->flags & RING_CFG_STACKS) != 0;
    int rc = stacks ? pyf_sample_stack(ts, &loc, mh_stk_buf, MH_STK_DEPTH) : pyf_sample(ts, &loc);
    if (rc == 0 && loc.has_frame) {
        nm_send(mh_seg, mh_slot, loc.file_id, loc.file, loc.file_len, tid, now);
        nm_send(mh_seg, mh_slot, loc.func_id, loc.func, loc.func_len, tid, now);
        *file_id = loc.file_id;
        *func_id = loc.func_id;
        *line = loc.line;
        *func_line = loc.func_line;
        fl = loc.in_scope ? 0 : REC_M_OUTSIDE;
        if (stacks && loc.stack_n > 0) {
            for (int k = 0; k < loc.stack_n; k++) {
                nm_send(mh_seg, mh_slot, loc.stack[k].file_id, loc.stack[k].file, loc.stack[k].file_len, tid, now);
                nm_send(mh_seg, mh_slot, loc.stack[k].func_id, loc.stack[k].func, loc.stack[k].func_len, tid, now);
            }
            *stack = stacker(&loc, tid, now);
        }
    }
    pyf_unlock();
    return fl;
}

static void mh_sample(mh_tls_t *t, void *p, size_t n, uint64_t weight, uint64_t volume, unsigned py)
{
    if (!ring_enabled(mh_seg))
        return; /* profiling switched off (background control): count nothing */
    t->depth++;
    pid_t tid = sys_gettid();
    uint64_t now = sys_now_ns();
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_MEM;
    uint16_t stack;
    unsigned fl = py | mh_where(&r.u.mem.file_id, &r.u.mem.func_id, &r.u.mem.line, &r.u.mem.func_line, &stack,
                                tid, now);
    r.h.flags = (uint8_t)fl;
    r.h.aux = stack;
    r.u.mem.bytes = weight;
    r.u.mem.volume = volume;
    mh_put(&r, tid, now);
    if (p) {
        mh_ent_t v = {.line = r.u.mem.line,
                      .func_line = r.u.mem.func_line,
                      .file_id = r.u.mem.file_id,
                      .func_id = r.u.mem.func_id,
                      .weight = weight,
                      .size = n,
                      .flags = fl,
                      .stack = stack};
        mh_insert(p, &v);
    }
    t->depth--;
}

/* The block p of n bytes was handed out (a realloc's new block with old
 * bytes before it) and the countdown crossed zero, or the block is big. */
static __attribute__((noinline)) void mh_count_slow(mh_tls_t *t, void *p, size_t n, size_t old, unsigned py)
{
    uint64_t grown = n > old ? n - old : 0;
    if (n >= mh_window) {
        mh_sample(t, p, n, n, grown, py); /* big: always, exactly */
        return;
    }
    if (!t->seeded) {
        /* a thread's first allocation: start its countdown (left was -n) */
        t->left += mh_draw(t, mh_window);
        if (t->left > 0)
            return;
    }
    uint64_t k = 0;
    while (t->left <= 0) {
        k++;
        t->left += mh_draw(t, mh_window);
    }
    uint64_t w = k * mh_window;
    /* the growth's share of what the sample stands for: unbiased for volume */
    uint64_t vol = n ? (uint64_t)((double)w * (double)grown / (double)n) : 0;
    mh_sample(t, p, n, w, vol, py);
}

/* Decides whether the block p of n bytes is sampled: the allocation fast
 * path is a subtraction and a test. */
static inline void mh_count(mh_tls_t *t, void *p, size_t n, size_t old, unsigned py)
{
    if (LIKELY(n < mh_window)) {
        t->left -= (int64_t)n;
        if (LIKELY(t->left > 0))
            return;
    }
    mh_count_slow(t, p, n, old, py);
}

/* If p was sampled, removes its entry (into *out when out is not NULL) and
 * writes the FREE record crediting it back. Returns whether it was. */
static __attribute__((noinline)) bool mh_release_slow(mh_tls_t *t, void *p, bool move, mh_ent_t *out)
{
    mh_ent_t e;
    if (!mh_take(p, &e))
        return false;
    if (out)
        *out = e;
    t->depth++;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_MEM;
    r.h.flags = (uint8_t)((e.flags & (REC_M_PYTHON | REC_M_NOFRAME | REC_M_OUTSIDE)) | REC_M_FREE |
                          (move ? REC_M_MOVE : 0));
    r.u.mem.file_id = e.file_id;
    r.u.mem.func_id = e.func_id;
    r.u.mem.line = e.line;
    r.u.mem.func_line = e.func_line;
    r.u.mem.bytes = e.weight;
    r.h.aux = (uint16_t)e.stack; /* the stack credited back, as the site is */
    mh_put(&r, sys_gettid(), sys_now_ns());
    t->depth--;
    return true;
}

static inline bool mh_release(mh_tls_t *t, void *p, bool move, mh_ent_t *out)
{
    mh_table_t *tb = mh_table();
    if (LIKELY(!tb || !mh_maybe_sampled(tb, p)))
        return false;
    return mh_release_slow(t, p, move, out);
}

/* A fresh block from the C allocator. */
static inline void *mh_got(void *p, size_t n)
{
    if (p && mh_on()) {
        mh_tls_t *t = &mh_t;
        if (t->depth == 0)
            mh_count(t, p, n, 0, 0);
    }
    return p;
}

/* ---- the C allocator ---- */

EXPORT void *malloc(size_t n)
{
    if (UNLIKELY(!mh_real.malloc) && !mh_resolve())
        return mh_boot_alloc(n);
    return mh_got(mh_real.malloc(n), n);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    if (UNLIKELY(!mh_real.calloc) && !mh_resolve()) {
        size_t n;
        if (__builtin_mul_overflow(nmemb, size, &n))
            return NULL;
        return mh_boot_alloc(n); /* static storage: already zero */
    }
    size_t n = 0;
    if (__builtin_mul_overflow(nmemb, size, &n))
        return mh_real.calloc(nmemb, size); /* let it fail its own way */
    return mh_got(mh_real.calloc(nmemb, size), n);
}

EXPORT void free(void *p)
{
    if (!p || UNLIKELY(mh_is_boot(p)))
        return;
    mh_release(&mh_t, p, false, NULL);
    if (LIKELY(mh_real.free != NULL))
        mh_real.free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (UNLIKELY(mh_is_boot(p))) {
        void *q = malloc(n);
        size_t old = mh_boot_size(p);
        if (q)
            memcpy(q, p, old < n ? old : n);
        return q;
    }
    if (UNLIKELY(!mh_real.realloc) && !mh_resolve())
        return NULL;
    if (!mh_on())
        return mh_real.realloc(p, n);
    mh_tls_t *t = &mh_t;
    size_t old = mh_real.usable ? mh_real.usable(p) : 0;
    if (t->depth > 0)
        t->inner_old = old; /* for the Python realloc wrapper above us */
    mh_release(t, p, n != 0, NULL); /* realloc(p, 0) frees p */
    void *q = mh_real.realloc(p, n);
    if (q && n && t->depth == 0)
        mh_count(t, q, n, old, 0);
    return q;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (UNLIKELY(!mh_real.posix_memalign) && !mh_resolve())
        return ENOMEM;
    int rc = mh_real.posix_memalign(out, align, n);
    if (rc == 0)
        mh_got(*out, n);
    return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    if (UNLIKELY(!mh_real.aligned_alloc) && !mh_resolve())
        return NULL;
    return mh_got(mh_real.aligned_alloc(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
    if (UNLIKELY(!mh_real.memalign) && !mh_resolve())
        return NULL;
    return mh_got(mh_real.memalign(align, n), n);
}

EXPORT void *valloc(size_t n)
{
    if (UNLIKELY(!mh_real.valloc) && !mh_resolve())
        return NULL;
    return mh_got(mh_real.valloc(n), n);
}

EXPORT void *pvalloc(size_t n)
{
    if (UNLIKELY(!mh_real.pvalloc) && !mh_resolve())
        return NULL;
    return mh_got(mh_real.pvalloc(n), n);
}

/* ---- copies ---- */

/* The countdown crossed zero (n already subtracted). Copies are counted
 * only here: the fast path is one thread-local subtraction, because CPython
 * calls memcpy for every small string it builds. Off, inside our own hooks,
 * or in an excluded thread, the countdown is just reset. */
static __attribute__((noinline)) void mh_copy_slow(mh_tls_t *t, size_t n)
{
    if (atomic_load_explicit(&x_mh_cp_on, memory_order_relaxed) == 0) { /* see x_mh_on */
        /* off (cpu-only, not started yet, or after FINAL): look again
         * after this many bytes, so a thread that copied before mh_start
         * still counts once it is on */
        t->cp_left = 1 << 20;
        return;
    }
    if (!t->seeded) {
        t->cp_left += mh_draw(t, mh_cp_window); /* a thread's first copy starts its countdown */
        if (t->cp_left > 0)
            return;
    }
    uint64_t w;
    if (n >= mh_cp_window) {
        t->cp_left += (int64_t)n; /* big: exact, and outside the countdown */
        if (t->cp_left <= 0)
            t->cp_left = mh_draw(t, mh_cp_window);
        w = n;
    } else {
        uint64_t k = 0;
        while (t->cp_left <= 0) {
            k++;
            t->cp_left += mh_draw(t, mh_cp_window);
        }
        w = k * mh_cp_window;
    }
    if (t->depth > 0 || !ring_enabled(mh_seg))
        return;
    t->depth++;
    pid_t tid = sys_gettid();
    uint64_t now = sys_now_ns();
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_COPY;
    r.h.flags = (uint8_t)mh_where(&r.u.copy.file_id, &r.u.copy.func_id, &r.u.copy.line, &r.u.copy.func_line, NULL,
                                  tid, now);
    r.u.copy.bytes = w;
    mh_put(&r, tid, now);
    t->depth--;
}

static inline void mh_copied(size_t n)
{
    mh_tls_t *t = &mh_t;
    t->cp_left -= (int64_t)n;
    if (UNLIKELY(t->cp_left <= 0))
        mh_copy_slow(t, n);
}

EXPORT void *memcpy(void *d, const void *s, size_t n)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.memcpy))
        return mh_copy_bytes(d, s, n);
    return mh_real.memcpy(d, s, n);
}

EXPORT void *memmove(void *d, const void *s, size_t n)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.memmove))
        return mh_copy_bytes(d, s, n);
    return mh_real.memmove(d, s, n);
}

EXPORT void *mempcpy(void *d, const void *s, size_t n)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.mempcpy))
        return (char *)mh_copy_bytes(d, s, n) + n;
    return mh_real.mempcpy(d, s, n);
}

/* The fortified twins (-D_FORTIFY_SOURCE, which Debian builds CPython
 * with): the real ones keep their overflow check. */
EXPORT void *__memcpy_chk(void *d, const void *s, size_t n, size_t dlen)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.memcpy_chk))
        return mh_copy_bytes(d, s, n);
    return mh_real.memcpy_chk(d, s, n, dlen);
}

EXPORT void *__memmove_chk(void *d, const void *s, size_t n, size_t dlen)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.memmove_chk))
        return mh_copy_bytes(d, s, n);
    return mh_real.memmove_chk(d, s, n, dlen);
}

EXPORT void *__mempcpy_chk(void *d, const void *s, size_t n, size_t dlen)
{
    mh_copied(n);
    if (UNLIKELY(!mh_real.mempcpy_chk))
        return (char *)mh_copy_bytes(d, s, n) + n;
    return mh_real.mempcpy_chk(d, s, n, dlen);
}

/* ---- CPython's allocator domains ---- */

/* PEP 445's PyMemAllocatorEx and domain numbers (PYMEM_DOMAIN_RAW, _MEM,
 * _OBJ), the same in every CPython since 3.5: declared here so that the
 * runtime builds with no Python header and serves every version. */
typedef struct mh_pyalloc {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} mh_pyalloc_t;
enum { MH_RAW, MH_MEM, MH_OBJ, MH_NDOM }; /* = the domain numbers */
static mh_pyalloc_t mh_py_orig[MH_NDOM];

/* The wrappers ignore their ctx: the struct swap is not atomic, and a
 * thread that reads our function with the old ctx must still work. */
static inline __attribute__((always_inline)) void *mh_py_malloc(int d, size_t n)
{
    mh_tls_t *t = &mh_t;
    t->depth++; /* the C allocator below must not count this block again */
    void *p = mh_py_orig[d].malloc(mh_py_orig[d].ctx, n);
    t->depth--;
    if (p && t->depth == 0 && mh_on())
        mh_count(t, p, n, 0, REC_M_PYTHON);
    return p;
}

static inline __attribute__((always_inline)) void *mh_py_calloc(int d, size_t nel, size_t el)
{
    mh_tls_t *t = &mh_t;
    t->depth++;
    void *p = mh_py_orig[d].calloc(mh_py_orig[d].ctx, nel, el);
    t->depth--;
    if (p && t->depth == 0 && mh_on())
        mh_count(t, p, nel * el, 0, REC_M_PYTHON); /* no overflow: the allocator succeeded */
    return p;
}

static void *mh_py_realloc(int d, void *p, size_t n)
{
    mh_tls_t *t = &mh_t;
    mh_ent_t e;
    /* before the call: once the block is released another thread may get
     * the same address from malloc and sample it */
    bool had = p && mh_release(t, p, true, &e);
    t->depth++;
    t->inner_old = SIZE_MAX;
    void *q = mh_py_orig[d].realloc(mh_py_orig[d].ctx, p, n);
    size_t inner = t->inner_old;
    t->depth--;
    if (q && t->depth == 0 && mh_on()) {
        /* old size: the C allocator's word for a big block; ours if we had
         * sampled it; else a pool block (<= 512 bytes) resized in place
         * (no growth worth counting) or moved (count it all) */
        size_t old = inner != SIZE_MAX ? inner : had ? e.size : (q == p ? n : 0);
        if (!p)
            old = 0;
        mh_count(t, q, n, old, REC_M_PYTHON);
    }
    return q;
}

static inline __attribute__((always_inline)) void mh_py_free(int d, void *p)
{
    if (p)
        mh_release(&mh_t, p, false, NULL);
    mh_py_orig[d].free(mh_py_orig[d].ctx, p);
}

#define MH_PY_DOMAIN(D)                                                                                   \
    static void *mh_py_malloc_##D(void *c, size_t n) { return (void)c, mh_py_malloc(D, n); }             \
    static void *mh_py_calloc_##D(void *c, size_t a, size_t b) { return (void)c, mh_py_calloc(D, a, b); } \
    static void *mh_py_realloc_##D(void *c, void *p, size_t n) { return (void)c, mh_py_realloc(D, p, n); } \
    static void mh_py_free_##D(void *c, void *p) { (void)c, mh_py_free(D, p); }
MH_PY_DOMAIN(MH_RAW)
MH_PY_DOMAIN(MH_MEM)
MH_PY_DOMAIN(MH_OBJ)

void mh_py_install(void)
{
    static bool done;
    if (done || !mh_on())
        return;
    done = true;
    void (*get)(int, mh_pyalloc_t *);
    void (*set)(int, mh_pyalloc_t *);
    *(void **)&get = dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    *(void **)&set = dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    if (!get || !set)
        return;
    static const int dom[MH_NDOM] = {MH_RAW, MH_MEM, MH_OBJ};
    mh_pyalloc_t mine[MH_NDOM] = {
        {NULL, mh_py_malloc_MH_RAW, mh_py_calloc_MH_RAW, mh_py_realloc_MH_RAW, mh_py_free_MH_RAW},
        {NULL, mh_py_malloc_MH_MEM, mh_py_calloc_MH_MEM, mh_py_realloc_MH_MEM, mh_py_free_MH_MEM},
        {NULL, mh_py_malloc_MH_OBJ, mh_py_calloc_MH_OBJ, mh_py_realloc_MH_OBJ, mh_py_free_MH_OBJ},
    };
    /* all originals first: a wrapper may run as soon as its domain is set */
    for (int d = 0; d < MH_NDOM; d++)
        get(dom[d], &mh_py_orig[d]);
    for (int d = 0; d < MH_NDOM; d++)
        set(dom[d], &mine[d]);
}

void mh_py_final(void)
{
    if (!mh_seg || mh_slot < 0)
        return;
    if (mh_on()) {
        mh_tls_t *t = &mh_t;
        t->depth++;
        rec_t r;
        memset(&r, 0, sizeof r);
        r.h.kind = REC_MEM;
        r.h.flags = REC_M_FINAL;
        mh_put(&r, sys_gettid(), sys_now_ns());
        t->depth--;
    }
    /* relaxed: see x_mh_on and x_mh_tbl */
    atomic_store_explicit(&x_mh_tbl, NULL, memory_order_relaxed);
    atomic_store_explicit(&x_mh_on, 0, memory_order_relaxed);
    atomic_store_explicit(&x_mh_cp_on, 0, memory_order_relaxed);
}

/* ---- lifecycle ---- */

int mh_start(ring_seg_t *seg, int slot)
{
    const ring_cfg_t *cfg = ring_cfg(seg);
    if (cfg->flags & RING_CFG_CPU_ONLY)
        return 0;
    if (!mh_real.malloc && !mh_resolve())
        return -ENOSYS;
    mh_seg = seg;
    mh_slot = slot;
    mh_window = cfg->alloc_window;
    mh_cp_window = cfg->copy_window;
    if (mh_window) {
        void *m = mmap(NULL, sizeof(mh_table_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED)
            return -errno;
        atomic_store_explicit(&x_mh_tbl, m, memory_order_relaxed); /* see x_mh_tbl */
        atomic_store_explicit(&x_mh_on, 1, memory_order_relaxed);  /* see x_mh_on */
    }
    if (mh_cp_window)
        atomic_store_explicit(&x_mh_cp_on, 1, memory_order_relaxed); /* see x_mh_on */
    return 0;
}

void mh_child(int slot)
{
    mh_slot = slot;
    mh_table_t *tb = mh_table();
    if (tb) {
        /* fresh zero pages over the inherited table: mmap is async-signal-safe */
        void *m = mmap(tb, sizeof(mh_table_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        if (m == MAP_FAILED) /* frees go uncredited; allocations are still sampled */
            atomic_store_explicit(&x_mh_tbl, NULL, memory_order_relaxed); /* see x_mh_tbl */
    }
}

void mh_thread_exclude(void) { mh_t.depth = 1; }
