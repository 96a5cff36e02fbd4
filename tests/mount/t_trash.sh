#!/usr/bin/env bash
# t_trash.sh - deleting and restoring runs and experiments (issue 3, item 4):
# mv into and out of /.trash, mlfs rm and mlfs restore on the served store,
# names kept while deleted, mlfs ls leaving the trash out, a stray rm -rf,
# and all of it after a remount.
. "$(dirname "$0")/lib.sh"

TR=$MNT/.trash

names() { t ls -A "$1" 2>/dev/null | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }
gone() { ! t stat "$1" >/dev/null 2>&1; }
# mlfs ls STORE [EXP]: the first column of every row but the header.
ls_names() { t "$MLFS" ls "$STORE" "$@" 2>/dev/null | tail -n +2 | awk '{ print ($0 ~ /^[0-9]/) ? $2 : $1 }' | tr '\n' ' ' | sed 's/ $//'; }
run_id() { t sed -n 's/^run_id: //p' "$1/meta"; }

# exp1: run42 (params, metrics, tags, artifacts), run43, run44; exp2: a, b.
head -c 500000 /dev/urandom >"$SCRATCH/model.pkl"
R=$MNT/exp1/run42
t mkdir -p "$R" "$MNT/exp1/run43" "$MNT/exp1/run44" "$MNT/exp2/a" "$MNT/exp2/b" || fail "mkdir the runs"
t env MNT="$MNT" bash -c 'echo 0.01 > "$1/params/lr"; echo 0.5 >> "$1/metrics/acc"; echo 0.75 >> "$1/metrics/acc"
	echo alice > "$1/tags/owner"; mkdir "$1/artifacts/sub"; echo hi > "$1/artifacts/sub/x.txt"
	echo 3 > "$MNT/exp1/run43/params/depth"; echo 0.9 >> "$MNT/exp1/run43/metrics/acc"
	echo FINISHED > "$1/status"; echo team-a > "$MNT/exp1/tags/team"' _ "$R" || fail "log run42"
t cp "$SCRATCH/model.pkl" "$R/artifacts/" || fail "cp model.pkl"
slurp "$R/metrics/acc"
ACC=$REPLY
slurp "$R/meta"
META=$REPLY
ID42=$(run_id "$R")
INO42=$(ino_of "$R")

section "the trash folder"
check ".trash is a folder" test -d "$TR"
check_eq ".trash of a store with nothing deleted is empty" "" "$(names "$TR")"
check_eq "ls / does not show .trash" "exp1 exp2 models" "$(t ls "$MNT" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
refused EPERM ".trash/new" mkdir "$TR/new"
expect_errno EPERM write "$TR/file" "x"

section "delete a run by mv"
check "mv exp1/run42 .trash/exp1/" t mv "$R" "$TR/exp1/"
check "exp1/run42 is gone (stat)" gone "$R"
expect_errno ENOENT read "$R/params/lr"
check_eq "ls exp1 does not list it" "meta run43 run44 tags" "$(names "$MNT/exp1")"
check_eq ".trash lists exp1 (it has a deleted run)" "exp1" "$(names "$TR")"
check_eq ".trash/exp1 lists the deleted run" "run42" "$(names "$TR/exp1")"
D=$TR/exp1/run42
slurp "$D/params/lr"
check_eq "its param reads in the trash" $'0.01\n' "$REPLY"
slurp "$D/metrics/acc"
check_eq "its metric reads in the trash" "$ACC" "$REPLY"
slurp "$D/tags/owner"
check_eq "its tag reads in the trash" $'alice\n' "$REPLY"
slurp "$D/status"
check_eq "its status reads in the trash" $'FINISHED\n' "$REPLY"
check "its artifacts read in the trash" cmp -s "$SCRATCH/model.pkl" "$D/artifacts/model.pkl"
slurp "$D/artifacts/sub/x.txt"
check_eq "and a nested artifact" $'hi\n' "$REPLY"
check_eq "its run id is kept" "$ID42" "$(run_id "$D")"
check_eq "its inode number is kept" "$INO42" "$(ino_of "$D")"
check_eq "exp1 itself still lists its live runs" "meta run43 run44 tags" "$(names "$MNT/exp1")"
check_eq "mlfs ls STORE exp1 leaves the deleted run out" "run43 run44" "$(ls_names exp1)"
check_eq "mlfs ls STORE still lists exp1" "exp1 exp2" "$(ls_names)"

