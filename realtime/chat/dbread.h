/*
 * dbread.h: reads from a PostgreSQL hot standby for chat-realtime that
 * never miss a write acknowledged before the read came in.  Used by the
 * chat layer for the reads that may lag (history pages, conversation
 * lists) when DB_READ_HOST is set (lib/conf.h); on top of pgq.h, and
 * knows nothing of the chat.
 *
 * Fences: the reads that come in during one loop pass wait for one
 * "SELECT pg_current_wal_lsn()" on the primary, queued after they came
 * in; every write acknowledged before then (synchronous_commit on: the
 * commit was flushed) ends at or before that position.  The reads go to
 * the standby once an answer of its connection, received before they
 * are sent, shows that position replayed (their snapshots come later,
 * so they hold every such write): the last one if it does, else
 * "SELECT pg_last_wal_replay_lsn()" asked again every DBREAD_RECHECK_MS
 * for at most DBREAD_WAIT_MS, after which the primary answers them.  So
 * a user never misses their own acknowledged write (nor anyone else's),
 * whichever node took it, with no per-user state.
 *
 * A monitor asks both servers every DBREAD_MONITOR_MS: the standby is
 * "caught up to t" when it has replayed the primary's position of time
 * t, which is right also when the primary is idle (nothing to replay)
 * and when its WAL receiver is cut off (the position moves on without
 * it).  Reads go straight to the primary, without a fence, while the
 * standby is down (pgq reconnects with backoff), not in recovery,
 * silent, or caught up to a time more than max_lag_ms ago.
 */
#ifndef RT_CHAT_DBREAD_H
#define RT_CHAT_DBREAD_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "realtime/chat/pgq.h"

#define DBREAD_MONITOR_MS	200	/* lag sampled this often */
#define DBREAD_SAMPLES		64	/* primary positions remembered */
#define DBREAD_WAIT_MS		100	/* for the standby to replay, at most */
#define DBREAD_RECHECK_MS	2	/* ... asking again this often */

/* Where a read went: the standby, or the primary and why. */
enum	dbread_why { DBR_STANDBY = 0, DBR_DOWN, DBR_NOTSTANDBY, DBR_SILENT,
	DBR_LAG, DBR_BEHIND, DBR_ERROR, DBR_NOFENCE, DBR__MAX };

struct	dbread;

struct	dbread_opts {
	/* libpq keywords and values (pgq_new) of the primary and standby */
	const char *const	*pkeys;
	const char *const	*pvals;
	const char *const	*skeys;
	const char *const	*svals;
	/* The statements the standby runs (borrowed, as in pgq_new). */
	const char *const	*sqls;
	size_t			 nsql;
	struct pgq		*primary; /* borrowed: reads the standby
					     cannot serve */
	long			 max_lag_ms;
};

/* Returns NULL on ENOMEM.  Connecting starts at once. */
struct dbread	*dbread_new(struct ev_loop *, const struct dbread_opts *);
/* Fail what waits (callbacks run, res NULL) and free.  NULL is fine. */
void		 dbread_free(struct dbread *);

/*
 * As pgq_exec (no flags) of statement "stmt" of opts.sqls, on the
 * standby when it can answer, else on opts.primary.  "cb" is called
 * exactly once, never from inside dbread_exec; returns -1 (cb not
 * called) when nothing could be queued.
 */
int		 dbread_exec(struct dbread *, size_t stmt, int nparams,
		    const char *const *params, pgq_cb *cb, void *arg);

/* "standby", or "primary: <why>" (static), for /healthz. */
const char	*dbread_state(const struct dbread *);
/* The label of a reason: "standby", "down", "lag"... (static). */
const char	*dbread_why_name(enum dbread_why);

/*
 * Parse a pg_lsn as PostgreSQL prints it ("16/B374D848": two halves of
 * 1-8 hex digits) from len bytes at s (no NUL needed).  0 or -1.
 */
int		 dbread_lsn_parse(const char *s, size_t len, uint64_t *out);

struct	dbread_stats {
	uint64_t	 reads[DBR__MAX]; /* [DBR_STANDBY]: served by the
					     standby; others: by the
					     primary, and why */
	double		 lag;		/* s since the time the standby is
					   caught up to; -1: unknown */
	int		 standby;	/* 1: new reads go to the standby */
	struct pgq_stats standby_pg;	/* the standby connection's */
};
void		 dbread_stats(const struct dbread *, struct dbread_stats *);

#endif /* !RT_CHAT_DBREAD_H */
