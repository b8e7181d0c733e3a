/*
 * users.h: the profile handlers GET and PATCH /users/me; route.c
 * dispatches to them.
 */
#ifndef FCGI_USERS_H
#define FCGI_USERS_H

struct	app;
struct	http_req;

void	 users_me_get(struct app *, struct http_req *);
void	 users_me_patch(struct app *, struct http_req *);

#endif /* !FCGI_USERS_H */
