#!/usr/bin/env bash
# bench.sh - `make bench`: the performance figures of issue 4, each as a ratio
# against a baseline measured in the same run, printed as a table.
#
#   scripts/bench.sh            the full bench (well under 30 minutes on 2 CPUs);
#                               the table also goes to scripts/bench/latest.txt
#   BENCH_QUICK=1 scripts/bench.sh
#                               a smoke run of a few minutes: small sizes, 3 reps;
#                               the table goes to stdout only
#
# Other knobs: BENCH_DIR (where the work directory is made; default /var/tmp,
# it must be on the disk under test), BENCH_REPS=N, BENCH_ONLY=echo,python,...
# (see scripts/bench/bench.py), BENCH_OUT=FILE, BENCH_KEEP=1 (keep the work
# directory), MLFS (the binary; default build/mlfs), BENCH_LABEL (what the
# binary is, when it is not in a checkout).
#
# Needs root: it mounts tmpfs and drops the page cache for the cold reads.
# Every mount it makes is unmounted by the EXIT trap (fusermount3 -u, then
# -uz), and only the daemons it started are stopped, by pid.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/scripts/bench
MLFS=${MLFS:-$REPO/build/mlfs}

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: the bench mounts tmpfs and drops the page cache"
"$REPO/scripts/deps.sh"
for tool in cc pkg-config mdb_stat fusermount3 findmnt cmp /usr/bin/python3; do
	command -v "$tool" >/dev/null || die "the tool '$tool' is missing"
done
[ -x "$MLFS" ] || die "'$MLFS' is not built (run make)"

# The generated data, the native copies and every store of the run stay
# until the end (see mlfs_fresh in bench.py): about 20 GiB, or 3 GiB quick.
need=$([ "${BENCH_QUICK:-0}" = 1 ] && echo 4 || echo 24)
avail=$(df --output=avail -B1G "${BENCH_DIR:-/var/tmp}" | tail -1 | tr -d ' ')
[ "$avail" -ge "$need" ] || die "${BENCH_DIR:-/var/tmp} has $avail GiB free; the bench needs $need GiB"
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/mlfs-bench.XXXXXX")
HELPERS=$WORK/bin

cleanup() {
	local kind mnt pid
	if [ -f "$WORK/mounts" ]; then
		tac "$WORK/mounts" | while read -r kind mnt; do
			mountpoint -q "$mnt" 2>/dev/null || continue
			if [ "$kind" = tmpfs ]; then
				umount "$mnt" 2>/dev/null || umount -l "$mnt"
			else
				fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
			fi
		done
	fi
	if [ -f "$WORK/pids" ]; then
		while read -r pid; do
			kill -0 "$pid" 2>/dev/null || continue
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null || true
		done <"$WORK/pids"
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench.sh: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$HELPERS"
CFLAGS="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64"
# shellcheck disable=SC2046,SC2086
cc $CFLAGS $(pkg-config --cflags fuse3) -o "$HELPERS/barefs" "$HERE/barefs.c" \
	$(pkg-config --libs fuse3) -lpthread
# shellcheck disable=SC2086
cc $CFLAGS -o "$HELPERS/benchgen" "$HERE/benchgen.c" -lm
# shellcheck disable=SC2086
cc $CFLAGS -o "$HELPERS/benchtree" "$HERE/benchtree.c"

if [ -z "${BENCH_OUT:-}" ] && [ "${BENCH_QUICK:-0}" != 1 ] && [ -z "${BENCH_ONLY:-}" ]; then
	export BENCH_OUT=$HERE/latest.txt
fi
/usr/bin/python3 "$HERE/bench.py" "$WORK" "$MLFS" "$HELPERS"
