/* SPDX-License-Identifier: Apache-2.0
 * sys.h — raw system calls and libc quirks, in one place (the mimalloc
 * prim.h rule). Used by runtime/ and, for the shared segment, aggregator/.
 * Nothing here allocates or takes a lock.
 */
#ifndef SCALENE_SYS_H
#define SCALENE_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in ns. Context: signal. */
uint64_t sys_now_ns(void);

/* Kernel thread id of the caller (gettid(2), not pthread_self). Context: signal. */
pid_t sys_gettid(void);

/* CPU time (user+kernel, ns) of thread tid of this process, read through its
 * per-thread CPU clock. Returns 0 or -errno (-EINVAL once the thread is gone).
 * Context: signal. */
int sys_thread_cpu_ns(pid_t tid, uint64_t *ns);

/* Copies n bytes at addr of this process into dst without faulting: a bad
 * address gives -EFAULT instead of SIGSEGV (process_vm_readv on ourselves,
 * which needs no ptrace permission). Returns 0 or -errno. Context: signal. */
int sys_read_safe(void *dst, const void *addr, size_t n);

/* Caches getpid() for sys_read_safe(); call at start and in a forked
 * child. Context: child. */
void sys_refresh_pid(void);

/* Reads /proc/self/task/<tid>/<leaf> (tid 0: /proc/self/<leaf>) into buf,
 * at most cap - 1 bytes, NUL-terminated. Returns the bytes read (> 0) or
 * -errno (-EIO for an empty read); errno is kept. open/read/close only.
 * Context: signal. */
ssize_t sys_read_proc(pid_t tid, const char *leaf, char *buf, size_t cap);

/* User and kernel CPU ticks (USER_HZ) of thread tid of this process, and
 * its scheduler state ('R' runnable, 'S'/'D' blocked...; may be NULL), from
 * /proc/self/task/<tid>/stat. Returns 0 or -errno. open/read/close only.
 * Context: signal. */
int sys_task_ticks(pid_t tid, uint64_t *utime, uint64_t *stime, char *state);

/* Nanoseconds thread tid of this process has spent runnable but waiting
 * for a CPU (the run queue), from the second field of
 * /proc/self/task/<tid>/schedstat. Returns 0 or -errno (-ENOENT: a kernel
 * without CONFIG_SCHED_INFO). open/read/close only. Context: signal. */
int sys_task_rq_wait(pid_t tid, uint64_t *ns);

/* Resident set size of this process in bytes, from /proc/self/statm.
 * Returns 0 or -errno. open/read/close only. Context: signal. */
int sys_rss_bytes(uint64_t *out);

/* A close-on-exec memfd that allows sealing. Returns fd or -1 with errno. */
int sys_memfd(const char *name);

/* write(2) all of buf, retrying on EINTR. Context: signal. */
void sys_write_all(int fd, const char *buf, size_t n);

/* Formats v in decimal into buf (at least 21 bytes); returns the length.
 * snprintf is not async-signal-safe. Context: signal. */
size_t sys_utoa(uint64_t v, char *buf);

#endif
