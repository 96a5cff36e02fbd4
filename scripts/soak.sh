#!/usr/bin/env bash
# soak.sh - the long reliability runs of issue 5 (`make soak`), with their
# figures as a table.
#
#   1. crash: t_crash.sh with 20 cycles of 8 writers and a kill -9;
#   2. model: t_model.sh with 1M random operations in all, over 4 seeds
#      (one fixed, three from the clock), in two mounts at once, with
#      `mlfs gc` collecting every 20 s meanwhile;
#   3. races: t_races.sh with 30 rounds of each race.
#
# Each part runs as the suite runs it (its own store and mount point, work
# directories under one temporary directory that is swept afterwards, every
# daemon stopped) under a time limit, so the whole stays under 30 minutes.
# The last line is "soak: N parts passed, N failed"; the status is 0 only if
# every part passed.
#
# Environment:
#   MLFS_BIN            the binary (default build/mlfs); its build's tests/
#                       holds the helpers (built here for build/ and
#                       build-asan/, else make helpers first)
#   SOAK_CRASH_CYCLES   (20)    SOAK_MODEL_OPS   total operations (1000000)
#   SOAK_RACE_ROUNDS    (30)    SOAK_MODEL_SEEDS four seeds (default: 1 and
#                                                three from the clock)
#   MLFS_KEEP_LOGS=1    keep every part's output, not only the failures'

set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

MLFS_BIN=${MLFS_BIN:-build/mlfs}
case $MLFS_BIN in /*) ;; *) MLFS_BIN=$REPO/$MLFS_BIN ;; esac
HELPERS=$(dirname "$MLFS_BIN")/tests
CYCLES=${SOAK_CRASH_CYCLES:-20}
OPS=${SOAK_MODEL_OPS:-1000000}
ROUNDS=${SOAK_RACE_ROUNDS:-30}
NOW=$(date +%s%N)
SEEDS=${SOAK_MODEL_SEEDS:-"1 $((NOW % 1000003)) $((NOW / 7 % 1000033)) $((NOW / 13 % 1000037))"}
read -r -a SEED <<<"$SEEDS"
if [ ${#SEED[@]} != 4 ]; then
	echo "soak.sh: SOAK_MODEL_SEEDS must name 4 seeds" >&2
	exit 2
fi
PER_SEED=$((OPS / 4))

# `make soak` builds mlfs only: build the helpers of this checkout's builds here.
case $(dirname "$MLFS_BIN") in
"$REPO/build") make -s helpers || exit 2 ;;
"$REPO/build-asan") make -s SAN=1 helpers || exit 2 ;;
esac
for need in "$MLFS_BIN" "$HELPERS/model_ops" "$HELPERS/crash_writer" "$HELPERS/race" "$HELPERS/errno_of"; do
	if [ ! -x "$need" ]; then
		echo "soak.sh: $need is missing: make && make helpers" >&2
		exit 2
	fi
done

RUNTMP=$(mktemp -d /tmp/mlfs-soak.XXXXXX) || exit 1
LOGDIR=$RUNTMP/logs
mkdir -p "$LOGDIR"
export MLFS=$MLFS_BIN MLFS_HELPERS=$HELPERS MLFS_TEST_TMP=$RUNTMP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Detach what a part left mounted under $RUNTMP and end the daemons it
# recorded (as run-tests.sh does after a test that was killed).
sweep() {
	local m pidfile pid
	while read -r m; do
		echo "soak.sh: left mounted: $m (detaching)"
		timeout -k 1 10 fusermount3 -uz "$m"
	done < <(awk -v p="$RUNTMP/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts)
	for pidfile in "$RUNTMP"/*/daemon.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		if [ -n "$pid" ] && grep -q mlfs "/proc/$pid/cmdline" 2>/dev/null; then
			echo "soak.sh: daemon $pid still running (killing it)"
			kill -KILL "$pid" 2>/dev/null
		fi
		rm -f "$pidfile"
	done
}
trap 'sweep; rm -rf "$RUNTMP"' EXIT

PASSED=0 FAILED=0 ROWS=()
# part NAME LIMIT COMMAND...: run one part, keep its output, count it.
part() {
	local name=$1 limit=$2 start status log=$LOGDIR/$1.log
	shift 2
	echo "== soak: $name (limit ${limit} s)"
	start=$SECONDS
	timeout -k 10 "$limit" "$@" >"$log" 2>&1 </dev/null
	status=$?
	sweep >>"$log"
	SECS=$((SECONDS - start))
	if [ "$status" = 0 ]; then
		PASSED=$((PASSED + 1))
		echo "   ok ($SECS s)"
	else
		FAILED=$((FAILED + 1))
		[ "$status" = 124 ] && echo "time limit reached" >>"$log"
		echo "   FAILED with status $status ($SECS s):"
		if grep -qE 'FAIL|MISMATCH' "$log"; then
			grep -E 'FAIL|MISMATCH|MLFS_MODEL_REPLAY' "$log" | head -n 12 | cut -c1-400 | sed 's/^/   | /'
		else
			tail -n 15 "$log" | sed 's/^/   | /'
		fi
	fi
}

