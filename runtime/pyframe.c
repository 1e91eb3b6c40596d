/* SPDX-License-Identifier: Apache-2.0
 * pyframe.c — reads CPython's thread states and frames from the sampler
 * thread, without the GIL and without the Python C API (see pyframe.h).
 * This file is the only one that knows CPython's layouts, and it includes
 * no Python header: the offsets it reads come from pyframe_versions.inc,
 * generated once per CPython minor version from that version's internal
 * headers (tools/gen_pyframe_versions.py), and pyf_init() picks the entry
 * of the interpreter that loaded us. For 3.13 and later the interpreter
 * publishes its own offsets (_Py_DebugOffsets, at the start of _PyRuntime):
 * the entry is checked against them, so a layout we do not know is refused,
 * never read as garbage.
 *
 * The version differences the walk knows (docs/ARCHITECTURE.md has the table):
 *   frames  3.8-3.10 heap PyFrameObject chain (tstate->frame, f_back, f_lasti);
 *           3.11-3.12 _PyInterpreterFrame via tstate->cframe->current_frame,
 *           prev_instr; 3.12 adds C-stack shim frames (owner CSTACK) to skip;
 *           3.13 tstate->current_frame, f_executable, instr_ptr (the current
 *           instruction, not the previous one)
 *   lines   3.8-3.9 co_lnotab; 3.10 PEP 626 co_linetable; 3.11+ location table
 *   code    3.8-3.10 co_code bytes, no specialisation; 3.11+ co_code_adaptive
 *           with inline caches and specialised opcodes (deopt tables)
 *   names   3.8-3.10 co_name (no co_qualname); 3.11+ co_qualname
 *   threads 3.11+ native_thread_id; before, only thread_id (a pthread_t):
 *           the tid is read from glibc's struct pthread (pyf_tid_off)
 *   str     3.8-3.11 PyASCIIObject with wstr and a `ready` bit; 3.12+ without
 *
 * Every read of interpreter memory is sys_read_safe(): the other thread
 * keeps running, so any pointer we follow may be stale by the time we read
 * it; a stale read gives -EFAULT or garbage that the type checks below
 * reject, never SIGSEGV.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ---- the layouts ---- */

enum { PYF_FRAMES_OBJECT = 1, PYF_FRAMES_INTERP };                    /* frame chain */
enum { PYF_TS_FRAME = 1, PYF_TS_CFRAME, PYF_TS_CURRENT_FRAME };        /* tstate -> leaf frame */
enum { PYF_INSTR_LASTI_BYTES = 1, PYF_INSTR_LASTI_UNITS, PYF_INSTR_PREV, PYF_INSTR_NEXT };
enum { PYF_LINES_LNOTAB = 1, PYF_LINES_PEP626, PYF_LINES_LOCATIONS }; /* line table format */

/* Byte offsets of the fields the walk reads, in one CPython minor version
 * (x86-64/aarch64 LP64). Generated: see pyframe_versions.inc. */
typedef struct pyf_layout {
    uint32_t hex; /* 0x030X0000 */
    /* _PyRuntime -> interpreters.main / .head; PyInterpreterState -> threads.head */
    uint32_t rt_main, rt_head, is_threads;
    uint32_t rt_ready; /* 3.8: _PyRuntime.initialized, which pyf_ready also waits for; 0: none */
    /* PyThreadState; ts_native_tid 0: none (before 3.11); ts_chunk 0: no data stack */
    uint16_t ts_next, ts_interp, ts_thread_id, ts_native_tid, ts_chunk, ts_top, chunk_data;
    uint8_t frames, ts_cur, instr, lines, code_inline;
    uint16_t ts_frame;   /* frame, cframe or current_frame, as ts_cur says */
    uint16_t cf_current, cf_previous, cf_size; /* _PyCFrame: current_frame, previous; its size */
    uint16_t ts_root_cframe; /* PyThreadState.root_cframe (3.11-3.12) */
    /* frame: bytes read per frame, and its fields; fr_owner 0: no owner field */
    uint16_t fr_head, fr_previous, fr_code, fr_instr, fr_owner;
    uint8_t owner_generator, owner_frame_object, owner_cstack; /* FRAME_OWNED_BY_* (3.11+) */
    /* code object; co_code: the code units (inline) or the co_code bytes object */
    uint16_t co_filename, co_firstlineno, co_name, co_linetable, co_code, co_head;
    /* str: PyASCIIObject/PyCompactUnicodeObject sizes and fields, state bits */
    uint16_t str_ascii_size, str_compact_size, str_length, str_state, str_utf8_length, str_utf8, str_data;
    uint32_t str_kind_mask, str_kind_shift, str_compact_bit, str_ascii_bit, str_ready_bit;
    uint16_t bytes_data, var_size, ob_type;
    /* per opcode (specialised forms folded into their base): inline cache
     * units that follow it, and bit sets of the calls and the operators */
    uint8_t caches[256];
    uint8_t calls[32], ops[32];
} pyf_layout_t;

static const pyf_layout_t pyf_layouts[] = {
#include "pyframe_versions.inc"
};

#define PYF_MAX_DEPTH 256
#define PYF_CACHE_SLOTS 4096u        /* power of two */
#define PYF_CACHE_PROBE 4u           /* slots tried before evicting */
#define PYF_STR_CAP REC_STR_MAX      /* bytes of UTF-8 kept per name */
#define PYF_TABLE_CAP (1u << 20)     /* bytes of co_linetable kept */
#define PYF_CODE_CAP (1u << 20)      /* code units scanned for CALLs */
#define PYF_CACHE_BUDGET (64u << 20) /* arena bytes for copies; full arena: flush */
#define PYF_HEAD_MAX 256             /* bytes of a code object, frame or tstate read at once */
#define PYF_TID_SCAN 2048            /* bytes of glibc's struct pthread searched for the tid */

/* Line-table resume point: the parser state at the entry that covers code
 * unit k * PYF_CK_UNITS, so a lookup parses at most that many units' worth
 * of entries (a module body's table can be tens of KiB). */
