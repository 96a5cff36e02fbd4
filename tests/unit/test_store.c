/*
 * test_store.c - the store library without a mount: a real store in a
 * temporary directory (real LMDB files, real chunk files), driven through
 * store.h, tree.h, value.h, series.h and afile.h.
 */
#include <dirent.h>
#include <fcntl.h>
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
#include "tree.h"
#include "value.h"

static char dir[256];

static struct mlfs_store *fresh(void)
{
	struct mlfs_store *s = NULL;
	char cmd[300];

	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			return NULL;
	}
	snprintf(dir, sizeof(dir), "/tmp/mlfs-unit-store.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	if (mlfs_store_init(dir) || mlfs_store_open(dir, 0, &s))
		return NULL;
	return s;
}

static struct mlfs_op op;

static uint64_t mk(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;

	mlfs_op_init(&op, 1000, 1000);
	if (mlfs_mkdir(s, &op, parent, name, strlen(name), 0755, &st))
		return 0;
	return st.st_ino;
}

static uint64_t look(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;

	if (mlfs_lookup(s, parent, name, strlen(name), &st))
		return 0;
	return st.st_ino;
}

static uint64_t mkfile(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;
	bool created;

	mlfs_op_init(&op, 1000, 1000);
	if (mlfs_create(s, &op, parent, name, strlen(name), 0644, false, &st, &created))
		return 0;
	return st.st_ino;
}

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
	struct mlfs_store *s = fresh(), *d1 = NULL, *d2 = NULL;

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
	struct mlfs_store *s = fresh();
	uint64_t exp, run, keydir, loss;
	struct mlfs_inode in;
	char path[256], big[300];

	REQUIRE(s);
	exp = mk(s, MLFS_ROOT_INO, "exp1");
	REQUIRE(exp);
	CHECK(look(s, exp, "meta") && look(s, exp, "tags"));
	run = mk(s, exp, "run42");
	REQUIRE(run);
	CHECK(mlfs_inode_of(s, run, &in) == 0 && in.kind == MLFS_K_RUN);
	CHECK(in.u.run.status == MLFS_RUNNING && in.u.run.start_ms > 0 && in.u.run.end_ms == 0);
	const char *kids[] = { "params", "metrics", "tags", "artifacts", "status", "meta" };
	for (int i = 0; i < 6; i++)
		CHECK(look(s, run, kids[i]) != 0);
	/* reserved and bad names refuse with a sentence */
	CHECK(mk(s, MLFS_ROOT_INO, "index.html") == 0 && strstr(op.why, "reserved"));
	CHECK(mk(s, MLFS_ROOT_INO, "models") == 0); /* the registry's, made with the store */
	CHECK(mk(s, exp, "runs.csv") == 0);
	CHECK(mk(s, MLFS_ROOT_INO, ".hidden") == 0);
	memset(big, 'x', 256);
	big[256] = 0;
	{
		struct stat st;

		mlfs_op_init(&op, 0, 0);
		CHECK(mlfs_mkdir(s, &op, MLFS_ROOT_INO, big, 256, 0755, &st) == -ENAMETOOLONG);
	}
	CHECK(mk(s, MLFS_ROOT_INO, "exp1") == 0); /* EEXIST */
	/* a file cannot sit in a run or an experiment */
	CHECK(mkfile(s, run, "notes.txt") == 0 && strstr(op.why, "artifacts/"));
	CHECK(mkfile(s, exp, "notes.txt") == 0);
	/* keys with '/' are folders; the whole key is checked */
	keydir = mk(s, look(s, run, "metrics"), "train");
	loss = mkfile(s, keydir, "loss");
	CHECK(keydir && loss);
	memset(big, 'k', 250);
	big[250] = 0;
	CHECK(mkfile(s, keydir, big) == 0); /* "train/" + 250 > 250 */
	CHECK(mkfile(s, look(s, run, "params"), big) != 0);
	CHECK(mkfile(s, look(s, run, "tags"), "bad*key") == 0);
	mlfs_path_of(s, loss, path, sizeof(path));
	CHECK(look(s, keydir, "loss") == 0); /* a metric without a point is not shown yet */
	CHECK(!strcmp(path, "exp1/run42/metrics/train/loss"));
	/* params and metrics are kept; a run keeps its record */
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_unlink(s, &op, keydir, "loss", 4) == -EPERM);
	CHECK(mlfs_rmdir(s, &op, exp, "run42", 5) == -ENOTEMPTY);
	CHECK(mlfs_rmdir(s, &op, run, "params", 6) == -EPERM);
	/* renames: a run within its experiment, not elsewhere */
	CHECK(mlfs_rename(s, &op, exp, "run42", 5, exp, "run43", 5, 0) == 0);
	CHECK(look(s, exp, "run43") == run && look(s, exp, "run42") == 0);
	CHECK(mk(s, MLFS_ROOT_INO, "exp2"));
	CHECK(mlfs_rename(s, &op, exp, "run43", 5, look(s, MLFS_ROOT_INO, "exp2"), "r", 1, 0) ==
	      -EPERM);
	mlfs_store_free(s);
	/* inode numbers come from the index: the same after reopening */
	REQUIRE(mlfs_store_open(dir, 0, &s) == 0);
	CHECK(look(s, MLFS_ROOT_INO, "exp1") == exp && look(s, exp, "run43") == run);
	mlfs_store_free(s);
}

