#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes runtime/pyframe_versions.inc: the CPython layouts runtime/pyframe.c
reads (struct offsets, string-header bits, opcode tables), one entry per
minor version, measured by compiling a probe against each version's own
internal headers (Py_BUILD_CORE) under `pyenv root`.

Run by hand when a CPython version is added, and commit the output: the
build never reads these headers (a user's machine has one python3-dev at
most, or none). pyframe.c picks the entry at run time from the version of
the interpreter that loaded it, and for 3.13+ checks it against the
interpreter's own _Py_DebugOffsets.

Usage: tools/gen_pyframe_versions.py [out]   (default runtime/pyframe_versions.inc)
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

# Opcodes during which a callee's C code may run (CALL family), and
# "operators" whose work is the operand type's slot (C for numpy & co).
# Names absent from a version are ignored. Instrumented forms (3.12+,
# sys.monitoring/settrace) count as their base instruction.
CALLS = ["CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_FUNCTION_EX", "CALL_METHOD",
         "PRECALL", "CALL", "CALL_KW"]
OPERATORS = ["BINARY_OP", "BINARY_SUBSCR", "STORE_SUBSCR", "DELETE_SUBSCR", "COMPARE_OP",
             "CONTAINS_OP", "UNARY_NEGATIVE", "UNARY_INVERT", "UNARY_POSITIVE", "GET_ITER",
             "FOR_ITER", "UNPACK_SEQUENCE", "BINARY_SLICE", "STORE_SLICE",
             # 3.8-3.10: one opcode per operator
             "BINARY_POWER", "BINARY_MULTIPLY", "BINARY_MATRIX_MULTIPLY", "BINARY_FLOOR_DIVIDE",
             "BINARY_TRUE_DIVIDE", "BINARY_MODULO", "BINARY_ADD", "BINARY_SUBTRACT",
             "BINARY_LSHIFT", "BINARY_RSHIFT", "BINARY_AND", "BINARY_XOR", "BINARY_OR",
             "INPLACE_POWER", "INPLACE_MULTIPLY", "INPLACE_MATRIX_MULTIPLY", "INPLACE_FLOOR_DIVIDE",
             "INPLACE_TRUE_DIVIDE", "INPLACE_MODULO", "INPLACE_ADD", "INPLACE_SUBTRACT",
             "INPLACE_LSHIFT", "INPLACE_RSHIFT", "INPLACE_AND", "INPLACE_XOR", "INPLACE_OR"]
INSTRUMENTED = {"INSTRUMENTED_CALL": "CALL", "INSTRUMENTED_CALL_KW": "CALL_KW",
                "INSTRUMENTED_CALL_FUNCTION_EX": "CALL_FUNCTION_EX",
                "INSTRUMENTED_FOR_ITER": "FOR_ITER"}

