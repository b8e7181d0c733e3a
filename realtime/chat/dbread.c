/*
 * dbread.c: reads from a PostgreSQL hot standby, fenced by the primary's
 * WAL position (see dbread.h for why that is enough).  Three pgq
 * connections: the caller's primary (reads the standby cannot serve),
 * "f" to the primary (positions: fences and the monitor) and "s" to the
 * standby (the reads, with one replay check before each fence's
 * reads).  Single-threaded, never blocks.  Answers read from PostgreSQL
 * are checked before use (an LSN is at most 17 characters of hex).
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "lib/log.h"
#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"

/* On "f" (the primary): its WAL write position, as "X/Y". */
static const char *const fence_sql[] = {
	"SELECT pg_current_wal_lsn()::text"
};
/* On "s" (the standby), after the caller's statements. */
#define REPLAY_SQL	"SELECT pg_is_in_recovery()," \
			" pg_last_wal_replay_lsn()::text"

static const char *const why_name[DBR__MAX] = {
	"standby", "down", "not_standby", "silent", "lag", "behind", "error",
	"nofence"
};
static const char *const why_state[DBR__MAX] = {
	"standby", "primary: standby down", "primary: not a standby",
	"primary: standby not answering", "primary: standby lags",
	"primary: standby behind", "primary: standby error",
	"primary: no fence"
};

struct	rq;

/* The reads of one loop pass, waiting for one primary position. */
struct	fence {
	struct dbread		*r;
	ev_tstamp		 t;	/* when its position was asked */
	uint64_t		 target;
	size_t			 refs;	/* reads on "s" not answered */
	ev_timer		 wait;	/* until the next replay check */
	LIST_ENTRY(fence)	 wentry; /* in dbread.waiting meanwhile */
	TAILQ_HEAD(, rq)	 reads;
};

/* One read. */
struct	rq {
	TAILQ_ENTRY(rq)		 entry;
	struct fence		*f;
	size_t			 stmt;
	int			 nparams;
	char			*params[PGQ_MAX_PARAMS];
	pgq_cb			*cb;
	void			*arg;
};

struct	sample {
	ev_tstamp		 t;
	uint64_t		 lsn;
};

struct	dbread {
	struct ev_loop		*loop;
	struct pgq		*primary;	/* borrowed */
	struct pgq		*fq;		/* "f": primary positions */
	struct pgq		*sq;		/* "s": the standby */
	const char		**sqls;		/* the caller's, REPLAY_SQL */
	size_t			 nsql;		/* the caller's */
	ev_tstamp		 max_lag;	/* s */
	ev_timer		 mon;
	ev_check		 gate;		/* queues the open fence */
	struct fence		*open;		/* gathering reads */
	LIST_HEAD(, fence)	 waiting;	/* for the standby to replay */
	struct sample		 ring[DBREAD_SAMPLES];
	size_t			 nring, ringpos;
	ev_tstamp		 caught;	/* has all acked before this */
	ev_tstamp		 answered;	/* the last replay answer */
	int			 recovery;	/* last answer said so */
	uint64_t		 replay;	/* its position then, */
	uint64_t		 replay_gen;	/* on this connection of sq */
	int			 mon_p, mon_s;	/* monitor queries out */
	ev_tstamp		 mon_t;		/* when mon_p was asked */
	uint64_t		 sq_reconnects;
	int			 closing;
	uint64_t		 reads[DBR__MAX];
};

/*
 * Positions.
 */

int
dbread_lsn_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t	 hi = 0, lo = 0, *v = &hi;
	size_t		 i, nd = 0;
	int		 slash = 0;

	if (len < 3 || len > 17)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '/') {
			if (slash++ || nd == 0)
				return -1;
			v = &lo;
			nd = 0;
			continue;
		}
		if (++nd > 8)
			return -1;
		if (s[i] >= '0' && s[i] <= '9')
			*v = *v * 16 + (uint64_t)(s[i] - '0');
		else if (s[i] >= 'A' && s[i] <= 'F')
			*v = *v * 16 + (uint64_t)(s[i] - 'A' + 10);
		else if (s[i] >= 'a' && s[i] <= 'f')
			*v = *v * 16 + (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	if (!slash || nd == 0)
		return -1;
	*out = hi << 32 | lo;
	return 0;
}

/* A pg_lsn column.  0 or -1. */
static int
lsn_parse(const PGresult *res, int row, int col, uint64_t *out)
{
	if (PQgetisnull(res, row, col))
		return -1;
	return dbread_lsn_parse(PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col), out);
}

