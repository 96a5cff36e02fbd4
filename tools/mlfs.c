/* mlfs.c - the mlfs command: a table of subcommands and a thin main. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "err.h"
#include "store.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_init, "create a store" },
	{ "mount", cmd_mount, "serve a store at a mount point" },
	{ "umount", cmd_umount, "unmount, once everything is on disk" },
	{ "ls", cmd_ls, "list experiments, or an experiment's runs as a table" },
	{ "mkrun", cmd_mkrun, "create an experiment and a run without a mount" },
	{ "log", cmd_log, "log a param, metric point or tag without a mount" },
	{ "register", cmd_register, "register a run's artifacts as a model version (no copy)" },
	{ "rm", cmd_rm, "move an experiment or run to the trash" },
	{ "restore", cmd_restore, "bring an experiment or run back from the trash" },
	{ "gc", cmd_gc, "remove chunks nothing refers to; --purge empties the trash" },
	{ "fsck", cmd_fsck, "check the index and every chunk; name each damaged file" },
	{ "stats", cmd_stats, "count experiments, runs, points, bytes; dedup and compression" },
};

static void help(FILE *out)
{
	fprintf(out, "usage: mlfs <command> [<args>]\n\n"
		     "mlfs keeps ML experiments (runs, params, metrics, tags, artifacts) as\n"
		     "plain files: an LMDB index and a deduplicated chunk store, mounted with FUSE.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "   %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'mlfs <command> --help' tells more of one command.\n");
}

void default_store(char *buf, size_t cap)
{
	const char *e = getenv("MLFS_STORE"), *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (e && *e)
		snprintf(buf, cap, "%s", e);
	else if (xdg && *xdg)
		snprintf(buf, cap, "%s/mlfs/store", xdg);
	else
		snprintf(buf, cap, "%s/.local/share/mlfs/store", home ? home : "/tmp");
}

void default_mount(char *buf, size_t cap)
{
	const char *e = getenv("MLFS_MOUNT"), *home = getenv("HOME");

	if (e && *e)
		snprintf(buf, cap, "%s", e);
	else
		snprintf(buf, cap, "%s/mlruns", home ? home : "/tmp");
}

int open_store(const char *dir, unsigned flags, struct mlfs_store **ret)
{
	int r = mlfs_store_open(dir, flags, ret);

	if (r) {
		fprintf(stderr, "mlfs: cannot open store '%s': %s\n", dir, mlfs_strerror(r));
		return 1;
	}
	return 0;
}

bool wants_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return true;
		}
	}
	return false;
}

int usage_error(const char *usage)
{
	fputs(usage, stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			char *sub[] = { argv[2], "--help", NULL };

			for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
				if (!strcmp(commands[i].name, argv[2]))
					return commands[i].fn(2, sub);
		}
		help(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, argv[1]))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "mlfs: '%s' is not a command; see 'mlfs --help'\n", argv[1]);
	return 2;
}
