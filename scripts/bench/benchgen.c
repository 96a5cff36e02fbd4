/*
 * benchgen.c - the data the bench copies and logs, made the same every time.
 *
 *     benchgen random PATH MIB          MIB MiB of uniformly random bytes
 *     benchgen floats PATH MIB          MIB MiB of a smooth float32 array
 *     benchgen ckpts DIR MIB COUNT      COUNT checkpoints DIR/ckpt0..: float32
 *                                       weights; each differs from the one
 *                                       before in 1% of its bytes, rewritten
 *                                       in four places
 *     benchgen loss PATH POINTS         a noisy loss curve as MLflow's lines
 *                                       "TIMESTAMP VALUE STEP"
 *
 * Everything comes from a fixed seed, so two runs of the bench copy and log
 * the same bytes.  The loss values are float32 numbers widened to double, as
 * a framework's loss.item() returns them, written with 17 significant
 * digits so that each reads back as exactly that double; timestamps advance
 * 20-30 ms a step.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state = 0x6d6c66732d62656eULL; /* "mlfs-ben" */

/* splitmix64 */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double unif(void)
{
	return ((rnd() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
	return sqrt(-2.0 * log(unif())) * cos(2 * M_PI * unif());
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "benchgen: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static void write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot write", path);
		p += n;
		len -= n;
	}
}

static int create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die("cannot create", path);
	return fd;
}

static void finish(int fd, const char *path)
{
	if (close(fd) < 0)
		die("cannot close", path);
}

#define BUF (1 << 20)

static void gen_random(const char *path, uint64_t bytes)
{
	static uint64_t buf[BUF / 8];
	int fd = create(path);

	for (uint64_t done = 0; done < bytes; done += BUF) {
		for (size_t i = 0; i < BUF / 8; i++)
			buf[i] = rnd();
		write_all(fd, buf, bytes - done < BUF ? bytes - done : BUF, path);
	}
	finish(fd, path);
}

/* Three incommensurate waves and a slow drift: smooth, never repeating. */
static void gen_floats(const char *path, uint64_t bytes)
{
	static float buf[BUF / 4];
	uint64_t i = 0;
	int fd = create(path);

	for (uint64_t done = 0; done < bytes; done += BUF) {
		for (size_t k = 0; k < BUF / 4; k++, i++) {
			double x = (double)i;

			buf[k] = (float)(sin(x * 1e-4) + 0.5 * sin(x * 3.3e-6 + 1.0) +
					 0.25 * cos(x * 7.7e-3) + x * 1e-9);
		}
		write_all(fd, buf, bytes - done < BUF ? bytes - done : BUF, path);
	}
	finish(fd, path);
}

static void gen_ckpts(const char *dir, uint64_t bytes, int count)
{
	size_t n = bytes / 4, region = n / 400; /* 4 regions of 0.25% each */
	float *w = malloc(n * sizeof(float));
	char path[4096];

	if (!w || region == 0) {
		fprintf(stderr, "benchgen: cannot make %llu-byte checkpoints\n",
			(unsigned long long)bytes);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		w[i] = (float)(0.02 * gauss());
	for (int c = 0; c < count; c++) {
		int fd;

		if (c > 0) {
			for (int r = 0; r < 4; r++) {
				size_t at = rnd() % (n - region);

				for (size_t i = at; i < at + region; i++)
					w[i] = (float)(0.02 * gauss());
			}
		}
		snprintf(path, sizeof(path), "%s/ckpt%d", dir, c);
		fd = create(path);
		write_all(fd, w, n * sizeof(float), path);
		finish(fd, path);
	}
	free(w);
}

static void gen_loss(const char *path, uint64_t points)
{
	static char buf[BUF + 256];
	size_t used = 0;
	int64_t ts = 1700000000000LL;
	double tau = points / 5.0;
	int fd = create(path);

	for (uint64_t step = 0; step < points; step++) {
		double mean = 1.8 * exp(-(double)step / tau) + 0.2;
		float v = (float)(mean * (1.0 + 0.1 * gauss()));

		used += snprintf(buf + used, 256, "%lld %.17g %llu\n", (long long)ts, (double)v,
				 (unsigned long long)step);
		if (used >= BUF) {
			write_all(fd, buf, used, path);
			used = 0;
		}
		ts += 20 + (int64_t)(rnd() % 11);
	}
	write_all(fd, buf, used, path);
	finish(fd, path);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "random"))
		gen_random(argv[2], strtoull(argv[3], NULL, 10) << 20);
	else if (argc == 4 && !strcmp(argv[1], "floats"))
		gen_floats(argv[2], strtoull(argv[3], NULL, 10) << 20);
	else if (argc == 5 && !strcmp(argv[1], "ckpts"))
		gen_ckpts(argv[2], strtoull(argv[3], NULL, 10) << 20, atoi(argv[4]));
	else if (argc == 4 && !strcmp(argv[1], "loss"))
		gen_loss(argv[2], strtoull(argv[3], NULL, 10));
	else {
		fprintf(stderr, "usage: benchgen random|floats PATH MIB\n"
				"       benchgen ckpts DIR MIB COUNT\n"
				"       benchgen loss PATH POINTS\n");
		return 2;
	}
	return 0;
}
