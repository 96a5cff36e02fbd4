/* cmd_trash.c - mlfs rm and mlfs restore: the trash without a mount. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "err.h"
#include "store.h"
#include "trash.h"
#include "tree.h"

static const char rm_usage[] =
	"usage: mlfs rm STORE EXPERIMENT[/RUN]\n\n"
	"Move an experiment or a run to the trash, as 'mv EXP/RUN MNT/.trash/EXP/'\n"
	"does through a mount.  It keeps its record and its name until\n"
	"'mlfs gc --purge'; 'mlfs restore' brings it back.\n";

static const char restore_usage[] =
	"usage: mlfs restore STORE EXPERIMENT[/RUN]\n\n"
	"Bring an experiment or a run back from the trash.\n";

static int trash_cmd(int argc, char **argv, const char *usage, bool deleted)
{
	struct mlfs_store *s;
	struct mlfs_inode in;
	struct mlfs_op op;
	MDB_txn *txn;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 3 || !argv[2][0] || strchr(argv[2], '/') != strrchr(argv[2], '/'))
		return usage_error(usage);
	if (open_store(argv[1], 0, &s))
		return 1;
	mlfs_op_init(&op, getuid(), getgid());
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r == 0) {
		r = mlfs_resolve(s, txn, argv[2], &in);
		mlfs_txn_abort(txn);
	}
	if (r == 0 && in.kind != MLFS_K_EXP && in.kind != MLFS_K_RUN)
		r = mlfs_refuse(&op, -EINVAL, "not an experiment or a run");
	if (r == 0 && in.kind == MLFS_K_RUN) {
		struct mlfs_inode exp;

		r = mlfs_inode_of(s, in.parent, &exp);
		if (r == 0 && exp.deleted_ms)
			r = mlfs_refuse(&op, -ENOENT, "its experiment is in the trash; %s it whole",
					deleted ? "it is deleted" : "restore");
	}
	if (r == 0 && (in.deleted_ms != 0) == deleted)
		r = mlfs_refuse(&op, -ENOENT,
				deleted ? "already in the trash" : "not in the trash");
	if (r == 0)
		r = mlfs_trash_set(s, &op, in.ino, deleted);
	mlfs_store_free(s);
	if (r) {
		fprintf(stderr, "mlfs: %s: %s\n", argv[2],
			op.why[0] ? op.why : r == -ENOENT ? "no such experiment or run"
							  : mlfs_strerror(r));
		return 1;
	}
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	return trash_cmd(argc, argv, rm_usage, true);
}

int cmd_restore(int argc, char **argv)
{
	return trash_cmd(argc, argv, restore_usage, false);
}
