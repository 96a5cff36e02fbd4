/*
 * metric.c - see metric.h.
 *
 * Parsing.  A VALUE is checked against the grammar here, then rewritten as
 * "DIGITSe<exp>" (no radix character) before strtod() sees it, so neither the
 * locale nor strtod's extensions (hex floats, "nan(...)") can change what a
 * line means.  Besides "nan" and "inf",
 * "infinity" is accepted, each with an optional sign and in any case, as
 * Python's float() accepts them; every NaN is stored as the one positive
 * quiet NaN, since all of them read back as "nan".  A decimal out of the
 * double range rounds as float() rounds it: to +-inf or to +-0.0.
 *
 * Formatting.  Python's repr() is the shortest digit string that reads back
 * as the same double and, among those, the nearest.  For p significant digits
 * the nearest p-digit decimal is what printf("%.*e") gives (glibc rounds
 * exactly); it reads back unless the double is a power of two, whose lower
 * neighbour is twice as close as the upper one, and then the p-digit decimal
 * just above may read back instead.  Whether some p-digit decimal reads back
 * grows monotonically with p (the p-digit grid is in the p+1-digit one), so
 * the shortest p can be found by binary search over 1..17; shortest_digits()
 * first tries two shortcuts that cover most values.
 *
 * Blocks.  Layout: byte 0 the version (1), bytes 1-2 the count (little
 * endian, <= MLFS_MBLOCK_POINTS), then a bit stream (most significant bit
 * first) padded with zero bits to a whole byte.  Per point:
 *
 *     timestamp  first point: zigzag, full code; second: the delta, zigzag,
 *                full code; then the delta-of-delta, zigzag, Rice code
 *     step       first point: zigzag, full code; then step - previous - 1,
 *                zigzag, Rice code
 *     value      one of three modes:
 *
 *     0              decimal at the current scale: value = m / 10^scale;
 *                    Rice code of zigzag(m - prediction), the prediction
 *                    being the last decimal's m
 *     11 scale-code  decimal at another scale: the same, the prediction moved
 *                    to the new scale; the block's first decimal has no
 *                    prediction and a full code instead of a Rice code
 *     10 raw-code    the bits against the previous value's (see raw_put())
 *
 * The scale code: 0 and a sign bit for +-1; 10 and a sign bit for +-2; 11 and
 * scale + SCALE_LIMIT in 10 bits.  The full code of z: its bit length in 7
 * bits, then z.
 *
 * Decimal mode is why values typed with a few digits cost a few bits.  For
 * |scale| <= 22 the value is one IEEE division of an exact integer (|m| <=
 * 2^53) by an exact power of ten (or a multiplication for scale < 0): it is
 * correctly rounded, so the decoder computes the same double on every
 * machine (in the default rounding mode, without flush-to-zero).  Past 22 it
 * is a fixed chain of such operations, which may land a few ulps off, and a
 * Rice-coded zigzag count of ulps follows the residual to correct it.  The
 * encoder takes the mode only after checking that it gives back the value's
 * exact bits.
 *
 * The Rice code of z with parameter k: q = z >> k ones, a zero, then the low
 * k bits; a q of RICE_QMAX or more is RICE_QMAX ones, then the bit length - 1
 * of z in 6 bits, then z.  k follows the recent mean as in JPEG-LS (sum and
 * count, halved every RICE_RESET codes), the same in encoder and decoder;
 * each Rice-coded field has a state of its own.
 *
 * The encoder is free to choose modes and scales: the decoder only follows
 * what the stream says, so a better encoder needs no new version.
 *
 * Appending.  After each point the decoder knows everything the encoder
 * knew (struct coder: the Rice states, the XOR window, the last decimal, the
 * last point), so mlfs_mblock_append() decodes a block, drops its padding
 * and goes on writing from its last bit: the block is the one a single
 * encode of all its points would make, and a point that does not fit the
 * budget is taken back by restoring the state saved before it.
 */
#include "metric.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "the decimal mode of the block codec needs double arithmetic without excess precision"
#endif

/* Longest line mlfs_point_parse() looks at; the longest it prints is 67. */
#define LINE_MAX_BYTES 128

/* Integers up to this are exact doubles. */
#define EXACT_INT_MAX ((int64_t)1 << 53)

static const uint64_t QUIET_NAN = 0x7ff8000000000000ull;

