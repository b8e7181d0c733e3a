/*
 * sio_input.c: what the Socket.IO server receives (server layer, part of
 * the Socket.IO server with sio_server.c and sio_socket.c): the
 * Engine.IO handlers (a session opened, a message, closed, upgraded),
 * packet decoding with BINARY_* packets held until their attachments
 * arrived, connectTimeout, CONNECT/DISCONNECT of namespaces, and events
 * handed to the layer above (on_event) with request accounting.  A
 * malformed packet closes the Engine.IO session.
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
	if ((s = sio_sock_find(sc, nsp)) == NULL || s->state != SOCK_CONNECTED)
		return;		/* not (yet) connected: dropped */
	if (pk->type == SIO_ACK || pk->type == SIO_BINARY_ACK)
		return;		/* the server asks for no acks */
	if ((name = sio_packet_event(pk)) == NULL)
		return;
	tag = srv->o.req_tag != NULL ? srv->o.req_tag(name, srv->o.arg) : 0;
	if (srv->draining) {
		/* Shutting down: new requests are for the next node. */
		sio_req_done(s, tag, SIO_REQ_DRAINED, -1);
		return;
	}
	if (pk->id < 0)
		sio_req_done(s, tag, SIO_REQ_NOACK, -1);
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
		if (sio_sock_find(sc, nsp) != NULL)
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
		if ((s = sio_sock_find(sc, nsp)) != NULL) {
			sio_sock_close(s, "client namespace disconnect");
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
	sio_pend_clear(sc);
	return 0;
fail:
	if (!sc->closed) {
		log_debug("sio: eio=%s bad attachment: %s",
		    eio_sess_id(sc->es), why);
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
	sio_conn_unref(sc);
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
		sio_sock_close(sc->socks, reason);
	sio_pend_clear(sc);
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		srv->conns = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
	sio_conn_unref(sc);
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

/* The Engine.IO handlers of a Socket.IO path (sio_server_new). */
const struct eio_handler sio_handler = { h_open, h_message, h_close,
	h_upgraded };

void
sio_raw_message(struct eio_sess *es, char *p, size_t len, int binary,
    void *arg)
{
	struct sio_server	*srv = arg;

	if (srv->raw_cb != NULL)
		srv->raw_cb((struct sio_eio *)es, p, len, binary,
		    srv->raw_arg);
}
