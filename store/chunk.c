/*
 * chunk.c - see chunk.h.
 *
 * Compression contexts and the scratch buffer a put compresses into (or a
 * get reads a compressed payload into) are pooled per store: a thread takes
 * one for the length of a call, so the pool holds as many as there were
 * calls at once, and all are freed with the store.
 *
 * Durability is batched: put only writes, closes and renames (enough for
 * kill -9), and mlfs_chunk_sync() makes everything put since the last sync
 * durable with one syncfs() of the store's file system, data and renames
 * alike, instead of two fsyncs per chunk.
 *
 * The gc lock (chunk.h, invariant 6): flock() locks belong to an open file
 * description, and a shared lock taken twice through one description is one
 * lock that the first unlock drops.  So each pooled context carries its own
 * descriptor of STORE/gc.lock, and concurrent puts hold independent shared
 * locks.  Only the two steps gc could race with are under the lock: finding
 * and refreshing a present chunk, and the rename of a new one; compressing
 * and writing the tmp file are not, so that gc's exclusive batches wait for
 * microseconds, not for compression.
 */
#include "chunk.h"
#include "err.h"
#include "fault.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef __x86_64__
#include <xxh_x86dispatch.h>
#endif
#include <zstd.h>

#define ZSTD_LEVEL 1
/* Read-ahead hints waiting for a thread, and the threads that act on them. */
#define PREFETCH_QUEUE 64
#define PREFETCH_THREADS 2

enum chunk_encoding {
	ENC_RAW = 0,
	ENC_ZSTD = 1,
};

_Static_assert(sizeof(struct mlfs_hash) == sizeof(XXH128_canonical_t), "hash layout");
_Static_assert(MLFS_CHUNK_MAX <= INT_MAX, "get returns the raw length as an int");

/* A chunk file's header, decoded. */
struct chunk_hdr {
	enum chunk_encoding enc;
	uint32_t raw_len;
	uint32_t payload_len;
};

/* What one call needs for compression; see the top of the file. */
struct zctx {
	struct zctx *next; /* protected by cs->lock while idle */
	int gc_fd;         /* STORE/gc.lock, opened at the first put; -1 before */
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t buf[MLFS_CHUNK_HDR + MLFS_CHUNK_MAX];
};

struct mlfs_chunkstore {
	char *dir;
	int dir_fd, chunks_fd, tmp_fd;
	uint32_t salt; /* random: tmp names of two processes with one pid differ */
	atomic_ulong tmp_seq;
	atomic_ulong puts;   /* puts that returned 0 */
	atomic_ulong synced; /* value of puts that the last good syncfs covered */
	atomic_int poison;   /* 0, or the error of a failed sync: see chunk.h */
	pthread_mutex_t lock;
	struct zctx *idle; /* protected by lock */
	/* Read-ahead hints (mlfs_chunk_prefetch), all protected by pf_lock. */
	pthread_mutex_t pf_lock;
	pthread_cond_t pf_wake;
	struct mlfs_hash pf_q[PREFETCH_QUEUE];
	size_t pf_head, pf_n;
	pthread_t pf_thr[PREFETCH_THREADS];
	int pf_threads; /* started, by the process pf_pid */
	pid_t pf_pid;
	bool pf_quit;
};

/* "hh/<32 hex>": a chunk file's path under STORE/chunks. */
#define REL_LEN (3 + 32 + 1)
/* "chunk.<pid>.<salt>.<seq>" under STORE/tmp. */
#define TMP_LEN 64

void mlfs_hash_buf(const void *buf, size_t len, struct mlfs_hash *ret)
{
	XXH128_canonical_t c;

	/*
	 * libxxhash's dispatching entry picks the widest vector unit the CPU
	 * has (the same hash, 4x faster here with AVX-512 than the plain one).
	 */
#ifdef __x86_64__
	XXH128_canonicalFromHash(&c, XXH3_128bits_dispatch(buf, len));
#else
	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
#endif
	memcpy(ret->b, c.digest, sizeof(ret->b));
}

