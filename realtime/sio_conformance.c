/*
 * sio_conformance.c: realtime/sio-conformance, the server the official
 * socket.io-protocol and engine.io-protocol test suites (and our e2e
 * tests) run against.  Socket.IO at /socket.io/: on connection to "/" or
 * "/custom" it emits "auth" with the handshake auth payload ({} when
 * none), 10 ms after the CONNECT answer (see AUTH_DELAY); "message" is
 * echoed as "message-back" (attachments included); "message-with-ack"
 * is acked with its arguments; other namespaces get CONNECT_ERROR
 * {"message":"Invalid namespace"}.  Plain Engine.IO at /engine.io/:
 * every message is sent back unchanged.  Settings:
 * pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000,
 * connectTimeout 1000 ms, CORS origin "*".
 * Usage: sio-conformance --port N [--node ID] [--ping-interval MS]
 *	[--ping-timeout MS] [--connect-timeout MS]
 * (the timing flags let load tests use gentler heartbeats).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "lib/log.h"
#include "realtime/server/sio_server.h"

/*
 * The "auth" event goes out AUTH_DELAY after the CONNECT answer, not in
 * the same write: the official test suite reads each with a listener it
 * adds only after the previous message was handled, and its ws client
 * emits every frame of one TCP read at once, so an "auth" that arrives
 * with the CONNECT answer is lost (the reference server, too, writes the
 * next packet only after the previous write has completed).
 */
#define AUTH_DELAY	0.01	/* seconds */

struct	pending_auth {
	ev_timer		 t;
	struct sio_socket	*s;	/* referenced until the timer fires */
	json_t			*args;
	struct pending_auth	*next, **prevp;
};

static struct pending_auth	*pending;

static void
pending_free(struct ev_loop *loop, struct pending_auth *pa)
{
	ev_timer_stop(loop, &pa->t);
	if ((*pa->prevp = pa->next) != NULL)
		pa->next->prevp = pa->prevp;
	sio_socket_unref(pa->s);
	json_decref(pa->args);
	free(pa);
}

static void
auth_due(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pending_auth	*pa = w->data;

	(void)revents;
	if (sio_socket_is_connected(pa->s))
		(void)sio_emit(pa->s, "auth", pa->args);
	pending_free(loop, pa);
}

static void
on_connect(struct sio_socket *s, const char *nsp, json_t *auth, void *arg)
{
	struct pending_auth	*pa;
	json_t			*err;

	if (strcmp(nsp, "/") != 0 && strcmp(nsp, "/custom") != 0) {
		err = json_pack("{s:s}", "message", "Invalid namespace");
		(void)sio_refuse(s, err);
		return;
	}
	if (sio_accept(s) == -1)
		return;
	if ((pa = calloc(1, sizeof(*pa))) == NULL)
		return;
	if ((pa->args = auth != NULL ? json_pack("[O]", auth) :
	    json_pack("[{}]")) == NULL) {
		free(pa);
		return;
	}
	pa->s = s;
	sio_socket_ref(s);
	if ((pa->next = pending) != NULL)
		pending->prevp = &pa->next;
	pending = pa;
	pa->prevp = &pending;
	ev_timer_init(&pa->t, auth_due, AUTH_DELAY, 0.);
	pa->t.data = pa;
	ev_timer_start(arg, &pa->t);
}

static void
on_event(struct sio_socket *s, const char *name, json_t *args, int64_t ackid,
    const struct sio_bin *bins, size_t nbins, void *arg)
{
	(void)bins;
	(void)nbins;
	(void)arg;
	if (strcmp(name, "message") == 0)
		(void)sio_emit(s, "message-back", args);
	else if (strcmp(name, "message-with-ack") == 0 && ackid >= 0)
		(void)sio_ack(s, ackid, args);
}

static void
on_raw(struct sio_eio *e, const void *p, size_t len, int binary, void *arg)
{
	(void)arg;
	(void)sio_eio_send(e, p, len, binary);
}

static struct sio_server	*srv;

static void
down(void *arg)
{
	ev_break(arg, EVBREAK_ALL);
}

/* SIGTERM/SIGINT: graceful shutdown (2 s grace), a second signal cuts. */
static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	static int	 n;

	(void)revents;
	(void)w;
	if (n++ > 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("shutting down");
	sio_server_shutdown(srv, 2000, down, loop);
}

int
main(int argc, char *argv[])
{
	struct ev_loop		*loop;
	struct sio_opts		 o;
	ev_signal		 sigint, sigterm;
	long			 port = -1, node = 0, v;
	long			 pi = 300, pt = 200, ct = 1000;
	char			*ep;
	int			 i, rc = 1;

	log_init("sio-conformance");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			port = strtol(argv[++i], &ep, 10);
			if (*ep != '\0' || port < 0 || port > 65535)
				port = -1;
		} else if (strcmp(argv[i], "--node") == 0 && i + 1 < argc) {
			node = strtol(argv[++i], &ep, 10);
			if (*ep != '\0' || node < 0 || node > 255)
				node = -1;
		} else if ((strcmp(argv[i], "--ping-interval") == 0 ||
		    strcmp(argv[i], "--ping-timeout") == 0 ||
		    strcmp(argv[i], "--connect-timeout") == 0) &&
		    i + 1 < argc) {
			v = strtol(argv[i + 1], &ep, 10);
			if (*ep != '\0' || v < 1 || v > 3600000)
				port = -1, i = argc;
			else if (argv[i][2] == 'c')
				ct = v;
			else if (argv[i][7] == 'i')
				pi = v;
			else
				pt = v;
			i++;
		} else
			port = -1, i = argc;
	}
	if (port < 0 || node < 0) {
		fprintf(stderr, "usage: sio-conformance --port N [--node ID] "
		    "[--ping-interval MS] [--ping-timeout MS] "
		    "[--connect-timeout MS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(EVFLAG_AUTO);
	memset(&o, 0, sizeof(o));
	o.path = "/socket.io/";
	o.node_id = (unsigned int)node;
	o.ping_interval = (unsigned int)pi;
	o.ping_timeout = (unsigned int)pt;
	o.max_payload = 1000000;
	o.connect_timeout = (unsigned int)ct;
	o.cors_origin = "*";
	o.on_connect = on_connect;
	o.arg = loop;	/* on_connect's timers run on it */
	o.on_event = on_event;
	if ((srv = sio_server_new(loop, &o)) == NULL)
		goto out;
	if (sio_server_add_raw_eio(srv, "/engine.io/", on_raw, NULL) == -1)
		goto out;
	if (sio_server_listen(srv, "127.0.0.1", (int)port) == -1)
		goto out;
	log_info("listening on 127.0.0.1:%d", sio_server_port(srv));
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(loop, &sigint);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(loop, &sigterm);
	ev_run(loop, 0);
	rc = 0;
out:
	while (pending != NULL)
		pending_free(loop, pending);
	sio_server_free(srv);
	return rc;
}
