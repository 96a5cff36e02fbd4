#!/usr/bin/env bash
# t_gc_fsck.sh - the store's upkeep while a daemon serves it: mlfs gc frees
# the chunks of overwritten, deleted and purged content and nothing else
# (also with a file half written, and with writers busy all along); --dry-run
# deletes nothing; mlfs stats counts deduplicated bytes once; mlfs fsck is
# clean on a sound store and names each damaged file (a flipped byte, a
# truncated and a deleted chunk), whose reads through the mount are EIO.
#
# gc keeps every chunk put after it started, so the tests make chunk files
# look an hour old ("age") before the runs whose decisions they check.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run1
A=$R/artifacts

random_file() { head -c "$2" /dev/urandom >"$1"; }
chunk_list() { find "$STORE/chunks" -type f | sort; }
nchunks() { find "$STORE/chunks" -type f | wc -l; }
age() { find "$STORE/chunks" -type f -exec touch -m -d '1 hour ago' {} +; }
gc() { t "$MLFS" gc "$@" "$STORE" 2>>"$LOG"; }
stat_of() { t "$MLFS" stats "$STORE" | awk -F': ' -v k="$1" '$1 == k { print $2 }'; }

# cp SRC DST, and the chunk files that appeared with it into $SCRATCH/NAME.chunks
cp_tracked() {
	local before=$SCRATCH/before.$$
	chunk_list >"$before"
	t cp "$1" "$2" || fail "cp $(basename "$1") into the mount"
	comm -13 "$before" <(chunk_list) >"$SCRATCH/$3.chunks"
	rm -f "$before"
}

# Every file still there reads back as its scratch copy, and (unless $2 is
# "damaged") fsck finds every chunk the index names: the kernel may serve a
# read from its page cache, fsck reads the chunk store itself.
check_all() {
	local f out
	for f in keep1 keep2 over tiny1 tiny2; do
		check "$f reads back whole after gc ($1)" t cmp "$SCRATCH/$f.now" "$A/$f"
	done
	[ "${2:-}" = damaged ] && return
	out=$(t "$MLFS" fsck "$STORE" 2>&1)
	check_match "fsck finds every chunk in place ($1)" "no problems$" "$out"
}

section "gc frees overwritten and deleted content, keeps the rest"
check "mkdir -p exp1/run1" t mkdir -p "$R"
random_file "$SCRATCH/keep1" 3000000
random_file "$SCRATCH/keep2" 1000000
random_file "$SCRATCH/over" 2000000
random_file "$SCRATCH/over2" 1500000
random_file "$SCRATCH/gone" 2000000
echo "a small file" >"$SCRATCH/tiny1"
printf 'x%.0s' $(seq 1 5000) >"$SCRATCH/tiny2"
for f in keep1 keep2 over gone tiny1 tiny2; do
	cp_tracked "$SCRATCH/$f" "$A/$f" "$f"
	cp "$SCRATCH/$f" "$SCRATCH/$f.now"
done
cp_tracked "$SCRATCH/over2" "$A/over" over2
cp "$SCRATCH/over2" "$SCRATCH/over.now"
check "rm gone" t rm "$A/gone"
garbage=$(cat "$SCRATCH/over.chunks" "$SCRATCH/gone.chunks" | wc -l)
check "the overwritten and the deleted file had chunks of their own" test "$garbage" -ge 10
total=$(nchunks)

out=$(gc)
check_match "a gc right away keeps what was just put" "freed 0 chunks" "$out"
check_eq "it deleted nothing" "$total" "$(nchunks)"

age
out=$(gc --dry-run)
check_match "gc --dry-run says what it would free" "would free $garbage chunks, [0-9]+ bytes on disk" "$out"
check_eq "gc --dry-run deleted nothing" "$total" "$(nchunks)"

