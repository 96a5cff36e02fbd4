/*
 * errno_of.c - perform one file operation and print how it ended.
 *
 * Shell tools report failures in words that vary between tools and locales;
 * the mount tests need the errno itself.  This helper does one operation and
 * prints exactly one word on stdout: "OK" on success, or the errno's symbolic
 * name ("EPERM", "EINVAL", ...).  When the operation has several steps (open,
 * write, close), the first step that fails decides, and that step is named on
 * stderr.  The exit status is 0 whenever the operation was carried out,
 * whether it failed or not, and 2 for a usage error.
 *
 *   errno_of open PATH FLAGS          FLAGS: letters r w c t a x (read, write,
 *                                     create, truncate, append, exclusive)
 *   errno_of write PATH DATA          open(O_WRONLY|O_CREAT|O_TRUNC), one write, close
 *   errno_of append PATH DATA         open(O_WRONLY|O_CREAT|O_APPEND), one write, close
 *   errno_of pwrite PATH OFFSET DATA  open(O_WRONLY), pwrite at OFFSET, close
 *   errno_of read PATH                open(O_RDONLY), read to the end, close
 *   errno_of truncate PATH LENGTH     truncate(2)
 *   errno_of ftruncate PATH LENGTH    open(O_WRONLY), ftruncate(2), close
 *   errno_of mkdir PATH
 *   errno_of rmdir PATH
 *   errno_of unlink PATH
 *   errno_of rename FROM TO
 *   errno_of symlink TARGET LINKPATH
 *   errno_of link FROM TO
 *   errno_of chmod PATH OCTAL_MODE
 *   errno_of mknod PATH               a regular file by mknod(2)
 *
 * DATA is written as given (bash's $'0.93\n' passes a newline).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct errname {
	int code;
	const char *name;
};

static const struct errname errnames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {ERANGE, "ERANGE"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENODATA, "ENODATA"},
    {ENOTSUP, "ENOTSUP"},
    {EBADMSG, "EBADMSG"},
    {EOVERFLOW, "EOVERFLOW"},
    {ENOTCONN, "ENOTCONN"},
    {EDQUOT, "EDQUOT"},
    {ESTALE, "ESTALE"},
    {ECONNABORTED, "ECONNABORTED"},
    {ENOTRECOVERABLE, "ENOTRECOVERABLE"},
};

static const char *errname(int code)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].code == code)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "E%d", code);
	return buf;
}

/* Print the outcome and return the process's exit status. */
static int report(const char *step, int code)
{
	if (code == 0) {
		puts("OK");
	} else {
		puts(errname(code));
		fprintf(stderr, "errno_of: %s: %s\n", step, strerror(code));
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: errno_of OP ARGS... (see the top of errno_of.c)\n");
	return 2;
}

static int parse_flags(const char *s, int *ret)
{
	int rd = 0, wr = 0, flags = 0;

	for (; *s; s++) {
		switch (*s) {
		case 'r':
			rd = 1;
			break;
		case 'w':
			wr = 1;
			break;
		case 'c':
			flags |= O_CREAT;
			break;
		case 't':
			flags |= O_TRUNC;
			break;
		case 'a':
			flags |= O_APPEND;
			wr = 1;
			break;
		case 'x':
			flags |= O_EXCL;
			break;
		default:
			return -1;
		}
	}
	if (rd && wr)
		flags |= O_RDWR;
	else if (wr)
		flags |= O_WRONLY;
	else
		flags |= O_RDONLY;
	*ret = flags;
	return 0;
}

/* open, optionally write data at off (off < 0: plain write), close. */
static int open_write_close(const char *path, int flags, const char *data, off_t off)
{
	size_t len = strlen(data), done = 0;
	int fd, e;

	fd = open(path, flags, 0644);
	if (fd < 0)
		return report("open", errno);
	while (done < len) {
		ssize_t n = off < 0 ? write(fd, data + done, len - done)
				    : pwrite(fd, data + done, len - done, off + (off_t)done);
		if (n < 0) {
			e = errno;
			close(fd);
			return report("write", e);
		}
		if (n == 0) {
			close(fd);
			return report("write", EIO);
		}
		done += (size_t)n;
	}
	if (close(fd) < 0)
		return report("close", errno);
	return report("", 0);
}

static int read_all(const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd, e;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return report("open", errno);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0) {
		e = errno;
		close(fd);
		return report("read", e);
	}
	if (close(fd) < 0)
		return report("close", errno);
	return report("", 0);
}

static int parse_off(const char *s, off_t *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || end == s)
		return -1;
	*ret = (off_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *op;
	off_t off;
	int flags, fd, e;

	if (argc < 3)
		return usage();
	op = argv[1];

	if (!strcmp(op, "open") && argc == 4) {
		if (parse_flags(argv[3], &flags))
			return usage();
		fd = open(argv[2], flags, 0644);
		if (fd < 0)
			return report("open", errno);
		if (close(fd) < 0)
			return report("close", errno);
		return report("", 0);
	}
	if (!strcmp(op, "write") && argc == 4)
		return open_write_close(argv[2], O_WRONLY | O_CREAT | O_TRUNC, argv[3], -1);
	if (!strcmp(op, "append") && argc == 4)
		return open_write_close(argv[2], O_WRONLY | O_CREAT | O_APPEND, argv[3], -1);
	if (!strcmp(op, "pwrite") && argc == 5) {
		if (parse_off(argv[3], &off) || off < 0)
			return usage();
		return open_write_close(argv[2], O_WRONLY, argv[4], off);
	}
	if (!strcmp(op, "read") && argc == 3)
		return read_all(argv[2]);
	if (!strcmp(op, "truncate") && argc == 4) {
		if (parse_off(argv[3], &off))
			return usage();
		return report("truncate", truncate(argv[2], off) ? errno : 0);
	}
	if (!strcmp(op, "ftruncate") && argc == 4) {
		if (parse_off(argv[3], &off))
			return usage();
		fd = open(argv[2], O_WRONLY);
		if (fd < 0)
			return report("open", errno);
		if (ftruncate(fd, off) < 0) {
			e = errno;
			close(fd);
			return report("ftruncate", e);
		}
		if (close(fd) < 0)
			return report("close", errno);
		return report("", 0);
	}
	if (!strcmp(op, "mkdir") && argc == 3)
		return report("mkdir", mkdir(argv[2], 0755) ? errno : 0);
	if (!strcmp(op, "rmdir") && argc == 3)
		return report("rmdir", rmdir(argv[2]) ? errno : 0);
	if (!strcmp(op, "unlink") && argc == 3)
		return report("unlink", unlink(argv[2]) ? errno : 0);
	if (!strcmp(op, "rename") && argc == 4)
		return report("rename", rename(argv[2], argv[3]) ? errno : 0);
	if (!strcmp(op, "symlink") && argc == 4)
		return report("symlink", symlink(argv[2], argv[3]) ? errno : 0);
	if (!strcmp(op, "link") && argc == 4)
		return report("link", link(argv[2], argv[3]) ? errno : 0);
	if (!strcmp(op, "chmod") && argc == 4) {
		char *end;
		long mode = strtol(argv[3], &end, 8);
		if (*end || end == argv[3])
			return usage();
		return report("chmod", chmod(argv[2], (mode_t)mode) ? errno : 0);
	}
	if (!strcmp(op, "mknod") && argc == 3)
		return report("mknod", mknod(argv[2], S_IFREG | 0644, 0) ? errno : 0);
	return usage();
}
