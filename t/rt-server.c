/*
 * t/rt-server.c: the sio_server.h API in-process, against raw client
 * sockets: ids carry the node id, asynchronous accept/refuse (also on a
 * socket that closed meanwhile, with refs), events and acks, fan-out of
 * one encoded buffer, server-side disconnect, the output cap, stats, the
 * drain before a shutdown (listener closed, new packets ignored, owed
 * acks still delivered), requests of one loop turn handled in arrival
 * order, and graceful shutdown.  Runs the loop with EVRUN_NOWAIT
 * between client steps.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "tap.h"
#include "lib/log.h"
#include "realtime/server/sio_server.h"

static struct ev_loop		*loop;
static struct sio_server	*srv;
static int			 port;

static struct sio_socket	*held;		/* on_connect: answered later */
static int			 hold = 1;
static char			 last_event[64];
static char			 last_args[256];
static int64_t			 last_ack = -2;
static char			 last_reason[64];
static int			 ndisc, done_called;
static int			 defer;		/* on_event: ack later */
static struct sio_socket	*deferred;
static int64_t			 deferred_id = -1;

struct	cli {
	int	 fd;
	char	 buf[65536];
	size_t	 len;
};

static void
pump(double secs)
{
	double	 end = ev_time() + secs;

	while (ev_time() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(500);
	}
}

static int
cli_fill(struct cli *c)
{
	ssize_t	 n;

	if (c->len == sizeof(c->buf))
		return 0;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n > 0)
		c->len += (size_t)n;
	return (int)n;
}

/* Read one server frame: opcode and payload (NUL-terminated) in out. */
static int
cli_frame(struct cli *c, char *out, size_t outsz, double secs)
{
	double	 end = ev_time() + secs;
	size_t	 hl, len;
	int	 op;

	for (;;) {
		if (c->len >= 2) {
			len = (unsigned char)c->buf[1] & 0x7f;
			hl = 2;
			if (len == 126 && c->len >= 4) {
				len = ((unsigned char)c->buf[2] << 8) |
				    (unsigned char)c->buf[3];
				hl = 4;
			}
			if (len < 126 || hl == 4) {
				if (c->len >= hl + len) {
					op = c->buf[0] & 0x0f;
					if (len >= outsz)
						len = outsz - 1;
					memcpy(out, c->buf + hl, len);
					out[len] = '\0';
					memmove(c->buf, c->buf + hl + len,
					    c->len - hl - len);
					c->len -= hl + len;
					return op;
				}
			}
		}
		if (ev_time() > end)
			return -1;
		if (cli_fill(c) == 0)
			return -2;	/* EOF */
		ev_run(loop, EVRUN_NOWAIT);
		usleep(300);
	}
}

/* Next text message that is not a ping. */
static const char *
cli_msg(struct cli *c)
{
	static char	 m[8192];
	int		 op;

	do
		op = cli_frame(c, m, sizeof(m), 2.0);
	while (op == 1 && strcmp(m, "2") == 0);
	if (op == 8)
		return "<close>";
	if (op < 0)
		return op == -2 ? "<eof>" : "<timeout>";
	return m;
}

static void
cli_send(struct cli *c, const char *s)
{
	unsigned char	 f[8192];
	size_t		 n = strlen(s), i, hl = 6;

	f[0] = 0x81;
	if (n < 126)
		f[1] = 0x80 | (unsigned char)n;
	else {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(n >> 8);
		f[3] = (unsigned char)n;
		hl = 8;
	}
	memcpy(f + hl - 4, "\x11\x22\x33\x44", 4);
	for (i = 0; i < n; i++)
		f[hl + i] = (unsigned char)s[i] ^ f[hl - 4 + (i & 3)];
	if (write(c->fd, f, hl + n) != (ssize_t)(hl + n))
		perror("write");
}

/*
 * A WebSocket handshake on /socket.io/ with "query"; the status line goes
 * to status (if not NULL), what follows the head stays in c->buf.
 */
