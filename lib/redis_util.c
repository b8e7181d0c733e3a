/*
 * redis_util.c: parse REDIS_URL, the same way for chat-fcgi (its
 * blocking connections, fcgi/redis.c) and chat-realtime (its async
 * ones).  The URL is configuration, not wire data, but is still parsed
 * with bounds on every copy.
 */
#include "config.h"

#include <string.h>

#include "lib/conf.h"
#include "lib/redis_util.h"

/* Copy s[0..n) into dst (size dstsz) with NUL.  Returns 0 or -1. */
static int
copyn(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (n >= dstsz)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* conf_parse_long of s[0..n) (no NUL needed) into an int. */
static int
parse_int(const char *s, size_t n, int lo, int hi, int *out)
{
	char	 buf[16];
	long	 v;

	if (copyn(buf, sizeof(buf), s, n) == -1 ||
	    conf_parse_long(buf, lo, hi, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

int
redis_url_parse(const char *url, struct redis_url *u, const char **why)
{
	const char	*p, *end, *at, *colon, *slash, *q;
	size_t		 len;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	*why = "REDIS_URL is malformed";
	if (url == NULL || (len = strnlen(url, REDIS_URL_MAX + 1)) >
	    REDIS_URL_MAX) {
		*why = "REDIS_URL is too long";
		return -1;
	}
	end = url + len;
	if (strncmp(url, "unix:", 5) == 0) {
		p = url + 5;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (*p != '/')
			return -1;
		q = memchr(p, '?', (size_t)(end - p));
		if (copyn(u->path, sizeof(u->path), p,
		    (size_t)((q != NULL ? q : end) - p)) == -1)
			return -1;
		if (q != NULL) {
			if (strncmp(q, "?db=", 4) != 0 ||
			    parse_int(q + 4, (size_t)(end - q - 4), 0, 65535,
			    &u->db) == -1)
				return -1;
		}
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		*why = "REDIS_URL must start with redis:// or unix:";
		return -1;
	}
	p = url + 8;
	slash = memchr(p, '/', (size_t)(end - p));
	if (slash == NULL)
		slash = end;
	/* Credentials: the last '@' before the path. */
	at = NULL;
	for (q = p; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon == NULL) {
			/* "redis://pass@host" is taken as a password. */
			if (copyn(u->pass, sizeof(u->pass), p,
			    (size_t)(at - p)) == -1)
				return -1;
		} else if (copyn(u->user, sizeof(u->user), p,
		    (size_t)(colon - p)) == -1 ||
		    copyn(u->pass, sizeof(u->pass), colon + 1,
		    (size_t)(at - colon - 1)) == -1)
			return -1;
		p = at + 1;
	}
	if (p < slash && *p == '[') {
		q = memchr(p, ']', (size_t)(slash - p));
		if (q == NULL || copyn(u->host, sizeof(u->host), p + 1,
		    (size_t)(q - p - 1)) == -1)
			return -1;
		colon = q + 1 < slash && q[1] == ':' ? q + 1 : NULL;
		if (colon == NULL && q + 1 != slash)
			return -1;
	} else {
		colon = memchr(p, ':', (size_t)(slash - p));
		if (copyn(u->host, sizeof(u->host), p,
		    (size_t)((colon != NULL ? colon : slash) - p)) == -1)
			return -1;
	}
	if (u->host[0] == '\0')
		memcpy(u->host, "127.0.0.1", sizeof("127.0.0.1"));
	if (colon != NULL && parse_int(colon + 1,
	    (size_t)(slash - colon - 1), 1, 65535, &u->port) == -1) {
		*why = "REDIS_URL has a bad port";
		return -1;
	}
	if (slash < end && slash + 1 < end && parse_int(slash + 1,
	    (size_t)(end - slash - 1), 0, 65535, &u->db) == -1) {
		*why = "REDIS_URL has a bad database number";
		return -1;
	}
	return 0;
}
