/* test_metric.c - the metric line format and the block codec. */
#include "metric.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double unit_rand(void)
{
	return (rng() >> 11) * (1.0 / 9007199254740992.0);
}

/* Close enough to a unit normal (Irwin-Hall), and no libm. */
static double gauss(void)
{
	double s = 0;
	int i;

	for (i = 0; i < 12; i++)
		s += unit_rand();
	return s - 6;
}

static uint64_t bits_of(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static double double_of(uint64_t u)
{
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

static bool same_point(const struct mlfs_point *a, const struct mlfs_point *b)
{
	return a->ts_ms == b->ts_ms && a->step == b->step && bits_of(a->value) == bits_of(b->value);
}

/* Parse s (a string literal or buffer) from an exact-size heap copy, so ASan sees any overread. */
static int parse(const char *s, size_t len, struct mlfs_point *p)
{
	char *copy = malloc(len ? len : 1);
	int r;

	if (len)
		memcpy(copy, s, len);
	r = mlfs_point_parse(copy, len, p);
	free(copy);
	return r;
}

static int parse_str(const char *s, struct mlfs_point *p)
{
	return parse(s, strlen(s), p);
}

/* ---- formatting ---- */

/* Expected strings printed by CPython 3.11's repr(). */
static const struct {
	uint64_t bits;
	const char *repr;
} python_repr[] = {
    {0x0000000000000000ull, "0.0"},
    {0x8000000000000000ull, "-0.0"},
    {0x3ff0000000000000ull, "1.0"},
    {0xbff0000000000000ull, "-1.0"},
    {0x3fb999999999999aull, "0.1"},
    {0x3fc999999999999aull, "0.2"},
    {0x3fd3333333333333ull, "0.3"},
    {0x3fd3333333333334ull, "0.30000000000000004"},
    {0x3fe5555555555555ull, "0.6666666666666666"},
    {0x3fe0000000000000ull, "0.5"},
    {0x3fedc28f5c28f5c3ull, "0.93"},
    {0x3ff8000000000000ull, "1.5"},
    {0x4059000000000000ull, "100.0"},
    {0x405edd2f1a9fbe77ull, "123.456"},
    {0x3f1a36e2eb1c432dull, "0.0001"},
    {0xbf1a36e2eb1c432dull, "-0.0001"},
    {0x3f1cd5f99c38b04bull, "0.00011"},
    {0x3ee4f8b588e368f1ull, "1e-05"},
    {0x3eef75104d551d69ull, "1.5e-05"},
    {0x3f1a36371ea531a8ull, "9.999e-05"},
    {0x430c6bf526340000ull, "1000000000000000.0"},
    {0x4341c37937e08000ull, "1e+16"},
    {0xc341c37937e08000ull, "-1e+16"},
    {0x434aa535d3d0c000ull, "1.5e+16"},
    {0x4341c37937e07fffull, "9999999999999998.0"},
    {0x437b69b4ba630f35ull, "1.2345678901234568e+17"},
    {0x4480f0cf064dd592ull, "1e+22"},
    {0x44b52d02c7e14af6ull, "1e+23"},
    {0x54b249ad2594c37dull, "1e+100"},
    {0x7e37e43c8800759cull, "1e+300"},
    {0x7fefffffffffffffull, "1.7976931348623157e+308"},
    {0xffefffffffffffffull, "-1.7976931348623157e+308"},
    {0x0010000000000000ull, "2.2250738585072014e-308"},
    {0x000fffffffffffffull, "2.225073858507201e-308"},
    {0x0000000000000001ull, "5e-324"},
    {0x8000000000000001ull, "-5e-324"},
    {0x000012688b70e62bull, "1e-310"},
    {0x0000000000002710ull, "4.9407e-320"},
    {0x3ff0000800000000ull, "1.0000076293945312"},
    {0x3ff0000000000001ull, "1.0000000000000002"},
    {0x3fefffffffffffffull, "0.9999999999999999"},
    {0x4340000000000000ull, "9007199254740992.0"},
    {0x4340000000000001ull, "9007199254740994.0"},
    {0x43e0000000000000ull, "9.223372036854776e+18"},
    {0x43f0000000000000ull, "1.8446744073709552e+19"},
    {0x0010000000000000ull, "2.2250738585072014e-308"},
    {0x3f50000000000000ull, "0.0009765625"},
    {0x43b0000000000000ull, "1.152921504606847e+18"},
    {0x400921fb54442d18ull, "3.141592653589793"},
    {0x4005bf0a8b145769ull, "2.718281828459045"},
    {0x3fe62e42fefa39efull, "0.6931471805599453"},
    {0x3e7ad7f29abcaf48ull, "1e-07"},
    {0x3e80823f71155233ull, "1.23e-07"},
    {0x40fe240c9fbe76c9ull, "123456.789"},
    {0x43118b54f22aeb03ull, "1234567890123456.8"},
    {0x3f202e85be180b74ull, "0.00012345678901234567"},
    {0x7ff0000000000000ull, "inf"},
    {0xfff0000000000000ull, "-inf"},
    {0x3fdfe55060000000ull, "0.4983712136745453"},
    {0x3fb99999a0000000ull, "0.10000000149011612"},
    {0x1480000000000000ull, "6.083493012144512e-210"},
    {0x401c000000000000ull, "7.0"},
    {0x4024000000000000ull, "10.0"},
    {0x43e56a95319d63e1ull, "1.2345678901234567e+19"},
    {0x0170000000000000ull, "9.332636185032189e-302"},
    {0x20b0000000000000ull, "3.054936363499605e-151"},
    {0x32d0000000000000ull, "6.077163357286271e-64"},
    {0x39b0000000000000ull, "7.888609052210118e-31"},
    {0x3e10000000000000ull, "9.313225746154785e-10"},
    {0x41d0000000000000ull, "1073741824.0"},
    {0x4630000000000000ull, "1.2676506002282294e+30"},
    {0x5f30000000000000ull, "3.273390607896142e+150"},
    {0x7e70000000000000ull, "1.0715086071862673e+301"},
    {0xa0b26c1c9f767c45ull, "-3.517436879206498e-151"},
    {0x58608fefcb91ce37ull, "5.220687878897814e+117"},
    {0x3b9985edd7210dffull, "1.3511848613554075e-21"},
    {0x06a3209ca6233255ull, "1.0790205420931878e-276"},
    {0xaf96ecbf1cfb10f6ull, "-1.933421489398353e-79"},
    {0x9f8fb2d4de527100ull, "-1.1543880163725095e-156"},
    {0x0d0d7f438b33e968ull, "8.437489215997029e-246"},
    {0x5d976d90035b7399ull, "7.142212753190354e+142"},
    {0x23c6140e687c966cull, "2.373113365899864e-136"},
    {0xef08e64eea959c21ull, "-7.373265110238823e+226"},
    {0x6186c5bb28dbd25eull, "6.403187897752385e+161"},
    {0xcf18348e238642eaull, "-1.0691763104575802e+73"},
    {0x10ed44bc206f5c66ull, "3.860945599063642e-227"},
    {0x6f8a30d5f8eb18b9ull, "1.9854314672690518e+229"},
    {0x63051e55359eeefbull, "9.962547377861888e+168"},
    {0x7dbff99bf5cae3bfull, "5.2278940281187713e+297"},
    {0x954f5d06df561d80ull, "-4.884452870796379e-206"},
    {0x7b11b5f9504b74baull, "6.584077953431408e+284"},
    {0x7024aa478a0a8c96ull, "1.6041512811706958e+232"},
    {0x7871e6cb2e81d66dull, "1.5131655235113983e+272"},
    {0xfb88474bf770c226ull, "-1.1552814187646947e+287"},
    {0x82c2d00e4c7d6df0ull, "-2.30126065347523e-295"},
    {0x153e0c406a375391ull, "2.3397879491182156e-206"},
    {0x88567f8043892dfcull, "-1.703447571345262e-268"},
    {0x68a092c24d25deb3ull, "9.678667972657951e+195"},
    {0xd6c68ca598921396ull, "-1.0591646065909932e+110"},
    {0xa7acb39310e6d8e6ull, "-1.4227078756014376e-117"},
    {0xa72d1d13d18a669aull, "-5.637251434039382e-120"},
    {0x286be89fb2489191ull, "5.666449903058534e-114"},
    {0x3c7c22fa7b3120dfull, "2.4404640235824457e-17"},
    {0x20ca90ff0e979cf3ull, "1.0144829567884492e-150"},
    {0xdff94880f3001ceeull, "-2.118703284698819e+154"},
    {0x33bfe89cd84a1d3aull, "1.9856797452117795e-59"},
    {0xe4d49bd38c8f95efull, "-5.219489010385804e+177"},
    {0x302cbdee5dbe4409ull, "1.2411002607622832e-76"},
    {0x05fb277b73ec28d0ull, "7.479653739462022e-280"},
    {0x7a4355b99faba827ull, "8.774191027946583e+280"},
    {0x60bbf8891e782196ull, "9.600708628421386e+157"},
    {0xe8e526e2edfde416ull, "-1.9764078281410154e+197"},
    {0xc199782d58296818ull, "-106826582.04043615"},
    {0x7ff8000000000000ull, "nan"},
    {0xfff8000000000000ull, "nan"},
    {0x7ff0000000000001ull, "nan"},
    {0xffffffffffffffffull, "nan"},
};

static void test_format_python(void)
{
	size_t i;

	for (i = 0; i < sizeof(python_repr) / sizeof(python_repr[0]); i++) {
		char buf[32];
		int n = mlfs_value_format(double_of(python_repr[i].bits), buf);

		if (strcmp(buf, python_repr[i].repr) != 0)
			fprintf(stderr, "bits %016llx: got %s, want %s\n",
				(unsigned long long)python_repr[i].bits, buf, python_repr[i].repr);
		CHECK(strcmp(buf, python_repr[i].repr) == 0);
		CHECK(n == (int)strlen(buf));
	}
}

/* Any finite double: the rendering is short, reads back bit-exactly, and no digit can go. */
static void test_format_round_trip(void)
{
	int i;

	for (i = 0; i < 200000; i++) {
		double v = double_of(rng()), back;
		char buf[32];
		int n;

		if (i % 4 == 1)
			v = (double)(rng() >> 11) *
			    double_of((uint64_t)(1023 - 150 + rng() % 200) << 52);
		if (i % 4 == 2)
			v = (double)(int64_t)(rng() % 2000001) / 1000.0 - 1000.0;
		n = mlfs_value_format(v, buf);
		REQUIRE(n == (int)strlen(buf));
		REQUIRE(n < 32);
		if (isnan(v)) {
			CHECK(strcmp(buf, "nan") == 0);
			continue;
		}
		back = strtod(buf, NULL);
		CHECK(bits_of(back) == bits_of(v));
		/* Python would never print 17 digits with a trailing zero. */
		CHECK(!(strchr(buf, 'e') && strstr(buf, "0e")));
	}
}

static void test_format_point(void)
{
	struct mlfs_point p = {.ts_ms = 1700000000123, .value = 0.93, .step = 42};
	struct mlfs_point extreme = {
	    .ts_ms = INT64_MIN, .value = -2.2250738585072014e-308, .step = INT64_MIN};
	char buf[MLFS_POINT_LINE_MAX];
	int n;

	n = mlfs_point_format(&p, buf);
	CHECK(strcmp(buf, "1700000000123 0.93 42\n") == 0);
	CHECK(n == (int)strlen(buf));

	n = mlfs_point_format(&extreme, buf);
	CHECK(strcmp(buf, "-9223372036854775808 -2.2250738585072014e-308 -9223372036854775808\n") ==
	      0);
	CHECK(n == (int)strlen(buf));
	CHECK(n < MLFS_POINT_LINE_MAX - 1);

	p.value = NAN;
	p.ts_ms = 0;
	p.step = -1;
	n = mlfs_point_format(&p, buf);
	CHECK(strcmp(buf, "0 nan -1\n") == 0);
	CHECK(n == 9);
	p.value = -INFINITY;
	p.ts_ms = INT64_MAX;
	p.step = INT64_MAX;
	n = mlfs_point_format(&p, buf);
	CHECK(strcmp(buf, "9223372036854775807 -inf 9223372036854775807\n") == 0);
	CHECK(n == (int)strlen(buf));
}

/* ---- parsing ---- */

static void test_parse_forms(void)
{
	struct mlfs_point p = {.ts_ms = 111, .value = 2.0, .step = 222};

	CHECK(parse_str("0.93", &p) == MLFS_POINT_VALUE);
	CHECK(p.value == 0.93 && p.ts_ms == 111 && p.step == 222);

	CHECK(parse_str("0.5 7", &p) == MLFS_POINT_VALUE_STEP);
	CHECK(p.value == 0.5 && p.ts_ms == 111 && p.step == 7);

	CHECK(parse_str("1700000000000 -1.25 -3", &p) == MLFS_POINT_FULL);
	CHECK(p.value == -1.25 && p.ts_ms == 1700000000000 && p.step == -3);

	CHECK(parse_str("\t 1e3\t\t9 \t", &p) == MLFS_POINT_VALUE_STEP);
	CHECK(p.value == 1000.0 && p.step == 9);

	CHECK(parse_str("5 6.5 7\r", &p) == MLFS_POINT_FULL);
	CHECK(p.ts_ms == 5 && p.value == 6.5 && p.step == 7);

	CHECK(parse_str("  3.0  \r", &p) == MLFS_POINT_VALUE);
	CHECK(p.value == 3.0);

	CHECK(parse_str("0 0 +4", &p) == MLFS_POINT_FULL);
	CHECK(p.ts_ms == 0 && p.value == 0 && p.step == 4);

	CHECK(parse_str("-0 1 2", &p) == MLFS_POINT_FULL);
	CHECK(p.ts_ms == 0);
}

static void test_parse_values(void)
{
	static const struct {
		const char *line;
		double value;
	} ok[] = {
	    {"1", 1.0},
	    {"+1", 1.0},
	    {"-1", -1.0},
	    {".5", 0.5},
	    {"5.", 5.0},
	    {"-.5e-3", -0.0005},
	    {"1E+3", 1000.0},
	    {"1e-3", 0.001},
	    {"00012.50", 12.5},
	    {"0.1000000000000000055511151231257827021181583404541015625", 0.1},
	    {"1e999", INFINITY},
	    {"-1e999", -INFINITY},
	    {"1e-999", 0.0},
	    {"1e-99999999999999999999", 0.0},
	    {"0e99999999999999999999", 0.0},
	    {"4.9406564584124654e-324", 5e-324},
	    {"1.7976931348623157e308", 1.7976931348623157e308},
	    {"inf", INFINITY},
	    {"INF", INFINITY},
	    {"+inf", INFINITY},
	    {"-inf", -INFINITY},
	    {"-Inf", -INFINITY},
	    {"Infinity", INFINITY},
	    {"-infinity", -INFINITY},
	};
	static const char *const nans[] = {"nan", "NaN", "NAN", "-nan", "+nan"};
	struct mlfs_point p;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r = parse_str(ok[i].line, &p);

		if (r != MLFS_POINT_VALUE || bits_of(p.value) != bits_of(ok[i].value))
			fprintf(stderr, "value '%s' parsed as %d %.17g\n", ok[i].line, r, p.value);
		CHECK(r == MLFS_POINT_VALUE);
		CHECK(bits_of(p.value) == bits_of(ok[i].value));
	}
	/* Every NaN is stored as the one positive quiet NaN. */
	for (i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
		p.value = 0;
		CHECK(parse_str(nans[i], &p) == MLFS_POINT_VALUE);
		CHECK(bits_of(p.value) == 0x7ff8000000000000ull);
	}
	CHECK(parse_str("-0", &p) == MLFS_POINT_VALUE);
	CHECK(p.value == 0 && signbit(p.value));
	CHECK(parse_str("-0.0e5", &p) == MLFS_POINT_VALUE);
	CHECK(p.value == 0 && signbit(p.value));
}

static void test_parse_ints(void)
{
	struct mlfs_point p;

	CHECK(parse_str("1 9223372036854775807", &p) == MLFS_POINT_VALUE_STEP);
	CHECK(p.step == INT64_MAX);
	CHECK(parse_str("1 -9223372036854775808", &p) == MLFS_POINT_VALUE_STEP);
	CHECK(p.step == INT64_MIN);
	CHECK(parse_str("1 00000000000000000000000000042", &p) == MLFS_POINT_VALUE_STEP);
	CHECK(p.step == 42);
	CHECK(parse_str("9223372036854775807 1 0", &p) == MLFS_POINT_FULL);
	CHECK(p.ts_ms == INT64_MAX);

	CHECK(parse_str("1 9223372036854775808", &p) == -EINVAL);
	CHECK(parse_str("1 -9223372036854775809", &p) == -EINVAL);
	CHECK(parse_str("1 99999999999999999999", &p) == -EINVAL);
	CHECK(parse_str("1 18446744073709551616", &p) == -EINVAL);
	CHECK(parse_str("9223372036854775808 1 0", &p) == -EINVAL);
	CHECK(parse_str("-1 1 0", &p) == -EINVAL);
	CHECK(parse_str("-9223372036854775808 1 0", &p) == -EINVAL);
}

static void test_parse_rejects(void)
{
	static const char *const bad[] = {
	    "",		 " ",	    " \t ",   "\r",    "\r\r",	 "1\r\r", "1\r 2",   "abc",
	    "0x10",	 "0x1p3",   "0X1P-2", "1.5.2", "1..5",	 "1e",	  "1e+",     "1e-",
	    "e5",	 ".",	    "-",      "+",     "--1",	 "+-1",	  "1-",	     ".e1",
	    "1,5",	 "1_000",   "1.0f",   "1d",    "nan(1)", "nanx",  "infinit", "infinityy",
	    "in",	 "-n",	    "1 2.5",  "1 2e3", "1 0x10", "1 +",	  "1 -",     "1 2 3 4",
	    "1 2 3 4 5", "1.5 2 3", "x 1 2",  "1 x 2", "1\n",	 "1\n2",  "\n",	     "1 nan",
	    "1 inf",	 "1\v",	    "\f1",    "１",
	};
	struct mlfs_point p = {.ts_ms = 5, .value = 6, .step = 7};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse_str(bad[i], &p);

		if (r != -EINVAL)
			fprintf(stderr, "line '%s' was not refused: %d\n", bad[i], r);
		CHECK(r == -EINVAL);
	}
	/* A refused line writes nothing. */
	CHECK(p.ts_ms == 5 && p.value == 6 && p.step == 7);
	/* NUL bytes are not blanks nor an end. */
	CHECK(parse("1\0", 2, &p) == -EINVAL);
	CHECK(parse("\0"
		    "1",
		    2, &p) == -EINVAL);
	CHECK(parse("1 \0 2", 5, &p) == -EINVAL);
	CHECK(parse(NULL, 0, &p) == -EINVAL);
	CHECK(p.ts_ms == 5 && p.value == 6 && p.step == 7);
}

