/*
 * afile.c - see afile.h.  This is the commit path for artifact content.
 *
 * Invariants:
 *  1. Every chunk that an extent record names was put into the chunk store
 *     (renamed into its final name) before the transaction that writes the
 *     record began.  Together with mlfs_store_sync() syncing chunks before
 *     the index, the index never names a chunk that is not on disk.
 *  2. A file's extents, size, mtime and gen change together in one LMDB
 *     transaction (commit_view); a reader that loads them in one read
 *     transaction gets one whole version.
 *  3. The extents of a file, and of a handle's view, tile [0, size) in
 *     order: ext[i].off == ext[i-1].off + ext[i-1].len, the last ends at
 *     ext_end, and in STREAM state the tail holds [ext_end, size).
 *  4. Nothing a handle writes reaches the index before mlfs_afile_commit();
 *     a failure anywhere before its transaction commits leaves the index as
 *     it was, and the handle's view intact, so the call can be retried.
 *  5. A failure in write() itself (no room for a chunk buffer, a put done
 *     in the caller's thread) consumes none of the bytes it was writing:
 *     the tail and the chunker state are restored.
 *  6. Before a handle puts a chunk (new or dedup), it has committed
 *     (hash, owner) into the pending database (gc.h, rule 1).  The
 *     transaction that writes its extents deletes every entry the handle
 *     has (each is now named by those extents, or no longer in its view);
 *     mlfs_afile_free() deletes what a failed or missing commit left.  The
 *     handle keeps the list of its entries (pend).
 *  7. The first n_base extents of a STREAM view came from the index at
 *     inode gen `gen` (loaded at open, or written by this handle's last
 *     commit) and are not pending: the index names them only while gen is
 *     unchanged.  commit_view checks gen in its transaction; if another
 *     writer committed in between, those chunks are put again first
 *     (invariant 6 for each) or the commit fails with -EIO when one is gone.
 *     A SCRATCH view has no base: every chunk it commits is put at commit.
 *  8. The pipeline (below).  In STREAM, the view is the extents, then the
 *     q_bytes of the chunks handed to the worker and not yet reaped, in
 *     order, then the tail: [ext_end + q_bytes, size).  Every other use of
 *     the view (read, truncate, a write not at the end, commit, free) first
 *     waits for the queue to empty, so it sees invariant 3 as stated.  The
 *     worker puts each chunk under invariant 6 (pending entry first) and
 *     never touches the view: the caller's thread reaps finished jobs into
 *     the extents and the pending list, oldest first.  A failed put stays
 *     at the head of the queue with its bytes, so the view stays whole; the
 *     worker stops there.  The first call that finds it returns its error
 *     (a short count if the write had taken bytes); the call after a failed
 *     call puts that chunk again in its own thread and the worker goes on.
 *     So nothing is committed before every chunk of the view is put, and
 *     invariant 4 holds for the pipeline too.
 *
 * States of a handle:
 *
 *            write at the end,           write below the end,
 *            truncate inside the tail    (materialize)
 *     open ------> STREAM -----------------------------> SCRATCH
 *                  |  ^                                  |  ^
 *        commit:   |  | write                 commit:    |  | write
 *        tail to   v  |                       rechunk    v  |
 *        a chunk   CLEAN (dirty = false)      the file   CLEAN, still SCRATCH
 *
 * STREAM keeps the view as extents plus a tail of at most one chunk in
 * memory, so a file of any size is written with bounded memory.  SCRATCH
 * keeps the whole view in an unlinked O_TMPFILE under STORE/tmp and is
 * chunked again at commit; content-defined cuts make the unchanged parts
 * hash to chunks the store already has.
 *
 * The put pipeline.  Hashing, compressing and writing a chunk file cost
 * several times what copying its bytes does, so a write at the end only
 * copies into the tail and runs the chunker; each chunk cut is handed to
 * the handle's worker thread (started at the first cut, ended by
 * mlfs_afile_free()) by swapping buffers, not copying, and the write goes on
 * while the worker puts it.  At most PIPE_DEPTH chunks are handed off and
 * not yet reaped; a write that would cut one more waits, so a handle holds
 * at most PIPE_DEPTH + 2 chunk buffers (the queue's, the tail, the read
 * cache) whatever the file's size.  Locks: f->lock is held by the caller for
 * a whole call (which may wait for the worker, and the worker for the gc
 * lock); mlfs_afile_size() takes no lock, so that the daemon's request loop
 * never waits on one: it reads f->shown, the size and dirtiness as the last
 * call ended (a write or truncate shows dirty as it begins); f->plock guards only the queue, and the worker takes
 * nothing else, so waiting for it under f->lock cannot deadlock.  The
 * worker commits pending entries in LMDB write transactions of its own, so
 * no caller may wait for it inside one.
 */
#include "afile.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdc.h"
#include "chunk.h"
#include "err.h"
#include "grow.h"
#include "registry.h"
#include "gc.h"

