/*
 * route.c: chat-fcgi's routing table and the steps every request takes:
 * CORS preflight, route lookup (NestJS-style JSON 404), the rate limit
 * (before anything else, so a refused request has no side effects; a
 * read-only handler may overlap it with its query), then the handler;
 * and GET /healthz.
 * Spec: docs/api.md §1.1, §1.4, §1.6, §1.7; DESIGN.md "Resolved details".
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "rl.h"

enum	rl_class { RL_NONE, RL_CLASS_AUTH, RL_CLASS_REFRESH, RL_CLASS_DEFAULT };

typedef void	 route_fn(struct app *, struct http_req *);

struct	route {
	const char	*method;
	const char	*path;
	const char	*name;		/* log and rate-limit key */
	enum rl_class	 rl;
	route_fn	*fn;
	int		 early;		/* fn settles the limit itself */
};

static void	 healthz(struct app *, struct http_req *);

static const struct route	 routes[] = {
	{ "POST", "/auth/register", "register", RL_CLASS_AUTH, auth_register,
	    0 },
	{ "POST", "/auth/login", "login", RL_CLASS_AUTH, auth_login, 0 },
	{ "POST", "/auth/refresh", "refresh", RL_CLASS_REFRESH, auth_refresh,
	    0 },
	{ "POST", "/auth/logout", "logout", RL_CLASS_DEFAULT, auth_logout, 0 },
	/*
	 * GET /users/me reads only: its SELECT goes out while the limit's
	 * Redis call is under way, and is thrown away if refused.
	 */
	{ "GET", "/users/me", "me", RL_CLASS_DEFAULT, users_me_get, 1 },
	{ "PATCH", "/users/me", "me-patch", RL_CLASS_DEFAULT, users_me_patch,
	    0 },
	{ "POST", "/users/me/avatar", "avatar", RL_CLASS_DEFAULT,
	    avatar_upload, 0 },
	{ "DELETE", "/users/me/avatar", "avatar-delete", RL_CLASS_DEFAULT,
	    users_avatar_delete, 0 },
	{ "GET", "/healthz", "healthz", RL_NONE, healthz, 0 },
};

#define CORS_PREFLIGHT \
    "Access-Control-Allow-Methods: GET,POST,PATCH,DELETE,OPTIONS\r\n" \
    "Access-Control-Allow-Headers: Authorization,Content-Type\r\n" \
    "Access-Control-Max-Age: 600\r\n"

/*
 * After a failed command: was the connection simply closed under us
 * (Redis restarted, idle timeout)?  Then it is dropped and the caller
 * may try once more on a fresh one.
 */
static int
stale(struct app *a)
{
	int	 e = a->redis != NULL ? a->redis->err : 0;

	app_redis_drop(a);
	return e == REDIS_ERR_EOF || e == REDIS_ERR_IO;
}

/* 200 {"status":"ok",...} when PostgreSQL and Redis answer, else 503. */
static void
healthz(struct app *a, struct http_req *r)
{
	PGresult	*res;
	redisReply	*rep = NULL;
	redisContext	*c;
	json_t		*body;
	enum db_err	 err = DB_ERR;
	int		 pg_ok = 0, redis_ok = 0;

	http_drain(r);
	if (db_get(&a->db) != NULL) {
		res = db_exec(&a->db, "SELECT 1", 0, NULL, &err);
		pg_ok = err == DB_OK;
		PQclear(res);
	}
	if ((c = app_redis(a)) != NULL) {
		rep = redisCommand(c, "PING");
		if (rep == NULL && stale(a)) {
			if ((c = app_redis(a)) != NULL)
				rep = redisCommand(c, "PING");
		}
		redis_ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
		if (rep != NULL)
			freeReplyObject(rep);
		else {
			a->redis_errors++;
			app_redis_drop(a);
		}
	}
	body = json_pack("{s:s, s:s, s:s}",
	    "status", pg_ok && redis_ok ? "ok" : "error",
	    "db", pg_ok ? "up" : "down", "redis", redis_ok ? "up" : "down");
	/* Say why Redis is down when we know (a wrong password, say). */
	if (body != NULL && !redis_ok && c == NULL && a->redis_why != NULL &&
	    json_object_set_new(body, "redisError",
	    json_string(a->redis_why)) == -1) {
		json_decref(body);
		body = NULL;
	}
	http_send_json(r, pg_ok && redis_ok ? 200 : 503, body, NULL);
}

