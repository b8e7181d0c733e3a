/*
 * t/fcgi-stop.c: chat-fcgi as a process (./fcgi/chat-fcgi, or env
 * CHAT_FCGI) and its stop.  Twice: over TCP (-s HOST:PORT, 1 worker)
 * and over a unix socket (-s PATH, 2 workers), with /metrics on -m.
 * Every worker is held busy by a request whose body comes slowly
 * (/metrics must show them in flight), then more connections than
 * there are workers are queued on the socket, each with a whole
 * request; SIGTERM comes.  The unix path must be gone at once (new
 * connects fail, so nginx tries the next server) while the process
 * still runs; over TCP a late connect is still queued (closing the
 * listener would reset the queue).  Then the slow bodies are finished,
 * and every request, in flight or queued, must get its whole answer
 * before the process exits 0 and stops listening.  Needs no database
 * or Redis: each request is a login with a bad body (a 400 before any
 * query; the rate limit fails open with Redis unreachable).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* Connect to "PATH" (a '/' in it) or a port on 127.0.0.1; -1 if not. */
static int
dial(const char *to)
{
	struct sockaddr_in	 sin;
	struct sockaddr_un	 sun;
	struct timeval		 tv = { 10, 0 };
	int			 fd, rc;

	if (strchr(to, '/') != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(to) >= sizeof(sun.sun_path))
			return -1;
		memcpy(sun.sun_path, to, strlen(to) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			return -1;
		rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)atoi(to));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (rc == -1 ||
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
	snprintf(q, sizeof(q), "%d", port);
	if ((fd = dial(q)) == -1)
		return 0;
	n = snprintf(q, sizeof(q), "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, q, (size_t)n) == n)
		len = slurp(fd, buf, bufsz);
	close(fd);
	return len;
}


/*
 * Start a login on fd: its parameters and, of its 2-byte body "{}",
 * the first byte only (slow) or both and the end of stdin (whole).
 */
static int
send_login(int fd, int whole)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	unsigned char	 params[512];
	size_t		 pn = 0;

	nv(params, &pn, "REQUEST_METHOD", "POST");
	nv(params, &pn, "DOCUMENT_URI", "/auth/login");
	nv(params, &pn, "REQUEST_URI", "/auth/login");
	nv(params, &pn, "CONTENT_TYPE", "application/json");
	nv(params, &pn, "CONTENT_LENGTH", "2");
	nv(params, &pn, "REMOTE_ADDR", "127.0.0.1");
	if (rec(fd, 1, begin, sizeof(begin)) == -1 ||
	    rec(fd, 4, params, pn) == -1 || rec(fd, 4, NULL, 0) == -1)
		return -1;
	if (!whole)
		return rec(fd, 5, "{", 1);
	return rec(fd, 5, "{}", 2) == -1 ? -1 : rec(fd, 5, NULL, 0);
}

/*
 * Read the answer on fd to its end: 1 if it is whole, that is a 400
 * in stdout records followed by FCGI_END_REQUEST.
 */
static int
answered(int fd)
{
	static char	 buf[65536];
	size_t		 len, i;
	int		 end = 0;

	len = slurp(fd, buf, sizeof(buf));
	for (i = 0; i + 8 <= len; i += 8 + (size_t)(((unsigned char)buf[i + 4]
	    << 8 | (unsigned char)buf[i + 5]) + (unsigned char)buf[i + 6]))
		if (buf[i + 1] == 3)
			end = 1;
	return end && memmem(buf, len, "Status: 400", 11) != NULL;
}

#define MAXCONN	16

/*
 * One run: chat-fcgi -s to (a path, or a port on 127.0.0.1) with
 * `workers' workers; every worker busy with a slow request, `queued'
 * whole requests queued behind them, SIGTERM.  11 checks.  fds has
 * room for one more connection, made after SIGTERM over TCP.
 */
