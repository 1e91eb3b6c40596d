/* SPDX-License-Identifier: Apache-2.0
 * ext.c — the CPython extension `_scalene`, living in the preload library
 * itself: the program's own `scalene_profiler.start()/stop()` (and the
 * `enable_profiling()` context manager) load the already-mapped
 * libscalene.so as this module and flip the run's profiling switch in the
 * shared segment — the same switch `scalene control on|off PID` flips from
 * outside. Like fk.c, it finds the Python API with dlsym and links none of
 * it: the library is also preloaded into processes that are not Python, and
 * an undefined data symbol there would break their loading (LD_BIND_NOW).
 */
/* The stable ABI only (PEP 384): the same calls and structs in every
 * CPython this runtime serves, whichever python3-dev built it. */
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <string.h>

#include "nm.h"
#include "record.h"
#include "ring.h"
#include "rt.h"
#include "sys.h"

#define EXPORT __attribute__((visibility("default")))

static struct {
    PyObject *(*module_create)(PyModuleDef *, int);
    PyObject *(*from_bool)(long);
    int (*is_true)(PyObject *);
    int (*parse)(PyObject *, const char *, ...);
} ext_py;

/* set_enabled(on): turns profiling on or off for the whole run (every
 * process of it). Returns whether this process is profiled at all. */
static PyObject *ext_set_enabled(PyObject *self, PyObject *arg)
{
    (void)self;
    int on = ext_py.is_true(arg);
    if (on < 0)
        return NULL;
    ring_seg_t *seg = rt_segment();
    if (seg)
        ring_set_enabled(seg, on != 0);
    return ext_py.from_bool(seg != NULL);
}

static PyObject *ext_is_enabled(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ring_seg_t *seg = rt_segment();
    return ext_py.from_bool(seg && ring_enabled(seg));
}

static PyObject *ext_is_profiled(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return ext_py.from_bool(rt_segment() != NULL);
}

/* mark_profiled(file, qualname, first_line, last_line): a function
 * decorated with @profile (tools/python/scalene/sitecustomize.py). The
 * report then keeps only such functions' lines, from every process. */
static PyObject *ext_mark_profiled(PyObject *self, PyObject *args)
{
    (void)self;
    const char *file, *func;
    unsigned int first, last;
    if (!ext_py.parse(args, "ssII", &file, &func, &first, &last))
        return NULL;
    ring_seg_t *seg = rt_segment();
    int slot = rt_slot();
    if (seg && slot >= 0) {
        pid_t tid = sys_gettid();
        uint64_t now = sys_now_ns();
        size_t fl = strlen(file), ql = strlen(func);
        rec_t r;
        memset(&r, 0, sizeof r);
        r.h.kind = REC_PROFILED;
        r.u.prof.file_id = rec_str_id(file, fl);
        r.u.prof.func_id = rec_str_id(func, ql);
        r.u.prof.first_line = first;
        r.u.prof.last_line = last;
        nm_send(seg, slot, r.u.prof.file_id, file, fl, tid, now);
        nm_send(seg, slot, r.u.prof.func_id, func, ql, tid, now);
        r.h.tid = (uint32_t)tid;
        r.h.t_ns = now;
        ring_put(seg, slot, &r);
    }
    return ext_py.from_bool(seg != NULL);
}

static PyMethodDef ext_methods[] = {
    {"mark_profiled", ext_mark_profiled, METH_VARARGS, "mark_profiled(file, qualname, first, last): an @profile function"},
    {"set_enabled", ext_set_enabled, METH_O, "set_enabled(on): profiling on or off for the whole run"},
    {"is_enabled", ext_is_enabled, METH_NOARGS, "whether the run is being profiled now"},
    {"is_profiled", ext_is_profiled, METH_NOARGS, "whether this process runs under scalene"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef ext_def = {
    PyModuleDef_HEAD_INIT, "_scalene", "The profiler's switch, from inside the program.", -1, ext_methods,
    NULL, NULL, NULL, NULL,
};

/* New reference to the module, or NULL (ImportError) when the Python API
 * cannot be found. Context: thread, GIL held (the import machinery). */
EXPORT PyObject *PyInit__scalene(void)
{
    *(void **)&ext_py.module_create = dlsym(RTLD_DEFAULT, "PyModule_Create2");
    *(void **)&ext_py.from_bool = dlsym(RTLD_DEFAULT, "PyBool_FromLong");
    *(void **)&ext_py.is_true = dlsym(RTLD_DEFAULT, "PyObject_IsTrue");
    *(void **)&ext_py.parse = dlsym(RTLD_DEFAULT, "PyArg_ParseTuple");
    if (!ext_py.module_create || !ext_py.from_bool || !ext_py.is_true || !ext_py.parse)
        return NULL;
    return ext_py.module_create(&ext_def, PYTHON_API_VERSION);
}
