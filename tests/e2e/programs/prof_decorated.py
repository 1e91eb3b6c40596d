"""@profile with no import: two functions burn CPU, only one is decorated,
and a spawned child runs a third, decorated one. The report must keep only
the decorated functions' lines (and their files). Prints one JSON line."""
import json
import multiprocessing
import time


def burn(seconds):
    t0, x = time.process_time(), 0
    while time.process_time() - t0 < seconds: x += 1  # UNDECORATED_BURN
    return x


@profile  # noqa: F821 (defined by scalene run)
def hot(seconds):
    t0, x = time.process_time(), 0
    while time.process_time() - t0 < seconds: x += 1  # DECORATED_BURN
    return x


@profile  # noqa: F821
def child_work(seconds):
    t0, x = time.process_time(), 0
    while time.process_time() - t0 < seconds: x += 1  # CHILD_DECORATED
    return x


def main():
    burn(0.4)
    hot(0.4)
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=child_work, args=(0.4,))
    p.start()
    p.join()
    print(json.dumps({"child_exit": p.exitcode}))


if __name__ == "__main__":
    main()
