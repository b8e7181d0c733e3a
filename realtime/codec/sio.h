/*
 * sio.h: Socket.IO v5 packet codec (the default socket.io-parser format):
 *   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
 * No I/O.  Payloads are Jansson values.  The Engine.IO "4" (message)
 * prefix is not part of these packets: callers add or strip it.
 *
 * Binary values.  Jansson has no binary type, so a binary value (a Node
 * Buffer on the client) is a JSON object with the single key SIO_BIN_KEY
 * whose value is a Jansson string holding the raw bytes (any bytes,
 * NUL too).  SIO_BIN_KEY is not valid UTF-8, so no JSON text a client
 * sends can forge one.  Make them with sio_bin_new(), test and read them
 * with sio_bin_get().  Decoding a BINARY_* packet leaves the
 * {"_placeholder":true,"num":N} objects in data until the N attachments
 * arrive and sio_packet_attach() swaps them for binary values;
 * sio_packet_encode() does the reverse.
 */
#ifndef RT_CODEC_SIO_H
#define RT_CODEC_SIO_H

#include <stddef.h>	/* size_t */
#include <stdint.h>	/* int64_t */
#include <sys/types.h>	/* ssize_t */

#include <jansson.h>

#define SIO_MAX_DEPTH		32	/* JSON nesting (arrays + objects) */
#define SIO_MAX_ATTACHMENTS	32	/* binary attachments per packet */
#define SIO_MAX_NSP		256	/* bytes of a namespace, '/' incl. */
/* 2^53-1: exact in JS */
#define SIO_MAX_ACK_ID		INT64_C(9007199254740991)
#define SIO_BIN_KEY		"\xff" "bin"	/* see above */

enum	sio_type { SIO_CONNECT = 0, SIO_DISCONNECT, SIO_EVENT, SIO_ACK,
	SIO_CONNECT_ERROR, SIO_BINARY_EVENT, SIO_BINARY_ACK, SIO__MAX };

struct	sio_span {
	const char	*p;	/* borrowed */
	size_t		 len;
};

/*
 * A decoded packet.  The struct is the caller's (stack is fine); nsp
 * points into the input buffer (or a static "/"), data is owned: release
 * with sio_packet_clear().
 */
struct	sio_packet {
	enum sio_type	 type;
	const char	*nsp;		/* namespace, "/" if none given */
	size_t		 nsp_len;	/* not NUL-terminated when from input */
	int64_t		 id;		/* ack id, -1 if none */
	unsigned	 attachments;	/* declared count (BINARY_* only) */
	json_t		*data;		/* owned; NULL if no payload */
};

/*
 * Decode one packet (without the Engine.IO "4").  Validates per type:
 *   CONNECT        payload absent or an object; no ack id
 *   DISCONNECT     no payload, no ack id
 *   EVENT/BIN_EV   a non-empty array whose first element is a string
 *                  event name, not a reserved one ("connect",
 *                  "connect_error", "disconnect", "disconnecting",
 *                  "newListener", "removeListener"); ack id optional
 *   ACK/BIN_ACK    an array (may be empty); ack id mandatory
 *   CONNECT_ERROR  an object or a string; no ack id
 * and: type digit 0-6; attachments "N-" only on BINARY_* (1..
 * SIO_MAX_ATTACHMENTS), each of 0..N-1 referenced by a placeholder
 * {"_placeholder":true,"num":i} and no other num; namespace "/..." up
 * to ',' (or the end), at most SIO_MAX_NSP bytes, no control bytes; ack
 * id digits <= SIO_MAX_ACK_ID;
 * JSON nesting <= SIO_MAX_DEPTH; no trailing bytes; JSON strings free of
 * NUL.  Returns 0, or -1 and *why (static text): the server should then
 * close the connection.  On -1, p->data is NULL.
 */
int	 sio_packet_decode(struct sio_packet *, const char *, size_t,
	    const char **why);
void	 sio_packet_clear(struct sio_packet *);

