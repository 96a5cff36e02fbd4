/*
 * ops.c - the FUSE low-level operations.
 *
 * Each operation has a helper that does the work and returns 0 or a
 * negative errno, and a callback that replies to the kernel; only the
 * callbacks reply (as libfuse's passthrough_ll does).  Refusals of calls
 * that change something are recorded with their path and sentence in the
 * refusal log (store/errlog.h), which /.mlfs/errors serves.
 *
 * Open files get a struct fh whose kind follows the inode's:
 *   FH_AFILE   an artifact: a struct mlfs_afile, committed on flush, fsync
 *              and release
 *   FH_METRIC  a metric: complete lines are stored at each write; a partial
 *              last line waits in the handle for its newline (or for close)
 *   FH_VALUE   a param, tag or status: the content written so far, applied
 *              whole at each write
 *   FH_TEXT    a snapshot of a read-only rendering (meta, /.mlfs/errors)
 * Metric, value and text files are opened with direct_io: their size and
 * content change under the page cache.
 *
 * A callback touches its fh (its lock included) only before it replies:
 * the reply can let the process close the file, and the release that
 * frees the fh then runs on another thread while this one is still here.
 */
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "afile.h"
#include "daemon.h"
#include "err.h"
#include "errlog.h"
#include "loop.h"
#include "registry.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "trash.h"
#include "tree.h"
#include "value.h"

/* How long the kernel may trust a name or attributes: the CLI's changes show within it. */
#define TIMEOUT 1.0
/* The longest unterminated metric line a handle keeps waiting for its newline. */
#define PENDING_MAX 4096

/* Virtual inodes below MLFS_FIRST_INO. */
enum { VINO_DIR = 2, VINO_ERRORS = 3, VINO_PID = 4, VINO_STATS = 6 };

enum fh_type { FH_AFILE, FH_METRIC, FH_VALUE, FH_TEXT };

struct fh {
	enum fh_type type;
	uint64_t ino;
	int kind;
	int flags;
	pthread_mutex_t lock;
	struct mlfs_afile *af;
	char *buf; /* FH_METRIC: pending line; FH_VALUE: content; FH_TEXT: snapshot */
	size_t len, cap;
	uint64_t open_size; /* FH_METRIC: size at open */
	uint64_t written;   /* FH_METRIC: bytes taken by this handle */
	bool owns_value;    /* FH_VALUE: this handle set the param */
	bool trunc_pending; /* FH_VALUE: opened with O_TRUNC, nothing applied yet */
	bool created;       /* this open made the file: an empty param, metric or tag goes at close */
	bool refused;       /* a write through this handle was refused */
	bool close_failed;  /* FH_AFILE: a close's commit failed; nothing written since */
	bool cached;        /* FH_AFILE: a reader through the kernel's page cache ... */
	uint64_t cache_gen; /* ... of the version at this content generation */
	int write_failed;   /* FH_AFILE: a write failed with this; the content is never committed */
	/*
	 * FH_AFILE: the processes that wrote through this handle.  close() in one
	 * of them commits; a close in another (a forked child closing the fds it
	 * inherited) does not, so it cannot publish a writer's half-done file.
	 */
	pid_t last_tid;
	pid_t writers_tgid[4];
	int n_writers; /* -1: too many to track, every close commits */
	struct fh *next;    /* open artifacts, protected by afiles_lock */
};

static struct mlfs_store *store;
static struct fuse_session *session;

/*
 * The content generation of each artifact when it was last opened, so that
 * an open of unchanged content keeps the kernel's page cache (warm reads at
 * page-cache speed).  A direct-mapped table: a collision only costs a cache.
 */
#define GENS 4096
static pthread_mutex_t gens_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t ino, gen;
} gens[GENS]; /* protected by gens_lock */

/* Artifact handles open for writing, so that getattr reports their size. */
static pthread_mutex_t afiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fh *afiles; /* protected by afiles_lock */

static bool artifact_open(uint64_t ino);

void mlfs_ops_set_store(struct mlfs_store *s, struct fuse_session *se)
{
	store = s;
	session = se;
	s->is_open = artifact_open;
}

/*
 * A stage was written: the model's Staging and Production links may now be
 * other inodes, or gone.  Tell the kernel to forget its entries for them.
 */
static void stage_links_changed(uint64_t stage_ino)
{
	struct mlfs_inode stage, ver;

	if (mlfs_inode_of(store, stage_ino, &stage) || mlfs_inode_of(store, stage.parent, &ver))
		return;
	fuse_lowlevel_notify_inval_entry(session, ver.parent, "Staging", 7);
	fuse_lowlevel_notify_inval_entry(session, ver.parent, "Production", 10);
}

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

static void op_from_req(fuse_req_t req, struct mlfs_op *op)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	mlfs_op_init(op, ctx->uid, ctx->gid);
}

/* Record a refusal of name in parent (name may be NULL: then parent is the subject). */
static int refused(uint64_t parent, const char *name, const struct mlfs_op *op, int r)
{
	char path[4096];
	size_t n;

	if (r >= 0)
		return r;
	if (parent == VINO_DIR || parent == VINO_ERRORS || parent == VINO_PID)
		snprintf(path, sizeof(path), ".mlfs");
	else
		mlfs_path_of(store, parent, path, sizeof(path));
	n = strlen(path);
	if (name && n + 1 < sizeof(path))
		snprintf(path + n, sizeof(path) - n, "%s%s", n ? "/" : "", name);
	mlfs_errlog_add(path, op && op->why[0] ? op->why : mlfs_strerror(r));
	return r;
}

static void reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, mlfs_errno(r));
}

static bool is_virtual(fuse_ino_t ino)
{
	return ino == VINO_DIR || ino == VINO_ERRORS || ino == VINO_PID || ino == VINO_STATS;
}

static int render_pid(char *buf, size_t cap)
{
	return snprintf(buf, cap, "%d\n", (int)getpid());
}

