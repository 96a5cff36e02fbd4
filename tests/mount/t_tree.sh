#!/usr/bin/env bash
# t_tree.sh - the shape of the tree: experiments, runs and what a run holds,
# reserved names, the limits on names and keys, keys with '/' as folders, and
# where plain files may not be created.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run42

section "mkdir -p makes an experiment and a run"
check "mkdir -p exp1/run42" t mkdir -p "$R"
check "exp1 is a directory" test -d "$MNT/exp1"
check "run42 is a directory" test -d "$R"
check_match "the root lists exp1" $'(^|\n)exp1($|\n)' "$(t ls "$MNT")"
for d in params metrics tags artifacts; do
	check "run42/$d is a directory" test -d "$R/$d"
done
for f in status meta; do
	check "run42/$f is a regular file" test -f "$R/$f"
done
check_eq "a run lists its six entries" "artifacts meta metrics params status tags" \
	"$(t ls "$R" | sort | tr '\n' ' ' | sed 's/ $//')"
for d in params metrics tags artifacts; do
	check_eq "a new run's $d/ is empty" "" "$(t ls -A "$R/$d")"
done
check "exp1/meta is a regular file" test -f "$MNT/exp1/meta"
check "exp1/tags is a directory" test -d "$MNT/exp1/tags"
check_match "the experiment lists run42, meta and tags" $'meta\nrun42\ntags' \
	"$(t ls "$MNT/exp1" | sort)"
slurp "$MNT/exp1/meta"
check_match "exp1/meta names the experiment" "exp1" "$REPLY"
check_size "$MNT/exp1/meta"
check "mkdir of a second run" t mkdir "$MNT/exp1/run43"
check "mkdir of a second experiment" t mkdir "$MNT/exp2"
expect_errno EEXIST mkdir "$MNT/exp1"
expect_errno EEXIST mkdir "$R"
check_eq "'..' of a run is its experiment" "$(ino_of "$MNT/exp1")" "$(ino_of "$R/..")"

section "reserved names"
expect_errno EINVAL mkdir "$MNT/index.html"
expect_errno EINVAL mkdir "$MNT/.x"
expect_errno EINVAL mkdir "$MNT/.runs"
expect_errno_in "EINVAL EEXIST" mkdir "$MNT/models"
expect_errno_in "EINVAL EEXIST" mkdir "$MNT/.mlfs"
for n in index.html runs.csv plots; do
	expect_errno EINVAL mkdir "$MNT/exp1/$n"
done
# meta and tags already exist in an experiment; either answer refuses.
expect_errno_in "EINVAL EEXIST" mkdir "$MNT/exp1/meta"
expect_errno_in "EINVAL EEXIST" mkdir "$MNT/exp1/tags"
expect_errno EINVAL mkdir "$MNT/exp1/.hidden"
check_eq "no reserved name was created at the root (models is the registry's own)" "exp1 exp2 models" \
	"$(t ls "$MNT" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "no reserved name was created in the experiment" "meta run42 run43 tags" \
	"$(t ls "$MNT/exp1" | sort | tr '\n' ' ' | sed 's/ $//')"
check "a run may take a name reserved only at the root" t mkdir "$MNT/exp1/models"
check "an experiment may take a name reserved only in experiments" t mkdir "$MNT/plots"

section "name limits"
n255=$(repeat_char 255 a)
n256=$(repeat_char 256 b)
check "an experiment name of 255 bytes" t mkdir "$MNT/$n255"
check "it is listed whole" test -d "$MNT/$n255"
expect_errno ENAMETOOLONG mkdir "$MNT/$n256"
check_eq "a 256-byte name was not created truncated" "" \
	"$(t ls "$MNT" | grep '^bbb' || true)"
u128=$(repeat_char 128 é)    # 128 characters, 256 bytes
u127a=$(repeat_char 127 é)a  # 128 characters, 255 bytes
expect_errno ENAMETOOLONG mkdir "$MNT/$u128"
check "255 bytes of UTF-8 make a valid name" t mkdir "$MNT/$u127a"
check "a run name of 255 bytes" t mkdir "$MNT/exp1/$n255"
expect_errno ENAMETOOLONG mkdir "$MNT/exp1/$n256"
check_eq "no truncated run was created" "" "$(t ls "$MNT/exp1" | grep '^bbb' || true)"
check "a name with spaces and punctuation" t mkdir "$MNT/exp with spaces, (v2)"
check "a run in it" t mkdir "$MNT/exp with spaces, (v2)/run #1"

