/* SPDX-License-Identifier: Apache-2.0
 * pyframe.c — reads CPython 3.11's thread states and frames from the sampler
 * thread, without the GIL and without the Python C API (see pyframe.h).
 * The struct layouts come from the interpreter's internal headers, so this
 * file is the only one that knows them. Every read of interpreter memory is
 * sys_read_safe(): the other thread keeps running, so any pointer we follow
 * may be stale by the time we read it; a stale read gives -EFAULT or garbage
 * that the type checks below reject, never SIGSEGV.
 * Callers hold pyf_mu (pyf_lock/pyf_trylock): the sampler thread for a tick,
 * any thread inside malloc for one allocation or copy sample. The cache and
 * the scratch buffers are shared under that lock, and are carved from one
 * mmap'd arena, so a walk never calls malloc (it runs inside malloc).
 */
#include "pyframe.h"

#include "record.h"
#include "sys.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
/* NEED_OPCODE_TABLES makes the header *define* its tables in this object.
 * Renamed so that we never define a `_Py` symbol of our own (STYLE rule 2);
 * the tables are hidden by -fvisibility=hidden either way. */
#define NEED_OPCODE_TABLES
#define _PyOpcode_Deopt pyf_opcode_deopt
#define _PyOpcode_Caches pyf_opcode_caches
#include <internal/pycore_opcode.h>
#undef _PyOpcode_Deopt
#undef _PyOpcode_Caches

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "pyframe.c reads the CPython 3.11 layout only"
#endif

#define PYF_MAX_DEPTH 256
#define PYF_CACHE_SLOTS 4096u        /* power of two */
#define PYF_CACHE_PROBE 4u           /* slots tried before evicting */
#define PYF_STR_CAP REC_STR_MAX      /* bytes of UTF-8 kept per name */
#define PYF_TABLE_CAP (1u << 20)     /* bytes of co_linetable kept */
#define PYF_CODE_CAP (1u << 20)      /* code units scanned for CALLs */
#define PYF_CACHE_BUDGET (64u << 20) /* arena bytes for copies; full arena: flush */

/* Line-table resume point: the parser state at the entry that covers code
 * unit k * PYF_CK_UNITS, so a lookup parses at most that many units' worth
 * of entries (a module body's table can be tens of KiB). */
#define PYF_CK_UNITS 256
typedef struct pyf_ck {
    uint32_t i;  /* byte index of the entry in co_linetable */
    uint32_t at; /* first code unit of the entry */
    int32_t line; /* start line before the entry's delta is applied */
} pyf_ck_t;

/* One code object as the sampler last saw it. The key is its address; the
 * check fields catch a code object freed and another allocated at the same
 * address (a frame holds a reference while it runs, but nothing holds one
 * between two samples). */
typedef struct pyf_code {
    uintptr_t addr; /* 0: empty slot */
    /* check fields, compared on every hit */
    uintptr_t filename, qualname, linetable;
    Py_ssize_t ncode; /* Py_SIZE(code): number of code units */
    int firstlineno;
    /* copies, all in one malloc (blob) */
    uintptr_t code_start; /* address of co_code_adaptive[0] */
    void *blob; /* in pyf_arena; freed only by a whole-cache flush */
    size_t blob_size;
    const char *file, *func; /* UTF-8, NUL-terminated for the scope callback */
    size_t file_len, func_len;
    uint64_t file_id, func_id;
    const uint8_t *lt; /* co_linetable bytes; NULL when too big to keep */
    size_t lt_len;
    const pyf_ck_t *ck;   /* ncode / PYF_CK_UNITS + 1 resume points */
    const uint8_t *calls; /* bit per code unit: a CALL-family instruction starts here */
    const uint8_t *ops;   /* bit per code unit: an operator that may run a type's C code */
    bool anon;            /* a <genexpr>, <listcomp>, <lambda>...: not a function row of its own */
    bool in_scope;
    uint32_t pinned;  /* == pyf_gen: loc points into it during this sample */
    uint32_t checked; /* == pyf_gen: validated during this sample */
    /* last lookup: a hot loop hits the same few offsets again and again */
    ptrdiff_t memo_off;
    uint32_t memo_line;
} pyf_code_t;

/* Written by pyf_init() before the sampler thread is created (pthread_create
 * orders these writes before every read there); read-only afterwards. */
static const _PyRuntimeState *pyf_runtime;
static const PyTypeObject *pyf_code_type, *pyf_unicode_type, *pyf_bytes_type;
static uint32_t pyf_hexversion;
static pyf_scope_fn pyf_scope;
static PyThreadState *(*pyf_gil_tstate)(void); /* PyGILState_GetThisThreadState */

/* Guarded by pyf_mu: only pyf_sample() and pyf_reset() touch them. */
static pthread_mutex_t pyf_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic pid_t x_pyf_owner; /* tid holding pyf_mu, 0 if none */
static pyf_code_t *pyf_cache;
static char *pyf_arena;       /* PYF_CACHE_BUDGET bytes, mmap'd on first use */
static size_t pyf_cache_bytes; /* arena bytes handed out since the last flush */
static bool pyf_flush_due;     /* the arena ran out during a fill */
static _Alignas(4) uint8_t pyf_scratch[PYF_STR_CAP * 4]; /* raw str data (UCS-1/2/4) before encoding */

