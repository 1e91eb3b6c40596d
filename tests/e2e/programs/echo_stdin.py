"""Copies stdin to stdout byte for byte, then writes a trailer with the byte
count and a checksum to stderr."""
import hashlib
import sys

data = sys.stdin.buffer.read()
sys.stdout.buffer.write(data)
sys.stdout.buffer.flush()
sys.stderr.write("bytes=%d sha256=%s\n" % (len(data), hashlib.sha256(data).hexdigest()))
