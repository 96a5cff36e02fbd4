# lib.sh - sourced by every bash mount test (tests/mount/t_*.sh).
#
# Sourcing it makes a work directory under /tmp with a fresh store ($STORE),
# a mount point ($MNT) and the daemon's log ($LOG), starts
# `$MLFS mount -f $STORE $MNT` in the background, and waits at most 10 s for
# the mount to answer.  An EXIT trap always unmounts, stops only the daemon
# this file started (TERM, then KILL after a grace period), checks that it
# exited cleanly and that no sanitizer complained in its log, removes the work
# directory and prints the file's summary line
#
#     t_name.sh: N passed, N failed
#
# The exit status is 0 only when something passed and nothing failed.
#
# Environment:
#   MLFS          the mlfs binary (default: build/mlfs of this checkout)
#   MLFS_HELPERS  where the C helpers of tests/mount were built
#                 (default: the tests/ directory next to $MLFS)
#   MLFS_TEST_TMP where work directories go (default /tmp); run-tests.sh
#                 points it at one directory per run, so that it can clean
#                 up after a test that was killed before its trap ran.
#   MLFS_MOUNT_OPTS  if set, passed to every mount as `-o MLFS_MOUNT_OPTS`
#                 (t_perms.sh: allow_other,default_permissions); set it
#                 before sourcing, or between stop_daemon and start_daemon.
#
# Helpers, for the tests:
#   pass DESC / fail DESC          count one case
#   check DESC CMD...              passes when CMD exits 0
#   check_eq DESC EXPECTED ACTUAL  compares two strings, shows both if they differ
#   check_match DESC REGEX ACTUAL  ERE match, shows both if it does not match
#   expect_errno ERRNO OP ARGS...  runs `errno_of OP ARGS...` (see errno_of.c)
#                                  and expects its answer (OK or an errno name)
#   expect_errno_in "E1 E2" OP ARGS...  the same, accepting any of several
#   errno_of OP ARGS...            prints the outcome word, under a time limit
#   t OP...                        runs a command under the per-operation limit
#   remount                        clean unmount, wait for the daemon, mount again
#   crash_remount                  kill -9 the daemon, detach the mount, mount again
#   stop_daemon / start_daemon     the two halves of remount
#   daemon_pid                     the running daemon's pid
#   section NAME                   labels the failures that follow
#   slurp FILE                     sets REPLY to FILE's exact bytes (trailing
#                                  newlines kept); status 1 if it cannot be read
#   now_ms                         milliseconds since the epoch
#   repeat_char N C                C repeated N times (N bytes for ASCII C)
#   size_of FILE / ino_of FILE     st_size and st_ino, under the time limit
#   check_size FILE                st_size equals the number of bytes read
#   ERRORS / lines_about REL       $MNT/.mlfs/errors; its lines about path REL
#                                  (exactly "<ISO time> REL: ...")
#   refused ERRNO REL OP ARGS...   OP fails with ERRNO and one more line about
#                                  REL with a sentence appears in .mlfs/errors;
#                                  sets LINE to that line
#   hold_gc_lock / let_go          take STORE/gc.lock exclusively in the
#                                  background, as `mlfs gc` does (every chunk
#                                  put of the daemon then waits), and give it back
#   within_a_second DESC CMD...    passes as soon as CMD succeeds, polling for
#                                  1.5 s (the promise is "within a second"; the
#                                  margin is for a loaded machine)

set -u

