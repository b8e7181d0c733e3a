/*
 * eio_server.c: Engine.IO v4 sessions for the realtime server (server
 * layer, above the transports and below sio_server.c).  Hears from
 * tr_poll.c (each complete HTTP request) and tr_ws.c (each WebSocket
 * message, a connection gone) through the tr_up callbacks it registers
 * (tr.h), and is called by sio_server.c (send, close).  Owns: session ids
 * (node id as 2 hex digits, then random base64url), the id -> session map
 * (every open session: polling, upgrades, one WebSocket per session),
 * the server-sent heartbeat (ping every pingInterval, close without pong
 * within pingTimeout), the polling queue and its answers (batched once
 * per loop iteration), and the polling -> WebSocket upgrade
 * (2probe/3probe, 6 noop to the pending GET, 5).
 * Error answers match the reference server: 400 with
 * {"code":N,"message":"..."} (0 Transport unknown, 1 Session ID unknown,
 * 2 Bad handshake method, 3 Bad request, 5 Unsupported protocol version).
 * A WebSocket naming a session that has or is probing one gets 101, then
 * a close frame (1008), as the reference server does after an upgrade;
 * the session goes on.
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

#include "log.h"
#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"
#include "realtime/codec/eio.h"
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
	uint8_t			 state;		/* enum sess_state */
	uint8_t			 hb_wait;	/* ping sent, waiting for pong */
	uint8_t			 upgrading;	/* enum upg */
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
	uint64_t		 outq_drops;	/* sessions cut: polling queue full */
	struct eio_sess		*dirty;		/* GETs to answer */
	struct tr_ctx		 tr;		/* for tr_poll.c: callbacks, limits */
	unsigned char		 rnd[240];
	size_t			 rndpos;
};

static void	 http_request(void *, struct conn *,
		    const struct http_request *, char *, size_t);
static void	 ws_message(void *, struct conn *, char *, size_t, int);
static void	 ws_gone(void *, struct conn *);
static void	 get_gone(void *, struct conn *);

/* What the transports report to this layer (tr.h). */
static const struct tr_up up = { http_request, ws_message, ws_gone,
	get_gone };

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------------ */
/* Ids and the session map */

void
eio_srv_make_id(struct eio_srv *srv, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i;

	out[0] = hex[(srv->o.node_id >> 4) & 0xf];
	out[1] = hex[srv->o.node_id & 0xf];
	for (i = 2; i < n; i++) {
		if (srv->rndpos == 0 || srv->rndpos >= sizeof(srv->rnd)) {
			arc4random_buf(srv->rnd, sizeof(srv->rnd));
			srv->rndpos = 0;
		}
		out[i] = b64url[srv->rnd[srv->rndpos++] & 63];
	}
	out[n] = '\0';
}

