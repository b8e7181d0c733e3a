/*
 * avatar.h: the avatar handlers POST and DELETE /users/me/avatar;
 * route.c dispatches to them.
 */
#ifndef AVATAR_H
#define AVATAR_H

struct	app;
struct	http_req;

void	 avatar_upload(struct app *, struct http_req *);
void	 avatar_delete(struct app *, struct http_req *);

#endif /* !AVATAR_H */
