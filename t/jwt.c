/*
 * t/jwt.c: jwt_access_sign() and jwt_access_verify() on good tokens and
 * on forged ones built here by hand (alg none, HS384, tampered payload,
 * wrong secret, expired, mistyped claims) with OpenSSL's HMAC.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tap.h"
#include "lib/jwt_util.h"

#define SECRET	"test-secret-0123456789"

static const char	 b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz0123456789-_";

static void
b64url(const unsigned char *in, size_t len, char *out)
{
	const char		*tab = b64tab;
	size_t			 i, o = 0;
	unsigned int		 v;

	for (i = 0; i + 2 < len; i += 3) {
		v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (len - i == 1) {
		v = in[i] << 16;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
	} else if (len - i == 2) {
		v = in[i] << 16 | in[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = '\0';
}

/* Build header.payload.signature; md NULL means no signature (alg none). */
static char *
forge(const char *hdr, const char *payload, const EVP_MD *md,
    const char *key)
{
	static char	 tok[2048];
	char		 h[512], p[512], s[128];
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;

	b64url((const unsigned char *)hdr, strlen(hdr), h);
	b64url((const unsigned char *)payload, strlen(payload), p);
	snprintf(tok, sizeof(tok), "%s.%s", h, p);
	if (md == NULL) {
		strcat(tok, ".");
		return tok;
	}
	if (HMAC(md, key, (int)strlen(key), (unsigned char *)tok,
	    strlen(tok), mac, &maclen) == NULL)
		abort();
	b64url(mac, maclen, s);
	strcat(tok, ".");
	strcat(tok, s);
	return tok;
}

static int
ok(const char *tok, time_t now)
{
	long long	 uid = 0;
	char		 name[JWT_UNAME_MAX];

	return jwt_access_verify(SECRET, tok, now, &uid, name,
	    sizeof(name)) == 0;
}

