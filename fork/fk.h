/* SPDX-License-Identifier: Apache-2.0
 * fk.h — what makes every child join. A forked child joins through three
 * named hooks (pthread_atfork) and, because a thread cannot be safely
 * created inside an atfork handler, through Python's own after-fork hook,
 * which restarts the sampler once the child runs Python code. An exec'd child
 * (spawn, forkserver, subprocess) joins through the inherited LD_PRELOAD and
 * SCALENE_SHM: the runtime's constructor runs again in the new image.
 */
#ifndef SCALENE_FK_H
#define SCALENE_FK_H

typedef struct fk_ops {
    void (*before)(void);         /* Context: thread (the forking thread) */
    void (*after_parent)(void);   /* Context: thread */
    void (*after_child)(void);    /* Context: child */
    void (*py_after_child)(void); /* Context: thread, in the child, GIL held */
    void (*py_boot)(void);        /* once Python runs: Context: thread, main thread, GIL held */
    void (*py_atexit)(void);      /* Python's atexit time: Context: thread, GIL held */
} fk_ops_t;

/* Registers the atfork hooks. ops is borrowed and must outlive the process.
 * Returns 0 or -errno. Context: thread. */
int fk_install(const fk_ops_t *ops);

/* Asks the interpreter (Py_AddPendingCall, which needs neither the GIL nor
 * a thread state) to run, on its main thread: ops->py_boot, the
 * registration of ops->py_after_child with os.register_at_fork and of
 * ops->py_atexit with atexit.register. Python symbols are found
 * with dlsym; nothing is linked. Returns 0 or -errno. Context: thread. */
int fk_py_boot(void);

/* Whether Python's after-fork hook is registered in this process (or was
 * in the parent it was forked from). A child forked before that (the
 * program forked within its first milliseconds) has no hook to restart its
 * sampler, so the atfork child handler must. Context: child. */
int fk_py_hooked(void);

#endif
