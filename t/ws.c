/*
 * t/ws.c: the WebSocket codec (realtime/codec/ws.c): accept key and handshake
 * checks, frame headers in every length encoding and every hostile form
 * (RSV bits, unmasked, oversize, 2^63, fragmented or long control
 * frames), unmasking, UTF-8 across fragment boundaries, the message state
 * machine, close payloads, and the server frame encoder.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"

static void
test_accept(void)
{
	char			 out[WS_ACCEPT_LEN + 1], resp[256];
	struct http_request	 r;
	const char		*why = NULL;
	ssize_t			 n;
	const char		*good =
	    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
	    "Host: x\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";

	/* RFC 6455 section 1.3 example. */
	tap_int(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0,
	    "accept: RFC example key");
	tap_str(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	    "accept: RFC example value");
	tap_int(ws_accept_key(" dGhlIHNhbXBsZSBub25jZQ== ", out), 0,
	    "accept: blanks trimmed");
	tap_int(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), -1,
	    "accept: short key");
	tap_int(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", out), -1,
	    "accept: long key");
	tap_int(ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", out), -1,
	    "accept: bad char");
	tap_int(ws_accept_key("dGhlIHNhbXBsZSBub25jZR==", out), -1,
	    "accept: not 16 bytes (bits in padding)");
	tap_int(ws_accept_key("", out), -1, "accept: empty");

	http_request_init(&r, 0);
	tap_int(http_request_parse(&r, good, strlen(good)), HTTP_DONE,
	    "handshake: parsed");
	tap_int(ws_handshake_check(&r, &why), 0, "handshake: valid");
	n = ws_handshake_response("dGhlIHNhbXBsZSBub25jZQ==", 24, resp,
	    sizeof(resp));
	tap_ok(n > 0, "handshake: response written");
	resp[n > 0 ? n : 0] = '\0';
	tap_str(resp, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	    "handshake: response bytes");
	tap_int(ws_handshake_response("dGhlIHNhbXBsZSBub25jZQ==", 24, resp,
	    50), -1, "handshake: response does not fit");
	tap_int(ws_handshake_response("bad", 3, resp, sizeof(resp)), -1,
	    "handshake: response bad key");
}

static void
handshake_bad(const char *req, const char *name)
{
	struct http_request	 r;
	const char		*why = NULL;
	int			 rc;

	http_request_init(&r, 0);
	rc = http_request_parse(&r, req, strlen(req));
	tap_ok(rc == HTTP_DONE && ws_handshake_check(&r, &why) == -1 &&
	    why != NULL, name);
}

static void
test_handshake_bad(void)
{
	handshake_bad("POST / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n", "handshake: POST");
	handshake_bad("GET / HTTP/1.0\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n", "handshake: HTTP/1.0");
	handshake_bad("GET / HTTP/1.1\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n", "handshake: no Upgrade");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: keep-alive\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    "handshake: Connection without upgrade");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 8\r\n\r\n", "handshake: version 8");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\n\r\n", "handshake: no version");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    "handshake: no key");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: abc\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", "handshake: short key");
	handshake_bad("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	    "\r\nSec-WebSocket-Version: 13\r\n\r\n", "handshake: two keys");
}

