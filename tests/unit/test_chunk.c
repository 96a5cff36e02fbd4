/* test_chunk.c - the chunk store: store/chunk.h, and store/fault.h. */
#include "chunk.h"
#include "fault.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024u * 1024)

static char dir[64];
static struct mlfs_chunkstore *cs;

static uint64_t rng_state = 1;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = rng() >> 56;
}

/* Text that zstd shrinks several times, yet differs from call to call. */
static void fill_text(uint8_t *p, size_t len)
{
	char line[64];
	size_t off = 0;
	int step = rng() % 1000;

	while (off < len) {
		int n = snprintf(line, sizeof(line), "%d %.4f %d\n", 1700000000 + step,
				 1.0 / (step + 1), step);

		memcpy(p + off, line, len - off < (size_t)n ? len - off : (size_t)n);
		off += n;
		step++;
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Count regular files under dir/sub. */
static int nfiles;
static int count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	nfiles += flag == FTW_F;
	return 0;
}

static int count_files(const char *sub)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	nfiles = 0;
	if (nftw(path, count_entry, 16, FTW_PHYS) < 0)
		return -1;
	return nfiles;
}

static int setup(void)
{
	strcpy(dir, "/tmp/mlfs-test-chunk.XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	mlfs_fault_set(NULL);
	return mlfs_chunkstore_open(dir, &cs);
}

static void teardown(void)
{
	mlfs_chunkstore_free(cs);
	cs = NULL;
	mlfs_fault_set(NULL);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Put len bytes of buf under their own hash. */
static int put(const void *buf, size_t len, struct mlfs_hash *ret_h, size_t *ret_stored)
{
	mlfs_hash_buf(buf, len, ret_h);
	return mlfs_chunk_put(cs, ret_h, buf, len, ret_stored);
}

/* h's chunk file opened for reading; -1 if it cannot be. */
static int open_chunk_file(const struct mlfs_hash *h)
{
	char path[256];

	if (mlfs_chunk_path(cs, h, path, sizeof(path)) < 0)
		return -1;
	return open(path, O_RDONLY);
}

/* The bytes of h's chunk file, and its length. */
static uint8_t *read_chunk_file(const struct mlfs_hash *h, size_t *ret_len)
{
	static uint8_t file[MLFS_CHUNK_HDR + MLFS_CHUNK_MAX + 1];
	ssize_t n;
	int fd = open_chunk_file(h);

	if (fd < 0)
		return NULL;
	n = read(fd, file, sizeof(file));
	close(fd);
	if (n < 0)
		return NULL;
	*ret_len = n;
	return file;
}

static int rewrite_chunk_file(const struct mlfs_hash *h, const uint8_t *bytes, size_t len)
{
	char path[256];
	int fd, r = 0;

	if (mlfs_chunk_path(cs, h, path, sizeof(path)) < 0)
		return -1;
	if (chmod(path, 0644) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	if (write(fd, bytes, len) != (ssize_t)len)
		r = -1;
	close(fd);
	return r;
}

static void test_hash_names(void)
{
	static const char empty[] = "99aa06d3014798d86001c324468d497f";
	struct mlfs_hash h, p;
	char hex[33];

	/* XXH3-128 of no bytes, high half first: the canonical order names files. */
	mlfs_hash_buf("", 0, &h);
	mlfs_hash_hex(&h, hex);
	CHECK(!strcmp(hex, empty));
	CHECK(mlfs_hash_parse(hex, &p) == 0);
	CHECK(!memcmp(&h, &p, sizeof(h)));

	mlfs_hash_buf("mlfs", 4, &h);
	mlfs_hash_hex(&h, hex);
	CHECK(strlen(hex) == 32);
	CHECK(mlfs_hash_parse(hex, &p) == 0 && !memcmp(&h, &p, sizeof(h)));

	memset(&p, 0x77, sizeof(p));
	CHECK(mlfs_hash_parse("99AA06D3014798D86001C324468D497F", &p) == -EINVAL);
	CHECK(mlfs_hash_parse("99aa06d3014798d86001c324468d497", &p) == -EINVAL);
	CHECK(mlfs_hash_parse("99aa06d3014798d86001c324468d497f0", &p) == -EINVAL);
	CHECK(mlfs_hash_parse("99aa06d3014798d86001c324468d497g", &p) == -EINVAL);
	CHECK(mlfs_hash_parse("", &p) == -EINVAL);
	CHECK(p.b[0] == 0x77 && p.b[15] == 0x77);
}

static void test_round_trip(void)
{
	static uint8_t in[MLFS_CHUNK_MAX], out[MLFS_CHUNK_MAX];
	static const size_t sizes[] = {0, 1, 2, 100, 4096, 65537, MLFS_CHUNK_MAX};
	struct mlfs_hash h;
	size_t stored, flen;
	uint8_t *file;

	REQUIRE(setup() == 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int text = 0; text < 2; text++) {
			size_t len = sizes[i];

			(text ? fill_text : fill_random)(in, len);
			stored = 12345;
			CHECK(put(in, len, &h, &stored) == 0);
			/* Only the shortest inputs can repeat (and dedup). */
			CHECK(stored > 0 || len < 100);
			CHECK(mlfs_chunk_exists(cs, &h) == 1);
			memset(out, 0xee, sizeof(out));
			CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == (int)len);
			CHECK(!memcmp(in, out, len));
			/* The cap need only hold the raw bytes. */
			CHECK(mlfs_chunk_get(cs, &h, out, len) == (int)len);

			file = read_chunk_file(&h, &flen);
			REQUIRE(file);
			CHECK(flen == stored || stored == 0);
			CHECK(!memcmp(file, "MLC1", 4));
			CHECK(file[8] == (len & 0xff) && file[9] == (len >> 8 & 0xff) &&
			      file[10] == (len >> 16 & 0xff) && file[11] == 0);
			if (text && len >= 4096) {
				/* Compressed, and worth it. */
				CHECK(file[4] == 1);
				CHECK(stored < MLFS_CHUNK_HDR + len / 3);
			} else if (!text) {
				/* Random bytes do not shrink: stored raw. */
				CHECK(file[4] == 0);
				CHECK(stored == MLFS_CHUNK_HDR + len);
				CHECK(!memcmp(file + MLFS_CHUNK_HDR, in, len));
			}
		}
	}
	CHECK(count_files("tmp") == 0);
	teardown();
}

/*
 * Only a chunk that compression shrinks by a quarter or more is compressed:
 * a smooth float32 array (zstd saves 5-20% on it, all in its exponent
 * bytes) is kept raw, bytes of 16 letters (half saved) are compressed, and
 * either reads back whole.
 */
static void test_compress_gain(void)
{
	static uint8_t in[256 * 1024], out[sizeof(in)];
	struct mlfs_hash h;
	size_t stored, flen;
	uint8_t *file;
	float *v = (float *)in;
	double s = 0, c = 1, s2 = 0, c2 = 1;

	REQUIRE(setup() == 0);
	/* Two slow oscillators (rotations, so no libm), as the bench's float file. */
	for (size_t i = 0; i < sizeof(in) / sizeof(*v); i++) {
		s += 1e-3 * c;
		c -= 1e-3 * s;
		s2 += 7.7e-3 * c2;
		c2 -= 7.7e-3 * s2;
		v[i] = (float)(s + 0.25 * c2 + i * 1e-9);
	}
	for (int letters = 0; letters < 2; letters++) {
		if (letters) {
			fill_random(in, sizeof(in));
			for (size_t i = 0; i < sizeof(in); i++)
				in[i] &= 15;
		}
		REQUIRE(put(in, sizeof(in), &h, &stored) == 0);
		file = read_chunk_file(&h, &flen);
		REQUIRE(file);
		CHECK(file[4] == letters); /* 0 = raw, 1 = zstd */
		if (letters)
			CHECK(stored < MLFS_CHUNK_HDR + sizeof(in) - sizeof(in) / 4);
		else
			CHECK(stored == MLFS_CHUNK_HDR + sizeof(in));
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == (int)sizeof(in));
		CHECK(!memcmp(in, out, sizeof(in)));
	}
	teardown();
}

