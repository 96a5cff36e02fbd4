# mlfs --help, per-command help, and an unknown command.
"$MLFS" --help
echo "exit: $?"
for cmd in init mount umount ls; do
	echo "--- mlfs help $cmd"
	"$MLFS" help "$cmd"
	echo "exit: $?"
	echo "--- mlfs $cmd --help"
	"$MLFS" "$cmd" --help
	echo "exit: $?"
done
echo "--- an unknown command"
"$MLFS" frobnicate 2>&1
echo "exit: $?"
echo "--- no command"
"$MLFS" 2>&1
