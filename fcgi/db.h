/*
 * db.h: blocking PostgreSQL helpers for chat-fcgi workers.  A worker
 * holds one struct db, connected lazily and reopened after the server
 * went away, so a PostgreSQL restart costs at most the request that
 * found the connection dead.  All SQL is parameterised.
 */
#ifndef FCGI_DB_H
#define FCGI_DB_H

#include <libpq-fe.h>

#include "lib/conf.h"

#define DB_CONNECT_TIMEOUT	"3"	/* seconds, libpq connect_timeout */
#define DB_MAX_ARGS		16	/* parameters per statement */
#define DB_STMT_MAX		32	/* statements prepared per connection */

struct	db {
	const struct conf *conf;	/* borrowed: connection settings */
	PGconn		*pg;		/* NULL until first use */
	const char	*stmt[DB_STMT_MAX]; /* SQL prepared on pg as "s<i>" */
	int		 nstmt;
	int		 sent;		/* db_send awaiting db_recv */
	int		 standby;	/* DB_READ_* (db_init_read), not DB_* */
	unsigned long	 errors;	/* statements that failed (not 23xxx) */
};

enum	db_err {
	DB_OK = 0,
	DB_UNIQUE,		/* unique_violation (SQLSTATE 23505) */
	DB_CHECK,		/* check / foreign key / not null violation */
	DB_ERR			/* anything else; logged */
};

/* Set up "d" (no I/O): connecting waits for the first db_get. */
void	 db_init(struct db *d, const struct conf *c);
/*
 * The same for the read standby of DB_READ_HOST.  Returns 0, or -1 when
 * it is unset (d unusable).
 */
int	 db_init_read(struct db *d, const struct conf *c);

/*
 * Return a working connection, connecting or reconnecting as needed:
 * an idle connection the server closed (restart, idle timeout) is
 * noticed here, before a statement fails on it.  Returns NULL (logged)
 * if PostgreSQL cannot be reached.  db_exec calls it.
 */
PGconn	*db_get(struct db *d);

/*
 * Run "sql" with n text parameters (NULL for SQL NULL).  Each distinct
 * "sql" is prepared once per connection (the first run costs one more
 * round trip; later ones skip parsing and planning), so pass constant
 * strings, not SQL built per request.  Returns the
 * result (free with PQclear) and sets *err: DB_OK when the status is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK, else the class of the error
 * (logged unless DB_UNIQUE).  Returns NULL with DB_ERR if there is no
 * connection.  A statement that fails because the connection died is
 * not retried: it may have run.
 */
PGresult	*db_exec(struct db *d, const char *sql, int n,
		    const char *const *args, enum db_err *err);

/*
 * db_exec in two halves, so a worker can overlap the query's round trip
 * with another (its rate limit's Redis call): db_send sends it (0, or
 * -1 logged: then nothing is pending), db_recv waits for the result,
 * with db_exec's meaning.  Every successful db_send must be followed
 * by a db_recv before the connection is used again.
 */
int	 db_send(struct db *d, const char *sql, int n,
	    const char *const *args);
PGresult	*db_recv(struct db *d, enum db_err *err);

/* Run a parameterless command (BEGIN, COMMIT, ROLLBACK).  0 or -1. */
int	 db_cmd(struct db *d, const char *sql);

/* Close the connection (the next db_get reconnects). */
void	 db_close(struct db *d);

#endif /* !FCGI_DB_H */
