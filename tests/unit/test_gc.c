/*
 * test_gc.c - gc.h and the pending-chunk protocol of afile.c, on a real store
 * in a temporary directory.
 *
 * gc runs in a forked child, as `mlfs gc` would in another process, so that
 * the daemon's lock (flock, per open file) and LMDB's one-environment-per-
 * process rule hold as they do in use.  A chunk file is "aged" by setting
 * its mtime an hour back: gc keeps anything put after it started, so the
 * tests age what they expect gc to judge.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "afile.h"
#include "err.h"
#include "gc.h"
#include "store.h"
#include "t.h"
#include "store_fixture.h"
#include "trash.h"
#include "tree.h"

/* A new store; open it as the daemon (with an instance) or as the command line. */
static struct mlfs_store *fresh(bool daemon)
{
	struct mlfs_store *s = fresh_store("gc", daemon ? MLFS_STORE_DAEMON : 0);

	if (!s)
		return NULL;
	if (daemon && mlfs_gc_instance(s, NULL)) {
		mlfs_store_free(s);
		return NULL;
	}
	return s;
}

/* exp/run/artifacts of a new run. */
static uint64_t artifacts(struct mlfs_store *s, const char *run)
{
	struct stat st;
	uint64_t exp = lookup(s, MLFS_ROOT_INO, "e");

	mlfs_op_init(&op, 1000, 1000);
	if (!exp && mlfs_mkdir(s, &op, MLFS_ROOT_INO, "e", 1, 0755, &st) == 0)
		exp = st.st_ino;
	if (!exp || mlfs_mkdir(s, &op, exp, run, strlen(run), 0755, &st))
		return 0;
	return lookup(s, st.st_ino, "artifacts");
}

/* 1 if ino reads back exactly data. */
static int same_content(struct mlfs_store *s, uint64_t ino, const uint8_t *data, size_t len)
{
	struct mlfs_afile *f;
	uint8_t *back = malloc(len + 1);
	int n, ok;

	if (!back || mlfs_afile_open(s, ino, O_RDONLY, &f)) {
		free(back);
		return 0;
	}
	n = mlfs_afile_read(f, 0, back, len + 1);
	ok = n == (int)len && !memcmp(back, data, len);
	mlfs_afile_free(f);
	free(back);
	return ok;
}

/* Call fn(path) for every chunk file. */
static int each_chunk(void (*fn)(const char *path, void *ctx), void *ctx)
{
	char path[1024];
	struct dirent *e, *c;
	DIR *top, *sub;
	int n = 0;

	snprintf(path, sizeof(path), "%s/chunks", dir);
	top = opendir(path);
	if (!top)
		return -1;
	while ((e = readdir(top))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/chunks/%s", dir, e->d_name);
		sub = opendir(path);
		if (!sub)
			continue;
		while ((c = readdir(sub))) {
			if (c->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/chunks/%s/%s", dir, e->d_name, c->d_name);
			if (fn)
				fn(path, ctx);
			n++;
		}
		closedir(sub);
	}
	closedir(top);
	return n;
}

static int count_chunks(void)
{
	return each_chunk(NULL, NULL);
}

static void age_one(const char *path, void *ctx)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= *(int *)ctx;
	ts[1] = ts[0];
	utimensat(AT_FDCWD, path, ts, 0);
}

/* Make every chunk file look `secs` old. */
static void age_chunks(int secs)
{
	each_chunk(age_one, &secs);
}

/* Run gc in a child process on the store at dir; 0 and *ret, or the child's failure. */
static int gc_child(unsigned flags, struct mlfs_gc_result *ret)
{
	struct mlfs_gc_result res = { 0 };
	int pfd[2], status, r;
	pid_t pid;

	if (pipe(pfd))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct mlfs_store *s;

		close(pfd[0]);
		r = mlfs_store_open(dir, 0, &s);
		if (r == 0) {
			r = mlfs_gc_run(s, flags, NULL, NULL, &res);
			mlfs_store_free(s);
		}
		if (r == 0 && write(pfd[1], &res, sizeof(res)) != sizeof(res))
			r = -EIO;
		_exit(r ? 1 : 0);
	}
	close(pfd[1]);
	r = read(pfd[0], &res, sizeof(res)) == sizeof(res) ? 0 : -EIO;
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		r = -ECHILD;
	if (r == 0)
		*ret = res;
	return r;
}

