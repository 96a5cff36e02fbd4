#!/usr/bin/env bash
# t_artifacts.sh - artifacts behave as a local disk: cp and cmp, folders,
# rename, unlink, rmdir, symlink, chmod, utimens, append, truncate, edits in
# place, the raw-syscall checks of artifact_io, and the chunk store beneath:
# deduplication across the store, content-defined chunking, compression, and
# a damaged chunk read as EIO with an error line.
. "$(dirname "$0")/lib.sh"

R=$MNT/exp1/run42
A=$R/artifacts

# Random bytes of a given size into a scratch file.
random_file() { head -c "$2" /dev/urandom >"$1"; }

# Kilobytes the store occupies on disk, once the daemon has settled.
store_kib() {
	sync
	sleep 1.5
	du -sk "$STORE" | cut -f1
}

section "cp model.pkl into a run and cmp"
random_file "$SCRATCH/model.pkl" 3000000
check "mkdir -p exp1/run42 && cp model.pkl exp1/run42/artifacts/" \
	t bash -c 'cd "$1" && mkdir -p "$2" && cp model.pkl "$3/"' _ "$SCRATCH" "$R" "$A"
check "cmp model.pkl" t cmp "$SCRATCH/model.pkl" "$A/model.pkl"
check_eq "st_size of model.pkl" 3000000 "$(size_of "$A/model.pkl")"
for size in 0 1 4095 4096 4097 131072 1048577; do
	random_file "$SCRATCH/f$size" "$size"
	check "cp a file of $size bytes" t cp "$SCRATCH/f$size" "$A/f$size"
	check "cmp the file of $size bytes" t cmp "$SCRATCH/f$size" "$A/f$size"
	check_eq "st_size of the file of $size bytes" "$size" "$(size_of "$A/f$size")"
done

section "folders and whole trees"
mkdir -p "$SCRATCH/tree/a/b/c" "$SCRATCH/tree/empty"
for i in $(seq 1 40); do
	random_file "$SCRATCH/tree/a/f$i" $((i * 997))
	echo "line $i" >"$SCRATCH/tree/a/b/c/t$i.txt"
done
check "mkdir -p artifacts/x/y/z" t mkdir -p "$A/x/y/z"
check "cp -r a tree" t cp -r "$SCRATCH/tree" "$A/tree"
check "diff -r the tree" t diff -r "$SCRATCH/tree" "$A/tree"
check_eq "find lists the same entries" "$(cd "$SCRATCH/tree" && find . | sort)" \
	"$(cd "$A/tree" && t find . | sort)"
check "rmdir an empty folder" t rmdir "$A/tree/empty"
check "it is gone" test ! -e "$A/tree/empty"
expect_errno ENOTEMPTY rmdir "$A/tree/a"
expect_errno EEXIST mkdir "$A/tree/a"
expect_errno ENOENT read "$A/no/such/file"

section "rename, unlink, symlink, chmod, utimens"
check "rename a file" t mv "$A/f4096" "$A/x/moved"
check "cmp after rename" t cmp "$SCRATCH/f4096" "$A/x/moved"
check "the old name is gone" test ! -e "$A/f4096"
ino=$(ino_of "$A/x/moved")
check "rename a folder" t mv "$A/x" "$A/x2"
check "cmp through the renamed folder" t cmp "$SCRATCH/f4096" "$A/x2/moved"
check_eq "a renamed file keeps its inode" "$ino" "$(ino_of "$A/x2/moved")"
check "rename over an existing file" t mv "$A/f1" "$A/f4097"
check "the target has the source's bytes" t cmp "$SCRATCH/f1" "$A/f4097"
check "unlink" t rm "$A/f4095"
check "unlinked file is gone" test ! -e "$A/f4095"
expect_errno ENOENT unlink "$A/f4095"
check "ln -s" t ln -s model.pkl "$A/link"
check_eq "readlink" "model.pkl" "$(t readlink "$A/link")"
check "cmp through the symlink" t cmp "$SCRATCH/model.pkl" "$A/link"
check "ln -s to a folder" t ln -s x2/y "$A/dirlink"
check "the folder symlink resolves" test -d "$A/dirlink/z"
check "chmod 600" t chmod 600 "$A/model.pkl"
check_eq "mode 600" 600 "$(t stat -c %a "$A/model.pkl")"
check "chmod 755 a folder" t chmod 755 "$A/x2"
check_eq "folder mode 755" 755 "$(t stat -c %a "$A/x2")"
check "chmod +x" t chmod +x "$A/f0"
check "it is executable" test -x "$A/f0"
check "touch -d sets mtime" t touch -m -d @1577934245 "$A/f131072"
check_eq "mtime" 1577934245 "$(t stat -c %Y "$A/f131072")"
check "touch -a -d sets atime" t touch -a -d @1500000000 "$A/f131072"
check_eq "atime" 1500000000 "$(t stat -c %X "$A/f131072")"
check "touch creates an empty file" t touch "$A/empty"
check_eq "the empty file" 0 "$(size_of "$A/empty")"

