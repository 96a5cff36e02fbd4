#!/usr/bin/env bash
# t_faults.sh - failures in the commit path, a full disk and a tiny LMDB map
# (issue 5, item 4).
#
# 1. Injected faults (MLFS_FAULT, store/fault.h): the daemon is restarted with
#    a fault armed, one operation is done, and then
#      - the call gets the errno (at the step named: write, close, fsync...),
#      - /.mlfs/errors gets a line about the path, and fsck is clean,
#      - the tree is exactly as before (every name, mode, size and content,
#        `mlfs ls`) in the next daemon (a remount), and for the namespace
#        and values also at once,
#      - there, once the fault has fired, the same operation works.
#    Artifacts: the first chunk rename and write (EIO, ENOSPC) and each LMDB
#    commit of a small copy (all committed at close); the first chunk rename,
#    a chunk store that stays broken (write:2+), the first and the last
#    commit of a 3 MiB copy (chunks go out during write()).  fsync: the
#    error reaches fsync(), nothing committed before is lost, and a daemon
#    that can no longer flush acknowledges no further write.  Namespace and
#    values: each LMDB commit of mkdir (experiment, run, model, version), a
#    new param, a new metric, a metric append, a tag, the status, a rename,
#    an unlink, a chmod and a move to the trash.  How many commits an
#    operation makes is counted first, from LMDB's transaction id, on a twin
#    of it; commit:K fails the K-th commit of the daemon.
# 2. Writes refused for their content (a value too long, a NUL, a bad status
#    word or metric line, a second param value) leave the value as it was.
# 3. MLFS_MAPSIZE=65536: 3000 runs and 43000 points on a map that starts at
#    64 KiB, without one failure, and all of it after a remount.
# 4. A store on a 48 MiB tmpfs: artifacts, then metric points, until ENOSPC;
#    the writers get ENOSPC, everything committed before is intact (each
#    file, every point), the file that did not fit holds none of its bytes,
#    fsck is clean; after rm and `mlfs gc` the space comes back and writing
#    works again, in the same daemon and after a remount.
. "$(dirname "$0")/lib.sh"

# Each section says when it starts, so that a slow one shows in the log.
section() {
	T_SECTION=$*
	echo "[$SECONDS s] $*"
}

# A figure for the report: in the output and in the daemon's log.
figure() {
	echo "$T_NAME: figures: $*"
	echo "=== $*" >>"$LOG"
}

FIO=$T_REPO/tests/mount/fault_io.py
PYTHON=/usr/bin/python3
SMALL=

faults_cleanup() {
	local rc=$?
	# The daemon first: the tmpfs under the store cannot go while it is served.
	if [ -n "$SMALL" ]; then
		[ -n "$T_DAEMON" ] && stop_daemon
		mountpoint -q "$SMALL" && ! umount "$SMALL" && umount -l "$SMALL"
	fi
	(exit "$rc")
	_t_cleanup
}
trap faults_cleanup EXIT

for tool in mdb_stat mountpoint md5sum "$PYTHON"; do
	command -v "$tool" >/dev/null || { fail "$tool is missing"; exit 1; }
done
[ -r "$FIO" ] || { fail "$FIO is missing"; exit 1; }
unset MLFS_FAULT MLFS_MAPSIZE

fio() { t "$PYTHON" "$FIO" "$@" 2>/dev/null || echo "TIMEOUT-OR-CRASH"; }

# LMDB's last committed transaction: each successful write commit adds one.
txnid() { mdb_stat -e "$STORE/index" 2>/dev/null | awk '/Last transaction ID/ { print $4 }'; }

# The txnid once the daemon has been quiet for a moment (release runs after close).
settled_txnid() {
	local a b
	a=$(txnid)
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.2
		b=$(txnid)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$a"
}

# arm SPEC: the daemon again, with MLFS_FAULT=SPEC in its environment only.
# The counts of commit:K assume that a daemon commits nothing before the
# first operation asks it to; that is checked here.
arm() {
	local t0 t1
	stop_daemon
	t0=$(txnid)
	MLFS_FAULT=$1
	export MLFS_FAULT
	start_daemon
	unset MLFS_FAULT
	t1=$(txnid)
	[ "$t0" = "$t1" ] ||
		fail "the daemon made $((t1 - t0)) commits as it started: the commit:K of these cases count from there"
}