/* The parser stops at len: the bytes after it are not part of the line. */
static void test_parse_bounded(void)
{
	char line[200];
	struct mlfs_point p;

	CHECK(parse("12345 garbage", 5, &p) == MLFS_POINT_VALUE);
	CHECK(p.value == 12345.0);
	CHECK(parse("1 2 3x", 5, &p) == MLFS_POINT_FULL);
	CHECK(p.ts_ms == 1 && p.value == 2 && p.step == 3);

	/* 128 bytes are read; 129 are refused, blanks or not. */
	memset(line, ' ', sizeof(line));
	line[0] = '7';
	CHECK(parse(line, 128, &p) == MLFS_POINT_VALUE);
	CHECK(parse(line, 129, &p) == -EINVAL);
	line[128] = '\r';
	CHECK(parse(line, 129, &p) == MLFS_POINT_VALUE);
	memset(line, '1', sizeof(line));
	CHECK(parse(line, 128, &p) == MLFS_POINT_VALUE);
	line[128] = '\0';
	CHECK(p.value == strtod(line, NULL));
	CHECK(parse(line, 150, &p) == -EINVAL);
}

/* format then parse gives the same point, bit for bit (NaN aside: one NaN). */
static void test_parse_format_round_trip(void)
{
	int i;

	for (i = 0; i < 100000; i++) {
		struct mlfs_point p, q;
		char buf[MLFS_POINT_LINE_MAX];
		int n;

		p.ts_ms = (int64_t)(rng() >> 1);
		p.step = (int64_t)rng();
		p.value = double_of(rng());
		if (i % 3 == 0)
			p.value = (double)(int64_t)(rng() % 100000) / 1e4;
		if (isnan(p.value))
			p.value = double_of(0x7ff8000000000000ull);
		if (i == 0) {
			p.ts_ms = INT64_MAX;
			p.step = INT64_MIN;
			p.value = -0.0;
		}
		n = mlfs_point_format(&p, buf);
		REQUIRE(n == (int)strlen(buf) && n < MLFS_POINT_LINE_MAX && buf[n - 1] == '\n');
		CHECK(parse(buf, n - 1, &q) == MLFS_POINT_FULL);
		CHECK(same_point(&p, &q));
	}
}