static size_t
hash(const char *s)
{
	size_t	 h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

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

static struct eio_sess *
map_get(struct eio_srv *srv, const char *sid)
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
/* Messages */

static int
msg_build(struct eio_msg *m, int type, const void *p, size_t len, int binary)
{
	struct conn_buf	*b;

	if ((b = conn_buf_new(EIO_MSG_RESERVE + len)) == NULL)
		return -1;
	if (len > 0)
		memcpy(b->data + EIO_MSG_RESERVE, p, len);
	if (binary)
		eio_msg_seal(m, b, 1);
	else {
		eio_msg_seal(m, b, 0);
		b->data[m->pkt_off] = (char)('0' + type);
	}
	return 0;
}

void
eio_msg_seal(struct eio_msg *m, struct conn_buf *b, int binary)
{
	size_t	 poff, plen, hl;

	poff = binary ? EIO_MSG_RESERVE : EIO_MSG_RESERVE - 1;
	if (!binary)
		b->data[poff] = '4';
	plen = b->len - poff;
	hl = ws_frame_header_len(plen);
	(void)ws_frame_header((unsigned char *)b->data + poff - hl,
	    binary ? WS_OP_BINARY : WS_OP_TEXT, 1, plen);
	m->b = b;
	m->ws_off = (uint32_t)(poff - hl);
	m->pkt_off = (uint32_t)poff;
	m->binary = binary;
}

int
eio_msg_new(struct eio_msg *m, const void *p, size_t len, int binary)
{
	return msg_build(m, EIO_MESSAGE, p, len, binary);
}

static void
queue_free(struct eio_sess *s)
{
	struct eio_qitem	*q;

	while ((q = s->qh) != NULL) {
		s->qh = q->next;
		conn_buf_unref(q->b);
		free(q);
	}
	s->qt = NULL;
	s->qbytes = 0;
}

static void
mark_dirty(struct eio_sess *s)
{
	if (s->dirty || s->get == NULL)
		return;
	s->dirty = 1;
	eio_sess_ref(s);
	s->dnext = s->srv->dirty;
	s->srv->dirty = s;
}

int
eio_sess_send(struct eio_sess *s, const struct eio_msg *m)
{
	struct eio_qitem	*q;
	size_t			 len = m->b->len - m->pkt_off;

	if (s->state != ST_OPEN)
		return -1;
	if (s->tr == EIO_TR_WS) {
		if (s->ws == NULL || tr_ws_send(s->ws, m->b, m->ws_off) == -1)
			return -1;
		return 0;
	}
	if (s->qbytes + len > s->srv->o.outq_max) {
		log_warnx("eio: sid=%s polling queue full: closing", s->sid);
		s->srv->outq_drops++;
		eio_sess_close(s, "transport error", 1);
		return -1;
	}
	if ((q = malloc(sizeof(*q))) == NULL) {
		eio_sess_close(s, "transport error", 1);
		return -1;
	}
	q->next = NULL;
	q->b = m->b;
	conn_buf_ref(m->b);
	q->ws_off = m->ws_off;
	q->off = m->pkt_off;
	q->len = (uint32_t)len;
	q->binary = m->binary;
	if (s->qt != NULL)
		s->qt->next = q;
	else
		s->qh = q;
	s->qt = q;
	s->qbytes += len;
	mark_dirty(s);
	return 0;
}

static int
send_type(struct eio_sess *s, int type, const char *data, size_t len)
{
	struct eio_msg	 m;
	int		 rc;

	if (msg_build(&m, type, data, len, 0) == -1)
		return -1;
	rc = eio_sess_send(s, &m);
	conn_buf_unref(m.b);
	return rc;
}

/* Answer the parked GET with "special" or with the whole queue. */
static void
answer_get(struct eio_sess *s, const char *special)
{
	struct conn		*c = s->get;
	struct eio_item		*it = NULL;
	struct eio_qitem	*q;
	char			*body = NULL;
	size_t			 n = 0, i, len;

	if (c == NULL)
		return;
	s->get = NULL;
	tr_poll_unpark(c);
	if (special != NULL || s->qh == NULL) {
		(void)tr_poll_respond(c, 200, CT_TEXT, special ? special : "6",
		    1);
		return;
	}
	for (q = s->qh; q != NULL; q = q->next)
		n++;
	if ((it = calloc(n, sizeof(*it))) == NULL)
		goto fail;
	for (i = 0, q = s->qh; q != NULL; q = q->next, i++) {
		it[i].p = q->b->data + q->off;
		it[i].len = q->len;
		it[i].binary = q->binary;
	}
	len = eio_payload_join(NULL, 0, it, n);
	if ((body = malloc(len + 1)) == NULL)
		goto fail;
	(void)eio_payload_join(body, len + 1, it, n);
	queue_free(s);
	(void)tr_poll_respond(c, 200, CT_TEXT, body, len);
	free(it);
	free(body);
	return;
fail:
	free(it);
	free(body);
	conn_close(c);
	eio_sess_close(s, "transport error", 0);
}

static void
preflush(void *arg)
{
	struct eio_srv	*srv = arg;
	struct eio_sess	*s, *nx;

	s = srv->dirty;
	srv->dirty = NULL;
	for (; s != NULL; s = nx) {
		nx = s->dnext;
		s->dirty = 0;
		if (s->state == ST_OPEN && s->get != NULL &&
		    (s->qh != NULL || s->upgrading == UPG_PROBED))
			answer_get(s, NULL);
		eio_sess_unref(s);
	}
}

/* ------------------------------------------------------------------ */
/* Sessions */

void
eio_sess_ref(struct eio_sess *s)
{
	s->refs++;
}

void
eio_sess_unref(struct eio_sess *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	free(s->query);
	free(s);
}

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
	(void)send_type(s, EIO_PING, NULL, 0);
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
static int
expired(struct eio_sess *s)
{
	if (s->hb_wait && ev_is_active(&s->hb) &&
	    ev_time() > s->hb_due - 0.002) {
		eio_sess_close(s, "ping timeout", 1);
		return 1;
	}
	return 0;
}

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
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    s->addr, sizeof(s->addr));
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

