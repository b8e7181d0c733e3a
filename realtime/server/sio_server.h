/*
 * sio_server.h: Socket.IO v5 server over Engine.IO v4 (WebSocket and
 * HTTP long-polling with upgrade) on a libev loop.  This is the whole
 * API the chat layer (chat*.c) and sio-conformance use; the transports
 * and Engine.IO sessions (conn.c, tr_ws.c, tr_poll.c, eio_server.c) are
 * private to it.  Single-threaded: every function must be called from
 * the loop's thread.
 *
 * Objects and lifetimes:
 *  - struct sio_server: one per process (or per listener).  Owned by the
 *    caller: sio_server_new() ... sio_server_free().
 *  - struct sio_socket: one per (Engine.IO connection, namespace).  Owned
 *    by the server.  Pointers handed to callbacks stay valid until
 *    on_disconnect() returns, unless the caller holds a reference
 *    (sio_socket_ref), in which case the memory stays valid (but closed:
 *    sio_socket_is_open() == 0) until the last sio_socket_unref().  All
 *    send functions on a closed socket are harmless no-ops returning -1.
 *  - struct sio_buf: an encoded packet, refcounted, shareable between
 *    any number of sockets (fan-out encodes once).
 *
 * JSON values are jansson json_t.  "Borrowed" means valid only during
 * the call (json_incref() it to keep it); "taken" means the function
 * steals the reference, even on error.  Binary values (Node Buffers) are
 * the binary JSON values of realtime/codec/sio.h: sio_bin_new() makes one,
 * sio_bin_get() reads one.  Args holding any are sent as BINARY_EVENT /
 * BINARY_ACK with attachments, automatically.
 */
#ifndef RT_SERVER_SIO_SERVER_H
#define RT_SERVER_SIO_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

/* default per-connection output cap, bytes */
#define SIO_OUTQ_MAX		(1024 * 1024)
#define SIO_SID_LEN		20	/* Engine.IO and Socket.IO id length */

struct	sio_server;
struct	sio_socket;
struct	sio_buf;

/* One binary attachment: borrowed bytes. */
struct	sio_bin {
	const void	*p;
	size_t		 len;
};

/*
 * Callbacks.  None may free the server.  Inside any callback it is fine to
 * send, accept, refuse or disconnect any socket, including "s".
 */

/*
 * A client asked to join namespace "nsp" (e.g. "/") with auth payload
 * "auth" (borrowed; a JSON object, or NULL when the client sent none).
 * The callee must eventually call exactly one of sio_accept(s) or
 * sio_refuse(s, data) -- now, or later (keep a ref meanwhile and check
 * sio_socket_is_open() before answering; answering a closed socket is a
 * no-op).  Until answered, packets from the client on this namespace are
 * dropped, and the Engine.IO connect timeout keeps running only if no
 * other namespace is connected.  When NULL, every namespace is accepted.
 */
typedef void	 sio_connect_cb(struct sio_socket *s, const char *nsp,
		    json_t *auth, void *arg);

/*
 * EVENT or BINARY_EVENT "name" with arguments "args" (borrowed JSON array
 * without the name; binary arguments are sio.h binary values, already in
 * place of their placeholders).  "ackid" is the id to answer with
 * sio_ack() (at any later time), or -1 when no ack was asked.  "bins"
 * lists the nbins raw attachments in order (borrowed; NULL/0 for EVENT),
 * for callers that only relay them.
 */
typedef void	 sio_event_cb(struct sio_socket *s, const char *name,
		    json_t *args, int64_t ackid, const struct sio_bin *bins,
		    size_t nbins, void *arg);

/*
 * An accepted socket is gone.  "reason" is a static string, one of
 * Socket.IO's: "client namespace disconnect", "server namespace
 * disconnect", "transport close", "transport error", "ping timeout",
 * "parse error", "forced close", "server shutting down".  Not called for
 * sockets that were never accepted (refused, or closed while pending:
 * those are visible only as sio_socket_is_open() == 0).
 */
typedef void	 sio_disconnect_cb(struct sio_socket *s, const char *reason,
		    void *arg);

/*
 * Request accounting, for the layer above's counters and logs; the
 * server itself never looks at event names.  Every EVENT received on an
 * accepted socket is one request.  req_tag(name) is called first and
 * returns a small number of the caller's choosing (its label for that
 * event name); req_done() is called once the request has ended, with
 * that tag, how it ended and, for SIO_REQ_OK and SIO_REQ_ERROR, the
 * seconds from receipt to sio_ack() (else -1).  Both are optional.
 */
