# mlfs register without a mount: each call prints the next version of the
# model (registering the model when it is new), with the store given or
# taken from $MLFS_STORE; the refusals print a sentence and exit 1, a wrong
# number of arguments prints the usage and exits 2.
set -e
"$MLFS" init store >/dev/null
"$MLFS" mkrun store exp1/run1 >/dev/null
"$MLFS" mkrun store exp1/run2 >/dev/null
"$MLFS" log store exp1/run1 param lr 0.01
set +e
echo "--- the first register makes the model and version 1"
"$MLFS" register store exp1/run1/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- then 2, from another run"
"$MLFS" register store exp1/run2/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- the store from \$MLFS_STORE"
MLFS_STORE=store "$MLFS" register exp1/run1/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- another model counts from 1"
MLFS_STORE=$PWD/store "$MLFS" register exp1/run2/artifacts/ Forest 2>&1
echo "exit: $?"
echo "--- a missing artifact path"
"$MLFS" register store exp1/run1/artifacts/model.pkl DecisionTree 2>&1
echo "exit: $?"
echo "--- a missing run"
"$MLFS" register store exp1/nosuch/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- a missing experiment"
"$MLFS" register store nosuch/run1/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- a run, not its artifacts"
"$MLFS" register store exp1/run1 DecisionTree 2>&1
echo "exit: $?"
echo "--- a param, not an artifact"
"$MLFS" register store exp1/run1/params/lr DecisionTree 2>&1
echo "exit: $?"
echo "--- a model version's artifacts"
"$MLFS" register store models/DecisionTree/1/artifacts DecisionTree 2>&1
echo "exit: $?"
# A refused name: the sentence names the model name it refuses (the long
# one shortened here), not the artifact path.
echo "--- a model name starting with a dot"
"$MLFS" register store exp1/run1/artifacts .hidden >out 2>err
echo "exit: $?"
cat err
grep -q "\.hidden" err && echo "names the model: yes" || echo "names the model: no"
echo "--- a model name of 256 bytes"
long=$(printf '%0256d' 0)
"$MLFS" register store exp1/run1/artifacts "$long" >out 2>err
echo "exit: $?"
sed "s/$long/<256 zeros>/g" err
grep -q 255 err && echo "states the limit: yes" || echo "states the limit: no"
echo "--- not a store"
mkdir notastore
"$MLFS" register notastore exp1/run1/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- a deleted run"
"$MLFS" rm store exp1/run2
"$MLFS" register store exp1/run2/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- the refusals made no version: the next one is 4"
"$MLFS" register store exp1/run1/artifacts DecisionTree 2>&1
echo "exit: $?"
echo "--- too few and too many arguments"
"$MLFS" register 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
"$MLFS" register store exp1/run1/artifacts DecisionTree extra 2>&1 | head -n 1
echo "exit: ${PIPESTATUS[0]}"
echo "--- help"
"$MLFS" register --help | head -n 1
echo "exit: ${PIPESTATUS[0]}"
