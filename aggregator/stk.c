/* SPDX-License-Identifier: Apache-2.0
 * stk.c — call stacks per process (see stk.h).
 */
#include "stk.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct def {
    uint32_t n;    /* frames in the stack; 0: broken (a record went missing) */
    uint32_t have; /* frames received so far, in order */
    stk_frame_t *frames;
    uint64_t hash; /* of the frames, once complete */
    uint64_t order; /* sequence of its first sample: the per-process order */
    stk_stats_t st;
    stk_mem_t mem;
} def_t;

typedef struct proc {
    int32_t pid;
    def_t **num; /* by stack number */
    uint32_t cap;
    def_t **old; /* numbers redefined after an execve: the old image's stacks */
    uint32_t nold, capold;
} proc_t;

struct stk {
    pthread_mutex_t mu;
    proc_t *procs;
    size_t n, cap;
    size_t last; /* index of the last process looked up: samples come in runs */
    uint64_t seq, lost;
};

stk_t *stk_new(void)
{
    stk_t *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void def_free(def_t *d)
{
    if (d) {
        free(d->frames);
        free(d);
    }
}

void stk_free(stk_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        proc_t *p = &s->procs[i];
        for (uint32_t k = 0; k < p->cap; k++)
            def_free(p->num[k]);
        for (uint32_t k = 0; k < p->nold; k++)
            def_free(p->old[k]);
        free(p->num);
        free(p->old);
    }
    free(s->procs);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static proc_t *proc_of(stk_t *s, int32_t pid, bool make)
{
    if (s->last < s->n && s->procs[s->last].pid == pid)
        return &s->procs[s->last];
    for (size_t i = 0; i < s->n; i++)
        if (s->procs[i].pid == pid) {
            s->last = i;
            return &s->procs[i];
        }
    if (!make)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        proc_t *v = realloc(s->procs, cap * sizeof *v);
        if (!v)
            return NULL;
        s->procs = v;
        s->cap = cap;
    }
    proc_t *p = &s->procs[s->n];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    s->last = s->n++;
    return p;
}

static uint64_t frames_hash(const stk_frame_t *f, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t w[4] = {f[i].file_id, f[i].func_id, f[i].line, f[i].offset ^ f[i].native};
        for (int j = 0; j < 4; j++) {
            h ^= w[j];
            h *= 0x100000001b3ull;
            h ^= h >> 29;
        }
    }
    return h;
}

/* Keeps the old image's stack that a new definition of the same number
 * replaces (a process that exec'd numbers its stacks from 1 again). */
static void retire(proc_t *p, def_t *d)
{
    if ((d->st.count == 0 && d->mem.count == 0) || d->n == 0 || d->have != d->n) {
        def_free(d);
        return;
    }
    if (p->nold == p->capold) {
        uint32_t cap = p->capold ? 2 * p->capold : 16;
        def_t **v = realloc(p->old, cap * sizeof *v);
        if (!v) {
            def_free(d);
            return;
        }
        p->old = v;
        p->capold = cap;
    }
    p->old[p->nold++] = d;
}

void stk_define(stk_t *s, int32_t pid, const rec_t *r)
{
    uint16_t num = r->h.aux, k = r->u.stack.k, n = r->u.stack.n;
    if (num == 0 || n == 0 || k >= n)
        return;
    pthread_mutex_lock(&s->mu);
    proc_t *p = proc_of(s, pid, true);
    if (!p)
        goto out;
    if (num >= p->cap) {
        uint32_t cap = p->cap ? p->cap : 64;
        while (cap <= num)
            cap *= 2;
        def_t **v = realloc(p->num, cap * sizeof *v);
        if (!v)
            goto out;
        memset(v + p->cap, 0, (cap - p->cap) * sizeof *v);
        p->num = v;
        p->cap = cap;
    }
    def_t *d = p->num[num];
    if (k == 0) {
        if (d)
            retire(p, d);
        d = calloc(1, sizeof *d);
        stk_frame_t *f = calloc(n, sizeof *f);
        if (!d || !f) {
            free(d);
            free(f);
            p->num[num] = NULL;
            goto out;
        }
        d->n = n;
        d->frames = f;
        p->num[num] = d;
    } else if (!d || d->n != n || d->have != k) {
        if (d && d->have == d->n) {
            /* a new definition of the number lost its first frame: the
             * complete stack keeps its time and frames (a report may be
             * reading them: a complete definition is never changed) */
            retire(p, d);
            p->num[num] = NULL;
        } else if (d) {
            d->n = 0; /* a frame went missing: the stack cannot be named */
        }
        goto out;
    }
    bool native = (r->h.flags & REC_S_NATIVE) != 0;
    d->frames[k] = (stk_frame_t){.file_id = r->u.stack.file_id,
                                 .func_id = r->u.stack.func_id,
                                 .line = native ? 0 : r->u.stack.line,
                                 .func_line = native ? 0 : r->u.stack.func_line,
                                 .offset = native ? r->u.stack.offset : 0,
                                 .native = native,
                                 .pad = 0};
    if (++d->have == d->n)
        d->hash = frames_hash(d->frames, d->n);
out:
    pthread_mutex_unlock(&s->mu);
}

