/*
 * append_metric.c - log metric points from C with write(2) through O_APPEND,
 * as any program would.
 *
 *   append_metric [-r] [-s] [-k] [-v VALUE] [-f FIRST] PATH COUNT
 *
 * writes COUNT lines to PATH.  Line i (from 0) is "VALUE\n" when -v is given,
 * else "<FIRST+i>.25\n" (FIRST defaults to 0), so that every point can be told
 * apart; with -k it is "<value> <FIRST+i>\n" (the VALUE STEP form).
 *   -r  open and close PATH for every line, as `echo v >> PATH` does;
 *       otherwise one open for all lines
 *   -s  send every line in two write calls, split inside the value, so that
 *       the daemon has to join the halves
 * Every write must return its full length; the first that does not ends the
 * program with a message and status 1.  Nothing is printed on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_full(int fd, const char *buf, size_t len, long long line)
{
	ssize_t n = write(fd, buf, len);

	if (n < 0) {
		fprintf(stderr, "append_metric: line %lld: write: %s\n", line, strerror(errno));
		return -1;
	}
	if ((size_t)n != len) {
		fprintf(stderr, "append_metric: line %lld: short write (%zd of %zu)\n", line, n,
			len);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *value = NULL, *path;
	long long first = 0, count, i;
	int reopen = 0, split = 0, with_step = 0, opt, fd = -1;
	const int flags = O_WRONLY | O_CREAT | O_APPEND;

	while ((opt = getopt(argc, argv, "rskv:f:")) != -1) {
		switch (opt) {
		case 'r':
			reopen = 1;
			break;
		case 's':
			split = 1;
			break;
		case 'k':
			with_step = 1;
			break;
		case 'v':
			value = optarg;
			break;
		case 'f':
			first = atoll(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	path = argv[optind];
	count = atoll(argv[optind + 1]);

	for (i = 0; i < count; i++) {
		char line[256];
		int len;

		if (value)
			len = snprintf(line, sizeof(line), "%s", value);
		else
			len = snprintf(line, sizeof(line), "%lld.25", first + i);
		if (with_step)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %lld", first + i);
		line[len++] = '\n';

		if (fd < 0) {
			fd = open(path, flags, 0644);
			if (fd < 0) {
				fprintf(stderr, "append_metric: line %lld: open '%s': %s\n", i,
					path, strerror(errno));
				return 1;
			}
		}
		if (split) {
			if (write_full(fd, line, 1, i) ||
			    write_full(fd, line + 1, (size_t)len - 1, i))
				return 1;
		} else if (write_full(fd, line, (size_t)len, i)) {
			return 1;
		}
		if (reopen) {
			if (close(fd) < 0) {
				fprintf(stderr, "append_metric: line %lld: close: %s\n", i,
					strerror(errno));
				return 1;
			}
			fd = -1;
		}
	}
	if (fd >= 0 && close(fd) < 0) {
		fprintf(stderr, "append_metric: close: %s\n", strerror(errno));
		return 1;
	}
	return 0;

usage:
	fprintf(stderr, "usage: append_metric [-r] [-s] [-k] [-v VALUE] [-f FIRST] PATH COUNT\n");
	return 2;
}