section "a deleted run keeps its name"
refused EEXIST "exp1/run42" mkdir "$R"
check_match "the sentence says the name is held until purged" "purge" "$LINE"
check "mkdir -p exp1/run42 fails too" bash -c '! mkdir -p "$1" 2>/dev/null' _ "$R"
expect_errno EEXIST rename "$MNT/exp1/run43" "$R"
check "the refused rename left run43" test -d "$MNT/exp1/run43/params"
check "the deleted run is still in the trash" test -d "$D/params"

section "moves into .trash that are refused"
refused EINVAL "exp1/run43" rename "$MNT/exp1/run43" "$TR/exp1/other"
check "run43 is still live" test -d "$MNT/exp1/run43/params"
check "mv exp2/b .trash/exp2/ (so that .trash/exp2 is listed)" t mv "$MNT/exp2/b" "$TR/exp2/"
refused EPERM "exp1/run43" rename "$MNT/exp1/run43" "$TR/exp2/run43"
expect_errno EPERM rename "$MNT/exp1/run43" "$TR/run43"
expect_errno EPERM rename "$MNT/exp2" "$TR/exp1/exp2"
expect_errno EPERM rename "$MNT/exp1/run43/artifacts" "$TR/exp1/artifacts"
expect_errno EPERM rename "$MNT/models" "$TR/models"
check "run43 is still live after all that" test -d "$MNT/exp1/run43/params"
check "exp2 is still live" test -d "$MNT/exp2/a"
expect_errno_in "ENOENT EPERM" rename "$MNT/exp1/nosuch" "$TR/exp1/nosuch"

section "restore a run by mv"
expect_errno EPERM rename "$D" "$MNT/exp2/run42"
refused EINVAL ".trash/exp1/run42" rename "$D" "$MNT/exp1/run42b"
check "mv .trash/exp1/run42 exp1/" t mv "$D" "$MNT/exp1/"
check "exp1/run42 is back" test -d "$R/params"
check "it is gone from the trash" gone "$D"
check_eq ".trash no longer lists exp1" "exp2" "$(names "$TR")"
slurp "$R/params/lr"
check_eq "its param after the restore" $'0.01\n' "$REPLY"
slurp "$R/metrics/acc"
check_eq "its metric after the restore" "$ACC" "$REPLY"
check "its artifacts after the restore" cmp -s "$SCRATCH/model.pkl" "$R/artifacts/model.pkl"
slurp "$R/meta"
check_eq "its meta after the restore" "$META" "$REPLY"
check_eq "its inode number after the restore" "$INO42" "$(ino_of "$R")"
check_eq "mlfs ls STORE exp1 lists it again" "run42 run43 run44" "$(ls_names exp1)"
check "a restored run takes writes" t bash -c 'echo 0.8 >> "$1"' _ "$R/metrics/acc"
check "mv it to the trash and back again" t bash -c 'mv "$1" "$2/" && mv "$2/run42" "$3/"' _ "$R" "$TR/exp1" "$MNT/exp1"
check "it is back again" test -d "$R/params"
check "mv .trash/exp2/b exp2/" t mv "$TR/exp2/b" "$MNT/exp2/"
check_eq ".trash is empty again" "" "$(names "$TR")"

section "delete and restore an experiment by mv"
INO1=$(ino_of "$MNT/exp1")
check "mv exp1/run44 .trash/exp1/ (a run deleted on its own)" t mv "$MNT/exp1/run44" "$TR/exp1/"
check "mv exp1 .trash/" t mv "$MNT/exp1" "$TR/"
check "exp1 is gone (stat)" gone "$MNT/exp1"
expect_errno ENOENT read "$MNT/exp1/run42/params/lr"
check_eq "ls / does not list it" "exp2 models" "$(t ls "$MNT" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
check_eq ".trash lists exp1" "exp1" "$(names "$TR")"
check_eq ".trash/exp1 is the whole experiment" "meta run42 run43 run44 tags" "$(names "$TR/exp1")"
slurp "$TR/exp1/run42/params/lr"
check_eq "a param of a run of the deleted experiment" $'0.01\n' "$REPLY"
slurp "$TR/exp1/tags/team"
check_eq "the deleted experiment's tag" $'team-a\n' "$REPLY"
check "its meta reads" grep -q exp1 "$TR/exp1/meta"
check_eq "its inode number is kept" "$INO1" "$(ino_of "$TR/exp1")"
check_eq "mlfs ls STORE leaves it out" "exp2" "$(ls_names)"
refused EEXIST "exp1" mkdir "$MNT/exp1"
check_match "the sentence says the name is held until purged" "purge" "$LINE"
expect_errno EEXIST rename "$MNT/exp2" "$MNT/exp1"
check "the refused rename left exp2" test -d "$MNT/exp2/a"
check "mkdir -p exp1/run1 fails" bash -c '! mkdir -p "$1" 2>/dev/null' _ "$MNT/exp1/run1"
refused EINVAL "exp2" rename "$MNT/exp2" "$TR/exp2b"
check "exp2 is still live" test -d "$MNT/exp2/a"
expect_errno EPERM rename "$TR/exp1" "$MNT/exp2/exp1"
expect_errno EINVAL rename "$TR/exp1" "$MNT/exp1b"
check "mv .trash/exp1 MNT/" t mv "$TR/exp1" "$MNT/"
check "exp1 is back" test -d "$MNT/exp1/run42/params"
slurp "$MNT/exp1/run42/params/lr"
check_eq "a param after the restore" $'0.01\n' "$REPLY"
check_eq "its runs are back, but not the one deleted on its own" "meta run42 run43 tags" "$(names "$MNT/exp1")"
check_eq ".trash/exp1 now holds that run" "run44" "$(names "$TR/exp1")"
check_eq "mlfs ls STORE lists exp1 again" "exp1 exp2" "$(ls_names)"
check "mv .trash/exp1/run44 exp1/" t mv "$TR/exp1/run44" "$MNT/exp1/"
check_eq ".trash is empty" "" "$(names "$TR")"

