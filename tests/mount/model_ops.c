/*
 * model_ops.c - random file operations on artifacts/, checked against a
 * mirror directory on an ordinary file system.
 *
 *   model_ops [-q] SEED OPS DIR MIRROR
 *   model_ops --replay SEED --ops N DIR MIRROR
 *   model_ops --compare DIR MIRROR
 *
 * DIR is an empty folder in the mount (under a run's artifacts/), MIRROR an
 * empty (or missing) folder on tmpfs or a local disk.  A PRNG seeded with
 * SEED picks OPS operations: create, pwrite at random offsets (1 byte to
 * 3 MiB, some across 1 MiB boundaries, content with repeats), append,
 * truncate both ways, rename of files and folders (also over an existing
 * file, into its own subfolder, over a folder), unlink, mkdir, rmdir, stat,
 * readdir, read at random offsets, mmap read, fsync, and files held open
 * over several operations ("sessions": writes, reads, ftruncate, fstat and
 * fsync through the open descriptor, then close).  Each one is done on both
 * trees; the outcomes (errno, counts, bytes) must agree.  Every few thousand
 * operations and at the end the whole trees are compared: names, types,
 * sizes and content.
 *
 * mlfs makes an artifact's new content the file's at close() (or fsync()),
 * and the kernel shares one page cache among the descriptors of a file, so
 * while a session holds a file open, no other descriptor reads or changes
 * that file: the model does not define what it would see.  Everything else
 * goes on around it, including rename and unlink of the open file.
 *
 * The choices depend only on SEED and the mirror's state, so a run is
 * repeatable.  On the first disagreement it prints the seed, the operation
 * number, the last operations and a command line that replays the sequence
 * up to that operation (on a fresh mount), and exits 1.  --replay prints
 * every operation as it goes.  --compare only compares the two trees (after
 * a remount, say).  The last line on success is
 *
 *     model_ops: seed S: N operations, B bytes written, R bytes read, C compares
 *
 * Exit status: 0 all agreed, 1 a disagreement, 2 usage or set-up error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KiB (1024L)
#define MiB (1024L * 1024)
#define MAX_FILE (8 * MiB) /* files never grow past this */
#define MAX_IO (3 * MiB)   /* the longest single write or read */
#define MAX_FILES 24
#define MAX_DIRS 10
#define MAX_DEPTH 3
#define MAX_ENTS 256
#define RELMAX 512
#define NSESS 2
#define TRACE 24
#define COMPARE_EVERY 2500 /* operations between comparisons of the whole trees */

static const char *mdir, *xdir; /* the mount's folder and the mirror */
static uint64_t seed, rng;
static long op_no, n_ops;
static int replay, quiet;
static unsigned long long bytes_written, bytes_read, compares;
static unsigned long long tree_files, tree_dirs, tree_bytes; /* of the last comparison */

static char trace[TRACE][RELMAX * 2 + 160]; /* the last operations, a ring */
static long ntrace;
static char cur[RELMAX * 2 + 128]; /* the operation being done */

static unsigned char *pool;            /* repeated material for contents */
static unsigned char *wbuf, *rbm, *rbx; /* MAX_IO each (rbm, rbx: MAX_FILE) */

/* ---- PRNG: splitmix64 steps, deterministic for a seed ---- */

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(int percent)
{
	return (int)below(100) < percent;
}

/* ---- reporting ---- */

static void opf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cur, sizeof(cur), fmt, ap);
	va_end(ap);
	if (snprintf(trace[ntrace++ % TRACE], sizeof(trace[0]), "%ld: %s", op_no, cur) < 0)
		trace[(ntrace - 1) % TRACE][0] = 0;
	if (replay)
		fprintf(stderr, "op %ld: %s\n", op_no, cur);
}

static void die(void) __attribute__((noreturn));
static void die(void)
{
	long i;

	if (!replay) {
		fprintf(stderr, "model_ops: the last operations (number: what):\n");
		for (i = ntrace > TRACE ? ntrace - TRACE : 0; i < ntrace; i++)
			fprintf(stderr, "  %s\n", trace[i % TRACE]);
	}
	fprintf(stderr,
		"model_ops: seed %" PRIu64 " failed at operation %ld of %ld\n"
		"model_ops: replay on a fresh mount with\n"
		"  MLFS_MODEL_REPLAY='%" PRIu64 " %ld' bash tests/mount/t_model.sh\n"
		"or, in an empty folder of a mount and an empty mirror,\n"
		"  model_ops --replay %" PRIu64 " --ops %ld DIR MIRROR\n",
		seed, op_no, n_ops, seed, op_no + 1, seed, op_no + 1);
	exit(1);
}

