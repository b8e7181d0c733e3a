/*
 * users.c: GET and PATCH /users/me, the caller's own profile, in the
 * layout every handler shares (fcgi/handlers.h).
 * Spec: docs/api.md §1.5, §2.5, §2.6.
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
#include <libpq-fe.h>

#include "fcgi/app.h"
#include "fcgi/db.h"
#include "fcgi/dto.h"
#include "fcgi/handlers.h"
#include "fcgi/http.h"
#include "fcgi/json_util.h"
#include "fcgi/pcache.h"
#include "lib/ts.h"

#define SQL_PROFILE_COLS \
    "id, username, display_name, avatar_url, avatar_color"

static const char SQL_ME[] =
    "SELECT " SQL_PROFILE_COLS ", " TS_SQL("created_at")
    " FROM users WHERE id = $1";
static const char SQL_PATCH[] =
    "UPDATE users SET display_name = CASE WHEN $2 = 'set' THEN $3"
    " WHEN $2 = 'null' THEN NULL ELSE display_name END"
    " WHERE id = $1 RETURNING " SQL_PROFILE_COLS;
/* Column i of row 0 as a JSON string, or null when SQL NULL. */
static json_t *
col(PGresult *res, int i)
{
	if (PQgetisnull(res, 0, i))
		return json_null();
	return json_stringn(PQgetvalue(res, 0, i),
	    (size_t)PQgetlength(res, 0, i));
}

/* The profile of docs/api.md §2.5 from SQL_PROFILE_COLS (+ createdAt). */
static json_t *
profile(PGresult *res, int created)
{
	json_t	*j;

	j = json_pack("{s:I, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
	    "username", col(res, 1), "displayName", col(res, 2),
	    "avatarUrl", col(res, 3), "avatarColor", col(res, 4));
	if (j != NULL && created &&
	    json_object_set_new(j, "createdAt", col(res, 5)) == -1) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Ask Redis whether user "id" wrote their profile within the standby's
 * bound (app_wrote), behind the rate limit's command.  Returns 1 if
 * sent (then own_write reads the answer).
 */
static int
own_write_send(struct app *a, struct redis_cmd *q, long long id)
{
	char		 key[APP_WROTE_KEY_MAX];
	const char	*argv[2] = { "EXISTS", key };
	size_t		 lens[2] = { 6, 0 };

	if ((lens[1] = app_wrote_key(id, key, sizeof(key))) == 0)
		return 0;
	return redis_send(&a->redis, q, key, lens[1], 2, argv, lens) == 0;
}

/* 1 if the mark is there or Redis cannot say: read from the primary. */
static int
own_write(struct app *a, struct redis_cmd *q)
{
	redisReply	*rep;
	int		 yes;

	rep = redis_recv(&a->redis, q);
	yes = rep == NULL || rep->type != REDIS_REPLY_INTEGER ||
	    rep->integer != 0;
	if (rep != NULL)
		freeReplyObject(rep);
	return yes;
}

/*
 * A cache miss (pcache.h): the row from the primary, asked only now,
 * after the MGET's answer, so the generation it saw is no newer than
 * the row; the answer, then the fill.
 */
static void
me_miss(struct app *a, struct http_req *r, struct pcache_req *pq,
    const char *id)
{
	PGresult	*res;
	enum db_err	 err;
	const char	*args[1] = { id };
	json_t		*j = NULL;
	char		*s = NULL;

	res = db_exec(&a->db, SQL_ME, 1, args, &err);
	if (a->dbr_on && err == DB_OK)
		a->reads_primary++;
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)	/* deleted since the token */
		http_send_error(r, 401, "Unauthorized", 1);
	else if ((j = profile(res, 1)) == NULL ||
	    (s = json_util_dump(j)) == NULL)
		app_fail(r);
	else {
		http_send_body(r, 200, s, strlen(s), NULL);
		pcache_fill(&a->redis, pq, s, strlen(s), a->pcache_ttl);
	}
	free(s);
	json_decref(j);
	PQclear(res);
}

/*
 * GET /users/me: the caller's profile with createdAt.  With the
 * profile cache (PROFILE_CACHE_TTL), its MGET goes out right behind
 * the rate limit's command, and a hit answers with no SQL at all.
 * Else, with a standby (DB_READ_HOST), the SELECT goes there at once,
 * and is asked again of the primary when the user wrote within the
 * bound, the mark cannot be read, or the standby fails or lacks the
 * row.
 */
