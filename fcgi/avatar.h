/*
 * avatar.h: the avatar handlers POST and DELETE /users/me/avatar;
 * route.c dispatches to them.
 */
#ifndef FCGI_AVATAR_H
#define FCGI_AVATAR_H

struct	app;
struct	http_req;

void	 avatar_upload(struct app *, struct http_req *);
void	 avatar_delete(struct app *, struct http_req *);

#endif /* !FCGI_AVATAR_H */
