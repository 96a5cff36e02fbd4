/* cmd_mkrun.c - mlfs mkrun STORE EXPERIMENT/RUN, and mlfs log: the store without a mount. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "err.h"
#include "series.h"
#include "store.h"
#include "tree.h"
#include "value.h"

static const char mkrun_usage[] =
	"usage: mlfs mkrun STORE EXPERIMENT/RUN\n\n"
	"Create the run (and its experiment when missing), as mkdir -p does\n"
	"through a mount, and print its run id.\n";

static const char log_usage[] =
	"usage: mlfs log STORE EXPERIMENT/RUN (param|metric|tag) KEY VALUE\n\n"
	"Log one value, as writing params/KEY, metrics/KEY or tags/KEY does\n"
	"through a mount.  A metric VALUE is one line in any of its forms\n"
	"(VALUE, 'VALUE STEP', 'TIMESTAMP VALUE STEP').  A refusal prints its\n"
	"sentence and exits 1.\n";

/* Print a refusal of path the way the daemon words it. */
static int refusal(const char *path, const struct mlfs_op *op, int r)
{
	fprintf(stderr, "mlfs: %s: %s\n", path, op->why[0] ? op->why : mlfs_strerror(r));
	return 1;
}

/* mkdir -p of the parts of path below the folder at, as the caller; *ret gets the last. */
static int make_path(struct mlfs_store *s, struct mlfs_op *op, uint64_t at, const char *path,
		     uint64_t *ret)
{
	const char *p = path, *e;
	struct stat st;
	int r;

	for (; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, '/');
		if (e == p)
			continue;
		r = mlfs_lookup(s, at, p, e - p, &st);
		if (r == -ENOENT)
			r = mlfs_mkdir(s, op, at, p, e - p, 0755, &st);
		if (r)
			return r;
		at = st.st_ino;
	}
	*ret = at;
	return 0;
}

static int split_run(const char *arg, char *exp, size_t cap)
{
	const char *slash = strchr(arg, '/');

	if (!slash || slash == arg || !slash[1] || strchr(slash + 1, '/') ||
	    (size_t)(slash - arg) >= cap)
		return -EINVAL;
	memcpy(exp, arg, slash - arg);
	exp[slash - arg] = 0;
	return 0;
}

int cmd_mkrun(int argc, char **argv)
{
	struct mlfs_store *s;
	struct mlfs_inode run;
	struct mlfs_op op;
	char exp[256];
	uint64_t ino;
	int r;

	if (wants_help(argc, argv, mkrun_usage))
		return 0;
	if (argc != 3 || split_run(argv[2], exp, sizeof(exp)))
		return usage_error(mkrun_usage);
	if (open_store(argv[1], 0, &s))
		return 1;
	mlfs_op_init(&op, getuid(), getgid());
	r = make_path(s, &op, MLFS_ROOT_INO, argv[2], &ino);
	if (r == 0)
		r = mlfs_inode_of(s, ino, &run);
	if (r == 0 && run.kind != MLFS_K_RUN)
		r = mlfs_refuse(&op, -ENOTDIR, "not a run");
	if (r) {
		refusal(argv[2], &op, r);
		mlfs_store_free(s);
		return 1;
	}
	for (int i = 0; i < 16; i++)
		printf("%02x", run.u.run.id[i]);
	printf("\n");
	mlfs_store_free(s);
	return 0;
}

int cmd_log(int argc, char **argv)
{
	struct mlfs_store *s;
	struct mlfs_op op;
	struct stat st;
	const char *section, *key, *value, *slash;
	char path[1024], dir[600], exp[256];
	uint64_t at;
	bool created;
	int r;

	if (wants_help(argc, argv, log_usage))
		return 0;
	if (argc != 6 || split_run(argv[2], exp, sizeof(exp)))
		return usage_error(log_usage);
	if (!strcmp(argv[3], "param"))
		section = "params";
	else if (!strcmp(argv[3], "metric"))
		section = "metrics";
	else if (!strcmp(argv[3], "tag"))
		section = "tags";
	else
		return usage_error(log_usage);
	key = argv[4];
	value = argv[5];
	snprintf(path, sizeof(path), "%s/%s/%s", argv[2], section, key);
	if (open_store(argv[1], 0, &s))
		return 1;
	mlfs_op_init(&op, getuid(), getgid());
	/* The run must exist; key folders are made as needed. */
	slash = strrchr(key, '/');
	snprintf(dir, sizeof(dir), "%s/%s", argv[2], section);
	{
		MDB_txn *txn;
		struct mlfs_inode in;

		struct mlfs_inode run, exp;

		r = mlfs_txn_begin(s->idx, false, &txn);
		if (r == 0) {
			r = mlfs_resolve(s, txn, dir, &in);
			if (r == 0)
				r = mlfs_ino_get(txn, s->idx, in.parent, &run, NULL);
			if (r == 0)
				r = mlfs_ino_get(txn, s->idx, run.parent, &exp, NULL);
			mlfs_txn_abort(txn);
		}
		if (r == -ENOENT)
			r = mlfs_refuse(&op, r, "no such run");
		else if (r == 0 && (run.deleted_ms || exp.deleted_ms))
			r = mlfs_refuse(&op, -ENOENT, "the run is in the trash; restore it to log to it");
		at = in.ino;
	}
	if (r == 0 && slash) {
		char folders[512];

		snprintf(folders, sizeof(folders), "%.*s", (int)(slash - key), key);
		r = make_path(s, &op, at, folders, &at);
	}
	if (r == 0) {
		const char *leaf = slash ? slash + 1 : key;

		r = mlfs_create(s, &op, at, leaf, strlen(leaf), 0644, false, &st, &created);
	}
	if (r == 0) {
		if (section[0] == 'm')
			r = mlfs_series_append(s, &op, st.st_ino, value, strlen(value));
		else
			r = mlfs_value_write(s, &op, st.st_ino, value, strlen(value), false);
	}
	mlfs_store_free(s);
	if (r < 0)
		return refusal(path, &op, r);
	return 0;
}
