/* cmd_register.c - mlfs register: a run's artifacts as a model version, without copying a byte. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "err.h"
#include "registry.h"
#include "store.h"

static const char usage[] =
	"usage: mlfs register [STORE] EXPERIMENT/RUN/artifacts[/PATH] NAME\n\n"
	"Register the run's artifacts at PATH (a folder's contents, or one file)\n"
	"as the next version of model NAME (registered if new), sharing their\n"
	"chunks: no content is copied, and later changes to the run's artifacts\n"
	"do not change the version.  Prints the version number.  STORE defaults\n"
	"to $MLFS_STORE (else ~/.local/share/mlfs/store).\n";

int cmd_register(int argc, char **argv)
{
	struct mlfs_store *s;
	struct mlfs_op op;
	char store[4096];
	const char *path, *name;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc == 4) {
		snprintf(store, sizeof(store), "%s", argv[1]);
		path = argv[2];
		name = argv[3];
	} else if (argc == 3) {
		default_store(store, sizeof(store));
		path = argv[1];
		name = argv[2];
	} else {
		return usage_error(usage);
	}
	if (open_store(store, 0, &s))
		return 1;
	mlfs_op_init(&op, getuid(), getgid());
	r = mlfs_register(s, &op, path, name);
	mlfs_store_free(s);
	if (r < 0) {
		fprintf(stderr, "mlfs: %s: %s\n", path, op.why[0] ? op.why : mlfs_strerror(r));
		return 1;
	}
	printf("%d\n", r);
	return 0;
}