/* ---- blocks ---- */

static size_t encode(const struct mlfs_point *p, size_t n, uint8_t *out, size_t cap)
{
	int r = mlfs_mblock_encode(p, n, out, cap);

	if (r < 0)
		return 0;
	if ((size_t)r > mlfs_mblock_bound(n))
		return 0;
	return r;
}

static bool round_trip(const struct mlfs_point *p, size_t n)
{
	static uint8_t buf[128 * 1024];
	struct mlfs_point out[MLFS_MBLOCK_POINTS];
	size_t len = encode(p, n, buf, sizeof(buf)), i;

	if (len == 0 || buf[0] != 1)
		return false;
	if (mlfs_mblock_decode(buf, len, out, MLFS_MBLOCK_POINTS) != (int)n)
		return false;
	for (i = 0; i < n; i++)
		if (!same_point(&p[i], &out[i]))
			return false;
	return true;
}

/* Random points of one of several kinds; kind 0 is any bits at all. */
static void random_points(struct mlfs_point *p, size_t n, int kind)
{
	static const double powers[] = {1e4,	1e3,	100,   10,    1,     0.1,    0.01,
					1e-3,	1e-4,	1e-5,  1e-6,  1e-7,  1e-9,   1e-12,
					1e-15,	1e-18,	1e-21, 1e-24, 1e-30, 1e-100, 1e-300,
					1e-310, 1e-320, 1e30,  1e100, 1e290};
	int64_t ts = (int64_t)(rng() >> 24), step = (int64_t)(rng() % 1000);
	double v = unit_rand();
	size_t i;

	for (i = 0; i < n; i++) {
		switch (kind) {
		case 0:
			p[i].ts_ms = (int64_t)rng();
			p[i].step = (int64_t)rng();
			p[i].value = double_of(rng());
			break;
		case 1: /* a loss curve with a few digits */
			ts += (int64_t)(rng() % 3);
			p[i].ts_ms = ts;
			p[i].step = step++;
			v = v * 0.999 + 0.01 * gauss();
			p[i].value = (double)(int64_t)(v * 1e5) / 1e5;
			break;
		case 2: /* full precision, NaN payloads, infinities, zeros of both signs */
			ts += 1000;
			p[i].ts_ms = ts;
			p[i].step = step += (int64_t)(rng() % 5) - 1;
			switch (rng() % 8) {
			case 0:
				p[i].value = double_of(0x7ff0000000000000ull | (rng() >> 12) | 1);
				break;
			case 1:
				p[i].value = double_of(0xfff8000000000000ull | (rng() >> 13));
				break;
			case 2:
				p[i].value = rng() % 2 ? -0.0 : 0.0;
				break;
			case 3:
				p[i].value = rng() % 2 ? -INFINITY : INFINITY;
				break;
			case 4:
				p[i].value = (float)gauss();
				break;
			default:
				p[i].value = gauss() * 1e-3;
			}
			break;
		case 3: /* extremes: int64 limits that wrap every difference */
			p[i].ts_ms = rng() % 2 ? INT64_MAX : INT64_MIN;
			p[i].step = rng() % 2 ? INT64_MIN : INT64_MAX;
			p[i].value = rng() % 2 ? DBL_MAX : -DBL_MIN;
			if (rng() % 4 == 0)
				p[i].value = 5e-324;
			break;
		default: /* decimals at scales that come and go */
			p[i].ts_ms = ts;
			p[i].step = step;
			p[i].value = (double)((int64_t)(rng() % 2000001) - 1000000) *
				     powers[rng() % (sizeof(powers) / sizeof(powers[0]))];
			if (rng() % 5 == 0)
				p[i].value = 1e22 * (double)(rng() % 1000);
		}
	}
}

