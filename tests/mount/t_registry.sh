#!/usr/bin/env bash
# t_registry.sh - the model registry through the mount and `mlfs register`
# (issue 3, items 1-3): models and versions by the next number, artifacts
# deduplicated, source written once, stages with archive_existing_versions
# and the Staging/Production links, versions read-only once staged, aliases
# and aliases/latest, zero-copy registration, concurrent versions, and all of
# it after a remount.
. "$(dirname "$0")/lib.sh"

M=$MNT/models
DT=$M/DT

# How many chunk files the store holds.
chunks() { find "$STORE/chunks" -type f | wc -l; }

# link_is DESC PATH TARGET: readlink PATH gives TARGET at once.  When it
# gives TARGET only a second later, the kernel kept a stale entry (a link
# that the daemon made or moved as a side effect, without telling the
# kernel): that is a failure of its own, named as such.
link_is() {
	local got later
	got=$(t readlink -- "$2" 2>/dev/null)
	if [ "$got" = "$3" ]; then
		pass
		return
	fi
	sleep 1.1
	later=$(t readlink -- "$2" 2>/dev/null)
	if [ "$later" = "$3" ]; then
		fail "$1: readlink ${2#"$MNT"/} gave [$got] at once and [$3] only 1.1 s later (stale kernel entry)"
	else
		fail "$1: readlink ${2#"$MNT"/}: expected [$3], got [$got] (and [$later] 1.1 s later)"
	fi
}

# The sorted names in folder $1, on one line.
names() { t ls -A "$1" 2>/dev/null | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }

# A 3 MB model (several chunks) and a small file, and a run that holds them.
head -c 3000000 /dev/urandom >"$SCRATCH/model.pkl"
printf 'feature,weight\nx,1\n' >"$SCRATCH/features.csv"
R=$MNT/exp1/run42
t mkdir -p "$R" "$MNT/exp1/run43" || fail "mkdir -p exp1/run42 exp1/run43"
t cp "$SCRATCH/model.pkl" "$R/artifacts/" || fail "cp model.pkl into the run"
t mkdir -p "$R/artifacts/sub" || fail "mkdir artifacts/sub"
t cp "$SCRATCH/features.csv" "$R/artifacts/sub/" || fail "cp features.csv into the run"
: | t tee "$R/artifacts/empty" >/dev/null
t ln -s model.pkl "$R/artifacts/link" || fail "symlink in the run's artifacts"

section "models and versions"
check "/models exists in a new store" test -d "$M"
check_eq "ls -A / shows models" ".mlfs .trash exp1 models" "$(names "$MNT")"
check_eq "/models is empty" "" "$(names "$M")"
check "mkdir models/DT registers a model" t mkdir "$DT"
check_eq "a model holds aliases/" "aliases" "$(names "$DT")"
check_eq "aliases/ of a model without versions is empty" "" "$(names "$DT/aliases")"
expect_errno EEXIST mkdir "$DT"
refused EINVAL "models/.hidden" mkdir "$M/.hidden"
expect_errno ENAMETOOLONG mkdir "$M/$(repeat_char 256 m)"
check "a 255-byte model name is fine" t mkdir "$M/$(repeat_char 255 m)"
check "mkdir models/DT/1 makes version 1" t mkdir "$DT/1"
check_eq "a version holds artifacts source stage tags" "artifacts source stage tags" "$(names "$DT/1")"
check "artifacts/ is a folder" test -d "$DT/1/artifacts"
check "tags/ is a folder" test -d "$DT/1/tags"
slurp "$DT/1/stage"
check_eq "a new version's stage is None" $'None\n' "$REPLY"
check_size "$DT/1/stage"
slurp "$DT/1/source"
check_eq "a new version's source is empty" "" "$REPLY"
refused EINVAL "models/DT/3" mkdir "$DT/3"
check "models/DT/3 was not made" test ! -e "$DT/3"
expect_errno EEXIST mkdir "$DT/1"
for bad in 0 02 2x -2 +2 ' 2' 2.0; do
	expect_errno EINVAL mkdir "$DT/$bad"
