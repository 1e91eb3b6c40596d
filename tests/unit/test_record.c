/* SPDX-License-Identifier: Apache-2.0
 * test_record.c — the wire codec in runtime/record.h: the byte layout of
 * rec_t (a layout change must fail here, bump REC_VERSION and update
 * docs/ARCHITECTURE.md), the REC_STR chunking round trip for edge lengths
 * and UTF-8 bytes in any arrival order, and the FNV-1a string ids checked
 * against vectors computed outside record.h. Context: thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "tap.h"

/* Deterministic PRNG (xorshift64*), so a failure replays exactly. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Fills buf with n bytes of mixed ASCII and multi-byte UTF-8 (2, 3 and
 * 4-byte sequences), so chunk cuts land inside code points too. */
static void fill_utf8(char *buf, size_t n)
{
    static const char *const pieces[] = { "a", "Z", "/", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe6\x97\xa5" };
    size_t i = 0, p = 0;
    while (i < n) {
        const char *s = pieces[p++ % (sizeof pieces / sizeof pieces[0])];
        for (size_t k = 0; s[k] && i < n; k++)
            buf[i++] = s[k];
    }
}

static void test_layout(void)
{
    ok(sizeof(rec_t) == 56 && REC_SIZE == 56, "rec_t is 56 bytes (sizeof %zu)", sizeof(rec_t));
    ok(sizeof(rec_hdr_t) == 16, "header is 16 bytes (sizeof %zu)", sizeof(rec_hdr_t));
    ok(offsetof(rec_t, h.kind) == 0 && offsetof(rec_t, h.flags) == 1 && offsetof(rec_t, h.aux) == 2 &&
           offsetof(rec_t, h.tid) == 4 && offsetof(rec_t, h.t_ns) == 8 && offsetof(rec_t, u) == 16,
       "header byte offsets kind 0, flags 1, aux 2, tid 4, t_ns 8, body 16");
    ok(offsetof(rec_t, u.str.id) == 16 && offsetof(rec_t, u.str.off) == 24 && offsetof(rec_t, u.str.total) == 26 &&
           offsetof(rec_t, u.str.n) == 28 && offsetof(rec_t, u.str.text) == 32 &&
           sizeof(((rec_t *)0)->u.str.text) == REC_STR_CHUNK && REC_STR_CHUNK == 24,
       "REC_STR offsets id 16, off 24, total 26, n 28, text 32..55");
    ok(offsetof(rec_t, u.cpu.file_id) == 16 && offsetof(rec_t, u.cpu.func_id) == 24 &&
           offsetof(rec_t, u.cpu.line) == 32 && offsetof(rec_t, u.cpu.func_line) == 36 &&
           offsetof(rec_t, u.cpu.cpu_ns) == 40 && offsetof(rec_t, u.cpu.sys_ns) == 44 &&
           offsetof(rec_t, u.cpu.wall_ns) == 48 && offsetof(rec_t, u.cpu.other_ns) == 52,
       "REC_CPU offsets file_id 16 .. other_ns 52");
    ok(offsetof(rec_t, u.proc.pid) == 16 && offsetof(rec_t, u.proc.ppid) == 20 &&
           offsetof(rec_t, u.proc.argv_id) == 24 && offsetof(rec_t, u.proc.start_ns) == 32 &&
           offsetof(rec_t, u.proc.pyver) == 40 && offsetof(rec_t, u.proc.how) == 44 &&
           offsetof(rec_t, u.exit.pid) == 16 && offsetof(rec_t, u.exit.status) == 20 &&
           offsetof(rec_t, u.exit.utime_us) == 24 && offsetof(rec_t, u.exit.stime_us) == 32 &&
           offsetof(rec_t, u.exit.how) == 40 && offsetof(rec_t, u.thread.name_id) == 16,
       "PROC/EXIT/THREAD body offsets");
    ok(REC_NONE == 0 && REC_STR == 1 && REC_CPU == 2 && REC_PROC_START == 3 && REC_PROC_EXIT == 4 &&
           REC_CHILD_EXIT == 5 && REC_THREAD == 6 && REC_MEM == 7 && REC_COPY == 8 && REC_GPU == 9,
       "record kind numbers are the wire values");
    diag("REC_VERSION %u", REC_VERSION);
}

/* Independent FNV-1a 64 written from the published definition (offset
 * basis 14695981039346656037, prime 2^40 + 2^8 + 0xb3), to cross-check
 * rec_str_id on arbitrary inputs. */
static uint64_t fnv1a_ref(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    const uint64_t prime = (1ull << 40) + (1ull << 8) + 0xb3u;
    while (n--) {
        h ^= *p++;
        h *= prime;
    }
    return h;
}

static void test_str_id(void)
{
    /* Vectors computed outside this code (Python, and the FNV reference
     * test suite for "", "a" and "foobar"). */
    ok(rec_str_id("hello", 5) == 0xa430d84680aabd0bull, "rec_str_id(\"hello\") == 0xa430d84680aabd0b (got 0x%016llx)",
       (unsigned long long)rec_str_id("hello", 5));
    ok(rec_str_id("", 0) == 0xcbf29ce484222325ull, "rec_str_id(\"\") is the offset basis");
    ok(rec_str_id("a", 1) == 0xaf63dc4c8601ec8cull && rec_str_id("foobar", 6) == 0x85944171f73967e8ull,
       "rec_str_id matches FNV reference vectors \"a\" and \"foobar\"");
    ok(rec_str_id("hello", 5) == rec_str_id("hello world", 5), "rec_str_id reads only n bytes (stable for a prefix)");

    /* This 8-byte input hashes to 0 under FNV-1a 64 (listed on the FNV
     * page); 0 means "no string" on the wire, so the id must not be 0. */
    static const char zero_in[8] = { (char)0xd5, 0x6b, (char)0xb9, 0x53, 0x42, (char)0x87, 0x08, 0x36 };
    ok(fnv1a_ref((const unsigned char *)zero_in, 8) == 0, "reference FNV-1a of the zero-hash input is 0");
    ok(rec_str_id(zero_in, 8) != 0, "rec_str_id never returns 0, even when FNV-1a is 0 (got %llu)",
       (unsigned long long)rec_str_id(zero_in, 8));

    int agree = 1, nonzero = 1;
    char buf[64];
    for (int i = 0; i < 10000; i++) {
        size_t n = (size_t)(rng() % sizeof buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)rng();
        uint64_t id = rec_str_id(buf, n);
        agree &= id == fnv1a_ref((const unsigned char *)buf, n);
        nonzero &= id != 0;
        agree &= id == rec_str_id(buf, n); /* stable across calls */
    }
    ok(agree && nonzero, "rec_str_id equals the reference on 10000 random strings, is stable and non-zero");
}

/* One string length: checks every chunk's fields and reassembles the text
 * in order and in a shuffled order. Returns 1 when all checks passed. */
static int roundtrip(size_t n, char *why, size_t whylen)
{
    static char src[5000 + 1], out[REC_STR_MAX], out2[REC_STR_MAX];
    static unsigned char cover[REC_STR_MAX];
    static rec_t recs[REC_STR_MAX / REC_STR_CHUNK + 1];
    size_t cut = n > REC_STR_MAX ? REC_STR_MAX : n;
    unsigned expect = cut == 0 ? 1u : (unsigned)((cut + REC_STR_CHUNK - 1) / REC_STR_CHUNK);

    fill_utf8(src, n);
    unsigned nc = rec_str_nchunks(n);
    if (nc != expect) {
        snprintf(why, whylen, "nchunks %u, want %u", nc, expect);
        return 0;
    }
    uint64_t id = rec_str_id(src, cut);
    for (unsigned k = 0; k < nc; k++) {
        memset(&recs[k], 0xa5, sizeof recs[k]);
        recs[k].h.tid = 4242;
        recs[k].h.t_ns = 77;
        rec_str_chunk(&recs[k], id, src, n, k);
        const rec_t *r = &recs[k];
        size_t off = (size_t)k * REC_STR_CHUNK;
        size_t len = cut - off < REC_STR_CHUNK ? cut - off : REC_STR_CHUNK;
        if (cut == 0)
            len = 0;
        if (r->h.kind != REC_STR || r->h.flags != 0 || r->h.aux != 0 || r->h.tid != 4242 || r->h.t_ns != 77) {
            snprintf(why, whylen, "chunk %u header wrong (kind %u, tid %u)", k, r->h.kind, r->h.tid);
            return 0;
        }
        if (r->u.str.id != id || r->u.str.off != off || r->u.str.total != cut || r->u.str.n != len ||
            r->u.str.pad[0] | r->u.str.pad[1] | r->u.str.pad[2]) {
            snprintf(why, whylen, "chunk %u fields: off %u total %u n %u", k, r->u.str.off, r->u.str.total,
                     r->u.str.n);
            return 0;
        }
        for (size_t i = len; i < REC_STR_CHUNK; i++)
            if (r->u.str.text[i] != 0) {
                snprintf(why, whylen, "chunk %u: byte %zu past n is not zeroed", k, i);
                return 0;
            }
    }

    /* In order. */
    memset(out, 0, sizeof out);
    for (unsigned k = 0; k < nc; k++)
        memcpy(out + recs[k].u.str.off, recs[k].u.str.text, recs[k].u.str.n);

    /* Shuffled (Fisher-Yates), as chunks of interleaved writers arrive;
     * every byte of [0, total) must be covered exactly once. */
    unsigned order[REC_STR_MAX / REC_STR_CHUNK + 1];
    for (unsigned k = 0; k < nc; k++)
        order[k] = k;
    for (unsigned k = nc; k > 1; k--) {
        unsigned j = (unsigned)(rng() % k), t = order[k - 1];
        order[k - 1] = order[j];
        order[j] = t;
    }
    memset(out2, 0, sizeof out2);
    memset(cover, 0, sizeof cover);
    size_t total = recs[order[0]].u.str.total;
    for (unsigned k = 0; k < nc; k++) {
        const rec_t *r = &recs[order[k]];
        if ((size_t)r->u.str.off + r->u.str.n > total) {
            snprintf(why, whylen, "chunk %u overruns total", order[k]);
            return 0;
        }
        memcpy(out2 + r->u.str.off, r->u.str.text, r->u.str.n);
        for (size_t i = 0; i < r->u.str.n; i++)
            cover[r->u.str.off + i]++;
    }
    for (size_t i = 0; i < total; i++)
        if (cover[i] != 1) {
            snprintf(why, whylen, "byte %zu covered %u times", i, cover[i]);
            return 0;
        }
    if (total != cut || memcmp(out, src, cut) != 0 || memcmp(out2, src, cut) != 0) {
        snprintf(why, whylen, "reassembled bytes differ (total %zu)", total);
        return 0;
    }
    if (rec_str_id(out2, total) != id) {
        snprintf(why, whylen, "id of reassembled text differs");
        return 0;
    }
    return 1;
}

static void test_chunks(void)
{
    static const size_t lens[] = { 0, 1, 23, 24, 25, 100, 4095, 4096, 5000 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char why[128] = "";
        int r = roundtrip(lens[i], why, sizeof why);
        ok(r, "REC_STR round trip, length %zu (%u chunks), in order and shuffled%s%s", lens[i],
           rec_str_nchunks(lens[i]), r ? "" : ": ", why);
    }
    ok(rec_str_nchunks(0) == 1 && rec_str_nchunks(24) == 1 && rec_str_nchunks(25) == 2 &&
           rec_str_nchunks(4096) == 171 && rec_str_nchunks(5000) == 171 && rec_str_nchunks((size_t)-1) == 171,
       "rec_str_nchunks edges: 0->1, 24->1, 25->2, 4096->171, over REC_STR_MAX->171");

    /* Embedded NUL and high bytes are carried byte for byte. */
    char bin[50];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i * 37u);
    bin[3] = 0;
    char back[50];
    memset(back, 0x55, sizeof back);
    uint64_t id = rec_str_id(bin, sizeof bin);
    for (unsigned k = 0; k < rec_str_nchunks(sizeof bin); k++) {
        rec_t r;
        rec_str_chunk(&r, id, bin, sizeof bin, k);
        memcpy(back + r.u.str.off, r.u.str.text, r.u.str.n);
    }
    ok(memcmp(bin, back, sizeof bin) == 0, "embedded NUL and bytes >= 0x80 survive chunking");

    /* The id of a cut string names the cut text, not the original. */
    static char big[5000];
    fill_utf8(big, sizeof big);
    ok(rec_str_id(big, REC_STR_MAX) != rec_str_id(big, sizeof big), "cut and uncut ids differ (caller hashes the cut text)");
}

int main(void)
{
    plan(7 + 7 + 9 + 3);
    test_layout();
    test_str_id();
    test_chunks();
    return done_testing();
}