section "append, truncate, edit in place"
cp "$SCRATCH/f131072" "$SCRATCH/grow"
check "append with >>" t bash -c 'cat "$1" >> "$2"' _ "$SCRATCH/f1048577" "$A/f131072"
cat "$SCRATCH/f1048577" >>"$SCRATCH/grow"
check "cmp after append" t cmp "$SCRATCH/grow" "$A/f131072"
check "truncate -s to a smaller size" t truncate -s 100000 "$A/f131072"
truncate -s 100000 "$SCRATCH/grow"
check "cmp after shrinking" t cmp "$SCRATCH/grow" "$A/f131072"
check "truncate -s to a larger size" t truncate -s 300000 "$A/f131072"
truncate -s 300000 "$SCRATCH/grow"
check "cmp after growing (zeros)" t cmp "$SCRATCH/grow" "$A/f131072"
cp "$SCRATCH/model.pkl" "$SCRATCH/edited"
printf 'EDITED' | dd of="$SCRATCH/edited" bs=1 seek=1500000 conv=notrunc status=none
check "dd conv=notrunc in the middle" \
	t bash -c 'printf EDITED | dd of="$1" bs=1 seek=1500000 conv=notrunc status=none' _ "$A/model.pkl"
check "cmp after the edit" t cmp "$SCRATCH/edited" "$A/model.pkl"
check "overwrite with > replaces the content" t bash -c 'echo new > "$1"' _ "$A/f1048577"
check_eq "the replaced content" "new" "$(t cat "$A/f1048577")"

