#!/usr/bin/env bash
# appender.sh FILE N OUT [WAIT] - one bash writer of the bench: appends N
# points to FILE with `echo V >> FILE`, the way a shell user logs a metric,
# and writes the latency of each append in microseconds to OUT, one a line.
# With WAIT, it first waits until the file WAIT exists, so that several
# writers start together.
set -u
LC_ALL=C
file=$1 n=$2 out=$3
if [ $# -ge 4 ]; then
	while [ ! -e "$4" ]; do sleep 0.001; done
fi
lat=()
for ((i = 0; i < n; i++)); do
	t0=${EPOCHREALTIME/./}
	echo "0.$RANDOM" >>"$file"
	t1=${EPOCHREALTIME/./}
	lat+=($((t1 - t0)))
done
printf '%s\n' "${lat[@]}" >"$out"
