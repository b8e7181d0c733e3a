/*
 * jwt_util.c: sign HS256 access tokens with libjwt 1.10, and verify them
 * here with OpenSSL's SHA-256 directly: verification runs on every
 * authenticated request, and libjwt's decode (base64 copies, two JSON
 * parses, a MAC fetched per call) cost more than the check itself.
 * Every rule is ours either way: alg HS256 only, the signature compared
 * in constant time, exp, sub and username checked.  The claims of a
 * token that passed are kept in a small per-thread cache, so a client's
 * next request with the same token skips the MAC and the two JSON
 * parses (exp is still checked every time).  Called by
 * chat-fcgi (login, refresh, bearer auth) and chat-realtime (connect).
 * Claims: docs/api.md §1.5.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/jwt_util.h"
#include "lib/log.h"

#define HMAC_BLOCK	64	/* SHA-256 block size */
#define HMAC_LEN	32	/* SHA-256 output size */
#define PART_MAX	1024	/* decoded bytes of header or payload */
#define CLAIMS_SLOTS	64	/* verified-claims cache entries per thread */
#define CLAIMS_KEY_MAX	512	/* longest signed part the cache keeps */

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

/*
 * Base64url without padding (RFC 7515 section 2) into out (outsz
 * bytes).  Strict: only [A-Za-z0-9_-], no '=', a length that is not 1
 * mod 4, and unused trailing bits zero, so every value has exactly one
 * encoding.  Returns the decoded length, or -1.
 */
static long
b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outsz)
{
	unsigned int	 acc = 0, v;
	size_t		 i, o = 0, bits = 0;
	unsigned char	 c;

	if (len % 4 == 1 || len > SIZE_MAX / 3 || (len * 3) / 4 > outsz)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6 | v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* Left-over bits (2 or 4) must be zero. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

/*
 * HMAC-SHA256 with the key's inner and outer pads hashed once and kept
 * per thread: the secret is fixed for a process's life, so a call costs
 * two context copies and the message's own blocks.
 */
struct	hmac_key {
	char		*secret;	/* copy, to notice a different key */
	EVP_MD_CTX	*inner;		/* after (K ^ ipad) */
	EVP_MD_CTX	*outer;		/* after (K ^ opad) */
	EVP_MD_CTX	*work;
};

static __thread struct hmac_key	 hk;
static void	claims_forget(void);

/* Forget k's key: free and zero everything. */
static void
hmac_key_clear(struct hmac_key *k)
{
	free(k->secret);
	EVP_MD_CTX_free(k->inner);
	EVP_MD_CTX_free(k->outer);
	EVP_MD_CTX_free(k->work);
	memset(k, 0, sizeof(*k));
}

/*
 * Make k ready for "secret" (nothing to do if it already is): hash the
 * inner and outer pads once.  Returns 0, or -1 with k cleared.
 */
static int
hmac_key_set(struct hmac_key *k, const char *secret, size_t klen)
{
	static __thread EVP_MD	*md;
	unsigned char		 key[HMAC_BLOCK], ipad[HMAC_BLOCK],
				 opad[HMAC_BLOCK];
	unsigned int		 n;
	size_t			 i;
	int			 rc = -1;

	if (k->secret != NULL && strlen(k->secret) == klen &&
	    memcmp(k->secret, secret, klen) == 0)
		return 0;
	/* Another key: what passed under the old one proves nothing. */
	claims_forget();
	hmac_key_clear(k);
	if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto out;
	memset(key, 0, sizeof(key));
	if (klen > HMAC_BLOCK) {
		if (EVP_Digest(secret, klen, key, &n, md, NULL) != 1)
			goto out;
	} else
		memcpy(key, secret, klen);
	for (i = 0; i < HMAC_BLOCK; i++) {
		ipad[i] = key[i] ^ 0x36;
		opad[i] = key[i] ^ 0x5c;
	}
	if ((k->secret = strndup(secret, klen)) == NULL ||
	    (k->inner = EVP_MD_CTX_new()) == NULL ||
	    (k->outer = EVP_MD_CTX_new()) == NULL ||
	    (k->work = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(k->inner, md, NULL) != 1 ||
	    EVP_DigestUpdate(k->inner, ipad, sizeof(ipad)) != 1 ||
	    EVP_DigestInit_ex(k->outer, md, NULL) != 1 ||
	    EVP_DigestUpdate(k->outer, opad, sizeof(opad)) != 1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	if (rc == -1)
		hmac_key_clear(k);
	return rc;
}

/* mac = HMAC-SHA256(k, msg).  Returns 0 or -1. */
static int
hmac_sha256(struct hmac_key *k, const char *msg, size_t len,
    unsigned char mac[HMAC_LEN])
{
	unsigned char	 in[HMAC_LEN];
	unsigned int	 n = 0;

	if (EVP_MD_CTX_copy_ex(k->work, k->inner) != 1 ||
	    EVP_DigestUpdate(k->work, msg, len) != 1 ||
	    EVP_DigestFinal_ex(k->work, in, &n) != 1 || n != HMAC_LEN ||
	    EVP_MD_CTX_copy_ex(k->work, k->outer) != 1 ||
	    EVP_DigestUpdate(k->work, in, sizeof(in)) != 1 ||
	    EVP_DigestFinal_ex(k->work, mac, &n) != 1 || n != HMAC_LEN)
		return -1;
	return 0;
}

/*
 * Claims of tokens already verified, direct-mapped by a hash of the
 * signed part (header.payload, which an attacker can guess anyway: it
 * picks a slot, nothing more).  An entry holds the whole token, and a
 * token is answered from it only if it equals the entry byte for byte,
 * signature included, compared in constant time: so a hit proves what
 * the MAC would, and the claims are a function of those bytes alone, so
 * it answers exactly what the parse would (but exp against the current
 * time).  Only tokens that passed every check are entered.
 */
struct	claims_ent {
	size_t		 klen;			/* 0: empty */
	char		 key[CLAIMS_KEY_MAX];	/* the whole token */
	long long	 uid;
	time_t		 exp;
	char		 uname[JWT_UNAME_MAX];
};

static __thread struct claims_ent	 claims[CLAIMS_SLOTS];

static void
claims_forget(void)
{
	memset(claims, 0, sizeof(claims));
}

static struct claims_ent *
claims_slot(const char *signed_part, size_t len)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a */
	size_t		 i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)signed_part[i]) * 16777619u;
	return &claims[h % CLAIMS_SLOTS];
}

