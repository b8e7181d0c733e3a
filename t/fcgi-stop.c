/*
 * t/fcgi-stop.c: chat-fcgi as a process (./fcgi/chat-fcgi, or env
 * CHAT_FCGI): listens on the HOST:PORT given to -s, serves /metrics on
 * -m, and on SIGTERM finishes the request in flight before it exits.
 * A request is held open by sending its body slowly; /metrics must then
 * show it in flight; SIGTERM comes; the rest of the body follows; the
 * whole answer must arrive, and the process exit 0.  Needs no database
 * or Redis: the request is a login with a bad body (a 400 before any
 * query; the rate limit fails open with Redis unreachable).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

/* A free TCP port on 127.0.0.1 (bound, read, released). */
static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
dial(int port)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 10, 0 };
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One FastCGI record (request id 1). */
static int
rec(int fd, int type, const void *buf, size_t len)
{
	unsigned char	 h[8] = { 1, (unsigned char)type, 0, 1,
	    (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	if (write(fd, h, 8) != 8)
		return -1;
	if (len > 0 && write(fd, buf, len) != (ssize_t)len)
		return -1;
	return 0;
}

/* Append a short name-value pair to p at *n. */
static void
nv(unsigned char *p, size_t *n, const char *k, const char *v)
{
	p[(*n)++] = (unsigned char)strlen(k);
	p[(*n)++] = (unsigned char)strlen(v);
	memcpy(p + *n, k, strlen(k));
	*n += strlen(k);
	memcpy(p + *n, v, strlen(v));
	*n += strlen(v);
}

/* Read all of fd into buf (NUL-terminated); returns the length. */
static size_t
slurp(int fd, char *buf, size_t bufsz)
{
	size_t	 n = 0;
	ssize_t	 r;

	while (n + 1 < bufsz && (r = read(fd, buf + n, bufsz - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/* GET path from the metrics port: the whole answer in buf. */
static size_t
http_get(int port, const char *path, char *buf, size_t bufsz)
{
	char	 q[256];
	int	 fd, n;
	size_t	 len = 0;

	buf[0] = '\0';
	if ((fd = dial(port)) == -1)
		return 0;
	n = snprintf(q, sizeof(q), "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, q, (size_t)n) == n)
		len = slurp(fd, buf, bufsz);
	close(fd);
	return len;
}

int
main(void)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	unsigned char	 params[512];
	char		 buf[65536], s[64], m[64], dir[64];
	const char	*bin = getenv("CHAT_FCGI");
	struct timespec	 nap = { 0, 100 * 1000000L };
	size_t		 pn = 0, len, i;
	pid_t		 pid, w = 0;
	int		 port, mport, fd = -1, st = 0, found;

	tap_plan(8);
	if (bin == NULL)
		bin = "./fcgi/chat-fcgi";
	port = free_port();
	mport = free_port();
	snprintf(s, sizeof(s), "127.0.0.1:%d", port);
	snprintf(m, sizeof(m), "127.0.0.1:%d", mport);
	snprintf(dir, sizeof(dir), "/tmp/fcgi-stop-%d", (int)getpid());
	if ((pid = fork()) == 0) {
		setenv("FCGI_WORKERS", "1", 1);
		setenv("JWT_SECRET", "fcgi-stop-test", 1);
		setenv("JWT_REFRESH_SECRET", "fcgi-stop-test-refresh", 1);
		setenv("REDIS_URL", "redis://127.0.0.1:1", 1);
		setenv("DB_HOST", "127.0.0.1", 1);
		setenv("DB_PORT", "1", 1);
		setenv("UPLOAD_DIR", dir, 1);
		setenv("LOG_LEVEL", "error", 1);
		unsetenv("METRICS_ADDR");
		execl(bin, "chat-fcgi", "-s", s, "-m", m, (char *)NULL);
		_exit(127);
	}
	printf("# %s -s %s -m %s\n", bin, s, m);
	tap_ok(pid > 0 && port > 0 && mport > 0, "started");
	/* Up when /metrics answers (the workers were forked before). */
	for (found = 0, i = 0; i < 100 && !found; i++) {
		nanosleep(&nap, NULL);
		found = http_get(mport, "/metrics", buf, sizeof(buf)) > 0;
	}
	tap_ok(found && strstr(buf, "chat_fcgi_workers 1\n") != NULL,
	    "/metrics answers on -m");

	/* A login whose 2-byte body comes in two parts. */
	if (found && (fd = dial(port)) != -1) {
		nv(params, &pn, "REQUEST_METHOD", "POST");
		nv(params, &pn, "DOCUMENT_URI", "/auth/login");
		nv(params, &pn, "REQUEST_URI", "/auth/login");
		nv(params, &pn, "CONTENT_TYPE", "application/json");
		nv(params, &pn, "CONTENT_LENGTH", "2");
		nv(params, &pn, "REMOTE_ADDR", "127.0.0.1");
		if (rec(fd, 1, begin, sizeof(begin)) == -1 ||
		    rec(fd, 4, params, pn) == -1 || rec(fd, 4, NULL, 0) == -1 ||
		    rec(fd, 5, "{", 1) == -1) {
			close(fd);
			fd = -1;
		}
	}
	tap_ok(fd != -1, "a request is under way over TCP");
	for (found = 0, i = 0; i < 50 && !found; i++) {
		nanosleep(&nap, NULL);
		http_get(mport, "/metrics", buf, sizeof(buf));
		found = strstr(buf, "chat_fcgi_requests_in_flight 1\n") != NULL;
	}
	tap_ok(found, "/metrics shows it in flight");

	kill(pid, SIGTERM);
	nanosleep(&nap, NULL);
	nanosleep(&nap, NULL);
	tap_ok(waitpid(pid, &st, WNOHANG) == 0, "still running after SIGTERM");
	len = 0;
	if (fd != -1 && rec(fd, 5, "}", 1) == 0 && rec(fd, 5, NULL, 0) == 0)
		len = slurp(fd, buf, sizeof(buf));
	/* stdout records carry the answer; the last is FCGI_END_REQUEST. */
	found = 0;
	for (i = 0; i + 8 <= len; i += 8 + (size_t)(((unsigned char)buf[i + 4]
	    << 8 | (unsigned char)buf[i + 5]) + (unsigned char)buf[i + 6]))
		if (buf[i + 1] == 3)
			found = 1;
	tap_ok(found && memmem(buf, len, "Status: 400", 11) != NULL,
	    "the request in flight got its whole answer (400, END_REQUEST)");
	if (fd != -1)
		close(fd);
	for (i = 0; i < 100 && (w = waitpid(pid, &st, WNOHANG)) == 0; i++)
		nanosleep(&nap, NULL);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	tap_ok(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "exits 0 once it is answered");
	fd = dial(port);
	tap_ok(fd == -1, "no longer listening");
	if (fd != -1)
		close(fd);
	snprintf(buf, sizeof(buf), "%s/avatars", dir);
	rmdir(buf);
	rmdir(dir);
	return tap_done();
}
