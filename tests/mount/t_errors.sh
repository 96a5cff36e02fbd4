#!/usr/bin/env bash
# t_errors.sh - every refusal leaves a sentence a person can read, both in
# /.mlfs/errors ("<ISO time> <path>: <sentence>", the path relative to the
# mount root) and in the daemon's log.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run42
t mkdir -p "$R" || fail "mkdir -p exp1/run42"
t bash -c 'echo 0.01 > "$1/params/lr"; echo 0.5 >> "$1/metrics/acc"' _ "$R"
# refused ERRNO REL OP ARGS... (stricter than lib.sh's): the operation fails with ERRNO, and one more
# line about REL appears in .mlfs/errors and, with the same sentence, in the log.
# Sets SENTENCE to what came after "REL: ".
refused() {
	local want=$1 rel=$2 before after line
	shift 2
	before=$(lines_about "$rel" | wc -l)
	expect_errno "$want" "$@"
	after=$(lines_about "$rel" | wc -l)
	check "a line about $rel was added to .mlfs/errors ($before -> $after)" test "$after" -gt "$before"
	line=$(lines_about "$rel" | tail -n 1)
	check_match "the line is '<ISO time> $rel: <sentence>'" "^$ISO $(printf '%s' "$rel" | sed 's/[][\.*^$+?(){}|]/\\&/g'): .+" "$line"
	SENTENCE=${line#* "$rel": }
	check "the sentence names the refusal in words (${SENTENCE:0:60})" test ${#SENTENCE} -ge 8
	if grep -F -- "$SENTENCE" "$LOG" | grep -qF -- "$rel"; then
		pass
	else
		fail "the daemon's log has no line with '$rel' and '$SENTENCE'"
	fi
}

section "the errors file"
check ".mlfs is a directory" test -d "$MNT/.mlfs"
check ".mlfs/errors is a readable file" t test -r "$ERRORS"

section "a refusal of each kind"
refused EPERM exp1/run42/params/lr write "$R/params/lr" $'0.02\n'
check "the param sentence gives the fixed value" grep -qF "0.01" <<<"$SENTENCE"
check "the param sentence gives the refused value" grep -qF "0.02" <<<"$SENTENCE"
refused EPERM exp1/run42/params/lr unlink "$R/params/lr"
refused EINVAL exp1/run42/metrics/acc append "$R/metrics/acc" $'abc\n'
refused EPERM exp1/run42/metrics/acc truncate "$R/metrics/acc" 0
refused EPERM exp1/run42/metrics/acc write "$R/metrics/acc" $'1\n'
refused EPERM exp1/run42/metrics/acc unlink "$R/metrics/acc"
refused EINVAL exp1/run42/status write "$R/status" $'DONE\n'
refused EINVAL .x mkdir "$MNT/.x"
refused EINVAL index.html mkdir "$MNT/index.html"
refused EINVAL exp1/runs.csv mkdir "$MNT/exp1/runs.csv"
long=$(repeat_char 256 n)
refused ENAMETOOLONG "$long" mkdir "$MNT/$long"
key=$(repeat_char 251 k)
refused ENAMETOOLONG "exp1/run42/params/$key" write "$R/params/$key" $'1\n'
refused EINVAL "exp1/run42/tags/bad*key" write "$R/tags/bad*key" $'1\n'
refused EPERM exp1/run42/notes.txt write "$R/notes.txt" $'hi\n'
refused EPERM exp1/notes.txt write "$MNT/exp1/notes.txt" $'hi\n'

section "the file as a whole"
check_size "$ERRORS"
slurp "$ERRORS"
all=$REPLY
n=$(printf '%s' "$all" | grep -c .)
check "it holds all 15 refusals ($n lines)" test "$n" -ge 15
bad=$(printf '%s' "$all" | grep -vE "^$ISO [^ ].*: .+\$" | head -n 3)
check_eq "every line is '<ISO time> <path>: <sentence>'" "" "$bad"
check "accepted operations leave no line" \
	bash -c '! grep -qF " exp1/run42/metrics/acc2:" <<<"$1"' _ "$(t bash -c 'echo 1 >> "$1/metrics/acc2"; echo x > "$1/tags/t"; cat "$2"' _ "$R" "$ERRORS")"
expect_errno_in "EPERM EACCES EROFS" write "$ERRORS" $'x\n'
