/*
 * chunk.h - the content-addressed chunk store.
 *
 * A chunk is at most MLFS_CHUNK_MAX bytes of file content, named by the
 * XXH3-128 of those bytes, kept once for the whole store as one file
 * STORE/chunks/<hh>/<32 hex>, zstd-compressed (level 1) when a sample of it
 * shrinks by a quarter or more, raw otherwise (chunk.c says why).  This
 * module is the only place that writes into STORE/chunks; it owns the
 * durability sequence for chunk files.
 *
 * Chunk file format (all integers little-endian):
 *     bytes 0..3   magic "MLC1"
 *     byte  4      encoding: 0 = raw, 1 = zstd
 *     bytes 5..7   zero
 *     bytes 8..11  raw length (u32)
 *     bytes 12..15 stored payload length (u32)
 *     bytes 16..   payload
 *
 * Invariants:
 *  1. A chunk file is only ever visible under its final name whole: it is
 *     written to STORE/tmp/ under a unique name opened O_EXCL, then renamed.
 *  2. The content under a name always hashes to that name; a reader checks
 *     this on every read and reports -EBADMSG otherwise.  No reader is ever
 *     handed bytes that failed the check.
 *  3. A put that returned 0 means the chunk is in place for every later get
 *     in any process (it survives kill -9 of the writer).  It is durable
 *     across power loss once mlfs_chunk_sync() has returned 0 after it.
 *     Until then a power loss may leave the file missing or damaged (empty)
 *     under its final name: get reports that as -EBADMSG, and so nothing may
 *     be made durable that refers to the chunk before that sync.
 *  4. A chunk already present is not written again (dedup); put then only
 *     refreshes its mtime, so that a concurrent gc sees it as young.  Put
 *     does check the header and size of the file it finds, and replaces a
 *     damaged one (as left by 3) by the usual tmp-and-rename.
 *  5. Put checks that the bytes hash to the name it is given, so that a
 *     caller's bug cannot break 2.
 *  6. Put holds a shared flock() of STORE/gc.lock (MLFS_GC_LOCK) while it
 *     finds and refreshes a present chunk, and while it renames a new one
 *     into place; gc (gc.h) unlinks only under the exclusive lock, after
 *     checking that the file's mtime is older than its own start.  So a put
 *     that returned after gc started leaves a file gc will not remove, and
 *     a dedup put never "refreshes" a file gc is unlinking.
 *
 * A chunk file's life (rename replaces atomically, so a reader holds either
 * whole file):
 *
 *     absent --O_EXCL create--> STORE/tmp/chunk.<pid>.<salt>.<n>
 *            --write all, close, rename--> STORE/chunks/<hh>/<hex>   (visible)
 *            --mlfs_chunk_sync()--> durable
 *     any failure before the rename: the tmp file is unlinked, nothing else
 *     changed.
 *
 * A failed mlfs_chunk_sync() cannot be retried (the kernel reports a lost
 * write once), so it poisons the store: every later put and sync returns
 * that error; get and exists still work.  Open the store again to go on.
 *
 * Thread-safety: a struct mlfs_chunkstore may be used by many threads at once.
 */
#ifndef MLFS_CHUNK_H
#define MLFS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define MLFS_CHUNK_MAX (1024u * 1024)
#define MLFS_CHUNK_HDR 16
/* The lock file of invariant 6, in the store directory. */
#define MLFS_GC_LOCK "gc.lock"

/* The XXH3-128 of a chunk's raw bytes, in canonical (big-endian) byte order. */
struct mlfs_hash {
	uint8_t b[16];
};

struct mlfs_chunkstore;

/* Hash len bytes at buf. */
void mlfs_hash_buf(const void *buf, size_t len, struct mlfs_hash *ret);
/* 32 lowercase hex digits and a NUL into out. */
void mlfs_hash_hex(const struct mlfs_hash *h, char out[33]);
/* Parse exactly 32 lowercase hex digits and a NUL; -EINVAL if not. */
int mlfs_hash_parse(const char *hex, struct mlfs_hash *ret);

/*
 * Open the chunk store of the store directory dir (creating dir/chunks and
 * dir/tmp if missing).  -errno on failure.
 */
int mlfs_chunkstore_open(const char *dir, struct mlfs_chunkstore **ret);
void mlfs_chunkstore_free(struct mlfs_chunkstore *cs);

/*
 * Store len (<= MLFS_CHUNK_MAX) bytes whose hash the caller computed as *h.
 * *ret_stored (may be NULL) gets the bytes written to disk, 0 when the chunk
 * was already present.  Errors: -ENOSPC, -EIO, -EDQUOT... from the file
 * system (nothing is left under the final name), -EINVAL if len is too big
 * or the bytes do not hash to *h, the error of a failed sync (poisoned).
 */
int mlfs_chunk_put(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, const void *buf,
		   size_t len, size_t *ret_stored);

/*
 * Read chunk *h into buf (cap >= its raw length) and check its hash.
 * Returns the raw length.  -ENOENT: no such chunk; -EBADMSG: the file is
 * damaged (bad header, short, does not decompress, or hash mismatch);
 * -ENOBUFS: cap too small.  After a failure buf holds nothing of the chunk
 * (bytes that failed the check are zeroed).
 */
int mlfs_chunk_get(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, void *buf, size_t cap);

/*
 * Start reading chunk *h's file into the page cache, without waiting: a
 * thread of the store opens it and calls posix_fadvise(WILLNEED), so that
 * a later get finds it there.  A hint: it may be dropped, and a chunk that
 * is missing or cannot be opened is left to the get to report.
 */
void mlfs_chunk_prefetch(struct mlfs_chunkstore *cs, const struct mlfs_hash *h);

/* 1 if the chunk file exists, 0 if not, -errno on failure to tell. */
int mlfs_chunk_exists(struct mlfs_chunkstore *cs, const struct mlfs_hash *h);

/*
 * Make every chunk put so far (by this process) durable across power loss,
 * with one syncfs() of the store's file system.  Free when nothing was put
 * since the last call.  -errno (also an injected MLFS_FAULT_FSYNC) poisons
 * the store, see above.
 */
int mlfs_chunk_sync(struct mlfs_chunkstore *cs);

/* Path of the chunk file of *h into buf (for fsck, tests and messages); -ENAMETOOLONG. */
int mlfs_chunk_path(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, char *buf, size_t cap);

#endif
