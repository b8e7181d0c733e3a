/*
 * sio-echo.c: t/bench/sio-echo, the echo server of sio-conformance
 * ("message" -> "message-back", "auth" on connect) on our Socket.IO
 * server layer, with Node's default ping settings (pingInterval 25 s,
 * pingTimeout 20 s) or any given.  sio-conformance pings every 300 ms
 * (what the official test suites want), which at 20,000 idle connections
 * is 66,000 pings/s: fine for echo, wrong for measuring idle memory.
 * Built by t/bench/local.mk (links the realtime server layer).
 * Usage: sio-echo --port N [--ping-interval MS] [--ping-timeout MS]
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "log.h"
#include "realtime/sio_server.h"

static void
on_connect(struct sio_socket *s, const char *nsp, json_t *auth, void *arg)
{
	json_t	*args = NULL, *err;

	(void)arg;
	if (strcmp(nsp, "/") != 0) {
		err = json_pack("{s:s}", "message", "Invalid namespace");
		(void)sio_refuse(s, err);
		return;
	}
	if (sio_accept(s) == -1)
		return;
	if (auth != NULL)
		args = json_pack("[O]", auth);
	else
		args = json_pack("[{}]");
	if (args != NULL)
		(void)sio_emit(s, "auth", args);
	json_decref(args);
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
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	(void)w;
	ev_break(loop, EVBREAK_ALL);
}

static long
num(const char *s, long lo, long hi)
{
	char	*ep;
	long	 v;

	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

int
main(int argc, char *argv[])
{
	struct ev_loop		*loop;
	struct sio_server	*srv = NULL;
	struct sio_opts		 o;
	ev_signal		 sigint, sigterm;
	long			 port = -1, pi = 25000, pt = 20000;
	int			 i, rc = 1;

	log_init("sio-echo");
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = num(argv[i + 1], 0, 65535);
		else if (strcmp(argv[i], "--ping-interval") == 0)
			pi = num(argv[i + 1], 1, 3600000);
		else if (strcmp(argv[i], "--ping-timeout") == 0)
			pt = num(argv[i + 1], 1, 3600000);
		else
			break;
	}
	if (i != argc || port < 0 || pi < 0 || pt < 0) {
		fprintf(stderr, "usage: sio-echo --port N [--ping-interval MS]"
		    " [--ping-timeout MS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(EVFLAG_AUTO);
	memset(&o, 0, sizeof(o));
	o.path = "/socket.io/";
	o.ping_interval = (unsigned int)pi;
	o.ping_timeout = (unsigned int)pt;
	o.max_payload = 1000000;
	o.connect_timeout = 45000;
	o.cors_origin = "*";
	o.on_connect = on_connect;
	o.on_event = on_event;
	if ((srv = sio_server_new(loop, &o)) == NULL)
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
	sio_server_free(srv);
	return rc;
}
