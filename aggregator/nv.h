/* SPDX-License-Identifier: Apache-2.0
 * nv.h — GPU sampling through NVML (issue 7; semantics in docs/GPU.md).
 * One aggregator thread loads libnvidia-ml.so.1 with dlopen (never linked;
 * its absence only means "no GPU"), then every period polls each device's
 * utilisation and memory and, for the pids it is told to watch (the live
 * profiled processes, nv_watch), their used GPU memory and utilisation.
 * It never writes the tables: each poll goes into a bounded queue that the
 * drain thread empties with nv_take and merges (tbl_gpu_use/tbl_gpu_upto).
 * No signal, nothing in the profiled program.
 */
#ifndef SCALENE_NV_H
#define SCALENE_NV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NV_USES 64        /* pids with GPU use kept per poll (more are counted as lost) */
#define NV_MAX_DEV 64     /* devices sampled at most */
#define NV_NAME 96        /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NV_DEFAULT_LIB "libnvidia-ml.so.1"

/* One watched pid's use during a poll. util_bp is summed over devices, in
 * basis points of one device (10000 = one GPU fully busy), so it can exceed
 * 10000 on a multi-GPU machine; mem is bytes summed over devices. */
typedef struct nv_use {
    int32_t pid;
    uint32_t util_bp;
    uint64_t mem;
} nv_use_t;

/* One poll: the watched pids with non-zero use over (t_from, t_to]
 * (CLOCK_MONOTONIC ns, the records' clock); a watched pid not listed used
 * nothing. Visible: the drain copies them out and reads them field by field. */
typedef struct nv_poll {
    uint64_t t_from, t_to;
    uint32_t n;
    nv_use_t use[NV_USES];
} nv_poll_t;

/* A device as the report lists it. Visible: rpt reads the fields of a copy
 * (nv_state). */
typedef struct nv_dev {
    uint32_t index;
    char name[NV_NAME];
    uint64_t total;     /* bytes of device memory */
    uint64_t peak_used; /* highest used memory seen (all processes, ours or not), bytes */
    uint64_t util_ns;   /* device utilisation (0..1) x poll time, ns */
    uint64_t wall_ns;   /* poll time covered */
    bool proc_util;     /* per-process utilisation worked (else: device utilisation) */
} nv_dev_t;

typedef struct nv nv_t;

/* Starts the sampler thread: it loads lib (NULL: NV_DEFAULT_LIB) and polls
 * every period_ns. Loading and nvmlInit happen in the thread, so a slow
 * driver never delays the program. Returns NULL with errno set only when
 * the thread cannot be created; a missing or broken NVML is not an error
 * (nv_found says false afterwards). Caller frees with nv_free(), after
 * nv_stop(). Context: thread. */
nv_t *nv_start(const char *lib, uint64_t period_ns);

/* Replaces the set of pids to watch (copied). Called by the drain, which
 * knows the live profiled processes (slot owners). Context: thread. */
void nv_watch(nv_t *nv, const int32_t *pids, size_t n);

/* Moves up to max queued polls, oldest first, into out; returns how many.
 * Single consumer: the drain thread. Context: thread. */
size_t nv_take(nv_t *nv, nv_poll_t *out, size_t max);

/* Stops the thread (a poll in progress finishes) and shuts NVML down. The
 * queue stays readable with nv_take, the state with nv_state. A thread stuck
 * in NVML for 5 s is left behind: the state then says no GPU, and nv_free
 * keeps nv for it. Context: thread. */
void nv_stop(nv_t *nv);
/* Frees nv (after nv_stop; a no-op for NULL or an abandoned sampler).
 * Context: thread. */
void nv_free(nv_t *nv);

/* The sampler's state as of its last poll. Visible: copied out whole. */
typedef struct nv_state {
    bool found;      /* NVML loaded and has at least one device */
    bool settled;    /* loading is over (found or not): `found` is final */
    char why[256];   /* "ok", or why not ("cannot load libnvidia-ml.so.1: ...") */
    uint64_t polls;  /* polls made */
    uint64_t lost;   /* pid uses lost to NV_USES or to a full queue */
    uint32_t ndev;
    nv_dev_t dev[NV_MAX_DEV];
} nv_state_t;

/* Copies the state into *out; any time, from any thread (the sampler
 * publishes it under its mutex after loading and after each poll).
 * Context: thread. */
void nv_state(nv_t *nv, nv_state_t *out);

#endif
