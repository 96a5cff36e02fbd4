/*
 * fsck.c - see fsck.h.
 *
 * The passes, all in one read transaction:
 *
 *     inodes    each record; its folder, child record and dirent; an
 *               artifact's extents and chunks; a metric's blocks
 *     dirents   each names an inode that exists, in that folder, with a
 *               child record of the same name
 *     children  each has the dirent that names it
 *     extents, mblocks   one lookup per inode they belong to
 *     rkeys, pending     each names what it should, or is well formed
 */
#include "fsck.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gc.h"
#include "metric.h"
#include "series.h"
#include "tree.h"

/*
 * A chunk's verdict in the map: its raw length (below 2^21), or V_BAD and
 * what is wrong, with V_CONFIRMED once a second read agreed.
 */
enum {
	V_BAD = 1u << 31,
	V_CONFIRMED = 1u << 30,
	V_MISSING = V_BAD | 1,
	V_DAMAGED = V_BAD | 2,
	V_UNREADABLE = V_BAD | 3,
};

struct fsck {
	struct mlfs_store *s;
	MDB_txn *txn;
	mlfs_fsck_fn fn;
	void *ctx;
	struct mlfs_hmap *verdict;
	uint8_t *buf;             /* one chunk */
	struct mlfs_point *pts;   /* one metric block */
	uint64_t next_ino;
	struct mlfs_fsck_result res;
};

static void vreport(struct fsck *c, const char *path, const char *fmt, va_list ap)
{
	char why[512];

	vsnprintf(why, sizeof(why), fmt, ap);
	c->res.problems++;
	if (c->fn)
		c->fn(c->ctx, path, why);
}

/* The name of ino in folder parent from its dirent, when its child record is what is missing. */
static int name_by_dirent(struct fsck *c, uint64_t parent, uint64_t ino, const char **ret,
			  size_t *ret_len)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	MDB_cursor *cur;
	int rc, r = -ENOENT;

	mlfs_be64_put(kb, parent);
	if (mdb_cursor_open(c->txn, c->s->idx->dirent, &cur))
		return -EIO;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size > 8 && mlfs_be64_get(k.mv_data) == parent;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size == 8 && !memcmp(v.mv_data, &ino, 8)) {
			*ret = (const char *)k.mv_data + 8;
			*ret_len = k.mv_size - 8;
			r = 0;
			break;
		}
	}
	mdb_cursor_close(cur);
	return r;
}

/* The path of ino for a message: mlfs_path(), else its folder's and dirent's, else "#ino". */
static void path_of(struct fsck *c, uint64_t ino, char *buf, size_t cap)
{
	struct mlfs_inode in;
	const char *name;
	size_t len;
	int n;

	n = mlfs_path(c->s, c->txn, ino, buf, cap);
	if (n == 0)
		snprintf(buf, cap, "/");
	if (n >= 0)
		return;
	if (mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL) == 0 && (in.flags & MLFS_IF_ORPHAN)) {
		snprintf(buf, cap, "#%" PRIu64 " (deleted while open)", ino);
		return;
	}
	if (mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL) == 0 && in.parent != ino &&
	    name_by_dirent(c, in.parent, ino, &name, &len) == 0) {
		n = mlfs_path(c->s, c->txn, in.parent, buf, cap);
		if (n >= 0 && (size_t)n + 1 + len < cap) {
			snprintf(buf + n, cap - n, "%s%.*s", n ? "/" : "", (int)len, name);
			return;
		}
	}
	snprintf(buf, cap, "#%" PRIu64, ino);
}

/* A problem of inode ino, named by its path. */
static void __attribute__((format(printf, 3, 4))) problem(struct fsck *c, uint64_t ino,
							   const char *fmt, ...)
{
	char path[4096];
	va_list ap;

	path_of(c, ino, path, sizeof(path));
	va_start(ap, fmt);
	vreport(c, path, fmt, ap);
	va_end(ap);
}

