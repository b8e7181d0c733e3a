/*
 * eio_server.h: Engine.IO v4 sessions over the two transports (private
 * to the realtime server).  eio_server.c owns sessions, ids, heartbeat,
 * the polling queue and the polling -> WebSocket upgrade; tr_poll.c reads
 * HTTP requests and answers polling; tr_ws.c frames WebSocket messages.
 * The layer above (sio_server.c) registers a handler per path.
 */
#ifndef RT_SERVER_EIO_SERVER_H
#define RT_SERVER_EIO_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "realtime/server/conn.h"

#define EIO_SID_LEN	20	/* 2 hex digits of node id + 18 base64url */
#define EIO_MAX_PATHS	4
#define EIO_UPGRADE_TIMEOUT 10	/* seconds to finish an upgrade */
#define EIO_HTTP_IDLE	60	/* seconds an idle keep-alive HTTP conn lives */
#define EIO_HTTP_HEAD	30	/* seconds to send a whole request */

struct	eio_sess;
struct	eio_srv;

/* Callbacks of the layer above, per path. */
struct	eio_handler {
	void	(*open)(struct eio_sess *, void *arg);
	/* A message; p is writable scratch, valid during the call. */
	void	(*message)(struct eio_sess *, char *p, size_t len,
		    int binary, void *arg);
	/* The session is gone (reason static); drop pointers to it. */
	void	(*close)(struct eio_sess *, const char *reason, void *arg);
	/* Optional: the session moved from polling to WebSocket. */
	void	(*upgraded)(struct eio_sess *, void *arg);
};

struct	eio_opts {
	unsigned int	 node_id;
	unsigned int	 ping_interval;	/* ms */
	unsigned int	 ping_timeout;	/* ms */
	size_t		 max_payload;
	size_t		 outq_max;
	const char	*cors_origin;	/* NULL: none */
};

enum	eio_tr { EIO_TR_POLL = 0, EIO_TR_WS };
enum	eio_state { EIO_ST_OPEN = 0, EIO_ST_CLOSED };

/* One queued outgoing packet (polling). */
struct	eio_qitem {
	struct eio_qitem	*next;
	struct conn_buf		*b;
	uint32_t		 ws_off;	/* WebSocket frame */
	uint32_t		 off;	/* Engine.IO packet ("4..."), or raw binary */
	uint32_t		 len;
	int			 binary;
};

struct	eio_path {
	char			*path;	/* "/socket.io/" */
	size_t			 len;
	struct eio_handler	 h;
	void			*arg;
};

struct	eio_sess {
	char			 sid[EIO_SID_LEN + 1];
	uint8_t			 tr;		/* enum eio_tr */
	uint8_t			 state;		/* enum eio_state */
	uint8_t			 hb_wait;	/* ping sent, waiting for pong */
	uint8_t			 upgrading;	/* 1: probe WebSocket open, 2: probed */
	uint8_t			 in_map;
	uint8_t			 dirty;		/* on the answer list */
	uint16_t		 refs;
	struct eio_srv		*srv;
	struct eio_path		*path;
	void			*upper;		/* the layer above's object */
	ev_timer		 hb;
	ev_tstamp		 hb_due;	/* hb fires: ping due, or pong deadline */
	struct conn		*ws;		/* transport WebSocket */
	struct conn		*probe;		/* upgrading WebSocket */
	struct conn		*get;		/* parked polling GET */
	struct eio_qitem	*qh, *qt;	/* polling queue */
	size_t			 qbytes;
	struct eio_sess		*hnext;		/* hash chain */
	struct eio_sess		*sprev, *snext;	/* all sessions */
	struct eio_sess		*dnext;		/* answer list */
	char			*query;		/* of the opening request */
	char			 addr[46];
};

/*
 * An encoded outgoing message in one buffer: data[ws_off..len) is the
 * whole WebSocket frame, data[pkt_off..len) the Engine.IO packet for
 * polling (text: "4..." ; binary: raw bytes, base64'd when polled).
 */
