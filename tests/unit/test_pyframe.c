/* SPDX-License-Identifier: Apache-2.0
 * test_pyframe.c — runtime/pyframe.c against a real CPython embedded in
 * this binary (built once per version: the Makefile's PYF_TESTS): a sampler pthread (no GIL, no thread state, as in the preload
 * library) reads the main thread while it runs known code, and every sample
 * is checked against where the code is by construction: file (with a
 * non-ASCII directory), function, line, native or not, in scope or not.
 * Also: thread listing with tids, a thread blocked in C, a thread with no
 * frame, a bad thread-state address, the cost of one pyf_sample(), and the
 * line-table decoder and call bits against the interpreter's own view
 * (co_lines() / dis.findlinestarts, dis.get_instructions), and the
 * operator bits, for every code
 * unit of every code object of a few modules.
 * Context: thread.
 */
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyframe.h"
#include "record.h"
#include "sys.h"
#include "tap.h"

/* Line numbers below are part of the test: keep them in step with the text. */
static const char target_src[] =
    "import hashlib, threading, functools\n"                              /* 1 */
    "import other_pf\n"                                                   /* 2 */
    "def hot(n):\n"                                                       /* 3 */
    /* Before the loop, many location entries on one line (an error in the
     * entry lengths accumulates into a wrong line for the loop) and an
     * expression over two lines (BINARY_OP starts a line above the operand
     * before it: a negative svarint line delta). */
    "    a = n + 1; b = a * 2; c = b - a; d = c + b; e = d - c; f = e + d; g = f * 0; i = g\n" /* 4 */
    "    h = (a +\n"                                                      /* 5 */
    "         b); i = i * h\n"                                            /* 6 */
    "    while i < n: i += 1\n"                                           /* 7 HOT */
    "    return i\n"                                                      /* 8 */
    /* data is built once, at def time: under ASan/TSan the memset behind
     * b'x' * n is intercepted and would take a good share of the phase */
    "def native(k, data=b'x' * 20_000_000):\n"                            /* 9 */
    "    sha = hashlib.sha256\n"                                          /* 10 */
    "    for _ in range(k): sha(data).digest()\n"                         /* 11 NATIVE */
    "    return k\n"                                                      /* 12 */
    "def deep(d, n):\n"                                                   /* 13 */
    "    return deep(d - 1, n) if d else hot(n)\n"                        /* 14 */
    "def run_other(n):\n"                                                 /* 15 */
    "    return other_pf.deep(20, functools.partial(other_pf.spin, n))\n" /* 16 OTHER */
    "ev = threading.Event()\n"                                            /* 17 */
    "def schl\xc3\xa4" "fer_\xcf\x89():\n"                                /* 18 */
    "    ev.wait()\n"                                                     /* 19 SLEEP */
    "def run_chain(n):\n"                                                 /* 20 */
    "    return other_pf.c0(functools.partial(other_pf.spin, n))\n";     /* 21 CHAIN */
static const char other_src[] =
    "def deep(d, f):\n"               /* 1 */
    "    return deep(d - 1, f) if d else f()\n" /* 2 */
    "def spin(n):\n"                  /* 3 */
    "    i = 0\n"                     /* 4 */
    "    while i < n: i += 1\n"       /* 5 SPIN */
    "    return i\n"                  /* 6 */
    /* c0 .. c19: twenty distinct code objects (file "<string>") */
    "for k in range(20): exec(f'def c{k}(f):\\n return c{k + 1}(f) if {k} < 19 else f()', globals())\n";
#define HOT_LINE 7
#define NATIVE_LINE 11
#define OTHER_LINE 16
#define CHAIN_LINE 21
#define SLEEP_LINE 19
#define SPIN_LINE 5
#define SLEEPER "schl\xc3\xa4" "fer_\xcf\x89" /* qualname: UCS-2 str, UTF-8 here */

enum { PH_IDLE, PH_HOT, PH_NATIVE, PH_DEEP, PH_OTHER, PH_CHAIN, PH_OUTSIDE, PH_N };
static const char *const ph_name[PH_N] = {"idle", "hot", "native", "deep", "other", "chain", "outside"};

