/* SPDX-License-Identifier: Apache-2.0
 * test_nv.c — the NVML sampler (aggregator/nv.c, issue 7) against the fake
 * NVML library (tests/fake_nvml/fake_nvml.c, path in FAKE_NVML_LIB): device
 * discovery, per-pid utilisation and memory from the per-process API, the
 * device-utilisation fallback, unwatched pids left out, polls that tile the
 * time, and a missing or broken library reported as "no GPU" with a reason.
 * A reader thread snapshots the state while the sampler runs (make
 * check-tsan builds this with -fsanitize=thread). Context: thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nv.h"
#include "tap.h"

#define MS 1000000ull
#define MIB (1ull << 20)

static char dir[64];

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void use_file(int pid, const char *text)
{
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/%d", dir, pid);
    if (!text) {
        unlink(path);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
        rename(tmp, path);
    }
}

static nv_state_t *state(nv_t *nv)
{
    static nv_state_t s;
    nv_state(nv, &s);
    return &s;
}

/* Waits until the sampler has loaded NVML (or failed to). */
static nv_state_t *settled(nv_t *nv)
{
    for (int i = 0; i < 200 && !state(nv)->settled; i++)
        sleep_ms(10);
    return state(nv);
}

typedef struct reader {
    nv_t *nv;
    _Atomic int x_stop; /* release by main, acquire by the reader */
    long snapshots, bad;
} reader_t;

static void *read_loop(void *arg)
{
    reader_t *r = arg;
    nv_state_t *s = malloc(sizeof *s);
    /* acquire: pairs with the release in stop_reader() */
    while (s && !atomic_load_explicit(&r->x_stop, memory_order_acquire)) {
        nv_state(r->nv, s);
        r->snapshots++;
        if (s->found && (s->ndev != 1 || strcmp(s->dev[0].name, "Fake NVIDIA GPU 0") != 0))
            r->bad++;
        sleep_ms(1);
    }
    free(s);
    return NULL;
}

/* The use of pid in poll p, or NULL. */
static const nv_use_t *use_of(const nv_poll_t *p, int32_t pid)
{
    for (uint32_t k = 0; k < p->n; k++)
        if (p->use[k].pid == pid)
            return &p->use[k];
    return NULL;
}

static void test_process_util(void)
{
    int32_t me = (int32_t)getpid();
    nv_t *nv = nv_start(FAKE_NVML_LIB, 10 * MS);
    if (!ok(nv != NULL, "sampler started"))
        return;
    reader_t rd = {nv, 0, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, read_loop, &rd);
    int32_t watch[] = {me, 424242};
    nv_watch(nv, watch, 2);
    nv_state_t *s = settled(nv);
    ok(s->found && s->ndev == 1 && strcmp(s->why, "ok") == 0, "found 1 device (%s)", s->why);
    ok(strcmp(s->dev[0].name, "Fake NVIDIA GPU 0") == 0 && s->dev[0].total == 16384 * MIB, "device: %s, %llu MiB",
       s->dev[0].name, (unsigned long long)(s->dev[0].total / MIB));
    static nv_poll_t p[512];
    sleep_ms(50);
    nv_take(nv, p, 512); /* before the file: discard */
    use_file(me, "128 60\n");
    sleep_ms(200);
    size_t n = nv_take(nv, p, 512);
    size_t busy = 0, right = 0, foreign = 0, tiled = 0;
    for (size_t i = 0; i < n; i++) {
        const nv_use_t *u = use_of(&p[i], me);
        busy += u != NULL;
        right += u && u->util_bp == 6000 && u->mem == 128 * MIB;
        foreign += use_of(&p[i], 1) || use_of(&p[i], 424242);
        tiled += i == 0 || p[i].t_from == p[i - 1].t_to;
    }
    ok(n >= 10 && busy >= n - 2, "%zu polls in 200 ms, %zu with our pid busy", n, busy);
    ok(right >= busy - 1 && busy > 0, "%zu of them at 60 %% holding 128 MiB", right);
    ok(foreign == 0, "no unwatched pid reported (the fake's pid 1, the idle watched one)");
    ok(tiled == n, "polls tile the time: each starts where the previous ended");
    use_file(me, NULL);
    sleep_ms(200);
    n = nv_take(nv, p, 512);
    size_t idle_tail = 0;
    for (size_t i = n; i > 0 && !use_of(&p[i - 1], me); i--)
        idle_tail++;
    ok(n >= 10 && idle_tail >= n / 2, "after the file: %zu of the last %zu polls idle", idle_tail, n);
    /* release: pairs with the acquire in read_loop() */
    atomic_store_explicit(&rd.x_stop, 1, memory_order_release);
    pthread_join(th, NULL);
    ok(rd.snapshots > 0 && rd.bad == 0, "%ld concurrent snapshots, %ld inconsistent", rd.snapshots, rd.bad);
    nv_stop(nv);
    s = state(nv);
    ok(s->polls >= 20 && s->dev[0].proc_util && s->dev[0].peak_used == 228 * MIB,
       "after stop: %llu polls, per-process utilisation, device peak %llu MiB", (unsigned long long)s->polls,
       (unsigned long long)(s->dev[0].peak_used / MIB));
    nv_free(nv);
}