static void test_values(void)
{
	struct mlfs_store *s = fresh();
	uint64_t run, lr, tag, status, meta;
	struct mlfs_inode in;
	struct stat st;
	char buf[MLFS_RENDER_MAX];
	MDB_txn *txn;
	const char *payload;
	int n;

	REQUIRE(s);
	run = mk(s, mk(s, MLFS_ROOT_INO, "e"), "r");
	REQUIRE(run);
	lr = mkfile(s, look(s, run, "params"), "lr");
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
		CHECK(mlfs_value_write(s, &op, mkfile(s, look(s, run, "params"), "h"), huge,
				       MLFS_PARAM_VALUE_MAX + 1, false) == -EINVAL);
		free(huge);
	}
	tag = mkfile(s, look(s, run, "tags"), "owner");
	CHECK(mlfs_value_write(s, &op, tag, "alice\n", 6, false) == 0);
	CHECK(mlfs_value_write(s, &op, tag, "bob\n", 4, false) == 0);
	CHECK(mlfs_getattr(s, tag, &st) == 0 && st.st_size == 4);
	status = look(s, run, "status");
	CHECK(mlfs_value_write(s, &op, status, "DONE\n", 5, false) == -EINVAL);
	CHECK(mlfs_value_write(s, &op, status, "FINISHED\n", 9, false) == 0);
	CHECK(mlfs_inode_of(s, run, &in) == 0 && in.u.run.status == MLFS_FINISHED &&
	      in.u.run.end_ms >= in.u.run.start_ms);
	meta = look(s, run, "meta");
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
		uint64_t empty = mkfile(s, look(s, run, "params"), "empty");

		CHECK(mlfs_drop_if_empty(s, empty) == 0 && look(s, look(s, run, "params"), "empty") == 0);
		CHECK(mlfs_drop_if_empty(s, lr) == 0 && look(s, look(s, run, "params"), "lr") == lr);
	}
	mlfs_store_free(s);
}

static void test_series(void)
{
	struct mlfs_store *s = fresh();
	uint64_t m;
	char *all, *want, line[MLFS_POINT_LINE_MAX], buf[4096];
	size_t wlen = 0;
	struct stat st;
	int steps = 0;

	REQUIRE(s);
	m = mkfile(s, look(s, mk(s, mk(s, MLFS_ROOT_INO, "e"), "r"), "metrics"), "loss");
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

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static void test_afile(void)
{
	struct mlfs_store *s = fresh();
	struct mlfs_afile *w, *r0, *r1;
	size_t size = 6 << 20;
	uint8_t *data = malloc(size), *back = malloc(size);
	uint64_t f;
	struct stat st;
	int before, after;

	REQUIRE(s && data && back);
	f = mkfile(s, look(s, mk(s, mk(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "model.bin");
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
	struct mlfs_store *s = fresh();
	struct mlfs_afile *w;
	size_t size = 2 * MLFS_CDC_MAX, cut[2];
	uint8_t *data = malloc(size), *back = malloc(size);
	struct mlfs_cdc cdc = MLFS_CDC_INIT;
	int go = -1, status;
	pid_t pid;
	uint64_t f;

	REQUIRE(s && data && back);
	f = mkfile(s, look(s, mk(s, mk(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "p.bin");
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
	struct mlfs_store *s = fresh();
	struct mlfs_afile *w;
	size_t size = 4 << 20, old = 100000;
	uint8_t *data = malloc(size), *back = malloc(size);
	int first = 0;
	uint64_t f;
	struct stat st;

	REQUIRE(s && data && back);
	f = mkfile(s, look(s, mk(s, mk(s, MLFS_ROOT_INO, "e"), "r"), "artifacts"), "f.bin");
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
	s = fresh();
	unsetenv("MLFS_MAPSIZE");
	REQUIRE(s);
	run = mk(s, MLFS_ROOT_INO, "e");
	REQUIRE(run);
	for (int i = 0; i < 3000; i++) {
		snprintf(line, sizeof(line), "r%d", i);
		if (!mk(s, run, line)) {
			CHECK(!"mkdir failed as the map filled");
			break;
		}
	}
	snprintf(line, sizeof(line), "%s/index/data.mdb", dir);
	CHECK(stat(line, &st) == 0 && st.st_size > 4 * 65536);
	CHECK(look(s, run, "r2999") != 0);
	mlfs_store_free(s);
}

int main(void)
{
	T_RUN(test_store_lifecycle);
	T_RUN(test_tree_shape);
	T_RUN(test_values);
	T_RUN(test_series);
	T_RUN(test_afile);
	T_RUN(test_afile_pipeline);
	T_RUN(test_afile_async_failure);
	T_RUN(test_map_grows);
	if (dir[0]) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd)) {
			/* left for the tmp cleaner */
		}
	}
	return T_DONE();
}
