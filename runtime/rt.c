/* SPDX-License-Identifier: Apache-2.0
 * rt.c — preload init (see rt.h). Runs in every process that inherits
 * LD_PRELOAD, Python or not. A process that is not Python is left alone:
 * no slot, no thread, no record — `sh -c` and gzip cost one getenv and one
 * dlsym. A Python process claims a slot, records its start and starts the
 * sampler. Must never abort or print: on any failure the program runs
 * unprofiled.
 */
#include "rt.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fk.h"
#include "mh.h"
#include "pyframe.h"
#include "record.h"
#include "ring.h"
#include "smp.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

static ring_seg_t *g_seg;
static int g_slot = -1;
static pid_t g_pid;      /* the process that owns g_slot; differs in a vfork child */
static bool g_exit_done; /* PROC_EXIT written */

static struct {
    void (*exit_)(int);
    void (*_exit_)(int);
    void (*_Exit_)(int);
    pid_t (*wait4_)(pid_t, int *, int, struct rusage *);
    int (*waitid_)(idtype_t, id_t, siginfo_t *, int);
} real;

static void resolve(void)
{
    if (real.wait4_)
        return;
    *(void **)&real.exit_ = dlsym(RTLD_NEXT, "exit");
    *(void **)&real._exit_ = dlsym(RTLD_NEXT, "_exit");
    *(void **)&real._Exit_ = dlsym(RTLD_NEXT, "_Exit");
    *(void **)&real.wait4_ = dlsym(RTLD_NEXT, "wait4");
    *(void **)&real.waitid_ = dlsym(RTLD_NEXT, "waitid");
}

static bool joined(void) { return g_seg && g_slot >= 0 && getpid() == g_pid; }

ring_seg_t *rt_segment(void) { return g_seg && g_slot >= 0 ? g_seg : NULL; }

int rt_slot(void) { return g_seg ? g_slot : -1; }

static void put(rec_t *r)
{
    r->h.tid = (uint32_t)sys_gettid();
    r->h.t_ns = sys_now_ns();
    ring_put(g_seg, g_slot, r);
}

/* Context: child (also called from the constructor). ppid is the forking
 * process for a fork: getppid() would name the subreaper if the parent
 * exited before the child ran this. */
static void record_start(uint32_t how, pid_t ppid)
{
    static char buf[REC_STR_MAX];
    size_t n = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t k;
        while (n < sizeof buf && (k = read(fd, buf + n, sizeof buf - n)) > 0)
            n += (size_t)k;
        close(fd);
    }
    while (n > 0 && buf[n - 1] == 0)
        n--;
    uint64_t id = rec_str_id(buf, n);
    rec_t r;
    for (unsigned k = 0, nch = rec_str_nchunks(n); k < nch; k++) {
        rec_str_chunk(&r, id, buf, n, k);
        put(&r);
    }
    memset(&r, 0, sizeof r);
    r.h.kind = REC_PROC_START;
    r.u.proc.pid = getpid();
    r.u.proc.ppid = ppid;
    r.u.proc.argv_id = id;
    r.u.proc.start_ns = sys_now_ns();
    r.u.proc.pyver = pyf_version();
    r.u.proc.how = how;
    put(&r);
}

static void record_exit(int status, uint32_t how)
{
    if (!joined() || g_exit_done)
        return;
    g_exit_done = true;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    getrusage(RUSAGE_SELF, &ru);
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_PROC_EXIT;
    r.h.flags = how == 2 ? 1 : 0; /* 1: status unknown (return from main) */
    r.u.exit.pid = getpid();
    r.u.exit.status = status;
    r.u.exit.utime_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
    r.u.exit.stime_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    r.u.exit.how = how;
    put(&r);
}

static void record_reaped(pid_t pid, int status)
{
    if (!joined() || pid <= 0 || !(WIFEXITED(status) || WIFSIGNALED(status)))
        return;
    rec_t r;
    memset(&r, 0, sizeof r);
    r.h.kind = REC_CHILD_EXIT;
    r.u.exit.pid = pid;
    r.u.exit.status = status;
    put(&r);
}

/* ---- fork protocol ---- */

/* The tick lock, then the walk lock (the order smp's tick takes them), so
 * the child inherits neither half-held by a thread that does not exist
 * there. */
static void on_before(void)
{
    if (joined()) {
        smp_pause();
        pyf_lock();
    }
}

static void on_parent(void)
{
    if (joined()) {
        pyf_unlock();
        smp_resume();
    }
}

/* Context: child. */
static void on_child(void)
{
    if (!g_seg || g_slot < 0)
        return;
    pid_t parent = g_pid;
    g_pid = getpid();
    sys_refresh_pid();
    g_exit_done = false;
    int slot = ring_claim(g_seg, g_pid);
    if (slot < 0) {
        g_slot = -1;
        return;
    }
    g_slot = slot;
    pyf_child();
    smp_child(slot);
    mh_child(slot);
    record_start(1, parent);
    /* Forked before Python's after-fork hook was registered: no later hook
     * will start the child's sampler, so start it here. glibc has reset its
     * own locks (malloc, stacks) before running atfork child handlers; this
     * is the one place the runtime creates a thread inside one. */
    if (!fk_py_hooked())
        smp_restart();
}

static void on_py_child(void)
{
    if (joined())
        smp_restart();
}

static void on_ready(void) { fk_py_boot(); }

static const fk_ops_t g_fk = {on_before, on_parent, on_child, on_py_child, mh_py_install, mh_py_final};

