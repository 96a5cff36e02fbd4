#!/usr/bin/env bash
# t_crash.sh - kill -9 of the daemon under 8 writers loses nothing that was
# acknowledged.
#
# Each cycle starts 8 writers at once - 3 in C (crash_writer.c), 3 in
# Python (crash_writer.py), 2 in bash (below) - that append points to their
# own metric and to one shared metric, create runs with a param, and copy
# artifacts of random content (0 to 4 MiB, some written again), each logging
# to a file outside the mount what the mount acknowledged.  At a random
# moment the daemon gets SIGKILL; the writers fail (ENOTCONN) and stop.
# `mlfs fsck` checks the store the daemon left, the store is mounted again,
# and crash_check.py checks the logs of this and every earlier cycle against
# it: every acknowledged point once and in order, at most one extra per
# writer, no torn line, every acknowledged file byte-exact (a file being
# written is old or new, never a mix), every acknowledged run and param.
#
#   MLFS_CRASH_CYCLES=N     cycles (default 3; make soak runs 20)
#   MLFS_CRASH_SEED=S       the seed of the writers and of the kill times
#                           (default: from the clock; printed)
. "$(dirname "$0")/lib.sh"

CYCLES=${MLFS_CRASH_CYCLES:-3}
SEED=${MLFS_CRASH_SEED:-$(($(date +%s%N) % 1000000007))}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
CW=$MLFS_HELPERS/crash_writer
ACKS=$T_WORK/acks
mkdir -p "$ACKS"
for need in "$CW" "$HERE/crash_writer.py" "$HERE/crash_check.py"; do
	if [ ! -e "$need" ]; then
		fail "$need is missing (make helpers)"
		exit 1
	fi
done
RANDOM=$SEED
echo "t_crash.sh: seed $SEED, $CYCLES cycles (rerun with MLFS_CRASH_SEED=$SEED)"

