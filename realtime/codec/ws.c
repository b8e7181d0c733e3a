/*
 * ws.c: RFC 6455 WebSocket codec for the chat-realtime server side.
 * Pure functions: no sockets, no allocation.  The connection code reads
 * bytes, asks ws_frame_parse() for the header (which refuses hostile
 * lengths before anything is allocated), unmasks the payload, and feeds
 * frames to the ws_msg state machine.  Also used by t/ws.c and the fuzzer
 * t/fuzz/ws.c.
 * Spec: RFC 6455, sections 4.2 (handshake), 5 (framing), 7.4 (close
 * codes), 8.1 (UTF-8); RFC 3629 (UTF-8).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"

#define WS_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/*
 * Handshake
 */

static int
b64char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * A key is 16 bytes in base64: 22 alphabet chars and "==".  The last
 * char before the padding carries 2 bits, so its low 4 bits must be 0.
 */
static int
key_valid(const char *k, size_t len)
{
	size_t		 i;
	static const char tail[] = "AQgw";

	if (len != WS_KEY_LEN || k[22] != '=' || k[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (!b64char((unsigned char)k[i]))
			return 0;
	return strchr(tail, k[21]) != NULL;
}

int
ws_accept_key_span(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char	 in[WS_KEY_LEN + sizeof(WS_GUID) - 1];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	while (len > 0 && (*key == ' ' || *key == '\t')) {
		key++;
		len--;
	}
	while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
		len--;
	if (!key_valid(key, len))
		return -1;
	memcpy(in, key, WS_KEY_LEN);
	memcpy(in + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) != WS_ACCEPT_LEN)
		return -1;
	out[WS_ACCEPT_LEN] = '\0';
	return 0;
}

int
ws_accept_key(const char *client_key, char out[WS_ACCEPT_LEN + 1])
{
	return ws_accept_key_span(client_key, strnlen(client_key, 64), out);
}

int
ws_handshake_check(const struct http_request *r, const char **why)
{
	const struct http_span	*v;

	if (r->method != HTTP_GET) {
		*why = "websocket: method not GET";
		return -1;
	}
	if (r->minor != 1) {
		*why = "websocket: not HTTP/1.1";
		return -1;
	}
	if (!http_header_has_token(r, "upgrade", "websocket")) {
		*why = "websocket: no Upgrade: websocket";
		return -1;
	}
	if (!http_header_has_token(r, "connection", "upgrade")) {
		*why = "websocket: no Connection: upgrade";
		return -1;
	}
	if (http_header_count(r, "sec-websocket-version") != 1 ||
	    !http_span_eq(http_header_get(r, "sec-websocket-version"), "13")) {
		*why = "websocket: version not 13 "
		    "(answer Sec-WebSocket-Version: 13)";
		return -1;
	}
	if (http_header_count(r, "sec-websocket-key") != 1 ||
	    (v = http_header_get(r, "sec-websocket-key")) == NULL ||
	    !key_valid(v->p, v->len)) {
		*why = "websocket: bad Sec-WebSocket-Key";
		return -1;
	}
	return 0;
}

ssize_t
ws_handshake_response(const char *key, size_t keylen, char *out,
    size_t outsz)
{
	char			 acc[WS_ACCEPT_LEN + 1];
	struct http_writer	 w;

	if (ws_accept_key_span(key, keylen, acc) == -1)
		return -1;
	http_writer_init(&w, out, outsz);
	http_write_status(&w, 101);
	http_write_header(&w, "Upgrade", "websocket");
	http_write_header(&w, "Connection", "Upgrade");
	http_write_header(&w, "Sec-WebSocket-Accept", acc);
	http_write_end(&w);
	return http_writer_done(&w);
}

/*
 * Frames
 */

static int
frame_fail(struct ws_frame *f, uint16_t code, const char *why)
{
	f->close_code = code;
	f->why = why;
	return -1;
}

int
ws_frame_parse(struct ws_frame *f, const void *buf, size_t len,
    uint64_t max_len, int require_mask)
{
	const unsigned char	*b = buf;
	uint64_t		 n;
	size_t			 pos, i;
	unsigned		 len7;

	memset(f, 0, sizeof(*f));
	if (len < 2)
		return 0;
	f->fin = b[0] >> 7;
	f->opcode = b[0] & 0x0f;
	f->masked = b[1] >> 7;
	len7 = b[1] & 0x7f;
	if (b[0] & 0x70)
		return frame_fail(f, WS_CLOSE_PROTOCOL, "RSV bits set");
	switch (f->opcode) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!f->fin)
			return frame_fail(f, WS_CLOSE_PROTOCOL,
			    "fragmented control frame");
		if (len7 > WS_MAX_CONTROL)
			return frame_fail(f, WS_CLOSE_PROTOCOL,
			    "control frame too long");
		break;
	default:
		return frame_fail(f, WS_CLOSE_PROTOCOL, "unknown opcode");
	}
	if (require_mask && !f->masked)
		return frame_fail(f, WS_CLOSE_PROTOCOL,
		    "unmasked client frame");

	pos = 2;
	if (len7 == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)b[2] << 8 | b[3];
		pos = 4;
	} else if (len7 == 127) {
		/* Refuse 2^63 and above before waiting for more bytes. */
		if (len >= 3 && (b[2] & 0x80))
			return frame_fail(f, WS_CLOSE_PROTOCOL,
			    "64-bit length with top bit set");
		if (len < 10)
			return 0;
		for (n = 0, i = 2; i < 10; i++)
			n = n << 8 | b[i];
		pos = 10;
	} else
		n = len7;
	if (n > max_len)
		return frame_fail(f, WS_CLOSE_TOO_BIG, "frame too large");
	f->len = n;
	if (f->masked) {
		if (len < pos + 4)
			return 0;
		memcpy(f->mask, b + pos, 4);
		pos += 4;
	}
	f->hdr_len = pos;
	return 1;
}

