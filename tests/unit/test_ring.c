/* SPDX-License-Identifier: Apache-2.0
 * test_ring.c — the shared segment and its per-process MPSC rings
 * (runtime/ring.c): order and content through wrap-around and overflow,
 * forked writer processes x threads against a live drain (every record
 * exactly once, intact, and the accounting identity per slot), a writer
 * SIGKILLed mid-write (torn cells skipped, slot released and reused),
 * slot exhaustion, and a second mapping through /proc/self/fd.
 * Built plain and with -fsanitize=thread (make check-tsan). TSan sees only
 * this process: the in-process configs are what it checks, and with GCC it
 * sees ring.c's record memcpy only under -fno-builtin-memcpy (GCC inlines
 * the 56-byte copy without instrumenting it). Context: thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "record.h"
#include "ring.h"
#include "tap.h"

#define MAXP 4     /* writer processes per configuration */
#define MAXT 4     /* writer threads per process */
#define DBUF 256   /* records per ring_drain call */
#ifndef WATCHDOG_S
#define WATCHDOG_S 120 /* seconds; the whole test takes a few */
#endif

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* splitmix64 finalizer: the filler and the per-stream set hash. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The body every test record carries in u.raw. */
typedef struct body {
    int32_t pid;
    uint32_t thr;
    uint64_t seq;
    uint64_t fill[2];
    uint64_t sum; /* rec_sum() of the record's first 48 bytes */
} body_t;
_Static_assert(sizeof(body_t) == sizeof(((rec_t *)0)->u.raw), "body fills the record");

/* Checksum of the record's first 48 bytes (header and body up to sum),
 * one multiply per word: cheap, so writers spend their time in ring_put. */