/* Reads field f of a T at remote address a into dst (which has f's type). */
#define PYF_READ_FIELD(dst, T, a, f) \
    sys_read_safe(&(dst), (const char *)(a) + offsetof(T, f), sizeof(((T *)0)->f))

int pyf_init(pyf_scope_fn scope)
{
    const unsigned long *ver = dlsym(RTLD_DEFAULT, "Py_Version");
    void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!rt)
        return -ENOENT; /* sh, gzip: not a Python process */
    if (!ver)
        return -ENOTSUP; /* a CPython before 3.11 (Py_Version is new in 3.11) */
    void *code = dlsym(RTLD_DEFAULT, "PyCode_Type");
    void *uni = dlsym(RTLD_DEFAULT, "PyUnicode_Type");
    void *bytes = dlsym(RTLD_DEFAULT, "PyBytes_Type");
    if (!code || !uni || !bytes)
        return -ENOENT;
    pyf_hexversion = (uint32_t)*ver;
    if ((pyf_hexversion >> 16) != ((uint32_t)PY_VERSION_HEX >> 16))
        return -ENOTSUP; /* layout differs: reading it would report garbage */
    pyf_runtime = rt;
    *(void **)&pyf_gil_tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    pyf_code_type = code;
    pyf_unicode_type = uni;
    pyf_bytes_type = bytes;
    pyf_scope = scope;
    return 0;
}

uint32_t pyf_version(void) { return pyf_hexversion; }

static const PyInterpreterState *pyf_main_interp(void)
{
    PyInterpreterState *main = NULL;
    if (!pyf_runtime || PYF_READ_FIELD(main, _PyRuntimeState, pyf_runtime, interpreters.main) != 0)
        return NULL;
    return main;
}

bool pyf_ready(void)
{
    const PyInterpreterState *interp = pyf_main_interp();
    PyThreadState *head = NULL;
    if (!interp || PYF_READ_FIELD(head, PyInterpreterState, interp, threads.head) != 0)
        return false;
    return head != NULL;
}

/* pyf_threads() reads a thread state's head, next .. native_thread_id
 * (168 bytes in 3.11), in one call. */
typedef union {
    PyThreadState ts;
    char raw[sizeof(PyThreadState)];
} pyf_tstate_buf_t;

int pyf_threads(pyf_thread_t *out, int max)
{
    const PyInterpreterState *interp = pyf_main_interp();
    PyThreadState *t = NULL;
    if (!interp || max <= 0 || PYF_READ_FIELD(t, PyInterpreterState, interp, threads.head) != 0)
        return 0;
    int n = 0;
    /* A list that cycles (read while a thread state was freed and reused)
     * ends at the cap; the sampler only loses this tick. */
    for (int hops = 0; t && n < max && hops < 4 * max; hops++) {
        pyf_tstate_buf_t b;
        size_t len = offsetof(PyThreadState, native_thread_id) + sizeof(b.ts.native_thread_id);
        if (sys_read_safe(&b, t, len) != 0 || b.ts.interp != interp)
            return 0; /* freed under us */
        /* 0 until the thread binds its state (threading.Thread before run). */
        if (b.ts.native_thread_id != 0) {
            out[n].tid = (pid_t)b.ts.native_thread_id;
            out[n].tstate = t;
            n++;
        }
        t = b.ts.next;
    }
    return n;
}

/* ---- strings ---- */

static size_t pyf_put_utf8(char *dst, size_t len, size_t cap, uint32_t c)
{
    if (c >= 0xDC80 && c <= 0xDCFF)
        c = c - 0xDC00; /* surrogateescape: the file name's original byte */
    else if (c >= 0xD800 && c <= 0xDFFF)
        c = '?';
    uint8_t b[4];
    size_t k;
    if (c < 0x80) {
        b[0] = (uint8_t)c;
        k = 1;
    } else if (c < 0x800) {
        b[0] = (uint8_t)(0xC0 | (c >> 6));
        b[1] = (uint8_t)(0x80 | (c & 0x3F));
        k = 2;
    } else if (c < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (c >> 12));
        b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (c & 0x3F));
        k = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (c >> 18));
        b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (c & 0x3F));
        k = 4;
    }
    if (len + k > cap)
        return 0; /* never cut a character in half */
    memcpy(dst + len, b, k);
    return k;
}

/* Copies the str object at addr as UTF-8 into dst (cap bytes, cut at a
 * character boundary). A lone surrogate from surrogateescape (a file name
 * that is not UTF-8) becomes its original byte, as os.fsencode() does.
 * Returns the length or -errno. */
