#!/usr/bin/env bash
# t_perms.sh - owners and modes on a shared mount (issue 5, item 7).
#
# The store is mounted with -o allow_other,default_permissions, so that the
# kernel checks every access against the uid, gid and mode the index keeps.
# Two Unix users made here with useradd (alice and bob, unique names,
# removed with userdel -r in the trap) and a group they share then check:
#   - the root and /models are 1777: each user makes an experiment, a run
#     and a model of their own, owned by their uid:gid, with the mode their
#     umask leaves;
#   - bob reads alice's run (params, metrics, tags, status, meta,
#     artifacts) but cannot write into it (EACCES) nor remove, rename or
#     chmod it, and the sticky root keeps him from moving her experiment;
#   - after alice grants other write (chmod -R o+w), or group write to a
#     group bob is in (chgrp, chmod g+w), bob can write, and what he
#     makes is his;
#   - every owner and mode survives a remount.
# Each user's commands run with their working directory inside the mount
# (relative paths), so the 0700 work directories above it do not matter.

export MLFS_MOUNT_OPTS=allow_other,default_permissions
. "$(dirname "$0")/lib.sh"

U_A=
U_B=
U_GROUP=

perms_cleanup() {
	local rc=$?
	# Users first: the daemon and the work directory go in _t_cleanup.
	[ -n "$U_A" ] && userdel -r "$U_A" >/dev/null 2>&1
	[ -n "$U_B" ] && userdel -r "$U_B" >/dev/null 2>&1
	[ -n "$U_GROUP" ] && groupdel "$U_GROUP" >/dev/null 2>&1
	(exit "$rc")
	_t_cleanup
}
trap perms_cleanup EXIT

for tool in useradd userdel groupadd groupdel runuser; do
	if ! command -v "$tool" >/dev/null; then
		fail "$tool is missing: this test makes Unix users (package passwd/util-linux)"
		exit 1
	fi
done
if [ "$(id -u)" != 0 ]; then
	fail "this test must run as root (it makes Unix users and mounts with allow_other)"
	exit 1
fi

# Unique names (at most 32 bytes): the pid and a random tail.
tag=$$$RANDOM
U_GROUP=mlfsg$tag
groupadd "$U_GROUP" || { U_GROUP=; fail "groupadd $U_GROUP failed"; exit 1; }
for who in A B; do
	name=mlfs${who,,}$tag
	if ! useradd -m -d "$T_WORK/home-$name" -s /bin/sh -G "$U_GROUP" "$name"; then
		fail "useradd $name failed"
		exit 1
	fi
	printf -v "U_$who" '%s' "$name"
done
UID_A=$(id -u "$U_A") GID_A=$(id -g "$U_A")
UID_B=$(id -u "$U_B") GID_B=$(id -g "$U_B")
GID_G=$(getent group "$U_GROUP" | cut -d: -f3)

# as USER UMASK CMD...: CMD as USER with that umask, from inside the mount.
as() {
	local user=$1 mask=$2
	shift 2
	(cd "$MNT" && timeout -k 5 "$T_OP" runuser -u "$user" -- \
		/bin/sh -c 'umask "$0"; exec "$@"' "$mask" "$@")
}

# errno_as USER OP ARGS...: errno_of's word for OP done by USER (umask 022).
errno_as() {
	local user=$1
	shift
	as "$user" 022 "$MLFS_HELPERS/errno_of" "$@" 2>/dev/null || echo "TIMEOUT-OR-CRASH"
}

# expect_as USER WANT OP ARGS...
expect_as() {
	local user=$1 want=$2 got
	shift 2
	got=$(errno_as "$user" "$@")
	if [ "$got" = "$want" ]; then
		pass
	else
		fail "$(_t_args "$@")as ${user%"$tag"} -> expected $want, got $got"
	fi
}

# owner_mode PATH (relative to the mount): "uid:gid mode" in octal.
owner_mode() { (cd "$MNT" && t stat -c '%u:%g %a' -- "$1" 2>/dev/null) || echo "(stat failed)"; }

# The uid, gid and mode of everything in the tree but .mlfs, one per line.
tree_modes() { (cd "$MNT" && t find . -path ./.mlfs -prune -o -printf '%p %U:%G %m\n' | sort); }

section "the shared folders"
check_eq "the root is 1777 root:root" "0:0 1777" "$(owner_mode .)"
check_eq "/models is 1777 root:root" "0:0 1777" "$(owner_mode models)"