/* Whether every page of h's chunk file is in the page cache. */
static bool resident(const struct mlfs_hash *h)
{
	static unsigned char vec[(MLFS_CHUNK_HDR + MLFS_CHUNK_MAX) / 4096 + 2];
	struct stat st;
	size_t pages;
	bool all = false;
	void *p;
	int fd = open_chunk_file(h);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			pages = (st.st_size + 4095) / 4096;
			all = mincore(p, st.st_size, vec) == 0;
			for (size_t i = 0; i < pages && all; i++)
				all = vec[i] & 1;
			munmap(p, st.st_size);
		}
	}
	close(fd);
	return all;
}

/*
 * A read-ahead hint brings a chunk file that is not cached into the page
 * cache, from the store's own threads; a hint about a missing chunk is
 * harmless.  (The store is on a disk, not tmpfs, for the cache to drop.)
 */
static void test_prefetch(void)
{
	static uint8_t in[512 * 1024];
	struct mlfs_hash h, missing;
	char path[256];
	int fd, tries;

	REQUIRE(setup() == 0);
	fill_random(in, sizeof(in));
	REQUIRE(put(in, sizeof(in), &h, NULL) == 0);
	REQUIRE(mlfs_chunk_path(cs, &h, path, sizeof(path)) == 0);
	fd = open(path, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK(fdatasync(fd) == 0);
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
	close(fd);
	CHECK(!resident(&h));
	memset(&missing, 0x5a, sizeof(missing));
	mlfs_chunk_prefetch(cs, &missing);
	mlfs_chunk_prefetch(cs, &h);
	for (tries = 0; tries < 500 && !resident(&h); tries++)
		usleep(10000);
	CHECK(resident(&h));
	teardown();
}

static void test_bad_arguments(void)
{
	static uint8_t in[MLFS_CHUNK_MAX + 1], out[4096];
	struct mlfs_hash h;
	size_t stored = 7;

	REQUIRE(setup() == 0);
	fill_random(in, sizeof(in));
	CHECK(put(in, MLFS_CHUNK_MAX + 1, &h, &stored) == -EINVAL);
	/* A hash that is not the bytes' would break every later read. */
	mlfs_hash_buf(in, 100, &h);
	CHECK(mlfs_chunk_put(cs, &h, in, 101, &stored) == -EINVAL);
	CHECK(stored == 7);
	CHECK(count_files("chunks") == 0);

	CHECK(put(in, 5000, &h, NULL) == 0);
	memset(out, 0x55, sizeof(out));
	CHECK(mlfs_chunk_get(cs, &h, out, 4999) == -ENOBUFS);
	CHECK(out[0] == 0x55);
	teardown();
}

static void test_dedup(void)
{
	static uint8_t in[300000];
	struct mlfs_hash h;
	struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
	struct stat st;
	size_t stored;
	char path[256];

	REQUIRE(setup() == 0);
	fill_text(in, sizeof(in));
	CHECK(put(in, sizeof(in), &h, &stored) == 0);
	CHECK(stored > 0);
	CHECK(count_files("chunks") == 1);

	/* Make the file look old, as gc would see it. */
	REQUIRE(mlfs_chunk_path(cs, &h, path, sizeof(path)) == 0);
	REQUIRE(utimensat(AT_FDCWD, path, old, 0) == 0);
	CHECK(put(in, sizeof(in), &h, &stored) == 0);
	CHECK(stored == 0);
	CHECK(count_files("chunks") == 1);
	REQUIRE(stat(path, &st) == 0);
	CHECK(st.st_mtime > time(NULL) - 60);
	CHECK(count_files("tmp") == 0);
	teardown();
}

static void test_damage(void)
{
	static uint8_t in[MLFS_CHUNK_MAX], out[MLFS_CHUNK_MAX],
	    copy[MLFS_CHUNK_HDR + MLFS_CHUNK_MAX + 1];
	struct mlfs_hash h;
	size_t flen, stored;
	uint8_t *file;

	REQUIRE(setup() == 0);
	for (int text = 0; text < 2; text++) {
		(text ? fill_text : fill_random)(in, sizeof(in));
		REQUIRE(put(in, sizeof(in), &h, &stored) == 0);
		file = read_chunk_file(&h, &flen);
		REQUIRE(file && flen == stored);
		memcpy(copy, file, flen);

		/* One flipped bit in the payload. */
		copy[flen / 2] ^= 0x10;
		REQUIRE(rewrite_chunk_file(&h, copy, flen) == 0);
		memset(out, 0xee, sizeof(out));
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);
		/* No byte that failed the check is left in the caller's buffer. */
		CHECK(out[0] == 0 && out[sizeof(out) / 2] == 0 && out[sizeof(out) - 1] == 0);
		copy[flen / 2] ^= 0x10;

		/* A bad magic. */
		copy[0] = 'X';
		REQUIRE(rewrite_chunk_file(&h, copy, flen) == 0);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);
		copy[0] = 'M';

		/* Bytes after the payload. */
		copy[flen] = 0;
		REQUIRE(rewrite_chunk_file(&h, copy, flen + 1) == 0);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);

		/* Truncated: by one byte, to inside the header, to nothing. */
		REQUIRE(rewrite_chunk_file(&h, copy, flen - 1) == 0);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);
		REQUIRE(rewrite_chunk_file(&h, copy, 5) == 0);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);
		REQUIRE(rewrite_chunk_file(&h, copy, 0) == 0);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -EBADMSG);

		/* A put of the same bytes replaces the damaged file (chunk.h, 4). */
		CHECK(put(in, sizeof(in), &h, &stored) == 0);
		CHECK(stored == flen);
		CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == (int)sizeof(in));
		CHECK(!memcmp(in, out, sizeof(in)));

		/* Intact again, so the next put dedups. */
		CHECK(put(in, sizeof(in), &h, &stored) == 0);
		CHECK(stored == 0);
	}
	teardown();
}

