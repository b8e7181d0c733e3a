/*
 * conn.h: non-blocking TCP connections on a libev loop for the realtime
 * server: accept with back-off, reads through one shared scratch buffer
 * (a connection holds a heap buffer only while a partial message is
 * pending), and a bounded per-connection output queue of refcounted
 * buffers flushed with writev() once per loop iteration.
 * Server layer, the lowest part: used by the transports (tr_poll.c,
 * tr_ws.c), eio_server.c, and sio_server.c (buffers, listeners, the
 * output still queued); it calls up only through struct conn_ops.
 */
#ifndef RT_SERVER_CONN_H
#define RT_SERVER_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#define CONN_SCRATCH	(64 * 1024)	/* bytes read per read() call */
#define CONN_IOV	64		/* buffers per writev() */
#define CONN_BACKOFF	0.1		/* s to pause accept() on EMFILE */

/* Refcounted bytes, shared between output queues (fan-out). */
struct	conn_buf {
	uint32_t	 refs;
	uint32_t	 len;
	char		 data[];
};

struct	conn;
struct	conn_loop;

/*
 * Per-protocol behaviour of a connection; changes when HTTP turns into
 * WebSocket.  input() gets the bytes not consumed yet (borrowed) and
 * returns how many it consumed (the rest is kept and offered again with
 * more), or -1 to close the connection.  It may call conn_close().
 * closed() is called once when the connection goes away, so the owner
 * drops its pointers; the struct is freed later by the loop.
 */
struct	conn_ops {
	ssize_t	(*input)(struct conn *, char *, size_t);
	void	(*closed)(struct conn *);
	void	(*drained)(struct conn *);	/* optional: queue emptied */
};

#define CONN_CLOSED	0x01	/* fd closed, waiting to be freed */
#define CONN_DIRTY	0x02	/* on the flush list */
#define CONN_WANTW	0x04	/* EV_WRITE armed */
#define CONN_LINGER	0x08	/* close once the queue is flushed */
#define CONN_INREAD	0x10	/* input() is running */
#define CONN_FAILED	0x20	/* closed on an error (output cap, I/O error) */
#define CONN_READY	0x40	/* on the readable list, read at end of turn */
#define CONN_HANDED	0x80	/* the fd went to linger.c */

struct	conn {
	ev_io			 io;
	const struct conn_ops	*ops;
	void			*owner;		/* transport object */
	struct conn_loop	*cl;
	struct conn		*prev, *next;	/* all connections */
	struct conn		*dnext;		/* flush or free list */
	struct conn		*rnext;		/* readable list */
	struct conn_q		*qh, *qt;	/* output queue */
	size_t			 qbytes;
	char			*rbuf;		/* partial input, or NULL */
	uint32_t		 rlen, rcap;
	/* close at this loop second, 0: none */
	uint32_t		 deadline;
	uint32_t		 flags;
};

typedef void	 conn_accept_cb(struct conn *, void *);

/* Create the connection layer on "loop" (borrowed). */
struct conn_loop	*conn_loop_new(struct ev_loop *, size_t outq_max,
			    size_t rmax, conn_accept_cb *, void *);
/* Listen on an fd (taken). */
int	 conn_listen_fd(struct conn_loop *, int);
int	 conn_listen(struct conn_loop *, const char *host, int port);
int	 conn_port(const struct conn_loop *);
/* Stop accepting (shutdown). */
void	 conn_unlisten(struct conn_loop *);
/* Close every connection, free everything. */
void	 conn_loop_free(struct conn_loop *);
size_t	 conn_count(const struct conn_loop *);
/* Bytes queued for output on the open connections. */
size_t	 conn_loop_queued(const struct conn_loop *);
/* Connections closed so far because their output queue passed outq_max. */
uint64_t conn_outq_drops(const struct conn_loop *);
/* Heap trims after an output backlog drained. */
uint64_t conn_trims(const struct conn_loop *);
struct conn	*conn_first(struct conn_loop *);
struct ev_loop	*conn_ev(struct conn_loop *);
/* Seconds since conn_loop_new(), for deadlines. */
uint32_t	 conn_now(const struct conn_loop *);

struct conn_buf	*conn_buf_new(size_t len);
struct conn_buf	*conn_buf_dup(const void *, size_t);
void		 conn_buf_ref(struct conn_buf *);
void		 conn_buf_unref(struct conn_buf *);

/*
 * Queue bytes [off, off+len) of "b" (takes a new reference of its own).
 * Returns 0, or -1 when the connection is closed or the queue would pass
 * outq_max (then the connection is closed).
 */
int	 conn_send(struct conn *, struct conn_buf *, size_t off, size_t len);
/* Copy and queue. */
int	 conn_send_copy(struct conn *, const void *, size_t);
/* Close now: drops the queue, calls ops->closed. */
void	 conn_close(struct conn *);
/* Close once the queue is flushed (or now if empty). */
void	 conn_close_flush(struct conn *);
/* Called before each flush (once per loop iteration). */
void	 conn_loop_preflush(struct conn_loop *, void (*)(void *), void *);
/* Offer pending input again (after input() returned 0 to wait). */
void	 conn_resume(struct conn *);
/* Stop (0) or resume (1) reading. */
void	 conn_set_reading(struct conn *, int);

#endif /* !RT_SERVER_CONN_H */