static void mismatch(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void mismatch(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "model_ops: MISMATCH at operation %ld (%s): ", op_no, cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	die();
}

static void setup_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void setup_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "model_ops: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static const char *err_name(int r)
{
	static char buf[64];

	if (r >= 0)
		return "OK";
	snprintf(buf, sizeof(buf), "%s", strerrorname_np(-r) ? strerrorname_np(-r) : "E?");
	return buf;
}

/*
 * Both trees must answer alike: the same success or the same errno.  POSIX
 * lets a rename over a non-empty folder say either ENOTEMPTY or EEXIST.
 */
static void same_rc(const char *step, int rm, int rx)
{
	if (rm == rx)
		return;
	if ((rm == -ENOTEMPTY && rx == -EEXIST) || (rm == -EEXIST && rx == -ENOTEMPTY))
		return;
	if (rm >= 0 && rx >= 0)
		mismatch("%s: the mount gave %d, the mirror %d", step, rm, rx);
	mismatch("%s: the mount gave %s, the mirror %s", step, err_name(rm), err_name(rx));
}

static void same_bytes(const char *what, const unsigned char *m, const unsigned char *x,
		       size_t len, off_t base)
{
	size_t i;

	if (memcmp(m, x, len) == 0)
		return;
	for (i = 0; i < len && m[i] == x[i]; i++)
		;
	mismatch("%s: first difference at offset %lld: the mount has 0x%02x, the mirror 0x%02x",
		 what, (long long)(base + (off_t)i), m[i], x[i]);
}

/* ---- paths and the mirror's tree ---- */

static void pm(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s%s%s", mdir, *rel ? "/" : "", rel);
}

static void px(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s%s%s", xdir, *rel ? "/" : "", rel);
}

struct ent {
	char rel[RELMAX];
	int dir;
	int depth;
	ino_t ino; /* the mirror's */
	off_t size;
};

static struct ent files[MAX_ENTS], dirs[MAX_ENTS];
static int nfiles, ndirs;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of a folder (without . and ..); returns the count or -errno. */
static int list_dir(const char *path, char ***ret)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL;
	int n = 0, cap = 0;

	if (!d)
		return -errno;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = realloc(names, (size_t)cap * sizeof(*names));
		}
		names[n++] = strdup(e->d_name);
	}
	if (errno) {
		int e2 = -errno;
		closedir(d);
		return e2;
	}
	closedir(d);
	if (n > 1)
		qsort(names, (size_t)n, sizeof(*names), cmp_str);
	*ret = names;
	return n;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void scan_dir(const char *rel, int depth)
{
	char path[PATH_MAX], **names = NULL;
	int n, i;

	px(path, rel);
	n = list_dir(path, &names);
	if (n < 0)
		setup_fail("cannot list the mirror's '%s': %s", path, strerror(-n));
	for (i = 0; i < n; i++) {
		struct ent e;
		struct stat st;

		snprintf(e.rel, sizeof(e.rel), "%s%s%s", rel, *rel ? "/" : "", names[i]);
		px(path, e.rel);
		if (lstat(path, &st) < 0)
			setup_fail("cannot stat the mirror's '%s': %s", path, strerror(errno));
		e.dir = S_ISDIR(st.st_mode);
		e.depth = depth + 1;
		e.ino = st.st_ino;
		e.size = st.st_size;
		if (e.dir) {
			if (ndirs < MAX_ENTS)
				dirs[ndirs++] = e;
			scan_dir(e.rel, depth + 1);
		} else if (nfiles < MAX_ENTS) {
			files[nfiles++] = e;
		}
	}
	free_names(names, n);
}

/* dirs[0] is the top folder itself (rel ""). */
static void scan(void)
{
	nfiles = 0;
	ndirs = 1;
	dirs[0].rel[0] = 0;
	dirs[0].dir = 1;
	dirs[0].depth = 0;
	scan_dir("", 0);
}

/* ---- sessions: files held open over several operations ---- */

struct session {
	int used;
	int fm, fx;    /* the mount's and the mirror's descriptors */
	int append;    /* opened O_APPEND */
	ino_t ino;     /* the mirror's inode */
	char rel[RELMAX]; /* its name when opened, for messages */
};

