/* registry.c - see registry.h. */
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "grow.h"
#include "index.h"
#include "names.h"
#include "tree.h"

#define DIR_MODE (S_IFDIR | 0755)
#define LINK_MODE (S_IFLNK | 0777)

static const char *const stage_names[] = { "None", "Staging", "Production", "Archived" };

const char *mlfs_stage_name(enum mlfs_stage st)
{
	return (unsigned)st < 4 ? stage_names[st] : "None";
}

int mlfs_stage_parse(const char *s, size_t len, enum mlfs_stage *ret)
{
	if (len && s[len - 1] == '\n')
		len--;
	for (int i = 0; i < 4; i++) {
		if (strlen(stage_names[i]) == len && !memcmp(stage_names[i], s, len)) {
			*ret = (enum mlfs_stage)i;
			return 0;
		}
	}
	return -EINVAL;
}

int mlfs_reg_init(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op)
{
	return mlfs_add_child(txn, s, op, MLFS_ROOT_INO, "models", MLFS_K_MODELS, S_IFDIR | 01777,
			      0, NULL, 0, NULL);
}

static int check_model_name(struct mlfs_op *op, const char *name, size_t len)
{
	int r = mlfs_name_check(name, len);

	if (r == -ENAMETOOLONG)
		return mlfs_refuse(op, r, "model name is %zu bytes; the limit is %d", len,
				   MLFS_NAME_MAX);
	if (r)
		return mlfs_refuse(op, r, "model name '%.*s' may not be empty or start with '.'",
				   (int)len, name);
	return 0;
}

int mlfs_reg_model(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t models,
		   const char *name, mode_t mode, struct mlfs_inode *ret)
{
	struct mlfs_inode m;
	int r;

	r = check_model_name(op, name, strlen(name));
	if (r)
		return r;
	r = mlfs_add_child(txn, s, op, models, name, MLFS_K_MODEL, S_IFDIR | (mode & 07777), 0,
			   NULL, 0, &m);
	if (r)
		return r;
	m.u.model.next_version = 1;
	if ((r = mlfs_ino_update(txn, s->idx, &m)) ||
	    (r = mlfs_add_child(txn, s, op, m.ino, "aliases", MLFS_K_ALIASES, DIR_MODE, 0, NULL, 0,
				NULL)))
		return r;
	*ret = m;
	return 0;
}

/* Point link name in folder dir at version number n, making it if needed. */
static int set_link(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t dir,
		    const char *name, unsigned flags, uint64_t n)
{
	struct mlfs_inode link;
	char num[24];
	uint64_t ino;
	int len = snprintf(num, sizeof(num), "%" PRIu64, n), r;

	r = mlfs_dirent_get(txn, s->idx, dir, name, strlen(name), &ino);
	if (r == -ENOENT)
		return mlfs_add_child(txn, s, op, dir, name, MLFS_K_MLINK, LINK_MODE, flags, num,
				      len, NULL);
	if (r == 0)
		r = mlfs_ino_get(txn, s->idx, ino, &link, NULL);
	if (r)
		return r;
	link.mtime_ns = link.ctime_ns = op->now_ns;
	return mlfs_ino_put(txn, s->idx, &link, num, len);
}

/* The version number a link names. */
static int link_number(MDB_txn *txn, struct mlfs_store *s, uint64_t ino, uint64_t *ret)
{
	struct mlfs_inode link;
	const char *payload;
	char num[24];
	int r;

	r = mlfs_ino_get(txn, s->idx, ino, &link, &payload);
	if (r)
		return r;
	if (link.kind != MLFS_K_MLINK || link.payload_len == 0 || link.payload_len >= sizeof(num))
		return MLFS_E_CORRUPT;
	memcpy(num, payload, link.payload_len);
	num[link.payload_len] = 0;
	*ret = strtoull(num, NULL, 10);
	return 0;
}

/* "12" -> 12 for a canonical decimal; 0 for anything else. */
static uint64_t parse_number(const char *s, size_t len)
{
	uint64_t n = 0;

	if (len == 0 || len > 18 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		n = n * 10 + (s[i] - '0');
	}
	return n;
}

