/*
 * tap.h: a tiny Test Anything Protocol emitter for the C unit tests in t/.
 * Header-only: each test program includes it once.  A failed check prints
 * what was expected and what came.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_n, tap_failed;

static inline void
tap_plan(int n)
{
	printf("1..%d\n", n);
}

static inline int
tap_ok(int cond, const char *name)
{
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	return cond;
}

static inline int
tap_int(long long got, long long want, const char *name)
{
	if (!tap_ok(got == want, name))
		printf("#   got %lld, want %lld\n", got, want);
	return got == want;
}

static inline int
tap_str(const char *got, const char *want, const char *name)
{
	int	 ok = got != NULL && want != NULL && strcmp(got, want) == 0;

	if (!tap_ok(ok, name))
		printf("#   got \"%s\", want \"%s\"\n", got ? got : "(null)",
		    want ? want : "(null)");
	return ok;
}

static inline int
tap_done(void)
{
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* !TAP_H */
