"""Scalene (C edition): a multi-process CPU profiler for Python.

The profiler is the ``scalene`` binary; this package only lets
``python3 -m scalene ...`` start it (see ``__main__``).
"""

__version__ = "0.1.0"