/* How many pending entries there are, and how many belong to owner (0: any). */
static int count_pending(struct mlfs_store *s, uint64_t owner)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int n = 0, rc;

	if (mlfs_txn_begin(s->idx, false, &txn))
		return -1;
	if (mdb_cursor_open(txn, s->idx->pending, &cur)) {
		mlfs_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (!owner || mlfs_be64_get((uint8_t *)k.mv_data + 16) >> 32 == owner)
			n++;
	mdb_cursor_close(cur);
	mlfs_txn_abort(txn);
	return n;
}

/* A pending entry for *h as owner, recorded at ms. */
static int add_pending(struct mlfs_store *s, const struct mlfs_hash *h, uint64_t owner, int64_t ms)
{
	uint8_t kb[24];
	MDB_val k = { 24, kb }, v = { 8, &ms };
	MDB_txn *txn;
	int r;

	memcpy(kb, h->b, 16);
	mlfs_be64_put(kb + 16, owner);
	r = mlfs_txn_begin(s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_mdb_err(mdb_put(txn, s->idx->pending, &k, &v, 0));
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	return mlfs_store_commit(s, txn);
}

static int has_chunk(struct mlfs_store *s, const struct mlfs_hash *h)
{
	return mlfs_chunk_exists(s->cs, h) == 1;
}

static void test_instance_and_owner(void)
{
	struct mlfs_store *s = fresh(true), *cli = NULL;
	char path[300], text[64] = "";
	uint64_t id = 0, a, b;
	FILE *f;

	REQUIRE(s);
	id = s->instance;
	CHECK(id != 0 && id <= UINT32_MAX);
	snprintf(path, sizeof(path), "%s/lock", dir);
	f = fopen(path, "r");
	REQUIRE(f);
	CHECK(fgets(text, sizeof(text), f) != NULL);
	fclose(f);
	CHECK(strlen(text) == 17 && text[16] == '\n');
	CHECK(strtoull(text, NULL, 16) == id);
	a = mlfs_gc_owner(s);
	b = mlfs_gc_owner(s);
	CHECK(a != b && a >> 32 == id && b >> 32 == id);
	/* only the daemon's store holds the lock an instance is written into */
	REQUIRE(mlfs_store_open(dir, 0, &cli) == 0);
	CHECK(mlfs_gc_instance(cli, NULL) == -EINVAL && cli->instance == 0);
	CHECK(mlfs_gc_owner(cli) >> 32 == 0);
	mlfs_store_free(cli);
	mlfs_store_free(s);
}

static void test_pending_entries(void)
{
	struct mlfs_store *s = fresh(true);
	size_t size = 3 << 20;
	uint8_t *data = malloc(size);
	struct mlfs_afile *w;
	uint64_t f;
	int n;

	REQUIRE(s && data);
	fill_random(data, size, 11);
	f = mkfile(s, artifacts(s, "r"), "model.bin");
	REQUIRE(f);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	for (size_t off = 0; off < size; off += 65536)
		CHECK(mlfs_afile_write(w, off, data + off, 65536) == 65536);
	CHECK(mlfs_afile_settle(w) == 0); /* the worker has put what the writes cut */
	/* every chunk on disk so far is pending, as the daemon's instance */
	n = count_pending(s, s->instance);
	CHECK(n >= 2 && n == count_pending(s, 0));
	CHECK(n == count_chunks());
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	CHECK(count_pending(s, 0) == 0); /* the commit that names them drops them */
	/* what a handle puts and never commits goes at free */
	CHECK(mlfs_afile_write(w, size, data, 1 << 20) == 1 << 20);
	CHECK(mlfs_afile_settle(w) == 0);
	CHECK(count_pending(s, 0) > 0);
	mlfs_afile_free(w);
	CHECK(count_pending(s, 0) == 0);
	CHECK(same_content(s, f, data, size));
	/* a file of zeros: one entry, not one per chunk */
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	memset(data, 0, size);
	for (size_t off = 0; off < size; off += 65536)
		CHECK(mlfs_afile_write(w, off, data + off, 65536) == 65536);
	CHECK(mlfs_afile_settle(w) == 0);
	CHECK(count_pending(s, 0) == 1);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	mlfs_afile_free(w);
	CHECK(same_content(s, f, data, size));
	free(data);
	mlfs_store_free(s);
}

static void test_gc_frees_garbage(void)
{
	struct mlfs_store *s = fresh(false);
	size_t xs = 3 << 20, ys = 2 << 20, zs = (2 << 20) + 12345;
	uint8_t *x = malloc(xs), *y = malloc(ys), *z = malloc(zs);
	struct mlfs_gc_result res;
	uint64_t art, a, b, keep;
	int before, kept_chunks, garbage;

	REQUIRE(s && x && y && z);
	fill_random(x, xs, 1);
	fill_random(y, ys, 2);
	fill_random(z, zs, 3);
	art = artifacts(s, "r");
	a = mkfile(s, art, "a");
	b = mkfile(s, art, "b");
	keep = mkfile(s, art, "keep");
	REQUIRE(a && b && keep);
	REQUIRE(put_file(s, keep, z, zs) == 0);
	kept_chunks = count_chunks();
	REQUIRE(put_file(s, a, x, xs) == 0);
	REQUIRE(put_file(s, b, y, ys) == 0);
	before = count_chunks();
	/* overwrite a with keep's content (dedup: no new chunk), delete b */
	REQUIRE(put_file(s, a, z, zs) == 0);
	CHECK(count_chunks() == before);
	mlfs_op_init(&op, 0, 0);
	REQUIRE(mlfs_unlink(s, &op, art, "b", 1) == 0);
	garbage = before - kept_chunks;
	CHECK(garbage >= 10);

	/* nothing is old enough yet: gc keeps what was put after it started */
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed == 0 && res.young == (uint64_t)garbage);
	CHECK(count_chunks() == before);

	age_chunks(3600);
	/* a dry run counts and deletes nothing */
	REQUIRE(gc_child(MLFS_GC_DRY_RUN, &res) == 0);
	CHECK(res.examined == (uint64_t)before && res.freed == (uint64_t)garbage);
	CHECK(res.freed_bytes > 0);
	CHECK(count_chunks() == before);

	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.examined == (uint64_t)before && res.freed == (uint64_t)garbage);
	CHECK(res.marked == (uint64_t)kept_chunks);
	CHECK(count_chunks() == kept_chunks);
	/* everything referenced reads back whole */
	CHECK(same_content(s, a, z, zs));
	CHECK(same_content(s, keep, z, zs));
	/* and a second run finds nothing */
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed == 0 && res.examined == (uint64_t)kept_chunks);
	free(x);
	free(y);
	free(z);
	mlfs_store_free(s);
}

