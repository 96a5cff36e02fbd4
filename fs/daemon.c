/* daemon.c - see daemon.h. */
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "err.h"
#include "gc.h"
#include "loop.h"
#include "store.h"
#include "tree.h"

/* The syncer: flushes the store about once a second while commits come in. */
static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cond = PTHREAD_COND_INITIALIZER;
static bool sync_stop; /* protected by sync_lock */

/*
 * Reading a large part of the index (cat of a 10M-point metric) maps its
 * pages into the daemon; above this, the syncer drops the mapping again.
 */
#define TRIM_ABOVE (40ul << 20)

/*
 * Workers for the requests that may block (loop.h): artifact I/O and
 * commits, fsync.  A few, so that copies into different files overlap.
 */
#define WORKERS 4

static unsigned long resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (unsigned long)sysconf(_SC_PAGESIZE);
}

static void *syncer(void *arg)
{
	struct mlfs_store *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&sync_lock);
	while (!sync_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sync_cond, &sync_lock, &ts);
		if (sync_stop)
			break;
		pthread_mutex_unlock(&sync_lock);
		if (atomic_load(&s->dirty))
			mlfs_store_sync(s);
		if (resident_bytes() > TRIM_ABOVE)
			mlfs_index_trim(s->idx);
		pthread_mutex_lock(&sync_lock);
	}
	pthread_mutex_unlock(&sync_lock);
	return NULL;
}

/* Tell the waiting parent (or stderr in the foreground) how the start went. */
static void report(int fd, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	msg[0] = (char)status;
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	if (fd >= 0) {
		if (write(fd, msg, n + 1) < 0) {
			/* the parent is gone; nothing to tell */
		}
		close(fd);
	} else if (n) {
		fprintf(stderr, "%s\n", msg + 1);
	}
}

/* In the parent: wait for the child's word and return the exit status. */
static int wait_child(int fd, pid_t pid)
{
	char msg[1024];
	ssize_t n, got = 0;
	int st;

	while ((n = read(fd, msg + got, sizeof(msg) - 1 - got)) > 0)
		got += n;
	close(fd);
	if (got == 0) {
		waitpid(pid, &st, 0);
		fprintf(stderr, "mlfs: the daemon died while starting; see its log\n");
		return 1;
	}
	msg[got] = 0;
	if (msg[1])
		fprintf(stderr, "%s\n", msg + 1);
	if (msg[0])
		waitpid(pid, &st, 0);
	return msg[0];
}

static bool inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return !strncmp(dir, path, n) && (path[n] == '/' || path[n] == 0);
}

int mlfs_daemon_run(const struct mlfs_daemon_opts *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct mlfs_store *s = NULL;
	char mnt[PATH_MAX], opts[PATH_MAX + 64], logpath[PATH_MAX + 8];
	pthread_t sync_thread;
	bool mounted = false, syncing = false;
	int pipefd[2] = { -1, -1 }, r, status = 1;
	pid_t pid;

	if (!realpath(o->mountpoint, mnt)) {
		fprintf(stderr, "mlfs: mount point '%s' does not exist\n", o->mountpoint);
		return 1;
	}
	if (!o->foreground) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			perror("mlfs: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("mlfs: fork");
			return 1;
		}
		if (pid > 0) {
			close(pipefd[1]);
			return wait_child(pipefd[0], pid);
		}
		close(pipefd[0]);
		setsid();
	}
	r = mlfs_store_open(o->store, MLFS_STORE_DAEMON, &s);
	if (r) {
		report(pipefd[1], 1, "mlfs: cannot serve '%s': %s", o->store, mlfs_strerror(r));
		return 1;
	}
	/* No file is open yet: what an earlier daemon left open and deleted can go. */
	r = mlfs_orphans_purge(s);
	if (r < 0)
		log_errno(r, "cannot remove the files deleted while open before the last stop");
	/* Pending chunks of this daemon's open files are told apart from a dead one's (gc.h). */
	r = mlfs_gc_instance(s, NULL);
	if (r) {
		report(pipefd[1], 1, "mlfs: cannot write the lock file of '%s': %s", o->store,
		       mlfs_strerror(r));
		goto out;
	}
	if (inside(s->dir, mnt)) {
		report(pipefd[1], 1, "mlfs: will not mount '%s' inside its own store '%s'", mnt,
		       s->dir);
		goto out;
	}
	if (!o->foreground) {
		snprintf(logpath, sizeof(logpath), "%s/log", s->dir);
		mlfs_log_open(logpath);
	}
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=mlfs", s->dir);
	if (fuse_opt_add_arg(&args, "mlfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts) ||
	    (o->fuse_opts &&
	     (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, o->fuse_opts))) ||
	    (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		report(pipefd[1], 1, "mlfs: out of memory");
		goto out;
	}
	se = fuse_session_new(&args, &mlfs_ops, sizeof(mlfs_ops), NULL);
	if (!se) {
		report(pipefd[1], 1, "mlfs: cannot start a FUSE session (bad -o option?)");
		goto out;
	}
	mlfs_ops_set_store(s, se);
	if (fuse_set_signal_handlers(se) || fuse_session_mount(se, mnt)) {
		report(pipefd[1], 1, "mlfs: cannot mount '%s' (is /dev/fuse there, and fuse3 installed?)",
		       mnt);
		goto out;
	}
	mounted = true;
	{
		sigset_t set, old;

		/* SIGTERM and the like are for the loop thread: they end its read (loop.c). */
		sigemptyset(&set);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		if (pthread_create(&sync_thread, NULL, syncer, s) == 0)
			syncing = true;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	log_info("serving '%s' at '%s' (pid %d)", s->dir, mnt, (int)getpid());
	if (!o->foreground) {
		int null = open("/dev/null", O_RDWR);

		if (chdir("/") < 0) {
			/* harmless: nothing uses the working directory */
		}
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	report(pipefd[1], 0, "");
	pipefd[1] = -1;
	r = mlfs_loop_run(se, WORKERS);
	status = r < 0 ? 1 : 0;
out:
	if (syncing) {
		pthread_mutex_lock(&sync_lock);
		sync_stop = true;
		pthread_cond_signal(&sync_cond);
		pthread_mutex_unlock(&sync_lock);
		pthread_join(sync_thread, NULL);
	}
	if (s && mlfs_store_sync(s))
		status = 1;
	if (se) {
		if (mounted) {
			fuse_remove_signal_handlers(se);
			fuse_session_unmount(se);
		}
		fuse_session_destroy(se);
	}
	fuse_opt_free_args(&args);
	if (s)
		log_info("stopped serving '%s'", s->dir);
	mlfs_store_free(s);
	if (pipefd[1] >= 0)
		report(pipefd[1], 1, "mlfs: the daemon stopped before it was ready");
	return status;
}
