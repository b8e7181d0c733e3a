/*
 * crypto_util.c: random hex, HMAC-SHA256 hex and constant-time compare
 * over OpenSSL's libcrypto.  Used by chat-fcgi for refresh tokens
 * (stored as an HMAC, not bcrypt: bcrypt reads only the first 72 of a
 * token's 80 bytes and cannot be looked up by index) and avatar file
 * names.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "fcgi/crypto_util.h"
#include "lib/hex.h"
#include "lib/log.h"

int
crypto_random_hex(size_t nbytes, char *out, size_t outsz)
{
	unsigned char	 buf[128];

	if (nbytes == 0 || nbytes > sizeof(buf) || outsz < 2 * nbytes + 1)
		return -1;
	if (RAND_bytes(buf, (int)nbytes) != 1) {
		log_warnx("RAND_bytes failed");
		return -1;
	}
	hex_encode(buf, nbytes, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
crypto_hmac_sha256_hex(const char *key, const char *msg, size_t msglen,
    char *out, size_t outsz)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	size_t		 klen = strlen(key);

	if (outsz < CRYPTO_SHA256_HEX || klen > INT_MAX)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
	    msglen, mac, &maclen) == NULL || maclen != 32) {
		log_warnx("HMAC-SHA256 failed");
		return -1;
	}
	hex_encode(mac, maclen, out);
	return 0;
}

int
crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return 0;
	return CRYPTO_memcmp(a, b, alen) == 0;
}
