/*
 * pgq.c: asynchronous PostgreSQL on libev for chat-realtime (see pgq.h).
 * libpq 14+ pipeline mode: every statement is prepared once per
 * connection, queries are sent as soon as the loop is about to block
 * (an ev_prepare watcher), results are matched to queries in order.
 * Never blocks: connect with PQconnectStartParams/PQconnectPoll,
 * nonblocking sends with PQflush driven by a write watcher.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/log.h"
#include "realtime/chat/pgq.h"

enum	it_kind { IT_QUERY, IT_PREP, IT_SYNC };
enum	pgq_state { ST_DOWN, ST_CONNECTING, ST_READY };

struct	item {
	TAILQ_ENTRY(item) entry;
	enum it_kind	 kind;
	size_t		 stmt;
	int		 nparams;
	int		 flags;
	int		 inbatch;	/* sent inside a batch transaction */
	int		 gotres;
	PGresult	*res;		/* first result, while pending */
	pgq_cb		*cb;
	void		*arg;
	ev_tstamp	 queued;	/* pgq_exec */
	ev_tstamp	 sent;
	const char	*params[PGQ_MAX_PARAMS];
};
TAILQ_HEAD(itemq, item);

struct	pgq {
	struct ev_loop	*loop;
	char		**keys;	/* libpq keywords, then NULL */
	char		**vals;	/* their values (NULL: default) */
	size_t		 nparam; /* keywords */
	char		*name;
	const char *const *sqls;
	size_t		 nsql;
	PGconn		*conn;
	enum pgq_state	 state;
	ev_io		 io;
	int		 io_fd;
	int		 io_events;
	ev_timer	 retry;		/* reconnect after backoff */
	ev_timer	 tick;		/* 1 s: connect timeout, stuck query */
	ev_prepare	 prep;		/* flush the queue before blocking */
	ev_tstamp	 connect_start;
	ev_tstamp	 last_done;	/* the last answer read */
	unsigned int	 backoff;	/* ms */
	struct itemq	 pending;	/* not sent yet */
	struct itemq	 inflight;	/* sent, in order */
	struct itemq	 batch;		/* batch members with their result */
	size_t		 npending;
	int		 batch_inflight; /* a batch transaction is in flight */
	int		 batch_failed;
	int		 broken;	/* reset after the current drain */
	struct pgq_stats st;		/* counters, read by pgq_stats() */
};

static void	 pgq_connect(struct pgq *);
static void	 pgq_reset(struct pgq *, const char *);
static void	 flush_pending(struct pgq *);

static struct item *
item_new(enum it_kind kind)
{
	struct item	*it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		return NULL;
	it->kind = kind;
	return it;
}

static void
item_free(struct item *it)
{
	int	 i;

	if (it == NULL)
		return;
	PQclear(it->res);
	for (i = 0; i < it->nparams; i++)
		free((char *)it->params[i]);
	free(it);
}

/* Call back with failure and free. */
static void
item_fail(struct item *it, const char *err)
{
	if (it->cb != NULL)
		it->cb(it->arg, NULL, err);
	item_free(it);
}

static void
io_set(struct pgq *q, int fd, int events)
{
	if (fd == q->io_fd && events == q->io_events &&
	    (events == 0 || ev_is_active(&q->io)))
		return;
	ev_io_stop(q->loop, &q->io);
	q->io_fd = fd;
	q->io_events = events;
	if (fd >= 0 && events != 0) {
		ev_io_set(&q->io, fd, events);
		ev_io_start(q->loop, &q->io);
	}
}

/*
 * The prepare watcher stays active from pgq_new to pgq_free: one started
 * from inside another prepare watcher (send.c's batcher queues its
 * inserts from one) would only run after the loop's next wakeup, up to
 * a second later.  So this only checks that it is.
 */
static void
arm_prepare(struct pgq *q)
{
	if (!ev_is_active(&q->prep))
		ev_prepare_start(q->loop, &q->prep);
}

