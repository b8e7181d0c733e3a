/*
 * t/fuzz/rt-server.c: libFuzzer target for the Socket.IO server layer
 * (conn, tr_poll, tr_ws, eio_server, sio_server) in-process, through a
 * real loopback TCP connection to a server on the libev default loop.
 * fuzz-sources: realtime/server/conn.c realtime/server/linger.c
 * fuzz-sources: realtime/server/tr_poll.c
 * fuzz-sources: realtime/server/tr_ws.c realtime/server/eio_server.c
 * fuzz-sources: realtime/server/eio_send.c realtime/server/eio_http.c
 * fuzz-sources: realtime/server/sio_server.c realtime/server/sio_socket.c
 * fuzz-sources: realtime/server/sio_input.c realtime/server/metrics.c
 * fuzz-sources: realtime/codec/http.c realtime/codec/ws.c
 * fuzz-sources: realtime/codec/eio.c realtime/codec/sio.c lib/cors.c
 * fuzz-sources: lib/hex.c lib/log.c lib/prom.c lib/ts.c
 * fuzz-libs: -lev -ljansson -lcrypto
 * Input: byte 0 odd: the rest is sent raw (HTTP requests, polling,
 * upgrades).  Byte 0 even: a WebSocket session is opened on /socket.io/
 * (or /engine.io/ if bit 1 is set) and the rest is records
 * [flags][len][len bytes], each sent as one masked frame: flags bit 0
 * binary, bit 1 not final (fragment), bit 2 a ping control frame.
 * The server echoes events, acks them, and echoes raw Engine.IO.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "lib/log.h"
#include "realtime/server/sio_server.h"

static struct ev_loop		*loop;
static struct sio_server	*srv;
static int			 port;

static void
on_event(struct sio_socket *s, const char *name, json_t *args, int64_t ackid,
    const struct sio_bin *bins, size_t nbins, void *arg)
{
	(void)bins;
	(void)nbins;
	(void)arg;
	if (strcmp(name, "bye") == 0) {
		sio_disconnect(s);
		return;
	}
	(void)sio_emit(s, name, args);
	if (ackid >= 0)
		(void)sio_ack(s, ackid, args);
}

static void
on_raw(struct sio_eio *e, const void *p, size_t len, int binary, void *arg)
{
	(void)arg;
	(void)sio_eio_send(e, p, len, binary);
}

static void
setup(void)
{
	struct sio_opts	 o;

	signal(SIGPIPE, SIG_IGN);
	setenv("LOG_LEVEL", "error", 1);
	log_init("fuzz-rt-server");
	loop = ev_default_loop(0);
	memset(&o, 0, sizeof(o));
	o.ping_interval = 2000;
	o.ping_timeout = 1000;
	o.connect_timeout = 1000;
	o.max_payload = 100000;
	o.cors_origin = "*";
	o.on_event = on_event;
	if ((srv = sio_server_new(loop, &o)) == NULL ||
	    sio_server_add_raw_eio(srv, "/engine.io/", on_raw, NULL) == -1 ||
	    sio_server_listen(srv, "127.0.0.1", 0) == -1)
		abort();
	port = sio_server_port(srv);
}

static void
spin(int fd, int n)
{
	char	 buf[65536];
	int	 i;

	for (i = 0; i < n; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		while (fd != -1 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
}

static void
put(int fd, const void *p, size_t len)
{
	const char	*c = p;
	ssize_t		 n;
	int		 tries = 0;

	while (len > 0 && tries < 1000) {
		n = send(fd, c, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			c += n;
			len -= (size_t)n;
		} else if (n == -1 && errno != EAGAIN && errno != EINTR)
			return;
		spin(fd, 1);
		tries++;
	}
}

static void
frame(int fd, unsigned op, int fin, const uint8_t *p, size_t len)
{
	uint8_t	 f[300];
	size_t	 i;

	f[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	f[1] = (uint8_t)(0x80 | len);	/* len <= 255: fits 7 bits if < 126 */
	if (len >= 126) {
		f[1] = 0x80 | 126;
		f[2] = 0;
		f[3] = (uint8_t)len;
		memcpy(f + 4, "\x01\x02\x03\x04", 4);
		for (i = 0; i < len; i++)
			f[8 + i] = p[i] ^ f[4 + (i & 3)];
		put(fd, f, 8 + len);
		return;
	}
	memcpy(f + 2, "\x01\x02\x03\x04", 4);
	for (i = 0; i < len; i++)
		f[6 + i] = p[i] ^ f[2 + (i & 3)];
	put(fd, f, 6 + len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 sin;
	char			 req[512];
	size_t			 pos = 1, len;
	unsigned		 fl, cont = 0;
	int			 fd, n;

	if (srv == NULL)
		setup();
	if (size < 1)
		return 0;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return 0;
	}
	spin(fd, 1);
	if (data[0] & 1)
		put(fd, data + 1, size - 1);
	else {
		n = snprintf(req, sizeof(req),
		    "GET %s?EIO=4&transport=websocket HTTP/1.1\r\n"
		    "Host: x\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\nSec-WebSocket-Key: "
		    "dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n",
		    (data[0] & 2) ? "/engine.io/" : "/socket.io/");
		put(fd, req, (size_t)n);
		spin(fd, 2);
		while (pos + 2 <= size) {
			fl = data[pos];
			len = data[pos + 1];
			pos += 2;
			if (len > size - pos)
				len = size - pos;
			if (fl & 4)
				frame(fd, 0x9, 1, data + pos,
				    len < 126 ? len : 125);
			else {
				frame(fd, cont ? 0x0 : ((fl & 1) ? 0x2 : 0x1),
				    !(fl & 2), data + pos, len);
				cont = (fl & 2) != 0;
			}
			pos += len;
		}
	}
	spin(fd, 6);
	close(fd);
	spin(-1, 4);
	return 0;
}
