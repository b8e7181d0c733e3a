/*
 * t/pgq.c: realtime/chat/pgq.c against a real PostgreSQL (DB_HOST, DB_PORT,
 * DB_USER, DB_PASS, DB_NAME from the environment, as deploy/test sets
 * them): pipelined answers in order, batch transactions, a failing
 * member of a batch retried alone, and fast failures while the server
 * cannot be reached.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <libpq-fe.h>

#include "tap.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "realtime/chat/pgq.h"

static const char *const sqls[] = {
	"SELECT $1::int + 1",
	"SELECT 100 / $1::int",
};

#define NQ	300

struct	res {
	int	 called;
	int	 ok;
	int	 val;
	int	 order;
};

static struct res	 rs[NQ + 10];
static int		 seq, outstanding;
static struct ev_loop	*loop;

static void
cb(void *arg, const PGresult *res, const char *err)
{
	struct res	*r = arg;

	r->called++;
	r->order = seq++;
	if (res != NULL) {
		r->ok = 1;
		r->val = atoi(PQgetvalue(res, 0, 0));
	}
	if (--outstanding == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

/* Run the loop until every callback came, at most "secs". */
static void
run(double secs)
{
	ev_timer	 t;

	ev_timer_init(&t, timeout_cb, secs, 0.);
	ev_timer_start(loop, &t);
	if (outstanding > 0)
		ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

/*
 * The connection settings of the DB_* variables, as chat-realtime makes
 * them (conf_pg_params), on port "port".
 */
static void
pg_params(struct conf *c, struct conf_pg *pg, const char *port)
{
	const char *h = getenv("DB_HOST"), *u = getenv("DB_USER"),
	    *p = getenv("DB_PASS"), *d = getenv("DB_NAME");

	memset(c, 0, sizeof(*c));
	c->db_host = h ? h : "127.0.0.1";
	c->db_port = port;
	c->db_user = u ? u : "postgres";
	c->db_pass = p ? p : "postgres";
	c->db_name = d ? d : "chatdb";
	conf_pg_params(c, "pgq-test", "5", pg);
}

int
main(void)
{
	struct pgq	*q;
	struct conf	 c;
	struct conf_pg	 pg;
	char		 b[16];
	const char	*p[1];
	int		 i, inorder, allok;
	ev_tstamp	 t0;

	log_init("pgq-test");
	tap_plan(11);
	loop = ev_default_loop(0);

	/* 1: a connection and many queries, batched and not. */
	pg_params(&c, &pg, getenv("DB_PORT") ? getenv("DB_PORT") : "5432");
	q = pgq_new(loop, pg.keys, pg.vals, sqls, 2, "t");
	tap_ok(q != NULL, "pgq_new");
	for (i = 0; i < NQ; i++) {
		snprintf(b, sizeof(b), "%d", i);
		p[0] = b;
		if (pgq_exec(q, 0, 1, p, i % 3 ? PGQ_BATCH : 0, cb,
		    &rs[i]) == 0)
			outstanding++;
	}
	tap_int(outstanding, NQ, "every query queued");
	run(10);
	tap_ok(pgq_ready(q), "connected");
	allok = 1;
	for (i = 0; i < NQ; i++)
		if (rs[i].called != 1 || !rs[i].ok || rs[i].val != i + 1)
			allok = 0;
	tap_ok(allok, "every answer right, each callback once");
	inorder = 1;
	for (i = 1; i < NQ; i++)
		if (i % 3 == 0 && i >= 3 && rs[i].order < rs[i - 3].order)
			inorder = 0;
	tap_ok(inorder, "unbatched answers come in order");

	/* 2: a batch with one failing member: the others still succeed. */
	memset(rs, 0, sizeof(rs));
	for (i = 0; i < 5; i++) {
		snprintf(b, sizeof(b), "%d", i == 2 ? 0 : i + 1);
		p[0] = b;
		if (pgq_exec(q, 1, 1, p, PGQ_BATCH, cb, &rs[i]) == 0)
			outstanding++;
	}
	run(10);
	tap_ok(rs[2].called == 1 && !rs[2].ok, "division by zero fails");
	tap_ok(rs[0].ok && rs[0].val == 100 && rs[1].ok && rs[1].val == 50 &&
	    rs[3].ok && rs[3].val == 25 && rs[4].ok && rs[4].val == 20,
	    "the rest of the batch succeeds after the retry");
	tap_ok(pgq_exec(q, 9, 0, NULL, 0, cb, &rs[0]) == -1,
	    "unknown statement refused");
	pgq_free(q);

	/* 3: nobody listens: queries fail fast, nothing hangs. */
	memset(rs, 0, sizeof(rs));
	pg_params(&c, &pg, "1");
	q = pgq_new(loop, pg.keys, pg.vals, sqls, 2, "down");
	t0 = ev_time();
	p[0] = "1";
	for (i = 0; i < 3; i++)
		if (pgq_exec(q, 0, 1, p, 0, cb, &rs[i]) == 0)
			outstanding++;
	run(8);
	tap_ok(rs[0].called == 1 && !rs[0].ok && rs[1].called == 1 &&
	    rs[2].called == 1 && !rs[2].ok, "each fails once");
	tap_ok(ev_time() - t0 < 6, "within the connect timeout");
	tap_ok(!pgq_ready(q), "not ready");
	pgq_free(q);
	return tap_done();
}
