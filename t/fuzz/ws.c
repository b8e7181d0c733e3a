/*
 * t/fuzz/ws.c: libFuzzer target for realtime/codec/ws.c (and the handshake path
 * through realtime/codec/http.c).
 * fuzz-sources: realtime/codec/ws.c realtime/codec/http.c lib/hex.c
 * fuzz-libs: -lcrypto
 * Input: byte 0 bit 0 says whether frames must be masked, bits 1-3 pick
 * the frame cap (8 << n bytes), bit 4 makes the rest an HTTP handshake
 * request instead; otherwise the rest is a stream of client frames, fed
 * to ws_frame_parse(), unmasked, and fed to the ws_msg state machine,
 * close payloads to ws_close_parse().  Properties checked: the header
 * never claims more than the cap, word-wise unmasking equals bytewise,
 * UTF-8 validation does not depend on where the text is cut, encoded
 * server frames parse back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"

static void
handshake(const char *req, size_t len)
{
	struct http_request	 r;
	const struct http_span	*key;
	const char		*why;
	char			 out[256];

	http_request_init(&r, 0);
	if (http_request_parse(&r, req, len) != HTTP_DONE)
		return;
	if (ws_handshake_check(&r, &why) == 0) {
		key = http_header_get(&r, "sec-websocket-key");
		if (key == NULL ||
		    ws_handshake_response(key->p, key->len, out,
		    sizeof(out)) <= 0)
			abort();
	}
}

static void
utf8_cut(const unsigned char *p, size_t len)
{
	uint32_t	 s = WS_UTF8_ACCEPT;
	int		 whole, cut;
	size_t		 at = len / 3;

	whole = ws_utf8_valid(p, len);
	cut = ws_utf8_feed(&s, p, at) == 0 &&
	    ws_utf8_feed(&s, p + at, len - at) == 0 && s == WS_UTF8_ACCEPT;
	if (whole != cut)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_frame		 f, g;
	struct ws_msg		 m;
	unsigned char		*pl = NULL, *ref = NULL;
	unsigned char		 enc[WS_MAX_SERVER_HEADER + 200];
	const char		*reason;
	uint64_t		 cap;
	uint16_t		 code;
	size_t			 pos, rlen, i, n;
	int			 rc, mask;

	if (size < 1)
		return 0;
	if (data[0] & 0x10) {
		handshake((const char *)data + 1, size - 1);
		return 0;
	}
	mask = data[0] & 1;
	cap = (uint64_t)8 << ((data[0] >> 1) & 7);
	ws_msg_init(&m, cap * 2);
	for (pos = 1; pos < size; ) {
		rc = ws_frame_parse(&f, data + pos, size - pos, cap, mask);
		if (rc == 0)
			break;
		if (rc == -1) {
			if (f.close_code != WS_CLOSE_PROTOCOL &&
			    f.close_code != WS_CLOSE_TOO_BIG)
				abort();
			break;
		}
		if (f.len > cap || f.hdr_len > WS_MAX_HEADER)
			abort();
		if (f.len > size - pos - f.hdr_len)
			break;		/* payload not all here */
		n = (size_t)f.len;
		if ((pl = malloc(n + 1)) == NULL ||
		    (ref = malloc(n + 1)) == NULL)
			abort();
		memcpy(pl, data + pos + f.hdr_len, n);
		memcpy(ref, pl, n);
		/* Unmask in two pieces, compare with bytewise. */
		ws_unmask(pl, n / 2, f.mask, 0);
		ws_unmask(pl + n / 2, n - n / 2, f.mask, n / 2);
		for (i = 0; i < n; i++)
			ref[i] ^= f.mask[i & 3];
		if (memcmp(pl, ref, n) != 0)
			abort();
		utf8_cut(pl, n);
		rc = ws_msg_frame(&m, &f, pl, n);
		if (rc == WS_MSG_CONTROL && f.opcode == WS_OP_CLOSE) {
			rc = ws_close_parse(pl, n, &code, &reason, &rlen);
			if (rc != 0 && rc != WS_CLOSE_PROTOCOL &&
			    rc != WS_CLOSE_INVALID_DATA)
				abort();
		}
		if (rc == WS_MSG_CONTROL && n <= 125) {
			/* Echo as a server frame; it must parse back. */
			i = ws_frame_encode(enc, sizeof(enc), WS_OP_PONG,
			    pl, n);
			if (i != ws_frame_header_len(n) + n ||
			    ws_frame_parse(&g, enc, i, 125, 0) != 1 ||
			    g.len != n || g.masked || g.opcode != WS_OP_PONG ||
			    memcmp(enc + g.hdr_len, pl, n) != 0)
				abort();
		}
		free(pl);
		free(ref);
		pl = ref = NULL;
		if (rc == -1)
			break;
		pos += f.hdr_len + n;
	}
	return 0;
}
