/* index.c - see index.h. */
#include "index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "err.h"
#include "grow.h"
#include "fault.h"

/*
 * The map is a reservation of address space, not of disk: the file grows as
 * it is used.  1 TiB leaves room for any store a local disk holds.
 */
#define MAP_SIZE (1ull << 40)

static size_t map_size(void)
{
	const char *e = getenv("MLFS_MAPSIZE");
	unsigned long long v = e ? strtoull(e, NULL, 0) : 0;

	return v >= (1u << 16) ? (size_t)v : MAP_SIZE;
}

int mlfs_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_DBS_FULL:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return MLFS_E_CORRUPT;
	}
	if (rc > 0)
		return -rc; /* LMDB passes system errnos through */
	return -EIO;
}

void mlfs_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t mlfs_be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int mlfs_index_open(const char *dir, unsigned flags, struct mlfs_index **ret)
{
	struct mlfs_index *idx;
	MDB_txn *txn = NULL;
	unsigned envflags = MDB_NOTLS | MDB_NORDAHEAD;
	unsigned dbflags = (flags & MLFS_IDX_CREATE) ? MDB_CREATE : 0;
	int rc, r;

	idx = calloc(1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	if (flags & MLFS_IDX_NOSYNC)
		envflags |= MDB_NOSYNC;
	if (flags & MLFS_IDX_RDONLY)
		envflags |= MDB_RDONLY;
	if (flags & MLFS_IDX_CREATE)
		mkdir(dir, 0755);
	rc = mdb_env_create(&idx->env);
	if (rc)
		goto fail;
	mdb_env_set_userctx(idx->env, idx);
	mdb_env_set_maxdbs(idx->env, 16);
	mdb_env_set_maxreaders(idx->env, 512);
	pthread_rwlock_init(&idx->resize, NULL);
	rc = mdb_env_set_mapsize(idx->env, map_size());
	if (rc)
		goto fail;
	rc = mdb_env_open(idx->env, dir, envflags, 0644);
	if (rc)
		goto fail;
	/* Reader slots of processes killed with -9 would pin old pages forever. */
	mdb_reader_check(idx->env, NULL);
	rc = mdb_txn_begin(idx->env, NULL, (flags & MLFS_IDX_RDONLY) ? MDB_RDONLY : 0, &txn);
	if (rc)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "info", dbflags, &idx->info)) ||
	    (rc = mdb_dbi_open(txn, "inode", dbflags, &idx->inode)) ||
	    (rc = mdb_dbi_open(txn, "dirent", dbflags, &idx->dirent)) ||
	    (rc = mdb_dbi_open(txn, "child", dbflags, &idx->child)) ||
	    (rc = mdb_dbi_open(txn, "extent", dbflags, &idx->extent)) ||
	    (rc = mdb_dbi_open(txn, "mblock", dbflags, &idx->mblock)) ||
	    (rc = mdb_dbi_open(txn, "rkey", dbflags, &idx->rkey)) ||
	    (rc = mdb_dbi_open(txn, "pending", dbflags, &idx->pending)))
		goto fail;
	/* Added after the first stores were made: made by the first writer that opens. */
	rc = mdb_dbi_open(txn, "orphan", (flags & MLFS_IDX_RDONLY) ? 0 : MDB_CREATE, &idx->orphan);
	if (rc == MDB_NOTFOUND) {
		idx->orphan = idx->pending; /* a read-only opener never touches it */
		rc = 0;
	}
	if (rc)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto fail;
	*ret = idx;
	return 0;
fail:
	r = mlfs_mdb_err(rc);
	if (txn)
		mdb_txn_abort(txn);
	if (idx->env)
		mdb_env_close(idx->env);
	free(idx);
	if (rc == MDB_NOTFOUND)
		return MLFS_E_NOTSTORE; /* a database is missing: not our index */
	return log_errno(r, "cannot open index '%s'", dir);
}

void mlfs_index_free(struct mlfs_index *idx)
{
	if (!idx)
		return;
	mdb_env_close(idx->env);
	pthread_rwlock_destroy(&idx->resize);
	free(idx);
}