/* A gap of at least this many bytes becomes a hole extent rather than zeros in a chunk. */
#define HOLE_MIN MLFS_CDC_MAX
/* Chunks handed to the worker and not yet reaped (invariant 8). */
#define PIPE_DEPTH 2
/* How far ahead of a read the chunk files are asked into the page cache. */
#define READ_AHEAD (8u * 1024 * 1024)

/* A chunk handed to the worker. */
struct job {
	uint8_t *buf; /* MLFS_CHUNK_MAX bytes; the slot keeps it when the job is reaped */
	size_t len;
	struct mlfs_extent_rec rec; /* set by the worker */
	bool pended;                /* the worker committed a pending entry for rec.hash */
	int r;                      /* the put's result, or the reaper's (ext_push) */
};

struct ext {
	uint64_t off;
	struct mlfs_extent_rec r;
};

struct mlfs_afile {
	struct mlfs_store *s;
	uint64_t ino;
	int flags;
	pthread_mutex_t lock;
	/* The view; all protected by lock. */
	struct ext *ext;
	size_t n_ext, cap_ext;
	uint64_t ext_end;
	uint8_t *tail; /* MLFS_CHUNK_MAX bytes, allocated on first write */
	size_t tail_len;
	struct mlfs_cdc cdc;
	int scratch; /* -1 in STREAM */
	uint64_t size;
	bool dirty;
	/* size << 1 | dirty, as the last call left them: mlfs_afile_size() reads it unlocked */
	_Atomic uint64_t shown;
	int64_t mtime_ns;
	/* Invariants 6 and 7; protected by lock. */
	uint64_t owner;
	struct mlfs_hash *pend;
	size_t n_pend, cap_pend;
	size_t n_base;
	uint64_t gen;
	/* One decompressed chunk, for reads that walk a chunk in pieces. */
	uint8_t *cbuf;
	size_t clen;
	struct mlfs_hash chash;
	bool cvalid;
	size_t ra_next; /* first extent not yet asked into the page cache; protected by lock */
	/* The pipeline (invariant 8).  q_bytes, failed and retry are protected by lock. */
	uint64_t q_bytes;
	bool failed; /* the last call returned an error */
	bool retry;  /* so this call puts a failed chunk again */
	bool has_worker;
	pthread_t worker;
	pthread_mutex_t plock;
	pthread_cond_t wake; /* for the worker: a job, or quit */
	pthread_cond_t done; /* for the caller: a job is done */
	/* Protected by plock: q_n jobs from q_head, of which the first q_done are done. */
	struct job q[PIPE_DEPTH];
	size_t q_head, q_n, q_done;
	bool quit;
	int perr; /* the error of the job the worker failed: it waits, see pipe_reap() */
	/* The worker's while a job is queued, the caller's while none is. */
	struct mlfs_hash plast; /* the last pending entry the worker committed */
	bool plast_ok;
};

static int pipe_wait(struct mlfs_afile *f, size_t max);
static void pipe_stop(struct mlfs_afile *f);
static void call_begin(struct mlfs_afile *f);
static void show(struct mlfs_afile *f, bool dirty);
static int call_end(struct mlfs_afile *f, int r);

static int ext_push(struct ext **v, size_t *n, size_t *cap, uint64_t off,
		    const struct mlfs_extent_rec *r)
{
	if (mlfs_grow(v, cap, *n, sizeof(**v)))
		return -ENOMEM;
	(*v)[*n].off = off;
	(*v)[*n].r = *r;
	(*n)++;
	return 0;
}

static int load_extents(struct mlfs_afile *f, MDB_txn *txn)
{
	uint8_t kb[16];
	MDB_val k = { 16, kb }, v;
	MDB_cursor *cur;
	struct mlfs_extent_rec rec;
	int rc, r = 0;

	mlfs_be64_put(kb, f->ino);
	mlfs_be64_put(kb + 8, 0);
	rc = mdb_cursor_open(txn, f->s->idx->extent, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 16 && mlfs_be64_get(k.mv_data) == f->ino) {
		uint64_t off = mlfs_be64_get((uint8_t *)k.mv_data + 8);

		if (v.mv_size != sizeof(rec) || off != f->ext_end) {
			r = MLFS_E_CORRUPT;
			break;
		}
		memcpy(&rec, v.mv_data, sizeof(rec));
		r = ext_push(&f->ext, &f->n_ext, &f->cap_ext, off, &rec);
		if (r)
			break;
		f->ext_end += rec.len;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r)
		return r;
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : mlfs_mdb_err(rc);
}

/* The pending key of *h for this handle: hash . owner (BE). */
static void pend_key(const struct mlfs_afile *f, const struct mlfs_hash *h, uint8_t kb[24])
{
	memcpy(kb, h->b, 16);
	mlfs_be64_put(kb + 16, f->owner);
}

/*
 * Commit (*h, owner) into the pending database.  Touches nothing of the
 * handle but its constant fields, so the worker calls it without f->lock.
 */