static void test_mblock_round_trip(void)
{
	struct mlfs_point p[MLFS_MBLOCK_POINTS];
	int kind, iter;

	for (kind = 0; kind < 5; kind++) {
		for (iter = 0; iter < 300; iter++) {
			size_t n = iter < 257 ? (size_t)iter : 1 + rng() % MLFS_MBLOCK_POINTS;

			random_points(p, n, kind);
			if (!round_trip(p, n))
				fprintf(stderr, "kind %d, %zu points do not round-trip\n", kind, n);
			CHECK(round_trip(p, n));
		}
	}
}

static void test_mblock_limits(void)
{
	struct mlfs_point p[MLFS_MBLOCK_POINTS + 1], out[MLFS_MBLOCK_POINTS];
	static uint8_t buf[128 * 1024];
	int len;

	random_points(p, MLFS_MBLOCK_POINTS + 1, 0);
	CHECK(mlfs_mblock_encode(p, MLFS_MBLOCK_POINTS + 1, buf, sizeof(buf)) == -EINVAL);

	/* The bound holds for the worst data; one byte short is -ENOBUFS, never an overrun. */
	len = mlfs_mblock_encode(p, MLFS_MBLOCK_POINTS, buf, sizeof(buf));
	REQUIRE(len > 0);
	CHECK((size_t)len <= mlfs_mblock_bound(MLFS_MBLOCK_POINTS));
	{
		uint8_t *exact = malloc(len - 1);
		int i;

		memset(exact, 0xa5, len - 1);
		CHECK(mlfs_mblock_encode(p, MLFS_MBLOCK_POINTS, exact, len - 1) == -ENOBUFS);
		for (i = 0; i < len - 1; i++)
			if (exact[i] != 0xa5)
				break;
		CHECK(i == len - 1);
		free(exact);
	}
	CHECK(mlfs_mblock_encode(p, 0, NULL, 0) == -ENOBUFS);
	CHECK(mlfs_mblock_encode(p, 0, buf, 3) == 3);
	CHECK(mlfs_mblock_decode(buf, 3, out, 0) == 0);

	/* Decoding into too few points is -ENOBUFS and writes nothing. */
	len = mlfs_mblock_encode(p, 10, buf, sizeof(buf));
	REQUIRE(len > 0);
	out[0].ts_ms = 12345;
	CHECK(mlfs_mblock_decode(buf, len, out, 9) == -ENOBUFS);
	CHECK(out[0].ts_ms == 12345);
	CHECK(mlfs_mblock_decode(buf, len, out, 10) == 10);
}