static uint64_t rec_sum(const rec_t *r)
{
    uint64_t w[6], h = 0xcbf29ce484222325ull;
    memcpy(w, r, sizeof w);
    for (int i = 0; i < 6; i++)
        h = (h ^ w[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}
_Static_assert(offsetof(rec_t, u) + offsetof(body_t, sum) == 48, "sum covers 6 words");

static void make_rec(rec_t *r, int32_t pid, uint32_t thr, uint64_t seq)
{
    body_t b = { pid, thr, seq, { mix(((uint64_t)(uint32_t)pid << 32) ^ ((uint64_t)thr << 24) ^ seq), mix(~seq) }, 0 };
    memset(r, 0, sizeof *r);
    r->h.kind = REC_CPU;
    r->h.flags = (uint8_t)thr;
    r->h.aux = (uint16_t)seq;
    r->h.tid = (uint32_t)pid ^ thr;
    r->h.t_ns = seq * 3 + 1;
    memcpy(r->u.raw, &b, sizeof b);
    b.sum = rec_sum(r);
    memcpy(r->u.raw, &b, sizeof b);
}

/* Intact: the checksum matches and the whole record equals the one its
 * (pid, thr, seq) generates, byte for byte. */
static bool rec_intact(const rec_t *r, body_t *b)
{
    rec_t want;
    memcpy(b, r->u.raw, sizeof *b);
    if (b->sum != rec_sum(r))
        return false;
    make_rec(&want, b->pid, b->thr, b->seq);
    return memcmp(&want, r, sizeof want) == 0;
}

/* ---- per-stream bookkeeping on the drain side ---- */

typedef struct stream {
    int64_t last;   /* last seq seen; -1 before the first */
    uint64_t count; /* records received */
    uint64_t hsum;  /* sum of mix(seq) over received records */
} stream_t;

typedef struct tracker {
    int32_t pid[MAXP];
    int np;
    stream_t st[MAXP][MAXT];
    uint64_t per_pid[MAXP]; /* records received per process */
    uint64_t total, bad, unknown, disorder;
} tracker_t;

static void tracker_init(tracker_t *t)
{
    memset(t, 0, sizeof *t);
    for (int p = 0; p < MAXP; p++)
        for (int k = 0; k < MAXT; k++)
            t->st[p][k].last = -1;
}

static void track(tracker_t *t, const rec_t *r)
{
    body_t b;
    if (!rec_intact(r, &b)) {
        if (t->bad++ < 3)
            diag("corrupt record: pid %d thr %u seq %llu", b.pid, b.thr, (unsigned long long)b.seq);
        return;
    }
    int p = 0;
    while (p < t->np && t->pid[p] != b.pid)
        p++;
    if (p == t->np || b.thr >= MAXT) {
        t->unknown++;
        return;
    }
    stream_t *s = &t->st[p][b.thr];
    /* A thread reserves its positions in program order, so its records
     * drain in increasing seq: an equal or smaller one is a duplicate. */
    if ((int64_t)b.seq <= s->last) {
        if (t->disorder++ < 3)
            diag("out of order or duplicate: pid %d thr %u seq %llu after %lld", b.pid, b.thr,
                 (unsigned long long)b.seq, (long long)s->last);
    }
    s->last = (int64_t)b.seq;
    s->count++;
    s->hsum += mix(b.seq);
    t->per_pid[p]++;
    t->total++;
}

static rec_t dbuf[DBUF];

/* Drains one slot until it is empty, or for at most max_batches batches:
 * live writers can refill a ring as fast as it drains, so a live pass must
 * be bounded (0: unbounded, for rings whose writers are gone). Returns the
 * number of records. */
static uint64_t drain_slot_n(ring_seg_t *seg, int slot, bool owner_dead, tracker_t *t, unsigned max_batches)
{
    uint64_t got = 0;
    size_t n;
    unsigned b = 0;
    do {
        n = ring_drain(seg, slot, dbuf, DBUF, owner_dead);
        for (size_t i = 0; i < n; i++)
            track(t, &dbuf[i]);
        got += n;
    } while (n == DBUF && (max_batches == 0 || ++b < max_batches));
    return got;
}

static uint64_t drain_slot(ring_seg_t *seg, int slot, bool owner_dead, tracker_t *t)
{
    return drain_slot_n(seg, slot, owner_dead, t, 0);
}

/* One pass over every slot; live (writers may run) passes are bounded. */
static uint64_t drain_all(ring_seg_t *seg, bool owner_dead, tracker_t *t, bool live)
{
    uint64_t got = 0;
    for (uint32_t s = 0; s < ring_nslots(seg); s++)
        got += drain_slot_n(seg, (int)s, owner_dead, t, live ? 64 : 0);
    return got;
}

/* ---- a. single thread ---- */

static void test_single(void)
{
    int fd;
    ring_seg_t *seg = ring_create(2, 1024, NULL, &fd);
    if (!ok(seg != NULL, "ring_create(2 slots, cap 1024)")) {
        for (int i = 0; i < 9; i++)
            ok(0, "skipped: no segment");
        return;
    }
    int slot = ring_claim(seg, getpid());
    rec_t r;
    tracker_t t;
    tracker_init(&t);
    t.pid[t.np++] = getpid();

    ok(ring_drain(seg, slot, dbuf, DBUF, false) == 0, "drain of an empty ring returns 0");

    /* Seven laps of 700 records through 1024 cells: crosses the index wrap. */
    bool all_put = true, counts = true;
    uint64_t seq = 0;
    for (int lap = 0; lap < 7; lap++) {
        for (int i = 0; i < 700; i++, seq++) {
            make_rec(&r, getpid(), 0, seq);
            all_put &= ring_put(seg, slot, &r) == 0;
        }
        /* A short drain returns exactly max. */
        counts &= ring_drain(seg, slot, dbuf, 5, false) == 5;
        for (int i = 0; i < 5; i++)
            track(&t, &dbuf[i]);
        counts &= drain_slot(seg, slot, false, &t) == 695;
    }
    ok(all_put && counts && t.total == seq && t.bad == 0 && t.disorder == 0 && t.st[0][0].last == (int64_t)seq - 1,
       "4900 records through 7 laps drain in order and intact (got %llu, bad %llu, disorder %llu)",
       (unsigned long long)t.total, (unsigned long long)t.bad, (unsigned long long)t.disorder);

    /* Overflow without a drain: exactly cap fit, the rest drop. */
    int okc = 0, full = 0, other = 0;
    for (int i = 0; i < 1024 + 100; i++, seq++) {
        make_rec(&r, getpid(), 1, seq);
        int rc = ring_put(seg, slot, &r);
        okc += rc == 0;
        full += rc == -ENOBUFS;
        other += rc != 0 && rc != -ENOBUFS;
    }
    ok(okc == 1024 && full == 100 && other == 0, "full ring: 1024 accepted, 100 refused with -ENOBUFS (got %d, %d, %d)", okc,
       full, other);
    ring_slot_info_t in;
    ring_slot_info(seg, slot, &in);
    ok(in.dropped == 100 && in.attempts == 4900 + 1124, "slot counts 100 dropped of %llu attempts",
       (unsigned long long)in.attempts);
    uint64_t before = t.total;
    uint64_t got = drain_slot(seg, slot, false, &t);
    ok(got == 1024 && t.st[0][1].count == 1024 && t.st[0][1].last == (int64_t)seq - 101 && t.bad == 0 && t.disorder == 0,
       "the 1024 accepted records drain in order, the dropped ones never appear (got %llu)",
       (unsigned long long)(t.total - before));
    ring_slot_info(seg, slot, &in);
    ok(in.consumed + in.dropped + in.torn == in.attempts && in.consumed == t.total && in.torn == 0,
       "consumed %llu + dropped %llu + torn %llu == attempts %llu", (unsigned long long)in.consumed,
       (unsigned long long)in.dropped, (unsigned long long)in.torn, (unsigned long long)in.attempts);

    /* owner_dead on a live, fully published ring changes nothing. */
    make_rec(&r, getpid(), 2, seq++);
    ring_put(seg, slot, &r);
    ok(ring_drain(seg, slot, dbuf, DBUF, true) == 1 && rec_intact(&dbuf[0], &(body_t){ 0 }),
       "owner_dead drain of a published cell returns it");
    ring_slot_info(seg, slot, &in);
    ok(in.torn == 0, "no torn cells counted without a dead writer");

    /* The other slot is untouched by all of this. */
    ring_slot_info_t o;
    ring_slot_info(seg, slot ^ 1, &o);
    ok(o.owner == 0 && o.attempts == 0 && o.consumed == 0 && ring_drain(seg, slot ^ 1, dbuf, DBUF, true) == 0,
       "the neighbour slot stays empty and unowned");

    /* Drain speed alone: fill 1024 cells, drain them; repeat. */
    uint64_t drained = 0, spent = 0;
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < 1024; i++, seq++) {
            make_rec(&r, getpid(), 3, seq);
            ring_put(seg, slot, &r);
        }
        uint64_t t0 = now_ns();
        size_t n;
        while ((n = ring_drain(seg, slot, dbuf, DBUF, false)) > 0)
            drained += n;
        spent += now_ns() - t0;
    }
    ok(drained == 200 * 1024, "timed drain got all %llu records", (unsigned long long)drained);
    diag("single-thread drain: %.1f M records/s", spent ? drained * 1e3 / (double)spent : 0.0);

    ring_destroy(seg);
    close(fd);
}

/* ---- b. writer processes x threads against a live drain ---- */

/* Shared (MAP_SHARED anonymous) between the test and its writer children. */
typedef struct wstat {
    uint64_t attempts, ok, dropped, other, hsum;
} wstat_t;

typedef struct shared {
    _Atomic int x_ready; /* writers at the start line; release by each, acquire by the test */
    _Atomic int x_go;    /* set by the test (release), polled by writers (acquire) */
    int slot[MAXP];      /* written by child p before x_ready, read after it */
    wstat_t w[MAXP][MAXT]; /* written by each writer before it exits; read after waitpid */
} shared_t;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "start-line flags are shared across processes");