section "mlfs rm and mlfs restore on the served store"
cli() { t "$MLFS" "$@" >"$T_WORK/cli.out" 2>"$T_WORK/cli.err"; }
fails() { ! "$@"; }
check "mlfs rm STORE exp1/run42" cli rm "$STORE" exp1/run42
within_a_second "the run leaves exp1 in the mount" gone "$R"
within_a_second "and shows in .trash/exp1" test -d "$TR/exp1/run42/params"
check_eq "mlfs ls STORE exp1 leaves it out" "run43 run44" "$(ls_names exp1)"
refused EEXIST "exp1/run42" mkdir "$R"
check "mlfs rm of a run already in the trash fails" fails cli rm "$STORE" exp1/run42
check_match "with a sentence" '^mlfs: .{8,}' "$(cat "$T_WORK/cli.err")"
check "mlfs restore STORE exp1/run42" cli restore "$STORE" exp1/run42
within_a_second "the run is back in the mount" test -d "$R/params"
within_a_second "and gone from .trash" gone "$TR/exp1/run42"
slurp "$R/params/lr"
check_eq "its param after mlfs restore" $'0.01\n' "$REPLY"
check "mlfs restore of a run not in the trash fails" fails cli restore "$STORE" exp1/run42
check_match "with a sentence" '^mlfs: .{8,}' "$(cat "$T_WORK/cli.err")"
check "mlfs rm STORE exp2" cli rm "$STORE" exp2
within_a_second "the experiment leaves the root" gone "$MNT/exp2"
within_a_second "and shows in .trash" test -d "$TR/exp2/a"
check_eq "mlfs ls STORE leaves it out" "exp1" "$(ls_names)"
refused EEXIST "exp2" mkdir "$MNT/exp2"
check "mlfs mkrun into the deleted experiment fails" fails cli mkrun "$STORE" exp2/c
check "mlfs restore STORE exp2" cli restore "$STORE" exp2
within_a_second "the experiment is back" test -d "$MNT/exp2/a/params"
within_a_second "and .trash is empty" test -z "$(ls -A "$TR")"
check "mv exp1/run43 .trash/exp1/, then mlfs restore it" \
	bash -c 'mv "$1" "$2/" && "$3" restore "$4" exp1/run43' _ "$MNT/exp1/run43" "$TR/exp1" "$MLFS" "$STORE"
within_a_second "the run restored by the command is back" test -d "$MNT/exp1/run43/params"
check "mlfs rm exp1/run43, then mv it back" bash -c '"$1" rm "$2" exp1/run43' _ "$MLFS" "$STORE"
within_a_second "it shows in .trash/exp1" test -d "$TR/exp1/run43"
check "mv .trash/exp1/run43 exp1/" t mv "$TR/exp1/run43" "$MNT/exp1/"
check "run43 is back" test -d "$MNT/exp1/run43/params"
for bad in nosuch exp1/nosuch nosuch/run42 models models/x .trash exp1/run42/params; do
	err=$(t "$MLFS" rm "$STORE" "$bad" 2>&1 >/dev/null)
	rc=$?
	check "mlfs rm STORE $bad fails ($rc)" test "$rc" != 0
	check_match "mlfs rm STORE $bad: a sentence" '^(mlfs: |usage: ).{8,}' "$err"
	err=$(t "$MLFS" restore "$STORE" "$bad" 2>&1 >/dev/null)
	rc=$?
	check "mlfs restore STORE $bad fails ($rc)" test "$rc" != 0
