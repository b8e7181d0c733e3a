/*
 * rconn.h: one Redis connection on the libev loop, for chat-realtime's
 * cluster layer (rcluster.c).  Commands are queued at once (even while
 * connecting) and pipelined; replies are matched to a FIFO of callbacks.
 * A "push" connection (SUBSCRIBE/SSUBSCRIBE) hands every array reply,
 * and any reply nobody waits for, to push_cb instead: hiredis 0.14's
 * async API does not know sharded pub/sub and asserts on such replies.
 * A quiet push connection is PINGed, and dropped when the answer does not
 * come within RCONN_TIMEOUT.  A connection is never remade: once lost it
 * stays down (every waiting callback gets NULL) and its owner frees it
 * and makes a new one.
 */
#ifndef RT_CHAT_RCONN_H
#define RT_CHAT_RCONN_H

#include <stddef.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#define RCONN_TIMEOUT	5.0	/* s: connect, or oldest reply awaited */
#define RCONN_PING	2.0	/* s a push connection may be quiet */
#define RCONN_READ	16384	/* bytes read per call */
#define RCONN_OBUF_MAX	(64 * 1024 * 1024)	/* bytes queued, at most */

struct	rconn;

/* A reply (borrowed), or NULL when the connection was lost or freed. */
typedef void	 rconn_reply_cb(void *arg, redisReply *r);
/* A reply on a push connection (borrowed). */
typedef void	 rconn_push_cb(void *arg, struct rconn *, redisReply *r);
/* The connection came up (up 1) or was lost (up 0, once). */
typedef void	 rconn_state_cb(void *arg, struct rconn *, int up);

struct	rconn_opts {
	const char	*host;		/* or NULL with path */
	int		 port;
	const char	*path;		/* unix socket, or NULL */
	const char	*user;		/* AUTH user, or NULL/"" */
	const char	*pass;		/* AUTH password, or NULL/"" */
	int		 db;		/* SELECT, if not 0 */
	int		 push;		/* subscriber connection */
	rconn_state_cb	*on_state;
	rconn_push_cb	*on_push;
	void		*arg;
};

/* Starts connecting.  NULL on ENOMEM or an unusable address (logged). */
struct rconn	*rconn_new(struct ev_loop *, const struct rconn_opts *);
/*
 * Close at once; waiting callbacks get NULL (on_state is not called).
 * Safe inside this connection's own callbacks.
 */
void		 rconn_free(struct rconn *);
/* 1 connected, 0 connecting, -1 lost. */
int		 rconn_state(const struct rconn *);
/* Why it was lost (static or in the connection), or "". */
const char	*rconn_error(const struct rconn *);
/*
 * Queue a formatted command ("cmd" copied).  cb (may be NULL) is called
 * exactly once.  Returns 0, or -1 if lost or out of memory (cb not
 * called).
 */
int		 rconn_send(struct rconn *, rconn_reply_cb *, void *,
		    const char *cmd, size_t len);
int		 rconn_sendv(struct rconn *, rconn_reply_cb *, void *,
		    int argc, const char **argv, const size_t *argvlen);

#endif /* !RT_CHAT_RCONN_H */
