/* tree.c - see tree.h. */
#include "tree.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "err.h"
#include "grow.h"
#include "names.h"
#include "registry.h"
#include "trash.h"
#include "value.h"

#define DIR_MODE (S_IFDIR | 0755)

static bool is_dir_kind(int k)
{
	switch (k) {
	case MLFS_K_ROOT:
	case MLFS_K_EXP:
	case MLFS_K_XTAGS:
	case MLFS_K_RUN:
	case MLFS_K_PARAMS:
	case MLFS_K_METRICS:
	case MLFS_K_TAGS:
	case MLFS_K_ADIR:
	case MLFS_K_MODELS:
	case MLFS_K_MODEL:
	case MLFS_K_VERSION:
	case MLFS_K_ALIASES:
		return true;
	}
	return false;
}

static bool is_key_dir(int k)
{
	return k == MLFS_K_PARAMS || k == MLFS_K_METRICS || k == MLFS_K_TAGS || k == MLFS_K_XTAGS;
}

/* The kind of file a key folder holds. */
static int key_file_kind(int dirkind)
{
	switch (dirkind) {
	case MLFS_K_PARAMS:
		return MLFS_K_PARAM;
	case MLFS_K_METRICS:
		return MLFS_K_METRIC;
	case MLFS_K_TAGS:
		return MLFS_K_TAG;
	case MLFS_K_XTAGS:
		return MLFS_K_XTAG;
	}
	return 0;
}

static char key_section(int filekind)
{
	switch (filekind) {
	case MLFS_K_PARAM:
		return MLFS_SEC_PARAM;
	case MLFS_K_METRIC:
		return MLFS_SEC_METRIC;
	default:
		return MLFS_SEC_TAG;
	}
}

static const char *kind_noun(int k)
{
	switch (k) {
	case MLFS_K_ROOT:
		return "the root";
	case MLFS_K_EXP:
		return "an experiment";
	case MLFS_K_EXP_META:
	case MLFS_K_RUN_META:
		return "meta";
	case MLFS_K_XTAGS:
	case MLFS_K_TAGS:
		return "tags";
	case MLFS_K_XTAG:
	case MLFS_K_TAG:
		return "a tag";
	case MLFS_K_RUN:
		return "a run";
	case MLFS_K_PARAMS:
		return "params";
	case MLFS_K_PARAM:
		return "a param";
	case MLFS_K_METRICS:
		return "metrics";
	case MLFS_K_METRIC:
		return "a metric";
	case MLFS_K_STATUS:
		return "status";
	case MLFS_K_ADIR:
		return "artifacts";
	case MLFS_K_AFILE:
		return "an artifact";
	case MLFS_K_ALINK:
		return "a symlink";
	case MLFS_K_MODELS:
		return "models";
	case MLFS_K_MODEL:
		return "a model";
	case MLFS_K_VERSION:
		return "a model version";
	case MLFS_K_SOURCE:
		return "source";
	case MLFS_K_STAGE:
		return "stage";
	case MLFS_K_ALIASES:
		return "aliases";
	case MLFS_K_MLINK:
		return "a model's link";
	}
	return "this entry";
}

int mlfs_stat_txn(struct mlfs_store *s, MDB_txn *txn, const struct mlfs_inode *in,
		  const char *payload, struct stat *ret)
{
	struct stat st;
	char buf[MLFS_RENDER_MAX];
	int n;

	memset(&st, 0, sizeof(st));
	st.st_ino = in->ino;
	st.st_mode = in->mode;
	st.st_uid = in->uid;
	st.st_gid = in->gid;
	/* Directories say 1: "unknown", so that find does not guess subfolders from it. */
	st.st_nlink = (in->flags & MLFS_IF_ORPHAN) ? 0 : 1;
	st.st_blksize = 4096;
	st.st_atim.tv_sec = in->atime_ns / 1000000000;
	st.st_atim.tv_nsec = in->atime_ns % 1000000000;
	st.st_mtim.tv_sec = in->mtime_ns / 1000000000;
	st.st_mtim.tv_nsec = in->mtime_ns % 1000000000;
	st.st_ctim.tv_sec = in->ctime_ns / 1000000000;
	st.st_ctim.tv_nsec = in->ctime_ns % 1000000000;
	switch (in->kind) {
	case MLFS_K_AFILE:
		st.st_size = in->size;
		/* cp sizes its writes by this: 1 MiB writes cost a third of 128 KiB ones. */
		st.st_blksize = 1 << 20;
		break;
	case MLFS_K_METRIC:
		st.st_size = in->size;
		break;
	case MLFS_K_ALINK:
		st.st_size = in->payload_len;
		break;
	case MLFS_K_MLINK:
		n = mlfs_reg_link_target(in, payload, buf, sizeof(buf));
		st.st_size = n > 0 ? n : 0;
		break;
	default:
		if (mlfs_kind_is_value(in->kind)) {
			n = mlfs_render(s, txn, in, payload, buf, sizeof(buf));
			if (n < 0)
				return n;
			st.st_size = n;
		}
	}
	st.st_blocks = (st.st_size + 511) / 512;
	*ret = st;
	return 0;
}

int mlfs_inode_of(struct mlfs_store *s, uint64_t ino, struct mlfs_inode *ret)
{
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, ret, NULL);
	mlfs_txn_abort(txn);
	return r;
}

static bool is_trash_ino(uint64_t ino)
{
	return ino == MLFS_TRASH_INO || (ino & MLFS_VIEW_BIT);
}

/* An experiment or run in .trash: hidden from its own folder. */
static bool in_trash(const struct mlfs_inode *in)
{
	return (in->kind == MLFS_K_EXP || in->kind == MLFS_K_RUN) && in->deleted_ms;
}

/*
 * A param or tag that was created but never given a value, or a metric
 * without a point: not logged yet.  Its creator's close removes it; if the
 * daemon died first, names and listings still do not show it (and a create
 * of that name takes it over).
 */
static bool unlogged(const struct mlfs_inode *in)
{
	switch (in->kind) {
	case MLFS_K_PARAM:
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
		return !(in->flags & MLFS_IF_VALUE_SET);
	case MLFS_K_METRIC:
		return in->u.metric.npoints == 0;
	}
	return false;
}

static int stat_ino(struct mlfs_store *s, MDB_txn *txn, uint64_t ino, struct stat *ret);

