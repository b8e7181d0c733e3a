/*
 * t/fuzz/eio.c: libFuzzer target for realtime/codec/eio.c.
 * fuzz-sources: realtime/codec/eio.c
 * Input: a polling body.  It is split (cap 4096 bytes, 16 packets), each
 * packet decoded; base64 packets are decoded in place and must re-encode
 * to bytes that decode the same; the packets are joined again (binary
 * ones as base64) and the joined body must split into as many packets.
 * The whole input is also tried as a WebSocket binary payload and as a
 * session id for the handshake.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "realtime/codec/eio.h"

#define MAXP	16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eio_span		 s[MAXP], s2[MAXP];
	struct eio_item		 it[MAXP];
	struct eio_packet	 p;
	const char		*why;
	char			*body, *bin[MAXP] = { NULL }, *re, *join = NULL;
	char			 hs[512], sid[80];
	ssize_t			 d, d2;
	size_t			 i, jl, bl;
	int			 n, k;

	if (eio_packet_decode((const char *)data, size, 1, &p, &why) != 0 ||
	    !p.binary || p.len != size)
		abort();
	bl = size < sizeof(sid) - 1 ? size : sizeof(sid) - 1;
	memcpy(sid, data, bl);
	sid[bl] = '\0';
	(void)eio_handshake(hs, sizeof(hs), sid, 1, 25000, 20000, 1000000);

	if ((body = malloc(size + 1)) == NULL)
		abort();
	memcpy(body, data, size);
	n = eio_payload_split(body, size, 4096, s, MAXP, &why);
	/* The iterator agrees with split where split has room. */
	{
		struct eio_span	 sp;
		size_t		 pos = 0;
		int		 c = 0, rc;

		while ((rc = eio_payload_next(body, size, &pos, &sp,
		    &why)) == 1) {
			if (c < n && (sp.p != s[c].p || sp.len != s[c].len))
				abort();
			c++;
		}
		if (n >= 0 && (rc != 0 || c != n))
			abort();
		if (n < 0 && size <= 4096 && rc == 0 && c <= MAXP)
			abort();
	}
	if (n < 0)
		goto out;
	if (n == 0 || n > MAXP)
		abort();
	for (k = 0; k < n; k++) {
		if (s[k].len == 0 || memchr(s[k].p, 0x1e, s[k].len) != NULL)
			abort();
		if (eio_packet_decode(s[k].p, s[k].len, 0, &p, &why) != 0)
			goto out;
		it[k].p = s[k].p;
		it[k].len = s[k].len;
		it[k].binary = 0;
		if (!p.base64)
			continue;
		/* In place: data points into body, which we own. */
		d = eio_base64_decode((char *)p.data,
		    eio_base64_declen(p.len), p.data, p.len);
		if (d < 0 || (size_t)d > eio_base64_declen(p.len))
			abort();
		if ((re = malloc(eio_base64_len((size_t)d) + 1)) == NULL ||
		    (bin[k] = malloc((size_t)d + 1)) == NULL)
			abort();
		memcpy(bin[k], p.data, (size_t)d);
		i = eio_base64_encode(re, bin[k], (size_t)d);
		d2 = eio_base64_decode(re, i, re, i);
		if (d2 != d || memcmp(re, bin[k], (size_t)d) != 0)
			abort();
		free(re);
		it[k].p = bin[k];
		it[k].len = (size_t)d;
		it[k].binary = 1;
	}
	jl = eio_payload_join(NULL, 0, it, (size_t)n);
	if ((join = malloc(jl + 1)) == NULL)
		abort();
	if (eio_payload_join(join, jl, it, (size_t)n) != jl)
		abort();
	if (eio_payload_split(join, jl, jl + 1, s2, MAXP, &why) != n)
		abort();
out:
	for (k = 0; k < MAXP; k++)
		free(bin[k]);
	free(join);
	free(body);
	return 0;
}