static uint64_t dbl_bits(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double bits_dbl(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

/* ---- parsing ---------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool word_nocase(const char *s, size_t len, const char *w)
{
	size_t i;

	if (len != strlen(w))
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != w[i])
			return false;
	}
	return true;
}

/* Decimal int64 with an optional sign, all of s[0..len). */
static int parse_int64(const char *s, size_t len, int64_t *ret)
{
	uint64_t limit = INT64_MAX, acc = 0;
	bool neg = false;
	size_t i = 0;

	if (len && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		limit = (uint64_t)INT64_MAX + 1;
		i++;
	}
	if (i == len)
		return -EINVAL;
	for (; i < len; i++) {
		unsigned d;

		if (!is_digit(s[i]))
			return -EINVAL;
		d = s[i] - '0';
		if (acc > (limit - d) / 10)
			return -EINVAL;
		acc = acc * 10 + d;
	}
	/* -2^63 does not fit the positive side: negate in unsigned arithmetic. */
	*ret = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

/*
 * A decimal float, all of s[0..len) (len <= LINE_MAX_BYTES).  The digits are
 * copied without the point into "[-]DIGITSe<exp>" for strtod().
 */
static int parse_value(const char *s, size_t len, double *ret)
{
	char buf[LINE_MAX_BYTES + 16];
	size_t i = 0, n = 0;
	long exp = 0, frac = 0;
	bool neg = false, digits = false;

	if (len && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i++;
	}
	if (word_nocase(s + i, len - i, "nan")) {
		*ret = bits_dbl(QUIET_NAN);
		return 0;
	}
	if (word_nocase(s + i, len - i, "inf") || word_nocase(s + i, len - i, "infinity")) {
		*ret = neg ? -INFINITY : INFINITY;
		return 0;
	}
	if (neg)
		buf[n++] = '-';
	for (; i < len && is_digit(s[i]); i++, digits = true)
		buf[n++] = s[i];
	if (i < len && s[i] == '.') {
		for (i++; i < len && is_digit(s[i]); i++, frac++, digits = true)
			buf[n++] = s[i];
	}
	if (!digits)
		return -EINVAL;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false, edigits = false;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		/* Past 10^6 the result is 0 or inf whatever the <= 128 digits are. */
		for (; i < len && is_digit(s[i]); i++, edigits = true)
			if (exp < 1000000)
				exp = exp * 10 + (s[i] - '0');
		if (!edigits)
			return -EINVAL;
		if (eneg)
			exp = -exp;
	}
	if (i != len)
		return -EINVAL;
	snprintf(buf + n, sizeof(buf) - n, "e%ld", exp - frac);
	*ret = strtod(buf, NULL);
	return 0;
}

int mlfs_point_parse(const char *line, size_t len, struct mlfs_point *ret)
{
	const char *field[3];
	size_t flen[3], i = 0;
	int nfield = 0, r;
	struct mlfs_point p;

	if (len && line[len - 1] == '\r')
		len--;
	if (len > LINE_MAX_BYTES)
		return -EINVAL;
	while (i < len) {
		size_t start;

		if (is_blank(line[i])) {
			i++;
			continue;
		}
		if (nfield == 3)
			return -EINVAL;
		for (start = i; i < len && !is_blank(line[i]); i++)
			;
		field[nfield] = line + start;
		flen[nfield++] = i - start;
	}
	switch (nfield) {
	case MLFS_POINT_VALUE:
		r = parse_value(field[0], flen[0], &p.value);
		break;
	case MLFS_POINT_VALUE_STEP:
		r = parse_value(field[0], flen[0], &p.value);
		if (r == 0)
			r = parse_int64(field[1], flen[1], &p.step);
		break;
	case MLFS_POINT_FULL:
		r = parse_int64(field[0], flen[0], &p.ts_ms);
		if (r == 0 && p.ts_ms < 0)
			r = -EINVAL;
		if (r == 0)
			r = parse_value(field[1], flen[1], &p.value);
		if (r == 0)
			r = parse_int64(field[2], flen[2], &p.step);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	if (nfield == MLFS_POINT_FULL)
		ret->ts_ms = p.ts_ms;
	if (nfield >= MLFS_POINT_VALUE_STEP)
		ret->step = p.step;
	ret->value = p.value;
	return nfield;
}

/* ---- decimals --------------------------------------------------------- */

/*
 * Scales up to SCALE_EXACT are one correctly rounded IEEE operation; beyond,
 * up to SCALE_LIMIT (every double's shortest decimal), a chain of them
 * that may be a few ulps off, corrected by a count of ulps in the stream.
 */
#define SCALE_EXACT 22
#define SCALE_LIMIT 350
#define SCALE_NONE (SCALE_LIMIT + 1)
#define SCALE_BITS 10 /* for 0..2 * SCALE_LIMIT */

/* The encoder's limit on that correction; anything larger goes to XOR mode. */
#define CORR_MAX 1024

static const double pow10_exact[SCALE_EXACT + 1] = {
    1e0,  1e1,	1e2,  1e3,  1e4,  1e5,	1e6,  1e7,  1e8,  1e9,	1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool scale_exact(int scale)
{
	return scale >= -SCALE_EXACT && scale <= SCALE_EXACT;
}

/*
 * m / 10^scale as decimal mode computes it.  Past SCALE_EXACT every step
 * moves toward the result, so no intermediate underflows or overflows
 * before the result does.
 */
static double decimal_value(int64_t m, int scale)
{
	double x = (double)m;
	int s;

	if (scale >= 0) {
		for (s = scale; s > SCALE_EXACT; s -= SCALE_EXACT)
			x /= 1e22;
		return x / pow10_exact[s];
	}
	for (s = -scale; s > SCALE_EXACT; s -= SCALE_EXACT)
		x *= 1e22;
	return x * pow10_exact[s];
}

enum { DECIMAL_NO, DECIMAL_YES, DECIMAL_TOO_FINE };

/*
 * Is v decimal_value(m, scale) (plus a correction of at most CORR_MAX ulps
 * past SCALE_EXACT) for some 0 < |m| <= 2^53, or m = 0 for a zero?
 * DECIMAL_TOO_FINE: m would be too large here and at every finer scale.
 */
static int decimal_find(double v, int scale, int64_t *ret_m, int64_t *ret_corr)
{
	double x = v, back;
	int64_t m, corr;
	int s;

	/* v * 10^scale, near enough to round to m when there is one. */
	if (scale >= 0) {
		for (s = scale; s > SCALE_EXACT; s -= SCALE_EXACT)
			x *= 1e22;
		x *= pow10_exact[s];
	} else {
		for (s = -scale; s > SCALE_EXACT; s -= SCALE_EXACT)
			x /= 1e22;
		x /= pow10_exact[s];
	}
	if (!(x <= (double)EXACT_INT_MAX && x >= -(double)EXACT_INT_MAX))
		return DECIMAL_TOO_FINE;
	/* Halves may round the wrong way: the check below catches that. */
	m = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
	back = decimal_value(m, scale);
	if (scale_exact(scale)) {
		if (dbl_bits(back) != dbl_bits(v))
			return DECIMAL_NO;
		corr = 0;
	} else {
		if (m == 0 || !isfinite(back) || !signbit(back) != !signbit(v))
			return DECIMAL_NO;
		corr = (int64_t)(dbl_bits(v) - dbl_bits(back));
		if (corr > CORR_MAX || corr < -CORR_MAX)
			return DECIMAL_NO;
	}
	*ret_m = m;
	*ret_corr = corr;
	return DECIMAL_YES;
}

/*
 * A scale a little below the one that gives v (finite, != 0) a one-digit m:
 * 2^e2 <= |v| makes floor(log10 |v|) at least floor(e2 * log10 2), and the
 * ratio used here is a little above log10 2 (0.30103).
 */
static int decimal_start(double v)
{
	int e2 = (int)(dbl_bits(v) >> 52 & 0x7ff) - 1023;

	return -(e2 >= 0 ? e2 * 30103 / 100000 : -((-e2 * 30103 + 99999) / 100000)) - 2;
}

/* The smallest scale at which v is a decimal, or SCALE_NONE. */
static int decimal_scale(double v, int64_t *ret_m, int64_t *ret_corr)
{
	int s, r;

	/* A decimal's zero is +0.0. */
	if (!isfinite(v) || (v == 0 && signbit(v)))
		return SCALE_NONE;
	s = v == 0 ? 0 : decimal_start(v);
	if (s < -SCALE_LIMIT)
		s = -SCALE_LIMIT;
	for (; s <= SCALE_LIMIT; s++) {
		r = decimal_find(v, s, ret_m, ret_corr);
		if (r == DECIMAL_YES)
			return s;
		if (r == DECIMAL_TOO_FINE)
			break;
	}
	return SCALE_NONE;
}

/* ---- formatting ------------------------------------------------------- */

/* The double that the decimal 0.DIGITS * 10^(exp + 1) (n digits) reads as. */
static double digits_value(const char *dig, int n, int exp)
{
	char buf[40];

	memcpy(buf, dig, n);
	snprintf(buf + n, sizeof(buf) - n, "e%d", exp - (n - 1));
	return strtod(buf, NULL);
}

/*
 * Does a p-digit decimal read back as v (finite, > 0)?  If so, fill dig with
 * the nearest such one and *exp with its decimal exponent.
 */
static bool shortest_try(double v, int p, char dig[20], int *exp)
{
	char buf[48], d[20];
	const char *s;
	double back;
	int n = 0, e, i;

	/* Pick the digits out whatever the locale's radix character is. */
	snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
	for (s = buf; *s && *s != 'e'; s++)
		if (is_digit(*s) && n < p)
			d[n++] = *s;
	if (*s != 'e' || n != p)
		return false;
	e = atoi(s + 1);
	back = digits_value(d, p, e);
	if (back != v) {
		uint64_t b = dbl_bits(v);

		/* Only a power of two (not the least normal) has a wider upper gap. */
		if (back > v || (b & 0x000fffffffffffffull) || (b >> 52) <= 1)
			return false;
		for (i = p - 1; i >= 0 && d[i] == '9'; i--)
			d[i] = '0';
		if (i < 0) {
			d[0] = '1';
			e++;
		} else {
			d[i]++;
		}
		if (digits_value(d, p, e) != v)
			return false;
	}
	memcpy(dig, d, p);
	*exp = e;
	return true;
}

/*
 * The shortest digits of v (finite, > 0), none trailing, and the decimal
 * exponent of the first; returns how many.  Cheapest way first:
 *
 * 1. A decimal of at most 15 digits at an exact scale, found as the codec
 *    finds one: the smallest such scale gives the fewest digits (a shorter
 *    decimal would sit at a smaller scale), and two decimals of one scale
 *    with at most 15 digits are more than an ulp apart, so it is also the
 *    nearest.
 * 2. Where every decimal of 15 digits has an exact scale (1e-8 <= v < 1e37;
 *    the test keeps a margin), failing 1 means 16 digits, or else 17, which
 *    always read back.
 * 3. Elsewhere, binary search.
 */
static int shortest_digits(double v, char dig[20], int *exp)
{
	int64_t m = 0, corr;
	int s, n, r = DECIMAL_NO, lo = 1, hi = 17;

	for (s = decimal_start(v) < -SCALE_EXACT ? -SCALE_EXACT : decimal_start(v);
	     s <= SCALE_EXACT; s++) {
		r = decimal_find(v, s, &m, &corr);
		if (r != DECIMAL_NO)
			break;
	}
	if (r == DECIMAL_YES && m < 1000000000000000) {
		char tmp[20];

		n = snprintf(tmp, sizeof(tmp), "%" PRId64, m);
		memcpy(dig, tmp, n);
		*exp = n - 1 - s;
	} else if (v >= 1e-7 && v < 1e36) {
		n = shortest_try(v, 16, dig, exp) ? 16 : 17;
		if (n == 17)
			shortest_try(v, 17, dig, exp);
	} else {
		while (lo < hi) {
			int mid = (lo + hi) / 2;

			if (shortest_try(v, mid, dig, exp))
				hi = mid;
			else
				lo = mid + 1;
		}
		n = hi;
		shortest_try(v, n, dig, exp);
	}
	while (n > 1 && dig[n - 1] == '0')
		n--;
	return n;
}

int mlfs_value_format(double v, char buf[32])
{
	char dig[20];
	int n, e, i, len = 0;

	if (isnan(v))
		return sprintf(buf, "nan");
	if (signbit(v)) {
		buf[len++] = '-';
		v = -v;
	}
	if (isinf(v))
		return len + sprintf(buf + len, "inf");
	if (v == 0)
		return len + sprintf(buf + len, "0.0");
	n = shortest_digits(v, dig, &e);
	if (e >= -4 && e < 16) {
		if (e < 0) {
			len += sprintf(buf + len, "0.");
			for (i = -1; i > e; i--)
				buf[len++] = '0';
			memcpy(buf + len, dig, n);
			len += n;
		} else if (n <= e + 1) {
			memcpy(buf + len, dig, n);
			len += n;
			for (i = n; i <= e; i++)
				buf[len++] = '0';
			buf[len++] = '.';
			buf[len++] = '0';
		} else {
			memcpy(buf + len, dig, e + 1);
			len += e + 1;
			buf[len++] = '.';
			memcpy(buf + len, dig + e + 1, n - e - 1);
			len += n - e - 1;
		}
		buf[len] = '\0';
		return len;
	}
	buf[len++] = dig[0];
	if (n > 1) {
		buf[len++] = '.';
		memcpy(buf + len, dig + 1, n - 1);
		len += n - 1;
	}
	return len + sprintf(buf + len, "e%c%02d", e < 0 ? '-' : '+', abs(e));
}

int mlfs_point_format(const struct mlfs_point *p, char buf[MLFS_POINT_LINE_MAX])
{
	char value[32];

	mlfs_value_format(p->value, value);
	return snprintf(buf, MLFS_POINT_LINE_MAX, "%" PRId64 " %s %" PRId64 "\n", p->ts_ms, value,
			p->step);
}

/* ---- bit streams ------------------------------------------------------ */

/* Bytes past cap are counted in len but not written: len > cap means it did not fit. */
struct bitw {
	uint8_t *out;
	size_t cap, len; /* bytes */
	uint64_t acc;	 /* the nacc (< 8) bits not yet in out */
	unsigned nacc;
};

struct bitr {
	const uint8_t *in;
	size_t len, pos; /* pos in bits */
	bool bad;
};

static void put_bits(struct bitw *w, uint64_t v, unsigned n)
{
	if (n > 32) {
		put_bits(w, v >> 32, n - 32);
		n = 32;
	}
	if (n == 0)
		return;
	w->acc = (w->acc << n) | (v & (((uint64_t)1 << n) - 1));
	w->nacc += n;
	while (w->nacc >= 8) {
		w->nacc -= 8;
		if (w->len < w->cap)
			w->out[w->len] = (uint8_t)(w->acc >> w->nacc);
		w->len++;
	}
	w->acc &= ((uint64_t)1 << w->nacc) - 1;
}

static void put_flush(struct bitw *w)
{
	if (w->nacc)
		put_bits(w, 0, 8 - w->nacc);
}

/* The 64 bits from byte pos / 8 on, shifted so that bit pos comes first; needs 8 bytes there. */
static uint64_t peek64(const struct bitr *r)
{
	uint64_t w;

	memcpy(&w, r->in + (r->pos >> 3), sizeof(w));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w << (r->pos & 7);
}

static uint64_t get_bits(struct bitr *r, unsigned n)
{
	uint64_t v = 0;

	if (n == 0)
		return 0;
	/* At least 57 bits are in a word read at the byte: the common case. */
	if (n <= 57 && (r->pos >> 3) + 8 <= r->len) {
		v = peek64(r) >> (64 - n);
		r->pos += n;
		return v;
	}
	while (n) {
		size_t byte = r->pos >> 3;
		unsigned avail = 8 - (r->pos & 7), take = n < avail ? n : avail;

		if (byte >= r->len) {
			r->bad = true;
			return 0;
		}
		v = (v << take) | ((r->in[byte] >> (avail - take)) & ((1u << take) - 1));
		r->pos += take;
		n -= take;
	}
	return v;
}

static uint64_t zigzag(uint64_t u)
{
	return (u << 1) ^ (0 - (u >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
	return (z >> 1) ^ (0 - (z & 1));
}

static unsigned bit_length(uint64_t v)
{
	return v ? 64 - __builtin_clzll(v) : 0;
}

/* The full code of z: its bit length in 7 bits, then its bits.  For first values. */
static void full_put(struct bitw *w, uint64_t z)
{
	unsigned n = bit_length(z);

	put_bits(w, n, 7);
	put_bits(w, z, n);
}

static uint64_t full_get(struct bitr *r)
{
	unsigned n = (unsigned)get_bits(r, 7);

	if (n > 64) {
		r->bad = true;
		return 0;
	}
	return get_bits(r, n);
}

/* ---- adaptive Rice code ----------------------------------------------- */

#define RICE_QMAX 16
#define RICE_RESET 16
#define RICE_KMAX 57
#define RICE_CLAMP ((uint64_t)1 << 57)

struct rice {
	uint64_t sum; /* of the recent values, each clamped to RICE_CLAMP */
	uint64_t count;
};

#define RICE_INIT                                                                                  \
	{                                                                                          \
		.sum = 0, .count = 1                                                               \
	}

/* The smallest k with 2^k at least half the recent mean: a little better than the mean. */
static unsigned rice_k(const struct rice *c)
{
	unsigned k = 0;

	while (k < RICE_KMAX && (c->count << (k + 1)) < c->sum)
		k++;
	return k;
}

static void rice_update(struct rice *c, uint64_t z)
{
	c->sum += z < RICE_CLAMP ? z : RICE_CLAMP;
	if (++c->count >= RICE_RESET) {
		c->sum >>= 1;
		c->count >>= 1;
	}
}

/* Bits of the code of z, without writing it. */
static unsigned rice_bits(const struct rice *c, uint64_t z)
{
	unsigned k = rice_k(c);

	if ((z >> k) < RICE_QMAX)
		return (unsigned)(z >> k) + 1 + k;
	return RICE_QMAX + 6 + bit_length(z);
}

static void rice_put(struct bitw *w, struct rice *c, uint64_t z)
{
	unsigned k = rice_k(c);
	uint64_t q = z >> k;

	if (q < RICE_QMAX) {
		put_bits(w, (((uint64_t)1 << q) - 1) << 1, q + 1);
		put_bits(w, z, k);
	} else {
		unsigned n = bit_length(z);

		put_bits(w, ((uint64_t)1 << RICE_QMAX) - 1, RICE_QMAX);
		put_bits(w, n - 1, 6);
		put_bits(w, z, n);
	}
	rice_update(c, z);
}

static uint64_t rice_get(struct bitr *r, struct rice *c)
{
	unsigned k = rice_k(c), q = 0;
	uint64_t z;

	if ((r->pos >> 3) + 8 <= r->len) {
		/* The leading ones, up to RICE_QMAX (< 57), and the zero after them. */
		q = (unsigned)__builtin_clzll(~peek64(r) | ((uint64_t)1 << (63 - RICE_QMAX)));
		r->pos += q + (q < RICE_QMAX);
	} else {
		while (q < RICE_QMAX && get_bits(r, 1))
			q++;
	}
	if (q < RICE_QMAX)
		z = ((uint64_t)q << k) | get_bits(r, k);
	else
		z = get_bits(r, get_bits(r, 6) + 1);
	rice_update(c, z);
	return z;
}

/* ---- values ----------------------------------------------------------- */

struct value_state {
	uint64_t prev;	     /* bits of the previous value */
	unsigned lead, wide; /* XOR window: leading zeros and width; wide 0: none yet */
	int scale;	     /* of the last decimal; SCALE_NONE before the first */
	int64_t m;	     /* the last decimal's mantissa */
	struct rice rice;    /* of the decimal residuals */
	struct rice corr;    /* of the corrections past SCALE_EXACT */
	struct rice delta;   /* of the differences in raw mode */
};

#define VALUE_STATE_INIT                                                                           \
	{                                                                                          \
		.prev = 0, .scale = SCALE_NONE, .rice = RICE_INIT, .corr = RICE_INIT,              \
		.delta = RICE_INIT                                                                 \
	}

/*
 * The residual of a decimal is taken from the last decimal's mantissa moved
 * to the new scale, in integers (rounding half away from zero), so that the
 * prediction is the same on every machine.  0 when there is none or it would
 * leave the exact range.
 */
static int64_t decimal_predict(const struct value_state *st, int scale)
{
	static const int64_t pow10_int[19] = {
	    1,
	    10,
	    100,
	    1000,
	    10000,
	    100000,
	    1000000,
	    10000000,
	    100000000,
	    1000000000,
	    10000000000,
	    100000000000,
	    1000000000000,
	    10000000000000,
	    100000000000000,
	    1000000000000000,
	    10000000000000000,
	    100000000000000000,
	    1000000000000000000,
	};
	int64_t m = st->m, p, q, r;
	int d;

	if (st->scale == SCALE_NONE || m == 0)
		return 0;
	if (scale >= st->scale) {
		for (d = st->scale; d < scale; d++) {
			if (m > EXACT_INT_MAX / 10 || m < -EXACT_INT_MAX / 10)
				return 0;
			m *= 10;
		}
		return m;
	}
	d = st->scale - scale;
	if (d > 18)
		return 0;
	p = pow10_int[d];
	q = m / p;
	r = m % p;
	if (r >= 0 ? 2 * r >= p : -2 * r >= p)
		q += r >= 0 ? 1 : -1;
	return q;
}

/* Bits of the scale code for a move from the current scale to s. */
static unsigned scale_code_bits(const struct value_state *st, int s)
{
	int d = s - st->scale;

	if (st->scale == SCALE_NONE || d < -2 || d > 2)
		return 2 + SCALE_BITS;
	return d == 1 || d == -1 ? 2 : 3;
}

/* Scale code: 0 sign for +-1; 10 sign for +-2; 11 then scale + SCALE_LIMIT in SCALE_BITS. */
static void scale_put(struct bitw *w, const struct value_state *st, int s)
{
	int d = s - st->scale;

	switch (scale_code_bits(st, s)) {
	case 2:
		put_bits(w, d < 0, 2);
		break;
	case 3:
		put_bits(w, 4 | (d < 0), 3);
		break;
	default:
		put_bits(w, 3, 2);
		put_bits(w, s + SCALE_LIMIT, SCALE_BITS);
	}
}

static int scale_get(struct bitr *r, const struct value_state *st, int *ret)
{
	int s;

	if (get_bits(r, 1) == 0) {
		s = st->scale + (get_bits(r, 1) ? -1 : 1);
	} else if (get_bits(r, 1) == 0) {
		s = st->scale + (get_bits(r, 1) ? -2 : 2);
	} else {
		s = (int)get_bits(r, SCALE_BITS) - SCALE_LIMIT;
		if (s > SCALE_LIMIT)
			return -EBADMSG;
		*ret = s;
		return 0;
	}
	if (st->scale == SCALE_NONE || s < -SCALE_LIMIT || s > SCALE_LIMIT)
		return -EBADMSG;
	*ret = s;
	return 0;
}

/*
 * XOR mode.  The sign change is one bit of its own and the window covers the
 * other 63, so that a value crossing zero does not widen the window to all
 * 64 bits.  Encoder and decoder keep prev as the previous value's raw bits.
 */
#define SIGN_BIT ((uint64_t)1 << 63)

/* Does x (!= 0) fit the current XOR window, and is that cheaper than a new one of width wide? */
static bool xor_fits(const struct value_state *st, uint64_t x, unsigned wide)
{
	return st->wide && (unsigned)__builtin_clzll(x) >= st->lead &&
	       64 - (unsigned)__builtin_ctzll(x) <= st->lead + st->wide && st->wide <= wide + 12;
}

/*
 * The window a new one would be for x (!= 0): its leading zeros, and its
 * trailing zeros only when there are many (as in a float widened to a
 * double), rounded down so that the next values fit it too.
 */
static void xor_window(uint64_t x, unsigned *lead, unsigned *wide)
{
	unsigned trail = __builtin_ctzll(x);

	*lead = __builtin_clzll(x);
	*wide = 64 - *lead - (trail < 8 ? 0 : trail & ~3u);
}

/*
 * Raw mode, after its mode bits 10, codes the bits against the previous
 * value's in one of four ways:
 *
 *     0 sign       XOR inside the current window: the sign change, then the
 *                  window's bits (values that keep low zero bits, as floats
 *                  widened to doubles do)
 *     10           the Rice code of the difference of the bits as integers
 *                  (noise in the low bits)
 *     110          the same bits again
 *     111 sign     XOR in a new window: the sign change, the leading zeros
 *                  (6 bits), the width - 1 (6 bits), the window's bits
 *
 * Every value in this mode feeds its difference to the Rice state, however
 * it is coded, so that the state is ready when the difference code pays.
 */
enum raw_code { RAW_WINDOW, RAW_DIFF, RAW_SAME, RAW_NEW_WINDOW };

/* The cheapest raw code for bits, its cost with the mode bits, and the new window if any. */
static enum raw_code raw_choose(const struct value_state *st, uint64_t bits, unsigned *ret_cost,
				unsigned *ret_lead, unsigned *ret_wide)
{
	uint64_t x = (bits ^ st->prev) & ~SIGN_BIT;
	unsigned lead = 63, wide = 1, cost, diff;
	enum raw_code code;

	if (bits == st->prev) {
		*ret_cost = 2 + 3;
		return RAW_SAME;
	}
	/* A change of sign alone fits any window. */
	if (x)
		xor_window(x, &lead, &wide);
	if (st->wide && (x == 0 || xor_fits(st, x, wide))) {
		code = RAW_WINDOW;
		cost = 2 + 2 + st->wide;
	} else {
		code = RAW_NEW_WINDOW;
		cost = 2 + 4 + 12 + wide;
	}
	diff = 2 + 2 + rice_bits(&st->delta, zigzag(bits - st->prev));
	if (diff < cost) {
		code = RAW_DIFF;
		cost = diff;
	}
	*ret_cost = cost;
	*ret_lead = lead;
	*ret_wide = wide;
	return code;
}

static unsigned raw_cost(const struct value_state *st, uint64_t bits)
{
	unsigned cost, lead, wide;

	raw_choose(st, bits, &cost, &lead, &wide);
	return cost;
}

static void raw_put(struct bitw *w, struct value_state *st, uint64_t bits)
{
	uint64_t x = (bits ^ st->prev) & ~SIGN_BIT, z = zigzag(bits - st->prev);
	unsigned cost, lead, wide;

	put_bits(w, 2, 2);
	switch (raw_choose(st, bits, &cost, &lead, &wide)) {
	case RAW_WINDOW:
		put_bits(w, (bits ^ st->prev) >> 63, 2);
		put_bits(w, x >> (64 - st->lead - st->wide), st->wide);
		break;
	case RAW_DIFF:
		put_bits(w, 2, 2);
		rice_put(w, &st->delta, z);
		return;
	case RAW_SAME:
		put_bits(w, 6, 3);
		break;
	case RAW_NEW_WINDOW:
		st->lead = lead;
		st->wide = wide;
		put_bits(w, 14 | (bits ^ st->prev) >> 63, 4);
		put_bits(w, lead, 6);
		put_bits(w, wide - 1, 6);
		put_bits(w, x >> (64 - lead - wide), wide);
		break;
	}
	rice_update(&st->delta, z);
}

static int raw_get(struct bitr *r, struct value_state *st, uint64_t *ret)
{
	uint64_t x = 0;

	if (get_bits(r, 1) == 0) {
		if (!st->wide)
			return -EBADMSG;
		x = get_bits(r, 1) << 63;
		x |= get_bits(r, st->wide) << (64 - st->lead - st->wide);
	} else if (get_bits(r, 1) == 0) {
		*ret = st->prev + unzigzag(rice_get(r, &st->delta));
		return 0;
	} else if (get_bits(r, 1)) {
		x = get_bits(r, 1) << 63;
		st->lead = get_bits(r, 6);
		st->wide = get_bits(r, 6) + 1;
		/* The sign is not in the window. */
		if (st->lead == 0 || st->lead + st->wide > 64)
			return -EBADMSG;
		x |= get_bits(r, st->wide) << (64 - st->lead - st->wide);
	}
	*ret = st->prev ^ x;
	rice_update(&st->delta, zigzag(*ret - st->prev));
	return 0;
}

static void value_put(struct bitw *w, struct value_state *st, double v)
{
	uint64_t bits = dbl_bits(v), z = 0;
	unsigned dec_cost = UINT_MAX;
	int64_t m, m2, corr, corr2;
	int s;

	s = decimal_scale(v, &m, &corr);
	if (s != SCALE_NONE) {
		/* One scale finer costs about 3 bits; moving there and back costs more. */
		if (st->scale != SCALE_NONE && st->scale == s + 1 &&
		    decimal_find(v, st->scale, &m2, &corr2) == DECIMAL_YES) {
			s = st->scale;
			m = m2;
			corr = corr2;
		}
		z = zigzag((uint64_t)m - (uint64_t)decimal_predict(st, s));
		if (st->scale == SCALE_NONE)
			dec_cost = 2 + 2 + SCALE_BITS + 7 + bit_length(z);
		else
			dec_cost = (s == st->scale ? 1 : 2 + scale_code_bits(st, s)) +
				   rice_bits(&st->rice, z);
		if (!scale_exact(s))
			dec_cost += rice_bits(&st->corr, zigzag((uint64_t)corr));
	}
	/* Until a first decimal sets the scale up, take one whenever there is one. */
	if (s != SCALE_NONE && (st->scale == SCALE_NONE || dec_cost <= raw_cost(st, bits))) {
		if (s == st->scale) {
			put_bits(w, 0, 1);
		} else {
			put_bits(w, 3, 2);
			scale_put(w, st, s);
		}
		/* The first decimal has no prediction: its mantissa would mislead the Rice code. */
		if (st->scale == SCALE_NONE)
			full_put(w, z);
		else
			rice_put(w, &st->rice, z);
		if (!scale_exact(s))
			rice_put(w, &st->corr, zigzag((uint64_t)corr));
		st->scale = s;
		st->m = m;
	} else {
		raw_put(w, st, bits);
	}
	st->prev = bits;
}

static int value_get(struct bitr *r, struct value_state *st, double *ret)
{
	uint64_t bits, z;
	int64_t m;
	int s;

	if (get_bits(r, 1) == 0) {
		if (st->scale == SCALE_NONE)
			return -EBADMSG;
		s = st->scale;
	} else if (get_bits(r, 1)) {
		if (scale_get(r, st, &s) < 0)
			return -EBADMSG;
	} else {
		if (raw_get(r, st, &bits) < 0)
			return -EBADMSG;
		st->prev = bits;
		*ret = bits_dbl(bits);
		return 0;
	}
	if (st->scale == SCALE_NONE)
		z = full_get(r);
	else
		z = rice_get(r, &st->rice);
	m = (int64_t)((uint64_t)decimal_predict(st, s) + unzigzag(z));
	if (m > EXACT_INT_MAX || m < -EXACT_INT_MAX)
		return -EBADMSG;
	st->scale = s;
	st->m = m;
	bits = dbl_bits(decimal_value(m, s));
	if (!scale_exact(s))
		bits += unzigzag(rice_get(r, &st->corr));
	st->prev = bits;
	*ret = bits_dbl(bits);
	return 0;
}

/* ---- blocks ----------------------------------------------------------- */

#define MBLOCK_VERSION 1
#define MBLOCK_HEADER 3
/*
 * Worst point: two escaped Rice codes (16 + 6 + 64 bits) and a value, at most
 * the mode, a scale code, an escaped Rice code and a correction (2 + 12 + 86
 * + 34, the correction being at most CORR_MAX).
 */
#define MBLOCK_POINT_MAX_BITS (86 + 86 + 134)

_Static_assert(MLFS_MBLOCK_POINTS <= 0xffff, "a block's count is 16 bits");

size_t mlfs_mblock_bound(size_t n)
{
	size_t per = (MBLOCK_POINT_MAX_BITS + 7) / 8;

	if (n > (SIZE_MAX - MBLOCK_HEADER - 1) / per)
		return SIZE_MAX;
	return MBLOCK_HEADER + n * per + 1;
}

/*
 * What the encoder and the decoder know after each point of a block: the
 * same on both sides, which is what lets mlfs_mblock_append() go on with a
 * block it has only decoded.
 */
struct coder {
	struct value_state vs;
	struct rice ts_rice, step_rice;
	uint64_t delta;		/* between the last two timestamps */
	struct mlfs_point last; /* the last point */
	size_t n;		/* points so far */
};

#define CODER_INIT                                                                                 \
	{                                                                                          \
		.vs = VALUE_STATE_INIT, .ts_rice = RICE_INIT, .step_rice = RICE_INIT               \
	}

static void point_put(struct bitw *w, struct coder *c, const struct mlfs_point *p)
{
	if (c->n == 0) {
		full_put(w, zigzag((uint64_t)p->ts_ms));
		full_put(w, zigzag((uint64_t)p->step));
	} else {
		uint64_t d = (uint64_t)p->ts_ms - (uint64_t)c->last.ts_ms;

		/* The first delta is no delta-of-delta: it would mislead the Rice code. */
		if (c->n == 1)
			full_put(w, zigzag(d));
		else
			rice_put(w, &c->ts_rice, zigzag(d - c->delta));
		c->delta = d;
		rice_put(w, &c->step_rice, zigzag((uint64_t)p->step - (uint64_t)c->last.step - 1));
	}
	value_put(w, &c->vs, p->value);
	c->last = *p;
	c->n++;
}

static int point_get(struct bitr *r, struct coder *c, struct mlfs_point *ret)
{
	struct mlfs_point p;

	if (c->n == 0) {
		p.ts_ms = (int64_t)unzigzag(full_get(r));
		p.step = (int64_t)unzigzag(full_get(r));
	} else {
		if (c->n == 1)
			c->delta = unzigzag(full_get(r));
		else
			c->delta += unzigzag(rice_get(r, &c->ts_rice));
		p.ts_ms = (int64_t)((uint64_t)c->last.ts_ms + c->delta);
		p.step = (int64_t)((uint64_t)c->last.step + 1 +
				   unzigzag(rice_get(r, &c->step_rice)));
	}
	if (value_get(r, &c->vs, &p.value) < 0 || r->bad)
		return -EBADMSG;
	c->last = p;
	c->n++;
	*ret = p;
	return 0;
}

/*
 * Decode all of the block in[0..len) into out (when not NULL; cap points),
 * leaving c and r after its last point.  -EBADMSG if it is damaged,
 * -ENOBUFS if it has more than cap points.
 */
static int block_scan(const uint8_t *in, size_t len, struct coder *c, struct bitr *r,
		      struct mlfs_point *out, size_t cap)
{
	struct mlfs_point p;
	struct bitr pad;
	size_t n;

	if (len < MBLOCK_HEADER || in[0] != MBLOCK_VERSION)
		return -EBADMSG;
	n = in[1] | (size_t)in[2] << 8;
	if (n > MLFS_MBLOCK_POINTS)
		return -EBADMSG;
	if (out && n > cap)
		return -ENOBUFS;
	r->in = in;
	r->len = len;
	r->pos = MBLOCK_HEADER * 8;
	r->bad = false;
	while (c->n < n) {
		if (point_get(r, c, &p) < 0)
			return -EBADMSG;
		if (out)
			out[c->n - 1] = p;
	}
	/* Nothing but zero padding may follow. */
	pad = *r;
	if ((r->pos + 7) / 8 != len || get_bits(&pad, (8 - pad.pos % 8) % 8) != 0 || pad.bad)
		return -EBADMSG;
	return (int)n;
}

/* A resume's state: the coder and the bit the last point ends at. */
struct resume_state {
	struct coder c;
	size_t pos;
};

_Static_assert(sizeof(struct resume_state) <= sizeof(((struct mlfs_mblock_resume *)0)->state),
	       "a resume holds the coder");

int mlfs_mblock_append(uint8_t *blk, size_t len, size_t cap, const struct mlfs_point *p, size_t n,
		       size_t *ret_taken, struct mlfs_mblock_resume *resume)
{
	struct coder c = CODER_INIT, before;
	struct bitw w = {.out = blk, .cap = cap}, wbefore;
	struct resume_state rs;
	struct bitr r;
	size_t i;
	int rc;

	if (len > cap)
		return -EINVAL;
	if (len == 0) {
		if (cap < MBLOCK_HEADER)
			return -ENOBUFS;
		put_bits(&w, MBLOCK_VERSION, 8);
		put_bits(&w, 0, 16);
	} else {
		if (resume && resume->len == len) {
			memcpy(&rs, resume->state, sizeof(rs));
			c = rs.c;
			r.pos = rs.pos;
		} else {
			rc = block_scan(blk, len, &c, &r, NULL, 0);
			if (rc < 0)
				return rc;
		}
		/* Go on from the last point's last bit: the padding is dropped. */
		w.len = r.pos / 8;
		w.nacc = r.pos % 8;
		w.acc = w.nacc ? blk[w.len] >> (8 - w.nacc) : 0;
	}
	for (i = 0; i < n && c.n < MLFS_MBLOCK_POINTS; i++) {
		before = c;
		wbefore = w;
		point_put(&w, &c, &p[i]);
		/* What did not fit is taken back; the bytes it wrote lie past the end. */
		if (w.len + (w.nacc != 0) > cap) {
			c = before;
			w = wbefore;
			break;
		}
	}
	if (resume) {
		memset(&rs, 0, sizeof(rs));
		rs.c = c;
		rs.pos = w.len * 8 + w.nacc;
		memcpy(resume->state, &rs, sizeof(rs));
	}
	put_flush(&w);
	blk[1] = (uint8_t)(c.n & 0xff);
	blk[2] = (uint8_t)(c.n >> 8);
	if (resume)
		resume->len = w.len;
	*ret_taken = i;
	return (int)w.len;
}

int mlfs_mblock_encode(const struct mlfs_point *p, size_t n, uint8_t *out, size_t cap)
{
	size_t taken;
	int len;

	if (n > MLFS_MBLOCK_POINTS)
		return -EINVAL;
	/* Below the bound, count first, so that out is untouched unless it all fits. */
	if (cap < mlfs_mblock_bound(n)) {
		struct coder c = CODER_INIT;
		struct bitw w = {.out = NULL, .cap = 0};

		put_bits(&w, 0, 8 * MBLOCK_HEADER);
		for (size_t i = 0; i < n; i++)
			point_put(&w, &c, &p[i]);
		put_flush(&w);
		if (w.len > cap)
			return -ENOBUFS;
	}
	len = mlfs_mblock_append(out, 0, cap, p, n, &taken, NULL);
	/* The bound or the count was wrong if it did not all fit. */
	if (len >= 0 && taken != n)
		return -ENOBUFS;
	return len;
}

int mlfs_mblock_decode(const uint8_t *in, size_t len, struct mlfs_point *out, size_t cap)
{
	struct mlfs_point pts[MLFS_MBLOCK_POINTS];
	struct coder c = CODER_INIT;
	struct bitr r;
	int n;

	n = block_scan(in, len, &c, &r, pts, cap);
	if (n > 0)
		memcpy(out, pts, n * sizeof(*pts));
	return n;
}

int mlfs_mblock_count(const uint8_t *in, size_t len)
{
	size_t n;

	if (len < MBLOCK_HEADER || in[0] != MBLOCK_VERSION)
		return -EBADMSG;
	n = in[1] | (size_t)in[2] << 8;
	return n > MLFS_MBLOCK_POINTS ? -EBADMSG : (int)n;
}
