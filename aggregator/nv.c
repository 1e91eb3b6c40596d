/* SPDX-License-Identifier: Apache-2.0
 * nv.c — the NVML sampler thread (see nv.h; what the numbers mean is
 * docs/GPU.md).
 *
 * ABI. No NVML header is installed and the library is loaded at run time, so
 * the few types used are declared here, byte for byte as nvml.h has them
 * (LP64). nvmlDeviceGetComputeRunningProcesses has had three entry layouts:
 * v1 {pid, usedGpuMemory} (16 bytes, the unversioned symbol); v2 {+
 * gpuInstanceId, computeInstanceId} (24: _v2, and _v3 in current drivers);
 * and, in the drivers of nvml.h 12.0-12.2 (R525-R535), _v3 with {+
 * usedGpuCcProtectedMemory} (32), a field later headers moved to
 * nvmlProcessDetail_v1_t. The stride is guessed from the symbols the library
 * has, as nvitop does (conf-compute query present and process-detail list
 * absent: 32); the buffer always has 32-byte entries so no guess can make
 * NVML write past it, and an answer that does not parse under the guess
 * (pid 0, more memory than the device has) flips 24 <-> 32 for good.
 *
 * Per-process utilisation. nvmlDeviceGetProcessUtilization returns samples
 * only for processes with non-zero utilisation in NVML's recent sample
 * periods, each stamped with a CPU time in µs; asked with the last stamp
 * seen, it returns only newer ones (NOT_FOUND: none). So "no sample" means
 * idle, or that NVML's period (1/6 s to 1 s depending on the GPU) has not
 * ended yet: a pid's latest sample holds while younger than twice the
 * device's period (the smallest gap between a pid's successive samples) plus
 * two polls, then reads as 0. A device that answers NOT_SUPPORTED gets the
 * device's utilisation instead, for the pids holding a compute context on it,
 * or for every watched pid when the process list is unavailable too (what
 * Scalene does without accounting mode).
 *
 * Threads. The sampler thread owns NVML, the devices and its buffers; mu
 * guards what others touch: the poll queue (the drain), the watch list (the
 * drain), the stop flag (the aggregator) and the published state (anyone,
 * nv_state: the report, which may be written while the program runs).
 * Nothing is shared without mu.
 */
#include "nv.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NV_QUEUE 256       /* polls queued for the drain: ~4 s of them at 15 ms */
#define NV_WATCH_MAX 4096  /* pids watched at most */
#define NV_HELD 128        /* per device: latest per-process sample of that many pids */
#define NV_PROC_ENTRY 32   /* bytes per process entry in our buffer: the largest layout */
#define NV_PID_MAX 4194304u /* the kernel's PID_MAX_LIMIT: a larger pid is a misread entry */
#define NV_HOLD_MAX_US 2000000ull
#define NV_HOLD_UNKNOWN_US 200000ull
#define NV_STOP_WAIT_SEC 5 /* nv_stop waits this long for a sampler stuck in NVML */

/* ---- NVML's ABI (nvml.h), the part we call ---- */
typedef int nv_abi_ret_t;                /* nvmlReturn_t: an int-sized enum */
typedef struct nv_abi_dev *nv_abi_dev_t; /* nvmlDevice_t: an opaque handle */
#define NV_ABI_SUCCESS 0
#define NV_ABI_NOT_SUPPORTED 3
#define NV_ABI_NOT_FOUND 6
#define NV_ABI_INSUFFICIENT_SIZE 7
#define NV_ABI_VALUE_NA (~0ull) /* NVML_VALUE_NOT_AVAILABLE in usedGpuMemory */

