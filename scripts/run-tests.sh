#!/usr/bin/env bash
# run-tests.sh - run test tiers against one build and print the total.
#
#   scripts/run-tests.sh [TIER...]     TIER: unit cli mount big fuzz
#                                      (default: unit cli mount big fuzz)
#
#   unit   every tests/unit/test_*.c, as built in $BUILD/tests/
#   cli    every golden test tests/cli/NAME.sh: its stdout, then a last line
#          "exit: N" with its status, must equal tests/cli/NAME.out.  The
#          script runs in a fresh directory (also in $T) with $MLFS set.
#          MLFS_UPDATE_GOLDEN=1 rewrites the .out files instead (review the
#          diff before committing it).
#   mount  every tests/mount/t_*.sh (but t_bigfile.sh) and every
#          tests/mount/test_*.py (with /usr/bin/python3 -m pytest)
#   big    tests/mount/t_bigfile.sh: a 4 GiB file through the mount
#   fuzz   tests/fuzz/run.sh: every libFuzzer target, built with clang under
#          ASan+UBSan in $BUILD/fuzz, for FUZZ_TIME seconds each (default
#          20); a target is one case
#
# Every file runs under a time limit.  Cases are counted one by one (a unit
# check, a golden script, a case of a mount test, a pytest test); a file that
# crashes, times out or reports nothing counts one more failure.  The last
# line is "N passed, N failed"; the status is 0 only if something passed and
# nothing failed.
#
# Environment:
#   MLFS_BIN          the binary under test (default build/mlfs); its
#                     directory is the build whose tests/ helpers are used
#   MLFS_RESULT_FILE  if set, the totals are also written there as "P F"
#   MLFS_KEEP_LOGS=1  keep every file's output, not only the failures'

set -uo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD

MLFS_BIN=${MLFS_BIN:-build/mlfs}
case $MLFS_BIN in /*) ;; *) MLFS_BIN=$REPO/$MLFS_BIN ;; esac
BUILD_DIR=$(dirname "$MLFS_BIN")
HELPERS=$BUILD_DIR/tests
PYTHON=/usr/bin/python3

LIMIT_UNIT=${LIMIT_UNIT:-120}
LIMIT_CLI=${LIMIT_CLI:-60}
LIMIT_MOUNT=${LIMIT_MOUNT:-180}
LIMIT_PY=${LIMIT_PY:-300}
LIMIT_BIG=${LIMIT_BIG:-900}
LIMIT_FUZZ=${LIMIT_FUZZ:-600}

TIERS=("$@")
[ ${#TIERS[@]} -gt 0 ] || TIERS=(unit cli mount big fuzz)
for tier in "${TIERS[@]}"; do
	case $tier in
	unit | cli | mount | big | fuzz) ;;
	*)
		echo "run-tests.sh: unknown tier '$tier' (unit, cli, mount, big, fuzz)" >&2
		exit 2
		;;
	esac
done

RUNTMP=$(mktemp -d /tmp/mlfs-tests.XXXXXX) || exit 1
LOGDIR=$RUNTMP/logs
mkdir -p "$LOGDIR"

export MLFS=$MLFS_BIN MLFS_HELPERS=$HELPERS MLFS_TEST_TMP=$RUNTMP
export PYTHONDONTWRITEBYTECODE=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

TOTAL_PASSED=0
TOTAL_FAILED=0
FAILED_FILES=()

# Detach every mount left under $RUNTMP and end every daemon a test recorded
# in a daemon.pid of its work directory; prints what it had to do.
sweep() {
	local m pidfile pid did=0
	while read -r m; do
		echo "left mounted: $m (detaching)"
		timeout -k 1 10 fusermount3 -uz "$m" 2>&1
		did=1
	done < <(awk -v p="$RUNTMP/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts)
	for pidfile in "$RUNTMP"/*/daemon.pid "$RUNTMP"/*/*/daemon.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q mlfs "/proc/$pid/cmdline" 2>/dev/null; then
			echo "daemon $pid still running (killing it)"
			kill -KILL "$pid" 2>/dev/null
			did=1
		fi
		rm -f "$pidfile"
	done
	return $did
}

