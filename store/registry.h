/*
 * registry.h - the model registry: /models/<name>/<N>/ versions, their
 * stages, the Staging and Production links, aliases, and zero-copy
 * registration of a run's artifacts.
 *
 *   /models/<name>/               a registered model (mkdir)
 *   /models/<name>/<N>/           version N, made by mkdir of the next number
 *       artifacts/ source stage tags/
 *   /models/<name>/Staging        symlink to the version in that stage, if any
 *   /models/<name>/Production     likewise
 *   /models/<name>/aliases/<a>    symlink to a version (ln -sfn 3 aliases/a);
 *                                 aliases/latest always names the highest
 *
 * Rules (each refusal leaves a sentence in op->why):
 *  - a version's number is the model's next one; numbers are never reused;
 *  - stage is None, Staging, Production or Archived; moving a version to
 *    Staging or Production archives the version that held that stage (as
 *    MLflow's archive_existing_versions) and repoints the link;
 *  - once a version's stage has left None its files are read-only (-EROFS),
 *    for good;
 *  - source is "<experiment>/<run>" of an existing run, written once.
 *
 * The tree operations (tree.c) call the mlfs_reg_* functions inside their
 * own write transactions; mlfs_register() runs one of its own.
 */
#ifndef MLFS_REGISTRY_H
#define MLFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

enum mlfs_stage {
	MLFS_STAGE_NONE = 0,
	MLFS_STAGE_STAGING = 1,
	MLFS_STAGE_PRODUCTION = 2,
	MLFS_STAGE_ARCHIVED = 3,
};

const char *mlfs_stage_name(enum mlfs_stage st);
/* Exactly one of the four words (one trailing newline allowed): 0 or -EINVAL. */
int mlfs_stage_parse(const char *s, size_t len, enum mlfs_stage *ret);

/* Make /models in a new store. */
int mlfs_reg_init(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op);

/* mkdir in /models: register model name. */
int mlfs_reg_model(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t models,
		   const char *name, mode_t mode, struct mlfs_inode *ret);
/* mkdir in a model: version name, which must be the next number. */
int mlfs_reg_version(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		     struct mlfs_inode *model, const char *name, mode_t mode,
		     struct mlfs_inode *ret);
/* symlink in a model's aliases/: alias name to target ("3" or "../3"). */
int mlfs_reg_alias(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		   const struct mlfs_inode *aliases, const char *name, const char *target,
		   struct mlfs_inode *ret);
/* May alias entry in (named name) be renamed to, or replaced as, newname? */
int mlfs_reg_alias_rename(struct mlfs_op *op, const struct mlfs_inode *in, const char *name,
			  size_t len, const char *newname, size_t newlen);

/*
 * -EROFS (with a sentence) when in is an artifact entry, or the artifacts
 * folder, of a version whose stage has left None; 0 otherwise.
 */
int mlfs_reg_frozen(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		    const struct mlfs_inode *in);
/* The same for ino, in a transaction of its own (for open for writing). */
int mlfs_reg_writable(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino);

/* Apply a write of stage or source (value.c calls these in its transaction). */
int mlfs_reg_write_stage(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			 struct mlfs_inode *stage, const char *v, size_t len);
int mlfs_reg_write_source(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			  const struct mlfs_inode *source, const char *payload, const char *v,
			  size_t len);

/* What readlink of a model's link gives ("3", or "../3" in aliases/). */
int mlfs_reg_link_target(const struct mlfs_inode *in, const char *payload, char *buf, size_t cap);

/*
 * Register the artifacts at path ("exp/run/artifacts[/...]", a folder or a
 * file) as the next version of model name (registered if new), copying
 * extent records, not bytes.  Returns the version number.
 */
int mlfs_register(struct mlfs_store *s, struct mlfs_op *op, const char *path, const char *name);

#endif
