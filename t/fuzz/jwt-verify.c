/*
 * t/fuzz/jwt-verify.c: jwt_access_verify (lib/jwt_util.c's own base64url,
 * HMAC and claim checks) on hostile tokens.  The input is tried as a
 * token as is; then its first bytes become a username that is signed
 * and must verify back to the same user (a forged or broken token must
 * never verify: only the signed one does).
 * fuzz-sources: lib/jwt_util.c lib/log.c lib/ts.c
 * fuzz-libs: -ljansson -ljwt -lcrypto
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jwt_util.h"

#define SECRET	"fuzz-secret-0123456789abcdef"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 name[JWT_UNAME_MAX], *tok, *s;
	long long	 uid = 0;
	time_t		 now = 1769680800;
	size_t		 i, n;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (jwt_access_verify(SECRET, s, now, &uid, name, sizeof(name)) == 0)
		abort();	/* nobody outside knows SECRET */
	/* Round trip with a printable name made from the input. */
	n = size < 30 ? size : 30;
	for (i = 0; i < n; i++)
		s[i] = (char)('!' + data[i] % 94);
	s[n] = '\0';
	if (n > 0) {
		if ((tok = jwt_access_sign(SECRET, 7, s, now, 60)) == NULL)
			abort();
		if (jwt_access_verify(SECRET, tok, now, &uid, name,
		    sizeof(name)) != 0 || uid != 7 || strcmp(name, s) != 0)
			abort();
		free(tok);
	}
	free(s);
	return 0;
}
