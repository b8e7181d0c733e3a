/*
 * rl.h: fixed-window rate limits kept in Redis, so a limit holds across
 * every worker and host (DESIGN.md "Redis").  One counter per (route,
 * client IP, window number), created with an expiry by one Lua script.
 */
#ifndef RL_H
#define RL_H

#include <time.h>	/* time_t */

#include <hiredis.h>

#include "conf.h"	/* struct conf_rate */

#define RL_KEY_MAX	256	/* bytes in a counter key */

enum	rl_result {
	RL_ALLOW = 0,		/* under the limit; counted */
	RL_DENY,		/* over the limit; *retry_after is set */
	RL_ERROR		/* Redis failed (logged); caller decides */
};

/*
 * Count one request of "route" from "ip" at time "now" against "r"
 * (r->limit requests per r->window seconds).  The window is
 * now / r->window, so it is the same on every host.  On RL_DENY,
 * *retry_after gets the seconds left in the window (1 or more).
 * "route" and "ip" are short printable strings (bytes outside
 * [!-~] are replaced in the key).  On RL_ERROR the context may be
 * broken (c->err set): the caller should free it and reconnect.
 */
enum rl_result	 rl_check(redisContext *c, const char *route,
		    const char *ip, const struct conf_rate *r, time_t now,
		    long *retry_after);

#endif /* !RL_H */
