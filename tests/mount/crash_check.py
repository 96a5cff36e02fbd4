#!/usr/bin/python3
"""crash_check.py - after a crash, check the mount against what the writers
of t_crash.sh logged as acknowledged.

    crash_check.py MOUNT LOG... [--light LOG...]

Each LOG is one writer's (crash_writer.c, crash_writer.py or the bash
writer of t_crash.sh; the lines are described in crash_writer.c).  A writer
does one call at a time, so at most one thing it did was not acknowledged
when the daemon died; that one may or may not be there.  Checked:

  - every metric line parses as TIMESTAMP VALUE STEP and is the line the
    writer wrote for that step (no torn or changed line), st_size equals
    the bytes read;
  - per writer and metric, the steps read are exactly the acknowledged ones,
    in order, each once, plus at most the next one;
  - every acknowledged run is there, with its param k if that was
    acknowledged; an unacknowledged run or param is at most the next one;
  - every acknowledged file has exactly its last acknowledged content; a
    file being written when the daemon died has its old content (absent or
    empty if it was new) or the whole new one, never a mix;
  - no writer has more than one unacknowledged extra in all.

Prints one "crash_check: FAIL ..." line per problem and a last line

    crash_check: P points, F files (B bytes), R runs, V params checked; X unacknowledged extras

and exits 1 if anything failed.  The logs after --light are checked the
same way except that their files are only checked for their size, not
read (t_crash.sh reads each cycle's files once after its own crash, and all
of them again at the end).
"""
import hashlib
import os
import re
import sys

TS0 = 1700000000000
LINE = re.compile(r"^(\d+) (\S+) (-?\d+)$")

failures = []


def fail(msg):
    failures.append(msg)
    if len(failures) <= 40:
        print("crash_check: FAIL " + msg)


def read_metric(mnt, rel, cache):
    """Steps in file order, checking every line; None if unreadable."""
    if rel in cache:
        return cache[rel]
    path = os.path.join(mnt, rel)
    try:
        with open(path, "rb") as f:
            data = f.read()
        size = os.stat(path).st_size
    except OSError as e:
        fail("%s: cannot read: %s" % (rel, e))
        cache[rel] = None
        return None
    if size != len(data):
        fail("%s: st_size is %d but %d bytes were read" % (rel, size, len(data)))
    if data and not data.endswith(b"\n"):
        fail("%s: the last line has no newline" % rel)
    steps = []
    for n, raw in enumerate(data.decode("ascii", "replace").splitlines(), 1):
        m = LINE.match(raw)
        if not m:
            fail("%s: line %d is torn or malformed: %r" % (rel, n, raw))
            continue
        ts, value, step = int(m.group(1)), m.group(2), int(m.group(3))
        try:
            good = ts == TS0 + step and float(value) == step + 0.5
        except ValueError:
            good = False
        if not good:
            fail("%s: line %d is not the line written for step %d: %r" % (rel, n, step, raw))
        steps.append(step)
    cache[rel] = steps
    return steps


