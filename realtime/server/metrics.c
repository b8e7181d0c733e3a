/*
 * metrics.c: the counters of chat-realtime (metrics.h) and a minimal
 * HTTP/1.x endpoint answering GET /metrics in the Prometheus text format
 * on the node's own libev loop.  Bounded: at most MET_CLIENTS scrapes at
 * once, MET_REQ_MAX bytes of request, MET_TIMEOUT seconds per scrape;
 * every socket is non-blocking, one answer per connection, then close.
 * Meant for a loopback address only (never proxied by nginx).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "log.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

#define MET_CLIENTS	16		/* scrapes served at once */
#define MET_REQ_MAX	4096		/* bytes of request head */
#define MET_TIMEOUT	5.		/* seconds to read and answer */
#define MET_BODY_MAX	(64 * 1024)	/* the answer, bytes */

struct metrics	 metrics;

static const char *const ev_names[MET_EV_N] = {
	"sendMessage", "getMessages", "getConversations",
	"startConversation", "typing", "stopTyping", "markRead",
	"getOnlineUsers", "other"
};
static const char *const st_names[MET_ST_N] = {
	"ok", "error", "noack", "closed", "drained"
};
static const double lat_le[MET_LAT_N] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

struct	mclient {
	ev_io			 io;
	ev_timer		 t;
	struct metrics_srv	*ms;
	char			*out;		/* answer, or NULL while reading */
	size_t			 outlen, outoff;
	size_t			 inlen;
	char			 in[MET_REQ_MAX];
};

struct	metrics_srv {
	struct ev_loop		*loop;
	struct sio_server	*sio;
	metrics_health_cb	*health;
	void			*harg;
	ev_io			 lio;
	int			 listening;
	struct mclient		*c[MET_CLIENTS];
};

enum met_ev
metrics_event(const char *name)
{
	size_t	 i;

	for (i = 0; i < MET_EV_OTHER; i++)
		if (strcmp(name, ev_names[i]) == 0)
			return (enum met_ev)i;
	return MET_EV_OTHER;
}

const char *
metrics_event_name(enum met_ev e)
{
	return e < MET_EV_N ? ev_names[e] : "other";
}

const char *
metrics_status_name(enum met_st s)
{
	return s < MET_ST_N ? st_names[s] : "?";
}

void
metrics_request(enum met_ev e, enum met_st s, double secs)
{
	size_t	 i;

	if (e >= MET_EV_N || s >= MET_ST_N)
		return;
	metrics.events[e][s]++;
	if (e != MET_EV_SEND || secs < 0 ||
	    (s != MET_ST_OK && s != MET_ST_ERROR))
		return;
	metrics.ack_lat_sum += secs;
	for (i = 0; i < MET_LAT_N; i++)
		if (secs <= lat_le[i]) {
			metrics.ack_lat[i]++;
			return;
		}
	metrics.ack_lat_inf++;
}

/* ------------------------------------------------------------------ */
/* The text */

struct	mbuf {
	char	*p;
	size_t	 len, cap;
	int	 err;
};

static void
put(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
put(struct mbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->err = 1;
		return;
	}
	b->len += (size_t)n;
}

static void
counter(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
	put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
	    name, name, (unsigned long long)v);
}

