#!/usr/bin/env bash
# run.sh - build every libFuzzer target of tests/fuzz and run each for a
# bounded time under ASan and UBSan; any crash, leak, sanitizer report or
# timeout fails.
#
#   tests/fuzz/run.sh [TARGET...]        TARGET: fuzz_names, ... (default: all)
#
# Each tests/fuzz/fuzz_*.c is one target.  The store's modules (store/*.c)
# are compiled once with clang, -fsanitize=fuzzer-no-link,address,undefined,
# into an archive every target links against, so a target may call any of
# them (with LMDB, zstd and xxhash).  A target runs on a copy of its seed
# corpus tests/fuzz/corpus/<target>/ (so the repository's corpus is only
# read) for FUZZ_TIME seconds, up to FUZZ_JOBS targets at once.  Per target
# it prints one line with the executions and the corpus it reached:
#
#     ok    fuzz_names            2439472 execs in 20 s, corpus 6 -> 212
#
# and last "N passed, N failed" (a target is one case), which is what
# scripts/run-tests.sh counts.  A failing target's input is kept in
# FUZZ_KEEP and shown in hex; replay it with `BINARY FILE`.
#
# A target that uses a store or a chunk store makes it under $TMPDIR, which
# is a fresh folder in FUZZ_TMP (a tmpfs by default: file churn on a disk
# file system costs most of the time).  tests/fuzz/<target>.flags, if
# present, holds more libFuzzer flags for that target (e.g. -max_len=2048
# where long inputs are slow and add nothing).
#
# Environment:
#   FUZZ_TIME   seconds per target (default 20)
#   FUZZ_JOBS   targets run at once (default: the number of CPUs)
#   FUZZ_BUILD  where the binaries go (default build/fuzz)
#   FUZZ_KEEP   where failing inputs are kept (default: a new /tmp/mlfs-fuzz-fail.*)
#   FUZZ_TMP    where targets make their stores (default /dev/shm if writable, else /tmp)
#   CC_FUZZ     the compiler (default clang)