int mlfs_reg_version(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		     struct mlfs_inode *model, const char *name, mode_t mode,
		     struct mlfs_inode *ret)
{
	struct mlfs_inode v;
	uint64_t n = parse_number(name, strlen(name)), aliases;
	int r;

	if (n != model->u.model.next_version)
		return mlfs_refuse(op, -EINVAL,
				   "'%s' is not the next version: make %" PRIu64
				   " (numbers are never reused)",
				   name, model->u.model.next_version);
	r = mlfs_add_child(txn, s, op, model->ino, name, MLFS_K_VERSION, S_IFDIR | (mode & 07777),
			   0, NULL, 0, &v);
	if (r)
		return r;
	v.u.version.number = n;
	v.u.version.stage = MLFS_STAGE_NONE;
	v.u.version.model = model->ino;
	v.u.version.created_ms = op->now_ns / 1000000;
	model->u.model.next_version = n + 1;
	model->mtime_ns = model->ctime_ns = op->now_ns;
	if ((r = mlfs_ino_update(txn, s->idx, &v)) ||
	    (r = mlfs_ino_update(txn, s->idx, model)) ||
	    (r = mlfs_add_child(txn, s, op, v.ino, "artifacts", MLFS_K_ADIR, DIR_MODE, MLFS_IF_TOP,
				NULL, 0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, v.ino, "source", MLFS_K_SOURCE, S_IFREG | 0644, 0, NULL,
				0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, v.ino, "stage", MLFS_K_STAGE, S_IFREG | 0644, 0, NULL,
				0, NULL)) ||
	    (r = mlfs_add_child(txn, s, op, v.ino, "tags", MLFS_K_TAGS, DIR_MODE, MLFS_IF_TOP, NULL,
				0, NULL)) ||
	    (r = mlfs_dirent_get(txn, s->idx, model->ino, "aliases", 7, &aliases)) ||
	    (r = set_link(txn, s, op, aliases, "latest", MLFS_IF_ALIAS, n)))
		return r;
	*ret = v;
	return 0;
}

static bool alias_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > MLFS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int check_alias_name(struct mlfs_op *op, const char *name, size_t len)
{
	if (len == 6 && !memcmp(name, "latest", 6))
		return mlfs_refuse(op, -EPERM, "latest is kept by mlfs: it names the highest version");
	if (!alias_name_ok(name, len))
		return mlfs_refuse(op, -EINVAL, "an alias is letters, digits, '_' and '-'");
	return 0;
}

int mlfs_reg_alias(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		   const struct mlfs_inode *aliases, const char *name, const char *target,
		   struct mlfs_inode *ret)
{
	struct mlfs_inode v;
	const char *t = target;
	uint64_t ino;
	int r;

	r = check_alias_name(op, name, strlen(name));
	if (r)
		return r;
	if (!strncmp(t, "../", 3))
		t += 3;
	if (!parse_number(t, strlen(t)) ||
	    mlfs_dirent_get(txn, s->idx, aliases->parent, t, strlen(t), &ino) ||
	    mlfs_ino_get(txn, s->idx, ino, &v, NULL) || v.kind != MLFS_K_VERSION)
		return mlfs_refuse(op, -EINVAL, "an alias names a version of its model (ln -sfn 3 "
						"aliases/%s); there is no version '%s'",
				   name, target);
	return mlfs_add_child(txn, s, op, aliases->ino, name, MLFS_K_MLINK, LINK_MODE,
			      MLFS_IF_ALIAS, t, strlen(t), ret);
}

int mlfs_reg_alias_rename(struct mlfs_op *op, const struct mlfs_inode *in, const char *name,
			  size_t len, const char *newname, size_t newlen)
{
	int r;

	if (in->kind != MLFS_K_MLINK)
		return mlfs_refuse(op, -EPERM, "aliases/ holds only aliases");
	r = check_alias_name(op, name, len);
	return r ? r : check_alias_name(op, newname, newlen);
}

