/*
 * fsck.h - checking a store: every reference the index makes, and every
 * chunk it names.
 *
 * mlfs_fsck() reads the index in one read transaction (so it sees one
 * consistent state, and may run while a daemon serves the store) and checks:
 *
 *  - every inode record decodes, its number is below the inode counter, its
 *    folder exists and lists it (child record), and the folder's entry of
 *    that name (dirent) names it; every dirent and child record names an
 *    inode that exists and agrees with the other; an artifact deleted while
 *    open (an orphan, tree.h) has no place but is in the orphan database,
 *    and each orphan record names one;
 *  - every artifact file's extents tile [0, size) in order, and each chunk
 *    they name exists, has a valid header and size, decompresses, hashes to
 *    its name and holds as many bytes as the extent says (mlfs_chunk_get();
 *    each distinct chunk is read once);
 *  - every metric's blocks decode, follow each other by byte offset, hold
 *    the points and text bytes their headers say, and add up to the inode's
 *    size, point count and last block;
 *  - no extent or block record belongs to an inode that is missing or of
 *    another kind; every run key (rkey) names an inode of its section;
 *    pending records are well formed.
 *
 * Each problem is handed to the caller's function with the path of the
 * damaged entry in the tree (trashed ones under ".trash/", mlfs_path()), or
 * "#<ino>" when it has none, and one sentence.  Before a chunk is reported
 * missing or damaged it is looked up again in a fresh transaction, so that a
 * file rewritten (and its old chunks collected) while fsck ran is not
 * reported.
 *
 * Cost: one pass over the index, and one read, decompression and hash of
 * every distinct chunk; memory for one chunk and a map of the chunks checked
 * (gc.h's mlfs_hmap).  The read transaction is held for the whole run
 * (NEEDSWORK: on a store of many GiB that keeps LMDB from reusing pages the
 * daemon frees meanwhile).
 */
#ifndef MLFS_FSCK_H
#define MLFS_FSCK_H

#include <stdint.h>

#include "store.h"

struct mlfs_fsck_result {
	uint64_t inodes;      /* inode records */
	uint64_t files;       /* artifact files */
	uint64_t extents;     /* their chunk extents (holes not counted) */
	uint64_t chunks;      /* distinct chunks read and found whole */
	uint64_t chunk_bytes; /* their raw bytes */
	uint64_t metrics;     /* metrics */
	uint64_t blocks;      /* their blocks */
	uint64_t problems;
};

/* Hears one problem: where (a path in the tree, or "#<ino>") and what. */
typedef void (*mlfs_fsck_fn)(void *ctx, const char *path, const char *problem);

/*
 * Check store s (it may be opened MLFS_STORE_RDONLY).  0 when the check ran
 * to the end, whatever it found (ret->problems says); -errno when it could
 * not (the index or the chunk store cannot be read, out of memory).
 */
int mlfs_fsck(struct mlfs_store *s, mlfs_fsck_fn fn, void *ctx, struct mlfs_fsck_result *ret);

#endif