static struct session sess[NSESS];

static int in_session(ino_t ino)
{
	for (int i = 0; i < NSESS; i++)
		if (sess[i].used && sess[i].ino == ino)
			return 1;
	return 0;
}

/* A file no session holds, or NULL. */
static struct ent *pick_free_file(void)
{
	int idx[MAX_ENTS], n = 0;

	for (int i = 0; i < nfiles; i++)
		if (!in_session(files[i].ino))
			idx[n++] = i;
	return n ? &files[idx[below((uint64_t)n)]] : NULL;
}

/* ---- content ---- */

#define POOL (2 * MiB)

/* Content with repeats: pieces of the pool, runs of one byte, fresh noise. */
static void fill(unsigned char *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n = 1 + below(chance(50) ? 4096 : 96 * KiB), k = below(10);

		if (n > len - done)
			n = len - done;
		if (k < 4) { /* a piece of the pool at one of a few places */
			size_t at = (size_t)below(8) * (POOL / 8);
			if (n > POOL - at)
				n = POOL - at;
			memcpy(p + done, pool + at, n);
		} else if (k < 6) {
			memset(p + done, chance(60) ? 0 : (int)below(256), n);
		} else {
			for (size_t i = 0; i < n; i += 8) {
				uint64_t v = rnd();
				memcpy(p + done + i, &v, n - i < 8 ? n - i : 8);
			}
		}
		done += n;
	}
}

static size_t pick_len(void)
{
	int r = (int)below(100);

	if (r < 40)
		return 1 + below(512);
	if (r < 65)
		return 1 + below(8 * KiB);
	if (r < 85)
		return 1 + below(256 * KiB);
	if (r < 96)
		return 1 + below(3 * MiB / 2);
	return 1 + below(MAX_IO);
}

/* An offset for len bytes in a file of size: the end, a chunk boundary, a hole, anywhere. */
static off_t pick_off(off_t size, size_t *len)
{
	int r = (int)below(100);
	off_t off;

	if (r < 20) {
		off = size;
	} else if (r < 40) { /* across a 1 MiB (or 64 KiB) boundary */
		off_t unit = chance(70) ? MiB : 64 * KiB;
		off_t k = 1 + (off_t)below((uint64_t)(size / unit + 1));
		off = k * unit - (off_t)below(*len < 2 ? 2 : *len) - 1;
		if (off < 0)
			off = 0;
	} else if (r < 50) {
		off = size + (off_t)below(300 * KiB);
	} else {
		off = (off_t)below((uint64_t)size + 1);
	}
	if (off > MAX_FILE - 1)
		off = (off_t)below(MAX_FILE / 2);
	if (off + (off_t)*len > MAX_FILE)
		*len = (size_t)(MAX_FILE - off);
	return off;
}

/* ---- system calls on both sides ---- */

static int pwrite_all(int fd, const void *buf, size_t len, off_t off, int append)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = append ? write(fd, (const char *)buf + done, len - done)
				   : pwrite(fd, (const char *)buf + done, len - done,
					    off + (off_t)done);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int rc(int r)
{
	return r < 0 ? -errno : r;
}

/* Open rel on both sides; both succeed or both fail alike (then returns -1). */
static int open2(const char *rel, int flags, int *fm, int *fx)
{
	char a[PATH_MAX], b[PATH_MAX];

	pm(a, rel);
	px(b, rel);
	*fm = rc(open(a, flags, 0644));
	*fx = rc(open(b, flags, 0644));
	if ((*fm >= 0) != (*fx >= 0) || (*fm < 0 && *fm != *fx)) {
		if (*fm >= 0)
			close(*fm);
		if (*fx >= 0)
			close(*fx);
		same_rc("open", *fm < 0 ? *fm : 0, *fx < 0 ? *fx : 0);
	}
	return *fm < 0 ? -1 : 0;
}

static void close2(int fm, int fx)
{
	int rm = rc(close(fm)), rx = rc(close(fx));

	same_rc("close", rm, rx);
}

static void write2(int fm, int fx, size_t len, off_t off, int append)
{
	int rm, rx;

	fill(wbuf, len);
	rm = pwrite_all(fm, wbuf, len, off, append);
	rx = pwrite_all(fx, wbuf, len, off, append);
	same_rc("write", rm, rx);
	bytes_written += len;
}

