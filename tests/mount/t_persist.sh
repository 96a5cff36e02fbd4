#!/usr/bin/env bash
# t_persist.sh - everything comes back after a clean remount and after
# kill -9, with the same inode numbers; a second daemon on the same store is
# refused; `mlfs mount` in the background and `mlfs umount`.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run42
A=$R/artifacts

# Every entry under the experiments: inode, type, mode, size, path, link target.
listing() {
	(cd "$MNT" && t find exp1 exp2 -printf '%i %y %m %s %p -> %l\n' | LC_ALL=C sort -k5)
}

# The content of every regular file under the experiments, as checksums.
contents() {
	(cd "$MNT" && t find exp1 exp2 -type f -print0 | LC_ALL=C sort -z | t xargs -0 sha256sum)
}

# Modification times of the artifacts (the user set some of them).
mtimes() {
	(cd "$MNT" && t find exp1/run42/artifacts -printf '%T@ %p\n' | LC_ALL=C sort -k2)
}

# Compare the three views with what was saved before; $1 says after what.
compare_state() {
	local cur
	cur=$(listing)
	check_eq "after $1: the same entries, inodes, modes and sizes" "$LISTING" "$cur"
	cur=$(contents)
	check_eq "after $1: the same contents" "$CONTENTS" "$cur"
	cur=$(mtimes)
	check_eq "after $1: the same artifact mtimes" "$MTIMES" "$cur"
}

save_state() {
	LISTING=$(listing)
	CONTENTS=$(contents)
	MTIMES=$(mtimes)
}

# Pids of processes whose command line names this test's store.
store_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$$" ] && continue
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- " $STORE"; then
			echo "${p#/proc/}"
		fi
	done
}

section "populate"
head -c 5000000 /dev/urandom >"$SCRATCH/model.pkl"
check "mkdir -p exp1/run42 exp2/a" t mkdir -p "$R" "$MNT/exp2/a"
check "params" t bash -c 'echo 0.01 > "$1/params/lr"; mkdir -p "$1/params/opt"; echo adam > "$1/params/opt/name"' _ "$R"
check "metrics" t bash -c 'for v in 0.5 0.6 0.7; do echo $v >> "$1/metrics/acc"; done; echo "1700000000000 0.1 5" >> "$1/metrics/loss"' _ "$R"
check "tags" t bash -c 'echo alice > "$1/tags/owner"; echo x > "$2/tags/team"' _ "$R" "$MNT/exp1"
check "status" t bash -c 'echo FINISHED > "$1/status"' _ "$R"
check "artifacts" t bash -c 'cp "$1" "$2/" && mkdir -p "$2/sub/deeper" && echo hi > "$2/sub/deeper/note" &&
	ln -s ../model.pkl "$2/sub/link" && chmod 640 "$2/model.pkl" && touch -m -d @1600000000 "$2/sub/deeper/note" &&
	truncate -s 10000000 "$2/sparse"' _ "$SCRATCH/model.pkl" "$A"
save_state
check_match "the listing is not empty" "model.pkl" "$LISTING"

section "clean remount"
remount
compare_state "remount"
check "cmp model.pkl" t cmp "$SCRATCH/model.pkl" "$A/model.pkl"
check_eq "readlink" "../model.pkl" "$(t readlink "$A/sub/link")"
t mkdir "$MNT/exp3"
new_ino=$(ino_of "$MNT/exp3")
check "a new entry's inode ($new_ino) is not an old one's" \
	bash -c '! awk "{ print \$1 }" <<<"$1" | grep -qx -- "$2"' _ "$LISTING" "$new_ino"

section "kill -9 right after the writes return"
check "write more" t bash -c 'echo 0.8 >> "$1/metrics/acc" && echo 3 > "$1/params/epochs" &&
	echo bob > "$1/tags/owner" && rm "$2/sub/deeper/note" && cp "$3" "$2/copy.pkl" &&
	mkdir "$4/run43" && echo KILLED > "$4/run43/status"' _ "$R" "$A" "$SCRATCH/model.pkl" "$MNT/exp1"
