/* cmd_mount.c - mlfs mount [-f] [-d] [-o OPTIONS] [STORE MOUNTPOINT] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "daemon.h"
#include "err.h"
#include "store.h"

static const char usage[] =
	"usage: mlfs mount [-f] [-d] [-o OPTIONS] [STORE MOUNTPOINT]\n\n"
	"Serve STORE at MOUNTPOINT, in the background unless -f.  -o passes FUSE\n"
	"options (allow_other, ...; allow_other brings default_permissions with it,\n"
	"so that the kernel checks every user against owners and modes); -d traces\n"
	"FUSE requests.\n"
	"With no STORE and MOUNTPOINT: $MLFS_STORE (else ~/.local/share/mlfs/store),\n"
	"created on first use, at $MLFS_MOUNT (else ~/mlruns), made if missing.\n";

int cmd_mount(int argc, char **argv)
{
	struct mlfs_daemon_opts o = { 0 };
	char store[PATH_MAX], mnt[PATH_MAX], opts[1024];
	const char *pos[2];
	int npos = 0, r;

	if (wants_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f")) {
			o.foreground = true;
		} else if (!strcmp(argv[i], "-d")) {
			o.debug = true;
			o.foreground = true;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			o.fuse_opts = argv[++i];
		} else if (argv[i][0] == '-' || npos == 2) {
			return usage_error(usage);
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos == 1)
		return usage_error(usage);
	/*
	 * A mount other users can reach is checked by the kernel against each
	 * file's owner and mode; without default_permissions the daemon, which
	 * runs as its starter, would let anyone write anything.
	 */
	if (o.fuse_opts && strstr(o.fuse_opts, "allow_other") &&
	    !strstr(o.fuse_opts, "default_permissions")) {
		snprintf(opts, sizeof(opts), "%s,default_permissions", o.fuse_opts);
		o.fuse_opts = opts;
	}
	if (npos == 0) {
		default_store(store, sizeof(store));
		default_mount(mnt, sizeof(mnt));
		r = mlfs_mkdirs(store);
		if (r == 0)
			r = mlfs_store_init(store);
		if (r == 0)
			fprintf(stderr, "mlfs: created store %s\n", store);
		else if (r != -EEXIST) {
			fprintf(stderr, "mlfs: cannot create the store '%s': %s\n", store,
				mlfs_strerror(r));
			return 1;
		}
		r = mlfs_mkdirs(mnt);
		if (r) {
			fprintf(stderr, "mlfs: cannot make the mount point '%s': %s\n", mnt,
				mlfs_strerror(r));
			return 1;
		}
		o.store = store;
		o.mountpoint = mnt;
	} else {
		o.store = pos[0];
		o.mountpoint = pos[1];
	}
	r = mlfs_daemon_run(&o);
	if (r == 0 && npos == 0 && !o.foreground)
		printf("mlfs: serving %s at %s\n", o.store, o.mountpoint);
	return r;
}
