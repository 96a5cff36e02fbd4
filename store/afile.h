/*
 * afile.h - an open artifact file: its content as the handle sees it, and
 * the commit that makes that content the file's.
 *
 * An artifact's content is a list of extents, each a chunk of the chunk
 * store or a hole of zeros, tiling [0, size).  An open handle loads that
 * list once (a snapshot: later commits by others do not change what it
 * reads), and its writes change only its own view until mlfs_afile_commit()
 * replaces the file's extents and size in one transaction.  So a reader
 * sees the old content or the new, never a mix, and a writer that dies
 * leaves the file as it was.
 *
 * Calling sequence (one handle may be used by several threads; it locks):
 *
 *     mlfs_afile_open() -> { read | write | truncate | commit }* -> free
 *
 * mlfs_afile_free() does not commit: the caller commits first (on flush,
 * fsync and release).  The handle holds at most four chunk buffers
 * (MLFS_CHUNK_MAX each) and its extent list, whatever the file's size.
 *
 * Writes at the end of the file only copy: the chunks they complete are
 * hashed, compressed and put by a worker thread of the handle while the
 * writer goes on (at most two at a time; afile.c, invariant 8).  So a put
 * that fails is reported by a later call -- the next write(), or the
 * commit at close or fsync -- with its errno, and nothing is committed
 * before it has been put: the call after the one that reported it puts it
 * again.
 */
#ifndef MLFS_AFILE_H
#define MLFS_AFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct mlfs_afile;

/* Open artifact ino; flags are open(2)'s (O_ACCMODE, O_TRUNC, O_APPEND). */
int mlfs_afile_open(struct mlfs_store *s, uint64_t ino, int flags, struct mlfs_afile **ret);
void mlfs_afile_free(struct mlfs_afile *f);

/* Read up to len bytes at off of the handle's view; returns the count (0 at the end). */
int mlfs_afile_read(struct mlfs_afile *f, uint64_t off, void *buf, size_t len);
/*
 * Write len bytes at off (at the end with O_APPEND); returns len, or a
 * short count then an error.  The error may be that of a chunk an earlier
 * write completed (see above).
 */
int mlfs_afile_write(struct mlfs_afile *f, uint64_t off, const void *buf, size_t len);
/* Set the view's size. */
int mlfs_afile_truncate(struct mlfs_afile *f, uint64_t size);
/*
 * The view's size, and whether it has changes not yet committed, as the last
 * call left them (a write or truncate in progress counts as dirty).  Takes
 * no lock: it never waits for a call in progress on f.
 */
uint64_t mlfs_afile_size(struct mlfs_afile *f, bool *ret_dirty);

/*
 * Make the view the file's content: store what is not yet a chunk, then
 * replace the extents, size and mtime in one transaction.  0 when there was
 * nothing to do; -ENOENT is not an error here (the file was deleted while
 * open: the content is dropped and 0 returned).
 */
int mlfs_afile_commit(struct mlfs_afile *f, struct mlfs_op *op);

/*
 * Wait until every chunk written so far is in the chunk store (the worker
 * has put it).  0, or the error of a failed put (the next call puts it
 * again); commit, read and truncate wait the same way.
 */
int mlfs_afile_settle(struct mlfs_afile *f);

/* truncate(2) of a file that this caller has not open: open, truncate, commit. */
int mlfs_afile_truncate_ino(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, uint64_t size);

#endif
