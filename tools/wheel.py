# SPDX-License-Identifier: Apache-2.0
"""Builds the wheel (`make wheel`): scalene_c-<version>-py3-none-linux_<arch>.whl,
with the standard library only (no PyPI here, no build backend needed).

Layout, so that `pip install` gives a venv (or ~/.local with --user) the same
tree as `make install PREFIX=<venv>`:
  scalene/*.py                                  the thin package (python -m scalene)
  scalene_c-V.data/scripts/scalene              the binary -> <venv>/bin/scalene
  scalene_c-V.data/data/lib/scalene/...         libscalene.so, gui/, python/
                                                -> <venv>/lib/scalene/, found by the
                                                binary next to its own bin/
  scalene_c-V.dist-info/{METADATA,WHEEL,RECORD,top_level.txt}
The binary goes in as it is (pip rewrites only scripts that start with
"#!python"), as py-spy and ruff ship theirs.

Requires-Python comes from runtime/record.h's REC_PY_MIN_HEX/REC_PY_MAX_HEX,
the same range the aggregator enforces, so pip refuses an environment that
scalene would refuse. The files are stored with a fixed date, so the same
build gives the same wheel.

usage: python3 tools/wheel.py --build build --out dist
"""
import argparse
import base64
import hashlib
import os
import platform
import re
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DIST = "scalene-c"
DATE = (1980, 1, 1, 0, 0, 0)


def version():
    with open(os.path.join(HERE, "python", "scalene", "__init__.py")) as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    return m.group(1)


def py_range():
    """(min, max) as (major, minor) from record.h."""
    with open(os.path.join(REPO, "runtime", "record.h")) as f:
        text = f.read()
    lo = int(re.search(r"#define REC_PY_MIN_HEX (0x[0-9A-Fa-f]+)u?", text).group(1), 16)
    hi = int(re.search(r"#define REC_PY_MAX_HEX (0x[0-9A-Fa-f]+)u?", text).group(1), 16)
    return (lo >> 24, (lo >> 16) & 0xFF), (hi >> 24, (hi >> 16) & 0xFF)


def requires_python():
    (a, b), (c, d) = py_range()
    return ">=%d.%d,<%d.%d" % (a, b, c, d + 1)


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def files(build, data_dir):
    """[(path in the wheel, path on disk, executable)]"""
    lib = os.path.join(build, "lib", "scalene")
    out = []
    pkg = os.path.join(HERE, "python", "scalene")
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            out.append(("scalene/" + name, os.path.join(pkg, name), False))
    out.append((data_dir + "/scripts/scalene", os.path.join(build, "bin", "scalene"), True))
    out.append((data_dir + "/data/lib/scalene/libscalene.so", os.path.join(lib, "libscalene.so"), True))
    # the program's PYTHONPATH entry (agg.c): the package and @profile's sitecustomize
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            out.append((data_dir + "/data/lib/scalene/python/scalene/" + name, os.path.join(pkg, name), False))
    out.append((data_dir + "/data/lib/scalene/python/sitecustomize.py",
                os.path.join(HERE, "python", "sitecustomize.py"), False))
    gui = os.path.join(lib, "gui")
    if os.path.isdir(gui):
        for name in sorted(os.listdir(gui)):
            out.append((data_dir + "/data/lib/scalene/gui/" + name, os.path.join(gui, name), False))
    else:
        sys.stderr.write("wheel.py: %s is missing: the wheel has no web view (scalene view --cli works)\n" % gui)
    for _, disk, _ in out:
        if not os.path.isfile(disk):
            sys.exit("wheel.py: %s is missing (run make first)" % disk)
    return out


def metadata(ver):
    (a, b), (c, d) = py_range()
    supported = "%d.%d" % (a, b) if (a, b) == (c, d) else "%d.%d to %d.%d" % (a, b, c, d)
    return (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: A multi-process Python profiler in C with Scalene's command line\n"
        "License: Apache-2.0\n"
        "Requires-Python: %s\n"
        "Classifier: Operating System :: POSIX :: Linux\n"
        "Classifier: Programming Language :: C\n"
        "\n"
        "Profiles CPython %s programs and every Python process they start.\n"
        "The binary and runtime library inside are built on Debian 12 and need its\n"
        "liburcu, json-c, libyaml, libmicrohttpd, libcurl, libssl and libunwind packages.\n"
        % (DIST, ver, requires_python(), supported)
    )


def build_wheel(build, out_dir):
    ver = version()
    stem = DIST.replace("-", "_") + "-" + ver
    tag = "py3-none-linux_" + platform.machine()
    data_dir = stem + ".data"
    info = stem + ".dist-info"
    entries = []
    for arc, disk, exe in files(build, data_dir):
        with open(disk, "rb") as f:
            entries.append((arc, f.read(), exe))
    entries.append((info + "/METADATA", metadata(ver).encode(), False))
    entries.append((info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: scalene-c tools/wheel.py\n"
                                      "Root-Is-Purelib: false\nTag: %s\n" % tag).encode(), False))
    entries.append((info + "/top_level.txt", b"scalene\n", False))
    record = "".join("%s,%s,%d\n" % (arc, record_hash(data), len(data)) for arc, data, _ in entries)
    record += info + "/RECORD,,\n"
    entries.append((info + "/RECORD", record.encode(), False))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s-%s.whl" % (stem, tag))
    # one wheel in out_dir, so `pip install dist/*.whl` never meets an older one
    prefix = DIST.replace("-", "_") + "-"
    for old in os.listdir(out_dir):
        if old.startswith(prefix) and old.endswith(".whl") and old != os.path.basename(path):
            os.unlink(os.path.join(out_dir, old))
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data, exe in entries:
            zi = zipfile.ZipInfo(arc, DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = ((0o755 if exe else 0o644) | 0o100000) << 16
            z.writestr(zi, data)
    os.replace(tmp, path)
    return path


def main():
    p = argparse.ArgumentParser(description="Build the scalene-c wheel from a build directory.")
    p.add_argument("--build", default=os.path.join(REPO, "build"), help="the build directory (make's OUT)")
    p.add_argument("--out", default=os.path.join(REPO, "dist"), help="where the wheel goes")
    a = p.parse_args()
    print(build_wheel(os.path.abspath(a.build), a.out))


if __name__ == "__main__":
    main()