void stk_charge(stk_t *s, int32_t pid, uint16_t num, uint64_t python_ns, uint64_t native_ns, uint64_t sys_ns)
{
    pthread_mutex_lock(&s->mu);
    proc_t *p = proc_of(s, pid, false);
    def_t *d = p && num < p->cap ? p->num[num] : NULL;
    if (!d || d->n == 0 || d->have != d->n) {
        s->lost++;
    } else {
        if (d->st.count++ == 0)
            d->order = ++s->seq;
        d->st.python_ns += python_ns;
        d->st.native_ns += native_ns;
        d->st.sys_ns += sys_ns;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Collects pointers to every charged stack of p (or of all processes):
 * with CPU samples, or (mem) with allocation samples. */
static size_t collect_of(stk_t *s, const proc_t *only, def_t ***out, bool mem)
{
    size_t n = 0, cap = 0;
    def_t **v = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const proc_t *p = &s->procs[i];
        if (only && p != only)
            continue;
        for (uint32_t pass = 0; pass < 2; pass++) {
            uint32_t m = pass ? p->nold : p->cap;
            def_t **src = pass ? p->old : p->num;
            for (uint32_t k = 0; k < m; k++) {
                def_t *d = src[k];
                if (!d || (mem ? d->mem.count == 0 : d->st.count == 0))
                    continue;
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    def_t **nv = realloc(v, cap * sizeof *nv);
                    if (!nv) {
                        *out = v;
                        return n;
                    }
                    v = nv;
                }
                v[n++] = d;
            }
        }
    }
    *out = v;
    return n;
}

static size_t collect(stk_t *s, const proc_t *only, def_t ***out) { return collect_of(s, only, out, false); }

