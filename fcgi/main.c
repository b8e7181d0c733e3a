/*
 * main.c: chat-fcgi, the REST half of the chat backend.  The parent
 * binds one socket (a unix path, or HOST:PORT so workers on several
 * hosts can serve one nginx), forks FCGI_WORKERS workers that each run
 * a libfcgi accept loop on it, restarts a worker that dies (with a
 * backoff if they keep dying), serves /metrics on a local address if
 * asked (metrics.h), and on SIGTERM/SIGINT drains: the unix path is
 * removed at once (new connects fail, nginx tries the next server), the
 * workers answer every connection already queued on the socket, exit
 * when none came for DRAIN_IDLE_MS, and the parent exits 0 once they
 * are gone (a TCP listener closes then too: closing it earlier would
 * reset what is queued).  Each request is logged as one
 * key=value line.  Workers are stateless: all state is in PostgreSQL,
 * Redis and UPLOAD_DIR (README.md "Architecture").
 *
 * usage: chat-fcgi -s /path/to.sock | -s HOST:PORT [-m HOST:PORT]
 * (-m defaults to env METRICS_ADDR; none: no metrics endpoint).  FastCGI
 * has no authentication: on TCP, bind a private address and list the
 * nginx hosts in FCGI_WEB_SERVER_ADDRS ("10.0.0.10,10.0.0.11"), which
 * libfcgi checks on every connection.  nginx's $request_id, passed as
 * fastcgi_param REQUEST_ID, becomes the request id in the log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi/app.h"
#include "fcgi/http.h"
#include "fcgi/listen.h"
#include "fcgi/metrics.h"
#include "fcgi/redis.h"
#include "fcgi/route.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/ts.h"

#define LISTEN_BACKLOG	1024
#define DRAIN_IDLE_MS	100	/* a stopping worker exits after this idle */
#define DRAIN_MAX_S	8	/* ... or after draining this long (TCP) */
#define STOP_GRACE_S	12	/* then SIGKILL (deploy waits 15 s) */
#define BACKOFF_MAX_S	5	/* seconds between restarts at most */

#define REQ_ID_MAX	64	/* bytes of a request id */

static volatile sig_atomic_t	 stopping;
static int			 wake_fd = -1;	/* parent's self-pipe */
static struct fcgi_metrics		*metrics;
static struct fcgi_metrics_srv	 msrv;

/* SIGTERM, SIGINT: stop (see worker() and main()); wake the parent. */
static void
on_stop(int sig)
{
	int	 e = errno;

	(void)sig;
	stopping = 1;
	if (wake_fd != -1)
		(void)write(wake_fd, "s", 1);
	errno = e;
}

/* SIGCHLD: wake the parent's poll so it reaps and restarts at once. */
static void
on_child(int sig)
{
	int	 e = errno;

	(void)sig;
	if (wake_fd != -1)
		(void)write(wake_fd, "c", 1);
	errno = e;
}

/* on_stop for SIGTERM and SIGINT.  Returns 0, or -1 (logged). */
static int
catch_stop(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1) {
		log_warn("sigaction");
		return -1;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: chat-fcgi -s /path/to.sock | -s HOST:PORT "
	    "[-m HOST:PORT]\n");
	exit(2);
}

/* Create dir (and UPLOAD_DIR above it) if missing. */
static int
ensure_dir(const char *dir)
{
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	return 0;
}

