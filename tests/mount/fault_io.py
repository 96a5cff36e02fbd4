#!/usr/bin/python3
"""fault_io.py - file operations that say which call failed and with what errno.

For t_faults.sh: a fault or a full disk may fail an artifact at write(),
fsync() or close(), and the test needs to know which.  Each command does its
calls in order, stops at the first that fails, and prints one line:

    OK                      every call succeeded
    ERRNO STEP [DONE]       e.g. "ENOSPC write 2097152": the errno's name, the
                            call that failed, and for copy the bytes that
                            write() had accepted before it

The exit status is 0 whenever the operation was carried out, failed or not,
and 2 for a usage error.

    fault_io.py copy SRC DST [--fsync] [--block=N]
        open(DST, O_WRONLY|O_CREAT|O_TRUNC, 0644), write SRC's bytes in
        writes of N bytes (default 1 MiB), fsync() if asked, close()
    fault_io.py append PATH TEXT
        open(PATH, O_WRONLY|O_CREAT|O_APPEND), one write of TEXT, close()
    fault_io.py writehex PATH HEX
        open(PATH, O_WRONLY|O_CREAT|O_TRUNC), one write of the bytes HEX
        spells (so that a NUL can be written), close()
    fault_io.py points PATH FIRST COUNT [--batch=N]
        append the points "VALUE STEP" for steps FIRST..FIRST+COUNT-1
        (VALUE = STEP / 8) to metric PATH, N lines per write (default 100),
        then close(); DONE is the number of points whose write returned
"""
import errno
import os
import sys


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def copy(src, dst, do_fsync, block):
    with open(src, "rb") as f:
        data = f.read()
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        return "%s open 0" % name(e)
    done, step = 0, "write"
    try:
        while done < len(data):
            done += os.write(fd, data[done:done + block])
        if do_fsync:
            step = "fsync"
            os.fsync(fd)
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return "%s %s %d" % (name(e), step, done)
    try:
        os.close(fd)
    except OSError as e:
        return "%s close %d" % (name(e), done)
    return "OK"


def write_once(path, flags, data):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
    except OSError as e:
        return "%s open" % name(e)
    try:
        os.write(fd, data)
    except OSError as e:
        os.close(fd)
        return "%s write" % name(e)
    try:
        os.close(fd)
    except OSError as e:
        return "%s close" % name(e)
    return "OK"


def points(path, first, count, batch):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as e:
        return "%s open 0" % name(e)
    done = 0
    try:
        while done < count:
            n = min(batch, count - done)
            lines = "".join("%r %d\n" % ((first + done + i) / 8, first + done + i) for i in range(n))
            os.write(fd, lines.encode())
            done += n
    except OSError as e:
        os.close(fd)
        return "%s write %d" % (name(e), done)
    try:
        os.close(fd)
    except OSError as e:
        return "%s close %d" % (name(e), done)
    return "OK"


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = [a for a in argv if a.startswith("--")]
    block, batch, do_fsync = 1 << 20, 100, False
    for o in opts:
        if o == "--fsync":
            do_fsync = True
        elif o.startswith("--block="):
            block = int(o.split("=", 1)[1])
        elif o.startswith("--batch="):
            batch = int(o.split("=", 1)[1])
        else:
            return None
    if args[:1] == ["copy"] and len(args) == 3:
        return copy(args[1], args[2], do_fsync, block)
    if args[:1] == ["append"] and len(args) == 3:
        return write_once(args[1], os.O_APPEND, args[2].encode())
    if args[:1] == ["writehex"] and len(args) == 3:
        return write_once(args[1], os.O_TRUNC, bytes.fromhex(args[2]))
    if args[:1] == ["points"] and len(args) == 4:
        return points(args[1], int(args[2]), int(args[3]), batch)
    return None


if __name__ == "__main__":
    out = main(sys.argv[1:])
    if out is None:
        sys.stderr.write(__doc__)
        sys.exit(2)
    print(out)