/* The primary was at "lsn" when asked at "t". */
static void
sample_add(struct dbread *r, ev_tstamp t, uint64_t lsn)
{
	r->ring[r->ringpos].t = t;
	r->ring[r->ringpos].lsn = lsn;
	r->ringpos = (r->ringpos + 1) % DBREAD_SAMPLES;
	if (r->nring < DBREAD_SAMPLES)
		r->nring++;
}

/* The standby answered: in recovery or not, replayed up to "lsn". */
static void
replay_seen(struct dbread *r, int recovery, uint64_t lsn)
{
	struct pgq_stats	 st;
	size_t			 i;

	r->answered = ev_now(r->loop);
	r->recovery = recovery;
	if (!recovery)
		return;
	pgq_stats(r->sq, &st);
	r->replay = lsn;
	r->replay_gen = st.reconnects + 1;
	for (i = 0; i < r->nring; i++)
		if (r->ring[i].lsn <= lsn && r->ring[i].t > r->caught)
			r->caught = r->ring[i].t;
}

/*
 * Has the standby replayed "lsn", as far as its connection's last answer
 * says?  Replay only moves forward while the server runs; a new
 * connection (perhaps to a restarted standby) must be asked again.
 */
static int
replayed(const struct dbread *r, uint64_t lsn)
{
	struct pgq_stats	 st;

	pgq_stats(r->sq, &st);
	return r->replay_gen == st.reconnects + 1 && r->replay >= lsn &&
	    pgq_ready(r->sq);
}

/* A replay answer: 0 and its fields, or -1. */
static int
replay_parse(const PGresult *res, int *recovery, uint64_t *lsn)
{
	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 2 ||
	    PQgetisnull(res, 0, 0))
		return -1;
	*recovery = PQgetvalue(res, 0, 0)[0] == 't';
	*lsn = 0;
	if (*recovery && lsn_parse(res, 0, 1, lsn) == -1)
		return -1;
	return 0;
}

/* Can the standby take reads now? */
static enum dbread_why
usable(const struct dbread *r)
{
	ev_tstamp	 now = ev_now(r->loop);

	if (!pgq_ready(r->sq))
		return DBR_DOWN;
	if (r->answered == 0 || now - r->answered > r->max_lag)
		return DBR_SILENT;
	if (!r->recovery)
		return DBR_NOTSTANDBY;
	if (now - r->caught > r->max_lag)
		return DBR_LAG;
	return DBR_STANDBY;
}

/*
 * The monitor.
 */

static void
mon_walpos_cb(void *arg, const PGresult *res, const char *err)
{
	struct dbread	*r = arg;
	uint64_t	 lsn;

	r->mon_p = 0;
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) == 1 &&
	    lsn_parse(res, 0, 0, &lsn) == 0)
		sample_add(r, r->mon_t, lsn);
}

static void
mon_replay_cb(void *arg, const PGresult *res, const char *err)
{
	struct dbread	*r = arg;
	uint64_t	 lsn;
	int		 rec;

	r->mon_s = 0;
	if (replay_parse(res, &rec, &lsn) == 0)
		replay_seen(r, rec, lsn);
}

static void
mon_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dbread		*r = w->data;
	struct pgq_stats	 st;

	/* A new connection may be to a restarted standby: ask afresh. */
	pgq_stats(r->sq, &st);
	if (st.reconnects != r->sq_reconnects) {
		r->sq_reconnects = st.reconnects;
		r->caught = 0;
		r->answered = 0;
	}
	if (!r->mon_p) {
		r->mon_t = ev_now(loop);
		if (pgq_exec(r->fq, 0, 0, NULL, 0, mon_walpos_cb, r) == 0)
			r->mon_p = 1;
	}
	if (!r->mon_s && pgq_ready(r->sq) &&
	    pgq_exec(r->sq, r->nsql, 0, NULL, 0, mon_replay_cb, r) == 0)
		r->mon_s = 1;
}

/*
 * Reads.
 */

static void
rq_free(struct rq *q)
{
	int	 i;

	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q);
}

/* Ask the primary instead (or fail, when closing); frees q. */
static void
rq_primary(struct dbread *r, struct rq *q, enum dbread_why why)
{
	if (r->closing) {
		q->cb(q->arg, NULL, "shutting down");
	} else {
		r->reads[why]++;
		if (pgq_exec(r->primary, q->stmt, q->nparams,
		    (const char *const *)q->params, 0, q->cb, q->arg) == -1)
			q->cb(q->arg, NULL, "database unavailable");
	}
	rq_free(q);
}