out=$(gc)
check_match "gc frees the overwritten and the deleted content" "^freed $garbage chunks, [1-9][0-9]* bytes on disk" "$(tail -n 1 <<<"$out")"
check_eq "chunk files left" $((total - garbage)) "$(nchunks)"
gone_left=0
for c in $(cat "$SCRATCH/over.chunks" "$SCRATCH/gone.chunks"); do [ -e "$c" ] && gone_left=$((gone_left + 1)); done
check_eq "none of the garbage chunks is left" 0 "$gone_left"
kept=0
for c in $(cat "$SCRATCH"/{keep1,keep2,over2,tiny1,tiny2}.chunks); do [ -e "$c" ] || kept=$((kept + 1)); done
check_eq "every chunk of a live file is still there" 0 "$kept"
check_all "first run"
out=$(gc)
check_match "a second gc finds nothing" "freed 0 chunks" "$(tail -n 1 <<<"$out")"

section "gc while a file is half written"
# A writer that keeps its file open across the gc (a close would commit it).
random_file "$SCRATCH/half" 4194304
head -c 2097152 "$SCRATCH/half" >"$SCRATCH/half.1"
tail -c +2097153 "$SCRATCH/half" >"$SCRATCH/half.2"
mkfifo "$SCRATCH/ready" "$SCRATCH/go"
# Opened read-write, a fifo never blocks the open, and a read can time out.
exec 8<>"$SCRATCH/ready" 9<>"$SCRATCH/go"
before=$(nchunks)
timeout -k 5 "$T_OP" /usr/bin/python3 - "$A/half.bin" "$SCRATCH" <<'EOF' &
import os, sys
dst, scratch = sys.argv[1:]
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
def put(name):
    with open(os.path.join(scratch, name), "rb") as f:
        view = memoryview(f.read())
    while view:
        view = view[os.write(fd, view[:131072]):]
put("half.1")
# The daemon puts the chunks writes complete in a worker thread
# (store/afile.c); an ftruncate to the same size on the handle waits for it.
os.ftruncate(fd, 2097152)
with open(os.path.join(scratch, "ready"), "w") as f:
    f.write("written\n")
with open(os.path.join(scratch, "go")) as f:
    f.readline()
put("half.2")
os.close(fd)
EOF
halfw=$!
read -t "$T_OP" -r _ <&8 || fail "the writer did not write its first half within ${T_OP} s"
mid=$(nchunks)
check "the first half was cut into chunks before close" test "$mid" -gt "$before"
age
out=$(gc)
check_match "gc ran" "freed 0 chunks" "$(tail -n 1 <<<"$out")"
check_eq "the open file's chunks are all kept" "$mid" "$(nchunks)"
echo go >&9
wait "$halfw"
check_eq "the writer finished" 0 "$?"
check "the half-written file, finished after gc, reads back whole" t cmp "$SCRATCH/half" "$A/half.bin"
check_all "after the half-written file"

section "pending entries of a daemon that died are dropped"
check_match "the daemon named its instance in the lock file" '^[0-9a-f]{16}$' "$(cat "$STORE/lock")"
first=$(cat "$STORE/lock")
random_file "$SCRATCH/orphan" 2097152
before=$(chunk_list)
timeout -k 5 "$T_OP" /usr/bin/python3 - "$A/orphan.bin" "$SCRATCH" <<'EOF' &
import os, sys
dst, scratch = sys.argv[1:]
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(os.path.join(scratch, "orphan"), "rb") as f:
    view = memoryview(f.read())
while view:
    view = view[os.write(fd, view[:131072]):]
os.ftruncate(fd, 2097152)  # the chunks are put, as above
with open(os.path.join(scratch, "ready"), "w") as f:
    f.write("written\n")
with open(os.path.join(scratch, "go")) as f:
    f.readline()