/* The .trash folder (like the root) and a live experiment's view of its deleted runs. */
static int stat_trash(struct mlfs_store *s, MDB_txn *txn, uint64_t ino, struct stat *ret)
{
	struct mlfs_inode in;
	int r;

	if (ino == MLFS_TRASH_INO) {
		r = stat_ino(s, txn, MLFS_ROOT_INO, ret);
	} else {
		r = mlfs_ino_get(txn, s->idx, ino & ~MLFS_VIEW_BIT, &in, NULL);
		if (r == 0 && (in.kind != MLFS_K_EXP || in.deleted_ms))
			r = -ENOENT;
		if (r == 0)
			r = mlfs_stat_txn(s, txn, &in, NULL, ret);
	}
	if (r)
		return r;
	ret->st_ino = ino;
	return 0;
}

static int stat_ino(struct mlfs_store *s, MDB_txn *txn, uint64_t ino, struct stat *ret)
{
	struct mlfs_inode in;
	const char *payload;
	int r;

	if (is_trash_ino(ino))
		return stat_trash(s, txn, ino, ret);
	r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r)
		return r;
	return mlfs_stat_txn(s, txn, &in, payload, ret);
}

int mlfs_parent(struct mlfs_store *s, uint64_t ino, uint64_t *ret)
{
	struct mlfs_inode in, up;
	MDB_txn *txn;
	int r;

	if (ino == MLFS_TRASH_INO || ino == MLFS_ROOT_INO) {
		*ret = MLFS_ROOT_INO;
		return 0;
	}
	if (ino & MLFS_VIEW_BIT) {
		*ret = MLFS_TRASH_INO;
		return 0;
	}
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r == 0 && in_trash(&in) && in.kind == MLFS_K_EXP) {
		*ret = MLFS_TRASH_INO;
	} else if (r == 0 && in_trash(&in)) {
		r = mlfs_ino_get(txn, s->idx, in.parent, &up, NULL);
		if (r == 0)
			*ret = up.deleted_ms ? up.ino : up.ino | MLFS_VIEW_BIT;
	} else if (r == 0) {
		*ret = in.parent;
	}
	mlfs_txn_abort(txn);
	return r;
}

int mlfs_getattr(struct mlfs_store *s, uint64_t ino, struct stat *ret)
{
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = stat_ino(s, txn, ino, ret);
	mlfs_txn_abort(txn);
	return r;
}

/* Is parent a deleted experiment (which shows all its runs)? */
static bool parent_deleted(struct mlfs_store *s, MDB_txn *txn, uint64_t parent)
{
	struct mlfs_inode p;

	return mlfs_ino_get(txn, s->idx, parent, &p, NULL) == 0 && p.kind == MLFS_K_EXP &&
	       p.deleted_ms;
}

/* Look name up in parent as the tree shows it: .trash and views included, trashed entries hidden. */
static int lookup_txn(struct mlfs_store *s, MDB_txn *txn, uint64_t parent, const char *name,
		      size_t len, struct stat *ret)
{
	struct mlfs_inode in;
	const char *payload;
	uint64_t ino, dir = parent;
	int r;

	if (parent == MLFS_TRASH_INO)
		dir = MLFS_ROOT_INO;
	else if (parent & MLFS_VIEW_BIT)
		dir = parent & ~MLFS_VIEW_BIT;
	r = mlfs_dirent_get(txn, s->idx, dir, name, len, &ino);
	if (r == 0)
		r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r)
		return r;
	if (parent == MLFS_TRASH_INO) {
		if (in.kind != MLFS_K_EXP)
			return -ENOENT;
		if (!in.deleted_ms)
			return stat_trash(s, txn, ino | MLFS_VIEW_BIT, ret);
	} else if (parent & MLFS_VIEW_BIT) {
		if (in.kind != MLFS_K_RUN || !in.deleted_ms)
			return -ENOENT;
	} else if (in_trash(&in) && !parent_deleted(s, txn, parent)) {
		return -ENOENT;
	} else if (unlogged(&in)) {
		return -ENOENT;
	}
	return mlfs_stat_txn(s, txn, &in, payload, ret);
}

int mlfs_lookup(struct mlfs_store *s, uint64_t parent, const char *name, size_t len,
		struct stat *ret)
{
	MDB_txn *txn;
	int r;

	if (len > MLFS_NAME_MAX)
		return -ENAMETOOLONG;
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = lookup_txn(s, txn, parent, name, len, ret);
	mlfs_txn_abort(txn);
	return r;
}

static int new_inode(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, int kind,
		     mode_t mode, uint64_t parent, struct mlfs_inode *ret)
{
	struct mlfs_inode in;
	int r;

	memset(&in, 0, sizeof(in));
	r = mlfs_ino_alloc(txn, s->idx, &in.ino);
	if (r)
		return r;
	in.kind = (uint8_t)kind;
	in.mode = mode;
	in.uid = op->uid;
	in.gid = op->gid;
	in.parent = parent;
	in.atime_ns = in.mtime_ns = in.ctime_ns = op->now_ns;
	*ret = in;
	return 0;
}

/* Make an inode of kind under parent as name, with payload. */
int mlfs_add_child(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t parent,
		     const char *name, int kind, mode_t mode, unsigned flags, const void *payload,
		     size_t plen, struct mlfs_inode *ret)
{
	struct mlfs_inode in;
	int r;

	r = new_inode(txn, s, op, kind, mode, parent, &in);
	if (r)
		return r;
	in.flags = (uint8_t)flags;
	r = mlfs_ino_put(txn, s->idx, &in, payload, plen);
	if (r)
		return r;
	r = mlfs_dirent_add(txn, s->idx, parent, name, strlen(name), in.ino);
	if (r)
		return r;
	if (ret)
		*ret = in;
	return 0;
}

static int touch_dir(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t ino)
{
	struct mlfs_inode in;
	int r;

	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r)
		return r;
	in.mtime_ns = in.ctime_ns = op->now_ns;
	return mlfs_ino_update(txn, s->idx, &in);
}

static void user_name(uint32_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, cap, "%s", res->pw_name);
	else
		snprintf(buf, cap, "%u", uid);
}

