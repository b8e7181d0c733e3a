/*
 * dto.c: the request body rules of dto.h.  Untrusted input: the body is
 * capped by the caller, parsed by jansson (json_util_parse) and every
 * string checked by lib/valid.c.  Messages copy class-validator's
 * wording so clients that show them keep working; for one property they
 * come in class-validator's order (the decorator written last first).
 * Spec: docs/api.md §1.2, §2.1-§2.6, §2.10.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fcgi/dto.h"
#include "fcgi/json_util.h"
#include "lib/hex.h"
#include "lib/valid.h"

static const char *const	 fields[DTO__MAX][4] = {
	{ "username", "password", "displayName", NULL },
	{ "username", "password", NULL, NULL },
	{ "refreshToken", NULL, NULL, NULL },
	{ "displayName", NULL, NULL, NULL },
};

json_t *
dto_error(int status, const char *msg, const char *error)
{
	json_t	*o;

	if (error != NULL)
		o = json_pack("{s:i, s:s, s:s}", "statusCode", status,
		    "message", msg, "error", error);
	else
		o = json_pack("{s:i, s:s}", "statusCode", status,
		    "message", msg);
	return o;
}

/* Append the message s to the array a.  Returns 0 or -1. */
static int
msg(json_t *a, const char *s)
{
	return json_array_append_new(a, json_string(s));
}

/* 1 if "key" is a property of kind's body (forbidNonWhitelisted). */
static int
allowed(enum dto_kind kind, const char *key)
{
	size_t	 i;

	for (i = 0; fields[kind][i] != NULL; i++)
		if (strcmp(fields[kind][i], key) == 0)
			return 1;
	return 0;
}

/*
 * The check_* functions look alike on purpose: each is one property's
 * decorators, and class-validator's messages, their wording and their
 * order differ from property to property, so each spells its own.
 */

/* @IsString() @Length(3, 30) @Matches(/^[a-zA-Z0-9_]+$/) username */
static void
check_username(json_t *v, json_t *m, struct dto *d)
{
	int	 e;

	if (!json_is_string(v)) {
		msg(m, "username must match /^[a-zA-Z0-9_]+$/ regular "
		    "expression");
		msg(m, v == NULL || json_is_null(v) ?
		    "username must be longer than or equal to 3 characters" :
		    "username must be longer than or equal to 3 and shorter "
		    "than or equal to 30 characters");
		msg(m, "username must be a string");
		return;
	}
	d->username = json_string_value(v);
	d->username_len = json_string_length(v);
	e = valid_username(d->username, d->username_len);
	if (e & VALID_E_CHARS)
		msg(m, "username must match /^[a-zA-Z0-9_]+$/ regular "
		    "expression");
	if (e & VALID_E_SHORT)
		msg(m, "username must be longer than or equal to 3 "
		    "characters");
	if (e & VALID_E_LONG)
		msg(m, "username must be shorter than or equal to 30 "
		    "characters");
}

/* @IsString() @MinLength(6) @MaxLength(72 bytes) password */
static void
check_password(json_t *v, json_t *m, struct dto *d)
{
	int	 e;

	if (!json_is_string(v)) {
		msg(m, "password must be shorter than or equal to 72 bytes");
		msg(m, "password must be longer than or equal to 6 "
		    "characters");
		msg(m, "password must be a string");
		return;
	}
	d->password = json_string_value(v);
	d->password_len = json_string_length(v);
	e = valid_password(d->password, d->password_len);
	if (e & VALID_E_LONG)
		msg(m, "password must be shorter than or equal to 72 bytes");
	if (e & VALID_E_SHORT)
		msg(m, "password must be longer than or equal to 6 "
		    "characters");
	if (e & (VALID_E_CHARS | VALID_E_UTF8))
		msg(m, "password must not contain null characters");
}

/* @IsString() @IsNotEmpty() for login's username and password. */
static void
check_nonempty(json_t *v, json_t *m, const char *name, const char **out,
    size_t *outlen)
{
	char	 buf[96];

	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(buf, sizeof(buf), "%s should not be empty", name);
		msg(m, buf);
	}
	if (!json_is_string(v)) {
		snprintf(buf, sizeof(buf), "%s must be a string", name);
		msg(m, buf);
		return;
	}
	*out = json_string_value(v);
	*outlen = json_string_length(v);
}

/* @IsOptional() @IsString() @MaxLength(50) displayName */
static void
check_display(json_t *v, json_t *m, struct dto *d)
{
	int	 e;

	if (v == NULL) {
		d->display = DTO_ABSENT;
		return;
	}
	if (json_is_null(v)) {
		d->display = DTO_NULL;
		return;
	}
	if (!json_is_string(v)) {
		msg(m, "displayName must be shorter than or equal to 50 "
		    "characters");
		msg(m, "displayName must be a string");
		return;
	}
	d->display = DTO_SET;
	d->display_name = json_string_value(v);
	d->display_name_len = json_string_length(v);
	e = valid_display_name(d->display_name, d->display_name_len);
	if (e & VALID_E_LONG)
		msg(m, "displayName must be shorter than or equal to 50 "
		    "characters");
	if (e & (VALID_E_CHARS | VALID_E_UTF8))
		msg(m, "displayName must not contain null characters");
}

/*
 * Percent-decode s[0..len) ('+' is a space) into out (len + 1 bytes).
 * If the result is not valid UTF-8, copy s as it is instead.  Returns
 * the output length.
 */