/* Read len bytes at off through both descriptors and compare. */
static void read2(int fm, int fx, size_t len, off_t off, const char *what)
{
	ssize_t nm = pread_all(fm, rbm, len, off), nx = pread_all(fx, rbx, len, off);

	if (nm < 0 || nx < 0)
		same_rc("read", (int)nm, (int)nx);
	if (nm != nx)
		mismatch("%s: %zu bytes at %lld: the mount read %zd bytes, the mirror %zd", what,
			 len, (long long)off, nm, nx);
	same_bytes(what, rbm, rbx, (size_t)nm, off);
	bytes_read += (unsigned long long)nm;
}

static void fstat_size2(int fm, int fx, const char *what)
{
	struct stat sm, sx;

	if (fstat(fx, &sx) < 0)
		setup_fail("fstat of the mirror: %s", strerror(errno));
	/* mlfs: fstat of a deleted open file is ENOENT (README caveat). */
	if (sx.st_nlink == 0)
		return;
	if (fstat(fm, &sm) < 0)
		mismatch("%s: fstat: %s", what, strerror(errno));
	if (sm.st_size != sx.st_size)
		mismatch("%s: st_size is %lld on the mount, %lld on the mirror", what,
			 (long long)sm.st_size, (long long)sx.st_size);
}

/* ---- the operations ---- */

static const char *file_names[] = {"a", "b", "c", "data.bin", "e", "f", "model.pkl", "h"};
static const char *dir_names[] = {"d0", "d1", "sub", "x y"};

static struct ent *pick_dir_for_new(int max_depth)
{
	int idx[MAX_ENTS], n = 0;

	for (int i = 0; i < ndirs; i++)
		if (dirs[i].depth < max_depth)
			idx[n++] = i;
	return &dirs[idx[below((uint64_t)n)]];
}

static void join(char *out, const char *dir, const char *name)
{
	if (snprintf(out, RELMAX, "%s%s%s", dir, *dir ? "/" : "", name) >= RELMAX)
		setup_fail("a path grew past %d bytes: '%s/%s'", RELMAX, dir, name);
}

static ino_t mirror_ino(const char *rel)
{
	char b[PATH_MAX];
	struct stat st;

	px(b, rel);
	return lstat(b, &st) < 0 ? 0 : st.st_ino;
}

static void op_unlink(void);

static void op_create(void)
{
	char rel[RELMAX];
	int fm, fx, flags = O_WRONLY | O_CREAT;
	size_t len = 0;

	join(rel, pick_dir_for_new(MAX_DEPTH + 1)->rel,
	     file_names[below(sizeof(file_names) / sizeof(*file_names))]);
	if (nfiles >= MAX_FILES)
		return op_unlink();
	if (chance(40) || in_session(mirror_ino(rel)))
		flags |= O_EXCL;
	else
		flags |= O_TRUNC;
	if (chance(60))
		len = pick_len();
	opf("create %s %s, write %zu", rel, flags & O_EXCL ? "O_EXCL" : "O_TRUNC", len);
	if (open2(rel, flags, &fm, &fx) < 0)
		return;
	if (len)
		write2(fm, fx, len, 0, 0);
	close2(fm, fx);
}

static void op_write(int append)
{
	struct ent *e = pick_free_file();
	int fm, fx;
	size_t len = pick_len();
	off_t off;

	if (!e)
		return op_create();
	off = append ? e->size : pick_off(e->size, &len);
	if (append && e->size + (off_t)len > MAX_FILE)
		len = e->size >= MAX_FILE ? 0 : (size_t)(MAX_FILE - e->size);
	opf("%s %s (size %lld) at %lld, %zu bytes", append ? "append" : "pwrite", e->rel,
	    (long long)e->size, (long long)off, len);
	if (open2(e->rel, O_WRONLY | (append ? O_APPEND : 0), &fm, &fx) < 0)
		return;
	if (len)
		write2(fm, fx, len, off, append);
	close2(fm, fx);
}

static void op_truncate(void)
{
	struct ent *e = pick_free_file();
	char a[PATH_MAX], b[PATH_MAX];
	off_t to;

	if (!e)
		return op_create();
	if (chance(50) && e->size > 0)
		to = (off_t)below((uint64_t)e->size);
	else if (chance(30))
		to = e->size;
	else
		to = e->size + 1 + (off_t)below(chance(50) ? 5000 : 2 * MiB);
	if (to > MAX_FILE)
		to = MAX_FILE;
	opf("truncate %s from %lld to %lld", e->rel, (long long)e->size, (long long)to);
	pm(a, e->rel);
	px(b, e->rel);
	same_rc("truncate", rc(truncate(a, to)), rc(truncate(b, to)));
}

