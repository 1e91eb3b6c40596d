/* SPDX-License-Identifier: Apache-2.0
 * test_mh.c — the allocation and copy hooks, linked into this executable so
 * that they interpose this process's malloc and memcpy (as the preload
 * library does in a profiled one). No Python here: every sample is NOFRAME.
 * Checks what the report's arithmetic relies on: the Poisson estimate of
 * volume, big blocks exact, every sampled block credited back exactly once
 * on free, realloc as a move, copies, excluded threads, and a forked child
 * forgetting its parent's blocks. Not built for ASan/TSan, whose runtimes
 * must own malloc themselves.
 */
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mh.h"
#include "record.h"
#include "ring.h"

#define WIN (64u * 1024u)
#define CAP 4096u

static ring_seg_t *seg;
static int slot;

typedef struct sums {
    double alloc, volume, freed, moved, copied;
    unsigned n_alloc, n_free, n_move, n_copy, noframe, python;
} sums_t;

static rec_t buf[CAP];

static sums_t drain_slot(int s)
{
    sums_t m;
    memset(&m, 0, sizeof m);
    size_t n;
    while ((n = ring_drain(seg, s, buf, CAP, false)) > 0)
        for (size_t i = 0; i < n; i++) {
            const rec_t *r = &buf[i];
            if (r->h.kind == REC_MEM && !(r->h.flags & (REC_M_FINAL | REC_M_RSS))) {
                m.noframe += (r->h.flags & REC_M_NOFRAME) != 0;
                m.python += (r->h.flags & REC_M_PYTHON) != 0;
                if (r->h.flags & REC_M_FREE) {
                    if (r->h.flags & REC_M_MOVE) {
                        m.moved += (double)r->u.mem.bytes;
                        m.n_move++;
                    } else {
                        m.freed += (double)r->u.mem.bytes;
                        m.n_free++;
                    }
                } else {
                    m.alloc += (double)r->u.mem.bytes;
                    m.volume += (double)r->u.mem.volume;
                    m.n_alloc++;
                }
            } else if (r->h.kind == REC_COPY) {
                m.copied += (double)r->u.copy.bytes;
                m.n_copy++;
            }
        }
    return m;
}

static sums_t drain(void) { return drain_slot(slot); }

static void *excluded_thread(void *arg)
{
    (void)arg;
    mh_thread_exclude();
    for (int i = 0; i < 64; i++)
        free(malloc(WIN * 2)); /* big: would always be sampled */
    return NULL;
}

