"""Burns a little CPU (so there are samples), prints its pid, then ends the
way argv[1] says: sys3 (sys.exit(3)), os5 (os._exit(5)), kill9 (SIGKILL to
itself), segv (SIGSEGV to itself, no core file), raise (an uncaught exception),
ok (returns)."""
import json
import os
import resource
import signal
import sys
import time


def burn(seconds):
    # CPU seconds, not wall: on a busy machine the wall clock runs on while
    # the process waits for a CPU, which the profile rightly does not count
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(1000):  # BURN
            x += i
    return x


def main():
    how = sys.argv[1]
    burn(float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}), flush=True)
    if how == "ok":
        return 0
    if how == "raise":
        raise RuntimeError("uncaught")
    if how == "sys3":
        sys.exit(3)
    elif how == "os5":
        os._exit(5)
    elif how == "kill9":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segv":
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(5)  # not reached unless the signal was lost
    return 0


if __name__ == "__main__":
    main()