/* Build a masked client frame; returns its size. */
static size_t
client_frame(unsigned char *out, unsigned b0, const unsigned char *payload,
    size_t len, const unsigned char mask[4])
{
	size_t	 h = 0, i;

	out[h++] = (unsigned char)b0;
	if (len < 126)
		out[h++] = 0x80 | (unsigned char)len;
	else if (len <= 0xffff) {
		out[h++] = 0x80 | 126;
		out[h++] = (unsigned char)(len >> 8);
		out[h++] = (unsigned char)len;
	} else {
		out[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			out[h++] =
			    (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + h, mask, 4);
	h += 4;
	for (i = 0; i < len; i++)
		out[h + i] = payload[i] ^ mask[i & 3];
	return h + len;
}

static void
test_frames(void)
{
	/* RFC 6455 5.7: a masked "Hello". */
	unsigned char	 hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
	    0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char mask[4] = { 0x11, 0x22, 0x33, 0x44 };
	unsigned char	*buf, *payload;
	struct ws_frame	 f;
	size_t		 i, n;
	int		 ok;
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
	    70000 };
	char		 name[128];

	tap_int(ws_frame_parse(&f, hello, sizeof(hello), 1000, 1), 1,
	    "frame: RFC Hello parsed");
	tap_ok(f.fin && f.opcode == WS_OP_TEXT && f.masked && f.len == 5 &&
	    f.hdr_len == 6, "frame: RFC Hello fields");
	ws_unmask(hello + f.hdr_len, 5, f.mask, 0);
	tap_ok(memcmp(hello + 6, "Hello", 5) == 0, "frame: RFC Hello unmasked");
	for (i = 0, ok = 1; i < sizeof(hello) - 5; i++)
		if (ws_frame_parse(&f, hello, i, 1000, 1) != 0)
			ok = 0;
	tap_ok(ok, "frame: every short prefix needs more");

	if ((buf = malloc(70000 + 14)) == NULL ||
	    (payload = malloc(70000)) == NULL)
		abort();
	for (i = 0; i < 70000; i++)
		payload[i] = (unsigned char)(i * 7);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = client_frame(buf, 0x82, payload, lens[i], mask);
		ok = ws_frame_parse(&f, buf, n, 100000, 1) == 1 &&
		    f.len == lens[i] && f.opcode == WS_OP_BINARY &&
		    f.hdr_len == 2 + (lens[i] < 126 ? 0 : lens[i] <= 0xffff ?
		    2 : 8) + 4;
		if (ok) {
			ws_unmask(buf + f.hdr_len, (size_t)f.len, f.mask, 0);
			ok = memcmp(buf + f.hdr_len, payload, lens[i]) == 0;
		}
		snprintf(name, sizeof(name), "frame: length %zu round trip",
		    lens[i]);
		tap_ok(ok, name);
		/* One byte short of the header: need more. */
		snprintf(name, sizeof(name), "frame: length %zu partial header",
		    lens[i]);
		tap_int(ws_frame_parse(&f, buf, f.hdr_len - 1, 100000, 1), 0,
		    name);
	}

	/* Hostile headers. */
	{
		unsigned char	 rsv1[] = { 0xc1, 0x80, 1, 2, 3, 4 };
		unsigned char	 rsv3[] = { 0x91, 0x80, 1, 2, 3, 4 };
		unsigned char	 unmasked[] = { 0x81, 0x05, 'H', 'e', 'l', 'l',
		    'o' };
		unsigned char	 big16[] = { 0x82, 0xfe, 0x10, 0x00 };
		unsigned char	 huge[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0,
		    0, 0 };
		unsigned char	 big64[] = { 0x82, 0xff, 0, 0, 0, 1, 0, 0, 0,
		    0 };
		unsigned char	 ping_long[] = { 0x89, 0xfe, 0x00, 0x7e };
		unsigned char	 ping_frag[] = { 0x09, 0x80, 1, 2, 3, 4 };
		unsigned char	 close_frag[] = { 0x08, 0x80, 1, 2, 3, 4 };
		unsigned char	 op3[] = { 0x83, 0x80, 1, 2, 3, 4 };
		unsigned char	 opb[] = { 0x8b, 0x80, 1, 2, 3, 4 };

		tap_int(ws_frame_parse(&f, rsv1, sizeof(rsv1), 100, 1), -1,
		    "frame: RSV1 set");
		tap_int(f.close_code, WS_CLOSE_PROTOCOL, "frame: RSV1 -> 1002");
		tap_int(ws_frame_parse(&f, rsv3, sizeof(rsv3), 100, 1), -1,
		    "frame: RSV3 set");
		tap_int(ws_frame_parse(&f, unmasked, sizeof(unmasked), 100, 1),
		    -1, "frame: unmasked client frame");
		tap_int(f.close_code, WS_CLOSE_PROTOCOL,
		    "frame: unmasked -> 1002");
		tap_int(ws_frame_parse(&f, unmasked, sizeof(unmasked), 100, 0),
		    1, "frame: unmasked allowed when not required");
		tap_int(ws_frame_parse(&f, big16, sizeof(big16), 4095, 1), -1,
		    "frame: 16-bit length over cap");
		tap_int(f.close_code, WS_CLOSE_TOO_BIG,
		    "frame: over cap -> 1009");
		tap_int(ws_frame_parse(&f, huge, 3, UINT64_MAX, 1), -1,
		    "frame: 2^63 refused after 3 bytes");
		tap_int(f.close_code, WS_CLOSE_PROTOCOL, "frame: 2^63 -> 1002");
		tap_int(ws_frame_parse(&f, big64, sizeof(big64), 1 << 20, 1),
		    -1, "frame: 2^32 over cap");
		tap_int(f.close_code, WS_CLOSE_TOO_BIG, "frame: 2^32 -> 1009");
		tap_int(ws_frame_parse(&f, ping_long, sizeof(ping_long), 1000,
		    1), -1, "frame: ping of 126 bytes");
		tap_int(ws_frame_parse(&f, ping_frag, sizeof(ping_frag), 1000,
		    1), -1, "frame: fragmented ping");
		tap_int(ws_frame_parse(&f, close_frag, sizeof(close_frag), 1000,
		    1), -1, "frame: fragmented close");
		tap_int(ws_frame_parse(&f, op3, sizeof(op3), 1000, 1), -1,
		    "frame: reserved opcode 3");
		tap_int(ws_frame_parse(&f, opb, sizeof(opb), 1000, 1), -1,
		    "frame: reserved opcode 0xb");
		tap_ok(f.why != NULL, "frame: why set");
	}
	free(buf);
	free(payload);
}

