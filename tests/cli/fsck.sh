# mlfs fsck of sound stores: a fresh one, one with runs, params, metrics and a
# run in the trash; and the refusals.
"$MLFS" init store >/dev/null
echo "--- a fresh store"
"$MLFS" fsck store
echo "exit: $?"
"$MLFS" mkrun store exp1/run1 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp1/run2 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" log store exp1/run1 param lr 0.01
"$MLFS" log store exp1/run1 tag owner alice
for i in $(seq 1 300); do echo "$i.5"; done >points
while read -r p; do "$MLFS" log store exp1/run1 metric train/loss "$p"; done <points
"$MLFS" rm store exp1/run2
echo "--- runs, params, tags, 300 points, a run in the trash"
"$MLFS" fsck store
echo "exit: $?"
echo "--- refusals"
"$MLFS" fsck nostore 2>&1
echo "exit: $?"
"$MLFS" fsck 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" fsck store extra 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
echo "--- help"
"$MLFS" fsck --help
echo "exit: $?"