typedef struct writer {
    ring_seg_t *seg;
    shared_t *sh;
    int slot, proc, thr;
    int32_t pid;
    uint64_t nrec; /* 0: until killed */
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    wstat_t st = { 0 };
    rec_t r;
    /* release: this writer is set up; pairs with the acquire in wait_ready() */
    atomic_fetch_add_explicit(&w->sh->x_ready, 1, memory_order_release);
    /* acquire: pairs with the test's release store of x_go */
    while (!atomic_load_explicit(&w->sh->x_go, memory_order_acquire))
        sched_yield();
    for (uint64_t seq = 0; w->nrec == 0 || seq < w->nrec; seq++) {
        make_rec(&r, w->pid, (uint32_t)w->thr, seq);
        int rc = ring_put(w->seg, w->slot, &r);
        st.attempts++;
        if (rc == 0) {
            st.ok++;
            st.hsum += mix(seq);
        } else if (rc == -ENOBUFS) {
            st.dropped++;
        } else {
            st.other++;
        }
    }
    w->sh->w[w->proc][w->thr] = st;
    return NULL;
}

/* Runs nthr writer threads on slot; returns when all are done. */
static int run_writers(ring_seg_t *seg, shared_t *sh, int proc, int slot, int nthr, uint64_t nrec)
{
    pthread_t th[MAXT];
    writer_t w[MAXT];
    int started = 0;
    for (int k = 0; k < nthr; k++) {
        w[k] = (writer_t){ seg, sh, slot, proc, k, getpid(), nrec };
        if (pthread_create(&th[k], NULL, writer_main, &w[k]) != 0)
            break;
        started++;
    }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    return started == nthr ? 0 : 1;
}

/* Never returns. Writers with nrec 0 run until killed, so each child dies
 * with the test (PDEATHSIG) if the test itself dies first. */
static void child_writer(ring_seg_t *seg, shared_t *sh, int proc, int nthr, uint64_t nrec)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Endless writers (the kill trials) busy every core: niced, so the
     * test's stop/drain/resume loop still gets a core on a 2-core box. */
    if (nrec == 0 && nice(10) == -1)
        diag("nice: %s", strerror(errno));
    int slot = ring_claim(seg, getpid());
    sh->slot[proc] = slot;
    if (slot < 0) {
        /* release: publishes slot[proc]; pairs with wait_ready() */
        atomic_fetch_add_explicit(&sh->x_ready, nthr, memory_order_release);
        _exit(3);
    }
    _exit(run_writers(seg, sh, proc, slot, nthr, nrec));
}

static void wait_ready(shared_t *sh, int n)
{
    uint64_t t0 = now_ns();
    /* acquire: pairs with each writer's release increment (in-process);
     * across processes the kernel's shared page carries the value */
    while (atomic_load_explicit(&sh->x_ready, memory_order_acquire) < n && now_ns() - t0 < 5000000000ull)
        sched_yield();
}

typedef struct config {
    const char *name;
    int nproc, nthr; /* nproc 0: threads of this process instead of children */
    uint64_t nrec;   /* per thread */
    uint32_t cap;
    long pause_us;   /* drain pause per pass: a slow aggregator */
    int want_drops;  /* 1: drops must happen, 0: must not */
} config_t;

typedef struct inproc {
    ring_seg_t *seg;
    shared_t *sh;
    int slot, nthr;
    uint64_t nrec;
    _Atomic int x_done; /* release by the writer side when joined; acquire by the drain */
} inproc_t;

static void *inproc_main(void *arg)
{
    inproc_t *ip = arg;
    run_writers(ip->seg, ip->sh, 0, ip->slot, ip->nthr, ip->nrec);
    /* release: publishes the writers' stats; pairs with the drain's acquire */
    atomic_store_explicit(&ip->x_done, 1, memory_order_release);
    return NULL;
}

