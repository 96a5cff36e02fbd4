#!/usr/bin/env bash
# t_model.sh - random operations on artifacts/ agree with a mirror on an
# ordinary file system (model_ops.c): a fixed seed and a seed from the clock
# (printed), 10k operations in all; then the trees still agree after a clean
# remount and after a kill -9.
#
#   MLFS_MODEL_OPS=N            operations per seed (default 5000)
#   MLFS_MODEL_SEEDS="S1 S2"    the seeds (default: 20261126 and one from the clock)
#   MLFS_MODEL_REPLAY="S N"     replay seed S up to operation N, printing each
#                               operation, on this test's fresh mount
#   MLFS_MODEL_LIMIT=S          seconds one seed may take (default 150)
#   MLFS_MODEL_GC=S             run `mlfs gc STORE` every S seconds meanwhile
#                               (the soak does, to keep the store small and
#                               to collect while files are being written)
. "$(dirname "$0")/lib.sh"

OPS=${MLFS_MODEL_OPS:-5000}
LIMIT=${MLFS_MODEL_LIMIT:-150}
SEEDS=${MLFS_MODEL_SEEDS:-"20261126 $(date +%s%N | cut -c1-15)"}
MO=$MLFS_HELPERS/model_ops
if [ ! -x "$MO" ]; then
	fail "$MO is missing: make helpers"
	exit 1
fi
# The mirror is a plain folder in the work directory (lib.sh removes it).
MIRRORS=$SCRATCH

t mkdir -p "$MNT/exp1/model/artifacts" || fail "mkdir -p exp1/model/artifacts"

if [ -n "${MLFS_MODEL_REPLAY:-}" ]; then
	read -r seed n <<<"$MLFS_MODEL_REPLAY"
	section "replay of seed $seed up to operation $n"
	t mkdir "$MNT/exp1/model/artifacts/s$seed" || fail "mkdir"
	check "model_ops --replay $seed --ops $n" \
		"$MO" --replay "$seed" --ops "$n" "$MNT/exp1/model/artifacts/s$seed" "$MIRRORS/s$seed"
	exit
fi

if [ -n "${MLFS_MODEL_GC:-}" ]; then
	# TERM ends it between two runs; it also stops by itself once this script is gone.
	(trap 'exit 0' TERM
	while kill -0 $$ 2>/dev/null; do
		sleep "$MLFS_MODEL_GC" &
		wait $!
		echo "=== $(date +%T) mlfs gc" >>"$T_WORK/gc.log"
		timeout -k 5 300 "$MLFS" gc "$STORE" >>"$T_WORK/gc.log" 2>&1 ||
			echo "=== mlfs gc exited $?" >>"$T_WORK/gc.log"
	done) &
	GC_LOOP=$!
fi

for seed in $SEEDS; do
	section "seed $seed, $OPS operations"
	echo "t_model.sh: seed $seed, $OPS operations"
	d=$MNT/exp1/model/artifacts/s$seed
	t mkdir "$d" || fail "mkdir artifacts/s$seed"
	start=$SECONDS
	if out=$(timeout -k 5 "$LIMIT" "$MO" -q "$seed" "$OPS" "$d" "$MIRRORS/s$seed" 2>&1); then
		pass
		echo "$out ($((SECONDS - start)) s)"
	else
		fail "model_ops with seed $seed (exit $?):"$'\n'"$out"
		_t_show_log
	fi
done

if [ -n "${GC_LOOP:-}" ]; then
	kill "$GC_LOOP" 2>/dev/null
	wait "$GC_LOOP" 2>/dev/null
	runs=$(grep -c '^=== .* mlfs gc$' "$T_WORK/gc.log")
	bad=$(grep '^=== mlfs gc exited' "$T_WORK/gc.log" | head -n 3)
	echo "t_model.sh: mlfs gc ran $runs times meanwhile"
	check_eq "every mlfs gc run meanwhile succeeded" "" "$bad"
	[ -z "$bad" ] || tail -n 20 "$T_WORK/gc.log" >&2
fi

for how in remount crash_remount; do
	section "after $how"
	$how
	for seed in $SEEDS; do
		check "seed $seed: the trees agree after $how" \
			t "$MO" --compare "$MNT/exp1/model/artifacts/s$seed" "$MIRRORS/s$seed"
	done
done
