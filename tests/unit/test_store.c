/*
 * test_store.c - the store library without a mount: a real store in a
 * temporary directory (real LMDB files, real chunk files), driven through
 * store.h, tree.h, value.h, series.h and afile.h.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "afile.h"
#include "cdc.h"
#include "err.h"
#include "fault.h"
#include "metric.h"
#include "names.h"
#include "series.h"
#include "store.h"
#include "t.h"
#include "store_fixture.h"
#include "tree.h"
#include "value.h"

static int count_chunks(void)
{
	char cmd[400], buf[64] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s/chunks' -type f | wc -l", dir);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = 0;
	pclose(p);
	return atoi(buf);
}

static void test_store_lifecycle(void)
{
	struct mlfs_store *s = fresh_store("store", 0), *d1 = NULL, *d2 = NULL;

	REQUIRE(s);
	CHECK(mlfs_store_init(dir) == -EEXIST);
	CHECK(mlfs_store_open("/tmp", 0, &d1) == MLFS_E_NOTSTORE);
	CHECK(mlfs_store_open(dir, MLFS_STORE_DAEMON, &d1) == 0);
	CHECK(mlfs_store_open(dir, MLFS_STORE_DAEMON, &d2) == MLFS_E_LOCKED);
	mlfs_store_free(d1);
	/* the lock goes with the daemon */
	CHECK(mlfs_store_open(dir, MLFS_STORE_DAEMON, &d2) == 0);
	mlfs_store_free(d2);
	mlfs_store_free(s);
}

static void test_tree_shape(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	uint64_t exp, run, keydir, loss;
	struct mlfs_inode in;
	char path[256], big[300];

	REQUIRE(s);
	exp = mkdir_in(s, MLFS_ROOT_INO, "exp1");
	REQUIRE(exp);
	CHECK(lookup(s, exp, "meta") && lookup(s, exp, "tags"));
	run = mkdir_in(s, exp, "run42");
	REQUIRE(run);
	CHECK(mlfs_inode_of(s, run, &in) == 0 && in.kind == MLFS_K_RUN);
	CHECK(in.u.run.status == MLFS_RUNNING && in.u.run.start_ms > 0 && in.u.run.end_ms == 0);
	const char *kids[] = { "params", "metrics", "tags", "artifacts", "status", "meta" };
	for (int i = 0; i < 6; i++)
		CHECK(lookup(s, run, kids[i]) != 0);
	/* reserved and bad names refuse with a sentence */
	CHECK(mkdir_in(s, MLFS_ROOT_INO, "index.html") == 0 && strstr(op.why, "reserved"));
	CHECK(mkdir_in(s, MLFS_ROOT_INO, "models") == 0); /* the registry's, made with the store */
	CHECK(mkdir_in(s, exp, "runs.csv") == 0);
	CHECK(mkdir_in(s, MLFS_ROOT_INO, ".hidden") == 0);
	memset(big, 'x', 256);
	big[256] = 0;
	{
		struct stat st;

		mlfs_op_init(&op, 0, 0);
		CHECK(mlfs_mkdir(s, &op, MLFS_ROOT_INO, big, 256, 0755, &st) == -ENAMETOOLONG);
	}
	CHECK(mkdir_in(s, MLFS_ROOT_INO, "exp1") == 0); /* EEXIST */
	/* a file cannot sit in a run or an experiment */
	CHECK(mkfile(s, run, "notes.txt") == 0 && strstr(op.why, "artifacts/"));
	CHECK(mkfile(s, exp, "notes.txt") == 0);
	/* keys with '/' are folders; the whole key is checked */
	keydir = mkdir_in(s, lookup(s, run, "metrics"), "train");
	loss = mkfile(s, keydir, "loss");
	CHECK(keydir && loss);
	memset(big, 'k', 250);
	big[250] = 0;
	CHECK(mkfile(s, keydir, big) == 0); /* "train/" + 250 > 250 */
	CHECK(mkfile(s, lookup(s, run, "params"), big) != 0);
	CHECK(mkfile(s, lookup(s, run, "tags"), "bad*key") == 0);
	mlfs_path_of(s, loss, path, sizeof(path));
	CHECK(lookup(s, keydir, "loss") == 0); /* a metric without a point is not shown yet */
	CHECK(!strcmp(path, "exp1/run42/metrics/train/loss"));
	/* params and metrics are kept; a run keeps its record */
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_unlink(s, &op, keydir, "loss", 4) == -EPERM);
	CHECK(mlfs_rmdir(s, &op, exp, "run42", 5) == -ENOTEMPTY);
	CHECK(mlfs_rmdir(s, &op, run, "params", 6) == -EPERM);
	/* renames: a run within its experiment, not elsewhere */
	CHECK(mlfs_rename(s, &op, exp, "run42", 5, exp, "run43", 5, 0) == 0);
	CHECK(lookup(s, exp, "run43") == run && lookup(s, exp, "run42") == 0);
	CHECK(mkdir_in(s, MLFS_ROOT_INO, "exp2"));
	CHECK(mlfs_rename(s, &op, exp, "run43", 5, lookup(s, MLFS_ROOT_INO, "exp2"), "r", 1, 0) ==
	      -EPERM);
	mlfs_store_free(s);
	/* inode numbers come from the index: the same after reopening */
	REQUIRE(mlfs_store_open(dir, 0, &s) == 0);
	CHECK(lookup(s, MLFS_ROOT_INO, "exp1") == exp && lookup(s, exp, "run43") == run);
	mlfs_store_free(s);
}