static int virtual_stat(fuse_ino_t ino, struct stat *st)
{
	char *text, pid[32];
	size_t len;
	int r;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = time(NULL);
	switch (ino) {
	case VINO_DIR:
		st->st_mode = S_IFDIR | 0555;
		return 0;
	case VINO_ERRORS:
		r = mlfs_errlog_render(&text, &len);
		if (r)
			return r;
		free(text);
		st->st_mode = S_IFREG | 0444;
		st->st_size = len;
		return 0;
	case VINO_PID:
		st->st_mode = S_IFREG | 0444;
		st->st_size = render_pid(pid, sizeof(pid));
		return 0;
	case VINO_STATS:
		/* Its size is known only once it is read (it walks the chunk store). */
		st->st_mode = S_IFREG | 0444;
		return 0;
	}
	return -ENOENT;
}

static bool writes(const struct fh *f)
{
	return (f->flags & O_ACCMODE) != O_RDONLY;
}

/* Whether an open of artifact ino at content gen may keep the kernel's cached pages. */
static bool keep_cache(uint64_t ino, uint64_t gen)
{
	bool keep, writer = false;

	pthread_mutex_lock(&afiles_lock);
	for (struct fh *f = afiles; f && !writer; f = f->next)
		writer = f->ino == ino && writes(f); /* its writes are in the cache, not the file's */
	pthread_mutex_unlock(&afiles_lock);
	pthread_mutex_lock(&gens_lock);
	keep = !writer && gens[ino % GENS].ino == ino && gens[ino % GENS].gen == gen;
	gens[ino % GENS].ino = ino;
	gens[ino % GENS].gen = writer ? UINT64_MAX : gen;
	pthread_mutex_unlock(&gens_lock);
	return keep;
}

/*
 * The size of an artifact that a read-write open has changed: what that
 * open has written (it shares the kernel's page cache and size, and mmap,
 * so its fstat must agree with its reads).  Write-only opens skip the page
 * cache: for them the committed size stands until their close.
 */
static void writer_view(struct stat *st)
{
	pthread_mutex_lock(&afiles_lock);
	for (struct fh *f = afiles; f; f = f->next) {
		bool dirty;
		uint64_t size;

		if (f->ino != st->st_ino || (f->flags & O_ACCMODE) != O_RDWR)
			continue;
		size = mlfs_afile_size(f->af, &dirty);
		if (dirty) {
			st->st_size = size;
			st->st_blocks = (size + 511) / 512;
			break;
		}
	}
	pthread_mutex_unlock(&afiles_lock);
}

/*
 * May a reader of artifact ino, whose handle holds the version at content
 * generation gen, go through the kernel's page cache?  The kernel keeps one
 * size and one page cache per inode, and clips page-cache reads at that
 * size, so they must belong to exactly the reader's version.  Not while a
 * write-only writer has written (its O_TRUNC set the kernel's size to 0 and
 * its writes move it up, while the file is still the old version), nor while
 * a page-cache reader of another version is open (it fills the shared cache
 * from its own version), nor if a commit came since the caller read gen
 * (the handle may hold the version before it, and the kernel will fetch the
 * size after it).  The order matters: a commit makes its writer clean only
 * after the new gen is in the index, so a writer found clean here has
 * either committed before the gen read below or not written yet.
 */
static bool reader_may_cache(uint64_t ino, uint64_t gen)
{
	struct mlfs_inode now;
	bool ok = true;

	pthread_mutex_lock(&afiles_lock);
	for (struct fh *f = afiles; f && ok; f = f->next) {
		bool dirty = false;

		if (f->ino != ino)
			continue;
		/* Once it has committed (its close), its release may come late: it is done. */
		if ((f->flags & O_ACCMODE) == O_WRONLY)
			mlfs_afile_size(f->af, &dirty);
		ok = !dirty && !(f->cached && f->cache_gen != gen);
	}
	pthread_mutex_unlock(&afiles_lock);
	return ok && mlfs_inode_of(store, ino, &now) == 0 && now.gen == gen;
}

/*
 * For tests: MLFS_TEST_READER_PAUSE_MS=N makes each reader's open of an
 * artifact wait N ms between loading its version and choosing how it reads,
 * so that a test can commit another version in between (t_races.sh).
 */
static void test_reader_pause(void)
{
	static int ms = -1; /* read once: this is on every reader's open */

	if (ms < 0) {
		const char *v = getenv("MLFS_TEST_READER_PAUSE_MS");

		ms = v && atoi(v) > 0 ? atoi(v) : 0;
	}
	if (ms)
		usleep((useconds_t)ms * 1000);
}

/* Is artifact ino open at all?  (The store asks before it deletes one: see orphans in tree.h.) */
static bool artifact_open(uint64_t ino)
{
	bool open = false;

	pthread_mutex_lock(&afiles_lock);
	for (struct fh *f = afiles; f && !open; f = f->next)
		open = f->ino == ino;
	pthread_mutex_unlock(&afiles_lock);
	return open;
}

static int do_getattr(fuse_ino_t ino, struct fuse_file_info *fi, struct stat *st)
{
	int r;

	if (is_virtual(ino))
		return virtual_stat(ino, st);
	r = mlfs_getattr(store, ino, st);
	if (r == 0 && S_ISREG(st->st_mode))
		writer_view(st);
	return r;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void mlfs_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	/* Each open file is one version: the kernel must not merge our writes. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	conn->time_gran = 1;
}

static int do_lookup(fuse_ino_t parent, const char *name, struct stat *st)
{
	if (parent == FUSE_ROOT_ID && !strcmp(name, ".mlfs"))
		return virtual_stat(VINO_DIR, st);
	if (parent == FUSE_ROOT_ID && !strcmp(name, ".trash"))
		return mlfs_getattr(store, MLFS_TRASH_INO, st);
	if (parent == VINO_DIR) {
		if (!strcmp(name, "errors"))
			return virtual_stat(VINO_ERRORS, st);
		if (!strcmp(name, "pid"))
			return virtual_stat(VINO_PID, st);
		if (!strcmp(name, "stats"))
			return virtual_stat(VINO_STATS, st);
		return -ENOENT;
	}
	if (is_virtual(parent))
		return -ENOTDIR;
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		/* NFS export asks for these to find a parent from a file handle. */
		uint64_t up = parent;
		int r = name[1] ? mlfs_parent(store, parent, &up) : 0;

		return r ? r : mlfs_getattr(store, up, st);
	}
	return mlfs_lookup(store, parent, name, strlen(name), st);
}