/* 7 tests. */
static void test_writers(const config_t *c)
{
    int fd;
    int np = c->nproc ? c->nproc : 1;
    ring_seg_t *seg = ring_create((uint32_t)np + 1, c->cap, NULL, &fd);
    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (seg == NULL || sh == MAP_FAILED) {
        for (int i = 0; i < 7; i++)
            ok(0, "%s: setup failed: %s", c->name, strerror(errno));
        return;
    }
    memset(sh, 0, sizeof *sh);
    tracker_t t;
    tracker_init(&t);
    pid_t pids[MAXP];
    int status[MAXP] = { 0 };
    bool alive[MAXP] = { false };
    pthread_t ipth;
    inproc_t ip = { 0 };

    if (c->nproc == 0) {
        ip = (inproc_t){ seg, sh, ring_claim(seg, getpid()), c->nthr, c->nrec, 0 };
        sh->slot[0] = ip.slot;
        pids[0] = getpid();
        t.pid[t.np++] = pids[0];
        pthread_create(&ipth, NULL, inproc_main, &ip);
        alive[0] = true;
    } else {
        for (int p = 0; p < np; p++) {
            pids[p] = fork();
            if (pids[p] == 0)
                child_writer(seg, sh, p, c->nthr, c->nrec);
            alive[p] = pids[p] > 0;
            t.pid[t.np++] = pids[p];
        }
    }
    wait_ready(sh, np * c->nthr);
    uint64_t t0 = now_ns();
    /* release: starts every writer at once; pairs with their acquire poll */
    atomic_store_explicit(&sh->x_go, 1, memory_order_release);

    int nalive = 0, passes = 0;
    for (int p = 0; p < np; p++)
        nalive += alive[p];
    /* A config that must overflow holds its first drain until a ring has
     * refused a record, so drops happen however slow the writers run (TSan);
     * the writers put far more than cap, so it does not wait for nothing. */
    for (uint64_t w0 = now_ns(); c->want_drops == 1 && now_ns() - w0 < 5000000000ull; sleep_us(100)) {
        uint64_t d = 0;
        for (int p = 0; p < np; p++) {
            ring_slot_info_t in;
            if (sh->slot[p] >= 0) {
                ring_slot_info(seg, sh->slot[p], &in);
                d += in.dropped;
            }
        }
        if (d > 0)
            break;
    }
    while (nalive > 0) {
        drain_all(seg, false, &t, true);
        passes++;
        if (c->pause_us)
            sleep_us(c->pause_us);
        for (int p = 0; p < np; p++) {
            if (!alive[p])
                continue;
            bool gone;
            if (c->nproc == 0) {
                /* acquire: pairs with the release in inproc_main() */
                gone = atomic_load_explicit(&ip.x_done, memory_order_acquire) != 0;
                if (gone)
                    pthread_join(ipth, NULL);
            } else {
                gone = waitpid(pids[p], &status[p], WNOHANG) == pids[p];
            }
            if (gone) {
                alive[p] = false;
                nalive--;
            }
        }
    }
    /* The writers are gone: a dead owner's drain also skips torn cells. */
    drain_all(seg, c->nproc != 0, &t, false);
    uint64_t elapsed = now_ns() - t0;

    bool exits = true, slots = true, streams = true, ident = true, match = true;
    uint64_t drops = 0, attempts = 0;
    for (int p = 0; p < np; p++) {
        if (c->nproc)
            exits &= WIFEXITED(status[p]) && WEXITSTATUS(status[p]) == 0;
        int s = sh->slot[p];
        slots &= s >= 0 && s < np + 1;
        for (int q = 0; q < p; q++)
            slots &= sh->slot[q] != s;
        if (s < 0)
            continue;
        uint64_t okc = 0, dr = 0, att = 0;
        for (int k = 0; k < c->nthr; k++) {
            const wstat_t *w = &sh->w[p][k];
            const stream_t *st = &t.st[p][k];
            /* exactly once: same count and same hash of the seq set */
            if (st->count != w->ok || st->hsum != w->hsum || w->other != 0 || w->attempts != c->nrec) {
                if (streams)
                    diag("%s: proc %d thr %d: received %llu, put %llu (hash %s)", c->name, p, k,
                         (unsigned long long)st->count, (unsigned long long)w->ok,
                         st->hsum == w->hsum ? "equal" : "differs");
                streams = false;
            }
            okc += w->ok;
            dr += w->dropped;
            att += w->attempts;
        }
        ring_slot_info_t in;
        ring_slot_info(seg, s, &in);
        if (in.consumed + in.dropped + in.torn != in.attempts || in.torn != 0) {
            diag("%s: slot %d: consumed %llu + dropped %llu + torn %llu != attempts %llu", c->name, s,
                 (unsigned long long)in.consumed, (unsigned long long)in.dropped, (unsigned long long)in.torn,
                 (unsigned long long)in.attempts);
            ident = false;
        }
        if (in.owner != pids[p] || in.consumed != okc || in.consumed != t.per_pid[p] || in.dropped != dr ||
            in.attempts != att)
            match = false;
        drops += in.dropped;
        attempts += in.attempts;
    }

    ok(exits && slots, "%s: %d writer process(es) ran and each claimed its own slot", c->name, np);
    ok(t.bad == 0 && t.unknown == 0, "%s: all %llu drained records intact (corrupt %llu, foreign %llu)", c->name,
       (unsigned long long)t.total, (unsigned long long)t.bad, (unsigned long long)t.unknown);
    ok(t.disorder == 0, "%s: no duplicate, per-thread order kept (%llu violations)", c->name,
       (unsigned long long)t.disorder);
    ok(streams, "%s: each thread's accepted records arrived exactly once (count and seq-set hash)", c->name);
    ok(ident, "%s: per slot consumed + dropped + torn == attempts, torn 0", c->name);
    ok(match, "%s: slot counters equal the writers' own counts and the records received", c->name);
    if (c->want_drops == 1)
        ok(drops > 0, "%s: the small ring overflowed (%llu of %llu dropped)", c->name, (unsigned long long)drops,
           (unsigned long long)attempts);
    else
        ok(drops == 0, "%s: the big ring never dropped (%llu of %llu)", c->name, (unsigned long long)drops,
           (unsigned long long)attempts);
    diag("%s: %llu records in %.1f ms, %.2f M records/s drained, %d drain passes, %llu dropped (%.1f%%)", c->name,
         (unsigned long long)t.total, elapsed / 1e6, elapsed ? t.total * 1e3 / (double)elapsed : 0.0, passes,
         (unsigned long long)drops, attempts ? 100.0 * (double)drops / (double)attempts : 0.0);
    munmap(sh, sizeof *sh);
    ring_destroy(seg);
    close(fd);
}

/* ---- c. SIGKILL mid-write, then release and reuse ---- */

#define KILL_THREADS 3
#define KILL_CAP 65536u
#define KILL_RANDOM 3   /* trials killed at a random moment */
#define KILL_AIMED 3    /* trials killed while a reservation is in flight */

typedef struct killstats {
    int trials, killed, released, torn_trials, aimed_hit, stops, max_stops;
    bool intact, ident, bounded, got_some;
    uint64_t total, torn, dropped, after;
} killstats_t;

/* Stops the writer (SIGSTOP: all threads, each at an arbitrary instruction)
 * and drains what it published. The drain stops at the first reserved but
 * unpublished cell, so attempts - dropped - consumed (x_head - x_tail) is
 * then > 0 exactly when some thread sits between reserve and publish.
 * Returns that. */
static bool stop_in_flight(ring_seg_t *seg, pid_t pid, tracker_t *t)
{
    int st;
    kill(pid, SIGSTOP);
    if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st))
        return false;
    drain_all(seg, false, t, false); /* stopped: the drain ends */
    ring_slot_info_t in;
    ring_slot_info(seg, 0, &in);
    return in.attempts > in.consumed + in.dropped;
}

/* One writer process with KILL_THREADS threads writing flat out on slot 0,
 * drained live, then SIGKILLed: after run_ns (aimed false), or at a
 * SIGSTOP that finds a reservation in flight (aimed true). Then a dead-owner
 * drain, the checks, and ring_release. */
