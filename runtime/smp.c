/* SPDX-License-Identifier: Apache-2.0
 * smp.c — the sampler thread (see smp.h). Runs in every profiled Python
 * process; owns its private tables (thread baselines, string ids already
 * sent) and touches shared state only through ring_put().
 *
 * Time model. Each tick reads every Python thread's CPU clock. The CPU
 * consumed since that thread's previous tick is charged to where the thread
 * is now (a sample-and-hold estimate, unbiased because tick times are
 * jittered and independent of the program). The kernel part is split off
 * with the thread's utime/stime ticks. In wall-clock mode the main thread's
 * off-CPU time (sleeping, blocked in I/O) is charged too, as system time;
 * other threads are charged only for CPU they used, so an idle pool thread
 * adds nothing. CPU used by threads that have no Python state (BLAS pools,
 * C threads) is charged as native time to the main thread's line.
 */
#include "smp.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mh.h"
#include "nat.h"
#include "nm.h"
#include "pyframe.h"
#include "record.h"
#include "sys.h"

#define SMP_MAX_THREADS 256

typedef struct tstat {
    pid_t tid;
    uint32_t sys_ppm; /* last known kernel share of CPU, parts per million */
    uint64_t cpu, wall, ut, st;
    uint64_t gen;
    uint64_t rq;      /* run-queue wait so far (schedstat), valid when rq_ok */
    uint64_t rq_owed; /* run-queue wait not yet taken off an interval's off-CPU time */
    /* what the thread was found running at an operator (nat_where) on one
     * line: of op_asked answers, op_native said native. A sample at that
     * line that cannot ask is native with that probability. */
    uint64_t op_file;
    uint32_t op_line;
    uint16_t op_asked, op_native;
    bool rq_ok;
    uint64_t run_gen; /* run_* hold where the thread was on a CPU at tick run_gen, */
    uint64_t run_cpu; /* when its CPU clock read run_cpu */
    uint8_t run_flags;
    uint16_t run_stack; /* its stack number there (--stacks) */
    uint32_t run_line, run_func_line;
    uint64_t run_file, run_func;
    /* the thread's last in-scope place that was read consistently (hold_gen
     * != 0): where a sample whose walk tore is charged */
    uint64_t hold_gen;
    uintptr_t root; /* the outermost frame of its last consistent in-scope walk (3.11+) */
    uint8_t hold_flags;
    uint16_t hold_stack;
    uint32_t hold_line, hold_func_line;
    uint64_t hold_file, hold_func;
} tstat_t;

static ring_seg_t *g_seg;
static int g_slot = -1;           /* guarded by g_tick */
static void (*g_on_ready)(void);  /* called once, when Python is up */
static int g_ready_done;
static pid_t g_thread_pid; /* the process whose sampler thread is running */
static pthread_mutex_t g_tick = PTHREAD_MUTEX_INITIALIZER; /* held for a tick, and across fork */
static tstat_t g_th[SMP_MAX_THREADS];
static int g_nth;
static uint64_t g_gen;
static uint64_t g_proc_last, g_self_last;
static pid_t g_sampler_tid; /* the sampler thread of this process, 0 before it runs */
static bool g_main_gone;    /* the main thread left with a thread-only exit (program_gone) */
static int64_t g_other_bal; /* see tick() */
static uint64_t g_last_tick;   /* time of the previous tick, 0 after a reset */
static uint64_t g_fork_ns;     /* in a forked child until its first tick: when the fork happened */
static uint64_t g_young_until; /* tick fast until then: threads are being born */
#define SMP_YOUNG_NS 200000000ull
#define SMP_FAST_NS 1000000ull
#define SMP_RUN_AGE 3 /* intervals of CPU a preempted thread's last running place stays good */
#define SMP_OTHER_SLACK_NS 8000000
#define SMP_RSS_NS 100000000ull /* resident set size sampled every 100 ms */
static uint64_t g_rss_next;
static uint64_t g_rng;

/* --stacks: the stacks this process has numbered, by content. Private to
 * the sampler thread (ticks run under g_tick); mmap'd at first use so a
 * run without --stacks pays nothing, dropped in a forked child, which
 * numbers its own (the aggregator keys numbers by pid). */
