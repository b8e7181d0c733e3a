/*
 * eio_http.c: the HTTP requests of Engine.IO (server layer, part of the
 * session module with eio_server.c and eio_send.c), as tr_poll.c reports
 * them: the handshake (GET without sid), polling GET and POST, and
 * WebSocket upgrades, new or naming a polling session (the probe).
 * Error answers match the reference server: 400 with
 * {"code":N,"message":"..."} (0 Transport unknown, 1 Session ID unknown,
 * 2 Bad handshake method, 3 Bad request, 5 Unsupported protocol version).
 * A WebSocket naming a session that has or is probing one gets 101, then
 * a close frame (1008), as the reference server does after an upgrade;
 * the session goes on.
 * Spec: Engine.IO protocol v4, "Transports", "Handshake", "Upgrade".
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

#include "lib/log.h"
#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"
#include "realtime/codec/eio.h"
#include "realtime/server/conn.h"
#include "realtime/server/tr.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/eio_private.h"

/* ------------------------------------------------------------------ */
/* HTTP requests */

/*
 * The open packet of "s" (spec, "Handshake"): sid, upgrades (["websocket"]
 * when "upgrade", i.e. to a polling client), pingInterval, pingTimeout,
 * maxPayload.  *len is 0 if it did not fit.
 */
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
	if (tr_ws_attach(c, srv->tr.up, NULL, srv->o.max_payload) == -1) {
		conn_close(c);
		return;
	}
	tr_ws_close(c, WS_CLOSE_POLICY);
}

/*
 * A WebSocket upgrade request.  Without a sid it opens a session over
 * WebSocket at once (open packet as the first message).  With the sid of
 * a polling session it becomes that session's probe (UPG_PROBING; the
 * client then sends "2probe", see probe_packet() in eio_server.c) and
 * must finish within EIO_UPGRADE_TIMEOUT.  Naming a session that has or
 * is probing a WebSocket gets ws_refuse().
 */
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
	if (s == NULL && (s = eio_sess_new(srv, p, c, r, EIO_TR_WS)) == NULL) {
		(void)tr_poll_error(c, 500, EIO_E_BAD, "Bad request");
		return;
	}
	if (conn_send_copy(c, out, (size_t)n) == -1) {
		if (s->ws == NULL && s->probe == NULL && s->tr == EIO_TR_WS)
			eio_sess_close(s, "transport error", 0);
		return;
	}
	tr_poll_upgraded(c);
	if (tr_ws_attach(c, srv->tr.up, s, srv->o.max_payload) == -1) {
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
		if (eio_sess_packet(s, NULL, body + pos, end - pos, 0) == -2) {
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

/*
 * A polling GET: parked until there is something to send (answered by
 * eio_preflush at the end of the loop iteration, or at once if the queue
 * is not empty).  Two GETs at once break the protocol and close the
 * session, as the reference server does.
 */
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
		eio_mark_dirty(s);
}

/*
 * tr_poll.c: a complete HTTP request for the session layer (OPTIONS was
 * answered there).  Find the path, check transport, sid (an unknown or
 * expired sid: 400 "Session ID unknown"), method and protocol version as
 * the reference server does, then: a WebSocket upgrade, a new polling
 * session (open packet as the answer), a GET to park, or a POST of
 * packets.  A session whose ping timed out in this same loop turn counts
 * as expired (eio_expired), so a late request cannot revive it.
 */
void
eio_http_request(void *arg, struct conn *c, const struct http_request *r,
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
		if (n < 0 || (s = eio_map_get(srv, sid)) == NULL ||
		    s->path != p || eio_expired(s)) {
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
		if ((s = eio_sess_new(srv, p, c, r, EIO_TR_POLL)) == NULL) {
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

/* conn.c: a new connection starts as HTTP (tr_poll.c). */
void
eio_http_accept(struct conn *c, void *arg)
{
	struct eio_srv	*srv = arg;

	tr_poll_accept(c, &srv->tr);
}
