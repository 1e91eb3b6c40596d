"""A chain of os.fork()s argv[1] deep (default 3: child, grandchild,
great-grandchild). Every descendant burns argv[2] CPU seconds (default 0.3)
on NEST_BURN, waits for its own child, then reports "level pid ppid cpu"
through a pipe shared by all. The main process burns nothing, waits for its
child and prints one JSON line."""
import json
import os
import sys
import time


def burn(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(5000):  # NEST_BURN
            x += i * i % 7
    return time.thread_time() - t0


def main():
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    r, w = os.pipe()
    level = 0
    while level < depth:
        pid = os.fork()
        if pid != 0:
            break  # the parent of the next level
        level += 1
    else:
        pid = 0  # the deepest: no child of its own
    if level == 0:
        os.close(w)
        os.waitpid(pid, 0)
        rows = os.read(r, 65536).decode().split()
        out = {}
        for k in range(0, len(rows), 4):
            out[rows[k]] = {"pid": int(rows[k + 1]), "ppid": int(rows[k + 2]), "cpu": float(rows[k + 3])}
        print(json.dumps({"main": os.getpid(), "levels": out}))
        return
    cpu = burn(seconds)
    if pid:
        os.waitpid(pid, 0)
    os.write(w, ("%d %d %d %.6f\n" % (level, os.getpid(), os.getppid(), cpu)).encode())
    os._exit(0)


if __name__ == "__main__":
    main()
