/*
 * pcache.h: the profile cache of GET /users/me in Redis.  Per user,
 * in the user's hash slot "{u:<id>}" (one master of a cluster):
 *   {u:<id>}:p  "<id>\n<body>": the 200 answer's JSON body, with its
 *               owner's id in front (checked on every hit), for
 *               PROFILE_CACHE_TTL seconds;
 *   {u:<id>}:g  the profile's generation, INCR'd by every write.
 * A read sends "MGET p g" right behind the rate limit's command (one
 * round trip for both); a hit answers with no PostgreSQL query.  A miss
 * reads the row and fills p only if g is still what the MGET saw, in
 * one script, so a fill that raced a write is dropped.  A write
 * (profile, avatar, new account) runs pcache_wrote after its commit and
 * before its answer: INCR g, then DEL p.  Why that is enough:
 *   - a fill whose MGET came before the INCR carries the old g: after
 *     the INCR its check fails; before it, the DEL that follows removes
 *     what it set;
 *   - a fill whose MGET came after the INCR sent its SELECT later
 *     still, so it read the committed row.
 * Users of this module: users.c (read), app.c (writes).
 */
#ifndef FCGI_PCACHE_H
#define FCGI_PCACHE_H
#include <stddef.h>
#include "fcgi/redis.h"

#define PCACHE_KEY_MAX		48	/* bytes in "{u:<id>}:p" */
#define PCACHE_GEN_MAX		32	/* bytes of a generation kept */
#define PCACHE_BODY_MAX		4096	/* bytes of a cached body */
#define PCACHE_GEN_TTL		86400	/* s a generation outlives a write */

/* One read sent ahead of its reply. */
struct	pcache_req {
	struct redis_cmd cmd;
	long long	 id;			/* whose profile */
	char		 gen[PCACHE_GEN_MAX];	/* g as read ("" none) */
	int		 gen_ok;		/* ... and it may be used */
};

/* Send "MGET p g" for user "id".  Returns 0, or -1 (rd->why set). */
int	 pcache_send(struct redis *rd, struct pcache_req *q, long long id);
/*
 * Read the answer of pcache_send.  Returns 1 and the body in *body
 * (*len bytes and a NUL, malloc'd: the caller frees it) on a hit; 0 on a
 * miss (q remembers g for pcache_fill); -1 if Redis failed or answered
 * something unexpected (then pcache_fill does nothing).
 */
int	 pcache_recv(struct redis *rd, struct pcache_req *q, char **body,
	    size_t *len);
/* Forget the answer of a sent q. */
void	 pcache_cancel(struct redis *rd, struct pcache_req *q);
/*
 * After a miss: store body (len bytes) for ttl seconds if the
 * generation is still the one pcache_recv saw.  Failures are ignored
 * (the next read misses again).
 */
void	 pcache_fill(struct redis *rd, struct pcache_req *q,
	    const char *body, size_t len, long ttl);
/*
 * User "id" changed what GET /users/me answers (committed): bump the
 * generation and drop the cached body, and when mark_ms > 0 also set
 * the standby's own-write mark "{u:<id>}:w" for mark_ms (app_wrote).
 * One script, one round trip.  Returns 0, or -1 (logged) when Redis
 * could not be told.
 */
int	 pcache_wrote(struct redis *rd, long long id, long mark_ms);
#endif /* !FCGI_PCACHE_H */
