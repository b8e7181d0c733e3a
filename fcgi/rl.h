/*
 * rl.h: fixed-window rate limits kept in Redis, so a limit holds across
 * every worker and host (docs/api.md §1.6).  One counter per (route,
 * client IP); its window opens at that client's first request and lasts
 * r->window seconds (the counter's expiry), like NestJS's throttler.
 * Windows aligned to the clock would let 2N requests through in a
 * moment around each boundary; these cannot.
 */
#ifndef FCGI_RL_H
#define FCGI_RL_H

#include "fcgi/redis.h"
#include "lib/conf.h"	/* struct conf_rate */

#define RL_KEY_MAX	256	/* bytes in a counter key */

enum	rl_result {
	RL_ALLOW = 0,		/* under the limit; counted */
	RL_DENY,		/* over the limit; *retry_after is set */
	RL_ERROR		/* Redis failed (logged); caller decides */
};

/*
 * Count one request of "route" from "ip" against "r" (r->limit
 * requests per r->window seconds).  INCR and the expiry are one Lua
 * script, so concurrent workers count exactly and no counter is left
 * without an expiry.  Time is Redis's, so every host agrees.  On
 * RL_DENY, *retry_after gets the seconds left in the window (1 or more).
 * "route" and "ip" are short printable strings (bytes outside
 * [!-~] are replaced in the key).  The counter is one key, so in a
 * Redis Cluster it lives on its slot's master and every host still
 * counts on the same key.  On RL_ERROR rd->why says what failed.
 */
enum rl_result	 rl_check(struct redis *rd, const char *route,
		    const char *ip, const struct conf_rate *r,
		    long *retry_after);

/* One check sent ahead of its reply. */
struct	rl_req {
	char		 key[RL_KEY_MAX];
	char		 ms[32];	/* window in ms, as text */
	long		 limit;
	long		 window;
	int		 sent;		/* awaiting a reply */
	struct redis_cmd cmd;		/* ... this one */
};

/*
 * rl_check in two halves, to overlap the Redis round trip with other
 * work: rl_send writes the command (0, or -1 logged: RL_ERROR), and
 * rl_recv reads its answer with rl_check's meaning.  Other commands may
 * be sent in between (redis_send); replies are read in the order of
 * the sends.
 */
int	 rl_send(struct redis *rd, struct rl_req *q, const char *route,
	    const char *ip, const struct conf_rate *r);
enum rl_result	 rl_recv(struct redis *rd, struct rl_req *q,
		    long *retry_after);

#endif /* !FCGI_RL_H */
