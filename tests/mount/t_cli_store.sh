#!/usr/bin/env bash
# The command on a store that a daemon serves: changes made either way show the
# other way within a second; mlfs ls reads the store directly; mlfs mount with
# no arguments creates the default store; mlfs umount returns after the daemon
# has flushed and exited.
. "$(dirname "$0")/lib.sh"

section "command -> mount"
check "mlfs mkrun on the served store" bash -c '"$1" mkrun "$2" exp1/run1 >/dev/null' _ "$MLFS" "$STORE"
within_a_second "the run made by the CLI shows in the mount" test -d "$MNT/exp1/run1/params"
check "mlfs log param" t "$MLFS" log "$STORE" exp1/run1 param lr 0.01
within_a_second "the param shows in the mount" grep -qx 0.01 "$MNT/exp1/run1/params/lr"
check "mlfs log metric" t "$MLFS" log "$STORE" exp1/run1 metric train/loss "0.5 7"
within_a_second "the metric point shows, in a key folder" grep -q ' 0.5 7$' "$MNT/exp1/run1/metrics/train/loss"
check "mlfs log tag" t "$MLFS" log "$STORE" exp1/run1 tag owner alice
within_a_second "the tag shows" grep -qx alice "$MNT/exp1/run1/tags/owner"
check "a different param value is refused by the CLI" bash -c '! "$1" log "$2" exp1/run1 param lr 0.02 2>"$3"' _ "$MLFS" "$STORE" "$T_WORK/cli.err"
check "with the daemon's sentence" grep -q "exp1/run1/params/lr: param is fixed at 0.01; refused 0.02" "$T_WORK/cli.err"
check "a malformed metric line is refused by the CLI" bash -c '! "$1" log "$2" exp1/run1 metric acc abc 2>/dev/null' _ "$MLFS" "$STORE"

section "mount -> command"
t mkdir -p "$MNT/exp2/runA" "$MNT/exp2/runB"
echo 0.1 > "$MNT/exp2/runA/params/lr"
echo 0.2 > "$MNT/exp2/runB/params/lr"
echo adam > "$MNT/exp2/runB/params/opt"
for v in 0.9 0.8 0.7; do echo $v >> "$MNT/exp2/runA/metrics/loss"; done
echo 0.6 >> "$MNT/exp2/runB/metrics/loss"
check "mlfs ls lists the experiments" bash -c '"$1" ls "$2" | grep -qE "^[0-9]+ +exp2$"' _ "$MLFS" "$STORE"
t "$MLFS" ls "$STORE" exp2 > "$T_WORK/ls.out" 2>&1
slurp "$T_WORK/ls.out"
expected="run   status   start                params.lr  params.opt  metrics.loss"
check_eq "mlfs ls header: fixed columns, then params and metrics by name" "$expected" "$(head -n1 "$T_WORK/ls.out")"
check_match "runA row: its param and its latest metric value" '^runA +RUNNING +[0-9-]+ [0-9:]+ +0\.1 +- +0\.7$' "$(sed -n 2p "$T_WORK/ls.out")"
check_match "runB row" '^runB +RUNNING +[0-9-]+ [0-9:]+ +0\.2 +adam +0\.6$' "$(sed -n 3p "$T_WORK/ls.out")"
echo FINISHED > "$MNT/exp2/runA/status"
check "status changed through the mount shows in mlfs ls" bash -c '"$1" ls "$2" exp2 | grep -qE "^runA +FINISHED"' _ "$MLFS" "$STORE"
check "mlfs ls of a missing experiment fails" bash -c '! "$1" ls "$2" nosuch 2>/dev/null' _ "$MLFS" "$STORE"

section "mlfs umount waits for the daemon"
pid=$(daemon_pid)
echo 42 >> "$MNT/exp2/runB/metrics/loss"
check "mlfs umount" t "$MLFS" umount "$MNT"
check "the daemon has exited when umount returns" bash -c '! kill -0 "$1" 2>/dev/null || grep -q "^State:.*Z" /proc/"$1"/status' _ "$pid"
wait "$pid" 2>/dev/null
check "the point written before umount is in the store" bash -c '"$1" ls "$2" exp2 | grep -qE "^runB .* 42\.0$"' _ "$MLFS" "$STORE"
start_daemon

section "mlfs mount with no arguments"
# If umount failed, do not leave that daemon or its mount behind.
reap_default() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -9 "$dpid"
	fi
	if awk -v m="$home/mlruns" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
		fusermount3 -uz "$home/mlruns"
	fi
}
home="$T_WORK/home"
mkdir -p "$home"
check "mlfs mount with no arguments starts in the background" \
	t env HOME="$home" XDG_DATA_HOME= MLFS_STORE= MLFS_MOUNT= "$MLFS" mount
check "it created the default store" test -f "$home/.local/share/mlfs/store/mlfs-store"
check "and serves it at ~/mlruns" t mkdir -p "$home/mlruns/e/r"
check "which works" t bash -c 'echo 1 >> "$1/mlruns/e/r/metrics/m"' _ "$home"
dpid=$(cat "$home/mlruns/.mlfs/pid" 2>/dev/null)
check "mlfs umount of it" t "$MLFS" umount "$home/mlruns"
reap_default
check "the default store kept the point" bash -c '"$1" ls "$2" | grep -qE " e$"' _ "$MLFS" "$home/.local/share/mlfs/store"
check "a second start reuses the store" \
	t env HOME="$home" XDG_DATA_HOME= MLFS_STORE= MLFS_MOUNT= "$MLFS" mount
dpid=$(cat "$home/mlruns/.mlfs/pid" 2>/dev/null)
check "with the run still there" t test -d "$home/mlruns/e/r"
t "$MLFS" umount "$home/mlruns" >/dev/null 2>&1
reap_default
