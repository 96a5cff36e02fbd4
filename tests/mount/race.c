/*
 * race.c - N processes do the same thing at the same moment.
 *
 *   race [--at MS] N mkdir PATH
 *   race [--at MS] N append PATH LINES
 *   race [--at MS] N write PATH SIZE
 *   race N which PATH SIZE
 *   race [--at MS] N mkver MODEL PER
 *   race [--at MS] N exec OUTDIR CMD ARGS...
 *
 * The parent forks N children; each gets ready (opens what it needs), says
 * so on a pipe and blocks on a second pipe, which the parent closes once all
 * are ready, so that they all start together.  With --at MS they then also
 * wait for that wall-clock time (ms since the epoch), so that two race
 * commands can collide with each other.  The parent prints one line per
 * child, "child I: RESULT", in child order, and exits 0 (2 on a usage or
 * set-up error).  RESULT:
 *
 *   mkdir   OK or the errno's name (EEXIST, ...)
 *   append  OK, or the failing call and errno.  Child I writes LINES lines
 *           "T V S\n", S = I*100000 + J, V = J.25, T = 1700000000000 + S:
 *           children with I%3 == 0 open once (O_APPEND) and write a line per
 *           write(2); I%3 == 1 open and close for every line (as echo >>);
 *           I%3 == 2 open once and split each line in two write(2) calls.
 *   write   OK, or the failing call.  First (before the race) the file is
 *           written with version N; then child I writes version I whole
 *           (O_TRUNC, pieces of 1 byte to 1 MiB, close).  Version I is SIZE +
 *           I*4099 bytes of a PRNG seeded with I.  Half the children open
 *           before the start, half after.  One more process reads the file
 *           whole, again and again, until the writers are done; its line is
 *           "reader: R reads, M not a whole version" and, for the first such
 *           read, what it was (as for which).  A read that is the start of
 *           one version, cut short, while a writer's open(2) overlapped it
 *           (began before the read ended and had not returned when the read
 *           began) is not counted in M but as "; C cut while a writer
 *           opened": the kernel moves its one size of the file for that
 *           writer's O_TRUNC and writes (README, "Known gaps").
 *   which   (no race) which version PATH holds: "version I", or "L bytes,
 *           not a whole version: its first P bytes are version J's (S bytes)".
 *   mkver   the version numbers the child made: it lists MODEL, takes the
 *           highest number + 1 and makes that folder; EEXIST or EINVAL (not
 *           the next number any more) make it try again; PER successes (or
 *           2000 tries) end it.  "made 3 7 12", or "made ... error E" on
 *           another errno.
 *   exec    "exit S" of CMD ARGS, in which "{}" is replaced by I; its
 *           stdout and stderr go to OUTDIR/I.out and OUTDIR/I.err.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define MAXN 64

static int n_children;
static long long at_ms = -1;

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t version_size(long size, int i)
{
	return (size_t)size + (size_t)i * 4099;
}

static void version(unsigned char *buf, size_t len, int i)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);

	for (size_t j = 0; j < len; j += 8) {
		uint64_t v = xs(&s);
		memcpy(buf + j, &v, len - j < 8 ? len - j : 8);
	}
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each child's result goes back to the parent through a shared page. */
static char (*results)[256];

/* When each writer's open(2) began and returned (CLOCK_MONOTONIC ns; shared; INT64_MAX: not yet). */
static volatile int64_t *open_began, *open_done;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Did a writer's open(2) overlap [t0, t1]? */
static int writer_opened_during(int64_t t0, int64_t t1)
{
	for (int i = 0; i < n_children; i++)
		if (open_began[i] <= t1 && open_done[i] >= t0)
			return 1;
	return 0;
}

static int ready_fd[2], go_fd[2];

