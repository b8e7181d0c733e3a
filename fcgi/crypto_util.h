/*
 * crypto_util.h: small OpenSSL wrappers: random hex strings (refresh
 * tokens, avatar names), HMAC-SHA256 in hex (refresh token storage) and
 * a constant-time comparison.
 */
#ifndef FCGI_CRYPTO_UTIL_H
#define FCGI_CRYPTO_UTIL_H

#include <stddef.h>	/* size_t */

#define CRYPTO_SHA256_HEX	65	/* bytes: 64 hex digits and NUL */

/*
 * Fill out with 2*nbytes lowercase hex digits of nbytes random bytes
 * from RAND_bytes, NUL-terminated; outsz must be at least 2*nbytes+1.
 * Returns 0, or -1 (logged) if the generator fails or out is too small.
 */
int	 crypto_random_hex(size_t nbytes, char *out, size_t outsz);

/*
 * HMAC-SHA256(key, msg) as 64 lowercase hex digits plus NUL in out,
 * which holds outsz >= CRYPTO_SHA256_HEX bytes.  Returns 0 or -1.
 */
int	 crypto_hmac_sha256_hex(const char *key, const char *msg,
	    size_t msglen, char *out, size_t outsz);

/* 1 if a[0..alen) equals b[0..blen) (time depends only on lengths). */
int	 crypto_equal(const void *a, size_t alen, const void *b,
	    size_t blen);

#endif /* !FCGI_CRYPTO_UTIL_H */
