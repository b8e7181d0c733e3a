/*
 * pgq.h: asynchronous PostgreSQL for chat-realtime.  One libpq
 * connection per struct pgq, driven by a libev loop in pipeline mode:
 * queries queue up, are sent without waiting for earlier answers, and
 * each answer calls its callback.  Queries marked PGQ_BATCH (message
 * inserts) that are waiting together are sent as one transaction
 * (q1; ...; qn; one sync: the implicit transaction of the extended
 * query protocol): one round trip and one commit for many.  Their
 * callbacks run after the sync came back, so after the commit.  If any
 * of them fails, the whole batch is rolled back and its queries are
 * retried one by one.  At most one batch is on the wire at a time:
 * while it is, the next one gathers.
 *
 * The connection is made without blocking and remade with backoff after
 * a loss; while it is down, queries fail at once (callback with res ==
 * NULL), so nothing waits forever.  Queries stuck longer than
 * PGQ_STUCK_MS reset the connection.  Single-threaded.
 */
#ifndef RT_CHAT_PGQ_H
#define RT_CHAT_PGQ_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libpq-fe.h>

#define PGQ_MAX_PARAMS	8	/* parameters per query */
#define PGQ_MAX_BATCH	256	/* queries per batch transaction */
#define PGQ_MAX_QUEUE	20000	/* queued queries before refusing */
#define PGQ_STUCK_MS	15000	/* oldest answer awaited this long: reset */
#define PGQ_BACKOFF_MIN	100	/* ms, first reconnect delay */
#define PGQ_BACKOFF_MAX	5000	/* ms, reconnect delay cap */

struct	pgq;

/* Flags of pgq_exec(). */
#define PGQ_BATCH	0x01	/* may share a transaction with others */

/*
 * Result callback.  "res" is borrowed (valid during the call; never
 * PGRES_PIPELINE_* ) with status PGRES_TUPLES_OK or PGRES_COMMAND_OK, or
 * NULL on any failure, then "err" is a short static-or-borrowed text.
 */
typedef void	 pgq_cb(void *arg, const PGresult *res, const char *err);

/*
 * Create a handle connecting on "loop" with the libpq keywords "keys"
 * and their values "vals" (as PQconnectStartParams takes them, keys
 * NULL-terminated, a NULL value meaning the default; both copied; see
 * conf_pg_params in lib/conf.h).  The statements "sqls" (nsql of them,
 * borrowed: must outlive the handle) are prepared on every new
 * connection as "s0", "s1", ...  Returns NULL on ENOMEM.  Connecting
 * starts at once.
 */
struct pgq	*pgq_new(struct ev_loop *loop, const char *const *keys,
		    const char *const *vals, const char *const *sqls,
		    size_t nsql, const char *name);
/* Fail every queued query (callbacks run) and free.  NULL is fine. */
void		 pgq_free(struct pgq *);

/*
 * Queue prepared statement number "stmt" with "nparams" text params
 * (copied; NULL entries are SQL NULL).  "cb" is called exactly once,
 * never from inside pgq_exec.  Returns 0, or -1 if the queue is full or
 * params are too many (cb is not called then).
 */
int		 pgq_exec(struct pgq *, size_t stmt, int nparams,
		    const char *const *params, int flags, pgq_cb *cb,
		    void *arg);

/* 1 when the connection is up. */
int		 pgq_ready(const struct pgq *);
/* The queue's counters since pgq_new(). */
struct	pgq_stats {
	uint64_t	 errors;	/* connections lost or failed, and
					   statements failed */
	uint64_t	 reconnects;	/* reconnect attempts */
	/* Statements answered, and their time (s) in three parts: */
	uint64_t	 done;
	double		 queue_s;	/* pgq_exec to sent */
	double		 pipe_s;	/* sent to the answer before it */
	double		 server_s;	/* from then to its own answer */
};
void		 pgq_stats(const struct pgq *, struct pgq_stats *);

#endif /* !RT_CHAT_PGQ_H */