static void test_missing(void)
{
	uint8_t out[16];
	struct mlfs_hash h;

	REQUIRE(setup() == 0);
	mlfs_hash_buf("never put", 9, &h);
	CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -ENOENT);
	CHECK(mlfs_chunk_exists(cs, &h) == 0);
	teardown();
}

static void test_path(void)
{
	struct mlfs_hash h;
	char path[256], want[256], hex[33];

	REQUIRE(setup() == 0);
	mlfs_hash_buf("x", 1, &h);
	mlfs_hash_hex(&h, hex);
	snprintf(want, sizeof(want), "%s/chunks/%.2s/%s", dir, hex, hex);
	CHECK(mlfs_chunk_path(cs, &h, path, sizeof(path)) == 0);
	CHECK(!strcmp(path, want));
	CHECK(mlfs_chunk_path(cs, &h, path, strlen(want)) == -ENAMETOOLONG);
	CHECK(mlfs_chunk_path(cs, &h, path, strlen(want) + 1) == 0);
	teardown();
}

static void test_open(void)
{
	struct mlfs_chunkstore *c2 = (void *)0x1;
	char path[128];
	struct stat st;

	REQUIRE(setup() == 0);
	snprintf(path, sizeof(path), "%s/chunks", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/tmp", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	/* Opening an existing store again is fine. */
	CHECK(mlfs_chunkstore_open(dir, &c2) == 0);
	mlfs_chunkstore_free(c2);
	snprintf(path, sizeof(path), "%s/nonexistent", dir);
	c2 = (void *)0x1;
	CHECK(mlfs_chunkstore_open(path, &c2) == -ENOENT);
	CHECK(c2 == (void *)0x1);
	teardown();
}

#define NTHREADS 8

static pthread_barrier_t barrier;
static uint8_t shared_in[MLFS_CHUNK_MAX];
static struct mlfs_hash shared_h;

static void *put_same(void *arg)
{
	static uint8_t out[NTHREADS][MLFS_CHUNK_MAX];
	long id = (long)arg, bad = 0;

	pthread_barrier_wait(&barrier);
	for (int i = 0; i < 20; i++) {
		bad += mlfs_chunk_put(cs, &shared_h, shared_in, sizeof(shared_in), NULL) != 0;
		/* Whatever the others are doing, a get sees the whole chunk. */
		bad += mlfs_chunk_get(cs, &shared_h, out[id], MLFS_CHUNK_MAX) != MLFS_CHUNK_MAX;
		bad += memcmp(out[id], shared_in, MLFS_CHUNK_MAX) != 0;
	}
	return (void *)bad;
}

static void *put_distinct(void *arg)
{
	uint8_t *in = malloc(200000), *out = malloc(200000);
	long id = (long)arg, bad = 0;
	struct mlfs_hash h;

	pthread_barrier_wait(&barrier);
	for (int i = 0; i < 30; i++) {
		/* Distinct per thread and round; half of them compress. */
		memset(in, 0, 200000);
		if (i % 2)
			for (int j = 0; j < 200000; j++)
				in[j] = (j * 2654435761u + i * 97 + id * 7919) >> 13;
		memcpy(in, &id, sizeof(id));
		memcpy(in + 8, &i, sizeof(i));
		mlfs_hash_buf(in, 200000, &h);
		bad += mlfs_chunk_put(cs, &h, in, 200000, NULL) != 0;
		bad += mlfs_chunk_get(cs, &h, out, 200000) != 200000;
		bad += memcmp(in, out, 200000) != 0;
	}
	free(in);
	free(out);
	return (void *)bad;
}

static void run_threads(void *(*fn)(void *))
{
	pthread_t t[NTHREADS];
	void *bad;

	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (long i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, fn, (void *)i) == 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], &bad);
		CHECK(bad == NULL);
	}
	pthread_barrier_destroy(&barrier);
}