done
check "mkdir models/DT/2 (the next number)" t mkdir "$DT/2"
link_is "aliases/latest follows the highest version" "$DT/aliases/latest" "../2"
expect_errno_in "EPERM ENOTEMPTY" rmdir "$DT/2"
expect_errno_in "EPERM ENOTEMPTY" rmdir "$DT/1"
check "rmdir of a version leaves it" test -d "$DT/2/artifacts"
expect_errno_in "EPERM ENOTEMPTY" rmdir "$DT"
expect_errno EINVAL mkdir "$DT/2x"
check_eq "versions are 1 and 2" "1 2 aliases" "$(names "$DT")"

section "artifacts of a version, deduplicated"
before=$(chunks)
check "cp model.pkl into version 1" t cp "$SCRATCH/model.pkl" "$DT/1/artifacts/"
check_eq "copying a file that is already in the store adds no chunk file" "$before" "$(chunks)"
check "the copy reads back whole" cmp -s "$SCRATCH/model.pkl" "$DT/1/artifacts/model.pkl"
check "cp -r a folder into version 1" t cp -r "$R/artifacts/sub" "$DT/1/artifacts/"
check_eq "copying a folder already in the store adds no chunk file" "$before" "$(chunks)"
check "and it reads back" cmp -s "$SCRATCH/features.csv" "$DT/1/artifacts/sub/features.csv"
check "a version's artifacts behave like a disk: write" t bash -c 'echo draft > "$1"' _ "$DT/1/artifacts/notes.txt"
check "rename" t mv "$DT/1/artifacts/notes.txt" "$DT/1/artifacts/sub/notes.txt"
check "append" t bash -c 'echo more >> "$1"' _ "$DT/1/artifacts/sub/notes.txt"
slurp "$DT/1/artifacts/sub/notes.txt"
check_eq "the renamed and appended file" $'draft\nmore\n' "$REPLY"
check "unlink" t rm "$DT/1/artifacts/sub/notes.txt"
check "mkdir and rmdir" t bash -c 'mkdir "$1/d" && rmdir "$1/d"' _ "$DT/1/artifacts"
check "symlink" t ln -s model.pkl "$DT/1/artifacts/current"
check "an empty folder" t mkdir "$DT/1/artifacts/keep"
check_eq "version 1's artifacts" "current keep model.pkl sub" "$(names "$DT/1/artifacts")"
before=$(chunks)
check "cp model.pkl into version 2 as well" t cp "$SCRATCH/model.pkl" "$DT/2/artifacts/"
check_eq "still no new chunk file" "$before" "$(chunks)"

section "source"
refused EINVAL "models/DT/1/source" write "$DT/1/source" $'exp1\n'
expect_errno EINVAL write "$DT/1/source" $'nosuch/run42\n'
expect_errno EINVAL write "$DT/1/source" $'exp1/nosuch\n'
expect_errno EINVAL write "$DT/1/source" $'exp1/run42/params\n'
expect_errno EINVAL write "$DT/1/source" $'models/DT\n'
slurp "$DT/1/source"
check_eq "refused values leave source empty" "" "$REPLY"
check "echo exp1/run42 > source" t bash -c 'echo exp1/run42 > "$1"' _ "$DT/1/source"
slurp "$DT/1/source"
check_eq "source reads the run" $'exp1/run42\n' "$REPLY"
check_size "$DT/1/source"
check "the same value again succeeds" t bash -c 'echo exp1/run42 > "$1"' _ "$DT/1/source"
refused EPERM "models/DT/1/source" write "$DT/1/source" $'exp1/run43\n'
expect_errno EPERM write "$DT/1/source" $'exp1\n'
slurp "$DT/1/source"
check_eq "source is write-once" $'exp1/run42\n' "$REPLY"