static void test_gc_spares_open_writer(void)
{
	struct mlfs_store *s = fresh(true);
	size_t size = 4 << 20;
	uint8_t *data = malloc(size);
	struct mlfs_gc_result res;
	struct mlfs_afile *w;
	uint64_t f;
	int on_disk;

	REQUIRE(s && data);
	fill_random(data, size, 21);
	f = mkfile(s, artifacts(s, "r"), "half.bin");
	REQUIRE(f);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	/* the first half is written, cut into chunks and put, but not committed */
	for (size_t off = 0; off < size / 2; off += 65536)
		CHECK(mlfs_afile_write(w, off, data + off, 65536) == 65536);
	/* the worker has put every chunk those writes completed */
	CHECK(mlfs_afile_settle(w) == 0);
	on_disk = count_chunks();
	CHECK(on_disk >= 3);
	age_chunks(3600);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed == 0 && res.pending_live == (uint64_t)on_disk);
	CHECK(count_chunks() == on_disk);
	/* the writer goes on and commits: every byte is there */
	for (size_t off = size / 2; off < size; off += 65536)
		CHECK(mlfs_afile_write(w, off, data + off, 65536) == 65536);
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	mlfs_afile_free(w);
	CHECK(same_content(s, f, data, size));
	age_chunks(3600);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed == 0);
	CHECK(same_content(s, f, data, size));
	free(data);
	mlfs_store_free(s);
}