/* Fail everything queued or on the wire. */
static void
fail_all(struct pgq *q, const char *err)
{
	struct item	*it;

	while ((it = TAILQ_FIRST(&q->inflight)) != NULL) {
		TAILQ_REMOVE(&q->inflight, it, entry);
		if (it->kind == IT_QUERY)
			item_fail(it, err);
		else
			item_free(it);
	}
	while ((it = TAILQ_FIRST(&q->batch)) != NULL) {
		TAILQ_REMOVE(&q->batch, it, entry);
		item_fail(it, err);
	}
	while ((it = TAILQ_FIRST(&q->pending)) != NULL) {
		TAILQ_REMOVE(&q->pending, it, entry);
		q->npending--;
		item_fail(it, err);
	}
	q->batch_inflight = 0;
	q->batch_failed = 0;
}

static void
pgq_reset(struct pgq *q, const char *why)
{
	if (q->conn != NULL) {
		log_warnx("pgq %s: connection lost: %s", q->name, why);
		PQfinish(q->conn);
		q->conn = NULL;
	}
	q->st.errors++;
	q->st.reconnects++;
	io_set(q, -1, 0);
	q->state = ST_DOWN;
	q->broken = 0;
	fail_all(q, "database unavailable");
	ev_timer_stop(q->loop, &q->retry);
	ev_timer_set(&q->retry, q->backoff / 1000.0, 0.);
	ev_timer_start(q->loop, &q->retry);
	if (q->backoff < PGQ_BACKOFF_MAX / 2)
		q->backoff *= 2;
	else
		q->backoff = PGQ_BACKOFF_MAX;
}

/* Try to send what libpq buffered; watch for writability if needed. */
static void
do_flush(struct pgq *q)
{
	int	 rc, ev = EV_READ;

	if ((rc = PQflush(q->conn)) == -1) {
		q->broken = 1;
		return;
	}
	if (rc == 1)
		ev |= EV_WRITE;
	io_set(q, PQsocket(q->conn), ev);
}

/* Send one item of a kind other than IT_SYNC; 0 or -1. */
static int
send_item(struct pgq *q, struct item *it)
{
	char	 name[32];
	int	 rc = 0;

	switch (it->kind) {
	case IT_QUERY:
		snprintf(name, sizeof(name), "s%zu", it->stmt);
		rc = PQsendQueryPrepared(q->conn, name, it->nparams,
		    it->params, NULL, NULL, 0);
		break;
	case IT_PREP:
		snprintf(name, sizeof(name), "s%zu", it->stmt);
		rc = PQsendPrepare(q->conn, name, q->sqls[it->stmt], 0, NULL);
		break;
	case IT_SYNC:
		rc = PQpipelineSync(q->conn);
		break;
	}
	if (rc != 1) {
		log_warnx("pgq %s: send: %s", q->name,
		    PQerrorMessage(q->conn));
		return -1;
	}
	it->sent = ev_time();
	TAILQ_INSERT_TAIL(&q->inflight, it, entry);
	return 0;
}

/* Send an internal item; 0 or -1. */
static int
send_internal(struct pgq *q, enum it_kind kind, int inbatch)
{
	struct item	*it;

	if ((it = item_new(kind)) == NULL)
		return -1;
	it->inbatch = inbatch;
	if (send_item(q, it) == -1) {
		item_free(it);
		return -1;
	}
	return 0;
}

/*
 * Send the pending queue: first one batch transaction of PGQ_BATCH
 * queries (unless one is on the wire), then every other query with its
 * own sync.
 */
static void
flush_pending(struct pgq *q)
{
	struct item	*it, *next;
	size_t		 n = 0;

	if (q->state != ST_READY)
		return;
	if (!q->batch_inflight) {
		TAILQ_FOREACH(it, &q->pending, entry)
			if (it->flags & PGQ_BATCH)
				n++;
		if (n == 1) {
			/* Alone: no transaction needed. */
			TAILQ_FOREACH(it, &q->pending, entry)
				if (it->flags & PGQ_BATCH)
					it->flags &= ~PGQ_BATCH;
		} else if (n > 1) {
			/*
			 * No BEGIN/COMMIT: what runs between two syncs is
			 * one implicit transaction, committed at the sync
			 * or, after any error, rolled back whole.
			 */
			n = 0;
			for (it = TAILQ_FIRST(&q->pending); it != NULL &&
			    n < PGQ_MAX_BATCH; it = next) {
				next = TAILQ_NEXT(it, entry);
				if (!(it->flags & PGQ_BATCH))
					continue;
				TAILQ_REMOVE(&q->pending, it, entry);
				q->npending--;
				it->inbatch = 1;
				if (send_item(q, it) == -1) {
					item_fail(it, "database error");
					goto broken;
				}
				n++;
			}
			if (send_internal(q, IT_SYNC, 1) == -1)
				goto broken;
			q->batch_inflight = 1;
			q->batch_failed = 0;
			log_debug("pgq %s: batch of %zu", q->name, n);
		}
	}
	for (it = TAILQ_FIRST(&q->pending); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->flags & PGQ_BATCH)
			continue;
		TAILQ_REMOVE(&q->pending, it, entry);
		q->npending--;
		if (send_item(q, it) == -1) {
			item_fail(it, "database error");
			goto broken;
		}
		if (send_internal(q, IT_SYNC, 0) == -1)
			goto broken;
	}
	do_flush(q);
	if (!q->broken)
		return;
