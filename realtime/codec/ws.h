/*
 * ws.h: RFC 6455 WebSocket codec, server side.  No I/O and no allocation:
 * handshake checks and the 101 answer, frame header parser and encoder,
 * unmasking, the fragmentation state machine with size cap, an
 * incremental UTF-8 validator, close payloads.
 */
#ifndef RT_CODEC_WS_H
#define RT_CODEC_WS_H

#include <stddef.h>	/* size_t */
#include <stdint.h>	/* uint64_t, uint16_t */
#include <sys/types.h>	/* ssize_t */

#include "realtime/codec/http.h"

#define WS_MAX_HEADER		14	/* bytes of a frame header, masked */
#define WS_MAX_SERVER_HEADER	10	/* bytes of an unmasked header */
#define WS_MAX_CONTROL		125	/* payload bytes of a control frame */
#define WS_KEY_LEN		24	/* Sec-WebSocket-Key: 16 bytes base64 */
#define WS_ACCEPT_LEN		28	/* Sec-WebSocket-Accept, without NUL */

enum	ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* Close codes, RFC 6455 section 7.4.1. */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005	/* never sent: empty close payload */
#define WS_CLOSE_ABNORMAL	1006	/* never sent: connection dropped */
#define WS_CLOSE_INVALID_DATA	1007	/* e.g. bad UTF-8 in a text message */
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_EXTENSION	1010
#define WS_CLOSE_INTERNAL	1011
#define WS_CLOSE_RESTART	1012
#define WS_CLOSE_TRY_AGAIN	1013
#define WS_CLOSE_TLS		1015	/* never sent */

/*
 * Handshake.  ws_handshake_check() checks a parsed request for a valid
 * version-13 upgrade: GET, HTTP/1.1, "Upgrade: websocket", "Connection"
 * with the "upgrade" token, "Sec-WebSocket-Version: 13" and a key that
 * decodes to 16 bytes.  Returns 0, or -1 and *why (answer 400; a wrong
 * version should get "Sec-WebSocket-Version: 13" too: *why says so).
 */
int	 ws_handshake_check(const struct http_request *, const char **why);

/*
 * Sec-WebSocket-Accept for a client key (base64 of SHA-1 of key + GUID),
 * written NUL-terminated in out.  The key is a NUL-terminated string,
 * trimmed; it must be 24 base64 characters decoding to 16 bytes.
 * Returns 0, or -1 for a bad key.
 */
int	 ws_accept_key(const char *client_key, char out[WS_ACCEPT_LEN + 1]);
int	 ws_accept_key_span(const char *key, size_t keylen,
	    char out[WS_ACCEPT_LEN + 1]);

/*
 * The full "101 Switching Protocols" head for a client key span (from
 * http_header_get(r, "Sec-WebSocket-Key")).  Returns the length written,
 * or -1 for a bad key or if outsz is too small (256 bytes is enough).
 */
ssize_t	 ws_handshake_response(const char *key, size_t keylen, char *out,
	    size_t outsz);

/*
 * A parsed frame header.
 */
struct	ws_frame {
	unsigned	 fin;		/* 1 if final fragment */
	unsigned	 opcode;	/* enum ws_opcode */
	unsigned	 masked;	/* 1 if a masking key follows */
	unsigned char	 mask[4];	/* masking key */
	uint64_t	 len;		/* payload bytes (<= the cap given) */
	size_t		 hdr_len;	/* 2..14 header bytes: payload offset */
	/* Set when ws_frame_parse() returns -1. */
	uint16_t	 close_code;	/* WS_CLOSE_PROTOCOL/WS_CLOSE_TOO_BIG */
	const char	*why;		/* static text for logs */
};

/*
 * Parse a client frame header from the first len bytes of buf.  Returns 1
 * (header complete: f filled, payload at buf + f->hdr_len, f->len bytes,
 * possibly not all read yet), 0 (need more bytes; nothing is kept, call
 * again with more), or -1 (f->close_code and f->why set: close with it).
 * Errors: RSV bits set, unknown opcode, unmasked frame (when
 * require_mask), non-minimal length encodings are allowed, 64-bit length
 * with the top bit set, len > max_len (WS_CLOSE_TOO_BIG; checked before
 * the payload is read), control frame fragmented or > 125 bytes.
 */
int	 ws_frame_parse(struct ws_frame *, const void *buf, size_t len,
	    uint64_t max_len, int require_mask);

