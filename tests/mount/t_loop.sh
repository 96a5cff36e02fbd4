#!/usr/bin/env bash
# t_loop.sh - the request loop (fs/loop.h): work that blocks runs on a worker,
# so the rest of the file system keeps answering; one open file's requests
# stay in their order; SIGTERM stops the daemon cleanly.
#
# A put of an artifact chunk takes STORE/gc.lock shared.  The test holds it
# exclusively (as `mlfs gc` does while it syncs and sweeps), so an artifact
# write blocks in the daemon until the test lets go; meanwhile appends,
# lookups, mkdir and reads of other files must still be served.  A daemon
# that served everything on one thread would hang there.
. "$(dirname "$0")/lib.sh"

R=$MNT/e/r
PY=/usr/bin/python3
t mkdir -p "$R" || fail "mkdir -p e/r"
head -c 3000000 /dev/urandom >"$SCRATCH/big"
head -c 100000 /dev/urandom >"$SCRATCH/small"
t cp "$SCRATCH/small" "$R/artifacts/small" || fail "cp small"
echo 0.5 >>"$R/metrics/m" || fail "first append"

# Wait (at most 20 s) for a background job, counting a failure if it is still running.
finished() {
	local pid=$1 i
	for ((i = 0; i < 400; i++)); do
		_t_alive "$pid" || break
		sleep 0.05
	done
	if _t_alive "$pid"; then
		fail "$2: still running after 20 s"
		kill "$pid" 2>/dev/null
		wait "$pid"
		return 1
	fi
	wait "$pid"
}

section "a blocked artifact write blocks nothing else"
hold_gc_lock
timeout -k 5 120 cp "$SCRATCH/big" "$R/artifacts/big" &
CP=$!
sleep 1
check "the copy waits for the gc lock" _t_alive "$CP"
# Each of these would wait for the copy (and the lock) if the loop did its chunk I/O.
check "an append is served meanwhile" timeout -k 1 20 bash -c "echo 0.25 >>'$R/metrics/m'"
check "a stat of the file being copied is served" timeout -k 1 20 stat -c %s "$R/artifacts/big" >/dev/null
# The open asks whether the waiting writer has written (without its lock).
check_eq "a reader's open of the file being copied is served: the committed (empty) version" \
	0 "$(timeout -k 1 20 wc -c <"$R/artifacts/big")"
check "a listing is served" timeout -k 1 20 ls -l "$R/artifacts" >/dev/null
check "a mkdir is served" timeout -k 1 20 mkdir "$MNT/e/r2"
check "a param is set" timeout -k 1 20 bash -c "echo 3 >'$MNT/e/r2/params/p'"
check "another artifact reads whole" timeout -k 1 20 cmp "$SCRATCH/small" "$R/artifacts/small"
check "the copy still waits" _t_alive "$CP"
let_go
finished "$CP" "the copy after the lock was let go" &&
	check "the copy succeeded" true || fail "the copy"
check "the copied artifact is whole" t cmp "$SCRATCH/big" "$R/artifacts/big"
check_eq "both appends are there" "0.5 0.25" "$(t awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }' "$R/metrics/m")"
check_eq "the param is there" "3" "$(t cat "$MNT/e/r2/params/p")"

section "one open file's writes keep their order"
# Four threads write one open file at their own offsets while the first
# write waits for the lock: the later ones queue behind it on that handle,
# and close (flush, then release) comes after all of them.
hold_gc_lock
timeout -k 5 120 "$PY" - "$R/artifacts/threads" "$SCRATCH/big" <<'EOF' &
import os, sys, threading
dst, src = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
part = (len(data) + 3) // 4
def put(i):
    chunk = data[i * part:(i + 1) * part]
    done = 0
    while done < len(chunk):
        done += os.pwrite(fd, chunk[done:done + 700000], i * part + done)
ts = [threading.Thread(target=put, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
os.close(fd)
EOF
PYW=$!
sleep 1
check "the writer waits for the gc lock" _t_alive "$PYW"
check "an append is served meanwhile" timeout -k 1 20 bash -c "echo 0.125 >>'$R/metrics/m'"
let_go
finished "$PYW" "the threaded writer" && check "the threaded writer succeeded" true ||
	fail "the threaded writer"
check "the file has every thread's bytes" t cmp "$SCRATCH/big" "$R/artifacts/threads"

section "many small writes through one open file, then a read at once"
# Each write of an artifact goes to a worker with its receive buffer; a
# buffer the loop reused too early would show as wrong bytes.
"$PY" - "$R/artifacts/many" "$SCRATCH/many" <<'EOF' || fail "the small writes"
import os, sys
want = b"".join(b"%07d:" % i + os.urandom(i % 300) for i in range(5000))
open(sys.argv[2], "wb").write(want)
with open(sys.argv[1], "wb", buffering=0) as f:
    pos = 0
    while pos < len(want):
        n = 1 + pos % 4093
        f.write(want[pos:pos + n])
        pos += n
EOF
check "the file reads back exactly" t cmp "$SCRATCH/many" "$R/artifacts/many"

section "SIGTERM stops the daemon cleanly"
pid=$(daemon_pid)
kill -TERM "$pid"
finished "$pid" "the daemon after SIGTERM" # (a daemon still running is killed)
check_eq "its exit status" 0 "$?"
T_DAEMON=
rm -f "$T_WORK/daemon.pid"
if _t_mounted; then
	fail "the mount was left behind"
	timeout -k 1 10 fusermount3 -u "$MNT" 2>>"$LOG"
fi
start_daemon
check_eq "the points are there after a restart" "0.5 0.25 0.125" \
	"$(t awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }' "$R/metrics/m")"
check "the artifacts are there after a restart" t cmp "$SCRATCH/big" "$R/artifacts/threads"
