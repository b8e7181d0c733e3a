/*
 * t/ts.c: lib/ts.h: ts_iso against known instants (the epoch, a leap
 * day, the last millisecond of a year), its bounds, and the SQL it
 * gives PostgreSQL.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "lib/ts.h"

int
main(void)
{
	char	 buf[TS_ISO_LEN];

	tap_plan(9);
	tap_int(ts_iso(buf, sizeof(buf), 0, 0), 24, "the epoch: 24 bytes");
	tap_str(buf, "1970-01-01T00:00:00.000Z", "the epoch");
	ts_iso(buf, sizeof(buf), 1769680800, 7);
	tap_str(buf, "2026-01-29T10:00:00.007Z", "docs/api.md's example, 7 ms");
	ts_iso(buf, sizeof(buf), 951782400, 500);
	tap_str(buf, "2000-02-29T00:00:00.500Z", "a leap day");
	ts_iso(buf, sizeof(buf), 1767225599, 999);
	tap_str(buf, "2025-12-31T23:59:59.999Z", "a year's last millisecond");
	tap_int(ts_iso(buf, sizeof(buf), 0, 1000), -1, "ms over 999");
	tap_int(ts_iso(buf, sizeof(buf), 0, -1), -1, "negative ms");
	tap_int(ts_iso(buf, TS_ISO_LEN - 1, 0, 0), -1, "one byte short");
	tap_str(TS_SQL("m.created_at"), "to_char((m.created_at) AT TIME "
	    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", "TS_SQL");
	return tap_done();
}
