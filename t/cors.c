/*
 * t/cors.c: lib/cors.h, CORS_ORIGIN against request Origins: "*", one
 * entry, lists with spaces and empty entries, case, and Origins that
 * must never be echoed (control bytes, spaces, non-ASCII, too long).
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "lib/cors.h"

#define S(x)	(x), (sizeof(x) - 1)

static int
allowed(const char *list, const char *origin)
{
	return cors_origin_allowed(list, origin, strlen(origin));
}

int
main(void)
{
	const char	*two = " http://a.example , https://b.example:8443 ";
	char		 big[CORS_ORIGIN_MAX + 2];

	tap_plan(27);

	tap_int(cors_check("*", S("http://x.example")), CORS_ANY, "* any");
	tap_int(cors_check("*", NULL, 0), CORS_ANY, "* without Origin");
	tap_int(cors_check(NULL, S("http://x.example")), CORS_OFF,
	    "no list: off");
	tap_int(cors_check("http://a.example", S("http://a.example")),
	    CORS_ORIGIN, "one entry, equal");
	tap_int(cors_check("http://a.example", S("http://b.example")),
	    CORS_NONE, "one entry, other origin: not named");
	tap_int(cors_check("http://a.example", NULL, 0), CORS_NONE,
	    "list without Origin");
	tap_int(cors_check("http://a.example,*", S("http://b.example")),
	    CORS_NONE, "* inside a list is just an entry");
	tap_int(cors_check("http://a.example,*", S("http://a.example")),
	    CORS_ORIGIN, "... beside which the others still match");

	tap_ok(allowed(two, "http://a.example"), "first entry, spaces");
	tap_ok(allowed(two, "https://b.example:8443"), "last entry, spaces");
	tap_ok(!allowed(two, "https://b.example"), "port matters");
	tap_ok(!allowed(two, "http://a.example "), "trailing space in Origin");
	tap_ok(!allowed(two, "http://a.exampl"), "prefix of an entry");
	tap_ok(!allowed(two, "http://a.example.evil"), "entry as a prefix");
	tap_ok(!allowed(two, "http://a.example , https://b.example:8443"),
	    "the whole list");
	tap_ok(allowed("HTTP://A.Example", "http://a.example"),
	    "case: list capitalised");
	tap_ok(allowed("http://a.example", "http://A.EXAMPLE"),
	    "case: Origin capitalised");
	tap_ok(allowed(",, http://a.example,", "http://a.example"),
	    "empty entries skipped");
	tap_ok(!allowed("", "http://a.example"), "empty list");
	tap_ok(!allowed("http://a.example", ""), "empty Origin");
	tap_ok(allowed("null", "null"), "\"null\" only when listed");

	tap_ok(!cors_origin_allowed("http://a.example\r\nX: y",
	    S("http://a.example\r\nX: y")), "CR LF never echoed");
	tap_ok(!cors_origin_allowed("a\tb", S("a\tb")), "tab never echoed");
	tap_ok(!cors_origin_allowed("http://\xc5\xbc.example",
	    S("http://\xc5\xbc.example")), "non-ASCII never echoed");
	tap_ok(!cors_origin_allowed("http://a.example",
	    S("http://a.example\0")), "NUL never echoed");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tap_ok(!allowed(big, big), "longer than CORS_ORIGIN_MAX");
	big[CORS_ORIGIN_MAX] = '\0';
	tap_ok(allowed(big, big), "CORS_ORIGIN_MAX bytes");
	return tap_done();
}
