/*
 * fuzz.h - what every libFuzzer target of tests/fuzz shares.
 *
 *   EXPECT(cond)          aborts with the file, line and condition when cond
 *                         is false, so that libFuzzer keeps the input
 *   fuzz_tmpdir(dir, cap, tag)
 *                         makes a new directory $TMPDIR/fuzz-<tag>.XXXXXX
 *                         (/tmp without TMPDIR) into dir; aborts if it cannot
 *   fuzz_rmtree(dir)      removes dir and everything under it, then sets
 *                         dir to "" (nothing happens if it already is)
 *   fuzz_store_drop(&s, dir)
 *                         frees store *s (if any) and removes its directory
 */
#ifndef MLFS_FUZZ_H
#define MLFS_FUZZ_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "store.h"

#define EXPECT(cond)                                                                      \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

static inline void fuzz_tmpdir(char *dir, size_t cap, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, cap, "%s/fuzz-%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
	EXPECT(mkdtemp(dir) != NULL);
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void fuzz_rmtree(char *dir)
{
	if (dir[0])
		nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

static inline void fuzz_store_drop(struct mlfs_store **s, char *dir)
{
	if (*s)
		mlfs_store_free(*s);
	*s = NULL;
	fuzz_rmtree(dir);
}

#endif