typedef struct nv_abi_util { /* nvmlUtilization_t */
    unsigned int gpu, memory;
} nv_abi_util_t;
typedef struct nv_abi_mem { /* nvmlMemory_t (v1) */
    unsigned long long total, free, used;
} nv_abi_mem_t;
typedef struct nv_abi_proc1 { /* nvmlProcessInfo_v1_t */
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nv_abi_proc1_t;
typedef struct nv_abi_proc2 { /* nvmlProcessInfo_v2_t, nvmlProcessInfo_t of current headers */
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nv_abi_proc2_t;
typedef struct nv_abi_proc3 { /* nvmlProcessInfo_t of nvml.h 12.0-12.2 */
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} nv_abi_proc3_t;
typedef struct nv_abi_psample { /* nvmlProcessUtilizationSample_t */
    unsigned int pid;
    unsigned long long timeStamp; /* CPU time, µs */
    unsigned int smUtil, memUtil, encUtil, decUtil;
} nv_abi_psample_t;
_Static_assert(sizeof(nv_abi_proc1_t) == 16 && sizeof(nv_abi_proc2_t) == 24 && sizeof(nv_abi_proc3_t) == 32 &&
                   sizeof(nv_abi_psample_t) == 32 && offsetof(nv_abi_proc2_t, usedGpuMemory) == 8,
               "NVML's LP64 layouts");
_Static_assert(NV_PROC_ENTRY >= sizeof(nv_abi_proc3_t), "room for the largest entry");

typedef struct nv_fns {
    nv_abi_ret_t (*init)(void);
    nv_abi_ret_t (*shutdown)(void);
    nv_abi_ret_t (*count)(unsigned int *);
    nv_abi_ret_t (*handle)(unsigned int, nv_abi_dev_t *);
    nv_abi_ret_t (*name)(nv_abi_dev_t, char *, unsigned int);
    nv_abi_ret_t (*util)(nv_abi_dev_t, nv_abi_util_t *);
    nv_abi_ret_t (*mem)(nv_abi_dev_t, nv_abi_mem_t *);
    nv_abi_ret_t (*procs)(nv_abi_dev_t, unsigned int *, void *);
    nv_abi_ret_t (*putil)(nv_abi_dev_t, nv_abi_psample_t *, unsigned int *, unsigned long long);
    const char *(*errstr)(nv_abi_ret_t);
    const char *init_name, *procs_name;
    size_t stride; /* bytes per entry of procs' answer */
} nv_fns_t;

/* A pid's latest per-process sample on one device. */
typedef struct held {
    int32_t pid;
    uint32_t sm;
    uint64_t ts; /* µs, the device's sample clock */
} held_t;

/* Sampler-private state of one device. */
typedef struct dpriv {
    nv_abi_dev_t h;
    int dutil;          /* this poll's device utilisation, -1 if unknown */
    bool putil_off;     /* answered NOT_SUPPORTED: not asked again */
    clockid_t clock;    /* of the sample stamps, found at the first sample */
    bool clock_known;
    uint64_t last_seen; /* newest stamp returned */
    uint64_t period_us; /* smallest gap between a pid's samples; 0 unknown */
    held_t held[NV_HELD];
} dpriv_t;

/* A watched pid's use, summed over devices during one poll. */
typedef struct acc {
    uint32_t util_bp;
    bool on_dev; /* holds a compute context on the device being polled */
    uint64_t mem;
} acc_t;

struct nv {
    char lib[PATH_MAX];
    uint64_t period_ns;
    pthread_t th;
    pthread_mutex_t mu; /* guards the fields down to `lost` */
    pthread_cond_t cv;  /* wakes the thread from its pause when stopping */
    bool stop;
    nv_poll_t *q; /* ring of NV_QUEUE polls */
    size_t q_head, q_n;
    int32_t *watch_in; /* set by nv_watch */
    size_t nwatch_in;
    bool watch_new;
    nv_state_t pub; /* the published state */
    bool abandoned; /* nv_stop gave up on the thread: nv is never freed */
    /* sampler thread only */
    void *dl;
    nv_fns_t f;
    bool inited;
    nv_dev_t *devs;
    dpriv_t *priv;
    uint32_t ndev;
    char why[256];
    uint64_t polls, lost;
    int32_t *w; /* watched pids, sorted */
    acc_t *acc;
    size_t nw;
    unsigned char *pbuf; /* process entries, NV_PROC_ENTRY bytes each */
    unsigned int pcap;
    nv_abi_psample_t *sbuf;
    unsigned int scap;
    nv_poll_t cur; /* the poll being built */
};

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int cmp_pid(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of pid among the watched ones, -1 if not watched. */
static long watched(const nv_t *nv, int32_t pid)
{
    const int32_t *p = nv->nw ? bsearch(&pid, nv->w, nv->nw, sizeof pid, cmp_pid) : NULL;
    return p ? (long)(p - nv->w) : -1;
}

static const char *err(const nv_t *nv, nv_abi_ret_t r)
{
    const char *s = nv->f.errstr ? nv->f.errstr(r) : NULL;
    return s ? s : "unknown error";
}

/* The first of names the library has; *which names it. dlsym's void * to a
 * function pointer goes through memcpy (POSIX guarantees the sizes match). */
static void *sym(void *dl, const char *const *names, const char **which)
{
    for (; *names; names++) {
        void *p = dlsym(dl, *names);
        if (p) {
            if (which)
                *which = *names;
            return p;
        }
    }
    return NULL;
}
#define SYM(field, ...)                                                                                      \
    do {                                                                                                     \
        static const char *const names_[] = {__VA_ARGS__, NULL};                                             \
        void *p_ = sym(nv->dl, names_, NULL);                                                                \
        memcpy(&nv->f.field, &p_, sizeof p_);                                                                \
    } while (0)

/* Loads NVML and lists the devices. 0, or -1 with nv->why set. */
static int load(nv_t *nv)
{
    dlerror();
    nv->dl = dlopen(nv->lib, RTLD_NOW | RTLD_LOCAL);
    if (!nv->dl) {
        const char *e = dlerror();
        /* dlerror names the file already */
        snprintf(nv->why, sizeof nv->why, "cannot load NVML: %.200s", e ? e : nv->lib);
        return -1;
    }
    static const char *const inits[] = {"nvmlInit_v2", "nvmlInit", NULL};
    void *p = sym(nv->dl, inits, &nv->f.init_name);
    memcpy(&nv->f.init, &p, sizeof p);
    SYM(shutdown, "nvmlShutdown");
    SYM(count, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
    SYM(handle, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
    SYM(name, "nvmlDeviceGetName");
    SYM(util, "nvmlDeviceGetUtilizationRates");
    SYM(mem, "nvmlDeviceGetMemoryInfo");
    SYM(putil, "nvmlDeviceGetProcessUtilization");
    SYM(errstr, "nvmlErrorString");
    static const char *const procs[] = {"nvmlDeviceGetComputeRunningProcesses_v3",
                                        "nvmlDeviceGetComputeRunningProcesses_v2",
                                        "nvmlDeviceGetComputeRunningProcesses", NULL};
    p = sym(nv->dl, procs, &nv->f.procs_name);
    memcpy(&nv->f.procs, &p, sizeof p);
    if (p && strcmp(nv->f.procs_name, procs[0]) == 0)
        nv->f.stride = dlsym(nv->dl, "nvmlDeviceGetConfComputeMemSizeInfo") &&
                               !dlsym(nv->dl, "nvmlDeviceGetRunningProcessDetailList")
                           ? sizeof(nv_abi_proc3_t)
                           : sizeof(nv_abi_proc2_t);
    else if (p && strcmp(nv->f.procs_name, procs[1]) == 0)
        nv->f.stride = sizeof(nv_abi_proc2_t);
    else
        nv->f.stride = sizeof(nv_abi_proc1_t);
    if (!nv->f.init || !nv->f.count || !nv->f.handle) {
        snprintf(nv->why, sizeof nv->why, "%.120s is not NVML (no nvmlInit_v2, nvmlDeviceGetCount_v2 or "
                 "nvmlDeviceGetHandleByIndex_v2)", nv->lib);
        return -1;
    }
    nv_abi_ret_t r = nv->f.init();
    if (r != NV_ABI_SUCCESS) {
        snprintf(nv->why, sizeof nv->why, "%s failed: %d (%s)", nv->f.init_name, r, err(nv, r));
        return -1;
    }
    nv->inited = true;
    unsigned int n = 0;
    r = nv->f.count(&n);
    if (r != NV_ABI_SUCCESS || n == 0) {
        snprintf(nv->why, sizeof nv->why, "no NVIDIA GPU: nvmlDeviceGetCount: %s",
                 r != NV_ABI_SUCCESS ? err(nv, r) : "0 devices");
        return -1;
    }
    if (n > NV_MAX_DEV)
        n = NV_MAX_DEV;
    nv->devs = calloc(n, sizeof *nv->devs);
    nv->priv = calloc(n, sizeof *nv->priv);
    nv->pcap = 64;
    nv->pbuf = calloc(nv->pcap, NV_PROC_ENTRY);
    nv->scap = 256;
    nv->sbuf = calloc(nv->scap, sizeof *nv->sbuf);
    if (!nv->devs || !nv->priv || !nv->pbuf || !nv->sbuf) {
        snprintf(nv->why, sizeof nv->why, "out of memory");
        return -1;
    }
    for (unsigned int i = 0; i < n; i++) {
        nv_abi_dev_t h;
        if (nv->f.handle(i, &h) != NV_ABI_SUCCESS)
            continue; /* e.g. no permission for this one: sample the others */
        nv_dev_t *d = &nv->devs[nv->ndev];
        dpriv_t *dp = &nv->priv[nv->ndev++];
        dp->h = h;
        d->index = i;
        if (!nv->f.name || nv->f.name(h, d->name, sizeof d->name) != NV_ABI_SUCCESS)
            snprintf(d->name, sizeof d->name, "NVIDIA GPU %u", i);
        d->name[sizeof d->name - 1] = 0;
        nv_abi_mem_t m;
        if (nv->f.mem && nv->f.mem(h, &m) == NV_ABI_SUCCESS)
            d->total = m.total;
    }
    if (nv->ndev == 0) {
        snprintf(nv->why, sizeof nv->why, "no NVIDIA GPU could be opened (nvmlDeviceGetHandleByIndex failed)");
        return -1;
    }
    snprintf(nv->why, sizeof nv->why, "ok");
    return 0;
}

static bool grow(void **buf, unsigned int *cap, unsigned int want, size_t size)
{
    if (want <= *cap || want > (1u << 20))
        return false;
    want = want * 2 + 8;
    void *b = calloc(want, size);
    if (!b)
        return false;
    free(*buf);
    *buf = b;
    *cap = want;
    return true;
}

/* Whether n process entries parse as plausible under stride. */
static bool procs_plausible(const nv_t *nv, const nv_dev_t *d, unsigned int n, size_t stride)
{
    for (unsigned int k = 0; k < n; k++) {
        const unsigned char *e = nv->pbuf + (size_t)k * stride;
        unsigned int pid;
        unsigned long long used;
        memcpy(&pid, e, sizeof pid);
        memcpy(&used, e + offsetof(nv_abi_proc1_t, usedGpuMemory), sizeof used);
        if (pid == 0 || pid > NV_PID_MAX || (used != NV_ABI_VALUE_NA && d->total && used > d->total))
            return false;
    }
    return true;
}

/* Memory per watched pid on device i, and which pids hold a context there.
 * Returns whether the list was read. */
static bool poll_procs(nv_t *nv, uint32_t i)
{
    if (!nv->f.procs)
        return false;
    dpriv_t *dp = &nv->priv[i];
    unsigned int n = nv->pcap;
    nv_abi_ret_t r = nv->f.procs(dp->h, &n, nv->pbuf);
    if (r == NV_ABI_INSUFFICIENT_SIZE && grow((void **)&nv->pbuf, &nv->pcap, n, NV_PROC_ENTRY)) {
        n = nv->pcap;
        r = nv->f.procs(dp->h, &n, nv->pbuf);
    }
    if (r != NV_ABI_SUCCESS)
        return false;
    if (n > nv->pcap)
        n = nv->pcap;
    size_t stride = nv->f.stride;
    if (stride != sizeof(nv_abi_proc1_t) && !procs_plausible(nv, &nv->devs[i], n, stride)) {
        size_t other = stride == sizeof(nv_abi_proc2_t) ? sizeof(nv_abi_proc3_t) : sizeof(nv_abi_proc2_t);
        if (!procs_plausible(nv, &nv->devs[i], n, other))
            return false; /* neither layout: trust nothing from this answer */
        nv->f.stride = stride = other;
    }
    for (unsigned int k = 0; k < n; k++) {
        const unsigned char *e = nv->pbuf + (size_t)k * stride;
        unsigned int pid;
        unsigned long long used;
        memcpy(&pid, e, sizeof pid);
        memcpy(&used, e + offsetof(nv_abi_proc1_t, usedGpuMemory), sizeof used);
        long w = watched(nv, (int32_t)pid);
        if (w < 0)
            continue;
        nv->acc[w].on_dev = true;
        if (used != NV_ABI_VALUE_NA) /* unknown (no permission, WDDM): counts as 0 */
            nv->acc[w].mem += used;
    }
    return true;
}

static held_t *held_slot(dpriv_t *dp, int32_t pid)
{
    held_t *free_slot = NULL, *oldest = &dp->held[0];
    for (size_t k = 0; k < NV_HELD; k++) {
        held_t *h = &dp->held[k];
        if (h->pid == pid)
            return h;
        if (h->pid == 0 && !free_slot)
            free_slot = h;
        if (h->ts < oldest->ts)
            oldest = h;
    }
    held_t *h = free_slot ? free_slot : oldest;
    memset(h, 0, sizeof *h);
    h->pid = pid;
    return h;
}

/* Reads device i's new per-process samples. Returns whether it answered. */
static bool poll_putil(nv_t *nv, uint32_t i)
{
    dpriv_t *dp = &nv->priv[i];
    if (!nv->f.putil || dp->putil_off)
        return false;
    unsigned int n = nv->scap;
    nv_abi_ret_t r = nv->f.putil(dp->h, nv->sbuf, &n, dp->last_seen);
    if (r == NV_ABI_INSUFFICIENT_SIZE &&
        grow((void **)&nv->sbuf, &nv->scap, n, sizeof(nv_abi_psample_t))) {
        n = nv->scap;
        r = nv->f.putil(dp->h, nv->sbuf, &n, dp->last_seen);
    }
    if (r == NV_ABI_NOT_SUPPORTED)
        dp->putil_off = true;
    if (r == NV_ABI_NOT_FOUND)
        return true; /* no sample newer than last_seen */
    if (r != NV_ABI_SUCCESS)
        return false;
    if (n > nv->scap)
        n = nv->scap;
    uint64_t newest = dp->last_seen;
    for (unsigned int k = 0; k < n; k++) {
        const nv_abi_psample_t *s = &nv->sbuf[k];
        if (!dp->clock_known) {
            /* documented as a CPU time in µs: realtime in the drivers seen;
             * take whichever clock it is nearer, so staleness is judged right */
            uint64_t rt = clock_ns(CLOCK_REALTIME) / 1000, mo = mono_ns() / 1000, ts = s->timeStamp;
            uint64_t drt = ts > rt ? ts - rt : rt - ts, dmo = ts > mo ? ts - mo : mo - ts;
            dp->clock = drt <= dmo ? CLOCK_REALTIME : CLOCK_MONOTONIC;
            dp->clock_known = true;
        }
        if (s->timeStamp > newest)
            newest = s->timeStamp;
        if (watched(nv, (int32_t)s->pid) < 0)
            continue;
        held_t *h = held_slot(dp, (int32_t)s->pid);
        if (s->timeStamp > h->ts) {
            uint64_t gap = h->ts ? s->timeStamp - h->ts : 0;
            if (gap >= 1000 && (dp->period_us == 0 || gap < dp->period_us))
                dp->period_us = gap;
            h->ts = s->timeStamp;
            h->sm = s->smUtil;
        } else if (s->timeStamp == h->ts && s->smUtil > h->sm) {
            h->sm = s->smUtil;
        }
    }
    dp->last_seen = newest;
    return true;
}

/* One device: its utilisation and memory, and each watched pid's share. */
static void poll_dev(nv_t *nv, uint32_t i)
{
    dpriv_t *dp = &nv->priv[i];
    nv_dev_t *d = &nv->devs[i];
    nv_abi_util_t u;
    dp->dutil = nv->f.util && nv->f.util(dp->h, &u) == NV_ABI_SUCCESS ? (int)(u.gpu > 100 ? 100 : u.gpu) : -1;
    nv_abi_mem_t m;
    if (nv->f.mem && nv->f.mem(dp->h, &m) == NV_ABI_SUCCESS && m.used > d->peak_used)
        d->peak_used = m.used;
    for (size_t k = 0; k < nv->nw; k++)
        nv->acc[k].on_dev = false;
    bool procs_ok = poll_procs(nv, i);
    bool putil_ok = poll_putil(nv, i);
    if (putil_ok)
        d->proc_util = true;
    uint64_t now = putil_ok && dp->clock_known ? clock_ns(dp->clock) / 1000 : 0;
    uint64_t poll_us = nv->period_ns / 1000, hold = dp->period_us ? 2 * dp->period_us + 2 * poll_us : NV_HOLD_UNKNOWN_US;
    if (hold < 2 * poll_us)
        hold = 2 * poll_us;
    if (hold > NV_HOLD_MAX_US)
        hold = NV_HOLD_MAX_US;
    if (putil_ok) {
        for (size_t j = 0; j < NV_HELD; j++) {
            const held_t *h = &dp->held[j];
            long w = h->pid ? watched(nv, h->pid) : -1;
            if (w >= 0 && h->ts + hold >= now)
                nv->acc[w].util_bp += (h->sm > 100 ? 100 : h->sm) * 100;
        }
        return;
    }
    if (dp->dutil < 0)
        return;
    for (size_t k = 0; k < nv->nw; k++)
        if (!procs_ok || nv->acc[k].on_dev)
            nv->acc[k].util_bp += (uint32_t)dp->dutil * 100;
}

/* Copies the sampler's state to nv->pub. Call with mu held. */
static void publish(nv_t *nv, bool settled)
{
    if (nv->abandoned)
        return; /* nv_stop wrote the last word */
    nv_state_t *s = &nv->pub;
    s->settled = settled;
    s->found = settled && nv->ndev > 0 && strcmp(nv->why, "ok") == 0;
    memcpy(s->why, nv->why, sizeof s->why);
    s->polls = nv->polls;
    s->lost = nv->lost;
    s->ndev = nv->ndev;
    if (nv->ndev)
        memcpy(s->dev, nv->devs, nv->ndev * sizeof *nv->devs);
}

/* Queues poll p for the drain and publishes the state. */
static void enqueue(nv_t *nv, const nv_poll_t *p, uint64_t lost)
{
    pthread_mutex_lock(&nv->mu);
    if (nv->q_n == NV_QUEUE) {
        /* the drain is stuck: drop the oldest, counting what it held */
        nv->lost += nv->q[nv->q_head].n;
        nv->q_head = (nv->q_head + 1) % NV_QUEUE;
        nv->q_n--;
    }
    nv->q[(nv->q_head + nv->q_n) % NV_QUEUE] = *p;
    nv->q_n++;
    nv->lost += lost;
    nv->polls++;
    publish(nv, true);
    pthread_mutex_unlock(&nv->mu);
}

static void poll_once(nv_t *nv, uint64_t t_from, uint64_t *t_to)
{
    memset(nv->acc, 0, nv->nw * sizeof *nv->acc);
    for (uint32_t i = 0; i < nv->ndev; i++)
        poll_dev(nv, i);
    uint64_t now = mono_ns(), dt = now - t_from;
    for (uint32_t i = 0; i < nv->ndev; i++) {
        nv_dev_t *d = &nv->devs[i];
        if (nv->priv[i].dutil >= 0) {
            d->util_ns += (uint64_t)nv->priv[i].dutil * dt / 100;
            d->wall_ns += dt;
        }
    }
    nv_poll_t *p = &nv->cur;
    p->t_from = t_from;
    p->t_to = now;
    p->n = 0;
    uint64_t lost = 0;
    for (size_t k = 0; k < nv->nw; k++) {
        if (!nv->acc[k].util_bp && !nv->acc[k].mem)
            continue;
        if (p->n == NV_USES) {
            lost++;
            continue;
        }
        p->use[p->n++] = (nv_use_t){nv->w[k], nv->acc[k].util_bp, nv->acc[k].mem};
    }
    enqueue(nv, p, lost);
    *t_to = now;
}

static void *nv_main(void *arg)
{
    nv_t *nv = arg;
    int loaded = load(nv);
    pthread_mutex_lock(&nv->mu);
    publish(nv, true);
    pthread_mutex_unlock(&nv->mu);
    if (loaded == 0) {
        uint64_t last = mono_ns();
        for (;;) {
            uint64_t until = last + nv->period_ns;
            struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
            pthread_mutex_lock(&nv->mu);
            while (!nv->stop && pthread_cond_timedwait(&nv->cv, &nv->mu, &ts) != ETIMEDOUT)
                ;
            bool stop = nv->stop;
            if (nv->watch_new) {
                memcpy(nv->w, nv->watch_in, nv->nwatch_in * sizeof *nv->w);
                nv->nw = nv->nwatch_in;
                nv->watch_new = false;
            }
            pthread_mutex_unlock(&nv->mu);
            if (stop)
                break;
            if (nv->nw)
                qsort(nv->w, nv->nw, sizeof *nv->w, cmp_pid);
            poll_once(nv, last, &last);
        }
    }
    if (nv->inited && nv->f.shutdown)
        nv->f.shutdown();
    /* The library stays loaded: NVML may leave handlers behind that point
     * into it, and the aggregator exits soon after the run. */
    return NULL;
}

nv_t *nv_start(const char *lib, uint64_t period_ns)
{
    nv_t *nv = calloc(1, sizeof *nv);
    if (!nv)
        return NULL;
    snprintf(nv->lib, sizeof nv->lib, "%s", lib && *lib ? lib : NV_DEFAULT_LIB);
    nv->period_ns = period_ns;
    snprintf(nv->why, sizeof nv->why, "loading %.200s", nv->lib);
    snprintf(nv->pub.why, sizeof nv->pub.why, "%s", nv->why);
    nv->q = calloc(NV_QUEUE, sizeof *nv->q);
    nv->watch_in = calloc(NV_WATCH_MAX, sizeof *nv->watch_in);
    nv->w = calloc(NV_WATCH_MAX, sizeof *nv->w);
    nv->acc = calloc(NV_WATCH_MAX, sizeof *nv->acc);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&nv->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&nv->mu, NULL);
    int e = !nv->q || !nv->watch_in || !nv->w || !nv->acc ? ENOMEM : pthread_create(&nv->th, NULL, nv_main, nv);
    if (e) {
        nv_free(nv);
        errno = e;
        return NULL;
    }
    return nv;
}

void nv_watch(nv_t *nv, const int32_t *pids, size_t n)
{
    if (n > NV_WATCH_MAX)
        n = NV_WATCH_MAX;
    pthread_mutex_lock(&nv->mu);
    memcpy(nv->watch_in, pids, n * sizeof *pids);
    nv->nwatch_in = n;
    nv->watch_new = true;
    pthread_mutex_unlock(&nv->mu);
}

size_t nv_take(nv_t *nv, nv_poll_t *out, size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&nv->mu);
    for (; k < max && nv->q_n > 0; k++) {
        out[k] = nv->q[nv->q_head];
        nv->q_head = (nv->q_head + 1) % NV_QUEUE;
        nv->q_n--;
    }
    pthread_mutex_unlock(&nv->mu);
    return k;
}

void nv_stop(nv_t *nv)
{
    pthread_mutex_lock(&nv->mu);
    nv->stop = true;
    pthread_cond_signal(&nv->cv);
    pthread_mutex_unlock(&nv->mu);
    /* A driver can hang inside nvmlInit or a query (a GPU fallen off the
     * bus): the profile must still be written, so after a while the thread
     * is left behind, and nv with it (nv_free keeps it; the aggregator
     * exits soon). It never holds mu across an NVML call. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += NV_STOP_WAIT_SEC;
    if (pthread_timedjoin_np(nv->th, NULL, &until) == 0)
        return;
    pthread_detach(nv->th);
    pthread_mutex_lock(&nv->mu);
    nv->abandoned = true;
    char was[sizeof nv->pub.why]; /* "loading <lib>" while stuck in nvmlInit */
    memcpy(was, nv->pub.why, sizeof was);
    snprintf(nv->pub.why, sizeof nv->pub.why, "NVML did not answer within %d s (%.200s)", NV_STOP_WAIT_SEC,
             nv->pub.settled ? "in a poll" : was);
    nv->pub.found = false;
    nv->pub.settled = true;
    pthread_mutex_unlock(&nv->mu);
}

void nv_free(nv_t *nv)
{
    if (!nv)
        return;
    pthread_mutex_lock(&nv->mu);
    bool abandoned = nv->abandoned;
    pthread_mutex_unlock(&nv->mu);
    if (abandoned)
        return; /* its thread may still wake up and use it */
    pthread_cond_destroy(&nv->cv);
    pthread_mutex_destroy(&nv->mu);
    free(nv->q);
    free(nv->watch_in);
    free(nv->w);
    free(nv->acc);
    free(nv->devs);
    free(nv->priv);
    free(nv->pbuf);
    free(nv->sbuf);
    free(nv);
}

void nv_state(nv_t *nv, nv_state_t *out)
{
    pthread_mutex_lock(&nv->mu);
    *out = nv->pub;
    pthread_mutex_unlock(&nv->mu);
}