static void test_values(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	uint64_t run, lr, tag, status, meta;
	struct mlfs_inode in;
	struct stat st;
	char buf[MLFS_RENDER_MAX];
	MDB_txn *txn;
	const char *payload;
	int n;

	REQUIRE(s);
	run = mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r");
	REQUIRE(run);
	lr = mkfile(s, lookup(s, run, "params"), "lr");
	REQUIRE(lr);
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_value_write(s, &op, lr, "0.01\n", 5, false) == 1);
	CHECK(mlfs_value_write(s, &op, lr, "0.01\n", 5, false) == 0);
	CHECK(mlfs_value_write(s, &op, lr, "0.01", 4, false) == 0);
	CHECK(mlfs_value_write(s, &op, lr, "0.02\n", 5, false) == -EPERM);
	CHECK(strstr(op.why, "fixed at 0.01") && strstr(op.why, "refused 0.02"));
	CHECK(mlfs_value_write(s, &op, lr, "0.0", 3, false) == -EPERM);
	CHECK(mlfs_getattr(s, lr, &st) == 0 && st.st_size == 5);
	{
		char *huge = calloc(1, MLFS_PARAM_VALUE_MAX + 2);

		memset(huge, 'v', MLFS_PARAM_VALUE_MAX + 1);
		CHECK(mlfs_value_write(s, &op, mkfile(s, lookup(s, run, "params"), "h"), huge,
				       MLFS_PARAM_VALUE_MAX + 1, false) == -EINVAL);
		free(huge);
	}
	tag = mkfile(s, lookup(s, run, "tags"), "owner");
	CHECK(mlfs_value_write(s, &op, tag, "alice\n", 6, false) == 0);
	CHECK(mlfs_value_write(s, &op, tag, "bob\n", 4, false) == 0);
	CHECK(mlfs_getattr(s, tag, &st) == 0 && st.st_size == 4);
	status = lookup(s, run, "status");
	CHECK(mlfs_value_write(s, &op, status, "DONE\n", 5, false) == -EINVAL);
	CHECK(mlfs_value_write(s, &op, status, "FINISHED\n", 9, false) == 0);
	CHECK(mlfs_inode_of(s, run, &in) == 0 && in.u.run.status == MLFS_FINISHED &&
	      in.u.run.end_ms >= in.u.run.start_ms);
	meta = lookup(s, run, "meta");
	CHECK(mlfs_value_write(s, &op, meta, "x", 1, false) == -EACCES);
	REQUIRE(mlfs_txn_begin(s->idx, false, &txn) == 0);
	REQUIRE(mlfs_ino_get(txn, s->idx, meta, &in, &payload) == 0);
	n = mlfs_render(s, txn, &in, payload, buf, sizeof(buf));
	mlfs_txn_abort(txn);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = 0;
	CHECK(strstr(buf, "status: FINISHED\n") && strstr(buf, "run_name: r\n"));
	{
		char *id = strstr(buf, "run_id: ");

		CHECK(id && strspn(id + 8, "0123456789abcdef") == 32 && id[40] == '\n');
	}
	/* a param that never got its value is dropped; one with a value stays */
	{
		uint64_t empty = mkfile(s, lookup(s, run, "params"), "empty");

		CHECK(mlfs_drop_if_empty(s, empty) == 0 &&
		      lookup(s, lookup(s, run, "params"), "empty") == 0);
		CHECK(mlfs_drop_if_empty(s, lr) == 0 &&
		      lookup(s, lookup(s, run, "params"), "lr") == lr);
	}
	mlfs_store_free(s);
}