static void test_concurrent_puts(void)
{
	static uint8_t out[MLFS_CHUNK_MAX];

	REQUIRE(setup() == 0);
	fill_text(shared_in, sizeof(shared_in));
	mlfs_hash_buf(shared_in, sizeof(shared_in), &shared_h);
	run_threads(put_same);
	CHECK(count_files("chunks") == 1);
	CHECK(mlfs_chunk_get(cs, &shared_h, out, sizeof(out)) == MLFS_CHUNK_MAX);
	CHECK(!memcmp(out, shared_in, sizeof(out)));

	run_threads(put_distinct);
	CHECK(count_files("chunks") == 1 + NTHREADS * 30);
	CHECK(count_files("tmp") == 0);
	CHECK(mlfs_chunk_sync(cs) == 0);
	teardown();
}

static void test_fault_spec(void)
{
	CHECK(mlfs_fault_set("write:2") == 0);
	CHECK(mlfs_fault(MLFS_FAULT_WRITE) == 0);
	CHECK(mlfs_fault(MLFS_FAULT_RENAME) == 0);
	CHECK(mlfs_fault(MLFS_FAULT_WRITE) == -EIO);
	CHECK(mlfs_fault(MLFS_FAULT_WRITE) == 0);

	CHECK(mlfs_fault_set("rename:1+:EROFS,fsync:3:ENOSPC") == 0);
	CHECK(mlfs_fault(MLFS_FAULT_RENAME) == -EROFS);
	CHECK(mlfs_fault(MLFS_FAULT_RENAME) == -EROFS);
	CHECK(mlfs_fault(MLFS_FAULT_FSYNC) == 0);
	CHECK(mlfs_fault(MLFS_FAULT_FSYNC) == 0);
	CHECK(mlfs_fault(MLFS_FAULT_FSYNC) == -ENOSPC);
	CHECK(mlfs_fault(MLFS_FAULT_WRITE) == 0);

	static const char *const bad[] = {
	    "write",	     "write:0",		 "write:x",  "write:3x", "read:1", "write:1:EFOO",
	    "write:1:EIO:x", "write:1,,fsync:1", "write:1,", "write::1", ":1",	   "write:1:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(mlfs_fault_set(bad[i]) == -EINVAL);
		/* A bad spec arms nothing. */
		CHECK(mlfs_fault(MLFS_FAULT_WRITE) == 0);
	}
	CHECK(mlfs_fault_set(NULL) == 0);
}