static void test_gc_stale_pending(void)
{
	struct mlfs_store *s = fresh(true);
	struct mlfs_gc_result res;
	struct mlfs_hash h[4];
	uint8_t buf[4][5000];
	int64_t old = mlfs_now_ns() / 1000000 - 3600 * 1000;
	uint64_t dead = (uint64_t)(s ? (uint32_t)(s->instance + 1) : 1) << 32 | 7;

	REQUIRE(s);
	for (int i = 0; i < 4; i++) {
		fill_random(buf[i], sizeof(buf[i]), 100 + i);
		mlfs_hash_buf(buf[i], sizeof(buf[i]), &h[i]);
		REQUIRE(mlfs_chunk_put(s->cs, &h[i], buf[i], sizeof(buf[i]), NULL) == 0);
	}
	/* 0: a writer of a daemon that is gone; 1: of the live daemon; 2: young; 3: nobody's */
	REQUIRE(add_pending(s, &h[0], dead, old) == 0);
	REQUIRE(add_pending(s, &h[1], s->instance << 32 | 9, old) == 0);
	REQUIRE(add_pending(s, &h[2], dead, mlfs_now_ns() / 1000000 + 60000) == 0);
	age_chunks(3600);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.pending_stale == 1 && res.pending_live == 2);
	CHECK(!has_chunk(s, &h[0]) && has_chunk(s, &h[1]) && has_chunk(s, &h[2]));
	CHECK(!has_chunk(s, &h[3]));
	CHECK(count_pending(s, 0) == 2);
	/* a daemon whose lock file names no instance yet: every entry is kept */
	{
		char path[300];
		FILE *f;

		snprintf(path, sizeof(path), "%s/lock", dir);
		f = fopen(path, "w");
		REQUIRE(f);
		fclose(f);
		REQUIRE(add_pending(s, &h[3], dead, old) == 0);
		REQUIRE(mlfs_chunk_put(s->cs, &h[3], buf[3], sizeof(buf[3]), NULL) == 0);
		age_chunks(3600);
		REQUIRE(gc_child(0, &res) == 0);
		CHECK(res.pending_stale == 0 && res.pending_live == 3 && has_chunk(s, &h[3]));
	}
	/* no daemon at all: every entry older than the run is stale */
	{
		char d[256];
		struct mlfs_store *cli;

		snprintf(d, sizeof(d), "%s", dir);
		mlfs_store_free(s);
		REQUIRE(mlfs_store_open(d, 0, &cli) == 0);
		REQUIRE(gc_child(0, &res) == 0);
		CHECK(res.pending_stale == 2 && res.pending_live == 1);
		CHECK(!has_chunk(cli, &h[1]) && has_chunk(cli, &h[2]) && !has_chunk(cli, &h[3]));
		CHECK(count_pending(cli, 0) == 1);
		mlfs_store_free(cli);
	}
}

static void test_replaced_base(void)
{
	struct mlfs_store *s = fresh(false);
	size_t c1 = 3 << 20, c2 = 1 << 20, more = 300000;
	uint8_t *d1 = malloc(c1 + more), *d2 = malloc(c2);
	struct mlfs_gc_result res;
	struct mlfs_afile *h1;
	uint64_t f;

	REQUIRE(s && d1 && d2);
	fill_random(d1, c1 + more, 31);
	fill_random(d2, c2, 32);
	f = mkfile(s, artifacts(s, "r"), "log.bin");
	REQUIRE(f && put_file(s, f, d1, c1) == 0);

	/* h1 opens to append; another writer replaces the file; h1 commits; then gc */
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_APPEND, &h1) == 0);
	REQUIRE(put_file(s, f, d2, c2) == 0);
	CHECK(mlfs_afile_write(h1, 0, d1 + c1, more) == (int)more);
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_afile_commit(h1, &op) == 0);
	mlfs_afile_free(h1);
	age_chunks(3600);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed > 0); /* d2's chunks */
	CHECK(same_content(s, f, d1, c1 + more));

	/* h1 opens to append; the file is replaced and gc runs before h1 commits */
	REQUIRE(put_file(s, f, d1, c1) == 0);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_APPEND, &h1) == 0);
	REQUIRE(put_file(s, f, d2, c2) == 0);
	age_chunks(3600);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed > 0); /* d1's chunks: nothing names them */
	CHECK(mlfs_afile_write(h1, 0, d1 + c1, more) == (int)more);
	/* the commit cannot name chunks that are gone: it fails, the file keeps d2 */
	CHECK(mlfs_afile_commit(h1, &op) == -EIO);
	mlfs_afile_free(h1);
	CHECK(same_content(s, f, d2, c2));
	free(d1);
	free(d2);
	mlfs_store_free(s);
}