static void
test_unmask(void)
{
	unsigned char	 a[80], b[80], c[80];
	static const unsigned char mask[4] = { 0xa1, 0xb2, 0xc3, 0xd4 };
	size_t		 len, off, i, cut;
	int		 ok = 1, okp = 1;

	for (len = 0; len <= 70; len++)
		for (off = 0; off < 4; off++) {
			for (i = 0; i < len; i++)
				b[i] = c[i] = (unsigned char)(i * 31 + len);
			/* Odd offsets also run on a misaligned buffer. */
			memcpy(a + (off & 1), c, len);
			ws_unmask(a + (off & 1), len, mask, off);
			for (i = 0; i < len; i++)
				b[i] ^= mask[(off + i) & 3];
			if (memcmp(a + (off & 1), b, len) != 0)
				ok = 0;
			/* In two pieces at every cut. */
			for (cut = 0; cut <= len; cut += 3) {
				memcpy(a, c, len);
				ws_unmask(a, cut, mask, off);
				ws_unmask(a + cut, len - cut, mask, off + cut);
				if (memcmp(a, b, len) != 0)
					okp = 0;
			}
		}
	tap_ok(ok, "unmask: word-at-a-time equals bytewise (all lengths, "
	    "offsets, alignments)");
	tap_ok(okp, "unmask: in pieces equals whole");
}