static int pend_commit(struct mlfs_afile *f, const struct mlfs_hash *h)
{
	uint8_t kb[24];
	int64_t ms = mlfs_now_ns() / 1000000;
	MDB_val k = { sizeof(kb), kb }, v = { sizeof(ms), &ms };
	MDB_txn *txn;
	int r;

	pend_key(f, h, kb);
	r = mlfs_txn_begin(f->s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_mdb_err(mdb_put(txn, f->s->idx->pending, &k, &v, 0));
	if (r) {
		mlfs_txn_abort(txn);
		return r;
	}
	/*
	 * Not mlfs_store_commit(): a pending entry matters only to the daemon
	 * that made it, so it needs no flush, and a long copy must not make the
	 * syncer flush the whole file system every second.
	 */
	return mlfs_txn_commit(txn);
}

/* Room for one more entry in the handle's list of pending entries. */
static int pend_room(struct mlfs_afile *f)
{
	return mlfs_grow(&f->pend, &f->cap_pend, f->n_pend, sizeof(*f->pend));
}

/* Append *h to the handle's list of pending entries (its entry is committed). */
static int pend_push(struct mlfs_afile *f, const struct mlfs_hash *h)
{
	int r = pend_room(f);

	if (r == 0)
		f->pend[f->n_pend++] = *h;
	return r;
}

/* Commit (*h, owner) into the pending database before *h is put (invariant 6). */
static int pend_add(struct mlfs_afile *f, const struct mlfs_hash *h)
{
	int r;

	/* A run of one chunk (zeros, say) needs one entry, not one transaction a chunk. */
	if (f->n_pend && !memcmp(&f->pend[f->n_pend - 1], h, sizeof(*h)))
		return 0;
	/* Room first: an entry committed but not listed would outlive the handle. */
	r = pend_room(f);
	if (r == 0)
		r = pend_commit(f, h);
	if (r == 0)
		f->pend[f->n_pend++] = *h;
	return r;
}

/* Delete every pending entry of the handle in txn; the caller empties the list once it commits. */
static int pend_del(struct mlfs_afile *f, MDB_txn *txn)
{
	uint8_t kb[24];
	MDB_val k = { sizeof(kb), kb };
	int r;

	for (size_t i = 0; i < f->n_pend; i++) {
		pend_key(f, &f->pend[i], kb);
		r = mlfs_mdb_err(mdb_del(txn, f->s->idx->pending, &k, NULL));
		if (r && r != -ENOENT) /* a chunk put twice, not in a row, has one entry */
			return r;
	}
	return 0;
}

int mlfs_afile_open(struct mlfs_store *s, uint64_t ino, int flags, struct mlfs_afile **ret)
{
	struct mlfs_afile *f;
	struct mlfs_inode in;
	MDB_txn *txn;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->s = s;
	f->ino = ino;
	f->flags = flags;
	f->scratch = -1;
	f->cdc = MLFS_CDC_INIT;
	f->owner = mlfs_gc_owner(s);
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->plock, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->done, NULL);
	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		goto fail;
	r = mlfs_ino_get(txn, s->idx, ino, &in, NULL);
	if (r == 0 && in.kind != MLFS_K_AFILE)
		r = -EINVAL;
	if (r == 0 && !((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY))
		r = load_extents(f, txn);
	mlfs_txn_abort(txn);
	if (r)
		goto fail;
	f->size = f->ext_end;
	f->n_base = f->n_ext;
	f->gen = in.gen;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
		f->dirty = true;
		f->mtime_ns = mlfs_now_ns();
	} else if (f->ext_end != in.size) {
		r = MLFS_E_CORRUPT;
		goto fail;
	}
	show(f, f->dirty);
	*ret = f;
	return 0;
fail:
	mlfs_afile_free(f);
	return log_errno(r, "cannot open artifact #%llu", (unsigned long long)ino);
}

void mlfs_afile_free(struct mlfs_afile *f)
{
	MDB_txn *txn;
	int r;

	if (!f)
		return;
	pipe_stop(f);
	if (f->n_pend) {
		/* Invariant 6: what no commit took (left behind, gc drops it once we are gone). */
		r = mlfs_txn_begin(f->s->idx, true, &txn);
		if (r == 0) {
			r = pend_del(f, txn);
			if (r == 0)
				r = mlfs_txn_commit(txn); /* no flush needed, as in pend_add */
			else
				mlfs_txn_abort(txn);
		}
		if (r)
			log_errno(r, "cannot drop the pending chunks of artifact #%llu",
				  (unsigned long long)f->ino);
	}
	if (f->scratch >= 0)
		close(f->scratch);
	free(f->pend);
	free(f->ext);
	free(f->tail);
	free(f->cbuf);
	for (size_t i = 0; i < PIPE_DEPTH; i++)
		free(f->q[i].buf);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->plock);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

