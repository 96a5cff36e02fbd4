/* test_cdc.c - content-defined chunking: store/cdc.h. */
#include "cdc.h"
#include "chunk.h"
#include "t.h"

#include <string.h>

#define MiB (1024u * 1024)

static uint64_t rng_state;

/* splitmix64: a reproducible stream for test data. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t *random_buf(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len);

	rng_state = seed;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rng();

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return p;
}

/*
 * Cut buf into chunks, feeding the chunker piece bytes at a time (0: the
 * whole rest; SIZE_MAX: random sizes).  Fills ends[] with the end offset of
 * every chunk, the last one included; returns their count.
 */
static size_t cut_all(const uint8_t *buf, size_t len, size_t piece, size_t *ends, size_t cap)
{
	struct mlfs_cdc c = MLFS_CDC_INIT;
	size_t off = 0, n = 0, start = 0;
	uint64_t saved = rng_state;

	rng_state = 12345;
	while (off < len) {
		size_t want = len - off, used;
		bool cut = false;

		if (piece == SIZE_MAX)
			want = 1 + rng() % (want < 300000 ? want : 300000);
		else if (piece && piece < want)
			want = piece;
		used = mlfs_cdc_next(&c, buf + off, want, &cut);
		/* Without a cut, every byte offered belongs to the chunk. */
		CHECK(used <= want);
		CHECK(cut || used == want);
		if (used > want || (!cut && used < want))
			break;
		off += used;
		if (cut && n < cap) {
			ends[n++] = off;
			start = off;
		}
	}
	if (start < len && n < cap)
		ends[n++] = len;
	rng_state = saved;
	return n;
}

static void test_feed_any_way(void)
{
	size_t len = 8 * MiB + 12345, n_whole, n;
	static size_t whole[512], other[512];
	static const size_t pieces[] = {
	    1, 7, 4096, 65536, MLFS_CDC_MIN - 1, MLFS_CDC_AVG + 1, MiB, SIZE_MAX};
	uint8_t *buf = random_buf(len, 1);

	n_whole = cut_all(buf, len, 0, whole, 512);
	REQUIRE(n_whole > 10);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		n = cut_all(buf, len, pieces[i], other, 512);
		CHECK(n == n_whole);
		CHECK(!memcmp(whole, other, n_whole * sizeof(whole[0])));
	}
	free(buf);
}

static void test_empty_input(void)
{
	struct mlfs_cdc c = MLFS_CDC_INIT;
	uint8_t b = 0;
	bool cut = true;

	CHECK(mlfs_cdc_next(&c, &b, 0, &cut) == 0);
	CHECK(!cut);
	CHECK(c.len == 0);
}

static void test_sizes_and_average(void)
{
	size_t len = 64 * MiB, n, prev = 0, below_avg = 0;
	static size_t ends[1024];
	uint8_t *buf = random_buf(len, 2);
	double avg;

	n = cut_all(buf, len, 0, ends, 1024);
	REQUIRE(n > 1 && n < 1024);
	for (size_t i = 0; i < n; i++) {
		size_t sz = ends[i] - prev;

		CHECK(sz <= MLFS_CDC_MAX);
		if (i + 1 < n)
			CHECK(sz >= MLFS_CDC_MIN);
		below_avg += sz < MLFS_CDC_AVG;
		prev = ends[i];
	}
	avg = (double)len / n;
	printf("cdc: %zu chunks, average %.1f KiB, %zu below %u KiB\n", n, avg / 1024, below_avg,
	       MLFS_CDC_AVG / 1024);
	/* Expected about 266 KiB; the standard error on 64 MiB is under 5 KiB. */
	CHECK(avg > 230.0 * 1024 && avg < 300.0 * 1024);
	/* Normalization: some chunks end before the average, most just after. */
	CHECK(below_avg > n / 20 && below_avg < n / 2);
	free(buf);
}

