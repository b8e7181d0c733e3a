/*
 * users.h: the profile handlers GET and PATCH /users/me; route.c
 * dispatches to them.
 */
#ifndef USERS_H
#define USERS_H

struct	app;
struct	http_req;

void	 users_me_get(struct app *, struct http_req *);
void	 users_me_patch(struct app *, struct http_req *);

#endif /* !USERS_H */