section "stage words"
refused EINVAL "models/DT/1/stage" write "$DT/1/stage" $'Prod\n'
for bad in production PRODUCTION 'Staging Production' ' Staging' 'None ' Deleted ''; do
	expect_errno EINVAL write "$DT/1/stage" "$bad"$'\n'
done
slurp "$DT/1/stage"
check_eq "refused words leave the stage None" $'None\n' "$REPLY"
check "no Staging link yet" test ! -e "$DT/Staging" -a ! -L "$DT/Staging"
check "no Production link yet" test ! -e "$DT/Production" -a ! -L "$DT/Production"
check "echo None > stage (no change) succeeds" t bash -c 'echo None > "$1"' _ "$DT/2/stage"

section "stages and their links"
for n in 3 4 5; do t mkdir "$DT/$n" || fail "mkdir models/DT/$n"; done
t cp "$SCRATCH/model.pkl" "$DT/3/artifacts/" || fail "cp model.pkl into version 3"
check "echo Staging > 1/stage" t bash -c 'echo Staging > "$1"' _ "$DT/1/stage"
slurp "$DT/1/stage"
check_eq "1/stage reads Staging" $'Staging\n' "$REPLY"
link_is "readlink models/DT/Staging" "$DT/Staging" "1"
check "echo Staging > 2/stage" t bash -c 'echo Staging > "$1"' _ "$DT/2/stage"
slurp "$DT/1/stage"
check_eq "the version that was in Staging is Archived" $'Archived\n' "$REPLY"
link_is "Staging now points at 2" "$DT/Staging" "2"
check "echo Production > 2/stage" t bash -c 'echo Production > "$1"' _ "$DT/2/stage"
link_is "Production points at 2" "$DT/Production" "2"
check "2 left Staging: the Staging link is gone" test ! -L "$DT/Staging"
check_eq "ls models/DT" "1 2 3 4 5 Production aliases" "$(names "$DT")"
check "cat models/DT/Production/artifacts/model.pkl serves the file" \
	cmp -s "$SCRATCH/model.pkl" "$DT/Production/artifacts/model.pkl"
slurp "$DT/Production/stage"
check_eq "Production/stage" $'Production\n' "$REPLY"
check "echo Production > 3/stage" t bash -c 'echo Production > "$1"' _ "$DT/3/stage"
slurp "$DT/2/stage"
check_eq "the previous Production version is Archived" $'Archived\n' "$REPLY"
link_is "Production points at 3" "$DT/Production" "3"
check "and serves 3's files" cmp -s "$SCRATCH/model.pkl" "$DT/Production/artifacts/model.pkl"
check "echo Staging > 4/stage" t bash -c 'echo Staging > "$1"' _ "$DT/4/stage"
link_is "Staging points at 4" "$DT/Staging" "4"
slurp "$DT/3/stage"
check_eq "staging 4 leaves 3 in Production" $'Production\n' "$REPLY"
check "echo None > 1/stage (Archived -> None)" t bash -c 'echo None > "$1"' _ "$DT/1/stage"
link_is "a version that held no link leaves the links alone (Staging)" "$DT/Staging" "4"
link_is "a version that held no link leaves the links alone (Production)" "$DT/Production" "3"
check "echo None > 4/stage (Staging -> None)" t bash -c 'echo None > "$1"' _ "$DT/4/stage"
check "the Staging link went with it" test ! -L "$DT/Staging"
check "echo Archived > 3/stage (Production -> Archived)" t bash -c 'echo Archived > "$1"' _ "$DT/3/stage"
check "the Production link went with it" test ! -L "$DT/Production"
check "echo Staging > 3/stage (Archived -> Staging)" t bash -c 'echo Staging > "$1"' _ "$DT/3/stage"
check "echo Production > 3/stage (Staging -> Production)" t bash -c 'echo Production > "$1"' _ "$DT/3/stage"
check "Staging -> Production removes the Staging link" test ! -L "$DT/Staging"
link_is "Production points at 3 again" "$DT/Production" "3"
stages=
for n in 1 2 3 4 5; do
	slurp "$DT/$n/stage"
	stages+="$n:${REPLY%$'\n'} "
