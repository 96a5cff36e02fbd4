/*
 * stats.h - what a store holds, in numbers: experiments, runs, metric
 * points, artifact bytes as users see them, and what the chunk store keeps
 * of them on disk.
 *
 * mlfs_stats_collect() makes one pass over the index in one read
 * transaction (the inodes: counts by kind, artifact sizes; the extents: each
 * distinct chunk a file names, with its raw length) and one walk of
 * STORE/chunks (readdir, and an fstatat of each file for its size; no chunk
 * is opened).  The two are not one snapshot: a file written between them may
 * be counted by one and not the other.
 *
 *   logical bytes   the sum of every artifact file's size (runs' artifacts
 *                   and model versions', trashed ones too, holes included)
 *   chunks, stored bytes   the chunk files on disk and the sum of their sizes
 *   unreferenced    of those, the files that no artifact names (what gc
 *                   would free, unless they are being written)
 *   raw bytes       the raw lengths of the named chunk files, each counted
 *                   once: what the content takes before compression
 *   dedup ratio     logical / raw: how many times each stored byte is used
 *   compression     raw / the stored bytes of the named chunk files
 *
 * Cost, measured on 100k chunk files, half of them named (ext4, 2 cores):
 * 0.3 s with the file system's metadata in cache, 1.1 s cold (mostly the
 * fstatat of each file), 9 MB resident: a map of the distinct named chunks
 * (gc.h's mlfs_hmap, about 40 bytes each).  Nothing is kept between calls.
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
	uint64_t chunks, stored_bytes;
	uint64_t unreferenced_chunks, unreferenced_bytes;
	uint64_t raw_bytes;
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