static void op_read(int use_mmap)
{
	struct ent *e = pick_free_file();
	int fm, fx;
	size_t len = pick_len();
	off_t off;

	if (!e)
		return;
	off = chance(10) ? e->size + (off_t)below(100) : (off_t)below((uint64_t)e->size + 1);
	opf("%s %s (size %lld) at %lld, %zu bytes", use_mmap ? "mmap-read" : "read", e->rel,
	    (long long)e->size, (long long)off, len);
	if (open2(e->rel, O_RDONLY, &fm, &fx) < 0)
		return;
	if (!use_mmap) {
		read2(fm, fx, len, off, "read");
	} else {
		struct stat sm;
		ssize_t nx;
		unsigned char *map;

		fstat_size2(fm, fx, "mmap-read");
		if (fstat(fm, &sm) == 0 && sm.st_size > 0) {
			map = mmap(NULL, (size_t)sm.st_size, PROT_READ, MAP_SHARED, fm, 0);
			if (map == MAP_FAILED)
				mismatch("mmap of %lld bytes: %s", (long long)sm.st_size,
					 strerror(errno));
			if (off >= sm.st_size)
				off = 0;
			if ((off_t)len > sm.st_size - off)
				len = (size_t)(sm.st_size - off);
			nx = pread_all(fx, rbx, len, off);
			if (nx != (ssize_t)len)
				setup_fail("mirror read: %zd", nx);
			same_bytes("mmap read", map + off, rbx, len, off);
			bytes_read += len;
			munmap(map, (size_t)sm.st_size);
		}
	}
	close2(fm, fx);
}

static void op_fsync(void)
{
	struct ent *e = pick_free_file();
	int fm, fx;
	size_t len = 1 + below(chance(80) ? 4096 : MiB);
	off_t off;

	if (!e)
		return;
	off = pick_off(e->size, &len);
	opf("pwrite+fsync %s (size %lld) at %lld, %zu bytes", e->rel, (long long)e->size,
	    (long long)off, len);
	if (open2(e->rel, O_WRONLY, &fm, &fx) < 0)
		return;
	if (len)
		write2(fm, fx, len, off, 0);
	same_rc("fsync", rc(fsync(fm)), rc(fsync(fx)));
	close2(fm, fx);
}

static void op_unlink(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	const char *rel;

	if (nfiles && chance(90))
		rel = files[below((uint64_t)nfiles)].rel;
	else if (ndirs > 1)
		rel = dirs[1 + below((uint64_t)ndirs - 1)].rel; /* EISDIR */
	else
		return;
	opf("unlink %s", rel);
	pm(a, rel);
	px(b, rel);
	same_rc("unlink", rc(unlink(a)), rc(unlink(b)));
}

static void op_mkdir(void)
{
	char rel[RELMAX], a[PATH_MAX], b[PATH_MAX];

	if (ndirs > MAX_DIRS)
		return;
	join(rel, pick_dir_for_new(MAX_DEPTH)->rel,
	     dir_names[below(sizeof(dir_names) / sizeof(*dir_names))]);
	opf("mkdir %s", rel);
	pm(a, rel);
	px(b, rel);
	same_rc("mkdir", rc(mkdir(a, 0755)), rc(mkdir(b, 0755)));
}

static void op_rmdir(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	const char *rel;

	if (ndirs < 2)
		return;
	rel = dirs[1 + below((uint64_t)ndirs - 1)].rel;
	opf("rmdir %s", rel);
	pm(a, rel);
	px(b, rel);
	same_rc("rmdir", rc(rmdir(a)), rc(rmdir(b)));
}