/* A problem of the entry name in folder parent. */
static void __attribute__((format(printf, 5, 6)))
problem_at(struct fsck *c, uint64_t parent, const char *name, size_t len, const char *fmt, ...)
{
	char path[4096];
	int n;
	va_list ap;

	n = mlfs_path(c->s, c->txn, parent, path, sizeof(path));
	if (n < 0)
		n = snprintf(path, sizeof(path), "#%" PRIu64, parent);
	snprintf(path + n, sizeof(path) - n, "%s%.*s", n ? "/" : "", (int)len, name);
	va_start(ap, fmt);
	vreport(c, path, fmt, ap);
	va_end(ap);
}

/* Read chunk *h once for the whole run; its verdict. */
static uint32_t chunk_verdict(struct fsck *c, const struct mlfs_hash *h)
{
	uint32_t v;
	int n;

	if (mlfs_hmap_get(c->verdict, h, &v))
		return v;
	n = mlfs_chunk_get(c->s->cs, h, c->buf, MLFS_CHUNK_MAX);
	if (n >= 0) {
		v = (uint32_t)n;
		c->res.chunks++;
		c->res.chunk_bytes += n;
	} else {
		v = n == -ENOENT ? V_MISSING : n == -EBADMSG ? V_DAMAGED : V_UNREADABLE;
	}
	if (mlfs_hmap_put(c->verdict, h, v) < 0)
		return V_UNREADABLE;
	return v;
}

/*
 * Does extent (ino, off) still name the same chunk in the index as it is
 * now?  A file rewritten while fsck ran (its old chunks maybe collected)
 * has no problem.
 */
static bool extent_unchanged(struct fsck *c, uint64_t ino, uint64_t off,
			     const struct mlfs_extent_rec *rec)
{
	struct mlfs_extent_rec now;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_txn *txn;
	bool same;

	if (mlfs_txn_begin(c->s->idx, false, &txn))
		return true;
	mlfs_be64_put(kb, ino);
	mlfs_be64_put(kb + 8, off);
	same = mdb_get(txn, c->s->idx->extent, &k, &v) == 0 && v.mv_size == sizeof(now);
	if (same) {
		memcpy(&now, v.mv_data, sizeof(now));
		same = !now.hole && !memcmp(&now.hash, &rec->hash, sizeof(now.hash));
	}
	mlfs_txn_abort(txn);
	return same;
}

static void check_chunk(struct fsck *c, uint64_t ino, uint64_t off,
			const struct mlfs_extent_rec *rec)
{
	char hex[33];
	uint32_t v = chunk_verdict(c, &rec->hash);
	int n;

	if (v == rec->len)
		return;
	if (!extent_unchanged(c, ino, off, rec))
		return;
	if (!(v & V_CONFIRMED)) {
		/* Read once more: a put may have replaced it since (chunk.h, invariant 4). */
		n = mlfs_chunk_get(c->s->cs, &rec->hash, c->buf, MLFS_CHUNK_MAX);
		if (n >= 0 && (uint64_t)n == rec->len) {
			mlfs_hmap_put(c->verdict, &rec->hash, (uint32_t)n);
			return;
		}
		if (v & V_BAD)
			v |= V_CONFIRMED;
		mlfs_hmap_put(c->verdict, &rec->hash, v);
	}
	v &= ~V_CONFIRMED;
	mlfs_hash_hex(&rec->hash, hex);
	if (v == V_MISSING)
		problem(c, ino, "chunk %s at offset %" PRIu64 " is missing", hex, off);
	else if (v == V_DAMAGED)
		problem(c, ino, "chunk %s at offset %" PRIu64 " is damaged", hex, off);
	else if (v == V_UNREADABLE)
		problem(c, ino, "chunk %s at offset %" PRIu64 " cannot be read", hex, off);
	else
		problem(c, ino,
			"chunk %s at offset %" PRIu64 " holds %" PRIu32
			" bytes; the file says %" PRIu64,
			hex, off, v, (uint64_t)rec->len);
}