section "alice makes her run"
as "$U_A" 022 /bin/sh -c '
	mkdir -p e1/r1/params/train e1/r1/artifacts/sub &&
	echo 0.01 > e1/r1/params/lr &&
	echo 3 > e1/r1/params/train/epochs &&
	printf "0.5\n0.25\n" >> e1/r1/metrics/loss &&
	echo alice > e1/r1/tags/owner &&
	echo exp-tag > e1/tags/team &&
	printf "model bytes" > e1/r1/artifacts/model.bin &&
	printf "nested" > e1/r1/artifacts/sub/a.txt' ||
	fail "alice could not make e1/r1 and log to it"
for p in e1 e1/r1 e1/r1/params e1/r1/params/train e1/r1/metrics e1/r1/tags e1/r1/artifacts \
	e1/r1/artifacts/sub e1/tags; do
	check_eq "$p is alice's folder, 755" "$UID_A:$GID_A 755" "$(owner_mode "$p")"
done
for p in e1/r1/params/lr e1/r1/params/train/epochs e1/r1/metrics/loss e1/r1/tags/owner \
	e1/r1/artifacts/model.bin e1/r1/artifacts/sub/a.txt e1/tags/team; do
	check_eq "$p is alice's file, 644" "$UID_A:$GID_A 644" "$(owner_mode "$p")"
done
check_match "the run's meta names alice as its user" "user_id: $U_A" "$(t cat "$MNT/e1/r1/meta")"

section "bob reads alice's run"
check_eq "bob reads a param" "0.01" "$(as "$U_B" 022 cat e1/r1/params/lr)"
check_eq "bob reads a nested param" "3" "$(as "$U_B" 022 cat e1/r1/params/train/epochs)"
check_match "bob reads the metric's two points" $'^[0-9]+ 0\\.5 0\n[0-9]+ 0\\.25 1$' \
	"$(as "$U_B" 022 cat e1/r1/metrics/loss)"
check_eq "bob reads a tag" "alice" "$(as "$U_B" 022 cat e1/r1/tags/owner)"
check_eq "bob reads the status" "RUNNING" "$(as "$U_B" 022 cat e1/r1/status)"
check_match "bob reads the run's meta" "run_name: r1" "$(as "$U_B" 022 cat e1/r1/meta)"
check_eq "bob reads an artifact" "model bytes" "$(as "$U_B" 022 cat e1/r1/artifacts/model.bin)"
check_eq "bob reads a nested artifact" "nested" "$(as "$U_B" 022 cat e1/r1/artifacts/sub/a.txt)"
check_eq "bob lists the run" "artifacts meta metrics params status tags" \
	"$(as "$U_B" 022 ls e1/r1 | tr '\n' ' ' | sed 's/ $//')"
check_eq "bob reads an experiment tag" "exp-tag" "$(as "$U_B" 022 cat e1/tags/team)"

section "bob cannot write into alice's run"
# The writes that the grant below lets through, so that they are refused
# by the mode alone.
bob_writes() {
	local want=$1 n=$2
	expect_as "$U_B" "$want" append e1/r1/metrics/loss $'0.125\n'
	expect_as "$U_B" "$want" append e1/r1/metrics/acc$n $'0.9\n'
	expect_as "$U_B" "$want" write e1/r1/params/bob$n $'1\n'
	expect_as "$U_B" "$want" write e1/r1/params/train/bob$n $'1\n'
	expect_as "$U_B" "$want" write e1/r1/tags/owner $'bob\n'
	expect_as "$U_B" "$want" write e1/r1/tags/bob$n $'yes\n'
	expect_as "$U_B" "$want" write e1/r1/status $'FINISHED\n'
	expect_as "$U_B" "$want" write e1/r1/artifacts/bob$n.txt $'bob\n'
	expect_as "$U_B" "$want" write e1/r1/artifacts/model.bin $'overwritten\n'
	expect_as "$U_B" "$want" append e1/r1/artifacts/sub/a.txt $'+bob'
	expect_as "$U_B" "$want" mkdir e1/r1/artifacts/bobdir$n
	expect_as "$U_B" "$want" mkdir e1/r1/params/bobkeys$n
	expect_as "$U_B" "$want" symlink model.bin e1/r1/artifacts/boblink$n
}
bob_writes EACCES 1
expect_as "$U_B" EACCES truncate e1/r1/artifacts/model.bin 0
expect_as "$U_B" EACCES unlink e1/r1/artifacts/model.bin
expect_as "$U_B" EACCES rename e1/r1/artifacts/model.bin e1/r1/artifacts/stolen.bin
expect_as "$U_B" EACCES unlink e1/r1/tags/owner
expect_as "$U_B" EACCES mkdir e1/r2
expect_as "$U_B" EACCES write e1/tags/bob $'1\n'
expect_as "$U_B" EPERM chmod e1/r1 777
expect_as "$U_B" EPERM chmod e1/r1/artifacts/model.bin 666
expect_as "$U_B" EACCES rename e1/r1 .trash/e1/r1
# The root is sticky: bob may not move or remove alice's experiment.
expect_as "$U_B" EPERM rename e1 .trash/e1
expect_as "$U_B" EPERM rename e1 bobs-now
if as "$U_B" 022 chown "$U_B" e1/r1/artifacts/model.bin 2>/dev/null; then
	fail "bob could chown alice's artifact"
