/*
 * fuzz_tree.c - any sequence of namespace operations with any names, as
 * FUSE could hand them to the store (no NUL, no '/', 1 to 255 bytes), leaves
 * an index that mlfs_fsck() finds whole, and every call either works or is
 * refused with an errno a caller can be given (with a sentence when a rule
 * of the tree refused it: EINVAL, EPERM, EROFS).
 *
 * The input is a program for a cursor that starts at the root:
 *
 *   op byte, then per op one or two names (a length byte and that many bytes)
 *   0 mkdir NAME            7 rename NAME NAME2 (in the cursor's folder)
 *   1 create NAME           8 rename NAME into the marked folder, same name
 *   2 cd NAME (lookup)      9 symlink NAME -> NAME2
 *   3 cd ..                 10 chmod NAME to mode byte n
 *   4 cd to the n-th entry  11 write NAME2 as the value of NAME (params,
 *     (n = a byte)             tags, status...) or as lines of a metric
 *   5 unlink NAME           12 mark the cursor's folder (the root at first)
 *   6 rmdir NAME
 *
 * After each program: fsck of the whole store, which must find no problem.
 * Each input gets a store of its own (under $TMPDIR), so that a failing
 * input fails again alone; that costs most of the time of a run.
 */
#include "fuzz.h"
#include "err.h"
#include "fsck.h"
#include "index.h"
#include "series.h"
#include "store.h"
#include "trash.h"
#include "tree.h"
#include "value.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_INPUTS 1

static char dir[4096];
static struct mlfs_store *store;
static unsigned inputs;

static void store_drop(void)
{
	fuzz_store_drop(&store, dir);
}

