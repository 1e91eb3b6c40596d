/* SPDX-License-Identifier: Apache-2.0
 * fuzz_drain.c — libFuzzer target over the aggregator's reading of the
 * shared segment (issue 13): the real reader (runtime/ring.c ring_drain,
 * ring_slot_info, ring_release), the real drain pass (aggregator/drn.c,
 * drn_pass) and the real record decoder (aggregator/tbl.c tbl_ingest and
 * aggregator/stk.c), on a small real segment that the input both fills
 * through the writer's protocol and overwrites byte by byte, as a process
 * with a stray pointer would.
 *
 * Input: one byte of flags, then operations until the input ends:
 *   0 PUT   slot(1) record(56)      ring_put of a record chosen by the input
 *   1 POKE  offset(2) n(1) bytes(n) bytes written anywhere in the segment
 *   2 PASS  dead(1)                 drn_pass; bit (pid % 8) of dead says the
 *                                   slot's owner is gone
 *   3 CLAIM slot(1)                 ring_claim for the fake pid 1000 + slot
 *   4 STR   slot(1) n(1) bytes(n)   a string sent in chunks as nm_ does
 * (an operation byte is taken modulo 5). Then a last pass with every owner
 * dead, and the tables and stacks are walked as the report would.
 *
 * What must hold: no crash, no sanitizer report, no hang (libFuzzer's
 * -timeout), and after the last pass (every owner dead) every slot free.
 * Context: thread (one fuzzing thread, registered with RCU).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu.h>

#include "drn.h"
#include "record.h"
#include "ring.h"
#include "stk.h"
#include "tbl.h"

#define FZ_SLOTS 4u
#define FZ_CAP 16u
#define FZ_PID0 1000

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in_t;

static bool take(fz_in_t *in, void *out, size_t n)
{
    if (in->n < n)
        return false;
    memcpy(out, in->p, n);
    in->p += n;
    in->n -= n;
    return true;
}

static bool dead_by_mask(int32_t pid, void *arg)
{
    uint8_t mask = *(const uint8_t *)arg;
    return (mask >> ((uint32_t)pid % 8u)) & 1u;
}

static void walk_line(const tbl_line_t *l, void *arg) { *(uint64_t *)arg += tbl_rd(&l->c.samples) + l->line; }
static void walk_func(const tbl_func_t *f, void *arg) { *(uint64_t *)arg += tbl_rd(&f->c.samples) + f->func_line; }
static void walk_proc(const tbl_proc_t *p, void *arg)
{
    *(uint64_t *)arg += p->written + p->dropped + p->torn + tbl_rd(&p->invalid_recs) + tbl_rd(&p->invalid_cells);
}
static void walk_stack(const stk_frame_t *f, uint32_t n, const stk_stats_t *st, void *arg)
{
    for (uint32_t i = 0; i < n; i++)
        *(uint64_t *)arg += f[i].file_id ^ f[i].line;
    *(uint64_t *)arg += st->count;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rcu_register_thread();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size};
    uint8_t flags = 0;
    take(&in, &flags, 1);
    ring_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int fd = -1;
    ring_seg_t *seg = ring_create(FZ_SLOTS, FZ_CAP, &cfg, &fd);
    if (!seg)
        abort();
    /* A second, raw mapping of the same memfd: the bytes a stray pointer
     * in any profiled process can reach. */
    struct stat st;
    if (fstat(fd, &st) != 0)
        abort();
    size_t len = (size_t)st.st_size;
    uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (raw == MAP_FAILED)
        abort();
    tbl_t *tbl = tbl_new(ring_t0_ns(seg));
    drn_t *d = tbl ? drn_new(seg, tbl) : NULL;
    if (!d)
        abort();
    if (flags & 1) /* start with every slot owned */
        for (uint32_t s = 0; s < FZ_SLOTS; s++)
            ring_claim(seg, FZ_PID0 + (int32_t)s);

    uint8_t op;
    while (take(&in, &op, 1)) {
        switch (op % 5u) {
        case 0: {
            uint8_t slot;
            rec_t r;
            if (!take(&in, &slot, 1) || !take(&in, &r, sizeof r))
                goto done;
            ring_put(seg, slot % FZ_SLOTS, &r);
            break;
        }
        case 1: {
            uint16_t off;
            uint8_t n;
            uint8_t buf[255];
            if (!take(&in, &off, 2) || !take(&in, &n, 1) || !take(&in, buf, n))
                goto done;
            size_t o = off % len;
            size_t k = n < len - o ? n : len - o;
            memcpy(raw + o, buf, k);
            break;
        }
        case 2: {
            uint8_t dead;
            if (!take(&in, &dead, 1))
                goto done;
            drn_pass(d, dead_by_mask, &dead);
            break;
        }
        case 3: {
            uint8_t slot;
            if (!take(&in, &slot, 1))
                goto done;
            ring_claim(seg, FZ_PID0 + (int32_t)(slot % FZ_SLOTS));
            break;
        }
        case 4: {
            uint8_t slot, n;
            char text[255];
            if (!take(&in, &slot, 1) || !take(&in, &n, 1) || !take(&in, text, n))
                goto done;
            uint64_t id = rec_str_id(text, n);
            for (unsigned k = 0; k < rec_str_nchunks(n); k++) {
                rec_t r;
                memset(&r, 0, sizeof r);
                rec_str_chunk(&r, id, text, n, k);
                ring_put(seg, slot % FZ_SLOTS, &r);
            }
            break;
        }
        }
    }
done:;
    uint8_t all = 0xff;
    drn_pass(d, dead_by_mask, &all);
    /* every slot with a dead owner is free after a pass: drained up to the
     * head the reader checked and released, or quarantined and rebuilt
     * (only a poke between the drain and the release could keep one, and
     * there is none in a pass) */
    for (uint32_t s = 0; s < FZ_SLOTS; s++) {
        ring_slot_info_t info;
        ring_slot_info(seg, (int)s, &info);
        if (info.owner > 0) {
            fprintf(stderr, "fuzz_drain: slot %u still owned by %d after a dead-owner pass\n", s, info.owner);
            abort();
        }
    }
    uint64_t sink = 0;
    tbl_each_line(tbl, walk_line, &sink);
    tbl_each_func(tbl, walk_func, &sink);
    tbl_each_proc(tbl, walk_proc, &sink);
    stk_each_merged(tbl_stk(tbl), 100, walk_stack, &sink);
    for (int32_t p = FZ_PID0; p < FZ_PID0 + (int32_t)FZ_SLOTS; p++)
        stk_each(tbl_stk(tbl), p, 100, walk_stack, &sink);
    tbl_msum_t ms;
    tbl_mem_summary(tbl, &ms);
    sink += ms.live;
    (void)sink;

    drn_free(d);
    tbl_free(tbl);
    munmap(raw, len);
    ring_destroy(seg);
    close(fd);
    return 0;
}
