/* SPDX-License-Identifier: Apache-2.0
 * record.h — the wire format: one fixed-size record per ring cell.
 * Written by runtime/ (signal-free sampler thread, exit/wait hooks), read by
 * aggregator/drn.c. This header and ring.h are the only runtime/ headers the
 * aggregator may include. Any layout change bumps REC_VERSION and updates the
 * byte table in docs/ARCHITECTURE.md in the same commit.
 */
#ifndef SCALENE_RECORD_H
#define SCALENE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define REC_VERSION 4u
#define REC_SIZE 56u /* bytes; a ring cell is an 8-byte sequence word + one record */

/* The CPython versions this build profiles: PY_VERSION_HEX from MIN to MAX,
 * inclusive, GIL builds only. The one definition both sides use: the
 * aggregator probes the program's interpreter and refuses one outside the
 * range before the program runs (aggregator/agg.c), and the frame walker
 * (runtime/pyframe.c) reads only these layouts: 3.8 to 3.13, one build
 * (docs/ARCHITECTURE.md, "CPython versions"). Not part of the record layout:
 * changing it does not bump REC_VERSION. */
#define REC_PY_MIN_HEX 0x03080000u
#define REC_PY_MAX_HEX 0x030DFFFFu

/* Record kinds. Values are part of the wire format: never renumber. */
enum rec_kind {
    REC_NONE = 0,
    REC_STR = 1,        /* a chunk of an interned string (id = 64-bit FNV-1a of its bytes) */
    REC_CPU = 2,        /* one CPU sample of one thread */
    REC_PROC_START = 3, /* a process joined (slot claimed) */
    REC_PROC_EXIT = 4,  /* a process is leaving through exit()/_exit() */
    REC_CHILD_EXIT = 5, /* a profiled parent reaped a child: wait status */
    REC_THREAD = 6,     /* a thread's name (string id) */
    REC_MEM = 7,        /* one allocation sample, the free of a sampled block, or a mark */
    REC_COPY = 8,       /* one copy-volume sample (memcpy/memmove family) */
    REC_GPU = 9,        /* reserved for issue 7: GPU utilisation/memory sample */
    REC_PROFILED = 10,  /* a function decorated with @profile: the report keeps only such functions */
    REC_STACK = 11,     /* one frame of a call stack the process defines (--stacks); aux: its number */
    REC_KIND_MAX
};

/* REC_CPU flags */
#define REC_F_NATIVE 0x01u   /* leaf Python frame sits at a CALL: the thread runs C code */
#define REC_F_MAIN 0x02u     /* sampled thread is the process's main thread */
#define REC_F_NOFRAME 0x04u  /* thread had no Python frame (starting up, pure C thread) */
#define REC_F_OUTSIDE 0x08u  /* no frame in profile scope: file/line name the leaf frame */
#define REC_F_VIRTUAL 0x10u  /* virtual-time mode: off-CPU time was not counted */
#define REC_F_LEAFIN 0x20u   /* the in-scope frame is the leaf frame */
#define REC_F_HELD 0x40u     /* the frames could not be read consistently this time: the place is the
                              * thread's previous in-scope one (sample and hold) */
/* REC_MEM aux: with --stacks, the allocating call stack's number, as for
 * REC_CPU (a free: the number its allocation carried); 0: none. */
/* REC_CPU aux: with --stacks, the number (1..65535) of the sampled thread's
 * call stack, defined earlier in the same slot by REC_STACK records of the
 * same number; 0: no stack (off, no frame, or the process ran out of numbers). */

/* REC_STACK flags */
#define REC_S_NATIVE 0x01u /* a C frame (--native): file_id names the module, func_id the function
                            * (or "[module]" when it has no exported name), line is 0 */

/* REC_MEM flags. An allocation sample stands for `bytes` of live memory
 * (the Poisson estimate, see docs/MEMORY.md); the free of a sampled block
 * credits the same `bytes` back to the site that allocated it, so the
 * site's allocated-minus-freed is an unbiased estimate of what it holds. */
#define REC_M_PYTHON 0x01u  /* allocated through a Python allocator domain (RAW, MEM, OBJ) */
#define REC_M_FREE 0x02u    /* a sampled block was freed: the site is the allocating one */
#define REC_M_MOVE 0x04u    /* with FREE: realloc moved/resized the block, it was not released */
#define REC_M_NOFRAME 0x08u /* the thread had no Python frame: file/func/line are 0 */
#define REC_M_OUTSIDE 0x10u /* no frame in profile scope: the site names the leaf frame */
#define REC_M_FINAL 0x20u   /* mark, no payload: Python began finalizing; no memory record follows */
#define REC_M_RSS 0x40u     /* mark: `bytes` is the process's resident set size (sampler thread) */

/* Common 16-byte header. */
typedef struct rec_hdr {
    uint8_t kind;  /* enum rec_kind */
    uint8_t flags; /* kind-specific */
    uint16_t aux;  /* kind-specific */
    uint32_t tid;  /* kernel thread id of the subject thread */
    uint64_t t_ns; /* CLOCK_MONOTONIC, ns */
} rec_hdr_t;

#define REC_STR_CHUNK 24u
#define REC_STR_MAX 4096u /* longer strings are cut to this many bytes */

