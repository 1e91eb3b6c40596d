/* SPDX-License-Identifier: Apache-2.0
 * pyframe.h — everything this project knows about CPython's layout lives
 * behind this header (the austin version.h rule). The sampler thread uses it
 * to read other threads' Python frames without the GIL: every read of
 * interpreter memory goes through sys_read_safe(), so a frame popped or a
 * thread state freed mid-walk yields "no frame", never SIGSEGV.
 * Supported: CPython REC_PY_MIN_HEX .. REC_PY_MAX_HEX (3.8 to 3.13, record.h),
 * one build for all of them: the layout is chosen at run time from the
 * interpreter that loaded us (pyframe.c), and no Python header is needed.
 */
#ifndef SCALENE_PYFRAME_H
#define SCALENE_PYFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Decides whether a file is in profile scope. Called once per code object
 * (cached), from the sampler thread. */
typedef bool (*pyf_scope_fn)(const char *file, size_t len);

/* Finds the interpreter in this process (dlsym of _PyRuntime, Py_Version or
 * Py_GetVersion in the global scope). Returns 0 if this process hosts a
 * CPython whose layout this build reads, -ENOENT if it is not Python,
 * -ENOTSUP for another version, a free-threaded build, or (3.13+) a layout
 * that differs from the interpreter's own _Py_DebugOffsets.
 * Context: thread (dlsym). */
int pyf_init(pyf_scope_fn scope);

/* PY_VERSION_HEX of the host interpreter (also when pyf_init refused it),
 * 0 if none. Context: signal. */
uint32_t pyf_version(void);

/* Why pyf_init returned -ENOTSUP, in a few words ("" otherwise); a static
 * string. Context: signal. */
const char *pyf_why_not(void);

/* True once the main interpreter exists and has a thread state. Context: thread. */
bool pyf_ready(void);

typedef struct pyf_thread {
    pid_t tid;           /* native_thread_id */
    const void *tstate;  /* address in this process; only for pyf_sample() */
} pyf_thread_t;

/* Lists up to max thread states of the main interpreter. Returns the count
 * (0 if none or the list changed under us). Context: sampler thread. */
int pyf_threads(pyf_thread_t *out, int max);

/* One frame of a call stack (--stacks). Strings as in pyf_loc_t. */
typedef struct pyf_frame {
    uint64_t file_id, func_id;
    const char *file, *func;
    size_t file_len, func_len;
    uint32_t line, func_line;
} pyf_frame_t;

/* Where a thread is. Strings are borrowed from the pyframe cache and valid
 * until the next pyf_sample() call (copy them if kept). */
typedef struct pyf_loc {
    uint64_t file_id, func_id; /* rec_str_id() of file and func */
    const char *file, *func;   /* UTF-8, not NUL-terminated */
    size_t file_len, func_len;
    uint32_t line;             /* 1-based; 0 if unknown */
    uint32_t func_line;        /* co_firstlineno */
                               /* func, func_line: for a <genexpr>, <listcomp>, <lambda>... the named
                                * function it runs in (its first caller in the same file), as Scalene */
    bool has_frame;            /* the thread had at least one Python frame */
    bool native;               /* the leaf frame sits at a CALL: C code runs */
    bool op;                   /* the leaf sits at an operator (a @ b, a[i], x in a, ...): the operand
                                * type's code runs, C or the interpreter's; see smp.c */
    bool in_scope;             /* loc names the innermost in-scope frame; else the leaf */
    bool leaf_in_scope;        /* ... and that frame is the leaf: the program's own line runs (or blocks) */
    bool anon_open;            /* ... and it is a <genexpr>, <lambda>... whose named function the walk
                                * did not reach: func is its own name */
    /* pyf_sample_stack only (NULL otherwise): the frames, leaf first, in
     * the caller's buffer; stack_cut when the outermost ones are missing
     * (deeper than its room, or the walk lost its way). */
    pyf_frame_t *stack;
    int stack_max;
    int stack_n;
    bool stack_cut;
    uintptr_t root; /* 3.11+: the address of the outermost frame of a walk that ended there (0 if
                     * it did not, or before 3.11). A thread's outermost frame sits in the first
                     * slot of its data stack all its life: a walk ending elsewhere followed a
                     * stale link (see smp.c) */
    bool torn; /* no walk read a consistent chain (the thread was changing it, or its eval
                * loop had not stored its newest frame yet): loc is the last try's */
} pyf_loc_t;

/* Walks the frames of tstate from the leaf outward (at most 256) and fills
 * loc (and loc->stack if given). Returns 0, or -errno when the thread state could not be read (the
 * thread exited). Caller holds the lock (pyf_lock/pyf_trylock). Context:
 * malloc (no Python API, no GIL, no allocation, memory read only through
 * sys_read_safe). */
int pyf_sample(const void *tstate, pyf_loc_t *loc);

/* pyf_sample, and the whole call stack into stack (room for stack_max
 * frames): the walk goes on past the first in-scope frame to the
 * outermost. Same context and lock as pyf_sample. */
int pyf_sample_stack(const void *tstate, pyf_loc_t *loc, pyf_frame_t *stack, int stack_max);

/* For tests: checks the layout in use against a copy of _Py_DebugOffsets
 * at dbg, as pyf_init() checks it against the interpreter's own (3.13+;
 * 0 before). Returns 0, or -ENOTSUP naming the first field that differs
 * in *what. Context: thread. */
int pyf_check_offsets(const void *dbg, const char **what);

/* For tests: the line of code unit `unit` of the code object at code, and
 * whether a call (an operator) instruction starts there, as a walk would
 * report them in loc->line, loc->native (loc->op).
 * Returns 0, or -EINVAL if code is no code object. Caller holds the lock.
 * Context: thread. */
int pyf_code_line(const void *code, ptrdiff_t unit, uint32_t *line, bool *call, bool *op);

/* Drops the code cache (after fork in the child the addresses stay valid,
 * so this is only for tests). Caller holds the lock. Context: thread. */
void pyf_reset(void);

/* The walk's cache and buffers are shared: hold the lock across
 * pyf_sample() and every use of the strings it returns. pyf_lock() waits
 * (sampler thread, fork). pyf_trylock() is for hooks inside malloc: it
 * waits at most wait_ns and gives up at once if the calling thread
 * already holds it (an allocating signal handler), so it never deadlocks.
 * Context: malloc (pyf_trylock, pyf_unlock), thread (pyf_lock). */
void pyf_lock(void);
bool pyf_trylock(uint64_t wait_ns);
void pyf_unlock(void);

/* In a forked child: the lock was held across fork by the forking thread;
 * make it free again. Context: child. */
void pyf_child(void);

/* The calling thread's own thread state (held GIL or not), NULL if it has
 * none. Context: malloc (reads a TSS key). */
const void *pyf_self_tstate(void);

#endif