static void mlfs_lookup_cb(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int r = do_lookup(parent, name, &st);

	if (r == -ENOENT) {
		/*
		 * Not cached: names appear by other ways than through this kernel's
		 * own calls (a model's Staging link when a stage is written, the
		 * command line's runs), and must show at once.
		 */
		return reply_err(req, r);
	}
	if (r == -ENAMETOOLONG) {
		struct mlfs_op op;

		op_from_req(req, &op);
		mlfs_refuse(&op, r, "name is %zu bytes; the limit is 255", strlen(name));
		refused(parent, name, &op, r);
	}
	if (r)
		return reply_err(req, r);
	if (S_ISREG(st.st_mode))
		writer_view(&st); /* a lookup sets the kernel's size too */
	reply_entry(req, &st);
}

static void mlfs_getattr_cb(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int r = do_getattr(ino, fi, &st);

	if (r)
		return reply_err(req, r);
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* FUSE's setattr bits and ours. */
static const unsigned set_map[][2] = {
	{ FUSE_SET_ATTR_MODE, MLFS_SET_MODE },		{ FUSE_SET_ATTR_UID, MLFS_SET_UID },
	{ FUSE_SET_ATTR_GID, MLFS_SET_GID },		{ FUSE_SET_ATTR_SIZE, MLFS_SET_SIZE },
	{ FUSE_SET_ATTR_ATIME, MLFS_SET_ATIME },	{ FUSE_SET_ATTR_MTIME, MLFS_SET_MTIME },
	{ FUSE_SET_ATTR_ATIME_NOW, MLFS_SET_ATIME_NOW }, { FUSE_SET_ATTR_MTIME_NOW, MLFS_SET_MTIME_NOW },
};

static int do_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		      struct fuse_file_info *fi, struct stat *ret)
{
	struct mlfs_inode in;
	struct mlfs_op op;
	unsigned set = 0;
	int r;

	op_from_req(req, &op);
	if (is_virtual(ino))
		return refused(ino, NULL, &op, mlfs_refuse(&op, -EPERM, ".mlfs is read-only"));
	r = mlfs_inode_of(store, ino, &in);
	if (r)
		return r;
	/* A staged model version's files keep their content, mode and times. */
	r = mlfs_reg_writable(store, &op, ino);
	if (r)
		return refused(ino, NULL, &op, r);
	if ((to_set & FUSE_SET_ATTR_SIZE) && in.kind == MLFS_K_AFILE) {
		if (fi && fh_of(fi)->type == FH_AFILE)
			r = mlfs_afile_truncate(fh_of(fi)->af, attr->st_size);
		else
			r = mlfs_afile_truncate_ino(store, &op, ino, attr->st_size);
		if (r)
			return refused(ino, NULL, &op, r);
		to_set &= ~FUSE_SET_ATTR_SIZE;
	}
	for (size_t i = 0; i < sizeof(set_map) / sizeof(set_map[0]); i++)
		if (to_set & set_map[i][0])
			set |= set_map[i][1];
	r = mlfs_setattr(store, &op, ino, attr, set, ret);
	if (r)
		return refused(ino, NULL, &op, r);
	if (S_ISREG(ret->st_mode))
		writer_view(ret);
	return 0;
}