done
check_eq "every version's stage" "1:None 2:Archived 3:Production 4:None 5:None " "$stages"

section "a version is read-only once its stage has left None"
# 2 is Archived, 3 Production, 1 and 4 went back to None after a stage: all
# read-only for good.  5 never left None.
for n in 2 3 1 4; do
	A=$DT/$n/artifacts
	rel=models/DT/$n/artifacts
	refused EROFS "$rel/new.txt" write "$A/new.txt" "x"
	check "no file was made in version $n" test ! -e "$A/new.txt"
done
A=$DT/2/artifacts
rel=models/DT/2/artifacts
refused EROFS "$rel/model.pkl" write "$A/model.pkl" "x"
refused EROFS "$rel/model.pkl" append "$A/model.pkl" "x"
refused EROFS "$rel/model.pkl" pwrite "$A/model.pkl" 10 "x"
refused EROFS "$rel/model.pkl" truncate "$A/model.pkl" 5
expect_errno EROFS ftruncate "$A/model.pkl" 5
expect_errno EROFS open "$A/model.pkl" w
expect_errno OK open "$A/model.pkl" r
refused EROFS "$rel/model.pkl" unlink "$A/model.pkl"
refused EROFS "$rel/model.pkl" rename "$A/model.pkl" "$A/renamed.pkl"
expect_errno EROFS rename "$A/model.pkl" "$DT/5/artifacts/model.pkl"
expect_errno EROFS rename "$A/model.pkl" "$R/artifacts/moved.pkl"
t cp "$SCRATCH/features.csv" "$R/artifacts/in.csv"
expect_errno EROFS rename "$R/artifacts/in.csv" "$A/in.csv"
check "a refused move into a frozen version leaves the file where it was" test -f "$R/artifacts/in.csv"
refused EROFS "$rel/d" mkdir "$A/d"
refused EROFS "$rel/ln" symlink model.pkl "$A/ln"
A1=$DT/1/artifacts
refused EROFS "models/DT/1/artifacts/keep" rmdir "$A1/keep"
expect_errno EROFS unlink "$A1/sub/features.csv"
expect_errno EROFS unlink "$A1/current"
expect_errno EROFS rename "$A1/sub" "$A1/sub2"
check "rm -rf of a frozen version's artifacts fails" bash -c '! rm -rf "$1"/* 2>/dev/null' _ "$A1"
check_eq "and leaves them all" "current keep model.pkl sub" "$(names "$A1")"
check "the frozen file reads unchanged" cmp -s "$SCRATCH/model.pkl" "$A/model.pkl"
check_eq "its size is unchanged" "3000000" "$(size_of "$A/model.pkl")"
check_eq "version 2's artifacts are unchanged" "model.pkl" "$(names "$A")"
# chmod and utimens change the snapshot's metadata: also refused.
mode=$(t stat -c %a "$A/model.pkl")
mtime=$(t stat -c %Y "$A/model.pkl")
expect_errno_in "EROFS EPERM" chmod "$A/model.pkl" 600
check_eq "chmod of a frozen file leaves its mode" "$mode" "$(t stat -c %a "$A/model.pkl")"
check "touch -d of a frozen file fails" bash -c '! touch -d "2001-01-01 00:00:00" "$1" 2>/dev/null' _ "$A/model.pkl"
check_eq "and leaves its mtime" "$mtime" "$(t stat -c %Y "$A/model.pkl")"
check "tags of a staged version stay mutable" t bash -c 'echo yes > "$1"' _ "$DT/3/tags/validated"
slurp "$DT/3/tags/validated"
check_eq "a version tag" $'yes\n' "$REPLY"
check "echo no > tags/validated" t bash -c 'echo no > "$1"' _ "$DT/3/tags/validated"
check "rm of a version tag" t rm "$DT/3/tags/validated"
check "the tag is gone" test ! -e "$DT/3/tags/validated"
check "version 5 (stage None) is still writable" t bash -c 'echo ok > "$1"' _ "$DT/5/artifacts/ok.txt"