void mlfs_hash_hex(const struct mlfs_hash *h, char out[33])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = digits[h->b[i] >> 4];
		out[2 * i + 1] = digits[h->b[i] & 0xf];
	}
	out[32] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int mlfs_hash_parse(const char *hex, struct mlfs_hash *ret)
{
	struct mlfs_hash h;

	for (int i = 0; i < 16; i++) {
		int hi = hex_digit(hex[2 * i]), lo;

		/* hi < 0 at the NUL of a short string, so hex[2i+1] is never past it. */
		if (hi < 0)
			return -EINVAL;
		lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		h.b[i] = hi << 4 | lo;
	}
	if (hex[32] != '\0')
		return -EINVAL;
	*ret = h;
	return 0;
}

static void chunk_rel(const struct mlfs_hash *h, char rel[REL_LEN])
{
	char hex[33];

	mlfs_hash_hex(h, hex);
	rel[0] = hex[0];
	rel[1] = hex[1];
	rel[2] = '/';
	memcpy(rel + 3, hex, 33);
}

int mlfs_chunk_path(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, char *buf, size_t cap)
{
	char rel[REL_LEN];

	if (strlen(cs->dir) + strlen("/chunks/") + REL_LEN > cap)
		return -ENAMETOOLONG;
	chunk_rel(h, rel);
	snprintf(buf, cap, "%s/chunks/%s", cs->dir, rel);
	return 0;
}

