/*
 * index.h - the LMDB index: the schema and its primitive operations.
 *
 * The index holds the whole tree.  Every object a user can name (experiment,
 * run, the folders and files in a run, artifact files, key folders) is an
 * inode with a number from a counter kept in the index, never reused, so
 * that inode numbers stay the same across remounts and NFS export.
 *
 * Named databases in one environment (STORE/index/):
 *
 *   info    "format" -> u32, "next_ino" -> u64, "next_exp" -> u64
 *   inode   ino (u64 BE) -> struct mlfs_inode, then a payload (a param or
 *           tag value, a symlink target, a run's user name, a metric's
 *           newest points as raw struct mlfs_point, up to MLFS_RAW_POINTS)
 *   dirent  parent (u64 BE) . name -> child ino (u64)
 *   child   parent (u64 BE) . child ino (u64 BE) -> name
 *           (readdir walks this, in creation order, and the offset it hands
 *           the kernel is the next child ino, so it survives concurrent
 *           changes; it also turns an ino into a path for messages)
 *   extent  ino (u64 BE) . file offset (u64 BE) -> struct mlfs_extent_rec
 *           (an artifact's content, as chunks of the chunk store)
 *   mblock  ino (u64 BE) . byte offset (u64 BE) of its first line ->
 *           struct mlfs_mblock_hdr then mlfs_mblock_encode() bytes
 *   rkey    run ino (u64 BE) . section byte . full key -> ino
 *           (a run's params, metrics and tags without walking key folders;
 *           the listing and the later search index read this)
 *   orphan  ino (u64 BE) -> nothing: artifacts deleted while the daemon
 *           had them open; they go at their last close, or when a daemon
 *           starts (none is open then)
 *   pending chunk hash (16) . owner (u64 BE) -> int64 ms
 *           chunks an open artifact has put but not yet committed; gc
 *           keeps them (see gc.h for who owns an entry and when it is stale)
 *
 * Keys are big-endian so that LMDB's byte order is numeric order; records
 * are in host order (an LMDB file is not portable across byte orders anyway).
 *
 * The map starts at MLFS_MAPSIZE bytes (1 TiB of address space unless the
 * environment variable MLFS_MAPSIZE says less, as tests do) and doubles
 * before a write transaction whenever more than half of it is used, so a
 * growing store never sees MDB_MAP_FULL; a size another process set is
 * adopted when LMDB reports MDB_MAP_RESIZED.
 *
 * Calling sequence: mlfs_index_open(), then transactions from
 * mlfs_txn_begin(), used by one thread each, ended by mlfs_txn_commit() or
 * mlfs_txn_abort().  Pointers into a transaction's data (payloads, names)
 * are valid only until it ends.  LMDB's codes are mapped to negative errnos
 * here and nowhere else (mlfs_mdb_err).
 */
#ifndef MLFS_INDEX_H
#define MLFS_INDEX_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

#define MLFS_FORMAT 1
#define MLFS_ROOT_INO 1ull
/* Numbers below MLFS_FIRST_INO are the daemon's virtual files (/.mlfs). */
#define MLFS_FIRST_INO 16ull

enum mlfs_kind {
	MLFS_K_ROOT = 1,
	MLFS_K_EXP,       /* experiment folder */
	MLFS_K_EXP_META,  /* <exp>/meta */
	MLFS_K_XTAGS,     /* <exp>/tags and key folders below it */
	MLFS_K_XTAG,      /* an experiment tag */
	MLFS_K_RUN,       /* run folder */
	MLFS_K_PARAMS,    /* params/ and key folders below it */
	MLFS_K_PARAM,
	MLFS_K_METRICS,   /* metrics/ and key folders below it */
	MLFS_K_METRIC,
	MLFS_K_TAGS,      /* <run>/tags/ and key folders below it */
	MLFS_K_TAG,
	MLFS_K_STATUS,    /* <run>/status */
	MLFS_K_RUN_META,  /* <run>/meta */
	MLFS_K_ADIR,      /* artifacts/ and folders below it */
	MLFS_K_AFILE,     /* artifact file */
	MLFS_K_ALINK,     /* artifact symlink */
	MLFS_K_MODELS,    /* /models */
	MLFS_K_MODEL,     /* /models/<name> */
	MLFS_K_VERSION,   /* /models/<name>/<N> */
	MLFS_K_SOURCE,    /* <version>/source: "<experiment>/<run>" */
	MLFS_K_STAGE,     /* <version>/stage */
	MLFS_K_ALIASES,   /* /models/<name>/aliases */
	MLFS_K_MLINK,     /* a model's Staging, Production, latest or alias symlink */
	MLFS_K_LAST,
};