static void
test_utf8(void)
{
	static const struct {
		const char	*s;
		int		 valid;
		const char	*name;
	} t[] = {
		{ "hello", 1, "ascii" },
		{ "", 1, "empty" },
		{ "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1, "greek" },
		{ "\xf0\x9f\x98\x80 emoji", 1, "4-byte" },
		{ "\xef\xbf\xbf", 1, "U+FFFF" },
		{ "\xf4\x8f\xbf\xbf", 1, "U+10FFFF" },
		{ "\xc0\x80", 0, "overlong NUL" },
		{ "\xc1\xbf", 0, "overlong 2-byte" },
		{ "\xe0\x80\x80", 0, "overlong 3-byte" },
		{ "\xf0\x80\x80\x80", 0, "overlong 4-byte" },
		{ "\xed\xa0\x80", 0, "surrogate D800" },
		{ "\xed\xbf\xbf", 0, "surrogate DFFF" },
		{ "\xf4\x90\x80\x80", 0, "above U+10FFFF" },
		{ "\xf5\x80\x80\x80", 0, "F5 lead" },
		{ "\xff", 0, "FF" },
		{ "\x80", 0, "lone continuation" },
		{ "abc\xce", 0, "truncated at end" },
		{ "\xce\x41", 0, "lead then ascii" },
		{ "0123456789abcdef\xe2\x82", 0, "truncated after long ascii" },
		{ "0123456789abcdef\xe2\x82\xac" "0123456789", 1,
		    "euro inside ascii runs" },
	};
	const char	*s = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	    "\xf0\x9f\x98\x80";
	size_t		 i, cut, n = strlen(s);
	uint32_t	 st;
	int		 ok = 1;
	char		 name[128];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "utf8: %s", t[i].name);
		tap_int(ws_utf8_valid(t[i].s, strlen(t[i].s)), t[i].valid,
		    name);
	}
	for (cut = 0; cut <= n; cut++) {
		st = WS_UTF8_ACCEPT;
		if (ws_utf8_feed(&st, s, cut) != 0 ||
		    ws_utf8_feed(&st, s + cut, n - cut) != 0 ||
		    st != WS_UTF8_ACCEPT)
			ok = 0;
	}
	tap_ok(ok, "utf8: valid text split at every byte");
	st = WS_UTF8_ACCEPT;
	tap_int(ws_utf8_feed(&st, "\xe2\x82", 2), 0, "utf8: partial is ok");
	tap_ok(st != WS_UTF8_ACCEPT, "utf8: but not complete");
	tap_int(ws_utf8_feed(&st, "x", 1), -1, "utf8: then invalid");
	tap_int(ws_utf8_feed(&st, "abc", 3), -1, "utf8: reject is sticky");
}

static struct ws_frame
mkframe(unsigned opcode, unsigned fin, uint64_t len)
{
	struct ws_frame	 f;

	memset(&f, 0, sizeof(f));
	f.opcode = opcode;
	f.fin = fin;
	f.masked = 1;
	f.len = len;
	return f;
}