/*
 * Appending in pieces under a byte budget, decoding the block each time or
 * going on from a resume, makes, block by block, exactly what one
 * mlfs_mblock_encode() of the block's points makes; a block stops only at a
 * point that does not fit, and never passes the budget.
 */
static void test_mblock_append(void)
{
	static struct mlfs_point p[2 * MLFS_MBLOCK_POINTS], out[MLFS_MBLOCK_POINTS];
	static uint8_t blk[128 * 1024], want[128 * 1024];
	struct mlfs_mblock_resume resume = MLFS_MBLOCK_RESUME_INIT;
	size_t taken;
	int iter, r;

	for (iter = 0; iter < 120; iter++) {
		size_t n = 1 + rng() % (sizeof(p) / sizeof(p[0])), i = 0, start = 0, len = 0;
		size_t cap = iter % 4 == 0 ? sizeof(blk) : 3 + rng() % 8000;
		int blocks = 0;

		random_points(p, n, iter % 4);
		while (i < n) {
			size_t k = 1 + rng() % (iter % 3 == 0 ? 4 : 300);

			if (k > n - i)
				k = n - i;
			/* every other round goes on from the resume instead of decoding */
			r = mlfs_mblock_append(blk, len, cap, p + i, k, &taken,
					       iter % 2 ? &resume : NULL);
			REQUIRE(r >= 3 && (size_t)r <= cap && taken <= k);
			len = r;
			i += taken;
			if (taken == k && i < n)
				continue;
			/* The block is done: full, or all points are in. */
			if (i < n) {
				CHECK(mlfs_mblock_append(blk, len, cap, p + i, 1, &taken, NULL) == (int)len &&
				      taken == 0);
			}
			if (i - start == 0) {
				/* Not even one point fits an empty block of this budget. */
				CHECK(cap < mlfs_mblock_bound(1));
				break;
			}
			r = mlfs_mblock_encode(p + start, i - start, want, sizeof(want));
			CHECK(r == (int)len && !memcmp(want, blk, len));
			CHECK(mlfs_mblock_decode(blk, len, out, MLFS_MBLOCK_POINTS) == (int)(i - start));
			for (size_t j = start; j < i; j++)
				CHECK(same_point(&p[j], &out[j - start]));
			start = i;
			len = 0;
			blocks++;
		}
		CHECK(blocks >= 1 || cap < mlfs_mblock_bound(1));
	}

	/* A damaged block is refused and left as it was. */
	random_points(p, 50, 1);
	r = mlfs_mblock_encode(p, 50, blk, sizeof(blk));
	REQUIRE(r > 3);
	memcpy(want, blk, r);
	CHECK(mlfs_mblock_append(blk, r - 1, sizeof(blk), p, 1, &taken, NULL) == -EBADMSG);
	CHECK(!memcmp(want, blk, r));
	CHECK(mlfs_mblock_append(blk, r, r - 1, p, 1, &taken, NULL) == -EINVAL);
	CHECK(mlfs_mblock_append(blk, 0, 2, p, 1, &taken, NULL) == -ENOBUFS);
	CHECK(mlfs_mblock_count(blk, r) == 50 && mlfs_mblock_count(blk, 2) == -EBADMSG);
}