int main(void)
{
    plan(24);
    ring_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.interval_ns = 10000000;
    cfg.alloc_window = WIN;
    cfg.copy_window = WIN;
    int fd;
    seg = ring_create(4, CAP, &cfg, &fd);
    ok(seg != NULL, "segment created");
    slot = ring_claim(seg, getpid());
    ok(slot >= 0 && mh_start(seg, slot) == 0, "hooks started on slot %d", slot);
    drain();

    /* 3000 blocks of 1000 bytes: ~46 samples of 64 KiB expected. The
     * estimate's sd is sqrt(46)/46 = 15%; 45% is three sd. */
    enum { N = 3000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++)
        blocks[i] = malloc(1000);
    sums_t a = drain();
    double truth = (double)N * 1000;
    ok(a.alloc > truth * 0.55 && a.alloc < truth * 1.45, "small blocks: estimate %.0f for %.0f bytes", a.alloc,
       truth);
    ok(a.volume == a.alloc, "fresh blocks: volume %.0f == bytes %.0f", a.volume, a.alloc);
    ok(a.noframe == a.n_alloc && a.python == 0, "no Python here: %u of %u samples NOFRAME, %u python", a.noframe,
       a.n_alloc, a.python);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    sums_t f = drain();
    ok(f.freed == a.alloc && f.n_free == a.n_alloc, "every sampled block credited back once: %.0f of %.0f (%u/%u)",
       f.freed, a.alloc, f.n_free, a.n_alloc);

    drain(); /* what ok() printed allocated */
    /* A program's favourite size is not special (Scalene's 98,821). */
    for (int i = 0; i < 400; i++)
        free(malloc(98821));
    sums_t odd = drain();
    truth = 400.0 * 98821;
    ok(odd.alloc > truth * 0.7 && odd.alloc < truth * 1.3 && odd.freed == odd.alloc,
       "98,821-byte blocks measured like any other: %.0f for %.0f, freed %.0f", odd.alloc, truth, odd.freed);

    drain(); /* what ok() printed allocated */
    /* Big blocks: always sampled, exactly. */
    char *big = malloc(5 * WIN + 7);
    sums_t b = drain();
    ok(b.n_alloc == 1 && b.alloc == 5.0 * WIN + 7, "big block exact: %u samples, %.0f bytes", b.n_alloc, b.alloc);
    char *grown = realloc(big, 20 * WIN);
    sums_t g = drain();
    ok(g.n_move == 1 && g.moved == 5.0 * WIN + 7, "realloc moves the old block out: %.0f", g.moved);
    ok(g.n_alloc == 1 && g.alloc == 20.0 * WIN, "realloc's new block: %.0f bytes", g.alloc);
    ok(g.volume > 14.0 * WIN && g.volume <= 15.0 * WIN, "realloc's volume is the growth: %.0f (about %u)", g.volume,
       15 * WIN);
    free(grown);
    sums_t gf = drain();
    ok(gf.n_free == 1 && gf.freed == 20.0 * WIN, "free of the grown block: %.0f", gf.freed);

    drain(); /* what ok() printed allocated */
    void *z = calloc(4 * WIN, 2);
    sums_t c = drain();
    ok(c.n_alloc == 1 && c.alloc == 8.0 * WIN, "calloc counted: %.0f", c.alloc);
    free(z);
    drain();

    drain(); /* what ok() printed allocated */
    void *al = NULL;
    ok(posix_memalign(&al, 4096, 3 * WIN) == 0 && al, "posix_memalign works");
    void *al2 = aligned_alloc(64, 2 * WIN);
    sums_t alg = drain();
    ok(alg.n_alloc == 2 && alg.alloc == 5.0 * WIN, "aligned allocators counted: %.0f", alg.alloc);
    free(al);
    free(al2);
    sums_t alf = drain();
    ok(alf.freed == 5.0 * WIN, "aligned blocks credited back: %.0f", alf.freed);

    drain(); /* what ok() printed allocated */
    /* Copies: 16 MiB in 4 KiB pieces, then one big copy (exact). */
    static char src[1 << 20], dst[1 << 20];
    memset(src, 7, sizeof src);
    size_t len = 4096;
    for (int i = 0; i < 4096; i++)
        memcpy(dst + (size_t)(i % 256) * 4096, src, len);
    sums_t cp = drain();
    truth = 4096.0 * 4096;
    ok(cp.copied > truth * 0.7 && cp.copied < truth * 1.3, "copy volume: %.0f for %.0f", cp.copied, truth);
    ok(dst[12345] == 7, "the copy itself happened");
    memmove(dst, src, sizeof src);
    sums_t mv = drain();
    ok(mv.copied == (double)sizeof src, "big memmove exact: %.0f", mv.copied);

    drain(); /* what ok() printed allocated */
    /* An excluded thread (the sampler) writes nothing. */
    pthread_t th;
    pthread_create(&th, NULL, excluded_thread, NULL);
    pthread_join(th, NULL);
    sums_t ex = drain();
    ok(ex.n_alloc == 0 && ex.n_free == 0, "excluded thread: %u samples", ex.n_alloc);

    /* A forked child forgets its parent's blocks and samples its own. */
    char *kept = malloc(2 * WIN);
    drain();
    int cslot = ring_claim(seg, getpid() + 1000000); /* a slot the child writes to */
    pid_t pid = fork();
    if (pid == 0) {
        mh_child(cslot);
        free(kept);          /* the parent's block: nothing to credit here */
        void *mine = malloc(3 * WIN);
        (void)mine;
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    sums_t ch = drain_slot(cslot);
    ok(ch.n_free == 0, "child's free of a parent block credits nothing: %u", ch.n_free);
    ok(ch.n_alloc == 1 && ch.alloc == 3.0 * WIN, "child's own block in its slot: %.0f", ch.alloc);
    sums_t par = drain();
    ok(par.n_alloc == 0 && par.n_free == 0, "nothing in the parent's slot from the child: %u/%u", par.n_alloc,
       par.n_free);
    free(kept);
    sums_t pk = drain();
    ok(pk.freed == 2.0 * WIN, "the parent still credits its own block: %.0f", pk.freed);
    return done_testing();
}
