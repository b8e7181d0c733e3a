/*
 * cors.c: CORS_ORIGIN matching for both programs (see cors.h): chat-fcgi
 * (fcgi/http.c) and chat-realtime's polling transport.  No I/O.
 *
 * An entry matches when it equals the request's Origin without regard
 * to ASCII case: an origin is scheme, host and port, the first two
 * case-insensitive and the last digits, so this is equality of the
 * serialized origins however the operator capitalised the list.  What
 * is echoed is the Origin as the browser sent it, which is what its
 * CORS check compares with.  Nothing that does not match is named,
 * whatever the list's length.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "lib/cors.h"

/* 1 if s[0..len) is 1 to CORS_ORIGIN_MAX bytes of visible ASCII. */
static int
plausible(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > CORS_ORIGIN_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
			return 0;
	return 1;
}

int
cors_origin_allowed(const char *list, const char *origin, size_t len)
{
	const char	*p, *e;
	size_t		 n;

	if (list == NULL || origin == NULL || !plausible(origin, len))
		return 0;
	for (p = list; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		while (*p == ' ')
			p++;
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		for (n = (size_t)(e - p); n > 0 && p[n - 1] == ' '; n--)
			continue;
		if (n == len && strncasecmp(p, origin, len) == 0)
			return 1;
	}
	return 0;
}

enum cors_allow
cors_check(const char *list, const char *origin, size_t len)
{
	if (list == NULL)
		return CORS_OFF;
	if (strcmp(list, "*") == 0)
		return CORS_ANY;
	return cors_origin_allowed(list, origin, len) ? CORS_ORIGIN :
	    CORS_NONE;
}