/*
 * Count the request against its limit: send the check (limit_start),
 * then read the answer (app_limit_finish), which returns 0 to go on, or
 * -1 after sending 429.  Redis down: fail open (serve and log), so an
 * outage of the limiter's store does not take the API down with it;
 * the limits come back with Redis.
 */
static void
limit_start(struct app *a, struct http_req *r, const struct route *rt)
{
	const struct conf_rate	*rate;
	redisContext		*c;

	a->rl_state = APP_RL_NONE;
	switch (rt->rl) {
	case RL_CLASS_AUTH:
		rate = &a->conf->rl_auth;
		break;
	case RL_CLASS_REFRESH:
		rate = &a->conf->rl_refresh;
		break;
	case RL_CLASS_DEFAULT:
		rate = &a->conf->rl_default;
		break;
	default:
		return;
	}
	a->rl_rate = rate;
	a->rl_state = APP_RL_SKIP;
	if ((c = app_redis(a)) == NULL) {
		a->redis_errors++;
		log_warnx("rate limit skipped: no Redis");
		return;
	}
	if (rl_send(c, &a->rlq, rt->name, r->ip, rate) == 0)
		a->rl_state = APP_RL_SENT;
	else if (stale(a) && (c = app_redis(a)) != NULL &&
	    rl_send(c, &a->rlq, rt->name, r->ip, rate) == 0)
		a->rl_state = APP_RL_SENT;
	else {
		a->redis_errors++;
		log_warnx("rate limit skipped: Redis error");
		app_redis_drop(a);
	}
}

int
app_limit_finish(struct app *a, struct http_req *r)
{
	redisContext	*c;
	enum rl_result	 res;
	long		 retry = 0;
	char		 hdr[64];

	if (a->rl_state != APP_RL_SENT) {
		a->rl_state = APP_RL_NONE;
		return 0;
	}
	a->rl_state = APP_RL_NONE;
	res = rl_recv(a->redis, &a->rlq, &retry);
	if (res == RL_ERROR && stale(a) && (c = app_redis(a)) != NULL)
		res = rl_check(c, r->route, r->ip, a->rl_rate, &retry);
	if (res == RL_ERROR) {
		a->redis_errors++;
		log_warnx("rate limit skipped: Redis error");
		app_redis_drop(a);
		return 0;
	}
	if (res == RL_ALLOW)
		return 0;
	http_drain(r);
	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry);
	http_send_json(r, 429, json_pack("{s:i, s:s, s:s}",
	    "statusCode", 429,
	    "message", "ThrottlerException: Too Many Requests",
	    "error", "Too Many Requests"), hdr);
	return -1;
}

void
route_dispatch(struct app *a, struct http_req *r)
{
	const struct route	*rt = NULL;
	char			 msg[256];
	size_t			 i, plen;

	if (strcmp(r->method, "OPTIONS") == 0) {
		r->route = "preflight";
		http_drain(r);
		http_send_empty(r, 204, CORS_PREFLIGHT);
		return;
	}
	/*
	 * Express routes non-strictly and without regard to case:
	 * "/Users/me/" is "/users/me".  HEAD is served as GET would be.
	 */
	plen = strlen(r->path);
	if (plen > 1 && r->path[plen - 1] == '/')
		plen--;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == plen &&
		    strncasecmp(routes[i].path, r->path, plen) == 0 &&
		    (strcmp(routes[i].method, r->method) == 0 ||
		    (strcmp(r->method, "HEAD") == 0 &&
		    strcmp(routes[i].method, "GET") == 0))) {
			rt = &routes[i];
			break;
		}
	if (rt == NULL) {
		r->route = "404";
		http_drain(r);
		/* Quote a bounded, printable-only sample of the URI. */
		snprintf(msg, sizeof(msg), "Cannot %.10s %.200s", r->method,
		    r->uri);
		for (i = 0; msg[i] != '\0'; i++)
			if ((unsigned char)msg[i] < 0x20 ||
			    (unsigned char)msg[i] >= 0x7f)
				msg[i] = '?';
		http_send_error(r, 404, msg, 0);
		return;
	}
	r->route = rt->name;
	limit_start(a, r, rt);
	if (!rt->early && app_limit_finish(a, r) == -1)
		return;
	rt->fn(a, r);
	/* A handler that answered without settling: keep Redis in step. */
	if (app_limit_finish(a, r) == -1)
		log_warnx("%s: limit settled after the answer", rt->name);
}
