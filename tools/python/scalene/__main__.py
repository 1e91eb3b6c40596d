"""``python -m scalene ARGS``: replaces this process with the ``scalene`` binary.

Python is only the host here; nothing is profiled from this interpreter.
The program runs under this interpreter (``sys.executable``), as
``python prog.py`` would: the binary reads SCALENE_INVOKING_PYTHON, takes it
out of the environment, and uses it unless ``--python`` names another.
"""

import os
import shutil
import sys

_DIST = "scalene-c"  # the wheel's distribution name (tools/wheel.py)


def _installed_bin():
    """The binary the wheel installed with this package (its RECORD knows
    where pip put it: <scripts>/scalene of the same scheme, venv or --user)."""
    try:
        from importlib import metadata
    except ImportError:  # before 3.8
        return None
    try:
        files = metadata.files(_DIST) or []
    except Exception:  # not installed as a wheel
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    # only the wheel this very package came from (not one installed beside
    # a build tree that PYTHONPATH put first)
    if not any(f.name == "__main__.py" and os.path.dirname(os.path.abspath(str(f.locate()))) == here
               for f in files):
        return None
    for f in files:
        if f.name == "scalene" and f.parent.name == "bin":
            return os.path.normpath(str(f.locate()))
    return None


def _find():
    path = _installed_bin()
    if path and os.access(path, os.X_OK):
        return path
    # <prefix>/lib/scalene/python/scalene/ (the build tree, `make install`,
    # the wheel's copy for the program's PYTHONPATH) -> <prefix>/bin/scalene;
    # also <prefix>/lib/pythonX.Y/site-packages/scalene/ -> <prefix>/bin.
    here = os.path.dirname(os.path.abspath(__file__))
    near = os.path.normpath(os.path.join(here, "..", "..", "..", "..", "bin", "scalene"))
    if os.access(near, os.X_OK):
        return near
    return shutil.which("scalene")


def main():
    path = _find()
    if not path:
        sys.stderr.write("scalene: cannot find the scalene binary "
                         "(run `make`, or put it on PATH)\n")
        sys.exit(2)
    if sys.executable:
        os.environ["SCALENE_INVOKING_PYTHON"] = sys.executable
    os.execv(path, [path] + sys.argv[1:])


if __name__ == "__main__":
    main()