# record NAME PASSED FAILED STATUS SECONDS LOGFILE
record() {
	local name=$1 p=$2 f=$3 status=$4 secs=$5 log=$6 leftovers
	if [ "$status" = 124 ]; then
		echo "time limit reached" >>"$log"
		f=$((f + 1))
	elif [ "$status" -gt 128 ]; then
		echo "killed by signal $((status - 128))" >>"$log"
		f=$((f + 1))
	elif [ "$status" != 0 ] && [ "$f" = 0 ]; then
		echo "exited with status $status but reported no failure" >>"$log"
		f=$((f + 1))
	elif [ "$p" = 0 ] && [ "$f" = 0 ]; then
		echo "reported no case at all" >>"$log"
		f=1
	fi
	if ! leftovers=$(sweep); then
		printf '%s\n' "$leftovers" >>"$log"
		f=$((f + 1))
	fi
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f))
	if [ "$f" = 0 ]; then
		printf 'ok    %-40s %4d passed  (%ds)\n' "$name" "$p" "$secs"
	else
		printf 'FAIL  %-40s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" "$secs"
		echo "---- $name: last lines of its output ($log) ----"
		tail -n 60 "$log"
		echo "---- end of $name ----"
		FAILED_FILES+=("$name")
	fi
}

# The "N passed, N failed" of the last line that has one, as "N N"; "0 0" if none.
counts_of() {
	local line
	line=$(grep -E '([0-9]+) passed, ([0-9]+) failed$' "$1" | tail -n 1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	else
		echo "0 0"
	fi
}

run_unit() {
	local src name bin log start status counts
	for src in tests/unit/test_*.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .c)
		bin=$HELPERS/$name
		log=$LOGDIR/unit-$name.log
		if [ ! -x "$bin" ]; then
			echo "$bin was not built (make unit)" >"$log"
			record "unit/$name" 0 1 0 0 "$log"
			continue
		fi
		start=$SECONDS
		(cd "$RUNTMP" && timeout -k 10 "$LIMIT_UNIT" "$bin") >"$log" 2>&1
		status=$?
		counts=$(counts_of "$log")
		record "unit/$name" ${counts% *} ${counts#* } "$status" $((SECONDS - start)) "$log"
	done
}

run_cli() {
	local script name want got dir log start status f
	for script in tests/cli/*.sh; do
		[ -e "$script" ] || continue
		name=$(basename "$script" .sh)
		want=${script%.sh}.out
		log=$LOGDIR/cli-$name.log
		dir=$(mktemp -d "$RUNTMP/cli-$name.XXXXXX")
		got=$RUNTMP/cli-$name.stdout
		start=$SECONDS
		(cd "$dir" && T=$dir timeout -k 10 "$LIMIT_CLI" bash "$REPO/$script") \
			>"$got" 2>"$log" </dev/null
		status=$?
		echo "exit: $status" >>"$got"
		f=0
		if [ "${MLFS_UPDATE_GOLDEN:-0}" = 1 ]; then
			cp "$got" "$want"
			echo "updated $want" >>"$log"
		elif [ ! -f "$want" ]; then
			echo "$want is missing; MLFS_UPDATE_GOLDEN=1 writes it" >>"$log"
			f=1
		elif ! diff -u "$want" "$got" >>"$log"; then
			f=1
		fi
		# A golden script may end its status with anything; the comparison decides.
		[ "$status" = 124 ] || [ "$status" -gt 128 ] || status=0
		record "cli/$name" $((1 - f)) "$f" "$status" $((SECONDS - start)) "$log"
		rm -rf "$dir" "$got"
	done
}

run_bash_mount() {
	local script=$1 limit=$2 name log start status counts
	name=$(basename "$script")
	log=$LOGDIR/mount-$name.log
	if [ ! -x "$MLFS_BIN" ]; then
		echo "$MLFS_BIN was not built" >"$log"
		record "mount/$name" 0 1 0 0 "$log"
		return
	fi
	start=$SECONDS
	timeout -k 10 "$limit" bash "$script" >"$log" 2>&1 </dev/null
	status=$?
	counts=$(counts_of "$log")
	record "mount/$name" ${counts% *} ${counts#* } "$status" $((SECONDS - start)) "$log"
}

# Count a pytest run from its JUnit XML: a test passes when it has no
# failure, error or skipped element (a skip is a failure here).
run_pytest() {
	local file=$1 name log xml start status counts
	name=$(basename "$file")
	log=$LOGDIR/mount-$name.log
	xml=$RUNTMP/$name.xml
	start=$SECONDS
	timeout -k 10 "$LIMIT_PY" "$PYTHON" -m pytest -q -rA -p no:cacheprovider \
		--junitxml="$xml" "$file" >"$log" 2>&1 </dev/null
	status=$?
	if [ "$status" = 5 ]; then
		echo "pytest collected no test" >>"$log"
	fi
	counts=$("$PYTHON" - "$xml" <<'EOF' 2>>"$log" || echo "0 0"
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
passed = failed = 0
for case in root.iter("testcase"):
    if any(child.tag in ("failure", "error", "skipped") for child in case):
        failed += 1
    else:
        passed += 1
print(passed, failed)
EOF
	)
	record "mount/$name" ${counts% *} ${counts#* } "$status" $((SECONDS - start)) "$log"
}

run_mount() {
	local helper script
	for helper in tests/mount/*.c; do
		if [ ! -x "$HELPERS/$(basename "$helper" .c)" ]; then
			echo "$HELPERS/$(basename "$helper" .c) was not built" >"$LOGDIR/helpers.log"
			record "mount/helpers" 0 1 0 0 "$LOGDIR/helpers.log"
			return
		fi
	done
	for script in tests/mount/t_*.sh; do
		[ -e "$script" ] || continue
		[ "$(basename "$script")" = t_bigfile.sh ] && continue
		run_bash_mount "$script" "$LIMIT_MOUNT"
	done
	for script in tests/mount/test_*.py; do
		[ -e "$script" ] || continue
		run_pytest "$script"
	done
}

# The fuzz targets as one file: run.sh prints a line per target and the total.
run_fuzz() {
	local log=$LOGDIR/fuzz.log start status counts
	start=$SECONDS
	FUZZ_BUILD=$BUILD_DIR/fuzz timeout -k 10 "$LIMIT_FUZZ" tests/fuzz/run.sh >"$log" 2>&1 </dev/null
	status=$?
	grep -E '^(ok|FAIL) ' "$log" | sed 's/^/      /'
	counts=$(counts_of "$log")
	record "fuzz/run.sh" ${counts% *} ${counts#* } "$status" $((SECONDS - start)) "$log"
}

echo "== $(basename "$MLFS_BIN") from $BUILD_DIR: ${TIERS[*]}"
for tier in "${TIERS[@]}"; do
	case $tier in
	unit) run_unit ;;
	cli) run_cli ;;
	mount) run_mount ;;
	big) run_bash_mount tests/mount/t_bigfile.sh "$LIMIT_BIG" ;;
	fuzz) run_fuzz ;;
	esac
done

if [ ${#FAILED_FILES[@]} -gt 0 ] || [ "${MLFS_KEEP_LOGS:-0}" = 1 ]; then
	KEPT=$(mktemp -d /tmp/mlfs-test-logs.XXXXXX)
	cp -r "$LOGDIR"/. "$KEPT"/
	echo "logs kept in $KEPT"
	[ ${#FAILED_FILES[@]} -gt 0 ] && echo "failed: ${FAILED_FILES[*]}"
fi
sweep >/dev/null
rm -rf "$RUNTMP"

[ -n "${MLFS_RESULT_FILE:-}" ] && echo "$TOTAL_PASSED $TOTAL_FAILED" >"$MLFS_RESULT_FILE"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ] && [ "$TOTAL_PASSED" -gt 0 ]