int mlfs_reg_frozen(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
		    const struct mlfs_inode *in)
{
	struct mlfs_inode cur = *in;
	int r;

	for (int depth = 0; depth < 4096; depth++) {
		if (cur.kind == MLFS_K_VERSION) {
			if (!(cur.flags & MLFS_IF_FROZEN))
				return 0;
			return mlfs_refuse(op, -EROFS,
					   "version %" PRIu64 " is %s: its files are read-only",
					   cur.u.version.number,
					   mlfs_stage_name(cur.u.version.stage));
		}
		if (cur.kind != MLFS_K_ADIR && cur.kind != MLFS_K_AFILE && cur.kind != MLFS_K_ALINK)
			return 0;
		/* A file deleted while open is in no version any more (its folder may be gone). */
		if (cur.flags & MLFS_IF_ORPHAN)
			return 0;
		r = mlfs_ino_get(txn, s->idx, cur.parent, &cur, NULL);
		if (r)
			return r;
	}
	return MLFS_E_CORRUPT;
}

int mlfs_reg_writable(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino)
{
	struct mlfs_inode in;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r == 0)
		r = mlfs_reg_frozen(txn, s, op, &in);
	mlfs_txn_abort(txn);
	return r;
}

/* Remove link name from dir if it names version n. */
static int drop_link_to(MDB_txn *txn, struct mlfs_store *s, uint64_t dir, const char *name,
			uint64_t n)
{
	uint64_t ino, at;
	int r;

	r = mlfs_dirent_get(txn, s->idx, dir, name, strlen(name), &ino);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = link_number(txn, s, ino, &at);
	if (r || at != n)
		return r;
	r = mlfs_dirent_del(txn, s->idx, dir, name, strlen(name), ino);
	return r ? r : mlfs_ino_del(txn, s->idx, ino);
}

int mlfs_reg_write_stage(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			 struct mlfs_inode *stage, const char *v, size_t len)
{
	struct mlfs_inode ver, model, holder;
	enum mlfs_stage st, old;
	uint64_t ino, n;
	char num[24];
	int r;

	if (len && v[len - 1] == '\n')
		len--;
	if (mlfs_stage_parse(v, len, &st))
		return mlfs_refuse(op, -EINVAL,
				   "'%.*s' is not a stage (None, Staging, Production or Archived)",
				   (int)(len > 64 ? 64 : len), v);
	if ((r = mlfs_ino_get(txn, s->idx, stage->parent, &ver, NULL)) ||
	    (r = mlfs_ino_get(txn, s->idx, ver.u.version.model, &model, NULL)))
		return r;
	old = ver.u.version.stage;
	if (st == old)
		return 0;
	for (enum mlfs_stage ls = MLFS_STAGE_STAGING; ls <= MLFS_STAGE_PRODUCTION; ls++) {
		const char *lname = mlfs_stage_name(ls);

		if (st == ls) {
			/* archive_existing_versions: the holder of this stage is archived */
			r = mlfs_dirent_get(txn, s->idx, model.ino, lname, strlen(lname), &ino);
			if (r == 0 && (r = link_number(txn, s, ino, &n)) == 0) {
				snprintf(num, sizeof(num), "%" PRIu64, n);
				r = mlfs_dirent_get(txn, s->idx, model.ino, num, strlen(num), &ino);
				if (r == 0)
					r = mlfs_ino_get(txn, s->idx, ino, &holder, NULL);
				if (r == 0 && holder.ino != ver.ino) {
					holder.u.version.stage = MLFS_STAGE_ARCHIVED;
					holder.flags |= MLFS_IF_FROZEN;
					holder.ctime_ns = op->now_ns;
					r = mlfs_ino_update(txn, s->idx, &holder);
				}
			}
			if (r && r != -ENOENT)
				return r;
			r = set_link(txn, s, op, model.ino, lname, 0, ver.u.version.number);
		} else if (old == ls) {
			r = drop_link_to(txn, s, model.ino, lname, ver.u.version.number);
		}
		if (r)
			return r;
	}
	ver.u.version.stage = st;
	if (st != MLFS_STAGE_NONE)
		ver.flags |= MLFS_IF_FROZEN;
	ver.ctime_ns = op->now_ns;
	model.mtime_ns = model.ctime_ns = op->now_ns;
	stage->mtime_ns = stage->ctime_ns = op->now_ns;
	if ((r = mlfs_ino_update(txn, s->idx, &ver)) || (r = mlfs_ino_update(txn, s->idx, &model)))
		return r;
	return mlfs_ino_update(txn, s->idx, stage);
}