def sha(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            size += len(b)
    return size, h.hexdigest()


def size_only(path):
    """(size, None) of a file, for a light check."""
    return (os.stat(path).st_size, None)


def check_log(mnt, log, cache, totals, light=False):
    points = {}  # metric -> acknowledged steps, in order
    runs, params, files = [], {}, {}
    head = None
    with open(log, "rb") as f:
        lines = f.read().decode("ascii", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        w = raw.split(" ")
        if w[0] == "W" and len(w) == 4 and head is None:
            head = (int(w[1]), w[2], w[3])
        elif w[0] == "P" and len(w) == 3:
            points.setdefault(w[1], []).append(int(w[2]))
        elif w[0] == "R" and len(w) == 2:
            runs.append(w[1])
        elif w[0] == "V" and len(w) == 3:
            params[w[1]] = w[2]
        elif w[0] in ("T", "F") and len(w) == 4:
            files.setdefault(w[1], []).append((w[0], int(w[2]), w[3]))
        else:
            fail("%s: a log line that is not whole: %r" % (log, raw))
            return
    if head is None:
        fail("%s: no header line (the writer did not start?)" % log)
        return
    wid, run, exp = head
    extras = []

    # Points: the acknowledged steps, in order, once, and at most the next one.
    for rel in (os.path.join(run, "metrics", "w%d" % wid), os.path.join(run, "metrics", "shared")):
        shared = rel.endswith("/shared")
        acked = points.pop(rel, [])
        if not os.path.exists(os.path.join(mnt, rel)) and not acked:
            continue
        steps = read_metric(mnt, rel, cache)
        if steps is None:
            continue
        first = wid * 1000000 if shared else 0
        mine = [s for s in steps if s // 1000000 == wid] if shared else steps
        nxt = acked[-1] + 1 if acked else first
        if mine[: len(acked)] != acked:
            missing = sorted(set(acked) - set(mine))
            fail("%s: writer %d: the acknowledged steps %d..%d are not all there once in order "
                 "(%d read; missing %s; first read %s)" % (
                     rel, wid, first, nxt - 1, len(mine), missing[:5], mine[:5]))
        rest = mine[len(acked):]
        if rest == [nxt]:
            extras.append("point %s step %d" % (rel, nxt))
        elif rest:
            fail("%s: writer %d: after the %d acknowledged steps came %s (at most step %d may)"
                 % (rel, wid, len(acked), rest[:5], nxt))
        totals["points"] += len(acked)
    for rel in points:
        fail("%s: writer %d logged points to a metric it does not own" % (rel, wid))

    # Runs and their param; of the runs not acknowledged, only the next may be there.
    for r in runs:
        if not os.path.isdir(os.path.join(mnt, r)):
            fail("%s: an acknowledged run is missing" % r)
            continue
        try:
            with open(os.path.join(mnt, r, "meta")) as f:
                if "run_id" not in f.read():
                    fail("%s/meta has no run_id" % r)
        except OSError as e:
            fail("%s/meta: %s" % (r, e))
        totals["runs"] += 1
        p = os.path.join(r, "params", "k")
        want = params.get(p)
        try:
            with open(os.path.join(mnt, p)) as f:
                got = f.read()
        except FileNotFoundError:
            got = None
        except OSError as e:
            fail("%s: %s" % (p, e))
            continue
        if want is not None:
            totals["params"] += 1
            if got != want + "\n":
                fail("%s: the acknowledged param is %r, read %r" % (p, want + "\n", got))
        elif got is not None:
            idx = r.rsplit("-r", 1)[1]
            if got != idx + "\n":
                fail("%s: an unacknowledged param reads %r (it could only be %r)" % (p, got, idx))
            extras.append("param " + p)
    try:
        names = os.listdir(os.path.join(mnt, exp))
    except OSError as e:
        fail("%s: cannot list: %s" % (exp, e))
        names = []
    acked_names = set(os.path.basename(r) for r in runs)
    for name in sorted(names):
        mm = re.match(r"^w(\d+)-r(\d+)$", name)
        if not mm or int(mm.group(1)) != wid or name in acked_names:
            continue
        if int(mm.group(2)) == len(runs):
            extras.append("run " + name)
        else:
            fail("%s/%s: a run that writer %d never got to make" % (exp, name, wid))

    # Files: the last acknowledged content, or for the one in flight, old or new whole.
    for rel, events in sorted(files.items()):
        path = os.path.join(mnt, rel)
        acked = inflight = None
        for kind, size, h in events:
            if kind == "T":
                inflight = (size, h)
            else:
                acked = (size, h)
                inflight = None
        try:
            got = size_only(path) if light else sha(path)
        except FileNotFoundError:
            got = None
        except OSError as e:
            fail("%s: cannot read: %s" % (rel, e))
            continue
        allowed = []
        if acked:
            allowed.append(acked)
        if inflight:
            allowed.append(inflight)
            if not acked:
                allowed += [None, (0, hashlib.sha256(b"").hexdigest())]
        if light:
            allowed = [a and (a[0], None) for a in allowed]
        if got not in allowed:
            if got is None:
                fail("%s: the acknowledged file is missing" % rel)
            else:
                fail("%s: %d bytes with sha256 %s; expected %s" % (
                    rel, got[0], got[1][:16],
                    " or ".join("absent" if a is None else "%d bytes %s" % (a[0], a[1][:16])
                                for a in allowed)))
        elif inflight and got == inflight and got != acked and got[0] > 0:
            extras.append("file " + rel)
        if acked:
            totals["files"] += 1
            totals["bytes"] += acked[0]
    adir = os.path.join(run, "artifacts", "w%d" % wid)
    try:
        for name in os.listdir(os.path.join(mnt, adir)):
            if os.path.join(adir, name) not in files:
                fail("%s/%s: a file this writer never wrote" % (adir, name))
    except FileNotFoundError:
        if files:
            fail("%s: missing" % adir)
    except OSError as e:
        fail("%s: cannot list: %s" % (adir, e))

    if len(extras) > 1:
        fail("%s: writer %d has %d unacknowledged extras (at most one call was in flight): %s"
             % (os.path.basename(log), wid, len(extras), ", ".join(extras)))
    totals["extras"] += len(extras)


def main():
    if len(sys.argv) < 3:
        print("usage: crash_check.py MOUNT LOG...", file=sys.stderr)
        return 2
    mnt = sys.argv[1]
    cache = {}
    totals = dict(points=0, files=0, bytes=0, runs=0, params=0, extras=0)
    light = False
    for log in sys.argv[2:]:
        if log == "--light":
            light = True
            continue
        check_log(mnt, log, cache, totals, light)
    print("crash_check: %(points)d points, %(files)d files (%(bytes)d bytes), %(runs)d runs, "
          "%(params)d params checked; %(extras)d unacknowledged extras" % totals)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
