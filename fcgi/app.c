/*
 * app.c: a chat-fcgi worker's state and the steps every handler shares
 * (see app.h): its connections, bearer auth, the rate limit in two
 * halves, the body's encoding and the 500 answer.  Called by route.c
 * and the handlers; calls only lib/ and the request layer (http.c).
 * Spec: docs/api.md §1.4, §1.5, §1.6.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <crypt.h>
#include <hiredis.h>
#include <jansson.h>

#include "fcgi/app.h"
#include "fcgi/crypto_util.h"
#include "fcgi/http.h"
#include "fcgi/pcache.h"
#include "fcgi/redis.h"
#include "fcgi/rl.h"
#include "lib/jwt_util.h"
#include "lib/log.h"
#include "lib/ts.h"

long
app_pcache_ttl(const struct conf *c, const char **why)
{
	const char	*v;
	char		*end;
	long		 t;

	if ((v = getenv("PROFILE_CACHE_TTL")) == NULL || *v == '\0')
		return c->db_read_host != NULL ? 0 : APP_PCACHE_TTL;
	t = strtol(v, &end, 10);
	if (*end != '\0' || t < 0 || t > APP_PCACHE_TTL_MAX) {
		*why = "PROFILE_CACHE_TTL must be 0 to 86400 seconds";
		return -1;
	}
	return t;
}

int
app_init(struct app *a, const struct conf *c)
{
	const char	*why;
	char		 pw[33];
	char		 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char	*h;
	int		 n;

	memset(a, 0, sizeof(*a));
	a->conf = c;
	db_init(&a->db, c);
	a->dbr_on = db_init_read(&a->dbr, c) == 0;
	a->dbr_why = "not checked yet";
	if (redis_init(&a->redis, c->redis_url, c->redis_cluster,
	    c->redis_cluster_pass, &why) == -1) {
		log_warnx("%s", why);
		return -1;
	}
	if ((a->pcache_ttl = app_pcache_ttl(c, &why)) == -1) {
		log_warnx("%s", why);
		return -1;
	}
	n = snprintf(a->avatar_dir, sizeof(a->avatar_dir), "%s/avatars",
	    c->upload_dir);
	if (n < 0 || (size_t)n >= sizeof(a->avatar_dir)) {
		log_warnx("UPLOAD_DIR is too long");
		return -1;
	}
	if ((a->cd = calloc(1, sizeof(*a->cd))) == NULL) {
		log_warn("calloc");
		return -1;
	}
	/*
	 * Unknown users are checked against this hash of a random password,
	 * so they cost the same bcrypt time as known ones.
	 */
	if (crypto_random_hex(16, pw, sizeof(pw)) == -1 ||
	    crypt_gensalt_rn("$2b$", APP_BCRYPT_COST, NULL, 0, salt,
	    sizeof(salt)) == NULL ||
	    (h = crypt_r(pw, salt, a->cd)) == NULL || h[0] == '*' ||
	    strlen(h) >= sizeof(a->dummy)) {
		log_warnx("cannot make the dummy bcrypt hash");
		return -1;
	}
	memcpy(a->dummy, h, strlen(h) + 1);
	return 0;
}

/* Close the worker's connections and free its bcrypt scratch. */
void
app_free(struct app *a)
{
	db_close(&a->db);
	db_close(&a->dbr);
	redis_free(&a->redis);
	free(a->cd);
	a->cd = NULL;
}

/*
 * The standby's state in one row: in recovery, its WAL receiver
 * streaming, and how far replay is behind in ms (0 when it replayed
 * all it received; else the age of the last transaction replayed, so
 * an idle primary does not look like lag).
 */
static const char SQL_STANDBY[] =
    "SELECT pg_is_in_recovery(),"
    " COALESCE((SELECT status = 'streaming' FROM pg_stat_wal_receiver),"
    " false),"
    " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    " THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() -"
    " pg_last_xact_replay_timestamp()) * 1000, 1e9)::bigint END";

/* Ask the standby how it is; sets dbr_ok and dbr_why. */
static void
dbread_check(struct app *a)
{
	PGresult	*res;
	enum db_err	 err;
	const char	*why = NULL;
	long long	 lag;

	clock_gettime(CLOCK_MONOTONIC, &a->dbr_at);
	res = db_exec(&a->dbr, SQL_STANDBY, 0, NULL, &err);
	if (err != DB_OK || PQntuples(res) != 1 || PQnfields(res) != 3)
		why = "primary: standby down";
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		why = "primary: not a standby";
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		why = "primary: standby not streaming";
	else {
		lag = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		if (lag < 0 || lag > a->conf->db_read_max_lag_ms)
			why = "primary: standby lags";
	}
	PQclear(res);
	if (why != NULL && a->dbr_ok)
		log_warnx("reads from the primary: %s", why + 9);
	else if (why == NULL && !a->dbr_ok && a->dbr_why != NULL &&
	    strcmp(a->dbr_why, "not checked yet") != 0)
		log_info("reads from the standby again");
	a->dbr_ok = why == NULL;
	a->dbr_why = why;
}