T_NAME=$(basename "$0")
T_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MLFS=${MLFS:-$T_REPO/build/mlfs}
case $MLFS in /*) ;; *) MLFS=$PWD/$MLFS ;; esac
MLFS_HELPERS=${MLFS_HELPERS:-$(dirname "$MLFS")/tests}
T_OP=${T_OP:-60}          # seconds any single operation on the mount may take
T_READY=10                # seconds the daemon has to answer after it starts
T_GRACE=10                # seconds it has to exit after its mount is gone

T_PASSED=0
T_FAILED=0
T_SECTION=
T_DAEMON=
T_DAEMON_KILLED=0
T_WORK=

pass() { T_PASSED=$((T_PASSED + 1)); }

fail() {
	T_FAILED=$((T_FAILED + 1))
	printf '%s: FAIL%s: %s\n' "$T_NAME" "${T_SECTION:+ [$T_SECTION]}" "$*" >&2
}

section() { T_SECTION=$*; }

check() {
	local desc=$1
	shift
	if "$@"; then pass; else fail "$desc (command failed: $(_t_args "$@"))"; fi
}

check_eq() {
	if [ "$2" = "$3" ]; then
		pass
	elif [ ${#2} -gt 200 ] || [ ${#3} -gt 200 ]; then
		fail "$1: expected (-) and got (+) differ:"$'\n'"$(diff -u \
			<(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3 | head -n 20)"
	else
		fail "$1: expected [$(printf '%q' "$2")], got [$(printf '%q' "$3")]"
	fi
}

check_match() {
	if [[ $3 =~ $2 ]]; then
		pass
	else
		fail "$1: expected a match of /$2/, got [$(printf '%q' "$3")]"
	fi
}

t() { timeout -k 5 "$T_OP" "$@"; }

errno_of() { timeout -k 5 "$T_OP" "$MLFS_HELPERS/errno_of" "$@" 2>/dev/null || echo "TIMEOUT-OR-CRASH"; }

# The arguments of a failed case, readable: paths relative to MNT, long
# words abbreviated.
_t_args() {
	local a out=
	for a in "$@"; do
		a=${a//"$MNT"/MNT}
		if [ ${#a} -gt 60 ]; then
			a="${a:0:24}...(${#a} chars)"
		fi
		out+="$(printf '%q' "$a") "
	done
	printf '%s' "$out"
}

expect_errno() {
	local want=$1 got
	shift
	got=$(errno_of "$@")
	if [ "$got" = "$want" ]; then
		pass
	else
		fail "$(_t_args "$@")-> expected $want, got $got"
	fi
}

expect_errno_in() {
	local want=$1 got w
	shift
	got=$(errno_of "$@")
	for w in $want; do
		if [ "$got" = "$w" ]; then
			pass
			return
		fi
	done
	fail "$(_t_args "$@")-> expected one of [$want], got $got"
}

slurp() {
	REPLY=$(t cat -- "$1" && printf '<EOF>')
	case $REPLY in
	*'<EOF>') REPLY=${REPLY%'<EOF>'} ;;
	*)
		REPLY=
		return 1
		;;
	esac
}

now_ms() { date +%s%3N; }

repeat_char() {
	local s
	printf -v s '%*s' "$1" ''
	printf '%s' "${s// /$2}"
}

size_of() { t stat -c %s -- "$1" 2>/dev/null || echo "(stat failed)"; }
ino_of() { t stat -c %i -- "$1" 2>/dev/null || echo "(stat failed)"; }

check_size() {
	local n
	n=$(t cat -- "$1" | wc -c)
	check_eq "st_size of ${1#"$MNT"/} equals the bytes read" "$n" "$(size_of "$1")"
}

ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?'

lines_about() {
	t cat "$ERRORS" | awk -v p="$1: " '{ i = index($0, " " p); if (i > 0 && i == index($0, " ")) print }'
}

refused() {
	local want=$1 rel=$2 before after
	shift 2
	LINE=
	before=$(lines_about "$rel" | wc -l)
	expect_errno "$want" "$@"
	after=$(lines_about "$rel" | wc -l)
	if [ "$after" -gt "$before" ]; then
		pass
	else
		fail "no line about $rel was added to .mlfs/errors after $(_t_args "$@")"
		return
	fi
	LINE=$(lines_about "$rel" | tail -n 1)
	check_match "the line about $rel has a sentence" "^$ISO [^ ].*: .{8,}" "$LINE"
}

hold_gc_lock() {
	local i
	rm -f "$SCRATCH/locked" "$SCRATCH/let-go"
	flock -x "$STORE/gc.lock" -c "touch '$SCRATCH/locked'; \
		while [ ! -e '$SCRATCH/let-go' ]; do sleep 0.05; done" &
	HOLDER=$!
	for ((i = 0; i < 200; i++)); do
		[ -e "$SCRATCH/locked" ] && return 0
		sleep 0.05
	done
	fail "could not take $STORE/gc.lock"
	return 1
}

let_go() {
	touch "$SCRATCH/let-go"
	wait "$HOLDER"
}

within_a_second() {
	local desc=$1 i
	shift
	for i in $(seq 15); do
		if "$@" >/dev/null 2>&1; then
			pass
			return
		fi
		sleep 0.1
	done
	fail "$desc (not true after 1.5 s)"
}

# A process is gone once /proc has no entry or only a zombie's.
_t_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}

_t_mounted() { awk -v m="$MNT" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

_t_show_log() {
	echo "--- daemon log ($LOG), last 40 lines ---" >&2
	tail -n 40 "$LOG" >&2 2>/dev/null
	echo "--- end of log ---" >&2
}

daemon_pid() { echo "$T_DAEMON"; }

start_daemon() {
	local i
	local opts=()
	[ -n "${MLFS_MOUNT_OPTS:-}" ] && opts=(-o "$MLFS_MOUNT_OPTS")
	echo "=== $(date +%T.%N) $MLFS mount -f ${opts[*]} $STORE $MNT" >>"$LOG"
	"$MLFS" mount -f "${opts[@]}" "$STORE" "$MNT" >>"$LOG" 2>&1 &
	T_DAEMON=$!
	T_DAEMON_KILLED=0
	echo "$T_DAEMON" >"$T_WORK/daemon.pid"
	for ((i = 0; i < T_READY * 20; i++)); do
		if ! _t_alive "$T_DAEMON"; then
			wait "$T_DAEMON"
			fail "the daemon exited with status $? before its mount was ready"
			_t_show_log
			T_DAEMON=
			exit 1
		fi
		if timeout -k 1 2 stat "$MNT/.mlfs" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	fail "the mount was not ready within ${T_READY} s ($MNT/.mlfs did not answer stat)"
	_t_show_log
	exit 1
}

# Unmount and wait for the daemon; returns 1 (after counting a failure) when
# it had to be killed or exited with a status other than 0.
stop_daemon() {
	local pid=$T_DAEMON i status ok=0
	if _t_mounted; then
		if ! timeout -k 1 10 fusermount3 -u "$MNT" 2>>"$LOG"; then
			echo "=== plain unmount failed, detaching lazily" >>"$LOG"
			timeout -k 1 10 fusermount3 -uz "$MNT" 2>>"$LOG"
		fi
	fi
	[ -n "$pid" ] || return 0
	for ((i = 0; i < T_GRACE * 20; i++)); do
		_t_alive "$pid" || break
		sleep 0.05
	done
	if _t_alive "$pid"; then
		fail "the daemon (pid $pid) was still running ${T_GRACE} s after its unmount; killing it"
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			_t_alive "$pid" || break
			sleep 0.05
		done
		_t_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		T_DAEMON_KILLED=1
		ok=1
	fi
	wait "$pid" 2>/dev/null
	status=$?
	if [ "$T_DAEMON_KILLED" = 0 ] && [ "$status" != 0 ]; then
		fail "the daemon exited with status $status after its unmount"
		_t_show_log
		ok=1
	fi
	T_DAEMON=
	rm -f "$T_WORK/daemon.pid"
	return $ok
}

remount() {
	stop_daemon
	start_daemon
}

# Simulate a crash: SIGKILL at whatever moment this is, then mount again.
crash_remount() {
	local pid=$T_DAEMON
	[ -n "$pid" ] && _t_alive "$pid" && kill -KILL "$pid"
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	T_DAEMON=
	timeout -k 1 10 fusermount3 -uz "$MNT" 2>>"$LOG"
	echo "=== daemon killed with SIGKILL" >>"$LOG"
	start_daemon
}

_t_cleanup() {
	local rc=$? bad
	trap - EXIT INT TERM HUP
	if [ -n "$T_DAEMON" ] || _t_mounted 2>/dev/null; then
		stop_daemon
	fi
	if [ -f "$LOG" ]; then
		bad=$(grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL' "$LOG" | head -n 5)
		if [ -n "$bad" ]; then
			fail "the sanitizer reported errors in the daemon's log: $bad"
			_t_show_log
		fi
	fi
	if [ -n "$T_WORK" ] && [ -d "$T_WORK" ]; then
		if _t_mounted; then
			fail "$MNT is still mounted; leaving $T_WORK in place"
		else
			rm -rf "$T_WORK"
		fi
	fi
	if [ "$rc" != 0 ] && [ "$T_FAILED" = 0 ]; then
		fail "the test script exited with status $rc"
	fi
	echo "$T_NAME: $T_PASSED passed, $T_FAILED failed"
	if [ "$T_FAILED" = 0 ] && [ "$T_PASSED" -gt 0 ]; then
		exit 0
	fi
	exit 1
}

_t_signal() {
	fail "interrupted by signal $1 (time limit?)"
	exit 1
}

trap _t_cleanup EXIT
trap '_t_signal TERM' TERM
trap '_t_signal INT' INT
trap '_t_signal HUP' HUP

for _t_need in "$MLFS" "$MLFS_HELPERS/errno_of"; do
	if [ ! -x "$_t_need" ]; then
		fail "$_t_need is missing or not executable: build it first (make; make test builds the helpers)"
		exit 1
	fi
done
if [ ! -c /dev/fuse ]; then
	fail "/dev/fuse is missing: this machine cannot run FUSE mounts"
	exit 1
fi

T_WORK=$(mktemp -d "${MLFS_TEST_TMP:-/tmp}/mlfs-${T_NAME%.sh}.XXXXXX") || {
	fail "cannot make a work directory under ${MLFS_TEST_TMP:-/tmp}"
	exit 1
}
STORE=$T_WORK/store
MNT=$T_WORK/mnt
ERRORS=$MNT/.mlfs/errors
LOG=$T_WORK/daemon.log
SCRATCH=$T_WORK/scratch
mkdir -p "$MNT" "$SCRATCH"
: >"$LOG"

if ! "$MLFS" init "$STORE" >>"$LOG" 2>&1; then
	fail "mlfs init $STORE failed"
	_t_show_log
	exit 1
fi
start_daemon
