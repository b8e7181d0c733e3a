/*
 * t/dbread.c: realtime/chat/dbread.c: pg_lsn parsing of any bytes, and,
 * against a real PostgreSQL (DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME
 * as deploy/test sets them), reads a standby cannot serve going to the
 * primary: a standby nobody listens for (down), and the primary itself
 * (not in recovery).  With DB_READ_PORT naming a streaming standby of
 * it (deploy/standby.sh), reads served by the standby, each seeing the
 * write acknowledged just before it; skipped otherwise.
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
#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"

static const char *const sqls[] = {
	"SELECT $1::int + 1",
	"INSERT INTO dbread_test (v) VALUES ($1::bigint)",
	"SELECT count(*) FROM dbread_test WHERE v = $1::bigint",
};

#define NRYW	50	/* writes, each read back at once */

static struct ev_loop	*loop;
static struct dbread	*rd;
static int		 outstanding, got, seen, written;
static char		 vbuf[24];

static void
timeout_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	ev_break(l, EVBREAK_ALL);
}

/* Run the loop for "secs", or until nothing is outstanding. */
static void
run(double secs, int until_done)
{
	ev_timer	 t;

	ev_timer_init(&t, timeout_cb, secs, 0.);
	ev_timer_start(loop, &t);
	if (!until_done || outstanding > 0)
		ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

static void
read_cb(void *arg, const PGresult *res, const char *err)
{
	got = res != NULL ? atoi(PQgetvalue(res, 0, 0)) : -1;
	if (--outstanding == 0)
		ev_break(loop, EVBREAK_ALL);
}

/* A settings struct as chat-realtime fills it, the standby on "sport". */
static void
settings(struct conf *c, const char *sport)
{
	const char *h = getenv("DB_HOST"), *u = getenv("DB_USER"),
	    *p = getenv("DB_PASS"), *d = getenv("DB_NAME"),
	    *port = getenv("DB_PORT");

	memset(c, 0, sizeof(*c));
	c->db_host = c->db_read_host = h ? h : "127.0.0.1";
	c->db_port = port ? port : "5432";
	c->db_read_port = sport;
	c->db_user = c->db_read_user = u ? u : "postgres";
	c->db_pass = c->db_read_pass = p ? p : "postgres";
	c->db_name = c->db_read_name = d ? d : "chatdb";
	c->db_read_max_lag_ms = 1000;
}

static struct dbread *
make(struct pgq *pr, const struct conf *c, size_t nsql)
{
	struct dbread_opts	 o;
	struct conf_pg		 pg, rpg;

	conf_pg_params(c, "dbread-test", "5", &pg);
	if (conf_pg_read_params(c, "dbread-test", "5", &rpg) == -1)
		return NULL;
	memset(&o, 0, sizeof(o));
	o.pkeys = pg.keys;
	o.pvals = pg.vals;
	o.skeys = rpg.keys;
	o.svals = rpg.vals;
	o.sqls = sqls;
	o.nsql = nsql;
	o.primary = pr;
	o.max_lag_ms = c->db_read_max_lag_ms;
	return dbread_new(loop, &o);
}

/* One read of "SELECT 41 + 1" through rd: 42 if answered. */
static int
one_read(void)
{
	const char	*p[1] = { "41" };

	got = 0;
	if (dbread_exec(rd, 0, 1, p, read_cb, NULL) == -1)
		return -1;
	outstanding = 1;
	run(5, 1);
	return got;
}

static void
lsn_tests(void)
{
	static const struct {
		const char	*s;
		size_t		 len;
		int		 rc;
		uint64_t	 v;
	} t[] = {
		{ "0/0", 3, 0, 0 },
		{ "16/B374D848", 11, 0, 0x16B374D848ULL },
		{ "a/b", 3, 0, 0xa0000000bULL },
		{ "FFFFFFFF/FFFFFFFF", 17, 0, 0xFFFFFFFFFFFFFFFFULL },
		{ "0/0x", 3, 0, 0 },		/* len bounds the read */
		{ "", 0, -1, 0 },
		{ "1/", 2, -1, 0 },
		{ "/12", 3, -1, 0 },
		{ "12/", 3, -1, 0 },
		{ "1//2", 4, -1, 0 },
		{ "1/2/3", 5, -1, 0 },
		{ "123456789/0", 11, -1, 0 },
		{ "0/123456789", 11, -1, 0 },
		{ "1/G", 3, -1, 0 },
		{ "1 /2", 4, -1, 0 },
		{ "-1/2", 4, -1, 0 },
		{ "1/\0", 3, -1, 0 },
		{ "FFFFFFFF/FFFFFFFF0", 18, -1, 0 },
	};
	char		 name[64];
	size_t		 i;
	uint64_t	 v;
	int		 ok = 1;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = 12345;
		if (dbread_lsn_parse(t[i].s, t[i].len, &v) != t[i].rc ||
		    (t[i].rc == 0 && v != t[i].v) ||
		    (t[i].rc == -1 && v != 12345)) {
			snprintf(name, sizeof(name), "pg_lsn %.*s",
			    (int)t[i].len, t[i].s);
			tap_ok(0, name);
			ok = 0;
		}
	}
	tap_ok(ok, "pg_lsn: good ones read, bad ones refused");
}

