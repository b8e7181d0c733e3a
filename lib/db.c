/*
 * db.c: the blocking libpq helpers of db.h, used by chat-fcgi workers.
 * One connection per worker process, never shared across fork().
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

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

/*
 * Is an idle connection still usable?  A server that shut down sent a
 * FATAL and closed the socket; peeking (without blocking) sees that
 * now, instead of failing the next statement.  An idle connection gets
 * nothing else we ask for (no LISTEN), so any byte waiting, or the end
 * of the stream, means: reconnect.
 */
static int
idle_alive(PGconn *pg)
{
	char	 c;
	ssize_t	 n;
	int	 fd;

	if (PQstatus(pg) != CONNECTION_OK ||
	    PQtransactionStatus(pg) == PQTRANS_UNKNOWN ||
	    (fd = PQsocket(pg)) == -1)
		return 0;
	if (PQtransactionStatus(pg) != PQTRANS_IDLE)
		return 1;	/* inside a transaction: the caller decides */
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 1;
	return 0;
}

PGconn *
db_get(struct db *d)
{
	if (d->pg != NULL && !idle_alive(d->pg)) {
		log_info("db: connection lost, reconnecting");
		db_close(d);
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
	if (db_get(d) == NULL)
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
