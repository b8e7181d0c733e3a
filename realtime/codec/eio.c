/*
 * eio.c: Engine.IO v4 packet and payload codec, and bounded base64.
 * Pure functions over byte buffers: no sockets, no Redis, no allocation.
 * Called by the WebSocket transport (one packet per frame) and the
 * polling transport (bodies split on 0x1e, responses joined), by t/eio.c
 * and the fuzzer t/fuzz/eio.c.
 * Spec: Engine.IO protocol v4, "Protocol", "Handshake" and "Packet
 * encoding"; RFC 4648 section 4 (base64).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "realtime/codec/eio.h"

static const char b64enc[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *const types[EIO__MAX] = {
	"open", "close", "ping", "pong", "message", "upgrade", "noop"
};

/*
 * Base64
 */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t
eio_base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
eio_base64_encode(char *out, const void *in, size_t n)
{
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	unsigned		 v;

	for (i = 0; n - i >= 3; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64enc[v >> 18];
		out[o++] = b64enc[(v >> 12) & 63];
		out[o++] = b64enc[(v >> 6) & 63];
		out[o++] = b64enc[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		out[o++] = b64enc[v >> 18];
		out[o++] = b64enc[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = b64enc[v >> 18];
		out[o++] = b64enc[(v >> 12) & 63];
		out[o++] = b64enc[(v >> 6) & 63];
		out[o++] = '=';
	}
	return o;
}

size_t
eio_base64_declen(size_t n)
{
	return n / 4 * 3 + 2;
}

/*
 * Length of the base64 text without padding, or -1 if the padding or
 * length is wrong.  n % 4 == 1 can never be valid.
 */
static ssize_t
b64_unpadded(const char *in, size_t n)
{
	if (n >= 1 && in[n - 1] == '=') {
		if (n % 4 != 0)
			return -1;
		n--;
		if (in[n - 1] == '=')
			n--;
	}
	if (n % 4 == 1)
		return -1;
	return (ssize_t)n;
}

ssize_t
eio_base64_decode(void *out, size_t outsz, const char *in, size_t n)
{
	unsigned char	*o = out;
	ssize_t		 un;
	size_t		 i, k = 0, need;
	unsigned	 v = 0;
	int		 d, bits = 0;

	if ((un = b64_unpadded(in, n)) < 0)
		return -1;
	need = (size_t)un / 4 * 3 + ((size_t)un % 4 == 0 ? 0 :
	    (size_t)un % 4 - 1);
	if (need > outsz)
		return -1;
	/* k <= i * 3 / 4 < i: writing in place over "in" is safe. */
	for (i = 0; i < (size_t)un; i++) {
		if ((d = b64val((unsigned char)in[i])) < 0)
			return -1;
		v = (v << 6 | (unsigned)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (unsigned char)(v >> bits);
		}
	}
	return (ssize_t)k;
}

/* Alphabet and padding check without decoding. */
static int
b64_check(const char *in, size_t n)
{
	ssize_t	 un;
	size_t	 i;

	if ((un = b64_unpadded(in, n)) < 0)
		return -1;
	for (i = 0; i < (size_t)un; i++)
		if (b64val((unsigned char)in[i]) < 0)
			return -1;
	return 0;
}

/*
 * Packets
 */

int
eio_packet_decode(const char *buf, size_t len, int ws_binary,
    struct eio_packet *pkt, const char **why)
{
	memset(pkt, 0, sizeof(*pkt));
	if (ws_binary) {
		pkt->type = EIO_MESSAGE;
		pkt->binary = 1;
		pkt->data = buf;
		pkt->len = len;
		return 0;
	}
	if (len == 0) {
		*why = "empty packet";
		return -1;
	}
	if (buf[0] == 'b') {
		if (b64_check(buf + 1, len - 1) == -1) {
			*why = "bad base64 in binary packet";
			return -1;
		}
		pkt->type = EIO_MESSAGE;
		pkt->binary = 1;
		pkt->base64 = 1;
	} else if (buf[0] >= '0' && buf[0] < '0' + EIO__MAX)
		pkt->type = (enum eio_type)(buf[0] - '0');
	else {
		*why = "unknown packet type";
		return -1;
	}
	pkt->data = buf + 1;
	pkt->len = len - 1;
	return 0;
}

int
eio_payload_split(const char *buf, size_t len, size_t max_payload,
    struct eio_span *out, size_t outsz, const char **why)
{
	const char	*sep;
	size_t		 pos = 0, end, n = 0;

	if (max_payload == 0)
		max_payload = EIO_MAX_PAYLOAD;
	if (len > max_payload) {
		*why = "payload too large";
		return -1;
	}
	for (;;) {
		if (n == outsz || n == EIO_MAX_PACKETS) {
			*why = "too many packets";
			return -1;
		}
		sep = memchr(buf + pos, 0x1e, len - pos);
		end = sep == NULL ? len : (size_t)(sep - buf);
		if (end == pos) {
			*why = "empty packet";
			return -1;
		}
		out[n].p = buf + pos;
		out[n++].len = end - pos;
		if (sep == NULL)
			return (int)n;
		pos = end + 1;
	}
}

int
eio_payload_next(const char *buf, size_t len, size_t *pos,
    struct eio_span *out, const char **why)
{
	const char	*sep;
	size_t		 end;

	/* After the last packet *pos is len + 1. */
	if (*pos > len)
		return 0;
	sep = memchr(buf + *pos, 0x1e, len - *pos);
	end = sep == NULL ? len : (size_t)(sep - buf);
	if (end == *pos) {
		*why = "empty packet";
		return -1;
	}
	out->p = buf + *pos;
	out->len = end - *pos;
	*pos = end + 1;
	return 1;
}

size_t
eio_payload_join(char *out, size_t outsz, const struct eio_item *it,
    size_t n)
{
	size_t	 i, total = 0, o = 0;

	for (i = 0; i < n; i++) {
		if (i > 0)
			total++;
		total += it[i].binary ? 1 + eio_base64_len(it[i].len) :
		    it[i].len;
	}
	if (total > outsz)
		return total;
	for (i = 0; i < n; i++) {
		if (i > 0)
			out[o++] = 0x1e;
		if (it[i].binary) {
			out[o++] = 'b';
			o += eio_base64_encode(out + o, it[i].p, it[i].len);
		} else if (it[i].len > 0) {
			memcpy(out + o, it[i].p, it[i].len);
			o += it[i].len;
		}
	}
	return total;
}

size_t
eio_packet_encode(char *out, size_t outsz, enum eio_type type,
    const void *data, size_t len)
{
	if ((unsigned)type >= EIO__MAX)
		return 0;
	if (1 + len > outsz)
		return 1 + len;
	out[0] = (char)('0' + type);
	if (len > 0)
		memcpy(out + 1, data, len);
	return 1 + len;
}

size_t
eio_packet_encode_b64(char *out, size_t outsz, const void *data, size_t len)
{
	size_t	 total = 1 + eio_base64_len(len);

	if (total > outsz)
		return total;
	out[0] = 'b';
	eio_base64_encode(out + 1, data, len);
	return total;
}

size_t
eio_handshake(char *out, size_t outsz, const char *sid, int upgrade,
    unsigned ping_interval, unsigned ping_timeout, size_t max_payload)
{
	char	 buf[256];
	size_t	 i, sidlen;
	int	 n;

	sidlen = strnlen(sid, EIO_MAX_SID + 1);
	if (sidlen == 0 || sidlen > EIO_MAX_SID)
		return 0;
	for (i = 0; i < sidlen; i++)
		if (!((sid[i] >= 'A' && sid[i] <= 'Z') ||
		    (sid[i] >= 'a' && sid[i] <= 'z') ||
		    (sid[i] >= '0' && sid[i] <= '9') ||
		    sid[i] == '-' || sid[i] == '_'))
			return 0;
	n = snprintf(buf, sizeof(buf), "0{\"sid\":\"%s\",\"upgrades\":[%s],"
	    "\"pingInterval\":%u,\"pingTimeout\":%u,\"maxPayload\":%zu}",
	    sid, upgrade ? "\"websocket\"" : "", ping_interval, ping_timeout,
	    max_payload);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return 0;
	if ((size_t)n < outsz)
		memcpy(out, buf, (size_t)n + 1);
	else if ((size_t)n == outsz)
		memcpy(out, buf, (size_t)n);
	return (size_t)n;
}

const char *
eio_type_str(enum eio_type t)
{
	return (unsigned)t < EIO__MAX ? types[t] : "unknown";
}
