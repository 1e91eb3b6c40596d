"""Dask's distributed engine on one host (issue 16): a LocalCluster of two
worker processes (threads_per_worker=1) runs six tasks of TASK_SECONDS CPU
each in task(), the only real work. Prints one JSON line: the workers' pids
and the pids the tasks ran in."""
import json
import os
import sys
import time

from distributed import Client, LocalCluster

TASK_SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4


def task(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(2000):
            x += i & 3  # TASK_LINE
    return os.getpid()


def main():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        workers = client.run(os.getpid)
        pids = client.gather(client.map(task, [TASK_SECONDS] * 6, pure=False))
    print(json.dumps({"workers": sorted(workers.values()), "task_pids": sorted(set(pids))}))


if __name__ == "__main__":
    main()