static void test_tmp_leftovers(void)
{
	struct mlfs_store *s = fresh(false);
	struct mlfs_gc_result res;
	char oldf[300], newf[300], other[300];
	struct timespec ts[2];
	int fd;

	REQUIRE(s);
	snprintf(oldf, sizeof(oldf), "%s/tmp/chunk.1.2.3", dir);
	snprintf(newf, sizeof(newf), "%s/tmp/chunk.4.5.6", dir);
	snprintf(other, sizeof(other), "%s/tmp/notes", dir);
	for (int i = 0; i < 3; i++) {
		fd = open(i == 0 ? oldf : i == 1 ? newf : other, O_WRONLY | O_CREAT, 0644);
		REQUIRE(fd >= 0);
		CHECK(write(fd, "half", 4) == 4);
		close(fd);
	}
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 2 * 3600;
	ts[1] = ts[0];
	CHECK(utimensat(AT_FDCWD, oldf, ts, 0) == 0);
	CHECK(utimensat(AT_FDCWD, other, ts, 0) == 0);
	REQUIRE(gc_child(MLFS_GC_DRY_RUN, &res) == 0);
	CHECK(res.tmp_freed == 1 && access(oldf, F_OK) == 0);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.tmp_freed == 1);
	CHECK(access(oldf, F_OK) != 0 && access(newf, F_OK) == 0 && access(other, F_OK) == 0);
	mlfs_store_free(s);
}

static void test_parse_age(void)
{
	int64_t ms = -1;

	CHECK(mlfs_gc_parse_age("30s", &ms) == 0 && ms == 30000);
	CHECK(mlfs_gc_parse_age("15m", &ms) == 0 && ms == 900000);
	CHECK(mlfs_gc_parse_age("12h", &ms) == 0 && ms == 12ll * 3600000);
	CHECK(mlfs_gc_parse_age("7d", &ms) == 0 && ms == 7ll * 86400000);
	CHECK(mlfs_gc_parse_age("0s", &ms) == 0 && ms == 0);
	ms = 42;
	const char *bad[] = { "", "7", "d", "7w", "-1d", "1.5h", "7d ", " 7d", "7dd",
			      "99999999999999999999s", "40000d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(mlfs_gc_parse_age(bad[i], &ms) == -EINVAL);
	CHECK(ms == 42);
}

struct purged {
	int n;
	char last[256];
};

static void on_purged(void *ctx, const char *path, int inodes)
{
	struct purged *p = ctx;

	p->n++;
	snprintf(p->last, sizeof(p->last), "%s", path);
}

static void test_purge_then_gc(void)
{
	struct mlfs_store *s = fresh(false);
	size_t size = 2 << 20;
	uint8_t *data = malloc(size);
	struct mlfs_gc_result res;
	struct purged p = { 0 };
	uint64_t exp, run, f;

	REQUIRE(s && data);
	fill_random(data, size, 41);
	f = mkfile(s, artifacts(s, "r1"), "w.bin");
	REQUIRE(f && put_file(s, f, data, size) == 0);
	exp = lookup(s, MLFS_ROOT_INO, "e");
	run = lookup(s, exp, "r1");
	REQUIRE(run);
	mlfs_op_init(&op, 0, 0);
	REQUIRE(mlfs_trash_set(s, &op, run, true) == 0);
	age_chunks(3600);
	/* in the trash, not purged: its chunks are still named */
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed == 0 && count_chunks() > 0);
	/* deleted just now: not older than an hour */
	CHECK(mlfs_gc_purge(s, mlfs_now_ns() / 1000000 - 3600000, 0, on_purged, &p) == 0);
	CHECK(p.n == 0);
	CHECK(mlfs_gc_purge(s, INT64_MAX, MLFS_GC_DRY_RUN, on_purged, &p) == 1);
	CHECK(p.n == 1 && !strcmp(p.last, ".trash/e/r1"));
	CHECK(lookup(s, exp, "r1") == 0); /* still in the trash, hidden from its folder */
	CHECK(mlfs_gc_purge(s, INT64_MAX, 0, on_purged, &p) == 1);
	CHECK(p.n == 2);
	CHECK(mlfs_gc_purge(s, INT64_MAX, 0, on_purged, &p) == 0);
	REQUIRE(gc_child(0, &res) == 0);
	CHECK(res.freed > 0 && count_chunks() == 0);
	free(data);
	mlfs_store_free(s);
}

int main(void)
{
	T_RUN(test_instance_and_owner);
	T_RUN(test_pending_entries);
	T_RUN(test_gc_frees_garbage);
	T_RUN(test_gc_spares_open_writer);
	T_RUN(test_gc_stale_pending);
	T_RUN(test_replaced_base);
	T_RUN(test_tmp_leftovers);
	T_RUN(test_parse_age);
	T_RUN(test_purge_then_gc);
	wipe();
	return T_DONE();
}
