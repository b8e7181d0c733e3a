/*
 * metrics.c: a minimal HTTP/1.x endpoint answering GET /metrics in the
 * Prometheus text format (and GET /healthz) on the node's own libev
 * loop.  Server layer: it reads the Socket.IO server's counters at scrape
 * time and leaves the rest to the callback of the layer above.
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

struct	metrics_out {
	char	*p;
	size_t	 len, cap;
	int	 err;
};

void
metrics_printf(struct metrics_out *b, const char *fmt, ...)
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

void
metrics_counter(struct metrics_out *b, const char *name, const char *help,
    uint64_t v)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	    name, help, name, name, (unsigned long long)v);
}

/*
 * The server layer's families, then those of the layer above.  Gauges
 * and counters are read now, from the state of the layer that keeps them.
 */
static void
body(struct metrics_out *b, struct metrics_srv *ms)
{
	struct sio_stats	 st;

	memset(&st, 0, sizeof(st));
	if (ms->sio != NULL)
		sio_server_stats(ms->sio, &st);
	metrics_printf(b, "# HELP chat_realtime_sockets Open Socket.IO "
	    "sockets "
	    "(accepted) by transport.\n"
	    "# TYPE chat_realtime_sockets gauge\n"
	    "chat_realtime_sockets{transport=\"websocket\"} %zu\n"
	    "chat_realtime_sockets{transport=\"polling\"} %zu\n",
	    st.sockets_ws, st.sockets - st.sockets_ws);
	metrics_printf(b, "# HELP chat_realtime_connections Open TCP "
	    "connections.\n"
	    "# TYPE chat_realtime_connections gauge\n"
	    "chat_realtime_connections %zu\n", st.conns);
	metrics_printf(b, "# HELP chat_realtime_sessions Open Engine.IO "
	    "sessions.\n"
	    "# TYPE chat_realtime_sessions gauge\n"
	    "chat_realtime_sessions %zu\n", st.sessions);
	metrics_printf(b, "# HELP chat_realtime_draining 1 while shutting "
	    "down.\n"
	    "# TYPE chat_realtime_draining gauge\n"
	    "chat_realtime_draining %d\n", st.draining);
	metrics_printf(b, "# HELP chat_realtime_connects_total Socket.IO "
	    "connects answered, by result.\n"
	    "# TYPE chat_realtime_connects_total counter\n"
	    "chat_realtime_connects_total{result=\"accepted\"} %llu\n"
	    "chat_realtime_connects_total{result=\"refused\"} %llu\n",
	    (unsigned long long)st.connects_accepted,
	    (unsigned long long)st.connects_refused);
	metrics_counter(b, "chat_realtime_disconnects_total",
	    "Accepted sockets gone.", st.disconnects);
	metrics_counter(b, "chat_realtime_upgrades_total",
	    "Polling sessions upgraded to WebSocket.", st.upgrades);
	metrics_counter(b, "chat_realtime_outq_drops_total",
	    "Connections closed because their output queue was full.",
	    st.outq_drops);
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
 * says so here rather than in a crash loop).  Returns the status code.
 */
static int
health_body(struct metrics_out *b, struct metrics_srv *ms)
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
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL) {
		b->err = 1;
		json_decref(o);
		return 500;
	}
	metrics_printf(b, "%s\n", s);
	free(s);
	json_decref(o);
	return ok ? 200 : 503;
}

static void
answer(struct mclient *c, int status, const char *reason)
{
	struct metrics_out	 b;
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
		body(&b, c->ms);
	else
		metrics_printf(&b, "%s\n", reason);
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
