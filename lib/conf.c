/*
 * conf.c: read the environment variables of README.md "Configuration"
 * into struct conf.
 * Pure apart from getenv(); no I/O.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"

/* The environment variable "name", or dflt if unset or empty. */
static const char *
env_or(const char *name, const char *dflt)
{
	const char	*v = getenv(name);

	return (v == NULL || *v == '\0') ? dflt : v;
}

int
conf_parse_long(const char *s, long lo, long hi, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
conf_parse_rate(const char *s, struct conf_rate *r)
{
	char	 buf[64];
	char	*slash;
	long	 n, w;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	if ((slash = strchr(buf, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (conf_parse_long(buf, 1, 1000000000L, &n) == -1 ||
	    conf_parse_long(slash + 1, 1, 86400L * 365, &w) == -1)
		return -1;
	r->limit = n;
	r->window = w;
	return 0;
}

int
conf_parse_scope(const char *s, int *out)
{
	if (strcmp(s, "all") == 0)
		*out = CONF_SCOPE_ALL;
	else if (strcmp(s, "contacts") == 0)
		*out = CONF_SCOPE_CONTACTS;
	else
		return -1;
	return 0;
}

/* "name" as a decimal in [lo, hi], dflt if unset.  Returns 0 or -1. */
static int
env_long(const char *name, long dflt, long lo, long hi, long *out)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0') {
		*out = dflt;
		return 0;
	}
	return conf_parse_long(v, lo, hi, out);
}

/* "name" as "N/SECONDS", dflt if unset.  Returns 0 or -1. */
static int
env_rate(const char *name, const char *dflt, struct conf_rate *r)
{
	return conf_parse_rate(env_or(name, dflt), r);
}

int
conf_load(struct conf *c, const char **why)
{
	long	 v;

	memset(c, 0, sizeof(*c));
	c->db_host = env_or("DB_HOST", "localhost");
	c->db_port = env_or("DB_PORT", "5432");
	c->db_user = env_or("DB_USER", "postgres");
	c->db_pass = env_or("DB_PASS", "postgres");
	c->db_name = env_or("DB_NAME", "chatdb");
	c->db_read_host = env_or("DB_READ_HOST", NULL);
	c->db_read_port = env_or("DB_READ_PORT", c->db_port);
	c->db_read_user = env_or("DB_READ_USER", c->db_user);
	c->db_read_pass = env_or("DB_READ_PASS", c->db_pass);
	c->db_read_name = env_or("DB_READ_NAME", c->db_name);
	c->jwt_secret = env_or("JWT_SECRET", NULL);
	c->jwt_refresh_secret = env_or("JWT_REFRESH_SECRET", NULL);
	c->cors_origin = env_or("CORS_ORIGIN", "http://localhost:3000");
	c->redis_url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
	c->redis_cluster = env_or("REDIS_CLUSTER", NULL);
	c->redis_cluster_pass = env_or("REDIS_CLUSTER_PASSWORD", NULL);
	c->upload_dir = env_or("UPLOAD_DIR", "uploads");

	if (c->jwt_secret == NULL) {
		*why = "JWT_SECRET is not set";
		return -1;
	}
	if (c->jwt_refresh_secret == NULL) {
		*why = "JWT_REFRESH_SECRET is not set";
		return -1;
	}
	if (env_long("PORT", 3000, 1, 65535, &v) == -1) {
		*why = "PORT must be 1..65535";
		return -1;
	}
	c->port = (int)v;
	if (env_long("ACCESS_TOKEN_TTL", 900, 1, 86400L * 365,
	    &c->access_ttl) == -1) {
		*why = "ACCESS_TOKEN_TTL must be a number of seconds";
		return -1;
	}
	if (env_long("REFRESH_TOKEN_TTL", 604800, 1, 86400L * 3650,
	    &c->refresh_ttl) == -1) {
		*why = "REFRESH_TOKEN_TTL must be a number of seconds";
		return -1;
	}
	if (env_rate("RATE_LIMIT_DEFAULT", "10/60", &c->rl_default) == -1) {
		*why = "RATE_LIMIT_DEFAULT must read N/SECONDS";
		return -1;
	}
	if (env_rate("RATE_LIMIT_AUTH", "5/60", &c->rl_auth) == -1) {
		*why = "RATE_LIMIT_AUTH must read N/SECONDS";
		return -1;
	}
	if (env_rate("RATE_LIMIT_REFRESH", "10/60", &c->rl_refresh) == -1) {
		*why = "RATE_LIMIT_REFRESH must read N/SECONDS";
		return -1;
	}
	if (env_long("FCGI_WORKERS", 4, 1, 1024, &v) == -1) {
		*why = "FCGI_WORKERS must be 1..1024";
		return -1;
	}
	c->fcgi_workers = (int)v;
	if (env_long("REALTIME_NODES", 2, 1, 64, &v) == -1) {
		*why = "REALTIME_NODES must be 1..64";
		return -1;
	}
	c->realtime_nodes = (int)v;
	if (conf_parse_scope(env_or("PRESENCE_SCOPE", "all"),
	    &c->presence_scope) == -1) {
		*why = "PRESENCE_SCOPE must be all or contacts";
		return -1;
	}
	if (env_long("DB_READ_MAX_LAG_MS", 1000, 10, 600000,
	    &c->db_read_max_lag_ms) == -1) {
		*why = "DB_READ_MAX_LAG_MS must be 10..600000";
		return -1;
	}
	return 0;
}

/* Fill p with one server's settings and the common ones. */
static void
pg_params(const char *host, const char *port, const char *user,
    const char *pass, const char *name, const char *app, const char *timeout,
    struct conf_pg *p)
{
	size_t	 n = 0;

#define KV(k, v)	do { p->keys[n] = (k); p->vals[n++] = (v); } while (0)
	KV("host", host);
	KV("port", port);
	KV("user", user);
	KV("password", pass);
	KV("dbname", name);
	KV("connect_timeout", timeout);
	KV("application_name", app);
	KV(NULL, NULL);
#undef KV
}

void
conf_pg_params(const struct conf *c, const char *app, const char *timeout,
    struct conf_pg *p)
{
	pg_params(c->db_host, c->db_port, c->db_user, c->db_pass, c->db_name,
	    app, timeout, p);
}

int
conf_pg_read_params(const struct conf *c, const char *app,
    const char *timeout, struct conf_pg *p)
{
	if (c->db_read_host == NULL)
		return -1;
	pg_params(c->db_read_host, c->db_read_port, c->db_read_user,
	    c->db_read_pass, c->db_read_name, app, timeout, p);
	return 0;
}