save_state
crash_remount
compare_state "kill -9"
check "cmp copy.pkl" t cmp "$SCRATCH/model.pkl" "$A/copy.pkl"
slurp "$R/tags/owner"
check_eq "the tag has its last value" $'bob\n' "$REPLY"
check "the deleted artifact stays deleted" test ! -e "$A/sub/deeper/note"

section "kill -9 in the middle of a stream of appends"
"$MLFS_HELPERS/append_metric" "$R/metrics/stream" 200000 2>"$SCRATCH/stream.err" &
writer=$!
sleep 0.5
kill -KILL "$(daemon_pid)"
wait "$writer"
writer_status=$?
check "the writer saw the daemon die (status $writer_status)" test "$writer_status" != 0
last_err=$(grep -o 'line [0-9]*' "$SCRATCH/stream.err" | head -n 1 | cut -d' ' -f2)
check_match "the writer says which line failed" '^[0-9]+$' "$last_err"
crash_remount
got=$(t cat "$R/metrics/stream" | awk '$2 != (NR - 1) ".25" || $3 != NR - 1 || NF != 3 { bad++ } END { print NR, bad + 0 }')
n=${got% *}
check_eq "the stored points are whole and in order" 0 "${got#* }"
check "every acknowledged point survived ($n stored, first failure at line ${last_err:-?})" \
	test "$n" -ge "${last_err:-999999999}"
check "no point beyond the one in flight ($n stored)" test "$n" -le $((${last_err:-0} + 1))
check "a few points were written before the kill" test "$n" -gt 10

section "a second daemon on the same store is refused"
mkdir -p "$T_WORK/mnt2"
timeout -k 5 20 "$MLFS" mount -f "$STORE" "$T_WORK/mnt2" >"$SCRATCH/second.out" 2>&1
status=$?
check "mount -f of a served store fails (status $status)" bash -c '[ "$1" != 0 ] && [ "$1" != 124 ]' _ "$status"
check "it says the store is already served" grep -q "already served" "$SCRATCH/second.out"
timeout -k 5 20 "$MLFS" mount "$STORE" "$T_WORK/mnt2" >"$SCRATCH/second-bg.out" 2>&1
status=$?
check "background mount of a served store fails (status $status)" bash -c '[ "$1" != 0 ] && [ "$1" != 124 ]' _ "$status"
check "it says the store is already served" grep -q "already served" "$SCRATCH/second-bg.out"
if awk -v m="$T_WORK/mnt2" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
	fail "the refused daemon mounted $T_WORK/mnt2 anyway"
	timeout -k 1 10 fusermount3 -uz "$T_WORK/mnt2"
fi
check "the first mount still works" t cmp "$SCRATCH/model.pkl" "$A/model.pkl"

section "mlfs mount in the background, mlfs umount"
save_state
stop_daemon
check "mlfs mount STORE MNT returns 0" t "$MLFS" mount "$STORE" "$MNT" >>"$LOG" 2>&1
check "the mount is ready when mlfs mount returns" timeout -k 1 5 stat "$MNT/.mlfs" >/dev/null
compare_state "a background mount"
t bash -c 'echo 0.9 >> "$1/metrics/acc"' _ "$R"
check "mlfs umount MNT returns 0" t "$MLFS" umount "$MNT" >>"$LOG" 2>&1
check "the mount point is no longer mounted" bash -c '! awk -v m="$1" '\''$2 == m { f = 1 } END { exit !f }'\'' /proc/self/mounts' _ "$MNT"
for ((i = 0; i < 100; i++)); do
	[ -z "$(store_pids)" ] && break
	sleep 0.1
done
left=$(store_pids)
check_eq "no daemon of this store is left 10 s after mlfs umount" "" "$left"
for p in $left; do kill -KILL "$p"; done
start_daemon
slurp "$R/metrics/acc"
check_match "the point written before mlfs umount is there" $' 0\\.9 4\n$' "$REPLY"
