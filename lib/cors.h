/*
 * cors.h: which Origin a response may name in Access-Control-Allow-Origin,
 * given CORS_ORIGIN ("*", or a comma-separated list of origins; see
 * lib/conf.h).  Pure functions: both programs write their own headers.
 * Spec: Fetch, "CORS check" (the browser compares the header with its
 * own serialized origin byte for byte) and "origin" (scheme "://" host
 * [":" port], ASCII; scheme and host are case-insensitive).
 */
#ifndef LIB_CORS_H
#define LIB_CORS_H

#include <stddef.h>	/* size_t */

#define CORS_ORIGIN_MAX	256	/* bytes of an Origin we would echo */

/* What a response carries for the request's Origin. */
enum	cors_allow {
	CORS_OFF = 0,	/* no list: no CORS header at all */
	CORS_NONE,	/* list: no Access-Control-Allow-Origin, only
			   "Vary: Origin" (the answer depends on Origin) */
	CORS_ANY,	/* "*": "Access-Control-Allow-Origin: *" alone */
	CORS_ORIGIN	/* list, Origin in it: "Access-Control-Allow-Origin:
			   <Origin as sent>", "Access-Control-Allow-
			   Credentials: true" and "Vary: Origin" */
};

/*
 * 1 if origin[0..len) is an entry of the comma-separated list (spaces
 * around entries ignored, empty entries skipped), compared without
 * regard to ASCII case, and could be an origin at all: 1 to
 * CORS_ORIGIN_MAX bytes of visible ASCII (so echoing it cannot break a
 * header line).  "*" inside a list is just an entry.  Else 0.
 */
int	 cors_origin_allowed(const char *list, const char *origin,
	    size_t len);

/*
 * What to answer under CORS_ORIGIN "list" (NULL: CORS_OFF) for a
 * request whose Origin header is origin[0..len) (origin NULL: none
 * sent).  Only the exact list "*" is CORS_ANY.
 */
enum cors_allow	 cors_check(const char *list, const char *origin,
		    size_t len);

#endif /* !LIB_CORS_H */