section "key limits"
k250=$(repeat_char 250 k)
k251=$(repeat_char 251 k)
for kind in params metrics tags; do
	case $kind in
	metrics) v=$'0.5\n' ;;
	*) v=$'x\n' ;;
	esac
	op=write
	[ "$kind" = metrics ] && op=append
	expect_errno OK "$op" "$R/$kind/$k250" "$v"
	expect_errno ENAMETOOLONG "$op" "$R/$kind/$k251" "$v"
	expect_errno EINVAL "$op" "$R/$kind/bad*key" "$v"
	expect_errno EINVAL "$op" "$R/$kind/bad?key" "$v"
	expect_errno EINVAL "$op" "$R/$kind/bad\"key" "$v"
	expect_errno EINVAL "$op" "$R/$kind/bad#key" "$v"
	expect_errno OK "$op" "$R/$kind/ok key-1_2.3:4" "$v"
	check_eq "$kind/ lists only the accepted keys" "$k250|ok key-1_2.3:4" \
		"$(t ls "$R/$kind" | sort | tr '\n' '|' | sed 's/|$//')"
done
# The key of params/<200 a>/<60 b> is 261 characters long.
a200=$(repeat_char 200 a)
b60=$(repeat_char 60 b)
check "a 200-character folder under params/" t mkdir "$R/params/$a200"
expect_errno ENAMETOOLONG write "$R/params/$a200/$b60" $'x\n'
b49=$(repeat_char 49 b)
expect_errno OK write "$R/params/$a200/$b49" $'x\n'

section "keys with / are folders"
check "mkdir -p params/train" t mkdir -p "$R/params/train"
check "mkdir -p params/a/b/c" t mkdir -p "$R/params/a/b/c"
expect_errno OK write "$R/params/train/lr" $'0.1\n'
expect_errno OK write "$R/params/a/b/c/d" $'deep\n'
slurp "$R/params/train/lr"
check_eq "param train/lr reads back" $'0.1\n' "$REPLY"
slurp "$R/params/a/b/c/d"
check_eq "param a/b/c/d reads back" $'deep\n' "$REPLY"
check "params/train is a directory" test -d "$R/params/train"
check_eq "params/train lists lr" "lr" "$(t ls "$R/params/train")"
# A param under a folder is still write-once: the folder is part of its key.
expect_errno EPERM write "$R/params/train/lr" $'0.2\n'
check "mkdir metrics/train" t mkdir "$R/metrics/train"
expect_errno OK append "$R/metrics/train/loss" $'0.5\n'
slurp "$R/metrics/train/loss"
check_match "metric train/loss reads as a point" '^[0-9]+ 0\.5 0'$'\n''$' "$REPLY"
expect_errno EPERM truncate "$R/metrics/train/loss" 0
check "mkdir tags/team" t mkdir "$R/tags/team"
expect_errno OK write "$R/tags/team/name" $'vision\n'
expect_errno OK write "$R/tags/team/name" $'speech\n'
slurp "$R/tags/team/name"
check_eq "tag team/name is mutable" $'speech\n' "$REPLY"

section "no plain files in experiments and runs"
expect_errno EPERM write "$MNT/exp1/notes.txt" $'hello\n'
expect_errno EPERM open "$MNT/exp1/empty" wcx
expect_errno EPERM write "$R/notes.txt" $'hello\n'
expect_errno EPERM open "$R/empty" wcx
expect_errno EPERM mknod "$R/node"
check_eq "the run still lists its six entries only" "artifacts meta metrics params status tags" \
	"$(t ls "$R" | sort | tr '\n' ' ' | sed 's/ $//')"
for f in "$MNT/exp1/notes.txt" "$MNT/exp1/empty" "$R/notes.txt" "$R/empty" "$R/node"; do
	check "${f#"$MNT"/} does not exist" test ! -e "$f"
done