/* Write v on the primary; its callback reads it back through rd. */
static void	 write_next(struct pgq *);

static void
back_cb(void *arg, const PGresult *res, const char *err)
{
	struct pgq	*pw = arg;

	if (res != NULL && atoi(PQgetvalue(res, 0, 0)) == 1)
		seen++;
	if (++written < NRYW)
		write_next(pw);
	else
		ev_break(loop, EVBREAK_ALL);
}

static void
written_cb(void *arg, const PGresult *res, const char *err)
{
	const char	*p[1] = { vbuf };

	if (res == NULL || dbread_exec(rd, 2, 1, p, back_cb, arg) == -1)
		back_cb(arg, NULL, err);
}

static void
write_next(struct pgq *pw)
{
	const char	*p[1];

	snprintf(vbuf, sizeof(vbuf), "%d", written + 1);
	p[0] = vbuf;
	if (pgq_exec(pw, 1, 1, p, 0, written_cb, pw) == -1)
		back_cb(pw, NULL, "queue");
}

/* A blocking connection to the DB_* server on "port". */
static PGconn *
connect_port(const char *port)
{
	struct conf	 c;
	struct conf_pg	 pg;

	settings(&c, port);
	c.db_port = port;
	conf_pg_params(&c, "dbread-test", "5", &pg);
	return PQconnectdbParams(pg.keys, pg.vals, 0);
}

/* Run "sql" on "port"; 1 if it returned rows or succeeded. */
static int
sql_on(const char *port, const char *sql, int rows)
{
	PGconn		*conn;
	PGresult	*res;
	int		 ok;

	conn = connect_port(port);
	res = PQexec(conn, sql);
	ok = rows ? PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) > 0 : PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	PQfinish(conn);
	return ok;
}

/* With a real standby: reads there, each seeing the write before it. */
static void
standby_tests(const char *sport)
{
	struct conf		 c;
	struct conf_pg		 pg;
	struct dbread_stats	 st;
	struct pgq		*pr;
	const char		*port = getenv("DB_PORT");
	int			 ready = 0, i;

	if (port == NULL)
		port = "5432";
	tap_ok(sql_on(port, "CREATE TABLE IF NOT EXISTS dbread_test"
	    " (v bigint); DELETE FROM dbread_test", 0), "a table to write");
	/* Both sides prepare sqls[1] and [2]: the standby needs it too. */
	for (i = 0; i < 50 && !ready; i++) {
		run(0.1, 0);
		ready = sql_on(sport, "SELECT 1 FROM pg_class"
		    " WHERE relname = 'dbread_test'", 1);
	}
	settings(&c, sport);
	conf_pg_params(&c, "dbread-test", "5", &pg);
	pr = pgq_new(loop, pg.keys, pg.vals, sqls, 3, "p");
	rd = make(pr, &c, 3);
	run(0.6, 0);
	tap_str(dbread_state(rd), "standby",
	    "a streaming standby: reads there");
	tap_int(one_read(), 42, "... answered");
	written = seen = 0;
	write_next(pr);
	run(20, 0);
	tap_int(seen, NRYW, "every write seen by the read right after it");
	dbread_stats(rd, &st);
	tap_ok(st.reads[DBR_STANDBY] >= NRYW / 2,
	    "... mostly served by the standby");
	dbread_free(rd);
	rd = NULL;
	pgq_free(pr);
	sql_on(port, "DROP TABLE dbread_test", 0);
}

int
main(void)
{
	struct pgq		*pr;
	struct conf		 c;
	struct conf_pg		 pg;
	struct dbread_stats	 st;
	const char		*sport = getenv("DB_READ_PORT");

	log_init("dbread-test");
	tap_plan(sport != NULL ? 15 : 10);
	loop = ev_default_loop(0);
	lsn_tests();

	settings(&c, "1");
	conf_pg_params(&c, "dbread-test", "5", &pg);
	pr = pgq_new(loop, pg.keys, pg.vals, sqls, 1, "p");
	tap_ok(pr != NULL, "a primary connection");

	/* Nobody listens on port 1: down, the primary answers. */
	rd = make(pr, &c, 1);
	tap_ok(rd != NULL, "dbread_new");
	run(0.5, 0);
	tap_str(dbread_state(rd), "primary: standby down", "standby down");
	tap_int(one_read(), 42, "... the primary answers");
	dbread_stats(rd, &st);
	tap_ok(st.reads[DBR_DOWN] == 1 && st.reads[DBR_STANDBY] == 0,
	    "... counted as down");
	dbread_free(rd);

	/* The primary as the "standby": not in recovery. */
	settings(&c, c.db_port);
	rd = make(pr, &c, 1);
	run(0.6, 0);
	tap_str(dbread_state(rd), "primary: not a standby",
	    "the primary as standby: not one");
	tap_int(one_read(), 42, "... the primary answers");
	dbread_stats(rd, &st);
	tap_ok(st.reads[DBR_NOTSTANDBY] == 1 && st.reads[DBR_STANDBY] == 0,
	    "... counted as not_standby");
	dbread_free(rd);
	rd = NULL;

	pgq_free(pr);
	if (sport != NULL)
		standby_tests(sport);
	/* NULL is fine. */
	dbread_free(NULL);
	tap_ok(1, "freed");
	return tap_done();
}