static void op_rename(void)
{
	char dst[RELMAX], a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX];
	const struct ent *src;
	int r = (int)below(100);

	if (nfiles + ndirs < 2)
		return;
	if (nfiles && (ndirs < 2 || chance(70)))
		src = &files[below((uint64_t)nfiles)];
	else
		src = &dirs[1 + below((uint64_t)ndirs - 1)];
	if (r < 35 && nfiles) /* over an existing file (or itself) */
		snprintf(dst, sizeof(dst), "%s", files[below((uint64_t)nfiles)].rel);
	else if (r < 50 && ndirs > 1) /* over a folder, maybe into itself */
		snprintf(dst, sizeof(dst), "%s", dirs[1 + below((uint64_t)ndirs - 1)].rel);
	else if (src->dir && chance(10)) /* into its own subtree: EINVAL */
		join(dst, src->rel, dir_names[below(4)]);
	else
		join(dst, dirs[below((uint64_t)ndirs)].rel,
		     src->dir ? dir_names[below(4)]
			      : file_names[below(sizeof(file_names) / sizeof(*file_names))]);
	opf("rename %s %s -> %s", src->dir ? "folder" : "file", src->rel, dst);
	pm(a, src->rel);
	px(b, src->rel);
	pm(c, dst);
	px(d, dst);
	same_rc("rename", rc(rename(a, c)), rc(rename(b, d)));
}

static void op_stat(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	const struct ent *e;
	struct stat sm, sx;
	int rm, rx;

	if (nfiles && chance(70))
		e = &files[below((uint64_t)nfiles)];
	else
		e = &dirs[below((uint64_t)ndirs)];
	opf("stat %s", e->rel);
	pm(a, e->rel);
	px(b, e->rel);
	rm = rc(lstat(a, &sm));
	rx = rc(lstat(b, &sx));
	same_rc("stat", rm, rx);
	if (rm < 0)
		return;
	if ((sm.st_mode & S_IFMT) != (sx.st_mode & S_IFMT))
		mismatch("type 0%o on the mount, 0%o on the mirror", sm.st_mode & S_IFMT,
			 sx.st_mode & S_IFMT);
	if (S_ISREG(sx.st_mode) && sm.st_size != sx.st_size)
		mismatch("st_size %lld on the mount, %lld on the mirror", (long long)sm.st_size,
			 (long long)sx.st_size);
}

static void same_listing(const char *rel)
{
	char a[PATH_MAX], b[PATH_MAX], **nm = NULL, **nx = NULL;
	int cm, cx, i;

	pm(a, rel);
	px(b, rel);
	cm = list_dir(a, &nm);
	cx = list_dir(b, &nx);
	same_rc("readdir", cm < 0 ? cm : 0, cx < 0 ? cx : 0);
	if (cm != cx)
		mismatch("readdir of '%s': %d names on the mount, %d on the mirror", rel, cm, cx);
	for (i = 0; i < cm; i++)
		if (strcmp(nm[i], nx[i]))
			mismatch("readdir of '%s': name %d is '%s' on the mount, '%s' on the mirror",
				 rel, i, nm[i], nx[i]);
	if (cm > 0)
		free_names(nm, cm);
	if (cx > 0)
		free_names(nx, cx);
}

static void op_readdir(void)
{
	const struct ent *e = &dirs[below((uint64_t)ndirs)];

	opf("readdir %s", *e->rel ? e->rel : ".");
	same_listing(e->rel);
}

/* Open a file for several operations. */
static void op_sopen(void)
{
	struct session *s = NULL;
	struct ent *e;
	int flags = O_RDWR, k = (int)below(10);

	for (int i = 0; i < NSESS; i++)
		if (!sess[i].used)
			s = &sess[i];
	e = pick_free_file();
	if (!s || !e)
		return;
	if (k < 2)
		flags |= O_TRUNC;
	else if (k < 4)
		flags |= O_APPEND;
	opf("open %s (size %lld)%s%s [session %ld]", e->rel, (long long)e->size,
	    flags & O_TRUNC ? " O_TRUNC" : "", flags & O_APPEND ? " O_APPEND" : "",
	    (long)(s - sess));
	if (open2(e->rel, flags, &s->fm, &s->fx) < 0)
		return;
	s->used = 1;
	s->append = !!(flags & O_APPEND);
	s->ino = e->ino;
	snprintf(s->rel, sizeof(s->rel), "%s", e->rel);
}

