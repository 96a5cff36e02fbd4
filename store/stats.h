/*
 * stats.h - what a store holds, in numbers: experiments, runs, metric
 * points, artifact bytes as users see them, and what the chunk store keeps
 * of them on disk.
 *
 * mlfs_stats_collect() makes one pass over the inode database in one read
 * transaction (counts by kind, artifact sizes) and one walk of STORE/chunks
 * (each chunk file's size, and its header for the raw length it holds).
 * The two are not one snapshot: a file written between them may be counted
 * by one and not the other.
 *
 *   logical bytes   the sum of every artifact file's size (runs' artifacts
 *                   and model versions', trashed ones too, holes included)
 *   raw bytes       the sum of the raw lengths of the chunk files on disk,
 *                   each counted once (garbage not yet collected included)
 *   stored bytes    the sum of the chunk files' sizes (headers included)
 *   dedup ratio     logical / raw: how many times each stored byte is used
 *   compression     raw / stored
 *
 * Cost: one B-tree scan of the inodes, and per chunk file one openat, one
 * 16-byte pread and one fstat.  The result is plain numbers; nothing is kept
 * between calls.
 */
#ifndef MLFS_STATS_H
#define MLFS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct mlfs_stats {
	uint64_t experiments, experiments_deleted;
	uint64_t runs, runs_deleted; /* a run of a deleted experiment is deleted */
	uint64_t models, model_versions;
	uint64_t metrics, metric_points;
	uint64_t artifact_files, logical_bytes;
	uint64_t chunks, raw_bytes, stored_bytes;
	uint64_t damaged_chunks; /* chunk files whose header does not read (see mlfs fsck) */
};

/* Count s.  -errno if the index or STORE/chunks cannot be read. */
int mlfs_stats_collect(struct mlfs_store *s, struct mlfs_stats *ret);

/*
 * The same as text, one "key: value" line each (experiments, runs, ...,
 * dedup_ratio and compression_ratio with two decimals, "-" when there is
 * nothing to divide by), into a malloc'd buffer *ret of *ret_len bytes (and
 * a NUL), for `mlfs stats` and /.mlfs/stats.  The caller frees it.
 */
int mlfs_stats_render(struct mlfs_store *s, char **ret, size_t *ret_len);

#endif
