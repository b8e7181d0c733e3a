/*
 * dto.h: request bodies of the REST routes, parsed and validated the way
 * NestJS's ValidationPipe (whitelist, forbidNonWhitelisted) does it, so
 * error answers match the original server's.  Pure code: no I/O; the
 * json-body fuzz target calls dto_parse directly.
 */
#ifndef DTO_H
#define DTO_H

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
 * Parse and validate body[0..len) for "kind".  is_json says whether the
 * request's Content-Type was application/json: like Express, any other
 * type (or no body) is read as {}, so the field rules answer.  Returns 0
 * and fills d, or an HTTP status (400) and a new error body in *err:
 * {"statusCode":400,"message":[...],"error":"Bad Request"} for
 * validation (message an array of ValidationPipe strings) or with
 * message a string for malformed JSON.  len above DTO_BODY_MAX is the
 * caller's 413.
 */
int	 dto_parse(enum dto_kind kind, const char *body, size_t len,
	    int is_json, struct dto *d, json_t **err);

/* Release d->root; accepts a zeroed or cleared struct. */
void	 dto_clear(struct dto *d);

/*
 * {"statusCode":status,"message":msg,"error":error}, or without "error"
 * if error is NULL.  Returns a new reference, or NULL if out of memory.
 */
json_t	*dto_error(int status, const char *msg, const char *error);

#endif /* !DTO_H */
