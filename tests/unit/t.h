/*
 * t.h - the smallest unit-test harness that does the job.
 *
 * A test file defines functions `static void test_x(void)` and a main that
 * calls T_RUN(test_x) for each, then returns T_DONE().  CHECK(cond) records
 * a failure with its line and carries on; REQUIRE(cond) also returns from
 * the test.  T_DONE() prints "<file>: N passed, N failed" and returns the
 * exit status (0 only when nothing failed and something ran).
 */
#ifndef MLFS_T_H
#define MLFS_T_H

#include <stdio.h>
#include <stdlib.h>

static int t_passed, t_failed, t_cur_failed;

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			t_cur_failed = 1;                                                 \
		}                                                                         \
	} while (0)

#define REQUIRE(cond)                                                                       \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: requirement failed: %s\n", __FILE__, __LINE__, #cond); \
			t_cur_failed = 1;                                                   \
			return;                                                             \
		}                                                                           \
	} while (0)

#define T_RUN(fn)                                                    \
	do {                                                         \
		t_cur_failed = 0;                                    \
		fn();                                                \
		if (t_cur_failed) {                                  \
			t_failed++;                                  \
			fprintf(stderr, "FAIL %s\n", #fn);           \
		} else {                                             \
			t_passed++;                                  \
		}                                                    \
	} while (0)

#define T_DONE()                                                                      \
	(printf("%s: %d passed, %d failed\n", __FILE__, t_passed, t_failed),          \
	 (t_failed == 0 && t_passed > 0) ? 0 : 1)

#endif
