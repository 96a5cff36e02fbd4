/*
 * test_fsck.c - fsck.h on a real store: a clean store has no problem; each
 * kind of damage (a chunk flipped, truncated or deleted; index records
 * removed or contradicting each other) is reported once, at the path of the
 * file it damages.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "err.h"
#include "fsck.h"
#include "series.h"
#include "store.h"
#include "t.h"
#include "store_fixture.h"
#include "trash.h"
#include "tree.h"
#include "value.h"

/* What fsck said: its lines, "path: problem\n" each. */
struct said {
	char text[8192];
	size_t len;
	int n;
};

static void hear(void *ctx, const char *path, const char *problem)
{
	struct said *w = ctx;
	int n = snprintf(w->text + w->len, sizeof(w->text) - w->len, "%s: %s\n", path, problem);

	if (n > 0 && w->len + n < sizeof(w->text))
		w->len += n;
	w->n++;
}

static int check(struct mlfs_store *s, struct said *w, struct mlfs_fsck_result *res)
{
	memset(w, 0, sizeof(*w));
	return mlfs_fsck(s, hear, w, res);
}

/* The chunk file of the extent of ino at offset off. */
static int chunk_file(struct mlfs_store *s, uint64_t ino, uint64_t off, char *path, size_t cap)
{
	struct mlfs_extent_rec rec;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_txn *txn;
	int r;

	mlfs_be64_put(kb, ino);
	mlfs_be64_put(kb + 8, off);
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	r = mlfs_mdb_err(mdb_get(txn, s->idx->extent, &k, &v));
	if (r == 0)
		memcpy(&rec, v.mv_data, sizeof(rec));
	mlfs_txn_abort(txn);
	if (r)
		return r;
	return mlfs_chunk_path(s->cs, &rec.hash, path, cap);
}

/* Delete one record of dbi in its own transaction. */
static int del_record(struct mlfs_store *s, MDB_dbi dbi, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_mdb_err(mdb_del(txn, dbi, &k, NULL));
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	return mlfs_txn_commit(txn);
}

/* A store with three artifacts (one sharing chunks, one with a hole), params and a metric. */
struct fixture {
	struct mlfs_store *s;
	uint64_t run, art, f[3], shared, sparse, metric;
	uint8_t *data[3];
	size_t size[3];
};

static int build(struct fixture *x)
{
	char batch[4096];
	size_t bl = 0;
	uint64_t lr;

	memset(x, 0, sizeof(*x));
	x->s = fresh_store("fsck", 0);
	if (!x->s)
		return -1;
	x->run = mkdir_in(x->s, mkdir_in(x->s, MLFS_ROOT_INO, "exp1"), "run42");
	x->art = lookup(x->s, x->run, "artifacts");
	if (!x->art)
		return -1;
	for (int i = 0; i < 3; i++) {
		char name[16];

		x->size[i] = (size_t)(i + 1) * 700000;
		x->data[i] = malloc(x->size[i]);
		if (!x->data[i])
			return -1;
		fill_random(x->data[i], x->size[i], 50 + i);
		snprintf(name, sizeof(name), "f%d", i);
		x->f[i] = mkfile(x->s, x->art, name);
		if (!x->f[i] || put_file(x->s, x->f[i], x->data[i], x->size[i]))
			return -1;
	}
	x->shared = mkfile(x->s, x->art, "copy-of-f0");
	if (!x->shared || put_file(x->s, x->shared, x->data[0], x->size[0]))
		return -1;
	x->sparse = mkfile(x->s, x->art, "sparse");
	mlfs_op_init(&op, 0, 0);
	if (!x->sparse || put_file(x->s, x->sparse, x->data[1], 1000) ||
	    mlfs_afile_truncate_ino(x->s, &op, x->sparse, 5 << 20))
		return -1;
	lr = mkfile(x->s, lookup(x->s, x->run, "params"), "lr");
	if (!lr || mlfs_value_write(x->s, &op, lr, "0.01\n", 5, false) < 0)
		return -1;
	x->metric = mkfile(x->s, lookup(x->s, x->run, "metrics"), "loss");
	if (!x->metric)
		return -1;
	/*
	 * 600 points that cost the codec about 20 bytes each (jumpy clocks and
	 * steps, any doubles), so that they take several blocks of a page.
	 */
	for (int i = 0, r = 0; i < 600; i++) {
		uint64_t u = (uint64_t)i * 0x9e3779b97f4a7c15ull;
		double v;

		u ^= u >> 29;
		u *= 0xbf58476d1ce4e5b9ull;
		u ^= u >> 32;
		memcpy(&v, &u, sizeof(v));
		if (!isfinite(v))
			v = (double)i;
		bl += snprintf(batch + bl, sizeof(batch) - bl, "%" PRIu64 " %.17g %" PRIu64 "\n",
			       1700000000000 + (u >> 24) % 1000000000, v, (u >> 8) % 1000000000);
		if (++r == 50) {
			if (mlfs_series_append(x->s, &op, x->metric, batch, bl) != r)
				return -1;
			bl = r = 0;
		}
	}
	return 0;
}