/* Microseconds since t0, CLOCK_MONOTONIC (ts_ms_since: milliseconds). */
static long long
us_since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000LL +
	    (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/*
 * The request id: nginx's $request_id when it passes one (fastcgi_param
 * REQUEST_ID $request_id; letters, digits and '-' only), else
 * "<pid>-<n>" from this worker's own counter.
 */
static void
request_id(FCGX_Request *fr, unsigned long long n, char *id, size_t idsz)
{
	const char	*s = FCGX_GetParam("REQUEST_ID", fr->envp);
	size_t		 i;

	if (s != NULL && *s != '\0' && strlen(s) < idsz) {
		for (i = 0; s[i] != '\0'; i++)
			if (!((s[i] >= '0' && s[i] <= '9') ||
			    (s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
				break;
		if (s[i] == '\0') {
			memcpy(id, s, i + 1);
			return;
		}
	}
	snprintf(id, idsz, "%ld-%llu", (long)getpid(), n);
}

/*
 * A log value: as is when it is a plain word, else in double quotes
 * with '"' and '\\' escaped; cut at about 100 bytes.  (log.c escapes
 * control bytes.)
 */
static void
log_value(const char *s, char *out, size_t outsz)
{
	size_t	 i, o = 0;
	int	 plain = *s != '\0';

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] == ' ' || s[i] == '"' || s[i] == '\\' ||
		    s[i] == '=' || (unsigned char)s[i] < 0x20)
			plain = 0;
	if (!plain && o + 1 < outsz)
		out[o++] = '"';
	for (i = 0; s[i] != '\0' && i < 100 && o + 4 < outsz; i++) {
		if (!plain && (s[i] == '"' || s[i] == '\\'))
			out[o++] = '\\';
		out[o++] = s[i];
	}
	if (!plain && o + 1 < outsz)
		out[o++] = '"';
	out[o] = '\0';
}

/* One request's log line: key=value, never a token or a body. */
#define REQ_LOG	"req id=%s method=%s route=%s status=%d ms=%lld.%03lld " \
	"path=%s ip=%s"

/*
 * One line per request: "req id=... method=GET route=me status=200
 * ms=1.234 path=/users/me ip=...".  The level is warn for 5xx.  Never
 * the query string, headers, tokens or bodies.
 */
static void
log_request(const struct http_req *r, enum route_id rid, const char *id,
    long long usec)
{
	char	 path[224], method[48];

	log_value(r->path, path, sizeof(path));
	log_value(r->method, method, sizeof(method));
	if (r->status >= 500)
		log_warnx(REQ_LOG, id, method, route_name(rid), r->status,
		    usec / 1000, usec % 1000, path, r->ip);
	else
		log_info(REQ_LOG, id, method, route_name(rid), r->status,
		    usec / 1000, usec % 1000, path, r->ip);
}

/*
 * A worker: accept and answer requests until told to stop, then drain.
 * The listening socket is non-blocking and shared by all workers; each
 * waits for a queued connection in its own epoll set (EPOLLEXCLUSIVE:
 * one idle worker is woken per connection, not all), then accepts it
 * with FCGX_Accept_r, which returns -EAGAIN when another worker got it
 * first (libfcgi's OS_Accept does not retry EAGAIN).  SIGTERM and
 * SIGINT are blocked except inside epoll_pwait, so a request is never
 * cut off and a stop can never slip in between a check of `stopping'
 * and the wait.  Stopping, a worker keeps accepting while connections
 * are queued and exits once none came for DRAIN_IDLE_MS (or after
 * DRAIN_MAX_S: a TCP listener may be fed for ever).
 */
static int
worker(int lfd, const struct conf *c, int slot)
{
	struct app		 a;
	FCGX_Request		 fr;
	struct http_req		 r;
	enum route_id		 rid;
	struct epoll_event	 ev;
	struct timespec		 t0, td;
	sigset_t		 term, open, pend;
	unsigned long		 pg_seen = 0, redis_seen = 0, sb_seen = 0;
	unsigned long		 pr_seen = 0;
	unsigned long long	 nreq = 0, ndrain = 0;
	long long		 usec;
	char			 id[REQ_ID_MAX];
	int			 rc = 1, efd = -1, draining = 0, tmo, ne;

	/* Blocked from here on but in epoll_pwait (mask `open'). */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	if (sigprocmask(SIG_BLOCK, &term, &open) == -1) {
		log_warn("sigprocmask");
		return 1;
	}
	sigdelset(&open, SIGTERM);
	sigdelset(&open, SIGINT);
	if (catch_stop() == -1)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if ((efd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_warn("epoll_create1");
		return 1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = lfd;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev) == -1) {
		/* Before Linux 4.5: every worker is woken, still correct. */
		ev.events = EPOLLIN;
		if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev) == -1) {
			log_warn("epoll_ctl");
			close(efd);
			return 1;
		}
	}
	if (app_init(&a, c) == -1) {
		close(efd);
		return 1;
	}
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&fr, lfd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("FCGX_Init failed");
		goto out;
	}
	for (;;) {
		/*
		 * epoll_pwait returning a connection leaves a pending
		 * SIGTERM pending: a worker fed without a pause would
		 * never see it.
		 */
		if (!stopping && sigpending(&pend) == 0 &&
		    (sigismember(&pend, SIGTERM) == 1 ||
		    sigismember(&pend, SIGINT) == 1))
			stopping = 1;
		tmo = -1;
		if (stopping) {
			if (!draining) {
				clock_gettime(CLOCK_MONOTONIC, &td);
				draining = 1;
			}
			if (ts_ms_since(&td) > DRAIN_MAX_S * 1000L) {
				log_warnx("still fed after %d s of draining; "
				    "stopping anyway", DRAIN_MAX_S);
				break;
			}
			tmo = DRAIN_IDLE_MS;
		}
		if ((ne = epoll_pwait(efd, &ev, 1, tmo, &open)) == -1) {
			if (errno == EINTR)
				continue;	/* stopping now, or another */
			log_warn("epoll_pwait");
			goto out;
		}
		if (ne == 0) {
			if (stopping)
				break;		/* drained */
			continue;
		}
		/* Lost the race for it (-EAGAIN), or a broken peer. */
		if (FCGX_Accept_r(&fr) < 0)
			continue;
		if (stopping)
			ndrain++;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		metrics_begin(metrics, slot);
		http_req_init(&r, &fr, c);
		request_id(&fr, ++nreq, id, sizeof(id));
		rid = route_dispatch(&a, &r);
		usec = us_since(&t0);
		/* Before FCGX_Finish_r, which frees the parameters. */
		log_request(&r, rid, id, usec);
		metrics_errors(metrics, a.db.errors - pg_seen,
		    a.redis_errors - redis_seen);
		pg_seen = a.db.errors;
		redis_seen = a.redis_errors;
		metrics_reads(metrics, a.reads_standby - sb_seen,
		    a.reads_primary - pr_seen);
		sb_seen = a.reads_standby;
		pr_seen = a.reads_primary;
		metrics_end(metrics, slot, rid, r.status, usec);
		/*
		 * The whole request read (stdin at its end, no error):
		 * without keepalive nginx sends nothing more, so the
		 * connection can close at once.  Else libfcgi lingers
		 * (shutdown, then up to 2 s for nginx to close first), a
		 * wait on nginx every request would pay.
		 */
		if (FCGX_HasSeenEOF(fr.in) == EOF &&
		    FCGX_GetError(fr.in) == 0)
			fr.detached = 1;
		FCGX_Finish_r(&fr);
	}
	if (ndrain > 0)
		log_info("drained %llu requests after the stop", ndrain);
	rc = 0;