int
app_dbread_ok(struct app *a)
{
	if (!a->dbr_on)
		return 0;
	if ((a->dbr_at.tv_sec == 0 && a->dbr_at.tv_nsec == 0) ||
	    ts_ms_since(&a->dbr_at) >= (a->dbr_ok ? APP_DBREAD_CHECK_MS :
	    APP_DBREAD_RETRY_MS))
		dbread_check(a);
	return a->dbr_ok;
}

const char *
app_dbread_state(struct app *a)
{
	return app_dbread_ok(a) ? "standby" : a->dbr_why;
}

size_t
app_wrote_key(long long id, char *buf, size_t bufsz)
{
	int	 n;

	n = snprintf(buf, bufsz, "{u:%lld}:w", id);
	return n < 0 || (size_t)n >= bufsz ? 0 : (size_t)n;
}

/*
 * Failing to set the mark with the cache off is logged only: the next
 * read may then miss the write for up to the standby's lag (bounded
 * by DB_READ_MAX_LAG_MS).  With the cache on it is an error.
 */
int
app_wrote(struct app *a, long long id)
{
	long	 mark;

	if (!a->dbr_on && a->pcache_ttl == 0)
		return 0;
	mark = a->dbr_on ? a->conf->db_read_max_lag_ms +
	    APP_WROTE_MARGIN_MS : 0;
	if (pcache_wrote(&a->redis, id, mark) == 0)
		return 0;
	a->redis_errors++;
	return a->pcache_ttl > 0 ? -1 : 0;
}

enum dto_ctype
app_body_type(const struct http_req *r)
{
	if (http_ctype_is(r, "application/json"))
		return DTO_CT_JSON;
	if (http_ctype_is(r, "application/x-www-form-urlencoded"))
		return DTO_CT_FORM;
	return DTO_CT_OTHER;
}

void
app_fail(struct http_req *r)
{
	http_send_error(r, 500, "Internal server error", 0);
}

int
app_auth_check(struct app *a, struct http_req *r, struct app_user *u)
{
	const char	*p = r->authz;

	/* passport-jwt: "Bearer" (any case), blanks, then the token. */
	if (p == NULL || strncasecmp(p, "bearer", 6) != 0 ||
	    (p[6] != ' ' && p[6] != '\t'))
		return -1;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || strpbrk(p, " \t") != NULL)
		return -1;
	return jwt_access_verify(a->conf->jwt_secret, p, time(NULL), &u->id,
	    u->name, sizeof(u->name)) == 0 ? 0 : -1;
}

int
app_auth(struct app *a, struct http_req *r, struct app_user *u)
{
	if (app_auth_check(a, r, u) == 0)
		return 0;
	http_send_error(r, 401, "Unauthorized", 1);
	return -1;
}

/*
 * The limit is sent here and read in app_limit_finish.  Redis down:
 * fail open (serve and log), so an outage of the limiter's store does
 * not take the API down with it; the limits come back with Redis.
 */
void
app_limit_start(struct app *a, struct http_req *r, const char *route,
    const struct conf_rate *rate)
{
	a->rl_state = APP_RL_NONE;
	if (rate == NULL)
		return;
	a->rl_rate = rate;
	a->rl_route = route;
	a->rl_state = APP_RL_SKIP;
	if (rl_send(&a->redis, &a->rlq, route, r->ip, rate) == 0)
		a->rl_state = APP_RL_SENT;
	else {
		a->redis_errors++;
		log_warnx("rate limit skipped: %s", a->redis.why != NULL ?
		    a->redis.why : "Redis error");
	}
}

int
app_limit_finish(struct app *a, struct http_req *r)
{
	enum rl_result	 res;
	long		 retry = 0;
	char		 hdr[64];

	if (a->rl_state != APP_RL_SENT) {
		a->rl_state = APP_RL_NONE;
		return 0;
	}
	a->rl_state = APP_RL_NONE;
	/* A link lost meanwhile: redis_recv sends it once more. */
	res = rl_recv(&a->redis, &a->rlq, &retry);
	if (res == RL_ERROR) {
		a->redis_errors++;
		log_warnx("rate limit skipped: %s", a->redis.why != NULL ?
		    a->redis.why : "Redis error");
		return 0;
	}
	if (res == RL_ALLOW)
		return 0;
	http_drain(r);
	snprintf(hdr, sizeof(hdr), "Retry-After: %ld\r\n", retry);
	http_send_json(r, 429, json_pack("{s:i, s:s, s:s}",
	    "statusCode", 429,
	    "message", "ThrottlerException: Too Many Requests",
	    "error", "Too Many Requests"), hdr);
	return -1;
}
