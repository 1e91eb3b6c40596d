"""A program whose child overwrites the profiler's shared segment (issue 13).

    seg_scribble.py MODE [SECONDS]

The main process burns CPU on BEFORE for SECONDS, waits half a second (the
drain takes what it wrote), runs one child that maps SCALENE_SHM read-write
and damages it, burns CPU on AFTER for SECONDS, prints one JSON line and
exits with status 7. MODE says what the child does:

  ff       every byte of the segment becomes 0xFF (the child is profiled:
           its own runtime keeps writing into what it destroyed)
  random   every byte becomes random (profiled, like ff)
  head     the main process's slot gets x_head = 2**62, owners left alone
  records  not profiled: claims a free slot and publishes GARBAGE records
           that break the format (an unknown kind, and string chunks whose
           length runs past the record), correctly sequenced, then exits

The slot layout written here is runtime/ring.c's: a 4096-byte header, then
192-byte slot headers (x_owner at 0, x_head at 64, x_tail at 128, x_base at
144), then 64-byte cells (a sequence word stored minus the cell's index, then
the 56-byte record). The JSON line says what the child did: its pid, exit
status and, for records, the pid that owned the slot.
"""
import json
import mmap
import os
import struct
import subprocess
import sys
import time

SEG_HDR = 4096
SLOT_HDR = 192
CELL = 64
GARBAGE = 40  # records the "records" child publishes


def before(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(2000):
            total += i * i % 5  # BEFORE
    return total


def after(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        for i in range(2000):
            total += i * i % 3  # AFTER
    return total


def geometry(m):
    nslots, cap = struct.unpack_from("<II", m, 16)
    hdrs = (SEG_HDR + nslots * SLOT_HDR + 4095) & ~4095
    return nslots, cap, hdrs


def garbage_records():
    recs = []
    for i in range(GARBAGE):
        if i % 2 == 0:
            # kind 99: no such record
            recs.append(struct.pack("<BBHIQ", 99, 0, 0, os.getpid(), i) + b"\x5a" * 40)
        else:
            # REC_STR whose chunk says 200 bytes: past the 24-byte text
            body = struct.pack("<QHHB3x", 0x1234 + i, 0, 4000, 200) + b"A" * 24
            recs.append(struct.pack("<BBHIQ", 1, 0, 0, os.getpid(), i) + body)
    return recs


def child(mode):
    fd = os.open(os.environ["SCALENE_SHM"], os.O_RDWR)
    size = os.fstat(fd).st_size
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    out = {"pid": os.getpid()}
    if mode in ("ff", "random"):
        chunk = 1 << 20
        ff = b"\xff" * chunk
        for off in range(0, size, chunk):
            n = min(chunk, size - off)
            m[off : off + n] = ff[:n] if mode == "ff" else os.urandom(n)
    elif mode == "head":
        nslots, cap, hdrs = geometry(m)
        target = os.getppid()
        for i in range(nslots):
            s = SEG_HDR + i * SLOT_HDR
            if struct.unpack_from("<i", m, s)[0] == target:
                struct.pack_into("<Q", m, s + 64, 1 << 62)
                out["slot"] = i
    elif mode == "records":
        nslots, cap, hdrs = geometry(m)
        me = os.getpid()
        for i in reversed(range(nslots)):  # claimants start at a hash of their pid: take from the end
            s = SEG_HDR + i * SLOT_HDR
            if struct.unpack_from("<i", m, s)[0] == 0:
                break
        else:
            raise SystemExit("no free slot")
        struct.pack_into("<i", m, s, me)
        tail = struct.unpack_from("<Q", m, s + 128)[0]
        recs = garbage_records()
        cells = hdrs + i * cap * CELL
        for k, rec in enumerate(recs):
            pos = tail + k
            c = cells + (pos % cap) * CELL
            m[c + 8 : c + 64] = rec
            struct.pack_into("<Q", m, c, (pos + 1 - (pos % cap)) & (2**64 - 1))
        struct.pack_into("<Q", m, s + 64, tail + len(recs))
        out["slot"] = i
    m.flush()
    m.close()
    print(json.dumps(out))


def main():
    mode = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "child":
        child(mode)
        return
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    before(seconds)
    time.sleep(0.5)  # the drain passes every 5 ms: BEFORE's samples are in the tables
    env = dict(os.environ)
    if mode == "records":
        env.pop("LD_PRELOAD", None)
    p = subprocess.run([sys.executable, __file__, mode, "child"], env=env, capture_output=True, text=True)
    info = {"child_rc": p.returncode, "child_err": p.stderr[-2000:]}
    try:
        info.update(json.loads(p.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        pass
    after(seconds)
    info["main_pid"] = os.getpid()
    print(json.dumps(info))
    sys.stdout.flush()
    sys.exit(7)


if __name__ == "__main__":
    main()