static void
test_msg(void)
{
	struct ws_msg	 m;
	struct ws_frame	 f;

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_TEXT, 1, 5);
	tap_int(ws_msg_frame(&m, &f, "hello", 5), WS_MSG_DONE,
	    "msg: single text frame");
	tap_ok(m.opcode == WS_OP_TEXT && m.len == 5, "msg: opcode and length");

	f = mkframe(WS_OP_TEXT, 0, 3);
	tap_int(ws_msg_frame(&m, &f, "hel", 3), WS_MSG_PART, "msg: first part");
	f = mkframe(WS_OP_PING, 1, 2);
	tap_int(ws_msg_frame(&m, &f, "hi", 2), WS_MSG_CONTROL,
	    "msg: ping between fragments");
	f = mkframe(WS_OP_CONT, 0, 1);
	tap_int(ws_msg_frame(&m, &f, "l", 1), WS_MSG_PART, "msg: middle part");
	f = mkframe(WS_OP_CONT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "o", 1), WS_MSG_DONE, "msg: last part");
	tap_int(m.len, 5, "msg: fragmented length");

	/* UTF-8 valid only across the boundary. */
	f = mkframe(WS_OP_TEXT, 0, 1);
	tap_int(ws_msg_frame(&m, &f, "\xe2", 1), WS_MSG_PART,
	    "msg: euro split 1/3");
	f = mkframe(WS_OP_CONT, 0, 1);
	tap_int(ws_msg_frame(&m, &f, "\x82", 1), WS_MSG_PART,
	    "msg: euro split 2/3");
	f = mkframe(WS_OP_CONT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "\xac", 1), WS_MSG_DONE,
	    "msg: euro split 3/3");

	/* Binary is not checked. */
	f = mkframe(WS_OP_BINARY, 1, 2);
	tap_int(ws_msg_frame(&m, &f, "\xff\xfe", 2), WS_MSG_DONE,
	    "msg: binary not UTF-8 checked");

	/* Invalid UTF-8 split across fragments. */
	f = mkframe(WS_OP_TEXT, 0, 1);
	tap_int(ws_msg_frame(&m, &f, "\xce", 1), WS_MSG_PART,
	    "msg: lead byte at end of fragment");
	f = mkframe(WS_OP_CONT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "A", 1), -1,
	    "msg: invalid UTF-8 across fragments");
	tap_int(m.close_code, WS_CLOSE_INVALID_DATA, "msg: -> 1007");
	f = mkframe(WS_OP_TEXT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "A", 1), -1, "msg: error is sticky");

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_TEXT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "\xce", 1), -1,
	    "msg: truncated UTF-8 at FIN");
	tap_int(m.close_code, WS_CLOSE_INVALID_DATA, "msg: truncated -> 1007");

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_CONT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "A", 1), -1,
	    "msg: continuation without a message");
	tap_int(m.close_code, WS_CLOSE_PROTOCOL, "msg: -> 1002");

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_BINARY, 0, 1);
	ws_msg_frame(&m, &f, "A", 1);
	f = mkframe(WS_OP_TEXT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "A", 1), -1,
	    "msg: new message inside a fragmented one");
	tap_int(m.close_code, WS_CLOSE_PROTOCOL, "msg: interleave -> 1002");

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_BINARY, 0, 15);
	tap_int(ws_msg_frame(&m, &f, "012345678901234", 15), WS_MSG_PART,
	    "msg: 15 of 20");
	f = mkframe(WS_OP_CONT, 0, 5);
	tap_int(ws_msg_frame(&m, &f, "01234", 5), WS_MSG_PART, "msg: 20 of 20");
	f = mkframe(WS_OP_CONT, 1, 1);
	tap_int(ws_msg_frame(&m, &f, "x", 1), -1,
	    "msg: cap across fragments");
	tap_int(m.close_code, WS_CLOSE_TOO_BIG, "msg: cap -> 1009");

	ws_msg_init(&m, 20);
	f = mkframe(WS_OP_PING, 0, 1);
	tap_int(ws_msg_frame(&m, &f, "x", 1), -1,
	    "msg: fragmented control refused");
}

static void
test_close(void)
{
	uint16_t	 code = 0;
	const char	*reason;
	size_t		 rlen;
	unsigned char	 p[WS_MAX_CONTROL];
	static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
	    2000, 2999, 5000, 65535 };
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008,
	    1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999 };
	size_t		 i, n;
	int		 ok;
	char		 longr[200];

	tap_int(ws_close_parse("", 0, &code, &reason, &rlen), 0,
	    "close: empty payload");
	tap_int(code, WS_CLOSE_NO_STATUS, "close: empty -> 1005");
	tap_int(ws_close_parse("\x03", 1, &code, &reason, &rlen),
	    WS_CLOSE_PROTOCOL, "close: 1-byte payload");
	tap_int(ws_close_parse("\x03\xe8" "bye", 5, &code, &reason, &rlen), 0,
	    "close: 1000 + reason");
	tap_ok(code == 1000 && rlen == 3 && memcmp(reason, "bye", 3) == 0,
	    "close: code and reason");
	tap_int(ws_close_parse("\x03\xe8\xce", 3, &code, &reason, &rlen),
	    WS_CLOSE_INVALID_DATA, "close: reason not UTF-8");
	for (i = 0, ok = 1; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p[0] = (unsigned char)(bad[i] >> 8);
		p[1] = (unsigned char)bad[i];
		if (ws_close_parse(p, 2, &code, &reason, &rlen) !=
		    WS_CLOSE_PROTOCOL || ws_close_code_valid(bad[i]))
			ok = 0;
	}
	tap_ok(ok, "close: invalid codes (0 999 1004-1006 1015 1016 2000 "
	    "2999 5000 65535) -> 1002");
	for (i = 0, ok = 1; i < sizeof(good) / sizeof(good[0]); i++) {
		p[0] = (unsigned char)(good[i] >> 8);
		p[1] = (unsigned char)good[i];
		if (ws_close_parse(p, 2, &code, &reason, &rlen) != 0 ||
		    code != good[i])
			ok = 0;
	}
	tap_ok(ok, "close: valid codes accepted");

	n = ws_close_payload(p, WS_CLOSE_TOO_BIG, "too big");
	tap_ok(n == 9 && p[0] == 0x03 && p[1] == 0xf1 &&
	    memcmp(p + 2, "too big", 7) == 0, "close: payload encoded");
	memset(longr, 'a', sizeof(longr));
	longr[121] = '\xe2';	/* euro sign straddling byte 123 */
	longr[122] = '\x82';
	longr[123] = '\xac';
	longr[sizeof(longr) - 1] = '\0';
	n = ws_close_payload(p, 1000, longr);
	tap_int(n, 2 + 121, "close: reason cut before a split sequence");
	tap_int(ws_close_parse(p, n, &code, &reason, &rlen), 0,
	    "close: cut reason still valid");
	n = ws_close_payload(p, 1000, NULL);
	tap_int(n, 2, "close: no reason");
}

