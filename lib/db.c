/*
 * db.c: the blocking libpq helpers of db.h, used by chat-fcgi workers.
 * One connection per worker process, never shared across fork().
 */
#include "config.h"

#include <string.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"

void
db_init(struct db *d, const struct conf *c)
{
	d->conf = c;
	d->pg = NULL;
}

void
db_close(struct db *d)
{
	if (d->pg != NULL)
		PQfinish(d->pg);
	d->pg = NULL;
}

static PGconn *
connect_new(const struct conf *c)
{
	const char	*keys[] = { "host", "port", "user", "password",
	    "dbname", "connect_timeout", "application_name", NULL };
	const char	*vals[] = { c->db_host, c->db_port, c->db_user,
	    c->db_pass, c->db_name, DB_CONNECT_TIMEOUT, "chat-fcgi", NULL };
	PGconn		*pg;

	if ((pg = PQconnectdbParams(keys, vals, 0)) == NULL) {
		log_warnx("db: out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		/* PQerrorMessage ends with a newline; the logger escapes it. */
		log_warnx("db: connect %s:%s: %.200s", c->db_host, c->db_port,
		    PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

PGconn *
db_get(struct db *d)
{
	if (d->pg != NULL) {
		/*
		 * A server that shut down sent a FATAL and closed the
		 * socket; reading it now marks the connection bad instead
		 * of failing the next statement.  libpq sockets are
		 * non-blocking inside, so this does not wait.
		 */
		(void)PQconsumeInput(d->pg);
		if (PQstatus(d->pg) != CONNECTION_OK ||
		    PQtransactionStatus(d->pg) != PQTRANS_IDLE) {
			log_info("db: connection lost, reconnecting");
			db_close(d);
		}
	}
	if (d->pg == NULL)
		d->pg = connect_new(d->conf);
	return d->pg;
}

PGresult *
db_exec(struct db *d, const char *sql, int n, const char *const *args,
    enum db_err *err)
{
	PGresult	*res;
	const char	*state;

	*err = DB_ERR;
	if (d->pg == NULL && db_get(d) == NULL)
		return NULL;
	if (n < 0 || n > DB_MAX_ARGS)
		return NULL;
	res = PQexecParams(d->pg, sql, n, NULL, args, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		*err = DB_OK;
		return res;
	default:
		break;
	}
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	if (state != NULL && strcmp(state, "23505") == 0)
		*err = DB_UNIQUE;
	else if (state != NULL && strncmp(state, "23", 2) == 0) {
		*err = DB_CHECK;
		log_warnx("db: constraint: %.200s", PQerrorMessage(d->pg));
	} else
		log_warnx("db: %.200s", PQerrorMessage(d->pg));
	if (PQstatus(d->pg) != CONNECTION_OK)
		db_close(d);
	return res;
}

int
db_cmd(struct db *d, const char *sql)
{
	PGresult	*res;
	enum db_err	 err;

	res = db_exec(d, sql, 0, NULL, &err);
	PQclear(res);
	return err == DB_OK ? 0 : -1;
}
