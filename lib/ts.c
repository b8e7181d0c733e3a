/*
 * ts.c: the ISO 8601 timestamp of ts.h, for lib/log.c's lines and for
 * anyone else who stamps an instant from C.  No I/O.
 */
#include "config.h"

#include <stdio.h>
#include <time.h>

#include "lib/ts.h"

int
ts_iso(char *buf, size_t bufsz, time_t sec, long ms)
{
	struct tm	 tm;
	int		 n;

	if (ms < 0 || ms > 999 || gmtime_r(&sec, &tm) == NULL)
		return -1;
	n = snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
	if (n < 0 || (size_t)n >= bufsz)
		return -1;
	return n;
}

long
ts_ms_since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}