void
ws_unmask(void *buf, size_t len, const unsigned char mask[4],
    uint64_t offset)
{
	unsigned char	*p = buf;
	unsigned char	 k[8];
	uint64_t	 k64, w;
	size_t		 i = 0, j;

	for (j = 0; j < 8; j++)
		k[j] = mask[(offset + j) & 3];
	memcpy(&k64, k, 8);
	for (; len - i >= 8; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= k64;
		memcpy(p + i, &w, 8);
	}
	for (j = 0; i < len; i++, j++)
		p[i] ^= k[j];
}

/*
 * UTF-8.  States: 0 accept; 1-3 that many continuation bytes (80-BF)
 * left; 4 after E0 (A0-BF, then 1); 5 after ED (80-9F, then 1: no
 * surrogates); 6 after F0 (90-BF, then 2); 7 after F4 (80-8F, then 2);
 * WS_UTF8_REJECT.
 */
static uint32_t
utf8_step(uint32_t s, unsigned char c)
{
	switch (s) {
	case WS_UTF8_ACCEPT:
		if (c < 0x80)
			return 0;
		if (c >= 0xc2 && c <= 0xdf)
			return 1;
		if (c == 0xe0)
			return 4;
		if (c == 0xed)
			return 5;
		if (c >= 0xe1 && c <= 0xef)
			return 2;
		if (c == 0xf0)
			return 6;
		if (c >= 0xf1 && c <= 0xf3)
			return 3;
		if (c == 0xf4)
			return 7;
		return WS_UTF8_REJECT;
	case 1:
	case 2:
	case 3:
		return c >= 0x80 && c <= 0xbf ? s - 1 : WS_UTF8_REJECT;
	case 4:
		return c >= 0xa0 && c <= 0xbf ? 1 : WS_UTF8_REJECT;
	case 5:
		return c >= 0x80 && c <= 0x9f ? 1 : WS_UTF8_REJECT;
	case 6:
		return c >= 0x90 && c <= 0xbf ? 2 : WS_UTF8_REJECT;
	case 7:
		return c >= 0x80 && c <= 0x8f ? 2 : WS_UTF8_REJECT;
	}
	return WS_UTF8_REJECT;
}