int
main(void)
{
	const char	*hs256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char		*tok, *dot, *copy, pl[256], name[JWT_UNAME_MAX];
	long long	 uid = 0;
	time_t		 now = 1769680800;

	tap_plan(35);

	tok = jwt_access_sign(SECRET, 42, "john_doe", now, 900);
	tap_ok(tok != NULL, "sign");
	tap_int(jwt_access_verify(SECRET, tok, now + 10, &uid, name,
	    sizeof(name)), 0, "own token verifies");
	tap_int(uid, 42, "sub comes back");
	tap_str(name, "john_doe", "username comes back");
	tap_ok(!ok(tok, now + 900), "expired at exp");
	tap_ok(!ok(tok, now + 5000), "expired long ago");
	tap_int(jwt_access_verify("wrong-secret", tok, now, &uid, name,
	    sizeof(name)), -1, "wrong secret");
	tap_int(jwt_access_verify(SECRET, tok, now, &uid, name, 4), -1,
	    "username larger than the buffer");

	/* Tamper: swap the payload for one naming another user. */
	snprintf(pl, sizeof(pl), "{\"sub\":1,\"username\":\"admin\","
	    "\"iat\":%lld,\"exp\":%lld}", (long long)now,
	    (long long)now + 900);
	copy = strdup(forge(hs256, pl, EVP_sha256(), "other"));
	dot = strrchr(copy, '.');
	tap_ok(dot != NULL && strrchr(tok, '.') != NULL, "has signature");
	if (dot != NULL) {
		/* header.payload of the forgery + the real signature */
		char	 t2[2048];

		snprintf(t2, sizeof(t2), "%.*s%s", (int)(dot - copy), copy,
		    strrchr(tok, '.'));
		tap_ok(!ok(t2, now), "tampered payload");
	} else
		tap_ok(0, "tampered payload");
	free(copy);
	free(tok);

	tap_ok(ok(forge(hs256, pl, EVP_sha256(), SECRET), now),
	    "hand-made HS256 verifies");
	tap_ok(!ok(forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", pl, NULL,
	    NULL), now), "alg none");
	tap_ok(!ok(forge("{\"alg\":\"none\"}", pl, EVP_sha256(), SECRET),
	    now), "alg none with a signature");
	tap_ok(!ok(forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", pl,
	    EVP_sha384(), SECRET), now), "HS384");
	tap_ok(!ok(forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", pl,
	    EVP_sha512(), SECRET), now), "HS512");

	snprintf(pl, sizeof(pl), "{\"sub\":\"1\",\"username\":\"a\","
	    "\"exp\":%lld}", (long long)now + 900);
	tap_ok(!ok(forge(hs256, pl, EVP_sha256(), SECRET), now),
	    "sub as a string");
	snprintf(pl, sizeof(pl), "{\"sub\":0,\"username\":\"a\","
	    "\"exp\":%lld}", (long long)now + 900);
	tap_ok(!ok(forge(hs256, pl, EVP_sha256(), SECRET), now), "sub 0");
	snprintf(pl, sizeof(pl), "{\"sub\":-3,\"username\":\"a\","
	    "\"exp\":%lld}", (long long)now + 900);
	tap_ok(!ok(forge(hs256, pl, EVP_sha256(), SECRET), now),
	    "negative sub");
	snprintf(pl, sizeof(pl), "{\"sub\":3,\"username\":7,"
	    "\"exp\":%lld}", (long long)now + 900);
	tap_ok(!ok(forge(hs256, pl, EVP_sha256(), SECRET), now),
	    "username a number");
	tap_ok(!ok(forge(hs256, "{\"sub\":3,\"username\":\"a\"}",
	    EVP_sha256(), SECRET), now), "no exp");
	tap_ok(!ok("not.a.token", now), "garbage");
	snprintf(pl, sizeof(pl), "{\"sub\":3,\"username\":\"a\","
	    "\"exp\":%lld}", (long long)now + 900);
	tok = forge(hs256, pl, EVP_sha256(), SECRET);
	tap_ok(ok(tok, now), "good again (the next ones change one thing)");
	{
		char	 t2[2048];
		size_t	 n;

		snprintf(t2, sizeof(t2), "%s=", tok);
		tap_ok(!ok(t2, now), "padded signature");
		/* Last char of 43: 2 spare bits; set them. */
		snprintf(t2, sizeof(t2), "%s", tok);
		n = strlen(t2);
		t2[n - 1] = b64tab[(strchr(b64tab, t2[n - 1]) - b64tab) ^ 1];
		tap_ok(!ok(t2, now), "non-canonical signature encoding");
		snprintf(t2, sizeof(t2), "%s.", tok);
		tap_ok(!ok(t2, now), "four parts");
	}
	tap_ok(!ok(forge("{\"typ\":\"JWT\"}", pl, EVP_sha256(), SECRET),
	    now), "no alg");
	tap_ok(!ok(forge("[\"HS256\"]", pl, EVP_sha256(), SECRET), now),
	    "header not an object");
	tap_ok(!ok("", now), "empty");

	/*
	 * The verified-claims cache: a second look at a token answers the
	 * same, and never for a token whose own signature fails.
	 */
	tok = jwt_access_sign(SECRET, 7, "cached_user", now, 900);
	tap_ok(!ok(tok, now + 901), "first seen expired: refused");
	tap_ok(ok(tok, now) && ok(tok, now + 1), "then fine, twice");
	strcpy(name, "xxxxxxxxxxxx");
	uid = 0;
	tap_ok(jwt_access_verify(SECRET, tok, now + 2, &uid, name,
	    sizeof(name)) == 0 && uid == 7 && strcmp(name, "cached_user") == 0,
	    "cached claims are the token's");
	{
		char	 t2[2048];
		size_t	 n;

		snprintf(t2, sizeof(t2), "%s", tok);
		n = strlen(t2);
		t2[n - 2] = t2[n - 2] == 'A' ? 'B' : 'A';
		tap_ok(!ok(t2, now), "cached payload, wrong signature");
	}
	{
		int	 i, bad = 0;
		char	 u[32];

		/* More tokens than slots, each looked at twice. */
		for (i = 1; i <= 300; i++) {
			long long	 got = 0;
			char		*t;

			snprintf(u, sizeof(u), "user%d", i);
			if ((t = jwt_access_sign(SECRET, i, u, now, 900)) ==
			    NULL) {
				bad++;
				continue;
			}
			if (jwt_access_verify(SECRET, t, now, &got, name,
			    sizeof(name)) != 0 || got != i ||
			    strcmp(name, u) != 0 ||
			    jwt_access_verify(SECRET, t, now, &got, name,
			    sizeof(name)) != 0 || got != i ||
			    strcmp(name, u) != 0)
				bad++;
			free(t);
		}
		tap_int(bad, 0, "300 tokens through 64 slots, each twice");
	}
	/* Cached under SECRET: another key must not pass it. */
	tap_ok(ok(tok, now), "cached");
	tap_int(jwt_access_verify("other-secret", tok, now, &uid, name,
	    sizeof(name)), -1, "a cached token, another secret: refused");
	free(tok);
	return tap_done();
}
