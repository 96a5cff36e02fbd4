/*
 * gc.c - see gc.h.
 *
 * One run, in order (gc.h gives the reasons):
 *
 *     T = now
 *     who is live: flock STORE/lock shared, non-blocking; read the instance
 *     mark: one read transaction: extent hashes, live pending hashes;
 *           stale pending keys noted
 *     delete the stale pending entries (one write transaction)
 *     make the snapshot durable: syncfs, then the index, under the
 *           exclusive gc lock (rule 4 of gc.h)
 *     sweep: STORE/chunks/<hh>/, one directory at a time; unmarked names
 *           are checked and unlinked under the exclusive gc lock, in batches
 *     STORE/tmp/chunk.* older than an hour: unlinked
 *
 * Nothing is held between the steps: the read transaction ends before the
 * sweep, and the gc lock is held for one batch of unlinks at a time.
 */
#include "gc.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "grow.h"
#include "trash.h"

/* Names checked under one hold of the exclusive gc lock. */
#define BATCH 256
/* Age of a STORE/tmp/chunk.* file that no live put can still own. */
#define TMP_AGE_S 3600
/* The lock file's content: 16 hex digits and a newline. */
#define INSTANCE_LEN 17

/* --- the hash map ------------------------------------------------------ */

struct hslot {
	struct mlfs_hash h;
	uint32_t val;
};

struct mlfs_hmap {
	struct hslot *slot;
	uint8_t *used;
	size_t cap, n; /* cap: a power of two */
};

static size_t hmap_home(const struct mlfs_hash *h, size_t cap)
{
	uint64_t x;

	memcpy(&x, h->b, sizeof(x));
	return (size_t)x & (cap - 1);
}

static int hmap_alloc(size_t cap, struct hslot **ret_slot, uint8_t **ret_used)
{
	struct hslot *slot = malloc(cap * sizeof(*slot));
	uint8_t *used = calloc(cap, 1);

	if (!slot || !used) {
		free(slot);
		free(used);
		return -ENOMEM;
	}
	*ret_slot = slot;
	*ret_used = used;
	return 0;
}

int mlfs_hmap_new(struct mlfs_hmap **ret)
{
	struct mlfs_hmap *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->cap = 1024;
	r = hmap_alloc(m->cap, &m->slot, &m->used);
	if (r) {
		free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void mlfs_hmap_free(struct mlfs_hmap *m)
{
	if (!m)
		return;
	free(m->slot);
	free(m->used);
	free(m);
}

/* The slot of *h, or of the empty slot where it would go. */
static size_t hmap_find(const struct mlfs_hmap *m, const struct mlfs_hash *h)
{
	size_t i = hmap_home(h, m->cap);

	while (m->used[i] && memcmp(&m->slot[i].h, h, sizeof(*h)))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int hmap_grow(struct mlfs_hmap *m)
{
	struct mlfs_hmap bigger = { .cap = m->cap * 2 };
	int r;

	r = hmap_alloc(bigger.cap, &bigger.slot, &bigger.used);
	if (r)
		return r;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->used[i]) {
			size_t j = hmap_find(&bigger, &m->slot[i].h);

			bigger.slot[j] = m->slot[i];
			bigger.used[j] = 1;
		}
	}
	free(m->slot);
	free(m->used);
	m->slot = bigger.slot;
	m->used = bigger.used;
	m->cap = bigger.cap;
	return 0;
}

int mlfs_hmap_put(struct mlfs_hmap *m, const struct mlfs_hash *h, uint32_t val)
{
	size_t i;
	int r;

	/* At most three quarters full, so that probes stay short. */
	if ((m->n + 1) * 4 > m->cap * 3) {
		r = hmap_grow(m);
		if (r)
			return r;
	}
	i = hmap_find(m, h);
	if (m->used[i]) {
		m->slot[i].val = val;
		return 0;
	}
	m->slot[i].h = *h;
	m->slot[i].val = val;
	m->used[i] = 1;
	m->n++;
	return 1;
}

int mlfs_hmap_get(const struct mlfs_hmap *m, const struct mlfs_hash *h, uint32_t *ret)
{
	size_t i = hmap_find(m, h);

	if (!m->used[i])
		return 0;
	if (ret)
		*ret = m->slot[i].val;
	return 1;
}

size_t mlfs_hmap_count(const struct mlfs_hmap *m)
{
	return m->n;
}

/* --- owners ------------------------------------------------------------ */

int mlfs_gc_instance(struct mlfs_store *s, uint64_t *ret)
{
	char text[INSTANCE_LEN + 1];
	uint32_t id = 0;

	if (s->lock_fd < 0)
		return log_errno(-EINVAL, "cannot name an instance of '%s': not the daemon's",
				 s->dir);
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint32_t)mlfs_now_ns() ^ (uint32_t)getpid() << 16;
	if (id == 0)
		id = 1; /* 0 is the instance of every process that is not a daemon */
	snprintf(text, sizeof(text), "%016" PRIx64 "\n", (uint64_t)id);
	if (pwrite(s->lock_fd, text, INSTANCE_LEN, 0) != INSTANCE_LEN ||
	    ftruncate(s->lock_fd, INSTANCE_LEN) < 0)
		return log_errno(errno ? -errno : -EIO, "cannot write the instance into '%s/lock'",
				 s->dir);
	s->instance = id;
	if (ret)
		*ret = id;
	return 0;
}

