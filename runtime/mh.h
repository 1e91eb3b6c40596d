/* SPDX-License-Identifier: Apache-2.0
 * mh.h — the allocation and copy hooks. The preload library exports malloc,
 * calloc, realloc, free, the aligned allocators, and memcpy/memmove (with
 * their _chk twins); a Python process also gets wrappers on CPython's three
 * allocator domains. Each call is forwarded to the real function (glibc's,
 * or an allocator preloaded after us); a Poisson sampler by bytes picks a
 * few of them and writes REC_MEM / REC_COPY records naming the allocating
 * thread's Python line. Design in mh.c and docs/MEMORY.md.
 */
#ifndef SCALENE_MH_H
#define SCALENE_MH_H

#include "pyframe.h"
#include "ring.h"

#include <stdint.h>
#include <sys/types.h>

/* Starts sampling for the process that owns slot, with the windows in the
 * segment's config (0: off). Returns 0 or -errno. Context: thread (the
 * preload constructor). */
int mh_start(ring_seg_t *seg, int slot);

/* Wraps CPython's RAW, MEM and OBJ allocator domains, once per process, so
 * Python's allocations are told from native ones. Context: thread, on the
 * interpreter's main thread with the GIL (like tracemalloc.start()). */
void mh_py_install(void);

/* Python began finalizing (atexit): writes the FINAL mark and stops every
 * memory and copy record of this process, so the teardown's frees do not
 * erase what each line held at the end. Context: thread (GIL held). */
void mh_py_final(void);

/* Fork protocol. mh_child() runs in the child: it writes to the child's own
 * slot and forgets the parent's sampled blocks (they were the parent's
 * allocations, recorded under its pid). Context: child. */
void mh_child(int slot);

/* What the calling thread allocates or copies from now on is the
 * profiler's own (the sampler thread). Context: thread. */
void mh_thread_exclude(void);

/* --stacks: the function that numbers an allocation sample's call stack
 * (smp_mem_stack: see smp.h for its contract); until set, allocation
 * samples carry no stack. Context: thread. */
typedef uint16_t (*mh_stacker_fn)(const pyf_loc_t *loc, pid_t tid, uint64_t now);
void mh_set_stacker(mh_stacker_fn fn);

#endif