static void store_make(void)
{
	fuzz_tmpdir(dir, sizeof(dir), "tree");
	EXPECT(mlfs_store_init(dir) == 0);
	EXPECT(mlfs_store_open(dir, MLFS_STORE_DAEMON, &store) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mlfs_log_open("/dev/null");
	atexit(store_drop);
	return 0;
}

/* A refusal must be an errno a FUSE caller can be given, with a sentence. */
static void check_result(const char *what, int r, const struct mlfs_op *op)
{
	switch (-r) {
	case 0:
		return;
	case EINVAL:
	case ENAMETOOLONG:
	case EEXIST:
	case EPERM:
	case EACCES:
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENOTEMPTY:
	case EROFS:
	case EXDEV:
	case ELOOP:
		break;
	default:
		fprintf(stderr, "fuzz_tree: %s gave %d (%s): %s\n", what, r, mlfs_strerror(r),
			op->why);
		abort();
	}
	/*
	 * A refusal by one of the tree's own rules says which; EEXIST, ENOENT
	 * and the like speak for themselves (the errors file then shows
	 * mlfs_strerror()).
	 */
	if ((r == -EINVAL || r == -EPERM || r == -EROFS) && op->why[0] == '\0') {
		fprintf(stderr, "fuzz_tree: %s refused with %s but no sentence\n", what,
			mlfs_strerror(r));
		abort();
	}
}

struct prog {
	const uint8_t *p;
	size_t left;
};

/* The next name: 1..255 bytes, '/' and NUL made '_' (FUSE never passes them). */
static bool take_name(struct prog *pg, char name[256], size_t *ret_len)
{
	size_t len;

	if (pg->left < 1)
		return false;
	len = pg->p[0];
	pg->p++;
	pg->left--;
	if (len == 0)
		len = 1;
	if (len > pg->left)
		return false;
	for (size_t i = 0; i < len; i++)
		name[i] = pg->p[i] == '/' || pg->p[i] == '\0' ? '_' : (char)pg->p[i];
	name[len] = '\0';
	pg->p += len;
	pg->left -= len;
	*ret_len = len;
	return true;
}

struct nth {
	unsigned want, seen;
	uint64_t ino;
	mode_t mode;
};

static int nth_entry(void *ctx, const char *name, size_t len, const struct stat *st,
		     uint64_t next)
{
	struct nth *n = ctx;

	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	if (n->seen++ == n->want) {
		n->ino = st->st_ino;
		n->mode = st->st_mode;
		return 1;
	}
	return 0;
}

/* Is folder ino at or below folder top? */
static bool below(uint64_t ino, uint64_t top)
{
	struct mlfs_inode in;

	for (int depth = 0; depth < 4096; depth++) {
		if (ino == top)
			return true;
		if (ino == MLFS_ROOT_INO || mlfs_inode_of(store, ino, &in))
			return false;
		ino = in.parent;
	}
	return false;
}

static void report(void *ctx, const char *path, const char *problem)
{
	fprintf(stderr, "fuzz_tree: fsck: %s: %s\n", path, problem);
	(*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prog pg = { data, size };
	uint64_t stack[64] = { MLFS_ROOT_INO }, mark = MLFS_ROOT_INO;
	int depth = 0, problems = 0;
	struct mlfs_fsck_result res;
	char path[4096], small[24];

	if (!store || inputs++ % STORE_INPUTS == 0) {
		store_drop();
		store_make();
	}
	while (pg.left > 0) {
		uint64_t cur = stack[depth];
		char name[256], name2[256];
		size_t len, len2;
		struct mlfs_op op;
		struct stat st;
		bool created;
		int r = 0, code = pg.p[0] % 13;

		pg.p++;
		pg.left--;
		mlfs_op_init(&op, 1000, 1000);
		if (code != 3 && code != 4 && code != 12 && !take_name(&pg, name, &len))
			break;
		if ((code == 7 || code == 9 || code == 11) && !take_name(&pg, name2, &len2))
			break;
		switch (code) {
		case 0:
			r = mlfs_mkdir(store, &op, cur, name, len, 0755, &st);
			if (r == 0) {
				struct stat again;

				EXPECT(mlfs_lookup(store, cur, name, len, &again) == 0);
				EXPECT(again.st_ino == st.st_ino && S_ISDIR(again.st_mode));
			}
			check_result("mkdir", r, &op);
			break;
		case 1:
			r = mlfs_create(store, &op, cur, name, len, S_IFREG | 0644, true, &st,
					&created);
			check_result("create", r, &op);
			break;
		case 2:
			r = mlfs_lookup(store, cur, name, len, &st);
			check_result("lookup", r, &op);
			if (r == 0 && S_ISDIR(st.st_mode) && depth < 63)
				stack[++depth] = st.st_ino;
			break;
		case 3:
			if (depth > 0)
				depth--;
			break;
		case 4: {
			struct nth n = { .want = pg.left ? pg.p[0] % 16 : 0 };

			if (pg.left) {
				pg.p++;
				pg.left--;
			}
			r = mlfs_readdir(store, cur, 0, nth_entry, &n);
			EXPECT(r == 0);
			if (n.ino && S_ISDIR(n.mode) && depth < 63)
				stack[++depth] = n.ino;
			break;
		}
		case 5:
			r = mlfs_unlink(store, &op, cur, name, len);
			check_result("unlink", r, &op);
			break;
		case 6:
			r = mlfs_rmdir(store, &op, cur, name, len);
			check_result("rmdir", r, &op);
			/* The cursor or the mark may stand in what went: back to the root. */
			if (r == 0) {
				depth = 0;
				mark = MLFS_ROOT_INO;
			}
			break;
		case 7:
			r = mlfs_rename(store, &op, cur, name, len, cur, name2, len2, 0);
			check_result("rename", r, &op);
			break;
		case 8:
			/* The kernel never asks to move a folder below itself. */
			if (mlfs_lookup(store, cur, name, len, &st) == 0 && below(mark, st.st_ino))
				break;
			r = mlfs_rename(store, &op, cur, name, len, mark, name, len, 0);
			check_result("rename to the mark", r, &op);
			break;
		case 12:
			mark = cur;
			break;
		case 9:
			r = mlfs_symlink(store, &op, cur, name, len, name2, &st);
			check_result("symlink", r, &op);
			break;
		case 10: {
			struct stat attr = { .st_mode = pg.left ? (mode_t)pg.p[0] << 1 : 0 };

			if (pg.left) {
				pg.p++;
				pg.left--;
			}
			r = mlfs_lookup(store, cur, name, len, &st);
			if (r == 0) {
				r = mlfs_setattr(store, &op, st.st_ino, &attr, MLFS_SET_MODE, &st);
				check_result("chmod", r, &op);
			}
			break;
		}
		case 11: {
			struct mlfs_inode in;

			r = mlfs_lookup(store, cur, name, len, &st);
			if (r || mlfs_inode_of(store, st.st_ino, &in))
				break;
			if (mlfs_kind_is_value(in.kind)) {
				r = mlfs_value_write(store, &op, st.st_ino, name2, len2, false);
				check_result("value write", r < 0 ? r : 0, &op);
			} else if (in.kind == MLFS_K_METRIC) {
				r = mlfs_series_append(store, &op, st.st_ino, name2, len2);
				check_result("metric append", r < 0 ? r : 0, &op);
			}
			break;
		}
		}
		/* Any folder's path renders within any buffer, cut or whole. */
		mlfs_path_of(store, stack[depth], small, sizeof(small));
		EXPECT(memchr(small, '\0', sizeof(small)) != NULL);
		mlfs_path_of(store, stack[depth], path, sizeof(path));
		EXPECT(memchr(path, '\0', sizeof(path)) != NULL);
	}
	EXPECT(mlfs_fsck(store, report, &problems, &res) == 0);
	EXPECT(problems == 0 && res.problems == 0);
	return 0;
}