broken:
	pgq_reset(q, "send failed");
}

static int
res_ok(const PGresult *res)
{
	ExecStatusType	 st;

	if (res == NULL)
		return 0;
	st = PQresultStatus(res);
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

static void
log_res(struct pgq *q, const struct item *it)
{
	const char	*msg;

	if (it->res == NULL ||
	    PQresultStatus(it->res) == PGRES_PIPELINE_ABORTED)
		return;
	q->st.errors++;
	msg = PQresultErrorMessage(it->res);
	log_warnx("pgq %s: statement s%zu: %.200s", q->name, it->stmt,
	    msg != NULL ? msg : "?");
}

/* The end of a batch transaction: answer or retry its members. */
static void
batch_end(struct pgq *q)
{
	struct item	*it;
	struct itemq	 done;
	int		 failed = q->batch_failed;
	size_t		 n = 0;

	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &q->batch, entry);
	q->batch_inflight = 0;
	q->batch_failed = 0;
	if (failed) {
		TAILQ_FOREACH(it, &done, entry)
			n++;
		log_warnx("pgq %s: batch of %zu failed; retrying singly",
		    q->name, n);
		/* Back to the head of the queue, one transaction each. */
		while ((it = TAILQ_LAST(&done, itemq)) != NULL) {
			TAILQ_REMOVE(&done, it, entry);
			PQclear(it->res);
			it->res = NULL;
			it->gotres = 0;
			it->inbatch = 0;
			it->flags &= ~PGQ_BATCH;
			TAILQ_INSERT_HEAD(&q->pending, it, entry);
			q->npending++;
		}
		arm_prepare(q);
		return;
	}
	while ((it = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, it, entry);
		if (it->cb != NULL)
			it->cb(it->arg, it->res, NULL);
		item_free(it);
	}
	arm_prepare(q);
}

/*
 * Account an item's answer: PostgreSQL answers in order, so it started
 * on it when the answer before it was read, or when it was sent.
 */
static void
timed(struct pgq *q, struct item *it)
{
	ev_tstamp	 now = ev_time(), start;

	start = it->sent > q->last_done ? it->sent : q->last_done;
	q->last_done = now;
	if (it->kind != IT_QUERY)
		return;
	q->st.done++;
	q->st.queue_s += it->sent - it->queued;
	q->st.pipe_s += start - it->sent;
	q->st.server_s += now - start;
}

/* A query-like item got all its results. */
static void
complete(struct pgq *q, struct item *it)
{
	int	 ok = res_ok(it->res);

	switch (it->kind) {
	case IT_PREP:
		if (!ok) {
			log_res(q, it);
			q->broken = 1;
		}
		item_free(it);
		break;
	case IT_QUERY:
		if (it->inbatch) {
			if (!ok) {
				log_res(q, it);
				q->batch_failed = 1;
			}
			TAILQ_INSERT_TAIL(&q->batch, it, entry);
			break;
		}
		if (!ok) {
			log_res(q, it);
			item_fail(it, "database error");
			break;
		}
		if (it->cb != NULL)
			it->cb(it->arg, it->res, NULL);
		item_free(it);
		break;
	case IT_SYNC:
		break;
	}
}