static ssize_t pyf_read_str(const void *addr, char *dst, size_t cap)
{
    union {
        PyASCIIObject a;
        PyCompactUnicodeObject c;
        PyUnicodeObject u;
    } h;
    if (sys_read_safe(&h.a, addr, sizeof(h.a)) != 0)
        return -EFAULT;
    if (h.a.ob_base.ob_type != pyf_unicode_type || h.a.length < 0 || !h.a.state.ready)
        return -EINVAL; /* not a str, or a legacy str without canonical data */
    size_t n = (size_t)h.a.length;
    if (h.a.state.ascii && h.a.state.compact) {
        n = n < cap ? n : cap;
        if (sys_read_safe(dst, (const char *)addr + sizeof(PyASCIIObject), n) != 0)
            return -EFAULT;
        return (ssize_t)n;
    }
    const void *data;
    if (h.a.state.compact) {
        if (sys_read_safe(&h.c, addr, sizeof(h.c)) != 0)
            return -EFAULT;
        /* The UTF-8 form the interpreter may have cached is what we want. */
        if (h.c.utf8 && h.c.utf8_length >= 0) {
            size_t m = (size_t)h.c.utf8_length < cap ? (size_t)h.c.utf8_length : cap;
            if (sys_read_safe(dst, h.c.utf8, m) != 0)
                return -EFAULT;
            if (m < (size_t)h.c.utf8_length) {
                /* cut: drop a last character that did not fit whole */
                size_t p = m;
                while (p > 0 && ((uint8_t)dst[p - 1] & 0xC0) == 0x80)
                    p--;
                if (p > 0) {
                    uint8_t lead = (uint8_t)dst[p - 1];
                    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                    if (p - 1 + need > m)
                        m = p - 1;
                }
            }
            return (ssize_t)m;
        }
        data = (const char *)addr + sizeof(PyCompactUnicodeObject);
    } else {
        if (sys_read_safe(&h.u, addr, sizeof(h.u)) != 0)
            return -EFAULT;
        data = h.u.data.any;
    }
    unsigned kind = h.a.state.kind;
    if (kind != 1 && kind != 2 && kind != 4)
        return -EINVAL;
    if (n > cap)
        n = cap; /* every character takes at least one byte of UTF-8 */
    if (n * kind > sizeof(pyf_scratch) || sys_read_safe(pyf_scratch, data, n * kind) != 0)
        return -EFAULT;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c;
        if (kind == 1)
            c = pyf_scratch[i];
        else if (kind == 2)
            c = ((const uint16_t *)(const void *)pyf_scratch)[i];
        else
            c = ((const uint32_t *)(const void *)pyf_scratch)[i];
        size_t k = pyf_put_utf8(dst, len, cap, c > 0x10FFFF ? '?' : c);
        if (k == 0)
            break;
        len += k;
    }
    return (ssize_t)len;
}

/* ---- line table (Objects/locations.md, 3.11) ---- */

static uint32_t pyf_varint(const uint8_t *lt, size_t n, size_t *i)
{
    uint32_t v = 0;
    for (unsigned shift = 0; *i < n && shift < 32; shift += 6) {
        uint8_t b = lt[(*i)++];
        v |= (uint32_t)(b & 63) << shift;
        if (!(b & 64))
            break;
    }
    return v;
}

/* Decodes the entry starting at lt[*i] (bit 7 set): adds its start-line
 * delta to *line, returns its length in code units and leaves *i at the next
 * entry. Every byte after an entry's first has bit 7 clear (varint chunks,
 * column bytes below 128), so the skip also resynchronises on damage. */
static unsigned pyf_lt_entry(const uint8_t *lt, size_t n, size_t *i, int64_t *line)
{
    uint8_t b = lt[(*i)++];
    unsigned code = (b >> 3) & 15;
    if (code == 13 || code == 14) { /* no-column and long forms: svarint delta */
        uint32_t v = pyf_varint(lt, n, i);
        *line += (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
    } else if (code >= 10 && code <= 12) { /* one-line forms */
        *line += code - 10;
    } /* 0..9 short forms: same line; 15: no location, line unchanged */
    while (*i < n && !(lt[*i] & 0x80))
        (*i)++;
    return (b & 7) + 1u;
}

/* Fills the resume points ck[0..nck) by one pass over the table. */
static void pyf_lt_index(const uint8_t *lt, size_t n, int firstlineno, pyf_ck_t *ck, size_t nck)
{
    size_t i = 0, k = 0;
    int64_t line = firstlineno;
    uint32_t at = 0;
    while (i < n && !(lt[i] & 0x80))
        i++;
    while (i < n && k < nck) {
        size_t start = i;
        int64_t before = line;
        unsigned len = pyf_lt_entry(lt, n, &i, &line);
        while (k < nck && (uint64_t)k * PYF_CK_UNITS < (uint64_t)at + len) {
            ck[k].i = (uint32_t)start;
            ck[k].at = at;
            ck[k].line = (int32_t)before;
            k++;
        }
        at += len;
    }
    for (; k < nck; k++) { /* table ends early: those units have no line */
        ck[k].i = (uint32_t)n;
        ck[k].at = at;
        ck[k].line = (int32_t)line;
    }
}

/* Line of the instruction at code unit off, from the entry covering it.
 * Entries with no location (code 15) report the line of the entry before:
 * a profile wants a nearby line more than a lost sample. 0 if unknown. */
static uint32_t pyf_line(pyf_code_t *e, ptrdiff_t off)
{
    if (off == -1)
        return (uint32_t)e->firstlineno; /* prev_instr before the first unit: not started */
    if (off < 0 || off >= e->ncode || !e->lt)
        return 0;
    if (off == e->memo_off)
        return e->memo_line;
    const pyf_ck_t *ck = &e->ck[off / PYF_CK_UNITS];
    size_t i = ck->i;
    int64_t line = ck->line;
    ptrdiff_t at = ck->at;
    uint32_t found = 0;
    while (i < e->lt_len) {
        unsigned len = pyf_lt_entry(e->lt, e->lt_len, &i, &line);
        if (off < at + (ptrdiff_t)len) {
            found = line > 0 && line <= UINT32_MAX ? (uint32_t)line : 0;
            break;
        }
        at += len;
    }
    e->memo_off = off;
    e->memo_line = found;
    return found;
}

/* ---- code cache ---- */

/* Bumped per pyf_sample(): entries pinned with it may not be evicted, since
 * loc already points into them. */
static uint32_t pyf_gen;

/* An entry's blob stays in the arena until the next flush: the arena is a
 * bump allocator, which is what lets a walk run inside malloc. */
static void pyf_entry_drop(pyf_code_t *e) { memset(e, 0, sizeof(*e)); }

static void *pyf_arena_take(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!pyf_arena || size > PYF_CACHE_BUDGET - pyf_cache_bytes) {
        pyf_flush_due = true;
        return NULL;
    }
    void *p = pyf_arena + pyf_cache_bytes;
    pyf_cache_bytes += size;
    return p;
}

