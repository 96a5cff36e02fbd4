/* cmd_fsck.c - mlfs fsck STORE */
#include <inttypes.h>
#include <stdio.h>

#include "builtin.h"
#include "err.h"
#include "fsck.h"
#include "store.h"

static const char usage[] =
	"usage: mlfs fsck STORE\n\n"
	"Check the store: every reference the index makes (folders, entries,\n"
	"run keys), every artifact's extents against its size, every metric's\n"
	"blocks, and every chunk an artifact names (present, whole, and hashing\n"
	"to its name).  Prints one line per problem, naming the damaged file by\n"
	"its path in the tree, then a summary; exits 1 if it found a problem.\n"
	"Changes nothing; works while a daemon serves the store.\n";

static void report(void *ctx, const char *path, const char *problem)
{
	printf("%s: %s\n", path, problem);
	fflush(stdout);
}

int cmd_fsck(int argc, char **argv)
{
	struct mlfs_fsck_result res;
	struct mlfs_store *s;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 2 || argv[1][0] == '-')
		return usage_error(usage);
	if (open_store(argv[1], MLFS_STORE_RDONLY, &s))
		return 1;
	r = mlfs_fsck(s, report, NULL, &res);
	mlfs_store_free(s);
	if (r) {
		fprintf(stderr, "mlfs: cannot check '%s': %s\n", argv[1], mlfs_strerror(r));
		return 1;
	}
	printf("checked %" PRIu64 " inodes, %" PRIu64 " files (%" PRIu64 " extents, %" PRIu64
	       " chunks of %" PRIu64 " bytes), %" PRIu64 " metrics (%" PRIu64 " blocks): ",
	       res.inodes, res.files, res.extents, res.chunks, res.chunk_bytes, res.metrics,
	       res.blocks);
	if (res.problems == 0) {
		printf("no problems\n");
		return 0;
	}
	printf("%" PRIu64 " problem%s\n", res.problems, res.problems == 1 ? "" : "s");
	return 1;
}
