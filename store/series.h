/*
 * series.h - a metric's points in the index: append and read.
 *
 * A metric is an append-only series.  Its newest points (fewer than
 * MLFS_RAW_POINTS) wait raw in the inode's payload, so an append of one
 * point rewrites one small record and encodes nothing; when they are that
 * many they move into the mblock database, into blocks of encoded points
 * cut to fill one LMDB page each (at most MLFS_MBLOCK_POINTS points), each
 * keyed by the byte offset of its first line in the metric's rendering, so
 * a read at any offset finds its block with one cursor seek.  A read does
 * not leave the pages it decoded mapped in the process (series.c lists the
 * layout's invariants).  The inode keeps the totals (points, byte
 * size, last step, time and value), where the last block starts and how
 * many text bytes the raw points make.
 *
 * mlfs_series_append() parses every line before it writes anything: one
 * malformed line refuses the whole call with -EINVAL and nothing is stored.
 * All its points are committed in one transaction, so lines written by one
 * write(2) are never split or interleaved with another writer's.
 */
#ifndef MLFS_SERIES_H
#define MLFS_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Most points kept raw in a metric's inode before they are encoded into a block. */
#define MLFS_RAW_POINTS 32

/*
 * Append the lines in data[0..len) to metric ino.  Every line must end with
 * '\n' except that the last may lack it (the caller decides when a last
 * unterminated line is complete).  Returns the number of points stored.
 */
int mlfs_series_append(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const char *data,
		       size_t len);

/* Read up to len bytes of metric ino's rendering at offset off; returns the count. */
int mlfs_series_read(struct mlfs_store *s, uint64_t ino, uint64_t off, char *buf, size_t len);

#endif
