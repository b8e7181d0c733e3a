/*
 * sio_private.h: what the three files of the Socket.IO server share
 * (sio_server.c: the server, listeners, shutdown and drain; sio_socket.c:
 * sockets and sending; sio_input.c: receiving).  Server layer, the top
 * of it.  Nothing outside those files includes it: the layer above sees
 * only sio_server.h.
 */
#ifndef RT_SERVER_SIO_PRIVATE_H
#define RT_SERVER_SIO_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "realtime/codec/sio.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/sio_server.h"

#define ENC_STACK	4096
#define MAX_NSPS	32	/* namespaces (pending or joined) per conn */
#define ACKS_MAX	1024	/* events tracked until their ack, per socket */
#define DRAIN_TICK	0.01	/* s between checks while draining */

enum	sock_state { SOCK_PENDING = 0, SOCK_CONNECTED, SOCK_CLOSED };

struct	sio_conn;

/* An event that asked for an ack, until sio_ack() (timing, draining). */
struct	sio_pack {
	struct sio_pack		*next;
	int64_t			 id;
	ev_tstamp		 t0;
	int			 tag;		/* from req_tag() */
};

struct	sio_socket {
	unsigned int		 refs;
	uint8_t			 state;
	struct sio_conn		*sc;		/* NULL once closed */
	struct eio_sess		*es;		/* referenced */
	struct sio_server	*srv;
	struct sio_socket	*next;
	void			*data;
	long long		 uid;		/* for the logs, 0: unknown */
	ev_tstamp		 t0;		/* accepted at */
	struct sio_pack		*acks;
	unsigned int		 nacks;
	char			 id[EIO_SID_LEN + 1];
	char			 nsp[];
};

struct	sio_conn {
	unsigned int		 refs;
	int			 closed;
	struct sio_server	*srv;
	struct eio_sess		*es;
	struct sio_socket	*socks;
	unsigned int		 nsocks;
	struct sio_conn		*prev, *next;
	ev_timer		 ct;		/* connect timeout */
	/* BINARY_* waiting for attachments */
	struct sio_packet	*pend;
	char			*pend_nsp;	/* its namespace (owned) */
	struct sio_span		*att;		/* attachment copies so far */
	unsigned int		 natt;
	size_t			 attbytes;
};

struct	sio_buf {
	unsigned int		 refs;
	struct eio_msg		 m;
};

struct	sio_server {
	struct ev_loop		*loop;
	struct eio_srv		*eio;
	struct sio_opts		 o;
	struct sio_conn		*conns;
	size_t			 nsockets;
	sio_eio_msg_cb		*raw_cb;
	void			*raw_arg;
	ev_timer		 down;		/* shutdown watch */
	ev_tstamp		 down_until;
	void			(*done)(void *);
	void			*done_arg;
	size_t			 npending;	/* acks owed, all sockets */
	uint64_t		 connects_accepted;
	uint64_t		 connects_refused;
	uint64_t		 disconnects;
	int			 draining;
	ev_timer		 drain;
	ev_tstamp		 drain_t0, drain_until;
	void			(*drain_done)(void *);
	void			*drain_arg;
};

/* sio_socket.c */
void	 sio_req_done(struct sio_socket *, int, enum sio_req_end, double);
struct sio_socket	*sio_sock_find(struct sio_conn *, const char *);
void	 sio_sock_close(struct sio_socket *, const char *);
void	 sio_conn_unref(struct sio_conn *);
void	 sio_pend_clear(struct sio_conn *);

/* sio_input.c */
extern const struct eio_handler sio_handler;
void	 sio_raw_message(struct eio_sess *, char *, size_t, int, void *);

#endif /* !RT_SERVER_SIO_PRIVATE_H */
