#!/usr/bin/env bash
# t_metrics.sh - metrics from bash, Python and C; the three line forms; values
# spelled as Python's repr(); malformed lines refused whole; exact st_size and
# reads at any offset; points that cannot be changed or deleted.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run42
M=$R/metrics
t mkdir -p "$R" || fail "mkdir -p exp1/run42"
NL=$'\n'
PY=/usr/bin/python3

# check_points DESC FILE LO HI "VALUE STEP"...
# FILE holds exactly these points, in order, each line "TIMESTAMP VALUE STEP\n",
# every timestamp in [LO - 2 s, HI + 2 s] unless LO is empty.
check_points() {
	local desc=$1 file=$2 lo=$3 hi=$4 want got bad
	shift 4
	if ! slurp "$file"; then
		fail "$desc: cannot read ${file#"$MNT"/}"
		return
	fi
	want=$(printf '%s\n' "$@")
	got=$(printf '%s' "$REPLY" | awk '{ print $2, $3 }')
	check_eq "$desc: the points" "$want" "$got"
	check_match "$desc: every line is 'TIMESTAMP VALUE STEP'" \
		"^([0-9]+ [^ $NL]+ -?[0-9]+$NL)*\$" "$REPLY"
	if [ -n "$lo" ]; then
		bad=$(printf '%s' "$REPLY" | awk -v lo=$((lo - 2000)) -v hi=$((hi + 2000)) \
			'$1 < lo || $1 > hi')
		check_eq "$desc: timestamps are the time of the writes ($lo..$hi)" "" "$bad"
	fi
}

append_py() {
	t "$PY" -c 'import sys
with open(sys.argv[1], "a") as f:
    f.write(sys.argv[2] + "\n")' "$1" "$2"
}

section "echo 0.93 >> metrics/acc from bash, Python and C"
t0=$(now_ms)
for i in 0 1 2; do
	check "bash: echo 0.93 >> metrics/acc ($i)" t bash -c 'echo 0.93 >> "$1"' _ "$M/acc"
done
t1=$(now_ms)
check_points "bash" "$M/acc" "$t0" "$t1" "0.93 0" "0.93 1" "0.93 2"
check_size "$M/acc"
for i in 0 1 2; do
	check "python: open(acc_py, 'a').write('0.93\\n') ($i)" append_py "$M/acc_py" 0.93
done
t2=$(now_ms)
check_points "python" "$M/acc_py" "$t1" "$t2" "0.93 0" "0.93 1" "0.93 2"
check "C: append_metric, one open per line" t "$MLFS_HELPERS/append_metric" -r -v 0.93 "$M/acc_c" 3
t3=$(now_ms)
check_points "C" "$M/acc_c" "$t2" "$t3" "0.93 0" "0.93 1" "0.93 2"
check "python appends to bash's metric" append_py "$M/acc" 0.94
check "C appends to bash's metric" t "$MLFS_HELPERS/append_metric" -v 0.95 "$M/acc" 2
check "bash appends again" t bash -c 'echo 0.96 >> "$1"' _ "$M/acc"
t4=$(now_ms)
check_points "mixed writers continue the steps" "$M/acc" "$t0" "$t4" \
	"0.93 0" "0.93 1" "0.93 2" "0.94 3" "0.95 4" "0.95 5" "0.96 6"
check_size "$M/acc"
check_eq "ls metrics" "acc acc_c acc_py" "$(t ls "$M" | sort | tr '\n' ' ' | sed 's/ $//')"

section "the three line forms"
t0=$(now_ms)
check "VALUE STEP" t bash -c 'echo "0.5 10" >> "$1"' _ "$M/forms"
check "VALUE after VALUE STEP" t bash -c 'echo 0.6 >> "$1"' _ "$M/forms"
check "TIMESTAMP VALUE STEP" t bash -c 'echo "1700000000000 0.25 7" >> "$1"' _ "$M/forms"
check "VALUE after a full line" t bash -c 'echo 0.7 >> "$1"' _ "$M/forms"
check "a negative and a large step" t bash -c 'echo "1.5 -3" >> "$1"; echo "1700000000001 2.5 9007199254740993" >> "$1"' _ "$M/forms"
t1=$(now_ms)
slurp "$M/forms"
forms=$REPLY
check_points "forms" "$M/forms" "" "" "0.5 10" "0.6 11" "0.25 7" "0.7 8" "1.5 -3" "2.5 9007199254740993"
check_eq "a full line keeps its timestamp" "1700000000000 0.25 7" "$(sed -n 3p <<<"$forms")"
check_eq "and the large step exactly" "1700000000001 2.5 9007199254740993" "$(sed -n 6p <<<"$forms")"
bad=$(sed -n '1p;2p;4p;5p' <<<"$forms" | awk -v lo=$((t0 - 2000)) -v hi=$((t1 + 2000)) '$1 < lo || $1 > hi')
check_eq "the short forms take the time of the write" "" "$bad"
check "three lines in one write" t bash -c 'printf "1\n2\n3\n" >> "$1"' _ "$M/multi"
check_points "one write, three points" "$M/multi" "$t0" "$(now_ms)" "1.0 0" "2.0 1" "3.0 2"
expect_errno OK append "$M/multi" $'4 10\n5\n1700000000000 6 20\n'
check_points "one write, three forms" "$M/multi" "" "" "1.0 0" "2.0 1" "3.0 2" "4.0 10" "5.0 11" "6.0 20"

