/*
 * sio_socket.c: Socket.IO sockets (server layer, part of the Socket.IO
 * server with sio_server.c and sio_input.c): the socket API of
 * sio_server.h (accept, refuse, emit, ack, disconnect, references), the
 * encoding of outgoing packets into Engine.IO messages, and fan-out
 * buffers encoded once for many sockets.  Spec: Socket.IO protocol v5.
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
void
sio_req_done(struct sio_socket *s, int tag, enum sio_req_end how, double secs)
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

struct sio_socket *
sio_sock_find(struct sio_conn *sc, const char *nsp)
{
	struct sio_socket	*s;

	for (s = sc->socks; s != NULL; s = s->next)
		if (strcmp(s->nsp, nsp) == 0)
			return s;
	return NULL;
}

/* Unlink, mark closed, notify if it was connected, drop the list's ref. */
void
sio_sock_close(struct sio_socket *s, const char *reason)
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
		sio_req_done(s, pa->tag, SIO_REQ_CLOSED, -1);
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

void
sio_conn_unref(struct sio_conn *sc)
{
	if (--sc->refs > 0)
		return;
	free(sc);
}

void
sio_pend_clear(struct sio_conn *sc)
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
	    eio_sess_id(s->es), a.name, code != NULL ? code : "-",
	    tr_name(s->es), eio_sess_addr(s->es));
	rc = sock_send(s, &a);
	json_decref(data);
	sio_sock_close(s, "server namespace disconnect");
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
		sio_req_done(s, pa->tag, how, ev_now(s->srv->loop) - pa->t0);
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
	sio_sock_close(s, "server namespace disconnect");
	maybe_close(sc, "server namespace disconnect");
	sio_conn_unref(sc);
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
