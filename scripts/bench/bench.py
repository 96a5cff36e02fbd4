#!/usr/bin/env python3
"""bench.py - the measurements of `make bench` (issue 4), and their table.

Run by scripts/bench.sh, which installs what is missing, builds mlfs and the
helpers of this folder, makes the work directory and cleans up after us:

    bench.py WORK MLFS HELPERS

WORK is an empty directory on the disk under test (the stores, the native
copies and the generated data all go there, so "native" means the same
disk); MLFS the mlfs binary; HELPERS the folder with barefs, benchgen and
benchtree built.  Every mount made here is written to WORK/mounts and every
process started to WORK/pids before it can be needed, so that bench.sh's
trap can undo them even if this script is killed.

Each figure is measured against its baseline in the same run, the two
interleaved rep by rep (and their order alternated) so that a slow spell of
a shared machine lands on both.  Every figure is the median of its reps,
shown with the range [min-max]; a ratio is the median of the per-rep ratios.

Environment: BENCH_QUICK=1 (smaller sizes, fewer reps: a smoke run of a few
minutes), BENCH_REPS=N (override the rep count), BENCH_ONLY=a,b (run only
these sections: echo python writers mkdir tree big metric ckpt),
BENCH_OUT=FILE (where the table also goes, and the raw samples as JSON next
to it), BENCH_LABEL (says what was measured, for a binary outside a checkout).
"""

import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

QUICK = os.environ.get("BENCH_QUICK") == "1"
T_OP = 1800  # seconds any one command may take

if QUICK:
    SIZES = dict(echo=2000, python=20000, writer=500, mkdir=1000, runs_ls=1000,
                 ls_runs=10000, files=(20, 500), big_mib=128, metric=1000000,
                 ckpt_mib=64, ckpts=10)
    REPS = dict(small=3, mkdir=3, big=3, read=3, tree=3, cli=5)
else:
    SIZES = dict(echo=20000, python=200000, writer=5000, mkdir=10000, runs_ls=10000,
                 ls_runs=100000, files=(100, 1000), big_mib=1024, metric=10000000,
                 ckpt_mib=256, ckpts=10)
    REPS = dict(small=5, mkdir=5, big=5, read=5, tree=5, cli=10)
if os.environ.get("BENCH_REPS"):
    REPS = {k: int(os.environ["BENCH_REPS"]) for k in REPS}


# ---------------------------------------------------------------- plumbing

def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    """Run cmd (a list, or a string for bash), fail loudly, return its stdout."""
    if isinstance(cmd, str):
        cmd = ["bash", "-c", cmd]
    kw.setdefault("stdout", subprocess.PIPE)
    p = subprocess.run(cmd, text=True, timeout=T_OP, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(cmd)}")
    return p.stdout