static void op_session(void)
{
	struct session *s = NULL;
	struct stat sx;
	int k = (int)below(100), n = 0;

	for (int i = 0; i < NSESS; i++)
		if (sess[i].used && below((uint64_t)++n) == 0)
			s = &sess[i];
	if (!s)
		return op_sopen();
	if (fstat(s->fx, &sx) < 0)
		setup_fail("fstat of the mirror: %s", strerror(errno));
	if (k < 35) {
		size_t len = pick_len();
		off_t off = s->append ? sx.st_size : pick_off(sx.st_size, &len);

		if (s->append && sx.st_size + (off_t)len > MAX_FILE)
			len = sx.st_size >= MAX_FILE ? 0 : (size_t)(MAX_FILE - sx.st_size);
		opf("[session %ld: %s] %s at %lld, %zu bytes", (long)(s - sess), s->rel,
		    s->append ? "write" : "pwrite", (long long)off, len);
		if (len)
			write2(s->fm, s->fx, len, off, s->append);
	} else if (k < 60) {
		size_t len = pick_len();
		off_t off = (off_t)below((uint64_t)sx.st_size + 10);

		opf("[session %ld: %s] pread at %lld, %zu bytes", (long)(s - sess), s->rel,
		    (long long)off, len);
		read2(s->fm, s->fx, len, off, "pread through the open descriptor");
	} else if (k < 70) {
		off_t to = chance(50) ? (off_t)below((uint64_t)sx.st_size + 1)
				      : sx.st_size + (off_t)below(MiB + 7);
		if (to > MAX_FILE)
			to = MAX_FILE;
		opf("[session %ld: %s] ftruncate from %lld to %lld", (long)(s - sess), s->rel,
		    (long long)sx.st_size, (long long)to);
		same_rc("ftruncate", rc(ftruncate(s->fm, to)), rc(ftruncate(s->fx, to)));
	} else if (k < 78) {
		opf("[session %ld: %s] fstat", (long)(s - sess), s->rel);
		fstat_size2(s->fm, s->fx, "fstat through the open descriptor");
	} else if (k < 84) {
		opf("[session %ld: %s] fsync", (long)(s - sess), s->rel);
		same_rc("fsync", rc(fsync(s->fm)), rc(fsync(s->fx)));
	} else {
		opf("[session %ld: %s] close", (long)(s - sess), s->rel);
		s->used = 0;
		close2(s->fm, s->fx);
	}
}

/* ---- whole trees ---- */

static void same_file(const char *rel)
{
	int fm, fx;
	off_t off = 0;

	if (open2(rel, O_RDONLY, &fm, &fx) < 0)
		mismatch("cannot open '%s' on either side", rel);
	fstat_size2(fm, fx, rel);
	for (;;) {
		ssize_t nm = pread_all(fm, rbm, MiB, off), nx = pread_all(fx, rbx, MiB, off);
		char what[RELMAX + 32];

		snprintf(what, sizeof(what), "content of '%s'", rel);
		if (nm < 0 || nx < 0)
			same_rc(what, (int)nm, (int)nx);
		if (nm != nx)
			mismatch("%s: at %lld the mount read %zd bytes, the mirror %zd", what,
				 (long long)off, nm, nx);
		same_bytes(what, rbm, rbx, (size_t)nm, off);
		if (nm == 0)
			break;
		off += nm;
	}
	close2(fm, fx);
}

static void same_tree(const char *rel)
{
	char a[PATH_MAX], b[PATH_MAX], **names = NULL, sub[RELMAX];
	int n, i;

	same_listing(rel);
	px(b, rel);
	n = list_dir(b, &names);
	for (i = 0; i < n; i++) {
		struct stat sm, sx;

		join(sub, rel, names[i]);
		pm(a, sub);
		px(b, sub);
		if (lstat(b, &sx) < 0)
			setup_fail("stat of the mirror's '%s': %s", b, strerror(errno));
		if (lstat(a, &sm) < 0)
			mismatch("stat of '%s': %s", sub, strerror(errno));
		if ((sm.st_mode & S_IFMT) != (sx.st_mode & S_IFMT))
			mismatch("'%s' has type 0%o on the mount, 0%o on the mirror", sub,
				 sm.st_mode & S_IFMT, sx.st_mode & S_IFMT);
		if (S_ISDIR(sx.st_mode)) {
			tree_dirs++;
			same_tree(sub);
		} else {
			tree_files++;
			tree_bytes += (unsigned long long)sx.st_size;
			if (sm.st_size != sx.st_size)
				mismatch("'%s': st_size %lld on the mount, %lld on the mirror", sub,
					 (long long)sm.st_size, (long long)sx.st_size);
			same_file(sub);
		}
	}
	if (n > 0)
		free_names(names, n);
}

static void close_sessions(void)
{
	for (int i = 0; i < NSESS; i++) {
		if (!sess[i].used)
			continue;
		opf("[session %d: %s] close before comparing the trees", i, sess[i].rel);
		sess[i].used = 0;
		close2(sess[i].fm, sess[i].fx);
	}
}

