/*
 * db.c: the blocking libpq helpers of db.h, used by chat-fcgi workers.
 * One connection per worker process, never shared across fork().
 * Statements are prepared once per connection and run by name.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <libpq-fe.h>

#include "fcgi/db.h"
#include "lib/log.h"

void
db_init(struct db *d, const struct conf *c)
{
	memset(d, 0, sizeof(*d));
	d->conf = c;
}

int
db_init_read(struct db *d, const struct conf *c)
{
	db_init(d, c);
	d->standby = 1;
	return c->db_read_host != NULL ? 0 : -1;
}

void
db_close(struct db *d)
{
	if (d->pg != NULL)
		PQfinish(d->pg);
	d->pg = NULL;
	d->nstmt = 0;
	d->sent = 0;
}

/* A new connection to the primary or standby, or NULL (logged). */
static PGconn *
connect_new(const struct conf *c, int standby)
{
	struct conf_pg	 cp;
	PGconn		*pg;

	if (!standby)
		conf_pg_params(c, "chat-fcgi", DB_CONNECT_TIMEOUT, &cp);
	else if (conf_pg_read_params(c, "chat-fcgi", DB_CONNECT_TIMEOUT,
	    &cp) == -1)
		return NULL;
	if ((pg = PQconnectdbParams(cp.keys, cp.vals, 0)) == NULL) {
		log_warnx("db: out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		/* PQerrorMessage ends with a newline; the logger escapes it. */
		log_warnx("db: connect %s:%s: %.200s", cp.vals[0], cp.vals[1],
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
		d->pg = connect_new(d->conf, d->standby);
	return d->pg;
}

/*
 * The name "sql" is prepared under on this connection, preparing it if
 * new.  Returns 0 and sets name; 1 when the table is full (run it
 * unprepared); -1 with *resp set to the failed result.
 */
static int
prepared(struct db *d, const char *sql, int n, char *name, size_t namesz,
    PGresult **resp)
{
	PGresult	*res;
	int		 i;

	*resp = NULL;
	for (i = 0; i < d->nstmt; i++)
		if (d->stmt[i] == sql || strcmp(d->stmt[i], sql) == 0)
			break;
	if (i == DB_STMT_MAX)
		return 1;
	snprintf(name, namesz, "s%d", i);
	if (i < d->nstmt)
		return 0;
	res = PQprepare(d->pg, name, sql, n, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*resp = res;
		return -1;
	}
	PQclear(res);
	d->stmt[d->nstmt++] = sql;
	return 0;
}

/* Classify a result, log failures, drop a dead connection. */
static PGresult *
classify(struct db *d, PGresult *res, enum db_err *err)
{
	const char	*state;

	*err = DB_ERR;
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
	} else {
		d->errors++;
		log_warnx("db: %.200s", PQerrorMessage(d->pg));
	}
	if (PQstatus(d->pg) != CONNECTION_OK)
		db_close(d);
	return res;
}

PGresult *
db_exec(struct db *d, const char *sql, int n, const char *const *args,
    enum db_err *err)
{
	PGresult	*res;
	char		 name[16];

	*err = DB_ERR;
	if (n < 0 || n > DB_MAX_ARGS)
		return NULL;
	if (db_get(d) == NULL) {
		d->errors++;
		return NULL;
	}
	switch (prepared(d, sql, n, name, sizeof(name), &res)) {
	case 0:
		res = PQexecPrepared(d->pg, name, n, args, NULL, NULL, 0);
		break;
	case 1:
		res = PQexecParams(d->pg, sql, n, NULL, args, NULL, NULL, 0);
		break;
	default:
		break;	/* the failed PREPARE's result */
	}
	return classify(d, res, err);
}

int
db_send(struct db *d, const char *sql, int n, const char *const *args)
{
	PGresult	*res = NULL;
	char		 name[16];
	enum db_err	 err;
	int		 ok;

	if (n < 0 || n > DB_MAX_ARGS || d->sent)
		return -1;
	if (db_get(d) == NULL) {
		d->errors++;
		return -1;
	}
	switch (prepared(d, sql, n, name, sizeof(name), &res)) {
	case 0:
		ok = PQsendQueryPrepared(d->pg, name, n, args, NULL, NULL, 0);
		break;
	case 1:
		ok = PQsendQueryParams(d->pg, sql, n, NULL, args, NULL, NULL,
		    0);
		break;
	default:
		PQclear(classify(d, res, &err));
		return -1;
	}
	if (!ok) {
		d->errors++;
		log_warnx("db: send: %.200s", PQerrorMessage(d->pg));
		if (PQstatus(d->pg) != CONNECTION_OK)
			db_close(d);
		return -1;
	}
	d->sent = 1;
	return 0;
}

PGresult *
db_recv(struct db *d, enum db_err *err)
{
	PGresult	*res, *extra;

	*err = DB_ERR;
	if (!d->sent || d->pg == NULL)
		return NULL;
	d->sent = 0;
	/* One statement: one result, then NULL. */
	res = PQgetResult(d->pg);
	while ((extra = PQgetResult(d->pg)) != NULL)
		PQclear(extra);
	return classify(d, res, err);
}

int
db_cmd(struct db *d, const char *sql)
{
	PGresult	*res;
	enum db_err	 err;

	/* Simple protocol: nothing to prepare, one message. */
	if (db_get(d) == NULL) {
		d->errors++;
		return -1;
	}
	res = classify(d, PQexec(d->pg, sql), &err);
	PQclear(res);
	return err == DB_OK ? 0 : -1;
}
