/*
 * metric.h - metric points: the line format users write and read, and the
 * compact block encoding the index stores them in.
 *
 * A line written to metrics/<key> is one of
 *     VALUE                  step = previous step + 1 (0 first), time = now
 *     VALUE STEP             time = now
 *     TIMESTAMP VALUE STEP   MLflow's own line, TIMESTAMP in ms since the epoch
 * with fields separated by spaces or tabs (leading and trailing blanks and
 * one trailing '\r' are allowed; at most 128 bytes besides that '\r').
 * VALUE is a decimal float (digits, '.', exponent; also nan, inf and
 * infinity with an optional sign, case-insensitive, as Python's float()
 * reads them; never hex), every NaN read as the one positive quiet NaN;
 * STEP and TIMESTAMP are decimal int64, TIMESTAMP >= 0.  Anything else is
 * -EINVAL.
 *
 * A point is read back as exactly one line "TIMESTAMP VALUE STEP\n" where
 * VALUE is the shortest decimal that reads back as the same double, spelled
 * as Python's repr() spells a float (0.93, 1.0, 1e-05, 1e+16, nan, inf,
 * -inf), which is what MLflow's file store writes.  The rendering is a pure
 * function of the point, so a metric's byte size is exact and stable.
 *
 * Blocks: mlfs_mblock_encode() packs up to MLFS_MBLOCK_POINTS points into a
 * self-describing byte string (first byte: encoding version) and
 * mlfs_mblock_decode() unpacks it bit-exactly (NaN payloads, -0.0 included).
 * mlfs_mblock_append() adds points to a block already made for as long as
 * they fit a byte budget, which is how the index cuts blocks to fill its
 * pages (series.c); the result is the block mlfs_mblock_encode() would make
 * of all its points.  None of them allocates; the caller owns every buffer.
 * Encoding and decoding write nothing on failure.
 */
#ifndef MLFS_METRIC_H
#define MLFS_METRIC_H

#include <stddef.h>
#include <stdint.h>

struct mlfs_point {
	int64_t ts_ms;
	double value;
	int64_t step;
};

enum mlfs_point_form {
	MLFS_POINT_VALUE = 1,      /* VALUE */
	MLFS_POINT_VALUE_STEP = 2, /* VALUE STEP */
	MLFS_POINT_FULL = 3,       /* TIMESTAMP VALUE STEP */
};

/* Longest line mlfs_point_format() can produce, with its '\n' and a NUL. */
#define MLFS_POINT_LINE_MAX 80

/*
 * Most points in one block.  Blocks are cut by size first (series.c); this
 * bounds the points a reader decodes at once for very cheap series.
 */
#define MLFS_MBLOCK_POINTS 2048

/*
 * Parse one line of len bytes (without its '\n').  Fills the fields the line
 * gives and returns its form (>0); the others are left for the caller.
 * -EINVAL for a malformed line.
 */
int mlfs_point_parse(const char *line, size_t len, struct mlfs_point *ret);

/* Render p as "TIMESTAMP VALUE STEP\n" plus a NUL; returns the length without the NUL. */
int mlfs_point_format(const struct mlfs_point *p, char buf[MLFS_POINT_LINE_MAX]);

/* Render a value alone as Python's repr() would; returns its length. */
int mlfs_value_format(double v, char buf[32]);

/* Upper bound of the encoded size of n points. */
size_t mlfs_mblock_bound(size_t n);

/* Encode n (<= MLFS_MBLOCK_POINTS) points; returns bytes written, -ENOBUFS, -EINVAL. */
int mlfs_mblock_encode(const struct mlfs_point *p, size_t n, uint8_t *out, size_t cap);

/* Decode into out (cap points); returns the count, -EBADMSG if damaged, -ENOBUFS. */
int mlfs_mblock_decode(const uint8_t *in, size_t len, struct mlfs_point *out, size_t cap);

/*
 * What mlfs_mblock_append() knows at the end of a block it made or decoded,
 * so that the next append to the same bytes need not decode them again.
 * Opaque; len 0 (MLFS_MBLOCK_RESUME_INIT) holds nothing.
 */
struct mlfs_mblock_resume {
	size_t len; /* of the block it was taken at */
	uint64_t state[24];
};

#define MLFS_MBLOCK_RESUME_INIT {.len = 0}

/*
 * Append to the block blk[0..len) (len 0: start a new one) the first of
 * p[0..n) for as long as the block stays within cap bytes and
 * MLFS_MBLOCK_POINTS points.  Returns the block's new length and sets
 * *ret_taken to the points taken (0 when not one more fits).  May write
 * anywhere in blk[0..cap); on failure blk is as it was.  -EBADMSG if blk is
 * damaged, -EINVAL if len > cap, -ENOBUFS if cap cannot hold an empty block.
 *
 * resume may be NULL.  If its len is this len (> 0), the caller vouches
 * that it was filled at exactly these bytes, and blk is not decoded; on
 * success it is filled at the new end.
 */
int mlfs_mblock_append(uint8_t *blk, size_t len, size_t cap, const struct mlfs_point *p, size_t n,
		       size_t *ret_taken, struct mlfs_mblock_resume *resume);

/* The count of points a block's header gives, without decoding; -EBADMSG. */
int mlfs_mblock_count(const uint8_t *in, size_t len);

#endif
