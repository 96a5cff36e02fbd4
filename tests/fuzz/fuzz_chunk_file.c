/*
 * fuzz_chunk_file.c - a chunk file's bytes are untrusted (bit rot, a
 * truncated write, a hostile disk): whatever a chunk file holds,
 * mlfs_chunk_get() either returns exactly the content that hashes to the
 * chunk's name or -EBADMSG, and after a failure the caller's buffer holds
 * none of the bytes it read (chunk.h, invariant 2).
 *
 * Byte 0 of the input picks the case:
 *   even  the rest is a whole chunk file, stored under the name of a fixed
 *         content (so only a file that decodes to that content may pass);
 *   odd   the rest is content: it is put (a real chunk file, raw or zstd),
 *         read back whole, then one byte of the file, chosen by the
 *         content's length, is changed, and the read must fail or give the
 *         same content again.
 * One chunk store under $TMPDIR serves every input.
 */
#include "fuzz.h"
#include "chunk.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];
static struct mlfs_chunkstore *cs;
static uint8_t fixed[5000];
static struct mlfs_hash fixed_hash;
static uint8_t buf[MLFS_CHUNK_MAX];

static void cleanup(void)
{
	if (cs)
		mlfs_chunkstore_free(cs);
	cs = NULL;
	fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tmpdir(dir, sizeof(dir), "chunk-file");
	EXPECT(mlfs_chunkstore_open(dir, &cs) == 0);
	/* A content zstd shrinks, so that the seed's good file is a zstd one. */
	for (size_t i = 0; i < sizeof(fixed); i++)
		fixed[i] = (uint8_t)("mlfs chunk "[i % 11] + i / 700);
	mlfs_hash_buf(fixed, sizeof(fixed), &fixed_hash);
	mlfs_log_open("/dev/null"); /* every damaged read logs a line */
	atexit(cleanup);
	return 0;
}

/* Replace the file of chunk h by len bytes at p (written aside, renamed in). */
static void plant(const struct mlfs_hash *h, const uint8_t *p, size_t len)
{
	char path[4096], tmp[4200];
	int fd;

	EXPECT(mlfs_chunk_path(cs, h, path, sizeof(path)) >= 0);
	snprintf(tmp, sizeof(tmp), "%s/planted", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	EXPECT(fd >= 0);
	EXPECT(len == 0 || write(fd, p, len) == (ssize_t)len);
	EXPECT(close(fd) == 0);
	if (rename(tmp, path) < 0) {
		/* The fan-out folder of a name never put yet. */
		char fan[4096];

		snprintf(fan, sizeof(fan), "%s", path);
		*strrchr(fan, '/') = '\0';
		EXPECT(mkdir(fan, 0755) == 0 || errno == EEXIST);
		EXPECT(rename(tmp, path) == 0);
	}
}

static uint8_t *slurp(const struct mlfs_hash *h, size_t *ret_len)
{
	char path[4096];
	struct stat st;
	uint8_t *p;
	int fd;

	EXPECT(mlfs_chunk_path(cs, h, path, sizeof(path)) >= 0);
	fd = open(path, O_RDONLY);
	EXPECT(fd >= 0 && fstat(fd, &st) == 0);
	p = malloc(st.st_size ? st.st_size : 1);
	EXPECT(p && read(fd, p, st.st_size) == st.st_size);
	close(fd);
	*ret_len = st.st_size;
	return p;
}

/* Read chunk h (whose content is want[0..len)): the content, or -EBADMSG and a clean buf. */
static void check_get(const struct mlfs_hash *h, const uint8_t *want, size_t len)
{
	int r;

	memset(buf, 0, sizeof(buf));
	r = mlfs_chunk_get(cs, h, buf, sizeof(buf));
	if (r == -EBADMSG) {
		for (size_t i = 0; i < sizeof(buf); i += 64)
			EXPECT(buf[i] == 0);
		for (size_t i = 0; i < len && i < sizeof(buf); i++)
			EXPECT(buf[i] == 0);
		return;
	}
	if (r != (int)len)
		fprintf(stderr, "fuzz_chunk_file: get gave %d for a chunk of %zu bytes\n", r, len);
	EXPECT(r == (int)len);
	EXPECT(memcmp(buf, want, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_hash h;
	uint8_t *file;
	size_t flen, stored;

	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		plant(&fixed_hash, data + 1, size - 1);
		check_get(&fixed_hash, fixed, sizeof(fixed));
		return 0;
	}
	mlfs_hash_buf(data + 1, size - 1, &h);
	{
		char path[4096];

		EXPECT(mlfs_chunk_path(cs, &h, path, sizeof(path)) >= 0);
		unlink(path);
	}
	EXPECT(mlfs_chunk_put(cs, &h, data + 1, size - 1, &stored) == 0);
	EXPECT(stored > 0);
	check_get(&h, data + 1, size - 1);
	file = slurp(&h, &flen);
	EXPECT(flen >= MLFS_CHUNK_HDR);
	{
		size_t at = (size * 7919) % flen;

		file[at] ^= (uint8_t)(1u << (size % 8));
		plant(&h, file, flen);
		check_get(&h, data + 1, size - 1);
		/* A file cut short is damaged too. */
		plant(&h, file, (size * 31) % flen);
		check_get(&h, data + 1, size - 1);
	}
	free(file);
	return 0;
}
