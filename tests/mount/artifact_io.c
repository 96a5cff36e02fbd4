/*
 * artifact_io.c - artifacts through the raw system calls: pwrite and pread at
 * any offset against an in-memory model, holes, ftruncate both ways, O_APPEND,
 * O_EXCL, O_TRUNC, an edit in the middle of a closed file, fsync, and mmap for
 * reading and for writing.
 *
 *   artifact_io DIR [SEED]
 *
 * DIR is an empty directory under a run's artifacts/.  Each check is one case;
 * a failed case prints "artifact_io: FAIL <check>: <what was expected, what
 * came>" on stderr.  The last line on stdout is "artifact_io: N passed, N
 * failed"; the status is 0 only if nothing failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB (1024L)
#define MiB (1024L * 1024)

static int passed, failed, case_failed;
static const char *dir;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static void failf(const char *check, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "artifact_io: FAIL %s: ", check);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	case_failed = 1;
}

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		case_failed = 0;                                                                   \
		fn(#fn);                                                                           \
		if (case_failed)                                                                   \
			failed++;                                                                  \
		else                                                                               \
			passed++;                                                                  \
	} while (0)

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static void fill_random(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(rnd() >> 56);
}

static char *path_of(const char *name)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

/* Read exactly len bytes at off, or fewer at end of file; returns the count or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Compare the first mismatch; report it under check. */
static int same(const char *check, const char *what, const unsigned char *want,
		const unsigned char *got, size_t len, off_t base)
{
	size_t i;

	if (memcmp(want, got, len) == 0)
		return 1;
	for (i = 0; i < len && want[i] == got[i]; i++)
		;
	failf(check, "%s: first difference at offset %lld: expected 0x%02x, got 0x%02x", what,
	      (long long)(base + (off_t)i), want[i], got[i]);
	return 0;
}

/* The whole file at path must be the len bytes of want. */
static void verify_file(const char *check, const char *path, const unsigned char *want, size_t len)
{
	struct stat st;
	unsigned char *got;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		failf(check, "open '%s' for reading: %s", path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || st.st_size != (off_t)len)
		failf(check, "st_size of '%s': expected %zu, got %lld", path, len,
		      (long long)st.st_size);
	got = malloc(len + 1);
	n = pread_full(fd, got, len + 1, 0);
	if (n < 0)
		failf(check, "read '%s': %s", path, strerror((int)-n));
	else if ((size_t)n != len)
		failf(check, "read '%s': expected %zu bytes, got %zd", path, len, n);
	else
		same(check, "content after reopening", want, got, len, 0);
	free(got);
	close(fd);
}

/* Random pwrite, ftruncate and pread against a model, then again after close. */
static unsigned char *model;
static size_t model_len;
#define MODEL_CAP (8 * MiB)

static void random_writes(const char *check)
{
	const char *path = path_of("random.bin");
	unsigned char *buf = malloc(MODEL_CAP);
	int fd, op, r;
	struct stat st;

	model = calloc(1, MODEL_CAP);
	model_len = 0;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create '%s': %s", path, strerror(errno));
		free(buf);
		return;
	}
	for (op = 0; op < 400 && !case_failed; op++) {
		unsigned kind = (unsigned)(rnd() % 10);
		size_t off = rnd() % (6 * MiB);
		size_t len = 1 + rnd() % (256 * KiB);

		if (kind < 6) {
			fill_random(buf, len);
			r = pwrite_full(fd, buf, len, (off_t)off);
			if (r < 0) {
				failf(check, "op %d: pwrite %zu bytes at %zu: %s", op, len, off,
				      strerror(-r));
				break;
			}
			memcpy(model + off, buf, len);
			if (off + len > model_len)
				model_len = off + len;
		} else if (kind < 7) {
			size_t newlen = rnd() % (7 * MiB);
			if (ftruncate(fd, (off_t)newlen) < 0) {
				failf(check, "op %d: ftruncate to %zu: %s", op, newlen,
				      strerror(errno));
				break;
			}
			if (newlen < model_len)
				memset(model + newlen, 0, model_len - newlen);
			model_len = newlen;
		} else {
			ssize_t n = pread_full(fd, buf, len, (off_t)off);
			size_t want =
			    off >= model_len ? 0 : (off + len > model_len ? model_len - off : len);
			if (n < 0) {
				failf(check, "op %d: pread at %zu: %s", op, off, strerror((int)-n));
				break;
			}
			if ((size_t)n != want) {
				failf(check, "op %d: pread %zu at %zu: expected %zu bytes, got %zd",
				      op, len, off, want, n);
				break;
			}
			if (!same(check, "pread while open", model + off, buf, want, (off_t)off))
				break;
		}
		if (fstat(fd, &st) < 0 || st.st_size != (off_t)model_len) {
			failf(check, "op %d: st_size expected %zu, got %lld", op, model_len,
			      (long long)st.st_size);
			break;
		}
	}
	if (close(fd) < 0)
		failf(check, "close: %s", strerror(errno));
	free(buf);
	if (!case_failed)
		verify_file(check, path, model, model_len);
}

