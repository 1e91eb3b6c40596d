/* SPDX-License-Identifier: Apache-2.0
 * fake_nvml.c — a stand-in for libnvidia-ml.so.1 with scripted answers, for
 * tests/e2e/test_gpu.py (docs/GPU.md). It exports the NVML functions the
 * aggregator's sampler (aggregator/nv.c) resolves, with NVML's ABI, and
 * reports GPU use from files: while $FAKE_NVML_DIR/<pid> exists and holds
 * "MIB [UTIL]", process <pid> holds MIB MiB on device 0 and runs at UTIL %
 * (default 80); otherwise it uses nothing. A foreign process (pid 1, not
 * profiled) always holds 100 MiB at 0 %, so a process list has two entries
 * whenever a profiled pid is active. Device 0's utilisation is the sum of the
 * active pids' (at most 100); other devices are idle.
 *
 * Environment: FAKE_NVML_DEVICES (default 1), FAKE_NVML_INIT_FAIL=1
 * (nvmlInit_v2 fails: "driver not loaded"), FAKE_NVML_NO_PROC_UTIL=1
 * (nvmlDeviceGetProcessUtilization: NOT_SUPPORTED).
 * Build variants (-D): FAKE_V1 exports only the unversioned
 * nvmlDeviceGetComputeRunningProcesses with the 16-byte v1 entries;
 * FAKE_CC32 writes 32-byte entries from _v3 (nvml.h 12.0-12.2's layout)
 * without the symbols that tell the reader so. Default: _v3/_v2 with 24-byte
 * entries, as current drivers.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct fake_dev *nvmlDevice_t;
#define OK 0
#define E_UNINIT 1
#define E_INVALID 2
#define E_NOT_SUPPORTED 3
#define E_NOT_FOUND 6
#define E_INSUFFICIENT 7
#define E_DRIVER 9

typedef struct { unsigned int gpu, memory; } util_t;
typedef struct { unsigned long long total, free, used; } mem_t;
typedef struct { unsigned int pid; unsigned long long used; } proc1_t;
typedef struct { unsigned int pid; unsigned long long used; unsigned int gi, ci; } proc2_t;
typedef struct { unsigned int pid; unsigned long long used; unsigned int gi, ci; unsigned long long cc; } proc3_t;
typedef struct { unsigned int pid; unsigned long long ts; unsigned int sm, mem, enc, dec; } psample_t;
_Static_assert(sizeof(proc1_t) == 16 && sizeof(proc2_t) == 24 && sizeof(proc3_t) == 32 && sizeof(psample_t) == 32,
               "NVML's layouts");

#define MAX_DEV 8
#define MAX_PIDS 64
#define FOREIGN_PID 1u
#define FOREIGN_MIB 100ull
#define TOTAL_MIB 16384ull

struct fake_dev {
    int index;
};
static struct fake_dev devs[MAX_DEV];
static int inited;

typedef struct { unsigned int pid, util; unsigned long long mib; } use_t;

static int ndev(void)
{
    const char *e = getenv("FAKE_NVML_DEVICES");
    int n = e ? atoi(e) : 1;
    return n < 0 ? 0 : n > MAX_DEV ? MAX_DEV : n;
}

/* The active pids, from the files. */
static int uses(use_t *u)
{
    const char *dir = getenv("FAKE_NVML_DIR");
    DIR *d = dir ? opendir(dir) : NULL;
    int n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < MAX_PIDS) {
        char *end;
        unsigned long pid = strtoul(de->d_name, &end, 10);
        if (*end || pid == 0)
            continue; /* ".", "..", a file being written ("<pid>.tmp") */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* removed since readdir */
        unsigned long long mib = 0;
        unsigned int util = 80;
        int got = fscanf(f, "%llu %u", &mib, &util);
        fclose(f);
        if (got < 1)
            continue;
        u[n++] = (use_t){(unsigned int)pid, util > 100 ? 100 : util, mib};
    }
    closedir(d);
    return n;
}