PROBE = r'''
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_interp.h>
#else
#include <internal/pycore_pystate.h>
#endif
#if PY_VERSION_HEX >= 0x03090000
#include <internal/pycore_runtime.h>
#endif
#if PY_VERSION_HEX >= 0x030D0000
#define NEED_OPCODE_METADATA
#include <internal/pycore_opcode_metadata.h>
#define DEOPT(op) _PyOpcode_Deopt[op]
#define CACHES(op) _PyOpcode_Caches[op]
#elif PY_VERSION_HEX >= 0x030B0000
#define NEED_OPCODE_TABLES
#include <internal/pycore_opcode.h>
#define DEOPT(op) _PyOpcode_Deopt[op]
#define CACHES(op) _PyOpcode_Caches[op]
#else
#define DEOPT(op) (op)
#define CACHES(op) 0
#endif
#include <opcode.h>

#define O(T, f) printf("    ." #T "_" #f " = %zu,\n", offsetof(T, f))
#define F(name, v) printf("    ." name " = %zu,\n", (size_t)(v))
typedef PyThreadState ts;
typedef PyCodeObject co;
typedef PyASCIIObject ascii;
typedef PyCompactUnicodeObject compact;

static unsigned bit_of(unsigned kind, unsigned compact_, unsigned ascii_)
{
    PyASCIIObject a;
    memset(&a, 0, sizeof a);
    a.state.kind = kind;
    a.state.compact = compact_;
    a.state.ascii = ascii_;
    unsigned v;
    memcpy(&v, &a.state, sizeof v);
    return v;
}

int main(void)
{
    printf("{\n");
    printf("    .hex = 0x%08x,\n", (unsigned)((PY_VERSION_HEX >> 16) << 16));
    F("rt_main", offsetof(_PyRuntimeState, interpreters.main));
    F("rt_head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_VERSION_HEX < 0x03090000
    /* 3.8's pending-call lock is runtime-wide and created after the first
     * thread state: Py_AddPendingCall before core_initialized crashes, and
     * a pending call that imports (fk.c) while importlib's external
     * importers are set up breaks their module lock: wait for initialized */
    F("rt_ready", offsetof(_PyRuntimeState, initialized));
#endif
#if PY_VERSION_HEX >= 0x030B0000
    F("is_threads", offsetof(PyInterpreterState, threads.head));
#else
    F("is_threads", offsetof(PyInterpreterState, tstate_head));
#endif
    F("ts_next", offsetof(ts, next));
    F("ts_interp", offsetof(ts, interp));
    F("ts_thread_id", offsetof(ts, thread_id));
#if PY_VERSION_HEX >= 0x030B0000
    F("ts_native_tid", offsetof(ts, native_thread_id));
    F("ts_chunk", offsetof(ts, datastack_chunk));
    F("ts_top", offsetof(ts, datastack_top));
    F("chunk_data", offsetof(_PyStackChunk, data));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    printf("    .frames = PYF_FRAMES_INTERP, .ts_cur = PYF_TS_CURRENT_FRAME,\n");
    F("ts_frame", offsetof(ts, current_frame));
#elif PY_VERSION_HEX >= 0x030B0000
    printf("    .frames = PYF_FRAMES_INTERP, .ts_cur = PYF_TS_CFRAME,\n");
    F("ts_frame", offsetof(ts, cframe));
    F("cf_current", offsetof(_PyCFrame, current_frame));
    F("cf_previous", offsetof(_PyCFrame, previous));
    F("ts_root_cframe", offsetof(ts, root_cframe));
    F("cf_size", sizeof(_PyCFrame));
#else
    printf("    .frames = PYF_FRAMES_OBJECT, .ts_cur = PYF_TS_FRAME,\n");
    F("ts_frame", offsetof(ts, frame));
#endif
#if PY_VERSION_HEX >= 0x030B0000
    F("fr_head", offsetof(_PyInterpreterFrame, localsplus));
    F("fr_previous", offsetof(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX >= 0x030D0000
    F("fr_code", offsetof(_PyInterpreterFrame, f_executable));
    F("fr_instr", offsetof(_PyInterpreterFrame, instr_ptr));
    printf("    .instr = PYF_INSTR_NEXT,\n");
#else
    F("fr_code", offsetof(_PyInterpreterFrame, f_code));
    F("fr_instr", offsetof(_PyInterpreterFrame, prev_instr));
    printf("    .instr = PYF_INSTR_PREV,\n");
#endif
    F("fr_owner", offsetof(_PyInterpreterFrame, owner));
    F("owner_generator", FRAME_OWNED_BY_GENERATOR);
    F("owner_frame_object", FRAME_OWNED_BY_FRAME_OBJECT);
#if PY_VERSION_HEX >= 0x030C0000
    F("owner_cstack", FRAME_OWNED_BY_CSTACK);
#else
    F("owner_cstack", 255); /* none in 3.11 */
#endif
#else
    F("fr_head", offsetof(PyFrameObject, f_lasti) + sizeof(int));
    F("fr_previous", offsetof(PyFrameObject, f_back));
    F("fr_code", offsetof(PyFrameObject, f_code));
    F("fr_instr", offsetof(PyFrameObject, f_lasti));
#if PY_VERSION_HEX >= 0x030A0000
    printf("    .instr = PYF_INSTR_LASTI_UNITS,\n");
#else
    printf("    .instr = PYF_INSTR_LASTI_BYTES,\n");
#endif
    F("fr_owner", 0);
#endif
    F("co_filename", offsetof(co, co_filename));
    F("co_firstlineno", offsetof(co, co_firstlineno));
#if PY_VERSION_HEX >= 0x030B0000
    F("co_name", offsetof(co, co_qualname));
    F("co_linetable", offsetof(co, co_linetable));
    F("co_code", offsetof(co, co_code_adaptive));
    F("co_head", offsetof(co, co_code_adaptive));
    printf("    .lines = PYF_LINES_LOCATIONS, .code_inline = 1,\n");
#else
    F("co_name", offsetof(co, co_name));
#if PY_VERSION_HEX >= 0x030A0000
    F("co_linetable", offsetof(co, co_linetable));
    printf("    .lines = PYF_LINES_PEP626,\n");
#else
    F("co_linetable", offsetof(co, co_lnotab));
    printf("    .lines = PYF_LINES_LNOTAB,\n");
#endif
    F("co_code", offsetof(co, co_code));
    F("co_head", sizeof(co));
#endif
    F("str_ascii_size", sizeof(ascii));
    F("str_compact_size", sizeof(compact));
    F("str_length", offsetof(ascii, length));
    F("str_state", offsetof(ascii, hash) + sizeof(Py_hash_t));
    F("str_utf8_length", offsetof(compact, utf8_length));
    F("str_utf8", offsetof(compact, utf8));
    F("str_data", offsetof(PyUnicodeObject, data));
    F("str_kind_mask", bit_of(7, 0, 0));
    F("str_kind_shift", __builtin_ctz(bit_of(7, 0, 0)));
    F("str_compact_bit", bit_of(0, 1, 0));
    F("str_ascii_bit", bit_of(0, 0, 1));
#if PY_VERSION_HEX < 0x030C0000
    {
        PyASCIIObject a;
        memset(&a, 0, sizeof a);
        a.state.ready = 1;
        unsigned v;
        memcpy(&v, &a.state, sizeof v);
        F("str_ready_bit", v);
    }
#endif
    F("bytes_data", offsetof(PyBytesObject, ob_sval));
    F("var_size", offsetof(PyVarObject, ob_size));
    F("ob_type", offsetof(PyObject, ob_type));
    /* opcode tables, with the specialised forms folded into their base */
    static const int calls[] = { CALL_LIST -1 };
    static const int ops[] = { OP_LIST -1 };
    static const int instr[][2] = { INSTR_LIST {-1, -1} };
    unsigned char caches[256], callb[32] = {0}, opb[32] = {0};
    for (int op = 0; op < 256; op++) {
        int d = DEOPT(op), base = d;
        for (int k = 0; instr[k][0] >= 0; k++)
            if (op == instr[k][0]) base = instr[k][1];
        caches[op] = base == d ? CACHES(d) : CACHES(base);
        if (d == 0 && op != 0) caches[op] = 0; /* unknown opcode */
        for (int k = 0; calls[k] >= 0; k++)
            if (base == calls[k]) callb[op >> 3] |= 1u << (op & 7);
        for (int k = 0; ops[k] >= 0; k++)
            if (base == ops[k]) opb[op >> 3] |= 1u << (op & 7);
    }
    printf("    .caches = {");
    for (int i = 0; i < 256; i++) printf("%s%d", i ? (i % 32 ? "," : ",\n        ") : "", caches[i]);
    printf("},\n    .calls = {");
    for (int i = 0; i < 32; i++) printf("%s0x%02x", i ? "," : "", callb[i]);
    printf("},\n    .ops = {");
    for (int i = 0; i < 32; i++) printf("%s0x%02x", i ? "," : "", opb[i]);
    printf("},\n");
    printf("},\n");
    return 0;
}
'''


