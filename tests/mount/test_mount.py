"""Tests through a real mount, from Python.

Each test gets its own store and mount point from the `mnt` fixture, which
starts `$MLFS mount -f STORE MNT`, waits at most 10 s for it to answer, and
always unmounts and stops that daemon (and only that one) afterwards, failing
the test if the daemon did not exit cleanly or a sanitizer complained.

Run with /usr/bin/python3 -m pytest -q tests/mount/test_mount.py;
scripts/run-tests.sh sets MLFS (the binary) and MLFS_TEST_TMP (where work
directories go).
"""

import mmap
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MLFS = os.environ.get("MLFS") or str(REPO / "build" / "mlfs")
TMP = os.environ.get("MLFS_TEST_TMP", "/tmp")
READY_S = 10
GRACE_S = 10
SANITIZER = re.compile(
    rb"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL"
)
POINT = re.compile(rb"^(\d+) (\S+) (-?\d+)$")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b") ", 1)[1][:1]
        return state != b"Z"
    except (FileNotFoundError, IndexError):
        return False


def _mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Mount:
    """One store, its mount point and the daemon serving it."""

    def __init__(self, work):
        self.work = work
        self.store = os.path.join(work, "store")
        self.root = os.path.join(work, "mnt")
        self.log = os.path.join(work, "daemon.log")
        self.proc = None
        self.problems = []
        os.mkdir(self.root)
        r = subprocess.run(
            [MLFS, "init", self.store], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
        if r.returncode != 0:
            raise AssertionError(f"mlfs init failed ({r.returncode}): {r.stderr.decode(errors='replace')}")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def log_tail(self, n=40):
        try:
            with open(self.log, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def start(self):
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                [MLFS, "mount", "-f", self.store, self.root],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        with open(os.path.join(self.work, "daemon.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the daemon exited with status {self.proc.returncode} before its mount "
                    f"was ready; its log:\n{self.log_tail()}"
                )
            try:
                r = subprocess.run(
                    ["stat", os.path.join(self.root, ".mlfs")],
                    capture_output=True,
                    timeout=2,
                )
                if r.returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the mount was not ready within {READY_S} s; its log:\n{self.log_tail()}")

    def stop(self):
        """Unmount and wait for the daemon; record what went wrong."""
        if _mounted(self.root):
            try:
                r = subprocess.run(["fusermount3", "-u", self.root], capture_output=True, timeout=10)
                ok = r.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            if not ok:
                subprocess.run(["fusermount3", "-uz", self.root], capture_output=True, timeout=10)
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            status = self.proc.wait(timeout=GRACE_S)
            if status != 0:
                self.problems.append(f"the daemon exited with status {status} after its unmount")
        except subprocess.TimeoutExpired:
            self.problems.append(f"the daemon (pid {pid}) was still running {GRACE_S} s after its unmount")
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        try:
            os.unlink(os.path.join(self.work, "daemon.pid"))
        except FileNotFoundError:
            pass

    def remount(self):
        self.stop()
        self.start()

    def finish(self):
        """Stop, check the log, remove the work directory; returns the problems."""
        try:
            self.stop()
        finally:
            try:
                with open(self.log, "rb") as f:
                    m = SANITIZER.search(f.read())
                if m:
                    self.problems.append(f"the sanitizer reported errors: {m.group(0).decode()}")
            except FileNotFoundError:
                pass
            if self.problems:
                self.problems.append("daemon log:\n" + self.log_tail())
            if _mounted(self.root):
                self.problems.append(f"{self.root} is still mounted; left {self.work} in place")
            else:
                shutil.rmtree(self.work, ignore_errors=True)
        return self.problems


@pytest.fixture
def mnt():
    work = tempfile.mkdtemp(prefix="mlfs-py.", dir=TMP)
    m = Mount(work)
    try:
        m.start()
        yield m
    finally:
        problems = m.finish()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def run(mnt):
    """exp1/run42 in a fresh mount; returns its path."""
    path = mnt.path("exp1", "run42")
    os.makedirs(path)
    return path


def now_ms():
    return int(time.time() * 1000)


def points(data):
    """Parse a metric's bytes into (timestamp, value text, step), checking every line."""
    assert data == b"" or data.endswith(b"\n"), f"the metric does not end with a newline: {data[-40:]!r}"
    out = []
    for line in data.split(b"\n")[:-1]:
        m = POINT.match(line)
        assert m, f"not a 'TIMESTAMP VALUE STEP' line: {line!r}"
        out.append((int(m.group(1)), m.group(2).decode(), int(m.group(3))))
    return out


def same_bytes(got, want, what):
    """Fail with the first differing offset, not a dump of two large buffers."""
    got, want = bytes(got), bytes(want)
    if got == want:
        return
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
    pytest.fail(
        f"{what}: {len(got)} bytes instead of {len(want)}, first difference at offset {i}: "
        f"got {got[i:i + 16]!r}, expected {want[i:i + 16]!r}",
        pytrace=False,
    )


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---- metrics -------------------------------------------------------------


def test_append_from_python(run):
    acc = os.path.join(run, "metrics", "acc")
    t0 = now_ms()
    for _ in range(3):
        with open(acc, "a") as f:
            f.write("0.93\n")
    with open(acc, "a") as f:
        print(0.5, file=f, flush=True)
        print("1e-5", file=f, flush=True)
        f.write("2 10\n")
        f.write("1700000000000 3.25 20\n")
    t1 = now_ms()
    got = points(read_bytes(acc))
    assert [(v, s) for _, v, s in got] == [
        ("0.93", 0),
        ("0.93", 1),
        ("0.93", 2),
        ("0.5", 3),
        ("1e-05", 4),
        ("2.0", 10),
        ("3.25", 20),
    ]
    for ts, _, _ in got[:6]:
        assert t0 - 2000 <= ts <= t1 + 2000, f"timestamp {ts} is not the time of the write ({t0}..{t1})"
    assert got[6][0] == 1700000000000
    assert os.stat(acc).st_size == len(read_bytes(acc))


def test_malformed_append_is_einval_and_stores_nothing(run):
    m = os.path.join(run, "metrics", "m")
    with open(m, "a") as f:
        f.write("0.1\n")
    before = read_bytes(m)
    for bad in ["abc\n", "0.2\nnot a number\n", "1 2 3 4\n", "0.5 1.5\n"]:
        fd = os.open(m, os.O_WRONLY | os.O_APPEND)
        try:
            with pytest.raises(OSError) as e:
                os.write(fd, bad.encode())
            assert e.value.errno == 22, f"{bad!r}: expected EINVAL, got {e.value}"
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
    same_bytes(read_bytes(m), before, "the metric after refused writes")


def _appender(path, kind, first, count, barrier):
    """One writer of test_concurrent_appends; values first..first+count-1 plus .5."""
    barrier.wait()
    lines = [f"{first + i}.5\n" for i in range(count)]
    if kind == "reopen":
        for line in lines:
            with open(path, "a") as f:
                f.write(line)
    elif kind == "linebuffered":
        with open(path, "a", buffering=1) as f:
            for line in lines:
                f.write(line)
    elif kind == "split":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        for line in lines:
            b = line.encode()
            assert os.write(fd, b[:2]) == 2
            assert os.write(fd, b[2:]) == len(b) - 2
        os.close(fd)
    elif kind == "batched":
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        for i in range(0, count, 25):
            b = "".join(lines[i : i + 25]).encode()
            assert os.write(fd, b) == len(b)
        os.close(fd)


def test_concurrent_appends_lose_and_tear_nothing(run):
    path = os.path.join(run, "metrics", "loss")
    kinds = ["reopen", "linebuffered", "split", "batched"] * 2
    count = 150
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(kinds))
    procs = [
        ctx.Process(target=_appender, args=(path, kind, w * 1000, count, barrier))
        for w, kind in enumerate(kinds)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]

    got = points(read_bytes(path))
    assert len(got) == len(kinds) * count
    # Implicit steps: one sequence in file order, whoever wrote.
    assert [s for _, _, s in got] == list(range(len(got)))
    values = [float(v) for _, v, _ in got]
    for w in range(len(kinds)):
        mine = [v for v in values if w * 1000 <= v < (w + 1) * 1000]
        assert mine == [w * 1000 + i + 0.5 for i in range(count)], f"writer {w} ({kinds[w]}) lost or reordered points"


def test_reads_at_any_offset(run):
    path = os.path.join(run, "metrics", "series")
    with open(path, "a") as f:
        for i in range(500):
            f.write(f"{i / 7} {i * 3}\n")
    full = read_bytes(path)
    assert len(points(full)) == 500
    assert os.stat(path).st_size == len(full)
    rng = random.Random(2)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(300):
            off = rng.randrange(0, len(full) + 10)
            n = rng.randrange(1, 3000)
            same_bytes(os.pread(fd, n, off), full[off : off + n], f"pread({n}, {off})")
        # A reader that stays open sees what is appended after it opened.
        with open(path, "a") as f:
            f.write("42 5000\n")
        grown = read_bytes(path)
        assert grown.startswith(full)
        assert os.fstat(fd).st_size == len(grown)
        same_bytes(os.pread(fd, 1000, len(full)), grown[len(full) :], "pread of the appended point")
        assert grown[len(full) :].split(b" ", 1)[1] == b"42.0 5000\n"
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        f.seek(len(full) // 2)
        same_bytes(f.read(), grown[len(full) // 2 :], "read from the middle")


def test_st_size_is_exact(run):
    files = {
        "params/lr": "0.01\n",
        "tags/owner": "alice\n",
    }
    for rel, text in files.items():
        with open(os.path.join(run, rel), "w") as f:
            f.write(text)
    with open(os.path.join(run, "status"), "w") as f:
        f.write("FINISHED\n")
    with open(os.path.join(run, "metrics", "acc"), "a") as f:
        f.write("0.1\n")
    for rel in ["params/lr", "tags/owner", "status", "meta", "metrics/acc"]:
        p = os.path.join(run, rel)
        data = read_bytes(p)
        assert len(data) > 0, rel
        assert os.stat(p).st_size == len(data), rel
    acc = os.path.join(run, "metrics", "acc")
    size = os.stat(acc).st_size
    with open(acc, "a") as f:
        f.write("1700000000000 0.25 7\n")
    assert os.stat(acc).st_size == size + len("1700000000000 0.25 7\n")


# ---- artifacts -----------------------------------------------------------


def test_artifact_random_writes_match_a_model(mnt, run):
    path = os.path.join(run, "artifacts", "model.bin")
    rng = random.Random(7)
    model = bytearray()
    with open(path, "w+b", buffering=0) as f:
        for op in range(300):
            kind = rng.random()
            if kind < 0.6:
                off = rng.randrange(0, 5 << 20)
                data = rng.randbytes(rng.randrange(1, 200 << 10))
                f.seek(off)
                assert f.write(data) == len(data)
                if off > len(model):
                    model.extend(b"\0" * (off - len(model)))
                model[off : off + len(data)] = data
            elif kind < 0.7:
                size = rng.randrange(0, 6 << 20)
                f.truncate(size)
                if size < len(model):
                    del model[size:]
                else:
                    model.extend(b"\0" * (size - len(model)))
            else:
                off = rng.randrange(0, len(model) + 100)
                n = rng.randrange(1, 300 << 10)
                same_bytes(os.pread(f.fileno(), n, off), model[off : off + n], f"op {op}: pread({n}, {off})")
            assert os.fstat(f.fileno()).st_size == len(model), f"op {op}"
    assert os.stat(path).st_size == len(model)
    same_bytes(read_bytes(path), model, "the whole file after close")
    # Appending, then reading at random offsets of the closed file.
    tail = rng.randbytes(70000)
    with open(path, "ab") as f:
        f.write(tail)
    model.extend(tail)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(200):
            off = rng.randrange(0, len(model) + 100)
            n = rng.randrange(1, 1 << 20)
            same_bytes(os.pread(fd, n, off), model[off : off + n], f"pread({n}, {off}) of the closed file")
    finally:
        os.close(fd)
    mnt.remount()
    same_bytes(read_bytes(path), model, "the artifact after a remount")


def test_artifact_mmap(run):
    path = os.path.join(run, "artifacts", "weights.bin")
    rng = random.Random(11)
    data = rng.randbytes((3 << 20) + 17)
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            assert len(m) == len(data)
            same_bytes(m[:], data, "the whole mapping")
            for _ in range(100):
                off = rng.randrange(0, len(data))
                n = rng.randrange(1, 65536)
                same_bytes(m[off : off + n], data[off : off + n], f"mapping[{off}:{off + n}]")
    patch = rng.randbytes(5000)
    with open(path, "r+b") as f:
        with mmap.mmap(f.fileno(), 0) as m:
            m[1000000 : 1000000 + len(patch)] = patch
            m.flush()
    want = data[:1000000] + patch + data[1000000 + len(patch) :]
    same_bytes(read_bytes(path), want, "the file after a write through a shared mapping")


def test_closed_file_content_appears_atomically(run):
    path = os.path.join(run, "artifacts", "ckpt.bin")
    size = 1 << 20
    old = b"a" * size
    with open(path, "wb") as f:
        f.write(old)
    reader = [
        "/usr/bin/python3",
        "-c",
        "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())",
        path,
    ]
    with open(path, "r+b", buffering=0) as f:
        f.write(b"b" * (size // 4))
        seen = subprocess.run(reader, capture_output=True, timeout=60).stdout
        same_bytes(seen, old, "another process read the file while it was open for writing (expected the old content)")
        f.seek(size - size // 4)
        f.write(b"b" * (size // 4))
    new = b"b" * (size // 4) + b"a" * (size // 2) + b"b" * (size // 4)
    seen = subprocess.run(reader, capture_output=True, timeout=60).stdout
    same_bytes(seen, new, "another process read the file after close (expected the new content)")