enum	sio_req_end {
	SIO_REQ_OK = 0,		/* acked, first argument without "error" */
	SIO_REQ_ERROR,		/* acked with {"error": ...} */
	SIO_REQ_NOACK,		/* no ack asked (counted at receipt) */
	SIO_REQ_CLOSED,		/* the socket closed before the ack */
	SIO_REQ_DRAINED,	/* dropped: the server is draining */
	SIO_REQ__MAX
};
typedef int	 sio_req_tag_cb(const char *name, void *arg);
typedef void	 sio_req_done_cb(struct sio_socket *s, int tag,
		    enum sio_req_end how, double secs, void *arg);

struct	sio_opts {
	const char	*path;		/* Engine.IO path, e.g. "/socket.io/" */
	unsigned int	 node_id;	/* 0..255: first 2 hex digits of ids */
	unsigned int	 ping_interval;	/* ms, default 25000 */
	unsigned int	 ping_timeout;	/* ms, default 20000 */
	unsigned int	 connect_timeout; /* ms, default 45000 */
	size_t		 max_payload;	/* bytes, default 1000000 */
	/* bytes queued per connection, default SIO_OUTQ_MAX */
	size_t		 outq_max;
	const char	*cors_origin;	/* "*", "a, b" list, or NULL: no CORS */
	sio_connect_cb	*on_connect;
	sio_event_cb	*on_event;
	sio_disconnect_cb *on_disconnect;
	sio_req_tag_cb	*req_tag;	/* optional, see above */
	sio_req_done_cb	*req_done;	/* optional, see above */
	void		*arg;		/* passed to every callback */
};

/*
 * Create a server on "loop" (borrowed; must outlive the server).
 * Fields of "o" left 0/NULL take their defaults; strings are copied.
 * Returns NULL on bad options or ENOMEM (logged).
 */
struct sio_server	*sio_server_new(struct ev_loop *loop,
			    const struct sio_opts *o);

/*
 * Serve a second Engine.IO path on the same listener as raw Engine.IO
 * (no Socket.IO layer): every message received is passed to "cb" with
 * its connection handle; answer with sio_eio_send().  Used by
 * sio-conformance for /engine.io/.  Returns 0 or -1.
 */
struct	sio_eio;
typedef void	 sio_eio_msg_cb(struct sio_eio *e, const void *p, size_t len,
		    int binary, void *arg);
int	 sio_server_add_raw_eio(struct sio_server *, const char *path,
	    sio_eio_msg_cb *, void *arg);
/* Queue one Engine.IO message (text or binary) on a raw connection. */
int	 sio_eio_send(struct sio_eio *, const void *, size_t, int binary);

/*
 * Listen on host:port (host e.g. "127.0.0.1"; port 0 picks one, see
 * sio_server_port()), or on an already bound and listening fd (taken).
 * Can be called more than once.  Returns 0 or -1 (logged).
 */
int	 sio_server_listen(struct sio_server *, const char *host, int port);
int	 sio_server_listen_fd(struct sio_server *, int fd);
int	 sio_server_port(const struct sio_server *);

/*
 * Graceful shutdown (SIGTERM): stop accepting; every accepted socket gets
 * on_disconnect "server shutting down"; every Engine.IO session is closed
 * the Engine.IO way (WebSocket close frame after what is queued; a
 * pending polling GET gets the close packet).  No Socket.IO DISCONNECT is
 * sent, as the reference server does: clients see "transport close" and
 * reconnect, through nginx, to another node.  Connections still flushing
 * are cut after "grace_ms".  "done" (may be NULL) is called once when no
 * connection is left; then call sio_server_free().
 */
void	 sio_server_shutdown(struct sio_server *, unsigned int grace_ms,
	    void (*done)(void *), void *arg);
/*
 * First step of a graceful stop, before sio_server_shutdown(): close
 * the listeners (new connections go elsewhere), ignore every packet
 * received from now on (events, connects), keep answering: "done" is
 * called once every event that asked for an ack got its sio_ack() (or
 * its socket closed) and every output queue is flushed, or after
 * "grace_ms".  The sessions stay open meanwhile.
 */
void	 sio_server_drain(struct sio_server *, unsigned int grace_ms,
	    void (*done)(void *), void *arg);
/* Free everything at once (no goodbye sent).  NULL is fine. */
void	 sio_server_free(struct sio_server *);

