"""Threads allocating known amounts on their own lines (tests/e2e/test_memory.py).

Phase 1, two threads started together (a barrier), both running the whole
phase (400 passes each, each pass handing over the GIL: sleep(0)):
  A_ALLOC  thread A keeps 400 x bytearray(1_000_000): 400 x 1_000_057 bytes
           (buffer len + 1, object 56) + the list's slots.
  B_ALLOC  thread B keeps 400 x bytearray(250_000): 400 x 250_057 bytes + slots.

Phase 2, a numpy worker thread while the main thread keeps running Python:
  NP_ADD   the worker keeps 4 x np.add(a, b) of 10M float64: 4 x 80e6 bytes of
           numpy data buffers (native malloc), plus ~100-byte array objects.
  NP_SORT  the worker sorts 5 times, in place and stable, 10M float64 made of
           two ascending runs whose values interleave (the evens, then the
           odds; numpy's timsort): each sort mallocs one 40e6-byte merge
           buffer (n/2 x 8) and frees it, with the GIL released (numpy sorts
           between NPY_BEGIN/END_THREADS): 5 x 40e6 bytes allocated, none kept.
  MAIN_PY  meanwhile the main thread, holding the GIL whenever it runs, makes
           and drops `[0] * 1000` lists (8056 bytes each: the 56-byte object
           and 8000 bytes of slots) until the worker is done; it counts them.

The worker reports how many passes the main thread made during its sorts
(> 0: the sorts released the GIL). With memcount.so preloaded (the test's
counting library) it also reports the bytes its own thread asked of
malloc/calloc/realloc during the adds and the sorts ("counted").

Prints one JSON line: main pid, tids, passes, results."""
import ctypes
import json
import os
import sys
import threading
import time

import numpy as np

KA, KB, KNP = [], [], []
PASSES = 400
N_NP = 10_000_000
N_ADD, N_SORT = 4, 5

out = {"pid": os.getpid()}
counter = None
try:
    _lib = ctypes.CDLL(None)
    counter = _lib.memcount_thread_allocated
    counter.restype = ctypes.c_uint64
except AttributeError:
    pass


def thread_a(barrier):
    barrier.wait()
    for _ in range(PASSES):
        KA.append(bytearray(1_000_000))  # A_ALLOC
        time.sleep(0)  # let B run: the two lines interleave block by block
    out["a"] = {"tid": threading.get_native_id(), "n": len(KA)}


def thread_b(barrier):
    barrier.wait()
    for _ in range(PASSES):
        KB.append(bytearray(250_000))  # B_ALLOC
        time.sleep(0)
    out["b"] = {"tid": threading.get_native_id(), "n": len(KB)}


def numpy_worker(a, b, pattern, x, ticks):
    counted = {"add": 0, "sort": 0}
    during_sorts = 0
    for _ in range(N_ADD):
        c0 = counter() if counter else 0
        KNP.append(np.add(a, b))  # NP_ADD
        counted["add"] += (counter() - c0) if counter else 0
    for _ in range(N_SORT):
        x[:] = pattern
        t0 = ticks[0]
        c0 = counter() if counter else 0
        x.sort(kind="stable")  # NP_SORT
        counted["sort"] += (counter() - c0) if counter else 0
        during_sorts += ticks[0] - t0
    out["np"] = {
        "tid": threading.get_native_id(),
        "sorted": bool((np.diff(x) > 0).all()),
        "sum": float(sum(k[-1] for k in KNP)),
        "main_ran_during_sorts": during_sorts,
    }
    if counter:
        out["np"]["counted"] = counted


def main():
    barrier = threading.Barrier(2)
    ts = [threading.Thread(target=f, args=(barrier,)) for f in (thread_a, thread_b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

    a = np.arange(N_NP, dtype=np.float64)
    b = np.ones(N_NP)
    pattern = np.concatenate([np.arange(0, N_NP, 2, dtype=np.float64), np.arange(1, N_NP, 2, dtype=np.float64)])
    x = np.empty(N_NP)
    ticks = [0]
    w = threading.Thread(target=numpy_worker, args=(a, b, pattern, x, ticks))
    w.start()
    n = 0
    s = 0
    while w.is_alive():
        junk = [0] * 1000  # MAIN_PY
        n += 1
        ticks[0] = n
        for i in range(2000):
            s += i
    w.join()
    out["main_lists"] = n
    out["main_list_bytes"] = sys.getsizeof(junk)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
