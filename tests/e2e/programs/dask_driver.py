"""The scheduler side of a two-host Dask run (issue 16): an in-process
scheduler on 127.0.0.1:PORT (argv[1]) waits for two `dask worker`
processes, runs eight tasks of argv[2] CPU seconds each in task() on them,
then shuts the workers and itself down. Prints one JSON line: the workers'
pids by address and the pids the tasks ran in."""
import json
import os
import sys
import time

from distributed import Client, LocalCluster


def task(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(2000):
            x += i & 3  # TASK_LINE
    return os.getpid()


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    with LocalCluster(n_workers=0, processes=False, scheduler_port=port, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        workers = client.run(os.getpid)
        pids = client.gather(client.map(task, [seconds] * 8, pure=False))
        print(json.dumps({"workers": workers, "task_pids": sorted(set(pids))}), flush=True)
        client.retire_workers(list(workers), close_workers=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