enum mlfs_inode_flags {
	MLFS_IF_TOP = 1 << 0,       /* the fixed folder of a run or experiment (params/, artifacts/...) */
	MLFS_IF_VALUE_SET = 1 << 1, /* a param, tag or source that has been given a value */
	MLFS_IF_FROZEN = 1 << 2,    /* a model version whose stage has left None */
	MLFS_IF_ALIAS = 1 << 3,     /* a link in a model's aliases/ */
	MLFS_IF_ORPHAN = 1 << 4,    /* an artifact deleted while open: nameless, kept until closed */
};

/* Sections of the rkey database. */
enum mlfs_section {
	MLFS_SEC_PARAM = 'p',
	MLFS_SEC_METRIC = 'm',
	MLFS_SEC_TAG = 't',
};

/* The fixed part of an inode record; a payload of payload_len bytes follows. */
struct mlfs_inode {
	uint8_t kind;   /* enum mlfs_kind */
	uint8_t flags;  /* enum mlfs_inode_flags */
	uint16_t payload_len;
	uint32_t mode;  /* S_IFMT bits and permissions */
	uint32_t uid;
	uint32_t gid;
	uint64_t ino;
	uint64_t parent;
	uint64_t size;  /* artifact bytes; a metric's text bytes */
	uint64_t gen;   /* bumped at each change of content */
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
	union {
		struct {
			uint64_t id;        /* MLflow's experiment_id */
			int64_t created_ms;
			uint64_t ndeleted;  /* its runs in .trash */
		} exp;
		struct {
			uint8_t id[16];     /* run id, shown as 32 hex */
			int64_t start_ms;
			int64_t end_ms;     /* 0 while the run has not ended */
			uint32_t status;    /* enum mlfs_status */
			uint32_t pad;
			uint64_t exp;       /* the experiment's ino */
		} run;
		struct {
			uint64_t npoints;
			int64_t last_step;
			int64_t last_ts;
			double last_value;
			uint64_t tail_off;  /* key of the last block */
			uint32_t tail_n;    /* points in the last block */
			uint32_t raw_bytes; /* text bytes of the newest points, raw in the payload */
		} metric;
		struct {
			uint64_t next_version;
		} model;
		struct {
			uint64_t number;
			uint32_t stage;     /* enum mlfs_stage */
			uint32_t pad;
			uint64_t model;     /* the model's ino */
			int64_t created_ms;
		} version;
		uint8_t raw[48];
	} u;
	int64_t deleted_ms; /* an experiment or run moved to .trash, and when; 0 if not */
};
_Static_assert(sizeof(struct mlfs_inode) == 128, "inode record layout is on disk");

/* An artifact extent: a chunk, or a hole of zeros when hole is set. */
struct mlfs_extent_rec {
	struct mlfs_hash hash;
	uint64_t len;
	uint32_t hole;
	uint32_t pad;
};
_Static_assert(sizeof(struct mlfs_extent_rec) == 32, "extent record layout is on disk");

/* What precedes an encoded metric block. */
struct mlfs_mblock_hdr {
	uint32_t npoints;
	uint32_t text_bytes; /* bytes of its rendered lines */
};
_Static_assert(sizeof(struct mlfs_mblock_hdr) == 8, "metric block header layout is on disk");

struct mlfs_index {
	MDB_env *env;
	MDB_dbi info, inode, dirent, child, extent, mblock, rkey, pending, orphan;
	/*
	 * Held shared by every open transaction of this process, exclusively to
	 * change the map's size (LMDB allows that only with no transaction open).
	 */
	pthread_rwlock_t resize;
};

enum mlfs_index_flags {
	MLFS_IDX_CREATE = 1 << 0, /* create the environment and its databases */
	MLFS_IDX_NOSYNC = 1 << 1, /* commits are not flushed; mlfs_index_sync() does */
	MLFS_IDX_RDONLY = 1 << 2,
};

/* Open (or with MLFS_IDX_CREATE create) the index in dir. */
int mlfs_index_open(const char *dir, unsigned flags, struct mlfs_index **ret);
void mlfs_index_free(struct mlfs_index *idx);
/*
 * Drop this process's mapping of the index's pages (they stay in the page
 * cache, and fault back in when read): bounds the daemon's resident size
 * after reading a large part of the index.
 */
