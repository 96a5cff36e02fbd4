/* cmd_gc.c - mlfs gc STORE [--dry-run] [--purge [--older-than AGE]] */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "err.h"
#include "gc.h"
#include "store.h"

static const char usage[] =
	"usage: mlfs gc STORE [--dry-run] [--purge [--older-than AGE]]\n\n"
	"Remove the chunks that nothing in the store names any more (content of\n"
	"overwritten and deleted artifacts, of runs purged from the trash), and\n"
	"print what was freed.  Safe while a daemon serves the store and files\n"
	"are being written: chunks of open files and chunks put after gc started\n"
	"are kept.\n\n"
	"  --purge           first empty the trash for good: every deleted\n"
	"                    experiment and run, so that its content goes too\n"
	"  --older-than AGE  purge only what was deleted at least AGE ago:\n"
	"                    a number and s, m, h or d (30s, 15m, 12h, 7d)\n"
	"  --dry-run         say what would go; change nothing\n";

/* Seconds between progress lines on stderr. */
#define PROGRESS_S 2

struct progress {
	time_t last;
};

static void progress(void *ctx, const struct mlfs_gc_result *sofar)
{
	struct progress *p = ctx;
	time_t now = time(NULL);

	if (now - p->last < PROGRESS_S)
		return;
	p->last = now;
	fprintf(stderr, "gc: examined %" PRIu64 " chunks so far, %" PRIu64 " unused\n",
		sofar->examined, sofar->freed);
}

static void purged(void *ctx, const char *path, int inodes)
{
	bool dry = *(bool *)ctx;

	if (dry)
		printf("would purge %s\n", path);
	else
		printf("purged %s (%d entries)\n", path, inodes);
}

int cmd_gc(int argc, char **argv)
{
	struct progress prog = { time(NULL) };
	struct mlfs_gc_result res;
	struct mlfs_store *s;
	const char *store = NULL, *age = NULL;
	bool dry = false, purge = false;
	int64_t age_ms = 0;
	unsigned flags;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "--purge"))
			purge = true;
		else if (!strcmp(argv[i], "--older-than") && i + 1 < argc)
			age = argv[++i];
		else if (!strncmp(argv[i], "--older-than=", 13))
			age = argv[i] + 13;
		else if (argv[i][0] == '-' || store)
			return usage_error(usage);
		else
			store = argv[i];
	}
	if (!store)
		return usage_error(usage);
	if (age && !purge) {
		fprintf(stderr, "mlfs: gc: --older-than says which of the trash to purge; "
				"it needs --purge\n");
		return 2;
	}
	if (age && mlfs_gc_parse_age(age, &age_ms) < 0) {
		fprintf(stderr, "mlfs: gc: cannot read the age '%s': give a number and one of "
				"s, m, h, d (30s, 15m, 12h, 7d)\n", age);
		return 2;
	}
	if (open_store(store, 0, &s))
		return 1;
	flags = dry ? MLFS_GC_DRY_RUN : 0;
	if (purge) {
		int64_t before = age ? mlfs_now_ns() / 1000000 - age_ms : INT64_MAX;

		r = mlfs_gc_purge(s, before, flags, purged, &dry);
		if (r < 0)
			goto fail;
		if (r == 0)
			printf("nothing in the trash to purge%s\n", age ? " that old" : "");
	}
	r = mlfs_gc_run(s, flags, progress, &prog, &res);
	if (r < 0)
		goto fail;
	printf("examined %" PRIu64 " chunks: %" PRIu64 " in use", res.examined,
	       res.examined - res.freed - res.young);
	if (res.young)
		printf(", %" PRIu64 " put since gc began (kept)", res.young);
	printf("\n");
	if (res.pending_stale)
		printf("%s %" PRIu64 " pending entries of writers that are gone\n",
		       dry ? "would drop" : "dropped", res.pending_stale);
	if (res.tmp_freed)
		printf("%s %" PRIu64 " leftover temporary files, %" PRIu64 " bytes\n",
		       dry ? "would remove" : "removed", res.tmp_freed, res.tmp_bytes);
	printf("%s %" PRIu64 " chunks, %" PRIu64 " bytes on disk%s\n", dry ? "would free" : "freed",
	       res.freed, res.freed_bytes, dry ? " (dry run: nothing deleted)" : "");
	mlfs_store_free(s);
	return 0;
fail:
	fprintf(stderr, "mlfs: gc of '%s' failed: %s\n", store, mlfs_strerror(r));
	mlfs_store_free(s);
	return 1;
}