/* An injected fault leaves nothing under the final name and nothing in tmp. */
static void check_put_fails(const char *spec, int err)
{
	static uint8_t in[500000], out[500000];
	struct mlfs_hash h;
	size_t stored = 42;

	fill_text(in, sizeof(in));
	REQUIRE(mlfs_fault_set(spec) == 0);
	CHECK(put(in, sizeof(in), &h, &stored) == err);
	CHECK(stored == 42);
	CHECK(mlfs_chunk_exists(cs, &h) == 0);
	CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == -ENOENT);
	CHECK(count_files("tmp") == 0);
}

static void test_fault_injection(void)
{
	static uint8_t in[100];
	struct mlfs_hash h;
	int before;

	REQUIRE(setup() == 0);
	check_put_fails("write:1:ENOSPC", -ENOSPC);
	check_put_fails("write:1:EDQUOT", -EDQUOT);
	check_put_fails("rename:1", -EIO);
	/* The first rename goes through, the second fails. */
	REQUIRE(mlfs_fault_set("rename:2") == 0);
	fill_random(in, sizeof(in));
	CHECK(put(in, sizeof(in), &h, NULL) == 0);
	before = count_files("chunks");
	fill_random(in, sizeof(in));
	CHECK(put(in, sizeof(in), &h, NULL) == -EIO);
	CHECK(count_files("chunks") == before);

	/* A full disk stays full. */
	REQUIRE(mlfs_fault_set("write:1+:ENOSPC") == 0);
	fill_random(in, sizeof(in));
	CHECK(put(in, sizeof(in), &h, NULL) == -ENOSPC);
	CHECK(put(in, sizeof(in), &h, NULL) == -ENOSPC);
	REQUIRE(mlfs_fault_set(NULL) == 0);
	CHECK(put(in, sizeof(in), &h, NULL) == 0);
	CHECK(count_files("tmp") == 0);
	teardown();
}

