/*
 * t/log.c: lib/log.h: the line's shape (ISO time to the millisecond,
 * program, pid, level), control bytes escaped, levels below LOG_LEVEL
 * dropped, and a forked child naming its own pid, not its parent's
 * (the pid is kept between lines).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "lib/log.h"

/* Read what is in the pipe now (the writer has finished) into buf. */
static void
drain(int fd, char *buf, size_t bufsz)
{
	ssize_t	 n;
	size_t	 got = 0;

	while (got + 1 < bufsz &&
	    (n = read(fd, buf + got, bufsz - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

/* 1 if s starts with "YYYY-MM-DDTHH:MM:SS.mmmZ ". */
static int
iso_prefix(const char *s)
{
	const char	*shape = "dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t		 i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (s[i] == '\0')
			return 0;
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') :
		    s[i] != shape[i])
			return 0;
	}
	return 1;
}

int
main(void)
{
	int	 p[2], saved, st = 0;
	char	 buf[4096], want[128];
	pid_t	 child;

	tap_plan(7);
	setenv("LOG_LEVEL", "info", 1);
	log_init("log-test");
	if (pipe(p) == -1 || (saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(p[1], STDERR_FILENO) == -1) {
		tap_ok(0, "pipe");
		return tap_done();
	}

	log_info("hello %d", 42);
	log_debug("not shown");
	log_warnx("tab\there\nnewline");
	log_info("second");
	if ((child = fork()) == 0) {
		log_info("from the child");
		_exit(0);
	}
	waitpid(child, &st, 0);
	dup2(saved, STDERR_FILENO);
	close(p[1]);
	drain(p[0], buf, sizeof(buf));
	close(p[0]);

	tap_ok(iso_prefix(buf), "starts with an ISO time to the ms");
	snprintf(want, sizeof(want), " log-test[%ld] info: hello 42\n",
	    (long)getpid());
	tap_ok(strstr(buf, want) != NULL, "program, pid, level, message");
	tap_ok(strstr(buf, "not shown") == NULL, "debug dropped at info");
	tap_ok(strstr(buf, "warn: tab\\x09here\\x0anewline\n") != NULL,
	    "control bytes escaped, one line");
	snprintf(want, sizeof(want), " log-test[%ld] info: second\n",
	    (long)getpid());
	tap_ok(strstr(buf, want) != NULL, "the next line: the same pid");
	snprintf(want, sizeof(want), " log-test[%ld] info: from the child\n",
	    (long)child);
	tap_ok(WIFEXITED(st) && strstr(buf, want) != NULL,
	    "a forked child names its own pid");
	{
		char	*l;
		int	 lines = 0;

		for (l = buf; (l = strchr(l, '\n')) != NULL; l++)
			lines++;
		tap_int(lines, 4, "four lines");
	}
	return tap_done();
}