int
ws_utf8_feed(uint32_t *state, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint32_t		 s = *state;
	uint64_t		 w;
	size_t			 i = 0;

	while (i < len) {
		if (s == WS_UTF8_REJECT)
			break;
		/* ASCII runs eight bytes at a time. */
		if (s == WS_UTF8_ACCEPT) {
			while (len - i >= 8) {
				memcpy(&w, p + i, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			if (i == len)
				break;
		}
		s = utf8_step(s, p[i++]);
	}
	*state = s;
	return s == WS_UTF8_REJECT ? -1 : 0;
}

int
ws_utf8_valid(const void *buf, size_t len)
{
	uint32_t	 s = WS_UTF8_ACCEPT;

	return ws_utf8_feed(&s, buf, len) == 0 && s == WS_UTF8_ACCEPT;
}

/*
 * Messages
 */

void
ws_msg_init(struct ws_msg *m, uint64_t max)
{
	memset(m, 0, sizeof(*m));
	m->max = max;
}

static int
msg_fail(struct ws_msg *m, uint16_t code, const char *why)
{
	m->failed = 1;
	m->close_code = code;
	m->why = why;
	return -1;
}

int
ws_msg_frame(struct ws_msg *m, const struct ws_frame *f, const void *payload,
    size_t len)
{
	if (m->failed)
		return -1;
	switch (f->opcode) {
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!f->fin || len > WS_MAX_CONTROL)
			return msg_fail(m, WS_CLOSE_PROTOCOL,
			    "bad control frame");
		return WS_MSG_CONTROL;
	case WS_OP_CONT:
		if (!m->in_msg)
			return msg_fail(m, WS_CLOSE_PROTOCOL,
			    "continuation outside a message");
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (m->in_msg)
			return msg_fail(m, WS_CLOSE_PROTOCOL,
			    "new message inside a fragmented one");
		m->opcode = f->opcode;
		m->len = 0;
		m->utf8 = WS_UTF8_ACCEPT;
		break;
	default:
		return msg_fail(m, WS_CLOSE_PROTOCOL, "unknown opcode");
	}
	if (len > m->max || m->len > m->max - len)
		return msg_fail(m, WS_CLOSE_TOO_BIG, "message too large");
	m->len += len;
	if (m->opcode == WS_OP_TEXT &&
	    ws_utf8_feed(&m->utf8, payload, len) == -1)
		return msg_fail(m, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
	if (!f->fin) {
		m->in_msg = 1;
		return WS_MSG_PART;
	}
	if (m->opcode == WS_OP_TEXT && m->utf8 != WS_UTF8_ACCEPT)
		return msg_fail(m, WS_CLOSE_INVALID_DATA,
		    "truncated UTF-8 sequence");
	m->in_msg = 0;
	return WS_MSG_DONE;
}

/*
 * Close frames
 */

int
ws_close_code_valid(unsigned code)
{
	if (code >= 1000 && code <= 1003)
		return 1;
	if (code >= 1007 && code <= 1014)
		return 1;
	return code >= 3000 && code <= 4999;
}

int
ws_close_parse(const void *payload, size_t len, uint16_t *code,
    const char **reason, size_t *reason_len)
{
	const unsigned char	*p = payload;

	*reason = NULL;
	*reason_len = 0;
	if (len == 0) {
		*code = WS_CLOSE_NO_STATUS;
		return 0;
	}
	if (len == 1 || len > WS_MAX_CONTROL)
		return WS_CLOSE_PROTOCOL;
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!ws_close_code_valid(*code))
		return WS_CLOSE_PROTOCOL;
	if (!ws_utf8_valid(p + 2, len - 2))
		return WS_CLOSE_INVALID_DATA;
	*reason = (const char *)p + 2;
	*reason_len = len - 2;
	return 0;
}

/*
 * Encoding (server frames are never masked)
 */

size_t
ws_frame_header_len(uint64_t len)
{
	if (len < 126)
		return 2;
	return len <= 0xffff ? 4 : 10;
}

size_t
ws_frame_header(unsigned char *out, unsigned opcode, int fin, uint64_t len)
{
	int	 i;

	out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}

size_t
ws_frame_encode(void *out, size_t outsz, unsigned opcode,
    const void *payload, size_t len)
{
	unsigned char	*o = out;
	size_t		 h, total;

	if ((opcode & 0x08) && len > WS_MAX_CONTROL)
		return 0;
	h = ws_frame_header_len(len);
	total = h + len;
	if (total > outsz)
		return total;
	/* memmove: the payload may already sit in out (e.g. at out + h). */
	if (len > 0)
		memmove(o + h, payload, len);
	ws_frame_header(o, opcode, 1, len);
	return total;
}

size_t
ws_close_payload(unsigned char *out, uint16_t code, const char *reason)
{
	size_t	 rlen = reason == NULL ? 0 : strlen(reason);

	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (rlen > WS_MAX_CONTROL - 2) {
		rlen = WS_MAX_CONTROL - 2;
		/* Do not cut a UTF-8 sequence: back off to a lead byte. */
		while (rlen > 0 &&
		    ((unsigned char)reason[rlen] & 0xc0) == 0x80)
			rlen--;
	}
	if (rlen > 0)
		memcpy(out + 2, reason, rlen);
	return 2 + rlen;
}