EOF
orphanw=$!
read -t "$T_OP" -r _ <&8 || fail "the writer did not write within ${T_OP} s"
comm -13 <(echo "$before") <(chunk_list) >"$SCRATCH/orphan.chunks"
n=$(wc -l <"$SCRATCH/orphan.chunks")
check "the writer's chunks are on disk, not committed" test "$n" -ge 3
crash_remount
echo go >&9
wait "$orphanw" 2>/dev/null
check "the new daemon has another instance" test "$(cat "$STORE/lock")" != "$first"
sleep 2.5 # entries younger than gc's 2 s margin are kept whoever made them
age
out=$(gc)
check_match "gc drops the dead daemon's pending entries" \
	"dropped [1-9][0-9]* pending entries of writers that are gone" "$out"
left=0
for c in $(cat "$SCRATCH/orphan.chunks"); do [ -e "$c" ] && left=$((left + 1)); done
check_eq "and frees the chunks only they kept" 0 "$left"
check_all "after a daemon died with a file half written"
exec 8<&- 9<&-

section "gc while writers are busy"
for i in 0 1 2; do random_file "$SCRATCH/pool$i" $((600000 + i * 400000)); done
(
	for round in $(seq 1 12); do
		for k in 1 2 3; do
			j=$(((round + k) % 3))
			cp "$SCRATCH/pool$j" "$A/busy$k" || echo "cp busy$k failed" >>"$SCRATCH/writer.err"
			echo "$j" >"$SCRATCH/busy$k.last"
		done
	done
) &
writer=$!
for i in 1 2 3 4 5; do
	age
	gc >/dev/null || fail "gc number $i while writers were busy failed"
done
wait "$writer"
check "the writers had no failure" test ! -s "$SCRATCH/writer.err"
for k in 1 2 3; do
	check "busy$k reads back as its last copy" t cmp "$SCRATCH/pool$(cat "$SCRATCH/busy$k.last")" "$A/busy$k"
done
out=$(t "$MLFS" fsck "$STORE" 2>&1)
check_match "fsck is clean after gc ran among busy writers" "no problems$" "$out"
check_all "after the busy writers"

section "gc --purge empties the trash, then frees its content"
check "mkdir exp1/run2" t mkdir "$MNT/exp1/run2"
random_file "$SCRATCH/trashed" 1500000
cp_tracked "$SCRATCH/trashed" "$MNT/exp1/run2/artifacts/w.bin" trashed
check "mv run2 to the trash" t mv "$MNT/exp1/run2" "$MNT/.trash/exp1/"
age
out=$(gc)
left=0
for c in $(cat "$SCRATCH/trashed.chunks"); do [ -e "$c" ] && left=$((left + 1)); done
check_eq "what is in the trash keeps its chunks" "$(wc -l <"$SCRATCH/trashed.chunks")" "$left"
out=$(gc --purge --older-than 1h)
check_match "--older-than 1h purges nothing deleted just now" "nothing in the trash to purge that old" "$out"
out=$(t "$MLFS" gc --purge --older-than 3weeks "$STORE" 2>&1)
check_eq "an age it cannot read is refused (exit 2)" 2 "$?"
check_match "with a sentence" "cannot read the age '3weeks'" "$out"
out=$(t "$MLFS" gc --older-than 1d "$STORE" 2>&1)
check_eq "--older-than without --purge is refused" 2 "$?"
out=$(gc --purge --dry-run)
check_match "--purge --dry-run names what it would purge" "would purge .trash/exp1/run2" "$out"
check "and purges nothing" test -d "$MNT/.trash/exp1/run2"
out=$(gc --purge)
check_match "--purge names what it purged" "purged .trash/exp1/run2 \([0-9]+ entries\)" "$out"
left=0
for c in $(cat "$SCRATCH/trashed.chunks"); do [ -e "$c" ] && left=$((left + 1)); done
check_eq "the purged run's chunks are freed in the same run" 0 "$left"
sleep 1.1 # the kernel may remember names for a second
check "the purged run is gone from the trash" test ! -e "$MNT/.trash/exp1/run2"
check "its name is free again" t mkdir "$MNT/exp1/run2"
check_all "after the purge"