# A file opened for writing before its version was staged must not change
# the staged version afterwards.
t bash -c 'echo first > "$1"' _ "$DT/5/artifacts/late.txt"
t bash -c 'exec 3>>"$1" && echo Staging > "$2" && { echo "written after staging" >&3; exec 3>&-; }' \
	_ "$DT/5/artifacts/late.txt" "$DT/5/stage" 2>/dev/null
slurp "$DT/5/stage"
check_eq "echo Staging > 5/stage while a writer holds a file open" $'Staging\n' "$REPLY"
slurp "$DT/5/artifacts/late.txt"
check_eq "a write through a file opened before staging does not change the version" $'first\n' "$REPLY"

section "aliases"
check "ln -sfn 3 aliases/champion" t ln -sfn 3 "$DT/aliases/champion"
link_is "readlink aliases/champion" "$DT/aliases/champion" "../3"
check "aliases/champion resolves to version 3" cmp -s "$SCRATCH/model.pkl" "$DT/aliases/champion/artifacts/model.pkl"
slurp "$DT/aliases/champion/stage"
check_eq "aliases/champion/stage" $'Production\n' "$REPLY"
check "ln -sfn 1 aliases/champion moves it" t ln -sfn 1 "$DT/aliases/champion"
link_is "readlink aliases/champion after the move" "$DT/aliases/champion" "../1"
check_eq "aliases/" "champion latest" "$(names "$DT/aliases")"
check "ln -s ../2 aliases/prev (the resolved spelling)" t ln -s ../2 "$DT/aliases/prev"
link_is "readlink aliases/prev" "$DT/aliases/prev" "../2"
check "names of letters, digits, _ and -" t ln -sfn 4 "$DT/aliases/Best_model-2"
link_is "readlink aliases/Best_model-2" "$DT/aliases/Best_model-2" "../4"
check "rm aliases/prev" t rm "$DT/aliases/prev"
check "aliases/prev is gone" test ! -L "$DT/aliases/prev"
refused EINVAL "models/DT/aliases/a.b" symlink 2 "$DT/aliases/a.b"
for bad in 'a b' 'a:b' 'a+b' 'é' '.x'; do
	expect_errno EINVAL symlink 2 "$DT/aliases/$bad"
done
refused EINVAL "models/DT/aliases/ghost" symlink 9 "$DT/aliases/ghost"
for bad in 0 02 ../9 ../../DT/2 /2 Production aliases latest ../Production x; do
	expect_errno EINVAL symlink "$bad" "$DT/aliases/ghost"
done
check "no refused alias was made" test ! -L "$DT/aliases/ghost"
check "ln -sfn 9 aliases/champion fails" bash -c '! ln -sfn 9 "$1" 2>/dev/null' _ "$DT/aliases/champion"
link_is "and leaves champion where it was" "$DT/aliases/champion" "../1"
link_is "aliases/latest names the highest version" "$DT/aliases/latest" "../5"
check "aliases/latest resolves" test -d "$DT/aliases/latest/artifacts"
refused EPERM "models/DT/aliases/latest" unlink "$DT/aliases/latest"
check "rm aliases/latest fails" bash -c '! rm -f "$1" 2>/dev/null' _ "$DT/aliases/latest"
check "ln -sfn 1 aliases/latest fails" bash -c '! ln -sfn 1 "$1" 2>/dev/null' _ "$DT/aliases/latest"
expect_errno_in "EPERM EEXIST" symlink 1 "$DT/aliases/latest"
expect_errno EPERM rename "$DT/aliases/champion" "$DT/aliases/latest"
expect_errno EPERM rename "$DT/aliases/latest" "$DT/aliases/newest"
link_is "latest is unchanged" "$DT/aliases/latest" "../5"
check "mkdir models/DT/6" t mkdir "$DT/6"
link_is "latest follows the new version" "$DT/aliases/latest" "../6"
check_eq "aliases/ after all that" "Best_model-2 champion latest" "$(names "$DT/aliases")"

