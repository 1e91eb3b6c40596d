"""Prints its arguments as one JSON line."""
import json
import os
import sys

print(json.dumps({"argv": sys.argv, "pid": os.getpid(), "executable": sys.executable, "cwd": os.getcwd()}))