def timed(cmd, **kw):
    """Seconds cmd took, from fork to exit."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    t = time.perf_counter()
    run(cmd, **kw)
    return time.perf_counter() - t


def sync():
    os.sync()


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def warm(path):
    run(["cat", path], stdout=subprocess.DEVNULL)


def recycle(path, mib):
    """Write mib MiB to path, then delete it, so that the next writer of
    that much finds memory the kernel has just freed.

    On these VMs memory the guest has not touched lately (or has handed
    back to the host) costs about 3 s per GiB to write the first time,
    against 0.3-0.8 s for memory just freed; a cp that gets one or the
    other measures the VM, not the file system.  Each timed cp, on every
    side, comes right after this."""
    block = b"\xa5" * 2**20
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
    os.sync()
    os.unlink(path)
    os.sync()


class Mounts:
    """Every mount and process this run makes, undone in reverse order."""

    def __init__(self, work, mlfs, helpers):
        self.work, self.mlfs, self.helpers = work, mlfs, helpers
        self.active = []  # (kind, mountpoint, pid)

    def _note(self, name, line):
        with open(os.path.join(self.work, name), "a") as f:
            f.write(line + "\n")

    def _wait_mounted(self, mnt, proc=None, limit=10.0):
        end = time.time() + limit
        while time.time() < end:
            if os.path.ismount(mnt):
                return
            if proc and proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"'{mnt}' did not get mounted")

    def mlfs_fresh(self, store, mnt):
        """A new store at store, served at mnt; returns the daemon's pid.

        Stores are never deleted during the run: ext4 makes creating files
        slow for a while after many were deleted (it scans past recently
        freed inodes), which would bill the next measurement for the last
        one's cleanup.  bench.sh removes the work directory at the end."""
        if os.path.exists(store):
            raise RuntimeError(f"'{store}' is already there")
        run([self.mlfs, "init", store])
        return self.mlfs_mount(store, mnt)

    def mlfs_mount(self, store, mnt):
        """Serve store at mnt; returns the daemon's pid."""
        os.makedirs(mnt, exist_ok=True)
        self._note("mounts", f"fuse {mnt}")
        run([self.mlfs, "mount", store, mnt])
        with open(os.path.join(mnt, ".mlfs", "pid")) as f:
            pid = int(f.read())
        self._note("pids", str(pid))
        self.active.append(("mlfs", mnt, pid))
        return pid

    def barefs(self, mnt, single=False, keep_cache=False):
        os.makedirs(mnt, exist_ok=True)
        self._note("mounts", f"fuse {mnt}")
        cmd = ([os.path.join(self.helpers, "barefs")] + (["-s"] if single else []) +
               (["-k"] if keep_cache else []) + [mnt])
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(self.work, "barefs.log"), "a"))
        self._note("pids", str(proc.pid))
        self.active.append(("barefs", mnt, proc))
        self._wait_mounted(mnt, proc)
        return proc

    def tmpfs(self, mnt, size):
        os.makedirs(mnt, exist_ok=True)
        self._note("mounts", f"tmpfs {mnt}")
        run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", mnt])
        self.active.append(("tmpfs", mnt, None))

    def umount(self, mnt):
        for i, (kind, m, who) in enumerate(self.active):
            if m == mnt:
                del self.active[i]
                self._undo(kind, m, who)
                return
        raise RuntimeError(f"'{mnt}' is not one of ours")

    def _undo(self, kind, mnt, who):
        if kind == "tmpfs":
            if subprocess.run(["umount", mnt]).returncode:
                subprocess.run(["umount", "-l", mnt])
            return
        if kind == "mlfs":
            # mlfs umount waits for the daemon to finish writing.
            if subprocess.run([self.mlfs, "umount", mnt], timeout=T_OP).returncode:
                subprocess.run(["fusermount3", "-uz", mnt])
            end = time.time() + 60
            while os.path.exists(f"/proc/{who}") and time.time() < end:
                time.sleep(0.05)
            if os.path.exists(f"/proc/{who}"):
                os.kill(who, signal.SIGKILL)
            return
        if subprocess.run(["fusermount3", "-u", mnt]).returncode:
            subprocess.run(["fusermount3", "-uz", mnt])
        try:
            who.wait(timeout=30)
        except subprocess.TimeoutExpired:
            who.kill()
            who.wait()

    def close(self):
        while self.active:
            kind, mnt, who = self.active.pop()
            try:
                self._undo(kind, mnt, who)
            except Exception as e:  # keep undoing the others
                log(f"cannot unmount '{mnt}': {e}")


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def cpu_s(pid):
    """CPU seconds (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LOADS = []


def load_note():
    """Remember the 1-minute load average: the table says how busy the machine was."""
    LOADS.append(os.getloadavg()[0])


def reset_hwm(pid):
    """Make VmHWM start again from the current RSS (Linux clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5\n")


class Rss:
    """The daemon's peak RSS over a with-block: VmHWM (reset at the start), and
    the peaks of its two parts, RssAnon (heap, stacks) and RssFile (mapped
    files: LMDB's map), sampled every 10 ms."""

    def __init__(self, pid):
        self.pid = pid
        self.anon = self.file = self.hwm = 0

    def _sample(self):
        with open(f"/proc/{self.pid}/status") as f:
            text = f.read()
        kib = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1)) * 1024
        self.anon = max(self.anon, kib("RssAnon"))
        self.file = max(self.file, kib("RssFile"))
        return kib("VmHWM")

    def _loop(self):
        while not self.stop.wait(0.01):
            self._sample()

    def __enter__(self):
        import threading
        reset_hwm(self.pid)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.hwm = self._sample()

    def __str__(self):
        return (f"VmHWM {self.hwm / 2**20:.1f} MiB (peak RssAnon {self.anon / 2**20:.1f} MiB, "
                f"peak RssFile {self.file / 2**20:.1f} MiB)")


def index_bytes(store):
    """Bytes of the LMDB pages that hold data (branch, leaf, overflow of every database)."""
    out = run(["mdb_stat", "-a", "-e", os.path.join(store, "index")])
    psize = int(re.search(r"Page size: (\d+)", out).group(1))
    pages = sum(int(n) for n in re.findall(r"(?:Branch|Leaf|Overflow) pages: (\d+)", out))
    return pages * psize