static void test_series(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	uint64_t m;
	char *all, *want, line[MLFS_POINT_LINE_MAX], buf[4096];
	size_t wlen = 0;
	struct stat st;
	int steps = 0;

	REQUIRE(s);
	m = mkfile(s, lookup(s, mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r"), "metrics"), "loss");
	REQUIRE(m);
	want = malloc(1 << 20);
	all = malloc(1 << 20);
	REQUIRE(want && all);
	/* 1000 points in batches of varied forms, across several blocks */
	for (int i = 0; i < 1000; i += 10) {
		char batch[1024];
		size_t bl = 0;

		for (int j = i; j < i + 10; j++) {
			if (j % 3 == 0)
				bl += snprintf(batch + bl, sizeof(batch) - bl, "%d.5\n", j);
			else if (j % 3 == 1)
				bl += snprintf(batch + bl, sizeof(batch) - bl, "%d.25 %d\n", j, j * 2);
			else
				bl += snprintf(batch + bl, sizeof(batch) - bl, "1700000000%03d %de-3 %d\n",
					       j % 1000, j, j * 2 + 1);
		}
		mlfs_op_init(&op, 0, 0);
		CHECK(mlfs_series_append(s, &op, m, batch, bl) == 10);
		(void)steps;
	}
	/* a malformed line anywhere refuses the whole write */
	CHECK(mlfs_getattr(s, m, &st) == 0);
	{
		off_t before = st.st_size;

		CHECK(mlfs_series_append(s, &op, m, "1\n2\nabc\n", 8) == -EINVAL);
		CHECK(strstr(op.why, "abc") != NULL);
		CHECK(mlfs_getattr(s, m, &st) == 0 && st.st_size == before);
	}
	REQUIRE(st.st_size < (1 << 20));
	CHECK(mlfs_series_read(s, m, 0, all, 1 << 20) == st.st_size);
	/* every line parses back, and steps follow the rules */
	{
		char *p = all;
		int64_t prev = -1;
		int i = 0;

		while (p < all + st.st_size) {
			char *nl = memchr(p, '\n', all + st.st_size - p);
			struct mlfs_point pt;

			REQUIRE(nl);
			CHECK(mlfs_point_parse(p, nl - p, &pt) == MLFS_POINT_FULL);
			if (i % 3 == 0)
				CHECK(pt.step == prev + 1);
			else
				CHECK(pt.step == i * 2 + (i % 3 == 2));
			prev = pt.step;
			wlen += mlfs_point_format(&pt, line);
			p = nl + 1;
			i++;
		}
		CHECK(i == 1000 && (off_t)wlen == st.st_size);
	}
	/* any offset reads the same bytes as the whole */
	srand(7);
	for (int k = 0; k < 300; k++) {
		off_t off = rand() % st.st_size;
		size_t len = 1 + rand() % sizeof(buf);
		int n = mlfs_series_read(s, m, off, buf, len);
		size_t expect = (size_t)(st.st_size - off) < len ? (size_t)(st.st_size - off) : len;

		CHECK(n == (int)expect && !memcmp(buf, all + off, expect));
	}
	CHECK(mlfs_series_read(s, m, st.st_size, buf, 10) == 0);
	free(want);
	free(all);
	mlfs_store_free(s);
}

/* Resident bytes of this process's mappings of the store's index file (smaps). */
static long index_resident(void)
{
	char line[512], path[300];
	FILE *f = fopen("/proc/self/smaps", "r");
	long kib, total = 0;
	bool in_map = false;

	if (!f)
		return -1;
	snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ') && strchr(line, '/'))
			in_map = strstr(line, path) != NULL;
		else if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
			in_map = false;
		else if (in_map && sscanf(line, "Rss: %ld kB", &kib) == 1)
			total += kib * 1024;
	}
	fclose(f);
	return total;
}

/*
 * A long noisy metric (float32 losses at full precision, a jittery clock, as
 * the bench's): its blocks fill whole pages (series.c, invariant 3), every
 * block but the last is full (4), any offset reads back byte-exact, and
 * reading it all leaves few of its pages in this process's resident set (5).
 */
static void test_series_pages(void)
{
	enum { N = 400000 };
	struct mlfs_store *s = fresh_store("store", 0);
	char *want, *got, *batch;
	uint64_t m, rng = 0x9e3779b97f4a7c15ull, ts = 1700000000000;
	size_t wlen = 0, blocks = 0, short_blocks = 0, npts = 0;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_stat st;
	struct stat sb;
	long peak = 0, opened;
	double decay = 1;
	int i = 0;

	REQUIRE(s);
	/* as the daemon opens it: commits are flushed by mlfs_store_sync() only */
	mlfs_store_free(s);
	s = NULL;
	REQUIRE(mlfs_store_open(dir, MLFS_STORE_DAEMON, &s) == 0);
	m = mkfile(s, lookup(s, mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r"), "metrics"), "loss");
	want = malloc(N * 64);
	got = malloc(N * 64);
	batch = malloc(2000 * 64);
	REQUIRE(m && want && got && batch);
	mlfs_op_init(&op, 0, 0);
	while (i < N) {
		/* batches of 1 to 2000 lines, so that seals take raw points of every count */
		int k = 1 + (int)((rng >> 40) % (rng >> 37 & 1 ? 2000 : 40)), bl = 0, j;

		for (j = 0; j < k && i < N; j++, i++) {
			struct mlfs_point p;
			double noise = -2;

			/* four uniforms make a near-Gaussian noise of deviation 0.1 */
			for (int u = 0; u < 4; u++) {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				noise += (rng >> 11) * 0x1p-53;
			}
			decay *= 0.999975;
			p.ts_ms = (int64_t)ts;
			p.step = i;
			p.value = (float)((1.8 * decay + 0.2) * (1 + 0.17 * noise));
			bl += snprintf(batch + bl, 64, "%" PRIu64 " %.17g %d\n", ts, p.value, i);
			wlen += mlfs_point_format(&p, want + wlen);
			ts += 20 + (rng >> 33) % 11;
		}
		REQUIRE(mlfs_series_append(s, &op, m, batch, bl) == j);
	}
	CHECK(mlfs_getattr(s, m, &sb) == 0 && (size_t)sb.st_size == wlen);

	/* the layout: records of at most a page, every block but the last full */
	REQUIRE(mlfs_txn_begin(s->idx, false, &txn) == 0);
	REQUIRE(mdb_stat(txn, s->idx->mblock, &st) == 0);
	REQUIRE(mdb_cursor_open(txn, s->idx->mblock, &cur) == 0);
	mlfs_be64_put(kb, m);
	mlfs_be64_put(kb + 8, 0);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct mlfs_mblock_hdr h;

		CHECK(v.mv_size <= st.ms_psize - 16);
		memcpy(&h, v.mv_data, sizeof(h));
		npts += h.npoints;
		blocks++;
		/* the next point (at most mlfs_mblock_bound(1) bytes) did not fit */
		if (v.mv_size + mlfs_mblock_bound(1) < st.ms_psize - 16)
			short_blocks++;
	}
	mdb_cursor_close(cur);
	mlfs_txn_abort(txn);
	CHECK(npts + N % 32 >= N && npts <= N);
	CHECK(blocks > 400 && short_blocks <= 1);
	/* pages of every kind for the blocks: about 4.5 bytes a point (256-point blocks took 8) */
	{
		double per = (double)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
			     st.ms_psize / N;

		printf("series: %zu blocks, %.2f index bytes/point\n", blocks, per);
		CHECK(per < 5.0);
	}

	/* every byte reads back, in one go and at any offset */
	CHECK(mlfs_series_read(s, m, 0, got, wlen + 100) == (int)wlen);
	CHECK(!memcmp(got, want, wlen));
	srand(11);
	for (int r = 0; r < 200; r++) {
		size_t off = (size_t)rand() % wlen, len = 1 + rand() % 200000;
		size_t expect = wlen - off < len ? wlen - off : len;

		CHECK(mlfs_series_read(s, m, off, got, len) == (int)expect &&
		      !memcmp(got, want + off, expect));
	}

	/*
	 * A whole read in 128 KiB calls, on a fresh map, keeps little of the
	 * index resident at any time: what opening maps, then a few windows of
	 * fault-around (series.c), not the blocks' 1.7 MiB of pages, which a
	 * read that did not drop them would end with.
	 */
	mlfs_store_free(s);
	s = NULL;
	REQUIRE(mlfs_store_open(dir, MLFS_STORE_DAEMON, &s) == 0);
	opened = index_resident();
	for (size_t off = 0; off < wlen; off += 128 * 1024) {
		long res;

		CHECK(mlfs_series_read(s, m, off, got, 128 * 1024) > 0);
		res = index_resident();
		CHECK(res >= 0);
		if (res > peak)
			peak = res;
	}
	printf("series: %ld KiB of the index resident after opening, at most %ld KiB while "
	       "reading %zu KiB of blocks\n",
	       opened / 1024, peak / 1024, (size_t)st.ms_overflow_pages * st.ms_psize / 1024);
	CHECK(st.ms_overflow_pages * st.ms_psize > 1536 * 1024);
	CHECK(opened >= 0 && peak < opened + 512 * 1024);

	/* Touching every block's bytes maps them all; mlfs_index_trim() drops them again. */
	REQUIRE(mlfs_txn_begin(s->idx, false, &txn) == 0);
	REQUIRE(mdb_cursor_open(txn, s->idx->mblock, &cur) == 0);
	{
		unsigned sum = 0;

		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			for (size_t b = 0; b < v.mv_size; b += 512)
				sum += ((const uint8_t *)v.mv_data)[b];
		CHECK(sum > 0);
	}
	mdb_cursor_close(cur);
	mlfs_txn_abort(txn);
	peak = index_resident();
	mlfs_index_trim(s->idx);
	printf("series: %ld KiB of the index resident after touching every block, %ld KiB after "
	       "mlfs_index_trim\n",
	       peak / 1024, index_resident() / 1024);
	CHECK(peak > 1536 * 1024);
	CHECK(index_resident() < 64 * 1024);
	free(want);
	free(got);
	free(batch);
	mlfs_store_free(s);
}

static void test_afile(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	struct mlfs_afile *w, *r0, *r1;
	size_t size = 6 << 20;
	uint8_t *data = malloc(size), *back = malloc(size);
	uint64_t f;
	struct stat st;
	int before, after;

	REQUIRE(s && data && back);
	f = mkfile(s, lookup(s, mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "model.bin");
	REQUIRE(f);
	fill_random(data, size, 1);
	/* a reader open before the commit keeps the old (empty) version */
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &r0) == 0);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	for (size_t off = 0; off < size; off += 131072)
		CHECK(mlfs_afile_write(w, off, data + off, 131072) == 131072);
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == 0); /* not yet committed */
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == (off_t)size);
	CHECK(mlfs_afile_read(r0, 0, back, 100) == 0);
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &r1) == 0);
	CHECK(mlfs_afile_read(r1, 0, back, size) == (int)size && !memcmp(back, data, size));
	mlfs_afile_free(r0);
	mlfs_afile_free(r1);
	/* an edit in the middle rewrites only the chunks near it */
	before = count_chunks();
	memset(data + size / 2, 0xAB, 100);
	CHECK(mlfs_afile_write(w, size / 2, data + size / 2, 100) == 100);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	after = count_chunks();
	CHECK(after > before && after - before <= 3);
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &r1) == 0);
	CHECK(mlfs_afile_read(r1, 0, back, size) == (int)size && !memcmp(back, data, size));
	mlfs_afile_free(r1);
	mlfs_afile_free(w);
	/* truncate into the middle of a chunk, then grow with a hole */
	CHECK(mlfs_afile_truncate_ino(s, &op, f, 1000003) == 0);
	CHECK(mlfs_afile_truncate_ino(s, &op, f, 5000000) == 0);
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &r1) == 0);
	CHECK(mlfs_afile_read(r1, 0, back, size) == 5000000);
	CHECK(!memcmp(back, data, 1000003));
	{
		bool zero = true;

		for (size_t i = 1000003; i < 5000000; i++)
			zero &= back[i] == 0;
		CHECK(zero);
	}
	mlfs_afile_free(r1);
	/* a failed chunk rename fails the commit and leaves the file as it was */
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_APPEND, &w) == 0);
	fill_random(data, 300000, 2);
	CHECK(mlfs_afile_write(w, 0, data, 300000) == 300000);
	mlfs_fault_set("rename:1");
	CHECK(mlfs_afile_commit(w, &op) == -EIO);
	mlfs_fault_set(NULL);
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == 5000000);
	CHECK(mlfs_afile_commit(w, &op) == 0); /* the handle kept its view: a retry works */
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == 5300000);
	mlfs_afile_free(w);
	free(data);
	free(back);
	mlfs_store_free(s);
}