/* In a child: say ready, wait for the start. */
static void wait_start(void)
{
	char c = 'r';

	close(ready_fd[0]);
	close(go_fd[1]);
	if (write(ready_fd[1], &c, 1) != 1)
		_exit(2);
	close(ready_fd[1]);
	if (read(go_fd[0], &c, 1) != 0)
		_exit(2);
	if (at_ms >= 0) {
		long long d = at_ms - now_ms();
		if (d > 0) {
			struct timespec ts = {d / 1000, (d % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static void child_mkdir(int i, char **args)
{
	wait_start();
	snprintf(results[i], 256, "%s", mkdir(args[0], 0755) ? ename(errno) : "OK");
}

static void child_append(int i, char **args)
{
	long lines = atol(args[1]), j;
	int mode = i % 3, fd = -1, r;
	char line[128];

	if (mode != 1) {
		fd = open(args[0], O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0) {
			snprintf(results[i], 256, "open %s", ename(errno));
			wait_start();
			return;
		}
	}
	wait_start();
	for (j = 0; j < lines; j++) {
		long long s = (long long)i * 100000 + j;
		int n = snprintf(line, sizeof(line), "%lld %ld.25 %lld\n", 1700000000000LL + s, j,
				 s);

		if (mode == 1 && (fd = open(args[0], O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
			snprintf(results[i], 256, "line %ld: open %s", j, ename(errno));
			return;
		}
		if (mode == 2)
			r = write_full(fd, line, 5) ? -errno : write_full(fd, line + 5, (size_t)n - 5);
		else
			r = write_full(fd, line, (size_t)n);
		if (r) {
			snprintf(results[i], 256, "line %ld: write %s", j, ename(-r));
			return;
		}
		if (mode == 1 && close(fd) < 0) {
			snprintf(results[i], 256, "line %ld: close %s", j, ename(errno));
			return;
		}
	}
	if (mode != 1 && close(fd) < 0) {
		snprintf(results[i], 256, "close %s", ename(errno));
		return;
	}
	snprintf(results[i], 256, "OK");
}

static int write_version(const char *path, long size, int i, int open_first, int race)
{
	size_t len = version_size(size, i), done = 0;
	unsigned char *buf = malloc(len + 8);
	uint64_t s = (uint64_t)i * 7919 + 17;
	int fd = -1;

	version(buf, len, i);
	if (race)
		open_began[i] = mono_ns();
	if (open_first)
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (race && open_first)
		open_done[i] = mono_ns();
	if (race)
		wait_start();
	if (race && !open_first)
		open_began[i] = mono_ns();
	if (!open_first)
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (race)
		open_done[i] = mono_ns();
	if (fd < 0) {
		snprintf(results[i], 256, "open %s", ename(errno));
		free(buf);
		return -1;
	}
	while (done < len) {
		size_t piece = 1 + xs(&s) % MiB;
		int r;

		if (piece > len - done)
			piece = len - done;
		r = write_full(fd, buf + done, piece);
		if (r) {
			snprintf(results[i], 256, "write %s", ename(-r));
			close(fd);
			free(buf);
			return -1;
		}
		done += piece;
	}
	free(buf);
	if (close(fd) < 0) {
		snprintf(results[i], 256, "close %s", ename(errno));
		return -1;
	}
	snprintf(results[i], 256, "OK");
	return 0;
}

static void child_write(int i, char **args)
{
	write_version(args[0], atol(args[1]), i, i % 2, 1);
}

/*
 * Which version buf holds: its index, or -1 and in ret_why what it is
 * instead: the version whose content it starts with, and for how long
 * (*ret_prefix: 1 when all of buf is the start of that version).
 */
static int which_version(const unsigned char *buf, size_t len, long size, int n, char *ret_why,
			 size_t cap, int *ret_prefix)
{
	size_t best = 0, maxlen = version_size(size, n) + 8;
	unsigned char *want = malloc(maxlen);
	int i, best_i = -1;

	for (i = 0; i <= n; i++) {
		size_t vlen = version_size(size, i), j, m = vlen < len ? vlen : len;

		version(want, vlen, i);
		if (vlen == len && memcmp(want, buf, len) == 0) {
			free(want);
			return i;
		}
		for (j = 0; j < m && want[j] == buf[j]; j++)
			;
		if (j > best || best_i < 0) {
			best = j;
			best_i = i;
		}
	}
	free(want);
	snprintf(ret_why, cap, "%zu bytes, not a whole version: its first %zu bytes are version %d's (%zu bytes)",
		 len, best, best_i, version_size(size, best_i));
	if (ret_prefix)
		*ret_prefix = best == len;
	return -1;
}

static ssize_t read_all(const char *path, unsigned char **ret)
{
	size_t cap = 4 * MiB, len = 0;
	unsigned char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		if (len == cap)
			buf = realloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			n = -errno;
			close(fd);
			free(buf);
			return n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*ret = buf;
	return (ssize_t)len;
}

/* The reader of the write race: index n_children in results. */
static void reader(const char *path, long size, volatile int *done)
{
	long reads = 0, bad = 0, cut = 0;
	char first[200] = "";

	wait_start();
	while (!*done) {
		unsigned char *buf;
		int64_t t0 = mono_ns();
		ssize_t len = read_all(path, &buf);
		int64_t t1 = mono_ns();
		char why[160];
		int v, prefix = 0;

		reads++;
		if (len < 0) {
			if (!bad++)
				snprintf(first, sizeof(first), "; first: read failed with %s",
					 ename((int)-len));
			continue;
		}
		v = which_version(buf, (size_t)len, size, n_children, why, sizeof(why), &prefix);
		if (v < 0 && prefix && writer_opened_during(t0, t1))
			cut++;
		else if (v < 0 && !bad++)
			snprintf(first, sizeof(first), "; first: %s", why);
		free(buf);
	}
	snprintf(results[n_children], 256, "%ld reads, %ld not a whole version%s", reads, bad,
		 first);
	if (cut)
		snprintf(results[n_children] + strlen(results[n_children]),
			 256 - strlen(results[n_children]), "; %ld cut while a writer opened", cut);
}

static int list_max(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int max = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (!*end && end != e->d_name && v > max)
			max = (int)v;
	}
	closedir(d);
	return max;
}

static void child_mkver(int i, char **args)
{
	int per = atoi(args[1]), made = 0, tries = 0;
	size_t n;
	char path[4200];

	wait_start();
	n = (size_t)snprintf(results[i], 256, "made");
	while (made < per && tries++ < 2000) {
		int max = list_max(args[0]);

		if (max < 0) {
			snprintf(results[i] + n, 256 - n, " error list %s", ename(-max));
			return;
		}
		snprintf(path, sizeof(path), "%s/%d", args[0], max + 1);
		if (mkdir(path, 0755) == 0) {
			n += (size_t)snprintf(results[i] + n, 256 - n, " %d", max + 1);
			made++;
		} else if (errno != EEXIST && errno != EINVAL) {
			snprintf(results[i] + n, 256 - n, " error %d %s", max + 1, ename(errno));
			return;
		}
	}
}

static void child_exec(int i, char **args, int nargs)
{
	char **argv = calloc((size_t)nargs, sizeof(*argv)), idx[16], path[4200];
	int fd;

	snprintf(idx, sizeof(idx), "%d", i);
	for (int k = 1; k < nargs; k++) {
		char *p = strstr(args[k], "{}");
		if (p) {
			size_t cap = strlen(args[k]) + 16;
			argv[k - 1] = malloc(cap);
			snprintf(argv[k - 1], cap, "%.*s%s%s", (int)(p - args[k]), args[k], idx,
				 p + 2);
		} else {
			argv[k - 1] = args[k];
		}
	}
	snprintf(path, sizeof(path), "%s/%d.out", args[0], i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0)
		_exit(126);
	close(fd);
	snprintf(path, sizeof(path), "%s/%d.err", args[0], i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0)
		_exit(126);
	close(fd);
	wait_start();
	execvp(argv[0], argv);
	_exit(127);
}

static int usage(void)
{
	fprintf(stderr, "usage: race [--at MS] N mkdir|append|write|which|mkver|exec ARGS... "
			"(see the top of race.c)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *mode;
	char **args;
	int nargs, i, a = 1, status;
	pid_t pids[MAXN + 1];
	volatile int *done;

	if (argc > 3 && !strcmp(argv[1], "--at")) {
		at_ms = atoll(argv[2]);
		a = 3;
	}
	if (argc - a < 3)
		return usage();
	n_children = atoi(argv[a]);
	mode = argv[a + 1];
	args = argv + a + 2;
	nargs = argc - a - 2;
	if (n_children < 1 || n_children > MAXN)
		return usage();
	if ((!strcmp(mode, "mkdir") && nargs != 1) ||
	    ((!strcmp(mode, "append") || !strcmp(mode, "write") || !strcmp(mode, "which") ||
	      !strcmp(mode, "mkver")) &&
	     nargs != 2) ||
	    (!strcmp(mode, "exec") && nargs < 2))
		return usage();

	if (!strcmp(mode, "which")) {
		unsigned char *buf;
		ssize_t len = read_all(args[0], &buf);
		char why[160];
		int v;

		if (len < 0) {
			printf("read failed: %s\n", ename((int)-len));
			return 0;
		}
		v = which_version(buf, (size_t)len, atol(args[1]), n_children, why, sizeof(why), NULL);
		free(buf);
		if (v >= 0)
			printf("version %d\n", v);
		else
			printf("%s\n", why);
		return 0;
	}

	results = mmap(NULL, (size_t)(MAXN + 2) * 256 + 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED)
		return 2;
	done = (volatile int *)results[MAXN + 1];
	*done = 0;
	open_began = mmap(NULL, 2 * MAXN * sizeof(int64_t), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (open_began == MAP_FAILED)
		return 2;
	open_done = open_began + MAXN;
	for (i = 0; i < 2 * MAXN; i++)
		open_began[i] = INT64_MAX;
	if (!strcmp(mode, "write") && write_version(args[0], atol(args[1]), n_children, 1, 0)) {
		fprintf(stderr, "race: cannot write the first version: %s\n", results[n_children]);
		return 2;
	}
	if (pipe(ready_fd) || pipe(go_fd))
		return 2;
	fflush(stdout);
	int nproc = n_children + !strcmp(mode, "write");
	for (i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 2;
		if (pids[i] > 0)
			continue;
		snprintf(results[i], 256, "did not finish");
		if (i == n_children)
			reader(args[0], atol(args[1]), done);
		else if (!strcmp(mode, "mkdir"))
			child_mkdir(i, args);
		else if (!strcmp(mode, "append"))
			child_append(i, args);
		else if (!strcmp(mode, "write"))
			child_write(i, args);
		else if (!strcmp(mode, "mkver"))
			child_mkver(i, args);
		else if (!strcmp(mode, "exec"))
			child_exec(i, args, nargs);
		_exit(0);
	}
	close(ready_fd[1]);
	close(go_fd[0]);
	for (i = 0; i < nproc; i++) {
		char c;
		if (read(ready_fd[0], &c, 1) != 1)
			break; /* a child died before it was ready: start the rest anyway */
	}
	close(go_fd[1]);
	for (i = 0; i < n_children; i++) {
		if (waitpid(pids[i], &status, 0) < 0)
			return 2;
		if (!strcmp(mode, "exec"))
			printf("child %d: exit %d\n", i,
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		else
			printf("child %d: %s\n", i, results[i]);
	}
	if (nproc > n_children) {
		*done = 1;
		waitpid(pids[n_children], &status, 0);
		printf("reader: %s\n", results[n_children]);
	}
	return 0;
}
