"""Start and stop profiling from inside the program.

    from scalene import scalene_profiler
    scalene_profiler.start()
    ...
    scalene_profiler.stop()

    with scalene_profiler.enable_profiling():
        ...

Run the program with ``scalene run --off prog.py`` so that profiling starts
only at ``start()``. The switch is the run's: it applies to every process of
the run (children too), exactly like ``scalene control on|off PID`` from
outside. Outside ``scalene run`` these functions do nothing.

The work is done in C: this module only loads the ``_scalene`` extension,
which is the profiler's preloaded runtime library itself.
"""

import contextlib
import os

_ext = None
_looked = False


def _runtime():
    """The ``_scalene`` extension, or None when not running under scalene."""
    global _ext, _looked
    if _looked:
        return _ext
    _looked = True
    if not os.environ.get("SCALENE_SHM"):
        return None
    for lib in os.environ.get("LD_PRELOAD", "").replace(" ", ":").split(":"):
        if os.path.basename(lib) == "libscalene.so":
            import importlib.machinery
            import importlib.util

            loader = importlib.machinery.ExtensionFileLoader("_scalene", lib)
            spec = importlib.util.spec_from_file_location("_scalene", lib, loader=loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
            _ext = mod
            break
    return _ext


def start():
    """Turns profiling on (for the whole run)."""
    ext = _runtime()
    if ext is not None:
        ext.set_enabled(True)


def stop():
    """Turns profiling off (for the whole run)."""
    ext = _runtime()
    if ext is not None:
        ext.set_enabled(False)


def is_profiling():
    """Whether samples are being taken now."""
    ext = _runtime()
    return bool(ext is not None and ext.is_enabled())


@contextlib.contextmanager
def enable_profiling():
    """Profiles the body of a ``with`` block, then restores the previous state."""
    was = is_profiling()
    start()
    try:
        yield
    finally:
        if not was:
            stop()
