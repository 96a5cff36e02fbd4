/*
 * fuzz_mblock.c - decoding any bytes stays in bounds and what it gives
 * encodes and decodes back to itself; points made from the input encode and
 * decode bit-exactly within mlfs_mblock_bound().
 *
 * The same points appended in two pieces, and under a budget one byte short
 * of their block, give exactly the blocks mlfs_mblock_encode() makes of what
 * was taken.
 *
 * The input's first byte picks what the rest is: any bytes to decode, raw
 * points, or small deltas that land in the codec's decimal and Rice paths.
 */
#include "metric.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mlfs_point pts[MLFS_MBLOCK_POINTS], back[MLFS_MBLOCK_POINTS];
static uint8_t buf[128 * 1024], blk[128 * 1024], want[128 * 1024];

/*
 * Appending p[0..n) in two pieces under cap, the second decoding the first
 * or going on from its resume, gives the block encode makes of what it took.
 */
static void append_check(size_t n, size_t cut, size_t cap, bool resumed)
{
	struct mlfs_mblock_resume resume = MLFS_MBLOCK_RESUME_INIT;
	size_t t1 = 0, t2 = 0;
	int len, r;

	len = mlfs_mblock_append(blk, 0, cap, pts, cut, &t1, &resume);
	if (len >= 0 && t1 == cut)
		len = mlfs_mblock_append(blk, len, cap, pts + cut, n - cut, &t2,
					 resumed ? &resume : NULL);
	if (len < 3 || (size_t)len > cap || t1 + t2 > n) {
		fprintf(stderr, "fuzz_mblock: appending %zu points under %zu gave %d\n", n, cap, len);
		abort();
	}
	r = mlfs_mblock_encode(pts, t1 + t2, want, sizeof(want));
	if (r != len || memcmp(want, blk, len) != 0) {
		fprintf(stderr, "fuzz_mblock: appended block of %zu points differs\n", t1 + t2);
		abort();
	}
}

static void round_trip(size_t n)
{
	size_t bound = mlfs_mblock_bound(n);
	int len = mlfs_mblock_encode(pts, n, buf, sizeof(buf)), r;

	if (len <= 0 || (size_t)len > bound || buf[0] != 1) {
		fprintf(stderr, "fuzz_mblock: encoding %zu points gave %d (bound %zu)\n", n, len,
			bound);
		abort();
	}
	r = mlfs_mblock_decode(buf, len, back, MLFS_MBLOCK_POINTS);
	if (r != (int)n || memcmp(back, pts, n * sizeof(*pts)) != 0) {
		fprintf(stderr, "fuzz_mblock: %zu points decode as %d others\n", n, r);
		abort();
	}
	append_check(n, n / 2, sizeof(blk), false);
	append_check(n, n / 2, sizeof(blk), true);
	if (n)
		append_check(n, n / 3, len - 1, true);
	/* One byte short is -ENOBUFS and leaves the buffer alone (checked on small blocks: cheap).
	 */
	if (n <= 8) {
		uint8_t *tight = malloc(len);

		memset(tight, 0x5a, len);
		if (mlfs_mblock_encode(pts, n, tight, len - 1) != -ENOBUFS || tight[0] != 0x5a)
			abort();
		free(tight);
	}
}

static int64_t get64(const uint8_t *p)
{
	int64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const double scale[8] = {1, 10, 100, 1000, 1e4, 1e5, 1e-3, 1e22};
	size_t n = 0, i;
	int r;

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0: /* any bytes */
		r = mlfs_mblock_decode(data + 1, size - 1, pts, MLFS_MBLOCK_POINTS);
		if (r == -EBADMSG)
			return 0;
		if (r < 0 || r > MLFS_MBLOCK_POINTS)
			abort();
		round_trip(r);
		return 0;
	case 1: /* raw points, 24 bytes each */
		for (i = 1; i + 24 <= size && n < MLFS_MBLOCK_POINTS; i += 24, n++) {
			pts[n].ts_ms = get64(data + i);
			memcpy(&pts[n].value, data + i + 8, sizeof(double));
			pts[n].step = get64(data + i + 16);
		}
		break;
	default: { /* 4 bytes a point: time and step moves, a decimal or a repeat */
		int64_t ts = 1700000000000, step = 0;
		double v = 0.5;

		for (i = 1; i + 4 <= size && n < MLFS_MBLOCK_POINTS; i += 4, n++) {
			int16_t m;

			ts += (int8_t)data[i];
			step += (data[i + 1] & 0x80) ? (int8_t)(data[i + 1] << 1) : 1;
			memcpy(&m, data + i + 2, sizeof(m));
			switch (m & 7) {
			case 0:
				break; /* the same value again */
			case 1:
				v = -v;
				break;
			case 2:
				v = (double)(float)(v + m * 1e-4);
				break;
			default:
				v = (m >> 3) / scale[(m >> 1) & 7];
			}
			pts[n].ts_ms = ts;
			pts[n].step = step;
			pts[n].value = v;
		}
	}
	}
	round_trip(n);
	return 0;
}