/* Every read of "f" to the primary; frees f. */
static void
fence_abandon(struct fence *f, enum dbread_why why)
{
	struct rq	*q;

	while ((q = TAILQ_FIRST(&f->reads)) != NULL) {
		TAILQ_REMOVE(&f->reads, q, entry);
		rq_primary(f->r, q, why);
	}
	free(f);
}

static void
fence_unref(struct fence *f)
{
	if (--f->refs == 0)
		free(f);
}

static void
read_cb(void *arg, const PGresult *res, const char *err)
{
	struct rq	*q = arg;
	struct fence	*f = q->f;
	struct dbread	*r = f->r;

	if (res != NULL) {
		r->reads[DBR_STANDBY]++;
		q->cb(q->arg, res, NULL);
		rq_free(q);
	} else
		rq_primary(r, q, DBR_ERROR);
	fence_unref(f);
}

/*
 * The standby has replayed f->target, as an answer received before
 * says: the reads, whose snapshots come later, hold every write
 * acknowledged before they came in.
 */
static void
fence_reads(struct fence *f)
{
	struct dbread	*r = f->r;
	struct rq	*q;

	f->refs = 1;
	while ((q = TAILQ_FIRST(&f->reads)) != NULL) {
		TAILQ_REMOVE(&f->reads, q, entry);
		q->f = f;
		if (pgq_exec(r->sq, q->stmt, q->nparams,
		    (const char *const *)q->params, 0, read_cb, q) == -1)
			rq_primary(r, q, DBR_ERROR);
		else
			f->refs++;
	}
	fence_unref(f);
}

static void	 fence_check(struct fence *);

static void
wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fence	*f = w->data;

	LIST_REMOVE(f, wentry);
	fence_check(f);
}

/*
 * The standby's replay position for "f": its reads go now, or after a
 * wait of at most DBREAD_WAIT_MS, or to the primary.
 */
static void
check_cb(void *arg, const PGresult *res, const char *err)
{
	struct fence	*f = arg;
	struct dbread	*r = f->r;
	uint64_t	 lsn;
	int		 rec;

	if (replay_parse(res, &rec, &lsn) == -1) {
		fence_abandon(f, DBR_ERROR);
		return;
	}
	replay_seen(r, rec, lsn);
	if (!rec) {
		fence_abandon(f, DBR_NOTSTANDBY);
		return;
	}
	if (lsn >= f->target) {
		fence_reads(f);
		return;
	}
	if (r->closing || usable(r) != DBR_STANDBY ||
	    ev_now(r->loop) - f->t >= DBREAD_WAIT_MS / 1000.0) {
		fence_abandon(f, DBR_BEHIND);
		return;
	}
	ev_timer_init(&f->wait, wait_cb, DBREAD_RECHECK_MS / 1000.0, 0.);
	f->wait.data = f;
	ev_timer_start(r->loop, &f->wait);
	LIST_INSERT_HEAD(&r->waiting, f, wentry);
}

static void
fence_check(struct fence *f)
{
	struct dbread	*r = f->r;

	if (pgq_exec(r->sq, r->nsql, 0, NULL, 0, check_cb, f) == -1)
		fence_abandon(f, DBR_ERROR);
}

/* The primary's position for "f": has the standby replayed it? */
static void
fence_cb(void *arg, const PGresult *res, const char *err)
{
	struct fence	*f = arg;
	struct dbread	*r = f->r;
	enum dbread_why	 why;

	if (res == NULL || PQntuples(res) != 1 || PQnfields(res) != 1 ||
	    lsn_parse(res, 0, 0, &f->target) == -1) {
		fence_abandon(f, DBR_NOFENCE);
		return;
	}
	sample_add(r, f->t, f->target);
	if ((why = usable(r)) != DBR_STANDBY)
		fence_abandon(f, why);
	else if (replayed(r, f->target))
		fence_reads(f);
	else
		fence_check(f);
}

/*
 * After every event of this loop pass was handled (the lowest priority
 * check watcher, always active: one started now would wait for the next
 * wakeup, as would a pgq_exec from a prepare watcher), ask the primary's
 * position for the reads gathered, which all came in before: pgq sends
 * it before the loop blocks.
 */
