/* SPDX-License-Identifier: Apache-2.0
 * smp.h — the sampler: one native thread per Python process that, every
 * interval (jittered), reads each Python thread's CPU clock and frame and
 * appends one REC_CPU record per thread that ran (and for the main thread
 * also when it waited, in wall-clock mode). No signals: the program's own
 * timers and handlers are untouched and no system call sees EINTR from us.
 */
#ifndef SCALENE_SMP_H
#define SCALENE_SMP_H

#include "pyframe.h"
#include "ring.h"

#include <sys/types.h>

/* Starts the sampler thread writing to slot of seg. on_ready (may be NULL)
 * is called once from the sampler thread when the interpreter is up.
 * Returns 0 or -errno. Context: thread. */
int smp_start(ring_seg_t *seg, int slot, void (*on_ready)(void));

/* Fork protocol (called from fork/fk.c). smp_pause() waits for the current
 * tick to end and holds the sampler off; smp_resume() lets it go on.
 * smp_child() runs in the child: the sampler thread did not survive the
 * fork, so it forgets every thread baseline and takes the new slot.
 * Context: smp_pause/smp_resume thread; smp_child child. */
void smp_pause(void);
void smp_resume(void);
void smp_child(int slot);

/* Starts a new sampler thread in a forked child (from Python's
 * after-in-child fork hook, where creating a thread is safe). Context: thread. */
int smp_restart(void);

/* --stacks: the number of the call stack in loc (walked with
 * pyf_sample_stack, Python frames only) for an allocation sample, defined
 * first if new: the numbers CPU samples use (REC_MEM aux). Caller holds the
 * pyf lock (loc's strings) and has sent the frames' names. 0 when stacks
 * are off, or when a tick holds the numbering table right now (a hook
 * cannot wait; the sample keeps its line). Allocates nothing (the table is
 * mmap'd). Context: malloc. */
uint16_t smp_mem_stack(const pyf_loc_t *loc, pid_t tid, uint64_t now);

/* Takes one last tick from the calling thread (a process leaving through
 * _exit() while its frames are still valid), so its final interval is not
 * lost. Context: thread (never from a vfork child or a signal handler). */
void smp_flush(void);

#endif
