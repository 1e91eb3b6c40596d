"""Starts children by exec. argv[1]:
  "sys"   subprocess.run([sys.executable, sub_child.py, argv[2]])
  "abs"   subprocess.run(["/usr/bin/python3", sub_child.py, argv[2]])
  "sh"    non-Python children: sh -c 'gzip -c /etc/services' (decompressed
          and compared here) and sh -c 'echo hi'
  "forkexec"  os.fork() then os.execv("/bin/sh", ...): a Python process
          that becomes a non-Python one
Prints one JSON line: its pid, and what the children printed or returned."""
import gzip
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    how = sys.argv[1]
    out = {"main": os.getpid()}
    if how in ("sys", "abs"):
        exe = sys.executable if how == "sys" else "/usr/bin/python3"
        p = subprocess.run([exe, os.path.join(HERE, "sub_child.py"), sys.argv[2]], capture_output=True, text=True)
        out["rc"] = p.returncode
        out["child"] = json.loads(p.stdout)
        out["exe"] = exe
    elif how == "sh":
        p = subprocess.run(["sh", "-c", "gzip -c /etc/services"], capture_output=True)
        with open("/etc/services", "rb") as f:
            want = f.read()
        out["gzip_rc"] = p.returncode
        out["gzip_ok"] = gzip.decompress(p.stdout) == want
        out["gzip_bytes"] = len(p.stdout)
        p = subprocess.run(["sh", "-c", "gzip -c /etc/services > /dev/null"], capture_output=True)
        out["gzip_null_rc"] = p.returncode
        out["gzip_null_out"] = p.stdout.decode() + p.stderr.decode()
        p = subprocess.run(["sh", "-c", "echo hi"], capture_output=True, text=True)
        out["echo_rc"] = p.returncode
        out["echo_out"] = p.stdout
    elif how == "forkexec":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w, 1)
            os.execv("/bin/sh", ["sh", "-c", "echo hi"])
        os.close(w)
        _, status = os.waitpid(pid, 0)
        out["child"] = pid
        out["echo_rc"] = os.waitstatus_to_exitcode(status)
        out["echo_out"] = os.read(r, 100).decode()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
