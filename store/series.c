/*
 * series.c - see series.h.
 *
 * Layout of a metric in the index, and what every change keeps true:
 *
 * 1. Its points are, in order, those of its blocks in the mblock database
 *    (keys ino . byte offset, in key order) and then the inode's raw points
 *    (fewer than MLFS_RAW_POINTS).  Nothing else holds a point.
 * 2. A block's key is the byte offset of its first line in the metric's
 *    rendering; each block starts where the one before ends (its offset
 *    plus its header's text_bytes), the first at 0, and the raw points at
 *    st_size - raw_bytes.  So a read at any offset is one cursor seek to the
 *    last key at or before it, and st_size is exact.
 * 3. A block record is struct mlfs_mblock_hdr (npoints, text_bytes: both
 *    what its points decode and render to) and then the codec's bytes, at
 *    most block_budget() of them: the hdr and the bytes fill at most one
 *    LMDB page less its page header.  Such a record, once past LMDB's node
 *    limit (half a page), is one overflow page of its own, so the blocks of
 *    a long metric fill whole pages instead of leaf pages left half full by
 *    splits; only a 34-byte node per block stays in a leaf.
 * 4. Blocks are cut by size: a seal first appends to the metric's last
 *    block (tail_off, tail_n in the inode) as long as the budget allows,
 *    then starts new ones.  Every block but the last is full: the next
 *    point would not have fit, or it has MLFS_MBLOCK_POINTS points.  (A
 *    record with more bytes than the budget, from a store made on a
 *    machine with larger pages, is never appended to: the seal starts a
 *    new block after it.)
 * 5. The tail memo and the read memo (below) hold copies of block
 *    records with what is known of them (the codec's state at the end;
 *    where a read stopped); an entry is used only for a record byte for
 *    byte the same as its copy at the same key, so it is never stale,
 *    whatever was committed, aborted or deleted since.
 * 6. Reading drops from the daemon's mapping the pages of each record once
 *    it is decoded (mlfs_index_drop: MADV_DONTNEED on LMDB's read-only map; the pages stay
 *    in the page cache and the file), so a reader's resident size does not
 *    grow with the length of what it reads.
 */
#include "series.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "grow.h"
#include "metric.h"

/* LMDB's page header (PAGEHDRSZ), which an overflow page starts with. */
#define LMDB_PAGE_HEADER 16

/*
 * The largest block record this module writes, header included: a 4 KiB
 * page.  NEEDSWORK: with larger pages (64 KiB on some machines) blocks stay
 * 4 KiB records inside leaf pages, which splits may leave half full.
 */
