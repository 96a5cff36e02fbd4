# mlfs stats of a store without artifacts: experiments and runs, live and in
# the trash, metric points; ratios are "-" with no chunk.
"$MLFS" init store >/dev/null
echo "--- a fresh store"
"$MLFS" stats store
echo "exit: $?"
"$MLFS" mkrun store exp1/run1 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp1/run2 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp2/run3 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp3/run4 | grep -cE '^[0-9a-f]{32}$'
"$MLFS" log store exp1/run1 metric acc 0.5
"$MLFS" log store exp1/run1 metric acc 0.6
"$MLFS" log store exp1/run2 metric loss 3
"$MLFS" rm store exp1/run2
"$MLFS" rm store exp3
echo "--- 3 experiments (1 deleted), 4 runs (2 deleted: run2, and run4 with exp3), 3 points"
"$MLFS" stats store
echo "exit: $?"
echo "--- refusals"
"$MLFS" stats nostore 2>&1
echo "exit: $?"
"$MLFS" stats 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
echo "--- help"
"$MLFS" stats --help
echo "exit: $?"
