/* series.c - see series.h. */
#include "series.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "metric.h"

struct parsed {
	struct mlfs_point p;
	int form;
};

/* Parse every line of data; *ret gets a malloc'd array. */
static int parse_lines(struct mlfs_op *op, const char *data, size_t len, struct parsed **ret)
{
	struct parsed *v = NULL;
	size_t n = 0, cap = 0, pos = 0;

	while (pos < len) {
		const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;
		struct mlfs_point pt = { 0, 0, 0 };
		int form;

		form = mlfs_point_parse(line, llen, &pt);
		if (form < 0) {
			free(v);
			return mlfs_refuse(op, -EINVAL,
					   "malformed metric line '%.*s'; expected VALUE, VALUE "
					   "STEP or TIMESTAMP VALUE STEP",
					   (int)(llen > 80 ? 80 : llen), line);
		}
		if (n == cap) {
			struct parsed *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n].p = pt;
		v[n].form = form;
		n++;
		pos += llen + (nl != NULL);
	}
	*ret = v;
	return (int)n;
}

static void block_key(uint8_t kb[16], uint64_t ino, uint64_t off)
{
	mlfs_be64_put(kb, ino);
	mlfs_be64_put(kb + 8, off);
}

static int block_load(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, uint64_t off,
		      struct mlfs_point *pts, struct mlfs_mblock_hdr *ret_hdr)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	struct mlfs_mblock_hdr h;
	int rc, n;

	block_key(kb, ino, off);
	rc = mdb_get(txn, idx->mblock, &k, &v);
	if (rc)
		return mlfs_mdb_err(rc);
	if (v.mv_size < sizeof(h))
		return MLFS_E_CORRUPT;
	memcpy(&h, v.mv_data, sizeof(h));
	n = mlfs_mblock_decode((const uint8_t *)v.mv_data + sizeof(h), v.mv_size - sizeof(h), pts,
			       MLFS_MBLOCK_POINTS);
	if (n < 0 || (uint32_t)n != h.npoints)
		return MLFS_E_CORRUPT;
	*ret_hdr = h;
	return n;
}

static int block_store(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, uint64_t off,
		       const struct mlfs_point *pts, uint32_t n, uint32_t text_bytes)
{
	uint8_t kb[16], buf[sizeof(struct mlfs_mblock_hdr) + 16384];
	struct mlfs_mblock_hdr h = { n, text_bytes };
	MDB_val k = { 16, kb }, v;
	int len;

	_Static_assert(sizeof(buf) >= 8 + 256 * 40, "a block fits its buffer");
	len = mlfs_mblock_encode(pts, n, buf + sizeof(h), sizeof(buf) - sizeof(h));
	if (len < 0)
		return len;
	memcpy(buf, &h, sizeof(h));
	block_key(kb, ino, off);
	v.mv_size = sizeof(h) + len;
	v.mv_data = buf;
	return mlfs_mdb_err(mdb_put(txn, idx->mblock, &k, &v, 0));
}

int mlfs_series_append(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const char *data,
		       size_t len)
{
	struct mlfs_point block[MLFS_MBLOCK_POINTS];
	struct mlfs_mblock_hdr h = { 0, 0 };
	struct mlfs_inode in;
	struct parsed *pts = NULL;
	char line[MLFS_POINT_LINE_MAX];
	int64_t now_ms = op->now_ns / 1000000;
	MDB_txn *txn = NULL;
	int r, n;

	n = parse_lines(op, data, len, &pts);
	if (n <= 0)
		return n;
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		goto fail;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r)
		goto fail;
	if (in.kind != MLFS_K_METRIC) {
		r = -EINVAL;
		goto fail;
	}
	if (in.u.metric.npoints) {
		r = block_load(txn, s->idx, ino, in.u.metric.tail_off, block, &h);
		if (r < 0)
			goto fail;
	} else {
		in.u.metric.tail_off = 0;
	}
	for (int i = 0; i < n; i++) {
		struct mlfs_point p = pts[i].p;
		int llen;

		if (pts[i].form != MLFS_POINT_FULL)
			p.ts_ms = now_ms;
		if (pts[i].form == MLFS_POINT_VALUE)
			p.step = in.u.metric.npoints ? in.u.metric.last_step + 1 : 0;
		if (h.npoints == MLFS_MBLOCK_POINTS) {
			r = block_store(txn, s->idx, ino, in.u.metric.tail_off, block, h.npoints,
					h.text_bytes);
			if (r)
				goto fail;
			in.u.metric.tail_off = in.size;
			h.npoints = h.text_bytes = 0;
		}
		llen = mlfs_point_format(&p, line);
		block[h.npoints++] = p;
		h.text_bytes += llen;
		in.size += llen;
		in.u.metric.npoints++;
		in.u.metric.last_step = p.step;
		in.u.metric.last_ts = p.ts_ms;
		in.u.metric.last_value = p.value;
	}
	r = block_store(txn, s->idx, ino, in.u.metric.tail_off, block, h.npoints, h.text_bytes);
	if (r)
		goto fail;
	in.u.metric.tail_n = h.npoints;
	in.mtime_ns = in.ctime_ns = op->now_ns;
	in.gen++;
	r = mlfs_ino_update(txn, s->idx, &in);
	if (r)
		goto fail;
	free(pts);
	r = mlfs_store_commit(s, txn);
	return r ? r : n;
fail:
	mlfs_txn_abort(txn);
	free(pts);
	return r;
}

int mlfs_series_read(struct mlfs_store *s, uint64_t ino, uint64_t off, char *buf, size_t len)
{
	struct mlfs_point pts[MLFS_MBLOCK_POINTS];
	struct mlfs_mblock_hdr h;
	struct mlfs_inode in;
	char line[MLFS_POINT_LINE_MAX];
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	uint64_t boff;
	size_t done = 0;
	int r, rc, n;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r || off >= in.size)
		goto out;
	rc = mdb_cursor_open(txn, s->idx->mblock, &cur);
	if (rc) {
		r = mlfs_mdb_err(rc);
		goto out;
	}
	/* The block holding off is the last one that starts at or before it. */
	block_key(kb, ino, off);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == MDB_NOTFOUND || (rc == 0 && memcmp(k.mv_data, kb, 16) != 0))
		rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	while (rc == 0 && done < len) {
		if (k.mv_size != 16 || mlfs_be64_get(k.mv_data) != ino)
			break;
		boff = mlfs_be64_get((uint8_t *)k.mv_data + 8);
		if (v.mv_size < sizeof(h)) {
			r = MLFS_E_CORRUPT;
			goto out;
		}
		memcpy(&h, v.mv_data, sizeof(h));
		n = mlfs_mblock_decode((const uint8_t *)v.mv_data + sizeof(h),
				       v.mv_size - sizeof(h), pts, MLFS_MBLOCK_POINTS);
		if (n < 0 || (uint32_t)n != h.npoints) {
			r = MLFS_E_CORRUPT;
			goto out;
		}
		for (int i = 0; i < n && done < len; i++) {
			int llen = mlfs_point_format(&pts[i], line);
			uint64_t lend = boff + llen;

			if (lend > off + done) {
				size_t from = off + done - boff;
				size_t take = llen - from;

				if (take > len - done)
					take = len - done;
				memcpy(buf + done, line + from, take);
				done += take;
			}
			boff = lend;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc && rc != MDB_NOTFOUND)
		r = mlfs_mdb_err(rc);
out:
	if (cur)
		mdb_cursor_close(cur);
	mlfs_txn_abort(txn);
	if (r < 0)
		return log_errno(r, "cannot read metric #%llu", (unsigned long long)ino);
	return (int)done;
}