section "mlfs register"
run_files() { (cd "$1" && find . -mindepth 1 -printf '%y %p %s\n' | LC_ALL=C sort); }
before=$(chunks)
out=$(t "$MLFS" register "$STORE" exp1/run42/artifacts RF 2>"$T_WORK/reg.err")
check_eq "mlfs register prints the new version" "1" "$out"
check_eq "and nothing on stderr" "" "$(cat "$T_WORK/reg.err")"
check_eq "register copies no chunk" "$before" "$(chunks)"
within_a_second "the registered model shows in the mount" test -d "$M/RF/1/artifacts"
check_eq "registering a new name registers the model" "1 aliases" "$(names "$M/RF")"
check_eq "the version holds the run's files" "$(run_files "$R/artifacts")" "$(run_files "$M/RF/1/artifacts")"
check "model.pkl is byte-identical" cmp -s "$R/artifacts/model.pkl" "$M/RF/1/artifacts/model.pkl"
check "sub/features.csv is byte-identical" cmp -s "$R/artifacts/sub/features.csv" "$M/RF/1/artifacts/sub/features.csv"
link_is "the symlink is copied as a symlink" "$M/RF/1/artifacts/link" "model.pkl"
slurp "$M/RF/1/source"
check_eq "source names the run" $'exp1/run42\n' "$REPLY"
slurp "$M/RF/1/stage"
check_eq "stage is None" $'None\n' "$REPLY"
link_is "latest is 1" "$M/RF/aliases/latest" "../1"
out=$(t "$MLFS" register "$STORE" exp1/run42/artifacts/sub/features.csv RF 2>/dev/null)
check_eq "registering one file makes version 2" "2" "$out"
within_a_second "version 2 shows in the mount" test -f "$M/RF/2/artifacts/features.csv"
check_eq "version 2 holds that one file" "features.csv" "$(names "$M/RF/2/artifacts")"
out=$(t "$MLFS" register "$STORE" exp1/run42/artifacts/sub RF 2>/dev/null)
check_eq "registering a sub-folder makes version 3" "3" "$out"
within_a_second "version 3 shows in the mount" test -f "$M/RF/3/artifacts/features.csv"
out=$(cd "$T_WORK" && t env MLFS_STORE="$STORE" "$MLFS" register exp1/run42/artifacts RF 2>/dev/null)
check_eq "mlfs register without STORE uses \$MLFS_STORE" "4" "$out"
out=$(t "$MLFS" register "$STORE" exp1/run42/artifacts DT 2>/dev/null)
check_eq "registering into a model made by mkdir takes its next number" "7" "$out"
within_a_second "models/DT/7 shows in the mount" test -f "$DT/7/artifacts/model.pkl"
check_eq "register copied no chunk at all" "$before" "$(chunks)"

