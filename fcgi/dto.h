/*
 * dto.h: request bodies of the REST routes, parsed and validated the way
 * NestJS's ValidationPipe (whitelist, forbidNonWhitelisted) does it, so
 * error answers match the original server's.  Pure code: no I/O; the
 * json-body fuzz target calls dto_parse directly.
 */
#ifndef FCGI_DTO_H
#define FCGI_DTO_H

#include <stddef.h>	/* size_t */

#include <jansson.h>

#define DTO_BODY_MAX	(64 * 1024)	/* bytes in a JSON body */

enum	dto_kind {
	DTO_REGISTER = 0,	/* {username, password, displayName?} */
	DTO_LOGIN,		/* {username, password} */
	DTO_REFRESH,		/* {refreshToken} (refresh and logout) */
	DTO_PROFILE,		/* {displayName?} (PATCH /users/me) */
	DTO__MAX
};

/* How the body was sent (the request's Content-Type). */
enum	dto_ctype {
	DTO_CT_OTHER = 0,	/* none or unknown: read as {} like Express */
	DTO_CT_JSON,		/* application/json */
	DTO_CT_FORM		/* application/x-www-form-urlencoded */
};

#define DTO_FORM_PARAMS	1000	/* pairs in a form body (qs's default) */

enum	dto_opt {
	DTO_ABSENT = 0,		/* key not in the body */
	DTO_NULL,		/* key present, value null */
	DTO_SET			/* key present, a string */
};

/*
 * A valid body.  Strings point into "root" (NUL-terminated, UTF-8, no
 * NUL inside), which dto_clear releases.
 */
struct	dto {
	json_t		*root;
	const char	*username;	/* REGISTER, LOGIN */
	size_t		 username_len;
	const char	*password;	/* REGISTER, LOGIN */
	size_t		 password_len;
	enum dto_opt	 display;	/* REGISTER, PROFILE */
	const char	*display_name;	/* when display == DTO_SET */
	size_t		 display_name_len;
	const char	*refresh_token;	/* REFRESH */
	size_t		 refresh_token_len;
};

/*
 * Parse and validate body[0..len) for "kind", sent as "ct".  JSON must
 * be an object; a form ("a=1&b=%C5%BC") becomes an object of strings
 * (a repeated key an array, as Express's qs does); any other type, or
 * no body, is read as {} like Express, so the field rules answer.
 * Returns 0
 * and fills d, or an HTTP status (400) and a new error body in *err:
 * {"statusCode":400,"message":[...],"error":"Bad Request"} for
 * validation (message an array of ValidationPipe strings) or with
 * message a string for malformed JSON.  len above DTO_BODY_MAX is the
 * caller's 413.
 */
int	 dto_parse(enum dto_kind kind, const char *body, size_t len,
	    enum dto_ctype ct, struct dto *d, json_t **err);

/*
 * Decode an application/x-www-form-urlencoded body into a new object
 * of strings (arrays for repeated keys).  Bytes that do not decode to
 * valid UTF-8 are kept as sent, as qs does.  Returns NULL if there are
 * more than DTO_FORM_PARAMS pairs or memory is short.
 */
json_t	*dto_form_parse(const char *body, size_t len);

/* Release d->root; accepts a zeroed or cleared struct. */
void	 dto_clear(struct dto *d);

/*
 * {"statusCode":status,"message":msg,"error":error}, or without "error"
 * if error is NULL.  Returns a new reference, or NULL if out of memory.
 */
json_t	*dto_error(int status, const char *msg, const char *error);

#endif /* !FCGI_DTO_H */
