/*
 * gc.h - garbage collection of the chunk store, and the pending entries
 * that make it safe while the daemon serves and writers are busy.
 *
 * A chunk file is garbage when no extent record names it any more (an
 * artifact overwritten or deleted, a run purged from the trash).
 * mlfs_gc_run() marks every hash of the extent database, in one read
 * transaction, and every live pending entry, then walks STORE/chunks and
 * removes what is not marked.  Any process may run it at any time, also
 * while a daemon serves the store and writes to it.
 *
 * Why that is safe.  A file being written has chunks on disk before the
 * index names them (afile.c puts chunks while the file is written, from a
 * worker thread of the handle, and writes the extents at close).  Three rules cover that gap; a fourth covers power loss:
 *
 *  1. Pending entries.  Each open artifact handle has an owner id
 *     (mlfs_gc_owner()).  Before every chunk put it commits (hash, owner)
 *     into the pending database; the transaction that writes its extents
 *     deletes its entries, and mlfs_afile_free() deletes what is left.  So
 *     in any snapshot, a chunk a live handle has put is named by an extent
 *     or by a pending entry.
 *  2. Liveness of owners.  The daemon calls mlfs_gc_instance() once after
 *     opening the store: a random instance id in 1..2^32-1, kept in
 *     s->instance and written into STORE/lock as 16 lowercase hex digits and
 *     a newline ("00000000a1b2c3d4\n").  Owner ids are instance << 32 | a
 *     counter.  An entry is live if STORE/lock is flock()ed (a daemon
 *     serves) and the file names the entry's instance, or names none that
 *     parses (a daemon between taking the lock and calling this), or if the
 *     entry is younger than gc's start (a daemon that started while gc
 *     ran).  Every other entry was left by a process that is gone: stale,
 *     and gc deletes it.
 *  3. Times and the gc lock.  gc notes its start time T first.  A put that
 *     finds its chunk present refreshes the file's mtime (chunk.h,
 *     invariant 4), and a put holds STORE/gc.lock shared while it finds
 *     and refreshes, and while it renames a new chunk into place (chunk.h,
 *     invariant 6).  gc unlinks in batches under the exclusive lock, and
 *     only files whose mtime is older than T - MLFS_GC_MARGIN_S.  So a
 *     put after T leaves a file gc keeps, and a put before T was preceded
 *     by its pending entry (rule 1), which gc's snapshot (taken after T)
 *     shows, or by then the extents that replaced it.
 *  4. Durability.  The daemon commits without flushing, so a power loss
 *     can bring back an index older than gc's snapshot, which may name
 *     chunks gc removed.  gc flushes before its first unlink: syncfs of the
 *     store's file system, then the index, holding the gc lock exclusive
 *     so that no chunk is renamed into place between the two (a flushed
 *     index never names a chunk that is not on disk, chunk.h invariant 3).
 *
 * A writer's view also names chunks it did not put: the extents it loaded
 * at open.  The index names those as long as the file's gen is the one
 * they were loaded at; afile.c checks that gen in its commit transaction and,
 * if another writer committed in between, first puts those chunks again
 * under rules 1 and 3 (or fails with -EIO if gc already removed one).
 *
 * What gc does not protect (NEEDSWORK):
 *  - A reader holding the extents of a file that has since been overwritten
 *    or deleted gets -EIO (never wrong bytes) for chunks gc removed.
 *  - Only the daemon's entries are live by rule 2.  Another process that
 *    puts chunks (none does today: the command line writes no artifact
 *    content) is protected only by rule 3, so a gc that starts between its
 *    put and its commit could remove a chunk it is about to name.
 *
 * Memory: a map of the marked hashes (mlfs_hmap, about 40 bytes each); the
 * sweep holds one batch of candidates at a time.
 *
 * Cost, measured on 100k chunk files (ext4, 2 cores): marking 50k extents
 * and examining 100k files takes 0.1 s warm, 0.6 s cold; unlinking 50k of
 * them 5.9 s (the file system's unlinks).
 */
