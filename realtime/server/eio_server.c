/*
 * eio_server.c: Engine.IO v4 sessions for the realtime server (server
 * layer, above the transports and below sio_server.c).  Hears from
 * tr_poll.c (each complete HTTP request, handled in eio_http.c) and
 * tr_ws.c (each WebSocket message, a connection gone) through the tr_up
 * callbacks it registers (tr.h), and is called by sio_server.c (send,
 * close).  Owns: session ids (node id as 2 hex digits, then random
 * base64url), the id -> session map (every open session: polling,
 * upgrades, one WebSocket per session), the server-sent heartbeat (ping
 * every pingInterval, close without pong within pingTimeout), incoming
 * packets, and the polling -> WebSocket upgrade (2probe/3probe, 6 noop
 * to the pending GET, 5).  What a session sends, and the polling queue
 * with its answers batched once per loop iteration, are in eio_send.c.
 * Spec: Engine.IO protocol v4.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lib/hex.h"
#include "lib/log.h"
#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"
#include "realtime/codec/eio.h"
#include "realtime/server/conn.h"
#include "realtime/server/tr.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/eio_private.h"

static void	 ws_gone(void *, struct conn *);
static void	 get_gone(void *, struct conn *);
static void	 ws_message(void *, struct conn *, char *, size_t, int);

/* What the transports report to this layer (tr.h). */
static const struct tr_up up = { eio_http_request, ws_message, ws_gone,
	get_gone };

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------------ */
/* Ids and the session map */

/*
 * A new session id: the node id in 2 hex digits (so nginx, or a person
 * reading logs, can tell which node holds a session), then n - 2 chars
 * of base64url, 6 bits each from arc4random_buf() bytes drawn 240 at a
 * time.
 */
void
eio_srv_make_id(struct eio_srv *srv, char *out, size_t n)
{
	unsigned char	 node = (unsigned char)srv->o.node_id;
	size_t		 i;

	hex_encode(&node, 1, out);
	for (i = 2; i < n; i++) {
		if (srv->rndpos == 0 || srv->rndpos >= sizeof(srv->rnd)) {
			arc4random_buf(srv->rnd, sizeof(srv->rnd));
			srv->rndpos = 0;
		}
		out[i] = b64url[srv->rnd[srv->rndpos++] & 63];
	}
	out[n] = '\0';
}