#define BLOCK_RECORD_MAX (4096 - LMDB_PAGE_HEADER)

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
		if (mlfs_grow(&v, &cap, n, sizeof(*v))) {
			free(v);
			return -ENOMEM;
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

/* Bytes of codec output a block may have: its record fills one page (invariant 3). */
static size_t block_budget(struct mlfs_index *idx)
{
	MDB_stat st;
	size_t rec = BLOCK_RECORD_MAX;

	if (mdb_env_stat(idx->env, &st) == 0 && st.ms_psize - LMDB_PAGE_HEADER < rec)
		rec = st.ms_psize - LMDB_PAGE_HEADER;
	return rec - sizeof(struct mlfs_mblock_hdr);
}

/*
 * A memo: what was worked out from a few block records (a codec state, a
 * place in the rendering), each kept with a copy of its record and used
 * only for the same bytes at the same index, metric and key.  What is
 * worked out is a pure function of those, so a memo is never stale
 * (invariant 5).  One entry per metric, least recently used replaced.
 */
#define MEMO_SLOTS 8
/* The larger of what the two memos keep (asserted where each is). */
#define MEMO_STATE sizeof(struct mlfs_mblock_resume)

struct memo_entry {
	const struct mlfs_index *idx;
	uint64_t ino, key;
	size_t len;
	uint8_t bytes[BLOCK_RECORD_MAX];
	uint8_t state[MEMO_STATE];
	unsigned long used;
};

struct memo {
	pthread_mutex_t lock;
	unsigned long clock;		    /* protected by lock */
	struct memo_entry e[MEMO_SLOTS]; /* protected by lock */
};

#define MEMO_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Copy into state (size bytes) what m holds for the record rec[0..len); false if nothing. */
static bool memo_get(struct memo *m, const struct mlfs_index *idx, uint64_t ino, uint64_t key,
		     const void *rec, size_t len, void *state, size_t size)
{
	bool found = false;

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MEMO_SLOTS && !found; i++) {
		struct memo_entry *e = &m->e[i];

		if (e->idx == idx && e->ino == ino && e->key == key && e->len == len &&
		    !memcmp(e->bytes, rec, len)) {
			memcpy(state, e->state, size);
			e->used = ++m->clock;
			found = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

/* Keep state (size bytes) for the record rec[0..len) of metric ino at key. */
static void memo_put(struct memo *m, const struct mlfs_index *idx, uint64_t ino, uint64_t key,
		     const void *rec, size_t len, const void *state, size_t size)
{
	struct memo_entry *e = &m->e[0];

	if (len > sizeof(e->bytes) || size > sizeof(e->state))
		return;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MEMO_SLOTS; i++) {
		if (m->e[i].idx == idx && m->e[i].ino == ino) {
			e = &m->e[i];
			break;
		}
		if (m->e[i].used < e->used)
			e = &m->e[i];
	}
	e->idx = idx;
	e->ino = ino;
	e->key = key;
	e->len = len;
	memcpy(e->bytes, rec, len);
	memcpy(e->state, state, size);
	e->used = ++m->clock;
	pthread_mutex_unlock(&m->lock);
}

/*
 * The tail memo: the last blocks sealed, each with what the codec knew at
 * its end, so that the next seal of the same metric goes on without
 * decoding its last block (appends of one point seal every
 * MLFS_RAW_POINTS points, and a full block is hundreds of points).
 */
static struct memo tail_memo = MEMO_INIT;
_Static_assert(sizeof(struct mlfs_mblock_resume) <= MEMO_STATE, "a codec state fits a memo");

/* Fill *ret with what the memo knows of the block bytes[0..len) at off, or leave it empty. */
static void tail_lookup(const struct mlfs_index *idx, uint64_t ino, uint64_t off,
			const uint8_t *bytes, size_t len, struct mlfs_mblock_resume *ret)
{
	struct mlfs_mblock_resume r;

	if (memo_get(&tail_memo, idx, ino, off, bytes, len, &r, sizeof(r)) && r.len == len)
		*ret = r;
}

/* Remember the block bytes[0..len) of metric ino at off, and the codec's state at its end. */
static void tail_remember(const struct mlfs_index *idx, uint64_t ino, uint64_t off,
			  const uint8_t *bytes, size_t len, const struct mlfs_mblock_resume *resume)
{
	if (resume->len == len)
		memo_put(&tail_memo, idx, ino, off, bytes, len, resume, sizeof(*resume));
}

static int block_store(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, uint64_t off,
		       uint8_t *rec, size_t len)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v = { len, rec };

	block_key(kb, ino, off);
	return mlfs_mdb_err(mdb_put(txn, idx->mblock, &k, &v, 0));
}

/*
 * Move pts (n of them, the metric's newest, starting at byte off) into
 * blocks: the last block first, while it has room, then new ones.
 */
static int seal(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_inode *in,
		const struct mlfs_point *pts, size_t n, uint64_t off)
{
	uint8_t rec[BLOCK_RECORD_MAX], kb[16];
	struct mlfs_mblock_resume resume = MLFS_MBLOCK_RESUME_INIT;
	struct mlfs_mblock_hdr h = { 0, 0 };
	char line[MLFS_POINT_LINE_MAX];
	size_t budget = block_budget(idx), len = 0, i = 0, taken;
	uint64_t key = off;
	int r;

	/* Go on with the last block unless it is full. */
	if (in->u.metric.npoints > n && in->u.metric.tail_n < MLFS_MBLOCK_POINTS) {
		MDB_val k = { 16, kb }, v;

		block_key(kb, in->ino, in->u.metric.tail_off);
		r = mdb_get(txn, idx->mblock, &k, &v);
		if (r)
			return mlfs_mdb_err(r);
		if (v.mv_size < sizeof(h))
			return MLFS_E_CORRUPT;
		memcpy(&h, v.mv_data, sizeof(h));
		if (mlfs_mblock_count((const uint8_t *)v.mv_data + sizeof(h),
				      v.mv_size - sizeof(h)) != (int)h.npoints)
			return MLFS_E_CORRUPT;
		if (v.mv_size - sizeof(h) <= budget) {
			len = v.mv_size - sizeof(h);
			memcpy(rec + sizeof(h), (const uint8_t *)v.mv_data + sizeof(h), len);
			key = in->u.metric.tail_off;
			tail_lookup(idx, in->ino, key, rec + sizeof(h), len, &resume);
		} else {
			h.npoints = h.text_bytes = 0;
		}
	}
	for (;;) {
		r = mlfs_mblock_append(rec + sizeof(h), len, budget, pts + i, n - i, &taken,
				       &resume);
		if (r < 0)
			return r == -EBADMSG ? MLFS_E_CORRUPT : r;
		/* A budget holds the worst point (mlfs_mblock_bound(1)): a new block takes one. */
		if (taken == 0 && h.npoints == 0)
			return -ENOBUFS;
		len = (size_t)r;
		for (size_t j = i; j < i + taken; j++) {
			int llen = mlfs_point_format(&pts[j], line);

			h.npoints++;
			h.text_bytes += llen;
			off += llen;
		}
		i += taken;
		if (i == n)
			break;
		/* Full: store it (unless it was a full last block) and start the next one. */
		if (taken) {
			memcpy(rec, &h, sizeof(h));
			r = block_store(txn, idx, in->ino, key, rec, sizeof(h) + len);
			if (r)
				return r;
		}
		key = off;
		len = 0;
		h.npoints = h.text_bytes = 0;
	}
	memcpy(rec, &h, sizeof(h));
	r = block_store(txn, idx, in->ino, key, rec, sizeof(h) + len);
	if (r)
		return r;
	tail_remember(idx, in->ino, key, rec + sizeof(h), len, &resume);
	in->u.metric.tail_off = key;
	in->u.metric.tail_n = h.npoints;
	return 0;
}

int mlfs_series_append(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, const char *data,
		       size_t len)
{
	struct mlfs_inode in;
	struct parsed *parsed = NULL;
	struct mlfs_point *pts = NULL;
	char line[MLFS_POINT_LINE_MAX];
	const char *payload;
	int64_t now_ms = op->now_ns / 1000000;
	MDB_txn *txn = NULL;
	size_t nraw, total;
	int r, n;

	n = parse_lines(op, data, len, &parsed);
	if (n <= 0)
		return n;
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		goto fail;
	r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r)
		goto fail;
	if (in.kind != MLFS_K_METRIC || in.payload_len % sizeof(*pts) ||
	    in.payload_len / sizeof(*pts) >= MLFS_RAW_POINTS) {
		r = in.kind != MLFS_K_METRIC ? -EINVAL : MLFS_E_CORRUPT;
		goto fail;
	}
	/* The raw points, then the new ones. */
	nraw = in.payload_len / sizeof(*pts);
	total = nraw + (size_t)n;
	pts = malloc(total * sizeof(*pts));
	if (!pts) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(pts, payload, nraw * sizeof(*pts));
	for (int i = 0; i < n; i++) {
		struct mlfs_point p = parsed[i].p;
		int llen;

		if (parsed[i].form != MLFS_POINT_FULL)
			p.ts_ms = now_ms;
		if (parsed[i].form == MLFS_POINT_VALUE)
			p.step = in.u.metric.npoints ? in.u.metric.last_step + 1 : 0;
		llen = mlfs_point_format(&p, line);
		pts[nraw + i] = p;
		in.size += llen;
		in.u.metric.raw_bytes += llen;
		in.u.metric.npoints++;
		in.u.metric.last_step = p.step;
		in.u.metric.last_ts = p.ts_ms;
		in.u.metric.last_value = p.value;
	}
	in.mtime_ns = in.ctime_ns = op->now_ns;
	in.gen++;
	if (total < MLFS_RAW_POINTS) {
		r = mlfs_ino_put(txn, s->idx, &in, pts, total * sizeof(*pts));
	} else {
		r = seal(txn, s->idx, &in, pts, total, in.size - in.u.metric.raw_bytes);
		in.u.metric.raw_bytes = 0;
		if (r == 0)
			r = mlfs_ino_put(txn, s->idx, &in, NULL, 0);
	}
	if (r)
		goto fail;
	free(parsed);
	free(pts);
	r = mlfs_store_commit(s, txn);
	return r ? r : n;
fail:
	mlfs_txn_abort(txn);
	free(parsed);
	free(pts);
	return r;
}

