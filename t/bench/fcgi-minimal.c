/*
 * fcgi-minimal.c: the REST baseline.  The least a libfcgi responder can
 * do: FCGX_Accept_r in a loop, answer a tiny JSON.  Run behind the same
 * nginx as chat-fcgi (t/bench/rest does that), with as many processes as
 * FCGI_WORKERS, it shows what nginx + FastCGI cost before our code runs.
 *
 * Build:  gcc -O2 -Wall -Wextra -o fcgi-minimal t/bench/fcgi-minimal.c -lfcgi
 * Usage:  fcgi-minimal -s /path/to.sock [-n workers]
 * The parent opens the unix socket, forks the workers and waits; SIGTERM
 * to the parent stops them all and removes the socket.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#define MAXWORKERS	256

static volatile sig_atomic_t	 gotsig;

static void
onsig(int sig)
{
	(void)sig;
	gotsig = 1;
}

static void
serve(int fd)
{
	FCGX_Request	 req;
	static const char body[] = "{\"ok\":true}";

	if (FCGX_InitRequest(&req, fd, 0) != 0)
		_exit(1);
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %d\r\n\r\n%s",
		    (int)sizeof(body) - 1, body);
		FCGX_Finish_r(&req);
	}
	_exit(0);
}

int
main(int argc, char *argv[])
{
	const char	*path = NULL;
	pid_t		 pids[MAXWORKERS];
	int		 ch, n = 4, i, fd, status;

	while ((ch = getopt(argc, argv, "s:n:")) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (path == NULL || n < 1 || n > MAXWORKERS)
		goto usage;
	if (FCGX_Init() != 0) {
		fprintf(stderr, "fcgi-minimal: FCGX_Init failed\n");
		return 1;
	}
	unlink(path);
	if ((fd = FCGX_OpenSocket(path, 1024)) == -1) {
		fprintf(stderr, "fcgi-minimal: cannot listen on %s\n", path);
		return 1;
	}
	signal(SIGTERM, onsig);
	signal(SIGINT, onsig);
	for (i = 0; i < n; i++) {
		if ((pids[i] = fork()) == -1) {
			perror("fork");
			n = i;
			gotsig = 1;
			break;
		}
		if (pids[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			serve(fd);
		}
	}
	while (!gotsig)
		pause();
	for (i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (i = 0; i < n; i++)
		while (waitpid(pids[i], &status, 0) == -1 && errno == EINTR)
			;
	unlink(path);
	return 0;
usage:
	fprintf(stderr, "usage: fcgi-minimal -s socket [-n workers]\n");
	return 2;
}
