/* SPDX-License-Identifier: Apache-2.0
 * fuzz_cfg.c — libFuzzer target over `scalene run -c FILE`'s YAML reader
 * (tools/cfg.c, libyaml): the input is the file. cfg.c is included whole so
 * that its loader (cfg_load: parse, check every key and value, turn them
 * into options) runs on each input and the options it collected are freed
 * between inputs (cfg_expand keeps them until exit by design).
 * What must hold: no crash, no sanitizer report, no leak, no hang; a bad
 * file is -EINVAL with its one line on stderr. Context: thread.
 */
#include "../../tools/cfg.c"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[] = "/tmp/fuzz_cfg_XXXXXX";
static int g_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_fd < 0) {
        g_fd = mkstemp(g_path);
        if (g_fd < 0)
            abort();
        unlink(g_path); /* reached through /proc/self/fd: nothing left behind */
        snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    }
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != (ssize_t)size)
        abort();
    int rc = cfg_load(g_path);
    if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
        abort();
    for (int i = 0; i < cfg_argc; i++)
        free(cfg_argv[i]);
    free(cfg_argv);
    cfg_argv = NULL;
    cfg_argc = cfg_cap = 0;
    return 0;
}