static void test_forced_cut_at_max(void)
{
	/* Constant bytes settle the hash on a value that never cuts. */
	size_t len = 5 * MiB + 3, n;
	static size_t ends[64];
	uint8_t *buf = calloc(1, len);

	n = cut_all(buf, len, 4096, ends, 64);
	REQUIRE(n == 6);
	for (size_t i = 0; i < 5; i++)
		CHECK(ends[i] == (i + 1) * MLFS_CDC_MAX);
	CHECK(ends[5] == len);
	free(buf);
}

/* How many chunks of b (by content) are not among the chunks of a. */
static size_t chunks_changed(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
			     size_t *ret_total)
{
	static size_t ea[1024], eb[1024];
	static struct mlfs_hash ha[1024];
	size_t na = cut_all(a, alen, 0, ea, 1024), nb = cut_all(b, blen, 0, eb, 1024);
	size_t changed = 0;

	for (size_t i = 0, prev = 0; i < na; prev = ea[i++])
		mlfs_hash_buf(a + prev, ea[i] - prev, &ha[i]);
	for (size_t i = 0, prev = 0; i < nb; prev = eb[i++]) {
		struct mlfs_hash h;
		size_t j;

		mlfs_hash_buf(b + prev, eb[i] - prev, &h);
		for (j = 0; j < na; j++)
			if (!memcmp(&h, &ha[j], sizeof(h)))
				break;
		changed += j == na;
	}
	*ret_total = nb;
	return changed;
}

static void test_edit_is_local(void)
{
	size_t len = 32 * MiB, mid = 16 * MiB + 777, total, changed;
	uint8_t *a = random_buf(len, 3);
	uint8_t *b = malloc(len + 100);

	/* Overwrite 16 bytes in the middle. */
	memcpy(b, a, len);
	for (int i = 0; i < 16; i++)
		b[mid + i] ^= 0x5a;
	changed = chunks_changed(a, len, b, len, &total);
	CHECK(total > 100);
	CHECK(changed >= 1 && changed <= 2);

	/* Insert 100 bytes: everything after shifts, yet the cuts resynchronize. */
	memcpy(b, a, mid);
	memset(b + mid, 'x', 100);
	memcpy(b + mid + 100, a + mid, len - mid);
	changed = chunks_changed(a, len, b, len + 100, &total);
	CHECK(changed >= 1 && changed <= 3);

	/* Delete 5000 bytes. */
	memcpy(b, a, mid);
	memcpy(b + mid, a + mid + 5000, len - mid - 5000);
	changed = chunks_changed(a, len, b, len - 5000, &total);
	CHECK(changed >= 1 && changed <= 3);

	/* And a change at the very start touches only the start. */
	memcpy(b, a, len);
	b[0] ^= 1;
	changed = chunks_changed(a, len, b, len, &total);
	CHECK(changed >= 1 && changed <= 2);
	free(a);
	free(b);
}

/*
 * The cuts are part of the on-disk format (they decide every chunk's name):
 * these were recorded from the first implementation and must never change.
 */
static void test_cuts_are_frozen(void)
{
	static const size_t golden[] = {
	    268035,  532896,  845943,  1247761, 1499113, 1825178, 1903847,
	    2200037, 2510420, 2989818, 3442615, 3740602, 4074216, 4194304,
	};
	size_t len = 4 * MiB, n;
	static size_t ends[64];
	uint8_t *buf = random_buf(len, 0x6d6c6673);

	n = cut_all(buf, len, 0, ends, 64);
	CHECK(n == sizeof(golden) / sizeof(golden[0]));
	CHECK(!memcmp(ends, golden, sizeof(golden)));
	free(buf);
}

int main(void)
{
	T_RUN(test_empty_input);
	T_RUN(test_feed_any_way);
	T_RUN(test_sizes_and_average);
	T_RUN(test_forced_cut_at_max);
	T_RUN(test_edit_is_local);
	T_RUN(test_cuts_are_frozen);
	return T_DONE();
}