# Unmount a daemon whose chunk store a failed sync poisoned: it may say so
# with its exit status, which stop_daemon would count as a failure.
stop_poisoned() {
	local pid=$T_DAEMON
	timeout -k 1 10 fusermount3 -u "$MNT" 2>>"$LOG" || timeout -k 1 10 fusermount3 -uz "$MNT"
	for _ in $(seq 1 200); do
		_t_alive "$pid" || break
		sleep 0.05
	done
	_t_alive "$pid" && kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	echo "=== the poisoned daemon exited with status $?" >>"$LOG"
	T_DAEMON=
	rm -f "$T_WORK/daemon.pid"
}

check_error_line() {
	local n
	n=$(lines_about "$1" | wc -l)
	check "$2: .mlfs/errors has a line about $1" test "$n" -gt 0
}

# Everything a user can see, one line per entry: path, type, mode, size,
# md5 of the content (files), target (links); then `mlfs ls` of the store and
# of each experiment.  $1: an extended regex of paths to leave out.
DIGEST_PY='
import hashlib, os, re, stat, sys
root, skip = sys.argv[1], re.compile(sys.argv[2])
out = []
def walk(rel):
    for name in sorted(os.listdir(os.path.join(root, rel))):
        p = os.path.join(rel, name)
        if p == ".mlfs" or skip.search(p):
            continue
        full = os.path.join(root, p)
        st = os.lstat(full)
        mode = "%o" % stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            out.append("%s L %s" % (p, os.readlink(full)))
        elif stat.S_ISDIR(st.st_mode):
            out.append("%s D %s" % (p, mode))
            walk(p)
        else:
            with open(full, "rb") as f:
                h = hashlib.md5(f.read()).hexdigest()
            out.append("%s F %s %d %s" % (p, mode, st.st_size, h))
walk("")
print("\n".join(out))
'
digest() {
	local skip=${1:-'^$'} e
	t "$PYTHON" -c "$DIGEST_PY" "$MNT" "$skip" 2>&1
	t "$MLFS" ls "$STORE" 2>&1
	for e in $(cd "$MNT" && ls); do
		[ "$e" = models ] || [[ $e =~ $skip ]] || t "$MLFS" ls "$STORE" "$e" 2>&1
	done
}

check_fsck() {
	local out
	if out=$(t "$MLFS" fsck "$STORE" 2>&1); then
		pass
	else
		fail "$1: mlfs fsck $STORE found problems: $(head -n 5 <<<"$out")"
	fi
}

random_file() { head -c "$2" /dev/urandom >"$1"; }

# ---------------------------------------------------------------------------
section "setting up the tree"
R=$MNT/e/r
t mkdir -p "$R" "$MNT/e/r2" "$MNT/e/victim" "$MNT/e/victim2" "$MNT/models/M" "$MNT/models/Mt" \
	"$MNT/p/r" ||
	fail "mkdir of the tree"
t bash -c 'echo 0.01 > "$1/params/lr" && printf "0.5\n0.25\n0.125\n" >> "$1/metrics/loss" &&
	printf "1\n" >> "$1/metrics/loss2" && echo alice > "$1/tags/owner" &&
	echo bob > "$1/tags/owner2" &&
	for v in v1 v2 v3 v4; do echo $v > "$1/artifacts/$v.txt" || exit 1; done' _ "$R" ||
	fail "logging the first values"
random_file "$SCRATCH/f.old" 8192
random_file "$SCRATCH/big.bin.old" $((3 * 1024 * 1024))
check_eq "the small artifact is copied" OK "$(fio copy "$SCRATCH/f.old" "$R/artifacts/f")"
check_eq "the big artifact is copied" OK "$(fio copy "$SCRATCH/big.bin.old" "$R/artifacts/big.bin")"
remount
BEFORE=$(digest)
check_match "the digest sees the artifact" "artifacts/big\.bin F 644 3145728 " "$BEFORE"

# Is the tree as it was?  After a remount, so that no kernel cache answers.
check_unchanged() {
	local after
	remount
	after=$(digest)
	check_eq "$1: after a remount the tree is as before" "$BEFORE" "$after"
	check_fsck "$1"
}