/* Reads at random offsets of the closed file, as the model says. */
static void random_reads(const char *check)
{
	unsigned char *buf = malloc(512 * KiB);
	int fd = open(path_of("random.bin"), O_RDONLY), i;

	if (fd < 0) {
		failf(check, "open: %s", strerror(errno));
		free(buf);
		return;
	}
	for (i = 0; i < 300 && !case_failed; i++) {
		size_t off = rnd() % (model_len + 64 * KiB);
		size_t len = 1 + rnd() % (512 * KiB);
		size_t want =
		    off >= model_len ? 0 : (off + len > model_len ? model_len - off : len);
		ssize_t n = pread_full(fd, buf, len, (off_t)off);

		if (n < 0)
			failf(check, "pread %zu at %zu: %s", len, off, strerror((int)-n));
		else if ((size_t)n != want)
			failf(check, "pread %zu at %zu: expected %zu bytes, got %zd", len, off,
			      want, n);
		else
			same(check, "pread", model + off, buf, want, (off_t)off);
	}
	close(fd);
	free(buf);
}

static void mmap_read(const char *check)
{
	int fd = open(path_of("random.bin"), O_RDONLY);
	unsigned char *p;

	if (fd < 0) {
		failf(check, "open: %s", strerror(errno));
		return;
	}
	if (model_len == 0) {
		failf(check, "the model file is empty; random_writes went wrong");
		close(fd);
		return;
	}
	p = mmap(NULL, model_len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		failf(check, "mmap(PROT_READ, MAP_SHARED): %s", strerror(errno));
	} else {
		same(check, "MAP_SHARED read", model, p, model_len, 0);
		munmap(p, model_len);
	}
	p = mmap(NULL, model_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		failf(check, "mmap(PROT_READ, MAP_PRIVATE): %s", strerror(errno));
	} else {
		same(check, "MAP_PRIVATE read", model, p, model_len, 0);
		munmap(p, model_len);
	}
	close(fd);
}

static void mmap_write(const char *check)
{
	const char *path = path_of("mmap.bin");
	const size_t len = 2 * MiB + 123;
	unsigned char *want = malloc(len), *p;
	int fd;

	fill_random(want, len);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create: %s", strerror(errno));
		goto out;
	}
	if (ftruncate(fd, (off_t)len) < 0) {
		failf(check, "ftruncate: %s", strerror(errno));
		close(fd);
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		failf(check, "mmap(PROT_READ|PROT_WRITE, MAP_SHARED): %s", strerror(errno));
		close(fd);
		goto out;
	}
	memcpy(p, want, len);
	if (msync(p, len, MS_SYNC) < 0)
		failf(check, "msync: %s", strerror(errno));
	munmap(p, len);
	if (close(fd) < 0)
		failf(check, "close: %s", strerror(errno));
	verify_file(check, path, want, len);
out:
	free(want);
}

