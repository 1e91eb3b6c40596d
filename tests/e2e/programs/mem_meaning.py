"""What Scalene's memory fields mean (issue 11, item 5; tests/e2e/test_memory_meaning.py).
Ground truth by construction, in order:

KEPT    8 rounds, each appends a list of 655,360 floats to the module global
        KEEP (a list comprehension on one line): ~20 MiB kept per round,
        ~160 MiB in all, never freed. The comprehension's loop variable (an int
        above 256 each time) is allocated and freed on the same line: the kept
        line churns too, and its growth must still be what it keeps.
CHURN   in the same rounds, `acc += i * 3` 400,000 times: every int it makes
        (i * 3, and the new acc) is freed at once; the line keeps nothing. Its
        gross volume is ~24 MB a round (sys.getsizeof of each int made, counted
        in "trace" mode).
TWICE   bytearray(100_000_000) made and dropped on one line, twice: the line's
        memory rises by 100e6 bytes twice (what Scalene's threshold sampler
        reports as 2 x 95.4 MiB of allocation), and keeps nothing.

argv[1] == "trace": also measures what the KEPT line keeps (tracemalloc,
started around that line only, bytes per round summed) and CHURN's gross
volume (getsizeof of each int it makes that is not a cached small int).

Prints one JSON line: pid, result checksum, and under "truth" the traced numbers
(trace mode only)."""
import json
import os
import sys

ROUNDS = 8
N_KEEP = 655_360  # floats of 24 bytes + an 8-byte list slot: 20 MiB a round
N_CHURN = 400_000
BIG = 100_000_000
KEEP = []


def kept(r):
    KEEP.append([x * 0.5 for x in range(r * N_KEEP, (r + 1) * N_KEEP)])  # KEPT


def churn(r):
    acc = r
    for i in range(N_CHURN):
        acc += i * 3  # CHURN
    return acc


def twice():
    n = 0
    for _ in range(2):
        n += len(bytearray(BIG))  # TWICE
    return n


def churn_volume(r):
    """Bytes CHURN's ints ask for in round r (cached small ints ask nothing)."""
    total, acc = 0, r
    for i in range(N_CHURN):
        p = i * 3
        if not -5 <= p <= 256:
            total += sys.getsizeof(p)
        acc += p
        if not -5 <= acc <= 256:
            total += sys.getsizeof(acc)
    return total


def main():
    trace = len(sys.argv) > 1 and sys.argv[1] == "trace"
    out = {"pid": os.getpid()}
    accs = []
    truth = {"kept": 0, "churn_volume": 0}
    if trace:
        import tracemalloc
    for r in range(ROUNDS):
        if trace:
            tracemalloc.start()
        kept(r)
        if trace:
            truth["kept"] += tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            truth["churn_volume"] += churn_volume(r)
        accs.append(churn(r))
    n = twice()
    if trace:
        out["truth"] = truth
    out["result"] = [sum(accs), n, len(KEEP), sum(len(k) for k in KEEP)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