static void kill_trial(ring_seg_t *seg, shared_t *sh, uint64_t run_ns, bool aimed, killstats_t *k)
{
    tracker_t t;
    tracker_init(&t);
    memset(sh, 0, sizeof *sh);
    pid_t pid = fork();
    if (pid == 0)
        child_writer(seg, sh, 0, KILL_THREADS, 0);
    if (pid < 0) { /* never kill(-1, ...) */
        diag("kill trial %d: fork: %s", k->trials, strerror(errno));
        k->got_some = false;
        k->trials++;
        return;
    }
    t.pid[t.np++] = pid;
    wait_ready(sh, KILL_THREADS);
    /* release: starts the writers; pairs with their acquire poll */
    atomic_store_explicit(&sh->x_go, 1, memory_order_release);
    /* The run starts at the first published record: a loaded machine may
     * take a while to schedule niced writers. */
    for (uint64_t w0 = now_ns(); t.total == 0 && now_ns() - w0 < 5000000000ull; sched_yield())
        drain_all(seg, false, &t, true);
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < run_ns)
        drain_all(seg, false, &t, true);
    bool hit = false;
    int i = 0;
    while (aimed && !hit && i++ < 5000) {
        hit = stop_in_flight(seg, pid, &t);
        if (!hit) {
            /* Resume into the ring the stop emptied: a few dozen us of
             * writing fill far less than KILL_CAP, so the writers are in
             * the reserve/publish path, not the drop path, at the next stop. */
            kill(pid, SIGCONT);
            sleep_us(20 + i % 64);
        }
    }
    k->aimed_hit += hit;
    k->stops += i;
    k->max_stops = i > k->max_stops ? i : k->max_stops;
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    k->killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    uint64_t before = t.total;
    drain_all(seg, true, &t, false);
    k->after += t.total - before;

    ring_slot_info_t in;
    ring_slot_info(seg, 0, &in);
    k->intact &= t.bad == 0 && t.unknown == 0 && t.disorder == 0;
    if (!(t.total > 0 && sh->slot[0] == 0 && in.owner == pid)) {
        diag("kill trial %d: received %llu, slot %d, owner %d (pid %d)", k->trials, (unsigned long long)t.total,
             sh->slot[0], in.owner, pid);
        k->got_some = false;
    }
    if (in.consumed + in.dropped + in.torn != in.attempts || in.consumed != t.total) {
        if (k->ident)
            diag("kill trial %d (%s): consumed %llu (received %llu) + dropped %llu + torn %llu != attempts %llu",
                 k->trials, aimed ? "aimed" : "random", (unsigned long long)in.consumed, (unsigned long long)t.total,
                 (unsigned long long)in.dropped, (unsigned long long)in.torn, (unsigned long long)in.attempts);
        k->ident = false;
    }
    k->bounded &= in.torn <= KILL_THREADS;
    k->torn_trials += aimed && in.torn > 0;
    k->torn += in.torn;
    k->dropped += in.dropped;
    k->total += t.total;
    k->released += ring_release(seg, 0) == 0;
    k->trials++;
}

/* 8 tests. */
static void test_kill(void)
{
    int fd;
    /* One slot, so a reclaim must get the released slot back; each trial
     * reuses the slot released by the one before. */
    ring_seg_t *seg = ring_create(1, KILL_CAP, NULL, &fd);
    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (seg == NULL || sh == MAP_FAILED) {
        for (int i = 0; i < 8; i++)
            ok(0, "kill: setup failed");
        return;
    }
    killstats_t k = { .intact = true, .ident = true, .bounded = true, .got_some = true };
    uint64_t tk = now_ns();
    /* Random moments first (the first after ~50 ms of writing)... */
    for (int i = 0; i < KILL_RANDOM; i++)
        kill_trial(seg, sh, i == 0 ? 50000000u : 10000000u / (uint64_t)i, false, &k);
    diag("kill: random trials done after %.2f s", (now_ns() - tk) / 1e9);
    /* ...then aimed: a torn cell needs the kill to land between reserve
     * and publish, a window of a few instructions, so find it by stopping
     * the writer until one of its threads is inside it. */
    for (int i = 0; i < KILL_AIMED; i++)
        kill_trial(seg, sh, 2000000u, true, &k);
    int trials = k.trials, released = k.released;

    ok(k.killed == trials && k.got_some, "kill: %d writers SIGKILLed mid-write after publishing records", trials);
    ok(k.intact, "kill: every published record drained intact, once, in per-thread order (%llu records)",
       (unsigned long long)k.total);
    ok(k.ident, "kill: consumed + dropped + torn == attempts after every kill");
    ok(k.aimed_hit == KILL_AIMED && k.torn_trials == KILL_AIMED && k.bounded,
       "kill: each aimed kill left torn cells (%d of %d; %llu torn in all, at most %d per kill)", k.torn_trials,
       KILL_AIMED, (unsigned long long)k.torn, KILL_THREADS);
    diag("kill: %llu records, %llu dropped, %llu torn over %d trials; %llu drained by the dead-owner drains; "
         "aimed kills found a write in flight after %d stops (at most %d)",
         (unsigned long long)k.total, (unsigned long long)k.dropped, (unsigned long long)k.torn, trials,
         (unsigned long long)k.after, k.stops, k.max_stops);
    ok(released == trials, "kill: ring_release of each drained dead slot returned 0");

    /* Released: unowned, counters restarted; a new claim gets it. */
    ring_slot_info_t in;
    ring_slot_info(seg, 0, &in);
    bool reset = in.owner == 0 && in.attempts == 0 && in.dropped == 0 && in.torn == 0 && in.consumed == 0;
    int s = ring_claim(seg, 777001);
    ring_slot_info(seg, 0, &in);
    ok(reset && s == 0 && in.owner == 777001, "kill: released slot is free with zeroed counters and is reclaimed");

    /* The reclaimed ring works from a clean state; records in it block a
     * release until drained. */
    tracker_t t;
    tracker_init(&t);
    t.pid[t.np++] = 777001;
    rec_t r;
    for (uint64_t q = 0; q < KILL_CAP + 904; q++) {
        make_rec(&r, 777001, 0, q);
        ring_put(seg, 0, &r);
    }
    int busy = ring_release(seg, 0);
    drain_slot(seg, 0, false, &t);
    ring_slot_info(seg, 0, &in);
    ok(busy == -EBUSY && t.total == KILL_CAP && t.st[0][0].last == KILL_CAP - 1 && t.bad == 0 && t.disorder == 0 &&
           in.attempts == KILL_CAP + 904 && in.dropped == 904 && in.consumed == KILL_CAP && in.torn == 0,
       "kill: reused slot: release with records is -EBUSY; first cap of cap+904 kept in order, counters restart "
       "(consumed %llu, dropped %llu, attempts %llu)",
       (unsigned long long)in.consumed, (unsigned long long)in.dropped, (unsigned long long)in.attempts);
    ok(ring_release(seg, 0) == 0, "kill: release after the drain succeeds");

    munmap(sh, sizeof *sh);
    ring_destroy(seg);
    close(fd);
}

