/*
 * store_fixture.h - a real store in /tmp for the unit tests of the store
 * modules, and the few calls every such test makes on it.
 *
 * Include once, after t.h.  The test file gets:
 *   dir              the current store's directory ("" before the first)
 *   op               an operation context the helpers below initialise
 *   fresh_store(tag, flags)
 *                    removes the previous store, then inits and opens a new
 *                    one in /tmp/mlfs-unit-<tag>.XXXXXX with the flags of
 *                    mlfs_store_open; NULL if that fails
 *   wipe()           removes the current store (call it before T_DONE)
 *   lookup, mkdir_in, mkfile
 *                    the inode of a name (0 if absent or refused), made as
 *                    uid/gid 1000
 *   fill_random(p, n, seed)
 *                    deterministic bytes that do not compress
 *   put_file(s, ino, data, len)
 *                    the whole new content of ino, written in 128 KiB
 *                    writes as the kernel would send them, and committed
 */
#ifndef MLFS_STORE_FIXTURE_H
#define MLFS_STORE_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "afile.h"
#include "store.h"
#include "tree.h"

static char dir[256];
static struct mlfs_op op;

static inline void wipe(void)
{
	char cmd[300];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd)) {
		/* left for the tmp cleaner */
	}
	dir[0] = 0;
}

static inline struct mlfs_store *fresh_store(const char *tag, unsigned flags)
{
	struct mlfs_store *s = NULL;

	wipe();
	snprintf(dir, sizeof(dir), "/tmp/mlfs-unit-%s.XXXXXX", tag);
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return NULL;
	}
	if (mlfs_store_init(dir) || mlfs_store_open(dir, flags, &s))
		return NULL;
	return s;
}

static inline uint64_t lookup(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;

	return mlfs_lookup(s, parent, name, strlen(name), &st) ? 0 : st.st_ino;
}

static inline uint64_t mkdir_in(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;

	mlfs_op_init(&op, 1000, 1000);
	return mlfs_mkdir(s, &op, parent, name, strlen(name), 0755, &st) ? 0 : st.st_ino;
}

static inline uint64_t mkfile(struct mlfs_store *s, uint64_t parent, const char *name)
{
	struct stat st;
	bool created;

	mlfs_op_init(&op, 1000, 1000);
	if (mlfs_create(s, &op, parent, name, strlen(name), 0644, false, &st, &created))
		return 0;
	return st.st_ino;
}

static inline void fill_random(uint8_t *p, size_t n, unsigned seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static inline int put_file(struct mlfs_store *s, uint64_t ino, const uint8_t *data, size_t len)
{
	struct mlfs_afile *f;
	int r;

	r = mlfs_afile_open(s, ino, O_WRONLY | O_TRUNC, &f);
	if (r)
		return r;
	for (size_t off = 0; off < len && r == 0; off += 131072) {
		size_t n = len - off < 131072 ? len - off : 131072;

		r = mlfs_afile_write(f, off, data + off, n) == (int)n ? 0 : -EIO;
	}
	mlfs_op_init(&op, 0, 0);
	if (r == 0)
		r = mlfs_afile_commit(f, &op);
	mlfs_afile_free(f);
	return r;
}

#endif
