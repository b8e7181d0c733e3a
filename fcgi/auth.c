/*
 * auth.c: POST /auth/register, /auth/login, /auth/refresh and
 * /auth/logout.  Passwords are bcrypt (cost 10) through libcrypt's
 * crypt_r; refresh tokens are 40 random bytes shown as 80 hex digits and
 * stored only as HMAC-SHA256(JWT_REFRESH_SECRET, token).  Each handler
 * has the layout every handler shares (fcgi/handlers.h).
 * Spec: docs/api.md §1.5, §2.1-§2.4.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <crypt.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "fcgi/app.h"
#include "fcgi/crypto_util.h"
#include "fcgi/db.h"
#include "fcgi/dto.h"
#include "fcgi/handlers.h"
#include "fcgi/http.h"
#include "lib/hex.h"
#include "lib/jwt_util.h"
#include "lib/log.h"

static const char SQL_USER_EXISTS[] =
    "SELECT 1 FROM users WHERE lower(username) = lower($1)";
static const char SQL_USER_INSERT[] =
    "INSERT INTO users (username, password, display_name) "
    "VALUES ($1, $2, $3) RETURNING id, username";
static const char SQL_USER_BY_NAME[] =
    "SELECT id, username, password FROM users "
    "WHERE lower(username) = lower($1)";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO refresh_tokens (user_id, token_hash, expires_at) "
    "VALUES ($1, $2, now() + $3::bigint * interval '1 second')";
/*
 * Rotation in one statement: revoke the presented token if it is live,
 * naming its successor, and insert the successor.  Two requests with
 * one token: the row lock lets one through, the other finds it revoked.
 */
static const char SQL_TOKEN_ROTATE[] =
    "WITH old AS ("
    " UPDATE refresh_tokens SET revoked_at = now(),"
    "  replaced_by = gen_random_uuid()"
    " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
    " RETURNING user_id, replaced_by),"
    " new AS ("
    " INSERT INTO refresh_tokens (id, user_id, token_hash, expires_at)"
    " SELECT replaced_by, user_id, $2,"
    "  now() + $3::bigint * interval '1 second' FROM old"
    " RETURNING user_id)"
    " SELECT u.id, u.username FROM new JOIN users u ON u.id = new.user_id";
/* Reuse: a rotated-away token came back; revoke all of its user's. */
static const char SQL_TOKEN_REUSE[] =
    "UPDATE refresh_tokens SET revoked_at = now()"
    " WHERE revoked_at IS NULL AND user_id ="
    " (SELECT user_id FROM refresh_tokens"
    "  WHERE token_hash = $1 AND replaced_by IS NOT NULL)";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE refresh_tokens SET revoked_at = now()"
    " WHERE token_hash = $1 AND revoked_at IS NULL";

/*
 * Read and validate a JSON body.  Returns 0 with d filled, or -1 after
 * sending the 400/413/500.
 */
static int
read_dto(struct http_req *r, enum dto_kind kind, struct dto *d)
{
	char	*body = NULL;
	size_t	 len = 0;
	json_t	*err = NULL;
	int	 rc;

	memset(d, 0, sizeof(*d));
	rc = http_body(r, DTO_BODY_MAX, &body, &len);
	if (rc == 413) {
		http_send_error(r, 413, "request entity too large", 0);
		return -1;
	} else if (rc != 0) {
		app_fail(r);
		return -1;
	}
	rc = dto_parse(kind, body, len, app_body_type(r), d, &err);
	free(body);
	if (rc != 0) {
		http_send_json(r, rc, err, NULL);
		return -1;
	}
	return 0;
}

/* bcrypt "pw" with a fresh salt into out.  Returns 0 or -1 (logged). */
static int
hash_password(struct app *a, const char *pw, char *out, size_t outsz)
{
	char		 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char	*h;

	if (crypt_gensalt_rn("$2b$", APP_BCRYPT_COST, NULL, 0, salt,
	    sizeof(salt)) == NULL) {
		log_warn("crypt_gensalt_rn");
		return -1;
	}
	h = crypt_r(pw, salt, a->cd);
	if (h == NULL || strncmp(h, "$2b$", 4) != 0 || strlen(h) >= outsz) {
		log_warnx("crypt_r failed");
		return -1;
	}
	memcpy(out, h, strlen(h) + 1);
	return 0;
}

