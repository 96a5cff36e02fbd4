#!/usr/bin/env python3
"""pyappend.py FILE N - log N points to FILE from one open file, one write()
per point, as a Python training loop that keeps its metric file open does.
Prints the seconds the N writes took (opening and closing the file are not
in it; the lines are made before the clock starts)."""
import os
import sys
import time

path, n = sys.argv[1], int(sys.argv[2])
lines = [f"{1.0 / (1 + i * 1e-3):.6g}\n".encode() for i in range(n)]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
write = os.write
t = time.perf_counter()
for line in lines:
    write(fd, line)
t = time.perf_counter() - t
os.close(fd)
print(f"{t:.6f}")
