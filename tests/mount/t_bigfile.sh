#!/usr/bin/env bash
# t_bigfile.sh - a 4 GiB file (1 MiB of random bytes every 64 MiB, zeros
# between) copied in and read back with the same checksum, while the
# daemon's peak resident memory stays under 100 MiB; then one edit in its
# middle, read back again.  Slow: run-tests.sh runs it as its own tier, "big".
. "$(dirname "$0")/lib.sh"

T_BIG=${T_BIG:-600}       # seconds for one pass over the 4 GiB
LIMIT_KIB=$((100 * 1024)) # the daemon's VmHWM must stay below this
SIZE=$((4 * 1024 * 1024 * 1024))
R=$MNT/exp1/run42
A=$R/artifacts
SRC=$SCRATCH/big.src
PID=$(daemon_pid)

vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$PID/status" 2>/dev/null; }

# Sample VmRSS into $SCRATCH/rss every 0.2 s, for the record.
sampler() {
	while [ -d "/proc/$PID" ]; do
		vm VmRSS >>"$SCRATCH/rss"
		sleep 0.2
	done
}

section "the source file"
check "a sparse 4 GiB file" truncate -s "$SIZE" "$SRC"
for ((i = 0; i < 64; i++)); do
	dd if=/dev/urandom of="$SRC" bs=1M count=1 seek=$((i * 64 + i % 7)) conv=notrunc status=none
done
src_sum=$(sha256sum "$SRC" | cut -d' ' -f1)
check_eq "its size" "$SIZE" "$(stat -c %s "$SRC")"

t mkdir -p "$R" || fail "mkdir -p exp1/run42"
sampler &
sampler_pid=$!
store_before=$(du -sk "$STORE" | cut -f1)

section "copy in and read back"
start=$SECONDS
check "cp --sparse=never the 4 GiB file in" timeout -k 5 "$T_BIG" cp --sparse=never "$SRC" "$A/big"
echo "copy in: $((SECONDS - start)) s, daemon VmHWM $(vm VmHWM) kB" >&2
check_eq "st_size" "$SIZE" "$(size_of "$A/big")"
start=$SECONDS
dst_sum=$(timeout -k 5 "$T_BIG" sha256sum "$A/big" | cut -d' ' -f1)
echo "read back: $((SECONDS - start)) s, daemon VmHWM $(vm VmHWM) kB" >&2
check_eq "the checksum read back" "$src_sum" "$dst_sum"
for off in 0 64 1000 2048 4031 4095; do
	check "1 MiB at $off MiB" bash -c 'cmp <(dd if="$1" bs=1M skip="$3" count=1 status=none) \
		<(timeout 60 dd if="$2" bs=1M skip="$3" count=1 status=none)' _ "$SRC" "$A/big" "$off"
done
store_after=$(du -sk "$STORE" | cut -f1)
check "64 MiB of random bytes and zeros take under 256 MiB in the store ($((store_after - store_before)) KiB)" \
	test $((store_after - store_before)) -lt $((256 * 1024))

section "an edit in the middle"
printf 'edited in the middle' | dd of="$SRC" bs=1 seek=$((SIZE / 2 + 12345)) conv=notrunc status=none
src_sum=$(sha256sum "$SRC" | cut -d' ' -f1)
start=$SECONDS
check "dd conv=notrunc at 2 GiB" timeout -k 5 "$T_BIG" bash -c \
	'printf "edited in the middle" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none' _ "$A/big" $((SIZE / 2 + 12345))
echo "edit: $((SECONDS - start)) s" >&2
dst_sum=$(timeout -k 5 "$T_BIG" sha256sum "$A/big" | cut -d' ' -f1)
check_eq "the checksum after the edit" "$src_sum" "$dst_sum"
check_eq "st_size after the edit" "$SIZE" "$(size_of "$A/big")"

section "bounded memory"
hwm=$(vm VmHWM)
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
max_rss=$(sort -n "$SCRATCH/rss" 2>/dev/null | tail -n 1)
echo "daemon VmHWM ${hwm} kB, largest VmRSS sample ${max_rss} kB" >&2
check_match "VmHWM was read" '^[0-9]+$' "$hwm"
check "the daemon's peak RSS (${hwm} kB) stayed under 100 MiB" test "${hwm:-999999999}" -lt "$LIMIT_KIB"