uint64_t mlfs_afile_size(struct mlfs_afile *f, bool *ret_dirty)
{
	uint64_t shown = atomic_load(&f->shown);

	if (ret_dirty)
		*ret_dirty = shown & 1;
	return shown >> 1;
}

/* Is the chunk of extent e the one in f->cbuf? */
static bool in_cbuf(const struct mlfs_afile *f, const struct ext *e)
{
	return f->cvalid && !memcmp(&f->chash, &e->r.hash, sizeof(f->chash));
}

/* The e->r.len bytes of extent e's chunk, decompressed and checked, into buf. */
static int read_whole(struct mlfs_afile *f, const struct ext *e, uint8_t *buf)
{
	char hex[33];
	int n;

	n = mlfs_chunk_get(f->s->cs, &e->r.hash, buf, e->r.len);
	if (n < 0 || (uint64_t)n != e->r.len) {
		if (n >= 0)
			memset(buf, 0, e->r.len);
		if (n >= 0 || n == -ENOBUFS)
			n = -EBADMSG; /* not the length the extent says */
		mlfs_hash_hex(&e->r.hash, hex);
		return log_errno(n, "cannot read chunk '%s' of artifact #%llu",
				 hex, (unsigned long long)f->ino);
	}
	return 0;
}

/* The chunk of extent e, decompressed and checked, in f->cbuf. */
static int load_chunk(struct mlfs_afile *f, const struct ext *e)
{
	int r;

	if (in_cbuf(f, e))
		return 0;
	if (!f->cbuf) {
		f->cbuf = malloc(MLFS_CHUNK_MAX);
		if (!f->cbuf)
			return -ENOMEM;
	}
	f->cvalid = false;
	r = read_whole(f, e, f->cbuf);
	if (r)
		return r;
	f->clen = e->r.len;
	f->chash = e->r.hash;
	f->cvalid = true;
	return 0;
}