/* An artifact's extents tile [0, size) and name whole chunks. */
static int check_file(struct fsck *c, MDB_cursor *cur, const struct mlfs_inode *in)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	struct mlfs_extent_rec rec;
	uint64_t end = 0;
	bool tiled = true;
	int rc;

	c->res.files++;
	mlfs_be64_put(kb, in->ino);
	mlfs_be64_put(kb + 8, 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= 8 && mlfs_be64_get(k.mv_data) == in->ino;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t off;

		if (k.mv_size != 16 || v.mv_size != sizeof(rec)) {
			problem(c, in->ino, "a malformed extent record");
			tiled = false;
			continue;
		}
		off = mlfs_be64_get((uint8_t *)k.mv_data + 8);
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (off != end && tiled) {
			problem(c, in->ino,
				"its extents do not follow each other at offset %" PRIu64, end);
			tiled = false;
		}
		if (rec.len == 0 || (!rec.hole && rec.len > MLFS_CHUNK_MAX)) {
			problem(c, in->ino, "the extent at offset %" PRIu64 " has length %" PRIu64,
				off, (uint64_t)rec.len);
			tiled = false;
		}
		end = off + rec.len;
		if (!rec.hole) {
			c->res.extents++;
			check_chunk(c, in->ino, off, &rec);
		}
	}
	if (rc && rc != MDB_NOTFOUND)
		return mlfs_mdb_err(rc);
	if (tiled && end != in->size)
		problem(c, in->ino, "its extents cover %" PRIu64 " bytes; its size is %" PRIu64,
			end, in->size);
	return 0;
}

/* A metric's blocks decode and add up to what its inode says. */
static int check_metric(struct fsck *c, MDB_cursor *cur, const struct mlfs_inode *in)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	struct mlfs_mblock_hdr hdr;
	char line[MLFS_POINT_LINE_MAX];
	uint64_t end = 0, points = 0, last_off = 0, last_n = 0;
	bool whole = true;
	int rc, n;

	c->res.metrics++;
	mlfs_be64_put(kb, in->ino);
	mlfs_be64_put(kb + 8, 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= 8 && mlfs_be64_get(k.mv_data) == in->ino;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t off, text = 0;

		c->res.blocks++;
		if (k.mv_size != 16 || v.mv_size < sizeof(hdr)) {
			problem(c, in->ino, "a malformed metric block record");
			whole = false;
			continue;
		}
		off = mlfs_be64_get((uint8_t *)k.mv_data + 8);
		memcpy(&hdr, v.mv_data, sizeof(hdr));
		if (off != end && whole) {
			problem(c, in->ino, "its blocks do not follow each other at byte %" PRIu64,
				end);
			whole = false;
		}
		end = off + hdr.text_bytes;
		n = mlfs_mblock_decode((const uint8_t *)v.mv_data + sizeof(hdr),
				       v.mv_size - sizeof(hdr), c->pts, MLFS_MBLOCK_POINTS);
		if (n < 0) {
			problem(c, in->ino, "its block at byte %" PRIu64 " does not decode", off);
			whole = false;
			continue;
		}
		for (int i = 0; i < n; i++)
			text += mlfs_point_format(&c->pts[i], line);
		if ((uint32_t)n != hdr.npoints || text != hdr.text_bytes) {
			problem(c, in->ino,
				"its block at byte %" PRIu64 " holds %d points in %" PRIu64
				" bytes; its header says %" PRIu32 " in %" PRIu32,
				off, n, text, hdr.npoints, hdr.text_bytes);
			whole = false;
		}
		points += n;
		last_off = off;
		last_n = n;
	}
	if (rc && rc != MDB_NOTFOUND)
		return mlfs_mdb_err(rc);
	if (!whole)
		return 0;
	/* The newest points wait raw in the inode (series.h). */
	points += in->payload_len / sizeof(struct mlfs_point);
	end += in->u.metric.raw_bytes;
	if (in->payload_len % sizeof(struct mlfs_point) ||
	    in->payload_len / sizeof(struct mlfs_point) >= MLFS_RAW_POINTS)
		problem(c, in->ino, "its raw points do not fit its record");
	else if (end != in->size || points != in->u.metric.npoints)
		problem(c, in->ino,
			"its blocks and raw points hold %" PRIu64 " points in %" PRIu64
			" bytes; it says %" PRIu64 " in %" PRIu64,
			points, end, in->u.metric.npoints, in->size);
	else if (last_n && (last_off != in->u.metric.tail_off || last_n != in->u.metric.tail_n))
		problem(c, in->ino, "its last block is not the one it names");
	return 0;
}

