/* SPDX-License-Identifier: Apache-2.0
 * tap.h - a tiny header-only TAP (Test Anything Protocol) harness for the
 * unit tests in tests/unit/. One binary per module; main() calls plan(n),
 * then ok(...) per observed value, then `return done_testing();`.
 * Output goes to stdout, unbuffered per line so a crash keeps what passed.
 * Not thread-safe: call ok() from the main thread only (collect results
 * from workers first). Context: thread.
 */
#ifndef SCALENE_TESTS_TAP_H
#define SCALENE_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_planned = -1; /* -1: plan() not called */
static int tap_run;
static int tap_failed;

/* Prints the plan line "1..n". Call once, before the first ok(). */
static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Prints "ok N - msg" or "not ok N - msg"; returns cond (0 or 1) so a test
 * can skip dependent checks: `if (!ok(p != NULL, "alloc")) return;`. */
__attribute__((format(printf, 2, 3)))
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	cond = cond != 0;
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

/* Prints "# msg": a comment TAP consumers ignore (numbers, context). */
__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Returns 0 when every ok() passed and their count matches plan(); else 1,
 * with a diag line saying why. Use as `return done_testing();`. */
static inline int done_testing(void)
{
	if (tap_planned < 0) {
		diag("no plan() was called (%d tests ran)", tap_run);
		return 1;
	}
	if (tap_run != tap_planned) {
		diag("planned %d tests but ran %d", tap_planned, tap_run);
		return 1;
	}
	if (tap_failed) {
		diag("failed %d of %d tests", tap_failed, tap_run);
		return 1;
	}
	return 0;
}

#endif /* SCALENE_TESTS_TAP_H */
