/* store.c - see store.h. */
#include "store.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "registry.h"

#define MARKER "mlfs-store"
#define MARKER_TEXT "mlfs store format 1\n"

int64_t mlfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mlfs_op_init(struct mlfs_op *op, uint32_t uid, uint32_t gid)
{
	op->uid = uid;
	op->gid = gid;
	op->now_ns = mlfs_now_ns();
	op->why[0] = 0;
}

int mlfs_refuse(struct mlfs_op *op, int r, const char *fmt, ...)
{
	va_list ap;

	if (op) {
		va_start(ap, fmt);
		vsnprintf(op->why, sizeof(op->why), fmt, ap);
		va_end(ap);
	}
	return r;
}

static int path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

static int write_marker(const char *dir)
{
	char path[PATH_MAX];
	int fd, r;

	r = path_join(path, sizeof(path), dir, MARKER);
	if (r)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = 0;
	if (write(fd, MARKER_TEXT, strlen(MARKER_TEXT)) != (ssize_t)strlen(MARKER_TEXT) ||
	    fsync(fd) < 0)
		r = -EIO;
	close(fd);
	return r;
}

static int check_marker(const char *dir)
{
	char path[PATH_MAX], buf[64] = "";
	int fd, r;
	ssize_t n;

	r = path_join(path, sizeof(path), dir, MARKER);
	if (r)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? MLFS_E_NOTSTORE : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	if (strncmp(buf, "mlfs store format ", 18) != 0)
		return MLFS_E_NOTSTORE;
	if (strcmp(buf, MARKER_TEXT) != 0)
		return MLFS_E_FORMAT;
	return 0;
}

static int make_root(struct mlfs_index *idx)
{
	struct mlfs_inode root = { 0 };
	MDB_txn *txn;
	int64_t now = mlfs_now_ns();
	int r;

	r = mlfs_txn_begin(idx, true, &txn);
	if (r)
		return r;
	root.kind = MLFS_K_ROOT;
	/* Like /tmp: anyone may add experiments, only their owners remove or rename them. */
	root.mode = S_IFDIR | 01777;
	root.uid = getuid();
	root.gid = getgid();
	root.ino = MLFS_ROOT_INO;
	root.parent = MLFS_ROOT_INO;
	root.atime_ns = root.mtime_ns = root.ctime_ns = now;
	r = mlfs_ino_put(txn, idx, &root, NULL, 0);
	if (r == 0) {
		/* The registry's folder; the store is not open yet, so a bare one will do. */
		struct mlfs_store bare = { .idx = idx };
		struct mlfs_op op;

		mlfs_op_init(&op, root.uid, root.gid);
		r = mlfs_reg_init(txn, &bare, &op);
	}
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	return mlfs_txn_commit(txn);
}

int mlfs_mkdirs(const char *dir)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The caller says what failed: nothing here is logged. */
int mlfs_store_init(const char *dir)
{
	char path[PATH_MAX];
	struct mlfs_index *idx;
	struct mlfs_chunkstore *cs;
	DIR *d;
	int r;

	if (check_marker(dir) == 0 || check_marker(dir) == MLFS_E_FORMAT)
		return -EEXIST;
	r = mlfs_mkdirs(dir);
	if (r)
		return r;
	d = opendir(dir);
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return -ENOTEMPTY;
		}
	}
	closedir(d);
	r = path_join(path, sizeof(path), dir, "index");
	if (r)
		return r;
	r = mlfs_index_open(path, MLFS_IDX_CREATE, &idx);
	if (r)
		return r;
	r = make_root(idx);
	mlfs_index_free(idx);
	if (r)
		return r;
	r = mlfs_chunkstore_open(dir, &cs);
	if (r)
		return r;
	mlfs_chunkstore_free(cs);
	/* The marker goes last: a store without it was never finished. */
	return write_marker(dir);
}

static void make_reserve(const char *dir);

static int take_lock(const char *dir, int *ret_fd)
{
	char path[PATH_MAX];
	int fd, r;

	r = path_join(path, sizeof(path), dir, "lock");
	if (r)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? MLFS_E_LOCKED : -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int mlfs_store_open(const char *dir, unsigned flags, struct mlfs_store **ret)
{
	char path[PATH_MAX];
	struct mlfs_store *s;
	unsigned iflags = 0;
	int r;

	r = check_marker(dir);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->tmp_fd = -1;
	s->flags = flags;
	s->dir = realpath(dir, NULL);
	if (!s->dir) {
		r = -errno;
		goto fail;
	}
	if (flags & MLFS_STORE_DAEMON) {
		r = take_lock(s->dir, &s->lock_fd);
		if (r)
			goto fail;
		make_reserve(s->dir);
		iflags |= MLFS_IDX_NOSYNC;
	}
	if (flags & MLFS_STORE_RDONLY)
		iflags |= MLFS_IDX_RDONLY;
	r = path_join(path, sizeof(path), s->dir, "index");
	if (r)
		goto fail;
	r = mlfs_index_open(path, iflags, &s->idx);
	if (r)
		goto fail;
	r = mlfs_chunkstore_open(s->dir, &s->cs);
	if (r)
		goto fail;
	r = path_join(path, sizeof(path), s->dir, "tmp");
	if (r)
		goto fail;
	s->tmp_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tmp_fd < 0) {
		r = -errno;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	mlfs_store_free(s);
	return r;
}

#define RESERVE (8 << 20)

static void make_reserve(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), dir, "reserve"))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, RESERVE)) {
		/* no room for it: the disk is full already */
	}
	close(fd);
}

int mlfs_store_release_reserve(struct mlfs_store *s)
{
	char path[PATH_MAX];

	if (path_join(path, sizeof(path), s->dir, "reserve"))
		return 0;
	if (unlink(path) < 0)
		return 0;
	log_info("the disk under '%s' is full: released its 8 MiB reserve for deletes", s->dir);
	return 1;
}

void mlfs_store_free(struct mlfs_store *s)
{
	if (!s)
		return;
	if (s->idx && atomic_load(&s->dirty))
		mlfs_store_sync(s);
	mlfs_index_free(s->idx);
	mlfs_chunkstore_free(s->cs);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

void mlfs_store_dirtied(struct mlfs_store *s)
{
	atomic_fetch_add(&s->dirty, 1);
}

int mlfs_store_sync(struct mlfs_store *s)
{
	int n = atomic_exchange(&s->dirty, 0);
	int r = atomic_load(&s->poison);

	if (r)
		return r;
	r = mlfs_chunk_sync(s->cs);
	if (r)
		goto fail;
	if (n || !(s->flags & MLFS_STORE_DAEMON)) {
		r = mlfs_index_sync(s->idx);
		if (r)
			goto fail;
	}
	return 0;
fail:
	atomic_store(&s->poison, r);
	return log_errno(r, "cannot flush the store '%s'; it takes no more writes", s->dir);
}

int mlfs_store_commit(struct mlfs_store *s, MDB_txn *txn)
{
	int r = atomic_load(&s->poison);

	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	r = mlfs_txn_commit(txn);

	if (r == 0)
		mlfs_store_dirtied(s);
	return r;
}
