/* SPDX-License-Identifier: Apache-2.0
 * fuzz_view.c — libFuzzer target over `scalene view`'s report reader
 * (tools/view.c: json-c parse, the loader's type and range checks, and the
 * terminal view that prints what it loaded): the input is the profile
 * file. By the input's length it runs `view --cli FILE`, `view --cli -r
 * FILE` or `view --cli --processes FILE`, with stdout on /dev/null.
 * What must hold: no crash, no sanitizer report, no leak, no hang; a bad
 * profile is status 2 with one line on stderr. Context: thread.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[] = "/tmp/fuzz_view_XXXXXX";
static int g_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_fd < 0) {
        g_fd = mkstemp(g_path);
        int null = open("/dev/null", O_WRONLY);
        if (g_fd < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
            abort();
        close(null);
        unlink(g_path);
        snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    }
    if (ftruncate(g_fd, 0) != 0 || pwrite(g_fd, data, size, 0) != (ssize_t)size)
        abort();
    char *cli[] = {"view", "--cli", g_path, NULL};
    char *red[] = {"view", "--cli", "-r", g_path, NULL};
    char *procs[] = {"view", "--cli", "--processes", g_path, NULL};
    char **argv = size % 3 == 0 ? cli : size % 3 == 1 ? red : procs;
    int argc = 0;
    while (argv[argc])
        argc++;
    int rc = vw_main(argc, argv, "/nonexistent");
    if (rc != 0 && rc != 2)
        abort();
    return 0;
}