/* A store whose map starts at 64 KiB grows it instead of failing with MDB_MAP_FULL. */
/* Hold STORE/gc.lock exclusive in a child until it reads a byte from *ret_go; -1 on failure. */
static pid_t hold_gc_lock(int *ret_go)
{
	int ready[2], go[2];
	char path[300], c;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/gc.lock", dir);
	if (pipe(ready) || pipe(go))
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CREAT, 0644);

		close(ready[0]);
		close(go[1]); /* so that the parent's end closing ends the read */
		if (fd < 0 || flock(fd, LOCK_EX))
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		close(go[1]);
		return -1;
	}
	close(ready[0]);
	*ret_go = go[1];
	return pid;
}

/*
 * write() hands completed chunks to the handle's worker and returns: with
 * every chunk put blocked (gc holds its lock), a write that completes two
 * chunks still returns, and nothing is in the chunk store until the lock is
 * released.  A file's content and its reads are then whole.
 */
static void test_afile_pipeline(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	struct mlfs_afile *w;
	size_t size = 2 * MLFS_CDC_MAX, cut[2];
	uint8_t *data = malloc(size), *back = malloc(size);
	struct mlfs_cdc cdc = MLFS_CDC_INIT;
	int go = -1, status;
	pid_t pid;
	uint64_t f;

	REQUIRE(s && data && back);
	f = mkfile(s, lookup(s, mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "p.bin");
	REQUIRE(f);
	fill_random(data, size, 7);
	/* The size: past the first cut, short of the second, so that one chunk is handed off. */
	for (size_t i = 0, at = 0; i < 2; i++) {
		bool c = false;

		at += mlfs_cdc_next(&cdc, data + at, size - at, &c);
		REQUIRE(c);
		cut[i] = at;
	}
	size = cut[0] + (cut[1] - cut[0]) / 2;
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	pid = hold_gc_lock(&go);
	REQUIRE(pid > 0);
	alarm(60); /* were the put in write(), it would wait for the lock for ever */
	CHECK(mlfs_afile_write(w, 0, data, size) == (int)size);
	CHECK(count_chunks() == 0);
	CHECK(write(go, "g", 1) == 1);
	close(go);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	alarm(0);
	CHECK(mlfs_afile_settle(w) == 0);
	CHECK(count_chunks() == 1);
	/* a read on the writing handle sees every byte, queued or not */
	CHECK(mlfs_afile_read(w, 0, back, size) == (int)size && !memcmp(back, data, size));
	CHECK(mlfs_afile_commit(w, &op) == 0);
	mlfs_afile_free(w);
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &w) == 0);
	memset(back, 0, size);
	CHECK(mlfs_afile_read(w, 0, back, size) == (int)size && !memcmp(back, data, size));
	mlfs_afile_free(w);
	free(data);
	free(back);
	mlfs_store_free(s);
}