/* Index of the extent holding byte pos (< ext_end). */
static size_t find_ext(const struct mlfs_afile *f, uint64_t pos)
{
	size_t lo = 0, hi = f->n_ext;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (f->ext[mid].off <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Ask the chunk files of the READ_AHEAD bytes after extent e into the page
 * cache, each once, so that the disk reads them while the reader is served
 * from the ones before (a chunk file is a file of its own: the kernel's own
 * read-ahead stops at its end).  Only a read that reaches past what was
 * asked asks again, so a sequential read asks about each chunk once.
 */
static void read_ahead(struct mlfs_afile *f, const struct ext *e)
{
	size_t i = e - f->ext;

	if (f->ra_next <= i || f->ra_next > f->n_ext)
		f->ra_next = i + 1;
	if (f->ra_next < f->n_ext && f->ext[f->ra_next].off >= e->off + READ_AHEAD / 2)
		return; /* still far enough ahead */
	for (; f->ra_next < f->n_ext; f->ra_next++) {
		const struct ext *n = &f->ext[f->ra_next];

		if (n->off >= e->off + READ_AHEAD)
			break;
		if (!n->r.hole)
			mlfs_chunk_prefetch(f->s->cs, &n->r.hash);
	}
}

/* Read from the extents and the tail (STREAM). */
static int read_view(struct mlfs_afile *f, uint64_t off, uint8_t *buf, size_t len)
{
	size_t done = 0;
	int r;

	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = f->size - off;
	while (done < len) {
		uint64_t pos = off + done;
		size_t take;

		if (pos >= f->ext_end) {
			take = len - done;
			memcpy(buf + done, f->tail + (pos - f->ext_end), take);
		} else {
			const struct ext *e = &f->ext[find_ext(f, pos)];
			uint64_t in = pos - e->off;

			take = e->r.len - in;
			if (take > len - done)
				take = len - done;
			if (e->r.hole) {
				memset(buf + done, 0, take);
			} else {
				read_ahead(f, e);
				if (take == e->r.len && !in_cbuf(f, e)) {
					/* A whole chunk: read and checked in place. */
					r = read_whole(f, e, buf + done);
				} else {
					r = load_chunk(f, e);
					if (r == 0)
						memcpy(buf + done, f->cbuf + in, take);
				}
				if (r)
					return r;
			}
		}
		done += take;
	}
	return (int)done;
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return (int)done;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += n;
	}
	return 0;
}

int mlfs_afile_read(struct mlfs_afile *f, uint64_t off, void *buf, size_t len)
{
	int r;

	call_begin(f);
	r = pipe_wait(f, 0);
	if (r == 0 && f->scratch >= 0) {
		if (off < f->size)
			r = pread_all(f->scratch, buf, len < f->size - off ? len : f->size - off, off);
	} else if (r == 0) {
		r = read_view(f, off, buf, len);
	}
	return call_end(f, r);
}

/* Store len bytes at buf as a chunk, pending first (invariant 6); *ret gets its extent record. */
static int put_chunk(struct mlfs_afile *f, const uint8_t *buf, size_t len,
		     struct mlfs_extent_rec *ret)
{
	struct mlfs_extent_rec rec = { .len = len };
	int r;

	mlfs_hash_buf(buf, len, &rec.hash);
	r = pend_add(f, &rec.hash);
	if (r)
		return r;
	r = mlfs_chunk_put(f->s->cs, &rec.hash, buf, len, NULL);
	if (r)
		return r;
	*ret = rec;
	return 0;
}

/* Turn the tail into a chunk at the end of the extents (STREAM). */
static int emit_tail(struct mlfs_afile *f)
{
	struct mlfs_extent_rec rec;
	int r;

	if (f->tail_len == 0)
		return 0;
	r = put_chunk(f, f->tail, f->tail_len, &rec);
	if (r)
		return r;
	r = ext_push(&f->ext, &f->n_ext, &f->cap_ext, f->ext_end, &rec);
	if (r)
		return r;
	f->ext_end += f->tail_len;
	f->tail_len = 0;
	f->cdc = MLFS_CDC_INIT;
	return 0;
}

/* The worker: put each job's chunk, pending entry first (invariants 6 and 8). */
static void *pipe_worker(void *arg)
{
	struct mlfs_afile *f = arg;
	struct job *j;

	pthread_mutex_lock(&f->plock);
	for (;;) {
		/* After a failure it waits until the caller's thread has put that chunk. */
		while (!f->quit && (f->perr || f->q_done == f->q_n))
			pthread_cond_wait(&f->wake, &f->plock);
		if (f->quit)
			break;
		j = &f->q[(f->q_head + f->q_done) % PIPE_DEPTH];
		pthread_mutex_unlock(&f->plock);
		j->rec = (struct mlfs_extent_rec){ .len = j->len };
		mlfs_hash_buf(j->buf, j->len, &j->rec.hash);
		j->r = 0;
		/* As pend_add: a run of one chunk needs one entry. */
		if (!f->plast_ok || memcmp(&f->plast, &j->rec.hash, sizeof(f->plast))) {
			j->r = pend_commit(f, &j->rec.hash);
			j->pended = j->r == 0;
			if (j->pended) {
				f->plast = j->rec.hash;
				f->plast_ok = true;
			}
		}
		if (j->r == 0)
			j->r = mlfs_chunk_put(f->s->cs, &j->rec.hash, j->buf, j->len, NULL);
		pthread_mutex_lock(&f->plock);
		f->perr = j->r;
		f->q_done++;
		pthread_cond_broadcast(&f->done);
	}
	pthread_mutex_unlock(&f->plock);
	return NULL;
}

/*
 * Take the jobs the worker has finished into the view, oldest first
 * (invariant 8).  A failed put stops the reaping: its error is returned,
 * or, when the previous call on the handle failed (f->retry), the chunk is
 * put again here and the worker goes on.
 */
static int pipe_reap(struct mlfs_afile *f)
{
	int r = 0;

	pthread_mutex_lock(&f->plock);
	while (f->q_done && r == 0) {
		struct job *j = &f->q[f->q_head];

		/* Whatever becomes of the put, free() must find its pending entry. */
		if (j->pended) {
			r = pend_push(f, &j->rec.hash);
			if (r)
				break;
			j->pended = false;
		}
		if (j->r && !f->retry) {
			r = j->r;
			break;
		}
		if (j->r) {
			/* The worker waits (perr) and touches no job meanwhile. */
			pthread_mutex_unlock(&f->plock);
			r = put_chunk(f, j->buf, j->len, &j->rec);
			pthread_mutex_lock(&f->plock);
			if (r)
				break;
			j->r = 0;
			f->perr = 0;
			pthread_cond_signal(&f->wake);
		}
		r = ext_push(&f->ext, &f->n_ext, &f->cap_ext, f->ext_end, &j->rec);
		if (r) {
			j->r = r; /* put again at the retry: a dedup put, then recorded */
			break;
		}
		f->ext_end += j->len;
		f->q_bytes -= j->len;
		f->q_head = (f->q_head + 1) % PIPE_DEPTH;
		f->q_n--;
		f->q_done--;
	}
	pthread_mutex_unlock(&f->plock);
	return r;
}

/*
 * Reap, and wait until at most max jobs are queued: max = PIPE_DEPTH - 1
 * makes room for one more, 0 empties the queue.  Returns the error of a
 * failed put, as pipe_reap().
 */
static int pipe_wait(struct mlfs_afile *f, size_t max)
{
	for (;;) {
		size_t n;
		int r = pipe_reap(f);

		if (r)
			return r;
		pthread_mutex_lock(&f->plock);
		n = f->q_n;
		while (n > max && f->q_done == 0)
			pthread_cond_wait(&f->done, &f->plock);
		pthread_mutex_unlock(&f->plock);
		if (n <= max)
			return 0;
	}
}

/*
 * Every public call on a handle runs between these two, under f->lock:
 * a failed put is reported by the first call that finds it, and put again
 * by the call after a failed one (invariant 8).
 */
static void call_begin(struct mlfs_afile *f)
{
	pthread_mutex_lock(&f->lock);
	f->retry = f->failed;
	f->failed = false;
}

static void show(struct mlfs_afile *f, bool dirty)
{
	atomic_store(&f->shown, f->size << 1 | dirty);
}

static int call_end(struct mlfs_afile *f, int r)
{
	f->failed = r < 0;
	show(f, f->dirty);
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Hand the tail, a whole chunk, to the worker; there is room (pipe_wait). */
static int pipe_hand_off(struct mlfs_afile *f)
{
	struct job *j;
	uint8_t *buf;

	if (!f->has_worker) {
		if (pthread_create(&f->worker, NULL, pipe_worker, f) != 0)
			return emit_tail(f); /* no thread to be had: put it here */
		f->has_worker = true;
	}
	j = &f->q[(f->q_head + f->q_n) % PIPE_DEPTH];
	if (!j->buf) {
		j->buf = malloc(MLFS_CHUNK_MAX);
		if (!j->buf)
			return -ENOMEM;
	}
	buf = j->buf;
	j->buf = f->tail;
	j->len = f->tail_len;
	j->pended = false;
	j->r = 0;
	f->tail = buf;
	f->q_bytes += f->tail_len;
	f->tail_len = 0;
	f->cdc = MLFS_CDC_INIT;
	pthread_mutex_lock(&f->plock);
	f->q_n++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->plock);
	return 0;
}

/*
 * Stop the worker after the job it is on; what is queued is dropped, but
 * the pending entries it committed go into the handle's list, for free().
 */
static void pipe_stop(struct mlfs_afile *f)
{
	if (!f->has_worker)
		return;
	pthread_mutex_lock(&f->plock);
	f->quit = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->plock);
	pthread_join(f->worker, NULL);
	f->has_worker = false;
	for (size_t k = 0; k < f->q_n; k++) {
		struct job *j = &f->q[(f->q_head + k) % PIPE_DEPTH];

		if (j->pended && pend_push(f, &j->rec.hash))
			log_errno(-ENOMEM, "cannot list a pending chunk of artifact #%llu",
				  (unsigned long long)f->ino);
	}
	f->q_n = f->q_done = 0;
}