done
for bad in nosuch exp1/nosuch models; do
	t "$MLFS" rm "$STORE" "$bad" >/dev/null 2>&1
	check_eq "mlfs rm STORE $bad: exit 1" "1" "$?"
done
check_eq "nothing was deleted by the refusals" "" "$(names "$TR")"
check_eq "exp1 has all its runs" "meta run42 run43 run44 tags" "$(names "$MNT/exp1")"

section "a stray rm -rf"
t bash -c 'echo 7 > "$1/params/depth2"; echo 0.1 >> "$1/metrics/loss"; echo bob > "$1/tags/owner"
	cp "$2" "$1/artifacts/"; mkdir -p "$1/artifacts/a/b"; echo z > "$1/artifacts/a/b/z"' _ "$MNT/exp1/run43" "$SCRATCH/model.pkl"
slurp "$MNT/exp1/run43/metrics/acc"
ACC43=$REPLY
check "rm -rf exp1/run43 fails" bash -c '! rm -rf "$1" 2>/dev/null' _ "$MNT/exp1/run43"
check "the run is still there" test -d "$MNT/exp1/run43"
slurp "$MNT/exp1/run43/params/depth"
check_eq "its params are kept" $'3\n' "$REPLY"
slurp "$MNT/exp1/run43/params/depth2"
check_eq "all of them" $'7\n' "$REPLY"
slurp "$MNT/exp1/run43/metrics/acc"
check_eq "its metrics are kept" "$ACC43" "$REPLY"
check "all of them" grep -q ' 0.1 0$' "$MNT/exp1/run43/metrics/loss"
check "its meta reads" grep -q '^run_name: run43$' "$MNT/exp1/run43/meta"
check_eq "its artifacts are removed" "" "$(names "$MNT/exp1/run43/artifacts")"
check_eq "its tags are removed" "" "$(names "$MNT/exp1/run43/tags")"
check_eq "mlfs ls STORE exp1 still lists it" "run42 run43 run44" "$(ls_names exp1)"
check "rm -rf exp1 fails" bash -c '! rm -rf "$1" 2>/dev/null' _ "$MNT/exp1"
check_eq "exp1 keeps its runs" "meta run42 run43 run44 tags" "$(names "$MNT/exp1")"
slurp "$R/params/lr"
check_eq "run42's param after rm -rf exp1" $'0.01\n' "$REPLY"
check_eq "and the trash is still empty" "" "$(names "$TR")"

section "after a remount"
check "mv exp1/run42 .trash/exp1/" t mv "$R" "$TR/exp1/"
check "mv exp2 .trash/" t mv "$MNT/exp2" "$TR/"
INO2=$(ino_of "$TR/exp2")
remount
check "exp1/run42 is still deleted" gone "$R"
check "exp2 is still deleted" gone "$MNT/exp2"
check_eq ".trash after a remount" "exp1 exp2" "$(names "$TR")"
check_eq ".trash/exp1 after a remount" "run42" "$(names "$TR/exp1")"
check_eq "exp1 after a remount" "meta run43 run44 tags" "$(names "$MNT/exp1")"
slurp "$TR/exp1/run42/params/lr"
check_eq "the deleted run's param after a remount" $'0.01\n' "$REPLY"
check_eq "the deleted run's inode number after a remount" "$INO42" "$(ino_of "$TR/exp1/run42")"
check_eq "the deleted experiment's inode number after a remount" "$INO2" "$(ino_of "$TR/exp2")"
refused EEXIST "exp1/run42" mkdir "$R"
refused EEXIST "exp2" mkdir "$MNT/exp2"
check_eq "mlfs ls STORE after a remount" "exp1" "$(ls_names)"
check_eq "mlfs ls STORE exp1 after a remount" "run43 run44" "$(ls_names exp1)"
check "mv .trash/exp1/run42 exp1/ after a remount" t mv "$TR/exp1/run42" "$MNT/exp1/"
check "mlfs restore STORE exp2 after a remount" t "$MLFS" restore "$STORE" exp2
within_a_second "exp2 is back" test -d "$MNT/exp2/a/params"
slurp "$R/params/lr"
check_eq "run42's param after the restore" $'0.01\n' "$REPLY"
check_eq "run42's run id after all that" "$ID42" "$(run_id "$R")"
check_eq ".trash is empty at the end" "" "$(names "$TR")"
