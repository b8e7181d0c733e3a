/*
 * t/fuzz/sio.c: libFuzzer target for realtime/codec/sio.c.
 * fuzz-sources: realtime/codec/sio.c
 * fuzz-libs: -ljansson
 * Input: one Socket.IO packet.  If it decodes, binary packets get their
 * attachments (made up), then the packet is encoded again and must
 * decode (and re-attach) to equal data, type, namespace and ack id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "realtime/codec/sio.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sio_packet	 p, q;
	struct sio_span		 bufs[SIO_MAX_ATTACHMENTS];
	struct sio_span		 att[SIO_MAX_ATTACHMENTS];
	const char		*why;
	char			 nsp[SIO_MAX_NSP + 1], *out;
	ssize_t			 n, m;
	size_t			 natt = 0, i;
	enum sio_type		 t;

	if (sio_packet_decode(&p, (const char *)data, size, &why) != 0) {
		if (p.data != NULL)
			abort();
		return 0;
	}
	if (p.nsp_len > SIO_MAX_NSP || p.nsp_len == 0 || p.nsp[0] != '/')
		abort();
	if (p.attachments > 0) {
		for (i = 0; i < p.attachments; i++) {
			bufs[i].p = (const char *)data;
			bufs[i].len = i < size ? i : size;
		}
		if (sio_packet_attach(&p, bufs, p.attachments, &why) != 0)
			abort();	/* decode checked the placeholders */
	}
	memcpy(nsp, p.nsp, p.nsp_len);
	nsp[p.nsp_len] = '\0';
	n = sio_packet_encode(NULL, 0, p.type, nsp, p.id, p.data, att,
	    SIO_MAX_ATTACHMENTS, &natt);
	if (n < 0) {
		/* Only a packet with more binaries than the cap may fail. */
		if (!sio_has_binary(p.data))
			abort();
		goto out;
	}
	if ((out = malloc((size_t)n + 1)) == NULL)
		abort();
	m = sio_packet_encode(out, (size_t)n + 1, p.type, nsp, p.id, p.data,
	    att, SIO_MAX_ATTACHMENTS, &natt);
	if (m != n || out[n] != '\0')
		abort();
	if (sio_packet_decode(&q, out, (size_t)n, &why) != 0)
		abort();
	if (natt > 0 && sio_packet_attach(&q, att, natt, &why) != 0)
		abort();
	t = p.type;
	if (q.type != t || q.id != p.id || q.nsp_len != p.nsp_len ||
	    memcmp(q.nsp, nsp, p.nsp_len) != 0 ||
	    (p.data == NULL) != (q.data == NULL) ||
	    (p.data != NULL && !json_equal(p.data, q.data)))
		abort();
	sio_packet_clear(&q);
	free(out);
out:
	sio_packet_clear(&p);
	return 0;
}