/* Namespace equality: 1 if p's namespace is the NUL-terminated nsp. */
int	 sio_packet_nsp_is(const struct sio_packet *, const char *nsp);
/* Event name of an EVENT/BINARY_EVENT (borrowed from data), else NULL. */
const char
	*sio_packet_event(const struct sio_packet *);

/*
 * Reconstruct a BINARY_* packet once its attachments (p->attachments of
 * them, in order) have arrived: each placeholder {"_placeholder":true,
 * "num":N} in p->data becomes a binary value holding a copy of bufs[N].
 * n must equal p->attachments; every placeholder must be well-formed
 * with N < n.  Returns 0, or -1 and *why (p->data then is unchanged or
 * partly replaced: drop the packet).
 */
int	 sio_packet_attach(struct sio_packet *, const struct sio_span *bufs,
	    size_t n, const char **why);

/* A new binary value holding a copy of len bytes; NULL on ENOMEM. */
json_t	*sio_bin_new(const void *, size_t);
/* 1 if v is a binary value (then *p, *len borrowed from v), else 0. */
int	 sio_bin_get(const json_t *v, const void **p, size_t *len);
/* 1 if v holds a binary value at any depth (<= SIO_MAX_DEPTH). */
int	 sio_has_binary(const json_t *v);

/*
 * Packet header: "<type>[<natt>-][<nsp>,][<id>]" where natt is written
 * for BINARY_* types only, nsp only if not NULL and not "/", id only if
 * >= 0.  Returns the size; writes only if it fits outsz (no NUL).
 */
size_t	 sio_header_encode(char *out, size_t outsz, enum sio_type,
	    const char *nsp, unsigned natt, int64_t id);

/*
 * Encode a whole packet: header + compact JSON of data (data may be NULL
 * for no payload).  If data holds binary values, EVENT becomes
 * BINARY_EVENT and ACK becomes BINARY_ACK, each binary value is written
 * as a placeholder and att[0..*natt) receives spans of the bytes (borrowed
 * from data: keep data alive until sent), to send after the packet, one
 * per Engine.IO binary message.  att may be NULL when data has no binary.
 * Returns the packet size (writes it only if it fits outsz; a NUL is
 * added if there is room), or -1 on error (more than attsz or
 * SIO_MAX_ATTACHMENTS binaries, too deep, ENOMEM).
 */
ssize_t	 sio_packet_encode(char *out, size_t outsz, enum sio_type,
	    const char *nsp, int64_t id, const json_t *data,
	    struct sio_span *att, size_t attsz, size_t *natt);

/*
 * Shorthands over sio_packet_encode(), same return convention.
 * sio_encode_event: EVENT ["name", ...args] (args an array or NULL).
 * sio_encode_ack: ACK with args (an array or NULL for []).
 * sio_encode_connect: 0{"sid":"..."} / 0/nsp,{"sid":"..."}.
 * sio_encode_connect_error: 4{"message":"...","data":...} (data may be
 *   NULL: then no "data" key).
 * sio_encode_disconnect: 1 / 1/nsp,
 */
ssize_t	 sio_encode_event(char *out, size_t outsz, const char *nsp,
	    int64_t id, const char *name, const json_t *args,
	    struct sio_span *att, size_t attsz, size_t *natt);
ssize_t	 sio_encode_ack(char *out, size_t outsz, const char *nsp,
	    int64_t id, const json_t *args, struct sio_span *att, size_t attsz,
	    size_t *natt);
ssize_t	 sio_encode_connect(char *out, size_t outsz, const char *nsp,
	    const char *sid);
ssize_t	 sio_encode_connect_error(char *out, size_t outsz, const char *nsp,
	    const char *message, const json_t *data);
ssize_t	 sio_encode_disconnect(char *out, size_t outsz, const char *nsp);

/* "CONNECT", "EVENT", ...; "UNKNOWN" past SIO__MAX. */
const char
	*sio_type_str(enum sio_type);

#endif /* !RT_CODEC_SIO_H */
