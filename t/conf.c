/*
 * t/conf.c: lib/conf.h: the environment read into struct conf (the
 * defaults, a required secret missing, a bad rate), "N/SECONDS" rates,
 * and the libpq keyword and value arrays built from it, whatever the
 * values hold (quotes, backslashes, spaces are not quoted by anyone),
 * and those of the read standby (DB_READ_*, defaulting to the primary's).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/conf.h"

/* The value conf_pg_params gave "key", or NULL. */
static const char *
val(const struct conf_pg *p, const char *key)
{
	size_t	 i;

	for (i = 0; i < CONF_PG_PARAMS && p->keys[i] != NULL; i++)
		if (strcmp(p->keys[i], key) == 0)
			return p->vals[i];
	return NULL;
}

int
main(void)
{
	struct conf		 c;
	struct conf_rate	 r = { 0, 0 };
	struct conf_pg		 p;
	const char		*why = NULL;

	tap_plan(30);
	unsetenv("JWT_SECRET");
	setenv("JWT_REFRESH_SECRET", "r", 1);
	tap_int(conf_load(&c, &why), -1, "no JWT_SECRET: refused");
	tap_str(why, "JWT_SECRET is not set", "... and says why");
	setenv("JWT_SECRET", "s", 1);
	unsetenv("DB_HOST");
	unsetenv("RATE_LIMIT_AUTH");
	setenv("DB_PASS", "it's a \\ pass word", 1);
	tap_int(conf_load(&c, &why), 0, "secrets set: loaded");
	tap_str(c.db_host, "localhost", "DB_HOST default");
	tap_int(c.rl_auth.limit * 1000 + c.rl_auth.window, 5060,
	    "RATE_LIMIT_AUTH default 5/60");
	setenv("RATE_LIMIT_AUTH", "5/0", 1);
	tap_int(conf_load(&c, &why), -1, "a zero window: refused");
	unsetenv("RATE_LIMIT_AUTH");

	tap_int(conf_parse_rate("10/60", &r), 0, "10/60");
	tap_int(r.limit * 100 + r.window, 1060, "... read");
	tap_int(conf_parse_rate("10", &r), -1, "no slash");
	tap_int(conf_parse_rate("-1/60", &r), -1, "negative");
	tap_int(conf_parse_rate("1/60x", &r), -1, "trailing bytes");

	conf_load(&c, &why);
	conf_pg_params(&c, "t-conf", "3", &p);
	tap_str(val(&p, "password"), "it's a \\ pass word",
	    "password as it is, unquoted");
	tap_str(val(&p, "host"), "localhost", "host");
	tap_str(val(&p, "dbname"), c.db_name, "dbname");
	tap_str(val(&p, "connect_timeout"), "3", "connect_timeout");
	tap_str(val(&p, "application_name"), "t-conf", "application_name");
	tap_ok(p.keys[CONF_PG_PARAMS - 1] == NULL &&
	    p.vals[CONF_PG_PARAMS - 1] == NULL, "NULL-terminated");

	unsetenv("DB_READ_HOST");
	unsetenv("DB_READ_PORT");
	unsetenv("DB_READ_MAX_LAG_MS");
	setenv("DB_PORT", "5999", 1);
	conf_load(&c, &why);
	tap_int(conf_pg_read_params(&c, "t-conf", "3", &p), -1,
	    "no DB_READ_HOST: no standby");
	tap_int(c.db_read_max_lag_ms, 1000, "DB_READ_MAX_LAG_MS default");
	setenv("DB_READ_HOST", "standby.example", 1);
	conf_load(&c, &why);
	tap_int(conf_pg_read_params(&c, "t-conf", "3", &p), 0,
	    "DB_READ_HOST: a standby");
	tap_str(val(&p, "host"), "standby.example", "... its host");
	tap_str(val(&p, "port"), "5999", "... DB_PORT by default");
	tap_str(val(&p, "password"), "it's a \\ pass word",
	    "... the primary's password by default");
	setenv("DB_READ_MAX_LAG_MS", "5", 1);
	tap_int(conf_load(&c, &why), -1, "DB_READ_MAX_LAG_MS 5: refused");
	unsetenv("DB_READ_MAX_LAG_MS");
	unsetenv("DB_READ_HOST");

	unsetenv("PRESENCE_SCOPE");
	conf_load(&c, &why);
	tap_int(c.presence_scope, CONF_SCOPE_ALL, "PRESENCE_SCOPE default all");
	setenv("PRESENCE_SCOPE", "contacts", 1);
	tap_int(conf_load(&c, &why), 0, "PRESENCE_SCOPE contacts: loaded");
	tap_int(c.presence_scope, CONF_SCOPE_CONTACTS, "... contacts");
	setenv("PRESENCE_SCOPE", "friends", 1);
	tap_int(conf_load(&c, &why), -1, "PRESENCE_SCOPE friends: refused");
	tap_str(why, "PRESENCE_SCOPE must be all or contacts",
	    "... and says why");
	setenv("PRESENCE_SCOPE", "Contacts", 1);
	tap_int(conf_load(&c, &why), -1, "... case matters");
	unsetenv("PRESENCE_SCOPE");
	return tap_done();
}