static void fixture_free(struct fixture *x)
{
	for (int i = 0; i < 3; i++)
		free(x->data[i]);
	mlfs_store_free(x->s);
}

static void test_clean(void)
{
	struct fixture x;
	struct mlfs_fsck_result res;
	struct said w;

	REQUIRE(build(&x) == 0);
	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 0 && w.n == 0);
	if (w.n)
		fprintf(stderr, "%s", w.text);
	CHECK(res.files == 5 && res.metrics == 1 && res.blocks >= 3);
	CHECK(res.extents > res.chunks); /* the copy shares f0's chunks: each is read once */
	CHECK(res.chunk_bytes == x.size[0] + x.size[1] + x.size[2] + 1000);
	fixture_free(&x);
}

static void test_damaged_chunks(void)
{
	struct fixture x;
	struct mlfs_fsck_result res;
	struct said w;
	char path[1024];
	int fd;

	REQUIRE(build(&x) == 0);
	/* f0: a byte flipped in its first chunk's payload (the copy shares it) */
	REQUIRE(chunk_file(x.s, x.f[0], 0, path, sizeof(path)) == 0);
	fd = open(path, O_RDWR);
	REQUIRE(fd >= 0);
	{
		uint8_t b;

		CHECK(pread(fd, &b, 1, 100) == 1);
		b ^= 0x40;
		CHECK(pwrite(fd, &b, 1, 100) == 1);
	}
	close(fd);
	/* f1: its first chunk truncated */
	REQUIRE(chunk_file(x.s, x.f[1], 0, path, sizeof(path)) == 0);
	CHECK(truncate(path, 50) == 0);
	/* f2: its first chunk deleted */
	REQUIRE(chunk_file(x.s, x.f[2], 0, path, sizeof(path)) == 0);
	CHECK(unlink(path) == 0);

	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 4 && w.n == 4);
	CHECK(strstr(w.text, "exp1/run42/artifacts/f0: chunk ") &&
	      strstr(w.text, " at offset 0 is damaged\n"));
	CHECK(strstr(w.text, "exp1/run42/artifacts/copy-of-f0: chunk "));
	CHECK(strstr(w.text, "exp1/run42/artifacts/f1: chunk "));
	CHECK(strstr(w.text, "exp1/run42/artifacts/f2: chunk ") &&
	      strstr(w.text, " at offset 0 is missing\n"));
	CHECK(!strstr(w.text, "sparse"));
	fprintf(stderr, "%s", w.text);

	/* damage in the trash is named under .trash/ */
	mlfs_op_init(&op, 0, 0);
	REQUIRE(mlfs_trash_set(x.s, &op, x.run, true) == 0);
	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 4 && strstr(w.text, ".trash/exp1/run42/artifacts/f2: chunk "));
	fixture_free(&x);
}

