# SPDX-License-Identifier: Apache-2.0
"""Pystone-like workload: small records, classes, integer arithmetic, string
compares, global state and many short function calls.

Written from scratch for this benchmark (the shape, not the code, of the
classic Dhrystone/pystone mix).

Usage: python3 pystone_like.py [LOOPS]
Prints a checksum so the work cannot be skipped.
"""
import sys

KIND_A, KIND_B, KIND_C, KIND_D = range(4)


class Record:
    __slots__ = ("link", "kind", "value", "label", "count")

    def __init__(self, link=None, kind=KIND_A, value=0, label="", count=0):
        self.link = link
        self.kind = kind
        self.value = value
        self.label = label
        self.count = count

    def clone(self):
        return Record(self.link, self.kind, self.value, self.label, self.count)


class Account:
    """A plain (dict-backed) class, so attribute access goes through __dict__."""

    def __init__(self, owner):
        self.owner = owner
        self.balance = 0
        self.history = 0

    def deposit(self, amount):
        self.balance += amount
        self.history += 1
        return self.balance

    def withdraw(self, amount):
        if amount <= self.balance:
            self.balance -= amount
            self.history += 1
            return True
        return False


counter = 0
flag = False
table = [0] * 64
grid = [[0] * 16 for _ in range(16)]


def next_kind(kind):
    if kind == KIND_A:
        return KIND_B
    if kind == KIND_B:
        return KIND_C
    if kind == KIND_C:
        return KIND_D
    return KIND_A


def mix(a, b):
    return (a * 7 + b * 3) % 1009


def bump(n):
    global counter
    counter += n
    return counter & 0xFFFF


def compare_labels(x, y):
    return x == y or (x[:3] == y[:3] and len(x) > len(y))


def fill(rec, i):
    rec.value = mix(rec.value, i)
    rec.kind = next_kind(rec.kind)
    rec.count += 1
    if rec.link is not None:
        rec.link.value = rec.value + 1
    return rec


def update_tables(i, v):
    table[i & 63] = v
    row = grid[i & 15]
    row[(i >> 4) & 15] += v & 7
    return row[i & 15]


def step(i, head, acct, labels):
    global flag
    rec = fill(head, i)
    other = rec.clone()
    other.link = rec
    other = fill(other, i + 1)
    v = mix(other.value, rec.count)
    if v & 1:
        acct.deposit(v)
    elif not acct.withdraw(v // 2):
        acct.deposit(1)
    lab = labels[i % len(labels)]
    flag = compare_labels(lab, rec.label)
    if flag:
        rec.label = labels[(i + 1) % len(labels)]
    else:
        rec.label = lab
    d = divmod(v + i, 13)
    return bump(update_tables(i, d[0] + d[1]))


def run(loops):
    head = Record(Record(), KIND_A, 1, "alpha")
    acct = Account("bench")
    labels = ["alpha", "alphabet", "beta", "gamma", "alp", "delta-string"]
    acc = 0
    for i in range(loops):
        acc = (acc + step(i, head, acct, labels)) & 0xFFFFFFF
    return acc, acct.balance, acct.history, sum(table), sum(map(sum, grid))


def main():
    loops = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    result = run(loops)
    print("pystone_like loops=%d checksum=%r" % (loops, result))


if __name__ == "__main__":
    main()
