/*
 * redis_util.h: REDIS_URL parsing, shared by chat-fcgi (which connects
 * with fcgi/redis.h) and chat-realtime (which connects on its own event
 * loop).
 */
#ifndef LIB_REDIS_UTIL_H
#define LIB_REDIS_UTIL_H

#include <stddef.h>	/* size_t */

#define REDIS_URL_MAX		512	/* bytes in REDIS_URL */

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

#endif /* !LIB_REDIS_UTIL_H */