/*
 * Reading a record maps its pages into this process, and the kernel maps
 * the pages around a faulting one too (fault-around: up to fault_around_bytes,
 * 64 KiB by default, aligned) if they are in the page cache.  Dropping only
 * the record's own pages would leave those, and a long read would end up
 * with most of the file resident; so mlfs_index_drop() drops the aligned
 * windows around the record, clamped to LMDB's map.
 */
#define FAULT_AROUND ((uintptr_t)64 << 10)

/*
 * LMDB's page header (MDB_page, the same in every 0.9 release): the page
 * number in its first 8 bytes, the flags at byte 10; page 0 is a meta page.
 * mdb_env_info() gives the map's address only with MDB_FIXEDMAP, so the
 * map's start is found from a page's own number.
 */
#if MDB_VERSION_MAJOR != 0 || MDB_VERSION_MINOR != 9
#error "map_of() reads LMDB 0.9's page header"
#endif
#define LMDB_P_LEAF 0x02
#define LMDB_P_OVERFLOW 0x04
#define LMDB_P_META 0x08

struct map {
	uintptr_t base, size;
};

/*
 * The map that p, a record a read-only transaction returned, lies in: false
 * when that cannot be told (LMDB's page size is not the system's, or the
 * page p is in does not lead back to a meta page at its number 0).
 */
static bool map_of(struct mlfs_index *idx, const void *p, struct map *m)
{
	uintptr_t page, psize;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t pgno;
	uint16_t flags;

	if (mdb_env_stat(idx->env, &st) || mdb_env_info(idx->env, &info))
		return false;
	psize = st.ms_psize;
	if (psize != (uintptr_t)sysconf(_SC_PAGESIZE) || (psize & (psize - 1)))
		return false;
	page = (uintptr_t)p & ~(psize - 1);
	memcpy(&pgno, (const void *)page, sizeof(pgno));
	memcpy(&flags, (const void *)(page + 10), sizeof(flags));
	if (!(flags & (LMDB_P_LEAF | LMDB_P_OVERFLOW)) || pgno >= info.me_mapsize / psize ||
	    pgno * psize > page)
		return false;
	m->base = page - pgno * psize;
	m->size = info.me_mapsize;
	memcpy(&pgno, (const void *)m->base, sizeof(pgno));
	memcpy(&flags, (const void *)(m->base + 10), sizeof(flags));
	return pgno == 0 && (flags & LMDB_P_META);
}

void mlfs_index_drop(struct mlfs_index *idx, const void *p, size_t len)
{
	uintptr_t from, to;
	struct map m;

	if (!map_of(idx, p, &m))
		return;
	from = (uintptr_t)p & ~(FAULT_AROUND - 1);
	to = ((uintptr_t)p + len + FAULT_AROUND - 1) & ~(FAULT_AROUND - 1);
	if (from < m.base)
		from = m.base;
	if (to > m.base + m.size)
		to = m.base + m.size;
	madvise((void *)from, to - from, MADV_DONTNEED);
}

void mlfs_index_trim(struct mlfs_index *idx)
{
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	struct map m;

	/* Any record of a read-only transaction tells where the map is. */
	if (mlfs_txn_begin(idx, false, &txn))
		return;
	if (mdb_cursor_open(txn, idx->inode, &cur) == 0) {
		if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && map_of(idx, v.mv_data, &m))
			madvise((void *)m.base, m.size, MADV_DONTNEED);
		mdb_cursor_close(cur);
	}
	mlfs_txn_abort(txn); /* the map does not move while it is open */
}

int mlfs_index_sync(struct mlfs_index *idx)
{
	return mlfs_mdb_err(mdb_env_sync(idx->env, 1));
}

