/*
 * conf.h: configuration from the environment, shared by chat-fcgi and
 * chat-realtime.  Variable names and defaults: README.md
 * "Configuration"; a program refuses to start without JWT secrets.
 */
#ifndef LIB_CONF_H
#define LIB_CONF_H

#include <stddef.h>

struct	conf_rate {
	long		 limit;		/* requests per window */
	long		 window;	/* seconds */
};

struct	conf {
	const char	*db_host;	/* DB_HOST (host name or socket dir) */
	const char	*db_port;	/* DB_PORT, kept as text for libpq */
	const char	*db_user;	/* DB_USER */
	const char	*db_pass;	/* DB_PASS */
	const char	*db_name;	/* DB_NAME */
	/*
	 * A PostgreSQL hot standby for reads that may lag (conf_pg_read_params
	 * below): DB_READ_HOST, NULL when unset (no standby: every read goes
	 * to the primary, as without these settings); DB_READ_PORT,
	 * DB_READ_USER, DB_READ_PASS, DB_READ_NAME default to the primary's
	 * DB_PORT, DB_USER, DB_PASS, DB_NAME.  DB_READ_MAX_LAG_MS (default
	 * 1000, 10..600000): a standby further behind serves no reads.
	 */
	const char	*db_read_host;
	const char	*db_read_port;
	const char	*db_read_user;
	const char	*db_read_pass;
	const char	*db_read_name;
	long		 db_read_max_lag_ms;
	const char	*jwt_secret;	/* JWT_SECRET, required */
	const char	*jwt_refresh_secret; /* JWT_REFRESH_SECRET, required */
	/*
	 * CORS_ORIGIN (docs/api.md §1.7), default "http://localhost:3000":
	 * "*" (any origin) or a comma-separated list of origins, spaces
	 * around each ignored; lib/cors.h says what a response names.
	 * Taken as one string: "*" inside a list is just an entry.
	 */
	const char	*cors_origin;
	const char	*redis_url;	/* REDIS_URL (lib/redis_util.h) */
	/* REDIS_CLUSTER "host:port,..." seeds, or NULL: use REDIS_URL. */
	const char	*redis_cluster;
	const char	*redis_cluster_pass; /* REDIS_CLUSTER_PASSWORD, NULL */
	const char	*upload_dir;	/* UPLOAD_DIR: holds avatars/ */
	int		 port;		/* PORT: the public nginx port */
	long		 access_ttl;	/* ACCESS_TOKEN_TTL, seconds */
	long		 refresh_ttl;	/* REFRESH_TOKEN_TTL, seconds */
	struct conf_rate rl_default;	/* RATE_LIMIT_DEFAULT "N/SECONDS" */
	struct conf_rate rl_auth;	/* RATE_LIMIT_AUTH */
	struct conf_rate rl_refresh;	/* RATE_LIMIT_REFRESH */
	int		 fcgi_workers;	/* FCGI_WORKERS */
	int		 realtime_nodes; /* REALTIME_NODES */
	/*
	 * PRESENCE_SCOPE (chat-realtime): "all" (the default, the spec:
	 * presence to everyone) or "contacts" (to those sharing a
	 * conversation); anything else is refused.
	 */
	int		 presence_scope;
};

#define CONF_SCOPE_ALL		0
#define CONF_SCOPE_CONTACTS	1

#define CONF_PG_PARAMS	8	/* libpq keywords conf_pg_params fills, +1 */

/*
 * PostgreSQL connection settings as libpq keyword and value arrays, for
 * PQconnectdbParams(keys, vals, 0) and PQconnectStartParams(keys, vals,
 * 0): no conninfo string is built, so no value is ever quoted by hand.
 */
struct	conf_pg {
	const char	*keys[CONF_PG_PARAMS];	/* NULL after the last */
	const char	*vals[CONF_PG_PARAMS];	/* borrowed; NULL: default */
};

/*
 * Fill p from c (host, port, user, password, dbname) plus
 * connect_timeout "timeout" (seconds, as text) and application_name
 * "app".  The strings stay c's and the caller's: p is valid while they
 * are.
 */
void	 conf_pg_params(const struct conf *c, const char *app,
	    const char *timeout, struct conf_pg *p);
/*
 * The same for the read standby (DB_READ_*).  Returns 0, or -1 (p
 * untouched) when DB_READ_HOST is unset.
 */
int	 conf_pg_read_params(const struct conf *c, const char *app,
	    const char *timeout, struct conf_pg *p);

/*
 * Fill "c" from the environment (strings are borrowed from environ).
 * Returns 0, or -1 with *why set to a static message naming the variable.
 */
int	 conf_load(struct conf *c, const char **why);

/*
 * Parse s, a decimal of digits only (no sign, no blanks), into *out if
 * it lies in [lo, hi].  Returns 0, or -1 (*out untouched).
 */
int	 conf_parse_long(const char *s, long lo, long hi, long *out);

/* Parse "N/SECONDS" into r.  Returns 0 or -1 (r untouched). */
int	 conf_parse_rate(const char *s, struct conf_rate *r);

/*
 * Parse a PRESENCE_SCOPE value ("all", "contacts") into *out
 * (CONF_SCOPE_*).  Returns 0, or -1 (*out untouched).
 */
int	 conf_parse_scope(const char *s, int *out);

#endif /* !LIB_CONF_H */
