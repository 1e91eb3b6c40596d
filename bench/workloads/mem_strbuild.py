# SPDX-License-Identifier: Apache-2.0
"""String-builder workload: a hand-written recursive pretty-printer.

Formats a nested tree of dicts, lists and scalars as indented text the way
pprint/json-style formatters do: one short string per scalar, one per
indentation prefix, lists of pieces joined at every level and discarded once
their parent has joined them. Unlike mem_pprint.py, all of the work runs in
this file's own functions.

Usage: python3 mem_strbuild.py [ROUNDS]
Prints a checksum so the work cannot be skipped.
"""
import sys
import zlib


def make_tree(depth, fanout, seed):
    if depth == 0:
        kind = seed % 4
        if kind == 0:
            return seed
        if kind == 1:
            return "leaf-%d" % seed
        if kind == 2:
            return seed / 7.0
        return None
    if depth % 2:
        return {"n%d" % k: make_tree(depth - 1, fanout, seed * 31 + k) for k in range(fanout)}
    return [make_tree(depth - 1, fanout, seed * 17 + k) for k in range(fanout)]


def fmt_scalar(v):
    if isinstance(v, str):
        return '"' + v.replace('"', '\\"') + '"'
    if v is None:
        return "null"
    return repr(v)


def fmt(node, indent):
    pad = "  " * (indent + 1)
    if isinstance(node, dict):
        if not node:
            return "{}"
        items = [pad + fmt_scalar(k) + ": " + fmt(v, indent + 1) for k, v in node.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(node, list):
        if not node:
            return "[]"
        items = [pad + fmt(v, indent + 1) for v in node]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return fmt_scalar(node)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tree = make_tree(6, 7, 1)  # 7**6 = 117649 leaves
    crc = 0
    total = 0
    for _ in range(rounds):
        text = fmt(tree, 0)
        total += len(text)
        crc = zlib.crc32(text.encode(), crc)
    print(f"mem_strbuild rounds={rounds} chars={total} crc={crc:08x}")


if __name__ == "__main__":
    main()