/*
 * A put that fails in the worker: the first call that finds it gets its
 * errno (a write, or the commit at close); nothing of the new content is
 * committed; the call after a failed one puts the chunk again, and then
 * the whole file commits.
 */
static void test_afile_async_failure(void)
{
	struct mlfs_store *s = fresh_store("store", 0);
	struct mlfs_afile *w;
	size_t size = 4 << 20, old = 100000;
	uint8_t *data = malloc(size), *back = malloc(size);
	int first = 0;
	uint64_t f;
	struct stat st;

	REQUIRE(s && data && back);
	f = mkfile(s, lookup(s, mkdir_in(s, mkdir_in(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "f.bin");
	REQUIRE(f);
	fill_random(data, size, 9);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	CHECK(mlfs_afile_write(w, 0, data, old) == (int)old);
	CHECK(mlfs_afile_commit(w, &op) == 0);
	mlfs_afile_free(w);

	fill_random(data, size, 10);
	REQUIRE(mlfs_afile_open(s, f, O_WRONLY | O_TRUNC, &w) == 0);
	/* No worker yet, so no other thread asks the fault hook while it is set. */
	REQUIRE(mlfs_fault_set("write:1:ENOSPC") == 0);
	for (size_t off = 0; off < size && !first;) {
		int n = mlfs_afile_write(w, off, data + off, 1 << 20);

		if (n < 0)
			first = n;
		else
			off += n;
	}
	/* Only the worker writes chunk files, so the error came from it. */
	if (!first)
		first = mlfs_afile_commit(w, &op);
	CHECK(first == -ENOSPC);
	/* The worker waits; the handle is between calls: the hook can be reset. */
	mlfs_fault_set(NULL);
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == (off_t)old);
	/* Not half-written: the store still has the old content whole. */
	{
		struct mlfs_afile *r;

		REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &r) == 0);
		fill_random(data, old, 9);
		CHECK(mlfs_afile_read(r, 0, back, size) == (int)old && !memcmp(back, data, old));
		mlfs_afile_free(r);
	}
	/* The retry puts the failed chunk again and the rest goes on. */
	fill_random(data, size, 10);
	for (size_t off = mlfs_afile_size(w, NULL); off < size;) {
		int n = mlfs_afile_write(w, off, data + off, size - off);

		if (n <= 0) {
			CHECK(n > 0);
			break;
		}
		off += n;
	}
	CHECK(mlfs_afile_commit(w, &op) == 0);
	mlfs_afile_free(w);
	CHECK(mlfs_getattr(s, f, &st) == 0 && st.st_size == (off_t)size);
	REQUIRE(mlfs_afile_open(s, f, O_RDONLY, &w) == 0);
	CHECK(mlfs_afile_read(w, 0, back, size) == (int)size && !memcmp(back, data, size));
	mlfs_afile_free(w);
	free(data);
	free(back);
	mlfs_store_free(s);
}