void pyf_reset(void)
{
    if (!pyf_cache)
        return;
    memset(pyf_cache, 0, PYF_CACHE_SLOTS * sizeof(*pyf_cache));
    /* give the copies' pages back; the range stays mapped and reads as zero */
    madvise(pyf_arena, PYF_CACHE_BUDGET, MADV_DONTNEED);
    pyf_cache_bytes = 0;
    pyf_flush_due = false;
}

static void *pyf_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void pyf_lock(void)
{
    pthread_mutex_lock(&pyf_mu);
    /* relaxed: only read by pyf_trylock's self-check on this same thread */
    atomic_store_explicit(&x_pyf_owner, sys_gettid(), memory_order_relaxed);
}

bool pyf_trylock(uint64_t wait_ns)
{
    /* relaxed: a thread only ever finds its own tid here if it set it
     * itself (a signal handler that allocates while this thread walks) */
    pid_t me = sys_gettid();
    if (atomic_load_explicit(&x_pyf_owner, memory_order_relaxed) == me)
        return false;
    if (pthread_mutex_trylock(&pyf_mu) != 0) {
        /* a futex wait with a deadline: no allocation, no signal */
        uint64_t until = sys_now_ns() + wait_ns;
        struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
        if (pthread_mutex_clocklock(&pyf_mu, CLOCK_MONOTONIC, &ts) != 0)
            return false;
    }
    atomic_store_explicit(&x_pyf_owner, me, memory_order_relaxed); /* see pyf_lock */
    return true;
}

void pyf_unlock(void)
{
    atomic_store_explicit(&x_pyf_owner, 0, memory_order_relaxed); /* see pyf_lock */
    pthread_mutex_unlock(&pyf_mu);
}

void pyf_child(void)
{
    /* the fork happened with pyf_mu held by the forking thread (fk_before) */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&pyf_mu, &fresh, sizeof fresh);
    atomic_store_explicit(&x_pyf_owner, 0, memory_order_relaxed); /* single-threaded child */
}

const void *pyf_self_tstate(void)
{
    /* reads a pthread TSS key: no allocation, no GIL */
    return pyf_gil_tstate ? (const void *)pyf_gil_tstate() : NULL;
}

/* The code object head (everything before the code units), read in one call. */
typedef union {
    PyCodeObject co;
    char raw[sizeof(PyCodeObject)];
} pyf_codebuf_t;
#define PYF_CODE_HEAD offsetof(PyCodeObject, co_code_adaptive)

/* Marks the code units that start an instruction of the CALL family.
 * Specialisation rewrites co_code_adaptive in place, but only within an
 * instruction's family, and _PyOpcode_Deopt maps every member back: so the
 * de-specialised opcode at a position never changes, and one scan per code
 * object replaces a read of the opcode on every sample. Inline cache entries
 * are skipped, so they read as "not native": a caller's prev_instr points at
 * its CALL's last cache entry while a Python callee runs (the call was
 * inlined, no C in between) and for the moment after it returns. */
