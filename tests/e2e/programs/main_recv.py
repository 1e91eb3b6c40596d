"""The main thread blocks in a socket recv (C code, no CPU) while a helper
thread sleeps, then sends. Prints one JSON line: main tid and wall time of
the recv."""
import json
import socket
import sys
import threading
import time


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
    left, right = socket.socketpair()

    def later():
        time.sleep(seconds)
        left.sendall(b"x")

    t = threading.Thread(target=later)
    t.start()
    w0, c0 = time.perf_counter(), time.thread_time()
    right.recv(1)  # MAIN_RECV
    w, c = time.perf_counter() - w0, time.thread_time() - c0
    t.join()
    print(json.dumps({"tid": threading.get_native_id(), "wall": w, "cpu": c}))


if __name__ == "__main__":
    main()