#ifndef MLFS_GC_H
#define MLFS_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "store.h"

/* Seconds of clock slack between gc's start time and a chunk file's mtime. */
#define MLFS_GC_MARGIN_S 2

/*
 * Give the daemon's store s (opened with MLFS_STORE_DAEMON, so it holds
 * STORE/lock) a new instance id, write it into the lock file and keep it in
 * s->instance; call once, before opening any artifact.  *ret (may be NULL)
 * gets the id.  -EINVAL if s does not hold the lock; -errno from the write.
 */
int mlfs_gc_instance(struct mlfs_store *s, uint64_t *ret);

/* A new owner id for an artifact handle's pending entries (rule 2). */
uint64_t mlfs_gc_owner(struct mlfs_store *s);

enum mlfs_gc_flags {
	MLFS_GC_DRY_RUN = 1 << 0, /* count what would go; delete nothing */
};

struct mlfs_gc_result {
	uint64_t marked;        /* distinct chunks the index names */
	uint64_t pending_live;  /* pending entries kept */
	uint64_t pending_stale; /* pending entries of owners that are gone (deleted) */
	uint64_t examined;      /* chunk files looked at */
	uint64_t young;         /* unnamed, but put after gc started: left alone */
	uint64_t freed;         /* chunk files removed (or, dry run, that would be) */
	uint64_t freed_bytes;   /* their space on disk (st_blocks) */
	uint64_t tmp_freed;     /* leftover STORE/tmp/chunk.* files of crashed writers */
	uint64_t tmp_bytes;
};

/* Called with the counts so far, every MLFS_GC_PROGRESS chunks examined. */
#define MLFS_GC_PROGRESS 4096
typedef void (*mlfs_gc_progress_fn)(void *ctx, const struct mlfs_gc_result *sofar);

/*
 * Collect the garbage of s (flags: enum mlfs_gc_flags).  fn (may be NULL)
 * hears the progress.  *ret gets the counts.  -errno from the index or the
 * file system; chunks removed before a failure stay removed (they were
 * garbage).
 */
int mlfs_gc_run(struct mlfs_store *s, unsigned flags, mlfs_gc_progress_fn fn, void *ctx,
		struct mlfs_gc_result *ret);

/*
 * Empty the trash of everything deleted at or before before_ms: each deleted
 * experiment, and each deleted run of a live experiment, is purged
 * (trash.h) and fn (may be NULL) hears its path (".trash/exp1/run42") and
 * how many inodes went.  With MLFS_GC_DRY_RUN nothing is purged and fn
 * hears 0 inodes.  Returns how many were purged; -errno on failure (those
 * purged before it stay purged).
 */
typedef void (*mlfs_gc_purged_fn)(void *ctx, const char *path, int inodes);
int mlfs_gc_purge(struct mlfs_store *s, int64_t before_ms, unsigned flags, mlfs_gc_purged_fn fn,
		  void *ctx);

/* Read an age "30s", "15m", "12h" or "7d" (digits, one unit) as ms; -EINVAL otherwise. */
int mlfs_gc_parse_age(const char *text, int64_t *ret);

/*
 * A map from chunk hash to a 32-bit value (gc's mark set, fsck's verdict per
 * chunk): open addressing on the hash's own first bytes, which XXH3 makes
 * uniform; about 40 bytes an entry at its fullest.
 */
struct mlfs_hmap;
int mlfs_hmap_new(struct mlfs_hmap **ret);
void mlfs_hmap_free(struct mlfs_hmap *m);
/* Set *h to val: 1 if *h was new, 0 if it was there (the value replaced), -ENOMEM. */
int mlfs_hmap_put(struct mlfs_hmap *m, const struct mlfs_hash *h, uint32_t val);
/* 1 if *h is there (*ret, may be NULL, gets its value), 0 if not. */
int mlfs_hmap_get(const struct mlfs_hmap *m, const struct mlfs_hash *h, uint32_t *ret);
size_t mlfs_hmap_count(const struct mlfs_hmap *m);

#endif