/* An inode's place in its folder: parent, child record, dirent. */
static void check_place(struct fsck *c, const struct mlfs_inode *in)
{
	struct mlfs_inode parent;
	const char *name;
	size_t len;
	uint64_t named;
	int r;

	if (in->ino == MLFS_ROOT_INO)
		return;
	r = mlfs_ino_get(c->txn, c->s->idx, in->parent, &parent, NULL);
	if (r) {
		problem(c, in->ino, "its folder #%" PRIu64 " %s", in->parent,
			r == -ENOENT ? "does not exist" : "cannot be read");
		return;
	}
	r = mlfs_child_name(c->txn, c->s->idx, in->parent, in->ino, &name, &len);
	if (r) {
		problem(c, in->ino, "its folder does not list it");
		return;
	}
	r = mlfs_dirent_get(c->txn, c->s->idx, in->parent, name, len, &named);
	if (r || named != in->ino)
		problem(c, in->ino, "its folder's entry '%.*s' %s", (int)len, name,
			r ? "is missing" : "names another inode");
}

/* The store has an orphan database (a read-only opener of an older store may not). */
static bool has_orphans(const struct fsck *c)
{
	return c->s->idx->orphan != c->s->idx->pending;
}

/*
 * An artifact deleted while open has no place in a folder (tree.h); the
 * orphan database must list it, so that its last close or the next daemon
 * start drops it.
 */
static void check_orphan(struct fsck *c, const struct mlfs_inode *in)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;

	mlfs_be64_put(kb, in->ino);
	if (in->kind != MLFS_K_AFILE)
		problem(c, in->ino, "marked deleted while open, but it is not an artifact file");
	else if (!has_orphans(c) || mdb_get(c->txn, c->s->idx->orphan, &k, &v) != 0)
		problem(c, in->ino, "deleted while open, but not listed for dropping");
}

static int pass_inodes(struct fsck *c)
{
	MDB_cursor *cur = NULL, *ext = NULL, *blk = NULL;
	MDB_val k, v;
	struct mlfs_inode in;
	int rc, r = 0;

	rc = mdb_cursor_open(c->txn, c->s->idx->inode, &cur);
	if (rc == 0)
		rc = mdb_cursor_open(c->txn, c->s->idx->extent, &ext);
	if (rc == 0)
		rc = mdb_cursor_open(c->txn, c->s->idx->mblock, &blk);
	if (rc)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t ino = k.mv_size == 8 ? mlfs_be64_get(k.mv_data) : 0;

		c->res.inodes++;
		if (v.mv_size >= sizeof(in))
			memcpy(&in, v.mv_data, sizeof(in));
		if (k.mv_size != 8 || v.mv_size < sizeof(in) ||
		    v.mv_size != sizeof(in) + in.payload_len || in.ino != ino || in.kind == 0 ||
		    in.kind >= MLFS_K_LAST) {
			c->res.problems++;
			if (c->fn) {
				char where[32];

				snprintf(where, sizeof(where), "#%" PRIu64, ino);
				c->fn(c->ctx, where, "a malformed inode record");
			}
			continue;
		}
		if (ino != MLFS_ROOT_INO && ino >= c->next_ino)
			problem(c, ino, "its number is not below the inode counter (%" PRIu64 ")",
				c->next_ino);
		if (in.flags & MLFS_IF_ORPHAN)
			check_orphan(c, &in);
		else
			check_place(c, &in);
		if (in.kind == MLFS_K_AFILE)
			r = check_file(c, ext, &in);
		else if (in.kind == MLFS_K_METRIC)
			r = check_metric(c, blk, &in);
	}