typedef struct want {
    const char *file_suffix, *func;
    uint32_t line;
    bool native, in_scope;
} want_t;
static const want_t ph_want[PH_N] = {
    [PH_HOT] = {"/target_pf.py", "hot", HOT_LINE, false, true},
    [PH_NATIVE] = {"/target_pf.py", "native", NATIVE_LINE, true, true},
    [PH_DEEP] = {"/target_pf.py", "hot", HOT_LINE, false, true},
    [PH_OTHER] = {"/target_pf.py", "run_other", OTHER_LINE, false, true},
    [PH_CHAIN] = {"/target_pf.py", "run_chain", CHAIN_LINE, false, true},
    [PH_OUTSIDE] = {"/other_pf.py", "spin", SPIN_LINE, false, false},
};

typedef struct tally {
    int n, good, scope, file, func, line, native, bad_id;
    uint32_t last_bad_line;
    double mean_us, best_us; /* µs per pyf_sample() back to back: over all rounds, in the best
                              * round (a round preempted on a busy machine says nothing of
                              * the code); 0 if not measured, -1 if a call failed */
} tally_t;

static char target_dir[256];
static char target_file[300]; /* expected loc.file bytes */
static pid_t main_tid;
/* release: main publishes the phase before running its code; pairs with the
 * acquire in sampler(). A sample that straddles a switch is counted in the
 * old or new phase: the 80% thresholds absorb it. */
static _Atomic int x_phase;
/* release: main asks the sampler to stop; pairs with the acquire in sampler() */
static _Atomic bool x_stop;
static tally_t tallies[PH_N]; /* written by the sampler, read by main after join */
/* relaxed: samples taken per phase, only a progress count for run_phase()
 * (no data is published through it; the tallies are read after join) */
static _Atomic int x_count[PH_N];
static int sampler_rc;        /* first unexpected pyf_sample() error, or 0 */

/* libpython keeps some allocations past Py_FinalizeEx() by design; they
 * are not ours to report. Exported so that libasan finds it. */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static bool scope_cb(const char *file, size_t len)
{
    static const char suf[] = "/target_pf.py";
    return len >= sizeof(suf) - 1 && memcmp(file + len - (sizeof(suf) - 1), suf, sizeof(suf) - 1) == 0;
}

