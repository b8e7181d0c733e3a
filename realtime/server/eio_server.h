/*
 * eio_server.h: Engine.IO v4 sessions over the two transports (server
 * layer, private to the realtime server).  eio_server.c owns sessions,
 * ids, heartbeat, the polling queue and the polling -> WebSocket
 * upgrade; the transports (tr.h) report to it through callbacks.  The
 * layer above (sio_server.c) registers a handler per path and sees a
 * session only through the functions below (struct eio_sess is opaque).
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

struct	eio_sess;		/* opaque: eio_server.c */
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
	uint64_t	 upgrades;	/* polling sessions now WebSocket */
	uint64_t	 outq_drops;	/* closed: output queue over outq_max */
	uint64_t	 heap_trims;	/* heap given back after a backlog */
};
void		 eio_srv_stats(const struct eio_srv *, struct eio_stats *);
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
int		 eio_msg_new(struct eio_msg *, const void *, size_t,
		    int binary);

/* Queue a message (takes no reference of the caller's).  0 or -1. */
int		 eio_sess_send(struct eio_sess *, const struct eio_msg *);
/* Send an Engine.IO close / close the session now. */
void		 eio_sess_close(struct eio_sess *, const char *reason,
		    int goodbye);
void		 eio_sess_ref(struct eio_sess *);
void		 eio_sess_unref(struct eio_sess *);
/* The session's id (EIO_SID_LEN chars), transport, peer address. */
const char	*eio_sess_id(const struct eio_sess *);
enum eio_tr	 eio_sess_transport(const struct eio_sess *);
const char	*eio_sess_addr(const struct eio_sess *);
/* The query string of the opening request, or NULL. */
const char	*eio_sess_query(const struct eio_sess *);
/* The layer above's object for this session (NULL until set). */
void		 eio_sess_set_upper(struct eio_sess *, void *);
void		*eio_sess_upper(const struct eio_sess *);


#endif /* !RT_SERVER_EIO_SERVER_H */