else
	pass
fi
check_eq "alice's artifact is unchanged" "model bytes" "$(t cat "$MNT/e1/r1/artifacts/model.bin")"
check_eq "alice's metric has its two points" 2 "$(t cat "$MNT/e1/r1/metrics/loss" | wc -l)"
check_eq "alice's tag is unchanged" "alice" "$(t cat "$MNT/e1/r1/tags/owner")"
check_eq "the status is unchanged" "RUNNING" "$(t cat "$MNT/e1/r1/status")"
check_eq "no file of bob's in the run" "" \
	"$(cd "$MNT" && t find e1 -name '*bob*' -o -name stolen.bin)"
check_eq "alice's run is still alice's, 755" "$UID_A:$GID_A 755" "$(owner_mode e1/r1)"

section "bob's own experiment, run and model, with his umask"
as "$U_B" 027 /bin/sh -c '
	mkdir -p e2/r2 &&
	echo 7 > e2/r2/params/seed &&
	echo 1 >> e2/r2/metrics/m &&
	echo bob > e2/r2/tags/owner &&
	printf "bob data" > e2/r2/artifacts/d.bin &&
	mkdir e2/r2/artifacts/dir &&
	ln -s d.bin e2/r2/artifacts/link &&
	mkdir models/BobNet' || fail "bob could not make e2/r2 and models/BobNet"
check_eq "bob's experiment: bob's, 750 under umask 027" "$UID_B:$GID_B 750" "$(owner_mode e2)"
check_eq "bob's run: bob's, 750" "$UID_B:$GID_B 750" "$(owner_mode e2/r2)"
check_eq "bob's param: bob's, 640" "$UID_B:$GID_B 640" "$(owner_mode e2/r2/params/seed)"
check_eq "bob's metric: bob's, 640" "$UID_B:$GID_B 640" "$(owner_mode e2/r2/metrics/m)"
check_eq "bob's tag: bob's, 640" "$UID_B:$GID_B 640" "$(owner_mode e2/r2/tags/owner)"
check_eq "bob's artifact: bob's, 640" "$UID_B:$GID_B 640" "$(owner_mode e2/r2/artifacts/d.bin)"
check_eq "bob's artifact folder: bob's, 750" "$UID_B:$GID_B 750" "$(owner_mode e2/r2/artifacts/dir)"
check_eq "bob's symlink is bob's" "$UID_B:$GID_B" "$(owner_mode e2/r2/artifacts/link | cut -d' ' -f1)"
check_eq "bob's run folders are bob's" "$UID_B:$GID_B" "$(owner_mode e2/r2/params | cut -d' ' -f1)"
check_eq "bob's model: bob's, 750" "$UID_B:$GID_B 750" "$(owner_mode models/BobNet)"
check_match "bob's run's meta names bob" "user_id: $U_B" "$(t cat "$MNT/e2/r2/meta")"
# umask 027 leaves alice nothing in e2.
expect_as "$U_A" EACCES read e2/r2/params/seed
expect_as "$U_A" EACCES mkdir e2/r3
expect_as "$U_A" EACCES mkdir models/BobNet/1