/* djb2 (h * 33 + c) over the id, for the chained map. */
static size_t
hash(const char *s)
{
	size_t	 h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/*
 * Put "s" in the id map, doubling the bucket table when the load passes
 * one session per bucket.  Returns 0, or -1 on ENOMEM (not mapped).
 */
static int
map_add(struct eio_srv *srv, struct eio_sess *s)
{
	struct eio_sess	**nt, *e, *nx;
	size_t		  i, nnb, k;

	if (srv->nmap + 1 > srv->nb) {
		nnb = srv->nb ? srv->nb * 2 : 256;
		if ((nt = calloc(nnb, sizeof(*nt))) == NULL)
			return -1;
		for (i = 0; i < srv->nb; i++)
			for (e = srv->tab[i]; e != NULL; e = nx) {
				nx = e->hnext;
				k = hash(e->sid) & (nnb - 1);
				e->hnext = nt[k];
				nt[k] = e;
			}
		free(srv->tab);
		srv->tab = nt;
		srv->nb = nnb;
	}
	k = hash(s->sid) & (srv->nb - 1);
	s->hnext = srv->tab[k];
	srv->tab[k] = s;
	s->in_map = 1;
	srv->nmap++;
	return 0;
}

/* Take "s" out of the id map (no-op if it never got in). */
static void
map_del(struct eio_srv *srv, struct eio_sess *s)
{
	struct eio_sess	**pp;

	if (!s->in_map)
		return;
	for (pp = &srv->tab[hash(s->sid) & (srv->nb - 1)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	s->in_map = 0;
	srv->nmap--;
}

/* The open session with id "sid", or NULL. */
struct eio_sess *
eio_map_get(struct eio_srv *srv, const char *sid)
{
	struct eio_sess	*e;

	if (srv->nb == 0)
		return NULL;
	for (e = srv->tab[hash(sid) & (srv->nb - 1)]; e != NULL; e = e->hnext)
		if (strcmp(e->sid, sid) == 0)
			return e;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Sessions */

/*
 * References: the map and the session list hold one (dropped by
 * eio_sess_close), and anyone calling out to the layer above holds one
 * across the call, since a callback may close the session.
 */
void
eio_sess_ref(struct eio_sess *s)
{
	s->refs++;
}

/* Drop a reference; the last one frees the session. */
void
eio_sess_unref(struct eio_sess *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	free(s->query);
	free(s);
}

/* Accessors for the layer above: struct eio_sess is opaque to it. */
const char *
eio_sess_id(const struct eio_sess *s)
{
	return s->sid;
}

enum eio_tr
eio_sess_transport(const struct eio_sess *s)
{
	return (enum eio_tr)s->tr;
}

const char *
eio_sess_addr(const struct eio_sess *s)
{
	return s->addr;
}

const char *
eio_sess_query(const struct eio_sess *s)
{
	return s->query;
}

void
eio_sess_set_upper(struct eio_sess *s, void *upper)
{
	s->upper = upper;
}

void *
eio_sess_upper(const struct eio_sess *s)
{
	return s->upper;
}

/*
 * The heartbeat (spec, "Heartbeat"): the server pings every
 * pingInterval and the client must pong within pingTimeout.  One timer
 * per session does both jobs: when it fires with no ping outstanding it
 * sends one and re-arms itself for the pong deadline; when it fires with
 * a ping outstanding (hb_wait) the client missed it and the session
 * closes with "ping timeout".  A pong (eio_sess_packet) re-arms it for
 * the next ping with hb_arm().
 */
static void
hb_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct eio_sess	*s = w->data;

	(void)revents;
	if (s->hb_wait) {
		eio_sess_close(s, "ping timeout", 1);
		return;
	}
	/*
	 * The pong deadline counts from when the ping was due, not from
	 * when this callback ran: a late callback must not extend it.
	 * libev arms the timer at ev_now() + repeat; repeat 0 would stop it.
	 */
	s->hb_wait = 1;
	s->hb_due += s->srv->o.ping_timeout / 1000.;
	w->repeat = s->hb_due - ev_now(loop);
	if (w->repeat < 0.001)
		w->repeat = 0.001;
	ev_timer_again(loop, w);
	(void)eio_send_type(s, EIO_PING, NULL, 0);
}

/* Arm the ping timer for one ping interval from now. */
static void
hb_arm(struct eio_sess *s)
{
	s->hb.repeat = s->srv->o.ping_interval / 1000.;
	s->hb_due = ev_now(s->srv->loop) + s->hb.repeat;
	ev_timer_again(s->srv->loop, &s->hb);
}

/*
 * A ping timeout due now (the timer may not have run yet this turn):
 * against the clock, not the loop time of the start of this turn.
 */
int
eio_expired(struct eio_sess *s)
{
	if (s->hb_wait && ev_is_active(&s->hb) &&
	    ev_time() > s->hb_due - 0.002) {
		eio_sess_close(s, "ping timeout", 1);
		return 1;
	}
	return 0;
}

/*
 * The peer's address for logs and for the layer above: the socket's, or
 * the X-Real-IP header when the socket is loopback (nginx in front).
 * The header is taken only if it looks like an address (hex digits,
 * ':' and '.'), so a client cannot put arbitrary text in our logs.
 */
static void
peer_addr(struct eio_sess *s, struct conn *c, const struct http_request *r)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	const struct http_span	*h;
	size_t			 i;

	s->addr[0] = '\0';
	if (getpeername(c->io.fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, s->addr,
			    sizeof(s->addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, s->addr,
			    sizeof(s->addr));
	}
	if (strcmp(s->addr, "127.0.0.1") != 0 && strcmp(s->addr, "::1") != 0)
		return;
	if ((h = http_header_get(r, "X-Real-IP")) == NULL ||
	    h->len == 0 || h->len >= sizeof(s->addr))
		return;
	for (i = 0; i < h->len; i++)
		if (strchr("0123456789abcdefABCDEF:.", h->p[i]) == NULL)
			return;
	memcpy(s->addr, h->p, h->len);
	s->addr[h->len] = '\0';
}

/*
 * A new session for the request "r" on connection "c", over transport
 * "tr" (polling, or a WebSocket opened without a polling phase): a fresh
 * id, the query string and peer address kept for the layer above, in
 * the map and the session list, heartbeat armed.  The caller sends the
 * open packet and calls the path's open().  Returns NULL on ENOMEM.
 */
struct eio_sess *
eio_sess_new(struct eio_srv *srv, struct eio_path *p, struct conn *c,
    const struct http_request *r, enum eio_tr tr)
{
	struct eio_sess	*s;
	size_t		 qlen = r->query.len;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (qlen > 2048)
		qlen = 2048;
	if ((s->query = malloc(qlen + 1)) == NULL) {
		free(s);
		return NULL;
	}
	memcpy(s->query, r->query.p, qlen);
	s->query[qlen] = '\0';
	do
		eio_srv_make_id(srv, s->sid, EIO_SID_LEN);
	while (eio_map_get(srv, s->sid) != NULL);
	/* WebSocket ones too: a second WebSocket naming one is closed. */
	if (map_add(srv, s) == -1) {
		free(s->query);
		free(s);
		return NULL;
	}
	peer_addr(s, c, r);
	s->srv = srv;
	s->path = p;
	s->tr = (uint8_t)tr;
	s->refs = 1;
	ev_timer_init(&s->hb, hb_cb, 0., srv->o.ping_interval / 1000.);
	s->hb.data = s;
	hb_arm(s);
	s->snext = srv->all;
	if (srv->all != NULL)
		srv->all->sprev = s;
	srv->all = s;
	srv->nsess++;
	return s;
}

/*
 * Close the session once (later calls do nothing): out of the map, the
 * parked GET answered with a close packet, the probe and the WebSocket
 * closed (with a normal close frame if "goodbye", else going-away), the
 * queue dropped, then the layer above's close() with "reason" (static),
 * and the map's reference dropped.
 */
void
eio_sess_close(struct eio_sess *s, const char *reason, int goodbye)
{
	struct eio_srv	*srv = s->srv;
	struct conn	*c;

	if (s->state == ST_CLOSED)
		return;
	s->state = ST_CLOSED;
	log_debug("eio: sid=%s closed: %s", s->sid, reason);
	ev_timer_stop(srv->loop, &s->hb);
	map_del(srv, s);
	if (s->sprev != NULL)
		s->sprev->snext = s->snext;
	else
		srv->all = s->snext;
	if (s->snext != NULL)
		s->snext->sprev = s->sprev;
	s->sprev = s->snext = NULL;
	srv->nsess--;
	if (s->get != NULL)
		eio_answer_get(s, "1");
	if ((c = s->probe) != NULL) {
		s->probe = NULL;
		tr_ws_detach(c);
		tr_ws_close(c, WS_CLOSE_NORMAL);
	}
	if ((c = s->ws) != NULL) {
		s->ws = NULL;
		tr_ws_detach(c);
		if (goodbye)
			tr_ws_close(c, WS_CLOSE_NORMAL);
		else
			tr_ws_close(c, WS_CLOSE_GOING_AWAY);
	}
	eio_queue_free(s);
	if (s->path->h.close != NULL)
		s->path->h.close(s, reason, s->path->arg);
	eio_sess_unref(s);
}

/*
 * tr_ws.c: a WebSocket of "arg" failed or closed.  A probe that goes away
 * only cancels the upgrade (the session goes on polling); the transport
 * WebSocket going away ends the session.
 */
static void
ws_gone(void *arg, struct conn *c)
{
	struct eio_sess	*s = arg;

	tr_ws_detach(c);
	if (c == s->probe) {
		s->probe = NULL;
		s->upgrading = UPG_NONE;
	} else if (c == s->ws) {
		s->ws = NULL;
		eio_sess_close(s, (c->flags & CONN_FAILED) ? "transport error" :
		    "transport close", 0);
	}
}

/*
 * tr_poll.c: the connection of the parked GET closed: the client is gone
 * (a polling client always keeps a GET waiting), so is the session.
 */
static void
get_gone(void *arg, struct conn *c)
{
	struct eio_sess	*s = arg;

	if (s->get != c)
		return;
	s->get = NULL;
	eio_sess_close(s, "transport close", 0);
}

/* The upgrade is complete: WebSocket "c" becomes the transport. */
static void
upgrade_done(struct eio_sess *s, struct conn *c)
{
	struct eio_qitem	*q;

	s->tr = EIO_TR_WS;
	s->ws = c;
	s->probe = NULL;
	s->upgrading = UPG_NONE;
	c->deadline = 0;
	if (s->get != NULL)
		eio_answer_get(s, "6");
	for (q = s->qh; q != NULL; q = q->next)
		if (conn_send(c, q->b, q->ws_off, q->b->len - q->ws_off) == -1)
			break;
	eio_queue_free(s);
	s->srv->upgrades++;
	if (s->path->h.upgraded != NULL)
		s->path->h.upgraded(s, s->path->arg);
}

/*
 * A packet on the probe WebSocket of a polling session (spec,
 * "Upgrade"): "2probe" is answered "3probe" and the parked GET is
 * answered with a noop (eio_mark_dirty; preflush sends "6" since the
 * state is UPG_PROBED) so that the client stops polling and sends "5"
 * on the WebSocket, which completes the upgrade.  Anything else, or the
 * right packet at the wrong time, cancels the upgrade and closes the
 * probe; the session goes on polling.
 */
static void
probe_packet(struct eio_sess *s, struct conn *c, char *p, size_t len,
    int bin)
{
	struct eio_packet	 pk;
	const char		*why = "bad packet";

	if (eio_packet_decode(p, len, bin, &pk, &why) == 0) {
		if (pk.type == EIO_PING && pk.len == 5 &&
		    memcmp(pk.data, "probe", 5) == 0 &&
		    s->upgrading == UPG_PROBING) {
			(void)tr_ws_send_text(c, "3probe", 6);
			s->upgrading = UPG_PROBED;
			eio_mark_dirty(s);
			return;
		}
		if (pk.type == EIO_UPGRADE && s->upgrading == UPG_PROBED) {
			upgrade_done(s, c);
			return;
		}
		why = "unexpected packet during upgrade";
	}
	log_debug("eio: sid=%s upgrade failed: %s", s->sid, why);
	s->probe = NULL;
	s->upgrading = UPG_NONE;
	tr_ws_detach(c);
	tr_ws_close(c, WS_CLOSE_PROTOCOL);
}

/*
 * One Engine.IO packet from the client: "from" is the WebSocket it came
 * on, or NULL for a polling POST (packets are handled in body order).
 * Packets on the probe WebSocket go to probe_packet().  Returns 0, -1
 * if the session closed meanwhile, -2 if the packet was malformed (the
 * session is closed with "parse error"; a POST answers 400).
 */
int
eio_sess_packet(struct eio_sess *s, struct conn *from, char *p, size_t len,
    int ws_binary)
{
	struct eio_packet	 pk;
	const char		*why = NULL;
	ssize_t			 n;
	int			 rc = 0;

	if (s->state != ST_OPEN)
		return -1;
	if (from != NULL && from == s->probe) {
		probe_packet(s, from, p, len, ws_binary);
		return 0;
	}
	if (eio_packet_decode(p, len, ws_binary, &pk, &why) == -1) {
		log_debug("eio: sid=%s bad packet: %s", s->sid, why);
		eio_sess_close(s, "parse error", 1);
		return -2;
	}
	switch (pk.type) {
	case EIO_PONG:
		if (s->hb_wait) {
			s->hb_wait = 0;
			hb_arm(s);
		}
		break;
	case EIO_MESSAGE:
		if (pk.base64) {
			n = eio_base64_decode((char *)pk.data, pk.len, pk.data,
			    pk.len);
			if (n < 0) {
				eio_sess_close(s, "parse error", 1);
				return -2;
			}
			pk.len = (size_t)n;
		}
		eio_sess_ref(s);
		if (s->path->h.message != NULL)
			s->path->h.message(s, (char *)pk.data, pk.len,
			    pk.binary, s->path->arg);
		rc = s->state == ST_OPEN ? 0 : -1;
		eio_sess_unref(s);
		break;
	case EIO_CLOSE:
		if (s->get != NULL)
			eio_answer_get(s, "6");
		eio_sess_close(s, "transport close", 1);
		rc = -1;
		break;
	case EIO_NOOP:
		break;
	default:
		log_debug("eio: sid=%s unexpected %s packet", s->sid,
		    eio_type_str(pk.type));
		eio_sess_close(s, "parse error", 1);
		rc = -2;
		break;
	}
	return rc;
}

/* tr_ws.c: a WebSocket message for session "arg". */
static void
ws_message(void *arg, struct conn *c, char *p, size_t len, int binary)
{
	(void)eio_sess_packet(arg, c, p, len, binary);
}

/* ------------------------------------------------------------------ */
/* Server */

/*
 * The session layer on "loop" with options "o" (copied; the CORS origin
 * string too): its connection layer, whose new connections go to
 * tr_poll.c through eio_http_accept(), and the preflush hook that
 * answers parked GETs once per loop iteration.  NULL on ENOMEM.
 */
struct eio_srv *
eio_srv_new(struct ev_loop *loop, const struct eio_opts *o)
{
	struct eio_srv	*srv;
	size_t		 rmax;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->loop = loop;
	srv->o = *o;
	srv->o.cors_origin = NULL;
	if (o->cors_origin != NULL &&
	    (srv->o.cors_origin = strdup(o->cors_origin)) == NULL)
		goto fail;
	rmax = o->max_payload + HTTP_MAX_HEAD + 1024;
	if ((srv->cl = conn_loop_new(loop, o->outq_max, rmax,
	    eio_http_accept, srv)) == NULL)
		goto fail;
	srv->tr.up = &up;
	srv->tr.arg = srv;
	srv->tr.cors_origin = srv->o.cors_origin;
	srv->tr.max_payload = srv->o.max_payload;
	conn_loop_preflush(srv->cl, eio_preflush, srv);
	return srv;
fail:
	free((char *)srv->o.cors_origin);
	free(srv);
	return NULL;
}

/*
 * Serve Engine.IO on "path" (a prefix, "/socket.io/"; also matched
 * without its final '/') with the callbacks "h" and "arg".  Returns 0,
 * or -1 if EIO_MAX_PATHS are taken or on ENOMEM.
 */
int
eio_srv_add_path(struct eio_srv *srv, const char *path,
    const struct eio_handler *h, void *arg)
{
	struct eio_path	*p;
	size_t		 len;

	if (srv->npaths == EIO_MAX_PATHS || path == NULL || path[0] != '/')
		return -1;
	len = strlen(path);
	p = &srv->paths[srv->npaths];
	if ((p->path = malloc(len + 2)) == NULL)
		return -1;
	memcpy(p->path, path, len + 1);
	if (path[len - 1] != '/') {
		p->path[len++] = '/';
		p->path[len] = '\0';
	}
	p->len = len;
	p->h = *h;
	p->arg = arg;
	srv->npaths++;
	return 0;
}

/* The connection layer (listeners, counts) under the sessions. */
struct conn_loop *
eio_srv_conns(struct eio_srv *srv)
{
	return srv->cl;
}

/* Open sessions. */
size_t
eio_srv_nsessions(const struct eio_srv *srv)
{
	return srv->nsess;
}

/*
 * The session layer's counters, with those of its connections: a
 * connection cut at its output cap and a polling session cut at its
 * queue cap are both one "outq drop".
 */
void
eio_srv_stats(const struct eio_srv *srv, struct eio_stats *st)
{
	st->conns = conn_count(srv->cl);
	st->sessions = srv->nsess;
	st->upgrades = srv->upgrades;
	st->outq_drops = srv->outq_drops + conn_outq_drops(srv->cl);
	st->heap_trims = conn_trims(srv->cl);
}

/*
 * Shutdown: stop accepting and close every session with "reason", the
 * Engine.IO way (close packets after what is queued).
 */
void
eio_srv_close_all(struct eio_srv *srv, const char *reason)
{
	struct conn	*c, *nx;

	conn_unlisten(srv->cl);
	while (srv->all != NULL)
		eio_sess_close(srv->all, reason, 1);
	for (c = conn_first(srv->cl); c != NULL; c = nx) {
		nx = c->next;
		conn_close_flush(c);
	}
}

/* Free everything, sessions and connections included.  NULL is fine. */
void
eio_srv_free(struct eio_srv *srv)
{
	size_t	 i;

	if (srv == NULL)
		return;
	while (srv->all != NULL)
		eio_sess_close(srv->all, "forced close", 0);
	eio_preflush(srv);
	conn_loop_free(srv->cl);
	for (i = 0; i < srv->npaths; i++)
		free(srv->paths[i].path);
	free(srv->tab);
	free((char *)srv->o.cors_origin);
	free(srv);
}