# The version is a snapshot: later changes to the run do not reach it, and
# changes to an unstaged version do not reach the run.
head -c 1000000 /dev/urandom >"$SCRATCH/model2.pkl"
check "overwrite the run's model.pkl" t cp "$SCRATCH/model2.pkl" "$R/artifacts/model.pkl"
check "delete the run's sub/features.csv" t rm "$R/artifacts/sub/features.csv"
check "append to the run's empty file" t bash -c 'echo now > "$1"' _ "$R/artifacts/empty"
check "a new file in the run" t bash -c 'echo new > "$1"' _ "$R/artifacts/added"
check "version 1's model.pkl is the old one" cmp -s "$SCRATCH/model.pkl" "$M/RF/1/artifacts/model.pkl"
check "version 1's features.csv is still there" cmp -s "$SCRATCH/features.csv" "$M/RF/1/artifacts/sub/features.csv"
check_eq "version 1's empty file is still empty" "0" "$(size_of "$M/RF/1/artifacts/empty")"
check "version 1 did not get the new file" test ! -e "$M/RF/1/artifacts/added"
check "version 2 still holds features.csv" cmp -s "$SCRATCH/features.csv" "$M/RF/2/artifacts/features.csv"
check "write into version 4 (stage None)" t bash -c 'echo changed > "$1"' _ "$M/RF/4/artifacts/link2"
check "overwrite version 4's model.pkl" t cp "$SCRATCH/features.csv" "$M/RF/4/artifacts/model.pkl"
check "the run's model.pkl is not changed by it" cmp -s "$SCRATCH/model2.pkl" "$R/artifacts/model.pkl"
check "version 1 is not changed by it" cmp -s "$SCRATCH/model.pkl" "$M/RF/1/artifacts/model.pkl"

# Refusals: a sentence, exit 1, no version made.
register_fails() {
	local desc=$1 rc err
	shift
	err=$(t "$MLFS" register "$@" 2>&1 >/dev/null)
	rc=$?
	check_eq "$desc: exit status" "1" "$rc"
	check_match "$desc: a sentence on stderr" '^mlfs: .{12,}' "$err"
}
register_fails "a missing artifact path" "$STORE" exp1/run42/artifacts/nope RF
register_fails "a missing run" "$STORE" exp1/nosuch/artifacts RF
register_fails "a missing experiment" "$STORE" nosuch/run42/artifacts RF
register_fails "a run, not its artifacts" "$STORE" exp1/run42 RF
register_fails "params, not artifacts" "$STORE" exp1/run42/params RF
register_fails "a model name starting with ." "$STORE" exp1/run42/artifacts .RF
register_fails "a version as the source" "$STORE" models/RF/1/artifacts RF
register_fails "not a store" "$T_WORK/nostore" exp1/run42/artifacts RF
check_eq "no refused register made a version" "1 2 3 4 aliases" "$(names "$M/RF")"
link_is "and latest is still 4" "$M/RF/aliases/latest" "../4"

section "concurrent versions"
pids=()
for i in $(seq 8); do
	t "$MLFS" register "$STORE" exp1/run42/artifacts CC >"$T_WORK/cc.$i" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
check_eq "8 concurrent registers get 8 distinct numbers, no gaps" "$(seq 8 | tr '\n' ' ')" \
	"$(cat "$T_WORK"/cc.* | sort -n | tr '\n' ' ')"
within_a_second "all 8 show in the mount" test -d "$M/CC/8"
check_eq "models/CC" "1 2 3 4 5 6 7 8 aliases" "$(names "$M/CC")"
link_is "latest is 8" "$M/CC/aliases/latest" "../8"

# 8 processes race mkdir of every number 1..12 in turn: each number is made
# by exactly one of them.
t mkdir "$M/RACE"
racer() {
	local n
	for n in $(seq 12); do
		if mkdir "$M/RACE/$n" 2>/dev/null; then echo "$n"; fi
	done
}
pids=()
for i in $(seq 8); do
	racer >"$T_WORK/race.$i" &
	pids+=($!)
done
wait "${pids[@]}"
check_eq "racing mkdirs make each number once" "$(seq 12 | tr '\n' ' ')" \
	"$(cat "$T_WORK"/race.* | sort -n | tr '\n' ' ')"
check_eq "models/RACE" "$(seq 12 | LC_ALL=C sort | tr '\n' ' ')aliases" "$(names "$M/RACE")"

