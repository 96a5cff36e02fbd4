#!/usr/bin/env bash
# t_handles.sh - no callback uses an open file's handle after it has
# replied: the reply lets the process close the file, and the release that
# frees the handle runs on another daemon thread at once.
#
# The daemon runs with tests/mount/preload/reply_delay.c preloaded: every
# reply a callback with a handle sends is followed by a pause, long enough
# for the close and the release to happen meanwhile, and unlocking a
# handle's lock after its release aborts the daemon with a line in its log.
# Every kind of open file (run and experiment meta, /.mlfs files, params,
# tags, status, metrics, artifacts) is then written, read and closed, one
# process at a time, and must read back right with the daemon still up.
# Without the pauses the race is lost once in many thousands of closes; it
# was the crash soak's daemon SIGSEGV in mdb_get (a read of a text file
# unlocked its handle after replying, and the freed handle's memory was an
# LMDB transaction by then).
#
#   MLFS_HANDLES_ROUNDS=N   rounds over the files (default 3)
. "$(dirname "$0")/lib.sh"

ROUNDS=${MLFS_HANDLES_ROUNDS:-3}
SHIM=$MLFS_HELPERS/reply_delay.so
if [ ! -f "$SHIM" ]; then
	fail "$SHIM is missing (make helpers)"
	exit 1
fi

# The daemon again, with the library preloaded into it and nothing else.
stop_daemon
REAL_MLFS=$MLFS
MLFS=$T_WORK/mlfs-preloaded
cat >"$MLFS" <<EOF
#!/bin/sh
export LD_PRELOAD='$SHIM' MLFS_REPLY_DELAY_MS=40
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
exec '$REAL_MLFS' "\$@"
EOF
chmod +x "$MLFS"
start_daemon
MLFS=$REAL_MLFS

run=$MNT/e1/r1
check "mkdir of a run" t mkdir -p "$run"
check "a param" t sh -c "echo 0.5 >'$run/params/lr'"
check "a tag" t sh -c "echo v0 >'$run/tags/t'"
check "an experiment tag" t sh -c "echo x0 >'$MNT/e1/tags/x'"
check "a metric point" t sh -c "echo '1700000000000 0.5 0' >>'$run/metrics/m'"
check "an artifact" t sh -c "printf 'abc' >'$run/artifacts/a'"

# read_eq DESC EXPECTED FILE / read_match DESC ERE FILE: FILE reads, and as said.
read_eq() {
	if slurp "$3"; then check_eq "$1" "$2" "$REPLY"; else fail "$1: cannot read ${3#"$MNT"/}"; fi
}
read_match() {
	if slurp "$3"; then check_match "$1" "$2" "$REPLY"; else fail "$1: cannot read ${3#"$MNT"/}"; fi
}

pid=$(daemon_pid)
points=1
for ((i = 1; i <= ROUNDS; i++)); do
	section "round $i"
	# Text files: a snapshot at open, read without a lock of their own.
	read_match "run meta" "run_id: [0-9a-f]{32}" "$run/meta"
	read_match "experiment meta" "experiment_id: 1" "$MNT/e1/meta"
	read_eq ".mlfs/pid" "$pid"$'\n' "$MNT/.mlfs/pid"
	read_match ".mlfs/stats" "runs" "$MNT/.mlfs/stats"
	read_match ".mlfs/errors" "" "$MNT/.mlfs/errors"
	# Values: written, then read back.
	check "tag write" t sh -c "echo v$i >'$run/tags/t'"
	read_eq "tag" "v$i"$'\n' "$run/tags/t"
	check "experiment tag write" t sh -c "echo x$i >'$MNT/e1/tags/x'"
	read_eq "experiment tag" "x$i"$'\n' "$MNT/e1/tags/x"
	read_eq "param" $'0.5\n' "$run/params/lr"
	check "status write" t sh -c "echo FINISHED >'$run/status'"
	read_eq "status" $'FINISHED\n' "$run/status"
	# A metric and an artifact.
	check "metric append" t sh -c "echo '$((1700000000000 + i)) 1.5 $i' >>'$run/metrics/m'"
	points=$((points + 1))
	check_eq "metric points" "$points" "$(t cat "$run/metrics/m" | wc -l)"
	check "artifact write" t sh -c "printf 'abc$i' >'$run/artifacts/a'"
	read_eq "artifact" "abc$i" "$run/artifacts/a"
done

section "after the rounds"
check_match "the preloaded library was in the daemon" "reply_delay: active" "$(cat "$LOG")"
bad=$(grep 'reply_delay: unlock of a destroyed mutex' "$LOG")
check_eq "no handle was used after its release" "" "$bad"
if _t_alive "$pid"; then
	pass
else
	fail "the daemon (pid $pid) died"
	_t_show_log
fi
