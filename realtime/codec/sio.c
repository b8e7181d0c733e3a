/*
 * sio.c: Socket.IO v5 packet codec (socket.io-parser's default format).
 * Pure functions: no sockets, no Redis.  Called with the payload of an
 * Engine.IO message packet (after its "4"), by t/sio.c and by the fuzzer
 * t/fuzz/sio.c.  Payloads are parsed with Jansson after a linear scan
 * refuses nesting deeper than SIO_MAX_DEPTH, so hostile input cannot
 * recurse deeply; every decode error means "close the connection".
 * Spec: Socket.IO protocol v5, "Exchange protocol" and "Packet encoding".
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "realtime/codec/sio.h"

static const char *const types[SIO__MAX] = {
	"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR",
	"BINARY_EVENT", "BINARY_ACK"
};

/* Event names the server side reserves (socket.io-parser). */
static const char *const reserved[] = {
	"connect", "connect_error", "disconnect", "disconnecting",
	"newListener", "removeListener"
};

/*
 * Decoding
 */

/*
 * Nesting depth of JSON text, strings skipped.  Returns 0 if at most
 * SIO_MAX_DEPTH, -1 if deeper.  Syntax is left to Jansson.
 */
static int
depth_ok(const char *p, size_t len)
{
	size_t	 i;
	int	 depth = 0, in_str = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = 0;
			continue;
		}
		switch (p[i]) {
		case '"':
			in_str = 1;
			break;
		case '[':
		case '{':
			if (++depth > SIO_MAX_DEPTH)
				return -1;
			break;
		case ']':
		case '}':
			depth--;
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * If v is a placeholder object ({"_placeholder":true,...}), returns 1 and
 * its num in *num (-1 if num is missing or not an integer >= 0).
 */
static int
placeholder(const json_t *v, json_int_t *num)
{
	const json_t	*n;

	if (!json_is_object(v) ||
	    !json_is_true(json_object_get(v, "_placeholder")))
		return 0;
	n = json_object_get(v, "num");
	*num = json_is_integer(n) ? json_integer_value(n) : -1;
	return 1;
}

/*
 * If "c" is a placeholder: check 0 <= num < natt, mark num in *seen and,
 * when "bufs" is not NULL, make *bin a binary value of bufs[num] (else
 * *bin is NULL).  Returns 1 (a placeholder), 0 (not one), or -1 and *why.
 */
static int
placeholder_take(json_t *c, unsigned natt, const struct sio_span *bufs,
    uint64_t *seen, json_t **bin, const char **why)
{
	json_int_t	 num;

	*bin = NULL;
	if (!placeholder(c, &num))
		return 0;
	if (num < 0 || num >= (json_int_t)natt) {
		*why = "bad attachment placeholder";
		return -1;
	}
	*seen |= UINT64_C(1) << num;
	if (bufs != NULL &&
	    (*bin = sio_bin_new(bufs[num].p, bufs[num].len)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 1;
}

/*
 * Walk v (depth-bounded): check every placeholder has 0 <= num < natt,
 * mark num in *seen, and if bufs is not NULL replace each by a binary
 * value of bufs[num].  Returns 0 or -1 and *why.
 */
static int
walk_placeholders(json_t *v, unsigned natt, const struct sio_span *bufs,
    uint64_t *seen, int depth, const char **why)
{
	json_t		*c, *bin;
	void		*it;
	size_t		 i;
	int		 r;

	if (depth > SIO_MAX_DEPTH) {
		*why = "payload too deep";
		return -1;
	}
	/* Arrays and objects alike; jansson walks them with other calls. */
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++) {
			c = json_array_get(v, i);
			if ((r = placeholder_take(c, natt, bufs, seen, &bin,
			    why)) == -1)
				return -1;
			if (r == 0 && walk_placeholders(c, natt, bufs, seen,
			    depth + 1, why) == -1)
				return -1;
			if (bin != NULL &&
			    json_array_set_new(v, i, bin) == -1) {
				*why = "out of memory";
				return -1;
			}
		}
	} else if (json_is_object(v)) {
		for (it = json_object_iter(v); it != NULL;
		    it = json_object_iter_next(v, it)) {
			c = json_object_iter_value(it);
			if ((r = placeholder_take(c, natt, bufs, seen, &bin,
			    why)) == -1)
				return -1;
			if (r == 0 && walk_placeholders(c, natt, bufs, seen,
			    depth + 1, why) == -1)
				return -1;
			if (bin != NULL &&
			    json_object_iter_set_new(v, it, bin) == -1) {
				*why = "out of memory";
				return -1;
			}
		}
	}
	return 0;
}

/* Per-type payload rules; see sio.h. */
static int
valid_payload(const struct sio_packet *p, const char **why)
{
	const json_t	*d = p->data, *name;
	size_t		 i;

	switch (p->type) {
	case SIO_CONNECT:
		if (d != NULL && !json_is_object(d)) {
			*why = "CONNECT payload not an object";
			return -1;
		}
		break;
	case SIO_DISCONNECT:
		if (d != NULL) {
			*why = "DISCONNECT with a payload";
			return -1;
		}
		break;
	case SIO_EVENT:
	case SIO_BINARY_EVENT:
		if (!json_is_array(d) || json_array_size(d) == 0) {
			*why = "EVENT payload not a non-empty array";
			return -1;
		}
		name = json_array_get(d, 0);
		if (!json_is_string(name)) {
			*why = "EVENT name not a string";
			return -1;
		}
		/* Argument strings may hold U+0000 (the chat layer refuses
		 * it with an error event); a name is compared as a C string. */
		if (strlen(json_string_value(name)) !=
		    json_string_length(name)) {
			*why = "EVENT name holds NUL";
			return -1;
		}
		for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
			if (strcmp(json_string_value(name), reserved[i]) == 0) {
				*why = "EVENT name reserved";
				return -1;
			}
		break;
	case SIO_ACK:
	case SIO_BINARY_ACK:
		if (!json_is_array(d)) {
			*why = "ACK payload not an array";
			return -1;
		}
		if (p->id < 0) {
			*why = "ACK without an id";
			return -1;
		}
		break;
	case SIO_CONNECT_ERROR:
		if (!json_is_object(d) && !json_is_string(d)) {
			*why = "CONNECT_ERROR payload not an object or string";
			return -1;
		}
		break;
	default:
		*why = "unknown packet type";
		return -1;
	}
	if (p->id >= 0 && p->type != SIO_EVENT && p->type != SIO_ACK &&
	    p->type != SIO_BINARY_EVENT && p->type != SIO_BINARY_ACK) {
		*why = "ack id on a packet type without one";
		return -1;
	}
	return 0;
}

int
sio_packet_decode(struct sio_packet *p, const char *buf, size_t len,
    const char **why)
{
	const char	*comma;
	json_error_t	 jerr;
	size_t		 i = 1, start, nlen;
	unsigned	 natt;
	int64_t		 id;
	uint64_t	 seen = 0;

	memset(p, 0, sizeof(*p));
	p->nsp = "/";
	p->nsp_len = 1;
	p->id = -1;
	if (len == 0) {
		*why = "empty packet";
		goto fail;
	}
	if (buf[0] < '0' || buf[0] >= '0' + SIO__MAX) {
		*why = "unknown packet type";
		goto fail;
	}
	p->type = (enum sio_type)(buf[0] - '0');

	/* Attachment count "N-" (BINARY_* only). */
	if (p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK) {
		for (natt = 0, start = i; i < len && buf[i] >= '0' &&
		    buf[i] <= '9' && i - start < 3; i++)
			natt = natt * 10 + (unsigned)(buf[i] - '0');
		if (i == start || i >= len || buf[i] != '-' ||
		    natt == 0 || natt > SIO_MAX_ATTACHMENTS) {
			*why = "bad attachment count";
			goto fail;
		}
		p->attachments = natt;
		i++;
	}

	/* Namespace "/name," (or "/name" up to the end). */
	if (i < len && buf[i] == '/') {
		comma = memchr(buf + i, ',', len - i);
		nlen = comma == NULL ? len - i : (size_t)(comma - (buf + i));
		if (nlen > SIO_MAX_NSP) {
			*why = "namespace too long";
			goto fail;
		}
		for (start = i; start < i + nlen; start++)
			if ((unsigned char)buf[start] < 0x20 ||
			    buf[start] == 0x7f) {
				*why = "bad namespace";
				goto fail;
			}
		p->nsp = buf + i;
		p->nsp_len = nlen;
		i += nlen + (comma != NULL);
	}

	/* Ack id. */
	if (i < len && buf[i] >= '0' && buf[i] <= '9') {
		for (id = 0, start = i; i < len && buf[i] >= '0' &&
		    buf[i] <= '9'; i++) {
			if (i - start >= 16 ||
			    (id = id * 10 + (buf[i] - '0')) > SIO_MAX_ACK_ID) {
				*why = "ack id out of range";
				goto fail;
			}
		}
		p->id = id;
	}

	/* JSON payload: the rest, all of it. */
	if (i < len) {
		if (depth_ok(buf + i, len - i) == -1) {
			*why = "payload too deep";
			goto fail;
		}
		p->data = json_loadb(buf + i, len - i,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (p->data == NULL) {
			*why = "invalid JSON payload";
			goto fail;
		}
	}
	if (valid_payload(p, why) == -1)
		goto fail;
	/* Each of the N attachments must have a placeholder. */
	if (p->attachments > 0) {
		if (walk_placeholders(p->data, p->attachments, NULL, &seen, 1,
		    why) == -1)
			goto fail;
		if (seen != (UINT64_C(1) << p->attachments) - 1) {
			*why = "attachment count mismatch";
			goto fail;
		}
	}
	return 0;
fail:
	json_decref(p->data);
	p->data = NULL;
	return -1;
}

void
sio_packet_clear(struct sio_packet *p)
{
	json_decref(p->data);
	p->data = NULL;
}

int
sio_packet_nsp_is(const struct sio_packet *p, const char *nsp)
{
	size_t	 n = strlen(nsp);

	return p->nsp_len == n && memcmp(p->nsp, nsp, n) == 0;
}

const char *
sio_packet_event(const struct sio_packet *p)
{
	if (p->type != SIO_EVENT && p->type != SIO_BINARY_EVENT)
		return NULL;
	return json_string_value(json_array_get(p->data, 0));
}

int
sio_packet_attach(struct sio_packet *p, const struct sio_span *bufs,
    size_t n, const char **why)
{
	uint64_t	 seen = 0;

	if (p->type != SIO_BINARY_EVENT && p->type != SIO_BINARY_ACK) {
		*why = "not a binary packet";
		return -1;
	}
	if (n != p->attachments) {
		*why = "attachment count mismatch";
		return -1;
	}
	return walk_placeholders(p->data, p->attachments, bufs, &seen, 1,
	    why);
}

/*
 * Binary values
 */

json_t *
sio_bin_new(const void *buf, size_t len)
{
	json_t	*obj, *s;

	if ((s = json_stringn_nocheck(len ? buf : "", len)) == NULL)
		return NULL;
	if ((obj = json_object()) == NULL) {
		json_decref(s);
		return NULL;
	}
	if (json_object_set_new_nocheck(obj, SIO_BIN_KEY, s) == -1) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int
sio_bin_get(const json_t *v, const void **p, size_t *len)
{
	const json_t	*s;

	if (!json_is_object(v) || json_object_size(v) != 1 ||
	    (s = json_object_get(v, SIO_BIN_KEY)) == NULL ||
	    !json_is_string(s))
		return 0;
	*p = json_string_value(s);
	*len = json_string_length(s);
	return 1;
}

/* 1 if binary found, 0 if not, -1 if deeper than SIO_MAX_DEPTH. */
static int
has_binary(const json_t *v, int depth)
{
	const json_t	*c;
	const void	*bp;
	const char	*k;
	size_t		 i, blen;
	int		 rc;

	if (!json_is_array(v) && !json_is_object(v))
		return 0;
	if (depth > SIO_MAX_DEPTH)
		return -1;
	if (sio_bin_get(v, &bp, &blen))
		return 1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, c)
			if ((rc = has_binary(c, depth + 1)) != 0)
				return rc;
	} else {
		json_object_foreach((json_t *)v, k, c)
			if ((rc = has_binary(c, depth + 1)) != 0)
				return rc;
	}
	return 0;
}

int
sio_has_binary(const json_t *v)
{
	return has_binary(v, 1) == 1;
}

/*
 * Encoding
 */

size_t
sio_header_encode(char *out, size_t outsz, enum sio_type type,
    const char *nsp, unsigned natt, int64_t id)
{
	char	 num[32];
	size_t	 n = 0, nl = 0, need;
	int	 k;

	num[0] = (char)('0' + ((unsigned)type < SIO__MAX ? type : 0));
	n = 1;
	if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
		k = snprintf(num + n, sizeof(num) - n, "%u-", natt);
		if (k > 0 && (size_t)k < sizeof(num) - n)
			n += (size_t)k;
	}
	if (nsp != NULL && strcmp(nsp, "/") != 0 && nsp[0] != '\0')
		nl = strlen(nsp) + 1;
	need = n + nl;
	if (id >= 0)
		need += (size_t)snprintf(NULL, 0, "%lld", (long long)id);
	if (need > outsz)
		return need;
	memcpy(out, num, n);
	if (nl > 0) {
		memcpy(out + n, nsp, nl - 1);
		out[n + nl - 1] = ',';
	}
	if (id >= 0) {
		k = snprintf(num, sizeof(num), "%lld", (long long)id);
		memcpy(out + n + nl, num, (size_t)k);
	}
	return need;
}