static void
gate_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct dbread	*r = w->data;
	struct fence	*f = r->open;

	if (f == NULL)
		return;
	r->open = NULL;
	f->t = ev_now(loop);
	if (pgq_exec(r->fq, 0, 0, NULL, 0, fence_cb, f) == -1)
		fence_abandon(f, DBR_NOFENCE);
}

int
dbread_exec(struct dbread *r, size_t stmt, int nparams,
    const char *const *params, pgq_cb *cb, void *arg)
{
	struct rq	*q;
	enum dbread_why	 why;
	int		 i;

	if ((why = usable(r)) != DBR_STANDBY) {
		if (pgq_exec(r->primary, stmt, nparams, params, 0, cb,
		    arg) == -1)
			return -1;
		r->reads[why]++;
		return 0;
	}
	if (nparams < 0 || nparams > PGQ_MAX_PARAMS || stmt >= r->nsql)
		return -1;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->stmt = stmt;
	q->cb = cb;
	q->arg = arg;
	for (i = 0; i < nparams; i++) {
		if (params[i] != NULL &&
		    (q->params[i] = strdup(params[i])) == NULL) {
			q->nparams = i;
			rq_free(q);
			return -1;
		}
	}
	q->nparams = nparams;
	if (r->open == NULL) {
		if ((r->open = calloc(1, sizeof(*r->open))) == NULL) {
			rq_free(q);
			return -1;
		}
		r->open->r = r;
		TAILQ_INIT(&r->open->reads);
	}
	TAILQ_INSERT_TAIL(&r->open->reads, q, entry);
	return 0;
}

/*
 * Life cycle and reports.
 */

struct dbread *
dbread_new(struct ev_loop *loop, const struct dbread_opts *o)
{
	struct dbread	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = loop;
	LIST_INIT(&r->waiting);
	r->primary = o->primary;
	r->nsql = o->nsql;
	r->max_lag = o->max_lag_ms / 1000.0;
	/* After the other check watchers (conn.c's dispatches events). */
	ev_check_init(&r->gate, gate_cb);
	ev_set_priority(&r->gate, EV_MINPRI);
	r->gate.data = r;
	ev_timer_init(&r->mon, mon_cb, DBREAD_MONITOR_MS / 1000.0,
	    DBREAD_MONITOR_MS / 1000.0);
	r->mon.data = r;
	if ((r->sqls = calloc(o->nsql + 1, sizeof(*r->sqls))) == NULL)
		goto fail;
	memcpy(r->sqls, o->sqls, o->nsql * sizeof(*r->sqls));
	r->sqls[o->nsql] = REPLAY_SQL;
	if ((r->fq = pgq_new(loop, o->pkeys, o->pvals, fence_sql, 1,
	    "f")) == NULL ||
	    (r->sq = pgq_new(loop, o->skeys, o->svals, r->sqls, o->nsql + 1,
	    "s")) == NULL)
		goto fail;
	ev_timer_start(loop, &r->mon);
	ev_check_start(loop, &r->gate);
	log_info("dbread: reads from the standby when at most %ld ms behind",
	    o->max_lag_ms);
	return r;
fail:
	dbread_free(r);
	return NULL;
}

void
dbread_free(struct dbread *r)
{
	struct fence	*f;

	if (r == NULL)
		return;
	r->closing = 1;
	ev_timer_stop(r->loop, &r->mon);
	ev_check_stop(r->loop, &r->gate);
	if ((f = r->open) != NULL) {
		r->open = NULL;
		fence_abandon(f, DBR_ERROR);
	}
	while ((f = LIST_FIRST(&r->waiting)) != NULL) {
		LIST_REMOVE(f, wentry);
		ev_timer_stop(r->loop, &f->wait);
		fence_abandon(f, DBR_ERROR);
	}
	/* Their callbacks still see r. */
	pgq_free(r->sq);
	pgq_free(r->fq);
	free(r->sqls);
	free(r);
}

const char *
dbread_state(const struct dbread *r)
{
	return why_state[usable(r)];
}

const char *
dbread_why_name(enum dbread_why why)
{
	return why < DBR__MAX ? why_name[why] : "?";
}

void
dbread_stats(const struct dbread *r, struct dbread_stats *st)
{
	memcpy(st->reads, r->reads, sizeof(st->reads));
	st->lag = r->caught > 0 ? ev_now(r->loop) - r->caught : -1;
	st->standby = usable(r) == DBR_STANDBY;
	pgq_stats(r->sq, &st->standby_pg);
}