out:
	app_free(&a);
	close(efd);
	return rc;
}

/*
 * Fork the worker for "slot", serving lfd; the child never returns
 * here.  Returns the child's pid, or -1 (logged).
 */
static pid_t
spawn(int lfd, const struct conf *c, int slot)
{
	pid_t	 pid, parent = getpid();

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		struct sigaction	 sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &sa, NULL);
		/* The parent's own descriptors are not the worker's. */
		metrics_srv_close(&msrv);
		if (wake_fd != -1) {
			close(wake_fd);
			wake_fd = -1;
		}
		/* A parent killed outright takes its workers along. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
			log_warn("prctl");
		if (getppid() != parent)
			_exit(0);
		_exit(worker(lfd, c, slot));
	}
	return pid;
}

/*
 * Ask every worker to stop (each drains the queue, see worker()); SIGKILL
 * those still there after the grace.
 */
static void
stop_all(pid_t *pids, int n)
{
	struct timespec	 t0, nap = { 0, 50 * 1000000L };
	int		 i, left, st;
	pid_t		 p;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			for (i = 0; i < n; i++)
				if (pids[i] == p)
					pids[i] = 0;
		for (left = 0, i = 0; i < n; i++)
			left += pids[i] > 0;
		if (left == 0)
			return;
		if (ts_ms_since(&t0) > STOP_GRACE_S * 1000L)
			break;
		nanosleep(&nap, NULL);
	}
	for (i = 0; i < n; i++)
		if (pids[i] > 0) {
			log_warnx("worker %d did not stop; killing it",
			    (int)pids[i]);
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st, 0);
		}
}

