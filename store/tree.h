/*
 * tree.h - the namespace: what each folder of the tree holds, and the
 * operations that create, find, rename and delete its entries.
 *
 * What an operation means depends on the kind of the folder it acts in:
 *
 *   root            mkdir makes an experiment (with meta and tags/)
 *   experiment      mkdir makes a run (params/ metrics/ tags/ artifacts/
 *                   status meta), status RUNNING, start time now
 *   params/ ...     create makes a param, mkdir a key folder
 *   metrics/ ...    create makes a metric, mkdir a key folder
 *   tags/ ...       create makes a tag, mkdir a key folder; unlink deletes
 *   artifacts/ ...  anything POSIX allows
 *
 * Everything else is refused with a sentence in op->why (mlfs_refuse), and
 * the index is left as it was: each operation is one LMDB transaction that
 * is either committed whole or aborted.
 *
 * Attributes come back as a struct stat with st_ino the index's number.
 */
#ifndef MLFS_TREE_H
#define MLFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

enum mlfs_set_flags {
	MLFS_SET_MODE = 1 << 0,
	MLFS_SET_UID = 1 << 1,
	MLFS_SET_GID = 1 << 2,
	MLFS_SET_SIZE = 1 << 3,
	MLFS_SET_ATIME = 1 << 4,
	MLFS_SET_MTIME = 1 << 5,
	MLFS_SET_ATIME_NOW = 1 << 6,
	MLFS_SET_MTIME_NOW = 1 << 7,
};

/* Attributes of an inode read in txn. */
int mlfs_stat_txn(struct mlfs_store *s, MDB_txn *txn, const struct mlfs_inode *in,
		  const char *payload, struct stat *ret);

int mlfs_getattr(struct mlfs_store *s, uint64_t ino, struct stat *ret);
/* The inode record alone (kind, flags...), in a transaction of its own. */
int mlfs_inode_of(struct mlfs_store *s, uint64_t ino, struct mlfs_inode *ret);
int mlfs_lookup(struct mlfs_store *s, uint64_t parent, const char *name, size_t len,
		struct stat *ret);

int mlfs_mkdir(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
	       size_t len, mode_t mode, struct stat *ret);
/* Create a file, or with !excl open the one that is there: ret_created says which. */
int mlfs_create(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len, mode_t mode, bool excl, struct stat *ret, bool *ret_created);
/*
 * Remove param, metric or tag ino if it never got a value (a param or tag
 * not written, a metric with no point): a create whose writes were all
 * refused leaves nothing behind.  0 also when it has a value (and stays).
 */
int mlfs_drop_if_empty(struct mlfs_store *s, uint64_t ino);
int mlfs_symlink(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		 size_t len, const char *target, struct stat *ret);
/* The target of a symlink into buf (cap bytes, NUL added); returns its length. */
int mlfs_readlink(struct mlfs_store *s, uint64_t ino, char *buf, size_t cap);
int mlfs_unlink(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len);
int mlfs_rmdir(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
	       size_t len);
/* flags: 0 or RENAME_NOREPLACE. */
int mlfs_rename(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len, uint64_t newparent, const char *newname, size_t newlen,
		unsigned flags);
/*
 * Change the attributes named in set (enum mlfs_set_flags).  A size change
 * of an artifact belongs to afile.h, not here.
 */
int mlfs_setattr(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const struct stat *attr,
		 unsigned set, struct stat *ret);

/*
 * List ino from offset from (0 to begin): ".", "..", then the children in
 * creation order.  fn gets each entry with its attributes and the offset of
 * the next one; a non-zero return from fn stops the walk (and is returned,
 * unless it is 1, which means "full": 0 is returned).
 */
typedef int (*mlfs_readdir_fn)(void *ctx, const char *name, size_t len, const struct stat *st,
			       uint64_t next);
int mlfs_readdir(struct mlfs_store *s, uint64_t ino, uint64_t from, mlfs_readdir_fn fn, void *ctx);

/* The path of ino below the root ("exp1/run42/params/lr") into buf; "" for the root. */
int mlfs_path(struct mlfs_store *s, MDB_txn *txn, uint64_t ino, char *buf, size_t cap);
/* The same in a transaction of its own; on failure buf holds "#<ino>". */
void mlfs_path_of(struct mlfs_store *s, uint64_t ino, char *buf, size_t cap);

/*
 * For the store's own modules (registry.c): make an inode of kind under
 * parent as name, with a payload, in txn.
 */
int mlfs_add_child(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t parent,
		   const char *name, int kind, mode_t mode, unsigned flags, const void *payload,
		   size_t plen, struct mlfs_inode *ret);

/*
 * Orphans: an artifact unlinked or renamed over while open keeps its inode
 * and content, nameless, until its last close (POSIX).  The daemon calls
 * mlfs_orphan_release() at a last close and mlfs_orphans_purge() when it
 * starts.  Both return 0 when there is nothing to do.
 */
int mlfs_orphan_release(struct mlfs_store *s, uint64_t ino);
int mlfs_orphans_purge(struct mlfs_store *s);

/* The folder that shows ino: its parent, or .trash or a view for what is in the trash. */
int mlfs_parent(struct mlfs_store *s, uint64_t ino, uint64_t *ret);

/* Find a path's inode from the root ("exp1/run42"), trashed entries included. */
int mlfs_resolve(struct mlfs_store *s, MDB_txn *txn, const char *path, struct mlfs_inode *ret);

#endif
