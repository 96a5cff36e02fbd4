/*
 * value.h - the small files whose content is a record of the index: params,
 * tags, a run's status, and the read-only meta files.
 *
 * Reading renders the record (mlfs_render): a value reads as the value and a
 * newline, status as its word and a newline, meta as "key: value" lines.
 * Writing (mlfs_value_write) takes the whole content a handle has written
 * so far, drops one trailing newline and applies each kind's rule in one
 * transaction:
 *
 *   param   write-once: the first value is kept; the same value again is
 *           accepted; a different one is -EPERM (see replace_own)
 *   tag     replaced
 *   status  one of the five words (else -EINVAL); FINISHED, FAILED and
 *           KILLED stamp the run's end time
 *   meta    read-only: -EACCES
 */
#ifndef MLFS_VALUE_H
#define MLFS_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* Largest rendering: the longest value, a newline and room for meta. */
#define MLFS_RENDER_MAX 9216

/* True for the kinds mlfs_render() and mlfs_value_write() handle. */
bool mlfs_kind_is_value(int kind);

/* Render the content of in into buf (cap >= MLFS_RENDER_MAX); returns its length. */
int mlfs_render(struct mlfs_store *s, MDB_txn *txn, const struct mlfs_inode *in,
		const char *payload, char *buf, size_t cap);

/*
 * Apply content (len bytes) to value file ino.  replace_own: the value of a
 * param was set by this same open file, which may still change it (a value
 * written in several pieces).
 * Returns 1 when this call set a param's value (the caller then owns it), else 0.
 */
int mlfs_value_write(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const char *content,
		     size_t len, bool replace_own);

#endif
