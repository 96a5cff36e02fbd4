/*
 * fuzz_metric_write.c - the metric write path as a whole, on a real store:
 * any bytes, cut into write()s of any sizes, go through the same steps as an
 * open metric file in the daemon (fs/ops.c write_metric and the close), into
 * mlfs_series_append(), and what mlfs_series_read() gives back at any offset
 * must be the rendering of exactly the points a plain model accepted.
 *
 * The model of one open file: each write() adds its bytes to the pending
 * partial line; the complete lines of pending + write are one append; if any
 * of them does not parse (mlfs_point_parse), the append fails with -EINVAL,
 * stores nothing, and that write's bytes are not taken; an unterminated line
 * longer than PENDING_MAX is refused the same way; at close, the pending
 * last line is appended alone.  A point without a timestamp gets the
 * write's time, one without a step the previous step + 1 (0 first).
 *
 * Input: byte 0 seeds the sizes of the writes (1 to 64 bytes, or all at
 * once when it is 0); the rest is the text (at most MAX_POINTS bytes).  Each input gets a new metric in
 * one run of a store under $TMPDIR, made afresh every 512 inputs.
 */
#include "fuzz.h"
#include "err.h"
#include "index.h"
#include "metric.h"
#include "series.h"
#include "store.h"
#include "tree.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PENDING_MAX 4096 /* fs/ops.c */
#define MAX_POINTS 16384

static char dir[4096];
static struct mlfs_store *store;
static uint64_t metrics_ino;
static unsigned inputs;

static void store_drop(void)
{
	fuzz_store_drop(&store, dir);
}

static void store_make(void)
{
	struct mlfs_op op;
	struct stat st;

	fuzz_tmpdir(dir, sizeof(dir), "metric-write");
	EXPECT(mlfs_store_init(dir) == 0);
	/* The daemon's way: commits are not flushed one by one. */
	EXPECT(mlfs_store_open(dir, MLFS_STORE_DAEMON, &store) == 0);
	mlfs_op_init(&op, 0, 0);
	EXPECT(mlfs_mkdir(store, &op, MLFS_ROOT_INO, "e", 1, 0755, &st) == 0);
	EXPECT(mlfs_mkdir(store, &op, st.st_ino, "r", 1, 0755, &st) == 0);
	EXPECT(mlfs_lookup(store, st.st_ino, "metrics", 7, &st) == 0);
	metrics_ino = st.st_ino;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* A small map, so that growing it is part of what runs. */
	setenv("MLFS_MAPSIZE", "262144", 1);
	mlfs_log_open("/dev/null");
	atexit(store_drop);
	return 0;
}

/* The model's metric: its points and their rendering. */
static struct mlfs_point model[MAX_POINTS];
static size_t n_model;
static char text[MAX_POINTS * MLFS_POINT_LINE_MAX];
static size_t text_len;

/* What append(lines) must do: -EINVAL, or add the points and return how many. */
static int model_append(const char *data, size_t len, int64_t now_ms)
{
	struct mlfs_point add[MAX_POINTS];
	size_t n = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - data - pos) : len - pos;
		struct mlfs_point p = { 0, 0, 0 };
		int form = mlfs_point_parse(data + pos, llen, &p);

		if (form < 0)
			return -EINVAL;
		if (form != MLFS_POINT_FULL)
			p.ts_ms = now_ms;
		if (form == MLFS_POINT_VALUE)
			p.step = n ? add[n - 1].step + 1 : n_model ? model[n_model - 1].step + 1 : 0;
		EXPECT(n < MAX_POINTS);
		add[n++] = p;
		pos += llen + (nl != NULL);
	}
	for (size_t i = 0; i < n; i++) {
		EXPECT(n_model < MAX_POINTS);
		model[n_model++] = add[i];
		text_len += mlfs_point_format(&add[i], text + text_len);
	}
	return (int)n;
}

/* One append through the store and the model; they must agree. */
static int append_both(uint64_t ino, const char *data, size_t len, int64_t now_ns)
{
	struct mlfs_op op;
	int want, got;

	mlfs_op_init(&op, 0, 0);
	op.now_ns = now_ns;
	want = model_append(data, len, now_ns / 1000000);
	got = mlfs_series_append(store, &op, ino, data, len);
	if (got != want)
		fprintf(stderr, "fuzz_metric_write: append of %zu bytes gave %d, the model %d\n", len,
			got, want);
	EXPECT(got == want);
	if (got < 0)
		EXPECT(op.why[0] != '\0');
	return got;
}

static uint32_t rng;

static uint32_t next(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char pending[PENDING_MAX + MAX_POINTS];
	static char readbuf[sizeof(text) + 16];
	const char *in = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, pos = 0, plen = 0;
	int64_t now_ns = 1700000000000000000ll;
	struct mlfs_op op;
	struct stat st;
	char name[32];
	bool created;
	int r;

	if (size == 0 || size > MAX_POINTS)
		return 0;
	if (!store || inputs % 512 == 0) {
		store_drop();
		store_make();
	}
	snprintf(name, sizeof(name), "m%u", inputs++);
	mlfs_op_init(&op, 0, 0);
	EXPECT(mlfs_create(store, &op, metrics_ino, name, strlen(name), S_IFREG | 0644, true, &st,
			   &created) == 0);
	n_model = 0;
	text_len = 0;
	rng = data[0] * 2654435761u + 1;

	/* The writes: what fs/ops.c write_metric does with each. */
	while (pos < len) {
		size_t w = data[0] ? 1 + next() % 64 : len;
		size_t total, lines;
		const char *nl;

		if (w > len - pos)
			w = len - pos;
		memcpy(pending + plen, in + pos, w);
		total = plen + w;
		nl = memrchr(pending, '\n', total);
		lines = nl ? (size_t)(nl - pending) + 1 : 0;
		pos += w;
		now_ns += 1000000 + next();
		if (total - lines > PENDING_MAX)
			continue; /* refused: the write's bytes are not taken */
		if (lines) {
			r = append_both(st.st_ino, pending, lines, now_ns);
			if (r < 0)
				continue; /* refused: pending stays as it was */
			memmove(pending, pending + lines, total - lines);
		}
		plen = total - lines;
	}
	/* The close: a last line without its newline is complete now. */
	if (plen)
		append_both(st.st_ino, pending, plen, now_ns + 1000000);

	/* The size, the whole text, and pieces of it at any offset. */
	EXPECT(mlfs_getattr(store, st.st_ino, &st) == 0);
	EXPECT((size_t)st.st_size == text_len);
	r = mlfs_series_read(store, st.st_ino, 0, readbuf, sizeof(readbuf));
	EXPECT(r == (int)text_len);
	EXPECT(memcmp(readbuf, text, text_len) == 0);
	for (int i = 0; i < 8 && text_len; i++) {
		size_t off = next() % (text_len + 1), n = 1 + next() % 300;
		size_t want = off + n > text_len ? text_len - off : n;

		r = mlfs_series_read(store, st.st_ino, off, readbuf, n);
		EXPECT(r == (int)want);
		EXPECT(memcmp(readbuf, text + off, want) == 0);
	}
	EXPECT(mlfs_series_read(store, st.st_ino, text_len + 1, readbuf, 10) == 0);
	return 0;
}
