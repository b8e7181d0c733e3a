/*
 * app.h: one chat-fcgi worker's state (its own PostgreSQL and Redis
 * connections, opened lazily and reopened after errors) and what every
 * request handler shares: bearer auth, the rate limit's two halves, the
 * body's encoding and the 500 answer.  The handlers (auth.c, users.c,
 * avatar.c) and the router (route.c) build on this, never on each
 * other.  Spec: docs/api.md §1.4, §1.5, §2.
 */
#ifndef FCGI_APP_H
#define FCGI_APP_H

#include <limits.h>	/* PATH_MAX */
#include <stddef.h>

#include <crypt.h>
#include <hiredis.h>

#include "fcgi/db.h"
#include "fcgi/dto.h"
#include "fcgi/http.h"
#include "fcgi/redis.h"
#include "fcgi/rl.h"
#include "lib/conf.h"
#include "lib/jwt_util.h"

#define APP_AVATAR_MAX	(2L * 1024 * 1024)	/* bytes in an avatar file */
#define APP_BCRYPT_COST	10			/* docs/api.md §2.1: cost 10 */
#define APP_REFRESH_BYTES 40			/* raw refresh token: 80 hex */
#define APP_DBREAD_CHECK_MS	250	/* standby state checked this often */
#define APP_DBREAD_RETRY_MS	1000	/* ... and after it failed */
#define APP_WROTE_MARGIN_MS	1000	/* own-write mark outlives the bound */
#define APP_WROTE_KEY_MAX	48	/* bytes in "{u:<id>}:w" */
#define APP_PCACHE_TTL		60	/* s: PROFILE_CACHE_TTL's default */
#define APP_PCACHE_TTL_MAX	86400	/* s: PROFILE_CACHE_TTL at most */

enum	app_rl { APP_RL_NONE, APP_RL_SKIP, APP_RL_SENT };

struct	app {
	const struct conf *conf;	/* borrowed */
	struct db	 db;		/* this worker's PostgreSQL */
	struct redis	 redis;		/* REDIS_URL or REDIS_CLUSTER */
	struct db	 dbr;		/* the read standby (DB_READ_HOST) */
	int		 dbr_on;	/* DB_READ_HOST is set */
	int		 dbr_ok;	/* last check: it may serve reads */
	const char	*dbr_why;	/* ... else why not (static) */
	struct timespec	 dbr_at;	/* ... when (CLOCK_MONOTONIC) */
	unsigned long	 reads_standby;	/* reads that may lag, served there */
	unsigned long	 reads_primary;	/* ... by the primary (with dbr_on) */
	struct crypt_data *cd;		/* crypt_r scratch (about 32 KB) */
	char		 dummy[CRYPT_OUTPUT_SIZE]; /* hash for unknown users */
	char		 avatar_dir[PATH_MAX]; /* UPLOAD_DIR/avatars */
	enum app_rl	 rl_state;	/* this request's limit check */
	struct rl_req	 rlq;		/* ... when sent, awaiting its reply */
	const struct conf_rate *rl_rate; /* ... and its limit */
	const char	*rl_route;	/* ... and its key (a route name) */
	unsigned long	 redis_errors;	/* Redis failures (for /metrics) */
	long		 pcache_ttl;	/* PROFILE_CACHE_TTL s; 0: off */
};

/* The user a valid bearer token names. */
struct	app_user {
	long long	 id;
	char		 name[JWT_UNAME_MAX];
};

/*
 * Set up a worker (no connections yet): parse REDIS_URL or
 * REDIS_CLUSTER, make the dummy bcrypt hash.  Returns 0, or -1 (logged).
 */
int	 app_init(struct app *a, const struct conf *c);
void	 app_free(struct app *a);

/*
 * Check "Authorization: Bearer <JWT>".  Returns 0 and fills u, or sends
 * 401 {"statusCode":401,"message":"Unauthorized"} and returns -1.
 */
int	 app_auth(struct app *a, struct http_req *r, struct app_user *u);
/* The same check, sending nothing: 0 and u filled, or -1. */
int	 app_auth_check(struct app *a, struct http_req *r,
	    struct app_user *u);

/*
 * Count the request against "rate" under the key "route" (a route
 * name, static): send the check to Redis and return at once, so the
 * caller can overlap the round trip with other work.  rate NULL: the
 * request is not limited.  Redis down: the limit is skipped (logged).
 */
void	 app_limit_start(struct app *a, struct http_req *r,
	    const char *route, const struct conf_rate *rate);
/*
 * Settle the request's rate limit: 0 to go on, or -1 after sending
 * 429.  Handlers of routes marked early call it before answering or
 * changing anything; route_dispatch calls it for the others before the
 * handler.  Later calls return 0.
 */
int	 app_limit_finish(struct app *a, struct http_req *r);

/*
 * Reads that may lag (GET /users/me) go to the standby of DB_READ_HOST
 * unless it is down, not streaming, or more than DB_READ_MAX_LAG_MS
 * behind (checked at most every APP_DBREAD_CHECK_MS, or
 * APP_DBREAD_RETRY_MS after a failure), and unless the user wrote
 * their profile within that bound: app_wrote, after the commit and
 * before the answer, sets the Redis key "{u:<id>}:w" (in the user's
 * slot of a cluster) for the bound plus APP_WROTE_MARGIN_MS, and the
 * read checks it (app_wrote_key).  Without DB_READ_HOST all of this
 * costs nothing and reads go to the primary.
 */
/* 1 if the standby may serve a read now, else 0. */
int	 app_dbread_ok(struct app *a);
/* For /healthz: "standby", or "primary: <why>" (static). */
const char	*app_dbread_state(struct app *a);
/*
 * After user "id" changed what GET /users/me answers (committed), and
 * before the answer: the own-write mark above, and the profile cache
 * (pcache.h) invalidated, in one Redis round trip.  Returns 0, or -1
 * (logged) if the cache is on and could not be invalidated: the
 * caller answers 500 rather than acknowledge a write a later read
 * might not show.
 */
int	 app_wrote(struct app *a, long long id);
/* The key app_wrote sets for "id", in buf; its length, or 0. */
size_t	 app_wrote_key(long long id, char *buf, size_t bufsz);

/*
 * PROFILE_CACHE_TTL: the seconds a cached GET /users/me answer lives
 * (pcache.h; 0: no cache).  Unset: APP_PCACHE_TTL, or 0 with
 * DB_READ_HOST, whose standby then serves those reads as before.
 * Returns it, or -1 with *why set (static) when malformed.
 */
long	 app_pcache_ttl(const struct conf *c, const char **why);
/* How the request's body is encoded, for dto_parse. */
enum dto_ctype	 app_body_type(const struct http_req *r);

/* Send the 500 every handler uses when PostgreSQL fails. */
void	 app_fail(struct http_req *r);

#endif /* !FCGI_APP_H */
