/*
 * trash.h - deleting and restoring experiments and runs, as MLflow does:
 * a deleted one keeps its record (and its name, which no new experiment or
 * run may take) until it is purged.
 *
 * A deleted experiment or run stays where it is in the index; its inode's
 * deleted_ms says when it was deleted.  The tree hides it from its folder
 * and shows it under /.trash instead:
 *
 *   /.trash/<exp>/          a deleted experiment (all of it), or, for a live
 *                           experiment, a view that lists its deleted runs
 *   /.trash/<exp>/<run>/    a deleted run
 *
 * Moving (rename) between a folder and its place in .trash deletes or
 * restores; mlfs_trash_set() does the same by inode for the command line.
 * Purging removes the inode and everything below it (params, metric blocks,
 * artifact extents; chunks are left for gc) and frees the name.
 */
#ifndef MLFS_TRASH_H
#define MLFS_TRASH_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* The .trash folder, and the view of a live experiment's deleted runs, as inode numbers. */
#define MLFS_TRASH_INO 5ull
#define MLFS_VIEW_BIT (1ull << 62)

/* Delete (deleted = true) or restore experiment or run ino.  -EINVAL for other kinds. */
int mlfs_trash_set(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, bool deleted);

/*
 * Walk what is in the trash: every deleted experiment, and every deleted
 * run of a live experiment.  fn gets its inode, kind (MLFS_K_EXP or
 * MLFS_K_RUN), when it was deleted and its path (".trash/exp1/run42");
 * a non-zero return stops the walk and is returned.
 */
typedef int (*mlfs_trash_fn)(void *ctx, uint64_t ino, int kind, int64_t deleted_ms,
			     const char *path);
int mlfs_trash_walk(struct mlfs_store *s, mlfs_trash_fn fn, void *ctx);

/*
 * Remove deleted experiment or run ino and everything below it for good, in
 * one transaction.  Returns how many inodes went; -EINVAL if ino is not in
 * the trash.
 */
int mlfs_purge(struct mlfs_store *s, uint64_t ino);

#endif