#define PYF_CK_UNITS 256
typedef struct pyf_ck {
    uint32_t i;  /* byte index of the entry in co_linetable */
    uint32_t at; /* first code unit of the entry */
    int32_t line; /* line state before the entry is applied */
} pyf_ck_t;

/* One code object as the sampler last saw it. The key is its address; the
 * check fields catch a code object freed and another allocated at the same
 * address (a frame holds a reference while it runs, but nothing holds one
 * between two samples). */
typedef struct pyf_code {
    uintptr_t addr; /* 0: empty slot */
    /* check fields, compared on every hit */
    uintptr_t filename, qualname, linetable, code_obj; /* code_obj: co_code (3.8-3.10), else 0 */
    ptrdiff_t ncode; /* number of code units */
    int firstlineno;
    /* copies, all in one arena block (blob) */
    uintptr_t code_start; /* address of code unit 0 */
    void *blob; /* in pyf_arena; freed only by a whole-cache flush */
    size_t blob_size;
    const char *file, *func; /* UTF-8, NUL-terminated for the scope callback */
    size_t file_len, func_len;
    uint64_t file_id, func_id;
    const uint8_t *lt; /* line table bytes; NULL when too big to keep, or empty */
    size_t lt_len;
    bool one_line; /* 3.8-3.9: an empty co_lnotab, every unit on co_firstlineno */
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
static const pyf_layout_t *L; /* the host's layout; NULL: not read */
static const char *pyf_runtime;
static uintptr_t pyf_code_type, pyf_unicode_type, pyf_bytes_type, pyf_frame_type;
static uint32_t pyf_hexversion;
static pyf_scope_fn pyf_scope;
static void *(*pyf_gil_tstate)(void); /* PyGILState_GetThisThreadState */
/* 3.8-3.10: offset of the kernel tid in glibc's struct pthread (a
 * thread_id is a pthread_t, the address of that struct); -1: unknown.
 * Found by pyf_init() in its own thread, confirmed by the first
 * pyf_threads() in the sampler's (x_pyf_tid_ok: relaxed, only ever
 * read and written by the thread that calls pyf_threads). */
static int pyf_tid_off = -1;
static bool pyf_tid_ok;

/* Guarded by pyf_mu: only pyf_sample() and pyf_reset() touch them. */
static pthread_mutex_t pyf_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic pid_t x_pyf_owner; /* tid holding pyf_mu, 0 if none */
static pyf_code_t *pyf_cache;
static char *pyf_arena;       /* PYF_CACHE_BUDGET bytes, mmap'd on first use */
static size_t pyf_cache_bytes; /* arena bytes handed out since the last flush */
static bool pyf_flush_due;     /* the arena ran out during a fill */
static _Alignas(4) uint8_t pyf_scratch[PYF_STR_CAP * 4]; /* raw str data (UCS-1/2/4) before encoding */

/* Fields of a copied struct, by offset. */
static inline uintptr_t pyf_ptr(const void *buf, size_t off)
{
    uintptr_t v;
    memcpy(&v, (const char *)buf + off, sizeof v);
    return v;
}
static inline int32_t pyf_i32(const void *buf, size_t off)
{
    int32_t v;
    memcpy(&v, (const char *)buf + off, sizeof v);
    return v;
}
static inline int64_t pyf_i64(const void *buf, size_t off)
{
    int64_t v;
    memcpy(&v, (const char *)buf + off, sizeof v);
    return v;
}

/* Reads the pointer at remote address a + off. Returns 0 or -EFAULT. */
static int pyf_read_ptr(uintptr_t a, size_t off, uintptr_t *out)
{
    return sys_read_safe(out, (const void *)(a + off), sizeof *out);
}

/* PY_VERSION_HEX from "3.9.18 (main, ...)": Py_Version is new in 3.11.
 * The release level is not in the string: say final. */
static uint32_t pyf_parse_version(const char *s)
{
    unsigned maj = 0, min = 0, mic = 0;
    if (!s || sscanf(s, "%u.%u.%u", &maj, &min, &mic) < 2 || maj > 255 || min > 255 || mic > 255)
        return 0;
    return (maj << 24) | (min << 16) | (mic << 8) | 0xF0u;
}

/* _Py_DebugOffsets as 3.13 lays it out (its version field says which
 * interpreter wrote it): the first fields, up to the str object's. */
typedef struct pyf_dbg {
    char cookie[8];
    uint64_t version, free_threaded;
    uint64_t rt_size, rt_finalizing, rt_interpreters_head;
    uint64_t is_size, is_id, is_next, is_threads_head, is_gc, is_imports_modules, is_sysdict, is_builtins,
        is_ceval_gil, is_gil_runtime_state, is_gil_enabled, is_gil_locked, is_gil_holder;
    uint64_t ts_size, ts_prev, ts_next, ts_interp, ts_current_frame, ts_thread_id, ts_native_thread_id,
        ts_datastack_chunk, ts_status;
    uint64_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_localsplus, fr_owner;
    uint64_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_argcount,
        co_localsplusnames, co_localspluskinds, co_code_adaptive;
    uint64_t ob_size, ob_type;
    uint64_t tp_size, tp_name, tp_repr, tp_flags;
    uint64_t tuple_size, tuple_ob_item, tuple_ob_size;
    uint64_t list_size, list_ob_item, list_ob_size;
    uint64_t dict_size, dict_ma_keys, dict_ma_values;
    uint64_t float_size, float_ob_fval;
    uint64_t long_size, long_lv_tag, long_ob_digit;
    uint64_t bytes_size, bytes_ob_size, bytes_ob_sval;
    uint64_t str_size, str_state, str_length, str_asciiobject_size;
} pyf_dbg_t;

/* Checks the layout l against the interpreter's own offsets (3.13+).
 * Returns 0, or -ENOTSUP naming the first field that differs in *what. */
static int pyf_check_debug_offsets(const void *rt, const pyf_layout_t *l, const char **what)
{
    pyf_dbg_t d;
    if (sys_read_safe(&d, rt, sizeof d) != 0)
        return *what = "_PyRuntime unreadable", -ENOTSUP;
    if (memcmp(d.cookie, "xdebugpy", 8) != 0)
        return *what = "no _Py_DebugOffsets cookie", -ENOTSUP;
    if ((d.version >> 16) != (l->hex >> 16))
        return *what = "_Py_DebugOffsets.version", -ENOTSUP;
    if (d.free_threaded)
        return *what = "free-threaded build", -ENOTSUP;
    const struct {
        uint64_t theirs, ours;
        const char *name;
    } f[] = {
        {d.rt_interpreters_head, l->rt_head, "interpreters.head"},
        {d.is_threads_head, l->is_threads, "threads.head"},
        {d.ts_next, l->ts_next, "tstate.next"},
        {d.ts_interp, l->ts_interp, "tstate.interp"},
        {d.ts_current_frame, l->ts_frame, "tstate.current_frame"},
        {d.ts_thread_id, l->ts_thread_id, "tstate.thread_id"},
        {d.ts_native_thread_id, l->ts_native_tid, "tstate.native_thread_id"},
        {d.ts_datastack_chunk, l->ts_chunk, "tstate.datastack_chunk"},
        {d.fr_previous, l->fr_previous, "frame.previous"},
        {d.fr_executable, l->fr_code, "frame.f_executable"},
        {d.fr_instr_ptr, l->fr_instr, "frame.instr_ptr"},
        {d.fr_localsplus, l->fr_head, "frame.localsplus"},
        {d.fr_owner, l->fr_owner, "frame.owner"},
        {d.co_filename, l->co_filename, "code.co_filename"},
        {d.co_qualname, l->co_name, "code.co_qualname"},
        {d.co_linetable, l->co_linetable, "code.co_linetable"},
        {d.co_firstlineno, l->co_firstlineno, "code.co_firstlineno"},
        {d.co_code_adaptive, l->co_code, "code.co_code_adaptive"},
        {d.ob_type, l->ob_type, "ob_type"},
        {d.bytes_ob_size, l->var_size, "bytes.ob_size"},
        {d.bytes_ob_sval, l->bytes_data, "bytes.ob_sval"},
        {d.str_state, l->str_state, "str.state"},
        {d.str_length, l->str_length, "str.length"},
        {d.str_asciiobject_size, l->str_ascii_size, "sizeof(PyASCIIObject)"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].theirs != f[i].ours)
            return *what = f[i].name, -ENOTSUP;
    /* interpreters.main is not published: it follows head in every version */
    if (l->rt_main != l->rt_head + sizeof(void *))
        return *what = "interpreters.main", -ENOTSUP;
    return 0;
}

/* Finds the tid field of glibc's struct pthread: the calling thread's own
 * tid, searched for in its own struct (austin does the same). */
static int pyf_find_tid_off(void)
{
    const char *self = (const char *)pthread_self();
    pid_t me = sys_gettid();
    for (int off = 0; off + (int)sizeof(pid_t) <= PYF_TID_SCAN; off += (int)sizeof(pid_t)) {
        pid_t v;
        if (sys_read_safe(&v, self + off, sizeof v) != 0)
            break;
        if (v == me)
            return off;
    }
    return -1;
}

static const char *pyf_refusal = "";

int pyf_check_offsets(const void *dbg, const char **what)
{
    *what = "";
    if (!L)
        return -ENOENT;
    return L->hex >= 0x030D0000u ? pyf_check_debug_offsets(dbg, L, what) : 0;
}

int pyf_init(pyf_scope_fn scope)
{
    void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!rt)
        return -ENOENT; /* sh, gzip: not a Python process */
    const unsigned long *ver = dlsym(RTLD_DEFAULT, "Py_Version"); /* 3.11+ */
    const char *(*get_version)(void);
    *(void **)&get_version = dlsym(RTLD_DEFAULT, "Py_GetVersion");
    pyf_hexversion = ver ? (uint32_t)*ver : get_version ? pyf_parse_version(get_version()) : 0;
    void *code = dlsym(RTLD_DEFAULT, "PyCode_Type");
    void *uni = dlsym(RTLD_DEFAULT, "PyUnicode_Type");
    void *bytes = dlsym(RTLD_DEFAULT, "PyBytes_Type");
    void *frame = dlsym(RTLD_DEFAULT, "PyFrame_Type");
    if (!code || !uni || !bytes || !pyf_hexversion)
        return -ENOENT;
    if (pyf_hexversion < REC_PY_MIN_HEX || pyf_hexversion > REC_PY_MAX_HEX)
        return pyf_refusal = "version out of range", -ENOTSUP;
    const pyf_layout_t *l = NULL;
    for (size_t i = 0; i < sizeof pyf_layouts / sizeof pyf_layouts[0]; i++)
        if (pyf_layouts[i].hex >> 16 == pyf_hexversion >> 16)
            l = &pyf_layouts[i];
    if (!l)
        return pyf_refusal = "no layout for this version", -ENOTSUP;
    /* Py_GIL_DISABLED: 3.13t exports this refcount helper only there */
    if (dlsym(RTLD_DEFAULT, "_Py_MergeZeroLocalRefcount"))
        return pyf_refusal = "free-threaded build", -ENOTSUP;
    if (l->hex >= 0x030D0000u) {
        int rc = pyf_check_debug_offsets(rt, l, &pyf_refusal);
        if (rc != 0)
            return rc;
    }
    if (!l->ts_native_tid) {
        pyf_tid_off = pyf_find_tid_off();
        if (pyf_tid_off < 0)
            return pyf_refusal = "no tid in struct pthread", -ENOTSUP;
    }
    if (l->co_head > PYF_HEAD_MAX || l->fr_head > PYF_HEAD_MAX)
        return pyf_refusal = "layout too big", -ENOTSUP;
    pyf_runtime = rt;
    *(void **)&pyf_gil_tstate = dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    pyf_code_type = (uintptr_t)code;
    pyf_unicode_type = (uintptr_t)uni;
    pyf_bytes_type = (uintptr_t)bytes;
    pyf_frame_type = (uintptr_t)frame;
    pyf_scope = scope;
    L = l;
    return 0;
}