static void
test_encode(void)
{
	unsigned char	 h[WS_MAX_SERVER_HEADER], *buf;
	struct ws_frame	 f;
	size_t		 n;

	tap_int(ws_frame_header_len(0), 2, "encode: header len 0");
	tap_int(ws_frame_header_len(125), 2, "encode: header len 125");
	tap_int(ws_frame_header_len(126), 4, "encode: header len 126");
	tap_int(ws_frame_header_len(65535), 4, "encode: header len 65535");
	tap_int(ws_frame_header_len(65536), 10, "encode: header len 65536");
	n = ws_frame_header(h, WS_OP_TEXT, 1, 5);
	tap_ok(n == 2 && h[0] == 0x81 && h[1] == 0x05, "encode: short text");
	n = ws_frame_header(h, WS_OP_BINARY, 0, 300);
	tap_ok(n == 4 && h[0] == 0x02 && h[1] == 126 && h[2] == 1 &&
	    h[3] == 44, "encode: 16-bit binary, no FIN");
	n = ws_frame_header(h, WS_OP_BINARY, 1, UINT64_C(0x123456789));
	tap_ok(n == 10 && h[1] == 127 && h[2] == 0 && h[5] == 0x01 &&
	    h[6] == 0x23 && h[9] == 0x89, "encode: 64-bit length");

	if ((buf = calloc(1, 80000)) == NULL)
		abort();
	tap_int(ws_frame_encode(NULL, 0, WS_OP_TEXT, "x", 1), 3,
	    "encode: sizing call");
	n = ws_frame_encode(buf, 80000, WS_OP_BINARY, buf + 10, 65536);
	tap_int(n, 65546, "encode: 64 KB frame size");
	tap_int(ws_frame_parse(&f, buf, n, 1 << 20, 0), 1,
	    "encode: parses back (unmasked allowed)");
	tap_ok(f.len == 65536 && f.opcode == WS_OP_BINARY && f.fin &&
	    !f.masked && f.hdr_len == 10, "encode: fields back");
	tap_int(ws_frame_encode(buf, 80000, WS_OP_PING, buf, 126), 0,
	    "encode: ping > 125 refused");
	n = ws_frame_encode(buf, 10, WS_OP_PONG, "probe", 5);
	tap_ok(n == 7 && buf[0] == 0x8a && buf[1] == 5 &&
	    memcmp(buf + 2, "probe", 5) == 0, "encode: pong");
	tap_int(ws_frame_encode(buf, 6, WS_OP_PONG, "probe", 5), 7,
	    "encode: too small returns size");
	free(buf);
}

int
main(void)
{
	test_accept();
	test_handshake_bad();
	test_frames();
	test_unmask();
	test_utf8();
	test_msg();
	test_close();
	test_encode();
	tap_plan(tap_n);
	return tap_done();
}