/* Where a rendering is at: point i starts at byte at of the metric. */
struct place {
	int i;
	uint64_t at;
};

/*
 * Copy the part of the rendering of pts[p->i..n) (point p->i starting at
 * byte p->at) that falls in [off + *done, off + len).  Leaves *p at the
 * point it stopped in, or at n and the end.
 */
static void render(const struct mlfs_point *pts, int n, struct place *p, uint64_t off,
		   char *buf, size_t len, size_t *done)
{
	char line[MLFS_POINT_LINE_MAX];
	uint64_t at = p->at;
	int i;

	for (i = p->i; i < n; i++) {
		int llen = mlfs_point_format(&pts[i], line);

		if (at + llen > off + *done) {
			size_t from = off + *done - at;
			size_t take = llen - from;

			if (take > len - *done)
				take = len - *done;
			memcpy(buf + *done, line + from, take);
			*done += take;
		}
		if (*done == len)
			break;
		at += llen;
	}
	p->i = i;
	p->at = at;
}

/*
 * The read memo: where the last reads of a few blocks stopped, so that the
 * next read, which the kernel's readahead makes at the next offset, starts
 * rendering there instead of formatting every line before it (a block is
 * hundreds of lines, a read request a few thousand).
 */
static struct memo read_memo = MEMO_INIT;
_Static_assert(sizeof(struct place) <= MEMO_STATE, "a place fits a memo");