static void test_mblock_damage(void)
{
	struct mlfs_point p[MLFS_MBLOCK_POINTS], out[MLFS_MBLOCK_POINTS];
	static uint8_t buf[128 * 1024];
	int kind, len, i, bad = 0, r;

	for (kind = 0; kind < 5; kind++) {
		random_points(p, 100, kind);
		len = mlfs_mblock_encode(p, 100, buf, sizeof(buf));
		REQUIRE(len > 3);
		/* Every strict prefix, from an exact-size copy, is refused. */
		for (i = 0; i < len; i++) {
			uint8_t *copy = malloc(i ? i : 1);

			memcpy(copy, buf, i);
			out[0].step = 777;
			r = mlfs_mblock_decode(copy, i, out, MLFS_MBLOCK_POINTS);
			CHECK(r == -EBADMSG);
			CHECK(out[0].step == 777);
			free(copy);
		}
		/* A byte too many is refused. */
		buf[len] = 0;
		CHECK(mlfs_mblock_decode(buf, len + 1, out, MLFS_MBLOCK_POINTS) == -EBADMSG);
		/* Flipped bits never crash and a changed header is refused. */
		for (i = 0; i < len * 8; i++) {
			buf[i / 8] ^= 1 << (i % 8);
			r = mlfs_mblock_decode(buf, len, out, MLFS_MBLOCK_POINTS);
			CHECK(r == -EBADMSG || r == 100 || (i >= 8 && i < 24));
			if (i < 8)
				CHECK(r == -EBADMSG);
			bad += r == -EBADMSG;
			buf[i / 8] ^= 1 << (i % 8);
		}
		CHECK(mlfs_mblock_decode(buf, len, out, MLFS_MBLOCK_POINTS) == 100);
	}
	/* Many flips are caught by the structure itself. */
	CHECK(bad > 0);

	/* The padding must be zero. */
	random_points(p, 1, 1);
	len = mlfs_mblock_encode(p, 1, buf, sizeof(buf));
	REQUIRE(len > 3);
	for (i = 0; i < 8; i++) {
		uint8_t save = buf[len - 1];

		buf[len - 1] |= 1 << i;
		if (buf[len - 1] != save)
			CHECK(mlfs_mblock_decode(buf, len, out, 1) == -EBADMSG ||
			      !same_point(&p[0], &out[0]));
		buf[len - 1] = save;
	}

	/* Headers: empty, short, another version, too many points. */
	CHECK(mlfs_mblock_decode(NULL, 0, out, 1) == -EBADMSG);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x01\x00", 2, out, 1) == -EBADMSG);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x02\x00\x00", 3, out, 1) == -EBADMSG);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x00\x00\x00", 3, out, 1) == -EBADMSG);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x01\x01\x01", 3, out, 300) == -EBADMSG);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x01\x00\x00", 3, out, 1) == 0);
	CHECK(mlfs_mblock_decode((const uint8_t *)"\x01\x00\x00", 3, NULL, 0) == 0);

	/* Random bytes behind a valid header: refused or decoded, never a crash. */
	for (i = 0; i < 20000; i++) {
		size_t n = 3 + rng() % 64, j;

		for (j = 0; j < n; j++)
			buf[j] = (uint8_t)rng();
		buf[0] = 1;
		buf[1] = (uint8_t)(1 + rng() % 4);
		buf[2] = 0;
		r = mlfs_mblock_decode(buf, n, out, MLFS_MBLOCK_POINTS);
		CHECK(r == -EBADMSG || r == buf[1]);
	}
}