static void compare_all(void)
{
	close_sessions();
	opf("compare the whole trees");
	tree_files = tree_dirs = tree_bytes = 0;
	same_tree("");
	compares++;
}

/* ---- main ---- */

static void one_op(void)
{
	int k = (int)below(1000);

	scan();
	if (k < 110 || (nfiles == 0 && k < 500))
		op_create();
	else if (k < 260)
		op_write(0);
	else if (k < 330)
		op_write(1);
	else if (k < 390)
		op_truncate();
	else if (k < 460)
		op_rename();
	else if (k < 510)
		op_unlink();
	else if (k < 550)
		op_mkdir();
	else if (k < 580)
		op_rmdir();
	else if (k < 680)
		op_read(0);
	else if (k < 720)
		op_read(1);
	else if (k < 740)
		op_fsync();
	else if (k < 770)
		op_stat();
	else if (k < 790)
		op_readdir();
	else if (k < 820)
		op_sopen();
	else
		op_session();
}

static int usage(void)
{
	fprintf(stderr, "usage: model_ops [-q] SEED OPS DIR MIRROR\n"
			"       model_ops --replay SEED --ops N DIR MIRROR\n"
			"       model_ops --compare DIR MIRROR\n");
	return 2;
}

static void check_empty(const char *path, int make)
{
	char **names = NULL;
	int n;

	if (make)
		mkdir(path, 0755);
	n = list_dir(path, &names);
	if (n < 0)
		setup_fail("cannot list '%s': %s", path, strerror(-n));
	if (n > 0)
		setup_fail("'%s' is not empty: the sequence must start from empty folders", path);
}

int main(int argc, char **argv)
{
	int compare_only = 0, i = 1;
	char *end;

	if (argc > 1 && !strcmp(argv[1], "-q")) {
		quiet = 1;
		i++;
	}
	if (argc - i == 2 && !strcmp(argv[i], "--compare")) {
		return usage();
	} else if (argc - i == 3 && !strcmp(argv[i], "--compare")) {
		compare_only = 1;
		i++;
	} else if (argc - i == 6 && !strcmp(argv[i], "--replay") && !strcmp(argv[i + 2], "--ops")) {
		replay = 1;
		seed = strtoull(argv[i + 1], &end, 10);
		if (*end)
			return usage();
		n_ops = strtol(argv[i + 3], &end, 10);
		if (*end)
			return usage();
		i += 4;
	} else if (argc - i == 4) {
		seed = strtoull(argv[i], &end, 10);
		if (*end)
			return usage();
		n_ops = strtol(argv[i + 1], &end, 10);
		if (*end || n_ops < 0)
			return usage();
		i += 2;
	} else {
		return usage();
	}
	mdir = argv[i];
	xdir = argv[i + 1];
	wbuf = malloc(MAX_IO);
	rbm = malloc(MAX_FILE);
	rbx = malloc(MAX_FILE);
	pool = malloc(POOL);
	if (!wbuf || !rbm || !rbx || !pool)
		setup_fail("out of memory");

	if (compare_only) {
		op_no = 0;
		n_ops = 1;
		opf("compare the whole trees");
		same_tree("");
		printf("model_ops: the trees are the same (%llu files, %llu folders, %llu bytes)\n",
		       tree_files, tree_dirs, tree_bytes);
		return 0;
	}
	check_empty(mdir, 0);
	check_empty(xdir, 1);
	rng = seed;
	for (size_t j = 0; j < POOL; j += 8) {
		uint64_t v = rnd();
		memcpy(pool + j, &v, 8);
	}
	for (op_no = 0; op_no < n_ops; op_no++) {
		one_op();
		/* At fixed points, so that a replay of fewer operations does the same. */
		if (op_no % COMPARE_EVERY == COMPARE_EVERY - 1 && op_no + 1 < n_ops) {
			compare_all();
			if (!quiet)
				fprintf(stderr, "model_ops: seed %" PRIu64 ": %ld operations agree\n",
					seed, op_no + 1);
		}
	}
	op_no = n_ops - 1;
	compare_all();
	printf("model_ops: seed %" PRIu64 ": %ld operations, %llu bytes written, %llu bytes "
	       "read, %llu compares\n",
	       seed, n_ops, bytes_written, bytes_read, compares);
	return 0;
}