/* ---- d. slot exhaustion ---- */

/* 7 tests. */
static void test_claim(void)
{
    int fd;
    ring_seg_t *seg = ring_create(4, 2, NULL, &fd);
    if (!ok(seg != NULL, "claim: ring_create(4 slots, cap 2)")) {
        for (int i = 0; i < 6; i++)
            ok(0, "skipped");
        return;
    }
    int got[4];
    bool distinct = true;
    for (int i = 0; i < 4; i++) {
        got[i] = ring_claim(seg, 1001 + i);
        distinct &= got[i] >= 0 && got[i] < 4;
        for (int j = 0; j < i; j++)
            distinct &= got[j] != got[i];
        ring_slot_info_t in;
        if (got[i] >= 0) {
            ring_slot_info(seg, got[i], &in);
            distinct &= in.owner == 1001 + i;
        }
    }
    ok(distinct, "claim: 4 pids get 4 distinct slots that name them (%d %d %d %d)", got[0], got[1], got[2], got[3]);
    int e1 = ring_claim(seg, 1005);
    uint64_t u1 = ring_unslotted(seg);
    int e2 = ring_claim(seg, 1006);
    ok(e1 == -ENOSPC && e2 == -ENOSPC, "claim: a fifth and sixth claim get -ENOSPC (%d, %d)", e1, e2);
    ok(u1 == 1 && ring_unslotted(seg) == 2, "claim: ring_unslotted counts them (%llu then %llu)", (unsigned long long)u1,
       (unsigned long long)ring_unslotted(seg));
    int rel = ring_release(seg, got[1]);
    int again = ring_claim(seg, 1007);
    ok(rel == 0 && again == got[1] && ring_unslotted(seg) == 2, "claim: a released slot goes to the next claimant (%d)",
       again);
    ring_destroy(seg);
    close(fd);

    /* Concurrent claims from 8 processes on 4 slots: the CAS hands each
     * slot to exactly one of them. */
    seg = ring_create(4, 2, NULL, &fd);
    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int won = 0, lost = 0, owners = 0;
    if (seg && sh != MAP_FAILED) {
        memset(sh, 0, sizeof *sh);
        pid_t pids[8];
        for (int i = 0; i < 8; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* release/acquire: the same start line as writer_main() */
                atomic_fetch_add_explicit(&sh->x_ready, 1, memory_order_release);
                while (!atomic_load_explicit(&sh->x_go, memory_order_acquire))
                    sched_yield();
                int s = ring_claim(seg, getpid());
                _exit(s >= 0 ? 10 + s : s == -ENOSPC ? 1 : 2);
            }
        }
        wait_ready(sh, 8);
        /* release: all claim at once; pairs with the children's acquire */
        atomic_store_explicit(&sh->x_go, 1, memory_order_release);
        unsigned seen = 0;
        for (int i = 0; i < 8; i++) {
            int st = 0;
            waitpid(pids[i], &st, 0);
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            if (code >= 10 && code < 14) {
                won++;
                seen |= 1u << (code - 10);
                ring_slot_info_t in;
                ring_slot_info(seg, code - 10, &in);
                owners += in.owner == pids[i];
            } else if (code == 1) {
                lost++;
            }
        }
        won = seen == 0xfu ? won : -won;
        munmap(sh, sizeof *sh);
    }
    ok(won == 4 && lost == 4 && owners == 4, "claim: 8 racing processes: 4 win distinct slots, 4 get -ENOSPC (%d, %d)",
       won, lost);
    ok(seg && ring_unslotted(seg) == 4, "claim: unslotted counts the 4 losers");
    ring_destroy(seg);
    close(fd);
}

/* ---- e. a second mapping through /proc/self/fd ---- */

/* Writes n bytes of img to a temporary file and attaches it; returns the
 * mapping (or NULL with *err = errno). The file is gone on return. */
static ring_seg_t *attach_copy(const char *img, size_t n, int *err)
{
    char path[] = "/tmp/test_ring_copy_XXXXXX";
    int f = mkstemp(path);
    ring_seg_t *seg = NULL;
    *err = 0;
    if (f < 0) {
        *err = errno;
        return NULL;
    }
    if (write(f, img, n) == (ssize_t)n) {
        errno = 0;
        seg = ring_attach(path);
        *err = errno;
    }
    close(f);
    unlink(path);
    return seg;
}

