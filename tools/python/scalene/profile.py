"""``python3 -m scalene.profile --on|--off --pid PID``: turns profiling of a
running ``scalene run --off`` program (and all its children) on or off.

The same as ``scalene control on|off PID``; this module only runs it.
"""

import argparse
import os
import sys

from scalene.__main__ import _find


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m scalene.profile",
                                description="Turn profiling of a running program on or off.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--on", action="store_true", help="resume profiling")
    g.add_argument("--off", action="store_true", help="suspend profiling")
    p.add_argument("--pid", type=int, required=True, help="any process of the profiled program")
    a = p.parse_args(argv)
    path = _find()
    if not path:
        sys.stderr.write("scalene: cannot find the scalene binary (run `make`, or put it on PATH)\n")
        sys.exit(2)
    os.execv(path, [path, "control", "on" if a.on else "off", str(a.pid)])


if __name__ == "__main__":
    main()