# Registers and mkdirs mixed: 4 processes register 3 versions each while 4
# make 3 each by mkdir; together 1..24, each once.
t mkdir "$M/MIX"
mkdirer() {
	local n=1 made=0
	while [ $made -lt 3 ] && [ $n -le 100 ]; do
		if mkdir "$M/MIX/$n" 2>/dev/null; then
			echo "$n"
			made=$((made + 1))
		fi
		n=$((n + 1))
	done
}
registerer() {
	local k
	for k in 1 2 3; do "$MLFS" register "$STORE" exp1/run42/artifacts/sub MIX 2>&1; done
}
pids=()
for i in 1 2 3 4; do
	mkdirer >"$T_WORK/mix.m$i" &
	pids+=($!)
	registerer >"$T_WORK/mix.r$i" &
	pids+=($!)
done
wait "${pids[@]}"
check_eq "mixed registers and mkdirs: 1..24, each once" "$(seq 24 | tr '\n' ' ')" \
	"$(cat "$T_WORK"/mix.* | sort -n | tr '\n' ' ')"
within_a_second "all 24 show in the mount" test -d "$M/MIX/24"
link_is "latest is 24" "$M/MIX/aliases/latest" "../24"

section "the errors file"
# (before the remount: the daemon keeps its refusals in memory)
bad=$(t cat "$ERRORS" | grep -vE "^$ISO [^ ].*: .+" | head -n 3)
check_eq "every line of .mlfs/errors is '<time> <path>: <sentence>'" "" "$bad"

section "after a remount"
paths="models models/DT models/DT/1 models/DT/3 models/DT/3/artifacts/model.pkl models/DT/aliases
	models/RF/1 models/RF/1/artifacts/sub/features.csv models/DT/aliases/champion models/CC/8"
declare -A ino
for p in $paths; do ino[$p]=$(ino_of "$MNT/$p"); done
remount
for p in $paths; do
	check_eq "inode of $p is the same after a remount" "${ino[$p]}" "$(ino_of "$MNT/$p")"
done
stages=
for n in 1 2 3 4 5; do
	slurp "$DT/$n/stage"
	stages+="$n:${REPLY%$'\n'} "
done
check_eq "every version's stage after a remount" "1:None 2:Archived 3:Production 4:None 5:Staging " "$stages"
link_is "Production after a remount" "$DT/Production" "3"
link_is "Staging after a remount" "$DT/Staging" "5"
link_is "champion after a remount" "$DT/aliases/champion" "../1"
link_is "latest after a remount" "$DT/aliases/latest" "../7"
check_eq "aliases after a remount" "Best_model-2 champion latest" "$(names "$DT/aliases")"
slurp "$DT/1/source"
check_eq "source after a remount" $'exp1/run42\n' "$REPLY"
slurp "$M/RF/1/source"
check_eq "a registered version's source after a remount" $'exp1/run42\n' "$REPLY"
check "Production serves the file after a remount" cmp -s "$SCRATCH/model.pkl" "$DT/Production/artifacts/model.pkl"
check "a registered file after a remount" cmp -s "$SCRATCH/model.pkl" "$M/RF/1/artifacts/model.pkl"
expect_errno EROFS write "$DT/2/artifacts/new.txt" "x"
expect_errno EROFS write "$DT/4/artifacts/new.txt" "x"
expect_errno EROFS unlink "$DT/3/artifacts/model.pkl"
expect_errno EROFS write "$DT/3/artifacts/model.pkl" "x"
expect_errno EINVAL mkdir "$DT/9"
check "the next number after a remount is 8" t mkdir "$DT/8"
link_is "latest follows it" "$DT/aliases/latest" "../8"
out=$(t "$MLFS" register "$STORE" exp1/run42/artifacts RF 2>/dev/null)
check_eq "register after a remount" "5" "$out"

