/*
 * redis.h: blocking hiredis connections as REDIS_URL says, for
 * chat-fcgi's workers (rate limits, /healthz) and its start-up check.
 */
#ifndef FCGI_REDIS_H
#define FCGI_REDIS_H

#include <hiredis.h>

#include "lib/redis_util.h"

#define REDIS_TIMEOUT_MS	2000	/* connect and command timeout */

/*
 * Connect (blocking, REDIS_TIMEOUT_MS for connect and each command),
 * AUTH and SELECT as the URL says.  Returns a context to free with
 * redisFree(), or NULL (logged) with *why (if "why" is not NULL) set to
 * a static message for operators (a refused password says so).
 */
redisContext	*redis_connect(const struct redis_url *u, const char **why);

#endif /* !FCGI_REDIS_H */