static void mlfs_setattr_cb(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			    struct fuse_file_info *fi)
{
	struct stat st;
	int r = do_setattr(req, ino, attr, to_set, fi, &st);

	if (r)
		return reply_err(req, r);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void mlfs_readlink_cb(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int r = mlfs_readlink(store, ino, buf, sizeof(buf));

	if (r < 0)
		return reply_err(req, r);
	fuse_reply_readlink(req, buf);
}

static void mlfs_mkdir_cb(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mlfs_op op;
	struct stat st;
	int r;

	op_from_req(req, &op);
	if (is_virtual(parent) || (parent == FUSE_ROOT_ID && !strcmp(name, ".mlfs")))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is the daemon's own");
	else
		r = mlfs_mkdir(store, &op, parent, name, strlen(name), mode, &st);
	if (r)
		return reply_err(req, refused(parent, name, &op, r));
	reply_entry(req, &st);
}

static void mlfs_unlink_cb(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	if (is_virtual(parent))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is read-only");
	else
		r = mlfs_unlink(store, &op, parent, name, strlen(name));
	/* On a full disk, deleting needs room too: the store keeps some for that. */
	if (r == -ENOSPC && mlfs_store_release_reserve(store) > 0)
		r = mlfs_unlink(store, &op, parent, name, strlen(name));
	fuse_reply_err(req, r ? mlfs_errno(refused(parent, name, &op, r)) : 0);
}

static void mlfs_rmdir_cb(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	if (is_virtual(parent) || (parent == FUSE_ROOT_ID && !strcmp(name, ".mlfs")))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is the daemon's own");
	else
		r = mlfs_rmdir(store, &op, parent, name, strlen(name));
	if (r == -ENOSPC && mlfs_store_release_reserve(store) > 0)
		r = mlfs_rmdir(store, &op, parent, name, strlen(name));
	fuse_reply_err(req, r ? mlfs_errno(refused(parent, name, &op, r)) : 0);
}

static void mlfs_symlink_cb(fuse_req_t req, const char *target, fuse_ino_t parent,
			    const char *name)
{
	struct mlfs_op op;
	struct stat st;
	int r;

	op_from_req(req, &op);
	if (is_virtual(parent))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is read-only");
	else
		r = mlfs_symlink(store, &op, parent, name, strlen(name), target, &st);
	if (r)
		return reply_err(req, refused(parent, name, &op, r));
	reply_entry(req, &st);
}

static void mlfs_rename_cb(fuse_req_t req, fuse_ino_t parent, const char *name,
			   fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	if (flags & ~RENAME_NOREPLACE)
		r = mlfs_refuse(&op, -EINVAL, "rename with exchange is not supported");
	else if (is_virtual(parent) || is_virtual(newparent))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is read-only");
	else
		r = mlfs_rename(store, &op, parent, name, strlen(name), newparent, newname,
				strlen(newname), flags);
	fuse_reply_err(req, r ? mlfs_errno(refused(parent, name, &op, r)) : 0);
}

static void mlfs_mknod_cb(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			  dev_t rdev)
{
	struct mlfs_op op;
	struct stat st;
	bool created;
	int r;

	op_from_req(req, &op);
	if (!S_ISREG(mode))
		r = mlfs_refuse(&op, -EPERM, "only regular files, folders and symlinks are kept");
	else if (is_virtual(parent))
		r = mlfs_refuse(&op, -EPERM, ".mlfs is read-only");
	else
		r = mlfs_create(store, &op, parent, name, strlen(name), mode, true, &st, &created);
	if (r)
		return reply_err(req, refused(parent, name, &op, r));
	reply_entry(req, &st);
}

static void mlfs_link_cb(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			 const char *newname)
{
	struct mlfs_op op;

	op_from_req(req, &op);
	mlfs_refuse(&op, -EPERM, "hard links are not supported; use a symlink");
	fuse_reply_err(req, mlfs_errno(refused(newparent, newname, &op, -EPERM)));
}

static void fh_free(struct fh *f)
{
	if (!f)
		return;
	if (f->af) {
		bool last = true;

		pthread_mutex_lock(&afiles_lock);
		for (struct fh **p = &afiles; *p;) {
			if (*p == f) {
				*p = f->next;
			} else {
				last &= (*p)->ino != f->ino;
				p = &(*p)->next;
			}
		}
		pthread_mutex_unlock(&afiles_lock);
		/* Off the list first: others walk it and look into f->af. */
		mlfs_afile_free(f->af);
		/* The last close of a file deleted while open lets it go. */
		if (last)
			mlfs_orphan_release(store, f->ino);
	}
	free(f->buf);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int buf_reserve(struct fh *f, size_t need)
{
	char *nb;
	size_t nc;

	if (need <= f->cap)
		return 0;
	nc = f->cap ? f->cap : 256;
	while (nc < need)
		nc *= 2;
	nb = realloc(f->buf, nc);
	if (!nb)
		return -ENOMEM;
	f->buf = nb;
	f->cap = nc;
	return 0;
}

/* A snapshot of ino's rendering into f->buf. */
static int snapshot(struct fh *f, uint64_t ino)
{
	char *text;
	size_t len;
	int r;

	if (ino == VINO_ERRORS || ino == VINO_STATS) {
		r = ino == VINO_ERRORS ? mlfs_errlog_render(&text, &len)
				       : mlfs_stats_render(store, &text, &len);
		if (r)
			return r;
		free(f->buf);
		f->buf = text;
		f->len = f->cap = len;
		return 0;
	}
	if (ino == VINO_PID) {
		r = buf_reserve(f, 32);
		if (r)
			return r;
		f->len = render_pid(f->buf, 32);
		return 0;
	}
	r = buf_reserve(f, MLFS_RENDER_MAX);
	if (r)
		return r;
	{
		struct mlfs_inode in;
		const char *payload;
		MDB_txn *txn;

		r = mlfs_txn_begin(store->idx, false, &txn);
		if (r)
			return r;
		r = mlfs_ino_get(txn, store->idx, ino, &in, &payload);
		if (r == 0)
			r = mlfs_render(store, txn, &in, payload, f->buf, f->cap);
		mlfs_txn_abort(txn);
	}
	if (r < 0)
		return r;
	f->len = r;
	return 0;
}

/* Open f as a read-only text (.mlfs files, meta): a writer is refused with sentence ro. */
static int open_text(struct fh *f, struct fuse_file_info *fi, struct mlfs_op *op, const char *ro)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return mlfs_refuse(op, -EACCES, "%s", ro);
	f->type = FH_TEXT;
	fi->direct_io = 1;
	return snapshot(f, f->ino);
}

static int do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct mlfs_op *op)
{
	struct mlfs_inode in;
	struct fh *f;
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->ino = ino;
	f->flags = fi->flags;
	if (is_virtual(ino)) {
		if (ino == VINO_DIR) {
			r = -EISDIR;
			goto fail;
		}
		r = open_text(f, fi, op, ".mlfs is read-only");
		if (r)
			goto fail;
		goto done;
	}
	r = mlfs_inode_of(store, ino, &in);
	if (r)
		goto fail;
	f->kind = in.kind;
	switch (in.kind) {
	case MLFS_K_AFILE:
		f->type = FH_AFILE;
		if (writing && (r = mlfs_reg_writable(store, op, ino)))
			goto fail;
		r = mlfs_afile_open(store, ino, fi->flags, &f->af);
		if (r)
			goto fail;
		/*
		 * Each open reads its own version: the one at in.gen, read
		 * before the handle loaded it.  A write-only open cannot be
		 * mmapped: its writes skip the page cache, so no reader finds them
		 * there before it commits, and a reader that opens meanwhile skips
		 * the cache too (and the kernel's size, which that writer moves):
		 * it reads exactly its version, but cannot mmap MAP_SHARED (ENODEV)
		 * until the writer closes (nor while a page-cache reader of an
		 * older version is still open: see reader_may_cache).  A
		 * read-write open keeps the cache, for shared mmap: readers may
		 * see its unclosed writes.
		 */
		if (!writing)
			test_reader_pause();
		if (!writing && !reader_may_cache(ino, in.gen)) {
			fi->direct_io = 1;
		} else if (!writing) {
			fi->keep_cache = keep_cache(ino, in.gen);
			f->cached = true;
			f->cache_gen = in.gen;
		}
		if ((fi->flags & O_ACCMODE) == O_WRONLY)
			fi->direct_io = 1;
		pthread_mutex_lock(&afiles_lock);
		f->next = afiles;
		afiles = f;
		pthread_mutex_unlock(&afiles_lock);
		break;
	case MLFS_K_METRIC:
		if ((fi->flags & O_TRUNC) && writing && in.size) {
			r = mlfs_refuse(op, -EPERM, "metric points cannot be changed or deleted; "
						    "append with >>");
			goto fail;
		}
		f->type = FH_METRIC;
		f->open_size = in.size;
		fi->direct_io = 1;
		/*
		 * Every complete line is stored at its write, so close has nothing
		 * to wait for: no FLUSH requests (two per `echo >>`).  A last line
		 * without its newline is taken at release.
		 */
		fi->noflush = 1;
		break;
	case MLFS_K_PARAM:
	case MLFS_K_TAG:
	case MLFS_K_XTAG:
	case MLFS_K_STATUS:
	case MLFS_K_SOURCE:
	case MLFS_K_STAGE:
		f->type = FH_VALUE;
		if (writing && (fi->flags & O_TRUNC)) {
			f->trunc_pending = true;
		} else {
			r = snapshot(f, ino);
			if (r)
				goto fail;
		}
		fi->direct_io = 1;
		break;
	case MLFS_K_RUN_META:
	case MLFS_K_EXP_META:
		r = open_text(f, fi, op, "meta is read-only");
		if (r)
			goto fail;
		break;
	default:
		r = -EISDIR;
		goto fail;
	}
done:
	fi->fh = (uintptr_t)f;
	return 0;
fail:
	fh_free(f);
	return r;
}

