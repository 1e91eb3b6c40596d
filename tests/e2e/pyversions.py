# SPDX-License-Identifier: Apache-2.0
"""The CPython versions at hand (pyenv's) and the range this build profiles.

The range is read from runtime/record.h (REC_PY_MIN_HEX, REC_PY_MAX_HEX): the
one definition the aggregator's refusal and the runtime's walker use, so the
tests follow it when it widens. Nothing is installed: a version pyenv does not
have is reported as missing, and its tests skip saying so."""
import os
import re
import shutil
import subprocess

from conftest import REPO


def rec_range():
    """((major, minor), (major, minor)): the versions this build profiles."""
    with open(os.path.join(REPO, "runtime", "record.h")) as f:
        text = f.read()

    def get(name):
        return int(re.search(r"#define %s (0x[0-9A-Fa-f]+)u?" % name, text).group(1), 16)

    lo, hi = get("REC_PY_MIN_HEX"), get("REC_PY_MAX_HEX")
    return (lo >> 24, (lo >> 16) & 0xFF), (hi >> 24, (hi >> 16) & 0xFF)


def supported_text():
    """How scalene names the range: "3.11" or "3.9 to 3.13"."""
    lo, hi = rec_range()
    return "%d.%d" % lo if lo == hi else "%d.%d to %d.%d" % (lo + hi)


def in_range(mm):
    lo, hi = rec_range()
    return lo <= tuple(mm) <= hi


def pyenv_root():
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        try:
            root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            root = None
    if not root:
        root = os.path.expanduser("~/.pyenv")
    return root if os.path.isdir(os.path.join(root, "versions")) else None


def pyenv_versions():
    """{(major, minor): (full version, interpreter path)} for pyenv's CPythons
    (the newest patch of each minor; free-threaded "t" builds left out)."""
    root = pyenv_root()
    found = {}
    if not root:
        return found
    for name in os.listdir(os.path.join(root, "versions")):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", name)
        if not m:
            continue
        mm = (int(m.group(1)), int(m.group(2)))
        bindir = os.path.join(root, "versions", name, "bin")
        exe = next((os.path.join(bindir, n) for n in ("python%d.%d" % mm, "python%d" % mm[0], "python")
                    if os.access(os.path.join(bindir, n), os.X_OK)), None)
        if not exe:
            continue
        patch = int(m.group(3))
        if mm not in found or int(found[mm][0].split(".")[2]) < patch:
            found[mm] = (name, exe)
    return found


def missing(mm):
    """The skip message for a version this machine does not have."""
    root = pyenv_root()
    where = "pyenv at %s has no %d.%d" % ((root,) + tuple(mm)) if root else "no pyenv here (PYENV_ROOT, ~/.pyenv)"
    return "CPython %d.%d is not installed (%s): nothing is installed by the tests" % (mm + (where,))

