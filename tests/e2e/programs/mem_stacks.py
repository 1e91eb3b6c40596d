"""Memory stacks' ground truth (issue 14): every allocation goes through
helper(), from two call paths in known proportions: a() keeps 120 MB and
b() keeps 40 MB (75/25), and c() allocates 40 MB and drops each block at
once (nothing of it live at the end), in 128 KiB blocks (below the sampling window, so
the sampled path, not the always-sampled big blocks). With argv[1] == "fork", a forked
child keeps 30 MB through child_alloc() -> helper() and exits. Prints one
JSON line: the pids."""
import json
import os
import sys

BLOCK = 128 * 1024
keep = []


def helper(n):
    return bytearray(n)  # KEEP_LINE


def a():
    for _ in range(120 * 8):
        keep.append(helper(BLOCK))  # A_CALL


def b():
    for _ in range(40 * 8):
        keep.append(helper(BLOCK))  # B_CALL


def c():
    for _ in range(40 * 8):
        helper(BLOCK)  # C_CALL: dropped at once


def child_alloc():
    mine = [helper(BLOCK) for _ in range(30 * 8)]  # CHILD_CALL
    return mine


def main():
    out = {"main": os.getpid()}
    if len(sys.argv) > 1 and sys.argv[1] == "fork":
        pid = os.fork()
        if pid == 0:
            held = child_alloc()
            os._exit(0 if held else 1)
        os.waitpid(pid, 0)
        out["child"] = pid
    a()
    b()
    c()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