# The bash writer: the same work and log lines as crash_writer.c, with echo >>,
# mkdir and cp; each call's success is acknowledged after it returned.
# shellcheck disable=SC2016
BASH_WRITER='
id=$1 run=$2 exp=$3 log=$4 scratch=$5
RANDOM=$6
mnt=${exp%/*}
TS0=1700000000000
ack() { echo "$*" >>"$log" || exit 1; }
own=$run/metrics/w$id shared=$run/metrics/shared adir=$run/artifacts/w$id
ack W "$id" "${run#"$mnt"/}" "${exp#"$mnt"/}"
mkdir -p "$adir" || exit 3
step=0 sstep=0 nfiles=0 nruns=0
while :; do
	r=$((RANDOM % 100))
	if ((r < 55)); then
		echo "$((TS0 + step)) $step.5 $step" >>"$own" || exit 3
		ack P "${own#"$mnt"/}" "$step"
		step=$((step + 1))
	elif ((r < 75)); then
		s=$((id * 1000000 + sstep))
		echo "$((TS0 + s)) $s.5 $s" >>"$shared" || exit 3
		ack P "${shared#"$mnt"/}" "$s"
		sstep=$((sstep + 1))
	elif ((r < 85)); then
		d=$exp/w$id-r$nruns
		mkdir "$d" || exit 3
		ack R "${d#"$mnt"/}"
		echo "$nruns" >"$d/params/k" || exit 3
		ack V "${d#"$mnt"/}/params/k" "$nruns"
		nruns=$((nruns + 1))
	else
		if ((nfiles > 0 && RANDOM % 4 == 0)); then
			k=$((RANDOM % nfiles))
		else
			k=$nfiles
			nfiles=$((nfiles + 1))
		fi
		x=$((RANDOM % 100)) big=$(((RANDOM << 15 | RANDOM) % 4194304))
		if ((x < 10)); then size=0
		elif ((x < 40)); then size=$((big % 4096))
		elif ((x < 80)); then size=$((big % 524288))
		else size=$big; fi
		head -c "$size" /dev/urandom >"$scratch/w$id.src" || exit 1
		h=$(sha256sum <"$scratch/w$id.src") || exit 1
		f=$adir/f$k
		ack T "${f#"$mnt"/}" "$size" "${h%% *}"
		cp "$scratch/w$id.src" "$f" || exit 3
		ack F "${f#"$mnt"/}" "$size" "${h%% *}"
	fi
done'

# Run mlfs fsck on the store (no daemon serving it); it must exist and
# find nothing wrong.  $1 says which store state this is.
fsck_store() {
	local out rc
	out=$(timeout -k 5 120 "$MLFS" fsck "$STORE" 2>&1)
	rc=$?
	if [[ $out == *"is not a command"* ]]; then
		fail "mlfs fsck is missing (\`mlfs fsck STORE\` answered: $out), so $1 could not be checked"
	elif [ "$rc" != 0 ]; then
		fail "mlfs fsck of $1 exited $rc:"$'\n'"$(head -n 30 <<<"$out")"
	else
		pass
	fi
}

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

LAST= DONE=0
for ((c = 1; c <= CYCLES; c++)); do
	section "cycle $c"
	exp=$MNT/cyc$c
	run=$exp/main
	if ! t mkdir -p "$run/artifacts"; then
		fail "mkdir -p cyc$c/main/artifacts"
		_t_show_log
		break
	fi
	pids=()
	for id in 1 2 3 4 5 6 7 8; do
		log=$ACKS/c$c-w$id.log
		seed=$((SEED + c * 100 + id))
		err=$ACKS/c$c-w$id.err
		case $id in
		1 | 2 | 3) "$CW" "$id" "$run" "$exp" "$log" "$SCRATCH" "$seed" 2>"$err" & ;;
		4 | 5 | 6) "$PY" "$HERE/crash_writer.py" "$id" "$run" "$exp" "$log" "$seed" 2>"$err" & ;;
		*) bash -c "$BASH_WRITER" bash "$id" "$run" "$exp" "$log" "$SCRATCH" "$seed" 2>"$err" & ;;
		esac
		pids+=($!)
	done
	# The moment of the kill: 0.5 to 4 s after the writers started.
	ms=$((500 + RANDOM % 3500))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	early=
	for i in "${!pids[@]}"; do
		alive "${pids[$i]}" || early+=" w$((i + 1)): $(tail -n 2 "$ACKS/c$c-w$((i + 1)).err")"
	done
	pid=$(daemon_pid)
	echo "t_crash.sh: cycle $c: kill -9 of the daemon (pid $pid) after $ms ms"
	echo "=== t_crash.sh: cycle $c: kill -9 after $ms ms" >>"$LOG"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	check_eq "no writer stopped before the kill" "" "$early"
	# The writers' next call fails; give them 20 s, then stop them.
	for ((i = 0; i < 200; i++)); do
		left=0
		for p in "${pids[@]}"; do alive "$p" && left=$((left + 1)); done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	if [ "$left" != 0 ]; then
		fail "$left writers were still running 20 s after the kill (stopped now)"
		for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	fi
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done

	fsck_store "the store left by the kill of cycle $c"
	crash_remount

	# This cycle's files are read whole; the earlier cycles' only checked for size
	# (all are read again at the end).
	earlier=()
	for ((e = 1; e < c; e++)); do earlier+=("$ACKS"/c$e-w*.log); done
	out=$(timeout -k 5 300 "$PY" "$HERE/crash_check.py" "$MNT" "$ACKS"/c$c-w*.log \
		--light "${earlier[@]}" 2>&1)
	rc=$?
	LAST=$(tail -n 1 <<<"$out")
	echo "t_crash.sh: cycle $c: $LAST"
	DONE=$c
	if [ "$rc" = 0 ]; then
		pass
	else
		fail "after the crash of cycle $c (kill after $ms ms, seed $SEED):"$'\n'"$out"
		_t_show_log
	fi
	pid=$(daemon_pid)
	if ! alive "$pid"; then
		# stop_daemon reports its exit status below.
		fail "the daemon (pid $pid) died while cycle $c was being checked (seed $SEED)"
		_t_show_log
		break
	fi
done

section "after a clean remount"
remount
out=$(timeout -k 5 600 "$PY" "$HERE/crash_check.py" "$MNT" "$ACKS"/c*-w*.log 2>&1)
rc=$?
LAST=$(tail -n 1 <<<"$out")
echo "t_crash.sh: every cycle after a clean remount: $LAST"
check_eq "every cycle still checks out after a clean remount" 0 "$rc"
[ "$rc" = 0 ] || echo "$out" >&2
# The figures: the last check read every file of every cycle.
if [[ $LAST =~ ([0-9]+)\ points,\ ([0-9]+)\ files\ \(([0-9]+)\ bytes\),\ ([0-9]+)\ runs,\ ([0-9]+)\ params ]]; then
	echo "t_crash.sh: figures: cycles $DONE of $CYCLES, points ${BASH_REMATCH[1]}, files ${BASH_REMATCH[2]} (${BASH_REMATCH[3]} bytes), runs ${BASH_REMATCH[4]}, params ${BASH_REMATCH[5]}"
fi
stop_daemon
fsck_store "the store after a clean unmount"