# 1. crash
part crash 360 env MLFS_CRASH_CYCLES="$CYCLES" bash tests/mount/t_crash.sh
crash_secs=$SECS
crash_status=$([ -n "$(grep -E ' [0-9]+ passed, 0 failed$' "$LOGDIR/crash.log")" ] && echo ok || echo FAIL)
crash_fig=$(sed -n 's/^t_crash.sh: figures: //p' "$LOGDIR/crash.log")

# 2. model: two mounts at once, two seeds each (bash -c: timeout runs a program).
# shellcheck disable=SC2016
MODEL_BOTH='
one() {
	MLFS_MODEL_OPS=$PER_SEED MLFS_MODEL_SEEDS="$1 $2" MLFS_MODEL_LIMIT=1000 MLFS_MODEL_GC=20 \
		bash tests/mount/t_model.sh
}
one "$1" "$2" >"$LOGDIR/model-a.log" 2>&1 &
a=$!
one "$3" "$4" >"$LOGDIR/model-b.log" 2>&1 &
b=$!
wait $a
sa=$?
wait $b
sb=$?
cat "$LOGDIR/model-a.log" "$LOGDIR/model-b.log"
[ "$sa" = 0 ] && [ "$sb" = 0 ]'
export PER_SEED LOGDIR
part model 1200 bash -c "$MODEL_BOTH" bash "${SEED[@]}"
model_secs=$SECS
# Operations that agreed: all of a seed that passed, those before the first
# disagreement of one that failed.
model_ops=$( (sed -n 's/^model_ops: seed [0-9]*: \([0-9]*\) operations.*/\1/p' "$LOGDIR/model.log"
	sed -n 's/^model_ops: MISMATCH at operation \([0-9]*\) .*/\1/p' "$LOGDIR/model.log") |
	awk '{ s += $1 } END { print s + 0 }')
model_failed=$(grep '^model_ops: MISMATCH' "$LOGDIR/model.log" | grep -vc 'at operation 0 (compare')
model_bytes=$(sed -n 's/.* operations, \([0-9]*\) bytes written.*/\1/p' "$LOGDIR/model.log" |
	awk '{ s += $1 } END { printf "%.1f GB", s / 1e9 }')
model_gc=$(sed -n 's/^t_model.sh: mlfs gc ran \([0-9]*\) times.*/\1/p' "$LOGDIR/model.log" |
	awk '{ s += $1 } END { print s + 0 }')
model_fail=$(grep -m 1 'MISMATCH' "$LOGDIR/model.log")

# 3. races
part races 240 env MLFS_RACE_ROUNDS="$ROUNDS" bash tests/mount/t_races.sh
races_secs=$SECS
races_fig=$(sed -n 's/^t_races.sh: figures: //p' "$LOGDIR/races.log")
races_cases=$(grep -E '^t_races.sh: [0-9]+ passed, [0-9]+ failed$' "$LOGDIR/races.log" | sed 's/^t_races.sh: //')

echo
echo "soak figures ($(basename "$MLFS_BIN") from $(dirname "$MLFS_BIN"), $(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-7s %-6s %6s  %s\n' part result time figures
printf '%-7s %-6s %5ss  %s\n' crash "$crash_status" "$crash_secs" "${crash_fig:-none}"
printf '%-7s %-6s %5ss  %s\n' model "$([ -z "$model_fail" ] && [ "$model_ops" = "$OPS" ] && echo ok || echo FAIL)" \
	"$model_secs" "$model_ops of $OPS operations agreed (seeds $SEEDS; $model_failed stopped at a disagreement), $model_bytes written by the seeds that finished, mlfs gc ran $model_gc times"
[ -n "$model_fail" ] && printf '%-7s %-6s %6s  %s\n' "" "" "" "first: ${model_fail#model_ops: }"
printf '%-7s %-6s %5ss  %s\n' races "$([ "$races_cases" ] && [[ $races_cases == *" 0 failed" ]] && echo ok || echo FAIL)" \
	"$races_secs" "${races_fig:-none}; cases: ${races_cases:-none}"

if [ "$FAILED" != 0 ] || [ "${MLFS_KEEP_LOGS:-0}" = 1 ]; then
	KEPT=$(mktemp -d /tmp/mlfs-soak-logs.XXXXXX)
	cp -r "$LOGDIR"/. "$KEPT"/
	echo "logs kept in $KEPT"
fi
echo "soak: $PASSED parts passed, $FAILED failed"
[ "$FAILED" = 0 ]