/* 12 tests. */
static void test_attach(void)
{
    ring_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.interval_ns = 10000000;
    cfg.flags = RING_CFG_CPU_ONLY;
    memset((char *)&cfg + sizeof cfg - 64, 'p', 63); /* some path bytes, whatever the field names */
    int fd;
    ring_seg_t *a = ring_create(3, 64, &cfg, &fd);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ring_seg_t *b = a ? ring_attach(path) : NULL;
    if (!ok(a && b && a != b, "attach: %s maps the segment a second time", path)) {
        for (int i = 0; i < 11; i++)
            ok(0, "skipped");
        return;
    }
    ok(ring_nslots(b) == 3 && ring_t0_ns(b) == ring_t0_ns(a) && ring_cfg(b)->interval_ns == 10000000 &&
           ring_cfg(b)->flags == RING_CFG_CPU_ONLY && memcmp(ring_cfg(b), &cfg, sizeof cfg) == 0,
       "attach: the second mapping reads the same header and config");

    int s = ring_claim(b, 4242);
    ring_slot_info_t in;
    ring_slot_info(a, s, &in);
    rec_t r, back[4];
    make_rec(&r, 4242, 1, 99);
    int rc = ring_put(b, s, &r);
    size_t n = ring_drain(a, s, back, 4, false);
    ok(in.owner == 4242 && rc == 0 && n == 1 && memcmp(&r, &back[0], sizeof r) == 0,
       "attach: claim and put through one mapping, drained byte-identical through the other");
    make_rec(&r, 4242, 2, 100);
    ring_put(a, s, &r);
    n = ring_drain(b, s, back, 4, false);
    ok(n == 1 && memcmp(&r, &back[0], sizeof r) == 0, "attach: and the other way round");
    ring_set_enabled(b, false);
    bool off = !ring_enabled(a);
    ring_set_enabled(a, true);
    ok(off && ring_enabled(b), "attach: the enable switch is shared");
    ring_destroy(b);

    /* Not a segment: junk of the right size, a short file, no file. */
    char tmpl[] = "/tmp/test_ring_XXXXXX";
    int jf = mkstemp(tmpl);
    char junk[8192];
    memset(junk, 'x', sizeof junk);
    bool wrote = jf >= 0 && write(jf, junk, sizeof junk) == (ssize_t)sizeof junk;
    errno = 0;
    ring_seg_t *j = wrote ? ring_attach(tmpl) : NULL;
    int e = errno;
    ok(wrote && j == NULL && e == EPROTO, "attach: an 8 KiB non-segment file fails with EPROTO (errno %d)", e);
    bool cut = jf >= 0 && ftruncate(jf, 100) == 0;
    errno = 0;
    j = cut ? ring_attach(tmpl) : NULL;
    e = errno;
    ok(cut && j == NULL && e == EINVAL, "attach: a 100-byte file fails with EINVAL (errno %d)", e);
    if (jf >= 0) {
        close(jf);
        unlink(tmpl);
    }
    errno = 0;
    j = ring_attach("/nonexistent/scalene-ring");
    e = errno;
    ok(j == NULL && e == ENOENT, "attach: a missing path fails with ENOENT (errno %d)", e);

    /* A byte copy of the segment in a plain file attaches; the same copy
     * with its magic damaged, or one page longer, does not. Isolates each
     * header check the junk file above trips all at once. */
    struct stat sst;
    char *img = NULL;
    size_t sz = 0;
    if (fstat(fd, &sst) == 0 && (img = calloc(1, (size_t)sst.st_size + 4096)) != NULL) {
        sz = (size_t)sst.st_size;
        if (pread(fd, img, sz, 0) != (ssize_t)sz)
            sz = 0;
    }
    char *magic = sz ? memmem(img, 64, RING_MAGIC, 8) : NULL;
    ring_seg_t *c0 = NULL, *c1 = (ring_seg_t *)1, *c2 = (ring_seg_t *)1;
    int ce1 = 0, ce2 = 0;
    if (magic) {
        c0 = attach_copy(img, sz, &e);
        magic[0] ^= 0x20;
        c1 = attach_copy(img, sz, &ce1);
        magic[0] ^= 0x20;
        c2 = attach_copy(img, sz + 4096, &ce2);
    }
    ok(c0 != NULL && ring_nslots(c0) == 3 && ring_t0_ns(c0) == ring_t0_ns(a),
       "attach: a byte copy of the segment in a plain file attaches");
    ok(c1 == NULL && ce1 == EPROTO, "attach: the copy with a damaged magic fails with EPROTO (errno %d)", ce1);
    ok(c2 == NULL && ce2 == EPROTO, "attach: the copy one page too long fails with EPROTO (errno %d)", ce2);
    ring_destroy(c0);
    free(img);

    errno = 0;
    int fd2 = -1;
    ring_seg_t *bad = ring_create(2, 1000, NULL, &fd2);
    int e1 = errno;
    errno = 0;
    ring_seg_t *bad2 = ring_create(0, 1024, NULL, &fd2);
    int e2 = errno;
    ok(bad == NULL && bad2 == NULL && e1 == EINVAL && e2 == EINVAL,
       "create: a capacity not a power of two or zero slots fails with EINVAL");
    ring_destroy(a);
    close(fd);
}

/* ---- f. the segment overwritten (issue 13) ---- */

/* The raw bytes of a segment from ring_create, as a process with a stray
 * pointer sees them (runtime/ring.c's layout). */
#define U_HDR 4096u
#define U_SLOT 192u
static uint64_t *u_word(uint8_t *raw, size_t off) { return (uint64_t *)(raw + off); }
static size_t u_head(int slot) { return U_HDR + (size_t)slot * U_SLOT + 64; }
static size_t u_cell(uint32_t nslots, uint32_t cap, int slot, uint64_t k)
{
    size_t hdrs = (U_HDR + (size_t)nslots * U_SLOT + 4095u) & ~(size_t)4095u;
    return hdrs + ((size_t)slot * cap + k) * 64u;
}