static int make_experiment(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			   const char *name, mode_t mode, struct mlfs_inode *ret)
{
	struct mlfs_inode exp;
	int r;

	r = new_inode(txn, s, op, MLFS_K_EXP, S_IFDIR | (mode & 07777), MLFS_ROOT_INO, &exp);
	if (r)
		return r;
	r = mlfs_exp_id_alloc(txn, s->idx, &exp.u.exp.id);
	if (r)
		return r;
	exp.u.exp.created_ms = op->now_ns / 1000000;
	if ((r = mlfs_ino_put(txn, s->idx, &exp, NULL, 0)) ||
	    (r = mlfs_dirent_add(txn, s->idx, MLFS_ROOT_INO, name, strlen(name), exp.ino)) ||
	    (r = mlfs_add_child(txn, s, op, exp.ino, "meta", MLFS_K_EXP_META, S_IFREG | 0444, 0, NULL,
			   0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, exp.ino, "tags", MLFS_K_XTAGS, DIR_MODE, MLFS_IF_TOP, NULL,
			   0, NULL)))
		return r;
	*ret = exp;
	return 0;
}

static int make_run(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t exp,
		    const char *name, mode_t mode, struct mlfs_inode *ret)
{
	struct mlfs_inode run;
	char user[256];
	int r;

	r = new_inode(txn, s, op, MLFS_K_RUN, S_IFDIR | (mode & 07777), exp, &run);
	if (r)
		return r;
	if (getrandom(run.u.run.id, sizeof(run.u.run.id), 0) != sizeof(run.u.run.id))
		return -errno;
	run.u.run.start_ms = op->now_ns / 1000000;
	run.u.run.status = MLFS_RUNNING;
	run.u.run.exp = exp;
	user_name(op->uid, user, sizeof(user));
	if ((r = mlfs_ino_put(txn, s->idx, &run, user, strlen(user))) ||
	    (r = mlfs_dirent_add(txn, s->idx, exp, name, strlen(name), run.ino)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "params", MLFS_K_PARAMS, DIR_MODE, MLFS_IF_TOP,
			   NULL, 0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "metrics", MLFS_K_METRICS, DIR_MODE, MLFS_IF_TOP,
			   NULL, 0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "tags", MLFS_K_TAGS, DIR_MODE, MLFS_IF_TOP, NULL,
			   0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "artifacts", MLFS_K_ADIR, DIR_MODE, MLFS_IF_TOP,
			   NULL, 0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "status", MLFS_K_STATUS, S_IFREG | 0644, 0, NULL,
			   0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, run.ino, "meta", MLFS_K_RUN_META, S_IFREG | 0444, 0, NULL,
			   0, NULL)))
		return r;
	*ret = run;
	return 0;
}

/*
 * The full key of name in key folder dir ("train" + "loss" -> "train/loss")
 * into buf, and the run (or experiment) that owns the key.
 */
static int key_of(MDB_txn *txn, struct mlfs_store *s, const struct mlfs_inode *dir,
		  const char *name, size_t len, char *buf, size_t cap, uint64_t *ret_owner)
{
	struct mlfs_inode cur = *dir, up;
	size_t pos = cap - 1;
	const char *part;
	size_t plen;
	int r;

	if (len + 1 > cap)
		return -ENAMETOOLONG;
	buf[pos] = 0;
	pos -= len;
	memcpy(buf + pos, name, len);
	while (!(cur.flags & MLFS_IF_TOP)) {
		r = mlfs_child_name(txn, s->idx, cur.parent, cur.ino, &part, &plen);
		if (r)
			return r;
		if (plen + 1 > pos)
			return -ENAMETOOLONG;
		buf[--pos] = '/';
		pos -= plen;
		memcpy(buf + pos, part, plen);
		r = mlfs_ino_get(txn, s->idx, cur.parent, &up, NULL);
		if (r)
			return r;
		cur = up;
	}
	memmove(buf, buf + pos, cap - pos);
	*ret_owner = cur.parent;
	return (int)(cap - 1 - pos);
}

static int check_key(struct mlfs_op *op, const char *key, size_t klen)
{
	int r = mlfs_key_check(key, klen);

	if (r == -ENAMETOOLONG)
		return mlfs_refuse(op, r, "key is %zu bytes; the limit is %d", klen, MLFS_KEY_MAX);
	if (r)
		return mlfs_refuse(op, r,
				   "key '%.*s' has a character MLflow does not allow "
				   "(letters, digits, _ - . / : and space)",
				   (int)klen, key);
	return 0;
}

/* key_of() failed with r. */
static int key_error(struct mlfs_op *op, int r)
{
	if (r == -ENAMETOOLONG)
		return mlfs_refuse(op, r, "key is longer than %d bytes", MLFS_KEY_MAX);
	return r;
}

static int check_name(struct mlfs_op *op, const char *what, const char *name, size_t len)
{
	int r = mlfs_name_check(name, len);

	if (r == -ENAMETOOLONG)
		return mlfs_refuse(op, r, "%s name is %zu bytes; the limit is %d", what, len,
				   MLFS_NAME_MAX);
	if (r)
		return mlfs_refuse(op, r, "%s name may not be empty or start with '.'", what);
	return 0;
}

static int copy_name(char *buf, const char *name, size_t len)
{
	if (len > MLFS_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, name, len);
	buf[len] = 0;
	return 0;
}

static int trash_refusal(struct mlfs_op *op)
{
	return mlfs_refuse(op, -EPERM, "the trash changes only by mv in and out of it; "
				       "mlfs gc --purge empties it");
}

/* -EEXIST, saying so when the name is held by something in .trash. */
static int name_taken(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t ino)
{
	struct mlfs_inode in;

	if (mlfs_ino_get(txn, s->idx, ino, &in, NULL) == 0 && in_trash(&in))
		return mlfs_refuse(op, -EEXIST,
				   "a deleted %s holds that name until it is purged "
				   "(mlfs gc --purge) or restored",
				   in.kind == MLFS_K_EXP ? "experiment" : "run");
	return -EEXIST;
}

/* After a change in folder parent that returned r: touch the folder and commit, or abort. */
static int finish_entry(struct mlfs_store *s, struct mlfs_op *op, MDB_txn *txn, uint64_t parent,
			int r)
{
	if (r == 0)
		r = touch_dir(txn, s, op, parent);
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	return mlfs_store_commit(s, txn);
}

/*
 * Begin making entry name in folder parent: the name is copied to nm (with
 * its NUL), a write transaction is begun in *ret_txn and the folder read into
 * *dir.  A taken name is -EEXIST: with ret_taken, quietly and with the inode
 * holding it in *ret_taken; without, with a sentence when a deleted run or
 * experiment holds it.  On any error no transaction is left open.
 */
static int begin_new_entry(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent,
			   const char *name, size_t len, char *nm, MDB_txn **ret_txn,
			   struct mlfs_inode *dir, uint64_t *ret_taken)
{
	MDB_txn *txn;
	uint64_t ino;
	int r;