/* Double the map while more than half of it is used (before a write transaction). */
static void maybe_grow(struct mlfs_index *idx)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(idx->env, &info) || mdb_env_stat(idx->env, &st))
		return;
	if ((info.me_last_pgno + 1) * (size_t)st.ms_psize * 2 <= info.me_mapsize)
		return;
	pthread_rwlock_wrlock(&idx->resize);
	mdb_env_info(idx->env, &info);
	if ((info.me_last_pgno + 1) * (size_t)st.ms_psize * 2 > info.me_mapsize) {
		int rc = mdb_env_set_mapsize(idx->env, info.me_mapsize * 2);

		if (rc)
			log_errno(mlfs_mdb_err(rc), "cannot grow the index map to %zu bytes",
				  info.me_mapsize * 2);
	}
	pthread_rwlock_unlock(&idx->resize);
}

int mlfs_txn_begin(struct mlfs_index *idx, bool write, MDB_txn **ret)
{
	int rc;

	for (;;) {
		if (write)
			maybe_grow(idx);
		pthread_rwlock_rdlock(&idx->resize);
		rc = mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY, ret);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&idx->resize);
		if (rc != MDB_MAP_RESIZED)
			return mlfs_mdb_err(rc);
		/* Another process grew the map: adopt its size. */
		pthread_rwlock_wrlock(&idx->resize);
		mdb_env_set_mapsize(idx->env, 0);
		pthread_rwlock_unlock(&idx->resize);
	}
}

/* Is the file system under the index (all but) full? */
static bool disk_full(struct mlfs_index *idx)
{
	struct statvfs sv;
	const char *path;

	if (mdb_env_get_path(idx->env, &path) || statvfs(path, &sv))
		return false;
	return (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20);
}

static struct mlfs_index *idx_of(MDB_txn *txn)
{
	return mdb_env_get_userctx(mdb_txn_env(txn));
}

int mlfs_txn_commit(MDB_txn *txn)
{
	struct mlfs_index *idx = idx_of(txn);
	int r = mlfs_fault(MLFS_FAULT_COMMIT), rc;

	if (r) {
		mdb_txn_abort(txn);
		pthread_rwlock_unlock(&idx->resize);
		return r;
	}
	rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&idx->resize);
	if (rc == EIO && disk_full(idx))
		rc = ENOSPC; /* LMDB reports a page write the full disk cut short as EIO */
	return mlfs_mdb_err(rc);
}

void mlfs_txn_abort(MDB_txn *txn)
{
	struct mlfs_index *idx;

	if (!txn)
		return;
	idx = idx_of(txn);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&idx->resize);
}

static int counter_next(MDB_txn *txn, struct mlfs_index *idx, const char *name, uint64_t first,
			uint64_t *ret)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	uint64_t n = first, next;
	int rc;

	rc = mdb_get(txn, idx->info, &k, &v);
	if (rc == 0) {
		if (v.mv_size != sizeof(n))
			return MLFS_E_CORRUPT;
		memcpy(&n, v.mv_data, sizeof(n));
	} else if (rc != MDB_NOTFOUND) {
		return mlfs_mdb_err(rc);
	}
	next = n + 1;
	v.mv_size = sizeof(next);
	v.mv_data = &next;
	rc = mdb_put(txn, idx->info, &k, &v, 0);
	if (rc)
		return mlfs_mdb_err(rc);
	*ret = n;
	return 0;
}

int mlfs_ino_alloc(MDB_txn *txn, struct mlfs_index *idx, uint64_t *ret)
{
	return counter_next(txn, idx, "next_ino", MLFS_FIRST_INO, ret);
}

int mlfs_exp_id_alloc(MDB_txn *txn, struct mlfs_index *idx, uint64_t *ret)
{
	return counter_next(txn, idx, "next_exp", 1, ret);
}

