/* SPDX-License-Identifier: Apache-2.0
 * nat.c — native frames by a signal the thread answers itself (see nat.h).
 *
 * One request at a time (ticks are serial): the sampler names the target
 * thread and a request number, sends the signal, and waits a little for
 * the handler to publish the same number. A handler that answers too late
 * blocks further requests until it has answered, so two unwinds never
 * write the buffer at once.
 */
#define UNW_LOCAL_ONLY
#include "nat.h"

#include <dlfcn.h>
#include <errno.h>
#include <libunwind.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sys.h"

#define NAT_STR(x) #x
#define NAT_XSTR(x) NAT_STR(x) /* unw_step -> "_ULx86_64_step": the local-only entry points */
#define NAT_WAIT_NS 2000000ull  /* how long the sampler waits for an answer */

static int (*p_init_local2)(unw_cursor_t *, unw_context_t *, int);
static int (*p_step)(unw_cursor_t *);
static int (*p_get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
static int (*p_getcontext)(unw_context_t *); /* nat_unwind_self's start */
static int g_sig;         /* the signal; 0: not installed */
static int g_unwinds;     /* libunwind is loaded: nat_unwind works */
static int g_where_off;   /* nat_where cannot work here (no free signal): do not try again */
static const void *g_eval; /* CPython's _PyEval_EvalFrameDefault */
static char g_exe[PATH_MAX]; /* the main program's path (dladdr names it "") */
static const void *g_self;   /* this library's base address */

/* The request. g_target and g_req are written by the sampler before the
 * signal is sent (the kill orders them for the handler: a signal is
 * delivered after the sender's earlier stores are visible to the target,
 * and the acquire loads below pair with the release stores anyway).
 * g_ips/g_n are written by the handler before its release store of g_done;
 * the sampler reads them after an acquire load of g_done. */
static pid_t g_target;
static int g_want; /* frames the handler unwinds for this request (NAT_MAX at most) */
static unsigned g_req, g_done;
static uintptr_t g_ips[NAT_MAX];
static int g_n;
static int g_pending; /* sampler-private: a request went unanswered */

/* The return addresses from c's frame outward, at most max.
 * Context: signal, malloc (reads only). */
static int nat_steps(unw_cursor_t *c, uintptr_t *ips, int max)
{
    int n = 0;
    do {
        unw_word_t ip = 0;
        if (p_get_reg(c, UNW_REG_IP, &ip) != 0 || ip == 0)
            break;
        ips[n++] = (uintptr_t)ip;
    } while (n < max && p_step(c) > 0);
    return n;
}

/* Context: signal (on the target thread, anywhere: inside malloc too).
 * libunwind's local unwinding from a signal context is async-signal-safe:
 * unw_init_local2 reads the interrupted registers from the ucontext and
 * unw_step reads the stack and the unwind tables, allocating nothing. */
static void nat_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    int saved = errno;
    /* acquire: pairs with the sampler's release stores of the request */
    unsigned req = __atomic_load_n(&g_req, __ATOMIC_ACQUIRE);
    pid_t target = __atomic_load_n(&g_target, __ATOMIC_ACQUIRE);
    if (si->si_code != SI_TKILL || target != sys_gettid()) {
        errno = saved;
        return; /* not our request (sent by someone else, or stale) */
    }
    unw_cursor_t c;
    int n = 0, want = __atomic_load_n(&g_want, __ATOMIC_ACQUIRE);
    if (p_init_local2 && p_init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
        n = nat_steps(&c, g_ips, want);
    } else if (!p_init_local2) {
        /* no libunwind: the interrupted instruction alone */
#if defined(__x86_64__)
        g_ips[n++] = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
        g_ips[n++] = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.pc;
#endif
    }
    g_n = n;
    /* release: the frames are written before the answer is seen */
    __atomic_store_n(&g_done, req, __ATOMIC_RELEASE);
    errno = saved;
}

