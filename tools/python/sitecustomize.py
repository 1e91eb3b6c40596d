"""Makes ``@profile`` work with no import in programs run by ``scalene run``.

``scalene run`` puts this directory first on the program's PYTHONPATH, so
Python's ``site`` imports this module before the program starts, in every
Python process of the run (spawned children, subprocesses too). It defines
``builtins.profile`` (unless the program or a tool such as kernprof did);
a function decorated with it is announced to the profiler, and the report
then keeps only the decorated functions' lines. Then it runs the
``sitecustomize`` this one shadows (Debian ships one), so nothing is lost.
"""

import builtins
import os
import sys


def _install():
    if not os.environ.get("SCALENE_SHM") or hasattr(builtins, "profile"):
        return

    def profile(func):
        code = getattr(func, "__code__", None)
        if code is None:
            return func
        from scalene import scalene_profiler  # only when used: start-up stays cheap

        ext = scalene_profiler._runtime()
        if ext is None:
            return func
        last = code.co_firstlineno
        todo = [code]
        while todo:  # nested functions and comprehensions are part of it
            c = todo.pop()
            if hasattr(c, "co_lines"):
                lines = [line for _, _, line in c.co_lines()]
            else:  # 3.8, 3.9
                import dis

                lines = [line for _, line in dis.findlinestarts(c)]
            for line in lines:
                if line is not None and line > last:
                    last = line
            todo.extend(k for k in c.co_consts if isinstance(k, type(code)))
        # the name the runtime reports: co_qualname from 3.11, co_name before
        ext.mark_profiled(code.co_filename, getattr(code, "co_qualname", code.co_name), code.co_firstlineno, last)
        return func

    builtins.profile = profile


def _chain():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in sys.path:
        if not d or os.path.abspath(d) == here:
            continue
        path = os.path.join(d, "sitecustomize.py")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                code = compile(f.read(), path, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": path, "__builtins__": builtins})
            return


try:
    _install()
finally:
    _chain()