void
users_me_get(struct app *a, struct http_req *r)
{
	struct app_user	 u;
	struct redis_cmd mq;
	struct pcache_req pq;
	struct db	*db = &a->db;
	PGresult	*res = NULL;
	enum db_err	 err = DB_ERR;
	char		 id[32], *body = NULL;
	const char	*args[1] = { id };
	size_t		 blen;
	int		 authed, sent = 0, marked = 0, cached = 0, hit;

	http_drain(r);
	/*
	 * The token is checked here (no I/O) and the cache's MGET or the
	 * SELECT sent while the rate limit's answer is on its way; a
	 * refusal (429) still wins over everything, as for any other
	 * route.
	 */
	authed = app_auth_check(a, r, &u) == 0;
	if (authed) {
		snprintf(id, sizeof(id), "%lld", u.id);
		if (a->pcache_ttl > 0) {
			cached = pcache_send(&a->redis, &pq, u.id) == 0;
			if (!cached)
				a->redis_errors++;
		}
		if (!cached && app_dbread_ok(a) &&
		    (marked = own_write_send(a, &mq, u.id)))
			db = &a->dbr;
	}
	/* The limit's command and ours in one write (route.c holds). */
	redis_release(&a->redis);
	if (authed && !cached)
		sent = db_send(db, SQL_ME, 1, args) == 0;
	if (app_limit_finish(a, r) == -1) {
		if (cached)
			pcache_cancel(&a->redis, &pq);
		if (marked)
			(void)own_write(a, &mq);
		if (sent)
			PQclear(db_recv(db, &err));
		return;
	}
	if (!authed) {
		http_send_error(r, 401, "Unauthorized", 1);
		return;
	}
	if (cached) {
		if ((hit = pcache_recv(&a->redis, &pq, &body, &blen)) == 1)
			http_send_body(r, 200, body, blen, NULL);
		else {
			if (hit == -1)
				a->redis_errors++;
			me_miss(a, r, &pq, id);
		}
		free(body);
		return;
	}
	if (sent)
		res = db_recv(db, &err);
	if (db == &a->dbr && (own_write(a, &mq) || err != DB_OK ||
	    PQntuples(res) != 1)) {
		PQclear(res);
		res = NULL;
		sent = 0;
		db = &a->db;
	} else if (marked && db != &a->dbr)
		(void)own_write(a, &mq);
	if (!sent)
		res = db_exec(db, SQL_ME, 1, args, &err);
	if (a->dbr_on && err == DB_OK) {
		if (db == &a->dbr)
			a->reads_standby++;
		else
			a->reads_primary++;
	}
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)	/* deleted since the token */
		http_send_error(r, 401, "Unauthorized", 1);
	else
		http_send_json(r, 200, profile(res, 1), NULL);
	PQclear(res);
}

/* PATCH /users/me: set or clear displayName; the profile after. */
void
users_me_patch(struct app *a, struct http_req *r)
{
	struct app_user	 u;
	struct dto	 d;
	PGresult	*res = NULL;
	enum db_err	 err;
	char		 id[32], *body = NULL;
	const char	*args[3];
	size_t		 len;
	json_t		*e = NULL;
	int		 rc;

	memset(&d, 0, sizeof(d));
	/* body-parser runs before the guard: 413 comes first. */
	rc = http_body(r, DTO_BODY_MAX, &body, &len);
	if (rc == 413) {
		http_send_error(r, 413, "request entity too large", 0);
		goto out;
	} else if (rc != 0) {
		app_fail(r);
		goto out;
	}
	if (app_auth(a, r, &u) == -1)
		goto out;
	if ((rc = dto_parse(DTO_PROFILE, body, len, app_body_type(r), &d,
	    &e)) != 0) {
		http_send_json(r, rc, e, NULL);
		goto out;
	}
	snprintf(id, sizeof(id), "%lld", u.id);
	args[0] = id;
	args[1] = d.display == DTO_SET ? "set" : d.display == DTO_NULL ?
	    "null" : "keep";
	args[2] = d.display == DTO_SET ? d.display_name : NULL;
	res = db_exec(&a->db, SQL_PATCH, 3, args, &err);
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)
		http_send_error(r, 401, "Unauthorized", 1);
	else if (app_wrote(a, u.id) == -1)
		app_fail(r);
	else
		http_send_json(r, 200, profile(res, 0), NULL);
out:
	PQclear(res);
	dto_clear(&d);
	free(body);
}
