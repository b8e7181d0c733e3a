/*
 * redis_util.h: REDIS_URL parsing and blocking hiredis connections, for
 * chat-fcgi (rate limits, health) and tests.  Event-loop code in
 * chat-realtime uses redis_url_parse and connects on its own.
 */
#ifndef REDIS_UTIL_H
#define REDIS_UTIL_H

#include <stddef.h>	/* size_t */

#include <hiredis.h>

#define REDIS_URL_MAX		512	/* bytes in REDIS_URL */
#define REDIS_TIMEOUT_MS	2000	/* connect and command timeout */

struct	redis_url {
	char		 host[256];	/* host name or address; "" if unix */
	int		 port;		/* TCP port (default 6379) */
	char		 path[256];	/* unix socket path, or "" */
	char		 user[64];	/* ACL user or "" */
	char		 pass[256];	/* password or "" (no AUTH) */
	int		 db;		/* SELECT index, default 0 */
};

/*
 * Parse "redis://[[user]:pass@]host[:port][/db]" ("[::1]" for IPv6) or
 * "unix:/path/to.sock" (also "unix:///path"), "?db=N" allowed after a
 * unix path.  Returns 0, or -1 with *why set to a static message.
 */
int	 redis_url_parse(const char *url, struct redis_url *u,
	    const char **why);

/*
 * Connect (blocking, REDIS_TIMEOUT_MS for connect and each command),
 * AUTH and SELECT as the URL says.  Returns a context to free with
 * redisFree(), or NULL (logged) with *why (if "why" is not NULL) set to
 * a static message for operators (a refused password says so).
 */
redisContext	*redis_connect(const struct redis_url *u, const char **why);

#endif /* !REDIS_UTIL_H */
