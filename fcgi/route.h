/*
 * route.h: chat-fcgi's routes, by id and name, and the dispatcher that
 * answers one request.  The names label the request log, the rate-limit
 * keys and the /metrics series; route.c defines them once.
 */
#ifndef FCGI_ROUTE_H
#define FCGI_ROUTE_H

struct	app;
struct	http_req;

enum	route_id {
	ROUTE_REGISTER = 0,	/* POST /auth/register: "register" */
	ROUTE_LOGIN,		/* POST /auth/login: "login" */
	ROUTE_REFRESH,		/* POST /auth/refresh: "refresh" */
	ROUTE_LOGOUT,		/* POST /auth/logout: "logout" */
	ROUTE_ME,		/* GET /users/me: "me" */
	ROUTE_ME_PATCH,		/* PATCH /users/me: "me-patch" */
	ROUTE_AVATAR,		/* POST /users/me/avatar: "avatar" */
	ROUTE_AVATAR_DELETE,	/* DELETE /users/me/avatar: "avatar-delete" */
	ROUTE_HEALTHZ,		/* GET /healthz: "healthz" */
	ROUTE_PREFLIGHT,	/* OPTIONS, any path: "preflight" */
	ROUTE_NOT_FOUND,	/* no route: "404" */
	ROUTE_OTHER,		/* none of the above: "other" */
	ROUTE__MAX
};

/* The name of a route ("avatar-delete"); "other" if out of range. */
const char	*route_name(enum route_id);

/*
 * Answer one request: CORS preflight, route lookup (NestJS-style JSON
 * 404), the rate limit, then the handler.  Returns the route it took.
 */
enum route_id	 route_dispatch(struct app *, struct http_req *);

#endif /* !FCGI_ROUTE_H */
