# mlfs gc on a store without a mount: nothing to free in a fresh store, the
# trash purged by age and for good, --dry-run, and the refusals (an age it
# cannot read, --older-than without --purge, a second store, no store).
"$MLFS" init store >/dev/null
echo "--- a fresh store"
"$MLFS" gc store
echo "exit: $?"
"$MLFS" mkrun store exp1/keep | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp1/old | grep -cE '^[0-9a-f]{32}$'
"$MLFS" mkrun store exp2/all | grep -cE '^[0-9a-f]{32}$'
"$MLFS" log store exp1/old metric loss 0.5
"$MLFS" rm store exp1/old
"$MLFS" rm store exp2
echo "--- --purge --older-than 1h: both were deleted just now"
"$MLFS" gc store --purge --older-than 1h
echo "exit: $?"
echo "--- --purge --dry-run"
"$MLFS" gc --dry-run --purge store
echo "exit: $?"
"$MLFS" ls store
echo "--- --purge"
"$MLFS" gc --purge store
echo "exit: $?"
"$MLFS" ls store
"$MLFS" mkrun store exp1/old | grep -cE '^[0-9a-f]{32}$'
echo "--- --purge again: the trash is empty"
"$MLFS" gc --purge --older-than=0s store
echo "exit: $?"
echo "--- refusals"
"$MLFS" gc --purge --older-than 2w store 2>&1
echo "exit: $?"
"$MLFS" gc --purge --older-than 1.5h store 2>&1
echo "exit: $?"
"$MLFS" gc --older-than 1d store 2>&1
echo "exit: $?"
"$MLFS" gc store store 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" gc --force store 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" gc 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" gc nostore 2>&1
echo "exit: $?"
echo "--- help"
"$MLFS" gc --help
echo "exit: $?"