static void test_index_damage(void)
{
	struct fixture x;
	struct mlfs_fsck_result res;
	struct mlfs_inode in;
	struct said w;
	uint8_t kb[16 + 8];
	MDB_txn *txn;

	REQUIRE(build(&x) == 0);
	/* an extent of f2 gone: a gap (f2 is 2100000 bytes: several chunks) */
	{
		MDB_cursor *cur;
		MDB_val k, v;

		mlfs_be64_put(kb, x.f[2]);
		mlfs_be64_put(kb + 8, 0);
		k.mv_size = 16;
		k.mv_data = kb;
		REQUIRE(mlfs_txn_begin(x.s->idx, false, &txn) == 0);
		REQUIRE(mdb_cursor_open(txn, x.s->idx->extent, &cur) == 0);
		CHECK(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0);
		CHECK(mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0);
		memcpy(kb, k.mv_data, 16);
		mdb_cursor_close(cur);
		mlfs_txn_abort(txn);
		REQUIRE(mlfs_be64_get(kb) == x.f[2] && mlfs_be64_get(kb + 8) > 0);
		CHECK(del_record(x.s, x.s->idx->extent, kb, 16) == 0);
	}
	/* f1 not listed in its folder (its child record gone) */
	mlfs_be64_put(kb, x.art);
	mlfs_be64_put(kb + 8, x.f[1]);
	CHECK(del_record(x.s, x.s->idx->child, kb, 16) == 0);
	/* f0's inode gone, its entry and extents left behind */
	mlfs_be64_put(kb, x.f[0]);
	CHECK(del_record(x.s, x.s->idx->inode, kb, 8) == 0);
	/* the metric's size disagrees with its blocks */
	REQUIRE(mlfs_txn_begin(x.s->idx, true, &txn) == 0);
	REQUIRE(mlfs_ino_get(txn, x.s->idx, x.metric, &in, NULL) == 0);
	in.size += 7;
	CHECK(mlfs_ino_update(txn, x.s->idx, &in) == 0);
	CHECK(mlfs_txn_commit(txn) == 0);

	CHECK(check(x.s, &w, &res) == 0);
	fprintf(stderr, "%s", w.text);
	CHECK(strstr(w.text, "exp1/run42/artifacts/f2: its extents do not follow each other"));
	CHECK(strstr(w.text, "exp1/run42/artifacts/f1: its folder does not list it\n"));
	CHECK(strstr(w.text, "exp1/run42/artifacts/f0: names #"));
	CHECK(strstr(w.text, "extent records of an inode that does not exist\n"));
	CHECK(strstr(w.text, "exp1/run42/metrics/loss: its blocks"));
	CHECK(strstr(w.text, " 600 points in "));
	CHECK(res.problems == (uint64_t)w.n && w.n >= 5);
	fixture_free(&x);
}

static uint64_t open_ino;

static bool is_open(uint64_t ino)
{
	return ino == open_ino;
}

static void test_orphan(void)
{
	struct fixture x;
	struct mlfs_fsck_result res;
	struct said w;
	char path[1024];
	uint8_t kb[8];

	REQUIRE(build(&x) == 0);
	/* f1 is deleted while the daemon has it open: nameless, kept, listed as an orphan */
	open_ino = x.f[1];
	x.s->is_open = is_open;
	mlfs_op_init(&op, 0, 0);
	REQUIRE(mlfs_unlink(x.s, &op, x.art, "f1", 2) == 0);
	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 0 && res.files == 5);
	if (w.n)
		fprintf(stderr, "%s", w.text);
	/* its content is still checked, and named as what it is */
	REQUIRE(chunk_file(x.s, x.f[1], 0, path, sizeof(path)) == 0);
	CHECK(unlink(path) == 0);
	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 1 && strstr(w.text, " (deleted while open): chunk ") &&
	      strstr(w.text, " is missing\n"));
	/* an orphan nothing will drop */
	mlfs_be64_put(kb, x.f[1]);
	CHECK(del_record(x.s, x.s->idx->orphan, kb, 8) == 0);
	CHECK(check(x.s, &w, &res) == 0);
	CHECK(res.problems == 2);
	CHECK(strstr(w.text, "deleted while open, but not listed for dropping"));
	x.s->is_open = NULL;
	fixture_free(&x);
}

int main(void)
{
	T_RUN(test_clean);
	T_RUN(test_damaged_chunks);
	T_RUN(test_index_damage);
	T_RUN(test_orphan);
	wipe();
	return T_DONE();
}
