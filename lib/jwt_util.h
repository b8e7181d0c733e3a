/*
 * jwt_util.h: HS256 access tokens ({sub, username, iat, exp}) for
 * chat-fcgi (issues and checks them) and chat-realtime (checks them on
 * connect).  Built on libjwt 1.10, which checks no claims itself:
 * jwt_access_verify insists on alg HS256, a good signature, exp > now,
 * sub a positive integer and username a string (docs/api.md §1.5).
 */
#ifndef LIB_JWT_UTIL_H
#define LIB_JWT_UTIL_H

#include <stddef.h>	/* size_t */
#include <time.h>	/* time_t */

#define JWT_TOKEN_MAX	4096	/* bytes: longer tokens are refused unread */
#define JWT_UNAME_MAX	64	/* bytes incl. NUL: enough for any username */

/*
 * Sign an access token for user "uid" named "uname", issued at "now",
 * valid "ttl" seconds.  Returns a new NUL-terminated string the caller
 * frees with free(), or NULL on error (logged).
 */
char	*jwt_access_sign(const char *secret, long long uid,
	    const char *uname, time_t now, long ttl);

/*
 * Verify an access token.  On success returns 0, stores the user id in
 * *uid and copies the username (NUL-terminated) into uname, which holds
 * unamesz bytes (JWT_UNAME_MAX is enough).  Returns -1 for anything
 * else: malformed, alg other than HS256 (none, HS384, ...), bad
 * signature, expired (exp <= now), missing or mistyped claims, or a
 * username that does not fit.  Nothing is logged: tokens are untrusted
 * and frequent.  "token" is NUL-terminated; at most JWT_TOKEN_MAX bytes
 * are looked at.
 */
int	 jwt_access_verify(const char *secret, const char *token,
	    time_t now, long long *uid, char *uname, size_t unamesz);

#endif /* !LIB_JWT_UTIL_H */
