/*
 * sio_server.c: the Socket.IO v5 layer of the realtime server and its
 * public API (sio_server.h).  Sits on eio_server.c: one struct sio_conn
 * per Engine.IO session, one struct sio_socket per namespace joined over
 * it.  Decodes packets with realtime/codec/sio.h, holds BINARY_* packets until
 * their attachments arrived, enforces connectTimeout, and closes the
 * Engine.IO session on any malformed packet.  The chat layer answers
 * CONNECTs asynchronously (sio_accept/sio_refuse) and keeps sockets alive
 * across callbacks with sio_socket_ref/unref.
 * Spec: Socket.IO protocol v5.
 */
#include "config.h"

#include <sys/resource.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "log.h"
#include "realtime/codec/sio.h"
#include "realtime/server/conn.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/sio_server.h"

#define ENC_STACK	4096
#define MAX_NSPS	32	/* namespaces (pending or joined) per connection */
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
	struct sio_packet	*pend;		/* BINARY_* waiting for attachments */
	char			*pend_nsp;	/* its namespace (owned) */
	struct sio_span		*att;		/* copies of attachments so far */
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

/*
 * Log lines.  Connection events (connect accepted/refused, disconnect,
 * upgrade) are logged at info: a few per client lifetime.  Requests are
 * logged at debug only: at 25,000 messages/s a line each would cost more
 * than the request, and log_debug() returns at once when LOG_LEVEL is
 * not debug (the callers test log_enabled() first so not even the
 * arguments are computed).  Never a token, a password or message content:
 * event names, ids, statuses and times only.
 */
static const char *
tr_name(const struct eio_sess *es)
{
	return eio_sess_transport(es) == EIO_TR_WS ? "websocket" : "polling";
}

/* ------------------------------------------------------------------ */
/* Sending */

enum	enc_kind { ENC_EVENT, ENC_ACK, ENC_CONNECT, ENC_CONNECT_ERROR,
	ENC_DISCONNECT };

struct	enc_args {
	enum enc_kind	 kind;
	const char	*nsp;
	int64_t		 id;
	const char	*name;		/* event name, or sid, or message */
	const json_t	*data;
};

static ssize_t
enc(char *out, size_t sz, const struct enc_args *a, struct sio_span *att,
    size_t *natt)
{
	*natt = 0;
	switch (a->kind) {
	case ENC_EVENT:
		return sio_encode_event(out, sz, a->nsp, a->id, a->name,
		    a->data, att, SIO_MAX_ATTACHMENTS, natt);
	case ENC_ACK:
		return sio_encode_ack(out, sz, a->nsp, a->id, a->data, att,
		    SIO_MAX_ATTACHMENTS, natt);
	case ENC_CONNECT:
		return sio_encode_connect(out, sz, a->nsp, a->name);
	case ENC_CONNECT_ERROR:
		return sio_encode_connect_error(out, sz, a->nsp, a->name,
		    a->data);
	case ENC_DISCONNECT:
		return sio_encode_disconnect(out, sz, a->nsp);
	}
	return -1;
}

/* Encode into a new buffer with EIO_MSG_RESERVE spare bytes in front. */
static struct conn_buf *
enc_buf(const struct enc_args *a, struct sio_span *att, size_t *natt)
{
	char		 stack[ENC_STACK];
	struct conn_buf	*b;
	ssize_t		 n, n2;

	if ((n = enc(stack, sizeof(stack), a, att, natt)) < 0)
		return NULL;
	if ((b = conn_buf_new(EIO_MSG_RESERVE + (size_t)n + 1)) == NULL)
		return NULL;
	if ((size_t)n < sizeof(stack))
		memcpy(b->data + EIO_MSG_RESERVE, stack, (size_t)n);
	else {
		n2 = enc(b->data + EIO_MSG_RESERVE, (size_t)n + 1, a, att,
		    natt);
		if (n2 != n) {
			conn_buf_unref(b);
			return NULL;
		}
	}
	b->len = (uint32_t)(EIO_MSG_RESERVE + (size_t)n);
	return b;
}