	r = copy_name(nm, name, len);
	if (r)
		return mlfs_refuse(op, r, "name is %zu bytes; the limit is %d", len, MLFS_NAME_MAX);
	if (is_trash_ino(parent))
		return trash_refusal(op);
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, parent, dir, NULL);
	if (r == 0 && mlfs_dirent_get(txn, s->idx, parent, name, len, &ino) == 0) {
		if (ret_taken)
			*ret_taken = ino;
		r = ret_taken ? -EEXIST : name_taken(txn, s, op, ino);
	}
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	*ret_txn = txn;
	return 0;
}

/* After making entry in (r: how that went): its stat into *ret, then finish_entry(). */
static int finish_new_entry(struct mlfs_store *s, struct mlfs_op *op, MDB_txn *txn,
			    uint64_t parent, const struct mlfs_inode *in, struct stat *ret, int r)
{
	if (r == 0)
		r = mlfs_stat_txn(s, txn, in, NULL, ret);
	return finish_entry(s, op, txn, parent, r);
}

int mlfs_mkdir(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
	       size_t len, mode_t mode, struct stat *ret)
{
	struct mlfs_inode dir, in;
	MDB_txn *txn;
	char nm[MLFS_NAME_MAX + 1], key[512];
	uint64_t owner;
	int r;

	r = begin_new_entry(s, op, parent, name, len, nm, &txn, &dir, NULL);
	if (r)
		return r;
	switch (dir.kind) {
	case MLFS_K_ROOT:
		if (mlfs_name_reserved_root(name, len)) {
			r = mlfs_refuse(op, -EINVAL, "'%s' is a reserved name", nm);
			break;
		}
		r = check_name(op, "experiment", name, len);
		if (r == 0)
			r = make_experiment(txn, s, op, nm, mode, &in);
		break;
	case MLFS_K_EXP:
		if (mlfs_name_reserved_exp(name, len)) {
			r = mlfs_refuse(op, -EINVAL, "'%s' is a reserved name in an experiment", nm);
			break;
		}
		r = check_name(op, "run", name, len);
		if (r == 0)
			r = make_run(txn, s, op, parent, nm, mode, &in);
		break;
	case MLFS_K_PARAMS:
	case MLFS_K_METRICS:
	case MLFS_K_TAGS:
	case MLFS_K_XTAGS:
		r = key_of(txn, s, &dir, name, len, key, sizeof(key), &owner);
		r = r < 0 ? key_error(op, r) : check_key(op, key, (size_t)r);
		if (r == 0)
			r = mlfs_add_child(txn, s, op, parent, nm, dir.kind,
					   S_IFDIR | (mode & 07777), 0, NULL, 0, &in);
		break;
	case MLFS_K_ADIR:
		r = mlfs_reg_frozen(txn, s, op, &dir);
		if (r == 0)
			r = mlfs_add_child(txn, s, op, parent, nm, MLFS_K_ADIR,
					   S_IFDIR | (mode & 07777), 0, NULL, 0, &in);
		break;
	case MLFS_K_MODELS:
		r = mlfs_reg_model(txn, s, op, parent, nm, mode, &in);
		break;
	case MLFS_K_MODEL:
		r = mlfs_reg_version(txn, s, op, &dir, nm, mode, &in);
		break;
	default:
		r = mlfs_refuse(op, is_dir_kind(dir.kind) ? -EPERM : -ENOTDIR,
				"cannot make a folder in %s", kind_noun(dir.kind));
	}
	return finish_new_entry(s, op, txn, parent, &in, ret, r);
}

int mlfs_create(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len, mode_t mode, bool excl, struct stat *ret, bool *ret_created)
{
	struct mlfs_inode dir, in;
	MDB_txn *txn;
	char nm[MLFS_NAME_MAX + 1], key[512];
	uint64_t owner, taken = 0;
	int r, kind, klen;

	r = begin_new_entry(s, op, parent, name, len, nm, &txn, &dir, &taken);
	if (r == -EEXIST && taken && !excl) {
		/* Another process made it first: open that one (O_CREAT without O_EXCL). */
		*ret_created = false;
		return mlfs_getattr(s, taken, ret);
	}
	if (r)
		return r;
	if (dir.kind == MLFS_K_ADIR) {
		r = mlfs_reg_frozen(txn, s, op, &dir);
		if (r == 0)
			r = mlfs_add_child(txn, s, op, parent, nm, MLFS_K_AFILE,
					   S_IFREG | (mode & 07777), 0, NULL, 0, &in);
	} else if (is_key_dir(dir.kind)) {
		kind = key_file_kind(dir.kind);
		klen = key_of(txn, s, &dir, name, len, key, sizeof(key), &owner);
		r = klen < 0 ? key_error(op, klen) : check_key(op, key, (size_t)klen);
		if (r == 0)
			r = mlfs_add_child(txn, s, op, parent, nm, kind, S_IFREG | (mode & 0777), 0,
					   NULL, 0, &in);
		if (r == 0 && kind != MLFS_K_XTAG)
			r = mlfs_rkey_put(txn, s->idx, owner, key_section(kind), key, klen, in.ino);
	} else {
		r = mlfs_refuse(op, is_dir_kind(dir.kind) ? -EPERM : -ENOTDIR,
				"files cannot be made in %s; use params/, metrics/, tags/ or "
				"artifacts/",
				kind_noun(dir.kind));
	}
	r = finish_new_entry(s, op, txn, parent, &in, ret, r);
	if (r == 0)
		*ret_created = true;
	return r;
}

int mlfs_symlink(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		 size_t len, const char *target, struct stat *ret)
{
	struct mlfs_inode dir, in;
	MDB_txn *txn;
	char nm[MLFS_NAME_MAX + 1];
	size_t tlen = strlen(target);
	int r;

	if (tlen == 0 || tlen >= 4096)
		return mlfs_refuse(op, tlen ? -ENAMETOOLONG : -ENOENT, "bad symlink target");
	r = begin_new_entry(s, op, parent, name, len, nm, &txn, &dir, NULL);
	if (r)
		return r;
	if (dir.kind == MLFS_K_ALIASES)
		r = mlfs_reg_alias(txn, s, op, &dir, nm, target, &in);
	else if (dir.kind != MLFS_K_ADIR)
		r = mlfs_refuse(op, -EPERM, "symlinks can only be made under artifacts/ and aliases/");
	else if ((r = mlfs_reg_frozen(txn, s, op, &dir)) == 0)
		r = mlfs_add_child(txn, s, op, parent, nm, MLFS_K_ALINK, S_IFLNK | 0777, 0, target,
				   tlen, &in);
	return finish_new_entry(s, op, txn, parent, &in, ret, r);
}

