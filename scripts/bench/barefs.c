/*
 * barefs.c - the bench's baseline: a bare in-memory FUSE file system.
 *
 *     barefs [-s] [-k] MOUNTPOINT
 *
 * Serves a tree of folders and regular files held in memory, on libfuse3's
 * low-level API, in the foreground until it is unmounted or sent SIGTERM or
 * SIGINT.  It is meant to cost what any plain FUSE file system costs and no
 * more, so that `make bench` can tell what mlfs adds: every operation is the
 * textbook one (lookup, getattr, setattr, mkdir, mknod, create, open, read,
 * write, flush, release, fsync, unlink, rmdir, rename, readdir, statfs) and
 * nothing is tuned.  open is answered (no FUSE_CAP_NO_OPEN_SUPPORT), flush
 * is implemented, files go through the page cache without writeback caching,
 * names and attributes are cached for one second, and the request loop is
 * libfuse's default multi-threaded one (-s: the single-threaded one).
 *
 * -k sets keep_cache on every open, so that a file read twice is read from
 * the page cache the second time: the bench shows it as a reference for warm
 * reads through FUSE, not as a baseline.
 *
 * Memory: every node ever made stays allocated until exit (inode numbers are
 * indexes into one table), so a forgotten or unlinked node never dangles.
 * One mutex guards the whole tree.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT 1.0

struct node {
	fuse_ino_t ino, parent;
	char *name;
	struct stat st;
	char *data; /* regular files: st.st_size bytes of content */
	size_t cap;
	struct node *first, *next; /* children of a folder, siblings */
	int linked;                /* 0 once unlinked or removed */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node **nodes; /* protected by lock; nodes[ino], 0 unused */
static size_t n_nodes, cap_nodes;
static int keep_cache; /* -k */

static struct node *node_of(fuse_ino_t ino)
{
	return ino < n_nodes ? nodes[ino] : NULL;
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static struct node *node_new(struct node *parent, const char *name, mode_t mode, uid_t uid,
			     gid_t gid)
{
	struct node *n;

	if (n_nodes == cap_nodes) {
		size_t c = cap_nodes ? 2 * cap_nodes : 1024;
		struct node **nn = realloc(nodes, c * sizeof(*nn));

		if (!nn)
			return NULL;
		nodes = nn;
		cap_nodes = c;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->ino = n_nodes;
	n->parent = parent ? parent->ino : n->ino;
	n->st.st_ino = n->ino;
	n->st.st_mode = mode;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = uid;
	n->st.st_gid = gid;
	n->st.st_blksize = 4096;
	now(&n->st.st_mtim);
	n->st.st_atim = n->st.st_ctim = n->st.st_mtim;
	n->linked = 1;
	if (parent) {
		n->next = parent->first;
		parent->first = n;
		now(&parent->st.st_mtim);
	}
	nodes[n_nodes++] = n;
	return n;
}

static struct node *child(struct node *dir, const char *name)
{
	for (struct node *c = dir->first; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void detach(struct node *dir, struct node *n)
{
	for (struct node **p = &dir->first; *p; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			break;
		}
	}
	n->next = NULL;
	now(&dir->st.st_mtim);
}

static void reply_entry(fuse_req_t req, struct node *n)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	e.attr = n->st;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void bare_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct node *d, *n = NULL;

	pthread_mutex_lock(&lock);
	d = node_of(parent);
	if (d && S_ISDIR(d->st.st_mode))
		n = child(d, name);
	if (n) {
		reply_entry(req, n);
	} else {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = TIMEOUT;
		fuse_reply_entry(req, &e);
	}
	pthread_mutex_unlock(&lock);
}

static void bare_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = node_of(ino);
	if (n)
		fuse_reply_attr(req, &n->st, TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
	pthread_mutex_unlock(&lock);
}

static int resize(struct node *n, size_t size)
{
	if (size > n->cap) {
		size_t c = n->cap ? n->cap : 4096;
		char *d;

		while (c < size)
			c *= 2;
		d = realloc(n->data, c);
		if (!d)
			return ENOMEM;
		n->data = d;
		n->cap = c;
	}
	if (size > (size_t)n->st.st_size)
		memset(n->data + n->st.st_size, 0, size - n->st.st_size);
	n->st.st_size = size;
	n->st.st_blocks = (size + 511) / 512;
	return 0;
}

static void bare_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			 struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	pthread_mutex_lock(&lock);
	n = node_of(ino);
	if (!n) {
		r = ENOENT;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(n->st.st_mode)) {
			r = EISDIR;
			goto out;
		}
		r = resize(n, attr->st_size);
		if (r)
			goto out;
		now(&n->st.st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->st.st_mode = (n->st.st_mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->st.st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->st.st_gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		n->st.st_atim = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		n->st.st_mtim = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		now(&n->st.st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		now(&n->st.st_mtim);
	now(&n->st.st_ctim);
out:
	if (r)
		fuse_reply_err(req, r);
	else
		fuse_reply_attr(req, &n->st, TIMEOUT);
	pthread_mutex_unlock(&lock);
}

/* Make name in parent; replies with the entry (and, for create, the open file). */
static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *d, *n;
	struct fuse_entry_param e;

	pthread_mutex_lock(&lock);
	d = node_of(parent);
	if (!d || !S_ISDIR(d->st.st_mode)) {
		fuse_reply_err(req, ENOTDIR);
	} else if (child(d, name)) {
		fuse_reply_err(req, EEXIST);
	} else if (!(n = node_new(d, name, mode, ctx->uid, ctx->gid))) {
		fuse_reply_err(req, ENOMEM);
	} else if (fi) {
		memset(&e, 0, sizeof(e));
		e.ino = n->ino;
		e.attr = n->st;
		e.attr_timeout = TIMEOUT;
		e.entry_timeout = TIMEOUT;
		fuse_reply_create(req, &e, fi);
	} else {
		reply_entry(req, n);
	}
	pthread_mutex_unlock(&lock);
}

static void bare_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make(req, parent, name, S_IFDIR | (mode & 07777), NULL);
}

static void bare_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       dev_t rdev)
{
	if (!S_ISREG(mode))
		return (void)fuse_reply_err(req, EPERM);
	make(req, parent, name, mode, NULL);
}

static void bare_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			struct fuse_file_info *fi)
{
	make(req, parent, name, S_IFREG | (mode & 07777), fi);
}