static void test_sync(void)
{
	static uint8_t in[1000], out[1000];
	struct mlfs_hash h, h2;
	struct mlfs_chunkstore *c2;

	REQUIRE(setup() == 0);
	/* Nothing put: no syncfs, so the armed fault is not reached. */
	REQUIRE(mlfs_fault_set("fsync:1") == 0);
	CHECK(mlfs_chunk_sync(cs) == 0);
	fill_random(in, sizeof(in));
	CHECK(put(in, sizeof(in), &h, NULL) == 0);
	CHECK(mlfs_chunk_sync(cs) == -EIO);
	/* Poisoned: puts and syncs fail, reads go on. */
	CHECK(mlfs_chunk_sync(cs) == -EIO);
	CHECK(put(in, 500, &h2, NULL) == -EIO);
	CHECK(mlfs_chunk_exists(cs, &h2) == 0);
	CHECK(mlfs_chunk_get(cs, &h, out, sizeof(out)) == sizeof(in));

	/* A store opened again starts clean. */
	REQUIRE(mlfs_chunkstore_open(dir, &c2) == 0);
	CHECK(mlfs_chunk_put(c2, &h2, in, 500, NULL) == 0);
	CHECK(mlfs_chunk_sync(c2) == 0);
	CHECK(mlfs_chunk_sync(c2) == 0);
	/* A dedup put counts: the chunk may be another process's, unsynced. */
	REQUIRE(mlfs_fault_set("fsync:1") == 0);
	CHECK(mlfs_chunk_put(c2, &h2, in, 500, NULL) == 0);
	CHECK(mlfs_chunk_sync(c2) == -EIO);
	mlfs_chunkstore_free(c2);
	teardown();
}

/*
 * MLFS_FAULT is read from the environment at the first fault point, so the
 * test runs in a new process: this binary again, with the store as argument.
 */
static int fault_env_child(const char *store)
{
	static uint8_t in[1000];
	struct mlfs_hash h;
	int ok;

	if (mlfs_chunkstore_open(store, &cs) < 0)
		return 2;
	fill_random(in, sizeof(in));
	mlfs_hash_buf(in, sizeof(in), &h);
	/* The first rename fails as armed, and nothing is left behind. */
	ok = mlfs_chunk_put(cs, &h, in, sizeof(in), NULL) == -ENOSPC &&
	     mlfs_chunk_exists(cs, &h) == 0 && mlfs_chunk_put(cs, &h, in, sizeof(in), NULL) == 0;
	mlfs_chunkstore_free(cs);
	return ok ? 0 : 1;
}

static void test_fault_env(void)
{
	pid_t pid;
	int status;

	REQUIRE(setup() == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		setenv("MLFS_FAULT", "rename:1:ENOSPC", 1);
		execl("/proc/self/exe", "test_chunk", "--fault-env-child", dir, (char *)NULL);
		_exit(3);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(count_files("chunks") == 1);
	CHECK(count_files("tmp") == 0);
	teardown();
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fault-env-child"))
		return fault_env_child(argv[2]);
	T_RUN(test_hash_names);
	T_RUN(test_open);
	T_RUN(test_round_trip);
	T_RUN(test_compress_gain);
	T_RUN(test_prefetch);
	T_RUN(test_bad_arguments);
	T_RUN(test_dedup);
	T_RUN(test_damage);
	T_RUN(test_missing);
	T_RUN(test_path);
	T_RUN(test_concurrent_puts);
	T_RUN(test_fault_spec);
	T_RUN(test_fault_injection);
	T_RUN(test_sync);
	T_RUN(test_fault_env);
	return T_DONE();
}
