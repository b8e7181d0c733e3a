/*
 * json_util.h: chat-fcgi's JSON helpers over jansson: request body
 * parsing with a JSON.parse-like error message, and compact
 * serialisation of answers.
 */
#ifndef FCGI_JSON_UTIL_H
#define FCGI_JSON_UTIL_H

#include <stddef.h>	/* size_t */

#include <jansson.h>

#define JSON_UTIL_ERR_MAX	128	/* bytes in a parse error message */

/*
 * Parse buf[0..len) (no NUL needed) as one JSON object or array, like
 * Express's body-parser in strict mode: duplicate keys keep the last,
 * "\u0000" is allowed inside strings, invalid UTF-8 is an error.
 * Returns a new reference, or NULL with a message such as
 * "Unexpected token } in JSON at position 12" (printable ASCII only)
 * in err, which holds errsz bytes.
 */
json_t	*json_util_parse(const char *buf, size_t len, char *err,
	    size_t errsz);

/*
 * Serialise compactly (no spaces, key order kept, non-ASCII as UTF-8).
 * Returns a string to free(), or NULL.
 */
char	*json_util_dump(const json_t *);

#endif /* !FCGI_JSON_UTIL_H */
