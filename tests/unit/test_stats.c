/*
 * test_stats.c - stats.h on a real store: each number moves when, and only
 * when, what it counts changes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afile.h"
#include "err.h"
#include "series.h"
#include "stats.h"
#include "store.h"
#include "t.h"
#include "store_fixture.h"
#include "trash.h"
#include "tree.h"

static void test_empty(void)
{
	struct mlfs_store *s = fresh_store("stats", 0);
	struct mlfs_stats st;
	char *text = NULL;
	size_t len = 0;

	REQUIRE(s);
	CHECK(mlfs_stats_collect(s, &st) == 0);
	CHECK(st.experiments == 0 && st.runs == 0 && st.chunks == 0 && st.logical_bytes == 0);
	CHECK(mlfs_stats_render(s, &text, &len) == 0);
	REQUIRE(text);
	CHECK(len == strlen(text));
	CHECK(strstr(text, "experiments: 0\n") && strstr(text, "dedup_ratio: -\n") &&
	      strstr(text, "compression_ratio: -\n"));
	free(text);
	mlfs_store_free(s);
}

static void test_counts(void)
{
	struct mlfs_store *s = fresh_store("stats", 0);
	struct mlfs_stats a, b, c;
	size_t size = 1 << 20, text = 600000;
	uint8_t *rnd = malloc(size), *txt = malloc(text);
	uint64_t exp, r1, r2, model, ver, m;
	char *out = NULL;
	size_t len;

	REQUIRE(s && rnd && txt);
	for (size_t i = 0; i < size; i++)
		rnd[i] = (uint8_t)(rand() >> 7);
	for (size_t i = 0; i < text; i++)
		txt[i] = "epoch loss acc\n"[i % 15];
	exp = mkdir_in(s, MLFS_ROOT_INO, "exp1");
	r1 = mkdir_in(s, exp, "r1");
	r2 = mkdir_in(s, exp, "r2");
	REQUIRE(exp && r1 && r2);
	CHECK(mkdir_in(s, MLFS_ROOT_INO, "exp2") != 0);
	m = mkfile(s, lookup(s, r1, "metrics"), "loss");
	REQUIRE(m);
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_series_append(s, &op, m, "1\n2\n3\n4\n5\n6\n7\n", 14) == 7);
	REQUIRE(put_file(s, mkfile(s, lookup(s, r1, "artifacts"), "model.bin"), rnd, size) == 0);
	CHECK(mlfs_stats_collect(s, &a) == 0);
	CHECK(a.experiments == 2 && a.runs == 2 && a.runs_deleted == 0);
	CHECK(a.metrics == 1 && a.metric_points == 7);
	CHECK(a.artifact_files == 1 && a.logical_bytes == size && a.raw_bytes == size);
	CHECK(a.chunks >= 2 && a.stored_bytes >= size); /* random bytes do not compress */

	/* the same bytes again, in another run: twice the logical bytes, no new chunk */
	REQUIRE(put_file(s, mkfile(s, lookup(s, r2, "artifacts"), "model.bin"), rnd, size) == 0);
	CHECK(mlfs_stats_collect(s, &b) == 0);
	CHECK(b.artifact_files == 2 && b.logical_bytes == 2 * size);
	CHECK(b.chunks == a.chunks && b.raw_bytes == a.raw_bytes);
	CHECK(b.stored_bytes == a.stored_bytes);
	CHECK(mlfs_stats_render(s, &out, &len) == 0);
	CHECK(out && strstr(out, "dedup_ratio: 2.00\n"));
	free(out);

	/* a model version's files count; text compresses */
	model = mkdir_in(s, lookup(s, MLFS_ROOT_INO, "models"), "clf");
	ver = model ? mkdir_in(s, model, "1") : 0;
	REQUIRE(ver);
	REQUIRE(put_file(s, mkfile(s, lookup(s, ver, "artifacts"), "notes.txt"), txt, text) == 0);
	/* a run and an experiment in the trash */
	mlfs_op_init(&op, 0, 0);
	CHECK(mlfs_trash_set(s, &op, r2, true) == 0);
	CHECK(mlfs_trash_set(s, &op, lookup(s, MLFS_ROOT_INO, "exp2"), true) == 0);
	CHECK(mlfs_stats_collect(s, &c) == 0);
	CHECK(c.models == 1 && c.model_versions == 1);
	CHECK(c.artifact_files == 3 && c.logical_bytes == 2 * size + text);
	CHECK(c.raw_bytes == size + text && c.stored_bytes < size + text);
	CHECK(c.experiments == 1 && c.experiments_deleted == 1);
	CHECK(c.runs == 1 && c.runs_deleted == 1);
	CHECK(c.unreferenced_chunks == 0 && c.unreferenced_bytes == 0);
	/* a deleted experiment's runs are deleted with it */
	CHECK(mlfs_trash_set(s, &op, exp, true) == 0);
	CHECK(mlfs_stats_collect(s, &c) == 0);
	CHECK(c.runs == 0 && c.runs_deleted == 2 && c.experiments == 0);
	/* content nothing names any more is counted apart, until gc */
	{
		uint64_t f = mkfile(s, lookup(s, ver, "artifacts"), "scratch.bin");
		struct mlfs_stats d;

		for (size_t i = 0; i < size; i++)
			rnd[i] = (uint8_t)(rand() >> 7);
		REQUIRE(f && put_file(s, f, rnd, size) == 0);
		CHECK(mlfs_stats_collect(s, &d) == 0);
		CHECK(d.chunks > c.chunks && d.unreferenced_chunks == 0);
		REQUIRE(put_file(s, f, txt, 10) == 0);
		CHECK(mlfs_stats_collect(s, &d) == 0);
		CHECK(d.unreferenced_chunks + 1 == d.chunks - c.chunks);
		CHECK(d.unreferenced_bytes >= size && d.raw_bytes == c.raw_bytes + 10);
		CHECK(d.logical_bytes == c.logical_bytes + 10);
	}
	free(rnd);
	free(txt);
	mlfs_store_free(s);
}

int main(void)
{
	T_RUN(test_empty);
	T_RUN(test_counts);
	wipe();
	return T_DONE();
}
