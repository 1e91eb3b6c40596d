"""Native allocation stacks' ground truth (issue 14): numpy_keep() keeps
96 MB of numpy arrays (np.ones: the buffer is allocated by numpy's C code)
and bytes_keep() 32 MB of bytearrays (the interpreter's C code), both in
512 KiB blocks. Prints one JSON line: the pid."""
import json
import os

import numpy as np

BLOCK = 512 * 1024
keep = []


def numpy_keep():
    for _ in range(96 * 2):
        keep.append(np.ones(BLOCK // 8))  # NUMPY_LINE


def bytes_keep():
    for _ in range(32 * 2):
        keep.append(bytearray(BLOCK))  # BYTES_LINE


if __name__ == "__main__":
    numpy_keep()
    bytes_keep()
    print(json.dumps({"main": os.getpid()}))
