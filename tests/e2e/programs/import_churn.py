"""Frame churn at start-up speed: imports argv[1] (default 120) standard
library modules that the interpreter has not loaded yet, the way a server
or test runner starts (importlib's Python frames pushed and popped under C
calls, thousands of times), then calls many tiny functions through C slots
for argv[2] seconds (default 0.3). Prints one JSON line."""
import importlib
import json
import os
import sys
import time

CANDIDATES = """abc aifc argparse ast asyncio base64 bdb binascii bisect bz2 calendar cgi cgitb chunk cmd code
codecs codeop collections colorsys compileall concurrent configparser contextlib contextvars copy copyreg
cProfile csv ctypes dataclasses datetime decimal difflib dis doctest email encodings ensurepip enum
filecmp fileinput fnmatch fractions ftplib functools gc getopt getpass gettext glob graphlib gzip hashlib
heapq hmac html http imaplib imghdr importlib inspect io ipaddress itertools json keyword linecache locale
logging lzma mailbox mailcap mimetypes modulefinder multiprocessing netrc nntplib numbers operator optparse
pathlib pdb pickle pickletools pipes pkgutil platform plistlib poplib pprint profile pstats pty py_compile
pyclbr pydoc queue quopri random re reprlib rlcompleter runpy sched secrets selectors shelve shlex shutil
signal site smtplib sndhdr socket socketserver sqlite3 statistics string stringprep struct subprocess sunau
symtable sysconfig tabnanny tarfile telnetlib tempfile textwrap threading timeit token tokenize trace
traceback tracemalloc tty types typing unittest urllib uu uuid warnings wave weakref webbrowser wsgiref
xdrlib xml xmlrpc zipapp zipfile zipimport zoneinfo""".split()


class V:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __add__(self, o):
        return V(self.x + o.x)

    def __lt__(self, o):
        return self.x < o.x


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    done = 0
    for name in CANDIDATES:
        if done >= n:
            break
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
            done += 1
        except Exception:
            pass
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        vs = sorted(V(i * 7919 % 1000) for i in range(300))  # CHURN
        k += sum(vs, V(0)).x
    print(json.dumps({"pid": os.getpid(), "imported": done, "k": k}))


if __name__ == "__main__":
    main()
