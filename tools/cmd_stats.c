/* cmd_stats.c - mlfs stats STORE */
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"
#include "err.h"
#include "stats.h"
#include "store.h"

static const char usage[] =
	"usage: mlfs stats STORE\n\n"
	"Print what the store holds: experiments and runs (live and in the trash),\n"
	"models and versions, metrics and their points, artifact files and their\n"
	"bytes (logical_bytes), the chunk files that store them (chunks, their raw\n"
	"and stored bytes), and the deduplication (logical / raw) and compression\n"
	"(raw / stored) ratios.  The same text is /.mlfs/stats in a mount.\n";

int cmd_stats(int argc, char **argv)
{
	struct mlfs_store *s;
	size_t len;
	char *text;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 2 || argv[1][0] == '-')
		return usage_error(usage);
	if (open_store(argv[1], MLFS_STORE_RDONLY, &s))
		return 1;
	r = mlfs_stats_render(s, &text, &len);
	mlfs_store_free(s);
	if (r) {
		fprintf(stderr, "mlfs: cannot count '%s': %s\n", argv[1], mlfs_strerror(r));
		return 1;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}