static size_t
form_decode(const char *s, size_t len, char *out)
{
	size_t	 i, o = 0;
	int	 h, l;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    (h = hex_digit(s[i + 1])) >= 0 &&
		    (l = hex_digit(s[i + 2])) >= 0) {
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else
			out[o++] = s[i];
	}
	if (valid_utf8(out, o, NULL) == -1) {
		memcpy(out, s, len);
		o = len;
	}
	out[o] = '\0';
	return o;
}

json_t *
dto_form_parse(const char *body, size_t len)
{
	json_t		*o = NULL, *v, *old, *a;
	char		*kbuf = NULL, *vbuf = NULL;
	const char	*p, *end, *amp, *eq;
	size_t		 klen, vlen, pairs = 0;

	if ((o = json_object()) == NULL ||
	    (kbuf = malloc(len + 1)) == NULL ||
	    (vbuf = malloc(len + 1)) == NULL)
		goto fail;
	for (p = body, end = body + len; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue;
		if (++pairs > DTO_FORM_PARAMS)
			goto fail;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		klen = form_decode(p, (size_t)(eq - p), kbuf);
		vlen = eq < amp ? form_decode(eq + 1, (size_t)(amp - eq - 1),
		    vbuf) : 0;
		vbuf[vlen] = '\0';
		/*
		 * A key with a NUL cannot be an object key, and raw bytes
		 * that are not UTF-8 cannot be a string: skip such pairs.
		 */
		if (klen == 0 || memchr(kbuf, '\0', klen) != NULL ||
		    valid_utf8(kbuf, klen, NULL) == -1 ||
		    (v = json_stringn(vbuf, vlen)) == NULL) {
			if (amp == end)
				break;
			continue;
		}
		if ((old = json_object_get(o, kbuf)) == NULL) {
			if (json_object_set_new(o, kbuf, v) == -1)
				goto fail;
		} else if (json_is_array(old)) {
			if (json_array_append_new(old, v) == -1)
				goto fail;
		} else {
			if ((a = json_pack("[O, o]", old, v)) == NULL ||
			    json_object_set_new(o, kbuf, a) == -1)
				goto fail;
		}
		if (amp == end)
			break;
	}
	free(kbuf);
	free(vbuf);
	return o;
fail:
	free(kbuf);
	free(vbuf);
	json_decref(o);
	return NULL;
}

int
dto_parse(enum dto_kind kind, const char *body, size_t len,
    enum dto_ctype ct, struct dto *d, json_t **err)
{
	json_t		*root = NULL, *m = NULL, *v;
	const char	*key;
	char		 why[JSON_UTIL_ERR_MAX];
	int		 rc = 400;

	memset(d, 0, sizeof(*d));
	*err = NULL;
	if ((unsigned)kind >= DTO__MAX || len > DTO_BODY_MAX) {
		*err = dto_error(400, "Bad Request", "Bad Request");
		goto out;
	}
	if (len == 0 || (ct != DTO_CT_JSON && ct != DTO_CT_FORM))
		root = json_object();
	else if (ct == DTO_CT_FORM) {
		if ((root = dto_form_parse(body, len)) == NULL) {
			*err = dto_error(400, "too many parameters",
			    "Bad Request");
			goto out;
		}
	} else if ((root = json_util_parse(body, len, why, sizeof(why))) ==
	    NULL) {
		*err = dto_error(400, why, "Bad Request");
		goto out;
	}
	if ((m = json_array()) == NULL || root == NULL)
		goto out;
	if (!json_is_object(root)) {
		msg(m, "request body must be a JSON object");
		goto fail;
	}
	/* forbidNonWhitelisted: unknown properties first, in body order. */
	json_object_foreach(root, key, v) {
		char	 buf[160];

		if (allowed(kind, key))
			continue;
		/* Quote at most 100 bytes of a hostile key. */
		snprintf(buf, sizeof(buf), "property %.100s should not exist",
		    key);
		if (json_array_append_new(m, json_string(buf)) == -1)
			msg(m, "an unknown property should not exist");
	}
	switch (kind) {
	case DTO_REGISTER:
		check_username(json_object_get(root, "username"), m, d);
		check_password(json_object_get(root, "password"), m, d);
		check_display(json_object_get(root, "displayName"), m, d);
		break;
	case DTO_LOGIN:
		check_nonempty(json_object_get(root, "username"), m,
		    "username", &d->username, &d->username_len);
		check_nonempty(json_object_get(root, "password"), m,
		    "password", &d->password, &d->password_len);
		break;
	case DTO_REFRESH:
		check_nonempty(json_object_get(root, "refreshToken"), m,
		    "refreshToken", &d->refresh_token, &d->refresh_token_len);
		break;
	case DTO_PROFILE:
		check_display(json_object_get(root, "displayName"), m, d);
		break;
	default:
		break;
	}
	if (json_array_size(m) == 0) {
		d->root = root;
		root = NULL;
		rc = 0;
		goto out;
	}
fail:
	*err = json_pack("{s:i, s:O, s:s}", "statusCode", 400, "message", m,
	    "error", "Bad Request");
out:
	if (rc != 0) {
		memset(d, 0, sizeof(*d));
		if (*err == NULL)
			*err = dto_error(400, "Bad Request", "Bad Request");
	}
	json_decref(m);
	json_decref(root);
	return rc;
}

void
dto_clear(struct dto *d)
{
	json_decref(d->root);
	memset(d, 0, sizeof(*d));
}
