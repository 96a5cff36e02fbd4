#!/usr/bin/env bash
# t_many_writers.sh - many writers at once lose nothing: processes from C,
# bash and Python appending to one metric, others creating runs, others
# copying artifacts, all at the same time; then everything again after a
# remount.
. "$(dirname "$0")/lib.sh"

E=$MNT/exp1
R=$E/run42
t mkdir -p "$R" "$E/shared" || fail "mkdir -p exp1/run42 exp1/shared"
PY=/usr/bin/python3
AM=$MLFS_HELPERS/append_metric

# Expected points of metric "mixed" as "VALUE STEP" lines, sorted by step.
expected_mixed() {
	local w
	for w in 0 1 2 3; do
		awk -v f=$((w * 10000)) 'BEGIN { for (i = 0; i < 300; i++) print (f + i) ".25", f + i }'
	done
	for w in 4 5; do
		awk -v f=$((w * 10000)) 'BEGIN { for (i = 0; i < 100; i++) print (f + i) ".5", f + i }'
	done
	for w in 6 7; do
		awk -v f=$((w * 10000)) 'BEGIN { for (i = 0; i < 100; i++) print (f + i) ".75", f + i }'
	done
}

verify() {
	local when=$1 got want w i r bad
	section "$when: one metric, eight writers"
	got=$(t cat "$R/metrics/mixed")
	bad=$(awk 'NF != 3 || $1 !~ /^[0-9]+$/ || $3 !~ /^[0-9]+$/' <<<"$got" | head -n 3)
	check_eq "every line is whole" "" "$bad"
	check_eq "every point is there once" "$(expected_mixed | sort -k2,2n)" \
		"$(awk '{ print $2, $3 }' <<<"$got" | sort -k2,2n)"
	for w in 0 4 6; do
		check_eq "writer $w's points are in its order" \
			"$(awk -v lo=$((w * 10000)) -v hi=$((w * 10000 + 9999)) '$2 >= lo && $2 <= hi { print $2 }' <<<"$(expected_mixed)")" \
			"$(awk -v lo=$((w * 10000)) -v hi=$((w * 10000 + 9999)) '$3 >= lo && $3 <= hi { print $3 }' <<<"$got")"
	done

	section "$when: one metric, implicit steps"
	got=$(t cat "$R/metrics/implicit")
	check_eq "800 points with steps 0..799, each once" "$(seq 0 799)" \
		"$(awk '{ print $3 }' <<<"$got" | sort -n)"
	check_eq "the steps increase down the file" "$(awk '{ print $3 }' <<<"$got")" \
		"$(awk '{ print $3 }' <<<"$got" | sort -n)"
	check_eq "every writer's values are all there" \
		"$(for w in 0 1 2 3; do seq $((w * 1000)) $((w * 1000 + 199)); done | sort -n)" \
		"$(awk '{ sub(/\.25$/, "", $2); print $2 }' <<<"$got" | sort -n)"

	section "$when: runs created at once"
	check_eq "80 runs" 80 "$(t ls "$MNT/exp2" | grep -c '^w')"
	bad=0
	for w in 0 1 2 3; do
		for i in $(seq 1 20); do
			r=$MNT/exp2/w$w-r$i
			if [ "$(t cat "$r/params/worker" 2>/dev/null)" != "$w" ] ||
				[ "$(t cat "$r/tags/index" 2>/dev/null)" != "$i" ]; then
				bad=$((bad + 1))
			fi
		done
	done
	check_eq "every run has its param and tag" 0 "$bad"
	check_eq "80 distinct run ids" 80 \
		"$(for r in "$MNT"/exp2/w*; do t sed -n 's/^run_id: //p' "$r/meta"; done | grep -E '^[0-9a-f]{32}$' | sort -u | wc -l)"

	section "$when: artifacts copied at once"
	bad=0
	for w in 0 1 2 3; do
		for i in 1 2 3 4 5; do
			t cmp -s "$SCRATCH/a$w-$i" "$E/shared/artifacts/a$w-$i" || bad=$((bad + 1))
			t cmp -s "$SCRATCH/a$w-$i" "$E/own$w/artifacts/f$i" || bad=$((bad + 1))
		done
	done
	check_eq "every copy equals its source" 0 "$bad"
	check_eq "the shared run lists 20 artifacts" 20 "$(t ls "$E/shared/artifacts" | wc -l)"
}

for w in 0 1 2 3; do
	for i in 1 2 3 4 5; do
		head -c $(((w * 5 + i) * 100000 + 12345)) /dev/urandom >"$SCRATCH/a$w-$i"
	done
done
t mkdir "$MNT/exp2" "$E/own0" "$E/own1" "$E/own2" "$E/own3" || fail "mkdir"

section "all at once"
pids=()
# One metric, eight writers, each with its own steps: C (one open; one open
# per line; lines split across writes), bash echo >>, Python open('a').
"$AM" -k -f 0 "$R/metrics/mixed" 300 & pids+=($!)
"$AM" -k -r -f 10000 "$R/metrics/mixed" 300 & pids+=($!)
"$AM" -k -s -f 20000 "$R/metrics/mixed" 300 & pids+=($!)
"$AM" -k -s -r -f 30000 "$R/metrics/mixed" 300 & pids+=($!)
for w in 4 5; do
	bash -c 'for ((i = 0; i < 100; i++)); do echo "$(($2 + i)).5 $(($2 + i))" >> "$1" || exit 1; done' \
		_ "$R/metrics/mixed" $((w * 10000)) & pids+=($!)
done
for w in 6 7; do
	"$PY" -c 'import sys
path, first = sys.argv[1], int(sys.argv[2])
for i in range(100):
    with open(path, "a") as f:
        f.write("%d.75 %d\n" % (first + i, first + i))' "$R/metrics/mixed" $((w * 10000)) & pids+=($!)
done
# One metric, four writers with implicit steps.
for w in 0 1 2 3; do
	"$AM" -f $((w * 1000)) "$R/metrics/implicit" 200 & pids+=($!)
done
# Runs created by four processes.
for w in 0 1 2 3; do
	bash -c 'for i in $(seq 1 20); do r="$1/w$2-r$i"; mkdir "$r" && echo "$2" > "$r/params/worker" && echo "$i" > "$r/tags/index" || exit 1; done' \
		_ "$MNT/exp2" "$w" & pids+=($!)
done
# Artifacts copied by four processes into one shared run and their own runs.
for w in 0 1 2 3; do
	bash -c 'for i in 1 2 3 4 5; do cp "$1/a$2-$i" "$3/artifacts/" && cp "$1/a$2-$i" "$4/artifacts/f$i" || exit 1; done' \
		_ "$SCRATCH" "$w" "$E/shared" "$E/own$w" & pids+=($!)
done
failed_writers=0
for p in "${pids[@]}"; do
	wait "$p" || failed_writers=$((failed_writers + 1))
done
check_eq "all ${#pids[@]} writers succeeded" 0 "$failed_writers"

verify "at once"
remount
verify "after remount"
