/* SPDX-License-Identifier: Apache-2.0
 * drn.c — the drain thread (see drn.h).
 *
 * Death before drain: a slot's owner is judged dead *before* its ring is
 * drained in a pass, so once it is dead no record can appear behind the
 * drain: a cell reserved but never published can only belong to a writer
 * that died mid-write, and ring_drain skips it as torn.
 *
 * Untrusted segment. Any profiled process can overwrite the segment
 * (runtime/ring.h, Trust). ring_drain reads at most one lap of a slot per
 * call and quarantines a slot whose positions break the ring's rules; a
 * pass here takes at most DRN_LAPS laps per slot, so one pass ends however
 * fast a (stray) writer refills, and the record contents are tbl_ingest's
 * to check. A quarantined slot is skipped while its owner lives and rebuilt
 * by ring_release once it is dead; an owner the tables never heard of
 * (a pid scribbled into x_owner) gets no process row.
 */
#include "drn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu.h>


#define DRN_BATCH 1024
#define DRN_POLLS 8 /* GPU polls taken at a time */
#define DRN_LAPS 4  /* ring laps read per slot and pass, at most */

/* The binary a process that just started runs (its interpreter): read now,
 * while it is most likely alive; a zombie or a process already gone has no
 * /proc/<pid>/exe, and the report then says null. */
static void note_exe(tbl_t *t, int32_t pid)
{
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    tbl_proc_exe(t, pid, exe);
}

typedef struct known {
    int32_t pid; /* owner we opened pidfd for; 0 if none */
    int pidfd;   /* -1 if pidfd_open failed */
    bool quarantined; /* counted in the tables; until the slot is released */
} known_t;

struct drn {
    ring_seg_t *seg;
    uint64_t batches; /* DRN_BATCH calls per slot and pass: DRN_LAPS laps */
    tbl_t *tbl;
    uint64_t period_ns;
    pthread_t th;
    /* set by drn_stop (release), read by the thread (acquire) */
    _Atomic int x_stop;
    /* wakes the thread from its pause at once when stopping, so the final
     * drain of a short run does not wait out a period */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t nslots;
    known_t *known;
    rec_t buf[DRN_BATCH];
    /* set by drn_gpu (release), read by the drain (acquire): the sampler
     * whose polls the drain merges; NULL: none */
    _Atomic(nv_t *) x_nv;
    int32_t *owners, *watched; /* this pass's slot owners; the pids last sent to nv */
    size_t nwatched;
    nv_poll_t polls[DRN_POLLS];
};

/* Hands the GPU sampler's polls to the tables, in order: each poll's uses,
 * then its end. */
static void gpu_polls(drn_t *d, nv_t *nv)
{
    size_t n;
    while ((n = nv_take(nv, d->polls, DRN_POLLS)) > 0)
        for (size_t i = 0; i < n; i++) {
            const nv_poll_t *p = &d->polls[i];
            for (uint32_t k = 0; k < p->n && k < NV_USES; k++)
                tbl_gpu_use(d->tbl, p->use[k].pid, p->t_from, p->t_to, p->use[k].util_bp, p->use[k].mem);
            tbl_gpu_upto(d->tbl, p->t_from, p->t_to);
        }
}

/* Tells the sampler the live profiled pids when they changed. */
static void gpu_watch(drn_t *d, nv_t *nv, size_t n)
{
    if (n == d->nwatched && memcmp(d->owners, d->watched, n * sizeof *d->owners) == 0)
        return;
    memcpy(d->watched, d->owners, n * sizeof *d->owners);
    d->nwatched = n;
    nv_watch(nv, d->owners, n);
}

static bool owner_dead(known_t *k)
{
    if (k->pidfd >= 0) {
        struct pollfd p = {k->pidfd, POLLIN, 0};
        return poll(&p, 1, 0) > 0;
    }
    /* no pidfd (old kernel, or the process was gone before we looked) */
    if (kill(k->pid, 0) != 0 && errno == ESRCH)
        return true;
    return false;
}

/* One pass over every slot. dead, when not NULL, answers "is the owner
 * gone" instead of the kernel (tests, fuzzing). Returns the number of
 * slots still owned. */