struct	eio_msg {
	struct conn_buf	*b;
	uint32_t	 ws_off;
	uint32_t	 pkt_off;
	int		 binary;
};

#define EIO_MSG_RESERVE	11	/* WS header (10) + '4' */

struct eio_srv	*eio_srv_new(struct ev_loop *, const struct eio_opts *);
void		 eio_srv_free(struct eio_srv *);
int		 eio_srv_add_path(struct eio_srv *, const char *,
		    const struct eio_handler *, void *);
struct conn_loop *eio_srv_conns(struct eio_srv *);
/* Close every session (reason static) and stop accepting. */
void		 eio_srv_close_all(struct eio_srv *, const char *reason);
size_t		 eio_srv_nsessions(const struct eio_srv *);
struct	eio_stats {
	size_t		 conns;		/* TCP connections */
	size_t		 sessions;	/* open sessions */
	uint64_t	 upgrades;	/* polling sessions moved to WebSocket */
	uint64_t	 outq_drops;	/* closed: output queue over outq_max */
};
void		 eio_srv_stats(const struct eio_srv *, struct eio_stats *);
const struct eio_opts *eio_srv_opts(const struct eio_srv *);
/* Fill "out" with n chars of [A-Za-z0-9_-] prefixed by the node id (2 hex). */
void		 eio_srv_make_id(struct eio_srv *, char *out, size_t n);

/*
 * Build a message from an already encoded payload: a buffer with
 * EIO_MSG_RESERVE spare bytes before data[EIO_MSG_RESERVE..len).  For
 * text, the caller wrote the payload after the reserve (the "4" and
 * the header are written here).  Takes the buffer.
 */
void		 eio_msg_seal(struct eio_msg *, struct conn_buf *, int binary);
/* Copy payload into a new message.  Returns 0 or -1. */
int		 eio_msg_new(struct eio_msg *, const void *, size_t, int binary);

/* Queue a message (takes no reference of the caller's).  0 or -1. */
int		 eio_sess_send(struct eio_sess *, const struct eio_msg *);
/* Send an Engine.IO close / close the session now. */
void		 eio_sess_close(struct eio_sess *, const char *reason, int goodbye);
void		 eio_sess_ref(struct eio_sess *);
void		 eio_sess_unref(struct eio_sess *);

/* For the transports. */
void		 eio_http_accept(struct conn *, void *);
struct	http_request;
void		 eio_http_request(struct eio_srv *, struct conn *,
		    const struct http_request *, char *, size_t);
/*
 * A packet from a transport (conn NULL: polling POST).  Returns 0, -1 if
 * the session closed meanwhile, -2 if the packet was malformed (closed).
 */
int		 eio_sess_packet(struct eio_sess *, struct conn *, char *,
		    size_t, int ws_binary);
void		 eio_sess_ws_gone(struct eio_sess *, struct conn *);
void		 eio_sess_get_gone(struct eio_sess *, struct conn *);

/* tr_ws.c */
int		 tr_ws_attach(struct conn *, struct eio_sess *, size_t max);
int		 tr_ws_send(struct conn *, const struct eio_msg *);
int		 tr_ws_send_text(struct conn *, const char *, size_t);
void		 tr_ws_close(struct conn *, unsigned code);
void		 tr_ws_detach(struct conn *);

/* tr_poll.c */
void		 tr_poll_accept(struct conn *, struct eio_srv *);
/* Answer the connection's current request (body copied). */
int		 tr_poll_respond(struct conn *, int status, const char *ctype,
		    const void *body, size_t len);
int		 tr_poll_error(struct conn *, int status, int code,
		    const char *msg);
void		 tr_poll_park(struct conn *, struct eio_sess *);
void		 tr_poll_unpark(struct conn *);
void		 tr_poll_upgraded(struct conn *);

#endif /* !RT_SERVER_EIO_SERVER_H */