section "alice grants other write"
as "$U_A" 022 chmod -R o+w e1/r1 || fail "alice's chmod -R o+w e1/r1 failed"
check_eq "the run is 757 after chmod o+w" "$UID_A:$GID_A 757" "$(owner_mode e1/r1)"
check_eq "the artifact is 646 after chmod o+w" "$UID_A:$GID_A 646" \
	"$(owner_mode e1/r1/artifacts/model.bin)"
bob_writes OK 2
check_eq "bob's point is the metric's third" 3 "$(t cat "$MNT/e1/r1/metrics/loss" | wc -l)"
check_eq "bob's artifact in alice's run is bob's, 644" "$UID_B:$GID_B 644" \
	"$(owner_mode e1/r1/artifacts/bob2.txt)"
check_eq "bob's folder in alice's run is bob's, 755" "$UID_B:$GID_B 755" \
	"$(owner_mode e1/r1/artifacts/bobdir2)"
check_eq "bob's param in alice's run is bob's, 644" "$UID_B:$GID_B 644" \
	"$(owner_mode e1/r1/params/bob2)"
check_eq "bob's metric in alice's run is bob's" "$UID_B:$GID_B 644" \
	"$(owner_mode e1/r1/metrics/acc2)"
check_eq "alice's artifact keeps its owner when bob rewrites it" "$UID_A:$GID_A 646" \
	"$(owner_mode e1/r1/artifacts/model.bin)"
check_eq "bob's rewrite of alice's artifact is there" "overwritten" \
	"$(t cat "$MNT/e1/r1/artifacts/model.bin")"
check_eq "bob's status write is there" "FINISHED" "$(t cat "$MNT/e1/r1/status")"
# o+w on the run does not give the experiment: no run of bob's in e1.
expect_as "$U_B" EACCES mkdir e1/r3

section "alice takes other write back and grants it to a group"
# -R through find -user: bob's files in the run (his params stay for good) are not hers.
mine() { as "$U_A" 022 find e1/r1 -user "$U_A" -exec "$@" {} +; }
mine chmod o-w || fail "alice's chmod o-w of her files in e1/r1 failed"
bob_writes EACCES 3
mine chgrp "$U_GROUP" || fail "alice's chgrp $U_GROUP of her files in e1/r1 failed"
check_eq "the run's group is the shared group" "$UID_A:$GID_G 755" "$(owner_mode e1/r1)"
check_eq "alice's metric's group is the shared group" "$UID_A:$GID_G 644" \
	"$(owner_mode e1/r1/metrics/loss)"
bob_writes EACCES 4
mine chmod g+w || fail "alice's chmod g+w of her files in e1/r1 failed"
check_eq "the run is 775 after chmod g+w" "$UID_A:$GID_G 775" "$(owner_mode e1/r1)"
bob_writes OK 5
# alice may not give her file away (chown is root's), only regroup it.
if as "$U_A" 022 chown "$U_B" e1/r1/artifacts/sub/a.txt 2>/dev/null; then
	fail "alice could chown her artifact to bob"
else
	pass
fi

section "owners and modes survive a remount"
as "$U_A" 022 chmod 0700 e1/r1/artifacts/sub || fail "chmod 0700 artifacts/sub"
as "$U_A" 022 chmod 0600 e1/r1/artifacts/sub/a.txt || fail "chmod 0600 artifacts/sub/a.txt"
as "$U_B" 022 chmod 0751 e2 e2/r2 || fail "chmod 0751 e2 e2/r2"
as "$U_B" 022 chmod 0604 e2/r2/params/seed || fail "chmod 0604 params/seed"
before=$(tree_modes)
check_match "the listing has bob's chmod" "^\./e2/r2/params/seed $UID_B:$GID_B 604$" \
	"$(grep -F './e2/r2/params/seed ' <<<"$before")"
remount
after=$(tree_modes)
check_eq "every uid, gid and mode is the same after a remount" "$before" "$after"
check_eq "artifacts/sub is still 700" "$UID_A:$GID_G 700" "$(owner_mode e1/r1/artifacts/sub)"
check_eq "bob's experiment is still 751" "$UID_B:$GID_B 751" "$(owner_mode e2)"
# And the kernel enforces them again on the new mount.
expect_as "$U_B" EACCES read e1/r1/artifacts/sub/a.txt
expect_as "$U_A" OK read e2/r2/params/seed
expect_as "$U_B" OK append e1/r1/metrics/loss $'0.0625\n'
expect_as "$U_A" EACCES append e2/r2/metrics/m $'2\n'