section "values read as Python's repr()"
inputs=(1 1e-5 0.1 100 1e16 1.5e300 -2.5 nan inf -inf 0.30000000000000004
	1234567890123456 0.0001 12345678901234567 -0 1E3 2.5e-7 0.93)
reprs=(1.0 1e-05 0.1 100.0 1e+16 1.5e+300 -2.5 nan inf -inf 0.30000000000000004
	1234567890123456.0 0.0001 1.2345678901234568e+16 -0.0 1000.0 2.5e-07 0.93)
want=()
for i in "${!inputs[@]}"; do
	expect_errno OK append "$M/repr" "${inputs[$i]}$NL"
	want+=("${reprs[$i]} $i")
done
check_points "repr" "$M/repr" "" "" "${want[@]}"
check_size "$M/repr"

section "a malformed line is EINVAL and stores nothing"
t bash -c 'printf "0.1\n0.2\n" >> "$1"' _ "$M/m"
slurp "$M/m"
before=$REPLY
for line in "abc" "0.5 1.5" "1 2 3 4" "0x10" "0.5 step" "1,5" "1700000000000 0.5 2.5" \
	"--1" "1e" "nan5" "0.5 1 2 3"; do
	expect_errno EINVAL append "$M/m" "$line$NL"
done
expect_errno EINVAL append "$M/m" $'0.7\nbad\n'
expect_errno EINVAL append "$M/m" $'0.7\n0.8 x\n'
check "bash sees the refusal of echo abc >> metrics/m" bash -c '! echo abc >> "$1"' _ "$M/m" 2>/dev/null
slurp "$M/m"
check_eq "metrics/m is unchanged after every malformed write" "$before" "$REPLY"
check_points "malformed writes stored nothing" "$M/m" "" "" "0.1 0" "0.2 1"
expect_errno OK append "$M/m" $'0.3\n'
check_points "the step goes on from the last stored point" "$M/m" "" "" "0.1 0" "0.2 1" "0.3 2"

section "st_size and reads at any offset"
slurp "$M/acc"
full=$REPLY
size=${#full}
check_eq "st_size of metrics/acc" "$size" "$(size_of "$M/acc")"
for off in 0 1 5 13 $((size / 2)) $((size - 1)) "$size"; do
	check_eq "tail -c +$((off + 1))" "${full:off}." "$(t tail -c +$((off + 1)) "$M/acc"; printf .)"
	check_eq "dd skip=$off count=7" "${full:off:7}." \
		"$(t dd if="$M/acc" bs=1 skip="$off" count=7 status=none; printf .)"
done
check_eq "dd bs=3 skip=2 count=4" "${full:6:12}." \
	"$(t dd if="$M/acc" bs=3 skip=2 count=4 status=none; printf .)"
t bash -c 'echo 0.97 >> "$1"' _ "$M/acc"
slurp "$M/acc"
check_eq "a point adds exactly its line to st_size" "${#REPLY}" "$(size_of "$M/acc")"
check_eq "the old content is a prefix of the new" "$full" "${REPLY:0:size}"

section "points cannot be changed or deleted"
slurp "$M/acc"
before=$REPLY
expect_errno EPERM truncate "$M/acc" 0
expect_errno EPERM truncate "$M/acc" $((size - 1))
expect_errno EPERM ftruncate "$M/acc" 0
expect_errno EPERM write "$M/acc" $'0.5\n'
expect_errno EPERM pwrite "$M/acc" 0 $'0.5\n'
expect_errno EPERM unlink "$M/acc"
check "bash sees the refusal of echo 0.5 > metrics/acc" bash -c '! echo 0.5 > "$1"' _ "$M/acc" 2>/dev/null
check "rm metrics/acc fails" bash -c '! rm -f "$1"' _ "$M/acc" 2>/dev/null
slurp "$M/acc"
check_eq "metrics/acc is unchanged" "$before" "$REPLY"

section "many points from C"
check "1000 points through one O_APPEND descriptor" t "$MLFS_HELPERS/append_metric" "$M/c1000" 1000
check_eq "all 1000 points, in order, with their steps" "1000 0" \
	"$(t cat "$M/c1000" | awk '$2 != (NR - 1) ".25" || $3 != NR - 1 { bad++ } END { print NR, bad + 0 }')"
check_size "$M/c1000"
check "300 points, each line in two writes" t "$MLFS_HELPERS/append_metric" -s "$M/split" 300
check_eq "the halves are joined into 300 points" "300 0" \
	"$(t cat "$M/split" | awk '$2 != (NR - 1) ".25" || $3 != NR - 1 { bad++ } END { print NR, bad + 0 }')"
check "50 points as VALUE STEP from step 100" t "$MLFS_HELPERS/append_metric" -k -f 100 "$M/steps" 50
check_eq "steps 100..149" "50 0" \
	"$(t cat "$M/steps" | awk '$2 != (NR + 99) ".25" || $3 != NR + 99 { bad++ } END { print NR, bad + 0 }')"