/* 9 tests. */
static void test_untrusted(void)
{
    enum { NS = 2, CAP = 16 };
    int fd;
    ring_seg_t *seg = ring_create(NS, CAP, NULL, &fd);
    struct stat st;
    uint8_t *raw = seg && fstat(fd, &st) == 0
                       ? mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                       : MAP_FAILED;
    if (raw == MAP_FAILED) {
        for (int i = 0; i < 9; i++)
            ok(0, "untrusted: setup failed");
        return;
    }
    rec_t r, back[CAP];
    ring_slot_info_t in;
    int s = ring_claim(seg, 5001);
    int other = ring_claim(seg, 5003); /* both slots taken: a reclaim must get s back */

    /* A header of 0xFF bytes: the handles keep their own geometry. */
    memset(raw, 0xff, U_HDR);
    make_rec(&r, 5001, 0, 1);
    int rc = ring_put(seg, s, &r);
    size_t n = ring_drain(seg, s, back, CAP, false);
    ok(rc == 0 && n == 1 && rec_intact(&back[0], &(body_t){ 0 }) && ring_nslots(seg) == NS,
       "untrusted: a header of 0xFF bytes changes neither writer nor reader (put %d, drained %zu)", rc, n);

    /* A cell whose sequence no writer stores: skipped, counted invalid,
     * the records around it kept. */
    for (uint64_t q = 2; q < 5; q++) {
        make_rec(&r, 5001, 0, q);
        ring_put(seg, s, &r);
    }
    *u_word(raw, u_cell(NS, CAP, s, 2)) = 12345; /* position 2: the second of the three */
    n = ring_drain(seg, s, back, CAP, false);
    ring_slot_info(seg, s, &in);
    ok(n == 2 && in.invalid == 1 && !in.quarantined && in.consumed == 3 &&
           in.consumed + in.dropped + in.torn + in.invalid == in.attempts,
       "untrusted: an overwritten cell sequence is skipped and counted invalid (drained %zu, invalid %llu)", n,
       (unsigned long long)in.invalid);

    /* x_head far ahead: quarantined, and nothing read however far. */
    uint64_t good = *u_word(raw, u_head(s));
    *u_word(raw, u_head(s)) = good + (1ull << 62);
    uint64_t t0 = now_ns();
    n = ring_drain(seg, s, back, CAP, true);
    ring_slot_info(seg, s, &in);
    ok(n == 0 && in.quarantined && now_ns() - t0 < 1000000000ull,
       "untrusted: x_head 2^62 ahead quarantines the slot at once (owner dead: no 2^62 torn cells skipped)");
    ok(in.torn == 0 && in.attempts < 100, "untrusted: a quarantined slot keeps its last sane counters (attempts %llu)",
       (unsigned long long)in.attempts);

    /* A writer whose cell is ahead of an x_head that does not move drops
     * instead of spinning (the watchdog would end a spin). */
    *u_word(raw, u_head(s)) = good - CAP / 2; /* cells of those positions were consumed: a lap ahead */
    make_rec(&r, 5001, 0, 99);
    rc = ring_put(seg, s, &r);
    ok(rc == -ENOBUFS, "untrusted: ring_put on a cell ahead of a frozen x_head drops (%d)", rc);

    /* The dead owner's quarantined slot is rebuilt by ring_release and
     * serves the next claimant like a new one. */
    int rel = ring_release(seg, s);
    ring_slot_info(seg, s, &in);
    bool freed = rel == 0 && in.owner == 0 && !in.quarantined && in.attempts == 0 && in.invalid == 0;
    int s2 = ring_claim(seg, 5002);
    bool all = s2 == s;
    for (uint64_t q = 0; q < CAP; q++) {
        make_rec(&r, 5002, 1, q);
        all &= ring_put(seg, s2, &r) == 0;
    }
    n = ring_drain(seg, s2, back, CAP, false);
    bool intact = n == CAP;
    for (size_t i = 0; i < n; i++) {
        body_t b;
        intact &= rec_intact(&back[i], &b) && b.seq == i;
    }
    ok(freed, "untrusted: ring_release rebuilds a quarantined slot and frees it (%d)", rel);
    ok(all && intact, "untrusted: the rebuilt slot takes a full lap of records, drained intact in order (%zu, puts %s)", n,
       all ? "ok" : "refused");

    /* x_head behind the reader's position: quarantined too. */
    *u_word(raw, u_head(s2)) = 0;
    n = ring_drain(seg, s2, back, CAP, false);
    ring_slot_info(seg, s2, &in);
    ok(n == 0 && in.quarantined, "untrusted: x_head behind the reader's position quarantines the slot");

    /* The reader's position is its own: x_tail overwritten changes nothing. */
    int s3 = other;
    make_rec(&r, 5003, 2, 0);
    ring_put(seg, s3, &r);
    *u_word(raw, U_HDR + (size_t)s3 * U_SLOT + 128) = 7777;
    n = ring_drain(seg, s3, back, CAP, false);
    ok(n == 1 && rec_intact(&back[0], &(body_t){ 0 }), "untrusted: an overwritten x_tail does not move the reader");

    munmap(raw, (size_t)st.st_size);
    ring_destroy(seg);
    close(fd);
}

/* A hung ring_put or drain (a lost cell never freed spins forever) must
 * fail the test, not stall the suite. write(), not printf: signal context. */
static void watchdog_sigsafe(int sig)
{
    static const char msg[] = "Bail out! test_ring: watchdog expired (a ring operation hung)\n";
    (void)sig;
    (void)!write(1, msg, sizeof msg - 1);
    _exit(1);
}

int main(void)
{
    signal(SIGALRM, watchdog_sigsafe);
    alarm(WATCHDOG_S);
    /* Writers and the drain race each other here; a failure prints the
     * first few offending records with diag(). The no-drop configs put at
     * most cap records per slot (3 x 10000 <= 32768, 4 x 15000 <= 65536), so
     * a drop there is a bug whatever the scheduling; the overflow configs
     * put 30x-60x cap and hold their first drain until a drop is counted. */
    static const config_t small = { "overflow 3 procs x 3 threads, cap 1024", 3, 3, 30000, 1024, 200, 1 };
    static const config_t big = { "no-drop 3 procs x 3 threads, cap 32768", 3, 3, 10000, 32768, 0, 0 };
    static const config_t threads = { "in-process 4 threads, cap 65536", 0, 4, 15000, 65536, 0, 0 };
    static const config_t threads_small = { "in-process overflow 4 threads, cap 1024", 0, 4, 15000, 1024, 100, 1 };

    plan(11 + 7 * 4 + 8 + 7 + 12 + 9);
    uint64_t t0 = now_ns(), t = t0;
#define TIMED(call)                                                      \
    do {                                                                 \
        call;                                                            \
        diag("%s: %.2f s", #call, (now_ns() - t) / 1e9);                 \
        t = now_ns();                                                    \
    } while (0)
    TIMED(test_single());
    TIMED(test_writers(&small));
    TIMED(test_writers(&big));
    TIMED(test_kill());
    TIMED(test_claim());
    TIMED(test_attach());
    TIMED(test_untrusted());
    /* Last: the in-process threads variant is what TSan can see into
     * (it cannot follow accesses made by other processes). */
    TIMED(test_writers(&threads));
    TIMED(test_writers(&threads_small)); /* laps: cells handed back and rewritten */
    diag("total %.2f s", (now_ns() - t0) / 1e9);
    return done_testing();
}