static void
body(struct mbuf *b, struct sio_server *sio)
{
	struct sio_stats	 st;
	uint64_t		 cum;
	size_t			 e, s, i;

	memset(&st, 0, sizeof(st));
	if (sio != NULL)
		sio_server_stats(sio, &st);
	put(b, "# HELP chat_realtime_sockets Open Socket.IO sockets "
	    "(accepted) by transport.\n"
	    "# TYPE chat_realtime_sockets gauge\n"
	    "chat_realtime_sockets{transport=\"websocket\"} %zu\n"
	    "chat_realtime_sockets{transport=\"polling\"} %zu\n",
	    st.sockets_ws, st.sockets - st.sockets_ws);
	put(b, "# HELP chat_realtime_connections Open TCP connections.\n"
	    "# TYPE chat_realtime_connections gauge\n"
	    "chat_realtime_connections %zu\n", st.conns);
	put(b, "# HELP chat_realtime_sessions Open Engine.IO sessions.\n"
	    "# TYPE chat_realtime_sessions gauge\n"
	    "chat_realtime_sessions %zu\n", st.sessions);
	put(b, "# HELP chat_realtime_draining 1 while shutting down.\n"
	    "# TYPE chat_realtime_draining gauge\n"
	    "chat_realtime_draining %d\n", st.draining);
	put(b, "# HELP chat_realtime_connects_total Socket.IO connects "
	    "answered, by result.\n"
	    "# TYPE chat_realtime_connects_total counter\n"
	    "chat_realtime_connects_total{result=\"accepted\"} %llu\n"
	    "chat_realtime_connects_total{result=\"refused\"} %llu\n",
	    (unsigned long long)metrics.connects_accepted,
	    (unsigned long long)metrics.connects_refused);
	counter(b, "chat_realtime_disconnects_total",
	    "Accepted sockets gone.", metrics.disconnects);
	counter(b, "chat_realtime_upgrades_total",
	    "Polling sessions upgraded to WebSocket.", metrics.upgrades);
	put(b, "# HELP chat_realtime_events_total Chat events received, "
	    "by name and how they ended.\n"
	    "# TYPE chat_realtime_events_total counter\n");
	for (e = 0; e < MET_EV_N; e++)
		for (s = 0; s < MET_ST_N; s++)
			put(b, "chat_realtime_events_total{event=\"%s\","
			    "status=\"%s\"} %llu\n", ev_names[e], st_names[s],
			    (unsigned long long)metrics.events[e][s]);
	counter(b, "chat_realtime_messages_sent_total",
	    "Messages stored by sendMessage.", metrics.messages_sent);
	put(b, "# HELP chat_realtime_ack_latency_seconds sendMessage: "
	    "event received to ack queued.\n"
	    "# TYPE chat_realtime_ack_latency_seconds histogram\n");
	for (cum = 0, i = 0; i < MET_LAT_N; i++) {
		cum += metrics.ack_lat[i];
		put(b, "chat_realtime_ack_latency_seconds_bucket{le=\"%g\"} "
		    "%llu\n", lat_le[i], (unsigned long long)cum);
	}
	cum += metrics.ack_lat_inf;
	put(b, "chat_realtime_ack_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "chat_realtime_ack_latency_seconds_sum %.6f\n"
	    "chat_realtime_ack_latency_seconds_count %llu\n",
	    (unsigned long long)cum, metrics.ack_lat_sum,
	    (unsigned long long)cum);
	counter(b, "chat_realtime_redis_errors_total",
	    "Redis connections lost or failed, error replies.",
	    metrics.redis_errors);
	counter(b, "chat_realtime_redis_reconnects_total",
	    "Redis reconnect attempts.", metrics.redis_reconnects);
	counter(b, "chat_realtime_pg_errors_total",
	    "PostgreSQL connections lost or failed, failed statements.",
	    metrics.pg_errors);
	counter(b, "chat_realtime_pg_reconnects_total",
	    "PostgreSQL reconnect attempts.", metrics.pg_reconnects);
	counter(b, "chat_realtime_outq_drops_total",
	    "Connections closed because their output queue was full.",
	    metrics.outq_drops);
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
 * says so here rather than in a crash loop).  Returns the status code.
 */
static int
health_body(struct mbuf *b, struct metrics_srv *ms)
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
	    json_object_set_new(o, "redisError", json_string(h.redis_error)) == -1) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		b->err = 1;
		json_decref(o);
		return 500;
	}
	put(b, "%s\n", s);
	free(s);
	json_decref(o);
	return ok ? 200 : 503;
}

static void
answer(struct mclient *c, int status, const char *reason)
{
	struct mbuf	 b;
	char		 head[256];
	const char	*type = "text/plain; version=0.0.4; charset=utf-8";
	int		 n;

	memset(&b, 0, sizeof(b));
	b.cap = MET_BODY_MAX;
	if ((b.p = malloc(b.cap)) == NULL) {
		client_free(c);
		return;
	}
	if (status == 200 && strcmp(reason, "health") == 0) {
		type = "application/json";
		if ((status = health_body(&b, c->ms)) == 200)
			reason = "OK";
		else
			reason = "Service Unavailable";
	} else if (status == 200)
		body(&b, c->ms->sio);
	else
		put(&b, "%s\n", reason);
	if (b.err) {
		log_warnx("metrics: the answer passes %d bytes", MET_BODY_MAX);
		b.len = 0;
		status = 500;
		reason = "Internal Server Error";
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, reason, type, b.len);
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    (c->out = malloc((size_t)n + b.len)) == NULL) {
		free(b.p);
		client_free(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, b.p, b.len);
	c->outlen = (size_t)n + b.len;
	free(b.p);
	client_write(c);
}

/* The request head is complete: "GET /metrics" and "GET /healthz". */
static void
request(struct mclient *c)
{
	const char	*p = c->in, *path;
	size_t		 n;

	if (strncmp(p, "GET ", 4) != 0) {
		answer(c, 405, "Method Not Allowed");
		return;
	}
	path = strchr(p, ' ') + 1;
	n = strcspn(path, " ?\r\n");
	if (n == 8 && memcmp(path, "/metrics", 8) == 0)
		answer(c, 200, "OK");
	else if (n == 8 && memcmp(path, "/healthz", 8) == 0 &&
	    c->ms->health != NULL)
		answer(c, 200, "health");
	else
		answer(c, 404, "Not Found");
}

static void
client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mclient	*c = w->data;
	ssize_t		 n;

	(void)loop;
	if (c->out != NULL) {
		if (revents & EV_WRITE)
			client_write(c);
		return;
	}
	n = read(w->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (memchr(c->in, '\0', c->inlen) != NULL) {
		client_free(c);
		return;
	}
	if (strstr(c->in, "\r\n\r\n") != NULL ||
	    strstr(c->in, "\n\n") != NULL) {
		ev_io_stop(c->ms->loop, &c->io);
		request(c);
	} else if (c->inlen >= sizeof(c->in) - 1)
		answer(c, 431, "Request Header Fields Too Large");
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
    metrics_health_cb *health, void *harg)
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