# ---------------------------------------------------------------------------
section "artifact faults"
# art_case SPEC ERRNO STEP FILE [SRC]: copy new random content of FILE's
# size (or SRC) over FILE (an artifact of e/r, whose content is
# $SCRATCH/FILE.old) in a daemon armed with SPEC.  The copy must fail with
# ERRNO at STEP (write or close), leave a line in .mlfs/errors, no chunk in
# STORE/tmp and a clean fsck, and in the next daemon (armed the same way)
# the tree must be as before; there the copy after the failed one works
# (for a lasting fault, N+, the next daemon runs without it).  SRC is for a
# commit:K counted on that content: how many chunks a file has, so how many
# commits its copy makes, depends on its content.
n_art=0
art_case() {
	local spec=$1 want=$2 step=$3 file=$4 old=$SCRATCH/$4.old src=${5:-} got
	n_art=$((n_art + 1))
	if [ -z "$src" ]; then
		src=$SCRATCH/new.$n_art
		random_file "$src" "$(stat -c %s "$old")"
	fi
	arm "$spec"
	got=$(fio copy "$src" "$R/artifacts/$file")
	check_match "$spec, $file: the copy fails with $want at $step" "^$want $step" "$got"
	check_error_line "e/r/artifacts/$file" "$spec, $file"
	check_eq "$spec, $file: no chunk is left half-written in STORE/tmp" "" \
		"$(find "$STORE/tmp" -name 'chunk.*' 2>/dev/null)"
	check_fsck "$spec, $file"
	if [[ $spec == *+* ]]; then
		remount
	else
		arm "$spec"
	fi
	check_eq "$spec, $file: after a remount the tree is as before" "$BEFORE" "$(digest)"
	[[ $spec == *+* ]] || fio copy "$src" "$R/artifacts/$file" >/dev/null
	check_eq "$spec, $file: the copy after the failed one works" OK \
		"$(fio copy "$src" "$R/artifacts/$file")"
	check "$spec, $file: what that copy wrote reads back" t cmp -s "$src" "$R/artifacts/$file"
	fio copy "$old" "$R/artifacts/$file" >/dev/null # back to what BEFORE has
	[ -n "${5:-}" ] || rm -f "$src"
}

# commits_of CMD...: how many LMDB commits CMD makes (it runs on the mount).
commits_of() {
	local t0 t1
	t0=$(settled_txnid)
	"$@" >/dev/null
	t1=$(settled_txnid)
	echo $((t1 - t0))
}

# A small file goes to the chunk store at close: the first chunk write and
# rename the daemon makes belong to that close.
art_case rename:1 EIO close f
art_case write:1:ENOSPC ENOSPC close f

# Each commit of a small copy, counted on a twin first.
random_file "$SCRATCH/twin" 8192
fio copy "$SCRATCH/twin" "$R/artifacts/twin" >/dev/null
random_file "$SCRATCH/twin" 8192
K_SMALL=$(commits_of fio copy "$SCRATCH/twin" "$R/artifacts/twin")
figure "a copy of 8 KiB over an artifact makes $K_SMALL commits"
check "a copy over an artifact commits (made $K_SMALL)" test "$K_SMALL" -ge 1
remount
BEFORE=$(digest)
for ((k = 1; k <= K_SMALL; k++)); do
	art_case "commit:$k" EIO close f
done

# A big file: its chunks go out while write() streams, so a fault in the
# chunk store fails a write(); the last commit is the close's.  (A one-shot
# fault after the first chunk only shortens a write(): the writer writes the
# rest again and it works, so write:2+ is a disk that stays broken.)
random_file "$SCRATCH/big.new" $((3 * 1024 * 1024))
K_BIG=$(commits_of fio copy "$SCRATCH/big.new" "$R/artifacts/twin")
figure "a copy of 3 MiB over an artifact makes $K_BIG commits"
check "a copy of 3 MiB makes more than one commit (made $K_BIG)" test "$K_BIG" -ge 2
remount
BEFORE=$(digest)
art_case rename:1 EIO write big.bin
art_case write:2+ EIO write big.bin
art_case commit:1 EIO write big.bin
art_case "commit:$K_BIG" EIO close big.bin "$SCRATCH/big.new"

# ---------------------------------------------------------------------------
section "fsync fault"
# The first sync of the chunk store fails: fsync() gets EIO, and the chunk
# store refuses further puts until the store is opened again (chunk.h).
# p/r is where the daemon is tried after the failure: leave it out.
remount
BEFORE=$(digest '^p(/|$)|^e/r/artifacts/[gh]$')
random_file "$SCRATCH/g.new" 8192
arm fsync:1
check_match "fsync:1: fsync() gets EIO" "^EIO fsync" "$(fio copy "$SCRATCH/g.new" "$R/artifacts/g" --fsync)"
check_error_line e/r/artifacts/g "fsync:1"
# Nothing written after a failed sync can be flushed any more: the daemon
# must not acknowledge it (SPEC: durable within about a second).
check_match "fsync:1: after a failed sync a new metric point is refused with EIO" "^EIO " \
	"$(fio append "$MNT/p/r/metrics/after_sync" $'1\n')"
