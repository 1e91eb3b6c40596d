/* SPDX-License-Identifier: Apache-2.0
 * test_stk.c — the aggregator's call stacks (aggregator/stk.c) against
 * synthetic REC_STACK / charge sequences: a stack is named only when every
 * frame arrived in order, numbers are per process, a number defined again
 * (after an execve) keeps the old image's stack, and merging sums equal
 * stacks over processes, hottest first.
 */
#include <stdio.h>
#include <string.h>

#include "stk.h"
#include "tap.h"

static void define(stk_t *s, int32_t pid, uint16_t num, const uint64_t *funcs, uint16_t n, int skip)
{
    for (uint16_t k = 0; k < n; k++) {
        if (k == skip)
            continue;
        rec_t r;
        memset(&r, 0, sizeof r);
        r.h.kind = REC_STACK;
        r.h.aux = num;
        r.u.stack.k = k;
        r.u.stack.n = n;
        r.u.stack.file_id = 7;
        r.u.stack.func_id = funcs[k];
        r.u.stack.line = (uint32_t)(10 + funcs[k]);
        stk_define(s, pid, &r);
    }
}

typedef struct seen {
    int n;
    uint64_t leaf[16];
    uint32_t depth[16];
    stk_stats_t st[16];
} seen_t;

static void take(const stk_frame_t *f, uint32_t n, const stk_stats_t *st, void *arg)
{
    seen_t *s = arg;
    if (s->n < 16) {
        s->leaf[s->n] = f[n - 1].func_id;
        s->depth[s->n] = n;
        s->st[s->n] = *st;
        s->n++;
    }
}

typedef struct mseen {
    int n;
    uint64_t leaf[16];
    stk_mem_t m[16];
} mseen_t;

static void take_mem(const stk_frame_t *f, uint32_t n, const stk_mem_t *m, void *arg)
{
    mseen_t *s = arg;
    if (s->n < 16) {
        s->leaf[s->n] = f[n - 1].func_id;
        s->m[s->n] = *m;
        s->n++;
    }
}