/* 1 if "pw" matches the stored bcrypt "hash" (constant time compare). */
static int
check_password(struct app *a, const char *pw, const char *hash)
{
	const char	*h;

	h = crypt_r(pw, hash, a->cd);
	if (h == NULL || h[0] == '*')
		return 0;
	return crypto_equal(h, strlen(h), hash, strlen(hash));
}

/*
 * Sign an access token for (uid, uname) and answer 200 {access_token,
 * refresh_token} with the raw refresh token "tok", already stored.
 */
static void
send_pair(struct app *a, struct http_req *r, long long uid,
    const char *uname, const char *tok)
{
	char	*access;
	json_t	*j;

	if ((access = jwt_access_sign(a->conf->jwt_secret, uid, uname,
	    time(NULL), a->conf->access_ttl)) == NULL) {
		app_fail(r);
		return;
	}
	j = json_pack("{s:s, s:s}", "access_token", access,
	    "refresh_token", tok);
	free(access);
	http_send_json(r, 200, j, NULL);
}

/* A new raw refresh token and its stored hash. */
static int
new_refresh(struct app *a, char *tok, size_t toksz, char *hash,
    size_t hashsz)
{
	if (crypto_random_hex(APP_REFRESH_BYTES, tok, toksz) == -1 ||
	    crypto_hmac_sha256_hex(a->conf->jwt_refresh_secret, tok,
	    strlen(tok), hash, hashsz) == -1)
		return -1;
	return 0;
}

/*
 * POST /auth/register: validate, refuse a name already taken (409)
 * before spending bcrypt on it, insert, answer {id, username}.
 */