section "stats: a second copy doubles the logical bytes, not the stored ones"
check "mkdir exp2/r" t mkdir -p "$MNT/exp2/r"
for i in 1 2 3; do echo "0.$i" >>"$MNT/exp2/r/metrics/acc"; done
random_file "$SCRATCH/dup" 2000000
l0=$(stat_of logical_bytes)
s0=$(stat_of stored_bytes)
c0=$(stat_of chunks)
t cp "$SCRATCH/dup" "$MNT/exp2/r/artifacts/one" || fail "cp dup one"
l1=$(stat_of logical_bytes)
s1=$(stat_of stored_bytes)
c1=$(stat_of chunks)
t cp "$SCRATCH/dup" "$MNT/exp2/r/artifacts/two" || fail "cp dup two"
l2=$(stat_of logical_bytes)
s2=$(stat_of stored_bytes)
c2=$(stat_of chunks)
check_eq "the first copy adds its size to logical_bytes" 2000000 $((l1 - l0))
check "the first copy adds about its size to stored_bytes" test $((s1 - s0)) -ge 2000000 -a $((s1 - s0)) -lt 2010000
check_eq "the second copy adds its size to logical_bytes" 2000000 $((l2 - l1))
check_eq "the second copy adds nothing to stored_bytes" "$s1" "$s2"
check_eq "nor to chunks" "$c1" "$c2"
check "and it added chunks the first time" test "$c1" -gt "$c0"
check_eq "experiments" 2 "$(stat_of experiments)"
check_eq "runs" 3 "$(stat_of runs)"
check_eq "metric points" 3 "$(stat_of metric_points)"
check_match "a dedup ratio" "^[0-9]+\.[0-9][0-9]$" "$(stat_of dedup_ratio)"

section "fsck of a sound store"
out=$(t "$MLFS" fsck "$STORE" 2>&1)
check_eq "fsck exits 0" 0 "$?"
check_match "and says so" "^checked [0-9]+ inodes, [0-9]+ files .*: no problems$" "$out"

section "fsck names each damaged file; reads give EIO, never wrong bytes"
for v in v1 v2 v3; do
	random_file "$SCRATCH/$v" 1048576
	cp_tracked "$SCRATCH/$v" "$A/$v" "$v"
done
remount # nothing of the victims left in the kernel's or the daemon's caches
c1=$(head -n 1 "$SCRATCH/v1.chunks")
c2=$(head -n 1 "$SCRATCH/v2.chunks")
c3=$(head -n 1 "$SCRATCH/v3.chunks")
size=$(stat -c %s "$c1")
printf '\xa5' | dd of="$c1" bs=1 seek=$((size / 2)) conv=notrunc status=none
truncate -s 20 "$c2"
rm -f "$c3"
out=$(t "$MLFS" fsck "$STORE" 2>/dev/null)
check_eq "fsck exits 1 on damage" 1 "$?"
has_line() { grep -qE "$1" <<<"$out"; }
check "it names v1 (a flipped byte)" \
	has_line '^exp1/run1/artifacts/v1: chunk [0-9a-f]{32} at offset [0-9]+ is damaged$'
check "it names v2 (a truncated chunk)" \
	has_line '^exp1/run1/artifacts/v2: chunk [0-9a-f]{32} at offset [0-9]+ is damaged$'
check "it names v3 (a deleted chunk)" \
	has_line '^exp1/run1/artifacts/v3: chunk [0-9a-f]{32} at offset [0-9]+ is missing$'
check_eq "one line per problem, then the summary" 4 "$(wc -l <<<"$out")"
check_match "and counts 3 problems" ": 3 problems$" "$out"
for v in v1 v2 v3; do
	expect_errno EIO read "$A/$v"
done
slurp "$MNT/.mlfs/errors"
for v in v1 v2 v3; do
	check_match "the read of $v left a line in .mlfs/errors" "exp1/run1/artifacts/$v: " "$REPLY"
done
check_all "with damaged neighbours" damaged
