/*
 * sio_server.c: the Socket.IO v5 layer of the realtime server (top of the
 * server layer, on eio_server.c) and its public API (sio_server.h): here
 * the server itself (options, listeners, raw Engine.IO paths, stats,
 * drain and shutdown); sockets and sending are in sio_socket.c,
 * receiving in sio_input.c.  One struct sio_conn per Engine.IO session,
 * one struct sio_socket per namespace joined over it.  The layer above
 * answers CONNECTs asynchronously (sio_accept/sio_refuse), keeps sockets
 * alive across callbacks with sio_socket_ref/unref, and hears about
 * events and their ends through the callbacks of struct sio_opts: this
 * layer never looks at event names.
 * Spec: Socket.IO protocol v5.
 */
#include "config.h"

#include <sys/resource.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "lib/log.h"
#include "realtime/codec/sio.h"
#include "realtime/server/conn.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/sio_private.h"

static const struct eio_handler raw_handler = { NULL, sio_raw_message, NULL,
	NULL };

int
sio_eio_send(struct sio_eio *e, const void *p, size_t len, int binary)
{
	struct eio_msg	 m;
	int		 rc;

	if (eio_msg_new(&m, p, len, binary) == -1)
		return -1;
	rc = eio_sess_send((struct eio_sess *)e, &m);
	conn_buf_unref(m.b);
	return rc;
}

int
sio_server_add_raw_eio(struct sio_server *srv, const char *path,
    sio_eio_msg_cb *cb, void *arg)
{
	srv->raw_cb = cb;
	srv->raw_arg = arg;
	return eio_srv_add_path(srv->eio, path, &raw_handler, srv);
}

/* ------------------------------------------------------------------ */
/* Server */

static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("sio: setrlimit NOFILE");
	}
}

struct sio_server *
sio_server_new(struct ev_loop *loop, const struct sio_opts *o)
{
	struct sio_server	*srv;
	struct eio_opts		 eo;

	if (o->node_id > 255) {
		log_warnx("sio: node id %u out of range", o->node_id);
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		log_warn("sio: calloc");
		return NULL;
	}
	srv->loop = loop;
	srv->o = *o;
	if (srv->o.path == NULL)
		srv->o.path = "/socket.io/";
	if (srv->o.ping_interval == 0)
		srv->o.ping_interval = 25000;
	if (srv->o.ping_timeout == 0)
		srv->o.ping_timeout = 20000;
	if (srv->o.connect_timeout == 0)
		srv->o.connect_timeout = 45000;
	if (srv->o.max_payload == 0)
		srv->o.max_payload = 1000000;
	if (srv->o.outq_max == 0)
		srv->o.outq_max = SIO_OUTQ_MAX;
	if (srv->o.outq_max < srv->o.max_payload + 4096)
		srv->o.outq_max = srv->o.max_payload + 4096;
	memset(&eo, 0, sizeof(eo));
	eo.node_id = srv->o.node_id;
	eo.ping_interval = srv->o.ping_interval;
	eo.ping_timeout = srv->o.ping_timeout;
	eo.max_payload = srv->o.max_payload;
	eo.outq_max = srv->o.outq_max;
	eo.cors_origin = srv->o.cors_origin;
	srv->o.cors_origin = NULL;	/* the copy lives in eio */
	raise_nofile();
	if ((srv->eio = eio_srv_new(loop, &eo)) == NULL ||
	    eio_srv_add_path(srv->eio, srv->o.path, &sio_handler, srv) == -1) {
		log_warnx("sio: cannot create the Engine.IO server");
		eio_srv_free(srv->eio);
		free(srv);
		return NULL;
	}
	srv->o.path = NULL;
	return srv;
}

int
sio_server_listen(struct sio_server *srv, const char *host, int port)
{
	return conn_listen(eio_srv_conns(srv->eio), host, port);
}

int
sio_server_listen_fd(struct sio_server *srv, int fd)
{
	return conn_listen_fd(eio_srv_conns(srv->eio), fd);
}