int main(void)
{
    plan(23);
    stk_t *s = stk_new();
    const uint64_t ab[] = {1, 2}, ac[] = {1, 3}, abd[] = {1, 2, 4};
    define(s, 100, 1, ab, 2, -1);
    define(s, 100, 2, ac, 2, -1);
    define(s, 100, 3, abd, 3, 1); /* its middle frame is lost (a full ring) */
    stk_charge(s, 100, 2, 5, 0, 0);
    stk_charge(s, 100, 1, 10, 20, 30);
    stk_charge(s, 100, 1, 1, 2, 3);
    stk_charge(s, 100, 3, 100, 0, 0);
    stk_charge(s, 100, 9, 100, 0, 0); /* never defined */
    seen_t v = {0};
    stk_each(s, 100, 1000, take, &v);
    ok(v.n == 2, "two named stacks (the one with a lost frame is not): %d", v.n);
    ok(v.n == 2 && v.leaf[0] == 3 && v.leaf[1] == 2, "order of first sample: a;c then a;b");
    ok(v.n == 2 && v.st[1].count == 2 && v.st[1].python_ns == 11 && v.st[1].native_ns == 22 && v.st[1].sys_ns == 33,
       "a;b: 2 samples, python/native/system summed");
    ok(stk_lost(s) == 2, "samples on an incomplete or unknown stack are lost: %llu", (unsigned long long)stk_lost(s));

    /* another process numbers its own stacks: its 1 is a;c */
    define(s, 200, 1, ac, 2, -1);
    stk_charge(s, 200, 1, 50, 0, 0);
    memset(&v, 0, sizeof v);
    stk_each(s, 200, 1000, take, &v);
    ok(v.n == 1 && v.leaf[0] == 3 && v.st[0].python_ns == 50, "pid 200's number 1 is its own a;c");
    memset(&v, 0, sizeof v);
    stk_each(s, 100, 1000, take, &v);
    ok(v.n == 2 && v.st[1].python_ns == 11, "pid 100's number 1 is still a;b");

    /* merged: a;c = 5 + 50, a;b = 66 -> a;b first */
    memset(&v, 0, sizeof v);
    stk_each_merged(s, 1000, take, &v);
    ok(v.n == 2, "merged: two distinct stacks: %d", v.n);
    ok(v.n == 2 && v.leaf[0] == 2 && v.st[0].python_ns + v.st[0].native_ns + v.st[0].sys_ns == 66,
       "hottest first: a;b with 66 ns");
    ok(v.n == 2 && v.leaf[1] == 3 && v.st[1].python_ns == 55 && v.st[1].count == 2, "a;c summed over pids: 55 ns, 2 samples");

    /* pid 100 execs: numbering restarts, number 1 now means a;b;d */
    define(s, 100, 1, abd, 3, -1);
    stk_charge(s, 100, 1, 7, 0, 0);
    memset(&v, 0, sizeof v);
    stk_each(s, 100, 1000, take, &v);
    int old_ab = 0, new_abd = 0;
    for (int i = 0; i < v.n; i++) {
        old_ab += v.leaf[i] == 2 && v.depth[i] == 2 && v.st[i].python_ns == 11;
        new_abd += v.leaf[i] == 4 && v.depth[i] == 3 && v.st[i].python_ns == 7;
    }
    ok(v.n == 3, "after exec: the old image's two stacks and the new one: %d", v.n);
    ok(old_ab == 1, "the old a;b keeps its time");
    ok(new_abd == 1, "the new number 1 is a;b;d with its own time");

    /* a frame out of order breaks the definition until redefined */
    define(s, 300, 1, abd, 3, -1);
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_STACK;
    r.h.aux = 1;
    r.u.stack.k = 2;
    r.u.stack.n = 3;
    stk_define(s, 300, &r); /* a stray frame: k != frames received */
    stk_charge(s, 300, 1, 1, 0, 0);
    memset(&v, 0, sizeof v);
    stk_each(s, 300, 1000, take, &v);
    ok(v.n == 0, "a stray frame makes the stack unnamed");
    define(s, 300, 1, abd, 3, -1);
    stk_charge(s, 300, 1, 1, 0, 0);
    memset(&v, 0, sizeof v);
    stk_each(s, 300, 1000, take, &v);
    ok(v.n == 1 && v.depth[0] == 3, "defined again, it is named");

    /* pid 400: a complete, charged a;b, then a redefinition of number 1
     * whose first frame was lost (ring full): a;b keeps its time and frames,
     * and samples on number 1 are lost until it is defined again */
    define(s, 400, 1, ab, 2, -1);
    stk_charge(s, 400, 1, 9, 0, 0);
    uint64_t lost = stk_lost(s);
    define(s, 400, 1, abd, 3, 0);
    stk_charge(s, 400, 1, 1, 0, 0);
    memset(&v, 0, sizeof v);
    stk_each(s, 400, 1000, take, &v);
    ok(v.n == 1 && v.depth[0] == 2 && v.leaf[0] == 2 && v.st[0].python_ns == 9,
       "a redefinition missing its first frame leaves the complete a;b as it was");
    ok(stk_lost(s) == lost + 1, "the sample on the half-defined number is lost");

    /* caps: pid 100 has 3 stacks (a;b 66, a;c 5, a;b;d 7): keep the 2 hottest, first-seen order */
    memset(&v, 0, sizeof v);
    size_t left = stk_each(s, 100, 2, take, &v);
    ok(left == 1 && v.n == 2 && v.leaf[0] == 2 && v.leaf[1] == 4, "per process cap: a;b and a;b;d kept, a;c left out (%zu)", left);
    memset(&v, 0, sizeof v);
    left = stk_each_merged(s, 1, take, &v);
    ok(left >= 1 && v.n == 1 && v.leaf[0] == 2, "merged cap: the hottest only (%zu left out)", left);
    stk_free(s);

    /* memory: a;b keeps 3 MB, a;c allocates 2 and frees them; pid 200 has a;b too */
    s = stk_new();
    define(s, 100, 1, ab, 2, -1);
    define(s, 100, 2, ac, 2, -1);
    define(s, 200, 1, ab, 2, -1);
    stk_charge_mem(s, 100, 1, 3 << 20, 0);
    stk_charge_mem(s, 100, 2, 2 << 20, 0);
    stk_charge_mem(s, 100, 2, 0, 2 << 20);
    stk_charge_mem(s, 200, 1, 1 << 20, 0);
    stk_charge_mem(s, 100, 7, 1 << 20, 0); /* never defined: dropped */
    mseen_t m = {0};
    stk_each_mem(s, 100, 100, take_mem, &m);
    ok(m.n == 2 && m.leaf[0] == 2 && m.m[0].alloc == 3u << 20 && m.m[0].freed == 0, "pid 100: a;b first, 3 MB kept");
    ok(m.n == 2 && m.leaf[1] == 3 && m.m[1].alloc == 2u << 20 && m.m[1].freed == 2u << 20, "a;c: 2 MB, all freed");
    memset(&m, 0, sizeof m);
    stk_each_mem(s, -1, 100, take_mem, &m);
    ok(m.n == 2 && m.leaf[0] == 2 && m.m[0].alloc == 4u << 20 && m.m[0].count == 2, "merged: a;b summed over pids (4 MB)");
    memset(&v, 0, sizeof v);
    stk_each(s, 100, 100, take, &v);
    ok(v.n == 0, "memory-only stacks are not CPU stacks");
    memset(&m, 0, sizeof m);
    ok(stk_each_mem(s, -1, 1, take_mem, &m) == 1 && m.n == 1 && m.leaf[0] == 2, "merged memory cap: the most MB");
    stk_free(s);
    return done_testing();
}