def tree_bytes(path):
    """Apparent size of every file under path."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size
    return total


# ---------------------------------------------------------------- results

class Stat:
    def __init__(self, samples):
        self.samples = list(samples)

    @property
    def med(self):
        return statistics.median(self.samples)

    def fmt(self, f):
        s = f(self.med)
        if len(self.samples) > 1 and f(min(self.samples)) != f(max(self.samples)):
            s += f" [{f(min(self.samples))}–{f(max(self.samples))}]"
        return s


def si(x):
    """3 significant digits, with k or M."""
    for div, suf in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


# Units: (name, formatter) pairs for row().
PTS = ("pts/s", si)
RUNS = ("runs/s", si)
MIBPS = ("MiB/s", lambda x: f"{x / 2**20:.0f}")
MS = ("ms", lambda x: f"{x * 1e3:.3g}")
S = ("s", lambda x: f"{x:.3g}")
MIB = ("MiB", lambda x: f"{x / 2**20:.1f}")
US = lambda x: f"{x * 1e6:.3g}"  # seconds, shown in µs
LAT = ("ms", lambda x: f"{x:.2f}")
BPP = ("B/point", lambda x: f"{x:.2f}")


def ratio(x):
    return f"{x:.2f}×"


ROWS = []
NOTES = []


def row(figure, unit, value, base_label=None, base=None, rat=None, target=None, met=None):
    """One line of the table: value, base and rat are Stats (base and rat may be None)."""
    name, f = unit
    ROWS.append(dict(
        figure=figure, unit=name, value=value.fmt(f),
        base_label=base_label or "—", baseline=base.fmt(f) if base else "—",
        ratio=rat.fmt(ratio) if rat else "—",
        target=target or "report",
        met="—" if met is None else ("yes" if met else "NO"),
        samples=dict(value=value.samples, baseline=base.samples if base else None,
                     ratio=rat.samples if rat else None)))
    r = ROWS[-1]
    log(f"{figure}: {r['value']} {name} | {r['base_label']} {r['baseline']} | {r['ratio']}")


def note(text):
    NOTES.append(text)
    log(text)


def order(i, a, b):
    """The two runs of rep i, their order alternated rep by rep."""
    return (a, b) if i % 2 == 0 else (b, a)


# ---------------------------------------------------------------- sections

class Bench:
    def __init__(self, work, mlfs, helpers):
        self.work, self.mlfs, self.helpers = work, mlfs, helpers
        self.m = Mounts(work, mlfs, helpers)
        self.data = os.path.join(work, "data")
        os.makedirs(self.data, exist_ok=True)

    def path(self, *p):
        return os.path.join(self.work, *p)

    def helper(self, name, *args, **kw):
        return run([os.path.join(self.helpers, name)] + [str(a) for a in args], **kw)

    # -- small appends

    def echo(self):
        n, reps = SIZES["echo"], REPS["small"]
        log(f"echo loop: {n} points x {reps} reps, on mlfs, bare FUSE (mt, st) and tmpfs")
        store, mnt = self.path("s-echo"), self.path("m-echo")
        pid = self.m.mlfs_fresh(store, mnt)
        os.makedirs(os.path.join(mnt, "e", "r"))
        bare, bare1, tmp = self.path("m-bare"), self.path("m-bare1"), self.path("m-tmpfs")
        self.m.barefs(bare)
        self.m.barefs(bare1, single=True)
        self.m.tmpfs(tmp, "1g")
        loop = f'for ((i = 0; i < {n}; i++)); do echo 0.$i >>"$0"; done'
        targets = [("mlfs", lambda r: os.path.join(mnt, "e", "r", "metrics", f"echo{r}")),
                   ("bare", lambda r: os.path.join(bare, f"echo{r}")),
                   ("bare1", lambda r: os.path.join(bare1, f"echo{r}")),
                   ("tmpfs", lambda r: os.path.join(tmp, f"echo{r}"))]
        res = {k: [] for k, _ in targets}
        cpu = []
        for r in range(reps):
            load_note()
            # rotate which goes first
            k = r % len(targets)
            for name, where in targets[k:] + targets[:k]:
                c = cpu_s(pid)
                t = timed(["bash", "-c", loop, where(r)])
                res[name].append(n / t)
                if name == "mlfs":
                    cpu.append((cpu_s(pid) - c) / n)
        got = run(["wc", "-l", os.path.join(mnt, "e", "r", "metrics", "echo0")]).split()[0]
        if int(got) != n:
            raise RuntimeError(f"the echo loop stored {got} points of {n}")
        self.m.umount(tmp)
        self.m.umount(bare1)
        self.m.umount(bare)
        self.m.umount(mnt)
        v = Stat(res["mlfs"])
        for key, label, target, goal in (("bare", "bare FUSE, mt loop", "≥ 1.0×", 1.0),
                                         ("bare1", "bare FUSE, 1 thread", None, None),
                                         ("tmpfs", "tmpfs", None, None)):
            rat = Stat(a / b for a, b in zip(res["mlfs"], res[key]))
            row(f"bash `echo V >> metrics/m` loop, {si(n)} points", PTS, v, label,
                Stat(res[key]), rat, target, None if goal is None else rat.med >= goal)
        note(f"daemon CPU per `echo >>` append: {Stat(cpu).fmt(US)} µs")

    def python(self):
        n, reps = SIZES["python"], REPS["small"]
        log(f"python appender: {n} points x {reps} reps, on mlfs and tmpfs")
        store, mnt, tmp = self.path("s-py"), self.path("m-py"), self.path("m-tmpfs")
        pid = self.m.mlfs_fresh(store, mnt)
        os.makedirs(os.path.join(mnt, "e", "r"))
        self.m.tmpfs(tmp, "1g")
        prog = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyappend.py")
        res = {"mlfs": [], "tmpfs": []}
        cpu = []
        for r in range(reps):
            load_note()
            for name in order(r, "mlfs", "tmpfs"):
                f = (os.path.join(mnt, "e", "r", "metrics", f"py{r}") if name == "mlfs"
                     else os.path.join(tmp, f"py{r}"))
                c = cpu_s(pid)
                t = float(run(["/usr/bin/python3", prog, f, str(n)]))
                res[name].append(n / t)
                if name == "mlfs":
                    cpu.append((cpu_s(pid) - c) / n)
        self.m.umount(tmp)
        self.m.umount(mnt)
        v = Stat(res["mlfs"])
        rat = Stat(a / b for a, b in zip(res["mlfs"], res["tmpfs"]))
        row(f"Python, one `write()` per point, {si(n)} points", PTS, v, "tmpfs",
            Stat(res["tmpfs"]), rat, "≥ 50k pts/s", v.med >= 50000)
        note(f"daemon CPU per Python write: {Stat(cpu).fmt(US)} µs (includes the "
             f"process's start and exit)")

    def writers(self):
        n, reps, k = SIZES["writer"], REPS["small"], 4
        log(f"concurrent writers: {k} x {n} points vs 1 x {k * n}, {reps} reps")
        store, mnt = self.path("s-wr"), self.path("m-wr")
        self.m.mlfs_fresh(store, mnt)
        os.makedirs(os.path.join(mnt, "e", "r"))
        prog = os.path.join(os.path.dirname(os.path.abspath(__file__)), "appender.sh")
        thr = {1: [], k: []}
        p99 = {1: [], k: []}
        for r in range(reps):
            load_note()
            for w in order(r, 1, k):
                metric = os.path.join(mnt, "e", "r", "metrics", f"w{w}_{r}")
                go = self.path(f"go{w}_{r}")
                outs = [self.path(f"lat{w}_{r}_{i}") for i in range(w)]
                procs = [subprocess.Popen(["bash", prog, metric, str(k * n // w), o, go])
                         for o in outs]
                time.sleep(0.3)
                t = time.perf_counter()
                open(go, "w").close()
                for p in procs:
                    if p.wait(timeout=T_OP):
                        raise RuntimeError("a bash writer failed")
                t = time.perf_counter() - t
                lat = sorted(int(x) for o in outs for x in open(o).read().split())
                got = int(run(["wc", "-l", metric]).split()[0])
                if got != k * n:
                    raise RuntimeError(f"{w} writers stored {got} points of {k * n}")
                thr[w].append(k * n / t)
                p99[w].append(lat[min(len(lat) - 1, int(0.99 * len(lat)))] / 1e3)
        self.m.umount(mnt)
        rat = Stat(a / b for a, b in zip(thr[k], thr[1]))
        row(f"{k} bash writers on one metric, {k} × {si(n)} points", PTS, Stat(thr[k]),
            "one writer", Stat(thr[1]), rat, "≥ 1.5×", rat.med >= 1.5)
        v = Stat(p99[k])
        row(f"{k} bash writers: p99 latency of one append", LAT, v, "one writer",
            Stat(p99[1]), None, "≤ 5 ms", v.med <= 5.0)

    # -- names

    def mkdir(self):
        n, reps = SIZES["mkdir"], REPS["mkdir"]
        log(f"mkdir: {n} runs in one experiment x {reps} reps (fresh store each)")
        mnt = self.path("m-mkdir")
        first, total, last = [], [], []
        for r in range(reps):
            load_note()
            store = self.path(f"s-mkdir{r}")
            self.m.mlfs_fresh(store, mnt)
            exp = os.path.join(mnt, "exp")
            os.mkdir(exp)
            t100, t, tl = map(float, self.helper("benchtree", "mkdirs", exp, n).split())
            first.append(100 / t100)
            total.append(n / t)
            last.append(1000 / tl if tl else 0)
            if r < reps - 1:
                self.m.umount(mnt)
        # the last rep's experiment gets params and metrics for `mlfs ls`
        m = SIZES["runs_ls"]
        t = timed([os.path.join(self.helpers, "benchtree"), "fill", exp, str(m)])
        note(f"filling {m} runs with 3 params and 2 metrics of 3 points each took "
             f"{t:.1f} s ({5 * m / t:.0f} files/s)")
        lines = run([self.mlfs, "ls", store, "exp"]).count("\n")
        if lines < m:
            raise RuntimeError(f"mlfs ls printed {lines} lines for {m} runs")
        cli = []
        for _ in range(REPS["cli"]):
            cli.append(timed([self.mlfs, "ls", store, "exp"]))
        self.m.umount(mnt)
        v = Stat(total)
        rat = Stat(a / b for a, b in zip(total, first))
        row(f"`mkdir` {si(n)} runs in one experiment", RUNS, v, "first 100 runs",
            Stat(first), rat, "≥ 0.9×, ≥ 5k/s", rat.med >= 0.9 and v.med >= 5000)
        note(f"mkdir: rate over the last 1000 of {si(n)} runs: "
             f"{Stat(last).fmt(RUNS[1])} runs/s")
        v = Stat(cli)
        row(f"`mlfs ls` of an experiment with {si(m)} runs", MS, v, None, None, None,
            "≤ 100 ms", v.med <= 0.1)

    def tree(self):
        n, reps = SIZES["ls_runs"], REPS["tree"]
        d, f = SIZES["files"]
        log(f"ls -l of {n} runs and find -ls over {d * f} artifacts, {reps} reps")
        store, mnt = self.path("s-tree"), self.path("m-tree")
        nat = self.path("native-tree")
        pid = self.m.mlfs_fresh(store, mnt)
        exp = os.path.join(mnt, "big")
        os.makedirs(exp)
        os.makedirs(os.path.join(nat, "big"))
        t100, t, tl = map(float, self.helper("benchtree", "mkdirs", exp, n).split())
        note(f"mkdir of {si(n)} runs: {n / t:.0f} runs/s overall, {100 / t100:.0f} over the "
             f"first 100, {1000 / tl if tl else 0:.0f} over the last 1000")
        self.helper("benchtree", "mkdirs", os.path.join(nat, "big"), n)
        art = os.path.join(mnt, "big", "r0", "artifacts")
        nart = os.path.join(nat, "art")
        os.makedirs(nart)
        t = timed([os.path.join(self.helpers, "benchtree"), "files", art, str(d), str(f)])
        note(f"writing {d * f} small artifact files took {t:.1f} s ({d * f / t:.0f} files/s)")
        self.helper("benchtree", "files", nart, d, f)
        sync()
        env = dict(os.environ, LC_ALL="C")
        cmds = {"ls": lambda root: ["ls", "-l", root],
                "find": lambda root: ["find", root, "-ls"]}
        roots = {"ls": (exp, os.path.join(nat, "big")), "find": (art, nart)}
        # the same entries on both sides (an experiment also has meta and tags)
        for what, (a, b) in roots.items():
            la = run(cmds[what](a), env=env).count("\n")
            lb = run(cmds[what](b), env=env).count("\n")
            if not lb <= la <= lb + 2:
                raise RuntimeError(f"{what}: {la} lines on mlfs, {lb} on the native disk")
        res = {}
        for what in ("ls", "find"):
            mine, base = [], []
            for r in range(reps):
                load_note()
                for side in order(r, 0, 1):
                    t = timed(cmds[what](roots[what][side]), env=env)
                    (mine if side == 0 else base).append(t)
            res[what] = (mine, base)
        note(f"daemon VmHWM after building and listing the trees: "
             f"{vm_hwm_kib(pid) / 1024:.1f} MiB; index {index_bytes(store) / 2**20:.0f} MiB")
        self.m.umount(mnt)
        for what, label in (("ls", f"`ls -l` of an experiment of {si(n)} runs"),
                            ("find", f"`find -ls` over {si(d * f)} artifact files")):
            mine, base = res[what]
            rat = Stat(a / b for a, b in zip(mine, base))
            row(label, S if max(mine) >= 1 else MS, Stat(mine), "native disk", Stat(base),
                rat, "≤ 2× time", rat.med <= 2.0)

    # -- big files

    def big(self):
        size, reps = SIZES["big_mib"], REPS["big"]
        log(f"big files: cp of {size} MiB random and float32 x {reps} reps, then reads")
        files = {}
        for kind in ("random", "floats"):
            files[kind] = os.path.join(self.data, f"{kind}.bin")
            if not os.path.exists(files[kind]):
                self.helper("benchgen", kind, files[kind], size)
        mnt = self.path("m-big")
        nat = self.path("native-big")
        os.makedirs(nat, exist_ok=True)
        cp = {k: ([], [], []) for k in files}
        hwm, rss_parts = [], []
        cpu = {k: [] for k in files}
        # The FUSE ceiling: the same cp into the bench's bare in-memory FUSE fs.
        bare = self.path("m-bare")
        self.m.barefs(bare)
        for r in range(reps):
            load_note()
            store = self.path(f"s-big{r}")
            pid = self.m.mlfs_fresh(store, mnt)
            art = os.path.join(mnt, "e", "r", "artifacts")
            os.makedirs(os.path.join(mnt, "e", "r"))
            for kind, src in files.items():
                warm(src)
                sides = [0, 1, 2] if kind == "random" else [0, 1]
                for side in sides[r % len(sides):] + sides[:r % len(sides)]:
                    if side == 1:
                        dst = os.path.join(nat, os.path.basename(src))
                        if os.path.exists(dst):
                            os.unlink(dst)
                    recycle(self.path("ballast"), size)
                    if side == 2:
                        dst = os.path.join(bare, os.path.basename(src))
                        t = timed(["cp", src, bare + "/"])
                        os.unlink(dst)
                    elif side == 0:
                        c = cpu_s(pid)
                        with Rss(pid) as rss:
                            t = timed(["cp", src, art + "/"])
                        cpu[kind].append((cpu_s(pid) - c) / (size / 1024))
                        hwm.append(rss.hwm)
                        rss_parts.append(rss)
                    else:
                        t = timed(["cp", src, nat + "/"])
                    cp[kind][side].append(size * 2**20 / t)
            if r < reps - 1:
                self.m.umount(mnt)
        self.m.umount(bare)
        note(f"chunk store after both copies: "
             f"{MIB[1](tree_bytes(os.path.join(store, 'chunks')))} MiB for {2 * size} MiB copied")
        # reads of the float32 file: the last rep's copy on mlfs and on the disk
        mine = os.path.join(art, "floats.bin")
        native = os.path.join(nat, "floats.bin")
        run(["cmp", files["floats"], mine])  # fails the bench if the copy differs
        cold = ([], [])
        rcpu = {"cold": [], "warm": []}
        for r in range(REPS["read"]):
            load_note()
            for side in order(r, 0, 1):
                drop_caches()
                c = cpu_s(pid)
                t = timed(["cat", mine if side == 0 else native])
                cold[side].append(size * 2**20 / t)
                if side == 0:
                    rcpu["cold"].append((cpu_s(pid) - c) / (size / 1024))
        # The ceiling of a warm read through FUSE: the bare fs, keeping its cache.
        bare = self.path("m-bare-k")
        self.m.barefs(bare, keep_cache=True)
        inbare = os.path.join(bare, "floats.bin")
        run(["cp", files["floats"], inbare])
        warmr = ([], [], [])
        for p in (mine, native, inbare):
            warm(p)
        for r in range(REPS["read"]):
            for side in [0, 1, 2][r % 3:] + [0, 1, 2][:r % 3]:
                if side == 0:
                    c = cpu_s(pid)
                    with Rss(pid) as rss_read:
                        t = timed(["cat", mine])
                    rcpu["warm"].append((cpu_s(pid) - c) / (size / 1024))
                else:
                    t = timed(["cat", native if side == 1 else inbare])
                warmr[side].append(size * 2**20 / t)
        self.m.umount(bare)
        self.m.umount(mnt)
        label = f"{size / 1024:g} GiB" if size >= 1024 else f"{size} MiB"
        for kind, what in (("random", "random file"), ("floats", "float32 array (smooth)")):
            mine_s, base_s, bare_s = cp[kind]
            rat = Stat(a / b for a, b in zip(mine_s, base_s))
            row(f"`cp` of a {label} {what} into artifacts/", MIBPS, Stat(mine_s),
                "cp on native disk", Stat(base_s), rat, "≥ 0.6×", rat.med >= 0.6)
            if bare_s:
                rat = Stat(a / b for a, b in zip(bare_s, base_s))
                row("(reference) that `cp` into the bare FUSE fs (128 KiB writes)", MIBPS,
                    Stat(bare_s),
                    "cp on native disk", Stat(base_s), rat)
        for res, what, goal in ((cold, "cold read (caches dropped)", 0.6),
                                (warmr, "warm read", 0.8)):
            rat = Stat(a / b for a, b in zip(res[0], res[1]))
            row(f"`cat` of that float32 file, {what}", MIBPS, Stat(res[0]), "native disk",
                Stat(res[1]), rat, f"≥ {goal}×", rat.med >= goal)
        rat = Stat(a / b for a, b in zip(warmr[2], warmr[1]))
        row("(reference) that warm read, bare FUSE fs with keep_cache", MIBPS,
            Stat(warmr[2]), "native disk", Stat(warmr[1]), rat)
        v = Stat(hwm)
        row(f"daemon peak RSS during each {label} `cp`", MIB, v, None, None, None, "≤ 64 MiB",
            v.med <= 64 * 2**20)
        for kind in files:
            note(f"daemon CPU per GiB copied ({kind}): {Stat(cpu[kind]).fmt(S[1])} s")
        worst = max(rss_parts, key=lambda x: x.hwm)
        note(f"daemon during the {label} copies, the worst rep: {worst}")
        note(f"daemon during the last warm read of the {label} file: {rss_read}")
        for k, v in rcpu.items():
            note(f"daemon CPU per GiB read ({k}): {Stat(v).fmt(S[1])} s")

    def metric(self):
        n = SIZES["metric"]
        log(f"metric: {n} points of a noisy loss curve")
        src = os.path.join(self.data, "loss.txt")
        if not os.path.exists(src):
            self.helper("benchgen", "loss", src, n)
        store, mnt = self.path("s-metric"), self.path("m-metric")
        pid = self.m.mlfs_fresh(store, mnt)
        os.makedirs(os.path.join(mnt, "e", "r"))
        self.m.umount(mnt)
        before = index_bytes(store)
        data_mdb = os.path.join(store, "index", "data.mdb")
        du_before = os.stat(data_mdb).st_blocks * 512
        pid = self.m.mlfs_mount(store, mnt)
        metric = os.path.join(mnt, "e", "r", "metrics", "loss")
        warm(src)
        t = timed(f'cat "{src}" >>"{metric}"')
        note(f"logging {si(n)} points with `cat >>` (128 KiB writes) took {t:.1f} s "
             f"({si(n / t)} pts/s)")
        text = os.stat(metric).st_size
        got = int(run(["wc", "-l", metric]).split()[0])
        if got != n:
            raise RuntimeError(f"the metric has {got} points of {n}")
        reads, rss, parts = [], [], []
        for r in range(REPS["big"]):
            with Rss(pid) as m:
                reads.append(n / timed(["cat", metric]))
            rss.append(m.hwm)
            parts.append(m)
        self.m.umount(mnt)
        after = index_bytes(store)
        du_after = os.stat(data_mdb).st_blocks * 512
        note(f"index file (data.mdb) grew by {MIB[1](du_after - du_before)} MiB on disk, "
             f"{(du_after - du_before) / n:.2f} B/point (free pages included)")
        per = (after - before) / n
        row(f"index bytes per point, {si(n)}-point noisy loss curve", BPP, Stat([per]),
            "MLflow's text", Stat([text / n]), Stat([per / (text / n)]), "≤ 6 B/point",
            per <= 6.0)
        v = Stat(rss)
        row(f"daemon peak RSS during `cat` of that metric", MIB, v, None, None, None,
            "≤ 64 MiB", v.med <= 64 * 2**20)
        note(f"reading the {si(n)}-point metric with cat: {Stat(reads).fmt(si)} pts/s")
        note(f"daemon during `cat` of the metric, the worst rep: {max(parts, key=lambda x: x.hwm)}")

    def ckpt(self):
        size, count = SIZES["ckpt_mib"], SIZES["ckpts"]
        log(f"checkpoints: {count} of {size} MiB, each 1% different from the last")
        src = os.path.join(self.data, "ckpts")
        if not os.path.exists(src):
            os.makedirs(src)
            self.helper("benchgen", "ckpts", src, size, count)
        store, mnt = self.path("s-ckpt"), self.path("m-ckpt")
        self.m.mlfs_fresh(store, mnt)
        art = os.path.join(mnt, "e", "r", "artifacts")
        os.makedirs(os.path.join(mnt, "e", "r"))
        base = index_bytes(store) + tree_bytes(os.path.join(store, "chunks"))
        stored = []
        for c in range(count):
            run(["cp", os.path.join(src, f"ckpt{c}"), art + "/"])
            stored.append(index_bytes(store) + tree_bytes(os.path.join(store, "chunks")) - base)
        run(["cmp", os.path.join(src, f"ckpt{count - 1}"), os.path.join(art, f"ckpt{count - 1}")])
        self.m.umount(mnt)
        label = f"{size / 1024:g} GiB" if size >= 1024 else f"{size} MiB"
        rat = stored[-1] / stored[0]
        row(f"{count} checkpoints of {label}, 1% apart: stored", MIB, Stat([stored[-1]]),
            "one checkpoint", Stat([stored[0]]), Stat([rat]), "≤ 1.3×", rat <= 1.3)
        note(f"checkpoints: {count * size} MiB copied, {MIB[1](stored[-1])} MiB stored "
             f"(the first {MIB[1](stored[0])} MiB, each next one "
             f"{MIB[1]((stored[-1] - stored[0]) / max(1, count - 1))} MiB on average)")


# ---------------------------------------------------------------- report

def machine(work, mlfs):
    def first(path, pat):
        try:
            m = re.search(pat, open(path).read(), re.M)
            return m.group(1).strip() if m else "?"
        except OSError:
            return "?"

    # The commit the binary was built from, as far as its checkout tells.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(mlfs)))
    commit = os.environ.get("BENCH_LABEL", "")
    if not commit:
        try:
            commit = "commit " + run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                                     stderr=subprocess.DEVNULL).strip()
            if run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"]).strip():
                commit += " with uncommitted changes"
        except Exception:
            commit = f"binary {mlfs}"
    src = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", work]).split()
    dev = os.path.basename(src[0]) if src else "?"
    rot = first(f"/sys/block/{dev}/queue/rotational", r"(\d)")
    disk = (f"{src[0]} ({src[1]}, {'rotating' if rot == '1' else 'non-rotating'})"
            if len(src) == 2 else "?")
    mem = int(first("/proc/meminfo", r"MemTotal:\s+(\d+)")) / 2**20
    cpu = first("/proc/cpuinfo", r"^model name\s*:(.*)$")
    osname = first("/etc/os-release", r'^PRETTY_NAME="?([^"]*)')
    fuse = run(["pkg-config", "--modversion", "fuse3"]).strip()
    return [
        f"machine: {cpu}, {os.cpu_count()} CPUs, "
        f"{mem:.1f} GiB RAM",
        f"system:  {osname}, Linux {platform.release()}, libfuse {fuse}",
        f"disk:    {disk}, work directory {work}",
        f"load:    1-minute load average {min(LOADS):.1f} to {max(LOADS):.1f} during the run "
        f"(other work on the machine slows both sides of a ratio, not always equally)",
        f"mlfs:    {commit}; {'BENCH_QUICK=1 (smoke sizes)' if QUICK else 'full sizes'}; "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


def table(work, mlfs, elapsed):
    cols = [("figure", "figure"), ("unit", "unit"), ("mlfs", "value"),
            ("baseline", "base_label"), ("baseline value", "baseline"),
            ("mlfs ÷ baseline", "ratio"), ("target", "target"), ("met", "met")]
    width = [max(len(h), *(len(r[k]) for r in ROWS)) for h, k in cols]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, width)) + " |"
    out = ["mlfs benchmark (make bench)"] + machine(work, mlfs) + [""]
    out.append(line([h for h, _ in cols]))
    out.append("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in ROWS:
        out.append(line([r[k] for _, k in cols]))
    out += ["",
            "Each cell is the median of its reps, [min–max] when they differ. mlfs ÷ baseline",
            "is the median of the per-rep ratios, mlfs and baseline run interleaved in this",
            "run: speed ÷ speed (above 1: mlfs is faster), time ÷ time for ls and find,",
            "bytes ÷ bytes for sizes.",
            f"Reps: {REPS['small']} (appends), {REPS['mkdir']} (mkdir), {REPS['big']} (cp, RSS), "
            f"{REPS['read']} "
            f"(reads), {REPS['tree']} (ls -l, find), {REPS['cli']} (mlfs ls); the two sizes are "
            "deterministic, measured once.",
            "Baselines: bare FUSE is scripts/bench/barefs.c, an in-memory file system on",
            "libfuse's low-level API with the textbook open/write/flush/release, served by",
            "libfuse's default multi-threaded loop (mt) or its single-threaded one;",
            "tmpfs is a fresh size-limited tmpfs; native disk is a folder on the disk that",
            "holds the store (cp and reads of the same bytes, ls and find of the same tree);",
            "(reference) rows show what a textbook FUSE fs gets on this machine: it reports a",
            "4 KiB st_blksize, so cp and cat use 128 KiB calls where mlfs's 1 MiB gets 1 MiB.",
            "MLflow's text is the metric's st_size, which is exactly MLflow's file-store",
            "format; index bytes are LMDB's branch, leaf and overflow pages added by the",
            "points; stored is chunk files plus index pages."]
    if NOTES:
        out += ["", "Notes:"] + [f"- {n}" for n in NOTES]
    out.append(f"(the bench took {elapsed / 60:.1f} min)")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: bench.py WORK MLFS HELPERS")
    work, mlfs, helpers = sys.argv[1:]
    b = Bench(work, mlfs, helpers)
    sections = ["echo", "python", "writers", "mkdir", "tree", "big", "metric", "ckpt"]
    only = os.environ.get("BENCH_ONLY")
    if only:
        sections = [s for s in sections if s in only.split(",")]
    t0 = time.time()
    try:
        for s in sections:
            load_note()
            getattr(b, s)()
        load_note()
    finally:
        b.m.close()
    text = table(work, mlfs, time.time() - t0)
    print(text, end="")
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as f:
            f.write(text)
        with open(re.sub(r"\.txt$", "", out) + ".json", "w") as f:
            json.dump(dict(rows=ROWS, notes=NOTES, sizes=SIZES, reps=REPS), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
