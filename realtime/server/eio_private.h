/*
 * eio_private.h: what the three files of the Engine.IO session module
 * (eio_server.c: sessions, heartbeat, packets, the upgrade; eio_send.c:
 * messages and the polling queue; eio_http.c: HTTP requests) share.
 * Server layer.  Nothing outside those files includes it: to the rest
 * of the program struct eio_sess and struct eio_srv are opaque
 * (eio_server.h).
 */
#ifndef RT_SERVER_EIO_PRIVATE_H
#define RT_SERVER_EIO_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "realtime/server/conn.h"
#include "realtime/server/tr.h"
#include "realtime/server/eio_server.h"

#define CT_TEXT		"text/plain; charset=UTF-8"
#define EIO_E_TRANSPORT	0
#define EIO_E_SID	1
#define EIO_E_METHOD	2
#define EIO_E_BAD	3
#define EIO_E_VERSION	5

enum	sess_state { ST_OPEN = 0, ST_CLOSED };

/*
 * Where a polling session is in its upgrade (spec, "Upgrade"): a
 * WebSocket naming it is open (UPG_PROBING), it answered "2probe" with
 * "3probe" (UPG_PROBED: the parked GET is answered with a noop so the
 * client can send "5" on the WebSocket), then "5" makes the WebSocket
 * the transport and the state goes back to UPG_NONE.
 */
enum	upg { UPG_NONE = 0, UPG_PROBING, UPG_PROBED };

/* One queued outgoing packet (polling). */
struct	eio_qitem {
	struct eio_qitem	*next;
	struct conn_buf		*b;
	uint32_t		 ws_off;	/* WebSocket frame */
	uint32_t		 off;	/* Engine.IO "4..." or raw binary */
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
	uint8_t			 state;		/* enum sess_state */
	uint8_t			 hb_wait;	/* ping sent, awaiting pong */
	uint8_t			 upgrading;	/* enum upg */
	uint8_t			 in_map;
	uint8_t			 dirty;		/* on the answer list */
	uint16_t		 refs;
	struct eio_srv		*srv;
	struct eio_path		*path;
	void			*upper;		/* the layer above's object */
	ev_timer		 hb;
	ev_tstamp		 hb_due;	/* ping due, or pong deadline */
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

struct	eio_srv {
	struct ev_loop		*loop;
	struct conn_loop	*cl;
	struct eio_opts		 o;
	struct eio_path		 paths[EIO_MAX_PATHS];
	size_t			 npaths;
	struct eio_sess		**tab;		/* open sessions by id */
	size_t			 nb, nmap;
	struct eio_sess		*all;
	size_t			 nsess;
	uint64_t		 upgrades;	/* polling -> WebSocket, done */
	uint64_t		 outq_drops;	/* sessions cut: queue full */
	struct eio_sess		*dirty;		/* GETs to answer */
	/* for tr_poll.c: callbacks, limits */
	struct tr_ctx		 tr;
	unsigned char		 rnd[240];
	size_t			 rndpos;
};

/* eio_server.c */
struct eio_sess	*eio_map_get(struct eio_srv *, const char *);
int	 eio_expired(struct eio_sess *);
struct eio_sess	*eio_sess_new(struct eio_srv *, struct eio_path *,
	    struct conn *, const struct http_request *, enum eio_tr);
int	 eio_sess_packet(struct eio_sess *, struct conn *, char *, size_t, int);

/* eio_send.c */
void	 eio_queue_free(struct eio_sess *);
void	 eio_mark_dirty(struct eio_sess *);
int	 eio_send_type(struct eio_sess *, int, const char *, size_t);
void	 eio_answer_get(struct eio_sess *, const char *);
void	 eio_preflush(void *);

/* eio_http.c */
void	 eio_http_request(void *, struct conn *, const struct http_request *,
	    char *, size_t);
void	 eio_http_accept(struct conn *, void *);

#endif /* !RT_SERVER_EIO_PRIVATE_H */
