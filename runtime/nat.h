/* SPDX-License-Identifier: Apache-2.0
 * nat.h — native (C) frames of a running Python thread, for --native.
 *
 * The sampler thread reads Python frames from outside a thread; C frames
 * live in the thread's registers and stack, which only the thread itself
 * can unwind. So for a thread that is on a CPU in C code, the sampler sends
 * it one real-time signal (the highest of SIGRTMAX-7..SIGRTMAX that nobody
 * handles) and its handler unwinds its own stack with libunwind from the
 * interrupted context, into one request buffer. Only with --native, only
 * to threads running C code at that moment (not blocked in a system call,
 * so no EINTR for the program in practice; SA_RESTART for the rest).
 * libunwind is dlopen'd, so a run without --native does not load it.
 */
#ifndef SCALENE_NAT_H
#define SCALENE_NAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NAT_MAX 64 /* native frames kept per sample, leaf first */

/* Loads libunwind and installs the handler. Returns 0, or -errno when
 * --native cannot work in this process (no libunwind, no free signal).
 * Context: sampler thread. */
int nat_start(void);

/* Unwinds thread tid of this process: fills ips (leaf first, return
 * addresses as found) and returns their count, or -errno (not started, a
 * previous request still unanswered, no answer within the wait, the signal
 * taken over by the program). Context: sampler thread. */
int nat_unwind(pid_t tid, uintptr_t *ips, int max);

/* Unwinds the calling thread from here: fills ips (leaf first: this
 * function's own frames and its callers') and returns their count, or
 * -errno (no libunwind). Context: malloc (an allocation hook's sample):
 * libunwind's local unwinding allocates nothing. */
int nat_unwind_self(uintptr_t *ips, int max);

/* Where thread tid of this process is running, for a thread whose Python
 * leaf sits at an operator (a @ b, a[i] = v, x in a): 1 in a C extension's
 * or library's code (numpy, pandas, torch), 0 in the interpreter's own
 * (big-int arithmetic, dict and list operations), judged from the
 * interrupted instruction and, with libunwind, the NAT_WHERE_FRAMES frames
 * above it, skipping shared helpers (libc, libm, the loader, our hooks).
 * Installs the signal handler on first use, without --native too. Returns
 * 1, 0 or -errno (no free signal, the thread inside a system call, no
 * answer in time). Context: sampler thread. */
#define NAT_WHERE_FRAMES 16
int nat_where(pid_t tid);

/* What a native frame is, for the report. The strings are dladdr's
 * (valid while the module stays loaded). The function is the exported
 * symbol that contains ip (NULL if none: a static function) and offset its
 * start relative to the module's base (or ip's, when no symbol), so equal
 * frames compare equal in every process. */
typedef struct nat_sym {
    const char *module;
    const char *func;
    uint64_t offset;
    int in_eval; /* ip is in CPython's eval loop: the Python frames take over from here */
    int self;    /* ip is in this library (an allocation hook): the profiler's, not the program's */
} nat_sym_t;

/* Context: sampler thread (dladdr). Returns 0, or -1 if ip is in no module. */
int nat_resolve(uintptr_t ip, nat_sym_t *out);

/* In a forked child: forget a request in flight (the thread it named is
 * not in the child). Context: child. */
void nat_child(void);

#endif