static struct cli *
cli_ws(const char *query, char *status, size_t statussz)
{
	struct sockaddr_in	 sin;
	struct cli		*c;
	char			 req[512];
	char			*e;
	size_t			 n;
	double			 end = ev_time() + 2;
	int			 len;

	len = snprintf(req, sizeof(req), "GET /socket.io/?%s HTTP/1.1\r\n"
	    "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", query);
	if (len < 0 || (size_t)len >= sizeof(req))
		abort();
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(c->fd, req, (size_t)len) != len)
		abort();
	while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL &&
	    ev_time() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		cli_fill(c);
		usleep(300);
	}
	if (e == NULL)
		abort();
	if (status != NULL && statussz > 0) {
		n = (size_t)((char *)memchr(c->buf, '\r', c->len) - c->buf);
		if (n >= statussz)
			n = statussz - 1;
		memcpy(status, c->buf, n);
		status[n] = '\0';
	}
	e += 4;
	memmove(c->buf, e, c->len - (size_t)(e - c->buf));
	c->len -= (size_t)(e - c->buf);
	return c;
}

static struct cli *
cli_open(void)
{
	return cli_ws("EIO=4&transport=websocket&token=abc", NULL, 0);
}

/* One HTTP request with "Connection: close"; the whole answer in c->buf. */
static struct cli *
http_req(const char *req)
{
	struct sockaddr_in	 sin;
	struct cli		*c;
	double			 end = ev_time() + 2;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(c->fd, req, strlen(req)) != (ssize_t)strlen(req))
		abort();
	while (ev_time() < end && cli_fill(c) != 0) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(300);
	}
	c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
	return c;
}

/* A connected, accepted client that has sent nothing yet. */
static struct cli *
cli_connect(void)
{
	struct sockaddr_in	 sin;
	struct cli		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		abort();
	pump(0.02);
	return c;
}

/* Read until the server closes (or 2 s); NUL-terminate. */
static void
cli_drain(struct cli *c)
{
	double	 end = ev_time() + 2;

	while (ev_time() < end && cli_fill(c) != 0) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(300);
	}
	c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
}

static void
cli_close(struct cli *c)
{
	close(c->fd);
	free(c);
}

/* Open a polling session on /socket.io/: its sid in sid ("" if none). */
static void
poll_open(char *sid, size_t sidsz)
{
	struct cli	*c;
	const char	*p;
	size_t		 n;

	c = http_req("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n");
	sid[0] = '\0';
	if ((p = strstr(c->buf, "\"sid\":\"")) != NULL) {
		p += 7;
		n = strcspn(p, "\"");
		if (n < sidsz) {
			memcpy(sid, p, n);
			sid[n] = '\0';
		}
	}
	cli_close(c);
}

static void
on_connect(struct sio_socket *s, const char *nsp, json_t *auth, void *arg)
{
	(void)nsp;
	(void)auth;
	(void)arg;
	if (hold == 2)
		return;		/* left pending */
	if (hold) {
		sio_socket_ref(s);
		held = s;
	} else
		(void)sio_accept(s);
}

static void
on_event(struct sio_socket *s, const char *name, json_t *args, int64_t ackid,
    const struct sio_bin *bins, size_t nbins, void *arg)
{
	char	*j;

	(void)s;
	(void)bins;
	(void)nbins;
	(void)arg;
	snprintf(last_event, sizeof(last_event), "%s", name);
	j = json_dumps(args, JSON_COMPACT);
	snprintf(last_args, sizeof(last_args), "%s", j ? j : "");
	free(j);
	last_ack = ackid;
	if (defer && ackid >= 0 && deferred == NULL) {
		sio_socket_ref(s);
		deferred = s;
		deferred_id = ackid;
	} else if (ackid >= 0)
		(void)sio_ack(s, ackid, args);
}

static void
on_disconnect(struct sio_socket *s, const char *reason, void *arg)
{
	(void)s;
	(void)arg;
	snprintf(last_reason, sizeof(last_reason), "%s", reason);
	ndisc++;
}

static void
done(void *arg)
{
	(void)arg;
	done_called++;
}

