/* SPDX-License-Identifier: Apache-2.0
 * safefile.h — the one way this project writes a file: the report, its
 * --profile-interval rewrites, the web page and the stack exports. A user who
 * can write to the output's directory must not be able to redirect the write
 * with a planted symlink, and a reader must never see half a file.
 */
#ifndef SCALENE_SAFEFILE_H
#define SCALENE_SAFEFILE_H

#include <stddef.h>

/* Writes s[0..n) to path ("-": stdout). The bytes go to a new temporary file
 * in path's directory, created with O_CREAT|O_EXCL under a random name (so no
 * existing name, symlink or not, is ever opened for writing), fsync'd, given
 * the mode a new file of the user's gets, and renamed over path (rename
 * replaces a symlink at path itself, never what it points to). On failure the
 * temporary file is removed and path is untouched. Returns 0 or -errno.
 * Context: thread. */
int sf_write(const char *path, const char *s, size_t n);

/* Checks, before a program runs, that sf_write(path, ...) can succeed: path
 * is not a directory and a temporary file can be created (and is removed at
 * once) in its directory. Returns 0 or -errno (ENOENT: no such directory,
 * EISDIR, EACCES, ...). Context: thread. */
int sf_check(const char *path);

#endif
