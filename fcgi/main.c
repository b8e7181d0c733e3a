/*
 * main.c: chat-fcgi, the REST half of the chat backend.  The parent
 * binds one unix socket, forks FCGI_WORKERS workers that each run a
 * libfcgi accept loop on it, restarts a worker that dies (with a
 * backoff if they keep dying), and on SIGTERM/SIGINT asks every worker
 * to finish its request in flight and exit.  Workers are stateless: all
 * state is in PostgreSQL, Redis and UPLOAD_DIR (DESIGN.md "The picture").
 *
 * usage: chat-fcgi -s /path/to.sock
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "conf.h"
#include "http.h"
#include "log.h"

#define LISTEN_BACKLOG	1024
#define STOP_GRACE_S	10	/* seconds workers get to finish on stop */
#define BACKOFF_MAX_S	5	/* seconds between restarts at most */

static volatile sig_atomic_t	 stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: chat-fcgi -s /path/to.sock\n");
	exit(2);
}

/* Bind a fresh unix socket at path, mode 0666.  Returns the fd or -1. */
static int
listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A stale socket from a previous run; never remove anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket", path);
			return -1;
		}
		if (unlink(path) == -1) {
			log_warn("unlink %s", path);
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", path);
		goto fail;
	}
	/* nginx workers run as another user. */
	if (chmod(path, 0666) == -1) {
		log_warn("chmod %s", path);
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("listen %s", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
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

static long
ms_since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
 * A worker: accept and answer requests until told to stop.  SIGTERM is
 * blocked while a request runs, so it is finished, not cut off; it is
 * delivered before the next accept, which then fails with EINTR
 * (FCGI_FAIL_ACCEPT_ON_INTR) and the loop ends.
 */
static int
worker(int lfd, const struct conf *c)
{
	struct app		 a;
	FCGX_Request		 fr;
	struct http_req		 r;
	struct sigaction	 sa;
	struct timespec		 t0;
	sigset_t		 term, old;
	int			 rc = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: accept must see EINTR */
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1) {
		log_warn("sigaction");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	if (app_init(&a, c) == -1)
		return 1;
	if (FCGX_Init() != 0 ||
	    FCGX_InitRequest(&fr, lfd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("FCGX_Init failed");
		goto out;
	}
	while (!stopping) {
		if (FCGX_Accept_r(&fr) < 0) {
			if (stopping)
				break;
			/* EINTR from another signal, or a broken peer. */
			continue;
		}
		sigprocmask(SIG_BLOCK, &term, &old);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		http_req_init(&r, &fr, c);
		route_dispatch(&a, &r);
		/*
		 * Before FCGX_Finish_r, which frees the parameters.  Never
		 * the query string, tokens or bodies.
		 */
		log_info("%s %.100s %s %d %ldms", r.method, r.path, r.route,
		    r.status, ms_since(&t0));
		FCGX_Finish_r(&fr);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	rc = 0;
out:
	app_free(&a);
	return rc;
}

static pid_t
spawn(int lfd, const struct conf *c)
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
		/* A parent killed outright takes its workers along. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
			log_warn("prctl");
		if (getppid() != parent)
			_exit(0);
		_exit(worker(lfd, c));
	}
	return pid;
}

/* Ask every worker to stop; SIGKILL those still there after the grace. */
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
		if (ms_since(&t0) > STOP_GRACE_S * 1000L)
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

int
main(int argc, char *argv[])
{
	struct conf		 c;
	struct sigaction	 sa;
	const char		*why, *sock = NULL;
	pid_t			*pids = NULL, p;
	time_t			*born = NULL;
	int			 ch, lfd = -1, i, n, st, rc = 1, fails = 0;

	log_init("chat-fcgi");
	while ((ch = getopt(argc, argv, "s:")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	if (sock == NULL || optind != argc)
		usage();
	if (conf_load(&c, &why) == -1) {
		log_errx("%s", why);
		return 1;
	}
	{
		char	 dir[PATH_MAX];

		if (ensure_dir(c.upload_dir) == -1 ||
		    snprintf(dir, sizeof(dir), "%s/avatars", c.upload_dir) >=
		    (int)sizeof(dir) || ensure_dir(dir) == -1)
			return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1) {
		log_warn("sigaction");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = listen_unix(sock)) == -1)
		return 1;
	n = c.fcgi_workers;
	if ((pids = calloc((size_t)n, sizeof(*pids))) == NULL ||
	    (born = calloc((size_t)n, sizeof(*born))) == NULL) {
		log_warn("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((pids[i] = spawn(lfd, &c)) == -1)
			goto out;
		born[i] = time(NULL);
	}
	log_info("listening on %s with %d workers", sock, n);
	while (!stopping) {
		if ((p = waitpid(-1, &st, 0)) == -1) {
			if (errno != EINTR) {
				log_warn("waitpid");
				break;
			}
			continue;
		}
		for (i = 0; i < n && pids[i] != p; i++)
			continue;
		if (i == n)
			continue;
		pids[i] = 0;
		if (stopping)
			break;
		if (WIFSIGNALED(st))
			log_warnx("worker %d killed by signal %d", (int)p,
			    WTERMSIG(st));
		else
			log_warnx("worker %d exited with %d", (int)p,
			    WEXITSTATUS(st));
		/* Dying young again and again: back off, up to 5 s. */
		if (time(NULL) - born[i] < 2) {
			if (fails < BACKOFF_MAX_S)
				fails++;
			sleep((unsigned)fails);
		} else
			fails = 0;
		if (stopping)
			break;
		if ((pids[i] = spawn(lfd, &c)) == -1)
			break;
		born[i] = time(NULL);
	}
	log_info("stopping");
	rc = 0;
out:
	if (pids != NULL)
		stop_all(pids, n);
	if (lfd != -1) {
		close(lfd);
		unlink(sock);
	}
	free(pids);
	free(born);
	return rc;
}
