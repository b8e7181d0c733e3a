/*
 * auth.h: the /auth handlers (register, login, refresh, logout), each
 * answering one request; route.c dispatches to them.
 */
#ifndef FCGI_AUTH_H
#define FCGI_AUTH_H

struct	app;
struct	http_req;

void	 auth_register(struct app *, struct http_req *);
void	 auth_login(struct app *, struct http_req *);
void	 auth_refresh(struct app *, struct http_req *);
void	 auth_logout(struct app *, struct http_req *);

#endif /* !FCGI_AUTH_H */
