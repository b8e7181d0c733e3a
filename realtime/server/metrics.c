/*
 * metrics.c: a minimal HTTP/1.x endpoint answering GET /metrics in the
 * Prometheus text format (and GET /healthz) on the node's own libev
 * loop.  Server layer: it reads the Socket.IO server's counters at scrape
 * time and leaves the rest to the callback of the layer above.
 * The text format and the request head are lib/prom.h's, shared with
 * chat-fcgi; this file moves the bytes.
 * Bounded: at most MET_CLIENTS scrapes at once, MET_REQ_MAX bytes of
 * request, MET_TIMEOUT seconds per scrape;
 * every socket is non-blocking, one answer per connection, then close.
 * Meant for a loopback address only (never proxied by nginx).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "lib/log.h"
#include "lib/prom.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

#define MET_CLIENTS	16		/* scrapes served at once */
#define MET_REQ_MAX	4096		/* bytes of request head */
#define MET_TIMEOUT	5.		/* seconds to read and answer */
#define MET_BODY_MAX	(64 * 1024)	/* the answer, bytes */

struct	mclient {
	ev_io			 io;
	ev_timer		 t;
	struct metrics_srv	*ms;
	char			*out;		/* answer, NULL while reading */
	size_t			 outlen, outoff;
	size_t			 inlen;
	char			 in[MET_REQ_MAX];
};

struct	metrics_srv {
	struct ev_loop		*loop;
	struct sio_server	*sio;
	metrics_write_cb	*more;
	void			*marg;
	metrics_health_cb	*health;
	void			*harg;
	ev_io			 lio;
	int			 listening;
	struct mclient		*c[MET_CLIENTS];
};

/* ------------------------------------------------------------------ */
/* The text */

/*
 * The server layer's families, then those of the layer above.  Gauges
 * and counters are read now, from the state of the layer that keeps them.
 */
static void
body(struct prom *b, struct metrics_srv *ms)
{
	struct sio_stats	 st;

	memset(&st, 0, sizeof(st));
	if (ms->sio != NULL)
		sio_server_stats(ms->sio, &st);
	prom_family(b, "chat_realtime_sockets", "gauge",
	    "Open Socket.IO sockets (accepted) by transport.");
	prom_sample(b, "chat_realtime_sockets", st.sockets_ws, "transport",
	    "websocket", (const char *)NULL);
	prom_sample(b, "chat_realtime_sockets", st.sockets - st.sockets_ws,
	    "transport", "polling", (const char *)NULL);
	prom_gauge(b, "chat_realtime_connections", "Open TCP connections.",
	    st.conns);
	prom_gauge(b, "chat_realtime_sessions", "Open Engine.IO sessions.",
	    st.sessions);
	prom_gauge(b, "chat_realtime_draining", "1 while shutting down.",
	    (uint64_t)st.draining);
	prom_family(b, "chat_realtime_connects_total", "counter",
	    "Socket.IO connects answered, by result.");
	prom_sample(b, "chat_realtime_connects_total", st.connects_accepted,
	    "result", "accepted", (const char *)NULL);
	prom_sample(b, "chat_realtime_connects_total", st.connects_refused,
	    "result", "refused", (const char *)NULL);
	prom_counter(b, "chat_realtime_disconnects_total",
	    "Accepted sockets gone.", st.disconnects);
	prom_counter(b, "chat_realtime_upgrades_total",
	    "Polling sessions upgraded to WebSocket.", st.upgrades);
	prom_counter(b, "chat_realtime_outq_drops_total",
	    "Connections closed because their output queue was full.",
	    st.outq_drops);
	prom_counter(b, "chat_realtime_heap_trims_total",
	    "Heap pages given back after an output backlog drained.",
	    st.heap_trims);
	if (ms->more != NULL)
		ms->more(b, ms->marg);
}

/* ------------------------------------------------------------------ */
/* The endpoint */

static void
client_free(struct mclient *c)
{
	struct metrics_srv	*ms = c->ms;
	size_t			 i;

	ev_io_stop(ms->loop, &c->io);
	ev_timer_stop(ms->loop, &c->t);
	close(c->io.fd);
	for (i = 0; i < MET_CLIENTS; i++)
		if (ms->c[i] == c)
			ms->c[i] = NULL;
	free(c->out);
	free(c);
	/* A slot is free again. */
	if (ms->listening)
		ev_io_start(ms->loop, &ms->lio);
}