/* Move *p on to where a read of the block rec[0..len) at key stopped, if that is not past off. */
static void read_lookup(const struct mlfs_index *idx, uint64_t ino, uint64_t key,
			const void *rec, size_t len, uint64_t off, struct place *p)
{
	struct place at;

	if (memo_get(&read_memo, idx, ino, key, rec, len, &at, sizeof(at)) && at.at <= off)
		*p = at;
}

static void read_remember(const struct mlfs_index *idx, uint64_t ino, uint64_t key,
			  const void *rec, size_t len, const struct place *p)
{
	memo_put(&read_memo, idx, ino, key, rec, len, p, sizeof(*p));
}

int mlfs_series_read(struct mlfs_store *s, uint64_t ino, uint64_t off, char *buf, size_t len)
{
	struct mlfs_point pts[MLFS_MBLOCK_POINTS];
	struct mlfs_mblock_hdr h;
	struct mlfs_inode in;
	struct place pl;
	const char *payload;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	uint64_t raw_off;
	size_t done = 0;
	int r, rc, n;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, s->idx, ino, &in, &payload);
	if (r || off >= in.size)
		goto out;
	raw_off = in.size - in.u.metric.raw_bytes;
	if (off < raw_off) {
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
		while (rc == 0 && done < len && off + done < raw_off) {
			if (k.mv_size != 16 || mlfs_be64_get(k.mv_data) != ino)
				break;
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
			pl.i = 0;
			pl.at = mlfs_be64_get((uint8_t *)k.mv_data + 8);
			if (off + done > pl.at)
				read_lookup(s->idx, ino, pl.at, v.mv_data, v.mv_size, off + done,
					    &pl);
			render(pts, n, &pl, off, buf, len, &done);
			if (pl.i < n)
				read_remember(s->idx, ino, mlfs_be64_get((uint8_t *)k.mv_data + 8),
					      v.mv_data, v.mv_size, &pl);
			mlfs_index_drop(s->idx, v.mv_data, v.mv_size);
			mlfs_index_drop(s->idx, k.mv_data, k.mv_size);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc && rc != MDB_NOTFOUND) {
			r = mlfs_mdb_err(rc);
			goto out;
		}
	}
	if (done < len && off + done >= raw_off && in.payload_len) {
		struct mlfs_point raw[MLFS_RAW_POINTS];
		size_t nraw = in.payload_len / sizeof(raw[0]);

		if (nraw > MLFS_RAW_POINTS || in.payload_len % sizeof(raw[0])) {
			r = MLFS_E_CORRUPT;
			goto out;
		}
		memcpy(raw, payload, in.payload_len);
		pl.i = 0;
		pl.at = raw_off;
		render(raw, (int)nraw, &pl, off, buf, len, &done);
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	mlfs_txn_abort(txn);
	if (r < 0)
		return log_errno(r, "cannot read metric #%llu", (unsigned long long)ino);
	return (int)done;
}