int mlfs_readlink(struct mlfs_store *s, uint64_t ino, char *buf, size_t cap)
{
	struct mlfs_inode in;
	const char *payload;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r == 0 && in.kind == MLFS_K_MLINK) {
		r = mlfs_reg_link_target(&in, payload, buf, cap);
		mlfs_txn_abort(txn);
		return r;
	}
	if (r == 0 && in.kind != MLFS_K_ALINK)
		r = -EINVAL;
	if (r == 0 && in.payload_len >= cap)
		r = -ENAMETOOLONG;
	if (r == 0) {
		memcpy(buf, payload, in.payload_len);
		buf[in.payload_len] = 0;
		r = in.payload_len;
	}
	mlfs_txn_abort(txn);
	return r;
}

static MDB_val ino_key(uint8_t kb[8], uint64_t ino)
{
	mlfs_be64_put(kb, ino);
	return (MDB_val){ 8, kb };
}

/* in lost its name but is open: keep it, nameless, until its last close. */
static int make_orphan(MDB_txn *txn, struct mlfs_store *s, const struct mlfs_inode *in)
{
	struct mlfs_inode o = *in;
	uint8_t kb[8];
	MDB_val k = ino_key(kb, in->ino), v = { 0, NULL };
	int r;

	o.flags |= MLFS_IF_ORPHAN;
	r = mlfs_ino_update(txn, s->idx, &o);
	return r ? r : mlfs_mdb_err(mdb_put(txn, s->idx->orphan, &k, &v, 0));
}

/* Remove orphan ino and its content, in txn. */
static int drop_orphan(MDB_txn *txn, struct mlfs_store *s, uint64_t ino)
{
	uint8_t kb[8];
	MDB_val k = ino_key(kb, ino);
	int r;

	r = mlfs_range_del(txn, s->idx->extent, ino);
	if (r == 0)
		r = mlfs_ino_del(txn, s->idx, ino);
	if (r == 0 || r == -ENOENT)
		r = mlfs_mdb_err(mdb_del(txn, s->idx->orphan, &k, NULL));
	return r == -ENOENT ? 0 : r;
}

int mlfs_orphan_release(struct mlfs_store *s, uint64_t ino)
{
	struct mlfs_inode in;
	MDB_txn *txn;
	int r;

	r = mlfs_inode_of(s, ino, &in);
	if (r || !(in.flags & MLFS_IF_ORPHAN))
		return r == -ENOENT ? 0 : r;
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = drop_orphan(txn, s, ino);
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	return mlfs_store_commit(s, txn);
}

int mlfs_orphans_purge(struct mlfs_store *s)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	MDB_stat st;
	int r, rc;

	/* Usually there is none: do not take the writer's lock (or grow the map) for nothing. */
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	rc = mdb_stat(txn, s->idx->orphan, &st);
	mlfs_txn_abort(txn);
	if (rc || st.ms_entries == 0)
		return mlfs_mdb_err(rc);
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	rc = mdb_cursor_open(txn, s->idx->orphan, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (mlfs_grow(&inos, &cap, n, sizeof(*inos))) {
			rc = ENOMEM;
			break;
		}
		if (k.mv_size == 8)
			inos[n++] = mlfs_be64_get(k.mv_data);
	}
	if (rc == 0 || rc == MDB_NOTFOUND)
		mdb_cursor_close(cur);
	r = rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
	for (size_t i = 0; i < n && r == 0; i++)
		r = drop_orphan(txn, s, inos[i]);
	free(inos);
	if (r || n == 0) {
		mlfs_txn_abort(txn);
		return r;
	}
	r = mlfs_store_commit(s, txn);
	return r ? r : (int)n;
}

/* Remove inode in (named name in parent) and everything it owns. */
static int drop_entry(MDB_txn *txn, struct mlfs_store *s, struct mlfs_inode *dir,
		      const struct mlfs_inode *in, const char *name, size_t len)
{
	char key[512];
	uint64_t owner;
	int r, klen;

	r = mlfs_dirent_del(txn, s->idx, dir->ino, name, len, in->ino);
	if (r)
		return r;
	if (in->kind == MLFS_K_TAG || in->kind == MLFS_K_PARAM || in->kind == MLFS_K_METRIC) {
		klen = key_of(txn, s, dir, name, len, key, sizeof(key), &owner);
		if (klen < 0)
			return klen;
		r = mlfs_rkey_del(txn, s->idx, owner, key_section(in->kind), key, klen);
		if (r)
			return r;
	}
	if (in->kind == MLFS_K_AFILE && s->is_open && s->is_open(in->ino))
		return make_orphan(txn, s, in);
	if (in->kind == MLFS_K_AFILE) {
		/* Its chunks stay in the chunk store until gc finds nothing refers to them. */
		r = mlfs_range_del(txn, s->idx->extent, in->ino);
		if (r)
			return r;
	}
	return mlfs_ino_del(txn, s->idx, in->ino);
}

int mlfs_drop_if_empty(struct mlfs_store *s, uint64_t ino)
{
	struct mlfs_inode dir, in;
	const char *name;
	char nm[MLFS_NAME_MAX + 1];
	size_t len;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	if ((r = mlfs_ino_get(txn, s->idx, ino, &in, NULL)))
		goto fail;
	if ((in.kind != MLFS_K_PARAM && in.kind != MLFS_K_METRIC && in.kind != MLFS_K_TAG &&
	     in.kind != MLFS_K_XTAG) ||
	    (in.kind == MLFS_K_METRIC && in.u.metric.npoints) ||
	    (in.kind != MLFS_K_METRIC && (in.flags & MLFS_IF_VALUE_SET))) {
		mlfs_txn_abort(txn);
		return 0;
	}
	if ((r = mlfs_ino_get(txn, s->idx, in.parent, &dir, NULL)) ||
	    (r = mlfs_child_name(txn, s->idx, in.parent, ino, &name, &len)))
		goto fail;
	memcpy(nm, name, len); /* name points into a page the deletes may change */
	if ((r = drop_entry(txn, s, &dir, &in, nm, len)))
		goto fail;
	return mlfs_store_commit(s, txn);
fail:
	mlfs_txn_abort(txn);
	return r == -ENOENT ? 0 : r;
}

