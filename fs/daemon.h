/*
 * daemon.h - the FUSE daemon that serves a store at a mount point.
 *
 * mlfs_daemon_run() opens the store (taking its lock, so that a second
 * daemon on the same store is refused with a sentence), mounts it, serves
 * requests (one receiving thread and a few workers: loop.h), flushes the
 * store about once a second, and
 * on unmount or SIGTERM/SIGINT flushes everything and returns.
 *
 * In the background (the default), the calling process forks; the parent
 * returns only when the child has mounted (exit status 0) or failed (its
 * sentence printed, non-zero), and the child logs to STORE/log.
 *
 * The daemon's own state (open handles, the refusal ring) is in fs/ and
 * store/errlog.c; everything that must survive is in the store.
 */
#ifndef MLFS_DAEMON_H
#define MLFS_DAEMON_H

#include <stdbool.h>

struct mlfs_daemon_opts {
	const char *store;
	const char *mountpoint;
	bool foreground;
	bool debug;            /* libfuse's request trace on stderr */
	const char *fuse_opts; /* comma-separated -o options, or NULL */
};

/* Serve until unmounted; returns a process exit status. */
int mlfs_daemon_run(const struct mlfs_daemon_opts *o);

/* The FUSE operations, and the state they share (ops.c). */
struct fuse_lowlevel_ops;
struct fuse_session;
struct mlfs_store;
extern const struct fuse_lowlevel_ops mlfs_ops;
/* The store the operations serve; the session, for telling the kernel to forget entries. */
void mlfs_ops_set_store(struct mlfs_store *s, struct fuse_session *se);

#endif