void
auth_register(struct app *a, struct http_req *r)
{
	struct dto	 d;
	PGresult	*res = NULL;
	enum db_err	 err;
	char		 hash[CRYPT_OUTPUT_SIZE];
	const char	*args[3];
	long long	 uid;
	json_t		*j;

	if (read_dto(r, DTO_REGISTER, &d) == -1)
		return;
	args[0] = d.username;
	/* Spare the bcrypt work for a name already taken. */
	res = db_exec(&a->db, SQL_USER_EXISTS, 1, args, &err);
	if (err != DB_OK) {
		app_fail(r);
		goto out;
	}
	if (PQntuples(res) > 0) {
		http_send_error(r, 409, "Username already exists", 0);
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (hash_password(a, d.password, hash, sizeof(hash)) == -1) {
		app_fail(r);
		goto out;
	}
	args[1] = hash;
	args[2] = d.display == DTO_SET ? d.display_name : NULL;
	res = db_exec(&a->db, SQL_USER_INSERT, 3, args, &err);
	if (err == DB_UNIQUE) {
		http_send_error(r, 409, "Username already exists", 0);
		goto out;
	}
	if (err != DB_OK || PQntuples(res) != 1) {
		app_fail(r);
		goto out;
	}
	uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	j = json_pack("{s:I, s:s}", "id", (json_int_t)uid,
	    "username", PQgetvalue(res, 0, 1));
	/*
	 * A new profile: GET /users/me must not miss it on the standby,
	 * nor find a cached one left under the same id (only possible
	 * after a database reset with Redis kept, and then the owner's
	 * id is checked on each hit: a failure here is only logged).
	 */
	(void)app_wrote(a, uid);
	http_send_json(r, 200, j, NULL);
out:
	PQclear(res);
	dto_clear(&d);
}

/*
 * POST /auth/login: check the password (the bcrypt time is spent for an
 * unknown user too), store a new refresh token, answer the token pair.
 */
void
auth_login(struct app *a, struct http_req *r)
{
	struct dto	 d;
	PGresult	*res = NULL;
	enum db_err	 err;
	const char	*args[3];
	char		 tok[2 * APP_REFRESH_BYTES + 1];
	char		 hash[CRYPTO_SHA256_HEX], ttl[32], uid[32];
	int		 ok = 0, plausible;

	if (read_dto(r, DTO_LOGIN, &d) == -1)
		return;
	/*
	 * A password bcrypt would truncate (over 72 bytes) or cut at a NUL
	 * can never be right; still spend the bcrypt time.
	 */
	plausible = d.password_len <= 72 &&
	    memchr(d.password, '\0', d.password_len) == NULL &&
	    d.username_len <= 64;
	if (plausible) {
		args[0] = d.username;
		res = db_exec(&a->db, SQL_USER_BY_NAME, 1, args, &err);
		if (err != DB_OK) {
			app_fail(r);
			goto out;
		}
	}
	if (res != NULL && PQntuples(res) == 1)
		ok = check_password(a, d.password, PQgetvalue(res, 0, 2));
	else
		(void)check_password(a, d.password, a->dummy);
	if (!ok) {
		http_send_error(r, 401, "Invalid credentials", 0);
		goto out;
	}
	if (new_refresh(a, tok, sizeof(tok), hash, sizeof(hash)) == -1) {
		app_fail(r);
		goto out;
	}
	snprintf(uid, sizeof(uid), "%s", PQgetvalue(res, 0, 0));
	snprintf(ttl, sizeof(ttl), "%ld", a->conf->refresh_ttl);
	args[0] = uid;
	args[1] = hash;
	args[2] = ttl;
	{
		PGresult	*ins;

		ins = db_exec(&a->db, SQL_TOKEN_INSERT, 3, args, &err);
		PQclear(ins);
	}
	if (err != DB_OK) {
		app_fail(r);
		goto out;
	}
	send_pair(a, r, strtoll(uid, NULL, 10), PQgetvalue(res, 0, 1), tok);
out:
	PQclear(res);
	dto_clear(&d);
}

/* 1 if s[0..len) is exactly 80 lowercase hex digits. */
static int
token_shaped(const char *s, size_t len)
{
	return len == 2 * APP_REFRESH_BYTES && hex_is_lower(s, len);
}

/*
 * POST /auth/refresh: rotate the presented token in one statement; one
 * that was already rotated away revokes every token of its user (reuse
 * detection).  Either failure is 401 "Invalid refresh token".
 */
void
auth_refresh(struct app *a, struct http_req *r)
{
	struct dto	 d;
	PGresult	*res = NULL;
	enum db_err	 err;
	const char	*args[3];
	char		 oldh[CRYPTO_SHA256_HEX], newh[CRYPTO_SHA256_HEX];
	char		 tok[2 * APP_REFRESH_BYTES + 1], ttl[32];

	if (read_dto(r, DTO_REFRESH, &d) == -1)
		return;
	if (!token_shaped(d.refresh_token, d.refresh_token_len)) {
		http_send_error(r, 401, "Invalid refresh token", 0);
		goto out;
	}
	if (crypto_hmac_sha256_hex(a->conf->jwt_refresh_secret,
	    d.refresh_token, d.refresh_token_len, oldh, sizeof(oldh)) == -1 ||
	    new_refresh(a, tok, sizeof(tok), newh, sizeof(newh)) == -1) {
		app_fail(r);
		goto out;
	}
	snprintf(ttl, sizeof(ttl), "%ld", a->conf->refresh_ttl);
	args[0] = oldh;
	args[1] = newh;
	args[2] = ttl;
	res = db_exec(&a->db, SQL_TOKEN_ROTATE, 3, args, &err);
	if (err != DB_OK) {
		app_fail(r);
		goto out;
	}
	if (PQntuples(res) == 1) {
		send_pair(a, r, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
		    PQgetvalue(res, 0, 1), tok);
		goto out;
	}
	PQclear(res);
	res = db_exec(&a->db, SQL_TOKEN_REUSE, 1, args, &err);
	if (err != DB_OK) {
		app_fail(r);
		goto out;
	}
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_warnx("refresh token reuse from %s: revoked %s tokens",
		    r->ip, PQcmdTuples(res));
	http_send_error(r, 401, "Invalid refresh token", 0);
out:
	PQclear(res);
	dto_clear(&d);
}

/* POST /auth/logout: revoke the token if it is one of ours; always 200. */
void
auth_logout(struct app *a, struct http_req *r)
{
	struct dto	 d;
	PGresult	*res = NULL;
	enum db_err	 err;
	const char	*args[1];
	char		 h[CRYPTO_SHA256_HEX];
	json_t		*j;

	if (read_dto(r, DTO_REFRESH, &d) == -1)
		return;
	/* Unknown or malformed tokens are already logged out. */
	if (token_shaped(d.refresh_token, d.refresh_token_len)) {
		if (crypto_hmac_sha256_hex(a->conf->jwt_refresh_secret,
		    d.refresh_token, d.refresh_token_len, h, sizeof(h)) == -1) {
			app_fail(r);
			goto out;
		}
		args[0] = h;
		res = db_exec(&a->db, SQL_TOKEN_REVOKE, 1, args, &err);
		if (err != DB_OK) {
			app_fail(r);
			goto out;
		}
	}
	j = json_pack("{s:s}", "message", "Logged out");
	http_send_json(r, 200, j, NULL);
out:
	PQclear(res);
	dto_clear(&d);
}