/* Begin a write transaction and read folder parent and its entry name into *dir and *in. */
static int begin_entry(struct mlfs_store *s, uint64_t parent, const char *name, size_t len,
		       MDB_txn **ret_txn, struct mlfs_inode *dir, struct mlfs_inode *in)
{
	MDB_txn *txn;
	uint64_t ino;
	int r;

	if (is_trash_ino(parent))
		return -EPERM;
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	if ((r = mlfs_ino_get(txn, s->idx, parent, dir, NULL)) ||
	    (r = mlfs_dirent_get(txn, s->idx, parent, name, len, &ino)) ||
	    (r = mlfs_ino_get(txn, s->idx, ino, in, NULL))) {
		mlfs_txn_abort(txn);
		return r;
	}
	*ret_txn = txn;
	return 0;
}

int mlfs_unlink(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len)
{
	struct mlfs_inode dir, in;
	MDB_txn *txn;
	int r;

	r = begin_entry(s, parent, name, len, &txn, &dir, &in);
	if (r)
		return r == -EPERM ? trash_refusal(op) : r;
	switch (in.kind) {
	case MLFS_K_AFILE:
	case MLFS_K_ALINK:
		r = mlfs_reg_frozen(txn, s, op, &in);
		if (r == 0)
			r = drop_entry(txn, s, &dir, &in, name, len);
		break;
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
		r = drop_entry(txn, s, &dir, &in, name, len);
		break;
	case MLFS_K_MLINK:
		if ((in.flags & MLFS_IF_ALIAS) && !(len == 6 && !memcmp(name, "latest", 6)))
			r = drop_entry(txn, s, &dir, &in, name, len);
		else
			r = mlfs_refuse(op, -EPERM, "%.*s follows the versions; it is kept by mlfs",
					(int)len, name);
		break;
	case MLFS_K_PARAM:
		r = mlfs_refuse(op, -EPERM, "params cannot be deleted");
		break;
	case MLFS_K_METRIC:
		r = mlfs_refuse(op, -EPERM, "metrics cannot be deleted");
		break;
	default:
		if (is_dir_kind(in.kind))
			r = -EISDIR;
		else
			r = mlfs_refuse(op, -EPERM, "%s is part of the run and cannot be deleted",
					kind_noun(in.kind));
	}
	return finish_entry(s, op, txn, parent, r);
}

int mlfs_rmdir(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
	       size_t len)
{
	struct mlfs_inode dir, in;
	MDB_txn *txn;
	int r;

	r = begin_entry(s, parent, name, len, &txn, &dir, &in);
	if (r)
		return r == -EPERM ? trash_refusal(op) : r;
	if (!is_dir_kind(in.kind))
		r = -ENOTDIR;
	else if (in.kind == MLFS_K_EXP || in.kind == MLFS_K_RUN)
		r = mlfs_refuse(op, -ENOTEMPTY, "%s keeps its record; move it to .trash to delete it",
				kind_noun(in.kind));
	else if (in.flags & MLFS_IF_TOP)
		r = mlfs_refuse(op, -EPERM, "%s is part of the run and cannot be deleted",
				kind_noun(in.kind));
	else if (in.kind == MLFS_K_MODEL || in.kind == MLFS_K_VERSION || in.kind == MLFS_K_ALIASES ||
		 in.kind == MLFS_K_MODELS)
		r = mlfs_refuse(op, -EPERM, "%s is kept: version numbers are never reused",
				kind_noun(in.kind));
	else if ((r = mlfs_reg_frozen(txn, s, op, &in)) == 0)
		r = mlfs_dir_has_children(txn, s->idx, in.ino);
	if (r > 0)
		r = -ENOTEMPTY;
	if (r == 0)
		r = drop_entry(txn, s, &dir, &in, name, len);
	return finish_entry(s, op, txn, parent, r);
}

/* May an entry of kind move from folder a to folder b? 0 or a refusal. */
static int rename_allowed(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			  const struct mlfs_inode *a, const struct mlfs_inode *b,
			  const struct mlfs_inode *in, const char *name, size_t len,
			  const char *newname, size_t newlen)
{
	int r;

	if (a->kind == MLFS_K_ADIR && b->kind == MLFS_K_ADIR) {
		r = mlfs_reg_frozen(txn, s, op, in);
		return r ? r : mlfs_reg_frozen(txn, s, op, b);
	}
	if (a->kind == MLFS_K_ALIASES && b->ino == a->ino)
		return mlfs_reg_alias_rename(op, in, name, len, newname, newlen);
	if (in->kind == MLFS_K_MODEL && b->ino == a->ino) {
		r = mlfs_name_check(newname, newlen);
		return r ? mlfs_refuse(op, r, "model name '%.*s' may not be empty, longer than 255 "
					      "bytes or start with '.'",
				       (int)(newlen > 255 ? 255 : newlen), newname)
			 : 0;
	}
	if (in->kind == MLFS_K_EXP && b->kind == MLFS_K_ROOT) {
		if (mlfs_name_reserved_root(newname, newlen))
			return mlfs_refuse(op, -EINVAL, "'%.*s' is a reserved name", (int)newlen,
					   newname);
		return check_name(op, "experiment", newname, newlen);
	}
	if (in->kind == MLFS_K_RUN && b->ino == a->ino) {
		if (mlfs_name_reserved_exp(newname, newlen))
			return mlfs_refuse(op, -EINVAL, "'%.*s' is a reserved name in an experiment",
					   (int)newlen, newname);
		r = check_name(op, "run", newname, newlen);
		return r;
	}
	if (in->kind == MLFS_K_RUN)
		return mlfs_refuse(op, -EPERM, "runs cannot move between experiments");
	if (b->kind == MLFS_K_ADIR || a->kind == MLFS_K_ADIR)
		return mlfs_refuse(op, -EPERM, "artifacts can only move within artifacts/");
	return mlfs_refuse(op, -EPERM, "%s cannot be renamed", kind_noun(in->kind));
}

/*
 * A move into or out of .trash: an experiment between the root and .trash,
 * a run between its experiment and that experiment's place in .trash, the
 * name unchanged.  It deletes or restores.
 */