uint64_t mlfs_gc_owner(struct mlfs_store *s)
{
	static atomic_uint_fast32_t seq;

	return s->instance << 32 | (uint32_t)(atomic_fetch_add(&seq, 1) + 1);
}

enum liveness {
	NO_DAEMON,      /* every entry older than the run is stale */
	DAEMON_UNKNOWN, /* a daemon serves but names no instance: keep every entry */
	DAEMON_KNOWN,   /* a daemon serves as instance `instance` */
};

/* Who serves the store now (gc.h, rule 2). */
static enum liveness who_serves(struct mlfs_store *s, uint64_t *ret_instance)
{
	char path[PATH_MAX], text[INSTANCE_LEN + 1];
	enum liveness l = DAEMON_UNKNOWN;
	uint64_t id = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", s->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? NO_DAEMON : DAEMON_UNKNOWN;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* Free: no daemon.  Let go at once: a daemon starting now must get it. */
		flock(fd, LOCK_UN);
		close(fd);
		return NO_DAEMON;
	}
	if (errno == EWOULDBLOCK) {
		n = pread(fd, text, INSTANCE_LEN, 0);
		if (n == INSTANCE_LEN && text[16] == '\n') {
			l = DAEMON_KNOWN;
			for (int i = 0; i < 16 && l == DAEMON_KNOWN; i++) {
				char c = text[i];

				if (c >= '0' && c <= '9')
					id = id << 4 | (uint64_t)(c - '0');
				else if (c >= 'a' && c <= 'f')
					id = id << 4 | (uint64_t)(c - 'a' + 10);
				else
					l = DAEMON_UNKNOWN;
			}
			if (l == DAEMON_KNOWN && (id == 0 || id > UINT32_MAX))
				l = DAEMON_UNKNOWN;
		}
	}
	close(fd);
	if (l == DAEMON_KNOWN)
		*ret_instance = id;
	return l;
}

/* --- mark -------------------------------------------------------------- */

/* Pending keys to delete: hash . owner, 24 bytes each. */
struct stale {
	uint8_t (*key)[24];
	size_t n, cap;
};

static int stale_push(struct stale *st, const void *key)
{
	if (mlfs_grow(&st->key, &st->cap, st->n, sizeof(*st->key)))
		return -ENOMEM;
	memcpy(st->key[st->n++], key, 24);
	return 0;
}