static void test_map_grows(void)
{
	struct mlfs_store *s;
	uint64_t run;
	struct stat st;
	char line[300];

	setenv("MLFS_MAPSIZE", "65536", 1);
	s = fresh_store("store", 0);
	unsetenv("MLFS_MAPSIZE");
	REQUIRE(s);
	run = mkdir_in(s, MLFS_ROOT_INO, "e");
	REQUIRE(run);
	for (int i = 0; i < 3000; i++) {
		snprintf(line, sizeof(line), "r%d", i);
		if (!mkdir_in(s, run, line)) {
			CHECK(!"mkdir failed as the map filled");
			break;
		}
	}
	snprintf(line, sizeof(line), "%s/index/data.mdb", dir);
	CHECK(stat(line, &st) == 0 && st.st_size > 4 * 65536);
	CHECK(lookup(s, run, "r2999") != 0);
	mlfs_store_free(s);
}

int main(void)
{
	T_RUN(test_store_lifecycle);
	T_RUN(test_tree_shape);
	T_RUN(test_values);
	T_RUN(test_series);
	T_RUN(test_series_pages);
	T_RUN(test_afile);
	T_RUN(test_afile_pipeline);
	T_RUN(test_afile_async_failure);
	T_RUN(test_map_grows);
	wipe();
	return T_DONE();
}
