/*
 * route.c: chat-fcgi's routing table and the steps every request takes:
 * CORS preflight, route lookup (NestJS-style JSON 404), the rate limit
 * (before anything else, so a refused request has no side effects; a
 * read-only handler may overlap it with its query), then the handler;
 * and GET /healthz.
 * Spec: docs/api.md §1.1, §1.4, §1.6, §1.7.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "fcgi/app.h"
#include "fcgi/handlers.h"
#include "fcgi/http.h"
#include "fcgi/route.h"
#include "lib/log.h"

enum	rl_class { RL_NONE, RL_CLASS_AUTH, RL_CLASS_REFRESH, RL_CLASS_DEFAULT };

typedef void	 route_fn(struct app *, struct http_req *);

struct	route {
	const char	*method;
	const char	*path;
	enum route_id	 id;		/* its name: log and rate-limit key */
	enum rl_class	 rl;
	route_fn	*fn;
	int		 early;		/* fn settles the limit itself */
};
/*
 * early == ROUTE_HOLD: fn also queues a Redis command of its own right
 * behind the limit's and calls redis_release, so both go in one write.
 */
#define ROUTE_HOLD	2

static void	 healthz(struct app *, struct http_req *);

static const struct route	 routes[] = {
	{ "POST", "/auth/register", ROUTE_REGISTER, RL_CLASS_AUTH,
	    auth_register, 0 },
	{ "POST", "/auth/login", ROUTE_LOGIN, RL_CLASS_AUTH, auth_login, 0 },
	{ "POST", "/auth/refresh", ROUTE_REFRESH, RL_CLASS_REFRESH,
	    auth_refresh, 0 },
	{ "POST", "/auth/logout", ROUTE_LOGOUT, RL_CLASS_DEFAULT, auth_logout,
	    0 },
	/*
	 * GET /users/me reads only: its cache read (or its SELECT) goes
	 * out while the limit's Redis call is under way, the cache read
	 * in the same write, and is thrown away if refused.
	 */
	{ "GET", "/users/me", ROUTE_ME, RL_CLASS_DEFAULT, users_me_get,
	    ROUTE_HOLD },
	{ "PATCH", "/users/me", ROUTE_ME_PATCH, RL_CLASS_DEFAULT,
	    users_me_patch, 0 },
	{ "POST", "/users/me/avatar", ROUTE_AVATAR, RL_CLASS_DEFAULT,
	    avatar_upload, 0 },
	{ "DELETE", "/users/me/avatar", ROUTE_AVATAR_DELETE, RL_CLASS_DEFAULT,
	    avatar_delete, 0 },
	{ "GET", "/healthz", ROUTE_HEALTHZ, RL_NONE, healthz, 0 },
};

/* The names of enum route_id, in its order. */
static const char *const	 route_names[ROUTE__MAX] = {
	"register", "login", "refresh", "logout", "me", "me-patch",
	"avatar", "avatar-delete", "healthz", "preflight", "404", "other"
};

#define CORS_PREFLIGHT \
    "Access-Control-Allow-Methods: GET,POST,PATCH,DELETE,OPTIONS\r\n" \
    "Access-Control-Allow-Headers: Authorization,Content-Type\r\n" \
    "Access-Control-Max-Age: 600\r\n"

const char *
route_name(enum route_id id)
{
	return (unsigned)id < ROUTE__MAX ? route_names[id] :
	    route_names[ROUTE_OTHER];
}

/*
 * 200 {"status":"ok",...} when PostgreSQL and Redis (in a cluster: every
 * master of the slot map, and every slot served) answer, else 503.
 */
static void
healthz(struct app *a, struct http_req *r)
{
	PGresult	*res;
	json_t		*body;
	enum db_err	 err = DB_ERR;
	int		 pg_ok = 0, redis_ok;

	http_drain(r);
	if (db_get(&a->db) != NULL) {
		res = db_exec(&a->db, "SELECT 1", 0, NULL, &err);
		pg_ok = err == DB_OK;
		PQclear(res);
	}
	if (!(redis_ok = redis_ping(&a->redis) == 0))
		a->redis_errors++;
	body = json_pack("{s:s, s:s, s:s}",
	    "status", pg_ok && redis_ok ? "ok" : "error",
	    "db", pg_ok ? "up" : "down", "redis", redis_ok ? "up" : "down");
	/* Where reads that may lag go, with a standby (DB_READ_HOST). */
	if (body != NULL && a->dbr_on && json_object_set_new(body, "dbRead",
	    json_string(app_dbread_state(a))) == -1) {
		json_decref(body);
		body = NULL;
	}
	/* Say why Redis is down when we know (a wrong password, say). */
	if (body != NULL && !redis_ok && a->redis.why != NULL &&
	    json_object_set_new(body, "redisError",
	    json_string(a->redis.why)) == -1) {
		json_decref(body);
		body = NULL;
	}
	http_send_json(r, pg_ok && redis_ok ? 200 : 503, body, NULL);
}

/* The limit a route's class names, or NULL for none. */
static const struct conf_rate *
route_rate(const struct app *a, enum rl_class rl)
{
	switch (rl) {
	case RL_CLASS_AUTH:
		return &a->conf->rl_auth;
	case RL_CLASS_REFRESH:
		return &a->conf->rl_refresh;
	case RL_CLASS_DEFAULT:
		return &a->conf->rl_default;
	default:
		return NULL;
	}
}

enum route_id
route_dispatch(struct app *a, struct http_req *r)
{
	const struct route	*rt = NULL;
	char			 msg[256];
	size_t			 i, plen;

	if (strcmp(r->method, "OPTIONS") == 0) {
		http_drain(r);
		http_send_empty(r, 204, CORS_PREFLIGHT);
		return ROUTE_PREFLIGHT;
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
		http_drain(r);
		/* Quote a bounded, printable-only sample of the URI. */
		snprintf(msg, sizeof(msg), "Cannot %.10s %.200s", r->method,
		    r->uri);
		for (i = 0; msg[i] != '\0'; i++)
			if ((unsigned char)msg[i] < 0x20 ||
			    (unsigned char)msg[i] >= 0x7f)
				msg[i] = '?';
		http_send_error(r, 404, msg, 0);
		return ROUTE_NOT_FOUND;
	}
	if (rt->early == ROUTE_HOLD)
		redis_hold(&a->redis);
	app_limit_start(a, r, route_name(rt->id), route_rate(a, rt->rl));
	if (!rt->early && app_limit_finish(a, r) == -1)
		return rt->id;
	rt->fn(a, r);
	redis_release(&a->redis);	/* a no-op unless fn forgot to */
	/* A handler that answered without settling: keep Redis in step. */
	if (app_limit_finish(a, r) == -1)
		log_warnx("%s: limit settled after the answer",
		    route_name(rt->id));
	return rt->id;
}
