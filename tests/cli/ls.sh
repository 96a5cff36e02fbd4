# mlfs ls of a store with an experiment and two runs, logged without a mount:
# the experiments, then the runs as a table with params and latest metrics.
# Start times are replaced by a fixed string of the same width.
set -e
"$MLFS" init store >/dev/null
"$MLFS" mkrun store exp1/run1 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" log store exp1/run1 param lr 0.01
"$MLFS" log store exp1/run1 metric acc 0.9
"$MLFS" log store exp1/run1 metric acc 0.93
"$MLFS" mkrun store exp1/run2 >/dev/null
"$MLFS" log store exp1/run2 param lr 0.02
"$MLFS" log store exp1/run2 param batch 64
"$MLFS" log store exp1/run2 metric acc 0.5
"$MLFS" log store exp1/run2 metric train/loss 1e-5
"$MLFS" mkrun store exp2/only >/dev/null
set +e
echo "--- mlfs ls store"
"$MLFS" ls store
echo "exit: $?"
echo "--- mlfs ls store exp1"
"$MLFS" ls store exp1 | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/YYYY-MM-DD hh:mm:ss/g'
echo "exit: ${PIPESTATUS[0]}"
echo "--- mlfs ls store exp2"
"$MLFS" ls store exp2 | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/YYYY-MM-DD hh:mm:ss/g'
echo "exit: ${PIPESTATUS[0]}"
echo "--- an experiment that does not exist"
"$MLFS" ls store nosuch 2>&1
echo "exit: $?"
