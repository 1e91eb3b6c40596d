"""Function rows are the sum of their lines (issue 11): comprehensions,
generator expressions, lambdas and dict comprehensions run in code objects
of their own, but their lines belong to the function they are written in,
as in Scalene. All the work is in burn(); main() only loops."""
import sys
import time


def burn(n):
    total = sum(i * i % 7 for i in range(n))  # GENEXPR
    sq = [i * 3 % 5 for i in range(n)]  # LISTCOMP
    f = lambda v: v * 2 % 3  # LAMBDA
    m = list(map(f, range(n)))  # MAP
    d = {i: i % 3 for i in range(n)}  # DICTCOMP
    return total + len(sq) + len(m) + len(d)


def main():
    end = time.perf_counter() + float(sys.argv[1])
    while time.perf_counter() < end:
        burn(100000)


main()