static int pass(drn_t *d, bool (*dead_fn)(int32_t pid, void *arg), void *arg)
{
    /* acquire: pairs with the release in drn_gpu(), so the sampler is seen whole */
    nv_t *nv = atomic_load_explicit(&d->x_nv, memory_order_acquire);
    /* polls first: a record drained below that they already cover is
     * charged at once instead of waiting for the next poll */
    if (nv)
        gpu_polls(d, nv);
    int owned = 0;
    size_t nowners = 0;
    for (uint32_t i = 0; i < d->nslots; i++) {
        ring_slot_info_t info;
        ring_slot_info(d->seg, (int)i, &info);
        if (info.owner <= 0)
            continue;
        d->owners[nowners++] = info.owner;
        known_t *k = &d->known[i];
        if (k->pid != info.owner) {
            if (k->pidfd >= 0)
                close(k->pidfd);
            k->pid = info.owner;
            k->pidfd = dead_fn ? -1 : (int)syscall(SYS_pidfd_open, info.owner, 0);
        }
        bool dead = dead_fn ? dead_fn(k->pid, arg) : owner_dead(k);
        size_t n;
        uint64_t b = 0;
        do {
            n = ring_drain(d->seg, (int)i, d->buf, DRN_BATCH, dead);
            for (size_t j = 0; j < n; j++) {
                tbl_ingest(d->tbl, k->pid, &d->buf[j]);
                if (d->buf[j].h.kind == REC_PROC_START)
                    note_exe(d->tbl, k->pid);
            }
        } while (n == DRN_BATCH && ++b < d->batches);
        ring_slot_info(d->seg, (int)i, &info);
        if (info.quarantined && !k->quarantined) {
            k->quarantined = true;
            tbl_quarantine(d->tbl, k->pid);
        }
        tbl_slot_stats(d->tbl, k->pid, &info);
        if (dead) {
            tbl_proc_end(d->tbl, k->pid, false, 0, tbl_now_ns());
            if (ring_release(d->seg, (int)i) == 0) {
                /* its last record is in the tables: its memory may leave the footprint */
                tbl_proc_gone(d->tbl, k->pid, tbl_now_ns());
                if (k->pidfd >= 0)
                    close(k->pidfd);
                k->pid = 0;
                k->pidfd = -1;
                k->quarantined = false;
                continue;
            }
        }
        owned++;
    }
    if (nv)
        gpu_watch(d, nv, nowners);
    return owned;
}

static void *drn_main(void *arg)
{
    drn_t *d = arg;
    rcu_register_thread();
    /* acquire: pairs with the release in drn_stop() */
    while (!atomic_load_explicit(&d->x_stop, memory_order_acquire)) {
        pass(d, NULL, NULL);
        uint64_t until = tbl_now_ns() + d->period_ns;
        struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
        pthread_mutex_lock(&d->mu);
        /* acquire: pairs with the release in drn_stop() */
        if (!atomic_load_explicit(&d->x_stop, memory_order_acquire))
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        pthread_mutex_unlock(&d->mu);
    }
    rcu_unregister_thread();
    return NULL;
}

drn_t *drn_new(ring_seg_t *seg, tbl_t *tbl)
{
    drn_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->seg = seg;
    d->tbl = tbl;
    d->nslots = ring_nslots(seg);
    d->known = calloc(d->nslots, sizeof *d->known);
    d->owners = calloc(d->nslots, sizeof *d->owners);
    d->watched = calloc(d->nslots, sizeof *d->watched);
    if (!d->known || !d->owners || !d->watched) {
        drn_free(d);
        errno = ENOMEM;
        return NULL;
    }
    d->batches = (uint64_t)DRN_LAPS * ring_cap(seg) / DRN_BATCH + 1;
    for (uint32_t i = 0; i < d->nslots; i++)
        d->known[i].pidfd = -1;
    atomic_init(&d->x_stop, 0);
    atomic_init(&d->x_nv, NULL);
    return d;
}

int drn_pass(drn_t *d, bool (*dead)(int32_t pid, void *arg), void *arg) { return pass(d, dead, arg); }

void drn_free(drn_t *d)
{
    if (!d)
        return;
    if (d->known)
        for (uint32_t i = 0; i < d->nslots; i++)
            if (d->known[i].pidfd >= 0)
                close(d->known[i].pidfd);
    free(d->known);
    free(d->owners);
    free(d->watched);
    free(d);
}

drn_t *drn_start(ring_seg_t *seg, tbl_t *tbl, uint64_t period_ns)
{
    drn_t *d = drn_new(seg, tbl);
    if (!d)
        return NULL;
    d->period_ns = period_ns;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    int e = pthread_create(&d->th, NULL, drn_main, d);
    if (e) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        drn_free(d);
        errno = e;
        return NULL;
    }
    return d;
}

void drn_gpu(drn_t *d, nv_t *nv)
{
    /* release: publishes nv to the drain; pairs with the acquire in pass() */
    atomic_store_explicit(&d->x_nv, nv, memory_order_release);
}

int drn_stop(drn_t *d, uint64_t wait_ns)
{
    pthread_mutex_lock(&d->mu);
    /* release: pairs with the acquires in drn_main() */
    atomic_store_explicit(&d->x_stop, 1, memory_order_release);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->th, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    uint64_t until = tbl_now_ns() + wait_ns;
    int owned;
    while ((owned = pass(d, NULL, NULL)) > 0 && tbl_now_ns() < until) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    /* acquire: pairs with the release in drn_gpu() */
    nv_t *nv = atomic_load_explicit(&d->x_nv, memory_order_acquire);
    if (nv) {
        gpu_polls(d, nv); /* what the sampler queued after the last pass */
        tbl_gpu_flush(d->tbl);
    }
    drn_free(d);
    return owned;
}