int mlfs_ino_get(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, struct mlfs_inode *ret,
		 const char **ret_payload)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	struct mlfs_inode in;
	int rc;

	mlfs_be64_put(kb, ino);
	rc = mdb_get(txn, idx->inode, &k, &v);
	if (rc)
		return mlfs_mdb_err(rc);
	if (v.mv_size < sizeof(in))
		return MLFS_E_CORRUPT;
	memcpy(&in, v.mv_data, sizeof(in));
	if (v.mv_size != sizeof(in) + in.payload_len || in.ino != ino || in.kind == 0 ||
	    in.kind >= MLFS_K_LAST)
		return MLFS_E_CORRUPT;
	*ret = in;
	if (ret_payload)
		*ret_payload = (const char *)v.mv_data + sizeof(in);
	return 0;
}

int mlfs_ino_put(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_inode *in, const void *payload,
		 size_t plen)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	if (plen > UINT16_MAX)
		return -EINVAL;
	in->payload_len = (uint16_t)plen;
	mlfs_be64_put(kb, in->ino);
	v.mv_size = sizeof(*in) + plen;
	rc = mdb_put(txn, idx->inode, &k, &v, MDB_RESERVE);
	if (rc)
		return mlfs_mdb_err(rc);
	memcpy(v.mv_data, in, sizeof(*in));
	if (plen)
		memcpy((char *)v.mv_data + sizeof(*in), payload, plen);
	return 0;
}

int mlfs_ino_update(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_inode *in)
{
	struct mlfs_inode old;
	const char *payload;
	char small[512], *copy = small;
	int r;

	r = mlfs_ino_get(txn, idx, in->ino, &old, &payload);
	if (r)
		return r;
	/* The payload points into the page that the put may replace: copy it first. */
	if (old.payload_len > sizeof(small)) {
		copy = malloc(old.payload_len);
		if (!copy)
			return -ENOMEM;
	}
	memcpy(copy, payload, old.payload_len);
	r = mlfs_ino_put(txn, idx, in, copy, old.payload_len);
	if (copy != small)
		free(copy);
	return r;
}

int mlfs_ino_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb };

	mlfs_be64_put(kb, ino);
	return mlfs_mdb_err(mdb_del(txn, idx->inode, &k, NULL));
}

/* parent . name, in buf of at least 8 + 255 bytes */
static MDB_val dirent_key(uint8_t *buf, uint64_t parent, const char *name, size_t len)
{
	mlfs_be64_put(buf, parent);
	memcpy(buf + 8, name, len);
	return (MDB_val){ 8 + len, buf };
}

static MDB_val child_key(uint8_t *buf, uint64_t parent, uint64_t ino)
{
	mlfs_be64_put(buf, parent);
	mlfs_be64_put(buf + 8, ino);
	return (MDB_val){ 16, buf };
}

int mlfs_dirent_get(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t *ret)
{
	uint8_t kb[8 + 256];
	MDB_val k, v;
	int rc;

	if (len > 255)
		return -ENAMETOOLONG;
	k = dirent_key(kb, parent, name, len);
	rc = mdb_get(txn, idx->dirent, &k, &v);
	if (rc)
		return mlfs_mdb_err(rc);
	if (v.mv_size != 8)
		return MLFS_E_CORRUPT;
	memcpy(ret, v.mv_data, 8);
	return 0;
}

int mlfs_dirent_add(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t ino)
{
	uint8_t kb[8 + 256], cb[16];
	MDB_val k, v = { 8, &ino }, c, n = { len, (void *)name };
	int rc;

	if (len > 255)
		return -ENAMETOOLONG;
	k = dirent_key(kb, parent, name, len);
	rc = mdb_put(txn, idx->dirent, &k, &v, MDB_NOOVERWRITE);
	if (rc)
		return mlfs_mdb_err(rc);
	c = child_key(cb, parent, ino);
	return mlfs_mdb_err(mdb_put(txn, idx->child, &c, &n, 0));
}

int mlfs_dirent_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t ino)
{
	uint8_t kb[8 + 256], cb[16];
	MDB_val k, c;
	int rc;

	if (len > 255)
		return -ENAMETOOLONG;
	k = dirent_key(kb, parent, name, len);
	rc = mdb_del(txn, idx->dirent, &k, NULL);
	if (rc)
		return mlfs_mdb_err(rc);
	c = child_key(cb, parent, ino);
	rc = mdb_del(txn, idx->child, &c, NULL);
	return rc == MDB_NOTFOUND ? MLFS_E_CORRUPT : mlfs_mdb_err(rc);
}

