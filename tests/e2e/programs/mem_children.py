"""Memory allocated in a child process (tests/e2e/test_memory.py). argv[1]:
"fork" (os.fork) or "spawn" (a multiprocessing spawn child, a fresh
interpreter that re-imports this file).

PARENT_ALLOC  the main process keeps 15 x bytearray(10_000_000) (150e6 bytes
              and 15 x 57 more: buffer len + 1, object 56), before the child
              starts (a forked child inherits these blocks: not its own).
CHILD_ALLOC   the child keeps 25 x bytearray(10_000_000) (250e6 bytes + 25 x 57)
              and ends without freeing them (fork: os._exit; spawn: the
              multiprocessing child returns and exits).

Prints one JSON line: main pid, child pid (as the child saw it), its exit
status, and a checksum of the child's blocks."""
import json
import multiprocessing
import os
import sys

BLOCK = 10_000_000
PARENT_N, CHILD_N = 15, 25
KEEP = []


def child_alloc():
    for _ in range(CHILD_N):
        KEEP.append(bytearray(BLOCK))  # CHILD_ALLOC
    return sum(len(b) for b in KEEP[-CHILD_N:])


def spawn_child(q):
    total = child_alloc()
    q.put((os.getpid(), os.getppid(), total))


def main():
    how = sys.argv[1] if len(sys.argv) > 1 else "fork"
    for _ in range(PARENT_N):
        KEEP.append(bytearray(BLOCK))  # PARENT_ALLOC
    out = {"main": os.getpid(), "how": how}
    if how == "fork":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            total = child_alloc()
            os.write(w, json.dumps([os.getpid(), os.getppid(), total]).encode())
            os.close(w)
            os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        _, status = os.waitpid(pid, 0)
        cpid, cppid, total = json.loads(data)
        out.update(child=cpid, child_ppid=cppid, child_total=total, exit=os.waitstatus_to_exitcode(status))
    else:
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=spawn_child, args=(q,))
        p.start()
        cpid, cppid, total = q.get(timeout=60)
        p.join()
        out.update(child=cpid, child_ppid=cppid, child_total=total, exit=p.exitcode)
    out["parent_total"] = sum(len(b) for b in KEEP)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