/*
 * An open with O_TRUNC makes the kernel set its size of the file to 0 for
 * every process; the file is not truncated until the writer's close
 * commits.  Make the kernel fetch the committed size again.
 */
static bool truncates(struct fuse_file_info *fi)
{
	return (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY &&
	       fh_of(fi)->type == FH_AFILE;
}

static void mlfs_open_cb(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	bool trunc;
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	r = do_open(req, ino, fi, &op);
	if (r)
		return reply_err(req, r == -ENOENT ? r : refused(ino, NULL, &op, r));
	/*
	 * A reader's version is the committed one: make the kernel fetch that
	 * size before its first read (a writer may have moved the kernel's).
	 * Attributes only: nothing is locked, so before the reply is safe.
	 */
	if (fh_of(fi)->type == FH_AFILE && (fi->flags & O_ACCMODE) == O_RDONLY)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
	trunc = truncates(fi); /* the handle may be gone once we have replied */
	if (fuse_reply_open(req, fi))
		fh_free(fh_of(fi)); /* the open was interrupted: no release will come */
	else if (trunc)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

static void mlfs_create_cb(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			   struct fuse_file_info *fi)
{
	bool trunc;
	struct fuse_entry_param e;
	struct mlfs_op op;
	bool created;
	int r;

	op_from_req(req, &op);
	if (is_virtual(parent)) {
		r = mlfs_refuse(&op, -EACCES, ".mlfs is read-only");
		return reply_err(req, refused(parent, name, &op, r));
	}
	memset(&e, 0, sizeof(e));
	r = mlfs_create(store, &op, parent, name, strlen(name), mode, fi->flags & O_EXCL,
			&e.attr, &created);
	if (r == 0)
		r = do_open(req, e.attr.st_ino, fi, &op);
	if (r)
		return reply_err(req, refused(parent, name, &op, r));
	fh_of(fi)->created = created;
	e.ino = e.attr.st_ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	trunc = !created && truncates(fi);
	if (fuse_reply_create(req, &e, fi))
		fh_free(fh_of(fi));
	else if (trunc)
		fuse_lowlevel_notify_inval_inode(session, e.ino, -1, 0);
}

static int read_metric(struct fh *f, off_t off, char *buf, size_t size)
{
	return mlfs_series_read(store, f->ino, off, buf, size);
}

static void mlfs_read_cb(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	struct fh *f = fh_of(fi);
	char *buf = NULL;
	int r;

	if (f->type == FH_AFILE || f->type == FH_METRIC) {
		buf = malloc(size ? size : 1);
		if (!buf)
			return reply_err(req, -ENOMEM);
		if (f->type == FH_AFILE)
			r = mlfs_afile_read(f->af, off, buf, size);
		else
			r = read_metric(f, off, buf, size);
		if (r < 0) {
			struct mlfs_op op = { .why = "" };

			snprintf(op.why, sizeof(op.why), "read failed: %s (see the daemon log)",
				 mlfs_strerror(r));
			free(buf);
			/* Damage is never handed out as bytes: EIO, and a line to say why. */
			return reply_err(req, refused(ino, NULL, &op, r == -EBADMSG ||
									      r == -ENOENT ||
									      r == MLFS_E_CORRUPT
									  ? -EIO
									  : r));
		}
		fuse_reply_buf(req, buf, r);
		free(buf);
		return;
	}
	/*
	 * Copied out under the lock, replied after the unlock: once the kernel
	 * has the reply, the reader can close and another thread free f at its
	 * release, so nothing of f may be touched after the reply.
	 */
	pthread_mutex_lock(&f->lock);
	r = (size_t)off >= f->len ? 0 : (int)(f->len - off < size ? f->len - off : size);
	buf = r ? malloc(r) : NULL;
	if (buf)
		memcpy(buf, f->buf + off, r);
	pthread_mutex_unlock(&f->lock);
	if (r && !buf)
		return reply_err(req, -ENOMEM);
	fuse_reply_buf(req, buf, r);
	free(buf);
}

/* Store the complete lines of pending + buf; keep a partial last line pending. */
static int write_metric(struct fh *f, struct mlfs_op *op, const char *buf, size_t size, off_t off)
{
	size_t keep = f->len, total, lines;
	const char *nl;
	int r;

	if (!(f->flags & O_APPEND) && (uint64_t)off < f->open_size + f->written)
		return mlfs_refuse(op, -EPERM, "metric points cannot be changed or deleted; "
					       "append with >>");
	r = buf_reserve(f, f->len + size);
	if (r)
		return r;
	memcpy(f->buf + f->len, buf, size);
	total = f->len + size;
	nl = memrchr(f->buf, '\n', total);
	lines = nl ? (size_t)(nl - f->buf) + 1 : 0;
	if (total - lines > PENDING_MAX)
		return mlfs_refuse(op, -EINVAL, "metric line longer than %d bytes", PENDING_MAX);
	if (lines) {
		r = mlfs_series_append(store, op, f->ino, f->buf, lines);
		if (r < 0) {
			f->len = keep; /* this write is not taken */
			return r;
		}
		memmove(f->buf, f->buf + lines, total - lines);
	}
	f->len = total - lines;
	f->written += size;
	return (int)size;
}

/* Apply a write to a value file: the content as a whole goes to the index. */
static int write_value(struct fh *f, struct mlfs_op *op, const char *buf, size_t size, off_t off)
{
	size_t oldlen = f->len, end;
	char *old = NULL;
	int r;

	if (f->flags & O_APPEND)
		off = f->len;
	end = off + size;
	if (end > MLFS_RENDER_MAX)
		return mlfs_refuse(op, -EINVAL, "value is longer than %d bytes", MLFS_RENDER_MAX);
	if (oldlen) {
		old = malloc(oldlen);
		if (!old)
			return -ENOMEM;
		memcpy(old, f->buf, oldlen);
	}
	r = buf_reserve(f, end);
	if (r)
		goto out;
	if ((size_t)off > f->len)
		memset(f->buf + f->len, 0, off - f->len);
	memcpy(f->buf + off, buf, size);
	if (end > f->len)
		f->len = end;
	r = mlfs_value_write(store, op, f->ino, f->buf, f->len, f->owns_value);
	if (r < 0) {
		if (oldlen)
			memcpy(f->buf, old, oldlen);
		f->len = oldlen;
		goto out;
	}
	if (r == 1)
		f->owns_value = true;
	f->trunc_pending = false;
	r = (int)size;
out:
	free(old);
	return r;
}

/* The process (thread group) of thread tid; 0 if /proc does not say. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)atoi(p + 6) : 0;
}

static void note_writer(struct fh *f, pid_t tid)
{
	pid_t g;

	pthread_mutex_lock(&f->lock);
	if (tid != f->last_tid && f->n_writers >= 0) {
		f->last_tid = tid;
		g = tgid_of(tid);
		for (int i = 0; i < f->n_writers; i++)
			if (f->writers_tgid[i] == g)
				goto out;
		if (g && f->n_writers < 4)
			f->writers_tgid[f->n_writers++] = g;
		else
			f->n_writers = -1;
	}
out:
	pthread_mutex_unlock(&f->lock);
}

/* Does a close by thread tid commit f?  Yes unless it is from a process that never wrote. */
static bool closer_wrote(struct fh *f, pid_t tid)
{
	bool wrote = false;
	pid_t g;

	pthread_mutex_lock(&f->lock);
	if (f->n_writers <= 0) {
		wrote = true; /* nothing written through write(2), or too many writers */
	} else {
		g = tgid_of(tid);
		wrote = g == 0;
		for (int i = 0; i < f->n_writers && !wrote; i++)
			wrote = f->writers_tgid[i] == g;
	}
	pthread_mutex_unlock(&f->lock);
	return wrote;
}

static void mlfs_write_cb(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct fh *f = fh_of(fi);
	bool stage = f->kind == MLFS_K_STAGE; /* f may be gone once we have replied */
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	switch (f->type) {
	case FH_AFILE:
		note_writer(f, fuse_req_ctx(req)->pid);
		r = mlfs_afile_write(f->af, off, buf, size);
		f->close_failed = false;
		if (r < 0 || (size_t)r < size)
			f->write_failed = r < 0 ? r : -EIO;
		break;
	case FH_METRIC:
		pthread_mutex_lock(&f->lock);
		r = write_metric(f, &op, buf, size, off);
		pthread_mutex_unlock(&f->lock);
		break;
	case FH_VALUE:
		pthread_mutex_lock(&f->lock);
		r = write_value(f, &op, buf, size, off);
		pthread_mutex_unlock(&f->lock);
		break;
	default:
		r = mlfs_refuse(&op, -EACCES, "read-only file");
	}
	if (r < 0) {
		f->refused = true;
		return reply_err(req, refused(ino, NULL, &op, r));
	}
	fuse_reply_write(req, r);
	if (stage)
		stage_links_changed(ino);
}

/* What close(2) waits for: the file's content becomes the file's. */
static int do_flush(fuse_req_t req, fuse_ino_t ino, struct fh *f, struct mlfs_op *op, bool final)
{
	int r = 0;

	switch (f->type) {
	case FH_AFILE:
		/*
		 * After a close that reported a failed commit, the release does not
		 * commit the same content behind the caller's back: it is dropped.
		 */
		if (final && f->close_failed)
			break;
		/* A file whose write failed is not committed half-written: it keeps its old content. */
		if (f->write_failed) {
			if (!final)
				r = mlfs_refuse(op, f->write_failed,
						"a write failed (%s): the file keeps its content "
						"from before this open",
						mlfs_strerror(f->write_failed));
			break;
		}
		if (final || !req || closer_wrote(f, fuse_req_ctx(req)->pid))
			r = mlfs_afile_commit(f->af, op);
		if (r < 0 && req && !final)
			f->close_failed = true;
		break;
	case FH_METRIC:
		pthread_mutex_lock(&f->lock);
		if (f->len && final) {
			/* The last line had no newline: at close it is complete. */
			r = mlfs_series_append(store, op, ino, f->buf, f->len);
			f->len = 0;
		}
		pthread_mutex_unlock(&f->lock);
		break;
	case FH_VALUE:
		pthread_mutex_lock(&f->lock);
		/* `: > tags/t` empties a tag; a refused write leaves it as it was. */
		if (f->trunc_pending && !f->created && !f->refused &&
		    (f->kind == MLFS_K_TAG || f->kind == MLFS_K_XTAG)) {
			r = mlfs_value_write(store, op, ino, "", 0, false);
			f->trunc_pending = false;
		}
		pthread_mutex_unlock(&f->lock);
		break;
	default:
		break;
	}
	/*
	 * A key this open made but never gave a value is not kept: at the close
	 * after a refused write (so that the refusal leaves nothing), else at
	 * release (a shell closes a duplicate of the fd before it writes).
	 */
	if (f->created && (f->type == FH_VALUE || f->type == FH_METRIC) &&
	    (f->refused || final)) {
		int r2 = mlfs_drop_if_empty(store, ino);

		if (r == 0)
			r = r2;
	}
	return r < 0 ? refused(ino, NULL, op, r) : 0;
}

/* Will a flush of f change the file (so the kernel's attributes go stale)? */
static bool has_changes(struct fh *f)
{
	bool dirty = false;

	if (f->type == FH_AFILE)
		mlfs_afile_size(f->af, &dirty);
	return dirty;
}

/*
 * A commit changed the file's size and times: make the kernel fetch them
 * again (it kept those of a write-only writer's setattr, for instance).
 */
static void committed(uint64_t ino, bool changed)
{
	if (changed)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

static void mlfs_flush_cb(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	bool changed = has_changes(fh_of(fi));
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	r = do_flush(req, ino, fh_of(fi), &op, false);
	changed &= !has_changes(fh_of(fi));
	/* Before the reply (attributes only: no page is locked), so a stat after close is fresh. */
	committed(ino, changed);
	fuse_reply_err(req, r ? mlfs_errno(r) : 0);
}

static void mlfs_release_cb(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *f = fh_of(fi);
	struct mlfs_op op;

	bool changed = has_changes(f);

	op_from_req(req, &op);
	/* Writes that came after the last flush (through mmap) are kept too. */
	do_flush(req, ino, f, &op, true);
	changed &= !has_changes(f);
	fh_free(f);
	fuse_reply_err(req, 0);
	committed(ino, changed);
}

static void mlfs_fsync_cb(fuse_req_t req, fuse_ino_t ino, int datasync,
			  struct fuse_file_info *fi)
{
	bool changed = has_changes(fh_of(fi));
	struct mlfs_op op;
	int r;

	op_from_req(req, &op);
	r = do_flush(NULL, ino, fh_of(fi), &op, false);
	changed &= !has_changes(fh_of(fi));
	if (r == 0) {
		r = mlfs_store_sync(store);
		if (r) {
			mlfs_refuse(&op, r, "fsync failed: %s; the store takes no more writes "
					    "until the daemon restarts",
				    mlfs_strerror(r));
			refused(ino, NULL, &op, r);
		}
	}
	committed(ino, changed);
	fuse_reply_err(req, r ? mlfs_errno(r) : 0);
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	bool plus;
};

/* Add one entry; 1 when the buffer is full. */
static int dir_add(struct dirbuf *d, const char *name, const struct stat *st, uint64_t next,
		   bool lookup)
{
	size_t n;

	if (d->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.attr = *st;
		if (lookup) { /* counts as a lookup: the kernel will forget it */
			e.ino = st->st_ino;
			e.attr_timeout = TIMEOUT;
			e.entry_timeout = TIMEOUT;
		}
		n = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e,
					   next);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, st, next);
	}
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static int dir_child(void *ctx, const char *name, size_t len, const struct stat *st,
		     uint64_t next)
{
	struct stat view = *st;
	char nm[256];

	if (len > 255)
		return 0;
	memcpy(nm, name, len);
	nm[len] = 0;
	if (S_ISREG(view.st_mode))
		writer_view(&view); /* readdirplus sets the kernel's size too */
	return dir_add(ctx, nm, &view, next, true);
}

/* Offsets: "." 1, ".." 2, ".mlfs" 3 and ".trash" 4 (root only), then children (ino + 1). */
static int do_readdir(fuse_ino_t ino, off_t off, struct dirbuf *d)
{
	struct stat st;
	int r;

	if (ino == VINO_DIR) {
		static const char *names[] = { ".", "..", "errors", "pid", "stats" };
		static const fuse_ino_t inos[] = { VINO_DIR, FUSE_ROOT_ID, VINO_ERRORS, VINO_PID,
						   VINO_STATS };

		for (int i = (int)off; i < 5; i++) {
			memset(&st, 0, sizeof(st));
			r = i < 2 ? (st.st_ino = inos[i], st.st_mode = S_IFDIR, 0)
				  : virtual_stat(inos[i], &st);
			if (r)
				return r;
			if (dir_add(d, names[i], &st, i + 1, i >= 2))
				return 0;
		}
		return 0;
	}
	if (is_virtual(ino))
		return -ENOTDIR;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR;
	if (off < 1) {
		st.st_ino = ino;
		if (dir_add(d, ".", &st, 1, false))
			return 0;
	}
	if (off < 2) {
		uint64_t up;

		r = mlfs_parent(store, ino, &up);
		if (r)
			return r;
		st.st_ino = up;
		if (dir_add(d, "..", &st, 2, false))
			return 0;
	}
	if (off < 3 && ino == FUSE_ROOT_ID) {
		r = virtual_stat(VINO_DIR, &st);
		if (r)
			return r;
		if (dir_add(d, ".mlfs", &st, 3, true))
			return 0;
	}
	if (off < 4 && ino == FUSE_ROOT_ID) {
		r = mlfs_getattr(store, MLFS_TRASH_INO, &st);
		if (r)
			return r;
		if (dir_add(d, ".trash", &st, 4, true))
			return 0;
	}
	return mlfs_readdir(store, ino, off < 4 ? 4 : off, dir_child, d);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dirbuf d = { req, NULL, size, 0, plus };
	int r;

	d.buf = malloc(size);
	if (!d.buf)
		return reply_err(req, -ENOMEM);
	r = do_readdir(ino, off, &d);
	if (r < 0)
		reply_err(req, r);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void mlfs_readdir_cb(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, false);
}

static void mlfs_readdirplus_cb(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
				struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, true);
}

static void mlfs_statfs_cb(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (statvfs(store->dir, &sv) < 0)
		return reply_err(req, -errno);
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/*
 * Which requests leave the loop thread (loop.h).  A worker takes what may
 * block for long: a read, write, flush or release of an artifact's handle
 * (chunk I/O, compression, a commit, the gc lock), a truncate (it may
 * rechunk), an fsync (it syncs the store), a write to a model's stage (its
 * notification waits on a directory lock that a lookup in that directory
 * may hold while it waits for the loop).  What the loop thread asks of an
 * open artifact (its size for a getattr or lookup, whether it is being
 * written, for an open) never waits on that handle (mlfs_afile_size takes no
 * lock).  A request on a handle with a job queued or running follows it to the workers, keyed
 * by the handle, so one handle's requests run in arrival order.  Everything
 * else is answered on the loop thread.
 */
enum job_op { J_READ, J_WRITE, J_FLUSH, J_RELEASE, J_FSYNC, J_SETATTR };

struct job {
	enum job_op op;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	bool has_fi;
	size_t size;
	off_t off;
	const char *data; /* J_WRITE: the bytes, kept in mem */
	void *mem;
	int flags; /* J_FSYNC: datasync; J_SETATTR: to_set */
	struct stat attr;
};

static void run_job(void *arg)
{
	struct job *j = arg;
	struct fuse_file_info *fi = j->has_fi ? &j->fi : NULL;

	switch (j->op) {
	case J_READ:
		mlfs_read_cb(j->req, j->ino, j->size, j->off, fi);
		break;
	case J_WRITE:
		mlfs_write_cb(j->req, j->ino, j->data, j->size, j->off, fi);
		break;
	case J_FLUSH:
		mlfs_flush_cb(j->req, j->ino, fi);
		break;
	case J_RELEASE:
		mlfs_release_cb(j->req, j->ino, fi);
		break;
	case J_FSYNC:
		mlfs_fsync_cb(j->req, j->ino, j->flags, fi);
		break;
	case J_SETATTR:
		mlfs_setattr_cb(j->req, j->ino, &j->attr, j->flags, fi);
		break;
	}
	free(j->mem);
	free(j);
}

static struct job *job_new(enum job_op op, fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->op = op;
	j->req = req;
	j->ino = ino;
	if (fi) {
		j->fi = *fi;
		j->has_fi = true;
	}
	return j;
}

/* Run j on a worker after the earlier jobs of key, or here if there is none to take it. */
static void dispatch(struct job *j, uintptr_t key)
{
	if (mlfs_loop_defer(key, run_job, j))
		run_job(j);
}

static bool slow_handle(struct fuse_file_info *fi)
{
	return fh_of(fi)->type == FH_AFILE || mlfs_loop_busy(fi->fh);
}

static void mlfs_read_q(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct job *j;

	if (!slow_handle(fi) || !(j = job_new(J_READ, req, ino, fi)))
		return mlfs_read_cb(req, ino, size, off, fi);
	j->size = size;
	j->off = off;
	dispatch(j, fi->fh);
}

static void mlfs_write_q(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	bool stage = fh_of(fi)->kind == MLFS_K_STAGE;
	struct job *j;

	if (!(stage || slow_handle(fi)))
		return mlfs_write_cb(req, ino, buf, size, off, fi);
	j = job_new(J_WRITE, req, ino, fi);
	if (j) {
		j->size = size;
		j->off = off;
		j->data = mlfs_loop_keep(buf, size, &j->mem);
		if (j->data)
			return dispatch(j, fi->fh);
		free(j);
	}
	/* A stage write's notification must not run on the loop (loop.c, invariant 4). */
	if (stage)
		return reply_err(req, -ENOMEM);
	mlfs_write_cb(req, ino, buf, size, off, fi);
}

static void mlfs_flush_q(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct job *j;

	if (!slow_handle(fi) || !(j = job_new(J_FLUSH, req, ino, fi)))
		return mlfs_flush_cb(req, ino, fi);
	dispatch(j, fi->fh);
}

static void mlfs_release_q(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct job *j;

	if (!slow_handle(fi) || !(j = job_new(J_RELEASE, req, ino, fi)))
		return mlfs_release_cb(req, ino, fi);
	dispatch(j, fi->fh);
}

static void mlfs_fsync_q(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct job *j = job_new(J_FSYNC, req, ino, fi);

	if (!j)
		return mlfs_fsync_cb(req, ino, datasync, fi);
	j->flags = datasync;
	dispatch(j, fi->fh);
}

static void mlfs_setattr_q(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			   struct fuse_file_info *fi)
{
	struct job *j;

	if (!((to_set & FUSE_SET_ATTR_SIZE) || (fi && mlfs_loop_busy(fi->fh))) ||
	    !(j = job_new(J_SETATTR, req, ino, fi)))
		return mlfs_setattr_cb(req, ino, attr, to_set, fi);
	j->attr = *attr;
	j->flags = to_set;
	dispatch(j, fi ? fi->fh : ino);
}

const struct fuse_lowlevel_ops mlfs_ops = {
	.init = mlfs_init,
	.lookup = mlfs_lookup_cb,
	.getattr = mlfs_getattr_cb,
	.setattr = mlfs_setattr_q,
	.readlink = mlfs_readlink_cb,
	.mknod = mlfs_mknod_cb,
	.mkdir = mlfs_mkdir_cb,
	.unlink = mlfs_unlink_cb,
	.rmdir = mlfs_rmdir_cb,
	.symlink = mlfs_symlink_cb,
	.rename = mlfs_rename_cb,
	.link = mlfs_link_cb,
	.open = mlfs_open_cb,
	.create = mlfs_create_cb,
	.read = mlfs_read_q,
	.write = mlfs_write_q,
	.flush = mlfs_flush_q,
	.release = mlfs_release_q,
	.fsync = mlfs_fsync_q,
	.readdir = mlfs_readdir_cb,
	.readdirplus = mlfs_readdirplus_cb,
	.statfs = mlfs_statfs_cb,
};