/*
 * Answer from the cache if "tok" (tlen bytes, of which the first slen
 * are signed) is there: 0 with *uid and uname filled, -1 for expired or
 * a username that does not fit unamesz, 1 if not cached.
 */
static int
claims_get(const char *tok, size_t tlen, size_t slen, time_t now,
    long long *uid, char *uname, size_t unamesz)
{
	struct claims_ent	*e;
	size_t			 n;

	if (tlen > CLAIMS_KEY_MAX)
		return 1;
	e = claims_slot(tok, slen);
	if (e->klen != tlen || CRYPTO_memcmp(e->key, tok, tlen) != 0)
		return 1;
	if (e->exp <= now || (n = strlen(e->uname)) >= unamesz)
		return -1;
	memcpy(uname, e->uname, n + 1);
	*uid = e->uid;
	return 0;
}

static void
claims_put(const char *tok, size_t tlen, size_t slen, long long uid,
    time_t exp, const char *uname, size_t unamelen)
{
	struct claims_ent	*e;

	if (tlen == 0 || tlen > CLAIMS_KEY_MAX || unamelen >= JWT_UNAME_MAX)
		return;
	e = claims_slot(tok, slen);
	memcpy(e->key, tok, tlen);
	e->klen = tlen;
	e->uid = uid;
	e->exp = exp;
	memcpy(e->uname, uname, unamelen);
	e->uname[unamelen] = '\0';
}

/* Decode one base64url part and parse it as a JSON object, or NULL. */
static json_t *
part_json(const char *s, size_t len)
{
	unsigned char	 buf[PART_MAX];
	long		 n;
	json_t		*o;

	if ((n = b64url_decode(s, len, buf, sizeof(buf))) <= 0)
		return NULL;
	o = json_loadb((const char *)buf, (size_t)n,
	    JSON_REJECT_DUPLICATES, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int
jwt_access_verify(const char *secret, const char *token, time_t now,
    long long *uid, char *uname, size_t unamesz)
{
	const char	*d1, *d2, *s;
	unsigned char	 mac[HMAC_LEN], sig[HMAC_LEN];
	json_t		*h = NULL, *o = NULL, *v;
	size_t		 klen, tlen, slen;
	json_int_t	 sub, exp;
	int		 rc = -1;

	if (secret == NULL || token == NULL || uname == NULL || unamesz == 0)
		goto out;
	klen = strlen(secret);
	if (klen == 0 || klen > INT32_MAX ||
	    (tlen = strnlen(token, JWT_TOKEN_MAX + 1)) > JWT_TOKEN_MAX)
		goto out;
	/* Exactly three parts: header.payload.signature. */
	if ((d1 = memchr(token, '.', tlen)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', tlen - (size_t)(d1 + 1 - token))) ==
	    NULL || memchr(d2 + 1, '.', tlen - (size_t)(d2 + 1 - token)) !=
	    NULL)
		goto out;
	/* A token that passed before: the same bytes pass again. */
	if (hmac_key_set(&hk, secret, klen) == -1)
		goto out;
	if ((rc = claims_get(token, tlen, (size_t)(d2 - token), now, uid,
	    uname, unamesz)) != 1)
		goto out;
	rc = -1;
	/* The signature first: nothing unsigned is parsed. */
	if (b64url_decode(d2 + 1, tlen - (size_t)(d2 + 1 - token), sig,
	    sizeof(sig)) != HMAC_LEN ||
	    hmac_sha256(&hk, token, (size_t)(d2 - token), mac) == -1 ||
	    CRYPTO_memcmp(mac, sig, HMAC_LEN) != 0)
		goto out;
	/* The header names the alg: only HS256 (not none, not HS384). */
	if ((h = part_json(token, (size_t)(d1 - token))) == NULL)
		goto out;
	v = json_object_get(h, "alg");
	if (!json_is_string(v) || strcmp(json_string_value(v), "HS256") != 0)
		goto out;
	if ((o = part_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL)
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
	claims_put(token, tlen, (size_t)(d2 - token), *uid, (time_t)exp, s,
	    slen);
	rc = 0;
out:
	json_decref(h);
	json_decref(o);
	return rc;
}
