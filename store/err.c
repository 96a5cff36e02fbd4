/* err.c - see err.h. */
#include "err.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_fd = 2;

const char *mlfs_strerror(int r)
{
	switch (r) {
	case MLFS_E_CORRUPT:
		return "index record is damaged";
	case MLFS_E_FORMAT:
		return "store has an unknown format version";
	case MLFS_E_LOCKED:
		return "store is already served by another mlfs daemon";
	case MLFS_E_NOTSTORE:
		return "not an mlfs store";
	}
	if (r < 0 && r > MLFS_E_BASE)
		return strerror(-r);
	return "unknown error";
}

int mlfs_errno(int r)
{
	if (r < 0 && r > MLFS_E_BASE)
		return -r;
	if (r == MLFS_E_LOCKED)
		return EBUSY;
	return EIO;
}

int mlfs_log_open(const char *path)
{
	int fd;

	if (!path) {
		if (log_fd != 2)
			close(log_fd);
		log_fd = 2;
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (log_fd != 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

static void log_line(const char *fmt, va_list ap, const char *suffix)
{
	char buf[2048];
	int n, saved = errno;

	n = snprintf(buf, sizeof(buf), "mlfs: ");
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (n >= (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	if (suffix)
		n += snprintf(buf + n, sizeof(buf) - n, ": %s", suffix);
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(log_fd, buf, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}

int log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
	return 0;
}

int log_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap, mlfs_strerror(r));
	va_end(ap);
	return r;
}
