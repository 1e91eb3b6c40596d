"""Two pure-Python threads with known CPU: A burns 2x the CPU of B while the
main thread joins. Two more threads block the whole time, one in
time.sleep and one in a socket recv: they use no CPU and must not show up as
native time. The burners read their CPU clock (a system call) only every
~10 ms: see programs/preempted.py for why that matters. Each thread measures its own CPU with time.thread_time().
Prints one JSON line: tids and measured CPU seconds."""
import json
import socket
import sys
import threading
import time

out = {}


def burn_a(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(200000):  # BURN_A
            x += i * i % 7
    out["a"] = {"tid": threading.get_native_id(), "cpu": time.thread_time() - t0}


def burn_b(seconds):
    t0 = time.thread_time()
    x = 0
    while time.thread_time() - t0 < seconds:
        for i in range(200000):  # BURN_B
            x += i * i % 7
    out["b"] = {"tid": threading.get_native_id(), "cpu": time.thread_time() - t0}


def sleeper(seconds):
    out["sleeper"] = {"tid": threading.get_native_id()}
    t0 = time.thread_time()
    time.sleep(seconds)  # SLEEPER
    out["sleeper"]["cpu"] = time.thread_time() - t0


def receiver(sock):
    out["receiver"] = {"tid": threading.get_native_id()}
    t0 = time.thread_time()
    data = sock.recv(16)  # RECV
    out["receiver"]["cpu"] = time.thread_time() - t0
    out["receiver"]["data"] = data.decode()


def main():
    unit = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    left, right = socket.socketpair()
    w0 = time.perf_counter()
    blockers = [
        threading.Thread(target=sleeper, args=(3 * unit,), name="sleeper"),
        threading.Thread(target=receiver, args=(right,), name="receiver"),
    ]
    for t in blockers:
        t.start()
    burners = [
        threading.Thread(target=burn_a, args=(2 * unit,), name="burn_a"),
        threading.Thread(target=burn_b, args=(unit,), name="burn_b"),
    ]
    for t in burners:
        t.start()
    for t in burners:
        t.join()  # JOIN
    blockers[0].join()
    left.sendall(b"bye")
    blockers[1].join()
    out["main"] = {"tid": threading.get_native_id(), "wall": time.perf_counter() - w0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
