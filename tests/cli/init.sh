# mlfs init of a fresh directory, then the refusals: the same store again, and
# a directory that holds something else.
"$MLFS" init store 2>&1
echo "exit: $?"
test -d store && echo "store is a directory"
"$MLFS" init store 2>&1
echo "exit: $?"
mkdir other
echo keep >other/file
"$MLFS" init other 2>&1
echo "exit: $?"
cat other/file
echo "--- nested path"
"$MLFS" init deep/er/store 2>&1
echo "exit: $?"
"$MLFS" ls deep/er/store 2>&1
