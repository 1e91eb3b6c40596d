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

typedef struct line_row {
    struct cds_lfht_node node;
    tbl_line_t v;
} line_row_t;
typedef struct func_row {
    struct cds_lfht_node node;
    tbl_func_t v;
} func_row_t;
typedef struct proc_row {
    struct cds_lfht_node node;
    tbl_proc_t v;
} proc_row_t;
typedef struct thread_row {
    struct cds_lfht_node node;
    tbl_thread_t v;
} thread_row_t;

struct tbl {
    struct cds_lfht *strs, *lines, *funcs, *procs, *threads;
    uint64_t t0_ns;
    uint64_t rng; /* writer-private: reservoir sampling */
    int32_t main_pid; /* the program's first process: uatomic_set by tbl_set_main, read by the drain */
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
    t->t0_ns = t0_ns;
    t->rng = 0x2545f4914f6cdd1dull;
    if (!t->strs || !t->lines || !t->funcs || !t->procs || !t->threads) {
        tbl_free(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

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
    FREE_ALL(t->lines, line_row_t, (void)0);
    FREE_ALL(t->funcs, func_row_t, (void)0);
    FREE_ALL(t->procs, proc_row_t, (void)0);
    FREE_ALL(t->threads, thread_row_t, (void)0);
    rcu_read_unlock();
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

static line_row_t *line_row(tbl_t *t, int32_t pid, uint64_t file, uint32_t line)
{
    tbl_line_t k = {.pid = pid, .line = line, .file_id = file};
    return row_get(t->lines, mix(file ^ mix((uint64_t)pid << 32 | line)), match_line, &k,
                   offsetof(tbl_line_t, c), sizeof(line_row_t));
}

static func_row_t *func_row(tbl_t *t, int32_t pid, uint64_t file, uint64_t func, uint32_t fline)
{
    tbl_func_t k = {.pid = pid, .func_line = fline, .file_id = file, .func_id = func};
    return row_get(t->funcs, mix(file ^ mix(func ^ mix((uint64_t)pid << 32 | fline))), match_func, &k,
                   offsetof(tbl_func_t, c), sizeof(func_row_t));
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

static void ingest_str(tbl_t *t, const rec_t *r)
{
    uint64_t id = r->u.str.id;
    unsigned total = r->u.str.total, off = r->u.str.off, n = r->u.str.n;
    if (total > REC_STR_MAX || off + n > total || off % REC_STR_CHUNK != 0)
        return; /* malformed: ignore rather than trust */
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
    if (p)
        bump(t, &p->v.c, py, nat, sys, cpu + other, wall, when);
    thread_row_t *th = thread_row(t, pid, (int32_t)r->h.tid);
    if (th)
        bump(t, &th->v.c, py, nat - other, sys, cpu, wall, when);
    if (r->h.flags & (REC_F_OUTSIDE | REC_F_NOFRAME))
        return;
    line_row_t *l = line_row(t, pid, r->u.cpu.file_id, r->u.cpu.line);
    if (l)
        bump(t, &l->v.c, py, nat, sys, cpu + other, wall, when);
    func_row_t *f = func_row(t, pid, r->u.cpu.file_id, r->u.cpu.func_id, r->u.cpu.func_line);
    if (f)
        bump(t, &f->v.c, py, nat, sys, cpu + other, wall, when);
}

void tbl_ingest(tbl_t *t, int32_t pid, const rec_t *r)
{
    rcu_read_lock();
    switch (r->h.kind) {
    case REC_STR:
        ingest_str(t, r);
        break;
    case REC_CPU:
        ingest_cpu(t, pid, r);
        break;
    case REC_PROC_START: {
        proc_row_t *p = proc_row(t, pid);
        if (!p)
            break;
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
    default:
        break; /* kinds of later issues, or from a newer writer: skipped */
    }
    rcu_read_unlock();
}

void tbl_slot_stats(tbl_t *t, int32_t pid, const ring_slot_info_t *info)
{
    rcu_read_lock();
    proc_row_t *p = proc_row(t, pid);
    if (p) {
        uatomic_set(&p->v.written, info->attempts);
        uatomic_set(&p->v.dropped, info->dropped);
        uatomic_set(&p->v.torn, info->torn);
    }
    rcu_read_unlock();
}

void tbl_proc_end(tbl_t *t, int32_t pid, bool has_status, int status, uint64_t now_ns)
{
    rcu_read_lock();
    proc_row_t *p = proc_row(t, pid);
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

void tbl_set_main(tbl_t *t, int32_t pid) { uatomic_set(&t->main_pid, pid); }

uint64_t tbl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tbl_rd(const uint64_t *field) { return uatomic_read(field); }
