/*
 * benchtree.c - the trees the bench builds, with one system call per step
 * so that what is timed is the file system and not a shell.
 *
 *     benchtree mkdirs DIR N       mkdir DIR/r0 .. DIR/r<N-1>, in that order;
 *                                  prints "FIRST100 TOTAL LAST1000" in seconds
 *                                  (the first 100, all N, the last 1000)
 *     benchtree files DIR D F      mkdir DIR/d0 .. DIR/d<D-1>, and F files in
 *                                  each (f0 ..), each with its own short text
 *     benchtree fill DIR N         in runs DIR/r0 .. DIR/r<N-1>: params lr,
 *                                  batch_size and seed, and metrics loss and
 *                                  acc with three points each
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "benchtree: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static void put(const char *path, const char *text, int flags)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);

	if (fd < 0)
		die("cannot open", path);
	if (write(fd, text, len) != (ssize_t)len)
		die("cannot write", path);
	if (close(fd) < 0)
		die("cannot close", path);
}

static int mkdirs(const char *dir, long n)
{
	char path[4096];
	double t0 = now(), t100 = 0, tlast = 0, t;

	for (long i = 0; i < n; i++) {
		if (i == n - 1000)
			tlast = now();
		snprintf(path, sizeof(path), "%s/r%ld", dir, i);
		if (mkdir(path, 0755) < 0)
			die("cannot mkdir", path);
		if (i == 99)
			t100 = now();
	}
	t = now();
	printf("%.6f %.6f %.6f\n", t100 - t0, t - t0, n >= 1000 ? t - tlast : 0);
	return 0;
}

static int files(const char *dir, long dirs, long per)
{
	char path[4096], text[128];

	for (long d = 0; d < dirs; d++) {
		snprintf(path, sizeof(path), "%s/d%ld", dir, d);
		if (mkdir(path, 0755) < 0)
			die("cannot mkdir", path);
		for (long f = 0; f < per; f++) {
			snprintf(path, sizeof(path), "%s/d%ld/f%ld", dir, d, f);
			snprintf(text, sizeof(text), "artifact %ld of folder %ld\n", f, d);
			put(path, text, O_TRUNC);
		}
	}
	return 0;
}

static int fill(const char *dir, long n)
{
	char path[4096], text[256];

	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/r%ld/params/lr", dir, i);
		snprintf(text, sizeof(text), "%g\n", 1e-4 * (1 + i % 10));
		put(path, text, O_TRUNC);
		snprintf(path, sizeof(path), "%s/r%ld/params/batch_size", dir, i);
		snprintf(text, sizeof(text), "%ld\n", 32L << (i % 4));
		put(path, text, O_TRUNC);
		snprintf(path, sizeof(path), "%s/r%ld/params/seed", dir, i);
		snprintf(text, sizeof(text), "%ld\n", i);
		put(path, text, O_TRUNC);
		snprintf(path, sizeof(path), "%s/r%ld/metrics/loss", dir, i);
		snprintf(text, sizeof(text), "%g\n%g\n%g\n", 2.0 - i * 1e-5, 1.5 - i * 1e-5,
			 1.2 - i * 1e-5);
		put(path, text, O_APPEND);
		snprintf(path, sizeof(path), "%s/r%ld/metrics/acc", dir, i);
		snprintf(text, sizeof(text), "0.5\n0.7\n%g\n", 0.8 + (i % 1000) * 1e-4);
		put(path, text, O_APPEND);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "mkdirs"))
		return mkdirs(argv[2], atol(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "files"))
		return files(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "fill"))
		return fill(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: benchtree mkdirs DIR N | files DIR D F | fill DIR N\n");
	return 2;
}