static int pyf_scan_calls(uintptr_t start, size_t n, uint8_t *bits, uint8_t *ops)
{
    _Py_CODEUNIT buf[512];
    size_t skip = 0;
    for (size_t base = 0; base < n; base += 512) {
        size_t m = n - base < 512 ? n - base : 512;
        if (sys_read_safe(buf, (const void *)(start + base * sizeof(_Py_CODEUNIT)),
                          m * sizeof(_Py_CODEUNIT)) != 0)
            return -EFAULT;
        for (size_t i = 0; i < m; i++) {
            if (skip) {
                skip--;
                continue;
            }
            uint8_t op = pyf_opcode_deopt[_Py_OPCODE(buf[i])];
            /* 3.11 has no HAS_CALL flag; these three are the instructions
             * during which a callee's C code runs. PRECALL counts because
             * its specialisations for builtins and method descriptors
             * (PRECALL_NO_KW_BUILTIN_O, ...) make the call themselves and
             * skip the CALL that follows. */
            if (op == PRECALL || op == CALL || op == CALL_FUNCTION_EX)
                bits[(base + i) >> 3] |= (uint8_t)(1u << ((base + i) & 7));
            /* Operators whose work is the operand type's slot: C code for
             * numpy, pandas or torch objects (a @ b, a * b, a[idx],
             * a[idx] = v, a < b, x in a, iteration), the interpreter's own
             * for ints, dicts and lists. Which one it is can only be told
             * from where the thread is running (smp asks nat). LOAD_ATTR
             * is left out: it is everywhere in Python code and rarely
             * slow in C. */
            else if (op == BINARY_OP || op == BINARY_SUBSCR || op == STORE_SUBSCR || op == DELETE_SUBSCR ||
                     op == COMPARE_OP || op == CONTAINS_OP || op == UNARY_NEGATIVE || op == UNARY_INVERT ||
                     op == UNARY_POSITIVE || op == GET_ITER || op == FOR_ITER || op == UNPACK_SEQUENCE)
                ops[(base + i) >> 3] |= (uint8_t)(1u << ((base + i) & 7));
            skip = pyf_opcode_caches[op];
        }
    }
    return 0;
}

/* Length of the bytes object at addr (0 when over cap). Returns 0 or -errno. */
static int pyf_bytes_len(const void *addr, size_t cap, size_t *len)
{
    union {
        PyBytesObject b;
        char raw[sizeof(PyBytesObject)];
    } h;
    if (!addr || sys_read_safe(&h, addr, offsetof(PyBytesObject, ob_sval)) != 0)
        return -EFAULT;
    if (Py_TYPE(&h.b) != pyf_bytes_type || Py_SIZE(&h.b) < 0)
        return -EINVAL;
    *len = (size_t)Py_SIZE(&h.b);
    if (*len > cap)
        *len = 0;
    return 0;
}

/* Whether e is a comprehension, generator expression or lambda: its last
 * qualname part is "<...>" and it is not a module body. Scalene counts such
 * lines in the enclosing named function, so that a function's row is the
 * sum of its lines; the walk finds that function (pyf_sample_once). */
static void pyf_anon(pyf_code_t *e)
{
    const char *q = e->func;
    size_t n = e->func_len, last = 0;
    for (size_t i = 0; i < n; i++)
        if (q[i] == '.')
            last = i + 1;
    e->anon = n - last >= 2 && q[last] == '<' && q[n - 1] == '>' &&
              !(n - last == 8 && memcmp(q + last, "<module>", 8) == 0);
}

/* Fills the empty slot e for the code object at addr whose head is c.
 * Returns 0 or -errno (e stays empty). */
static int pyf_entry_fill(pyf_code_t *e, const void *addr, const PyCodeObject *c)
{
    static char file[PYF_STR_CAP], func[PYF_STR_CAP]; /* sampler-private; too big for its stack */
    ssize_t fl = pyf_read_str(c->co_filename, file, sizeof(file));
    ssize_t ql = pyf_read_str(c->co_qualname, func, sizeof(func));
    size_t lt_len = 0;
    if (fl < 0 || ql < 0 || pyf_bytes_len(c->co_linetable, PYF_TABLE_CAP, &lt_len) != 0)
        return -EFAULT;
    size_t ncode = (size_t)Py_SIZE(c);
    if (ncode > PYF_CODE_CAP)
        lt_len = 0; /* no lines, no CALL bits: keeps every copy bounded */
    size_t nck = lt_len ? ncode / PYF_CK_UNITS + 1 : 0;
    size_t nbits = ncode <= PYF_CODE_CAP ? (ncode + 7) / 8 : 0;
    size_t size = nck * sizeof(pyf_ck_t) + lt_len + 2 * nbits + (size_t)fl + 1 + (size_t)ql + 1;
    char *p = pyf_arena_take(size);
    if (!p)
        return -ENOMEM;
    memset(p, 0, size);
    e->blob = p;
    e->ck = (const pyf_ck_t *)(void *)p; /* first: the arena hands out 16-byte aligned blocks */
    p += nck * sizeof(pyf_ck_t);
    uintptr_t start = (uintptr_t)addr + PYF_CODE_HEAD;
    if (lt_len) {
        if (sys_read_safe(p, (const char *)c->co_linetable + offsetof(PyBytesObject, ob_sval), lt_len) != 0)
            goto fail;
        e->lt = (const uint8_t *)p;
        e->lt_len = lt_len;
        pyf_lt_index(e->lt, lt_len, c->co_firstlineno, (pyf_ck_t *)e->blob, nck);
        p += lt_len;
    }
    if (nbits) {
        if (pyf_scan_calls(start, ncode, (uint8_t *)p, (uint8_t *)p + nbits) != 0)
            goto fail;
        e->calls = (const uint8_t *)p;
        e->ops = (const uint8_t *)p + nbits;
        p += 2 * nbits;
    }
    memcpy(p, file, (size_t)fl);
    e->file = p;
    e->file_len = (size_t)fl;
    p += fl + 1;
    memcpy(p, func, (size_t)ql);
    e->func = p;
    e->func_len = (size_t)ql;
    pyf_anon(e);
    e->addr = (uintptr_t)addr;
    e->filename = (uintptr_t)c->co_filename;
    e->qualname = (uintptr_t)c->co_qualname;
    e->linetable = (uintptr_t)c->co_linetable;
    e->ncode = Py_SIZE(c);
    e->firstlineno = c->co_firstlineno;
    e->code_start = start;
    e->file_id = rec_str_id(e->file, e->file_len);
    e->func_id = rec_str_id(e->func, e->func_len);
    e->in_scope = pyf_scope ? pyf_scope(e->file, e->file_len) : true;
    e->memo_off = PTRDIFF_MIN;
    e->blob_size = size;
    return 0;
fail:
    memset(e, 0, sizeof(*e));
    return -EFAULT;
}