set -uo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
FUZZ_TIME=${FUZZ_TIME:-20}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
case $FUZZ_BUILD in /*) ;; *) FUZZ_BUILD=$REPO/$FUZZ_BUILD ;; esac
CC_FUZZ=${CC_FUZZ:-clang}

PASSED=0
FAILED=0

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
	exit $?
}

if ! command -v "$CC_FUZZ" >/dev/null; then
	echo "run.sh: $CC_FUZZ is missing (scripts/deps.sh installs clang)" >&2
	FAILED=1
	finish
fi

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do
		TARGETS+=("$(basename "$src" .c)")
	done
fi

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
CFLAGS=(-std=gnu11 -O1 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Istore
	$(pkg-config --cflags lmdb libzstd libxxhash 2>/dev/null) "${SAN[@]}")
LIBS=($(pkg-config --libs lmdb libzstd libxxhash 2>/dev/null) -lpthread -lm)

if [ -z "${FUZZ_TMP:-}" ]; then
	FUZZ_TMP=/tmp
	[ -d /dev/shm ] && [ -w /dev/shm ] && FUZZ_TMP=/dev/shm
fi
WORK=$(mktemp -d /tmp/mlfs-fuzz.XXXXXX) || exit 1
SCRATCH=$(mktemp -d "$FUZZ_TMP/mlfs-fuzz-scratch.XXXXXX") || exit 1
trap 'rm -rf "$WORK" "$SCRATCH"' EXIT
mkdir -p "$FUZZ_BUILD/obj"

# The store library, rebuilt when a source or header is newer than its object.
echo "== building the store with $CC_FUZZ -fsanitize=fuzzer-no-link,address,undefined ($FUZZ_BUILD)"
objs=()
build_failed=0
for src in store/*.c; do
	obj=$FUZZ_BUILD/obj/$(basename "$src" .c).o
	objs+=("$obj")
	if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ -z "$(find store -name '*.h' -newer "$obj")" ]; then
		continue
	fi
	if ! "$CC_FUZZ" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src"; then
		echo "run.sh: cannot compile $src for fuzzing" >&2
		build_failed=1
	fi
done
if [ "$build_failed" = 1 ]; then
	FAILED=$((FAILED + 1))
	finish
fi
rm -f "$FUZZ_BUILD/libmlfs-fuzz.a"
ar rcs "$FUZZ_BUILD/libmlfs-fuzz.a" "${objs[@]}" || {
	FAILED=$((FAILED + 1))
	finish
}

build_target() {
	local t=$1
	"$CC_FUZZ" "${CFLAGS[@]}" -Wall -Wextra -Werror -Wno-unused-parameter -fsanitize=fuzzer \
		-o "$FUZZ_BUILD/$t" "tests/fuzz/$t.c" "$FUZZ_BUILD/libmlfs-fuzz.a" "${LIBS[@]}"
}

# run_target T: fuzz T for FUZZ_TIME s; writes WORK/T.result ("ok|FAIL execs secs n0 n1 why").
run_target() {
	local t=$1 bin=$FUZZ_BUILD/$1 seeds=tests/fuzz/corpus/$1 corpus=$WORK/corpus-$1
	local log=$WORK/$1.log start status execs n0 n1 why= flags=()
	mkdir -p "$corpus" "$WORK/fail-$t" "$SCRATCH/$t"
	[ -f "tests/fuzz/$t.flags" ] && read -r -a flags <"tests/fuzz/$t.flags"
	[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
	n0=$(find "$corpus" -type f | wc -l)
	start=$SECONDS
	(cd "$WORK" && TMPDIR=$SCRATCH/$t timeout -k 10 $((FUZZ_TIME + 60)) "$bin" \
		-max_total_time="$FUZZ_TIME" -max_len=8192 -timeout=10 -rss_limit_mb=2560 \
		-print_final_stats=1 "${flags[@]}" -artifact_prefix="$WORK/fail-$t/" "$corpus") \
		>"$log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	n1=$(find "$corpus" -type f | wc -l)
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		why="did not stop within $((FUZZ_TIME + 60)) s"
	elif [ "$status" != 0 ]; then
		why="exited with status $status"
	elif [ -n "$(ls -A "$WORK/fail-$t")" ]; then
		why="left failing inputs"
	elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		why="a sanitizer or libFuzzer reported an error"
	elif [ -z "$execs" ]; then
		why="printed no statistics"
	fi
	if [ -z "$why" ]; then
		echo "ok ${execs:-0} $((SECONDS - start)) $n0 $n1" >"$WORK/$t.result"
	else
		echo "FAIL ${execs:-0} $((SECONDS - start)) $n0 $n1 $why" >"$WORK/$t.result"
	fi
}

echo "== building ${#TARGETS[@]} targets"
RUNNABLE=()
for t in "${TARGETS[@]}"; do
	if [ ! -f "tests/fuzz/$t.c" ]; then
		echo "FAIL  $t: there is no tests/fuzz/$t.c"
		FAILED=$((FAILED + 1))
	elif ! build_target "$t"; then
		echo "FAIL  $t: does not build"
		FAILED=$((FAILED + 1))
	else
		RUNNABLE+=("$t")
	fi
done

echo "== fuzzing ${#RUNNABLE[@]} targets, ${FUZZ_TIME} s each, $FUZZ_JOBS at once"
running=0
for t in "${RUNNABLE[@]}"; do
	if [ "$running" -ge "$FUZZ_JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_target "$t" &
	running=$((running + 1))
done
wait

KEEP=
for t in "${RUNNABLE[@]}"; do
	read -r verdict execs secs n0 n1 why <"$WORK/$t.result" 2>/dev/null ||
		{ verdict=FAIL execs=0 secs=0 n0=0 n1=0 why="no result"; }
	if [ "$verdict" = ok ]; then
		PASSED=$((PASSED + 1))
		printf 'ok    %-24s %10s execs in %s s, corpus %s -> %s\n' "$t" "$execs" "$secs" "$n0" "$n1"
		continue
	fi
	FAILED=$((FAILED + 1))
	printf 'FAIL  %-24s %10s execs in %s s: %s\n' "$t" "$execs" "$secs" "$why"
	echo "---- $t: the end of its output ----"
	grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse|INITED)' "$WORK/$t.log" | tail -n 40
	if [ -n "$(ls -A "$WORK/fail-$t" 2>/dev/null)" ]; then
		[ -n "$KEEP" ] || KEEP=${FUZZ_KEEP:-$(mktemp -d /tmp/mlfs-fuzz-fail.XXXXXX)}
		mkdir -p "$KEEP"
		for f in "$WORK/fail-$t"/*; do
			cp "$f" "$KEEP/$t-$(basename "$f")"
			echo "---- input $KEEP/$t-$(basename "$f") (first 256 bytes; replay: $FUZZ_BUILD/$t FILE) ----"
			head -c 256 "$f" | od -A d -t x1z | head -n 17
		done
	fi
	echo "---- end of $t ----"
done
finish