/*
 * A copy of v with each binary value replaced by a placeholder, its
 * bytes recorded in att[*natt].  Returns a new reference or NULL.
 */
static json_t *
strip_binary(const json_t *v, struct sio_span *att, size_t attsz,
    size_t *natt, int depth)
{
	json_t		*out = NULL, *c;
	const json_t	*e;
	const void	*bp;
	const char	*k;
	size_t		 i, blen;

	if (!json_is_array(v) && !json_is_object(v))
		return json_incref((json_t *)v);
	if (depth > SIO_MAX_DEPTH)
		return NULL;
	if (sio_bin_get(v, &bp, &blen)) {
		if (att == NULL || *natt >= attsz ||
		    *natt >= SIO_MAX_ATTACHMENTS)
			return NULL;
		att[*natt].p = bp;
		att[*natt].len = blen;
		return json_pack("{s:b,s:I}", "_placeholder", 1, "num",
		    (json_int_t)(*natt)++);
	}
	if (json_is_array(v)) {
		if ((out = json_array()) == NULL)
			return NULL;
		json_array_foreach(v, i, e) {
			if ((c = strip_binary(e, att, attsz, natt,
			    depth + 1)) == NULL ||
			    json_array_append_new(out, c) == -1)
				goto fail;
		}
	} else {
		if ((out = json_object()) == NULL)
			return NULL;
		json_object_foreach((json_t *)v, k, e) {
			if ((c = strip_binary(e, att, attsz, natt,
			    depth + 1)) == NULL ||
			    json_object_set_new_nocheck(out, k, c) == -1)
				goto fail;
		}
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

ssize_t
sio_packet_encode(char *out, size_t outsz, enum sio_type type,
    const char *nsp, int64_t id, const json_t *data,
    struct sio_span *att, size_t attsz, size_t *natt)
{
	json_t		*copy = NULL;
	const json_t	*d = data;
	size_t		 nbin = 0, hlen, jlen = 0;
	ssize_t		 rc = -1;
	int		 hb = 0;

	if ((unsigned)type >= SIO__MAX)
		goto out;
	if (data != NULL && (hb = has_binary(data, 1)) == -1)
		goto out;
	if (hb) {
		if ((copy = strip_binary(data, att, attsz, &nbin, 1)) == NULL)
			goto out;
		d = copy;
		if (type == SIO_EVENT)
			type = SIO_BINARY_EVENT;
		else if (type == SIO_ACK)
			type = SIO_BINARY_ACK;
	} else if (type == SIO_BINARY_EVENT)
		type = SIO_EVENT;
	else if (type == SIO_BINARY_ACK)
		type = SIO_ACK;

	hlen = sio_header_encode(out, outsz, type, nsp, (unsigned)nbin, id);
	if (d != NULL) {
		jlen = hlen < outsz ?
		    json_dumpb(d, out + hlen, outsz - hlen,
		    JSON_COMPACT | JSON_ENCODE_ANY) :
		    json_dumpb(d, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (jlen == 0)
			goto out;
		/* Too small: the caller retries with a bigger buffer. */
		if (hlen < outsz && jlen > outsz - hlen)
			jlen = json_dumpb(d, NULL, 0,
			    JSON_COMPACT | JSON_ENCODE_ANY);
	}
	if (hlen + jlen < outsz)
		out[hlen + jlen] = '\0';
	if (natt != NULL)
		*natt = nbin;
	rc = (ssize_t)(hlen + jlen);
out:
	json_decref(copy);
	return rc;
}

ssize_t
sio_encode_event(char *out, size_t outsz, const char *nsp, int64_t id,
    const char *name, const json_t *args, struct sio_span *att,
    size_t attsz, size_t *natt)
{
	json_t	*arr;
	ssize_t	 rc = -1;

	if ((arr = json_array()) == NULL)
		return -1;
	if (json_array_append_new(arr, json_string(name)) == -1)
		goto out;
	if (args != NULL && (!json_is_array(args) ||
	    json_array_extend(arr, (json_t *)args) == -1))
		goto out;
	rc = sio_packet_encode(out, outsz, SIO_EVENT, nsp, id, arr, att,
	    attsz, natt);
out:
	json_decref(arr);
	return rc;
}

ssize_t
sio_encode_ack(char *out, size_t outsz, const char *nsp, int64_t id,
    const json_t *args, struct sio_span *att, size_t attsz, size_t *natt)
{
	json_t	*empty = NULL;
	ssize_t	 rc;

	if (id < 0 || (args != NULL && !json_is_array(args)))
		return -1;
	if (args == NULL && (args = empty = json_array()) == NULL)
		return -1;
	rc = sio_packet_encode(out, outsz, SIO_ACK, nsp, id, args, att,
	    attsz, natt);
	json_decref(empty);
	return rc;
}

ssize_t
sio_encode_connect(char *out, size_t outsz, const char *nsp, const char *sid)
{
	json_t	*obj;
	ssize_t	 rc;

	if ((obj = json_pack("{s:s}", "sid", sid)) == NULL)
		return -1;
	rc = sio_packet_encode(out, outsz, SIO_CONNECT, nsp, -1, obj, NULL,
	    0, NULL);
	json_decref(obj);
	return rc;
}

ssize_t
sio_encode_connect_error(char *out, size_t outsz, const char *nsp,
    const char *message, const json_t *data)
{
	json_t	*obj;
	ssize_t	 rc = -1;

	if ((obj = json_pack("{s:s}", "message", message)) == NULL)
		return -1;
	if (data != NULL &&
	    json_object_set_nocheck(obj, "data", (json_t *)data) == -1)
		goto out;
	rc = sio_packet_encode(out, outsz, SIO_CONNECT_ERROR, nsp, -1, obj,
	    NULL, 0, NULL);
out:
	json_decref(obj);
	return rc;
}

ssize_t
sio_encode_disconnect(char *out, size_t outsz, const char *nsp)
{
	return sio_packet_encode(out, outsz, SIO_DISCONNECT, nsp, -1, NULL,
	    NULL, 0, NULL);
}

const char *
sio_type_str(enum sio_type t)
{
	return (unsigned)t < SIO__MAX ? types[t] : "UNKNOWN";
}