static size_t pyf_hash(uintptr_t a)
{
    /* Code objects are 16-byte aligned and close together: mix the bits. */
    return (size_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> 40);
}

/* The cache entry of the code object at addr, filled on a miss; NULL if the
 * object cannot be read, is not a code object, or every slot it may take is
 * pinned. One read of the object on the first hit of a sample; none on the
 * next ones (recursion), as live frames keep it alive meanwhile. */
static pyf_code_t *pyf_code_lookup(const void *addr)
{
    if (!addr)
        return NULL;
    size_t h = pyf_hash((uintptr_t)addr);
    for (size_t i = 0; i < PYF_CACHE_PROBE; i++) {
        pyf_code_t *e = &pyf_cache[(h + i) & (PYF_CACHE_SLOTS - 1)];
        if (e->addr == (uintptr_t)addr && e->checked == pyf_gen)
            return e;
    }
    pyf_codebuf_t b;
    if (sys_read_safe(&b, addr, PYF_CODE_HEAD) != 0)
        return NULL;
    const PyCodeObject *c = &b.co;
    if (Py_TYPE(c) != pyf_code_type)
        return NULL;
    pyf_code_t *slot = NULL, *victim = NULL;
    for (size_t i = 0; i < PYF_CACHE_PROBE; i++) {
        pyf_code_t *e = &pyf_cache[(h + i) & (PYF_CACHE_SLOTS - 1)];
        if (e->addr == (uintptr_t)addr) {
            if (e->filename == (uintptr_t)c->co_filename && e->qualname == (uintptr_t)c->co_qualname &&
                e->linetable == (uintptr_t)c->co_linetable && e->firstlineno == c->co_firstlineno &&
                e->ncode == Py_SIZE(c)) {
                e->checked = pyf_gen;
                return e;
            }
            if (e->pinned == pyf_gen)
                return NULL; /* the same address changed within one walk */
            pyf_entry_drop(e); /* freed, and the address reused */
            slot = e;
            break;
        }
        if (!e->addr && !slot)
            slot = e;
        if (e->addr && e->pinned != pyf_gen && !victim)
            victim = e;
    }
    if (!slot) {
        if (!victim)
            return NULL;
        pyf_entry_drop(victim); /* collision: evict */
        slot = victim;
    }
    if (pyf_entry_fill(slot, addr, c) != 0)
        return NULL;
    slot->checked = pyf_gen;
    return slot;
}

/* ---- the walk ---- */

#define PYF_FRAME_HEAD offsetof(_PyInterpreterFrame, localsplus)
#define PYF_WINDOW 8192 /* bytes of the frame stack copied at once */

typedef union {
    _PyInterpreterFrame f;
    char raw[sizeof(_PyInterpreterFrame)];
} pyf_framebuf_t;

/* 3.11 pushes frames contiguously on the thread's data stack chunk, the
 * caller below the callee. Past the leaf, the walk copies up to PYF_WINDOW
 * bytes below a frame in one read, so the next callers cost no syscall:
 * one read per frame was most of the cost of a deep walk. Frames elsewhere
 * (generators, older chunks) are read one by one. */
typedef struct pyf_window {
    uintptr_t chunk_lo, top; /* live part of the current chunk, from the tstate */
    uintptr_t lo, hi;        /* what win_buf holds; lo == hi: nothing */
} pyf_window_t;
static _Alignas(16) char pyf_win_buf[PYF_WINDOW]; /* sampler-private */

