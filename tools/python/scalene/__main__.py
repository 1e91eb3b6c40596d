"""``python3 -m scalene ARGS``: replaces this process with the ``scalene`` binary.

Python is only the host here; nothing is profiled from this interpreter.
"""

import os
import shutil
import sys


def _find():
    try:
        from scalene._where import SCALENE_BIN  # written by `make install`

        if os.access(SCALENE_BIN, os.X_OK):
            return SCALENE_BIN
    except ImportError:
        pass
    # Build tree: build/lib/scalene/python/scalene/ -> build/bin/scalene.
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.normpath(os.path.join(here, "..", "..", "..", "..", "bin", "scalene"))
    if os.access(built, os.X_OK):
        return built
    return shutil.which("scalene")


def main():
    path = _find()
    if not path:
        sys.stderr.write("scalene: cannot find the scalene binary "
                         "(run `make`, or put it on PATH)\n")
        sys.exit(2)
    os.execv(path, [path] + sys.argv[1:])


if __name__ == "__main__":
    main()
