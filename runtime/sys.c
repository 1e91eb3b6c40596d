/* SPDX-License-Identifier: Apache-2.0
 * sys.c — raw syscalls and libc quirks (see sys.h). Every function here is
 * async-signal-safe: direct syscalls, stack buffers, no stdio, no malloc.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

uint64_t sys_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

pid_t sys_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* The kernel's encoding of a per-thread CPU clock (what glibc's
 * pthread_getcpuclockid builds), but from a tid: a pthread_t of another
 * thread may already be freed when the sampler reads it, a tid is only a
 * number. CPUCLOCK_SCHED = 2, CPUCLOCK_PERTHREAD_MASK = 4. */
static clockid_t thread_clock(pid_t tid) { return (clockid_t)((~(unsigned)tid << 3) | 6u); }

int sys_thread_cpu_ns(pid_t tid, uint64_t *ns)
{
    int saved = errno;
    struct timespec ts;
    if (clock_gettime(thread_clock(tid), &ts) != 0) {
        int e = errno;
        errno = saved;
        return -e;
    }
    *ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return 0;
}

static pid_t g_self; /* see sys_refresh_pid() */

void sys_refresh_pid(void) { g_self = getpid(); }

int sys_read_safe(void *dst, const void *addr, size_t n)
{
    /* getpid() is a system call in glibc >= 2.25; this runs per frame */
    pid_t self = g_self ? g_self : getpid();
    struct iovec l = {dst, n}, r = {(void *)addr, n};
    int saved = errno;
    ssize_t got = syscall(SYS_process_vm_readv, self, &l, 1ul, &r, 1ul, 0ul);
    int e = errno;
    errno = saved;
    if (got == (ssize_t)n)
        return 0;
    if (got < 0 && e == ESRCH && self != getpid()) {
        /* forked without sys_refresh_pid() (never read the parent), or the
         * thread named below is gone */
        g_self = 0;
        return -EAGAIN;
    }
    if (got < 0 && e == ESRCH) {
        /* The main thread left with a thread-only exit (pthread_exit): the
         * kernel finds no memory behind the process id any more, but any
         * live thread of ours names the same memory. Read through the
         * caller's own id from now on. */
        pid_t me = sys_gettid();
        g_self = me;
        got = syscall(SYS_process_vm_readv, me, &l, 1ul, &r, 1ul, 0ul);
        e = errno;
        errno = saved;
        if (got == (ssize_t)n)
            return 0;
    }
    return got < 0 ? -e : -EFAULT;
}

static uint64_t parse_u64(const char **p)
{
    uint64_t v = 0;
    while (**p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

ssize_t sys_read_proc(pid_t tid, const char *leaf, char *buf, size_t cap)
{
    char path[64] = "/proc/self/";
    size_t l = strlen(path), k = strlen(leaf);
    if (tid != 0) {
        memcpy(path + l, "task/", 5);
        l += 5;
        l += sys_utoa((uint64_t)tid, path + l);
        path[l++] = '/';
    }
    if (l + k + 1 > sizeof path || cap < 2)
        return -ENAMETOOLONG;
    memcpy(path + l, leaf, k + 1);
    int saved = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        errno = saved;
        return -e;
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    errno = saved;
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    return n;
}

int sys_rss_bytes(uint64_t *out)
{
    char buf[128];
    ssize_t n = sys_read_proc(0, "statm", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    /* "size resident shared ...", in pages */
    const char *p = strchr(buf, ' ');
    if (!p)
        return -EIO;
    uint64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (uint64_t)(*p - '0');
    *out = pages * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

int sys_task_ticks(pid_t tid, uint64_t *utime, uint64_t *stime, char *state)
{
    char buf[512];
    ssize_t n = sys_read_proc(tid, "stat", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    /* comm may hold spaces and parentheses: fields restart after the last ')' */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    p++;
    if (state)
        *state = p[0] == ' ' ? p[1] : '?';
    /* after ')': state(3) ppid(4) ... utime is field 14, stime 15 */
    for (int field = 2; field < 13; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EIO;
    }
    p++;
    *utime = parse_u64(&p);
    if (*p++ != ' ')
        return -EIO;
    *stime = parse_u64(&p);
    return 0;
}

int sys_task_rq_wait(pid_t tid, uint64_t *ns)
{
    char buf[96];
    ssize_t n = sys_read_proc(tid, "schedstat", buf, sizeof buf);
    if (n < 0)
        return (int)n;
    /* "<on-cpu ns> <run-queue wait ns> <timeslices>\n" */
    const char *p = strchr(buf, ' ');
    if (!p || p[1] < '0' || p[1] > '9')
        return -EIO;
    p++;
    *ns = parse_u64(&p);
    return 0;
}

int sys_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }

void sys_write_all(int fd, const char *buf, size_t n)
{
    int saved = errno;
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        buf += w;
        n -= (size_t)w;
    }
    errno = saved;
}

size_t sys_utoa(uint64_t v, char *buf)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}
