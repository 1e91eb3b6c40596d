# SPDX-License-Identifier: Apache-2.0
"""pprint workload: pretty-print a big nested structure with the standard library.

The shape of pyperformance's bm_pprint, the worst case (4.03x) in Scalene's
paper: PrettyPrinter.pformat of a long list of small nested containers. pprint
builds its output from very many short strings (reprs, indentation, separators)
that it joins and throws away, so nearly every bytecode allocates. Its time is
spent in the standard library's pprint.py; a profiler attributes it to the
lines of this file that call it.

Usage: python3 mem_pprint.py [ITEMS]
Prints a checksum so the work cannot be skipped.
"""
import pprint
import sys
import zlib


def build(items):
    # Values vary with i so that repr is not always given the same object.
    return [("string%d" % (i % 97), (i, 2), [3, i % 7], {5: 6, i % 11: "v"}) for i in range(items)]


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = build(items)
    printer = pprint.PrettyPrinter(width=80)
    text = printer.pformat(data)
    readable = printer.isreadable(data)
    print(f"mem_pprint items={items} chars={len(text)} crc={zlib.crc32(text.encode()):08x} readable={readable}")


if __name__ == "__main__":
    main()
