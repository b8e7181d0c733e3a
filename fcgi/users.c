/*
 * users.c: a worker's setup and shared helpers (connections, bearer
 * auth), and GET/PATCH /users/me and DELETE /users/me/avatar.
 * Spec: docs/api.md §1.5, §2.5, §2.6, §2.8; DESIGN.md "Resolved details".
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

#include "app.h"
#include "crypto_util.h"
#include "db.h"
#include "dto.h"
#include "http.h"
#include "json_util.h"
#include "jwt.h"
#include "log.h"
#include "redis_util.h"

#define SQL_PROFILE_COLS \
    "id, username, display_name, avatar_url, avatar_color"

static const char SQL_ME[] =
    "SELECT " SQL_PROFILE_COLS ", to_char(created_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM users WHERE id = $1";
static const char SQL_PATCH[] =
    "UPDATE users SET display_name = CASE WHEN $2 = 'set' THEN $3"
    " WHEN $2 = 'null' THEN NULL ELSE display_name END"
    " WHERE id = $1 RETURNING " SQL_PROFILE_COLS;
/*
 * Clear the avatar and return the URL it had.  FOR UPDATE serialises
 * this against uploads of the same user, so each sees the URL the other
 * left and removes exactly the file it replaced.
 */
static const char SQL_AVATAR_CLEAR[] =
    "WITH old AS (SELECT id, avatar_url FROM users WHERE id = $1"
    " FOR UPDATE)"
    " UPDATE users u SET avatar_url = NULL FROM old WHERE u.id = old.id"
    " RETURNING old.avatar_url";

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
	if (redis_url_parse(c->redis_url, &a->rurl, &why) == -1) {
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

void
app_free(struct app *a)
{
	db_close(&a->db);
	app_redis_drop(a);
	free(a->cd);
	a->cd = NULL;
}

redisContext *
app_redis(struct app *a)
{
	if (a->redis != NULL && a->redis->err != 0)
		app_redis_drop(a);
	if (a->redis == NULL)
		a->redis = redis_connect(&a->rurl, &a->redis_why);
	return a->redis;
}

void
app_redis_drop(struct app *a)
{
	if (a->redis != NULL)
		redisFree(a->redis);
	a->redis = NULL;
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

void
users_me_get(struct app *a, struct http_req *r)
{
	struct app_user	 u;
	PGresult	*res = NULL;
	enum db_err	 err;
	char		 id[32];
	const char	*args[1] = { id };
	int		 authed, sent = 0;

	http_drain(r);
	/*
	 * The token is checked here (no I/O) and the SELECT sent while
	 * the rate limit's answer is on its way; a refusal (429) still
	 * wins over everything, as for any other route.
	 */
	authed = app_auth_check(a, r, &u) == 0;
	if (authed) {
		snprintf(id, sizeof(id), "%lld", u.id);
		sent = db_send(&a->db, SQL_ME, 1, args) == 0;
	}
	if (app_limit_finish(a, r) == -1) {
		if (sent)
			PQclear(db_recv(&a->db, &err));
		return;
	}
	if (!authed) {
		http_send_error(r, 401, "Unauthorized", 1);
		return;
	}
	if (sent)
		res = db_recv(&a->db, &err);
	else
		res = db_exec(&a->db, SQL_ME, 1, args, &err);
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)	/* deleted since the token */
		http_send_error(r, 401, "Unauthorized", 1);
	else
		http_send_json(r, 200, profile(res, 1), NULL);
	PQclear(res);
}

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
	else
		http_send_json(r, 200, profile(res, 0), NULL);
out:
	PQclear(res);
	dto_clear(&d);
	free(body);
}

void
users_avatar_delete(struct app *a, struct http_req *r)
{
	struct app_user	 u;
	PGresult	*res = NULL;
	enum db_err	 err;
	char		 id[32];
	const char	*args[1] = { id };

	http_drain(r);
	if (app_auth(a, r, &u) == -1)
		return;
	snprintf(id, sizeof(id), "%lld", u.id);
	res = db_exec(&a->db, SQL_AVATAR_CLEAR, 1, args, &err);
	if (err != DB_OK)
		app_fail(r);
	else if (PQntuples(res) != 1)
		http_send_error(r, 401, "Unauthorized", 1);
	else {
		/* The row is committed: now the file may go. */
		if (!PQgetisnull(res, 0, 0))
			avatar_unlink(a, PQgetvalue(res, 0, 0));
		http_send_json(r, 200, json_pack("{s:s}", "message",
		    "Avatar removed"), NULL);
	}
	PQclear(res);
}
