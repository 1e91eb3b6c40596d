/* SPDX-License-Identifier: Apache-2.0
 * fk.c — the fork protocol (see fk.h).
 *   fk_before()        takes the sampler's tick lock, so the child never
 *                      inherits its tables half-updated.
 *   fk_after_parent()  releases it.
 *   fk_after_child()   claims the child's own ring slot, records its start,
 *                      re-initializes the tick lock and forgets the
 *                      parent's thread baselines. Async-signal-safe only: no
 *                      allocation, no locks taken (liburcu's rule for
 *                      atfork handlers).
 * The sampler thread itself is restarted from Python's after-in-child hook.
 */
#include "fk.h"

/* The stable ABI only (PEP 384): the same calls and structs in every
 * CPython this runtime serves, whichever python3-dev built it. */
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const fk_ops_t *g_ops;
static int g_hooked; /* os.register_at_fork succeeded (inherited by children) */

static void fk_before(void)
{
    if (g_ops->before)
        g_ops->before();
}
static void fk_after_parent(void)
{
    if (g_ops->after_parent)
        g_ops->after_parent();
}
static void fk_after_child(void)
{
    if (g_ops->after_child)
        g_ops->after_child();
}

int fk_py_hooked(void) { return g_hooked; }

int fk_install(const fk_ops_t *ops)
{
    g_ops = ops;
    return -pthread_atfork(fk_before, fk_after_parent, fk_after_child);
}

/* The Python API, found at run time: the runtime is also preloaded into
 * processes that are not Python, so it links against none of it. */
static struct {
    int (*add_pending)(int (*)(void *), void *);
    PyObject *(*import)(const char *);
    PyObject *(*getattr)(PyObject *, const char *);
    PyObject *(*cfunc_new)(PyMethodDef *, PyObject *, PyObject *);
    PyObject *(*tuple_new)(Py_ssize_t);
    int (*tuple_set)(PyObject *, Py_ssize_t, PyObject *);
    PyObject *(*dict_new)(void);
    int (*dict_set)(PyObject *, const char *, PyObject *);
    PyObject *(*call)(PyObject *, PyObject *, PyObject *);
    void (*incref)(PyObject *);
    void (*decref)(PyObject *);
    void (*err_clear)(void);
    PyObject *(*get_module)(PyObject *);
    PyObject *(*str_new)(const char *);
    Py_ssize_t (*size)(PyObject *);
    PyObject *none;
} py;

static PyObject *fk_py_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (g_ops->py_after_child)
        g_ops->py_after_child();
    py.incref(py.none);
    return py.none;
}

static PyMethodDef fk_def = {"_scalene_after_fork_in_child", fk_py_child, METH_NOARGS, NULL};

static PyObject *fk_py_atexit(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (g_ops->py_atexit)
        g_ops->py_atexit();
    py.incref(py.none);
    return py.none;
}

static PyMethodDef fk_exit_def = {"_scalene_at_exit", fk_py_atexit, METH_NOARGS, NULL};

static void drop(PyObject *o)
{
    if (o)
        py.decref(o);
}

/* Runs on the interpreter's main thread with the GIL. Returning -1 would
 * raise in the program, so every failure is cleared and ignored: the
 * profile loses forked children, the program loses nothing. */
/* atexit.register(fn). Registered first thing, so it runs after the
 * program's own atexit functions (they run last-in, first-out) and their
 * allocations still count. */
static void fk_register_atexit(void)
{
    PyObject *mod = py.import("atexit");
    PyObject *reg = mod ? py.getattr(mod, "register") : NULL;
    PyObject *fn = reg ? py.cfunc_new(&fk_exit_def, NULL, NULL) : NULL;
    PyObject *args = fn ? py.tuple_new(1) : NULL;
    PyObject *res = NULL;
    if (args && py.tuple_set(args, 0, fn) == 0) {
        fn = NULL; /* the tuple stole it */
        res = py.call(reg, args, NULL);
    }
    if (!res)
        py.err_clear();
    drop(res);
    drop(args);
    drop(fn);
    drop(reg);
    drop(mod);
}

