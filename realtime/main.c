/*
 * main.c: chat-realtime, one event-loop process serving Socket.IO
 * (sio_server.h) with the chat events (chat.h).  Usage:
 *	chat-realtime --node-id N --port P [--host|--bind ADDR]
 *	    [--metrics 127.0.0.1:PORT]
 * Configuration from the environment (conf.h).  --bind is an alias of
 * --host (IPv4 address to listen on, default 127.0.0.1); --metrics
 * serves GET /metrics (Prometheus text, metrics.h) on that address from
 * this same event loop.
 *
 * SIGTERM or SIGINT stops gracefully without losing an ack: the listener
 * is closed first (nginx's retry goes to another node) and packets
 * received from then on are ignored; requests in flight (PostgreSQL,
 * Redis) complete and their acks and emits are flushed (at most
 * DRAIN_MS); then the transports are closed (clients see "transport
 * close" and reconnect elsewhere), presence is cleared in Redis,
 * lastSeenAt is written, and the process exits.  A second signal exits
 * at once.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "realtime/chat/chat.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

#define DRAIN_MS	5000	/* for requests in flight to be answered */
#define GRACE_MS	3000	/* for clients to be told, then for Redis/PG */

struct	app {
	struct ev_loop		*loop;
	struct sio_server	*srv;
	struct chat		*chat;
	struct metrics_srv	*metrics;
	ev_signal		 sigterm;
	ev_signal		 sigint;
	int			 stopping;
};

static void
usage(void)
{
	fprintf(stderr, "usage: chat-realtime --node-id N --port P "
	    "[--host|--bind ADDR] [--metrics ADDR:PORT]\n");
	exit(2);
}

static long
number(const char *s, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage();
	return v;
}

static void
chat_done(void *arg)
{
	struct app	*a = arg;

	log_info("stopped");
	ev_break(a->loop, EVBREAK_ALL);
}

static void
server_done(void *arg)
{
	struct app	*a = arg;

	chat_stop(a->chat, GRACE_MS, chat_done, a);
}

static void
drain_done(void *arg)
{
	struct app	*a = arg;

	sio_server_shutdown(a->srv, GRACE_MS, server_done, a);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct app	*a = w->data;

	if (a->stopping++) {
		log_info("second signal: exiting now");
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("signal %d: stopping", w->signum);
	sio_server_drain(a->srv, DRAIN_MS, drain_done, a);
}

int
main(int argc, char *argv[])
{
	struct conf	 conf;
	struct sio_opts	 so;
	struct app	 a;
	const char	*why, *host = "127.0.0.1", *maddr = NULL;
	long		 node = -1, port = -1;
	int		 i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--node-id") == 0)
			node = number(argv[++i], 0, 255);
		else if (strcmp(argv[i], "--port") == 0)
			port = number(argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--host") == 0 ||
		    strcmp(argv[i], "--bind") == 0)
			host = argv[++i];
		else if (strcmp(argv[i], "--metrics") == 0)
			maddr = argv[++i];
		else
			usage();
	}
	if (node < 0 || port < 0)
		usage();
	log_init("chat-realtime");
	if (conf_load(&conf, &why) == -1)
		log_errx("%s", why);
	signal(SIGPIPE, SIG_IGN);

	memset(&a, 0, sizeof(a));
	if ((a.loop = ev_default_loop(EVFLAG_AUTO)) == NULL)
		log_errx("cannot create the event loop");
	if ((a.chat = chat_new(a.loop, &conf, (unsigned int)node)) == NULL)
		goto out;
	memset(&so, 0, sizeof(so));
	so.path = "/socket.io/";
	so.node_id = (unsigned int)node;
	so.cors_origin = conf.cors_origin;
	so.on_connect = chat_on_connect;
	so.on_event = chat_on_event;
	so.on_disconnect = chat_on_disconnect;
	so.req_tag = chat_req_tag;
	so.req_done = chat_req_done;
	so.arg = a.chat;
	if ((a.srv = sio_server_new(a.loop, &so)) == NULL)
		goto out;
	if (sio_server_listen(a.srv, host, (int)port) == -1)
		goto out;
	if (maddr != NULL &&
	    (a.metrics = metrics_listen(a.loop, maddr, a.srv, chat_metrics,
	    a.chat, chat_health, a.chat)) == NULL)
		goto out;
	ev_signal_init(&a.sigterm, signal_cb, SIGTERM);
	a.sigterm.data = &a;
	ev_signal_start(a.loop, &a.sigterm);
	ev_signal_init(&a.sigint, signal_cb, SIGINT);
	a.sigint.data = &a;
	ev_signal_start(a.loop, &a.sigint);
	log_info("node %ld listening on %s:%d%s%s", node, host,
	    sio_server_port(a.srv), maddr != NULL ? ", metrics on " : "",
	    maddr != NULL ? maddr : "");
	ev_run(a.loop, 0);
	rc = 0;
out:
	metrics_close(a.metrics);
	sio_server_free(a.srv);
	chat_free(a.chat);
	return rc;
}