static int
sock_send(struct sio_socket *s, const struct enc_args *a)
{
	struct sio_span	 att[SIO_MAX_ATTACHMENTS];
	struct conn_buf	*b;
	struct eio_msg	 m;
	size_t		 natt = 0, i;
	int		 rc;

	if (s->state == SOCK_CLOSED || s->sc == NULL)
		return -1;
	if ((b = enc_buf(a, att, &natt)) == NULL) {
		log_warnx("sio: sid=%s cannot encode packet", s->id);
		return -1;
	}
	eio_msg_seal(&m, b, 0);
	rc = eio_sess_send(s->es, &m);
	conn_buf_unref(b);
	for (i = 0; rc == 0 && i < natt; i++) {
		if (eio_msg_new(&m, att[i].p, att[i].len, 1) == -1)
			return -1;
		rc = eio_sess_send(s->es, &m);
		conn_buf_unref(m.b);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Sockets */

void
sio_socket_ref(struct sio_socket *s)
{
	s->refs++;
}

void
sio_socket_unref(struct sio_socket *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	eio_sess_unref(s->es);
	free(s);
}

int
sio_socket_is_open(const struct sio_socket *s)
{
	return s->state != SOCK_CLOSED;
}

int
sio_socket_is_connected(const struct sio_socket *s)
{
	return s->state == SOCK_CONNECTED;
}

const char *
sio_socket_id(const struct sio_socket *s)
{
	return s->id;
}

const char *
sio_socket_eio_id(const struct sio_socket *s)
{
	return eio_sess_id(s->es);
}

const char *
sio_socket_nsp(const struct sio_socket *s)
{
	return s->nsp;
}

const char *
sio_socket_query(const struct sio_socket *s)
{
	return eio_sess_query(s->es) != NULL ? eio_sess_query(s->es) : "";
}

const char *
sio_socket_addr(const struct sio_socket *s)
{
	return eio_sess_addr(s->es);
}

void
sio_socket_set_uid(struct sio_socket *s, long long uid)
{
	s->uid = uid;
}

long long
sio_socket_uid(const struct sio_socket *s)
{
	return s->uid;
}

/* A request of "s" ended: tell the layer above, if it asked. */
static void
req_done(struct sio_socket *s, int tag, enum sio_req_end how, double secs)
{
	struct sio_server	*srv = s->srv;

	if (srv->o.req_done != NULL)
		srv->o.req_done(s, tag, how, secs, srv->o.arg);
}

void
sio_socket_set_data(struct sio_socket *s, void *p)
{
	s->data = p;
}

void *
sio_socket_data(const struct sio_socket *s)
{
	return s->data;
}

static struct sio_socket *
sock_find(struct sio_conn *sc, const char *nsp)
{
	struct sio_socket	*s;

	for (s = sc->socks; s != NULL; s = s->next)
		if (strcmp(s->nsp, nsp) == 0)
			return s;
	return NULL;
}

/* Unlink, mark closed, notify if it was connected, drop the list's ref. */
static void
sock_close(struct sio_socket *s, const char *reason)
{
	struct sio_conn		*sc = s->sc;
	struct sio_server	*srv = s->srv;
	struct sio_socket	**pp;
	struct sio_pack		*pa;
	int			 was = s->state;

	if (s->state == SOCK_CLOSED)
		return;
	s->state = SOCK_CLOSED;
	if (sc != NULL)
		for (pp = &sc->socks; *pp != NULL; pp = &(*pp)->next)
			if (*pp == s) {
				*pp = s->next;
				sc->nsocks--;
				break;
			}
	s->next = NULL;
	s->sc = NULL;
	while ((pa = s->acks) != NULL) {
		s->acks = pa->next;
		srv->npending--;
		req_done(s, pa->tag, SIO_REQ_CLOSED, -1);
		free(pa);
	}
	s->nacks = 0;
	if (was == SOCK_CONNECTED) {
		srv->disconnects++;
		log_info("conn event=disconnect sid=%s uid=%lld reason=\"%s\" "
		    "transport=%s secs=%.1f", s->id, s->uid, reason,
		    tr_name(s->es), ev_now(srv->loop) - s->t0);
		srv->nsockets--;
		if (srv->o.on_disconnect != NULL)
			srv->o.on_disconnect(s, reason, srv->o.arg);
	}
	sio_socket_unref(s);
}

static void
conn_unref(struct sio_conn *sc)
{
	if (--sc->refs > 0)
		return;
	free(sc);
}

static void
pend_clear(struct sio_conn *sc)
{
	unsigned int	 i;

	if (sc->pend != NULL) {
		sio_packet_clear(sc->pend);
		free(sc->pend);
		sc->pend = NULL;
	}
	free(sc->pend_nsp);
	sc->pend_nsp = NULL;
	if (sc->att != NULL) {
		for (i = 0; i < sc->natt; i++)
			free((void *)sc->att[i].p);
		free(sc->att);
		sc->att = NULL;
	}
	sc->natt = 0;
	sc->attbytes = 0;
}

/* Close the Engine.IO session when no namespace is left. */
static void
maybe_close(struct sio_conn *sc, const char *reason)
{
	if (!sc->closed && sc->socks == NULL)
		eio_sess_close(sc->es, reason, 1);
}

int
sio_accept(struct sio_socket *s)
{
	struct enc_args	 a = { ENC_CONNECT, s->nsp, -1, s->id, NULL };
	struct sio_conn	*sc = s->sc;

	if (s->state != SOCK_PENDING || sc == NULL)
		return -1;
	s->state = SOCK_CONNECTED;
	s->srv->nsockets++;
	s->t0 = ev_now(s->srv->loop);
	ev_timer_stop(s->srv->loop, &sc->ct);
	s->srv->connects_accepted++;
	log_info("conn event=connect result=accepted sid=%s eio=%s uid=%lld "
	    "transport=%s addr=%s", s->id, eio_sess_id(s->es), s->uid,
	    tr_name(s->es), eio_sess_addr(s->es));
	return sock_send(s, &a);
}

int
sio_refuse(struct sio_socket *s, json_t *data)
{
	struct enc_args	 a = { ENC_CONNECT_ERROR, s->nsp, -1, "Refused", NULL };
	json_t		*m;
	const char	*code;
	int		 rc;

	if (s->state != SOCK_PENDING || s->sc == NULL) {
		json_decref(data);
		return -1;
	}
	if (data != NULL) {
		if ((m = json_object_get(data, "message")) != NULL &&
		    json_is_string(m))
			a.name = json_string_value(m);
		a.data = json_object_get(data, "data");
	}
	code = json_string_value(json_object_get(a.data, "code"));
	s->srv->connects_refused++;
	log_info("conn event=connect result=refused sid=%s eio=%s "
	    "reason=\"%.64s\" code=%.32s transport=%s addr=%s", s->id,
	    eio_sess_id(s->es), a.name, code != NULL ? code : "-", tr_name(s->es),
	    eio_sess_addr(s->es));
	rc = sock_send(s, &a);
	json_decref(data);
	sock_close(s, "server namespace disconnect");
	return rc;
}

int
sio_emit(struct sio_socket *s, const char *event, json_t *args)
{
	struct enc_args	 a = { ENC_EVENT, s->nsp, -1, event, args };

	if (s->state != SOCK_CONNECTED)
		return -1;
	return sock_send(s, &a);
}

int
sio_ack(struct sio_socket *s, int64_t ackid, json_t *args)
{
	struct enc_args	 a = { ENC_ACK, s->nsp, ackid, NULL, args };
	struct sio_pack	**pp, *pa;
	json_t		*first;
	enum sio_req_end how;

	if (s->state != SOCK_CONNECTED || ackid < 0)
		return -1;
	for (pp = &s->acks; (pa = *pp) != NULL; pp = &pa->next)
		if (pa->id == ackid) {
			*pp = pa->next;
			s->nacks--;
			s->srv->npending--;
			break;
		}
	if (pa != NULL) {
		first = json_array_get(args, 0);
		how = json_is_object(first) &&
		    json_object_get(first, "error") != NULL ?
		    SIO_REQ_ERROR : SIO_REQ_OK;
		req_done(s, pa->tag, how, ev_now(s->srv->loop) - pa->t0);
		free(pa);
	}
	return sock_send(s, &a);
}

void
sio_disconnect(struct sio_socket *s)
{
	struct enc_args	 a = { ENC_DISCONNECT, s->nsp, -1, NULL, NULL };
	struct sio_conn	*sc = s->sc;

	if (s->state == SOCK_CLOSED || sc == NULL)
		return;
	(void)sock_send(s, &a);
	sc->refs++;
	sock_close(s, "server namespace disconnect");
	maybe_close(sc, "server namespace disconnect");
	conn_unref(sc);
}

struct sio_buf *
sio_buf_event(const char *nsp, const char *event, json_t *args)
{
	struct enc_args	 a = { ENC_EVENT, nsp, -1, event, args };
	struct sio_buf	*sb;
	struct conn_buf	*b;
	size_t		 natt = 0;

	if (args != NULL && sio_has_binary(args))
		return NULL;
	if ((sb = calloc(1, sizeof(*sb))) == NULL)
		return NULL;
	if ((b = enc_buf(&a, NULL, &natt)) == NULL) {
		free(sb);
		return NULL;
	}
	eio_msg_seal(&sb->m, b, 0);
	sb->refs = 1;
	return sb;
}

void
sio_buf_ref(struct sio_buf *sb)
{
	sb->refs++;
}

void
sio_buf_unref(struct sio_buf *sb)
{
	if (sb == NULL || --sb->refs > 0)
		return;
	conn_buf_unref(sb->m.b);
	free(sb);
}

int
sio_send_buf(struct sio_socket *s, struct sio_buf *sb)
{
	if (s->state != SOCK_CONNECTED || s->sc == NULL)
		return -1;
	return eio_sess_send(s->es, &sb->m);
}

/* ------------------------------------------------------------------ */
/* Incoming packets */

static void
dispatch_event(struct sio_conn *sc, struct sio_packet *pk,
    const struct sio_bin *bins, size_t nbins)
{
	struct sio_server	*srv = sc->srv;
	struct sio_socket	*s;
	struct sio_pack		*pa;
	char			 nsp[SIO_MAX_NSP + 1];
	json_t			*args = NULL;
	const char		*name;
	int			 tag;
	size_t			 i;

	if (pk->nsp_len > SIO_MAX_NSP)
		return;
	memcpy(nsp, pk->nsp, pk->nsp_len);
	nsp[pk->nsp_len] = '\0';
	if ((s = sock_find(sc, nsp)) == NULL || s->state != SOCK_CONNECTED)
		return;		/* not (yet) connected: dropped */
	if (pk->type == SIO_ACK || pk->type == SIO_BINARY_ACK)
		return;		/* the server asks for no acks */
	if ((name = sio_packet_event(pk)) == NULL)
		return;
	tag = srv->o.req_tag != NULL ? srv->o.req_tag(name, srv->o.arg) : 0;
	if (srv->draining) {
		/* Shutting down: new requests are for the next node. */
		req_done(s, tag, SIO_REQ_DRAINED, -1);
		return;
	}
	if (pk->id < 0)
		req_done(s, tag, SIO_REQ_NOACK, -1);
	else if (s->nacks < ACKS_MAX &&
	    (pa = malloc(sizeof(*pa))) != NULL) {
		pa->id = pk->id;
		pa->t0 = ev_now(srv->loop);
		pa->tag = tag;
		pa->next = s->acks;
		s->acks = pa;
		s->nacks++;
		srv->npending++;
	}
	if ((args = json_array()) == NULL)
		return;
	for (i = 1; i < json_array_size(pk->data); i++)
		if (json_array_append(args, json_array_get(pk->data, i)) == -1)
			goto out;
	if (srv->o.on_event != NULL) {
		sio_socket_ref(s);
		srv->o.on_event(s, name, args, pk->id, bins, nbins,
		    srv->o.arg);
		sio_socket_unref(s);
	}
out:
	json_decref(args);
}

static int
on_text(struct sio_conn *sc, char *p, size_t len)
{
	struct sio_server	*srv = sc->srv;
	struct sio_packet	 pk;
	struct sio_socket	*s;
	char			 nsp[SIO_MAX_NSP + 1];
	const char		*why = NULL;
	int			 rc = -1;

	memset(&pk, 0, sizeof(pk));
	if (sc->pend != NULL) {
		why = "text packet while waiting for attachments";
		goto out;
	}
	if (sio_packet_decode(&pk, p, len, &why) == -1)
		goto out;
	if (pk.nsp_len > SIO_MAX_NSP) {
		why = "namespace too long";
		goto out;
	}
	memcpy(nsp, pk.nsp, pk.nsp_len);
	nsp[pk.nsp_len] = '\0';
	switch (pk.type) {
	case SIO_CONNECT:
		if (sock_find(sc, nsp) != NULL)
			break;		/* already there: ignored */
		if (srv->draining)
			break;		/* shutting down: for the next node */
		if (sc->nsocks >= MAX_NSPS) {
			why = "too many namespaces";
			goto out;
		}
		if ((s = calloc(1, sizeof(*s) + pk.nsp_len + 1)) == NULL)
			goto out;
		memcpy(s->nsp, nsp, pk.nsp_len + 1);
		s->refs = 1;
		s->state = SOCK_PENDING;
		s->sc = sc;
		s->es = sc->es;
		eio_sess_ref(s->es);
		s->srv = srv;
		eio_srv_make_id(srv->eio, s->id, EIO_SID_LEN);
		s->next = sc->socks;
		sc->socks = s;
		sc->nsocks++;
		if (srv->o.on_connect != NULL) {
			sio_socket_ref(s);
			srv->o.on_connect(s, nsp, pk.data, srv->o.arg);
			sio_socket_unref(s);
		} else
			(void)sio_accept(s);
		break;
	case SIO_DISCONNECT:
		/*
		 * The Engine.IO connection stays open, as with the reference
		 * server (the client may CONNECT again); with no namespace
		 * left, connectTimeout runs again.
		 */
		if ((s = sock_find(sc, nsp)) != NULL) {
			sock_close(s, "client namespace disconnect");
			if (sc->socks == NULL && !sc->closed) {
				ev_timer_stop(srv->loop, &sc->ct);
				ev_timer_set(&sc->ct,
				    srv->o.connect_timeout / 1000., 0.);
				ev_timer_start(srv->loop, &sc->ct);
			}
		}
		break;
	case SIO_EVENT:
	case SIO_ACK:
		dispatch_event(sc, &pk, NULL, 0);
		break;
	case SIO_BINARY_EVENT:
	case SIO_BINARY_ACK:
		if ((sc->att = calloc(pk.attachments,
		    sizeof(*sc->att))) == NULL)
			goto out;
		if ((sc->pend = malloc(sizeof(pk))) == NULL) {
			free(sc->att);
			sc->att = NULL;
			goto out;
		}
		*sc->pend = pk;
		memset(&pk, 0, sizeof(pk));
		/* nsp may point into the input: keep a copy. */
		if ((sc->pend_nsp = strdup(nsp)) == NULL) {
			sc->pend->nsp = "/";
			sc->pend->nsp_len = 1;
			goto out;
		}
		sc->pend->nsp = sc->pend_nsp;
		sc->pend->nsp_len = strlen(nsp);
		break;
	default:
		why = "unexpected packet type";
		goto out;
	}
	rc = 0;
out:
	if (rc == -1 && !sc->closed) {
		log_debug("sio: eio=%s bad packet: %s", eio_sess_id(sc->es),
		    why ? why : "out of memory");
		eio_sess_close(sc->es, "parse error", 1);
	}
	if (pk.data != NULL)
		sio_packet_clear(&pk);
	return rc;
}

static int
on_binary(struct sio_conn *sc, const char *p, size_t len)
{
	struct sio_bin	 bins[SIO_MAX_ATTACHMENTS];
	const char	*why = "binary message without a packet";
	char		*copy;
	unsigned int	 i;

	if (sc->pend == NULL)
		goto fail;
	why = "attachments too large";
	if (len > sc->srv->o.max_payload - sc->attbytes)
		goto fail;
	why = "out of memory";
	if ((copy = malloc(len ? len : 1)) == NULL)
		goto fail;
	memcpy(copy, p, len);
	sc->att[sc->natt].p = copy;
	sc->att[sc->natt].len = len;
	sc->natt++;
	sc->attbytes += len;
	if (sc->natt < sc->pend->attachments)
		return 0;
	if (sio_packet_attach(sc->pend, sc->att, sc->natt, &why) == -1)
		goto fail;
	for (i = 0; i < sc->natt; i++) {
		bins[i].p = sc->att[i].p;
		bins[i].len = sc->att[i].len;
	}
	dispatch_event(sc, sc->pend, bins, sc->natt);
	pend_clear(sc);
	return 0;
fail:
	if (!sc->closed) {
		log_debug("sio: eio=%s bad attachment: %s", eio_sess_id(sc->es), why);
		eio_sess_close(sc->es, "parse error", 1);
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Engine.IO handlers */

static void
ct_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sio_conn		*sc = w->data;
	struct sio_socket	*s;

	(void)loop;
	(void)revents;
	for (s = sc->socks; s != NULL; s = s->next)
		if (s->state == SOCK_CONNECTED)
			return;
	log_debug("sio: eio=%s no CONNECT in time", eio_sess_id(sc->es));
	eio_sess_close(sc->es, "connect timeout", 1);
}

static void
h_open(struct eio_sess *es, void *arg)
{
	struct sio_server	*srv = arg;
	struct sio_conn		*sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		eio_sess_close(es, "transport error", 0);
		return;
	}
	sc->refs = 1;
	sc->srv = srv;
	sc->es = es;
	eio_sess_set_upper(es, sc);
	ev_timer_init(&sc->ct, ct_cb, srv->o.connect_timeout / 1000., 0.);
	sc->ct.data = sc;
	ev_timer_start(srv->loop, &sc->ct);
	sc->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = sc;
	srv->conns = sc;
}

static void
h_message(struct eio_sess *es, char *p, size_t len, int binary, void *arg)
{
	struct sio_conn	*sc = eio_sess_upper(es);

	(void)arg;
	if (sc == NULL || sc->closed)
		return;
	sc->refs++;
	if (binary)
		(void)on_binary(sc, p, len);
	else
		(void)on_text(sc, p, len);
	conn_unref(sc);
}

static void
h_close(struct eio_sess *es, const char *reason, void *arg)
{
	struct sio_server	*srv = arg;
	struct sio_conn		*sc = eio_sess_upper(es);

	if (sc == NULL)
		return;
	eio_sess_set_upper(es, NULL);
	sc->closed = 1;
	ev_timer_stop(srv->loop, &sc->ct);
	while (sc->socks != NULL)
		sock_close(sc->socks, reason);
	pend_clear(sc);
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		srv->conns = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
	conn_unref(sc);
}

static void
h_upgraded(struct eio_sess *es, void *arg)
{
	struct sio_conn		*sc = eio_sess_upper(es);
	struct sio_socket	*s;

	(void)arg;
	if (sc == NULL)
		return;
	for (s = sc->socks; s != NULL; s = s->next)
		log_info("conn event=upgrade sid=%s eio=%s uid=%lld "
		    "transport=websocket", s->id, eio_sess_id(es), s->uid);
}

static const struct eio_handler sio_handler = { h_open, h_message, h_close,
	h_upgraded };

static void
raw_message(struct eio_sess *es, char *p, size_t len, int binary, void *arg)
{
	struct sio_server	*srv = arg;

	if (srv->raw_cb != NULL)
		srv->raw_cb((struct sio_eio *)es, p, len, binary,
		    srv->raw_arg);
}

static const struct eio_handler raw_handler = { NULL, raw_message, NULL,
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