static int pyf_read_frame(pyf_window_t *w, uintptr_t fp, bool bulk, pyf_framebuf_t *out)
{
    /* fp may come from a torn frame's `previous`: anything, even ~0. Every
     * bound is written so it cannot wrap, and a misaligned pointer is no
     * frame at all. */
    if (fp % sizeof(void *) != 0 || fp > UINTPTR_MAX - PYF_FRAME_HEAD)
        return -EFAULT;
    if (fp < w->lo || fp + PYF_FRAME_HEAD > w->hi) {
        if (!bulk || fp < w->chunk_lo || fp + PYF_FRAME_HEAD > w->top)
            return sys_read_safe(out, (const void *)fp, PYF_FRAME_HEAD);
        uintptr_t hi = fp + PYF_FRAME_HEAD;
        uintptr_t lo = hi - w->chunk_lo > PYF_WINDOW ? hi - PYF_WINDOW : w->chunk_lo;
        if (sys_read_safe(pyf_win_buf, (const void *)lo, hi - lo) != 0) {
            w->lo = w->hi = 0;
            return sys_read_safe(out, (const void *)fp, PYF_FRAME_HEAD);
        }
        w->lo = lo;
        w->hi = hi;
    }
    memcpy(out, pyf_win_buf + (fp - w->lo), PYF_FRAME_HEAD);
    return 0;
}

static ptrdiff_t pyf_offset(const pyf_code_t *e, const _PyInterpreterFrame *f)
{
    /* In code units; -1 when the frame has not run its first instruction. */
    return ((intptr_t)f->prev_instr - (intptr_t)e->code_start) / (ptrdiff_t)sizeof(_Py_CODEUNIT);
}

static void pyf_fill(pyf_loc_t *loc, pyf_code_t *e, ptrdiff_t off)
{
    e->pinned = pyf_gen;
    loc->file_id = e->file_id;
    loc->func_id = e->func_id;
    loc->file = e->file;
    loc->func = e->func;
    loc->file_len = e->file_len;
    loc->func_len = e->func_len;
    loc->func_line = (uint32_t)e->firstlineno;
    loc->line = pyf_line(e, off);
}

/* The thread state fields the walk needs, cframe .. datastack_top, in one read. */
#define PYF_TS_LO offsetof(PyThreadState, cframe)
#define PYF_RETRIES 8
#define PYF_TS_HI (offsetof(PyThreadState, datastack_top) + sizeof(PyObject **))
_Static_assert(offsetof(PyThreadState, datastack_chunk) > PYF_TS_LO, "tstate field order");

/* One attempt. *torn is set when the thread had a frame but the walk could
 * not name it: the leaf was popped and its memory reused between our reads. */