static void bare_remove(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct node *d, *n = NULL;
	int r = 0;

	pthread_mutex_lock(&lock);
	d = node_of(parent);
	if (d && S_ISDIR(d->st.st_mode))
		n = child(d, name);
	if (!n)
		r = ENOENT;
	else if (dir && !S_ISDIR(n->st.st_mode))
		r = ENOTDIR;
	else if (!dir && S_ISDIR(n->st.st_mode))
		r = EISDIR;
	else if (dir && n->first)
		r = ENOTEMPTY;
	if (r == 0) {
		detach(d, n);
		n->linked = 0;
		n->st.st_nlink = 0;
	}
	fuse_reply_err(req, r);
	pthread_mutex_unlock(&lock);
}

static void bare_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	bare_remove(req, parent, name, 0);
}

static void bare_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	bare_remove(req, parent, name, 1);
}

static void bare_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct node *d, *nd, *n = NULL, *old;
	char *nm;
	int r = 0;

	pthread_mutex_lock(&lock);
	d = node_of(parent);
	nd = node_of(newparent);
	if (d && nd && S_ISDIR(d->st.st_mode) && S_ISDIR(nd->st.st_mode))
		n = child(d, name);
	if (!n) {
		r = ENOENT;
		goto out;
	}
	old = child(nd, newname);
	if (old == n)
		goto out;
	if (old && (flags & RENAME_NOREPLACE)) {
		r = EEXIST;
		goto out;
	}
	if (old && (S_ISDIR(old->st.st_mode) ? old->first != NULL || !S_ISDIR(n->st.st_mode)
					       : S_ISDIR(n->st.st_mode))) {
		r = S_ISDIR(old->st.st_mode) ? ENOTEMPTY : EISDIR;
		goto out;
	}
	if (!(nm = strdup(newname))) {
		r = ENOMEM;
		goto out;
	}
	if (old) {
		detach(nd, old);
		old->linked = 0;
		old->st.st_nlink = 0;
	}
	detach(d, n);
	free(n->name);
	n->name = nm;
	n->parent = nd->ino;
	n->next = nd->first;
	nd->first = n;
	now(&n->st.st_ctim);
