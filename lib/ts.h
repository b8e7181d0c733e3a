/*
 * ts.h: the one timestamp format both programs write: ISO 8601 in UTC
 * with milliseconds, "2026-01-29T10:00:00.000Z", as JavaScript's
 * Date.prototype.toISOString() gives it (docs/api.md §1.3).  Log lines
 * are stamped with ts_iso; timestamps read from PostgreSQL are rendered
 * by the server through TS_SQL, so they reach JSON already formatted.
 * Also the elapsed-time helper the workers use for their deadlines.
 */
#ifndef LIB_TS_H
#define LIB_TS_H

#include <stddef.h>	/* size_t */
#include <time.h>	/* time_t */

#define TS_ISO_LEN	25	/* "2026-01-29T10:00:00.000Z" and NUL */

/*
 * SQL rendering the timestamptz expression x (a string literal, such as
 * "m.created_at") in the same format: to_char() of it at time zone UTC.
 * NULL stays NULL.
 */
#define TS_SQL(x)	"to_char((" x ") AT TIME ZONE 'UTC', " \
			"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/*
 * Write the instant sec (seconds since the epoch) plus ms milliseconds
 * (0-999) into buf, NUL-terminated.  Returns the length (24 for years
 * 1000-9999), or -1 if it does not fit in bufsz or the time cannot be
 * broken down.
 */
int	 ts_iso(char *buf, size_t bufsz, time_t sec, long ms);

/* Milliseconds from t0 (read from CLOCK_MONOTONIC) until now. */
long	 ts_ms_since(const struct timespec *t0);

#endif /* !LIB_TS_H */
