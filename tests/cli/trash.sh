# mlfs rm and mlfs restore without a mount: a run or an experiment goes to
# the trash and comes back; mlfs ls leaves what is in the trash out; a
# deleted name stays taken; the refusals print a sentence and exit 1, a
# wrong number of arguments prints the usage and exits 2.
set -e
"$MLFS" init store >/dev/null
"$MLFS" mkrun store exp1/run1 >/dev/null
"$MLFS" mkrun store exp1/run2 >/dev/null
"$MLFS" mkrun store exp2/only >/dev/null
"$MLFS" log store exp1/run1 param lr 0.01
"$MLFS" log store exp1/run1 metric acc 0.9
set +e
times() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/YYYY-MM-DD hh:mm:ss/g'; }
echo "--- mlfs rm store exp1/run1"
"$MLFS" rm store exp1/run1 2>&1
echo "exit: $?"
"$MLFS" ls store exp1 | times
echo "--- the name stays taken"
"$MLFS" mkrun store exp1/run1 2>&1
echo "exit: $?"
echo "--- a deleted run takes no logging (the tree has no exp1/run1)"
"$MLFS" log store exp1/run1 param other 1 >/dev/null 2>err
echo "exit: $?"
grep -q '^mlfs: .' err && echo "with a sentence"
echo "--- rm again"
"$MLFS" rm store exp1/run1 2>&1
echo "exit: $?"
echo "--- mlfs restore store exp1/run1"
"$MLFS" restore store exp1/run1 2>&1
echo "exit: $?"
"$MLFS" ls store exp1 | times
echo "--- restore again"
"$MLFS" restore store exp1/run1 2>&1
echo "exit: $?"
echo "--- mlfs rm store exp2"
"$MLFS" rm store exp2 2>&1
echo "exit: $?"
"$MLFS" ls store
echo "--- the name stays taken"
"$MLFS" mkrun store exp2/new 2>&1
echo "exit: $?"
echo "--- a run of a deleted experiment is not there to delete"
"$MLFS" rm store exp2/only >/dev/null 2>err
echo "exit: $?"
grep -q '^mlfs: .' err && echo "with a sentence"
echo "--- mlfs restore store exp2"
"$MLFS" restore store exp2 2>&1
echo "exit: $?"
"$MLFS" ls store
"$MLFS" ls store exp2 | times
echo "--- an experiment with a deleted run, deleted and restored"
"$MLFS" rm store exp1/run2 2>&1
"$MLFS" rm store exp1 2>&1
"$MLFS" restore store exp1 2>&1
echo "exit: $?"
"$MLFS" ls store exp1 | times
"$MLFS" restore store exp1/run2 2>&1
echo "exit: $?"
"$MLFS" ls store exp1 | times
echo "--- refusals"
for what in nosuch exp1/nosuch nosuch/run1 models .trash; do
	"$MLFS" rm store "$what" 2>&1
	echo "exit: $?"
	"$MLFS" restore store "$what" 2>&1
	echo "exit: $?"
done
echo "--- not a store"
mkdir notastore
"$MLFS" rm notastore exp1 2>&1
echo "exit: $?"
echo "--- wrong arguments"
"$MLFS" rm store 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" rm store exp1/run1/params 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" restore store exp1 extra 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
echo "--- help"
"$MLFS" rm --help | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" restore --help | head -n 1
echo "exit: ${PIPESTATUS[0]}"