int
main(void)
{
	struct sio_opts		 o;
	struct sio_stats	 st;
	struct cli		*a, *b, *c, *d;
	struct sio_socket	*sa, *sb, *sc;
	struct sio_buf		*buf;
	json_t			*args;
	const char		*m;
	char			 want[128], asid[32];
	int			 i, rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("rt-server-test");
	tap_plan(66);
	loop = ev_default_loop(0);
	memset(&o, 0, sizeof(o));
	o.node_id = 0x2a;
	o.ping_interval = 20000;
	o.ping_timeout = 20000;
	o.connect_timeout = 20000;
	o.max_payload = 10000;
	o.outq_max = 1;		/* raised to max_payload + 4096 */
	o.cors_origin = "http://a.example";
	o.on_connect = on_connect;
	o.on_event = on_event;
	o.on_disconnect = on_disconnect;
	srv = sio_server_new(loop, &o);
	tap_ok(srv != NULL, "server created");
	tap_int(sio_server_listen(srv, "127.0.0.1", 0), 0, "listen on port 0");
	port = sio_server_port(srv);
	tap_ok(port > 0, "port known");

	/* open packet: Engine.IO id carries the node id */
	a = cli_open();
	m = cli_msg(a);
	tap_ok(strncmp(m, "0{\"sid\":\"2a", 11) == 0, "eio sid starts with 2a");
	asid[0] = '\0';
	if (strncmp(m, "0{\"sid\":\"", 9) == 0)
		snprintf(asid, sizeof(asid), "%.*s", (int)strcspn(m + 9, "\""),
		    m + 9);

	/* CORS with one configured origin: echoed, with credentials */
	b = http_req("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
	    "Host: x\r\nOrigin: http://a.example\r\nConnection: close\r\n\r\n");
	tap_ok(strncmp(b->buf, "HTTP/1.1 200", 12) == 0 &&
	    strstr(b->buf, "\r\nAccess-Control-Allow-Origin: "
	    "http://a.example\r\n") &&
	    strstr(b->buf, "\r\nAccess-Control-Allow-Credentials: true\r\n") &&
	    strstr(b->buf, "\r\n\r\n0{\"sid\":\"2a"),
	    "polling handshake with CORS");
	cli_close(b);
	b = http_req("OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
	    "Host: x\r\nOrigin: http://a.example\r\n"
	    "Access-Control-Request-Headers: content-type\r\n"
	    "Connection: close\r\n\r\n");
	tap_ok(strncmp(b->buf, "HTTP/1.1 204", 12) == 0 &&
	    strstr(b->buf,
	    "\r\nAccess-Control-Allow-Headers: content-type\r\n") &&
	    strstr(b->buf, "\r\nAccess-Control-Allow-Methods: "), "preflight");
	cli_close(b);
	/*
	 * An Origin not in the list is not named, even by a one-entry list
	 * (asked with an unknown sid, so that no session is opened).
	 */
	b = http_req("GET /socket.io/?EIO=4&transport=polling&sid=x "
	    "HTTP/1.1\r\nHost: x\r\nOrigin: http://b.example\r\n"
	    "Connection: close\r\n\r\n");
	tap_ok(strncmp(b->buf, "HTTP/1.1 400", 12) == 0 &&
	    strstr(b->buf, "\r\nAccess-Control-Allow-Origin:") == NULL &&
	    strstr(b->buf, "\r\nVary: Origin\r\n"),
	    "unlisted Origin: only Vary");
	cli_close(b);
	b = http_req("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
	    "Host: x\r\nContent-Length: 20000\r\nConnection: close\r\n\r\n");
	tap_ok(strncmp(b->buf, "HTTP/1.1 413", 12) == 0,
	    "body over maxPayload: 413");
	cli_close(b);

	/*
	 * Requests readable in the same loop turn run in arrival order
	 * (libev invokes its pending watchers last-in first-out): a
	 * parked GET written before a POST "1" (close) gets "6", not 400.
	 */
	{
		struct cli	*g, *q;
		char		 sid[32], req[256];
		size_t		 n;

		poll_open(sid, sizeof(sid));
		g = cli_connect();
		q = cli_connect();
		snprintf(req, sizeof(req), "GET /socket.io/?EIO=4&transport="
		    "polling&sid=%s HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n", sid);
		if (write(g->fd, req, strlen(req)) != (ssize_t)strlen(req))
			abort();
		snprintf(req, sizeof(req), "POST /socket.io/?EIO=4&transport="
		    "polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1"
		    "\r\nConnection: close\r\n\r\n1", sid);
		if (write(q->fd, req, strlen(req)) != (ssize_t)strlen(req))
			abort();
		cli_drain(g);
		cli_drain(q);
		n = strlen(g->buf);
		tap_ok(sid[0] != '\0' &&
		    strncmp(g->buf, "HTTP/1.1 200", 12) == 0 && n > 0 &&
		    g->buf[n - 1] == '6' && strstr(g->buf, "\r\n\r\n6"),
		    "GET then POST close in one turn: the GET gets \"6\"");
		tap_ok(strncmp(q->buf, "HTTP/1.1 200", 12) == 0 &&
		    strstr(q->buf, "\r\n\r\nok"), "and the POST \"ok\"");
		cli_close(g);
		cli_close(q);
	}

	/*
	 * One WebSocket per session: another one naming the sid, while the
	 * first is probing or after the upgrade, gets 101 then a close
	 * frame (a 400 is an error to the official suites' clients); the
	 * first goes on.  So does one naming a WebSocket-only session (the
	 * first client's).  An unknown sid is still 400 "Session ID unknown".
	 */
	{
		struct cli	*p, *x;
		char		 sid[32], q[128], line[64];

		hold = 0;
		poll_open(sid, sizeof(sid));
		snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s", sid);
		p = cli_ws(q, line, sizeof(line));
		tap_ok(sid[0] != '\0' && strncmp(line, "HTTP/1.1 101", 12) == 0,
		    "upgrade: probe WebSocket opens");
		cli_send(p, "2probe");
		tap_str(cli_msg(p), "3probe", "upgrade: probe answered");
		x = cli_ws(q, line, sizeof(line));
		tap_str(line, "HTTP/1.1 101 Switching Protocols",
		    "a WebSocket during the probe: 101");
		tap_str(cli_msg(x), "<close>", "then a close frame");
		tap_str(cli_msg(x), "<eof>", "then the TCP close");
		cli_close(x);
		cli_send(p, "5");
		pump(0.02);
		x = cli_ws(q, line, sizeof(line));
		tap_str(line, "HTTP/1.1 101 Switching Protocols",
		    "a WebSocket after the upgrade: 101");
		tap_str(cli_msg(x), "<close>", "then a close frame");
		tap_str(cli_msg(x), "<eof>", "then the TCP close");
		cli_close(x);
		cli_send(p, "40");
		tap_ok(strncmp(cli_msg(p), "40{\"sid\":\"2a", 11) == 0,
		    "the upgraded WebSocket still answers a CONNECT");
		cli_send(p, "421[\"x\"]");
		tap_str(cli_msg(p), "431[]", "and an ack");
		snprintf(q, sizeof(q), "EIO=4&transport=websocket&sid=%s",
		    asid);
		x = cli_ws(q, line, sizeof(line));
		tap_str(line, "HTTP/1.1 101 Switching Protocols",
		    "a WebSocket naming a WebSocket-only session: 101");
		tap_str(cli_msg(x), "<close>", "then a close frame");
		tap_str(cli_msg(x), "<eof>", "then the TCP close");
		cli_close(x);
		snprintf(want, sizeof(want), "GET /socket.io/?EIO=4&transport="
		    "polling&sid=%s HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n", asid);
		x = http_req(want);
		tap_ok(strncmp(x->buf, "HTTP/1.1 400", 12) == 0 &&
		    strstr(x->buf, "{\"code\":3,\"message\":\"Bad request\"}")
		    != NULL, "polling with its sid: 400 Bad request");
		cli_close(x);
		x = cli_ws("EIO=4&transport=websocket&sid=nope", line,
		    sizeof(line));
		cli_drain(x);
		tap_ok(strncmp(line, "HTTP/1.1 400", 12) == 0 &&
		    strstr(x->buf, "{\"code\":1,\"message\":\"Session ID "
		    "unknown\"}") != NULL,
		    "a WebSocket with an unknown sid: 400");
		cli_close(x);
		cli_close(p);
		pump(0.05);
		hold = 1;
	}

	/* asynchronous accept */
	cli_send(a, "40{\"token\":\"t\"}");
	pump(0.05);
	tap_ok(held != NULL, "on_connect called");
	tap_ok(a->len == 0 && cli_fill(a) == -1, "no answer while pending");
	sa = held;
	held = NULL;
	tap_ok(sio_socket_is_open(sa) && !sio_socket_is_connected(sa),
	    "pending socket is open, not connected");
	tap_int(sio_emit(sa, "x", NULL), -1, "emit on a pending socket fails");
	tap_int(sio_accept(sa), 0, "late accept");
	snprintf(want, sizeof(want), "40{\"sid\":\"%s\"}", sio_socket_id(sa));
	tap_str(cli_msg(a), want, "CONNECT answered with the socket id");
	tap_ok(strncmp(sio_socket_id(sa), "2a", 2) == 0 &&
	    strlen(sio_socket_id(sa)) == SIO_SID_LEN, "socket id: 2a + 18");
	tap_str(sio_socket_query(sa), "EIO=4&transport=websocket&token=abc",
	    "query of the opening request");
	tap_str(sio_socket_addr(sa), "127.0.0.1", "peer address");
	tap_int(sio_accept(sa), -1, "second accept refused");

	/* events and acks */
	cli_send(a, "427[\"hi\",1,{\"k\":\"v\"}]");
	m = cli_msg(a);
	tap_str(last_event, "hi", "event name");
	tap_str(last_args, "[1,{\"k\":\"v\"}]", "event args without the name");
	tap_int(last_ack, 7, "ack id");
	tap_str(m, "437[1,{\"k\":\"v\"}]", "ack sent");

	/* the socket closes while its connect is pending: safe with a ref */
	b = cli_open();
	(void)cli_msg(b);
	cli_send(b, "40");
	pump(0.05);
	sb = held;
	held = NULL;
	cli_close(b);
	pump(0.1);
	tap_ok(sb != NULL && !sio_socket_is_open(sb), "pending socket closed");
	tap_int(sio_accept(sb), -1, "accept after close is refused");
	tap_int(sio_refuse(sb, NULL), -1, "refuse after close is refused");
	sio_socket_unref(sb);

	/* refuse with data */
	c = cli_open();
	(void)cli_msg(c);
	cli_send(c, "40");
	pump(0.05);
	sc = held;
	held = NULL;
	rc = sio_refuse(sc, json_pack("{s:s,s:{s:i}}", "message",
	    "Unauthorized", "data", "code", 401));
	tap_str(cli_msg(c), "44{\"message\":\"Unauthorized\","
	    "\"data\":{\"code\":401}}", "CONNECT_ERROR with data");
	tap_ok(rc == 0 && !sio_socket_is_open(sc), "refused socket is closed");
	sio_socket_unref(sc);

	/* fan-out: one buffer, three sockets */
	hold = 0;
	cli_send(c, "40");
	(void)cli_msg(c);
	d = cli_open();
	(void)cli_msg(d);
	cli_send(d, "40");
	(void)cli_msg(d);
	sio_server_stats(srv, &st);
	/* 3 WebSocket sessions + the polling one of the CORS check */
	tap_ok(st.sockets == 3 && st.sessions == 4,
	    "stats: 3 sockets, 4 sessions");
	args = json_pack("[s]", "x");
	buf = sio_buf_event("/", "news", args);
	json_decref(args);
	tap_ok(buf != NULL, "buffer encoded once");
	/* the other two were accepted without a handle: broadcast to sa only
	 * through the API, and check the bytes reach it */
	tap_int(sio_send_buf(sa, buf), 0, "send_buf");
	tap_int(sio_send_buf(sa, buf), 0, "send_buf again");
	sio_buf_unref(buf);
	tap_ok(strcmp(cli_msg(a), "42[\"news\",\"x\"]") == 0 &&
	    strcmp(cli_msg(a), "42[\"news\",\"x\"]") == 0,
	    "both copies arrive");

	/* server-side disconnect: DISCONNECT, then the Engine.IO close */
	ndisc = 0;
	sio_disconnect(sa);
	tap_ok(ndisc == 1 &&
	    strcmp(last_reason, "server namespace disconnect") == 0,
	    "on_disconnect: server namespace disconnect");
	tap_str(cli_msg(a), "41", "DISCONNECT sent");
	tap_str(cli_msg(a), "<close>", "then the WebSocket closes");
	sio_socket_unref(sa);		/* the ref taken in on_connect */

	/* output cap: a burst over outq_max closes the connection */
	hold = 1;
	cli_send(d, "40/other");
	pump(0.05);
	sc = held;
	held = NULL;
	(void)sio_accept(sc);
	args = json_pack("[s]", "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789");
	for (i = 0, rc = 0; i < 1000 && rc == 0; i++)
		rc = sio_emit(sc, "burst", args);
	json_decref(args);
	tap_ok(rc == -1 && !sio_socket_is_open(sc),
	    "output cap closes the socket");
	tap_str(last_reason, "transport error", "reason transport error");
	sio_socket_unref(sc);

	/* a connection may not hold more than 32 namespaces */
	hold = 2;
	b = cli_open();
	(void)cli_msg(b);
	for (i = 0; i < 33; i++) {
		snprintf(want, sizeof(want), "40/n%d,", i);
		cli_send(b, want);
	}
	tap_str(cli_msg(b), "<close>", "33rd namespace closes the connection");
	cli_close(b);

	/* drain: the listener closes, new packets are ignored, owed acks go */
	defer = 1;
	cli_send(c, "421[\"slow\"]");
	pump(0.05);
	tap_ok(deferred != NULL && deferred_id == 1, "drain: an ack is owed");
	sio_server_stats(srv, &st);
	tap_ok(st.acks_pending == 1 && !st.draining, "stats: 1 ack pending");
	done_called = 0;
	sio_server_drain(srv, 2000, done, NULL);
	pump(0.05);
	tap_int(done_called, 0, "drain: not done while an ack is owed");
	{
		struct sockaddr_in	 sin;
		int			 fd;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		tap_ok(rc == -1 && errno == ECONNREFUSED,
		    "drain: the listener is closed");
		close(fd);
	}
	last_event[0] = '\0';
	cli_send(c, "422[\"late\"]");
	pump(0.05);
	tap_str(last_event, "", "drain: a new event is ignored");
	tap_int(sio_ack(deferred, deferred_id, NULL), 0, "drain: late ack");
	sio_socket_unref(deferred);
	deferred = NULL;
	tap_str(cli_msg(c), "431[]", "drain: the owed ack reaches the client");
	pump(0.05);
	sio_server_stats(srv, &st);
	tap_ok(st.acks_pending == 0 && st.draining,
	    "stats: draining, none owed");
	tap_int(done_called, 1, "drain: done once the ack is out");
	defer = 0;

	/* graceful shutdown */
	done_called = 0;
	ndisc = 0;
	sio_server_shutdown(srv, 1000, done, NULL);
	tap_str(cli_msg(c), "<close>", "shutdown: WebSocket close frame");
	pump(0.2);
	tap_ok(ndisc == 1 && strcmp(last_reason, "server shutting down") == 0 &&
	    done_called == 1, "shutdown: on_disconnect and done");
	cli_close(a);
	cli_close(c);
	cli_close(d);
	sio_server_free(srv);
	ev_loop_destroy(loop);
	return tap_done();
}
