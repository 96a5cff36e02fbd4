/*
 * store.h - a store directory as a whole, and the context of one operation.
 *
 * A store is a directory:
 *     STORE/mlfs-store   marker: "mlfs store format 1\n"
 *     STORE/index/       the LMDB environment (index.h)
 *     STORE/chunks/      the chunk store (chunk.h)
 *     STORE/tmp/         chunks being written, scratch files of open artifacts
 *     STORE/lock         flock()ed by the daemon that serves the store
 *     STORE/log          the daemon's log when it runs in the background
 *
 * mlfs_store_open() hands back a struct mlfs_store that many threads may use
 * at once; every operation on it runs its own LMDB transaction.  The daemon
 * opens with MLFS_STORE_DAEMON: it takes the lock (a second daemon gets
 * MLFS_E_LOCKED), commits without flushing, and calls mlfs_store_sync() about
 * once a second and on fsync.  The command line opens without it and every
 * commit it makes is durable on return.
 *
 * Durability order (the commit path's invariants live in afile.c):
 * mlfs_store_sync() first makes the chunk store durable, then the index, so a
 * flushed index never names a chunk that is not on disk.
 */
#ifndef MLFS_STORE_H
#define MLFS_STORE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "chunk.h"
#include "index.h"

enum mlfs_store_flags {
	MLFS_STORE_DAEMON = 1 << 0, /* take the lock; flush in mlfs_store_sync() only */
	MLFS_STORE_RDONLY = 1 << 1,
};

struct mlfs_store {
	char *dir;
	struct mlfs_index *idx;
	struct mlfs_chunkstore *cs;
	int lock_fd; /* -1 unless MLFS_STORE_DAEMON */
	int tmp_fd;  /* STORE/tmp, for O_TMPFILE scratch files */
	unsigned flags;
	atomic_int dirty; /* commits since the last mlfs_store_sync() */
	/*
	 * The first failed flush: what it was to make durable may be lost, and
	 * a retried fsync can report success for pages the kernel dropped.  Every
	 * later commit and flush fails with it (until the store is reopened).
	 */
	atomic_int poison;
	uint64_t instance; /* the daemon's id in STORE/lock, 0 if none: see gc.h */
	/*
	 * Set by the daemon: whether it has artifact ino open.  A deleted
	 * artifact that is open becomes an orphan (tree.h) instead of going.
	 */
	bool (*is_open)(uint64_t ino);
};

/*
 * Who asks, and the sentence a refusal leaves.  Operations that refuse call
 * mlfs_refuse(), which fills why; the caller adds the path and logs it.
 */
struct mlfs_op {
	uint32_t uid, gid;
	int64_t now_ns;
	char why[512];
};

/* An op for uid/gid at the current time, with an empty why. */
void mlfs_op_init(struct mlfs_op *op, uint32_t uid, uint32_t gid);
/* Set op->why from fmt and return r. */
int mlfs_refuse(struct mlfs_op *op, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int64_t mlfs_now_ns(void);

/* mkdir -p: dir and its missing parents (mode 0755). */
int mlfs_mkdirs(const char *dir);

/* Create a store in dir (which may exist but must be empty): 0, -EEXIST if it is a store. */
int mlfs_store_init(const char *dir);
/* Open the store in dir. */
int mlfs_store_open(const char *dir, unsigned flags, struct mlfs_store **ret);
void mlfs_store_free(struct mlfs_store *s);
/*
 * The daemon keeps STORE/reserve (8 MiB) so that on a full disk a delete,
 * which needs new index pages too, can still be made: release it (1 if it
 * was there, 0 if not) and retry.  It is made again at the next start.
 */
int mlfs_store_release_reserve(struct mlfs_store *s);

/* Make every commit so far durable: chunks first, then the index. */
int mlfs_store_sync(struct mlfs_store *s);
/* Note that a commit was made (so that the next sync has work). */
void mlfs_store_dirtied(struct mlfs_store *s);
/* Commit txn and note it; aborts on failure. */
int mlfs_store_commit(struct mlfs_store *s, MDB_txn *txn);

#endif
