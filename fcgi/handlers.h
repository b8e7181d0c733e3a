/*
 * handlers.h: the REST handlers route.c dispatches to, one request
 * each, all of one shape (route.c's route_fn): auth.c (/auth), users.c
 * (/users/me) and avatar.c (/users/me/avatar).  They build on app.h
 * and never call each other.
 *
 * They share one layout on purpose, so one reads like the next:
 * declarations with the result at NULL, the body or a drain, app_auth,
 * the statement, the answer, and one "out:" label that releases the
 * PGresult and the dto.  What differs, the SQL and the answers, is the
 * handler; a helper taking callbacks would hide exactly that.
 */
#ifndef FCGI_HANDLERS_H
#define FCGI_HANDLERS_H

struct	app;
struct	http_req;

/* auth.c: POST /auth/register, login, refresh and logout */
void	 auth_register(struct app *, struct http_req *);
void	 auth_login(struct app *, struct http_req *);
void	 auth_refresh(struct app *, struct http_req *);
void	 auth_logout(struct app *, struct http_req *);

/* users.c: GET and PATCH /users/me */
void	 users_me_get(struct app *, struct http_req *);
void	 users_me_patch(struct app *, struct http_req *);

/* avatar.c: POST and DELETE /users/me/avatar */
void	 avatar_upload(struct app *, struct http_req *);
void	 avatar_delete(struct app *, struct http_req *);

#endif /* !FCGI_HANDLERS_H */
