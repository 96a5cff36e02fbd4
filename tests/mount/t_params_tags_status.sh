#!/usr/bin/env bash
# t_params_tags_status.sh - params are write-once, tags mutable and deletable,
# status takes its five words and stamps the end time, meta shows the run.
. "$(dirname "$0")/lib.sh"

E=$MNT/exp1
R=$E/run42
t0=$(now_ms)
t mkdir -p "$R" || fail "mkdir -p exp1/run42"
t1=$(now_ms)

# The value of "key: value" in a meta file's text.
meta_field() { printf '%s\n' "$1" | sed -n "s/^$2: //p" | head -n 1; }

# Is $3 an integer in [$1 - 2000, $2 + 2000] (clocks of two processes, rounding)?
in_window() { [[ $3 =~ ^[0-9]+$ ]] && [ "$3" -ge $(($1 - 2000)) ] && [ "$3" -le $(($2 + 2000)) ]; }

section "params are write-once"
check "echo 0.01 > params/lr" t bash -c 'echo 0.01 > "$1"' _ "$R/params/lr"
slurp "$R/params/lr"
check_eq "params/lr reads the value and a newline" $'0.01\n' "$REPLY"
check_size "$R/params/lr"
check_eq "ls params" "lr" "$(t ls "$R/params")"
check "writing the same value again succeeds" t bash -c 'echo 0.01 > "$1"' _ "$R/params/lr"
expect_errno OK write "$R/params/lr" "0.01"
expect_errno EPERM write "$R/params/lr" $'0.02\n'
expect_errno EPERM write "$R/params/lr" "0.010"
expect_errno EPERM append "$R/params/lr" $'0.02\n'
expect_errno EPERM truncate "$R/params/lr" 0
expect_errno EPERM unlink "$R/params/lr"
check "a refused bash write fails" bash -c '! echo 0.02 > "$1"' _ "$R/params/lr" 2>/dev/null
slurp "$R/params/lr"
check_eq "params/lr is unchanged after the refusals" $'0.01\n' "$REPLY"
check_size "$R/params/lr"

check "a value with spaces" t bash -c 'echo "adam with momentum" > "$1"' _ "$R/params/optimizer"
slurp "$R/params/optimizer"
check_eq "it reads back whole" $'adam with momentum\n' "$REPLY"
expect_errno OK write "$R/params/nl" $'x\n\n'
slurp "$R/params/nl"
check_eq "only one trailing newline is dropped" $'x\n\n' "$REPLY"
expect_errno EPERM write "$R/params/nl" $'x\n'
expect_errno OK write "$R/params/bare" "42"
slurp "$R/params/bare"
check_eq "a value written without newline reads with one" $'42\n' "$REPLY"
v500=$(repeat_char 500 v)
expect_errno OK write "$R/params/long" "$v500"
slurp "$R/params/long"
check_eq "a 500-byte value is kept whole" "$v500"$'\n' "$REPLY"
big=$(repeat_char 100000 v) # argv takes at most 128 KiB per word
expect_errno_in "EINVAL ENAMETOOLONG EFBIG" write "$R/params/huge" "$big"
check "a refused over-long value leaves no param" test ! -e "$R/params/huge"
check_eq "ls params after all that" "bare long lr nl optimizer" \
	"$(t ls "$R/params" | sort | tr '\n' ' ' | sed 's/ $//')"

section "tags are mutable and deletable"
check "echo alice > tags/owner" t bash -c 'echo alice > "$1"' _ "$R/tags/owner"
slurp "$R/tags/owner"
check_eq "tags/owner" $'alice\n' "$REPLY"
check "echo bob > tags/owner" t bash -c 'echo bob > "$1"' _ "$R/tags/owner"
slurp "$R/tags/owner"
check_eq "tags/owner changed" $'bob\n' "$REPLY"
check_size "$R/tags/owner"
expect_errno OK write "$R/tags/owner" $'carol\n'
slurp "$R/tags/owner"
check_eq "tags/owner changed again" $'carol\n' "$REPLY"
check "rm tags/owner" t rm "$R/tags/owner"
check "tags/owner is gone" test ! -e "$R/tags/owner"
check_eq "ls tags after rm" "" "$(t ls -A "$R/tags")"
expect_errno ENOENT read "$R/tags/owner"
check "a deleted tag can be set again" t bash -c 'echo dave > "$1"' _ "$R/tags/owner"
slurp "$R/tags/owner"
check_eq "tags/owner after re-creating it" $'dave\n' "$REPLY"
check "experiment tag: echo v > exp1/tags/team" t bash -c 'echo vision > "$1"' _ "$E/tags/team"
slurp "$E/tags/team"
check_eq "exp1/tags/team" $'vision\n' "$REPLY"
check "experiment tags are mutable" t bash -c 'echo speech > "$1"' _ "$E/tags/team"
slurp "$E/tags/team"
check_eq "exp1/tags/team changed" $'speech\n' "$REPLY"
check "rm exp1/tags/team" t rm "$E/tags/team"
check "exp1/tags/team is gone" test ! -e "$E/tags/team"