/* No per-process API: a pid gets the utilisation of the devices on which it
 * holds a context (device 0 here), summed over devices. */
static void test_device_util(void)
{
    int32_t me = (int32_t)getpid();
    setenv("FAKE_NVML_NO_PROC_UTIL", "1", 1);
    setenv("FAKE_NVML_DEVICES", "2", 1);
    nv_t *nv = nv_start(FAKE_NVML_LIB, 10 * MS);
    nv_watch(nv, &me, 1);
    nv_state_t *s = settled(nv);
    ok(s->found && s->ndev == 2, "2 devices");
    use_file(me, "64 40\n");
    sleep_ms(150);
    static nv_poll_t p[512];
    size_t n = nv_take(nv, p, 512), right = 0;
    for (size_t i = 0; i < n; i++) {
        const nv_use_t *u = use_of(&p[i], me);
        right += u && u->util_bp == 4000 && u->mem == 64 * MIB;
    }
    ok(right >= n / 2 && right > 0, "device utilisation: %zu of %zu polls at 40 %% with 64 MiB", right, n);
    use_file(me, NULL);
    nv_stop(nv);
    s = state(nv);
    ok(!s->dev[0].proc_util && !s->dev[1].proc_util, "both devices report the device utilisation source");
    nv_free(nv);
    unsetenv("FAKE_NVML_NO_PROC_UTIL");
    unsetenv("FAKE_NVML_DEVICES");
}

static void test_no_gpu(void)
{
    nv_t *nv = nv_start("/nonexistent/libnvidia-ml.so.1", 10 * MS);
    nv_state_t *s = settled(nv);
    ok(s->settled && !s->found && strstr(s->why, "cannot load NVML") != NULL, "missing library: %s", s->why);
    nv_stop(nv);
    nv_free(nv);
    setenv("FAKE_NVML_INIT_FAIL", "1", 1);
    nv = nv_start(FAKE_NVML_LIB, 10 * MS);
    nv_stop(nv); /* waits for the load to finish */
    s = state(nv);
    ok(!s->found && strstr(s->why, "nvmlInit_v2 failed: 9") != NULL, "broken NVML: %s", s->why);
    nv_free(nv);
    unsetenv("FAKE_NVML_INIT_FAIL");
}

int main(void)
{
    plan(15);
    snprintf(dir, sizeof dir, "/tmp/test_nv.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("FAKE_NVML_DIR", dir, 1);
    test_process_util();
    test_device_util();
    test_no_gpu();
    rmdir(dir);
    return done_testing();
}