/* Loads libunwind (when it can) and installs the handler, once. */
static int nat_install(void)
{
    if (g_sig)
        return 0;
    void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h) {
        int (*i2)(unw_cursor_t *, unw_context_t *, int) =
            (int (*)(unw_cursor_t *, unw_context_t *, int))dlsym(h, NAT_XSTR(unw_init_local2));
        p_step = (int (*)(unw_cursor_t *))dlsym(h, NAT_XSTR(unw_step));
        p_get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, NAT_XSTR(unw_get_reg));
        p_getcontext = (int (*)(unw_context_t *))dlsym(h, NAT_XSTR(unw_tdep_getcontext));
        if (i2 && p_step && p_get_reg) {
            p_init_local2 = i2;
            g_unwinds = 1;
        }
    }
    g_eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    Dl_info me;
    if (dladdr((void *)nat_start, &me))
        g_self = me.dli_fbase;
    ssize_t k = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
    g_exe[k > 0 ? k : 0] = 0;
    /* the highest real-time signal nobody handles: programs that use
     * real-time signals tend to take them from SIGRTMIN up */
    for (int s = SIGRTMAX; s >= SIGRTMAX - 7; s--) {
        struct sigaction old;
        if (sigaction(s, NULL, &old) != 0 || old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = nat_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask); /* nothing else runs on top of an unwind */
        if (sigaction(s, &sa, NULL) == 0) {
            g_sig = s;
            return 0;
        }
    }
    return -EBUSY;
}

int nat_start(void)
{
    int rc = nat_install();
    if (rc != 0)
        return rc;
    return g_unwinds ? 0 : -ENOENT;
}

/* Whether thread tid is outside any system call right now: on a CPU
 * ("running"), or preempted in user mode (syscall number -1). Read just
 * before the signal, so the window in which it could enter a blocking call
 * and see EINTR is a few microseconds; a thread inside a call is left
 * alone. Context: sampler thread. */
static int outside_syscall(pid_t tid)
{
    char buf[16];
    if (sys_read_proc(tid, "syscall", buf, sizeof buf) <= 0)
        return 0;
    return strncmp(buf, "running", 7) == 0 || strncmp(buf, "-1 ", 3) == 0;
}

/* One request to thread tid: up to want frames into g_ips. Returns the
 * count or -errno, as nat_unwind. */
static int nat_request(pid_t tid, int want)
{
    if (!g_sig)
        return -ENOSYS;
    if (g_pending) {
        /* acquire: pairs with the handler's release of its answer */
        if (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != g_req)
            return -EBUSY;
        g_pending = 0;
    }
    struct sigaction cur;
    if (sigaction(g_sig, NULL, &cur) != 0 || cur.sa_sigaction != nat_handler) {
        g_sig = 0; /* the program took the signal over: leave it alone */
        return -EBUSY;
    }
    if (!outside_syscall(tid))
        return -EAGAIN;
    /* release: the handler's acquire loads see this request */
    __atomic_store_n(&g_want, want < NAT_MAX ? want : NAT_MAX, __ATOMIC_RELEASE);
    __atomic_store_n(&g_target, tid, __ATOMIC_RELEASE);
    unsigned req = g_req + 1;
    __atomic_store_n(&g_req, req, __ATOMIC_RELEASE);
    if (syscall(SYS_tgkill, getpid(), tid, g_sig) != 0)
        return -errno;
    uint64_t end = sys_now_ns() + NAT_WAIT_NS;
    for (int spins = 0;; spins++) {
        if (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) == req)
            break;
        if (sys_now_ns() > end) {
            g_pending = 1;
            return -ETIMEDOUT;
        }
        if (spins > 64) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    return g_n;
}

int nat_unwind(pid_t tid, uintptr_t *ips, int max)
{
    if (!g_unwinds)
        return -ENOSYS;
    int n = nat_request(tid, NAT_MAX);
    if (n < 0)
        return n;
    if (n > max)
        n = max;
    memcpy(ips, g_ips, (size_t)n * sizeof *ips);
    return n;
}

/* ---- where a thread runs: the interpreter's code or another module's ---- */

/* Executable ranges of the modules loaded, kind per range. Sampler-private. */
#define NAT_RANGES 1024
enum { NAT_OTHER = 0, NAT_INTERP = 1, NAT_NEUTRAL = 2 };
typedef struct nat_range {
    uintptr_t lo, hi;
    int kind;
} nat_range_t;
static nat_range_t g_rng[NAT_RANGES];
static int g_nrng;
static uint64_t g_rng_at;       /* sys_now_ns() of the last rebuild */

/* Modules whose code both the interpreter and C extensions call (libc's
 * memcpy and malloc, libm's pow, the dynamic loader, the vDSO's clocks, our
 * own hooks): time there belongs to whoever called them, found further up
 * the stack. (The vDSO as "other" made a pure Python loop read 10 % native:
 * a thread answering from time.thread_time() looked like C.) */
static int nat_neutral(const char *path)
{
    static const char *const names[] = {"libc.so",   "libm.so",    "ld-linux",  "libpthread", "libdl.so",
                                        "librt.so",  "libgcc_s",   "libasan",   "libubsan",   "libstdc++",
                                        "libjemalloc", "libtcmalloc", "libmvec", "linux-vdso", "linux-gate"};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(base, names[i], strlen(names[i])) == 0)
            return 1;
    return 0;
}

