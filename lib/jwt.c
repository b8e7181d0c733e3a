/*
 * jwt.c: sign and verify HS256 access tokens with libjwt 1.10.
 * libjwt verifies the signature for whatever alg the header names and
 * checks no claims, so every claim check is here.  Called by chat-fcgi
 * (login, refresh, bearer auth) and chat-realtime (connect).
 * Spec: api.md 4.1 (payload); DESIGN.md "Resolved details".
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt_libjwt.h>

#include "jwt.h"
#include "log.h"

char *
jwt_access_sign(const char *secret, long long uid, const char *uname,
    time_t now, long ttl)
{
	jwt_t	*j = NULL;
	char	*tok = NULL;
	size_t	 klen;

	if (secret == NULL || uname == NULL || uid <= 0 || ttl <= 0)
		goto out;
	klen = strlen(secret);
	if (klen == 0 || klen > INT32_MAX)
		goto out;
	if ((errno = jwt_new(&j)) != 0) {
		log_warn("jwt_new");
		j = NULL;
		goto out;
	}
	if (jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret,
	    (int)klen) != 0 ||
	    jwt_add_grant_int(j, "sub", (long)uid) != 0 ||
	    jwt_add_grant(j, "username", uname) != 0 ||
	    jwt_add_grant_int(j, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(j, "exp", (long)now + ttl) != 0) {
		log_warnx("jwt: cannot build token");
		goto out;
	}
	if ((tok = jwt_encode_str(j)) == NULL)
		log_warn("jwt_encode_str");
out:
	jwt_free(j);
	return tok;
}

int
jwt_access_verify(const char *secret, const char *token, time_t now,
    long long *uid, char *uname, size_t unamesz)
{
	jwt_t		*j = NULL;
	char		*claims = NULL;
	json_t		*o = NULL, *v;
	const char	*s;
	size_t		 klen, slen;
	json_int_t	 sub, exp;
	int		 rc = -1;

	if (secret == NULL || token == NULL || uname == NULL || unamesz == 0)
		goto out;
	klen = strlen(secret);
	if (klen == 0 || klen > INT32_MAX ||
	    strnlen(token, JWT_TOKEN_MAX + 1) > JWT_TOKEN_MAX)
		goto out;
	if (jwt_decode(&j, token, (const unsigned char *)secret,
	    (int)klen) != 0) {
		j = NULL;
		goto out;
	}
	/* The header names the alg; libjwt honours it.  Only HS256. */
	if (jwt_get_alg(j) != JWT_ALG_HS256)
		goto out;
	if ((claims = jwt_get_grants_json(j, NULL)) == NULL)
		goto out;
	if ((o = json_loads(claims, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(o))
		goto out;
	v = json_object_get(o, "sub");
	if (!json_is_integer(v) || (sub = json_integer_value(v)) <= 0)
		goto out;
	v = json_object_get(o, "exp");
	if (!json_is_integer(v) || (exp = json_integer_value(v)) <= now)
		goto out;
	v = json_object_get(o, "iat");
	if (v != NULL && !json_is_number(v))
		goto out;
	v = json_object_get(o, "username");
	if (!json_is_string(v))
		goto out;
	s = json_string_value(v);
	slen = json_string_length(v);
	if (slen == 0 || slen >= unamesz || memchr(s, '\0', slen) != NULL)
		goto out;
	memcpy(uname, s, slen + 1);
	*uid = (long long)sub;
	rc = 0;
out:
	json_decref(o);
	free(claims);
	jwt_free(j);
	return rc;
}