def guarded(names):
    return "".join(f"\n#ifdef {n}\n{n},\n#endif" for n in names) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runtime/pyframe_versions.inc"
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    found = {}
    for d in sorted(glob.glob(os.path.join(root, "versions", "3.*"))):
        m = re.fullmatch(r"3\.(\d+)\.\d+", os.path.basename(d))
        if not m or int(m.group(1)) < 8:
            continue
        minor = int(m.group(1))
        inc = os.path.join(d, "include", f"python3.{minor}")
        if os.path.isdir(os.path.join(inc, "internal")) and os.path.basename(d) > found.get(minor, ("",))[0]:
            found[minor] = (os.path.basename(d), inc)
    instr = "".join(f"\n#ifdef {k}\n{{{k}, {v}}},\n#endif" for k, v in INSTRUMENTED.items()) + "\n"
    src = PROBE.replace("CALL_LIST", guarded(CALLS)).replace("OP_LIST", guarded(OPERATORS)) \
               .replace("INSTR_LIST", instr)
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.c")
        with open(probe, "w") as f:
            f.write(src)
        for minor in sorted(found):
            full, inc = found[minor]
            exe = os.path.join(tmp, f"probe{minor}")
            subprocess.run(["gcc", "-std=gnu11", "-w", "-I", inc, "-I", os.path.join(inc, "internal"),
                            probe, "-o", exe], check=True)
            text = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
            parts.append(f"/* CPython 3.{minor} (measured on {full}) */\n" + text)
    with open(out, "w") as f:
        f.write("/* SPDX-License-Identifier: Apache-2.0\n"
                " * pyframe_versions.inc — GENERATED by tools/gen_pyframe_versions.py from\n"
                " * each CPython's internal headers; do not edit. Included by pyframe.c\n"
                " * only: the layouts it reads, one entry per minor version.\n */\n")
        f.write("".join(parts))
    print(f"wrote {out}: " + ", ".join(f"3.{m} ({found[m][0]})" for m in sorted(found)))


if __name__ == "__main__":
    main()