static int trash_move(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		      size_t len, uint64_t newparent, const char *newname, size_t newlen)
{
	struct mlfs_inode in;
	MDB_txn *txn;
	uint64_t dir, ino;
	bool deleting = is_trash_ino(newparent);
	int r;

	if (len != newlen || memcmp(name, newname, len))
		return mlfs_refuse(op, -EINVAL, "a deleted experiment or run keeps its name; "
						"rename it before or after");
	if (is_trash_ino(parent) == deleting)
		return trash_refusal(op);
	dir = deleting ? parent : newparent;
	if (!deleting && ((parent == MLFS_TRASH_INO) != (newparent == MLFS_ROOT_INO) ||
			  (parent != MLFS_TRASH_INO && (parent & ~MLFS_VIEW_BIT) != newparent)))
		return mlfs_refuse(op, -EPERM, "a run goes back to its own experiment");
	if (deleting && ((newparent == MLFS_TRASH_INO) != (parent == MLFS_ROOT_INO) ||
			 (newparent != MLFS_TRASH_INO && (newparent & ~MLFS_VIEW_BIT) != parent)))
		return mlfs_refuse(op, -EPERM,
				   "an experiment goes to .trash/, a run to .trash/<its experiment>/");
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_dirent_get(txn, s->idx, dir, name, len, &ino);
	if (r == 0)
		r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	mlfs_txn_abort(txn);
	if (r)
		return r;
	if (in.kind != MLFS_K_EXP && in.kind != MLFS_K_RUN)
		return mlfs_refuse(op, -EPERM, "only experiments and runs go to .trash");
	if ((in.deleted_ms != 0) == deleting)
		return -ENOENT; /* the tree does not show it where the move starts */
	return mlfs_trash_set(s, op, ino, deleting);
}