int
sio_server_port(const struct sio_server *srv)
{
	return conn_port(eio_srv_conns(srv->eio));
}

void
sio_server_stats(const struct sio_server *srv, struct sio_stats *st)
{
	struct eio_stats	 es;
	struct sio_conn		*sc;
	struct sio_socket	*s;

	eio_srv_stats(srv->eio, &es);
	st->conns = es.conns;
	st->sessions = es.sessions;
	st->sockets = srv->nsockets;
	st->sockets_ws = 0;
	for (sc = srv->conns; sc != NULL; sc = sc->next)
		for (s = sc->socks; s != NULL; s = s->next)
			if (s->state == SOCK_CONNECTED &&
			    eio_sess_transport(s->es) == EIO_TR_WS)
				st->sockets_ws++;
	st->acks_pending = srv->npending;
	st->draining = srv->draining;
	st->connects_accepted = srv->connects_accepted;
	st->connects_refused = srv->connects_refused;
	st->disconnects = srv->disconnects;
	st->upgrades = es.upgrades;
	st->outq_drops = es.outq_drops;
	st->heap_trims = es.heap_trims;
}

static void
down_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sio_server	*srv = w->data;
	struct conn_loop	*cl = eio_srv_conns(srv->eio);
	void			(*done)(void *);

	(void)revents;
	if (conn_count(cl) > 0 && ev_now(loop) < srv->down_until)
		return;
	while (conn_first(cl) != NULL)
		conn_close(conn_first(cl));
	ev_timer_stop(loop, w);
	if ((done = srv->done) != NULL) {
		srv->done = NULL;
		done(srv->done_arg);
	}
}

/* Every ack owed was sent and every output queue is flushed. */
static int
drained(struct sio_server *srv)
{
	return srv->npending == 0 &&
	    conn_loop_queued(eio_srv_conns(srv->eio)) == 0;
}

static void
drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sio_server	*srv = w->data;
	void			(*done)(void *);
	int			 ok;

	(void)revents;
	if (!(ok = drained(srv)) && ev_now(loop) < srv->drain_until)
		return;
	ev_timer_stop(loop, w);
	if (ok)
		log_info("conn event=drained secs=%.2f",
		    ev_now(loop) - srv->drain_t0);
	else
		log_warnx("conn event=drained secs=%.2f acks_pending=%zu: "
		    "grace over", ev_now(loop) - srv->drain_t0,
		    srv->npending);
	if ((done = srv->drain_done) != NULL) {
		srv->drain_done = NULL;
		done(srv->drain_arg);
	}
}

void
sio_server_drain(struct sio_server *srv, unsigned int grace_ms,
    void (*done)(void *), void *arg)
{
	conn_unlisten(eio_srv_conns(srv->eio));
	srv->draining = 1;
	srv->drain_done = done;
	srv->drain_arg = arg;
	srv->drain_t0 = ev_now(srv->loop);
	srv->drain_until = srv->drain_t0 + grace_ms / 1000.;
	log_info("conn event=draining sockets=%zu acks_pending=%zu",
	    srv->nsockets, srv->npending);
	ev_timer_init(&srv->drain, drain_cb, 0., DRAIN_TICK);
	srv->drain.data = srv;
	ev_timer_again(srv->loop, &srv->drain);
}

void
sio_server_shutdown(struct sio_server *srv, unsigned int grace_ms,
    void (*done)(void *), void *arg)
{
	eio_srv_close_all(srv->eio, "server shutting down");
	srv->done = done;
	srv->done_arg = arg;
	srv->down_until = ev_now(srv->loop) + grace_ms / 1000.;
	ev_timer_init(&srv->down, down_cb, 0., 0.05);
	srv->down.data = srv;
	ev_timer_again(srv->loop, &srv->down);
}

void
sio_server_free(struct sio_server *srv)
{
	if (srv == NULL)
		return;
	ev_timer_stop(srv->loop, &srv->down);
	ev_timer_stop(srv->loop, &srv->drain);
	eio_srv_free(srv->eio);
	free(srv);
}