random_file "$SCRATCH/h.new" 8192
check_match "fsync:1: after a failed sync a new artifact is refused with EIO" "^EIO " \
	"$(fio copy "$SCRATCH/h.new" "$R/artifacts/h")"
stop_poisoned
check "fsync:1: the daemon's log says the sync failed" grep -q "cannot sync" "$LOG"
start_daemon
# What was committed before stays; g is absent or whole (its commit may
# have preceded the failed sync), never anything else.
check_eq "fsync:1: after a remount everything committed before is there" "$BEFORE" \
	"$(digest '^p(/|$)|^e/r/artifacts/[gh]$')"
if [ -e "$R/artifacts/g" ]; then
	check "fsync:1: g, if it is there, is whole" t cmp -s "$SCRATCH/g.new" "$R/artifacts/g"
else
	pass
fi
check_fsck "fsync:1"
check_eq "fsync:1: after a remount without the fault a copy with fsync works" OK \
	"$(fio copy "$SCRATCH/h.new" "$R/artifacts/h2" --fsync)"
check_eq "fsync:1: after a remount a metric append works" OK \
	"$(fio append "$MNT/p/r/metrics/after_remount" $'1\n')"

# ---------------------------------------------------------------------------
section "commit faults in the namespace and the values"
# ns_case NAME TWIN-ARGS -- OP ARGS...: count the commits K of errno_of OP on
# a twin (the same operation on another name), then for each k in 1..K fail
# the k-th commit: OP gets EIO, a line about NAME (the path the daemon
# names) is in .mlfs/errors, the tree is as before at once, fsck is clean,
# and the tree is still as before in the next daemon.  There, whose first
# commit fails, OP fails and the OP after it works.
ns_case() {
	local rel=$1 k K got
	shift
	local twin=() op=()
	while [ "$1" != -- ]; do
		twin+=("$1")
		shift
	done
	shift
	op=("$@")
	K=$(commits_of errno_of "${twin[@]}")
	figure "$(_t_args "${twin[@]}")makes $K commits"
	check "$rel: the twin operation commits (${twin[0]}: $K)" test "$K" -ge 1
	BEFORE=$(digest)
	for ((k = 1; k <= K + 1; k++)); do
		if [ "$k" -le "$K" ]; then
			arm "commit:$k"
		else
			arm commit:1
		fi
		[ "$k" = 1 ] || check_eq "commit:$((k - 1)) of $K, ${op[0]} $rel: after a remount the tree is as before" \
			"$BEFORE" "$(digest)"
		got=$(errno_of "${op[@]}")
		[ "$k" -le "$K" ] || break
		check_eq "commit:$k of $K, ${op[0]} $rel: the call fails with EIO" EIO "$got"
		check_error_line "$rel" "commit:$k, ${op[0]}"
		check_eq "commit:$k of $K, ${op[0]} $rel: nothing of it is visible" "$BEFORE" "$(digest)"
		check_fsck "commit:$k of $K, ${op[0]} $rel"
	done
	check_eq "${op[0]} $rel: the same call after the failed one works" OK "$(errno_of "${op[@]}")"
	check_fsck "${op[0]} $rel: after it worked"
}

ns_case x mkdir "$MNT/xt" -- mkdir "$MNT/x"
check "the experiment made after the fault is there" test -d "$MNT/x/meta" -o -f "$MNT/x/meta"
ns_case e/x mkdir "$MNT/e/xt" -- mkdir "$MNT/e/x"
check "the run made after the fault has its status" test -f "$MNT/e/x/status"
ns_case models/X mkdir "$MNT/models/Xt" -- mkdir "$MNT/models/X"
ns_case models/M/1 mkdir "$MNT/models/Mt/1" -- mkdir "$MNT/models/M/1"
ns_case e/r/params/x write "$R/params/xt" $'1\n' -- write "$R/params/x" $'2\n'
check_eq "the param written after the fault" 2 "$(t cat "$R/params/x")"
ns_case e/r/metrics/x append "$R/metrics/xt" $'1\n' -- append "$R/metrics/x" $'7 3\n'
check_match "the new metric written after the fault has its one point" '^[0-9]+ 7\.0 3$' \
	"$(t cat "$R/metrics/x")"
