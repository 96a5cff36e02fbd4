#!/usr/bin/python3
"""crash_writer.py - one of the writers of t_crash.sh, in Python.

    crash_writer.py ID RUN EXP LOG SEED

The same work and the same log lines as crash_writer.c (see there): points
to metrics/w<ID> and metrics/shared, runs EXP/w<ID>-r<K> with param k, files
RUN/artifacts/w<ID>/f<K> (some written again), and after each acknowledged
call one line in LOG.  Python's own ways: the own metric through a file
object flushed after each line, the shared one with `with open(..., "a")`
(acknowledged once the with block has closed it), files with shutil-style
buffered writes.  Runs until a call fails; then prints it and exits 3.
"""
import hashlib
import os
import random
import sys

TS0 = 1700000000000
MiB = 1 << 20


def main():
    wid, run, exp, log, seed = sys.argv[1:6]
    rng = random.Random(int(seed))
    mnt = os.path.dirname(exp)
    logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def ack(*words):
        os.write(logfd, (" ".join(str(w) for w in words) + "\n").encode())

    def rel(p):
        return os.path.relpath(p, mnt)

    def line(step):
        return "%d %d.5 %d\n" % (TS0 + step, step, step)

    ack("W", wid, rel(run), rel(exp))
    own = os.path.join(run, "metrics", "w" + wid)
    shared = os.path.join(run, "metrics", "shared")
    adir = os.path.join(run, "artifacts", "w" + wid)
    step = sstep = nfiles = nruns = 0
    try:
        os.makedirs(adir, exist_ok=True)
        ownf = open(own, "a", buffering=1)  # line-buffered: one write(2) per point
        while True:
            r = rng.randrange(100)
            if r < 55:
                ownf.write(line(step))  # the newline flushes it
                ack("P", rel(own), step)
                step += 1
            elif r < 75:
                s = int(wid) * 1000000 + sstep
                with open(shared, "a") as f:
                    f.write(line(s))
                ack("P", rel(shared), s)
                sstep += 1
            elif r < 85:
                rd = os.path.join(exp, "w%s-r%d" % (wid, nruns))
                os.mkdir(rd)
                ack("R", rel(rd))
                p = os.path.join(rd, "params", "k")
                with open(p, "w") as f:
                    f.write("%d\n" % nruns)
                ack("V", rel(p), nruns)
                nruns += 1
            else:
                if nfiles and rng.randrange(4) == 0:
                    k = rng.randrange(nfiles)
                else:
                    k = nfiles
                    nfiles += 1
                x = rng.randrange(100)
                size = (0 if x < 10 else rng.randrange(4096) if x < 40
                        else rng.randrange(512 * 1024) if x < 80 else rng.randrange(4 * MiB))
                data = os.urandom(size)
                h = hashlib.sha256(data).hexdigest()
                p = os.path.join(adir, "f%d" % k)
                ack("T", rel(p), size, h)
                with open(p, "wb", buffering=256 * 1024) as f:
                    f.write(data)
                ack("F", rel(p), size, h)
    except OSError as e:
        print("crash_writer.py %s: %s" % (wid, e), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