struct run {
	struct mlfs_store *s;
	unsigned flags;
	int64_t t0_ns;        /* gc's start (rule 3) */
	int64_t cutoff_ns;    /* files with an mtime before this may go */
	enum liveness live;
	uint64_t instance;    /* with DAEMON_KNOWN */
	struct mlfs_hmap *marked;
	struct stale stale;
	struct mlfs_gc_result res;
	mlfs_gc_progress_fn fn;
	void *ctx;
	int gc_fd;            /* STORE/gc.lock */
};

static bool entry_live(const struct run *g, uint64_t owner, int64_t ms)
{
	if (ms >= g->cutoff_ns / 1000000)
		return true; /* younger than the run: maybe a daemon that started during it */
	switch (g->live) {
	case NO_DAEMON:
		return false;
	case DAEMON_UNKNOWN:
		return true;
	case DAEMON_KNOWN:
		return owner >> 32 == g->instance;
	}
	return true;
}

static int mark_extents(struct run *g, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_extent_rec rec;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, g->s->idx->extent, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		/* A record gc cannot read might name any chunk: stop rather than guess. */
		if (k.mv_size != 16 || v.mv_size != sizeof(rec)) {
			r = log_errno(MLFS_E_CORRUPT,
				      "cannot collect garbage in '%s': a malformed extent record "
				      "(run mlfs fsck)",
				      g->s->dir);
			break;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (!rec.hole)
			r = mlfs_hmap_put(g->marked, &rec.hash, 0) < 0 ? -ENOMEM : 0;
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int mark_pending(struct run *g, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_hash h;
	int64_t ms;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, g->s->idx->pending, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 24 || v.mv_size != sizeof(ms)) {
			r = log_errno(MLFS_E_CORRUPT,
				      "cannot collect garbage in '%s': a malformed pending record "
				      "(run mlfs fsck)",
				      g->s->dir);
			break;
		}
		memcpy(h.b, k.mv_data, 16);
		memcpy(&ms, v.mv_data, sizeof(ms));
		if (entry_live(g, mlfs_be64_get((uint8_t *)k.mv_data + 16), ms)) {
			g->res.pending_live++;
			r = mlfs_hmap_put(g->marked, &h, 0) < 0 ? -ENOMEM : 0;
		} else {
			g->res.pending_stale++;
			r = stale_push(&g->stale, k.mv_data);
		}
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

/* Mark in one read transaction, begun after T (rule 3). */
static int mark(struct run *g)
{
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(g->s->idx, false, &txn);
	if (r)
		return r;
	r = mark_extents(g, txn);
	if (r == 0)
		r = mark_pending(g, txn);
	mlfs_txn_abort(txn);
	if (r == 0)
		g->res.marked = mlfs_hmap_count(g->marked);
	return r;
}

static int drop_stale(struct run *g)
{
	MDB_txn *txn;
	MDB_val k;
	int r;

	if (g->stale.n == 0 || (g->flags & MLFS_GC_DRY_RUN))
		return 0;
	r = mlfs_txn_begin(g->s->idx, true, &txn);
	if (r)
		return r;
	for (size_t i = 0; i < g->stale.n; i++) {
		k.mv_size = 24;
		k.mv_data = g->stale.key[i];
		r = mlfs_mdb_err(mdb_del(txn, g->s->idx->pending, &k, NULL));
		if (r && r != -ENOENT) {
			mlfs_txn_abort(txn);
			return r;
		}
	}
	return mlfs_store_commit(g->s, txn);
}

/*
 * Rule 4: the state of the index that a power loss can bring back must not
 * be older than the snapshot gc marked, or it could name a chunk gc removes.
 * So flush the index before the first unlink.  The daemon commits without
 * flushing, and a flush of the index makes its commits durable too, so the
 * chunks those name must be on disk first (chunk.h, invariant 3): syncfs
 * before the index, with the exclusive gc lock held so that no put renames
 * a chunk into place between the two.
 */
static int make_durable(struct run *g)
{
	int r;

	while (flock(g->gc_fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return log_errno(-errno, "cannot lock '%s/%s'", g->s->dir, MLFS_GC_LOCK);
	}
	r = syncfs(g->gc_fd) < 0 ? -errno : 0;
	if (r == 0)
		r = mlfs_index_sync(g->s->idx);
	flock(g->gc_fd, LOCK_UN);
	if (r)
		return log_errno(r, "cannot flush the store '%s' before collecting", g->s->dir);
	return 0;
}

/* --- sweep ------------------------------------------------------------- */

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Check and remove one batch of unmarked names in dir_fd, under the exclusive gc lock. */
static int sweep_batch(struct run *g, int dir_fd, char (*names)[33], size_t n)
{
	bool dry = g->flags & MLFS_GC_DRY_RUN;
	struct stat st;
	int r = 0;

	if (n == 0)
		return 0;
	while (!dry && flock(g->gc_fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return log_errno(-errno, "cannot lock '%s/%s'", g->s->dir, MLFS_GC_LOCK);
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		/* Rule 3: put or refreshed since the run began (the margin covers clock grain). */
		if (mtime_ns(&st) >= g->cutoff_ns) {
			g->res.young++;
			continue;
		}
		if (!dry && unlinkat(dir_fd, names[i], 0) < 0) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		g->res.freed++;
		g->res.freed_bytes += (uint64_t)st.st_blocks * 512;
	}
	if (!dry)
		flock(g->gc_fd, LOCK_UN);
	if (r)
		return log_errno(r, "cannot remove garbage chunks from '%s/chunks'", g->s->dir);
	return 0;
}

static bool is_fan_name(const char *name)
{
	static const char hex[] = "0123456789abcdef";

	return strlen(name) == 2 && strchr(hex, name[0]) && strchr(hex, name[1]);
}

/* Sweep one fan-out directory STORE/chunks/<fan>. */
static int sweep_dir(struct run *g, int chunks_fd, const char *fan)
{
	char (*cand)[33] = NULL;
	size_t n = 0;
	struct mlfs_hash h;
	struct dirent *e;
	DIR *d;
	int fd, r = 0;

	fd = openat(chunks_fd, fan, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	cand = malloc(BATCH * sizeof(*cand));
	if (!cand) {
		r = -ENOMEM;
		goto out;
	}
	while (r == 0 && (errno = 0, e = readdir(d))) {
		/* Only names chunk.c makes; anything else here is not ours to judge. */
		if (e->d_name[0] != fan[0] || e->d_name[1] != fan[1] ||
		    mlfs_hash_parse(e->d_name, &h) < 0)
			continue;
		g->res.examined++;
		if (g->fn && g->res.examined % MLFS_GC_PROGRESS == 0)
			g->fn(g->ctx, &g->res);
		if (mlfs_hmap_get(g->marked, &h, NULL))
			continue;
		memcpy(cand[n++], e->d_name, 33);
		if (n == BATCH) {
			r = sweep_batch(g, fd, cand, n);
			n = 0;
		}
	}
	if (r == 0 && !e && errno)
		r = -errno;
	if (r == 0)
		r = sweep_batch(g, fd, cand, n);
out:
	free(cand);
	closedir(d);
	return r;
}

static int sweep(struct run *g)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/chunks", g->s->dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "cannot open '%s'", path);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (errno = 0, e = readdir(d))) {
		if (is_fan_name(e->d_name))
			r = sweep_dir(g, fd, e->d_name);
	}
	if (r == 0 && !e && errno)
		r = -errno;
	closedir(d);
	if (r)
		return log_errno(r, "cannot sweep '%s'", path);
	return 0;
}

/* Remove tmp files of puts that died before their rename (no live put is an hour old). */
static int sweep_tmp(struct run *g)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int fd, r = 0;

	/* A description of its own: tmp_fd's offset is not ours to move. */
	fd = openat(g->s->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (errno = 0, e = readdir(d))) {
		if (strncmp(e->d_name, "chunk.", 6) != 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (mtime_ns(&st) >= g->t0_ns - (int64_t)TMP_AGE_S * 1000000000)
			continue;
		if (!(g->flags & MLFS_GC_DRY_RUN) && unlinkat(fd, e->d_name, 0) < 0) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		g->res.tmp_freed++;
		g->res.tmp_bytes += (uint64_t)st.st_blocks * 512;
	}
	if (r == 0 && !e && errno)
		r = -errno;
	closedir(d);
	if (r)
		return log_errno(r, "cannot remove leftover files from '%s/tmp'", g->s->dir);
	return 0;
}

int mlfs_gc_run(struct mlfs_store *s, unsigned flags, mlfs_gc_progress_fn fn, void *ctx,
		struct mlfs_gc_result *ret)
{
	struct run g = { .s = s, .flags = flags, .fn = fn, .ctx = ctx, .gc_fd = -1 };
	char path[PATH_MAX];
	int r;

	/* Rule 3: the start time comes before anything gc reads. */
	g.t0_ns = mlfs_now_ns();
	g.cutoff_ns = g.t0_ns - (int64_t)MLFS_GC_MARGIN_S * 1000000000;
	g.live = who_serves(s, &g.instance);
	snprintf(path, sizeof(path), "%s/%s", s->dir, MLFS_GC_LOCK);
	g.gc_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (g.gc_fd < 0) {
		r = log_errno(-errno, "cannot open '%s'", path);
		goto fail;
	}
	r = mlfs_hmap_new(&g.marked);
	if (r)
		goto fail;
	r = mark(&g);
	if (r)
		goto fail;
	r = drop_stale(&g);
	if (r)
		goto fail;
	if (!(flags & MLFS_GC_DRY_RUN)) {
		r = make_durable(&g);
		if (r)
			goto fail;
	}
	r = sweep(&g);
	if (r)
		goto fail;
	r = sweep_tmp(&g);
	if (r)
		goto fail;
	mlfs_hmap_free(g.marked);
	free(g.stale.key);
	close(g.gc_fd);
	*ret = g.res;
	return 0;
fail:
	mlfs_hmap_free(g.marked);
	free(g.stale.key);
	if (g.gc_fd >= 0)
		close(g.gc_fd);
	return r;
}

/* --- purge ------------------------------------------------------------- */

struct purge {
	struct mlfs_store *s;
	int64_t before_ms;
	unsigned flags;
	mlfs_gc_purged_fn fn;
	void *ctx;
	int count;
};

static int purge_one(void *c, uint64_t ino, int kind, int64_t deleted_ms, const char *path)
{
	struct purge *p = c;
	int r = 0;

	if (deleted_ms > p->before_ms)
		return 0;
	if (!(p->flags & MLFS_GC_DRY_RUN)) {
		r = mlfs_purge(p->s, ino);
		if (r < 0)
			return log_errno(r, "cannot purge '%s'", path);
	}
	if (p->fn)
		p->fn(p->ctx, path, r);
	p->count++;
	return 0;
}

int mlfs_gc_purge(struct mlfs_store *s, int64_t before_ms, unsigned flags, mlfs_gc_purged_fn fn,
		  void *ctx)
{
	struct purge p = { s, before_ms, flags, fn, ctx, 0 };
	int r;

	r = mlfs_trash_walk(s, purge_one, &p);
	return r < 0 ? r : p.count;
}

int mlfs_gc_parse_age(const char *text, int64_t *ret)
{
	/* At most a century in any unit: far from overflowing ms in an int64. */
	const int64_t max_s = 100ll * 366 * 86400;
	int64_t n = 0, unit;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > max_s)
			return -EINVAL;
	}
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (p[1] != '\0' || n * unit > max_s)
		return -EINVAL;
	*ret = n * unit * 1000;
	return 0;
}
