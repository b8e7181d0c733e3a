/*
 * tr.h: the two transports of the realtime server (server layer, below
 * the Engine.IO sessions of eio_server.c and above conn.c):
 *  - tr_poll.c reads HTTP/1.1 requests and writes their answers (polling
 *    payloads, errors, CORS headers); a polling GET may be parked until
 *    the session has something to send;
 *  - tr_ws.c frames the messages of an upgraded connection.
 * A transport never names the session layer: it reports up through the
 * struct tr_up callbacks that layer registers, and holds the layer's
 * session only as an opaque pointer.
 */
#ifndef RT_SERVER_TR_H
#define RT_SERVER_TR_H

#include <stddef.h>

#include "realtime/server/conn.h"

#define TR_HTTP_IDLE	60	/* seconds an idle keep-alive HTTP conn lives */
#define TR_HTTP_HEAD	30	/* seconds to send a whole request */

struct	http_request;

/*
 * What the transports report, to the layer above.  "srv" is tr_ctx.arg,
 * "sess" the pointer given to tr_ws_attach() or tr_poll_park().
 */
struct	tr_up {
	/* A complete request (not OPTIONS) on "c"; body borrowed. */
	void	(*request)(void *srv, struct conn *c,
		    const struct http_request *, char *body, size_t len);
	/* A complete WebSocket message (p writable, valid during the call). */
	void	(*message)(void *sess, struct conn *c, char *p, size_t len,
		    int binary);
	/* The WebSocket of "sess" failed or closed. */
	void	(*ws_gone)(void *sess, struct conn *c);
	/* The connection of the GET that "sess" parked closed. */
	void	(*get_gone)(void *sess, struct conn *c);
};

/* Shared by every HTTP connection of one server (borrowed). */
struct	tr_ctx {
	const struct tr_up	*up;
	void			*arg;		/* "srv" of up->request */
	const char		*cors_origin;	/* "*", "a, b" list, or NULL */
	size_t			 max_payload;	/* bytes of request body */
};

/* tr_ws.c: "c" (HTTP until now, 101 sent) speaks WebSocket for "sess"
 * (NULL: none, e.g. to close it properly). */
int	 tr_ws_attach(struct conn *c, const struct tr_up *, void *sess,
	    size_t max);
/* Queue the prebuilt frame b->data[off..len) (takes its own reference). */
int	 tr_ws_send(struct conn *, struct conn_buf *b, size_t off);
/* Frame and queue one text message (copied). */
int	 tr_ws_send_text(struct conn *, const char *, size_t);
/* Send a close frame (once) and close after the queue is flushed. */
void	 tr_ws_close(struct conn *, unsigned code);
/* Forget the session: no more reports about it. */
void	 tr_ws_detach(struct conn *);

/* tr_poll.c: a new connection; its requests go to ctx->up->request. */
void	 tr_poll_accept(struct conn *, const struct tr_ctx *ctx);
/* Answer the connection's current request (body copied). */
int	 tr_poll_respond(struct conn *, int status, const char *ctype,
	    const void *body, size_t len);
/* An Engine.IO error answer: {"code":code,"message":msg}. */
int	 tr_poll_error(struct conn *, int status, int code, const char *msg);
/* The current GET is held by "sess" until answered (or gone). */
void	 tr_poll_park(struct conn *, void *sess);
/* The session no longer holds this connection's GET. */
void	 tr_poll_unpark(struct conn *);
/* The request was handed to tr_ws.c (101 sent): drop the HTTP state. */
void	 tr_poll_upgraded(struct conn *);

#endif /* !RT_SERVER_TR_H */
