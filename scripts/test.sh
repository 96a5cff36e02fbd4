#!/usr/bin/env bash
# test.sh - every test of mlfs; the README's test command, and what CI runs.
#
# Installs what is missing (scripts/deps.sh, which fails loudly when a package
# or /dev/fuse cannot be had), builds the normal and the ASan+UBSan builds
# with their unit tests and the C helpers of the mount tests, then runs
#   1. every tier on the normal build: unit, CLI golden, mount, the
#      4 GiB file, and the libFuzzer targets (built apart with clang under
#      ASan+UBSan, 20 s each) (scripts/run-tests.sh unit cli mount big fuzz);
#   2. the unit, CLI and mount tiers again on the sanitizer build
#      (the 4 GiB file is left out there: ASan's shadow memory and
#      quarantine would make its memory bound meaningless).
# The last line is "N passed, N failed" over everything; the status is 0 only
# if something passed and nothing failed.  Nothing is skipped.

set -uo pipefail
cd "$(dirname "$0")/.."

PASSED=0
FAILED=0
RESULTS=$(mktemp -d /tmp/mlfs-test-results.XXXXXX)
trap 'rm -rf "$RESULTS"' EXIT

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
	exit $?
}

if ! scripts/deps.sh; then
	echo "test.sh: the dependencies are not there (see above); no test can run" >&2
	FAILED=1
	finish
fi

JOBS=$(nproc 2>/dev/null || echo 2)

# build DIR [SAN=1]: mlfs, the unit tests and the mount tests' C helpers.
build() {
	local dir=$1 helpers=() src
	shift
	for src in tests/mount/*.c; do
		helpers+=("$dir/tests/$(basename "$src" .c)")
	done
	for src in tests/mount/preload/*.c; do
		helpers+=("$dir/tests/$(basename "$src" .c).so")
	done
	echo "== make $* all unit helpers ($dir)"
	make -s -j"$JOBS" BUILD="$dir" "$@" all unit "${helpers[@]}"
}

# suite NAME BINARY TIER...: one run of run-tests.sh, added to the totals.
suite() {
	local name=$1 bin=$2 p f
	shift 2
	MLFS_BIN=$bin MLFS_RESULT_FILE=$RESULTS/$name scripts/run-tests.sh "$@"
	if read -r p f <"$RESULTS/$name" 2>/dev/null; then
		PASSED=$((PASSED + p))
		FAILED=$((FAILED + f))
	else
		echo "test.sh: the $name suite ended without its totals" >&2
		FAILED=$((FAILED + 1))
	fi
}

if build build; then
	suite normal build/mlfs unit cli mount big fuzz
else
	echo "test.sh: the normal build failed" >&2
	FAILED=$((FAILED + 1))
fi

if build build-asan SAN=1; then
	suite sanitizer build-asan/mlfs unit cli mount
else
	echo "test.sh: the sanitizer build failed" >&2
	FAILED=$((FAILED + 1))
fi

echo "== totals (normal and sanitizer builds)"
finish