/* Counters for logs and health checks. */
struct	sio_stats {
	size_t		 conns;		/* TCP connections */
	size_t		 sessions;	/* Engine.IO sessions */
	size_t		 sockets;	/* accepted Socket.IO sockets */
	size_t		 sockets_ws;	/* of which over WebSocket */
	size_t		 acks_pending;	/* events waiting for their sio_ack() */
	int		 draining;	/* sio_server_drain() was called */
	uint64_t	 connects_accepted;	/* since sio_server_new() */
	uint64_t	 connects_refused;
	uint64_t	 disconnects;	/* accepted sockets gone */
	uint64_t	 upgrades;	/* polling sessions now WebSocket */
	uint64_t	 outq_drops;	/* connections cut: output queue full */
	uint64_t	 heap_trims;	/* heap given back after a backlog */
};
void	 sio_server_stats(const struct sio_server *, struct sio_stats *);

/*
 * Sockets.
 */

/*
 * Answer a pending on_connect.  Returns 0, or -1 if "s" is closed or
 * not pending.
 */
int	 sio_accept(struct sio_socket *s);
/*
 * Refuse a pending connect with CONNECT_ERROR carrying "data" (taken; an
 * object such as {"message":"Unauthorized","data":{...}}, or NULL for
 * {"message":"Refused"}).  The Engine.IO connection stays open.
 */
int	 sio_refuse(struct sio_socket *s, json_t *data);

/* Keep "s" allocated past on_disconnect. */
void	 sio_socket_ref(struct sio_socket *s);
void	 sio_socket_unref(struct sio_socket *s);
/* 1 while the socket can send (pending or accepted), else 0. */
int	 sio_socket_is_open(const struct sio_socket *s);
/* 1 once accepted and still open. */
int	 sio_socket_is_connected(const struct sio_socket *s);

/*
 * Socket.IO id: SIO_SID_LEN chars, URL-safe, starting with the node id
 * in 2 hex digits.
 */
const char	*sio_socket_id(const struct sio_socket *s);
/*
 * Engine.IO session id (same format), shared by the namespaces of one
 * connection.
 */
const char	*sio_socket_eio_id(const struct sio_socket *s);
const char	*sio_socket_nsp(const struct sio_socket *s);
/*
 * From the HTTP request that opened the Engine.IO session: the raw query
 * string (no '?', "" if none), and the peer address ("127.0.0.1"; the
 * X-Real-IP header when the peer is loopback, e.g. nginx).  Borrowed,
 * valid while the socket is allocated.
 */
const char	*sio_socket_query(const struct sio_socket *s);
const char	*sio_socket_addr(const struct sio_socket *s);
/*
 * The user behind the socket, for the server's log lines (connect,
 * disconnect, upgrade, requests); 0 (the default) when unknown.  Set it
 * before sio_accept() so the connect line names it.
 */
void		 sio_socket_set_uid(struct sio_socket *s, long long uid);
long long	 sio_socket_uid(const struct sio_socket *s);
void		 sio_socket_set_data(struct sio_socket *s, void *);
void		*sio_socket_data(const struct sio_socket *s);

/*
 * Send EVENT "event" with "args" (borrowed JSON array, may be NULL for no
 * arguments; binary values inside make it a BINARY_EVENT).  Returns 0, or
 * -1 if the socket is closed or encoding failed.  If the output queue
 * passes outq_max the connection is closed ("transport error") and -1 is
 * returned.
 */
int	 sio_emit(struct sio_socket *s, const char *event, json_t *args);
/* Answer ack "ackid" with "args" (borrowed JSON array, NULL = []). */
int	 sio_ack(struct sio_socket *s, int64_t ackid, json_t *args);
/*
 * Server-side namespace disconnect: send DISCONNECT, on_disconnect
 * "server namespace disconnect".  The Engine.IO connection stays open
 * while other namespaces use it, else it is closed too.
 */
void	 sio_disconnect(struct sio_socket *s);

/*
 * Fan-out: encode an EVENT once (for namespace "nsp", no ack, no binary
 * values: NULL if args hold any) and send the same bytes to many sockets
 * of that namespace.
 * sio_buf_event returns a buffer with one reference (NULL on error);
 * sio_send_buf takes its own reference while queued, so the caller
 * unrefs its reference when done sending.
 */
struct sio_buf	*sio_buf_event(const char *nsp, const char *event,
	    json_t *args);
void		 sio_buf_ref(struct sio_buf *);
void		 sio_buf_unref(struct sio_buf *);
int		 sio_send_buf(struct sio_socket *s, struct sio_buf *);

#endif /* !RT_SERVER_SIO_SERVER_H */