uint32_t pyf_version(void) { return pyf_hexversion; }

const char *pyf_why_not(void) { return pyf_refusal; }

static uintptr_t pyf_main_interp(void)
{
    uintptr_t main = 0;
    if (!L || pyf_read_ptr((uintptr_t)pyf_runtime, L->rt_main, &main) != 0)
        return 0;
    return main;
}

bool pyf_ready(void)
{
    uintptr_t interp = pyf_main_interp(), head = 0;
    if (!interp || pyf_read_ptr(interp, L->is_threads, &head) != 0)
        return false;
    if (L->rt_ready) {
        /* 3.8 creates the pending-call lock (runtime-wide then) after the
         * first thread state: Py_AddPendingCall (fk_py_boot, on ready)
         * before that took a NULL lock and crashed the program at start.
         * Once the core is up, fk_py_boot's call imports atexit and os; run
         * while importlib set up its external importers, that nested import
         * broke the outer one's module lock (KeyError, "init_importlib_external
         * failed": 1 spawned child in 6). So: the whole interpreter is up. */
        int32_t core = 0;
        if (sys_read_safe(&core, pyf_runtime + L->rt_ready, sizeof core) != 0 || !core)
            return false;
    }
    return head != 0;
}

/* The kernel tid of the thread whose pthread_t is pt (3.8-3.10), 0 if
 * unknown or the thread has exited (the kernel clears the field). */
