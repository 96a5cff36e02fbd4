/* cmd_init.c - mlfs init STORE */
#include <stdio.h>

#include "builtin.h"
#include "err.h"
#include "store.h"

static const char usage[] = "usage: mlfs init STORE\n\n"
			    "Create an empty store in the directory STORE (made if missing;\n"
			    "it must be empty).  Keep it on a local disk.\n";

int cmd_init(int argc, char **argv)
{
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return usage_error(usage);
	r = mlfs_store_init(argv[1]);
	if (r == -EEXIST) {
		fprintf(stderr, "mlfs: '%s' is already a store\n", argv[1]);
		return 1;
	}
	if (r) {
		fprintf(stderr, "mlfs: cannot create a store in '%s': %s\n", argv[1],
			mlfs_strerror(r));
		return 1;
	}
	printf("created store %s\n", argv[1]);
	return 0;
}
