#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_drain (tests/fuzz/drain_corpus/): inputs in
fuzz_drain.c's operation language that a real run produces (each record kind,
strings, stacks, processes ending) and the damage issue 13 saw (0xFF over the
header and slot headers, a slot position far ahead, garbage records), so the
fuzzer starts from the interesting paths. Deterministic; rerun after changing
the language: python3 tests/fuzz/gen_drain_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "drain_corpus")

PUT, POKE, PASS, CLAIM, STR = range(5)
SEG_HDR, SLOT_HDR = 4096, 192
NSLOTS, CAP = 4, 16
CELLS = (SEG_HDR + NSLOTS * SLOT_HDR + 4095) & ~4095
REC_STR, REC_CPU, REC_PROC_START, REC_PROC_EXIT, REC_CHILD_EXIT, REC_THREAD, REC_MEM, REC_COPY = range(1, 9)
REC_PROFILED, REC_STACK = 10, 11


def hdr(kind, flags=0, aux=0, tid=1000, t_ns=1_000_000):
    return struct.pack("<BBHIQ", kind, flags, aux, tid, t_ns)


def rec(kind, body=b"", **kw):
    r = hdr(kind, **kw) + body
    return r + b"\0" * (56 - len(r))


def cpu(file_id, line, flags=0x02, aux=0, cpu_ns=9_000_000, wall=10_000_000):
    return rec(REC_CPU, struct.pack("<QQIIIIII", file_id, 0x77, line, 1, cpu_ns, 1_000_000, wall, 0), flags=flags, aux=aux)


def put(slot, r):
    assert len(r) == 56
    return bytes([PUT, slot]) + r


def poke(off, data):
    return bytes([POKE]) + struct.pack("<HB", off, len(data)) + data


def pas(dead=0):
    return bytes([PASS, dead])


def claim(slot):
    return bytes([CLAIM, slot])


def text(slot, s):
    b = s.encode()
    return bytes([STR, slot, len(b)]) + b


def fnv(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & (2**64 - 1)
    return h or 1


def slot_off(i, field):
    return SEG_HDR + i * SLOT_HDR + {"owner": 0, "dropped": 8, "head": 64, "tail": 128, "torn": 136, "base": 144}[field]


def seeds():
    f = fnv(b"/tmp/prog.py")
    s = {}
    s["cpu_lines"] = b"\0" + claim(0) + text(0, "/tmp/prog.py") + b"".join(
        put(0, cpu(f, 10 + i)) for i in range(8)
    ) + pas(0)
    s["proc_life"] = (
        b"\0"
        + claim(1)
        + put(1, rec(REC_PROC_START, struct.pack("<iiQQII", 1001, 1, 0, 5, 0x030B0000, 1)))
        + put(1, rec(REC_THREAD, struct.pack("<Q", 0x55)))
        + put(1, rec(REC_CHILD_EXIT, struct.pack("<iiQQI", 4242, 0, 1, 2, 0)))
        + put(1, rec(REC_PROC_EXIT, struct.pack("<iiQQI", 1001, 3, 10, 20, 0)))
        + pas(0x02)
    )
    mem = b"".join(
        put(2, rec(REC_MEM, struct.pack("<QQIIQQ", f, 0x77, 20, 1, 1 << 20, 1 << 20), flags=fl))
        for fl in (0x01, 0x00, 0x02, 0x06, 0x08, 0x10, 0x40, 0x20)
    )
    s["memory"] = b"\0" + claim(2) + mem + put(2, rec(REC_COPY, struct.pack("<QQIIQ", f, 0x77, 21, 1, 4096))) + pas(0)
    stack = b"".join(
        put(3, rec(REC_STACK, struct.pack("<QQIIHHIQ", f, 0x77, 30 + k, 1, k, 3, 0, 0), aux=1)) for k in range(3)
    )
    s["stacks"] = b"\0" + claim(3) + text(3, "/tmp/prog.py") + stack + put(3, cpu(f, 32, aux=1)) + put(3, cpu(f, 32, aux=9)) + pas(0)
    s["profiled"] = b"\0" + claim(0) + put(0, rec(REC_PROFILED, struct.pack("<QQII", f, 0x77, 5, 9))) + pas(0)
    s["long_string"] = b"\0" + claim(0) + text(0, "x" * 200) + pas(0) + text(0, "") + pas(1)
    s["wrap_and_drop"] = b"\0" + claim(0) + b"".join(put(0, cpu(f, i)) for i in range(40)) + pas(0) + b"".join(
        put(0, cpu(f, i)) for i in range(20)
    ) + pas(1)
    # issue 13's damage
    s["header_ff"] = b"\x01" + put(0, cpu(f, 1)) + poke(0, b"\xff" * 255) + poke(255, b"\xff" * 255) + pas(0) + put(0, cpu(f, 2)) + pas(0xFF)
    s["slots_ff"] = b"\x01" + put(1, cpu(f, 1)) + b"".join(poke(SEG_HDR + k * 255, b"\xff" * 255) for k in range(4)) + pas(0) + pas(0xFF)
    s["head_far"] = b"\0" + claim(0) + put(0, cpu(f, 1)) + poke(slot_off(0, "head"), struct.pack("<Q", 1 << 62)) + pas(0) + put(0, cpu(f, 2)) + pas(0xFF)
    s["head_behind"] = b"\0" + claim(0) + put(0, cpu(f, 1)) + pas(0) + poke(slot_off(0, "head"), struct.pack("<Q", 0)) + pas(0xFF)
    s["tail_moved"] = b"\0" + claim(0) + put(0, cpu(f, 1)) + poke(slot_off(0, "tail"), struct.pack("<Q", 7)) + pas(0) + pas(0xFF)
    s["owner_scribbled"] = b"\0" + claim(0) + put(0, cpu(f, 1)) + poke(slot_off(0, "owner"), struct.pack("<i", 7)) + pas(0) + pas(0xFF)
    s["cell_seq_bad"] = b"\0" + claim(0) + put(0, cpu(f, 1)) + put(0, cpu(f, 2)) + poke(CELLS, struct.pack("<Q", 99)) + pas(0) + pas(0xFF)
    s["unpublished"] = b"\0" + claim(0) + poke(slot_off(0, "head"), struct.pack("<Q", 3)) + pas(0) + pas(0xFF)
    bad = [
        rec(99),
        rec(9),
        rec(REC_STR, struct.pack("<QHHB3x", 5, 0, 4000, 200)),
        rec(REC_STR, struct.pack("<QHHB3x", 5, 4080, 4096, 16)),
        rec(REC_STR, struct.pack("<QHHB3x", 0, 0, 3, 3)),
        rec(REC_STACK, struct.pack("<QQIIHHIQ", f, 1, 1, 1, 5, 3, 0, 0), aux=2),
        rec(REC_STACK, struct.pack("<QQIIHHIQ", f, 1, 1, 1, 0, 65535, 0, 0), aux=2),
        rec(REC_CHILD_EXIT, struct.pack("<ii", -1, 0)),
        rec(REC_CPU, b"\xff" * 40, flags=0xFF, aux=0xFFFF),
        rec(REC_MEM, b"\xff" * 40, flags=0xFF),
    ]
    s["garbage_records"] = b"\0" + claim(0) + b"".join(put(0, r) for r in bad) + pas(0) + pas(0xFF)
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(OUT, "seed_" + name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
