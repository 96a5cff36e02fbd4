/*
 * fuzz_metric_line.c - a metric line that parses must render as a line that
 * parses back to the same point, bit for bit, and agree with strtod().
 */
#include "metric.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t bits_of(double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	return u;
}

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_metric_line: %s on '%.*s'\n", what, (int)size, (const char *)data);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlfs_point p = {.ts_ms = 424242, .value = 0.5, .step = 17}, q = p;
	char line[MLFS_POINT_LINE_MAX], value[32], copy[256], *end;
	int form, n, m;
	size_t i, j;

	form = mlfs_point_parse((const char *)data, size, &p);
	if (form < 0) {
		if (memcmp(&p, &q, sizeof(p)) != 0)
			fail("a refused line wrote its point", data, size);
		return 0;
	}
	if (form < MLFS_POINT_VALUE || form > MLFS_POINT_FULL)
		fail("unknown form", data, size);
	if (form < MLFS_POINT_FULL && p.ts_ms != 424242)
		fail("a short form set the timestamp", data, size);
	if (form < MLFS_POINT_VALUE_STEP && p.step != 17)
		fail("a short form set the step", data, size);

	n = mlfs_point_format(&p, line);
	if (n <= 0 || n >= MLFS_POINT_LINE_MAX || (size_t)n != strlen(line) || line[n - 1] != '\n')
		fail("bad rendering", data, size);
	q.ts_ms = q.step = 0;
	if (mlfs_point_parse(line, n - 1, &q) != MLFS_POINT_FULL)
		fail("the rendering does not parse", data, size);
	if (q.ts_ms != p.ts_ms || q.step != p.step || bits_of(q.value) != bits_of(p.value))
		fail("the rendering parses as another point", data, size);
	if (mlfs_point_format(&q, copy) != n || memcmp(copy, line, n) != 0)
		fail("the rendering is not stable", data, size);
	m = mlfs_value_format(p.value, value);
	if (m <= 0 || m >= 32 || (size_t)m != strlen(value) || !strstr(line, value))
		fail("bad value rendering", data, size);

	/* The value has the fewest digits that read back, and the nearest such. */
	if (isfinite(p.value) && p.value != 0) {
		char want[40], have[20], *c;
		int k = 0, w = 0;

		for (c = value; *c && *c != 'e'; c++)
			if (*c >= '0' && *c <= '9' && (k || *c != '0'))
				have[k++] = *c;
		while (k > 1 && have[k - 1] == '0')
			k--;
		if (k > 1) {
			snprintf(want, sizeof(want), "%.*e", k - 2, p.value);
			if (strtod(want, NULL) == p.value)
				fail("a shorter decimal reads back", data, size);
		}
		snprintf(want, sizeof(want), "%.*e", k - 1, fabs(p.value));
		for (c = want; *c && *c != 'e'; c++)
			if (*c >= '0' && *c <= '9')
				want[w++] = *c;
		/* A power of two may take the decimal above the nearest. */
		if ((w != k || memcmp(want, have, k) != 0) && (bits_of(p.value) << 12) != 0)
			fail("not the nearest shortest decimal", data, size);
	}

	/* The one-field form: the field is what strtod() reads, NaN aside. */
	if (form == MLFS_POINT_VALUE && size < sizeof(copy)) {
		for (i = 0; i < size && (data[i] == ' ' || data[i] == '\t'); i++)
			;
		for (j = 0; i < size && data[i] != ' ' && data[i] != '\t' && data[i] != '\r'; i++)
			copy[j++] = (char)data[i];
		copy[j] = '\0';
		double v = strtod(copy, &end);
		if (*end != '\0')
			fail("strtod() does not read the whole value", data, size);
		if (p.value != p.value ? v == v : bits_of(v) != bits_of(p.value))
			fail("strtod() reads another value", data, size);
	}
	return 0;
}
