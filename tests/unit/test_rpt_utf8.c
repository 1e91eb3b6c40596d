/* SPDX-License-Identifier: Apache-2.0
 * test_rpt_utf8.c — the report is strict UTF-8 JSON whatever bytes the
 * profiled processes name things with (aggregator/rpt.c, docs/REPORT.md
 * "Text that is not UTF-8"): rpt_write on an empty table with a program
 * name holding each kind of bad sequence; the raw file must hold exactly
 * what Python's bytes.decode("utf-8", "surrogateescape") gives, as \udcXX
 * escapes, and valid sequences unchanged. Context: thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "rpt.h"
#include "tap.h"
#include "tbl.h"

static const struct {
    const char *in, *want, *what;
} cases[] = {
    {"a\xc3\xa9" "b", "a\xc3\xa9" "b", "2-byte sequence kept"},
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "4-byte sequence kept"},
    {"\xef\xbf\xbf", "\xef\xbf\xbf", "U+FFFF kept"},
    {"\xff", "\\udcff", "0xff"},
    {"\x80x", "\\udc80x", "lone continuation byte"},
    {"\xc0\xaf", "\\udcc0\\udcaf", "overlong '/'"},
    {"\xe0\x80\xaf", "\\udce0\\udc80\\udcaf", "3-byte overlong"},
    {"\xed\xa0\x80", "\\udced\\udca0\\udc80", "encoded surrogate"},
    {"\xf4\x90\x80\x80", "\\udcf4\\udc90\\udc80\\udc80", "above U+10FFFF"},
    {"\xe2\x82" "A", "\\udce2\\udc82A", "cut 3-byte sequence"},
    {"ok\xe2\x82", "ok\\udce2\\udc82", "cut at the end of the string"},
    {"\\udcff", "\\\\udcff", "a literal backslash-u stays text"},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The raw JSON text of the "program" value in the file at path. */
static char *program_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *k = strstr(buf, "\"program\"");
    char *q = k ? strchr(k + 9, '"') : NULL;
    if (!q)
        return NULL;
    char *e = q + 1;
    while (*e && *e != '"')
        e += *e == '\\' ? 2 : 1;
    return strndup(q + 1, (size_t)(e - q - 1));
}

int main(void)
{
    plan((int)NCASES * 2);
    rcu_register_thread();
    tbl_t *t = tbl_new(1000);
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_rpt_utf8.%d.json", (int)getpid());
    for (size_t i = 0; i < NCASES; i++) {
        rpt_meta_t m;
        memset(&m, 0, sizeof m);
        m.program = cases[i].in;
        m.entrypoint_dir = "/nonexistent";
        m.python = "/usr/bin/python3";
        m.t0_ns = 1000;
        m.end_ns = 2000;
        m.interval_sec = 0.01;
        m.ncpus = 1;
        int rc = rpt_write(t, &m, path);
        char *got = rc == 0 ? program_text(path) : NULL;
        ok(got && strcmp(got, cases[i].want) == 0, "%s: got '%s'", cases[i].what, got ? got : "(none)");
        /* the whole file: every byte >= 0x80 in a valid sequence */
        FILE *f = fopen(path, "rb");
        int c, bad = f ? 0 : 1, follow = 0;
        while (f && (c = fgetc(f)) != EOF) {
            if (follow) {
                bad += (c & 0xc0) != 0x80;
                follow--;
            } else if (c >= 0x80) {
                follow = c >= 0xf5 ? (bad++, 0) : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : (bad++, 0);
            }
        }
        if (f)
            fclose(f);
        ok(bad == 0 && follow == 0, "%s: the file is UTF-8", cases[i].what);
        free(got);
        unlink(path);
    }
    tbl_free(t);
    rcu_unregister_thread();
    return done_testing();
}