/* Read every complete result that has arrived. */
static void
drain(struct pgq *q)
{
	struct item	*it;
	PGresult	*res;

	if (PQconsumeInput(q->conn) == 0) {
		q->broken = 1;
		return;
	}
	while (!q->broken && (it = TAILQ_FIRST(&q->inflight)) != NULL) {
		if (PQisBusy(q->conn))
			break;
		res = PQgetResult(q->conn);
		if (it->kind == IT_SYNC) {
			if (res == NULL)
				break;
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				log_warnx("pgq %s: result out of step (%s)",
				    q->name,
				    PQresStatus(PQresultStatus(res)));
				PQclear(res);
				q->broken = 1;
				break;
			}
			PQclear(res);
			TAILQ_REMOVE(&q->inflight, it, entry);
			timed(q, it);
			if (it->inbatch) {
				item_free(it);
				batch_end(q);
			} else
				item_free(it);
			continue;
		}
		if (res == NULL) {
			if (!it->gotres)
				break;
			TAILQ_REMOVE(&q->inflight, it, entry);
			timed(q, it);
			complete(q, it);
			continue;
		}
		it->gotres = 1;
		if (it->res == NULL)
			it->res = res;
		else
			PQclear(res);
	}
	if (PQstatus(q->conn) == CONNECTION_BAD)
		q->broken = 1;
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pgq	*q = w->data;

	if (q->state == ST_CONNECTING) {
		pgq_connect(q);
		return;
	}
	if (revents & EV_READ)
		drain(q);
	if (!q->broken && (revents & EV_WRITE))
		do_flush(q);
	if (q->broken)
		pgq_reset(q, PQerrorMessage(q->conn));
}

static void
prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct pgq	*q = w->data;
	struct item	*it;

	if (TAILQ_EMPTY(&q->pending))
		return;
	switch (q->state) {
	case ST_DOWN:
		while ((it = TAILQ_FIRST(&q->pending)) != NULL) {
			TAILQ_REMOVE(&q->pending, it, entry);
			q->npending--;
			item_fail(it, "database unavailable");
		}
		break;
	case ST_CONNECTING:
		return;		/* keep them until connected or failed */
	case ST_READY:
		flush_pending(q);
		break;
	}
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pgq	*q = w->data;

	q->state = ST_CONNECTING;
	q->connect_start = ev_now(loop);
	if ((q->conn = PQconnectStartParams((const char *const *)q->keys,
	    (const char *const *)q->vals, 0)) == NULL) {
		pgq_reset(q, "out of memory");
		return;
	}
	if (PQstatus(q->conn) == CONNECTION_BAD) {
		log_warnx("pgq %s: connect: %s", q->name,
		    PQerrorMessage(q->conn));
		PQfinish(q->conn);
		q->conn = NULL;
		pgq_reset(q, "connect failed");
		return;
	}
	pgq_connect(q);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pgq	*q = w->data;
	struct item	*it;
	ev_tstamp	 now = ev_now(loop);

	if (q->state == ST_CONNECTING &&
	    now - q->connect_start > PGQ_STUCK_MS / 3000.0) {
		PQfinish(q->conn);
		q->conn = NULL;
		log_warnx("pgq %s: connect timed out", q->name);
		pgq_reset(q, "connect timeout");
		return;
	}
	if (q->state == ST_READY &&
	    (it = TAILQ_FIRST(&q->inflight)) != NULL &&
	    now - it->sent > PGQ_STUCK_MS / 1000.0)
		pgq_reset(q, "no answer");
}