/* A self-pipe: signal handlers write to it, poll wakes up. */
static int
wake_pipe(int *rfd)
{
	int	 fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("pipe2");
		return -1;
	}
	*rfd = fds[0];
	wake_fd = fds[1];
	return 0;
}

/*
 * Say at start, once, when Redis cannot be used as REDIS_URL (or
 * REDIS_CLUSTER) says (a wrong password, say): the workers still start,
 * fail open on rate limits and report it on /healthz, rather than crash
 * in a loop that hides why.  A malformed setting is a configuration
 * error: exit.
 */
static void
redis_check(const struct conf *c)
{
	struct redis	 rd;
	const char	*why;

	if (redis_init(&rd, c->redis_url, c->redis_cluster,
	    c->redis_cluster_pass, &why) == -1)
		log_errx("%s", why);
	if (redis_ping(&rd) == -1)
		log_warnx("%s: %s; serving anyway (/healthz says 503)",
		    rd.cluster ? "REDIS_CLUSTER" : "REDIS_URL",
		    rd.why != NULL ? rd.why : "Redis did not answer");
	redis_free(&rd);
}

int
main(int argc, char *argv[])
{
	struct conf		 c;
	struct sigaction	 sa;
	struct pollfd		 pfd[METRICS_CLIENTS + 2];
	struct timespec		 ts;
	dev_t			 sdev = 0;
	ino_t			 sino = 0;
	const char		*why, *sock = NULL, *maddr;
	pid_t			*pids = NULL, p;
	time_t			*born = NULL, *due = NULL;
	char			 drain[64];
	int			 ch, lfd = -1, i, n, st, rc = 1, fails = 0;
	int			 rfd = -1, np, timeout, is_unix = 0;

	log_init("chat-fcgi");
	maddr = getenv("METRICS_ADDR");
	/* getopt(3)'s usual loop (t/bench/fcgi-minimal.c copies it). */
	while ((ch = getopt(argc, argv, "m:s:")) != -1) {
		switch (ch) {
		case 'm':
			maddr = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	if (sock == NULL || optind != argc)
		usage();
	if (maddr != NULL && *maddr == '\0')
		maddr = NULL;
	if (conf_load(&c, &why) == -1 || app_pcache_ttl(&c, &why) == -1)
		log_errx("%s", why);
	redis_check(&c);
	{
		char	 dir[PATH_MAX];

		if (ensure_dir(c.upload_dir) == -1 ||
		    snprintf(dir, sizeof(dir), "%s/avatars", c.upload_dir) >=
		    (int)sizeof(dir) || ensure_dir(dir) == -1)
			return 1;
	}
	n = c.fcgi_workers;
	if ((metrics = metrics_new(n)) == NULL)
		return 1;
	metrics_srv_init(&msrv, metrics);
	if (wake_pipe(&rfd) == -1)
		return 1;
	if (catch_stop() == -1)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) == -1) {
		log_warn("sigaction");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A path has a '/' ("./fcgi.sock" for one here); else HOST:PORT. */
	is_unix = strchr(sock, '/') != NULL;
	if ((lfd = is_unix ? listen_unix(sock, LISTEN_BACKLOG, &sdev, &sino) :
	    listen_tcp("-s", sock, LISTEN_BACKLOG)) == -1)
		return 1;
	if (maddr != NULL && metrics_srv_open(&msrv, maddr, metrics) == -1)
		goto out;
	if ((pids = calloc((size_t)n, sizeof(*pids))) == NULL ||
	    (born = calloc((size_t)n, sizeof(*born))) == NULL ||
	    (due = calloc((size_t)n, sizeof(*due))) == NULL) {
		log_warn("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((pids[i] = spawn(lfd, &c, i)) == -1)
			goto out;
		born[i] = time(NULL);
	}
	log_info("listening on %s with %d workers%s%s", sock, n,
	    maddr != NULL ? ", metrics on " : "", maddr != NULL ? maddr : "");
	/*
	 * Supervise: reap and restart workers (a slot whose workers keep
	 * dying young waits up to BACKOFF_MAX_S before the next), serve
	 * /metrics, never block on either.
	 */
	while (!stopping) {
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			for (i = 0; i < n && pids[i] != p; i++)
				continue;
			if (i == n)
				continue;
			pids[i] = 0;
			if (stopping)
				break;
			if (WIFSIGNALED(st))
				log_warnx("worker %d killed by signal %d",
				    (int)p, WTERMSIG(st));
			else
				log_warnx("worker %d exited with %d", (int)p,
				    WEXITSTATUS(st));
			metrics_restart(metrics, i);
			/* Dying young again and again: back off, up to 5 s. */
			if (time(NULL) - born[i] < 2) {
				if (fails < BACKOFF_MAX_S)
					fails++;
			} else
				fails = 0;
			due[i] = time(NULL) + fails;
		}
		if (stopping)
			break;
		timeout = 1000;
		for (i = 0; i < n; i++) {
			if (pids[i] != 0)
				continue;
			if (due[i] <= time(NULL)) {
				if ((pids[i] = spawn(lfd, &c, i)) == -1) {
					pids[i] = 0;
					due[i] = time(NULL) + 1;
					continue;
				}
				born[i] = time(NULL);
			} else
				timeout = 200;	/* due is in whole seconds */
		}
		pfd[0].fd = rfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		np = 1 + metrics_srv_pollfd(&msrv, pfd + 1, &timeout);
		if (poll(pfd, (nfds_t)np, timeout) == -1) {
			if (errno != EINTR) {
				log_warn("poll");
				break;
			}
			continue;
		}
		if (pfd[0].revents & POLLIN)
			while (read(rfd, drain, sizeof(drain)) > 0)
				continue;
		metrics_srv_run(&msrv, pfd + 1, np - 1);
	}
	log_info("stopping");
	rc = 0;
out:
	clock_gettime(CLOCK_MONOTONIC, &ts);
	metrics_srv_close(&msrv);
	/*
	 * New connects fail from here on (ENOENT: nginx passes the request
	 * to the next server, safe even for a POST).  The workers hold the
	 * socket open and answer what is already queued on it; it closes
	 * with the last of them.
	 */
	if (lfd != -1) {
		if (is_unix)
			listen_unix_remove(sock, sdev, sino);
		close(lfd);
	}
	if (pids != NULL) {
		for (i = 0; i < n; i++)
			if (pids[i] == -1)
				pids[i] = 0;
		stop_all(pids, n);
	}
	if (rc == 0)
		log_info("stopped: drained in %ld ms", ts_ms_since(&ts));
	free(pids);
	free(born);
	free(due);
	return rc;
}
