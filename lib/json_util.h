/*
 * json_util.h: JSON helpers over jansson shared by chat-fcgi and
 * chat-realtime: body parsing with a JSON.parse-like error message, and
 * compact serialisation.
 */
#ifndef JSON_UTIL_H
#define JSON_UTIL_H

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

/*
 * Set o[key] to a new string from s[0..len) or to null if s is NULL.
 * Returns 0 or -1 (invalid UTF-8 or no memory).
 */
int	 json_util_set_strn(json_t *o, const char *key, const char *s,
	    size_t len);

#endif /* !JSON_UTIL_H */