out:
	fuse_reply_err(req, r);
	pthread_mutex_unlock(&lock);
}

static void bare_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	pthread_mutex_lock(&lock);
	n = node_of(ino);
	if (!n)
		r = ENOENT;
	else if (S_ISDIR(n->st.st_mode))
		r = EISDIR;
	else if (fi->flags & O_TRUNC)
		r = resize(n, 0);
	pthread_mutex_unlock(&lock);
	if (r) {
		fuse_reply_err(req, r);
	} else {
		fi->keep_cache = keep_cache;
		fuse_reply_open(req, fi);
	}
}

static void bare_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = node_of(ino);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (off >= n->st.st_size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, n->data + off,
			       (size_t)(n->st.st_size - off) < size ? (size_t)(n->st.st_size - off)
								    : size);
	pthread_mutex_unlock(&lock);
}

static void bare_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	pthread_mutex_lock(&lock);
	n = node_of(ino);
	if (!n)
		r = ENOENT;
	else if (off + size > (size_t)n->st.st_size)
		r = resize(n, off + size);
	if (r == 0) {
		memcpy(n->data + off, buf, size);
		now(&n->st.st_mtim);
		n->st.st_ctim = n->st.st_mtim;
	}
	pthread_mutex_unlock(&lock);
	if (r)
		fuse_reply_err(req, r);
	else
		fuse_reply_write(req, size);
}

static void bare_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void bare_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void bare_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Offsets: entry i ("." 0, ".." 1, then the children) is followed by offset i + 1. */
static void bare_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	struct node *d, *c = NULL;
	char *buf;
	size_t used = 0, len;

	buf = malloc(size);
	if (!buf)
		return (void)fuse_reply_err(req, ENOMEM);
	pthread_mutex_lock(&lock);
	d = node_of(ino);
	if (!d || !S_ISDIR(d->st.st_mode)) {
		pthread_mutex_unlock(&lock);
		free(buf);
		return (void)fuse_reply_err(req, ENOTDIR);
	}
	for (off_t i = 0;; i++) {
		const struct stat *st;
		const char *name;

		if (i == 0) {
			name = ".";
			st = &d->st;
		} else if (i == 1) {
			name = "..";
			st = &node_of(d->parent)->st;
		} else {
			c = i == 2 ? d->first : c->next;
			if (!c)
				break;
			name = c->name;
			st = &c->st;
		}
		if (i < off)
			continue;
		len = fuse_add_direntry(req, buf + used, size - used, name, st, i + 1);
		if (len > size - used)
			break;
		used += len;
	}
	pthread_mutex_unlock(&lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void bare_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_blocks = sv.f_bfree = sv.f_bavail = 1 << 24;
	sv.f_files = sv.f_ffree = 1 << 24;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops bare_ops = {
	.lookup = bare_lookup,
	.getattr = bare_getattr,
	.setattr = bare_setattr,
	.mkdir = bare_mkdir,
	.mknod = bare_mknod,
	.create = bare_create,
	.unlink = bare_unlink,
	.rmdir = bare_rmdir,
	.rename = bare_rename,
	.open = bare_open,
	.read = bare_read,
	.write = bare_write,
	.flush = bare_flush,
	.release = bare_release,
	.fsync = bare_fsync,
	.readdir = bare_readdir,
	.statfs = bare_statfs,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	const char *mnt;
	int single = 0, r = 1, i;

	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "-s"))
			single = 1;
		else if (!strcmp(argv[i], "-k"))
			keep_cache = 1;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: barefs [-s] [-k] MOUNTPOINT\n");
		return 2;
	}
	mnt = argv[i];
	node_new(NULL, "", 0, 0, 0); /* ino 0: unused */
	if (!node_new(NULL, "", S_IFDIR | 0755, getuid(), getgid()))
		return 1;
	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "fsname=barefs,subtype=barefs"))
		return 1;
	se = fuse_session_new(&args, &bare_ops, sizeof(bare_ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out;
	if (fuse_session_mount(se, mnt))
		goto out_signals;
	if (single) {
		r = fuse_session_loop(se);
	} else {
		cfg = fuse_loop_cfg_create();
		r = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return r ? 1 : 0;
}
