/* SPDX-License-Identifier: Apache-2.0
 * safefile.c — atomic, symlink-safe file writes (see safefile.h). Used by the
 * aggregator for the report and by tools/ for everything `scalene view`
 * writes. mkostemp opens with O_CREAT|O_EXCL, which fails on any existing
 * name, a dangling symlink included; a predictable name such as
 * "<out>.tmp.<pid>" opened without O_EXCL let anyone who can write the
 * directory point it at a file of the profiling user's.
 */
#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A new, empty temporary file beside path; its name is left in tmp. */
static int make_temp(const char *path, char *tmp, size_t tmpn)
{
    if (snprintf(tmp, tmpn, "%s.XXXXXX", path) >= (int)tmpn)
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* mkostemp makes 0600; a report is as readable as any file the user
     * writes, so the umask decides, as it would for open(O_CREAT, 0666) */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    return fd;
}

int sf_write(const char *path, const char *s, size_t n)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if (strcmp(path, "-") == 0) {
        if (fflush(stdout) != 0)
            return -errno;
        return write_all(STDOUT_FILENO, s, n);
    }
    if ((fd = make_temp(path, tmp, sizeof tmp)) < 0)
        return fd;
    rc = write_all(fd, s, n);
    /* fsync before rename: after a crash the name holds the old file or the
     * whole new one, never an empty one (ext4 and xfs may reorder them) */
    if (rc == 0 && fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int sf_check(const char *path)
{
    char tmp[PATH_MAX];
    struct stat st;

    if (strcmp(path, "-") == 0)
        return 0;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return -EISDIR;
    int fd = make_temp(path, tmp, sizeof tmp);
    if (fd < 0)
        return fd;
    close(fd);
    unlink(tmp);
    return 0;
}