section "meta"
slurp "$R/meta"
meta=$REPLY
check_size "$R/meta"
run_id=$(meta_field "$meta" run_id)
check_match "meta has run_id: <32 hex>" '^[0-9a-f]{32}$' "$run_id"
check_eq "meta has run_name" "run42" "$(meta_field "$meta" run_name)"
check_eq "meta has status" "RUNNING" "$(meta_field "$meta" status)"
check_eq "meta has end_time: null while running" "null" "$(meta_field "$meta" end_time)"
start=$(meta_field "$meta" start_time)
check "start_time ($start) is the mkdir time in ms ($t0..$t1)" in_window "$t0" "$t1" "$start"
exp_id=$(meta_field "$meta" experiment_id)
check_match "meta has experiment_id" '.' "$exp_id"
slurp "$E/meta"
exp_meta=$REPLY
# Whatever the experiment's meta calls it, one of its lines has that id.
id_key=$(printf '%s\n' "$exp_meta" | grep -F -- ": $exp_id" | awk -F': ' -v id="$exp_id" '$2 == id { print $1; exit }')
check_match "the experiment's meta shows the same experiment id" '.' "$id_key"
for key in run_id run_name status start_time end_time experiment_id; do
	check_match "meta line '$key: ...'" "(^|"$'\n'")$key: [^"$'\n'"]+" "$meta"
done
expect_errno_in "EPERM EACCES EROFS" write "$R/meta" $'run_id: 0\n'
slurp "$R/meta"
check_eq "meta is unchanged by a write" "$meta" "$REPLY"
t mkdir "$E/run43"
slurp "$E/run43/meta"
other=$(meta_field "$REPLY" run_id)
check_match "run43 has its own run id" '^[0-9a-f]{32}$' "$other"
check "two runs have different run ids" test "$run_id" != "$other"
t mkdir "$MNT/exp2"
slurp "$MNT/exp2/meta"
exp2_id=$(meta_field "$REPLY" "${id_key:-id}")
check_match "exp2's meta has an id" '.' "$exp2_id"
check "two experiments have different ids" test "$exp_id" != "$exp2_id"

section "status"
slurp "$R/status"
check_eq "a new run is RUNNING" $'RUNNING\n' "$REPLY"
check_size "$R/status"
for word in RUNNING SCHEDULED FINISHED FAILED KILLED; do
	run=$E/run_$word
	t mkdir "$run" || fail "mkdir $run"
	before=$(now_ms)
	check "echo $word > status" t bash -c 'echo "$2" > "$1"' _ "$run/status" "$word"
	after=$(now_ms)
	slurp "$run/status"
	check_eq "status reads $word" "$word"$'\n' "$REPLY"
	slurp "$run/meta"
	check_eq "meta shows status $word" "$word" "$(meta_field "$REPLY" status)"
	end=$(meta_field "$REPLY" end_time)
	case $word in
	FINISHED | FAILED | KILLED)
		check "$word stamps end_time ($end in $before..$after)" in_window "$before" "$after" "$end"
		;;
	*)
		check_eq "$word leaves end_time null" "null" "$end"
		;;
	esac
done
expect_errno EINVAL write "$R/status" $'DONE\n'
expect_errno EINVAL write "$R/status" $'RUNNING FINISHED\n'
expect_errno EINVAL write "$R/status" $'FINISHED2\n'
slurp "$R/status"
check_eq "status is unchanged after invalid words" $'RUNNING\n' "$REPLY"
slurp "$R/meta"
check_eq "end_time is still null after invalid words" "null" "$(meta_field "$REPLY" end_time)"
expect_errno OK write "$R/status" "FINISHED"
slurp "$R/status"
check_eq "a status word without newline is taken" $'FINISHED\n' "$REPLY"