/* Log that chunk *h is damaged, and why; returns -EBADMSG. */
static int damaged(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, const char *why,
		   bool replacing)
{
	char path[PATH_MAX];

	if (mlfs_chunk_path(cs, h, path, sizeof(path)) < 0)
		mlfs_hash_hex(h, path);
	if (replacing)
		return log_errno(-EBADMSG, "replacing damaged chunk '%s' (%s)", path, why);
	return log_errno(-EBADMSG, "chunk '%s' is damaged (%s)", path, why);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void encode_hdr(uint8_t out[MLFS_CHUNK_HDR], const struct chunk_hdr *hdr)
{
	memcpy(out, "MLC1", 4);
	out[4] = hdr->enc;
	out[5] = out[6] = out[7] = 0;
	put_le32(out + 8, hdr->raw_len);
	put_le32(out + 12, hdr->payload_len);
}

/*
 * Read and check the header of the chunk file open at fd.  0, -EBADMSG with
 * *ret_why saying what is wrong, or -errno if it cannot be read.
 */
static int read_hdr(int fd, struct chunk_hdr *ret, const char **ret_why)
{
	uint8_t b[MLFS_CHUNK_HDR];
	struct chunk_hdr hdr;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	do
		n = pread(fd, b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n < (ssize_t)sizeof(b) || st.st_size < MLFS_CHUNK_HDR) {
		*ret_why = "shorter than its header";
		return -EBADMSG;
	}
	if (memcmp(b, "MLC1", 4) || b[4] > ENC_ZSTD || b[5] || b[6] || b[7]) {
		*ret_why = "bad header";
		return -EBADMSG;
	}
	hdr.enc = b[4];
	hdr.raw_len = get_le32(b + 8);
	hdr.payload_len = get_le32(b + 12);
	if (hdr.raw_len > MLFS_CHUNK_MAX || hdr.payload_len > MLFS_CHUNK_MAX ||
	    (hdr.enc == ENC_RAW && hdr.payload_len != hdr.raw_len)) {
		*ret_why = "bad lengths in header";
		return -EBADMSG;
	}
	if (st.st_size != MLFS_CHUNK_HDR + (off_t)hdr.payload_len) {
		*ret_why = "file size does not match its header";
		return -EBADMSG;
	}
	*ret = hdr;
	return 0;
}

/* Read exactly len bytes at off; -EBADMSG if the file ends first. */
static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Write all of iov[0..n), asking the fault hook before every write(2). */
static int writev_full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w;
		int r = mlfs_fault(MLFS_FAULT_WRITE);

		if (r < 0)
			return r;
		w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

static struct zctx *zctx_get(struct mlfs_chunkstore *cs)
{
	struct zctx *z;

	pthread_mutex_lock(&cs->lock);
	z = cs->idle;
	if (z)
		cs->idle = z->next;
	pthread_mutex_unlock(&cs->lock);
	if (z)
		return z;

	z = malloc(sizeof(*z));
	if (!z)
		return NULL;
	z->gc_fd = -1;
	z->cctx = ZSTD_createCCtx();
	z->dctx = ZSTD_createDCtx();
	if (!z->cctx || !z->dctx) {
		ZSTD_freeCCtx(z->cctx);
		ZSTD_freeDCtx(z->dctx);
		free(z);
		return NULL;
	}
	return z;
}

static void zctx_put(struct mlfs_chunkstore *cs, struct zctx *z)
{
	pthread_mutex_lock(&cs->lock);
	z->next = cs->idle;
	cs->idle = z;
	pthread_mutex_unlock(&cs->lock);
}

static int open_subdir(int dir_fd, const char *name, int *ret_fd)
{
	int fd;

	if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int mlfs_chunkstore_open(const char *dir, struct mlfs_chunkstore **ret)
{
	struct mlfs_chunkstore *cs;
	int r;

	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_mutex_init(&cs->pf_lock, NULL);
	pthread_cond_init(&cs->pf_wake, NULL);
	cs->dir_fd = cs->chunks_fd = cs->tmp_fd = -1;
	cs->dir = strdup(dir);
	if (!cs->dir) {
		r = -ENOMEM;
		goto fail;
	}
	cs->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->dir_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = open_subdir(cs->dir_fd, "chunks", &cs->chunks_fd);
	if (r < 0)
		goto fail;
	r = open_subdir(cs->dir_fd, "tmp", &cs->tmp_fd);
	if (r < 0)
		goto fail;
	if (getrandom(&cs->salt, sizeof(cs->salt), GRND_NONBLOCK) != sizeof(cs->salt))
		cs->salt = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)cs;
	*ret = cs;
	return 0;
fail:
	mlfs_chunkstore_free(cs);
	return r;
}

void mlfs_chunkstore_free(struct mlfs_chunkstore *cs)
{
	struct zctx *z, *next;

	if (!cs)
		return;
	pthread_mutex_lock(&cs->pf_lock);
	cs->pf_quit = true;
	pthread_cond_broadcast(&cs->pf_wake);
	pthread_mutex_unlock(&cs->pf_lock);
	/* A forked child has the count but not the threads. */
	for (int i = 0; i < cs->pf_threads && cs->pf_pid == getpid(); i++)
		pthread_join(cs->pf_thr[i], NULL);
	pthread_cond_destroy(&cs->pf_wake);
	pthread_mutex_destroy(&cs->pf_lock);
	for (z = cs->idle; z; z = next) {
		next = z->next;
		if (z->gc_fd >= 0)
			close(z->gc_fd);
		ZSTD_freeCCtx(z->cctx);
		ZSTD_freeDCtx(z->dctx);
		free(z);
	}
	if (cs->tmp_fd >= 0)
		close(cs->tmp_fd);
	if (cs->chunks_fd >= 0)
		close(cs->chunks_fd);
	if (cs->dir_fd >= 0)
		close(cs->dir_fd);
	pthread_mutex_destroy(&cs->lock);
	free(cs->dir);
	free(cs);
}

/* Take the shared gc lock through z's own descriptor (see the top of the file). */
static int gc_lock(struct mlfs_chunkstore *cs, struct zctx *z)
{
	if (z->gc_fd < 0) {
		z->gc_fd = openat(cs->dir_fd, MLFS_GC_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
		if (z->gc_fd < 0)
			return log_errno(-errno, "cannot open '%s/%s'", cs->dir, MLFS_GC_LOCK);
	}
	while (flock(z->gc_fd, LOCK_SH) < 0) {
		if (errno != EINTR)
			return log_errno(-errno, "cannot lock '%s/%s'", cs->dir, MLFS_GC_LOCK);
	}
	return 0;
}

static void gc_unlock(struct zctx *z)
{
	flock(z->gc_fd, LOCK_UN);
}

/*
 * Is a whole chunk of raw length len under rel?  1 if so (its mtime is then
 * refreshed, invariant 4); 0 if there is none or what is there is damaged
 * (so that the caller replaces it); -errno if that cannot be told.
 */
static int refresh_present(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, const char *rel,
			   size_t len)
{
	struct chunk_hdr hdr;
	const char *why = NULL;
	int fd, r;

	fd = openat(cs->chunks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = read_hdr(fd, &hdr, &why);
	if (r == 0 && hdr.raw_len != len) {
		why = "raw length differs from the bytes put";
		r = -EBADMSG;
	}
	if (r == -EBADMSG) {
		damaged(cs, h, why, true);
		r = 0;
	} else if (r == 0) {
		r = futimens(fd, NULL) < 0 ? -errno : 1;
	}
	close(fd);
	return r;
}

/* Create a new file in STORE/tmp; its name into name. */
static int tmp_create(struct mlfs_chunkstore *cs, char name[TMP_LEN], int *ret_fd)
{
	/* A name can only be taken by a dead process whose pid and salt were ours. */
	for (int tries = 0; tries < 16; tries++) {
		int fd;

		snprintf(name, TMP_LEN, "chunk.%d.%08x.%lu", (int)getpid(), (unsigned)cs->salt,
			 atomic_fetch_add(&cs->tmp_seq, 1));
		fd = openat(cs->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Rename STORE/tmp/<tmp> to STORE/chunks/<rel>, making the fan-out directory if needed. */
static int rename_into(struct mlfs_chunkstore *cs, const char *tmp, const char *rel)
{
	char fan[3] = {rel[0], rel[1], '\0'};
	int r = mlfs_fault(MLFS_FAULT_RENAME);

	if (r < 0)
		return r;
	if (renameat(cs->tmp_fd, tmp, cs->chunks_fd, rel) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	if (mkdirat(cs->chunks_fd, fan, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (renameat(cs->tmp_fd, tmp, cs->chunks_fd, rel) < 0)
		return -errno;
	return 0;
}

/*
 * Whether compressing len bytes at buf is worth it: a 16 KiB sample from the
 * middle must shrink by MIN_GAIN, a quarter.  The sample costs a sixteenth
 * of compressing the chunk.  Random and already-compressed data (a zip)
 * shrink by nothing.  A checkpoint's weights and smooth float32 arrays
 * shrink by 5-20% at level 1 (7% and 10% over whole files), all of it from
 * entropy-coding the exponent bytes (zstd's negative levels, which skip
 * that, gain nothing on them), at 0.6-0.8 GB/s to compress and 0.7-1.1 GB/s
 * to decompress per core here: slower than the disk and the FUSE
 * transport, and the daemon has two cores for everything.  So such chunks
 * are kept raw: 8% more stored bytes for checkpoints, 11% for float arrays,
 * for writes and reads that cost a hash and a copy.  Text, logs, JSON and
 * sparse arrays shrink by far more than a quarter and are compressed.
 */
#define SAMPLE (16u * 1024)
#define MIN_GAIN (SAMPLE / 4)

static bool compressible(struct zctx *z, const void *buf, size_t len)
{
	size_t n;

	if (len < 4 * SAMPLE)
		return true;
	n = ZSTD_compressCCtx(z->cctx, z->buf, SAMPLE, (const char *)buf + len / 2 - SAMPLE / 2,
			      SAMPLE, ZSTD_LEVEL);
	return !ZSTD_isError(n) && n <= SAMPLE - MIN_GAIN;
}

int mlfs_chunk_put(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, const void *buf,
		   size_t len, size_t *ret_stored)
{
	char rel[REL_LEN], tmp[TMP_LEN] = "";
	uint8_t hdr_bytes[MLFS_CHUNK_HDR];
	struct chunk_hdr hdr;
	struct iovec iov[2];
	struct mlfs_hash actual;
	struct zctx *z = NULL;
	size_t n;
	bool zip;
	int fd = -1, r;

	r = atomic_load(&cs->poison);
	if (r < 0)
		return r;
	if (len > MLFS_CHUNK_MAX)
		return -EINVAL;
	/* Invariant 2 starts here: cheap next to compressing, fatal if broken. */
	mlfs_hash_buf(buf, len, &actual);
	if (memcmp(&actual, h, sizeof(actual))) {
		char hex[33];

		mlfs_hash_hex(h, hex);
		return log_errno(-EINVAL, "cannot put chunk '%s': bytes have another hash", hex);
	}

	chunk_rel(h, rel);
	z = zctx_get(cs);
	if (!z)
		return -ENOMEM;
	/* Invariant 6: gc cannot unlink the file between the check and the refresh. */
	r = gc_lock(cs, z);
	if (r < 0)
		goto fail;
	r = refresh_present(cs, h, rel, len);
	gc_unlock(z);
	if (r < 0)
		goto fail;
	if (r == 1) {
		/* Maybe another process's put, not yet synced: ours to sync now. */
		zctx_put(cs, z);
		atomic_fetch_add(&cs->puts, 1);
		if (ret_stored)
			*ret_stored = 0;
		return 0;
	}

	/* Only a payload smaller than the raw bytes is worth decompressing. */
	zip = len > 0 && compressible(z, buf, len);
	n = zip ? ZSTD_compressCCtx(z->cctx, z->buf, len - 1, buf, len, ZSTD_LEVEL) : 0;
	if (zip && !ZSTD_isError(n)) {
		hdr = (struct chunk_hdr){.enc = ENC_ZSTD, .raw_len = len, .payload_len = n};
		iov[1] = (struct iovec){.iov_base = z->buf, .iov_len = n};
	} else {
		hdr = (struct chunk_hdr){.enc = ENC_RAW, .raw_len = len, .payload_len = len};
		iov[1] = (struct iovec){.iov_base = (void *)buf, .iov_len = len};
	}
	encode_hdr(hdr_bytes, &hdr);
	iov[0] = (struct iovec){.iov_base = hdr_bytes, .iov_len = sizeof(hdr_bytes)};

	r = tmp_create(cs, tmp, &fd);
	if (r < 0) {
		tmp[0] = '\0';
		goto fail;
	}
	r = writev_full(fd, iov, 2);
	if (r < 0)
		goto fail;
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	r = gc_lock(cs, z);
	if (r < 0)
		goto fail;
	r = rename_into(cs, tmp, rel);
	gc_unlock(z);
	if (r < 0)
		goto fail;

	zctx_put(cs, z);
	atomic_fetch_add(&cs->puts, 1);
	if (ret_stored)
		*ret_stored = MLFS_CHUNK_HDR + hdr.payload_len;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(cs->tmp_fd, tmp, 0);
	zctx_put(cs, z);
	return r;
}

int mlfs_chunk_get(struct mlfs_chunkstore *cs, const struct mlfs_hash *h, void *buf, size_t cap)
{
	char rel[REL_LEN];
	const char *why = NULL;
	struct chunk_hdr hdr;
	struct mlfs_hash actual;
	struct zctx *z = NULL;
	bool written = false; /* buf holds bytes not yet checked */
	size_t n;
	int fd, r;

	chunk_rel(h, rel);
	fd = openat(cs->chunks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_hdr(fd, &hdr, &why);
	if (r < 0)
		goto fail;
	if (hdr.raw_len > cap) {
		r = -ENOBUFS;
		goto fail;
	}

	written = true;
	if (hdr.enc == ENC_RAW) {
		r = pread_full(fd, buf, hdr.raw_len, MLFS_CHUNK_HDR);
		if (r == -EBADMSG)
			why = "shorter than its header says";
		if (r < 0)
			goto fail;
	} else {
		z = zctx_get(cs);
		if (!z) {
			r = -ENOMEM;
			goto fail;
		}
		r = pread_full(fd, z->buf, hdr.payload_len, MLFS_CHUNK_HDR);
		if (r == -EBADMSG)
			why = "shorter than its header says";
		if (r < 0)
			goto fail;
		n = ZSTD_decompressDCtx(z->dctx, buf, hdr.raw_len, z->buf, hdr.payload_len);
		if (ZSTD_isError(n) || n != hdr.raw_len) {
			why = "does not decompress";
			r = -EBADMSG;
			goto fail;
		}
	}

	mlfs_hash_buf(buf, hdr.raw_len, &actual);
	if (memcmp(&actual, h, sizeof(actual))) {
		why = "content does not match its name";
		r = -EBADMSG;
		goto fail;
	}
	if (z)
		zctx_put(cs, z);
	close(fd);
	return hdr.raw_len;
fail:
	if (written && hdr.raw_len)
		memset(buf, 0, hdr.raw_len);
	if (z)
		zctx_put(cs, z);
	close(fd);
	if (r == -EBADMSG)
		damaged(cs, h, why, false);
	return r;
}

/*
 * Read-ahead.  Opening a chunk file that is not cached reads its directory
 * block and its inode, synchronously, before posix_fadvise() can start the
 * data on its way; so the hints are queued to PREFETCH_THREADS threads of
 * the store (started at the first hint), which take those waits in
 * parallel, off the reader's thread.  A hint that finds the queue full is
 * dropped: the get will read the file itself.
 */
static void prefetch_now(struct mlfs_chunkstore *cs, const struct mlfs_hash *h)
{
	char rel[REL_LEN];
	int fd;

	chunk_rel(h, rel);
	fd = openat(cs->chunks_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
}

static void *prefetch_main(void *arg)
{
	struct mlfs_chunkstore *cs = arg;
	struct mlfs_hash h;

	pthread_mutex_lock(&cs->pf_lock);
	for (;;) {
		while (!cs->pf_n && !cs->pf_quit)
			pthread_cond_wait(&cs->pf_wake, &cs->pf_lock);
		if (cs->pf_quit)
			break;
		h = cs->pf_q[cs->pf_head];
		cs->pf_head = (cs->pf_head + 1) % PREFETCH_QUEUE;
		cs->pf_n--;
		pthread_mutex_unlock(&cs->pf_lock);
		prefetch_now(cs, &h);
		pthread_mutex_lock(&cs->pf_lock);
	}
	pthread_mutex_unlock(&cs->pf_lock);
	return NULL;
}

void mlfs_chunk_prefetch(struct mlfs_chunkstore *cs, const struct mlfs_hash *h)
{
	bool inline_ = false;

	pthread_mutex_lock(&cs->pf_lock);
	if (!cs->pf_threads && !cs->pf_quit) {
		cs->pf_pid = getpid();
		while (cs->pf_threads < PREFETCH_THREADS &&
		       pthread_create(&cs->pf_thr[cs->pf_threads], NULL, prefetch_main, cs) == 0)
			cs->pf_threads++;
	}
	if (!cs->pf_threads || cs->pf_pid != getpid()) {
		inline_ = true; /* no thread to be had (or a forked child's store) */
	} else if (cs->pf_n < PREFETCH_QUEUE) {
		cs->pf_q[(cs->pf_head + cs->pf_n) % PREFETCH_QUEUE] = *h;
		cs->pf_n++;
		pthread_cond_signal(&cs->pf_wake);
	}
	pthread_mutex_unlock(&cs->pf_lock);
	if (inline_)
		prefetch_now(cs, h);
}

int mlfs_chunk_exists(struct mlfs_chunkstore *cs, const struct mlfs_hash *h)
{
	char rel[REL_LEN];
	struct stat st;

	chunk_rel(h, rel);
	if (fstatat(cs->chunks_fd, rel, &st, 0) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int mlfs_chunk_sync(struct mlfs_chunkstore *cs)
{
	unsigned long puts = atomic_load(&cs->puts), synced;
	int r;

	r = atomic_load(&cs->poison);
	if (r < 0)
		return r;
	if (puts == atomic_load(&cs->synced))
		return 0;
	r = mlfs_fault(MLFS_FAULT_FSYNC);
	if (r == 0 && syncfs(cs->dir_fd) < 0)
		r = -errno;
	if (r < 0) {
		/*
		 * The error is reported once: a second syncfs would succeed
		 * without the lost pages ever reaching the disk.
		 */
		atomic_store(&cs->poison, r);
		return log_errno(r, "cannot sync chunk store '%s'; refusing further puts", cs->dir);
	}
	synced = atomic_load(&cs->synced);
	while (synced < puts && !atomic_compare_exchange_weak(&cs->synced, &synced, puts))
		;
	return 0;
}
