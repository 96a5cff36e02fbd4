#!/usr/bin/env bash
# The main job: install what mlfs needs, build it, and serve the default store
# (created on first use) at the default mount point, in the background.
#   MLFS_STORE  the store directory  (default ~/.local/share/mlfs/store)
#   MLFS_MOUNT  the mount point      (default ~/mlruns)
# Extra arguments go to 'mlfs mount' (for example -f to stay in the foreground).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
make -s
exec build/mlfs mount "$@"