static int nat_add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    /* the interpreter is the module whose code holds the eval loop: the
     * executable (Debian links libpython in) or libpythonX.Y.so */
    int kind = nat_neutral(info->dlpi_name) ? NAT_NEUTRAL : NAT_OTHER;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type != PT_LOAD)
            continue;
        if ((uintptr_t)g_eval >= lo && (uintptr_t)g_eval < lo + ph->p_memsz)
            kind = NAT_INTERP;
        if ((uintptr_t)g_self >= lo && (uintptr_t)g_self < lo + ph->p_memsz)
            kind = NAT_NEUTRAL; /* our hooks */
    }
    for (int i = 0; i < info->dlpi_phnum && g_nrng < NAT_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        g_rng[g_nrng++] = (nat_range_t){lo, lo + ph->p_memsz, kind};
    }
    return 0;
}

static void nat_ranges(void)
{
    g_nrng = 0;
    dl_iterate_phdr(nat_add_module, NULL);
    g_rng_at = sys_now_ns();
}

static int nat_kind(uintptr_t ip)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < g_nrng; i++)
            if (ip >= g_rng[i].lo && ip < g_rng[i].hi)
                return g_rng[i].kind;
        /* a module loaded since the last look (numpy's extensions are
         * dlopen'd by the program): look again, at most once a second */
        if (pass == 0 && sys_now_ns() - g_rng_at > 1000000000ull)
            nat_ranges();
        else
            break;
    }
    return NAT_OTHER; /* no module: generated code (a JIT), not the interpreter */
}

int nat_where(pid_t tid)
{
    if (g_where_off)
        return -ENOSYS;
    if (!g_nrng) {
        if (nat_install() != 0 || !g_eval) {
            g_where_off = 1;
            return -ENOSYS;
        }
        nat_ranges();
    }
    /* A thread off its CPU in user mode (preempted) shows its program
     * counter in /proc/.../syscall: "-1 <sp> <pc>". Read from there, no
     * signal is needed; on a busy machine that is most samples. Only a
     * leaf in a shared helper (libc...) needs the frames above it. */
    char buf[80];
    ssize_t len = sys_read_proc(tid, "syscall", buf, sizeof buf);
    if (len > 3 && strncmp(buf, "-1 ", 3) == 0) {
        const char *pc = strchr(buf + 3, ' ');
        uintptr_t ip = pc ? (uintptr_t)strtoull(pc + 1, NULL, 16) : 0;
        int kind = ip ? nat_kind(ip) : NAT_NEUTRAL;
        if (kind == NAT_INTERP)
            return 0;
        if (kind == NAT_OTHER)
            return 1;
    } else if (len <= 0 || strncmp(buf, "running", 7) != 0) {
        return -EAGAIN; /* inside a system call: a signal could cut it short */
    }
    int n = nat_request(tid, NAT_WHERE_FRAMES);
    if (n <= 0)
        return n < 0 ? n : -ENODATA;
    for (int k = 0; k < n; k++) {
        int kind = nat_kind(g_ips[k] - (k > 0));
        if (kind == NAT_INTERP)
            return 0;
        if (kind == NAT_OTHER)
            return 1;
    }
    return 0; /* only shared helpers seen: the interpreter's, as far as we can tell */
}

int nat_unwind_self(uintptr_t *ips, int max)
{
    if (!g_unwinds || !p_getcontext)
        return -ENOSYS;
    unw_context_t uc;
    unw_cursor_t c;
    if (p_getcontext(&uc) != 0 || p_init_local2(&c, &uc, 0) != 0)
        return -EIO;
    return nat_steps(&c, ips, max);
}

int nat_resolve(uintptr_t ip, nat_sym_t *out)
{
    Dl_info d;
    if (!dladdr((void *)ip, &d) || !d.dli_fbase)
        return -1;
    out->module = d.dli_fname && d.dli_fname[0] ? d.dli_fname : g_exe;
    out->func = d.dli_sname;
    out->offset = d.dli_saddr ? (uint64_t)((uintptr_t)d.dli_saddr - (uintptr_t)d.dli_fbase) : 0;
    out->in_eval = g_eval && d.dli_saddr == g_eval;
    out->self = g_self && d.dli_fbase == g_self;
    return 0;
}

void nat_child(void)
{
    /* the module map is the parent's, and stays right: nothing to redo */
    g_pending = 0;
    __atomic_store_n(&g_done, g_req, __ATOMIC_RELAXED); /* relaxed: the child has one thread now */
}
