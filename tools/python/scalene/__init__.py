"""Scalene (C edition): a multi-process CPU profiler for Python.

The profiler is the ``scalene`` binary; this package only lets
``python3 -m scalene ...`` start it (see ``__main__``), and gives IPython
``%load_ext scalene`` (the magics live in ``scalene.jupyter``, imported only
then, so importing this package never imports IPython).
"""

__version__ = "0.1.0"


def load_ipython_extension(ipython):
    """``%load_ext scalene``: registers the ``%scrun`` and ``%%scalene`` magics."""
    from scalene.jupyter import load_ipython_extension as load

    load(ipython)