/* Bytes per point over whole blocks of n points made by gen. */
static double bytes_per_point(struct mlfs_point *p, size_t n)
{
	static uint8_t buf[128 * 1024];
	size_t i, total = 0;

	for (i = 0; i < n; i += MLFS_MBLOCK_POINTS) {
		size_t k = n - i < MLFS_MBLOCK_POINTS ? n - i : MLFS_MBLOCK_POINTS;
		size_t len = encode(p + i, k, buf, sizeof(buf));

		if (len == 0 || !round_trip(p + i, k))
			return 1e9;
		total += len;
	}
	return (double)total / n;
}

/*
 * The sizes the codec is designed for (a ms clock, steps +1): if one of these
 * fails, a change has made typical metrics bigger.
 */
static void test_mblock_compression(void)
{
	enum { N = 100000 };
	struct mlfs_point *p = malloc(N * sizeof(*p));
	double bpp, curve;
	size_t i;

	REQUIRE(p);
	/* A constant: the clock and the step cost a bit each. */
	for (i = 0; i < N; i++) {
		p[i].ts_ms = 1700000000000 + (int64_t)i;
		p[i].step = (int64_t)i;
		p[i].value = 0.25;
	}
	bpp = bytes_per_point(p, N);
	printf("constant: %.3f bytes/point\n", bpp);
	CHECK(bpp < 0.6);

	/* A loss curve 0.5 exp(-i / 1e5), 2% noise, typed with 5 significant digits. */
	for (i = 0, curve = 0.5; i < N; i++, curve *= 0.99999000005) {
		char s[32];

		snprintf(s, sizeof(s), "%.5g", curve * (1 + 0.02 * gauss()));
		p[i].value = strtod(s, NULL);
	}
	bpp = bytes_per_point(p, N);
	printf("loss %%.5g: %.3f bytes/point\n", bpp);
	CHECK(bpp < 2.5);

	/* Far from 1, where a decimal needs a correction in ulps. */
	for (i = 0, curve = 0.5; i < N; i++, curve *= 0.99999000005) {
		char s[32];

		snprintf(s, sizeof(s), "%.5g", 1e-30 * curve * (1 + 0.02 * gauss()));
		p[i].value = strtod(s, NULL);
	}
	bpp = bytes_per_point(p, N);
	printf("loss %%.5g times 1e-30: %.3f bytes/point\n", bpp);
	CHECK(bpp < 3);
	for (i = 0, curve = 0.5; i < N; i++, curve *= 0.99999000005) {
		char s[32];

		snprintf(s, sizeof(s), "%.4g", 1e200 * curve * (1 + 0.02 * gauss()));
		p[i].value = strtod(s, NULL);
	}
	bpp = bytes_per_point(p, N);
	printf("loss %%.4g times 1e200: %.3f bytes/point\n", bpp);
	CHECK(bpp < 3);

	/* The same loss at float32 precision. */
	for (i = 0, curve = 0.5; i < N; i++, curve *= 0.99999000005)
		p[i].value = (float)(curve * (1 + 0.02 * gauss()));
	bpp = bytes_per_point(p, N);
	printf("loss float32: %.3f bytes/point\n", bpp);
	CHECK(bpp < 4.5);

	/* Full precision: the noise itself is ~49 bits. */
	for (i = 0, curve = 0.5; i < N; i++, curve *= 0.99999000005)
		p[i].value = curve * (1 + 0.02 * gauss());
	bpp = bytes_per_point(p, N);
	printf("loss float64: %.3f bytes/point\n", bpp);
	CHECK(bpp < 8);
	free(p);
}

int main(void)
{
	T_RUN(test_format_python);
	T_RUN(test_format_round_trip);
	T_RUN(test_format_point);
	T_RUN(test_parse_forms);
	T_RUN(test_parse_values);
	T_RUN(test_parse_ints);
	T_RUN(test_parse_rejects);
	T_RUN(test_parse_bounded);
	T_RUN(test_parse_format_round_trip);
	T_RUN(test_mblock_round_trip);
	T_RUN(test_mblock_limits);
	T_RUN(test_mblock_append);
	T_RUN(test_mblock_damage);
	T_RUN(test_mblock_compression);
	return T_DONE();
}
