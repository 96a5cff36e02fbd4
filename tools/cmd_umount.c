/* cmd_umount.c - mlfs umount MOUNTPOINT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"

static const char usage[] = "usage: mlfs umount MOUNTPOINT\n\n"
			    "Unmount, and return once the daemon has put everything it\n"
			    "acknowledged on disk and exited.\n";

/* The daemon's pid, from MOUNTPOINT/.mlfs/pid; 0 if it cannot be read. */
static pid_t daemon_pid(const char *mnt)
{
	char path[PATH_MAX], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/.mlfs/pid", mnt);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? (pid_t)atoi(buf) : 0;
}

/* Gone, or a zombie that its parent has yet to reap: either way it has finished. */
static bool finished(pid_t pid)
{
	char path[64], buf[256];
	char *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

static int run_fusermount(const char *mnt)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", mnt, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int cmd_umount(int argc, char **argv)
{
	pid_t pid;
	int r;

	if (wants_help(argc, argv, usage))
		return 0;
	if (argc != 2)
		return usage_error(usage);
	pid = daemon_pid(argv[1]);
	r = run_fusermount(argv[1]);
	if (r) {
		fprintf(stderr, "mlfs: cannot unmount '%s'%s\n", argv[1],
			r == 127 ? ": fusermount3 is missing (install fuse3)" : "");
		return 1;
	}
	/* The daemon flushes the store after the unmount; wait for it to finish. */
	for (int i = 0; pid > 0 && i < 6000; i++) {
		if (finished(pid))
			return 0;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	if (pid > 0) {
		fprintf(stderr, "mlfs: daemon %d is still running after 60 s\n", (int)pid);
		return 1;
	}
	return 0;
}