static int pyf_sample_once(const void *tstate, pyf_loc_t *loc, bool *torn, pyf_frame_t *stack, int stack_max)
{
    memset(loc, 0, sizeof(*loc));
    loc->stack = stack;
    loc->stack_max = stack_max;
    *torn = false;
    if (!pyf_runtime)
        return -ENOENT;
    if (!pyf_cache) {
        pyf_cache = pyf_map(PYF_CACHE_SLOTS * sizeof(*pyf_cache));
        pyf_arena = pyf_map(PYF_CACHE_BUDGET);
        if (!pyf_cache || !pyf_arena)
            return -ENOMEM;
    }
    /* Flush here, not in a fill, where it would free what loc points to. */
    if (pyf_flush_due)
        pyf_reset();
    if (++pyf_gen == 0)
        pyf_gen = 1; /* 0 is the "never" of a fresh slot */
    union {
        PyThreadState ts;
        char raw[sizeof(PyThreadState)];
    } t;
    /* tstate->cframe points into the thread's C stack: every call that
     * enters a new eval loop (a dunder method called from a C slot, say)
     * pushes one and pops it on return, within a microsecond. Read the
     * pointer, then the frame through it, then the pointer again: if it
     * moved, the frame may be garbage from a popped C frame, so read again.
     * Without this a program of small dunder methods loses a quarter of its
     * samples as "no frame". */
    _PyInterpreterFrame *cur = NULL;
    _PyCFrame cfb;
    for (int tries = 0;; tries++) {
        if (!tstate || sys_read_safe(t.raw + PYF_TS_LO, (const char *)tstate + PYF_TS_LO, PYF_TS_HI - PYF_TS_LO) != 0)
            return -EFAULT;
        if (!t.ts.cframe)
            return 0; /* a thread state that never ran: no frame */
        _PyCFrame *cf = t.ts.cframe, *again = NULL;
        if (sys_read_safe(&cfb, cf, sizeof cfb) != 0)
            memset(&cfb, 0, sizeof cfb);
        cur = cfb.current_frame;
        if (sys_read_safe(&again, (const char *)tstate + offsetof(PyThreadState, cframe), sizeof again) != 0)
            return -EFAULT;
        if (again == cf && (cur || tries > 0))
            break;
        if (tries == PYF_RETRIES)
            return -EAGAIN;
    }
    /* An eval loop that C code enters publishes its _PyCFrame (a local of
     * _PyEval_EvalFrameDefault) in tstate->cframe a moment before it sets
     * its current_frame: read in that moment, current_frame is whatever an
     * earlier call left on the C stack, a frame long popped, and the walk
     * from it names stale frames and ends early (sympy: one sample in ten
     * had a one-frame stack). A true chain passes through the frame that
     * was current when that eval loop was entered (the entry frame's
     * caller): `until` is that frame, and a walk that never meets it is
     * torn. NULL: this is the thread's outermost eval loop. */
    uintptr_t until = 0;
    /* the thread's root _PyCFrame (in its tstate) never holds a frame:
     * the outermost eval loop needs no read */
    if (cfb.previous && (const char *)cfb.previous != (const char *)tstate + offsetof(PyThreadState, root_cframe)) {
        _PyInterpreterFrame *pf = NULL;
        if (PYF_READ_FIELD(pf, _PyCFrame, cfb.previous, current_frame) != 0)
            return -EFAULT;
        until = (uintptr_t)pf;
    }
    bool met = until == 0;
    pyf_window_t w = {0};
    if (t.ts.datastack_chunk) {
        w.chunk_lo = (uintptr_t)t.ts.datastack_chunk + offsetof(_PyStackChunk, data);
        w.top = (uintptr_t)t.ts.datastack_top;
    }
    uintptr_t fp = (uintptr_t)cur;
    bool leaf = true, broke = false;
    char owner = FRAME_OWNED_BY_THREAD;
    const pyf_code_t *anon = NULL; /* the in-scope frame, while its function is still to be found */
    for (int depth = 0; fp && depth < PYF_MAX_DEPTH; depth++) {
        pyf_framebuf_t b;
        /* The leaf alone is one small read: often it is all the walk needs. */
        if (pyf_read_frame(&w, fp, !leaf, &b) != 0) {
            broke = true; /* popped under us */
            break;
        }
        if (fp == until)
            met = true;
        fp = (uintptr_t)b.f.previous;
        owner = b.f.owner;
        pyf_code_t *e = pyf_code_lookup(b.f.f_code);
        if (!e)
            continue;
        ptrdiff_t off = pyf_offset(e, &b.f);
        if (anon && !e->anon && e->file_id == anon->file_id) {
            /* the named function (or module body) the comprehension, generator
             * expression or lambda runs in: the caller that is in the same
             * file, as Scalene finds it. Usually the lexical parent itself. */
            e->pinned = pyf_gen;
            loc->func_id = e->func_id;
            loc->func = e->func;
            loc->func_len = e->func_len;
            loc->func_line = (uint32_t)e->firstlineno;
            anon = NULL;
            if (!stack && met)
                break;
        }
        if (stack) {
            if (loc->stack_n < stack_max) {
                e->pinned = pyf_gen; /* its strings are the caller's until the next walk */
                stack[loc->stack_n++] = (pyf_frame_t){e->file_id, e->func_id, e->file,     e->func,
                                                      e->file_len, e->func_len, pyf_line(e, off),
                                                      (uint32_t)e->firstlineno};
            } else {
                loc->stack_cut = true;
            }
        }
        bool was_leaf = leaf;
        if (leaf) {
            leaf = false;
            loc->has_frame = true;
            bool in_code = off >= 0 && off < e->ncode;
            loc->native = e->calls && in_code && ((e->calls[off >> 3] >> (off & 7)) & 1);
            loc->op = e->ops && in_code && ((e->ops[off >> 3] >> (off & 7)) & 1);
            if (!e->in_scope)
                pyf_fill(loc, e, off); /* the answer if no frame is in scope */
        }
        if (e->in_scope && !loc->in_scope) {
            pyf_fill(loc, e, off);
            loc->in_scope = true;
            loc->leaf_in_scope = was_leaf;
            anon = e->anon ? e : NULL;
            if (!stack && !anon && met)
                break;
        }
    }
    /* The outermost frame of a thread is its own (owned by the thread) and
     * has no caller. A walk that ends at a generator's frame with no caller
     * read it after it was suspended (it yielded under us: its `previous`
     * is cleared then), so the callers are missing, and with them,
     * perhaps, the program's own frame. */
    bool short_end = !fp && !broke && (owner != FRAME_OWNED_BY_THREAD || !met);
    if ((fp || short_end) && stack)
        loc->stack_cut = true; /* deeper than PYF_MAX_DEPTH, or the walk broke */
    /* a walk that lost its way before an in-scope frame may have missed
     * one; a stack that lost its way is worth another try */
    *torn = cur != NULL &&
            (!loc->has_frame || ((!loc->in_scope || stack) && (broke || short_end)));
    return 0;
}

int pyf_sample(const void *tstate, pyf_loc_t *loc) { return pyf_sample_stack(tstate, loc, NULL, 0); }

int pyf_sample_stack(const void *tstate, pyf_loc_t *loc, pyf_frame_t *stack, int stack_max)
{
    /* A program of tiny functions (dunder methods called from C slots)
     * pushes and pops frames every microsecond, faster than our reads: a
     * frame read after its pop shows another frame's half-written bytes.
     * Such a walk names nothing; try again, a few times. */
    bool torn = false;
    for (int tries = 0; tries < PYF_RETRIES; tries++) {
        int rc = pyf_sample_once(tstate, loc, &torn, stack, stack_max);
        if (rc != 0 || !torn)
            return rc;
    }
    /* Still torn: keep the last walk if it named a frame (its stack is
     * marked cut), rather than lose the sample; the caller decides. A
     * thread preempted while its eval loop holds its newest frame pointer
     * in a register (the compiler may delay the store to the _PyCFrame
     * until the next call) shows a popped frame for as long as it stays
     * off the CPU, so every retry fails the same way. */
    loc->torn = true;
    return loc->has_frame ? 0 : -EAGAIN;
}