/* Whether some thread is inside importlib's module-lock acquire
 * (importlib._bootstrap._blocking_on not empty). A pending call runs
 * between any two bytecodes; one that imports (atexit, os) there replaces
 * the outer import's entry in that dict and its exit then fails
 * (KeyError: <thread id>, "init_importlib_external failed" or "failed to
 * import the site module": 1 spawned 3.8 child in 6). */
static bool fk_importing(void)
{
    PyObject *name = py.str_new("_frozen_importlib");
    PyObject *bs = name ? py.get_module(name) : NULL;
    PyObject *bo = bs ? py.getattr(bs, "_blocking_on") : NULL;
    Py_ssize_t n = bo ? py.size(bo) : 0;
    py.err_clear();
    drop(bo);
    drop(bs);
    drop(name);
    return n > 0;
}

static int fk_pending(void *arg)
{
    /* Mid-import: come back at a later bytecode (bounded: a thread stuck
     * in an import must not keep us spinning) */
    static int deferred;
    if (deferred < 100000 && fk_importing()) {
        deferred++;
        if (py.add_pending(fk_pending, arg) == 0)
            return 0;
    }
    if (g_ops->py_boot)
        g_ops->py_boot();
    if (g_ops->py_atexit)
        fk_register_atexit();
    PyObject *os = py.import("os");
    PyObject *reg = os ? py.getattr(os, "register_at_fork") : NULL;
    PyObject *fn = reg ? py.cfunc_new(&fk_def, NULL, NULL) : NULL;
    PyObject *args = fn ? py.tuple_new(0) : NULL;
    PyObject *kw = args ? py.dict_new() : NULL;
    PyObject *res = NULL;
    if (kw && py.dict_set(kw, "after_in_child", fn) == 0)
        res = py.call(reg, args, kw);
    if (!res)
        py.err_clear();
    else
        g_hooked = 1;
    drop(res);
    drop(kw);
    drop(args);
    drop(fn);
    drop(reg);
    drop(os);
    return 0;
}

int fk_py_boot(void)
{
    static const struct {
        size_t off;
        const char *name;
    } syms[] = {
        {offsetof(__typeof__(py), add_pending), "Py_AddPendingCall"},
        {offsetof(__typeof__(py), import), "PyImport_ImportModule"},
        {offsetof(__typeof__(py), getattr), "PyObject_GetAttrString"},
        {offsetof(__typeof__(py), cfunc_new), "PyCFunction_NewEx"},
        {offsetof(__typeof__(py), tuple_new), "PyTuple_New"},
        {offsetof(__typeof__(py), tuple_set), "PyTuple_SetItem"},
        {offsetof(__typeof__(py), dict_new), "PyDict_New"},
        {offsetof(__typeof__(py), dict_set), "PyDict_SetItemString"},
        {offsetof(__typeof__(py), call), "PyObject_Call"},
        {offsetof(__typeof__(py), incref), "Py_IncRef"},
        {offsetof(__typeof__(py), decref), "Py_DecRef"},
        {offsetof(__typeof__(py), err_clear), "PyErr_Clear"},
        {offsetof(__typeof__(py), get_module), "PyImport_GetModule"},
        {offsetof(__typeof__(py), str_new), "PyUnicode_FromString"},
        {offsetof(__typeof__(py), size), "PyObject_Size"},
        {offsetof(__typeof__(py), none), "_Py_NoneStruct"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *p = dlsym(RTLD_DEFAULT, syms[i].name);
        if (!p)
            return -ENOENT;
        memcpy((char *)&py + syms[i].off, &p, sizeof p);
    }
    return py.add_pending(fk_pending, NULL) == 0 ? 0 : -EAGAIN;
}