static void
one_case(const char *to, int workers, int queued)
{
	char		 buf[65536], s[128], m[64], dir[64], name[160];
	const char	*bin = getenv("CHAT_FCGI");
	struct timespec	 nap = { 0, 100 * 1000000L };
	struct stat	 st;
	size_t		 i;
	pid_t		 pid, w = 0;
	int		 fds[MAXCONN], mport, fd, st_ = 0, found, n, ok;
	int		 is_unix = strchr(to, '/') != NULL;

	if (bin == NULL)
		bin = "./fcgi/chat-fcgi";
	for (i = 0; i < MAXCONN; i++)
		fds[i] = -1;
	if (workers + queued + 1 > MAXCONN)
		queued = MAXCONN - workers - 1;
	mport = free_port();
	if (is_unix)
		snprintf(s, sizeof(s), "%s", to);
	else
		snprintf(s, sizeof(s), "127.0.0.1:%s", to);
	snprintf(m, sizeof(m), "127.0.0.1:%d", mport);
	snprintf(dir, sizeof(dir), "/tmp/fcgi-stop-%d", (int)getpid());
	if ((pid = fork()) == 0) {
		snprintf(buf, sizeof(buf), "%d", workers);
		setenv("FCGI_WORKERS", buf, 1);
		setenv("JWT_SECRET", "fcgi-stop-test", 1);
		setenv("JWT_REFRESH_SECRET", "fcgi-stop-test-refresh", 1);
		setenv("REDIS_URL", "redis://127.0.0.1:1", 1);
		unsetenv("REDIS_CLUSTER");	/* the tests' cluster, if any */
		setenv("DB_HOST", "127.0.0.1", 1);
		setenv("DB_PORT", "1", 1);
		setenv("UPLOAD_DIR", dir, 1);
		setenv("LOG_LEVEL", "error", 1);
		unsetenv("METRICS_ADDR");
		execl(bin, "chat-fcgi", "-s", s, "-m", m, (char *)NULL);
		_exit(127);
	}
	printf("# %s -s %s -m %s (%d workers, %d queued)\n", bin, s, m,
	    workers, queued);
	snprintf(name, sizeof(name), "%s: started", is_unix ? "unix" : "tcp");
	tap_ok(pid > 0 && mport > 0, name);
	/* Up when /metrics answers (the workers were forked before). */
	for (found = 0, i = 0; i < 100 && !found; i++) {
		nanosleep(&nap, NULL);
		found = http_get(mport, "/metrics", buf, sizeof(buf)) > 0;
	}
	snprintf(s, sizeof(s), "chat_fcgi_workers %d\n", workers);
	tap_ok(found && strstr(buf, s) != NULL, "/metrics answers on -m");

	/* Every worker busy with a request whose body is not all there. */
	for (ok = found, n = 0; ok && n < workers; n++)
		if ((fds[n] = dial(to)) == -1 || send_login(fds[n], 0) == -1)
			ok = 0;
	tap_ok(ok, "one slow request per worker under way");
	snprintf(s, sizeof(s), "chat_fcgi_requests_in_flight %d\n", workers);
	for (found = 0, i = 0; ok && i < 50 && !found; i++) {
		nanosleep(&nap, NULL);
		http_get(mport, "/metrics", buf, sizeof(buf));
		found = strstr(buf, s) != NULL;
	}
	tap_ok(found, "/metrics shows them all in flight");
	/* More whole requests than workers, queued on the socket. */
	for (n = workers; ok && n < workers + queued; n++)
		if ((fds[n] = dial(to)) == -1 || send_login(fds[n], 1) == -1)
			ok = 0;
	tap_ok(ok, "whole requests queued behind them");

	kill(pid, SIGTERM);
	nanosleep(&nap, NULL);
	nanosleep(&nap, NULL);
	tap_ok(waitpid(pid, &st_, WNOHANG) == 0, "still running after SIGTERM");
	if (is_unix) {
		fd = dial(to);
		tap_ok(lstat(to, &st) == -1 && errno == ENOENT && fd == -1,
		    "the socket path is gone at once: new connects fail");
		if (fd != -1)
			close(fd);
	} else {
		/*
		 * TCP keeps its listener until drained (closing it would
		 * reset what is queued): a late connect is queued and
		 * answered too.
		 */
		n = workers + queued;
		ok = (fds[n] = dial(to)) != -1 && send_login(fds[n], 1) == 0;
		tap_ok(ok, "tcp: a connect after SIGTERM is still queued");
		if (ok)
			queued++;
	}

	for (n = 0; n < workers; n++)
		if (fds[n] != -1 && (rec(fds[n], 5, "}", 1) == -1 ||
		    rec(fds[n], 5, NULL, 0) == -1)) {
			close(fds[n]);
			fds[n] = -1;
		}
	for (found = 0, n = 0; n < workers; n++)
		found += fds[n] != -1 && answered(fds[n]);
	snprintf(name, sizeof(name), "the %d requests in flight got their "
	    "whole answers (400, END_REQUEST)", workers);
	tap_int(found, workers, name);
	for (found = 0, n = workers; n < workers + queued; n++)
		found += fds[n] != -1 && answered(fds[n]);
	snprintf(name, sizeof(name), "the %d queued requests got their whole "
	    "answers", queued);
	tap_int(found, queued, name);
	for (n = 0; n < MAXCONN; n++)
		if (fds[n] != -1)
			close(fds[n]);

	for (i = 0; i < 150 && (w = waitpid(pid, &st_, WNOHANG)) == 0; i++)
		nanosleep(&nap, NULL);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st_, 0);
	}
	tap_ok(w == pid && WIFEXITED(st_) && WEXITSTATUS(st_) == 0,
	    "exits 0 once they are answered");
	fd = dial(to);
	tap_ok(fd == -1, "no longer listening");
	if (fd != -1)
		close(fd);
	snprintf(buf, sizeof(buf), "%s/avatars", dir);
	rmdir(buf);
	rmdir(dir);
}

int
main(void)
{
	char	 port[16], path[128], dir[64];

	tap_plan(22);
	snprintf(port, sizeof(port), "%d", free_port());
	one_case(port, 1, 4);
	snprintf(dir, sizeof(dir), "/tmp/fcgi-stop-s%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/fcgi.sock", dir);
	if (mkdir(dir, 0700) == -1)
		perror(dir);
	one_case(path, 2, 8);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