ns_case e/r/metrics/loss append "$R/metrics/loss2" $'2\n' -- append "$R/metrics/loss" $'0.0625\n'
check_eq "the metric has its three points and the one appended after the fault" \
	"0.5 0.25 0.125 0.0625" "$(t cat "$R/metrics/loss" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
ns_case e/r/tags/owner write "$R/tags/owner2" $'dave\n' -- write "$R/tags/owner" $'carol\n'
check_eq "the tag written after the fault" carol "$(t cat "$R/tags/owner")"
ns_case e/r/status write "$MNT/e/r2/status" $'FAILED\n' -- write "$R/status" $'FINISHED\n'
check_eq "the status written after the fault" FINISHED "$(t cat "$R/status")"
ns_case e/r/artifacts/v1.txt rename "$R/artifacts/v2.txt" "$R/artifacts/v2b.txt" -- \
	rename "$R/artifacts/v1.txt" "$R/artifacts/v1b.txt"
ns_case e/r/artifacts/v3.txt unlink "$R/artifacts/v4.txt" -- unlink "$R/artifacts/v3.txt"
check "the artifact unlinked after the fault is gone" test ! -e "$R/artifacts/v3.txt"
ns_case e/r/artifacts/f chmod "$R/artifacts/twin" 600 -- chmod "$R/artifacts/f" 640
check_eq "the mode set after the fault" 640 "$(t stat -c %a "$R/artifacts/f")"
ns_case e/victim rename "$MNT/e/victim2" "$MNT/.trash/e/victim2" -- \
	rename "$MNT/e/victim" "$MNT/.trash/e/victim"
check "the run moved to the trash after the fault is gone from e" test ! -e "$MNT/e/victim"

# The errno of the commit is the call's: a full map or disk is ENOSPC.
remount
BEFORE=$(digest)
arm commit:1:ENOSPC
check_eq "commit:1:ENOSPC: a metric append gets ENOSPC" ENOSPC \
	"$(errno_of append "$R/metrics/loss" $'0.03125\n')"
check_eq "commit:1:ENOSPC: nothing of it is visible" "$BEFORE" "$(digest)"
check_unchanged "commit:1:ENOSPC"

# ---------------------------------------------------------------------------
section "refused values leave the value as it was"
# Not an injected fault but the same promise: a write refused for its
# content changes nothing, even through an O_TRUNC open.
remount
BEFORE=$(digest)
check_eq "a tag value over 8000 bytes is refused" EINVAL \
	"$(errno_of write "$R/tags/owner" "$(repeat_char 8001 v)")"
check_match "a tag value with a NUL byte is refused" "^EINVAL write" \
	"$(fio writehex "$R/tags/owner2" 61006200)"
check_eq "a status word that is not one is refused" EINVAL "$(errno_of write "$R/status" $'DONE\n')"
check_eq "a different value for a param is refused" EPERM "$(errno_of write "$R/params/lr" $'0.5\n')"
check_eq "a malformed metric line is refused" EINVAL "$(errno_of append "$R/metrics/loss" $'1 2 3 4\n')"
check_eq "the refused writes changed nothing" "$BEFORE" "$(digest)"
check_unchanged "refused values"

# ---------------------------------------------------------------------------
section "a tiny LMDB map grows"
# The map starts at 64 KiB (MLFS_MAPSIZE) and must double as the index grows,
# in the daemon and in the command alike, without one failed operation.
stop_daemon
STORE=$T_WORK/tiny
export MLFS_MAPSIZE=65536
t "$MLFS" init "$STORE" >>"$LOG" 2>&1 || fail "mlfs init of the tiny-map store"
start_daemon

