/* stats.c - see stats.h. */
#include "stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "gc.h"

/* Is the run whose folder is exp in a deleted experiment?  One lookup per experiment. */
static int exp_deleted(MDB_txn *txn, struct mlfs_index *idx, uint64_t exp, uint64_t *cache_ino,
		       bool *cache_val)
{
	struct mlfs_inode in;
	int r;

	if (*cache_ino != exp) {
		r = mlfs_ino_get(txn, idx, exp, &in, NULL);
		if (r)
			return r;
		*cache_ino = exp;
		*cache_val = in.deleted_ms != 0;
	}
	return *cache_val;
}

/* Each distinct chunk the extents name, with its raw length. */
static int map_named(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_hmap *named)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct mlfs_extent_rec rec;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, idx->extent, &cur);
	if (rc)
		return mlfs_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != sizeof(rec))
			continue; /* malformed: mlfs fsck reports it */
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (!rec.hole && rec.len <= MLFS_CHUNK_MAX)
			r = mlfs_hmap_put(named, &rec.hash, (uint32_t)rec.len) < 0 ? -ENOMEM : 0;
	}
	mdb_cursor_close(cur);
	if (r)
		return r;
	return rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
}

static int count_index(struct mlfs_store *s, struct mlfs_stats *st, struct mlfs_hmap *named)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct mlfs_inode in;
	uint64_t cache_ino = 0;
	bool cache_val = false;
	int rc, r = 0;

	r = mlfs_txn_begin(s->idx, false, &txn);
	if (r)
		return r;
	rc = mdb_cursor_open(txn, s->idx->inode, &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size < sizeof(in))
			continue; /* malformed: mlfs fsck reports it */
		memcpy(&in, v.mv_data, sizeof(in));
		switch (in.kind) {
		case MLFS_K_EXP:
			if (in.deleted_ms)
				st->experiments_deleted++;
			else
				st->experiments++;
			break;
		case MLFS_K_RUN:
			r = 1;
			if (!in.deleted_ms)
				r = exp_deleted(txn, s->idx, in.parent, &cache_ino, &cache_val);
			if (r == 1)
				st->runs_deleted++;
			else if (r == 0)
				st->runs++;
			r = r < 0 ? r : 0;
			break;
		case MLFS_K_MODEL:
			st->models++;
			break;
		case MLFS_K_VERSION:
			st->model_versions++;
			break;
		case MLFS_K_METRIC:
			st->metrics++;
			st->metric_points += in.u.metric.npoints;
			break;
		case MLFS_K_AFILE:
			st->artifact_files++;
			st->logical_bytes += in.size;
			break;
		}
	}
	if (cur)
		mdb_cursor_close(cur);
	if (r == 0)
		r = rc == MDB_NOTFOUND ? 0 : mlfs_mdb_err(rc);
	if (r == 0)
		r = map_named(txn, s->idx, named);
	mlfs_txn_abort(txn);
	return r;
}

static int count_chunks(struct mlfs_store *s, struct mlfs_stats *st,
			const struct mlfs_hmap *named)
{
	char path[PATH_MAX];
	struct mlfs_hash h;
	struct dirent *e, *c;
	struct stat sb;
	uint32_t raw;
	DIR *top, *sub;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/chunks", s->dir);
	top = opendir(path);
	if (!top)
		return log_errno(-errno, "cannot open '%s'", path);
	while ((e = readdir(top))) {
		if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
			continue;
		fd = openat(dirfd(top), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		sub = fdopendir(fd);
		if (!sub) {
			close(fd);
			r = -errno;
			break;
		}
		while ((c = readdir(sub))) {
			if (c->d_name[0] != e->d_name[0] || c->d_name[1] != e->d_name[1] ||
			    mlfs_hash_parse(c->d_name, &h) < 0 ||
			    fstatat(fd, c->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* not a chunk, or collected since readdir saw it */
			st->chunks++;
			st->stored_bytes += sb.st_size;
			if (mlfs_hmap_get(named, &h, &raw)) {
				st->raw_bytes += raw;
			} else {
				st->unreferenced_chunks++;
				st->unreferenced_bytes += sb.st_size;
			}
		}
		closedir(sub);
	}
	closedir(top);
	return r;
}

int mlfs_stats_collect(struct mlfs_store *s, struct mlfs_stats *ret)
{
	struct mlfs_stats st = { 0 };
	struct mlfs_hmap *named;
	int r;

	r = mlfs_hmap_new(&named);
	if (r)
		return r;
	r = count_index(s, &st, named);
	if (r) {
		log_errno(r, "cannot count the index of '%s'", s->dir);
		goto out;
	}
	r = count_chunks(s, &st, named);
	if (r)
		goto out;
	*ret = st;
out:
	mlfs_hmap_free(named);
	return r;
}

static void ratio(char *buf, size_t cap, uint64_t num, uint64_t den)
{
	if (den == 0)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.2f", (double)num / (double)den);
}

int mlfs_stats_render(struct mlfs_store *s, char **ret, size_t *ret_len)
{
	struct mlfs_stats st;
	char dedup[32], comp[32], *text = NULL;
	int n, r;

	r = mlfs_stats_collect(s, &st);
	if (r)
		return r;
	ratio(dedup, sizeof(dedup), st.logical_bytes, st.raw_bytes);
	ratio(comp, sizeof(comp), st.raw_bytes, st.stored_bytes - st.unreferenced_bytes);
	n = asprintf(&text,
		     "experiments: %" PRIu64 "\n"
		     "experiments_deleted: %" PRIu64 "\n"
		     "runs: %" PRIu64 "\n"
		     "runs_deleted: %" PRIu64 "\n"
		     "models: %" PRIu64 "\n"
		     "model_versions: %" PRIu64 "\n"
		     "metrics: %" PRIu64 "\n"
		     "metric_points: %" PRIu64 "\n"
		     "artifact_files: %" PRIu64 "\n"
		     "logical_bytes: %" PRIu64 "\n"
		     "chunks: %" PRIu64 "\n"
		     "stored_bytes: %" PRIu64 "\n"
		     "unreferenced_chunks: %" PRIu64 "\n"
		     "unreferenced_bytes: %" PRIu64 "\n"
		     "raw_bytes: %" PRIu64 "\n"
		     "dedup_ratio: %s\n"
		     "compression_ratio: %s\n",
		     st.experiments, st.experiments_deleted, st.runs, st.runs_deleted, st.models,
		     st.model_versions, st.metrics, st.metric_points, st.artifact_files,
		     st.logical_bytes, st.chunks, st.stored_bytes, st.unreferenced_chunks,
		     st.unreferenced_bytes, st.raw_bytes, dedup, comp);
	if (n < 0)
		return -ENOMEM;
	*ret = text;
	*ret_len = (size_t)n;
	return 0;
}