static bool eq(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static const void *find_tstate(pid_t tid)
{
    pyf_thread_t th[64];
    int n = pyf_threads(th, 64);
    for (int i = 0; i < n; i++)
        if (th[i].tid == tid)
            return th[i].tstate;
    return NULL;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void check(tally_t *t, const want_t *w, const pyf_loc_t *loc)
{
    bool scope = loc->in_scope == w->in_scope;
    bool file = ends_with(loc->file, loc->file_len, w->file_suffix) &&
                (!w->in_scope || eq(loc->file, loc->file_len, target_file));
    bool func = eq(loc->func, loc->func_len, w->func);
    bool line = loc->line == w->line;
    bool native = loc->native == w->native;
    t->n++;
    t->scope += scope;
    t->file += file;
    t->func += func;
    t->line += line;
    t->native += native;
    t->bad_id += loc->file_id != 0 && (loc->file_id != rec_str_id(loc->file, loc->file_len) ||
                                       loc->func_id != rec_str_id(loc->func, loc->func_len));
    if (scope && file && func && line && native && loc->has_frame)
        t->good++;
    else
        t->last_bad_line = loc->line;
}

static void *sampler(void *arg)
{
    (void)arg;
    const void *ts = NULL;
    int seen[PH_N] = {0};
    /* acquire: pairs with the release store in main() */
    while (!atomic_load_explicit(&x_stop, memory_order_acquire)) {
        sleep_us(2000);
        /* acquire: pairs with the release store in run_phase() */
        int ph = atomic_load_explicit(&x_phase, memory_order_acquire);
        if (ph == PH_IDLE)
            continue;
        if (!ts)
            ts = find_tstate(main_tid);
        pyf_loc_t loc;
        int rc = ts ? pyf_sample(ts, &loc) : -ESRCH;
        if (rc != 0) {
            if (!sampler_rc)
                sampler_rc = rc;
            continue;
        }
        check(&tallies[ph], &ph_want[ph], &loc);
        atomic_fetch_add_explicit(&x_count[ph], 1, memory_order_relaxed); /* progress only */
        /* The cost, once per deep phase, with the cache warm from the
         * samples before: rounds of back-to-back calls. */
        if (++seen[ph] == 5 && (ph == PH_DEEP || ph == PH_OTHER || ph == PH_CHAIN)) {
            enum { ROUNDS = 10, CALLS = 200 };
            uint64_t total = 0, best = UINT64_MAX;
            int good = 0;
            /* A round that sampled the thread between two runs of the
             * phase's code (no frame, nothing in scope) measured another
             * walk: it is left out. */
            for (int r = 0; r < ROUNDS; r++) {
                int fails = 0;
                uint64_t t0 = sys_now_ns();
                for (int i = 0; i < CALLS; i++)
                    fails += pyf_sample(ts, &loc) != 0 || !loc.in_scope;
                uint64_t dt = sys_now_ns() - t0;
                if (fails)
                    continue;
                good++;
                total += dt;
                best = dt < best ? dt : best;
            }
            tallies[ph].mean_us = !good ? -1.0 : (double)total / (good * CALLS) / 1000.0;
            tallies[ph].best_us = !good ? -1.0 : (double)best / CALLS / 1000.0;
        }
    }
    return NULL;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Runs Python code with the GIL; returns seconds taken. */
static double run_py(const char *code)
{
    uint64_t t0 = sys_now_ns();
    if (PyRun_SimpleString(code) != 0)
        fprintf(stderr, "python failed: %s\n", code);
    return (double)(sys_now_ns() - t0) / 1e9;
}

/* Runs code (about 0.4 s) again until the sampler has MIN_SAMPLES of the
 * phase: on a loaded machine the 2 ms sleeps stretch. At most 30 s. */
#define MIN_SAMPLES 80
static void run_phase(int ph, const char *code)
{
    /* release: publishes the phase; pairs with the acquire in sampler() */
    atomic_store_explicit(&x_phase, ph, memory_order_release);
    double spent = 0;
    /* relaxed: a progress count, see x_count */
    while (atomic_load_explicit(&x_count[ph], memory_order_relaxed) < MIN_SAMPLES && spent < 30.0)
        spent += run_py(code);
    /* release: pairs with the acquire in sampler() */
    atomic_store_explicit(&x_phase, PH_IDLE, memory_order_release);
}

static void report_phase(int ph)
{
    const tally_t *t = &tallies[ph];
    diag("%-7s n=%d good=%d scope=%d file=%d func=%d line=%d native=%d (a bad line: %u)", ph_name[ph], t->n,
         t->good, t->scope, t->file, t->func, t->line, t->native, t->last_bad_line);
    ok(t->n >= MIN_SAMPLES && t->good * 10 >= t->n * 8, "%s: >= 80%% of %d samples name %s:%s line %u native=%d in_scope=%d",
       ph_name[ph], t->n, ph_want[ph].file_suffix + 1, ph_want[ph].func, ph_want[ph].line, ph_want[ph].native,
       ph_want[ph].in_scope);
}

/* Every code unit of every code object reachable from a few modules (the
 * test's own, a generated one with long jumps in lines and code, and some
 * of the standard library): the line pyframe decodes from the table must
 * be the interpreter's own (co_lines() from 3.10, the lnotab's starts
 * before; units with no line are skipped), and the units pyframe marks as
 * calls must be exactly the starts of call instructions (dis, which shows
 * the unspecialised opcodes and hides the inline caches). The code runs
 * first, so that 3.11+ has specialised what it will. */
static const char lines_py[] =
    "import dis, sys, types, importlib\n"
    "src = 'def gap(x):\\n    a = x + 1\\n' + '\\n' * 300 + '    b = a * 2\\n' + '\\n' * 40 + '    return (a +\\n        b)\\n'\n"
    "src += 'def big(x):\\n' + ''.join(f'    x = x + {i}; y = len(str(x))\\n' for i in range(600)) + '    return x\\n'\n"
    "src += 'class K:\\n    def m(self, v):\\n        return [w * 2 for w in v if w]\\n'\n"
    "gen = types.ModuleType('pf_gen'); exec(compile(src, 'pf_gen.py', 'exec'), gen.__dict__)\n"
    "for _ in range(20): gen.gap(1); gen.big(1); gen.K().m([1, 0, 2])\n"
    "CALLS = {'CALL_FUNCTION', 'CALL_FUNCTION_KW', 'CALL_FUNCTION_EX', 'CALL_METHOD', 'PRECALL', 'CALL', 'CALL_KW'}\n"
    "OPS = {'BINARY_OP', 'BINARY_SUBSCR', 'STORE_SUBSCR', 'DELETE_SUBSCR', 'COMPARE_OP', 'CONTAINS_OP', 'UNARY_NEGATIVE',\n"
    "       'UNARY_INVERT', 'UNARY_POSITIVE', 'GET_ITER', 'FOR_ITER', 'UNPACK_SEQUENCE', 'BINARY_SLICE', 'STORE_SLICE'}\n"
    "OPS |= {p + o for p in ('BINARY_', 'INPLACE_') for o in ('POWER', 'MULTIPLY', 'MATRIX_MULTIPLY', 'FLOOR_DIVIDE',\n"
    "        'TRUE_DIVIDE', 'MODULO', 'ADD', 'SUBTRACT', 'LSHIFT', 'RSHIFT', 'AND', 'XOR', 'OR')}\n"
    "def codes(m):\n"
    "    todo = [v.__code__ for v in vars(m).values() if hasattr(v, '__code__')]\n"
    "    todo += [f.__code__ for c in vars(m).values() if isinstance(c, type) for f in vars(c).values() if hasattr(f, '__code__')]\n"
    "    seen = []\n"
    "    while todo:\n"
    "        c = todo.pop()\n"
    "        if any(c is s for s in seen): continue\n"
    "        seen.append(c); todo += [k for k in c.co_consts if isinstance(k, types.CodeType)]\n"
    "    return seen\n"
    "def units(c):\n"
    "    n = len(c.co_code) // 2\n"
    "    line = [-1] * n\n"
    "    if hasattr(c, 'co_lines'):\n"
    "        for a, b, l in c.co_lines():\n"
    "            for u in range(a // 2, b // 2):\n"
    "                if u < n: line[u] = -1 if l is None else l\n"
    "    else:\n"
    "        starts = list(dis.findlinestarts(c)); k = -1\n"
    "        for u in range(n):\n"
    "            while k + 1 < len(starts) and starts[k + 1][0] <= 2 * u: k += 1\n"
    "            line[u] = starts[k][1] if k >= 0 else c.co_firstlineno\n"
    "    call = [0] * n\n"
    "    for i in dis.get_instructions(c):\n"
    "        if i.opname in CALLS: call[i.offset // 2] = 1\n"
    "        if i.opname in OPS: call[i.offset // 2] = 2\n"
    "    return line, call\n"
    "mods = [importlib.import_module(m) for m in ('target_pf', 'other_pf', 'threading', 'json.decoder', 'dis', 'textwrap')]\n"
    "pf_cases = [(c, *units(c)) for m in mods + [gen] for c in codes(m)]\n";

static void check_line_tables(void)
{
    PyGILState_STATE g = PyGILState_Ensure();
    if (PyRun_SimpleString(lines_py) != 0) {
        PyGILState_Release(g);
        ok(0, "line-table ground truth could not be computed");
        ok(0, "(skipped)");
        ok(0, "(skipped)");
        ok(0, "(skipped)");
        ok(0, "(skipped)");
        return;
    }
    PyObject *cases = PyDict_GetItemString(PyModule_GetDict(PyImport_AddModule("__main__")), "pf_cases");
    long codes = 0, units = 0, lined = 0, bad_line = 0, calls = 0, bad_call = 0, bad_code = 0, long_jump = 0;
    long ops = 0, bad_op = 0;
    char first_bad[200] = "";
    pyf_lock();
    for (Py_ssize_t i = 0; cases && i < PyList_Size(cases); i++) {
        PyObject *t = PyList_GetItem(cases, i);
        PyObject *code = PyTuple_GetItem(t, 0), *lines = PyTuple_GetItem(t, 1), *cl = PyTuple_GetItem(t, 2);
        codes++;
        for (Py_ssize_t u = 0; u < PyList_Size(lines); u++) {
            long want = PyLong_AsLong(PyList_GetItem(lines, u));
            long kind = PyLong_AsLong(PyList_GetItem(cl, u));
            bool want_call = kind == 1, want_op = kind == 2;
            uint32_t line = 0;
            bool call = false, op = false;
            if (pyf_code_line(code, u, &line, &call, &op) != 0) {
                bad_code++;
                break;
            }
            units++;
            calls += want_call;
            if (want > 0) {
                lined++;
                long_jump += want > 300;
                if ((long)line != want) {
                    if (!bad_line++)
                        snprintf(first_bad, sizeof first_bad, "unit %zd: %u, want %ld", u, line, want);
                }
            }
            bad_call += call != want_call;
            ops += want_op;
            bad_op += op != want_op;
        }
    }
    pyf_unlock();
    PyGILState_Release(g);
    diag("line tables: %ld code objects, %ld units (%ld with a line, %ld past line 300), %ld calls", codes, units,
         lined, long_jump, calls);
    ok(codes > 100 && bad_code == 0, "pyf_code_line reads all %ld code objects (%ld refused)", codes, bad_code);
    ok(lined > 10000 && long_jump > 1000, "the cases cover long tables: %ld units with a line, %ld past line 300", lined,
       long_jump);
    ok(bad_line == 0, "line of every unit is the interpreter's own (%ld wrong; first: %s)", bad_line, first_bad);
    ok(calls > 1000 && bad_call == 0, "call bits are exactly the %ld call instructions (%ld units wrong)", calls, bad_call);
    ok(ops > 1000 && bad_op == 0, "operator bits are exactly the %ld operator instructions (%ld units wrong)", ops, bad_op);
}

/* 3.13+: the layout is checked against the interpreter's _Py_DebugOffsets
 * (at the start of _PyRuntime). A copy passes; a copy with one offset
 * moved, no cookie, or the free-threaded flag set is refused, naming what.
 * The byte offsets below are 3.13's struct: cookie 0, free_threaded 16,
 * interpreter_state.threads_head 72, thread_state.current_frame 184. */
static void check_debug_offsets(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    static unsigned char dbg[1024];
    const void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    memcpy(dbg, rt, sizeof dbg);
    const char *what = NULL;
    int rc = pyf_check_offsets(dbg, &what);
    ok(rc == 0, "the layout agrees with this interpreter's _Py_DebugOffsets (rc %d, %s)", rc, what);
    static const struct {
        size_t at;
        const char *name;
    } bad[] = {{72, "threads.head"}, {184, "tstate.current_frame"}, {16, "free-threaded build"}, {0, "no _Py_DebugOffsets cookie"}};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(dbg, rt, sizeof dbg);
        dbg[bad[i].at] ^= 8;
        what = "";
        refused += pyf_check_offsets(dbg, &what) == -ENOTSUP && strcmp(what, bad[i].name) == 0;
        if (strcmp(what, bad[i].name) != 0)
            diag("moved byte %zu: refusal '%s', want '%s'", bad[i].at, what, bad[i].name);
    }
    ok(refused == 4, "a moved threads.head or current_frame, the free-threaded flag, no cookie: refused, named (%d of 4)",
       refused);
#else
    ok(1, "# SKIP no _Py_DebugOffsets before 3.13");
    ok(1, "# SKIP no _Py_DebugOffsets before 3.13");
#endif
}

int main(void)
{
    plan(30);
    main_tid = sys_gettid();

    /* A directory with non-ASCII bytes, so co_filename is not a compact-ASCII str. */
    char tmpl[] = "/tmp/pyf_XXXXXX";
    if (!mkdtemp(tmpl))
        return perror("mkdtemp"), 1;
    snprintf(target_dir, sizeof(target_dir), "%s/d\xc3\xbc\xe2\x82\xac", tmpl);
    snprintf(target_file, sizeof(target_file), "%s/target_pf.py", target_dir);
    if (mkdir(target_dir, 0700) != 0 || write_file(target_dir, "target_pf.py", target_src) != 0 ||
        write_file(target_dir, "other_pf.py", other_src) != 0)
        return perror("write"), 1;

    /* Before Py_Initialize the symbols exist (linked) but nothing runs yet. */
    Py_Initialize();
    ok(pyf_init(scope_cb) == 0, "pyf_init finds the embedded interpreter");
    ok(pyf_version() >> 16 == PY_VERSION_HEX >> 16, "pyf_version %#x is the compiled major.minor %#x",
       pyf_version(), (unsigned)PY_VERSION_HEX);
    ok(pyf_ready(), "pyf_ready after Py_Initialize");

    /* sys.path gets the directory decoded like the interpreter decodes
     * file names (surrogateescape under a non-UTF-8 locale): either way the
     * UTF-8 pyframe reports must be the original bytes. */
    PyObject *dir = PyUnicode_DecodeFSDefault(target_dir);
    PyList_Insert(PySys_GetObject("path"), 0, dir);
    Py_DECREF(dir);
    run_py("import sys, time, threading, target_pf, other_pf");

    pyf_loc_t loc;
    ok(pyf_sample((const void *)16, &loc) == -EFAULT && !loc.has_frame,
       "a bad thread-state address gives -EFAULT, not SIGSEGV");

    /* The main thread in C with no Python frame: listed, no frame. */
    PyThreadState *save = PyEval_SaveThread();
    const void *main_ts = find_tstate(main_tid);
    ok(main_ts == save, "pyf_threads lists the main thread (tid %d) with its thread state", (int)main_tid);
    int rc = main_ts ? pyf_sample(main_ts, &loc) : -1;
    ok(rc == 0 && !loc.has_frame && !loc.in_scope && !loc.native,
       "main thread between PyRun calls: has_frame=0 (rc %d)", rc);
    PyEval_RestoreThread(save);

    /* A Python thread blocked in C (lock acquire) under an in-scope frame
     * whose name is a UCS-2 str; the leaf frame is threading.py's. */
    run_py("t = threading.Thread(target=target_pf." SLEEPER "); t.start()");
    PyObject *mainmod = PyImport_AddModule("__main__");
    PyObject *g = PyModule_GetDict(mainmod);
    PyObject *r = PyRun_String("t.native_id", Py_eval_input, g, g);
    pid_t sleeper_tid = r ? (pid_t)PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    save = PyEval_SaveThread();
    sleep_us(100000); /* let it reach ev.wait() */
    const void *sl_ts = find_tstate(sleeper_tid);
    ok(sl_ts != NULL && sl_ts != main_ts, "pyf_threads lists the started thread's native_id %d", (int)sleeper_tid);
    rc = sl_ts ? pyf_sample(sl_ts, &loc) : -1;
    ok(rc == 0 && loc.has_frame && loc.in_scope && eq(loc.file, loc.file_len, target_file),
       "blocked thread: in scope, file is the non-ASCII path byte for byte (got '%.*s')", (int)loc.file_len,
       loc.file ? loc.file : "");
    ok(rc == 0 && eq(loc.func, loc.func_len, SLEEPER) && loc.line == SLEEP_LINE && loc.func_line == SLEEP_LINE - 1,
       "blocked thread: func is the UCS-2 qualname as UTF-8, line %u, func_line %u", loc.line, loc.func_line);
    ok(rc == 0 && loc.native, "blocked thread: leaf frame (threading.py) sits at a CALL: native=1");
    pyf_reset();
    rc = sl_ts ? pyf_sample(sl_ts, &loc) : -1;
    ok(rc == 0 && loc.in_scope && loc.line == SLEEP_LINE && loc.file_id == rec_str_id(target_file, strlen(target_file)),
       "after pyf_reset the cache refills to the same answer and file_id");
    PyEval_RestoreThread(save);
    run_py("target_pf.ev.set(); t.join()");

    /* Calibrate the loops to about 0.4 s each. */
    double per_iter = run_py("target_pf.hot(2_000_000)") / 2e6;
    double per_hash = run_py("target_pf.native(1)");
    long n_hot = (long)(0.4 / (per_iter > 0 ? per_iter : 1e-8));
    long n_hash = (long)(0.4 / (per_hash > 0 ? per_hash : 1e-3)) + 1;
    diag("calibrated: hot %.1f ns/iter -> n=%ld; sha256 of 20 MB %.1f ms -> k=%ld", per_iter * 1e9, n_hot,
         per_hash * 1e3, n_hash);

    pthread_t th;
    if (pthread_create(&th, NULL, sampler, NULL) != 0)
        return perror("pthread_create"), 1;
    char code[256];
    snprintf(code, sizeof(code), "target_pf.hot(%ld)", n_hot);
    run_phase(PH_HOT, code);
    snprintf(code, sizeof(code), "target_pf.native(%ld)", n_hash);
    run_phase(PH_NATIVE, code);
    snprintf(code, sizeof(code), "target_pf.deep(20, %ld)", n_hot);
    run_phase(PH_DEEP, code);
    snprintf(code, sizeof(code), "target_pf.run_other(%ld)", n_hot);
    run_phase(PH_OTHER, code);
    snprintf(code, sizeof(code), "target_pf.run_chain(%ld)", n_hot);
    run_phase(PH_CHAIN, code);
    snprintf(code, sizeof(code), "other_pf.spin(%ld)", n_hot);
    run_phase(PH_OUTSIDE, code);
    /* release: pairs with the acquire in sampler() */
    atomic_store_explicit(&x_stop, true, memory_order_release);
    pthread_join(th, NULL);

    ok(sampler_rc == 0, "sampler thread: every pyf_sample() of the main thread returned 0 (first error %d)",
       sampler_rc);
    for (int ph = PH_HOT; ph < PH_N; ph++)
        report_phase(ph);
    int bad_id = 0;
    for (int ph = PH_HOT; ph < PH_N; ph++)
        bad_id += tallies[ph].bad_id;
    ok(bad_id == 0, "file_id/func_id are rec_str_id() of the strings (%d mismatches)", bad_id);
    int hot_native = tallies[PH_HOT].n - tallies[PH_HOT].native; /* .native counts matches */
    ok(tallies[PH_NATIVE].native * 10 >= tallies[PH_NATIVE].n * 8 && hot_native * 10 <= tallies[PH_HOT].n,
       "native flag separates sha256() (%d/%d native) from the pure loop (%d/%d native)",
       tallies[PH_NATIVE].native, tallies[PH_NATIVE].n, hot_native, tallies[PH_HOT].n);

    const tally_t *td = &tallies[PH_DEEP], *to = &tallies[PH_OTHER], *tc = &tallies[PH_CHAIN];
    double leaf_us = td->best_us, walk_us = to->best_us, chain_us = tc->best_us;
    diag("pyf_sample cost, warm cache, 23-frame stack, leaf in scope: mean %.2f us/call (best round %.2f)",
         td->mean_us, td->best_us);
    diag("pyf_sample cost, warm cache, 24-frame stack, 22 out-of-scope frames (one recursive function) above the "
         "in-scope one: mean %.2f us/call (best round %.2f)", to->mean_us, to->best_us);
    diag("pyf_sample cost, warm cache, 23-frame stack, 21 out-of-scope frames of 21 distinct functions above the "
         "in-scope one: mean %.2f us/call (best round %.2f)", tc->mean_us, tc->best_us);
    /* 3.8-3.10 frames are separate heap objects: one read per frame,
     * where 3.11+ copies a window of the contiguous frame stack at once. */
    /* The costs themselves are benchmarks (bench/README.md has them per
     * version); on a 2-core machine shared with other work the best round
     * of a few hundred walks varies 2-3x. These bounds catch only what no
     * load explains: a walk that became an order of magnitude slower (a
     * syscall per frame where a window read was, a cache that never hits). */
    double lim = PY_VERSION_HEX < 0x030B0000 ? 4000.0 : 2000.0;
    ok(leaf_us > 0 && leaf_us < 200.0, "warm ~20-deep stack, leaf in scope: %.2f us < 200 us", leaf_us);
    ok(walk_us > 0 && walk_us < lim, "warm, walk through 22 out-of-scope frames of one function: %.2f us < %.0f us",
       walk_us, lim);
    ok(chain_us > 0 && chain_us < lim, "warm, walk through 21 distinct out-of-scope functions: %.2f us < %.0f us",
       chain_us, lim);
    check_line_tables();
    check_debug_offsets();

    pyf_reset(); /* frees the code cache: nothing of ours is left for LeakSanitizer */
    Py_FinalizeEx();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpl);
    return done_testing();
}
