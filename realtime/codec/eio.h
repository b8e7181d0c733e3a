/*
 * eio.h: Engine.IO v4 packet and payload codec, plus bounded base64.
 * Pure functions over byte buffers: no sockets, no allocation.  Decoders
 * return spans into the input; encoders write into caller buffers,
 * snprintf-style (they return the size needed and write only if it fits).
 */
#ifndef RT_CODEC_EIO_H
#define RT_CODEC_EIO_H

#include <stddef.h>	/* size_t */
#include <sys/types.h>	/* ssize_t */

#define EIO_MAX_PAYLOAD		1000000	/* bytes per polling body: maxPayload */
#define EIO_MAX_PACKETS		64	/* packets per polling body */
#define EIO_PING_INTERVAL	25000	/* ms, handshake default */
#define EIO_PING_TIMEOUT	20000	/* ms, handshake default */
#define EIO_MAX_SID		64	/* bytes of a session id */

enum	eio_type { EIO_OPEN = 0, EIO_CLOSE, EIO_PING, EIO_PONG,
	EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP, EIO__MAX };

struct	eio_span {
	const char	*p;	/* borrowed: points into the caller's buffer */
	size_t		 len;
};

/*
 * One decoded packet.  For text, data is the payload after the type
 * digit.  For binary (a WebSocket binary frame, or a polling "b<base64>"
 * packet), type is EIO_MESSAGE and binary is 1; base64 is 1 when data is
 * still base64 text (polling): decode it with eio_base64_decode() (which
 * may write in place over data, into a writable copy of the body).
 */
struct	eio_packet {
	enum eio_type	 type;
	int		 binary;	/* payload is binary data */
	int		 base64;	/* data is base64 text to decode */
	const char	*data;		/* borrowed: points into the input */
	size_t		 len;
};

/*
 * Decode one packet.  ws_binary is 1 for the payload of a WebSocket
 * binary frame (raw bytes, a message), 0 for a text frame or a polling
 * packet.  Returns 0, or -1 and *why (empty packet, unknown type, bad
 * base64 alphabet/length).
 */
int	 eio_packet_decode(const char *, size_t, int ws_binary,
	    struct eio_packet *, const char **why);

/*
 * Split a polling body ("4hi\x1e" "2probe") into packets, reading at most
 * len bytes (no NUL needed).  Refuses bodies over max_payload bytes
 * (EIO_MAX_PAYLOAD if 0), more than min(outsz, EIO_MAX_PACKETS) packets,
 * and empty packets (so also a leading or trailing separator).  Returns
 * the count, or -1 and *why.
 */
int	 eio_payload_split(const char *, size_t, size_t max_payload,
	    struct eio_span *, size_t outsz, const char **why);

/*
 * Iterate over a polling body without a packet count cap (the byte cap
 * is the caller's): *pos starts at 0.  Returns 1 and the next packet in
 * *out, 0 when the body is done, or -1 and *why for an empty packet
 * (empty body, leading, trailing or doubled separator).
 */
int	 eio_payload_next(const char *, size_t, size_t *pos,
	    struct eio_span *out, const char **why);

/*
 * One queued outgoing packet for eio_payload_join(): if binary is 0, p is
 * an encoded text packet ("4hello", "3", "6"); if 1, p is the raw bytes
 * of a binary message, sent as "b" + base64.
 */
struct	eio_item {
	const void	*p;	/* borrowed */
	size_t		 len;
	int		 binary;
};

/*
 * Join packets into a polling response body, separated by 0x1e.  Returns
 * the body size; writes it only if it fits outsz (call with outsz 0 to
 * size it).  Does not cut at maxPayload: the caller chooses how many.
 */
size_t	 eio_payload_join(char *out, size_t outsz, const struct eio_item *,
	    size_t n);

/*
 * Encode one text packet: type digit then data (may be NULL/0).  Returns
 * the size (1 + len); writes only if it fits.
 */
size_t	 eio_packet_encode(char *out, size_t outsz, enum eio_type,
	    const void *data, size_t len);
/* A binary message for polling: "b" + base64.  Same conventions. */
size_t	 eio_packet_encode_b64(char *out, size_t outsz, const void *data,
	    size_t len);

/*
 * The open packet: 0{"sid":"...","upgrades":["websocket"],
 * "pingInterval":N,"pingTimeout":N,"maxPayload":N}.  upgrade is 1 to
 * offer "websocket" (polling sessions), 0 for "[]" (WebSocket sessions).
 * The sid must be 1..EIO_MAX_SID bytes of [A-Za-z0-9_-].  Returns the
 * size (writes only if it fits, NUL added if room), or 0 for a bad sid.
 */
size_t	 eio_handshake(char *out, size_t outsz, const char *sid, int upgrade,
	    unsigned ping_interval, unsigned ping_timeout, size_t max_payload);

/*
 * Base64 (RFC 4648 standard alphabet, '=' padding).
 * eio_base64_len(): encoded size of n bytes (no NUL).
 * eio_base64_encode(): writes eio_base64_len(n) bytes into out (no NUL),
 *   returns that.
 * eio_base64_decode(): decodes n chars into out (outsz bytes; out may be
 *   in, decoding in place).  Padding is optional but if present must be
 *   correct; no whitespace.  Returns the byte count, or -1 if malformed or
 *   it does not fit.  eio_base64_declen() is an upper bound for outsz.
 */
size_t	 eio_base64_len(size_t);
size_t	 eio_base64_encode(char *out, const void *, size_t);
size_t	 eio_base64_declen(size_t);
ssize_t	 eio_base64_decode(void *out, size_t outsz, const char *, size_t);

/* "open", "close", ...; "unknown" past EIO__MAX. */
const char
	*eio_type_str(enum eio_type);

#endif /* !RT_CODEC_EIO_H */