/* Advance a connection attempt. */
static void
pgq_connect(struct pgq *q)
{
	size_t	 i;
	struct item	*it;

	switch (PQconnectPoll(q->conn)) {
	case PGRES_POLLING_READING:
		io_set(q, PQsocket(q->conn), EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		io_set(q, PQsocket(q->conn), EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		log_warnx("pgq %s: connect: %.200s", q->name,
		    PQerrorMessage(q->conn));
		PQfinish(q->conn);
		q->conn = NULL;
		pgq_reset(q, "connect failed");
		return;
	}
	if (PQsetnonblocking(q->conn, 1) == -1 ||
	    PQenterPipelineMode(q->conn) != 1) {
		pgq_reset(q, "cannot enter pipeline mode");
		return;
	}
	q->state = ST_READY;
	q->backoff = PGQ_BACKOFF_MIN;
	log_info("pgq %s: connected", q->name);
	for (i = 0; i < q->nsql; i++) {
		if ((it = item_new(IT_PREP)) == NULL) {
			pgq_reset(q, "out of memory");
			return;
		}
		it->stmt = i;
		if (send_item(q, it) == -1) {
			item_free(it);
			pgq_reset(q, "prepare failed");
			return;
		}
	}
	if (send_internal(q, IT_SYNC, 0) == -1) {
		pgq_reset(q, "prepare failed");
		return;
	}
	io_set(q, PQsocket(q->conn), EV_READ);
	flush_pending(q);
}

/* Free a NULL-terminated array of n strings, some NULL. */
static void
strv_free(char **v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Copy the libpq keyword and value arrays into q.  Returns 0 or -1. */
static int
params_copy(struct pgq *q, const char *const *keys,
    const char *const *vals)
{
	size_t	 i, n;

	for (n = 0; keys[n] != NULL; n++)
		continue;
	q->nparam = n;
	if ((q->keys = calloc(n + 1, sizeof(*q->keys))) == NULL ||
	    (q->vals = calloc(n + 1, sizeof(*q->vals))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if ((q->keys[i] = strdup(keys[i])) == NULL ||
		    (vals[i] != NULL &&
		    (q->vals[i] = strdup(vals[i])) == NULL))
			return -1;
	return 0;
}

struct pgq *
pgq_new(struct ev_loop *loop, const char *const *keys,
    const char *const *vals, const char *const *sqls, size_t nsql,
    const char *name)
{
	struct pgq	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if (params_copy(q, keys, vals) == -1 ||
	    (q->name = strdup(name)) == NULL) {
		strv_free(q->keys, q->nparam);
		strv_free(q->vals, q->nparam);
		free(q);
		return NULL;
	}
	q->loop = loop;
	q->sqls = sqls;
	q->nsql = nsql;
	q->io_fd = -1;
	q->backoff = PGQ_BACKOFF_MIN;
	q->state = ST_DOWN;
	TAILQ_INIT(&q->pending);
	TAILQ_INIT(&q->inflight);
	TAILQ_INIT(&q->batch);
	ev_init(&q->io, io_cb);
	q->io.data = q;
	ev_timer_init(&q->retry, retry_cb, 0., 0.);
	q->retry.data = q;
	ev_timer_init(&q->tick, tick_cb, 1., 1.);
	q->tick.data = q;
	ev_prepare_init(&q->prep, prepare_cb);
	q->prep.data = q;
	ev_prepare_start(loop, &q->prep);
	ev_timer_start(loop, &q->tick);
	retry_cb(loop, &q->retry, 0);
	return q;
}

void
pgq_free(struct pgq *q)
{
	if (q == NULL)
		return;
	ev_io_stop(q->loop, &q->io);
	ev_timer_stop(q->loop, &q->retry);
	ev_timer_stop(q->loop, &q->tick);
	ev_prepare_stop(q->loop, &q->prep);
	fail_all(q, "shutting down");
	if (q->conn != NULL)
		PQfinish(q->conn);
	strv_free(q->keys, q->nparam);
	strv_free(q->vals, q->nparam);
	free(q->name);
	free(q);
}

int
pgq_exec(struct pgq *q, size_t stmt, int nparams, const char *const *params,
    int flags, pgq_cb *cb, void *arg)
{
	struct item	*it = NULL;
	int		 i;

	if (nparams < 0 || nparams > PGQ_MAX_PARAMS || stmt >= q->nsql ||
	    q->npending >= PGQ_MAX_QUEUE)
		return -1;
	if ((it = item_new(IT_QUERY)) == NULL)
		return -1;
	it->stmt = stmt;
	it->queued = ev_time();
	it->flags = flags;
	it->cb = cb;
	it->arg = arg;
	it->nparams = nparams;
	for (i = 0; i < nparams; i++) {
		if (params[i] != NULL &&
		    (it->params[i] = strdup(params[i])) == NULL) {
			item_free(it);
			return -1;
		}
	}
	TAILQ_INSERT_TAIL(&q->pending, it, entry);
	q->npending++;
	arm_prepare(q);
	return 0;
}

int
pgq_ready(const struct pgq *q)
{
	return q->state == ST_READY;
}

void
pgq_stats(const struct pgq *q, struct pgq_stats *st)
{
	*st = q->st;
}