int mlfs_reg_write_source(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op,
			  const struct mlfs_inode *source, const char *payload, const char *v,
			  size_t len)
{
	struct mlfs_inode in = *source, run;
	char path[600];
	int r;

	if (len && v[len - 1] == '\n')
		len--;
	if (in.flags & MLFS_IF_VALUE_SET) {
		if (len == in.payload_len && !memcmp(v, payload, len))
			return 0;
		return mlfs_refuse(op, -EPERM, "source is fixed at %.*s", (int)in.payload_len,
				   payload);
	}
	if (len == 0 || len >= sizeof(path) || memchr(v, 0, len))
		return mlfs_refuse(op, -EINVAL, "source is <experiment>/<run>");
	memcpy(path, v, len);
	path[len] = 0;
	r = mlfs_resolve(s, txn, path, &run);
	if (r || run.kind != MLFS_K_RUN || strchr(path, '/') != strrchr(path, '/'))
		return mlfs_refuse(op, -EINVAL, "source must name a run as <experiment>/<run>; "
						"'%s' is none",
				   path);
	in.flags |= MLFS_IF_VALUE_SET;
	in.mtime_ns = in.ctime_ns = op->now_ns;
	return mlfs_ino_put(txn, s->idx, &in, v, len);
}

int mlfs_reg_link_target(const struct mlfs_inode *in, const char *payload, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s%.*s", (in->flags & MLFS_IF_ALIAS) ? "../" : "",
			 (int)in->payload_len, payload);

	return n < (int)cap ? n : -ENAMETOOLONG;
}

static int copy_extents(MDB_txn *txn, struct mlfs_index *idx, uint64_t from, uint64_t to)
{
	struct mlfs_extent_rec *recs = NULL;
	uint64_t *offs = NULL;
	size_t n = 0, cap_recs = 0, cap_offs = 0;
	uint8_t kb[16];
	MDB_val k = { 8, kb }, v;
	MDB_cursor *cur;
	int rc, r = 0;

	mlfs_be64_put(kb, from);
	rc = mdb_cursor_open(txn, idx->extent, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size == 16 && mlfs_be64_get(k.mv_data) == from;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != sizeof(*recs)) {
			r = MLFS_E_CORRUPT;
			break;
		}
		if (mlfs_grow(&recs, &cap_recs, n, sizeof(*recs)) ||
		    mlfs_grow(&offs, &cap_offs, n, sizeof(*offs))) {
			r = -ENOMEM;
			break;
		}
		memcpy(&recs[n], v.mv_data, sizeof(*recs));
		offs[n++] = mlfs_be64_get((uint8_t *)k.mv_data + 8);
	}
	mdb_cursor_close(cur);
	if (r == 0 && rc && rc != MDB_NOTFOUND)
		r = mlfs_mdb_err(rc);
	/* The records name the same chunks: not one byte of content is copied. */
	for (size_t i = 0; i < n && r == 0; i++) {
		mlfs_be64_put(kb, to);
		mlfs_be64_put(kb + 8, offs[i]);
		k.mv_size = 16;
		k.mv_data = kb;
		v.mv_size = sizeof(*recs);
		v.mv_data = &recs[i];
		r = mlfs_mdb_err(mdb_put(txn, idx->extent, &k, &v, 0));
	}
	free(recs);
	free(offs);
	return r;
}

/* Copy artifact entry ino as name into folder dir, recursively, sharing chunks. */
static int copy_tree(MDB_txn *txn, struct mlfs_store *s, struct mlfs_op *op, uint64_t ino,
		     uint64_t dir, const char *name)
{
	struct mlfs_inode src, dst;
	struct mlfs_kids kids = { 0 };
	const char *payload;
	char *copy = NULL;
	int r;

	r = mlfs_ino_get(txn, s->idx, ino, &src, &payload);
	if (r)
		return r;
	if (src.payload_len) {
		copy = malloc(src.payload_len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, payload, src.payload_len);
	}
	r = mlfs_add_child(txn, s, op, dir, name, src.kind, src.mode, 0, copy, src.payload_len,
			   &dst);
	free(copy);
	if (r)
		return r;
	dst.uid = src.uid;
	dst.gid = src.gid;
	dst.size = src.size;
	dst.mtime_ns = src.mtime_ns;
	r = mlfs_ino_update(txn, s->idx, &dst);
	if (r == 0 && src.kind == MLFS_K_AFILE)
		r = copy_extents(txn, s->idx, ino, dst.ino);
	if (r == 0 && src.kind == MLFS_K_ADIR)
		r = mlfs_dir_walk(txn, s->idx, ino, 0, mlfs_kids_collect, &kids);
	for (size_t i = 0; i < kids.n && r == 0; i++)
		r = copy_tree(txn, s, op, kids.v[i].ino, dst.ino, kids.v[i].name);
	free(kids.v);
	return r;
}