/* A write far beyond the end leaves a hole that reads as zeros. */
static void holes(const char *check)
{
	const off_t far = 1024L * MiB + 123;
	unsigned char data[4096], buf[64 * KiB], zero[64 * KiB] = {0};
	struct stat st;
	ssize_t n;
	int fd, r;

	fill_random(data, sizeof(data));
	fd = open(path_of("sparse.bin"), O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create: %s", strerror(errno));
		return;
	}
	r = pwrite_full(fd, data, sizeof(data), far);
	if (r < 0)
		failf(check, "pwrite at %lld: %s", (long long)far, strerror(-r));
	if (fstat(fd, &st) < 0 || st.st_size != far + (off_t)sizeof(data))
		failf(check, "st_size while open: expected %lld, got %lld",
		      (long long)(far + (off_t)sizeof(data)), (long long)st.st_size);
	close(fd);

	fd = open(path_of("sparse.bin"), O_RDONLY);
	if (fd < 0) {
		failf(check, "reopen: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || st.st_size != far + (off_t)sizeof(data))
		failf(check, "st_size after close: expected %lld, got %lld",
		      (long long)(far + (off_t)sizeof(data)), (long long)st.st_size);
	n = pread_full(fd, buf, sizeof(buf), 512 * MiB);
	if (n != (ssize_t)sizeof(buf))
		failf(check, "pread in the hole: expected %zu bytes, got %zd", sizeof(buf), n);
	else
		same(check, "the hole", zero, buf, sizeof(buf), 512 * MiB);
	n = pread_full(fd, buf, sizeof(buf), far - 100);
	if (n != 100 + (ssize_t)sizeof(data))
		failf(check, "pread across the data at the end: expected %zu bytes, got %zd",
		      100 + sizeof(data), n);
	else if (same(check, "before the data", zero, buf, 100, far - 100))
		same(check, "the data after the hole", data, buf + 100, sizeof(data), far);
	close(fd);
}

static void truncate_both_ways(const char *check)
{
	const char *path = path_of("trunc.bin");
	unsigned char want[200 * KiB];
	int fd, r;

	fill_random(want, 100 * KiB);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create: %s", strerror(errno));
		return;
	}
	r = pwrite_full(fd, want, 100 * KiB, 0);
	if (r < 0)
		failf(check, "pwrite: %s", strerror(-r));
	close(fd);

	fd = open(path, O_RDWR);
	if (fd < 0 || ftruncate(fd, 50 * KiB) < 0)
		failf(check, "ftruncate down to 50 KiB: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	verify_file(check, path, want, 50 * KiB);

	if (truncate(path, 200 * KiB) < 0)
		failf(check, "truncate up to 200 KiB: %s", strerror(errno));
	memset(want + 50 * KiB, 0, 150 * KiB);
	verify_file(check, path, want, 200 * KiB);

	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		failf(check, "open O_TRUNC: %s", strerror(errno));
	else
		close(fd);
	verify_file(check, path, want, 0);
}

static void append_mode(const char *check)
{
	const char *path = path_of("append.bin");
	unsigned char want[30 * KiB];
	int fd, r;

	fill_random(want, sizeof(want));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create: %s", strerror(errno));
		return;
	}
	r = pwrite_full(fd, want, 10 * KiB, 0);
	if (r < 0)
		failf(check, "write: %s", strerror(-r));
	close(fd);

	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0) {
		failf(check, "open O_APPEND: %s", strerror(errno));
		return;
	}
	if (write(fd, want + 10 * KiB, 10 * KiB) != 10 * KiB)
		failf(check, "append write: %s", strerror(errno));
	/* With O_APPEND every write goes to the end, wherever the offset was. */
	lseek(fd, 0, SEEK_SET);
	if (write(fd, want + 20 * KiB, 10 * KiB) != 10 * KiB)
		failf(check, "append write after lseek(0): %s", strerror(errno));
	close(fd);
	verify_file(check, path, want, sizeof(want));
}

static void exclusive_create(const char *check)
{
	int fd = open(path_of("append.bin"), O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd >= 0) {
		failf(check, "O_CREAT|O_EXCL on an existing file succeeded");
		close(fd);
	} else if (errno != EEXIST) {
		failf(check, "O_CREAT|O_EXCL on an existing file: expected EEXIST, got %s",
		      strerror(errno));
	}
}

/* Reopen a closed 3 MiB file, change 10 bytes in its middle, check all of it. */
static void edit_in_the_middle(const char *check)
{
	const char *path = path_of("edit.bin");
	const size_t len = 3 * MiB;
	unsigned char *want = malloc(len);
	int fd, r;

	fill_random(want, len);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		failf(check, "create: %s", strerror(errno));
		goto out;
	}
	r = pwrite_full(fd, want, len, 0);
	if (r < 0)
		failf(check, "write: %s", strerror(-r));
	close(fd);

	fd = open(path, O_RDWR);
	if (fd < 0) {
		failf(check, "reopen O_RDWR: %s", strerror(errno));
		goto out;
	}
	memcpy(want + len / 2, "0123456789", 10);
	r = pwrite_full(fd, "0123456789", 10, (off_t)(len / 2));
	if (r < 0)
		failf(check, "pwrite in the middle: %s", strerror(-r));
	if (fsync(fd) < 0)
		failf(check, "fsync: %s", strerror(errno));
	if (close(fd) < 0)
		failf(check, "close: %s", strerror(errno));
	verify_file(check, path, want, len);
out:
	free(want);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: artifact_io DIR [SEED]\n");
		return 2;
	}
	dir = argv[1];
	if (argc == 3)
		rng = strtoull(argv[2], NULL, 0) | 1;

	RUN(random_writes);
	RUN(random_reads);
	RUN(mmap_read);
	RUN(mmap_write);
	RUN(holes);
	RUN(truncate_both_ways);
	RUN(append_mode);
	RUN(exclusive_create);
	RUN(edit_in_the_middle);

	printf("artifact_io: %d passed, %d failed\n", passed, failed);
	free(model);
	return failed == 0 && passed > 0 ? 0 : 1;
}