static void
client_write(struct mclient *c)
{
	ssize_t	 n;

	while (c->outoff < c->outlen) {
		n = write(c->io.fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_stop(c->ms->loop, &c->io);
			ev_io_set(&c->io, c->io.fd, EV_WRITE);
			ev_io_start(c->ms->loop, &c->io);
			return;
		}
		if (n <= 0) {
			client_free(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	(void)shutdown(c->io.fd, SHUT_WR);
	client_free(c);
}

/*
 * The /healthz body, like chat-fcgi's: {"status":"ok"|"error","db":..,
 * "redis":..} and "redisError" when Redis refused us (a wrong password
 * says so here rather than in a crash loop), and "dbRead" when there
 * is a read standby (not part of the status: the primary serves reads
 * it cannot).  Returns the status code.
 */
static int
health_body(struct prom *b, struct metrics_srv *ms)
{
	struct metrics_health	 h;
	json_t			*o;
	char			*s;
	int			 ok;

	memset(&h, 0, sizeof(h));
	ms->health(ms->harg, &h);
	ok = h.db_up && h.redis_up;
	o = json_pack("{s:s, s:s, s:s}", "status", ok ? "ok" : "error",
	    "db", h.db_up ? "up" : "down", "redis", h.redis_up ? "up" : "down");
	if (o != NULL && h.redis_error != NULL &&
	    json_object_set_new(o, "redisError",
	    json_string(h.redis_error)) == -1) {
		json_decref(o);
		o = NULL;
	}
	if (o != NULL && h.db_read != NULL &&
	    json_object_set_new(o, "dbRead", json_string(h.db_read)) == -1) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		b->err = 1;
		json_decref(o);
		return 500;
	}
	prom_printf(b, "%s\n", s);
	free(s);
	json_decref(o);
	return ok ? 200 : 503;
}

/* What a scrape asked for. */
enum	what { W_METRICS, W_HEALTH, W_ERROR };

/*
 * Answer with "status": the metrics text, the /healthz JSON (its own
 * status), or for an error the reason phrase as the body.
 */
static void
answer(struct mclient *c, int status, enum what what)
{
	struct prom	 b;
	char		 head[PROM_HEAD_MAX];
	const char	*type = PROM_CTYPE;
	char		*text;
	size_t		 len;
	int		 n;

	prom_init(&b, MET_BODY_MAX);
	if (what == W_HEALTH) {
		type = "application/json";
		status = health_body(&b, c->ms);
	} else if (what == W_METRICS)
		body(&b, c->ms);
	else
		prom_printf(&b, "%s\n", prom_http_reason(status));
	if ((text = prom_done(&b, &len)) == NULL) {
		log_warnx("metrics: the answer passes %d bytes", MET_BODY_MAX);
		status = 500;
		len = 0;
	}
	n = prom_http_head(head, sizeof(head), status, type, len);
	if (n < 0 || (c->out = malloc((size_t)n + len)) == NULL) {
		free(text);
		client_free(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (len > 0)
		memcpy(c->out + n, text, len);
	c->outlen = (size_t)n + len;
	free(text);
	client_write(c);
}

/* The request head is complete: "GET /metrics" and "GET /healthz". */
static void
request(struct mclient *c, const struct prom_req *r)
{
	if (r->method_len != 3 || memcmp(r->method, "GET", 3) != 0)
		answer(c, 405, W_ERROR);
	else if (prom_http_is(r, "GET", "/metrics"))
		answer(c, 200, W_METRICS);
	else if (prom_http_is(r, "GET", "/healthz") && c->ms->health != NULL)
		answer(c, 200, W_HEALTH);
	else
		answer(c, 404, W_ERROR);
}

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mclient	*c = w->data;
	struct prom_req	 r;
	ssize_t		 n;

	(void)loop;
	if (c->out != NULL) {
		if (revents & EV_WRITE)
			client_write(c);
		return;
	}
	n = read(w->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	c->inlen += (size_t)n;
	switch (prom_http_parse(c->in, c->inlen, sizeof(c->in), &r)) {
	case PROM_HTTP_MORE:
		break;
	case PROM_HTTP_DONE:
		ev_io_stop(c->ms->loop, &c->io);
		request(c, &r);
		break;
	case PROM_HTTP_BIG:
		ev_io_stop(c->ms->loop, &c->io);
		answer(c, 431, W_ERROR);
		break;
	case PROM_HTTP_BAD:
		client_free(c);
		break;
	}
}

static void
client_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_free(w->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_srv	*ms = w->data;
	struct mclient		*c;
	size_t			 i;
	int			 fd;

	(void)revents;
	for (i = 0; i < MET_CLIENTS && ms->c[i] != NULL; i++)
		continue;
	if (i == MET_CLIENTS) {
		/* Full: leave the others in the backlog for now. */
		ev_io_stop(loop, w);
		return;
	}
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED)
			log_warn("metrics: accept4");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("metrics: calloc");
		close(fd);
		return;
	}
	c->ms = ms;
	ms->c[i] = c;
	ev_io_init(&c->io, client_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->t, client_timeout, MET_TIMEOUT, 0.);
	c->t.data = c;
	ev_timer_start(loop, &c->t);
}

struct metrics_srv *
metrics_listen(struct ev_loop *loop, const char *addr, struct sio_server *sio,
    metrics_write_cb *more, void *marg, metrics_health_cb *health, void *harg)
{
	struct metrics_srv	*ms = NULL;
	struct sockaddr_in	 sin;
	char			 host[INET_ADDRSTRLEN];
	const char		*colon;
	char			*end;
	long			 port;
	int			 fd = -1, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if ((colon = strrchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(host))
		goto bad;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 ||
	    port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		goto bad;
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("metrics: socket");
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 64) == -1) {
		log_warn("metrics: listen %s", addr);
		goto fail;
	}
	if ((ms = calloc(1, sizeof(*ms))) == NULL) {
		log_warn("metrics: calloc");
		goto fail;
	}
	ms->loop = loop;
	ms->sio = sio;
	ms->more = more;
	ms->marg = marg;
	ms->health = health;
	ms->harg = harg;
	ms->listening = 1;
	ev_io_init(&ms->lio, accept_cb, fd, EV_READ);
	ms->lio.data = ms;
	ev_io_start(loop, &ms->lio);
	return ms;
bad:
	log_warnx("metrics: bad address %s (want IPv4:PORT)", addr);
fail:
	if (fd != -1)
		close(fd);
	return NULL;
}

void
metrics_close(struct metrics_srv *ms)
{
	size_t	 i;

	if (ms == NULL)
		return;
	ms->listening = 0;
	ev_io_stop(ms->loop, &ms->lio);
	close(ms->lio.fd);
	for (i = 0; i < MET_CLIENTS; i++)
		if (ms->c[i] != NULL)
			client_free(ms->c[i]);
	free(ms);
}
