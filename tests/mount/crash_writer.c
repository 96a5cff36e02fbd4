/*
 * crash_writer.c - one of the writers of t_crash.sh, in C: it works on the
 * mount until a call fails (the daemon is killed under it), and logs to a
 * file outside the mount exactly what the mount acknowledged.
 *
 *   crash_writer ID RUN EXP LOG SCRATCH SEED
 *
 * RUN is a run folder in the mount (its metrics/ and artifacts/ are used),
 * EXP an experiment folder in the mount (new runs go there), LOG the
 * acknowledgement log, SCRATCH a folder outside the mount for the source
 * of each copy.  Lines of LOG (see crash_check.py, which reads them):
 *
 *   W ID RUN EXP           first: who this is and where it writes
 *   P METRIC STEP          the write(2) of point STEP to METRIC returned
 *   R RUN                  mkdir of RUN returned
 *   T PATH SIZE SHA256     about to write file PATH (not acknowledged)
 *   F PATH SIZE SHA256     close(2) of PATH, with that content, returned
 *   V PATH VALUE           the write(2) of a param returned
 *
 * Paths are relative to the mount (the part of RUN before the experiment
 * is the mount point: "MOUNT/EXP/RUN").  A point of step S is the line
 * "T S.5 S" with T = 1700000000000 + S, so each line read back is known
 * exactly.  Own metric: metrics/w<ID>, written through one descriptor kept
 * open; shared metric: metrics/shared, steps ID*1000000 + i, opened and
 * closed for each point.  Files: RUN/artifacts/w<ID>/f<K>, sometimes written
 * again; runs: EXP/w<ID>-r<K> with param k.  It runs until a call fails,
 * then prints the call and errno and exits 3 (1: a failure of its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define TS0 1700000000000LL

static int logfd;
static uint64_t rng;
static const char *id, *scratch;
static char mnt[4096];

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* One log line in one write(2), so that a killed writer leaves whole lines. */
static void logf_(const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		exit(1);
	line[n++] = '\n';
	if (write(logfd, line, (size_t)n) != n) {
		perror("crash_writer: log");
		exit(1);
	}
}

static const char *rel(const char *path)
{
	size_t n = strlen(mnt);

	return strncmp(path, mnt, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/* A failed call ends the writer (t_crash.sh tells a kill from a refusal by the time). */
static void stop(const char *what, const char *path)
{
	fprintf(stderr, "crash_writer %s: %s '%s': %s\n", id, what, rel(path), strerror(errno));
	exit(3);
}

static int point_line(char *buf, size_t cap, long long step)
{
	return snprintf(buf, cap, "%lld %lld.5 %lld\n", TS0 + step, step, step);
}

static size_t pick_size(void)
{
	int r = (int)(rnd() % 100);

	if (r < 10)
		return 0;
	if (r < 40)
		return rnd() % 4096;
	if (r < 80)
		return rnd() % (512 * 1024);
	return rnd() % (4 * MiB);
}

/* Write the content to SCRATCH and take its SHA-256 with sha256sum. */
static void digest(const unsigned char *buf, size_t len, char *hex)
{
	char src[4200], cmd[4300];
	FILE *p;
	int fd;

	snprintf(src, sizeof(src), "%s/w%s.src", scratch, id);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (len && write(fd, buf, len) != (ssize_t)len) || close(fd) < 0) {
		perror("crash_writer: scratch");
		exit(1);
	}
	snprintf(cmd, sizeof(cmd), "sha256sum < '%s'", src);
	p = popen(cmd, "r");
	if (!p || fscanf(p, "%64s", hex) != 1 || pclose(p) != 0) {
		fprintf(stderr, "crash_writer: sha256sum failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *run, *exp;
	char own[4200], shared[4200], path[4400], line[128], hex[65];
	unsigned char *buf;
	long long step = 0, sstep = 0;
	int nfiles = 0, nruns = 0, ownfd;
	char *slash;

	if (argc != 7) {
		fprintf(stderr, "usage: crash_writer ID RUN EXP LOG SCRATCH SEED\n");
		return 2;
	}
	id = argv[1];
	run = argv[2];
	exp = argv[3];
	scratch = argv[5];
	rng = strtoull(argv[6], NULL, 10) * 2654435761ULL + 1;
	snprintf(mnt, sizeof(mnt), "%s", exp);
	slash = strrchr(mnt, '/');
	if (slash)
		*slash = 0;
	logfd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND, 0644);
	buf = malloc(4 * MiB);
	if (logfd < 0 || !buf)
		return 1;
	logf_("W %s %s %s", id, rel(run), rel(exp));
	snprintf(own, sizeof(own), "%s/metrics/w%s", run, id);
	snprintf(shared, sizeof(shared), "%s/metrics/shared", run);
	snprintf(path, sizeof(path), "%s/artifacts/w%s", run, id);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		stop("mkdir", path);
	ownfd = open(own, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (ownfd < 0)
		stop("open", own);

	for (;;) {
		int r = (int)(rnd() % 100), n;

		if (r < 55) {
			n = point_line(line, sizeof(line), step);
			if (write(ownfd, line, (size_t)n) != n)
				stop("write", own);
			logf_("P %s %lld", rel(own), step++);
		} else if (r < 75) {
			int fd = open(shared, O_WRONLY | O_CREAT | O_APPEND, 0644);
			long long s = atoll(id) * 1000000 + sstep;

			if (fd < 0)
				stop("open", shared);
			n = point_line(line, sizeof(line), s);
			if (write(fd, line, (size_t)n) != n)
				stop("write", shared);
			logf_("P %s %lld", rel(shared), s);
			sstep++;
			if (close(fd) < 0)
				stop("close", shared);
		} else if (r < 85) {
			char value[32];
			int fd;

			snprintf(path, sizeof(path), "%s/w%s-r%d", exp, id, nruns);
			if (mkdir(path, 0755) < 0)
				stop("mkdir", path);
			logf_("R %s", rel(path));
			snprintf(path, sizeof(path), "%s/w%s-r%d/params/k", exp, id, nruns);
			n = snprintf(value, sizeof(value), "%d\n", nruns);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0)
				stop("open", path);
			if (write(fd, value, (size_t)n) != n)
				stop("write", path);
			logf_("V %s %d", rel(path), nruns);
			if (close(fd) < 0)
				stop("close", path);
			nruns++;
		} else {
			/* A new file, or now and then a new version of one already written. */
			int k = nfiles && rnd() % 4 == 0 ? (int)(rnd() % (uint64_t)nfiles) : nfiles++;
			size_t len = pick_size(), done = 0;
			int fd = open("/dev/urandom", O_RDONLY);

			while (fd >= 0 && done < len) {
				ssize_t got = read(fd, buf + done, len - done);
				if (got <= 0)
					break;
				done += (size_t)got;
			}
			if (fd < 0 || done != len)
				return 1;
			close(fd);
			digest(buf, len, hex);
			snprintf(path, sizeof(path), "%s/artifacts/w%s/f%d", run, id, k);
			logf_("T %s %zu %s", rel(path), len, hex);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0)
				stop("open", path);
			for (done = 0; done < len;) {
				size_t piece = 1 + rnd() % MiB;
				ssize_t w;

				if (piece > len - done)
					piece = len - done;
				w = write(fd, buf + done, piece);
				if (w <= 0)
					stop("write", path);
				done += (size_t)w;
			}
			if (close(fd) < 0)
				stop("close", path);
			logf_("F %s %zu %s", rel(path), len, hex);
		}
	}
}