static int dev_index(nvmlDevice_t h) { return h >= devs && h < devs + MAX_DEV ? (int)(h - devs) : -1; }

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    const char *e = getenv("FAKE_NVML_INIT_FAIL");
    if (e && *e == '1')
        return E_DRIVER;
    inited = 1;
    return OK;
}
EXPORT nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
EXPORT nvmlReturn_t nvmlShutdown(void)
{
    inited = 0;
    return OK;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case OK: return "Success";
    case E_UNINIT: return "Uninitialized";
    case E_NOT_SUPPORTED: return "Not Supported";
    case E_NOT_FOUND: return "Not Found";
    case E_INSUFFICIENT: return "Insufficient Size";
    case E_DRIVER: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
    if (!inited)
        return E_UNINIT;
    *n = (unsigned int)ndev();
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *h)
{
    if (!inited)
        return E_UNINIT;
    if ((int)i >= ndev())
        return E_INVALID;
    devs[i].index = (int)i;
    *h = &devs[i];
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t h, char *name, unsigned int len)
{
    int i = dev_index(h);
    if (!inited || i < 0 || !name || len == 0)
        return E_INVALID;
    snprintf(name, len, "Fake NVIDIA GPU %d", i);
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t h, util_t *u)
{
    int i = dev_index(h);
    if (!inited || i < 0)
        return E_INVALID;
    use_t us[MAX_PIDS];
    int n = i == 0 ? uses(us) : 0;
    unsigned int sum = 0;
    for (int k = 0; k < n; k++)
        sum += us[k].util;
    u->gpu = sum > 100 ? 100 : sum;
    u->memory = u->gpu / 2;
    return OK;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t h, mem_t *m)
{
    int i = dev_index(h);
    if (!inited || i < 0)
        return E_INVALID;
    use_t us[MAX_PIDS];
    int n = i == 0 ? uses(us) : 0;
    unsigned long long used = i == 0 ? FOREIGN_MIB : 0;
    for (int k = 0; k < n; k++)
        used += us[k].mib;
    m->total = TOTAL_MIB << 20;
    m->used = used << 20;
    m->free = m->total - m->used;
    return OK;
}

/* The process list of device h in entries of `size` bytes. */
static nvmlReturn_t procs(nvmlDevice_t h, unsigned int *count, void *out, size_t size)
{
    int i = dev_index(h);
    if (!inited || i < 0 || !count)
        return E_INVALID;
    use_t us[MAX_PIDS];
    int n = 0;
    if (i == 0) {
        us[0] = (use_t){FOREIGN_PID, 0, FOREIGN_MIB};
        n = 1 + uses(us + 1);
    }
    if ((unsigned int)n > *count || (n && !out)) {
        *count = (unsigned int)n;
        return E_INSUFFICIENT;
    }
    *count = (unsigned int)n;
    for (int k = 0; k < n; k++) {
        proc3_t e = {us[k].pid, us[k].mib << 20, 0xFFFFFFFFu, 0xFFFFFFFFu, 0};
        memcpy((char *)out + (size_t)k * size, &e, size);
    }
    return OK;
}

#ifdef FAKE_V1
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t h, unsigned int *count, proc1_t *out)
{
    return procs(h, count, out, sizeof(proc1_t));
}
#else
#ifdef FAKE_CC32
#define V3_SIZE sizeof(proc3_t)
#else
#define V3_SIZE sizeof(proc2_t)
#endif
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int *count, void *out)
{
    return procs(h, count, out, V3_SIZE);
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t h, unsigned int *count, proc2_t *out)
{
    return procs(h, count, out, sizeof(proc2_t));
}
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t h, unsigned int *count, proc1_t *out)
{
    return procs(h, count, out, sizeof(proc1_t));
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t h, psample_t *out, unsigned int *count,
                                                     unsigned long long last_seen)
{
    int i = dev_index(h);
    if (!inited || i < 0 || !count)
        return E_INVALID;
    const char *e = getenv("FAKE_NVML_NO_PROC_UTIL");
    if (e && *e == '1')
        return E_NOT_SUPPORTED;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned long long now = (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec;
    use_t us[MAX_PIDS];
    int n = i == 0 && now > last_seen ? uses(us) : 0;
    int k = 0;
    for (int j = 0; j < n; j++)
        if (us[j].util > 0)
            us[k++] = us[j]; /* NVML lists only processes with non-zero utilisation */
    if (k == 0)
        return E_NOT_FOUND;
    if (!out || (unsigned int)k > *count) {
        *count = (unsigned int)k;
        return E_INSUFFICIENT;
    }
    *count = (unsigned int)k;
    for (int j = 0; j < k; j++)
        out[j] = (psample_t){us[j].pid, now, us[j].util, us[j].util / 2, 0, 0};
    return OK;
}