# The size of the daemon's mapping of data.mdb, in KiB.
map_kib() {
	local range lo hi
	range=$(grep -m1 '/index/data\.mdb$' "/proc/$(daemon_pid)/maps" | cut -d' ' -f1)
	lo=${range%-*} hi=${range#*-}
	[ -n "$range" ] && echo $(((0x$hi - 0x$lo) / 1024))
}
# 64 KiB, or one doubling if the daemon's first write transaction already
# found it half full; without MLFS_MAPSIZE it would be 1 TiB.
MAP0=$(map_kib)
check "the map starts small (${MAP0:-?} KiB)" test "${MAP0:-0}" -ge 64 -a "${MAP0:-0}" -le 128

NRUNS=3000
NBIG=40000
start=$SECONDS
t mkdir "$MNT/t" || fail "mkdir t"
(cd "$MNT/t" && t mkdir $(seq -f 'r%g' 1 $NRUNS)) || fail "mkdir of $NRUNS runs"
bad=0
for ((i = 1; i <= NRUNS; i++)); do
	echo "$i.5 $i" >>"$MNT/t/r$i/metrics/m" || bad=$((bad + 1))
	echo "$i" >"$MNT/t/r$i/params/p" || bad=$((bad + 1))
done
check_eq "$NRUNS runs with a param and a point each: no write failed" 0 "$bad"
check_eq "$NBIG points to one metric" OK "$(fio points "$MNT/t/r1/metrics/big" 0 $NBIG --batch=500)"
figure "tiny map: $NRUNS runs, $((NRUNS + NBIG)) points in $((SECONDS - start)) s; map $(map_kib) KiB"
check "the map grew past its start ($MAP0 -> $(map_kib) KiB)" test "$(map_kib)" -gt "${MAP0:-0}"

# How many points of metric $1, from the first, are step n with value n / 8.
points_in_order() {
	t "$PYTHON" -c '
import sys
n = 0
for line in open(sys.argv[1]):
    ts, v, st = line.split()
    if int(st) != n or float(v) != n / 8:
        break
    n += 1
print(n)' "$1"
}

# Every run, param and point, read back.
check_tiny() {
	local i bad=0 v ts val st
	for ((i = 1; i <= NRUNS; i++)); do
		read -r v <"$MNT/t/r$i/params/p" && [ "$v" = "$i" ] || bad=$((bad + 1))
		read -r ts val st <"$MNT/t/r$i/metrics/m" && [ "$val $st" = "$i.5 $i" ] || bad=$((bad + 1))
	done
	check_eq "$1: every run's param and point reads back" 0 "$bad"
	check_eq "$1: the big metric has every point, in order" "$NBIG" "$(points_in_order "$MNT/t/r1/metrics/big")"
	check_eq "$1: mlfs ls lists every run" $((NRUNS + 1)) "$(t "$MLFS" ls "$STORE" t | wc -l)"
}
check_tiny "tiny map"
remount
check_tiny "tiny map, after a remount"
check_fsck "tiny map"
unset MLFS_MAPSIZE

# ---------------------------------------------------------------------------
section "a store on a full file system"
if ! t "$MLFS" help gc >/dev/null 2>&1; then
	fail "build/mlfs has no gc command (mlfs gc STORE frees the chunks of removed files); this test needs it"
	exit 1
fi
stop_daemon
SMALL=$T_WORK/small
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=48m,mode=0755 mlfs-t-faults "$SMALL"; then
	SMALL=
	fail "cannot mount a 48 MiB tmpfs (this test runs as root)"
	exit 1
fi
# 2 MiB that are not the store's, to give back if the store cannot free its own.
head -c $((2 * 1024 * 1024)) /dev/zero >"$SMALL/ballast"
STORE=$SMALL/store
t "$MLFS" init "$STORE" >>"$LOG" 2>&1 || fail "mlfs init on the tmpfs"
start_daemon
F=$MNT/full/r
t mkdir -p "$F" || fail "mkdir full/r"
echo 42 >"$F/params/seed" || fail "a param on the empty tmpfs"
avail() { df -k --output=avail "$SMALL" | tail -n 1 | tr -d ' '; }
figure "tmpfs: $(avail) KiB free before filling"

# Artifacts of 2 MiB of random bytes (no dedup, no compression) until one fails.
n_ok=0
last=
start=$SECONDS
for ((i = 1; i <= 40; i++)); do
	random_file "$SCRATCH/fill.$i" $((2 * 1024 * 1024))
	last=$(fio copy "$SCRATCH/fill.$i" "$F/artifacts/a$i")
	[ "$last" = OK ] || break
	n_ok=$i
done
FAILED_FILE=a$((n_ok + 1))
figure "tmpfs: $n_ok artifacts of 2 MiB, then '$last'; $(avail) KiB free"
check_match "the copy that does not fit gets ENOSPC ($n_ok fitted)" "^ENOSPC (write|close)" "$last"
check "at least 16 MiB of artifacts fitted before ($n_ok)" test "$n_ok" -ge 8

# Then metric points, 500 lines to a write(), until one fails.
points=0
last=
for ((b = 0; b < 200; b++)); do
	last=$(fio points "$F/metrics/loss" "$points" 5000 --batch=500)
	if [ "$last" != OK ]; then
		done_pts=$(cut -d' ' -f3 <<<"$last")
		points=$((points + ${done_pts:-0}))
		break
	fi
	points=$((points + 5000))
done
figure "tmpfs: $points points, then '$last'; $(avail) KiB free"
check_match "the metric append that does not fit gets ENOSPC ($points points fitted)" "^ENOSPC write" "$last"
expect_errno_in "ENOSPC OK" mkdir "$F/../r2"
expect_errno_in "ENOSPC OK" write "$F/params/late" $'1\n'

# What was committed before is all there.
check_full() {
	local i bad=0
	for ((i = 1; i <= n_ok; i++)); do
		t cmp -s "$SCRATCH/fill.$i" "$F/artifacts/a$i" || bad=$((bad + 1))
	done
	check_eq "$1: the $n_ok artifacts that were copied are intact" 0 "$bad"
	check_eq "$1: the metric has the $points points whose write returned, in order" "$points" \
		"$(points_in_order "$F/metrics/loss")"
	check_eq "$1: the param is there" 42 "$(t cat "$F/params/seed")"
	# The copy that failed leaves no part of its content behind.
	check_eq "$1: the artifact that did not fit holds none of its bytes" 0 \
		"$(t stat -c %s "$F/artifacts/$FAILED_FILE" 2>/dev/null || echo 0)"
	check_fsck "$1"
}
check_full "full"
remount
check_full "full, after a remount"

# Free space the way a user would: rm, then mlfs gc.
rm_some() { (cd "$F/artifacts" && t rm -f a1 a2 a3 a4 a5 "$FAILED_FILE" 2>&1); }
out=$(rm_some)
if [ -z "$out" ]; then
	pass
else
	fail "rm of artifacts on the full store failed: $out"
	# A full index cannot record the removal; give it the ballast and go on.
	rm -f "$SMALL/ballast"
	out=$(rm_some)
	check_eq "rm of artifacts works once 2 MiB outside the store are freed" "" "$out"
fi
check_eq "the removed artifacts are gone" "" "$(cd "$F/artifacts" && ls a1 a2 a3 a4 a5 2>/dev/null)"
# gc keeps chunk files written in its last MLFS_GC_MARGIN_S (2 s, gc.h rule
# 3); the fill may have taken less than that.
sleep 3
free0=$(avail)
gc_out=$(t "$MLFS" gc "$STORE" 2>&1)
check "mlfs gc on the full store works ($gc_out)" test $? = 0
free1=$(avail)
figure "tmpfs: gc: ${gc_out//$'\n'/; }; free $free0 -> $free1 KiB"
check "gc gave back the space of the 5 removed artifacts ($free0 -> $free1 KiB; gc: ${gc_out//$'\n'/; })" \
	test $((free1 - free0)) -ge $((5 * 2048 - 512))

# And the store takes writes again, in the same daemon.
random_file "$SCRATCH/after" $((2 * 1024 * 1024))
check_eq "a copy works again after gc" OK "$(fio copy "$SCRATCH/after" "$F/artifacts/after")"
check "the new copy reads back" t cmp -s "$SCRATCH/after" "$F/artifacts/after"
check_eq "metric points can be appended again" OK "$(fio points "$F/metrics/loss" "$points" 1000)"
points=$((points + 1000))
expect_errno OK mkdir "$MNT/full/r3"
expect_errno OK write "$F/params/late2" $'1\n'
n_first=6
check_after() {
	local i bad=0
	for ((i = n_first; i <= n_ok; i++)); do
		t cmp -s "$SCRATCH/fill.$i" "$F/artifacts/a$i" || bad=$((bad + 1))
	done
	check_eq "$1: the artifacts that were not removed are intact" 0 "$bad"
	check "$1: the copy made after gc is intact" t cmp -s "$SCRATCH/after" "$F/artifacts/after"
	check_eq "$1: the metric has every point" "$points" "$(t cat "$F/metrics/loss" | wc -l)"
	check_fsck "$1"
}
check_after "after gc"
remount
check_after "after gc and a remount"