void mlfs_index_trim(struct mlfs_index *idx);
/*
 * The same for the pages around p[0..len), a record that a read-only
 * transaction returned (only there: a write transaction's records may lie in
 * its own dirty pages, which this would zero).  The transaction still reads
 * them (they fault back in).
 */
void mlfs_index_drop(struct mlfs_index *idx, const void *p, size_t len);
/* Flush every commit so far to disk (fdatasync). */
int mlfs_index_sync(struct mlfs_index *idx);
/* Map an LMDB return code to a negative errno (0 stays 0). */
int mlfs_mdb_err(int rc);

int mlfs_txn_begin(struct mlfs_index *idx, bool write, MDB_txn **ret);
int mlfs_txn_commit(MDB_txn *txn);
void mlfs_txn_abort(MDB_txn *txn);

/* Big-endian key helpers. */
void mlfs_be64_put(uint8_t *p, uint64_t v);
uint64_t mlfs_be64_get(const uint8_t *p);

/* A new inode number (write txn). */
int mlfs_ino_alloc(MDB_txn *txn, struct mlfs_index *idx, uint64_t *ret);
/* A new experiment id (write txn). */
int mlfs_exp_id_alloc(MDB_txn *txn, struct mlfs_index *idx, uint64_t *ret);

/*
 * Read inode ino.  *ret_payload (may be NULL) points into the transaction.
 * -ENOENT if there is none, MLFS_E_CORRUPT if the record is malformed.
 */
int mlfs_ino_get(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino, struct mlfs_inode *ret,
		 const char **ret_payload);
/* Write inode in->ino with a payload (in->payload_len is set from plen). */
int mlfs_ino_put(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_inode *in, const void *payload,
		 size_t plen);
/* Write the fixed part only, keeping the stored payload. */
int mlfs_ino_update(MDB_txn *txn, struct mlfs_index *idx, struct mlfs_inode *in);
int mlfs_ino_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t ino);

/* Look name up in parent: its ino, or -ENOENT. */
int mlfs_dirent_get(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t *ret);
/* Add name -> ino in parent (dirent and child records); -EEXIST if taken. */
int mlfs_dirent_add(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t ino);
/* Remove name (and its child record) from parent. */
int mlfs_dirent_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, const char *name,
		    size_t len, uint64_t ino);
/* The name of child ino in parent, pointing into the transaction. */
int mlfs_child_name(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, uint64_t ino,
		    const char **ret, size_t *ret_len);
/* 1 if parent has any child, 0 if none. */
int mlfs_dir_has_children(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent);

/*
 * Walk parent's children with ino >= from, in ino order, calling fn for
 * each until it returns non-zero (which is returned) or they run out (0).
 */
typedef int (*mlfs_child_fn)(void *ctx, uint64_t ino, const char *name, size_t len);
int mlfs_dir_walk(MDB_txn *txn, struct mlfs_index *idx, uint64_t parent, uint64_t from,
		  mlfs_child_fn fn, void *ctx);

/*
 * A folder's children copied out of a transaction (names included), so that
 * the caller may change the folder while it goes through them.  Fill with
 * mlfs_dir_walk(txn, idx, dir, 0, mlfs_kids_collect, &kids); free kids.v.
 */
struct mlfs_kid {
	uint64_t ino;
	size_t len;
	char name[256]; /* NUL-terminated */
};

struct mlfs_kids {
	struct mlfs_kid *v;
	size_t n, cap;
};

int mlfs_kids_collect(void *kids, uint64_t ino, const char *name, size_t len);

/* The rkey database: a run's keys by section. */
int mlfs_rkey_put(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		  const char *key, size_t len, uint64_t ino);
int mlfs_rkey_del(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		  const char *key, size_t len);
typedef int (*mlfs_rkey_fn)(void *ctx, const char *key, size_t len, uint64_t ino);
int mlfs_rkey_walk(MDB_txn *txn, struct mlfs_index *idx, uint64_t run, char section,
		   mlfs_rkey_fn fn, void *ctx);

/* Delete every record whose key starts with ino (u64 BE): extent, mblock, rkey. */
int mlfs_range_del(MDB_txn *txn, MDB_dbi dbi, uint64_t ino);

#endif