int mlfs_rename(struct mlfs_store *s, struct mlfs_op *op, uint64_t parent, const char *name,
		size_t len, uint64_t newparent, const char *newname, size_t newlen,
		unsigned flags)
{
	struct mlfs_inode a, b, in, old, up;
	MDB_txn *txn;
	uint64_t ino, oldino;
	int r;

	if (newlen > MLFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (is_trash_ino(parent) || is_trash_ino(newparent))
		return trash_move(s, op, parent, name, len, newparent, newname, newlen);
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	if ((r = mlfs_ino_get(txn, s->idx, parent, &a, NULL)) ||
	    (r = mlfs_ino_get(txn, s->idx, newparent, &b, NULL)) ||
	    (r = mlfs_dirent_get(txn, s->idx, parent, name, len, &ino)) ||
	    (r = mlfs_ino_get(txn, s->idx, ino, &in, NULL)))
		goto fail;
	if (in_trash(&in)) {
		r = -ENOENT;
		goto fail;
	}
	r = rename_allowed(txn, s, op, &a, &b, &in, name, len, newname, newlen);
	if (r)
		goto fail;
	/* A folder cannot move below itself. */
	for (up = b; is_dir_kind(in.kind) && up.ino != MLFS_ROOT_INO;) {
		if (up.ino == in.ino) {
			r = -EINVAL;
			goto fail;
		}
		r = mlfs_ino_get(txn, s->idx, up.parent, &up, NULL);
		if (r)
			goto fail;
	}
	r = mlfs_dirent_get(txn, s->idx, newparent, newname, newlen, &oldino);
	if (r == 0) {
		if (oldino == ino) { /* same file: nothing to do */
			mlfs_txn_abort(txn);
			return 0;
		}
		if (flags & RENAME_NOREPLACE) {
			r = -EEXIST;
			goto fail;
		}
		r = mlfs_ino_get(txn, s->idx, oldino, &old, NULL);
		if (r)
			goto fail;
		if (old.kind == MLFS_K_EXP || old.kind == MLFS_K_RUN) {
			r = in_trash(&old) ? name_taken(txn, s, op, oldino)
					   : mlfs_refuse(op, -EEXIST, "%s of that name exists",
							 kind_noun(old.kind));
			goto fail;
		}
		if (is_dir_kind(old.kind) != is_dir_kind(in.kind)) {
			r = is_dir_kind(old.kind) ? -EISDIR : -ENOTDIR;
			goto fail;
		}
		if (is_dir_kind(old.kind)) {
			r = mlfs_dir_has_children(txn, s->idx, oldino);
			if (r > 0)
				r = -ENOTEMPTY;
			if (r)
				goto fail;
		}
		r = drop_entry(txn, s, &b, &old, newname, newlen);
		if (r)
			goto fail;
	} else if (r != -ENOENT) {
		goto fail;
	}
	if ((r = mlfs_dirent_del(txn, s->idx, parent, name, len, ino)) ||
	    (r = mlfs_dirent_add(txn, s->idx, newparent, newname, newlen, ino)))
		goto fail;
	in.parent = newparent;
	in.ctime_ns = op->now_ns;
	if ((r = mlfs_ino_update(txn, s->idx, &in)) || (r = touch_dir(txn, s, op, parent)) ||
	    (newparent != parent && (r = touch_dir(txn, s, op, newparent))))
		goto fail;
	return mlfs_store_commit(s, txn);
fail:
	mlfs_txn_abort(txn);
	return r;
}

int mlfs_setattr(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const struct stat *attr,
		 unsigned set, struct stat *ret)
{
	struct mlfs_inode in;
	const char *payload;
	struct stat cur;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	if ((r = mlfs_ino_get(txn, s->idx, ino, &in, &payload)) ||
	    (r = mlfs_stat_txn(s, txn, &in, payload, &cur)))
		goto fail;
	if ((set & MLFS_SET_SIZE) && attr->st_size != cur.st_size) {
		if (is_dir_kind(in.kind))
			r = -EISDIR;
		else if (in.kind == MLFS_K_METRIC)
			r = mlfs_refuse(op, -EPERM, "metric points cannot be changed or deleted");
		else if (in.kind == MLFS_K_PARAM)
			r = mlfs_refuse(op, -EPERM, "params are fixed once logged");
		else
			r = mlfs_refuse(op, -EPERM, "%s cannot be truncated", kind_noun(in.kind));
		goto fail;
	}
	if (set & MLFS_SET_MODE)
		in.mode = (in.mode & S_IFMT) | (attr->st_mode & 07777);
	if (set & MLFS_SET_UID)
		in.uid = attr->st_uid;
	if (set & MLFS_SET_GID)
		in.gid = attr->st_gid;
	if (set & MLFS_SET_ATIME_NOW)
		in.atime_ns = op->now_ns;
	else if (set & MLFS_SET_ATIME)
		in.atime_ns = attr->st_atim.tv_sec * 1000000000ll + attr->st_atim.tv_nsec;
	if (set & MLFS_SET_MTIME_NOW)
		in.mtime_ns = op->now_ns;
	else if (set & MLFS_SET_MTIME)
		in.mtime_ns = attr->st_mtim.tv_sec * 1000000000ll + attr->st_mtim.tv_nsec;
	in.ctime_ns = op->now_ns;
	if ((r = mlfs_ino_update(txn, s->idx, &in)) ||
	    (r = mlfs_stat_txn(s, txn, &in, payload, ret)))
		goto fail;
	return mlfs_store_commit(s, txn);
fail:
	mlfs_txn_abort(txn);
	return r;
}

struct readdir_ctx {
	struct mlfs_store *s;
	MDB_txn *txn;
	mlfs_readdir_fn fn;
	void *ctx;
	uint64_t listing; /* the folder as the caller named it (.trash, a view, or real) */
	bool all;         /* a deleted experiment: its deleted runs are listed too */
};

static int readdir_one(void *c, uint64_t ino, const char *name, size_t len)
{
	struct readdir_ctx *rc = c;
	struct mlfs_inode in;
	const char *payload;
	struct stat st;
	int r;

	r = mlfs_ino_get(rc->txn, rc->s->idx, ino, &in, &payload);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	if (rc->listing == MLFS_TRASH_INO) {
		/* deleted experiments, and live ones that have deleted runs (as views) */
		if (in.kind != MLFS_K_EXP || (!in.deleted_ms && !in.u.exp.ndeleted))
			return 0;
		if (!in.deleted_ms)
			r = stat_trash(rc->s, rc->txn, ino | MLFS_VIEW_BIT, &st);
		else
			r = mlfs_stat_txn(rc->s, rc->txn, &in, payload, &st);
	} else if (rc->listing & MLFS_VIEW_BIT) {
		if (in.kind != MLFS_K_RUN || !in.deleted_ms)
			return 0;
		r = mlfs_stat_txn(rc->s, rc->txn, &in, payload, &st);
	} else {
		/* A deleted experiment is in .trash whole: its deleted runs show in it too. */
		if ((in_trash(&in) && !rc->all) || unlogged(&in))
			return 0;
		r = mlfs_stat_txn(rc->s, rc->txn, &in, payload, &st);
	}
	if (r)
		return r;
	return rc->fn(rc->ctx, name, len, &st, ino + 1);
}

int mlfs_readdir(struct mlfs_store *s, uint64_t ino, uint64_t from, mlfs_readdir_fn fn, void *ctx)
{
	struct readdir_ctx rc = { s, NULL, fn, ctx, ino, false };
	struct mlfs_inode in;
	struct stat st;
	uint64_t dir = ino;
	int r;

	r = mlfs_txn_begin(s->idx, false, &rc.txn);
	if (r)
		return r;
	if (ino == MLFS_TRASH_INO)
		dir = MLFS_ROOT_INO;
	else if (ino & MLFS_VIEW_BIT)
		dir = ino & ~MLFS_VIEW_BIT;
	r = mlfs_ino_get(rc.txn, s->idx, dir, &in, NULL);
	if (r)
		goto out;
	if (!is_dir_kind(in.kind)) {
		r = -ENOTDIR;
		goto out;
	}
	if (ino == MLFS_TRASH_INO)
		in.parent = MLFS_ROOT_INO;
	else if (ino & MLFS_VIEW_BIT)
		in.parent = MLFS_TRASH_INO;
	else if (in.kind == MLFS_K_EXP && in.deleted_ms)
		rc.all = true;
	if (from < 1) {
		r = stat_ino(s, rc.txn, ino, &st);
		if (r == 0)
			r = fn(ctx, ".", 1, &st, 1);
		if (r)
			goto out;
	}
	if (from < 2) {
		r = stat_ino(s, rc.txn, in.parent, &st);
		if (r == 0)
			r = fn(ctx, "..", 2, &st, 2);
		if (r)
			goto out;
	}
	r = mlfs_dir_walk(rc.txn, s->idx, dir, from < 2 ? 0 : from, readdir_one, &rc);
out:
	mlfs_txn_abort(rc.txn);
	return r == 1 ? 0 : r;
}

int mlfs_path(struct mlfs_store *s, MDB_txn *txn, uint64_t ino, char *buf, size_t cap)
{
	struct mlfs_inode in;
	size_t pos = cap - 1;
	const char *name;
	size_t len;
	bool trashed = false;
	int r, depth = 0;

	if (cap < 8)
		return -ENOBUFS;
	buf[pos] = 0;
	if (ino == MLFS_TRASH_INO) {
		snprintf(buf, cap, ".trash");
		return 6;
	}
	trashed = (ino & MLFS_VIEW_BIT) != 0;
	ino &= ~MLFS_VIEW_BIT;
	while (ino != MLFS_ROOT_INO) {
		if (++depth > 4096)
			return MLFS_E_CORRUPT;
		r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
		if (r)
			return r;
		trashed |= in_trash(&in);
		r = mlfs_child_name(txn, s->idx, in.parent, ino, &name, &len);
		if (r)
			return r;
		if (len + (pos < cap - 1) > pos)
			return -ENAMETOOLONG;
		if (pos < cap - 1)
			buf[--pos] = '/';
		pos -= len;
		memcpy(buf + pos, name, len);
		ino = in.parent;
	}
	if (trashed) {
		if (pos < 7)
			return -ENAMETOOLONG;
		pos -= 7;
		memcpy(buf + pos, ".trash/", 7);
	}
	memmove(buf, buf + pos, cap - pos);
	return (int)(cap - 1 - pos);
}

void mlfs_path_of(struct mlfs_store *s, uint64_t ino, char *buf, size_t cap)
{
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r == 0) {
		r = mlfs_path(s, txn, ino, buf, cap);
		mlfs_txn_abort(txn);
	}
	if (r < 0)
		snprintf(buf, cap, "#%llu", (unsigned long long)ino);
}

int mlfs_resolve(struct mlfs_store *s, MDB_txn *txn, const char *path, struct mlfs_inode *ret)
{
	struct mlfs_inode in;
	uint64_t ino = MLFS_ROOT_INO;
	const char *p = path, *e;
	int r;

	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		r = mlfs_dirent_get(txn, s->idx, ino, p, e - p, &ino);
		if (r)
			return r;
		p = e;
	}
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r)
		return r;
	*ret = in;
	return 0;
}