#define SMP_STK_DEPTH 256   /* frames kept per stack, leaf first; deeper ones are cut */
#define SMP_STK_MAX 65535u  /* numbers per process (REC_CPU aux is 16 bits) */
#define SMP_STK_SLOTS 131072u /* open addressing, at most half full */
typedef struct stk_slot {
    uint64_t hash;
    uint32_t num;
    uint32_t pad;
} stk_slot_t;
static stk_slot_t *g_stk;
static uint32_t g_stk_n; /* numbers given out */
static pyf_frame_t g_stk_buf[SMP_STK_DEPTH];

/* --native: the C frames of the sampled thread, leaf first */
typedef struct natf {
    uint64_t module_id, func_id, offset;
} natf_t;
static natf_t g_nat[NAT_MAX];
static int g_nat_ok; /* nat_start() in this process: 0 not tried yet, 1 working, -1 failed */

static uint64_t rng_next(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put(rec_t *r, pid_t tid, uint64_t now)
{
    r->h.tid = (uint32_t)tid;
    r->h.t_ns = now;
    ring_put(g_seg, g_slot, r);
}

static void send_str(uint64_t id, const char *s, size_t n, pid_t tid, uint64_t now)
{
    nm_send(g_seg, g_slot, id, s, n, tid, now);
}

/* The process's resident set size: what top shows, next to the sampled
 * live memory, so a reader can see what the allocator keeps beyond it. */
static void send_rss(uint64_t now)
{
    uint64_t rss;
    if (sys_rss_bytes(&rss) != 0)
        return;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_MEM;
    r.h.flags = REC_M_RSS;
    r.u.mem.bytes = rss;
    put(&r, sys_gettid(), now);
}

/* The thread's name, once, from /proc (Python 3.11 does not name OS threads,
 * so this is the program's own naming when it sets one). */
static void send_thread(pid_t tid, uint64_t now)
{
    char name[32];
    ssize_t n = sys_read_proc(tid, "comm", name, sizeof name);
    if (n <= 0)
        return;
    if (name[n - 1] == '\n')
        n--;
    uint64_t id = rec_str_id(name, (size_t)n);
    send_str(id, name, (size_t)n, tid, now);
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_THREAD;
    r.u.thread.name_id = id;
    put(&r, tid, now);
}

static tstat_t *thread_slot(pid_t tid, bool *fresh)
{
    for (int i = 0; i < g_nth; i++)
        if (g_th[i].tid == tid) {
            *fresh = false;
            return &g_th[i];
        }
    if (g_nth == SMP_MAX_THREADS)
        return NULL;
    tstat_t *t = &g_th[g_nth++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    *fresh = true;
    return t;
}

static uint32_t u32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

static uint64_t stk_mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* The number of the stack in loc (walked with loc->stack), defining it
 * first if new: one REC_STACK per frame, outermost first, put before the
 * sample that names it, in the same slot, so the drain always sees the
 * definition first. A stack cut short gets a marker frame (file and
 * function 0) as its outermost. 0: no number (none left, no memory, or a
 * definition record refused by a full ring; such a stack is defined again
 * under a new number next time). Context: sampler thread, g_tick held. */
static uint16_t stack_number(const pyf_loc_t *loc, int nn, pid_t tid, uint64_t now)
{
    if (!g_stk) {
        void *m = mmap(NULL, SMP_STK_SLOTS * sizeof *g_stk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return 0;
        g_stk = m;
    }
    int n = loc->stack_n;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        h = stk_mix(h, loc->stack[i].file_id);
        h = stk_mix(h, loc->stack[i].func_id);
        h = stk_mix(h, loc->stack[i].line);
    }
    for (int i = 0; i < nn; i++) {
        h = stk_mix(h, g_nat[i].module_id);
        h = stk_mix(h, g_nat[i].func_id);
        h = stk_mix(h, g_nat[i].offset);
    }
    h = stk_mix(h, loc->stack_cut);
    if (h == 0)
        h = 1; /* 0 marks a free slot */
    uint32_t i = (uint32_t)h & (SMP_STK_SLOTS - 1);
    while (g_stk[i].hash != 0) {
        if (g_stk[i].hash == h)
            return (uint16_t)g_stk[i].num;
        i = (i + 1) & (SMP_STK_SLOTS - 1);
    }
    if (g_stk_n >= SMP_STK_MAX)
        return 0;
    uint16_t num = (uint16_t)++g_stk_n;
    int cut = loc->stack_cut ? 1 : 0;
    uint16_t npy = (uint16_t)(n + cut), total = (uint16_t)(npy + nn);
    int ok = 1;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_STACK;
    r.h.aux = num;
    r.h.tid = (uint32_t)tid;
    r.h.t_ns = now;
    r.u.stack.n = total;
    if (cut) {
        r.u.stack.k = 0; /* the marker: file, function and line 0 */
        ok &= ring_put(g_seg, g_slot, &r) == 0;
    }
    for (int k = cut; k < npy; k++) {
        const pyf_frame_t *f = &loc->stack[npy - 1 - k]; /* leaf first in loc */
        r.u.stack.k = (uint16_t)k;
        r.u.stack.file_id = f->file_id;
        r.u.stack.func_id = f->func_id;
        r.u.stack.line = f->line;
        r.u.stack.func_line = f->func_line;
        ok &= ring_put(g_seg, g_slot, &r) == 0;
    }
    r.h.flags = REC_S_NATIVE; /* then the C frames, under the Python leaf */
    r.u.stack.line = r.u.stack.func_line = 0;
    for (int k = npy; k < total; k++) {
        const natf_t *f = &g_nat[total - 1 - k];
        r.u.stack.k = (uint16_t)k;
        r.u.stack.file_id = f->module_id;
        r.u.stack.func_id = f->func_id;
        r.u.stack.offset = f->offset;
        ok &= ring_put(g_seg, g_slot, &r) == 0;
    }
    if (!ok)
        return 0;
    g_stk[i].hash = h;
    g_stk[i].num = num;
    return num;
}

/* Names the C frames ips[0..n) of thread tid (leaf first) into g_nat, up
 * to CPython's eval loop (where the Python frames take over), leaving out
 * our own (the allocation hook: the frame it called stands for it). A
 * function with no exported name is named after its module, so its
 * samples add up instead of scattering over addresses. Returns the count.
 * Context: g_tick held (sampler thread, or an allocation hook). */
static int native_names(const uintptr_t *ips, int n, pid_t tid, uint64_t now)
{
    int m = 0;
    for (int k = 0; k < n; k++) {
        nat_sym_t s;
        /* a return address points after its call: look up the call */
        if (nat_resolve(ips[k] - (k > 0), &s) != 0)
            continue;
        if (s.in_eval)
            break;
        if (s.self)
            continue; /* our allocation hook: the frame it called stands for it */
        size_t ml = strlen(s.module);
        uint64_t mid = rec_str_id(s.module, ml);
        send_str(mid, s.module, ml, tid, now);
        char anon[256];
        const char *fn = s.func;
        if (!fn) {
            const char *base = strrchr(s.module, '/');
            base = base ? base + 1 : s.module;
            size_t bl = strlen(base);
            if (bl > sizeof anon - 3)
                bl = sizeof anon - 3;
            anon[0] = '[';
            memcpy(anon + 1, base, bl);
            anon[bl + 1] = ']';
            anon[bl + 2] = 0;
            fn = anon;
        }
        size_t fl = strlen(fn);
        uint64_t fid = rec_str_id(fn, fl);
        send_str(fid, fn, fl, tid, now);
        g_nat[m++] = (natf_t){mid, fid, s.offset};
    }
    return m;
}

/* The C frames of thread tid, which is on a CPU in C code called from its
 * Python leaf frame, from the interrupted instruction outward. Returns the
 * count in g_nat. Context: sampler thread, g_tick held. */
static int native_frames(pid_t tid, uint64_t now)
{
    uintptr_t ips[NAT_MAX];
    int n = nat_unwind(tid, ips, NAT_MAX);
    return n > 0 ? native_names(ips, n, tid, now) : 0;
}

uint16_t smp_mem_stack(const pyf_loc_t *loc, pid_t tid, uint64_t now)
{
    if (!g_seg || loc->stack_n <= 0 || !(ring_cfg(g_seg)->flags & RING_CFG_STACKS))
        return 0;
    /* never waits: the sampler holds g_tick for a whole tick, and may be
     * the allocating thread itself (then trylock fails too) */
    if (pthread_mutex_trylock(&g_tick) != 0)
        return 0;
    /* --native: an allocation made by C code the Python leaf called (a
     * numpy array's buffer) gets its C frames, from the allocating
     * function outward, as a CPU sample of C code does (g_nat_ok is the
     * sampler's, written under g_tick) */
    int nn = 0;
    if (g_slot >= 0 && loc->native && g_nat_ok > 0 && (ring_cfg(g_seg)->flags & RING_CFG_NATIVE)) {
        uintptr_t ips[NAT_MAX];
        int n = nat_unwind_self(ips, NAT_MAX);
        nn = n > 0 ? native_names(ips, n, tid, now) : 0;
    }
    uint16_t num = g_slot >= 0 ? stack_number(loc, nn, tid, now) : 0;
    pthread_mutex_unlock(&g_tick);
    return num;
}

/* One tick: a record per thread that ran (and for the main thread in wall
 * mode). Called with g_tick held. Context: sampler thread. */
static void tick(void)
{
    static pyf_thread_t ths[SMP_MAX_THREADS];
    static rec_t recs[2 * SMP_MAX_THREADS];
    if (!ring_enabled(g_seg)) {
        g_nth = 0; /* resume later from fresh baselines */
        g_proc_last = 0;
        g_other_bal = 0;
        g_last_tick = 0;
        return;
    }
    const ring_cfg_t *cfg = ring_cfg(g_seg);
    bool virt = (cfg->flags & RING_CFG_VIRTUAL) != 0;
    bool stacks = (cfg->flags & RING_CFG_STACKS) != 0;
    bool native = stacks && g_nat_ok > 0 && (cfg->flags & RING_CFG_NATIVE) != 0;
    uint64_t interval = cfg->interval_ns ? cfg->interval_ns : 10000000ull;
    int n = pyf_threads(ths, SMP_MAX_THREADS);
    if (n <= 0) {
        /* The list changed under us (a thread starting or ending, the
         * after-fork cleanup): skip this tick whole. Going on would charge
         * the process's CPU of the interval to "threads we cannot see",
         * and the threads' own clocks would charge it again next tick (a
         * forked child was once reported at twice its CPU). Every baseline
         * stays, so the next tick covers both intervals. */
        return;
    }
    uint64_t now = sys_now_ns();
    /* self: the sampler thread's CPU, also when smp_flush() ticks from the
     * program's thread at exit (that thread's clock here once charged a
     * forked child's whole CPU a second time) */
    uint64_t proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID), self = 0;
    if (g_sampler_tid)
        sys_thread_cpu_ns(g_sampler_tid, &self);
    pid_t pid = getpid();
    uint64_t sum = 0;
    int nrec = 0, main_rec = -1;
    g_gen++;
    for (int i = 0; i < n; i++) {
        pid_t tid = ths[i].tid;
        bool fresh;
        tstat_t *t = thread_slot(tid, &fresh);
        uint64_t cpu;
        if (!t || sys_thread_cpu_ns(tid, &cpu) != 0)
            continue;
        t->gen = g_gen;
        if (fresh) {
            send_thread(tid, now);
            if (tid == pid && g_fork_ns) {
                /* a forked child's main thread: its CPU clock started at the
                 * fork, and all of it is the child's (a child that burns
                 * before its sampler thread first runs, on a busy machine
                 * tens of milliseconds, would lose that time) */
                t->cpu = 0;
                t->wall = g_fork_ns;
            } else if (tid == pid || g_last_tick == 0) {
                /* the main thread, or any thread after a reset: its CPU so
                 * far is start-up or was not ours to count */
                t->cpu = cpu;
                t->wall = now;
                sys_task_ticks(tid, &t->ut, &t->st, NULL);
                continue;
            } else {
                /* born since the previous tick: its CPU clock started at 0,
                 * so all of it is this interval's (a request thread of a
                 * few milliseconds would otherwise never be charged) */
                t->cpu = 0;
                t->wall = g_last_tick;
                g_young_until = now + SMP_YOUNG_NS;
            }
        }
        uint64_t dcpu = cpu > t->cpu ? cpu - t->cpu : 0, dwall = now - t->wall;
        t->cpu = cpu;
        t->wall = now;
        sum += dcpu;
        bool is_main = tid == pid;
        if (dcpu == 0 && (!is_main || virt || g_main_gone))
            continue;
        /* Waiting for a CPU is neither a system call nor I/O: on a busy
         * machine a CPU-bound main thread would otherwise read a third
         * "system". Off-CPU time charged to the main thread is its wall
         * time less its CPU less its run-queue wait: time blocked. */
        if (is_main && !virt) {
            /* The kernel adds a wait to schedstat when the thread gets its
             * CPU back, so the wait read in one interval may belong to the
             * one before (a thread still waiting at the tick). What an
             * interval's off-CPU time cannot absorb is owed to the next,
             * up to a second. */
            uint64_t rq;
            if (sys_task_rq_wait(tid, &rq) == 0) {
                t->rq_owed += t->rq_ok && rq > t->rq ? rq - t->rq : 0;
                if (t->rq_owed > 1000000000ull)
                    t->rq_owed = 1000000000ull;
                t->rq = rq;
                t->rq_ok = true;
                uint64_t off = dwall > dcpu ? dwall - dcpu : 0;
                uint64_t take = off < t->rq_owed ? off : t->rq_owed;
                t->rq_owed -= take;
                dwall -= take;
            }
        }
        uint64_t sys_ns = 0;
        char state = '?';
        if (dcpu > 0) {
            uint64_t ut, st;
            if (sys_task_ticks(tid, &ut, &st, &state) == 0) {
                /* The kernel's share of the thread's CPU, from its
                 * utime/stime clock ticks of the last interval that had
                 * any. (Charging each stime tick once where it is seen was
                 * tried in session 4: it moved a GIL-contended loop's
                 * time off its lines, test_stress; see the note.) */
                uint64_t du = ut - t->ut, ds = st - t->st;
                if (du + ds > 0)
                    t->sys_ppm = (uint32_t)(ds * 1000000u / (du + ds));
                t->ut = ut;
                t->st = st;
            }
            sys_ns = dcpu * t->sys_ppm / 1000000u;
        }
        pyf_loc_t loc;
        memset(&loc, 0, sizeof loc);
        uint64_t cpu1 = cpu, cpu2 = cpu;
        sys_thread_cpu_ns(tid, &cpu1);
        pyf_lock(); /* loc's strings live in the shared cache: send them before unlocking */
        int wrc = pyf_sample_stack(ths[i].tstate, &loc, stacks ? g_stk_buf : NULL, SMP_STK_DEPTH);
        if (wrc != 0)
            loc.has_frame = false;
        /* a walk that tore without finding the program's frame: the thread
         * is where it was at its previous consistent sample, as far as we
         * can tell (sympy-like code: 1 sample in 20, most of them of a
         * thread preempted in the moment after a call returns) */
        /* A walk out of scope that ended at another outermost frame than
         * the thread's own followed a link into a popped frame (a frame
         * freed and reused under us, in code that calls and returns
         * every microsecond): it only looks whole. Its stack holds
         * library frames alone, so hold it like a torn walk. The place
         * is the same when the program's frames are gone and the thread
         * runs on (atexit): the new outermost frame takes the old slot. */
        bool alien = !loc.in_scope && loc.root && t->root && loc.root != t->root;
        bool hold = (wrc == -EAGAIN || alien || (loc.torn && (!loc.in_scope || loc.anon_open))) && t->hold_gen != 0;
        if (loc.has_frame) {
            send_str(loc.file_id, loc.file, loc.file_len, tid, now);
            send_str(loc.func_id, loc.func, loc.func_len, tid, now);
            for (int k = 0; k < loc.stack_n; k++) {
                send_str(loc.stack[k].file_id, loc.stack[k].file, loc.stack[k].file_len, tid, now);
                send_str(loc.stack[k].func_id, loc.stack[k].func, loc.stack[k].func_len, tid, now);
            }
        }
        pyf_unlock();
        /* Is the thread on a CPU right now? Its clock moved during the walk
         * if so. A thread that is not (preempted, or just blocked) stopped
         * where the kernel took it off the CPU, and preemption favours the
         * return from a system call: charging its CPU there would pile time
         * on syscall lines on a loaded machine. Its CPU goes instead to
         * where it was running at the previous tick, the other end of the
         * same interval; its off-CPU time stays here. */
        bool running = sys_thread_cpu_ns(tid, &cpu2) == 0 && cpu2 > cpu1;
        /* A leaf at an operator runs the operand type's code: numpy's
         * matmul or ufunc loops (native), or the interpreter's own int,
         * dict and list code (Python). Only the thread's own instruction
         * pointer tells which (nat_where: from /proc for a preempted
         * thread, else a signal it answers itself; a thread inside a
         * system call is not asked). */
        if (loc.op && !loc.native && !hold) {
            int w = tid != sys_gettid() ? nat_where(tid) : -EAGAIN;
            bool same = t->op_file == loc.file_id && t->op_line == loc.line;
            if (w >= 0) {
                if (!same || t->op_asked >= 64) {
                    /* a new line, or halve: recent answers count most */
                    t->op_asked = same ? t->op_asked / 2 : 0;
                    t->op_native = same ? t->op_native / 2 : 0;
                }
                t->op_file = loc.file_id;
                t->op_line = loc.line;
                t->op_asked++;
                t->op_native += (uint16_t)w;
            } else if (same && t->op_asked > 0) {
                /* preempted (on a busy machine, most samples), inside a
                 * system call, or no answer in time: as the same line's
                 * answers so far, in proportion */
                w = rng_next() % t->op_asked < t->op_native;
            }
            loc.native = w == 1;
        }
        uint16_t stack = 0;
        if (hold) {
            stack = t->hold_stack;
        } else if (stacks && loc.has_frame && loc.stack_n > 0) {
            /* C frames only of a thread in C code (nat_unwind also
             * leaves alone a thread inside a system call, which the signal
             * would interrupt) */
            int nn = native && loc.native && tid != sys_gettid() ? native_frames(tid, now) : 0;
            stack = stack_number(&loc, nn, tid, now);
        }
        rec_t *r = &recs[nrec];
        memset(r, 0, sizeof *r);
        r->h.kind = REC_CPU;
        r->h.tid = (uint32_t)tid;
        r->h.t_ns = now;
        if (hold) {
            r->u.cpu.file_id = t->hold_file;
            r->u.cpu.func_id = t->hold_func;
            r->u.cpu.line = t->hold_line;
            r->u.cpu.func_line = t->hold_func_line;
            r->h.flags |= (uint8_t)(t->hold_flags | REC_F_HELD);
        } else if (loc.has_frame) {
            r->u.cpu.file_id = loc.file_id;
            r->u.cpu.func_id = loc.func_id;
            r->u.cpu.line = loc.line;
            r->u.cpu.func_line = loc.func_line;
            r->h.flags |= loc.native ? REC_F_NATIVE : 0;
            r->h.flags |= loc.in_scope ? 0 : REC_F_OUTSIDE;
            r->h.flags |= loc.leaf_in_scope ? REC_F_LEAFIN : 0;
        } else {
            r->h.flags |= REC_F_NOFRAME | REC_F_NATIVE;
        }
        r->h.flags |= is_main ? REC_F_MAIN : 0;
        r->h.flags |= virt ? REC_F_VIRTUAL : 0;
        r->u.cpu.cpu_ns = u32(dcpu);
        r->u.cpu.sys_ns = u32(sys_ns);
        r->u.cpu.wall_ns = u32(dwall);
        r->h.aux = stack;
        if (!hold && loc.has_frame && loc.in_scope && !loc.torn) {
            t->hold_gen = g_gen; /* a consistent walk: the place to hold */
            if (loc.root)
                t->root = loc.root;
            t->hold_flags = r->h.flags & (REC_F_NATIVE | REC_F_LEAFIN);
            t->hold_stack = stack;
            t->hold_file = loc.file_id;
            t->hold_func = loc.func_id;
            t->hold_line = loc.line;
            t->hold_func_line = loc.func_line;
        }
        if (running && (loc.has_frame || hold)) {
            t->run_gen = g_gen;
            t->run_stack = stack;
            t->run_cpu = cpu;
            t->run_flags = r->h.flags & (REC_F_NATIVE | REC_F_OUTSIDE | REC_F_LEAFIN);
            t->run_file = r->u.cpu.file_id;
            t->run_func = r->u.cpu.func_id;
            t->run_line = r->u.cpu.line;
            t->run_func_line = r->u.cpu.func_line;
        } else if (!running && dcpu > 0 && t->run_gen != 0 &&
                   (cpu - t->run_cpu <= SMP_RUN_AGE * interval || (state != 'R' && state != '?'))) {
            /* A thread now blocked ran, since the previous tick, where it
             * was last seen running (a server worker back in its accept
             * loop after a 4 ms request), however long ago that was. A
             * thread runnable but off a CPU (preempted) takes that place
             * only while it has used at most SMP_RUN_AGE intervals of CPU
             * since: an older place says nothing of this interval (a core
             * shared with the sampler can keep a busy thread off-CPU at
             * every tick for a second) and then its current place is as
             * good as any. */
            /* split: CPU to the last running place, the wait to here */
            rec_t *w = &recs[++nrec];
            *w = *r;
            w->u.cpu.cpu_ns = 0;
            w->u.cpu.sys_ns = 0;
            w->u.cpu.wall_ns = dwall > dcpu ? u32(dwall - dcpu) : 0;
            r->h.flags = (uint8_t)((r->h.flags & ~(REC_F_NATIVE | REC_F_OUTSIDE | REC_F_LEAFIN | REC_F_NOFRAME)) |
                                   t->run_flags);
            r->u.cpu.file_id = t->run_file;
            r->u.cpu.func_id = t->run_func;
            r->u.cpu.line = t->run_line;
            r->u.cpu.func_line = t->run_func_line;
            r->h.aux = t->run_stack;
            r->u.cpu.wall_ns = u32(dcpu); /* no off-CPU time on this one */
            if (is_main)
                main_rec = nrec - 1;
            nrec++;
            continue;
        }
        if (is_main)
            main_rec = nrec;
        nrec++;
    }
    /* CPU of threads we cannot see (no Python state), minus our own. The
     * process clock lags a thread running on another core by up to a
     * scheduler tick while thread clocks do not, so one interval's
     * difference is noise of either sign: keep a signed balance and charge
     * only what stays above one tick of slack. Clamping each interval at
     * zero instead would turn the noise into phantom native time. */
    if (g_proc_last != 0) {
        g_other_bal += (int64_t)(proc - g_proc_last) - (int64_t)sum - (int64_t)(self - g_self_last);
        if (g_other_bal < -SMP_OTHER_SLACK_NS)
            g_other_bal = -SMP_OTHER_SLACK_NS;
        if (main_rec >= 0 && g_other_bal > SMP_OTHER_SLACK_NS) {
            recs[main_rec].u.cpu.other_ns = u32((uint64_t)(g_other_bal - SMP_OTHER_SLACK_NS));
            g_other_bal = SMP_OTHER_SLACK_NS;
        }
    }
    g_proc_last = proc;
    g_self_last = self;
    g_last_tick = now;
    g_fork_ns = 0;
    for (int i = 0; i < nrec; i++)
        ring_put(g_seg, g_slot, &recs[i]);
    /* forget threads that are gone */
    for (int i = 0; i < g_nth;)
        if (g_th[i].gen != g_gen)
            g_th[i] = g_th[--g_nth];
        else
            i++;
}

/* Whether the program is over although its process is not: the main
 * thread left with a thread-only exit (pthread_exit, or a C extension's
 * SYS_exit) and no thread of the program is left, only this one. Without
 * us the process would have ended then, with status 0; with us it would
 * live on, and since this thread blocks every signal it could not even be
 * stopped by SIGTERM. Context: sampler thread. */
static bool program_gone(void)
{
    char state = 0;
    uint64_t ut, st;
    pid_t pid = getpid(), self = sys_gettid();
    if (sys_task_ticks(pid, &ut, &st, &state) != 0 || (state != 'Z' && state != 'X'))
        return false;
    g_main_gone = true; /* its waiting is nobody's time any more */
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return false;
    bool others = false;
    struct dirent *e;
    while (!others && (e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == pid || tid == self)
            continue;
        char s = 0;
        others = sys_task_ticks(tid, &ut, &st, &s) == 0 && s != 'Z' && s != 'X';
    }
    closedir(d);
    return !others;
}

static void *smp_main(void *arg)
{
    (void)arg;
    /* The program's signals are never delivered to this thread: its
     * handlers keep running where it expects them. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* what this thread allocates is the profiler's, not the program's */
    mh_thread_exclude();
    pthread_mutex_lock(&g_tick);
    g_sampler_tid = sys_gettid();
    g_proc_last = 0; /* a new self clock: the next tick takes new baselines */
    pthread_mutex_unlock(&g_tick);
    const ring_cfg_t *cfg = ring_cfg(g_seg);
    uint64_t interval = cfg->interval_ns ? cfg->interval_ns : 10000000ull;
    uint64_t next = sys_now_ns();
    g_rng = next ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    for (;;) {
        /* uniform jitter in [0.5, 1.5) x interval: the mean is kept and the
         * ticks cannot lock onto a periodic program */
        /* until the interpreter is up, look every millisecond, so Python's
         * fork hook is registered before the program can fork */
        /* while threads are being born, tick at least every millisecond
         * (jittered) so threads that live a few milliseconds are seen */
        uint64_t mean = g_young_until > next && interval > SMP_FAST_NS ? SMP_FAST_NS : interval;
        next += g_ready_done ? mean / 2 + rng_next() % mean : 1000000ull;
        uint64_t now = sys_now_ns();
        if (next + interval < now)
            next = now; /* we were stopped (SIGSTOP, suspend): do not burst */
        struct timespec ts = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        pthread_mutex_lock(&g_tick);
        if (!g_ready_done && pyf_ready()) {
            g_ready_done = 1;
            if (g_on_ready)
                g_on_ready();
        }
        if (g_ready_done && !g_nat_ok && (cfg->flags & RING_CFG_NATIVE))
            g_nat_ok = nat_start() == 0 ? 1 : -1;
        if (g_ready_done)
            tick();
        bool gone = false;
        if (g_ready_done && now >= g_rss_next) {
            g_rss_next = now + SMP_RSS_NS;
            if (cfg->alloc_window && !(cfg->flags & RING_CFG_CPU_ONLY))
                send_rss(now);
            gone = program_gone();
        }
        pthread_mutex_unlock(&g_tick);
        if (gone)
            pthread_exit(NULL); /* the last thread: the process ends, status 0, as it would without us */
    }
    return NULL;
}

int smp_restart(void)
{
    /* Once per process: the Python after-fork hook and the early-fork path
     * in the atfork handler may both ask. Both run single-threaded (GIL
     * held / inside fork), so a plain variable is enough. */
    if (g_thread_pid == getpid())
        return 0;
    g_thread_pid = getpid();
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    int e = pthread_create(&th, &at, smp_main, NULL);
    pthread_attr_destroy(&at);
    if (e == 0)
        pthread_setname_np(th, "scalene-sampler");
    return -e;
}

int smp_start(ring_seg_t *seg, int slot, void (*on_ready)(void))
{
    g_seg = seg;
    g_slot = slot;
    g_on_ready = on_ready;
    return smp_restart();
}

void smp_pause(void) { pthread_mutex_lock(&g_tick); }

void smp_resume(void) { pthread_mutex_unlock(&g_tick); }

void smp_child(int slot)
{
    /* The forking thread holds g_tick (smp_pause); in the child the sampler
     * thread is gone, so start from a fresh lock and fresh baselines. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&g_tick, &fresh, sizeof fresh);
    g_slot = slot;
    g_nth = 0;
    g_proc_last = 0;
    g_other_bal = 0;
    g_last_tick = 0;
    g_young_until = 0;
    g_fork_ns = sys_now_ns();
    g_sampler_tid = 0; /* the parent's sampler did not come along */
    g_main_gone = false;
    if (g_stk) {
        munmap(g_stk, SMP_STK_SLOTS * sizeof *g_stk); /* the parent's numbers */
        g_stk = NULL;
    }
    g_stk_n = 0;
    nat_child();
    g_ready_done = 1; /* Python is up: the child's fork hook restarts us */
}

void smp_flush(void)
{
    if (!g_seg || !g_ready_done)
        return;
    pthread_mutex_lock(&g_tick);
    tick();
    pthread_mutex_unlock(&g_tick);
}
