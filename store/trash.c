/* trash.c - see trash.h. */
#include "trash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grow.h"
#include "index.h"

int mlfs_trash_set(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, bool deleted)
{
	struct mlfs_inode in, exp;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r)
		goto fail;
	if (in.kind != MLFS_K_EXP && in.kind != MLFS_K_RUN) {
		r = mlfs_refuse(op, -EINVAL, "only experiments and runs go to .trash");
		goto fail;
	}
	if ((in.deleted_ms != 0) == deleted) {
		mlfs_txn_abort(txn); /* already there */
		return 0;
	}
	in.deleted_ms = deleted ? op->now_ns / 1000000 : 0;
	in.ctime_ns = op->now_ns;
	r = mlfs_ino_update(txn, s->idx, &in);
	if (r)
		goto fail;
	if (in.kind == MLFS_K_RUN) {
		/* The experiment counts its deleted runs, so that .trash lists it. */
		r = mlfs_ino_get(txn, s->idx, in.parent, &exp, NULL);
		if (r)
			goto fail;
		exp.u.exp.ndeleted += deleted ? 1 : -1;
		r = mlfs_ino_update(txn, s->idx, &exp);
		if (r)
			goto fail;
	}
	return mlfs_store_commit(s, txn);
fail:
	mlfs_txn_abort(txn);
	return r;
}

struct trashed {
	uint64_t ino;
	int kind;
	int64_t deleted_ms;
	char *path;
};

struct walk_ctx {
	struct mlfs_store *s;
	MDB_txn *txn;
	struct trashed *v;
	size_t n, cap;
	const char *exp_name;
	size_t exp_len;
	int r;
};

static int add(struct walk_ctx *w, const struct mlfs_inode *in, const char *name, size_t len)
{
	struct trashed t = { in->ino, in->kind, in->deleted_ms, NULL };

	if (mlfs_grow(&w->v, &w->cap, w->n, sizeof(*w->v)))
		return -ENOMEM;
	if (in->kind == MLFS_K_EXP) {
		if (asprintf(&t.path, ".trash/%.*s", (int)len, name) < 0)
			return -ENOMEM;
	} else if (asprintf(&t.path, ".trash/%.*s/%.*s", (int)w->exp_len, w->exp_name, (int)len,
			    name) < 0) {
		return -ENOMEM;
	}
	w->v[w->n++] = t;
	return 0;
}

static int walk_run(void *c, uint64_t ino, const char *name, size_t len)
{
	struct walk_ctx *w = c;
	struct mlfs_inode in;
	int r;

	r = mlfs_ino_get(w->txn, w->s->idx, ino, &in, NULL);
	if (r)
		return r;
	if (in.kind == MLFS_K_RUN && in.deleted_ms)
		return add(w, &in, name, len);
	return 0;
}

static int walk_exp(void *c, uint64_t ino, const char *name, size_t len)
{
	struct walk_ctx *w = c;
	struct mlfs_inode in;
	int r;

	r = mlfs_ino_get(w->txn, w->s->idx, ino, &in, NULL);
	if (r || in.kind != MLFS_K_EXP)
		return r;
	if (in.deleted_ms)
		return add(w, &in, name, len);
	if (!in.u.exp.ndeleted)
		return 0;
	w->exp_name = name;
	w->exp_len = len;
	return mlfs_dir_walk(w->txn, w->s->idx, ino, 0, walk_run, w);
}

int mlfs_trash_walk(struct mlfs_store *s, mlfs_trash_fn fn, void *ctx)
{
	struct walk_ctx w = { .s = s };
	int r;

	r = mlfs_txn_begin(s->idx, false, &w.txn);
	if (r)
		return r;
	r = mlfs_dir_walk(w.txn, s->idx, MLFS_ROOT_INO, 0, walk_exp, &w);
	mlfs_txn_abort(w.txn);
	/* fn may purge: it runs with no transaction of ours open. */
	for (size_t i = 0; i < w.n && r == 0; i++)
		r = fn(ctx, w.v[i].ino, w.v[i].kind, w.v[i].deleted_ms, w.v[i].path);
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].path);
	free(w.v);
	return r;
}

/* Remove ino's own records (not its name in its parent); push its children on todo. */
static int purge_one(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, struct mlfs_kids *todo)
{
	struct mlfs_kids kids = { 0 };
	int r;

	r = mlfs_dir_walk(txn, idx, ino, 0, mlfs_kids_collect, &kids);
	for (size_t i = 0; i < kids.n && r == 0; i++) {
		r = mlfs_dirent_del(txn, idx, ino, kids.v[i].name, kids.v[i].len, kids.v[i].ino);
		if (r == 0)
			r = mlfs_kids_collect(todo, kids.v[i].ino, "", 0);
	}
	free(kids.v);
	if (r == 0)
		r = mlfs_range_del(txn, idx->extent, ino);
	if (r == 0)
		r = mlfs_range_del(txn, idx->mblock, ino);
	if (r == 0)
		r = mlfs_range_del(txn, idx->rkey, ino);
	if (r == 0)
		r = mlfs_ino_del(txn, idx, ino);
	return r;
}

int mlfs_purge(struct mlfs_store *s, uint64_t ino)
{
	struct mlfs_inode in, parent;
	struct mlfs_kids todo = { 0 };
	const char *name;
	char nm[256];
	size_t len;
	MDB_txn *txn;
	int r, count = 0;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	if ((r = mlfs_ino_get(txn, s->idx, ino, &in, NULL)) ||
	    (r = mlfs_ino_get(txn, s->idx, in.parent, &parent, NULL)))
		goto fail;
	if ((in.kind != MLFS_K_EXP && in.kind != MLFS_K_RUN) || !in.deleted_ms) {
		r = -EINVAL;
		goto fail;
	}
	r = mlfs_child_name(txn, s->idx, in.parent, ino, &name, &len);
	if (r)
		goto fail;
	memcpy(nm, name, len); /* name points into a page the deletes change */
	r = mlfs_dirent_del(txn, s->idx, in.parent, nm, len, ino);
	if (r)
		goto fail;
	if (in.kind == MLFS_K_RUN) {
		parent.u.exp.ndeleted--;
		r = mlfs_ino_update(txn, s->idx, &parent);
		if (r)
			goto fail;
	}
	r = mlfs_kids_collect(&todo, ino, "", 0);
	while (r == 0 && todo.n) {
		uint64_t next = todo.v[--todo.n].ino;

		r = purge_one(txn, s->idx, next, &todo);
		count++;
	}
	free(todo.v);
	if (r)
		goto fail;
	r = mlfs_store_commit(s, txn);
	return r ? r : count;
fail:
	mlfs_txn_abort(txn);
	return r;
}