static pid_t pyf_tid_of(uintptr_t pt)
{
    pid_t tid = 0;
    if (pyf_tid_off < 0 || !pt || sys_read_safe(&tid, (const char *)pt + pyf_tid_off, sizeof tid) != 0)
        return 0;
    return tid > 0 ? tid : 0;
}

int pyf_threads(pyf_thread_t *out, int max)
{
    uintptr_t interp = pyf_main_interp(), t = 0;
    if (!interp || max <= 0 || pyf_read_ptr(interp, L->is_threads, &t) != 0)
        return 0;
    if (!L->ts_native_tid && !pyf_tid_ok) {
        /* the offset found in pyf_init's thread must hold in this one too */
        if (pyf_tid_of((uintptr_t)pthread_self()) != sys_gettid())
            pyf_tid_off = pyf_find_tid_off();
        pyf_tid_ok = pyf_tid_off >= 0;
        if (!pyf_tid_ok)
            return 0;
    }
    size_t tid_at = L->ts_native_tid ? L->ts_native_tid : L->ts_thread_id;
    size_t len = tid_at + sizeof(uintptr_t);
    if (L->ts_frame + sizeof(uintptr_t) > len)
        len = L->ts_frame + sizeof(uintptr_t);
    int n = 0;
    /* A list that cycles (read while a thread state was freed and reused)
     * ends at the cap; the sampler only loses this tick. */
    for (int hops = 0; t && n < max && hops < 4 * max; hops++) {
        _Alignas(8) char b[PYF_HEAD_MAX];
        if (len > sizeof b || sys_read_safe(b, (const void *)t, len) != 0 || pyf_ptr(b, L->ts_interp) != interp)
            return 0; /* freed under us */
        pid_t tid;
        if (L->ts_native_tid) {
            /* 0 until the thread binds its state (threading.Thread before run). */
            tid = (pid_t)pyf_ptr(b, L->ts_native_tid);
        } else {
            /* thread_id is the creating thread's until the new thread runs
             * (3.8-3.10 create a thread's state in its parent): the same
             * tid twice, and the state without a frame is not the thread's */
            tid = pyf_tid_of(pyf_ptr(b, L->ts_thread_id));
            bool has_frame = pyf_ptr(b, L->ts_frame) != 0;
            for (int k = 0; tid && k < n; k++) {
                if (out[k].tid != tid)
                    continue;
                if (has_frame)
                    out[k].tstate = (const void *)t;
                tid = 0;
            }
        }
        if (tid != 0) {
            out[n].tid = tid;
            out[n].tstate = (const void *)t;
            n++;
        }
        t = pyf_ptr(b, L->ts_next);
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
static ssize_t pyf_read_str(uintptr_t addr, char *dst, size_t cap)
{
    _Alignas(8) char h[128];
    size_t hl = L->str_compact_size > L->str_data + sizeof(void *) ? L->str_compact_size : L->str_data + sizeof(void *);
    if (!addr || hl > sizeof h || sys_read_safe(h, (const void *)addr, L->str_ascii_size) != 0)
        return -EFAULT;
    uint32_t state;
    memcpy(&state, h + L->str_state, sizeof state);
    int64_t length = pyf_i64(h, L->str_length);
    if (pyf_ptr(h, L->ob_type) != pyf_unicode_type || length < 0 || (L->str_ready_bit && !(state & L->str_ready_bit)))
        return -EINVAL; /* not a str, or a legacy str without canonical data */
    bool compact = (state & L->str_compact_bit) != 0, ascii = (state & L->str_ascii_bit) != 0;
    size_t n = (size_t)length;
    if (ascii && compact) {
        n = n < cap ? n : cap;
        if (sys_read_safe(dst, (const char *)addr + L->str_ascii_size, n) != 0)
            return -EFAULT;
        return (ssize_t)n;
    }
    uintptr_t data;
    if (sys_read_safe(h, (const void *)addr, compact ? L->str_compact_size : hl) != 0)
        return -EFAULT;
    int64_t utf8_length = pyf_i64(h, L->str_utf8_length);
    uintptr_t utf8 = pyf_ptr(h, L->str_utf8);
    if (compact && utf8 && utf8_length >= 0) {
        /* The UTF-8 form the interpreter may have cached is what we want. */
        size_t m = (size_t)utf8_length < cap ? (size_t)utf8_length : cap;
        if (sys_read_safe(dst, (const void *)utf8, m) != 0)
            return -EFAULT;
        if (m < (size_t)utf8_length) {
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
    data = compact ? addr + L->str_compact_size : pyf_ptr(h, L->str_data);
    unsigned kind = (state & L->str_kind_mask) >> L->str_kind_shift;
    if (kind != 1 && kind != 2 && kind != 4)
        return -EINVAL;
    if (n > cap)
        n = cap; /* every character takes at least one byte of UTF-8 */
    if (n * kind > sizeof(pyf_scratch) || sys_read_safe(pyf_scratch, (const void *)data, n * kind) != 0)
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

/* ---- line tables ----
 * Three formats, one shape: a run of entries, each covering `len` code
 * units with one line. The parser state is the byte index and a line. */

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

/* Decodes the entry at lt[*i] in format fmt: updates the line state *line,
 * sets *at_line to the line of the units it covers, returns their count
 * and leaves *i at the next entry.
 *  3.11+ location table (Objects/locations.md): first byte has bit 7 set;
 *    every later byte of an entry has it clear (varint chunks, column bytes
 *    below 128), so the skip also resynchronises on damage. Code 15 (no
 *    location) keeps the line before: a profile wants a nearby line more
 *    than a lost sample.
 *  3.10 PEP 626 (Objects/lnotab_notes.txt): (bytes, signed line delta)
 *    pairs; the delta applies to the range itself, -128: no line (kept).
 *  3.8-3.9 co_lnotab: (bytes, signed line delta) pairs; the range has the
 *    line before the delta, which applies to what follows. */
static unsigned pyf_lt_entry(int fmt, const uint8_t *lt, size_t n, size_t *i, int64_t *line, int64_t *at_line)
{
    if (fmt != PYF_LINES_LOCATIONS) {
        if (*i + 2 > n) {
            *i = n;
            *at_line = *line;
            return 0;
        }
        unsigned len = lt[*i] / 2u;
        int8_t d = (int8_t)lt[*i + 1];
        *i += 2;
        if (fmt == PYF_LINES_LNOTAB) {
            *at_line = *line;
            *line += d;
        } else {
            if (d != -128)
                *line += d;
            *at_line = *line;
        }
        return len;
    }
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
    *at_line = *line;
    return (b & 7) + 1u;
}

/* Fills the resume points ck[0..nck) by one pass over the table. */
static void pyf_lt_index(int fmt, const uint8_t *lt, size_t n, int firstlineno, pyf_ck_t *ck, size_t nck)
{
    size_t i = 0, k = 0;
    int64_t line = firstlineno, at_line;
    uint32_t at = 0;
    if (fmt == PYF_LINES_LOCATIONS)
        while (i < n && !(lt[i] & 0x80))
            i++;
    while (i < n && k < nck) {
        size_t start = i;
        int64_t before = line;
        unsigned len = pyf_lt_entry(fmt, lt, n, &i, &line, &at_line);
        while (k < nck && (uint64_t)k * PYF_CK_UNITS < (uint64_t)at + len) {
            ck[k].i = (uint32_t)start;
            ck[k].at = at;
            ck[k].line = (int32_t)before;
            k++;
        }
        at += len;
    }
    for (; k < nck; k++) { /* table ends early: see pyf_lt_line */
        ck[k].i = (uint32_t)n;
        ck[k].at = at;
        ck[k].line = (int32_t)line;
    }
}

/* Line of code unit off in the table lt (format fmt), resuming at ck. Past
 * the last entry: the lnotab's last line (its last range is open-ended),
 * else 0 (unknown). */
static uint32_t pyf_lt_line(int fmt, const uint8_t *lt, size_t n, const pyf_ck_t *ck, ptrdiff_t off)
{
    size_t i = ck->i;
    int64_t line = ck->line, at_line = 0;
    ptrdiff_t at = ck->at;
    while (i < n) {
        unsigned len = pyf_lt_entry(fmt, lt, n, &i, &line, &at_line);
        if (off < at + (ptrdiff_t)len)
            return at_line > 0 && at_line <= UINT32_MAX ? (uint32_t)at_line : 0;
        at += len;
    }
    if (fmt == PYF_LINES_LNOTAB)
        return line > 0 && line <= UINT32_MAX ? (uint32_t)line : 0;
    return 0;
}

/* Line of the instruction at code unit off. 0 if unknown. */
static uint32_t pyf_line(pyf_code_t *e, ptrdiff_t off)
{
    if (off == -1)
        return (uint32_t)e->firstlineno; /* before the first instruction: not started */
    if (off < 0 || off >= e->ncode)
        return 0;
    if (!e->lt) /* an empty lnotab: one line, the first; else the table was too big to keep */
        return e->one_line ? (uint32_t)e->firstlineno : 0;
    if (off == e->memo_off)
        return e->memo_line;
    uint32_t found = pyf_lt_line(L->lines, e->lt, e->lt_len, &e->ck[off / PYF_CK_UNITS], off);
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

/* Maps the code cache and its arena on first use (a process that never
 * samples never pays for them). Returns 0 or -ENOMEM. Caller holds the
 * lock. Context: malloc (mmap only). */
static int pyf_cache_ready(void)
{
    if (!pyf_cache)
        pyf_cache = pyf_map(PYF_CACHE_SLOTS * sizeof(*pyf_cache));
    if (!pyf_arena)
        pyf_arena = pyf_map(PYF_CACHE_BUDGET);
    return pyf_cache && pyf_arena ? 0 : -ENOMEM;
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

static inline bool pyf_bit(const uint8_t *set, unsigned op) { return (set[op >> 3] >> (op & 7)) & 1; }

/* Marks the code units that start an instruction of the CALL family.
 * 3.11+ specialisation rewrites the code units in place, but only within an
 * instruction's family, and the layout's tables fold every member into its
 * base: so the base opcode at a position never changes, and one scan per
 * code object replaces a read of the opcode on every sample. Inline cache
 * entries are skipped, so they read as "not native": a 3.11/3.12 caller's
 * prev_instr points at its CALL's last cache entry while a Python callee
 * runs (the call was inlined, no C in between) and for the moment after it
 * returns. Code units are (opcode, oparg) bytes, little-endian here. */
static int pyf_scan_calls(uintptr_t start, size_t n, uint8_t *bits, uint8_t *ops)
{
    uint16_t buf[512];
    size_t skip = 0;
    for (size_t base = 0; base < n; base += 512) {
        size_t m = n - base < 512 ? n - base : 512;
        if (sys_read_safe(buf, (const void *)(start + base * sizeof(uint16_t)), m * sizeof(uint16_t)) != 0)
            return -EFAULT;
        for (size_t i = 0; i < m; i++) {
            if (skip) {
                skip--;
                continue;
            }
            unsigned op = buf[i] & 0xFFu;
            /* The instructions during which a callee's C code runs. 3.11's
             * PRECALL counts because its specialisations for builtins and
             * method descriptors (PRECALL_NO_KW_BUILTIN_O, ...) make the
             * call themselves and skip the CALL that follows. */
            if (pyf_bit(L->calls, op))
                bits[(base + i) >> 3] |= (uint8_t)(1u << ((base + i) & 7));
            /* Operators whose work is the operand type's slot: C code for
             * numpy, pandas or torch objects (a @ b, a * b, a[idx],
             * a[idx] = v, a < b, x in a, iteration), the interpreter's own
             * for ints, dicts and lists. Which one it is can only be told
             * from where the thread is running (smp asks nat). LOAD_ATTR
             * is left out: it is everywhere in Python code and rarely
             * slow in C. The set per version (BINARY_OP from 3.11, one
             * BINARY_x / INPLACE_x per operator before) is the generator's
             * OPERATORS list. */
            else if (pyf_bit(L->ops, op))
                ops[(base + i) >> 3] |= (uint8_t)(1u << ((base + i) & 7));
            skip = L->caches[op];
        }
    }
    return 0;
}

/* Length of the bytes object at addr (0 when over cap). Returns 0 or -errno. */
static int pyf_bytes_len(uintptr_t addr, size_t cap, size_t *len)
{
    _Alignas(8) char h[64];
    if (!addr || sys_read_safe(h, (const void *)addr, L->bytes_data) != 0)
        return -EFAULT;
    int64_t size = pyf_i64(h, L->var_size);
    if (pyf_ptr(h, L->ob_type) != pyf_bytes_type || size < 0)
        return -EINVAL;
    *len = (size_t)size;
    if (*len > cap)
        *len = 0;
    return 0;
}

/* Whether e is a comprehension, generator expression or lambda: its last
 * qualname part is "<...>" and it is not a module body. Scalene counts such
 * lines in the enclosing named function, so that a function's row is the
 * sum of its lines; the walk finds that function (pyf_sample_once). Before
 * 3.11 the name is co_name, "<genexpr>" alone: the same test holds. */
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

/* A code object's head (everything before the code units), read in one
 * call, and the fields the cache keys on. */
typedef struct pyf_head {
    _Alignas(8) char raw[PYF_HEAD_MAX];
    uintptr_t filename, name, linetable, code_obj;
    ptrdiff_t ncode; /* 3.11+ only (from the head); -1 before */
    int firstlineno;
} pyf_head_t;

static int pyf_head_read(uintptr_t addr, pyf_head_t *h)
{
    if (sys_read_safe(h->raw, (const void *)addr, L->co_head) != 0)
        return -EFAULT;
    if (pyf_ptr(h->raw, L->ob_type) != pyf_code_type)
        return -EINVAL;
    h->filename = pyf_ptr(h->raw, L->co_filename);
    h->name = pyf_ptr(h->raw, L->co_name);
    h->linetable = pyf_ptr(h->raw, L->co_linetable);
    h->firstlineno = pyf_i32(h->raw, L->co_firstlineno);
    h->code_obj = L->code_inline ? 0 : pyf_ptr(h->raw, L->co_code);
    h->ncode = L->code_inline ? (ptrdiff_t)pyf_i64(h->raw, L->var_size) : -1;
    return 0;
}

/* Fills the empty slot e for the code object at addr whose head is c.
 * Returns 0 or -errno (e stays empty). */
static int pyf_entry_fill(pyf_code_t *e, uintptr_t addr, const pyf_head_t *c)
{
    static char file[PYF_STR_CAP], func[PYF_STR_CAP]; /* sampler-private; too big for its stack */
    ssize_t fl = pyf_read_str(c->filename, file, sizeof(file));
    ssize_t ql = pyf_read_str(c->name, func, sizeof(func));
    size_t lt_len = 0;
    if (fl < 0 || ql < 0 || pyf_bytes_len(c->linetable, PYF_TABLE_CAP, &lt_len) != 0)
        return -EFAULT;
    uintptr_t start;
    size_t ncode;
    if (L->code_inline) {
        if (c->ncode < 0)
            return -EINVAL;
        ncode = (size_t)c->ncode;
        start = addr + L->co_code;
    } else {
        size_t bytes = 0;
        if (pyf_bytes_len(c->code_obj, SIZE_MAX, &bytes) != 0)
            return -EFAULT;
        ncode = bytes / 2;
        start = c->code_obj + L->bytes_data;
    }
    e->one_line = L->lines == PYF_LINES_LNOTAB && lt_len == 0 && ncode <= PYF_CODE_CAP;
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
    if (lt_len) {
        if (sys_read_safe(p, (const char *)c->linetable + L->bytes_data, lt_len) != 0)
            goto fail;
        e->lt = (const uint8_t *)p;
        e->lt_len = lt_len;
        pyf_lt_index(L->lines, e->lt, lt_len, c->firstlineno, (pyf_ck_t *)e->blob, nck);
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
    e->addr = addr;
    e->filename = c->filename;
    e->qualname = c->name;
    e->linetable = c->linetable;
    e->code_obj = c->code_obj;
    e->ncode = (ptrdiff_t)ncode;
    e->firstlineno = c->firstlineno;
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
static pyf_code_t *pyf_code_lookup(uintptr_t addr)
{
    if (!addr)
        return NULL;
    size_t h = pyf_hash(addr);
    for (size_t i = 0; i < PYF_CACHE_PROBE; i++) {
        pyf_code_t *e = &pyf_cache[(h + i) & (PYF_CACHE_SLOTS - 1)];
        if (e->addr == addr && e->checked == pyf_gen)
            return e;
    }
    static pyf_head_t c; /* under pyf_mu; too big for a signal-sized stack */
    if (pyf_head_read(addr, &c) != 0)
        return NULL;
    pyf_code_t *slot = NULL, *victim = NULL;
    for (size_t i = 0; i < PYF_CACHE_PROBE; i++) {
        pyf_code_t *e = &pyf_cache[(h + i) & (PYF_CACHE_SLOTS - 1)];
        if (e->addr == addr) {
            if (e->filename == c.filename && e->qualname == c.name && e->linetable == c.linetable &&
                e->firstlineno == c.firstlineno && e->code_obj == c.code_obj &&
                (!L->code_inline || e->ncode == c.ncode)) {
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
    if (pyf_entry_fill(slot, addr, &c) != 0)
        return NULL;
    slot->checked = pyf_gen;
    return slot;
}

int pyf_code_line(const void *code, ptrdiff_t unit, uint32_t *line, bool *call, bool *op)
{
    if (!L)
        return -ENOENT;
    if (pyf_cache_ready() != 0)
        return -ENOMEM;
    if (++pyf_gen == 0)
        pyf_gen = 1;
    pyf_code_t *e = pyf_code_lookup((uintptr_t)code);
    if (!e)
        return -EINVAL;
    *line = pyf_line(e, unit);
    *call = e->calls && unit >= 0 && unit < e->ncode && pyf_bit(e->calls, (unsigned)unit);
    *op = e->ops && unit >= 0 && unit < e->ncode && pyf_bit(e->ops, (unsigned)unit);
    return 0;
}

/* ---- the walk ---- */

#define PYF_WINDOW 8192 /* bytes of the frame stack copied at once */

/* 3.11+ push frames contiguously on the thread's data stack chunk, the
 * caller below the callee. Past the leaf, the walk copies up to PYF_WINDOW
 * bytes below a frame in one read, so the next callers cost no syscall:
 * one read per frame was most of the cost of a deep walk. Frames elsewhere
 * (generators, older chunks, 3.12+ shim frames on the C stack, and every
 * 3.8-3.10 frame object) are read one by one. */
typedef struct pyf_window {
    uintptr_t chunk_lo, top; /* live part of the current chunk, from the tstate */
    uintptr_t lo, hi;        /* what win_buf holds; lo == hi: nothing */
} pyf_window_t;
static _Alignas(16) char pyf_win_buf[PYF_WINDOW]; /* sampler-private */

/* Copies the head of the frame at fp (L->fr_head bytes) into out. */
static int pyf_read_frame(pyf_window_t *w, uintptr_t fp, bool bulk, char *out)
{
    size_t head = L->fr_head;
    /* fp may come from a torn frame's `previous`: anything, even ~0. Every
     * bound is written so it cannot wrap, and a misaligned pointer is no
     * frame at all. */
    if (fp % sizeof(void *) != 0 || fp > UINTPTR_MAX - head)
        return -EFAULT;
    if (fp < w->lo || fp + head > w->hi) {
        if (!bulk || fp < w->chunk_lo || fp + head > w->top)
            return sys_read_safe(out, (const void *)fp, head);
        uintptr_t hi = fp + head;
        uintptr_t lo = hi - w->chunk_lo > PYF_WINDOW ? hi - PYF_WINDOW : w->chunk_lo;
        if (sys_read_safe(pyf_win_buf, (const void *)lo, hi - lo) != 0) {
            w->lo = w->hi = 0;
            return sys_read_safe(out, (const void *)fp, head);
        }
        w->lo = lo;
        w->hi = hi;
    }
    memcpy(out, pyf_win_buf + (fp - w->lo), head);
    return 0;
}

/* The code unit the frame (head in fb) is at; -1 when it has not run its
 * first instruction. */
static ptrdiff_t pyf_offset(const pyf_code_t *e, const char *fb)
{
    switch (L->instr) {
    case PYF_INSTR_LASTI_BYTES: { /* 3.8-3.9: f_lasti, a byte offset */
        int32_t lasti = pyf_i32(fb, L->fr_instr);
        return lasti < 0 ? -1 : lasti / 2;
    }
    case PYF_INSTR_LASTI_UNITS: { /* 3.10: f_lasti, in code units */
        int32_t lasti = pyf_i32(fb, L->fr_instr);
        return lasti < 0 ? -1 : lasti;
    }
    default: /* 3.11-3.12: prev_instr; 3.13: instr_ptr (the current one) */
        return ((intptr_t)pyf_ptr(fb, L->fr_instr) - (intptr_t)e->code_start) / 2;
    }
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

#define PYF_RETRIES 8

/* The leaf frame of tstate, and the data stack bounds (3.11+) into w.
 * *until (3.11-3.12): the frame a true chain from the leaf passes through,
 * 0 if none is known (see pyf_sample_once). Returns 0 (*cur 0: no frame)
 * or -errno. */
static int pyf_leaf(uintptr_t tstate, uintptr_t *cur, uintptr_t *until, pyf_window_t *w)
{
    _Alignas(8) char t[PYF_HEAD_MAX];
    size_t lo = L->ts_frame, hi = L->ts_frame + sizeof(uintptr_t);
    if (L->ts_chunk) {
        lo = lo < L->ts_chunk ? lo : L->ts_chunk;
        hi = hi > L->ts_top + sizeof(uintptr_t) ? hi : L->ts_top + sizeof(uintptr_t);
    }
    if (hi - lo > sizeof t)
        return -EFAULT;
    *cur = *until = 0;
    _Alignas(8) char cfb[64] = {0};
    if (L->ts_cur == PYF_TS_CFRAME && L->cf_size > sizeof cfb)
        return -EFAULT;
    /* 3.11-3.12: tstate->cframe points into the thread's C stack: every
     * call that enters a new eval loop (a dunder method called from a C
     * slot, say) pushes one and pops it on return, within a microsecond.
     * Read the pointer, then the frame through it, then the pointer again:
     * if it moved, the frame may be garbage from a popped C frame, so read
     * again. Without this a program of small dunder methods loses a quarter
     * of its samples as "no frame". */
    for (int tries = 0;; tries++) {
        if (!tstate || sys_read_safe(t, (const void *)(tstate + lo), hi - lo) != 0)
            return -EFAULT;
        uintptr_t p = pyf_ptr(t, L->ts_frame - lo);
        if (L->ts_cur != PYF_TS_CFRAME) {
            *cur = p; /* tstate->frame or ->current_frame: one read */
            break;
        }
        if (!p)
            return 0; /* a thread state that never ran: no frame */
        uintptr_t again = 0;
        if (sys_read_safe(cfb, (const void *)p, L->cf_size) != 0)
            memset(cfb, 0, sizeof cfb);
        *cur = pyf_ptr(cfb, L->cf_current);
        if (pyf_read_ptr(tstate, L->ts_frame, &again) != 0)
            return -EFAULT;
        if (again == p && (*cur || tries > 0))
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
     * torn. 0: this is the thread's outermost eval loop (or 3.8-3.10,
     * 3.13+, which have no _PyCFrame chain). */
    uintptr_t prev = L->ts_cur == PYF_TS_CFRAME ? pyf_ptr(cfb, L->cf_previous) : 0;
    /* the thread's root _PyCFrame (in its tstate) never holds a frame: the
     * outermost eval loop needs no read */
    if (prev == tstate + L->ts_root_cframe)
        prev = 0;
    if (prev && pyf_read_ptr(prev, L->cf_current, until) != 0)
        return -EFAULT;
    if (L->ts_chunk) {
        uintptr_t chunk = pyf_ptr(t, L->ts_chunk - lo);
        if (chunk) {
            w->chunk_lo = chunk + L->chunk_data;
            w->top = pyf_ptr(t, L->ts_top - lo);
        }
    }
    return 0;
}

/* One attempt. *torn is set when the thread had a frame but the walk could
 * not name it: the leaf was popped and its memory reused between our reads. */
static int pyf_sample_once(const void *tstate, pyf_loc_t *loc, bool *torn, pyf_frame_t *stack, int stack_max)
{
    memset(loc, 0, sizeof(*loc));
    loc->stack = stack;
    loc->stack_max = stack_max;
    *torn = false;
    if (!L)
        return -ENOENT;
    if (pyf_cache_ready() != 0)
        return -ENOMEM;
    /* Flush here, not in a fill, where it would free what loc points to. */
    if (pyf_flush_due)
        pyf_reset();
    if (++pyf_gen == 0)
        pyf_gen = 1; /* 0 is the "never" of a fresh slot */
    pyf_window_t w = {0};
    uintptr_t cur = 0, until = 0;
    int rc = pyf_leaf((uintptr_t)tstate, &cur, &until, &w);
    if (rc != 0)
        return rc;
    bool met = until == 0;
    bool objects = L->frames == PYF_FRAMES_OBJECT;
    uintptr_t fp = cur;
    bool leaf = true, broke = false;
    uint8_t owner = 0; /* of the last frame read (3.11+); 0, FRAME_OWNED_BY_THREAD, before */
    const pyf_code_t *anon = NULL; /* the in-scope frame, while its function is still to be found */
    uintptr_t last = 0;            /* the last frame of Python code read */
    for (int depth = 0; fp && depth < PYF_MAX_DEPTH; depth++) {
        _Alignas(8) char b[PYF_HEAD_MAX];
        uintptr_t at = fp;
        /* The leaf alone is one small read: often it is all the walk needs. */
        if (pyf_read_frame(&w, fp, !leaf && !objects, b) != 0 ||
            (objects && pyf_frame_type && pyf_ptr(b, L->ob_type) != pyf_frame_type)) {
            broke = true; /* popped under us */
            break;
        }
        if (fp == until)
            met = true;
        fp = pyf_ptr(b, L->fr_previous);
        owner = L->fr_owner ? (uint8_t)b[L->fr_owner] : 0;
        /* 3.12+: the entry frame an eval loop pushes on the C stack is no
         * Python code */
        if (L->fr_owner && owner == L->owner_cstack)
            continue;
        last = at;
        pyf_code_t *e = pyf_code_lookup(pyf_ptr(b, L->fr_code));
        if (!e)
            continue;
        ptrdiff_t off = pyf_offset(e, b);
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
            loc->native = e->calls && in_code && pyf_bit(e->calls, (unsigned)off);
            loc->op = e->ops && in_code && pyf_bit(e->ops, (unsigned)off);
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
    /* The outermost frame of a thread is its own (owned by the thread, or
     * 3.12+'s entry shim on the C stack) and has no caller. A walk that
     * ends at a generator's frame (or one a frame object took over) with no
     * caller read it after it was suspended (it yielded under us: its
     * `previous` is cleared then), so the callers are missing, and with
     * them, perhaps, the program's own frame. 3.8-3.10 frame objects carry
     * no owner: their walks are not checked this way. */
    bool stale_end = L->fr_owner && (owner == L->owner_generator || owner == L->owner_frame_object);
    bool short_end = !fp && !broke && (stale_end || !met);
    if ((fp || short_end) && stack)
        loc->stack_cut = true; /* deeper than PYF_MAX_DEPTH, or the walk broke */
    loc->anon_open = anon != NULL;
    loc->root = L->fr_owner && !fp && !broke && !stale_end ? last : 0;
    /* A walk that lost its way before an in-scope frame may have missed
     * one; a stack that lost its way is worth another try; and a generator
     * expression's frame read after it yielded has lost its callers, with
     * them the function whose row it belongs to. */
    *torn = cur != 0 && (!loc->has_frame || ((!loc->in_scope || stack || anon) && (broke || short_end)));
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