out:
	if (blk)
		mdb_cursor_close(blk);
	if (ext)
		mdb_cursor_close(ext);
	if (cur)
		mdb_cursor_close(cur);
	if (r)
		return r;
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : mlfs_mdb_err(rc);
}

static int pass_dirents(struct fsck *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_inode in;
	const char *name, *cname;
	size_t len, clen;
	uint64_t parent, ino;
	int rc, r;

	rc = mdb_cursor_open(c->txn, c->s->idx->dirent, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= 8 || v.mv_size != 8) {
			problem(c, k.mv_size >= 8 ? mlfs_be64_get(k.mv_data) : 0,
				"a malformed folder entry");
			continue;
		}
		parent = mlfs_be64_get(k.mv_data);
		name = (const char *)k.mv_data + 8;
		len = k.mv_size - 8;
		memcpy(&ino, v.mv_data, 8);
		r = mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL);
		if (r == -ENOENT) {
			problem_at(c, parent, name, len, "names #%" PRIu64 ", which does not exist",
				   ino);
			continue;
		}
		if (r)
			continue; /* a malformed inode: the inode pass said so */
		if (in.parent != parent)
			problem_at(c, parent, name, len,
				   "names #%" PRIu64 ", whose folder is #%" PRIu64, ino, in.parent);
		r = mlfs_child_name(c->txn, c->s->idx, parent, ino, &cname, &clen);
		if (r == 0 && (clen != len || memcmp(cname, name, len)))
			problem_at(c, parent, name, len, "its folder lists #%" PRIu64 " as '%.*s'",
				   ino, (int)clen, cname);
		/* A missing child record: the inode pass reported it. */
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int pass_children(struct fsck *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t parent, ino, named;
	int rc, r;

	rc = mdb_cursor_open(c->txn, c->s->idx->child, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16 || v.mv_size == 0 || v.mv_size > 255) {
			problem(c, k.mv_size >= 8 ? mlfs_be64_get(k.mv_data) : 0,
				"a malformed child record");
			continue;
		}
		parent = mlfs_be64_get(k.mv_data);
		ino = mlfs_be64_get((uint8_t *)k.mv_data + 8);
		r = mlfs_dirent_get(c->txn, c->s->idx, parent, v.mv_data, v.mv_size, &named);
		if (r)
			problem_at(c, parent, v.mv_data, v.mv_size,
				   "is listed (#%" PRIu64 ") but has no entry", ino);
		/* An entry naming another inode: the dirent pass said so. */
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

/* Records of dbi keyed by ino . offset belong to an inode of kind `kind`. */
static int pass_owned(struct fsck *c, MDB_dbi dbi, int kind, const char *what)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_inode in;
	uint8_t kb[8];
	uint64_t ino;
	int rc, r;

	rc = mdb_cursor_open(c->txn, dbi, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < 8) {
			problem(c, 0, "a malformed %s record", what);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		ino = mlfs_be64_get(k.mv_data);
		r = mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL);
		if (r == -ENOENT)
			problem(c, ino, "%s records of an inode that does not exist", what);
		else if (r == 0 && in.kind != kind)
			problem(c, ino, "%s records of something else", what);
		if (ino == UINT64_MAX)
			break;
		/* The next inode's first record. */
		mlfs_be64_put(kb, ino + 1);
		k.mv_size = sizeof(kb);
		k.mv_data = kb;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int pass_rkeys(struct fsck *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_inode in;
	uint64_t run, ino;
	int rc, r, want;

	rc = mdb_cursor_open(c->txn, c->s->idx->rkey, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *key = (const char *)k.mv_data + 9;
		int klen = (int)k.mv_size - 9;

		if (k.mv_size <= 9 || v.mv_size != 8) {
			problem(c, k.mv_size >= 8 ? mlfs_be64_get(k.mv_data) : 0,
				"a malformed run key record");
			continue;
		}
		run = mlfs_be64_get(k.mv_data);
		memcpy(&ino, v.mv_data, 8);
		switch (((const char *)k.mv_data)[8]) {
		case MLFS_SEC_PARAM:
			want = MLFS_K_PARAM;
			break;
		case MLFS_SEC_METRIC:
			want = MLFS_K_METRIC;
			break;
		case MLFS_SEC_TAG:
			want = MLFS_K_TAG;
			break;
		default:
			want = 0;
		}
		r = mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL);
		if (r == -ENOENT)
			problem(c, run, "its key '%.*s' names #%" PRIu64 ", which does not exist",
				klen, key, ino);
		else if (r == 0 && in.kind != want)
			problem(c, run, "its key '%.*s' names #%" PRIu64 ", of the wrong kind",
				klen, key, ino);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

/* Each orphan record names an artifact marked deleted while open. */
static int pass_orphans(struct fsck *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_inode in;
	uint64_t ino;
	int rc, r;

	if (!has_orphans(c))
		return 0;
	rc = mdb_cursor_open(c->txn, c->s->idx->orphan, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			problem(c, MLFS_ROOT_INO, "a malformed orphan record");
			continue;
		}
		ino = mlfs_be64_get(k.mv_data);
		r = mlfs_ino_get(c->txn, c->s->idx, ino, &in, NULL);
		if (r == -ENOENT)
			problem(c, ino, "listed as deleted while open, but it does not exist");
		else if (r == 0 && !(in.flags & MLFS_IF_ORPHAN))
			problem(c, ino, "listed as deleted while open, but it is not");
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int pass_pending(struct fsck *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(c->txn, c->s->idx->pending, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size != 24 || v.mv_size != 8)
			problem(c, MLFS_ROOT_INO, "a malformed pending chunk record");
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int read_counter(struct fsck *c)
{
	MDB_val k = { 8, "next_ino" }, v;
	int rc;

	rc = mdb_get(c->txn, c->s->idx->info, &k, &v);
	if (rc == MDB_NOTFOUND) {
		c->next_ino = MLFS_FIRST_INO; /* nothing allocated yet */
		return 0;
	}
	if (rc)
		return mlfs_mdb_err(rc);
	if (v.mv_size != 8) {
		problem(c, MLFS_ROOT_INO, "the inode counter is malformed");
		c->next_ino = UINT64_MAX;
		return 0;
	}
	memcpy(&c->next_ino, v.mv_data, 8);
	return 0;
}

int mlfs_fsck(struct mlfs_store *s, mlfs_fsck_fn fn, void *ctx, struct mlfs_fsck_result *ret)
{
	struct fsck c = { .s = s, .fn = fn, .ctx = ctx };
	int r;

	c.buf = malloc(MLFS_CHUNK_MAX);
	c.pts = malloc(MLFS_MBLOCK_POINTS * sizeof(*c.pts));
	if (!c.buf || !c.pts) {
		r = -ENOMEM;
		goto out;
	}
	r = mlfs_hmap_new(&c.verdict);
	if (r)
		goto out;
	r = mlfs_txn_begin(s->idx, false, &c.txn);
	if (r)
		goto out;
	if ((r = read_counter(&c)) || (r = pass_inodes(&c)) || (r = pass_dirents(&c)) ||
	    (r = pass_children(&c)) ||
	    (r = pass_owned(&c, s->idx->extent, MLFS_K_AFILE, "extent")) ||
	    (r = pass_owned(&c, s->idx->mblock, MLFS_K_METRIC, "metric block")) ||
	    (r = pass_rkeys(&c)) || (r = pass_orphans(&c)) || (r = pass_pending(&c)))
		goto out;
	*ret = c.res;
out:
	mlfs_txn_abort(c.txn);
	mlfs_hmap_free(c.verdict);
	free(c.pts);
	free(c.buf);
	if (r)
		return log_errno(r, "cannot check the store '%s'", s->dir);
	return 0;
}