/*
 * Unmask (or mask) len bytes in place with the frame's key.  offset is the
 * payload position of buf[0], so a payload can be unmasked in pieces.
 * Word-at-a-time.
 */
void	 ws_unmask(void *buf, size_t len, const unsigned char mask[4],
	    uint64_t offset);

/*
 * Incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates,
 * <= U+10FFFF).  state starts at WS_UTF8_ACCEPT.  ws_utf8_feed() returns
 * 0 while valid (possibly inside a sequence) and -1 once invalid; the text
 * is complete and valid when the state is WS_UTF8_ACCEPT at its end.
 */
#define WS_UTF8_ACCEPT	0
#define WS_UTF8_REJECT	12
int	 ws_utf8_feed(uint32_t *state, const void *, size_t);
int	 ws_utf8_valid(const void *, size_t);	/* 1 if whole text valid */

/*
 * Message state machine across fragments.  Feed every frame in order,
 * after the whole frame payload is read and unmasked: ws_msg_frame()
 * checks sequencing (CONT only inside a message, TEXT/BINARY not inside
 * one; control frames may interleave), the total message size cap, and
 * UTF-8 of text messages across fragment boundaries.  The caller keeps
 * the data bytes (appending fragments) itself.  Returns
 *   WS_MSG_CONTROL  a control frame: handle it (close: ws_close_parse);
 *   WS_MSG_PART     a data fragment accepted, message not complete;
 *   WS_MSG_DONE     message complete; m->opcode is TEXT or BINARY and
 *                   m->len its total size (state is reset for the next);
 *   -1              error: m->close_code (1002, 1007, 1009), m->why.
 * Sticky: after -1 it keeps returning -1.
 */
#define WS_MSG_CONTROL	1
#define WS_MSG_PART	2
#define WS_MSG_DONE	3
struct	ws_msg {
	uint64_t	 max;		/* message cap in bytes */
	uint64_t	 len;		/* current message's bytes so far */
	uint32_t	 utf8;		/* validator state (text messages) */
	/* TEXT or BINARY; valid while in_msg or at DONE */
	unsigned	 opcode;
	unsigned	 in_msg;	/* a fragmented message is open */
	unsigned	 failed;	/* sticky error */
	uint16_t	 close_code;	/* on error */
	const char	*why;		/* on error: static text */
};

void	 ws_msg_init(struct ws_msg *, uint64_t max);
int	 ws_msg_frame(struct ws_msg *, const struct ws_frame *,
	    const void *payload, size_t len);

/*
 * Parse a close frame payload (unmasked).  Empty: *code = 1005, no
 * reason.  Returns 0, or the close code to answer with: WS_CLOSE_PROTOCOL
 * (1 byte payload, code not allowed on the wire: < 1000, 1004-1006,
 * 1015, 1016-2999, >= 5000) or WS_CLOSE_INVALID_DATA (reason not UTF-8).
 * *reason points into payload (not NUL-terminated).
 */
int	 ws_close_parse(const void *payload, size_t len, uint16_t *code,
	    const char **reason, size_t *reason_len);
/* 1 if the code may be sent in a close frame. */
int	 ws_close_code_valid(unsigned);

/*
 * Server frame encoding (never masked).  ws_frame_header() writes the
 * header for a payload of len bytes into out (at least
 * WS_MAX_SERVER_HEADER bytes) and returns its size (2, 4 or 10);
 * ws_frame_header_len() returns that size without writing.  Callers may
 * reserve WS_MAX_SERVER_HEADER bytes, write the payload after them, then
 * write the header right before the payload.
 */
size_t	 ws_frame_header_len(uint64_t len);
size_t	 ws_frame_header(unsigned char *out, unsigned opcode, int fin,
	    uint64_t len);

/*
 * A whole server frame (header + payload copy) into out.  Returns the
 * frame size; writes only if it fits outsz (snprintf-style: call with
 * outsz 0 to size it).  The payload may overlap out.  Control frames
 * with len > 125 return 0.
 */
size_t	 ws_frame_encode(void *out, size_t outsz, unsigned opcode,
	    const void *payload, size_t len);

/*
 * A close frame payload: 2-byte code + reason, reason cut to fit 125
 * bytes (at a UTF-8 boundary).  out must hold WS_MAX_CONTROL bytes.
 * Returns the payload length.
 */
size_t	 ws_close_payload(unsigned char *out, uint16_t code,
	    const char *reason);

#endif /* !RT_CODEC_WS_H */