section "syscalls from C (artifact_io)"
t mkdir "$A/io" || fail "mkdir artifacts/io"
t "$MLFS_HELPERS/artifact_io" "$A/io" >"$SCRATCH/io.out" 2>&1
status=$?
cat "$SCRATCH/io.out" >&2
line=$(tail -n 1 "$SCRATCH/io.out")
if [[ $line =~ ^artifact_io:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
	T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
	T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
	[ "$status" = 0 ] || [ "${BASH_REMATCH[2]}" != 0 ] || fail "artifact_io exited with status $status"
else
	fail "artifact_io ended without its summary (status $status)"
fi

section "chunks are shared across the store"
random_file "$SCRATCH/big" $((32 * 1024 * 1024))
t mkdir -p "$MNT/exp1/run43" "$MNT/exp2/run1"
check "cp a 32 MiB random file" t cp "$SCRATCH/big" "$A/big"
k0=$(store_kib)
check "cp the same file into another run" t cp "$SCRATCH/big" "$MNT/exp1/run43/artifacts/big"
check "and into another experiment" t cp "$SCRATCH/big" "$MNT/exp2/run1/artifacts/big.copy"
k1=$(store_kib)
check "two more copies of 32 MiB add less than 4 MiB to the store ($k0 KiB -> $k1 KiB)" \
	test $((k1 - k0)) -lt 4096
check "cmp the second copy" t cmp "$SCRATCH/big" "$MNT/exp1/run43/artifacts/big"
check "cmp the third copy" t cmp "$SCRATCH/big" "$MNT/exp2/run1/artifacts/big.copy"
# Insert 100 bytes in the middle: every later byte moves, so only chunks cut
# by content (not at fixed offsets) stay the same.
{
	head -c $((16 * 1024 * 1024)) "$SCRATCH/big"
	head -c 100 /dev/urandom
	tail -c +$((16 * 1024 * 1024 + 1)) "$SCRATCH/big"
} >"$SCRATCH/big.inserted"
check "cp the file with 100 bytes inserted in its middle" t cp "$SCRATCH/big.inserted" "$A/big.inserted"
k2=$(store_kib)
check "the insertion adds less than 4 MiB to the store ($k1 KiB -> $k2 KiB)" \
	test $((k2 - k1)) -lt 4096
check "cmp the edited copy" t cmp "$SCRATCH/big.inserted" "$A/big.inserted"
check "edit the first copy in place" \
	t bash -c 'printf XYZ | dd of="$1" bs=1 seek=20000000 conv=notrunc status=none' _ "$A/big"
k3=$(store_kib)
check "an edit in place adds less than 4 MiB ($k2 KiB -> $k3 KiB)" test $((k3 - k2)) -lt 4096
check "the other copies are untouched" t cmp "$SCRATCH/big" "$MNT/exp1/run43/artifacts/big"

section "chunks are compressed"
awk 'BEGIN { for (i = 1; i <= 600000; i++)
	printf "step %d loss %.6f accuracy %.6f\n", i, 1 / i, 1 - 1 / (i + 1) }' >"$SCRATCH/log.txt"
text_kib=$(($(stat -c %s "$SCRATCH/log.txt") / 1024))
k4=$(store_kib)
check "cp a ${text_kib} KiB text file" t cp "$SCRATCH/log.txt" "$A/log.txt"
k5=$(store_kib)
check "it takes less than half its size in the store ($((k5 - k4)) of $text_kib KiB)" \
	test $((k5 - k4)) -lt $((text_kib / 2))
check "cmp the text file" t cmp "$SCRATCH/log.txt" "$A/log.txt"

section "a damaged chunk reads as EIO, never as wrong bytes"
random_file "$SCRATCH/victim" $((2 * 1024 * 1024))
touch "$SCRATCH/marker"
sleep 1.1
t cp "$SCRATCH/victim" "$A/victim" || fail "cp victim"
sync
sleep 1.5
remount
# The chunk store's files that appeared with the victim, once the daemon has
# restarted (so that no scratch copy is left): not the LMDB files, not a
# file of exactly the victim's raw size.
target=$(find "$STORE/chunks" -type f -newer "$SCRATCH/marker" ! -name '*.mdb' ! -name '*lock*' \
	-size +4k ! -size $((2 * 1024 * 1024))c -printf '%s %p\n' | sort -rn | head -n 1 | cut -d' ' -f2-)
if [ -z "$target" ]; then
	fail "no chunk file appeared in the store when the victim was copied in"
else
	# The middle of a chunk file, or 1 MiB before the end of a file of many
	# chunks (the victim's were written last).
	sz=$(stat -c %s "$target")
	off=$((sz / 2))
	[ "$off" -gt 1048576 ] && off=$((sz - 1048576))
	printf '\xff\x00\xff\x00' | dd of="$target" bs=1 seek="$off" conv=notrunc status=none
	expect_errno EIO read "$A/victim"
	check "cat of the damaged file fails" bash -c '! timeout 60 cat "$1" >/dev/null 2>&1' _ "$A/victim"
	slurp "$MNT/.mlfs/errors"
	check_match "the damage is reported in .mlfs/errors" "exp1/run42/artifacts/victim" "$REPLY"
	check "the other artifacts still read" t cmp "$SCRATCH/edited" "$A/model.pkl"
fi