/* The run whose artifacts hold in: its "<exp>/<run>" into buf. */
static int run_of(MDB_txn *txn, struct mlfs_store *s, const struct mlfs_inode *in, char *buf,
		  size_t cap)
{
	struct mlfs_inode cur = *in;
	int r;

	while (cur.kind == MLFS_K_AFILE || cur.kind == MLFS_K_ALINK ||
	       (cur.kind == MLFS_K_ADIR && !(cur.flags & MLFS_IF_TOP))) {
		r = mlfs_ino_get(txn, s->idx, cur.parent, &cur, NULL);
		if (r)
			return r;
	}
	if (cur.kind != MLFS_K_ADIR)
		return -EINVAL;
	r = mlfs_ino_get(txn, s->idx, cur.parent, &cur, NULL);
	if (r)
		return r;
	if (cur.kind != MLFS_K_RUN)
		return -EINVAL;
	return mlfs_path(s, txn, cur.ino, buf, cap);
}

int mlfs_register(struct mlfs_store *s, struct mlfs_op *op, const char *path, const char *name)
{
	struct mlfs_inode src, model, ver, source;
	struct mlfs_kids kids = { 0 };
	char runpath[600], num[24];
	uint64_t models, ino, arts;
	const char *base;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_resolve(s, txn, path, &src);
	if (r == -ENOENT)
		r = mlfs_refuse(op, r, "no such artifact path");
	if (r)
		goto fail;
	if (run_of(txn, s, &src, runpath, sizeof(runpath)) < 0) {
		r = mlfs_refuse(op, -EINVAL,
				"register takes <experiment>/<run>/artifacts[/<path>]");
		goto fail;
	}
	r = mlfs_dirent_get(txn, s->idx, MLFS_ROOT_INO, "models", 6, &models);
	if (r)
		goto fail;
	r = check_model_name(op, name, strlen(name));
	if (r)
		goto fail;
	r = mlfs_dirent_get(txn, s->idx, models, name, strlen(name), &ino);
	if (r == -ENOENT)
		r = mlfs_reg_model(txn, s, op, models, name, 0755, &model);
	else if (r == 0)
		r = mlfs_ino_get(txn, s->idx, ino, &model, NULL);
	if (r == 0 && model.kind != MLFS_K_MODEL)
		r = -ENOTDIR;
	if (r)
		goto fail;
	snprintf(num, sizeof(num), "%" PRIu64, model.u.model.next_version);
	if ((r = mlfs_reg_version(txn, s, op, &model, num, 0755, &ver)) ||
	    (r = mlfs_dirent_get(txn, s->idx, ver.ino, "artifacts", 9, &arts)))
		goto fail;
	if (src.kind == MLFS_K_ADIR) {
		r = mlfs_dir_walk(txn, s->idx, src.ino, 0, mlfs_kids_collect, &kids);
		for (size_t i = 0; i < kids.n && r == 0; i++)
			r = copy_tree(txn, s, op, kids.v[i].ino, arts, kids.v[i].name);
		free(kids.v);
	} else {
		base = strrchr(path, '/');
		r = copy_tree(txn, s, op, src.ino, arts, base ? base + 1 : path);
	}
	if (r)
		goto fail;
	if ((r = mlfs_dirent_get(txn, s->idx, ver.ino, "source", 6, &ino)) ||
	    (r = mlfs_ino_get(txn, s->idx, ino, &source, NULL)) ||
	    (r = mlfs_reg_write_source(txn, s, op, &source, NULL, runpath, strlen(runpath))))
		goto fail;
	r = mlfs_store_commit(s, txn);
	return r ? r : (int)ver.u.version.number;
fail:
	mlfs_txn_abort(txn);
	return r;
}
