"""All the CPU work in pool workers: argv[1] is "fork", "spawn" or
"forkserver" (a multiprocessing.Pool(2) with that start method) or
"futures" (concurrent.futures.ProcessPoolExecutor(2), default context).
argv[2]: tasks (default 8), argv[3]: CPU seconds per task (default 0.25).
Each task burns its CPU in pool_work and returns its pid, its parent's pid
and the CPU it used. The main process prints one JSON line."""
import json
import multiprocessing
import os
import sys
import time


def pool_work(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # POOL_BURN
            x += i * i % 7
    return os.getpid(), os.getppid(), time.thread_time() - t0


def main():
    how = sys.argv[1]
    tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
    if how == "futures":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=2) as ex:
            res = list(ex.map(pool_work, [seconds] * tasks))
    else:
        pool = multiprocessing.get_context(how).Pool(2)
        res = pool.map(pool_work, [seconds] * tasks, chunksize=1)
        pool.close()
        pool.join()
    print(json.dumps({
        "main": os.getpid(),
        "workers": sorted({r[0] for r in res}),
        "ppids": {str(r[0]): r[1] for r in res},
        "work_cpu": sum(r[2] for r in res),
    }))


if __name__ == "__main__":
    main()