static struct eio_sess *
sess_new(struct eio_srv *srv, struct eio_path *p, struct conn *c,
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
	while (map_get(srv, s->sid) != NULL);
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
		answer_get(s, "1");
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
	queue_free(s);
	if (s->path->h.close != NULL)
		s->path->h.close(s, reason, s->path->arg);
	eio_sess_unref(s);
}

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
		answer_get(s, "6");
	for (q = s->qh; q != NULL; q = q->next)
		if (conn_send(c, q->b, q->ws_off, q->b->len - q->ws_off) == -1)
			break;
	queue_free(s);
	s->srv->upgrades++;
	if (s->path->h.upgraded != NULL)
		s->path->h.upgraded(s, s->path->arg);
}

static void
probe_packet(struct eio_sess *s, struct conn *c, char *p, size_t len,
    int bin)
{
	struct eio_packet	 pk;
	const char		*why = "bad packet";

	if (eio_packet_decode(p, len, bin, &pk, &why) == 0) {
		if (pk.type == EIO_PING && pk.len == 5 &&
		    memcmp(pk.data, "probe", 5) == 0 && s->upgrading == UPG_PROBING) {
			(void)tr_ws_send_text(c, "3probe", 6);
			s->upgrading = UPG_PROBED;
			mark_dirty(s);
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

static int
sess_packet(struct eio_sess *s, struct conn *from, char *p, size_t len,
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
			answer_get(s, "6");
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
	(void)sess_packet(arg, c, p, len, binary);
}

/* ------------------------------------------------------------------ */
/* HTTP requests */

static void
open_packet(struct eio_sess *s, int upgrade, char *buf, size_t sz,
    size_t *len)
{
	const struct eio_opts	*o = &s->srv->o;

	*len = eio_handshake(buf, sz, s->sid, upgrade, o->ping_interval,
	    o->ping_timeout, o->max_payload);
	if (*len >= sz)
		*len = 0;
}

/*
 * A WebSocket naming a session that already has one, or is probing one:
 * one WebSocket per session (spec, "WebSocket"), so this one is closed.
 * Like the reference server, finish the handshake (101) and then send a
 * close frame: the official suites' clients treat a 400 as an error.
 */
static void
ws_refuse(struct eio_srv *srv, struct conn *c, const struct eio_sess *s,
    const char *resp, size_t len)
{
	log_debug("eio: sid=%s extra WebSocket: closing it", s->sid);
	if (conn_send_copy(c, resp, len) == -1)
		return;		/* the connection is closed */
	tr_poll_upgraded(c);
	if (tr_ws_attach(c, &up, NULL, srv->o.max_payload) == -1) {
		conn_close(c);
		return;
	}
	tr_ws_close(c, WS_CLOSE_POLICY);
}

static void
ws_request(struct eio_srv *srv, struct eio_path *p, struct conn *c,
    const struct http_request *r, struct eio_sess *s)
{
	const struct http_span	*key;
	const char		*why;
	char			 out[512], hs[256];
	ssize_t			 n;
	size_t			 hl;

	if (ws_handshake_check(r, &why) == -1 ||
	    (key = http_header_get(r, "Sec-WebSocket-Key")) == NULL ||
	    (n = ws_handshake_response(key->p, key->len, out,
	    sizeof(out))) < 0) {
		(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
		return;
	}
	if (s != NULL && (s->tr != EIO_TR_POLL || s->upgrading != UPG_NONE)) {
		ws_refuse(srv, c, s, out, (size_t)n);
		return;
	}
	if (s == NULL && (s = sess_new(srv, p, c, r, EIO_TR_WS)) == NULL) {
		(void)tr_poll_error(c, 500, EIO_E_BAD, "Bad request");
		return;
	}
	if (conn_send_copy(c, out, (size_t)n) == -1) {
		if (s->ws == NULL && s->probe == NULL && s->tr == EIO_TR_WS)
			eio_sess_close(s, "transport error", 0);
		return;
	}
	tr_poll_upgraded(c);
	if (tr_ws_attach(c, &up, s, srv->o.max_payload) == -1) {
		conn_close(c);
		if (s->tr == EIO_TR_WS)
			eio_sess_close(s, "transport error", 0);
		return;
	}
	if (s->tr == EIO_TR_POLL) {
		s->probe = c;
		s->upgrading = UPG_PROBING;
		c->deadline = conn_now(c->cl) + EIO_UPGRADE_TIMEOUT;
		return;
	}
	s->ws = c;
	open_packet(s, 0, hs, sizeof(hs), &hl);
	(void)tr_ws_send_text(c, hs, hl);
	eio_sess_ref(s);
	if (p->h.open != NULL)
		p->h.open(s, p->arg);
	eio_sess_unref(s);
}

/*
 * Split on 0x1e ourselves: eio_payload_split() refuses more than
 * EIO_MAX_PACKETS (64) packets, but engine.io-client sends every buffered
 * packet in one POST (bounded only by maxPayload, checked by tr_poll.c).
 */
static void
poll_post(struct eio_sess *s, struct conn *c, char *body, size_t blen)
{
	char	*sep;
	size_t	 pos = 0, end;
	int	 bad = 0;

	if (blen == 0) {
		(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
		eio_sess_close(s, "parse error", 1);
		return;
	}
	eio_sess_ref(s);
	while (pos <= blen && s->state == ST_OPEN) {
		sep = memchr(body + pos, 0x1e, blen - pos);
		end = sep == NULL ? blen : (size_t)(sep - body);
		if (sess_packet(s, NULL, body + pos, end - pos, 0) == -2) {
			bad = 1;
			break;
		}
		if (sep == NULL)
			break;
		pos = end + 1;
	}
	if (bad)
		(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
	else
		(void)tr_poll_respond(c, 200, "text/html", "ok", 2);
	eio_sess_unref(s);
}

static void
poll_get(struct eio_sess *s, struct conn *c)
{
	if (s->get != NULL) {
		log_debug("eio: sid=%s overlapping GET", s->sid);
		(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
		eio_sess_close(s, "transport error", 1);
		return;
	}
	s->get = c;
	tr_poll_park(c, s);
	if (s->qh != NULL || s->upgrading == UPG_PROBED)
		mark_dirty(s);
}

static void
http_request(void *arg, struct conn *c, const struct http_request *r,
    char *body, size_t blen)
{
	struct eio_srv	*srv = arg;
	struct eio_path	*p = NULL;
	struct eio_sess	*s = NULL;
	char		 tr[16], sid[EIO_MAX_SID + 1], ver[8], hs[256];
	size_t		 i, hl;
	ssize_t		 n;
	int		 ws, upgrade;

	for (i = 0; i < srv->npaths; i++) {
		p = &srv->paths[i];
		if ((r->path.len >= p->len &&
		    memcmp(r->path.p, p->path, p->len) == 0) ||
		    (r->path.len == p->len - 1 &&
		    memcmp(r->path.p, p->path, p->len - 1) == 0))
			break;
	}
	if (i == srv->npaths) {
		(void)tr_poll_respond(c, 404, "text/plain", "Not Found", 9);
		return;
	}
	n = http_query_get(r, "transport", tr, sizeof(tr));
	if (n < 0 || (strcmp(tr, "polling") != 0 &&
	    strcmp(tr, "websocket") != 0)) {
		(void)tr_poll_error(c, 400, EIO_E_TRANSPORT,
		    "Transport unknown");
		return;
	}
	ws = strcmp(tr, "websocket") == 0;
	upgrade = http_header_has_token(r, "Upgrade", "websocket");
	n = http_query_get(r, "sid", sid, sizeof(sid));
	if (n != HTTP_QUERY_ABSENT) {
		if (n < 0 || (s = map_get(srv, sid)) == NULL ||
		    s->path != p || expired(s)) {
			(void)tr_poll_error(c, 400, EIO_E_SID,
			    "Session ID unknown");
			return;
		}
		if ((!ws && s->tr != EIO_TR_POLL) || (ws && !upgrade)) {
			(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
			return;
		}
	} else {
		if (r->method != HTTP_GET) {
			(void)tr_poll_error(c, 400, EIO_E_METHOD,
			    "Bad handshake method");
			return;
		}
		n = http_query_get(r, "EIO", ver, sizeof(ver));
		if (n < 0 || strcmp(ver, "4") != 0) {
			(void)tr_poll_error(c, 400, EIO_E_VERSION,
			    "Unsupported protocol version");
			return;
		}
		if (ws && !upgrade) {
			(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
			return;
		}
	}
	if (ws) {
		ws_request(srv, p, c, r, s);
		return;
	}
	if (s == NULL) {
		if ((s = sess_new(srv, p, c, r, EIO_TR_POLL)) == NULL) {
			(void)tr_poll_error(c, 500, EIO_E_BAD, "Bad request");
			return;
		}
		open_packet(s, 1, hs, sizeof(hs), &hl);
		(void)tr_poll_respond(c, 200, CT_TEXT, hs, hl);
		eio_sess_ref(s);
		if (p->h.open != NULL)
			p->h.open(s, p->arg);
		eio_sess_unref(s);
		return;
	}
	if (r->method == HTTP_GET)
		poll_get(s, c);
	else if (r->method == HTTP_POST)
		poll_post(s, c, body, blen);
	else
		(void)tr_poll_error(c, 400, EIO_E_BAD, "Bad request");
}

static void
http_accept(struct conn *c, void *arg)
{
	struct eio_srv	*srv = arg;

	tr_poll_accept(c, &srv->tr);
}

/* ------------------------------------------------------------------ */
/* Server */

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
	    http_accept, srv)) == NULL)
		goto fail;
	srv->tr.up = &up;
	srv->tr.arg = srv;
	srv->tr.cors_origin = srv->o.cors_origin;
	srv->tr.max_payload = srv->o.max_payload;
	conn_loop_preflush(srv->cl, preflush, srv);
	return srv;
fail:
	free((char *)srv->o.cors_origin);
	free(srv);
	return NULL;
}

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

struct conn_loop *
eio_srv_conns(struct eio_srv *srv)
{
	return srv->cl;
}

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
}

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

void
eio_srv_free(struct eio_srv *srv)
{
	size_t	 i;

	if (srv == NULL)
		return;
	while (srv->all != NULL)
		eio_sess_close(srv->all, "forced close", 0);
	preflush(srv);
	conn_loop_free(srv->cl);
	for (i = 0; i < srv->npaths; i++)
		free(srv->paths[i].path);
	free(srv->tab);
	free((char *)srv->o.cors_origin);
	free(srv);
}
