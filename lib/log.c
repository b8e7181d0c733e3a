/*
 * log.c: leveled logging to stderr, one line per call, control bytes
 * escaped.  Used by chat-fcgi and chat-realtime; see log.h.  chat-fcgi
 * logs every request, so a line costs one write(2) and nothing more: the
 * pid is kept (and forgotten in a forked child), and the timestamp's
 * date and time are formatted once per second.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/ts.h"

#define LOG_LINE_MAX	2048	/* bytes of message kept per line */

static const char	*prog = "chat";
static enum log_level	 min_level = LOG_LVL_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };
static pid_t		 my_pid;	/* 0: not known in this process */
static int		 atfork_set;

static void
forget_pid(void)
{
	my_pid = 0;
}

void
log_init(const char *name)
{
	const char	*lv;
	size_t		 i;

	if (name != NULL)
		prog = name;
	if (!atfork_set && pthread_atfork(NULL, NULL, forget_pid) == 0)
		atfork_set = 1;
	if ((lv = getenv("LOG_LEVEL")) == NULL)
		return;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(lv, level_names[i]) == 0)
			min_level = (enum log_level)i;
}

int
log_enabled(enum log_level lv)
{
	return lv >= min_level;
}

/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" for tv into ts (TS_ISO_LEN bytes): the part
 * up to the second is kept from the last call in the same second.
 */
static void
stamp(char ts[TS_ISO_LEN], const struct timeval *tv)
{
	static time_t	 last_sec = -1;
	static char	 last[TS_ISO_LEN];
	long		 ms = (long)(tv->tv_usec / 1000);

	if (tv->tv_sec != last_sec) {
		if (ts_iso(last, sizeof(last), tv->tv_sec, 0) !=
		    TS_ISO_LEN - 1) {
			last_sec = -1;
			ts[0] = '\0';
			return;
		}
		last_sec = tv->tv_sec;
	}
	memcpy(ts, last, TS_ISO_LEN);
	/* "...SS.000Z": the milliseconds are the three bytes before 'Z'. */
	ts[TS_ISO_LEN - 5] = (char)('0' + ms / 100);
	ts[TS_ISO_LEN - 4] = (char)('0' + ms / 10 % 10);
	ts[TS_ISO_LEN - 3] = (char)('0' + ms % 10);
}

/*
 * Format, escape and write one line with a single write(2), so lines
 * from several processes sharing stderr do not interleave.
 */
static void
emit(enum log_level lv, int errnum, const char *fmt, va_list ap)
{
	char		 msg[LOG_LINE_MAX], line[LOG_LINE_MAX * 4 + 128];
	char		 ts[TS_ISO_LEN];
	struct timeval	 tv;
	size_t		 n = 0, i;
	int		 len;

	if (!log_enabled(lv))
		return;
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (len < 0)
		return;
	gettimeofday(&tv, NULL);
	stamp(ts, &tv);
	if (my_pid == 0)
		my_pid = getpid();
	len = snprintf(line, sizeof(line), "%s %s[%ld] %s: ", ts, prog,
	    (long)my_pid, level_names[lv]);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	n = (size_t)len;
	for (i = 0; msg[i] != '\0' && n + 8 < sizeof(line); i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "\\x%02x", c);
		} else
			line[n++] = (char)c;
	}
	if (errnum != 0 && n + 4 < sizeof(line)) {
		len = snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
		if (len > 0)
			n += (size_t)len;
		if (n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
}

#define LOG_FN(name, lv, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
	int	 e = with_errno ? errno : 0;			\
								\
	va_start(ap, fmt);					\
	emit(lv, e, fmt, ap);					\
	va_end(ap);						\
	errno = e;						\
}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)

/* Log at level error and exit(1): for a program that cannot start. */
void
log_errx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	emit(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