static int by_order(const void *a, const void *b)
{
    const def_t *x = *(def_t *const *)a, *y = *(def_t *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_content(const void *a, const void *b)
{
    const def_t *x = *(def_t *const *)a, *y = *(def_t *const *)b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    int c = memcmp(x->frames, y->frames, x->n * sizeof *x->frames);
    return c ? c : by_order(a, b);
}

static uint64_t total(const stk_stats_t *st) { return st->python_ns + st->native_ns + st->sys_ns; }

typedef struct merged {
    const def_t *d;
    stk_stats_t st;
} merged_t;

static int by_time(const void *a, const void *b)
{
    const merged_t *x = a, *y = b;
    uint64_t tx = total(&x->st), ty = total(&y->st);
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return x->d->order < y->d->order ? -1 : x->d->order > y->d->order;
}

static int by_def_time(const void *a, const void *b)
{
    const def_t *x = *(def_t *const *)a, *y = *(def_t *const *)b;
    uint64_t tx = total(&x->st), ty = total(&y->st);
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return by_order(a, b);
}

size_t stk_each(stk_t *s, int32_t pid, size_t max, stk_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    const proc_t *p = proc_of(s, pid, false);
    def_t **v = NULL;
    size_t n = p ? collect(s, p, &v) : 0, left = 0;
    if (n > max) {
        qsort(v, n, sizeof *v, by_def_time); /* keep the hottest */
        left = n - max;
        n = max;
    }
    if (n)
        qsort(v, n, sizeof *v, by_order);
    for (size_t i = 0; i < n; i++)
        fn(v[i]->frames, v[i]->n, &v[i]->st, arg);
    free(v);
    pthread_mutex_unlock(&s->mu);
    return left;
}

size_t stk_each_merged(stk_t *s, size_t max, stk_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    def_t **v = NULL;
    size_t n = collect(s, NULL, &v);
    if (n)
        qsort(v, n, sizeof *v, by_content);
    merged_t *m = calloc(n ? n : 1, sizeof *m);
    size_t nm = 0;
    for (size_t i = 0; m && i < n; i++) {
        const def_t *d = v[i];
        if (nm > 0 && m[nm - 1].d->hash == d->hash && m[nm - 1].d->n == d->n &&
            memcmp(m[nm - 1].d->frames, d->frames, d->n * sizeof *d->frames) == 0) {
            stk_stats_t *t = &m[nm - 1].st;
            t->count += d->st.count;
            t->python_ns += d->st.python_ns;
            t->native_ns += d->st.native_ns;
            t->sys_ns += d->st.sys_ns;
        } else {
            m[nm++] = (merged_t){d, d->st};
        }
    }
    size_t left = 0;
    if (m && nm) {
        qsort(m, nm, sizeof *m, by_time);
        left = nm > max ? nm - max : 0;
        for (size_t i = 0; i < nm - left; i++)
            fn(m[i].d->frames, m[i].d->n, &m[i].st, arg);
    }
    free(m);
    free(v);
    pthread_mutex_unlock(&s->mu);
    return left;
}

uint64_t stk_lost(stk_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->lost;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void stk_charge_mem(stk_t *s, int32_t pid, uint16_t num, uint64_t alloc, uint64_t freed)
{
    pthread_mutex_lock(&s->mu);
    proc_t *p = proc_of(s, pid, false);
    def_t *d = p && num < p->cap ? p->num[num] : NULL;
    if (d && d->n != 0 && d->have == d->n) {
        if (alloc) {
            if (d->mem.count++ == 0 && d->st.count == 0)
                d->order = ++s->seq;
            d->mem.alloc += alloc;
        }
        d->mem.freed += freed;
    }
    pthread_mutex_unlock(&s->mu);
}

typedef struct mmerged {
    const def_t *d;
    stk_mem_t m;
} mmerged_t;

static int by_alloc(const void *a, const void *b)
{
    const mmerged_t *x = a, *y = b;
    if (x->m.alloc != y->m.alloc)
        return x->m.alloc > y->m.alloc ? -1 : 1;
    return x->d->order < y->d->order ? -1 : x->d->order > y->d->order;
}

size_t stk_each_mem(stk_t *s, int32_t pid, size_t max, stk_mem_fn fn, void *arg)
{
    pthread_mutex_lock(&s->mu);
    const proc_t *p = pid >= 0 ? proc_of(s, pid, false) : NULL;
    def_t **v = NULL;
    size_t n = pid < 0 || p ? collect_of(s, p, &v, true) : 0;
    if (n && pid < 0)
        qsort(v, n, sizeof *v, by_content);
    mmerged_t *m = calloc(n ? n : 1, sizeof *m);
    size_t nm = 0, left = 0;
    for (size_t i = 0; m && i < n; i++) {
        const def_t *d = v[i];
        if (pid < 0 && nm > 0 && m[nm - 1].d->hash == d->hash && m[nm - 1].d->n == d->n &&
            memcmp(m[nm - 1].d->frames, d->frames, d->n * sizeof *d->frames) == 0) {
            m[nm - 1].m.alloc += d->mem.alloc;
            m[nm - 1].m.freed += d->mem.freed;
            m[nm - 1].m.count += d->mem.count;
        } else {
            m[nm++] = (mmerged_t){d, d->mem};
        }
    }
    if (m && nm) {
        qsort(m, nm, sizeof *m, by_alloc);
        left = nm > max ? nm - max : 0;
        for (size_t i = 0; i < nm - left; i++)
            fn(m[i].d->frames, m[i].d->n, &m[i].m, arg);
    }
    free(m);
    free(v);
    pthread_mutex_unlock(&s->mu);
    return left;
}