/* Append bytes to the view (STREAM); returns how many were taken. */
static int stream_append(struct mlfs_afile *f, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	int r;

	if (!f->tail) {
		f->tail = malloc(MLFS_CHUNK_MAX);
		if (!f->tail)
			return -ENOMEM;
	}
	while (done < len) {
		struct mlfs_cdc saved;
		bool cut = false;
		size_t n;

		/* Room for the chunk these bytes may end, or the first failed put's error. */
		r = pipe_wait(f, PIPE_DEPTH - 1);
		if (r)
			return done ? (int)done : r;
		saved = f->cdc;
		n = mlfs_cdc_next(&f->cdc, buf + done, len - done, &cut);
		memcpy(f->tail + f->tail_len, buf + done, n);
		f->tail_len += n;
		if (cut) {
			r = pipe_hand_off(f);
			if (r) {
				f->tail_len -= n; /* invariant 5 */
				f->cdc = saved;
				return done ? (int)done : r;
			}
		}
		done += n;
		f->size += n;
	}
	return (int)done;
}

/* Grow the view with zeros to size (STREAM). */
static int stream_extend(struct mlfs_afile *f, uint64_t size)
{
	static const uint8_t zeros[65536];
	struct mlfs_extent_rec hole = { .hole = 1 };
	int r;

	if (size - f->size >= HOLE_MIN) {
		r = emit_tail(f);
		if (r)
			return r;
		hole.len = size - f->size;
		r = ext_push(&f->ext, &f->n_ext, &f->cap_ext, f->ext_end, &hole);
		if (r)
			return r;
		f->ext_end += hole.len;
		f->size = size;
		return 0;
	}
	while (f->size < size) {
		size_t n = size - f->size < sizeof(zeros) ? size - f->size : sizeof(zeros);

		r = stream_append(f, zeros, n);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Move the view into a scratch file (STREAM -> SCRATCH). */
static int materialize(struct mlfs_afile *f)
{
	int fd, r = 0;

	fd = openat(f->s->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_errno(-errno, "cannot make a scratch file in '%s/tmp'", f->s->dir);
	for (size_t i = 0; i < f->n_ext && r == 0; i++) {
		const struct ext *e = &f->ext[i];

		if (e->r.hole)
			continue;
		r = load_chunk(f, e);
		if (r == 0)
			r = pwrite_all(fd, f->cbuf, f->clen, e->off);
	}
	if (r == 0 && f->tail_len)
		r = pwrite_all(fd, f->tail, f->tail_len, f->ext_end);
	if (r == 0 && ftruncate(fd, f->size) < 0)
		r = -errno;
	if (r) {
		close(fd);
		return r;
	}
	f->scratch = fd;
	f->n_ext = 0;
	f->n_base = 0;
	f->ext_end = 0;
	f->tail_len = 0;
	f->cdc = MLFS_CDC_INIT;
	return 0;
}

int mlfs_afile_write(struct mlfs_afile *f, uint64_t off, const void *buf, size_t len)
{
	int r;

	call_begin(f);
	show(f, true); /* dirty from before its first byte lands, to the unlocked readers */
	if (f->flags & O_APPEND)
		off = f->size;
	/* Only an append in STREAM runs beside the worker (invariant 8). */
	r = 0;
	if (f->scratch >= 0 || off != f->size)
		r = pipe_wait(f, 0);
	if (r)
		goto out;
	if (f->scratch < 0 && off < f->size) {
		r = materialize(f);
		if (r)
			goto out;
	}
	if (f->scratch >= 0) {
		r = pwrite_all(f->scratch, buf, len, off);
		if (r)
			goto out;
		if (off + len > f->size)
			f->size = off + len;
		r = (int)len;
	} else {
		if (off > f->size) {
			r = stream_extend(f, off);
			if (r)
				goto out;
		}
		r = stream_append(f, buf, len);
	}
	if (r > 0) {
		f->dirty = true;
		f->mtime_ns = mlfs_now_ns();
	}
out:
	return call_end(f, r);
}

/* Cut the view to size < f->size (STREAM), keeping it in STREAM. */
static int stream_shrink(struct mlfs_afile *f, uint64_t size)
{
	struct ext *e;
	size_t i, keep;
	bool cut;
	int r;

	if (size >= f->ext_end) {
		f->tail_len = size - f->ext_end;
	} else {
		i = find_ext(f, size);
		e = &f->ext[i];
		keep = size - e->off;
		if (e->r.hole) {
			e->r.len = keep;
			f->n_ext = keep ? i + 1 : i;
			f->ext_end = size;
			f->tail_len = 0;
		} else {
			if (!f->tail) {
				f->tail = malloc(MLFS_CHUNK_MAX);
				if (!f->tail)
					return -ENOMEM;
			}
			r = load_chunk(f, e);
			if (r)
				return r;
			memcpy(f->tail, f->cbuf, keep);
			f->tail_len = keep;
			f->ext_end = e->off;
			f->n_ext = i;
		}
	}
	if (f->n_base > f->n_ext)
		f->n_base = f->n_ext;
	/* The chunker's state must be the one these tail bytes give; it cannot cut inside them. */
	f->cdc = MLFS_CDC_INIT;
	mlfs_cdc_next(&f->cdc, f->tail, f->tail_len, &cut);
	f->size = size;
	return 0;
}

int mlfs_afile_truncate(struct mlfs_afile *f, uint64_t size)
{
	int r = 0;

	call_begin(f);
	show(f, true);
	r = pipe_wait(f, 0);
	if (r || size == f->size)
		goto out;
	if (f->scratch >= 0) {
		if (ftruncate(f->scratch, size) < 0)
			r = -errno;
		else
			f->size = size;
	} else if (size > f->size) {
		r = stream_extend(f, size);
	} else {
		r = stream_shrink(f, size);
	}
	if (r == 0) {
		f->dirty = true;
		f->mtime_ns = mlfs_now_ns();
	}
out:
	return call_end(f, r);
}

/* Chunk the scratch file into a new extent list. */
static int rechunk(struct mlfs_afile *f, struct ext **ret, size_t *ret_n)
{
	struct ext *v = NULL;
	size_t n = 0, cap = 0, clen = 0;
	struct mlfs_cdc cdc = MLFS_CDC_INIT;
	struct mlfs_extent_rec rec;
	uint8_t *in = NULL;
	uint64_t pos = 0, cstart = 0;
	int r = 0;

	if (!f->tail) {
		f->tail = malloc(MLFS_CHUNK_MAX);
		if (!f->tail)
			return -ENOMEM;
	}
	in = malloc(MLFS_CHUNK_MAX);
	if (!in)
		return -ENOMEM;
	while (pos < f->size && r == 0) {
		size_t want = f->size - pos < MLFS_CHUNK_MAX ? f->size - pos : MLFS_CHUNK_MAX;
		int got = pread_all(f->scratch, in, want, pos);
		size_t used = 0;

		if (got < 0) {
			r = got;
			break;
		}
		if ((size_t)got < want)
			memset(in + got, 0, want - got); /* beyond a short file: zeros */
		while (used < want && r == 0) {
			bool cut = false;
			size_t k = mlfs_cdc_next(&cdc, in + used, want - used, &cut);

			memcpy(f->tail + clen, in + used, k);
			clen += k;
			used += k;
			if (cut) {
				r = put_chunk(f, f->tail, clen, &rec);
				if (r == 0)
					r = ext_push(&v, &n, &cap, cstart, &rec);
				cstart += clen;
				clen = 0;
			}
		}
		pos += want;
	}
	if (r == 0 && clen) {
		r = put_chunk(f, f->tail, clen, &rec);
		if (r == 0)
			r = ext_push(&v, &n, &cap, cstart, &rec);
	}
	free(in);
	if (r) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * Replace the file's extents, size and times with v (invariant 2), dropping
 * the handle's pending entries (invariant 6).  Returns 1, having changed
 * nothing, when the view has a base and another writer has committed since
 * it was loaded (invariant 7): protect_base(), then call again.
 */
static int commit_view(struct mlfs_afile *f, struct mlfs_op *op, const struct ext *v, size_t n,
		       uint64_t size)
{
	struct mlfs_inode in;
	uint8_t kb[16];
	MDB_val k = { 16, kb }, val;
	MDB_txn *txn;
	int r;

	r = mlfs_txn_begin(f->s->idx, true, &txn);
	if (r)
		return r;
	r = mlfs_ino_get(txn, f->s->idx, f->ino, &in, NULL);
	if (r)
		goto fail;
	/* A model version staged while this file was open is read-only now. */
	r = mlfs_reg_frozen(txn, f->s, op, &in);
	if (r)
		goto fail;
	if (f->n_base && in.gen != f->gen) {
		r = 1;
		goto fail;
	}
	r = mlfs_range_del(txn, f->s->idx->extent, f->ino);
	if (r)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		mlfs_be64_put(kb, f->ino);
		mlfs_be64_put(kb + 8, v[i].off);
		val.mv_size = sizeof(v[i].r);
		val.mv_data = (void *)&v[i].r;
		r = mlfs_mdb_err(mdb_put(txn, f->s->idx->extent, &k, &val, MDB_APPEND));
		if (r == -EEXIST) /* MDB_APPEND refuses keys below the last one */
			r = mlfs_mdb_err(mdb_put(txn, f->s->idx->extent, &k, &val, 0));
		if (r)
			goto fail;
	}
	in.size = size;
	in.gen++;
	in.mtime_ns = f->mtime_ns ? f->mtime_ns : op->now_ns;
	in.ctime_ns = op->now_ns;
	r = mlfs_ino_update(txn, f->s->idx, &in);
	if (r)
		goto fail;
	r = pend_del(f, txn);
	if (r)
		goto fail;
	r = mlfs_store_commit(f->s, txn);
	if (r)
		return r;
	f->n_pend = 0;
	f->plast_ok = false; /* the worker's last entry is gone with the rest */
	f->gen = in.gen;
	f->n_base = f->scratch < 0 ? n : 0;
	return 0;
fail:
	mlfs_txn_abort(txn);
	return r;
}

/*
 * Put the chunks of the view's base again (invariant 7): each gets its
 * pending entry and a fresh mtime, so gc keeps it from here on, whatever
 * became of the file it was loaded from.  -EIO if one is gone already.
 */
static int protect_base(struct mlfs_afile *f)
{
	struct mlfs_extent_rec rec;
	int r;

	for (size_t i = 0; i < f->n_base; i++) {
		const struct ext *e = &f->ext[i];

		if (e->r.hole)
			continue;
		r = load_chunk(f, e);
		if (r)
			return log_errno(-EIO,
					 "cannot commit artifact #%llu: it was replaced since this "
					 "handle opened it, and content the handle needs is gone",
					 (unsigned long long)f->ino);
		r = put_chunk(f, f->cbuf, f->clen, &rec);
		if (r)
			return r;
	}
	f->n_base = 0;
	return 0;
}

int mlfs_afile_commit(struct mlfs_afile *f, struct mlfs_op *op)
{
	struct ext *v = NULL;
	size_t n = 0;
	int r = 0;

	call_begin(f);
	/* close() and fsync() wait for the pipeline and get its first error. */
	r = pipe_wait(f, 0);
	if (r || !f->dirty)
		goto out;
	if (f->scratch >= 0) {
		r = rechunk(f, &v, &n);
		if (r == 0)
			r = commit_view(f, op, v, n, f->size);
		free(v);
	} else {
		r = emit_tail(f);
		if (r == 0)
			r = commit_view(f, op, f->ext, f->n_ext, f->size);
		if (r == 1) {
			r = protect_base(f);
			if (r == 0)
				r = commit_view(f, op, f->ext, f->n_ext, f->size);
		}
	}
	if (r == -ENOENT)
		r = 0; /* deleted while open: nothing to keep */
	if (r == 0)
		f->dirty = false;
out:
	return call_end(f, r);
}

int mlfs_afile_settle(struct mlfs_afile *f)
{
	call_begin(f);
	return call_end(f, pipe_wait(f, 0));
}

int mlfs_afile_truncate_ino(struct mlfs_store *s, struct mlfs_op *op, uint64_t ino, uint64_t size)
{
	struct mlfs_afile *f;
	int r;

	r = mlfs_afile_open(s, ino, O_WRONLY, &f);
	if (r)
		return r;
	r = mlfs_afile_truncate(f, size);
	if (r == 0)
		r = mlfs_afile_commit(f, op);
	mlfs_afile_free(f);
	return r;
}