/* ---- scope ---- */

static bool under(const char *file, size_t len, const char *dir, size_t dlen)
{
    if (dlen == 0 || len <= dlen || memcmp(file, dir, dlen) != 0)
        return false;
    return dir[dlen - 1] == '/' || file[dlen] == '/';
}

static bool contains_n(const char *s, size_t n, const char *pat, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(s + i, pat, m) == 0)
            return true;
    return false;
}

static bool contains(const char *s, size_t n, const char *pat) { return contains_n(s, n, pat, strlen(pat)); }

/* Whether the file name contains one of the ","-separated patterns. */
static bool matches_any(const char *file, size_t len, const char *pats)
{
    while (*pats) {
        const char *e = strchr(pats, ',');
        size_t pl = e ? (size_t)(e - pats) : strlen(pats);
        if (pl > 0 && contains_n(file, len, pats, pl))
            return true;
        if (!e)
            break;
        pats = e + 1;
    }
    return false;
}

/* Called once per code object by pyframe. Context: sampler thread. */
static bool in_scope(const char *file, size_t len)
{
    const ring_cfg_t *cfg = ring_cfg(g_seg);
    if (len == 0 || file[0] != '/')
        return false; /* <frozen ...>, <string>, relative names of generated code */
    if (under(file, len, cfg->self_dir, strlen(cfg->self_dir)))
        return false;
    if (matches_any(file, len, cfg->exclude))
        return false;
    if (cfg->only[0])
        return matches_any(file, len, cfg->only); /* the user named what to see: packages included */
    if (cfg->flags & RING_CFG_PROFILE_ALL)
        return true;
    if (contains(file, len, "/site-packages/") || contains(file, len, "/dist-packages/") ||
        contains(file, len, "/lib/python3"))
        return (cfg->flags & RING_CFG_SYSLIBS) != 0;
    const char *d = cfg->scope;
    while (*d) {
        const char *e = strchr(d, ':');
        size_t dl = e ? (size_t)(e - d) : strlen(d);
        if (under(file, len, d, dl))
            return true;
        if (!e)
            break;
        d = e + 1;
    }
    return false;
}

__attribute__((constructor)) static void rt_init(void)
{
    resolve();
    const char *path = getenv("SCALENE_SHM");
    if (!path || !*path)
        return;
    ring_seg_t *seg = ring_attach(path);
    if (!seg)
        return;
    g_seg = seg;
    int py = pyf_init(in_scope);
    if (py == -ENOENT) {
        /* Not Python: not profiled, nothing recorded. Its Python children
         * still join through the environment they inherit. If our forked
         * self (fork, then execve of this program) claimed a slot, say what
         * we became (pyver 0), so the report leaves us out. */
        g_pid = getpid();
        g_slot = ring_find(seg, g_pid);
        if (g_slot >= 0)
            record_start(0, getppid());
        g_slot = -1;
        ring_destroy(seg);
        g_seg = NULL;
        return;
    }
    g_pid = getpid();
    sys_refresh_pid();
    g_slot = ring_claim(seg, g_pid);
    if (g_slot < 0)
        return;
    record_start(0, getppid());
    fk_install(&g_fk);
    if (py == 0) {
        mh_start(seg, g_slot);
        mh_set_stacker(smp_mem_stack); /* allocation samples' stacks: the sampler's numbers */
        smp_start(seg, g_slot, on_ready);
    }
}

__attribute__((destructor)) static void rt_fini(void)
{
    /* main() returned: the exit status is not known here; the parent's
     * wait (or the aggregator's) supplies it. */
    record_exit(0, 2);
}

/* ---- interposed libc functions ---- */

EXPORT void exit(int status)
{
    resolve();
    record_exit(status, 0);
    real.exit_(status);
    __builtin_unreachable();
}

/* os._exit() lands here with Python still alive: take one last tick so the
 * final interval of a pool worker is kept. Not in a vfork child (joined()
 * is false there: its pid differs). */
EXPORT void _exit(int status)
{
    resolve();
    if (joined() && !g_exit_done)
        smp_flush();
    record_exit(status, 1);
    if (real._exit_)
        real._exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _Exit(int status)
{
    resolve();
    record_exit(status, 1);
    if (real._Exit_)
        real._Exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

/* glibc's waitpid is wait4 without rusage; one recording path serves both. */
EXPORT pid_t waitpid(pid_t pid, int *wstatus, int options) { return wait4(pid, wstatus, options, NULL); }

EXPORT pid_t wait(int *wstatus) { return wait4(-1, wstatus, 0, NULL); }

EXPORT pid_t wait4(pid_t pid, int *wstatus, int options, struct rusage *ru)
{
    resolve();
    int st = 0;
    pid_t r = real.wait4_(pid, &st, options, ru);
    if (r > 0) {
        int e = errno;
        record_reaped(r, st);
        errno = e;
        if (wstatus)
            *wstatus = st;
    }
    return r;
}

EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
    resolve();
    int r = real.waitid_(idtype, id, info, options);
    if (r == 0 && info && info->si_pid > 0 && !(options & WNOWAIT)) {
        int e = errno, st = -1;
        if (info->si_code == CLD_EXITED)
            st = (info->si_status & 0xff) << 8;
        else if (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)
            st = info->si_status & 0x7f;
        if (st >= 0)
            record_reaped(info->si_pid, st);
        errno = e;
    }
    return r;
}