int mlfs_child_name(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, uint64_t ino,
		    const char **ret, size_t *ret_len)
{
	uint8_t cb[16];
	MDB_val c = child_key(cb, parent, ino), v;
	int rc;

	rc = mdb_get(txn, idx->child, &c, &v);
	if (rc)
		return mlfs_mdb_err(rc);
	*ret = v.mv_data;
	*ret_len = v.mv_size;
	return 0;
}

int mlfs_dir_walk(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, uint64_t from,
		  mlfs_child_fn fn, void *ctx)
{
	uint8_t cb[16];
	MDB_cursor *cur;
	MDB_val k = child_key(cb, parent, from), v;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, idx->child, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size != 16 || mlfs_be64_get(k.mv_data) != parent)
			break;
		r = fn(ctx, mlfs_be64_get((uint8_t *)k.mv_data + 8), v.mv_data, v.mv_size);
		if (r)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

int mlfs_kids_collect(void *c, uint64_t ino, const char *name, size_t len)
{
	struct mlfs_kids *k = c;

	if (len > 255)
		return MLFS_E_CORRUPT;
	if (mlfs_grow(&k->v, &k->cap, k->n, sizeof(*k->v)))
		return -ENOMEM;
	k->v[k->n].ino = ino;
	k->v[k->n].len = len;
	memcpy(k->v[k->n].name, name, len);
	k->v[k->n].name[len] = 0;
	k->n++;
	return 0;
}

static int stop_at_first(void *ctx, uint64_t ino, const char *name, size_t len)
{
	return 1;
}

int mlfs_dir_has_children(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent)
{
	return mlfs_dir_walk(txn, idx, parent, 0, stop_at_first, NULL);
}

static MDB_val rkey_key(uint8_t *buf, uint64_t run, char section, const char *key, size_t len)
{
	mlfs_be64_put(buf, run);
	buf[8] = (uint8_t)section;
	memcpy(buf + 9, key, len);
	return (MDB_val){ 9 + len, buf };
}

int mlfs_rkey_put(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		  const char *key, size_t len, uint64_t ino)
{
	uint8_t kb[9 + 512];
	MDB_val k, v = { 8, &ino };

	if (len > 500)
		return -ENAMETOOLONG;
	k = rkey_key(kb, run, section, key, len);
	return mlfs_mdb_err(mdb_put(txn, idx->rkey, &k, &v, 0));
}

int mlfs_rkey_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		  const char *key, size_t len)
{
	uint8_t kb[9 + 512];
	MDB_val k;
	int rc;

	if (len > 500)
		return -ENAMETOOLONG;
	k = rkey_key(kb, run, section, key, len);
	rc = mdb_del(txn, idx->rkey, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

int mlfs_rkey_walk(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		   mlfs_rkey_fn fn, void *ctx)
{
	uint8_t kb[9];
	MDB_cursor *cur;
	MDB_val k = rkey_key(kb, run, section, "", 0), v;
	uint64_t ino;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, idx->rkey, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < 9 || mlfs_be64_get(k.mv_data) != run ||
		    ((uint8_t *)k.mv_data)[8] != (uint8_t)section)
			break;
		if (v.mv_size != 8) {
			r = MLFS_E_CORRUPT;
			break;
		}
		memcpy(&ino, v.mv_data, 8);
		r = fn(ctx, (const char *)k.mv_data + 9, k.mv_size - 9, ino);
		if (r)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

int mlfs_range_del(MDB_txn *txn, MDB_dbi dbi, uint64_t ino)
{
	uint8_t kb[8];
	MDB_cursor *cur;
	MDB_val k = { 8, kb }, v;
	int rc;

	mlfs_be64_put(kb, ino);
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && mlfs_be64_get(k.mv_data) == ino) {
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
		k.mv_size = 8;
		k.mv_data = kb;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}