/* Visible, not opaque: it is the wire format, copied byte for byte. */
typedef struct rec {
    rec_hdr_t h;
    union {
        struct {
            uint64_t id;    /* FNV-1a 64 of the whole (cut) string */
            uint16_t off;   /* byte offset of this chunk */
            uint16_t total; /* whole length, <= REC_STR_MAX */
            uint8_t n;      /* bytes used in text */
            uint8_t pad[3];
            char text[REC_STR_CHUNK];
        } str;
        struct {
            uint64_t file_id; /* string id of the file name */
            uint64_t func_id; /* string id of the function's qualified name */
            uint32_t line;    /* 1-based line; 0 when unknown */
            uint32_t func_line; /* the function's first line */
            uint32_t cpu_ns;  /* thread CPU time (user+kernel) since its previous sample */
            uint32_t sys_ns;  /* kernel part of cpu_ns (estimated from /proc ticks) */
            uint32_t wall_ns; /* wall time since this thread's previous sample, less its run-queue wait (main thread, wall mode) */
            uint32_t other_ns; /* CPU of threads with no Python state (BLAS pools,
                                * C threads) in the interval: native time of the
                                * main thread's line; 0 on other threads */
        } cpu;
        struct {
            int32_t pid;
            int32_t ppid;
            uint64_t argv_id;  /* string id: argv joined by NUL->space */
            uint64_t start_ns; /* CLOCK_MONOTONIC at join */
            uint32_t pyver;    /* PY_VERSION_HEX of the interpreter, 0 if not Python */
            uint32_t how;      /* 0 exec'd, 1 forked */
        } proc;
        struct {
            int32_t pid;
            int32_t status;   /* for PROC_EXIT: exit code; for CHILD_EXIT: raw wait status */
            uint64_t utime_us; /* PROC_EXIT: getrusage(RUSAGE_SELF) at exit */
            uint64_t stime_us;
            uint32_t how;     /* PROC_EXIT: 0 exit(), 1 _exit() */
            uint32_t pad;
        } exit;
        struct {
            uint64_t name_id; /* string id of the thread's name */
        } thread;
        struct {
            uint64_t file_id; /* string id of the site's file (0 with NOFRAME) */
            uint64_t func_id; /* string id of the site's function */
            uint32_t line;
            uint32_t func_line;
            uint64_t bytes;   /* alloc: live bytes this sample stands for; FREE: the same, credited back; RSS: bytes */
            uint64_t volume;  /* alloc: newly requested bytes it stands for (< bytes when realloc grew a block); else 0 */
        } mem;
        struct {
            uint64_t file_id;    /* string id of the function's file */
            uint64_t func_id;    /* string id of its qualified name */
            uint32_t first_line; /* its def line (co_firstlineno) */
            uint32_t last_line;  /* its last line with code */
            uint64_t pad[2];
        } prof;
        struct {
            uint64_t file_id;   /* this frame's file */
            uint64_t func_id;   /* its function's qualified name */
            uint32_t line;      /* the line the frame is executing */
            uint32_t func_line; /* the function's first line */
            uint16_t k;         /* position, 0 = outermost frame */
            uint16_t n;         /* frames in the stack (the leaf is n - 1) */
            uint32_t pad;
            uint64_t offset;    /* REC_S_NATIVE: the function's start in its module (0: unknown) */
        } stack;
        struct {
            uint64_t file_id; /* the copying thread's site, as for mem (flags NOFRAME/OUTSIDE) */
            uint64_t func_id;
            uint32_t line;
            uint32_t func_line;
            uint64_t bytes;   /* bytes copied this sample stands for */
            uint64_t pad;
        } copy;
        uint8_t raw[40];
    } u;
} rec_t;

_Static_assert(sizeof(rec_hdr_t) == 16, "record header is 16 bytes");
_Static_assert(sizeof(rec_t) == REC_SIZE, "record is 56 bytes");

/* FNV-1a, 64-bit: the string id. Content-addressed so every process, forked
 * or exec'd, names the same text with the same id without coordination.
 * Context: signal (pure computation). */
static inline uint64_t rec_str_id(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h ? h : 1; /* 0 means "no string" on the wire */
}

/* Number of REC_STR records that carry a string of n bytes (after the cut
 * to REC_STR_MAX). Context: signal. */
static inline unsigned rec_str_nchunks(size_t n)
{
    if (n > REC_STR_MAX)
        n = REC_STR_MAX;
    return n == 0 ? 1u : (unsigned)((n + REC_STR_CHUNK - 1) / REC_STR_CHUNK);
}

/* Fills r with chunk k of string s (n bytes) whose id is id. The header's
 * tid/t_ns are left to the caller. Context: signal. */
static inline void rec_str_chunk(rec_t *r, uint64_t id, const char *s, size_t n, unsigned k)
{
    if (n > REC_STR_MAX)
        n = REC_STR_MAX;
    size_t off = (size_t)k * REC_STR_CHUNK;
    size_t len = n > off ? n - off : 0;
    if (len > REC_STR_CHUNK)
        len = REC_STR_CHUNK;
    r->h.kind = REC_STR;
    r->h.flags = 0;
    r->h.aux = 0;
    r->u.str.id = id;
    r->u.str.off = (uint16_t)off;
    r->u.str.total = (uint16_t)n;
    r->u.str.n = (uint8_t)len;
    r->u.str.pad[0] = r->u.str.pad[1] = r->u.str.pad[2] = 0;
    for (size_t i = 0; i < REC_STR_CHUNK; i++)
        r->u.str.text[i] = i < len ? s[off + i] : 0;
}

#endif
