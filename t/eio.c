/*
 * t/eio.c: the Engine.IO v4 codec (realtime/codec/eio.c): every packet type,
 * binary packets over both transports, polling bodies split and joined
 * with their caps, the handshake, and base64 (RFC 4648 vectors, in-place
 * decoding, malformed input).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "realtime/codec/eio.h"

static void
test_decode(void)
{
	struct eio_packet	 p;
	const char		*why = NULL;
	char			 name[64], pkt[16];
	int			 t, ok;
	static const char	*const bad[] = { "", "7", "9", "x", "/", "B",
	    "bA", "b!!!!", "bAB=C", "bA===", "bAQ=", "b====" };
	size_t			 i;

	for (t = 0; t < EIO__MAX; t++) {
		snprintf(pkt, sizeof(pkt), "%dprobe", t);
		ok = eio_packet_decode(pkt, 6, 0, &p, &why) == 0 &&
		    p.type == (enum eio_type)t && !p.binary && p.len == 5 &&
		    memcmp(p.data, "probe", 5) == 0;
		snprintf(name, sizeof(name), "decode: %s with data",
		    eio_type_str((enum eio_type)t));
		tap_ok(ok, name);
		ok = eio_packet_decode(pkt, 1, 0, &p, &why) == 0 &&
		    p.type == (enum eio_type)t && p.len == 0;
		snprintf(name, sizeof(name), "decode: %s alone",
		    eio_type_str((enum eio_type)t));
		tap_ok(ok, name);
	}
	tap_int(eio_packet_decode("4hello", 6, 0, &p, &why), 0,
	    "decode: message");
	tap_ok(p.type == EIO_MESSAGE && p.data[0] == 'h', "decode: data span");

	tap_int(eio_packet_decode("bAQIDBA==", 9, 0, &p, &why), 0,
	    "decode: polling binary");
	tap_ok(p.type == EIO_MESSAGE && p.binary && p.base64 && p.len == 8,
	    "decode: polling binary is base64 message");
	tap_int(eio_packet_decode("b", 1, 0, &p, &why), 0,
	    "decode: empty polling binary");
	tap_int(eio_packet_decode("\x01\x02\x00\xff", 4, 1, &p, &why), 0,
	    "decode: websocket binary");
	tap_ok(p.type == EIO_MESSAGE && p.binary && !p.base64 && p.len == 4,
	    "decode: websocket binary is raw message");
	tap_int(eio_packet_decode("", 0, 1, &p, &why), 0,
	    "decode: empty websocket binary");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		snprintf(name, sizeof(name), "decode: refuses \"%s\"", bad[i]);
		tap_ok(eio_packet_decode(bad[i], strlen(bad[i]), 0, &p, &why) ==
		    -1 && why != NULL, name);
	}
	tap_str(eio_type_str(EIO__MAX), "unknown",
	    "decode: type name past max");
}

static void
test_split(void)
{
	struct eio_span	 s[EIO_MAX_PACKETS + 2];
	const char	*why = NULL;
	char		*body;
	size_t		 i;

	tap_int(eio_payload_split("4hello\x1e" "2\x1e" "4world", 15, 0, s, 8,
	    &why), 3, "split: spec example");
	tap_ok(s[0].len == 6 && memcmp(s[0].p, "4hello", 6) == 0 &&
	    s[1].len == 1 && s[1].p[0] == '2' && s[2].len == 6 &&
	    memcmp(s[2].p, "4world", 6) == 0, "split: spans");
	tap_int(eio_payload_split("4hello\x1e" "bAQIDBA==", 16, 0, s, 8, &why),
	    2, "split: with binary");
	tap_int(eio_payload_split("4x", 2, 0, s, 8, &why), 1, "split: one");
	tap_int(eio_payload_split("", 0, 0, s, 8, &why), -1,
	    "split: empty body");
	tap_int(eio_payload_split("4x\x1e", 3, 0, s, 8, &why), -1,
	    "split: trailing separator");
	tap_int(eio_payload_split("\x1e" "4x", 3, 0, s, 8, &why), -1,
	    "split: leading separator");
	tap_int(eio_payload_split("4x\x1e\x1e" "4y", 6, 0, s, 8, &why), -1,
	    "split: empty packet in the middle");
	tap_int(eio_payload_split("2\x1e" "2\x1e" "2", 5, 0, s, 2, &why), -1,
	    "split: more packets than room");
	tap_int(eio_payload_split("4hello", 6, 5, s, 8, &why), -1,
	    "split: over max_payload");
	tap_str(why, "payload too large", "split: why");
	tap_int(eio_payload_split("4hello", 6, 6, s, 8, &why), 1,
	    "split: at max_payload");

	if ((body = malloc(2 * (EIO_MAX_PACKETS + 1))) == NULL)
		abort();
	for (i = 0; i < EIO_MAX_PACKETS + 1; i++) {
		body[2 * i] = '2';
		body[2 * i + 1] = 0x1e;
	}
	tap_int(eio_payload_split(body, 2 * EIO_MAX_PACKETS - 1, 0, s,
	    EIO_MAX_PACKETS + 2, &why), EIO_MAX_PACKETS,
	    "split: EIO_MAX_PACKETS packets");
	tap_int(eio_payload_split(body, 2 * EIO_MAX_PACKETS + 1, 0, s,
	    EIO_MAX_PACKETS + 2, &why), -1, "split: one packet too many");
	free(body);
	if ((body = calloc(1, EIO_MAX_PAYLOAD + 1)) == NULL)
		abort();
	memset(body, 'a', EIO_MAX_PAYLOAD + 1);
	body[0] = '4';
	tap_int(eio_payload_split(body, EIO_MAX_PAYLOAD, 0, s, 8, &why), 1,
	    "split: 1 MB body");
	tap_int(eio_payload_split(body, EIO_MAX_PAYLOAD + 1, 0, s, 8, &why),
	    -1, "split: 1 MB + 1 body");
	free(body);
}

/* Count packets with eio_payload_next(), -1 on error. */
static int
iter(const char *body, size_t len)
{
	struct eio_span	 sp;
	const char	*why;
	size_t		 pos = 0;
	int		 n = 0, rc;

	while ((rc = eio_payload_next(body, len, &pos, &sp, &why)) == 1) {
		if (sp.len == 0 || sp.p < body || sp.p + sp.len > body + len)
			return -2;
		n++;
	}
	return rc == 0 ? n : -1;
}

static void
test_next(void)
{
	char	 body[400];
	size_t	 i;

	tap_int(iter("4hello\x1e" "2\x1e" "4world", 15), 3, "next: three");
	tap_int(iter("4x", 2), 1, "next: one");
	tap_int(iter("", 0), -1, "next: empty body");
	tap_int(iter("4x\x1e", 3), -1, "next: trailing separator");
	tap_int(iter("\x1e" "4x", 3), -1, "next: leading separator");
	tap_int(iter("4x\x1e\x1e" "4y", 6), -1, "next: doubled separator");
	tap_int(iter("\x1e", 1), -1, "next: separator only");
	for (i = 0; i < 200; i++) {
		body[2 * i] = '2';
		body[2 * i + 1] = 0x1e;
	}
	tap_int(iter(body, 399), 200, "next: 200 packets, no count cap");
}

static void
test_encode(void)
{
	char			 out[256];
	struct eio_item		 it[3];
	struct eio_span		 s[4];
	const char		*why;
	size_t			 n;

	n = eio_packet_encode(out, sizeof(out), EIO_MESSAGE, "hello", 5);
	tap_ok(n == 6 && memcmp(out, "4hello", 6) == 0, "encode: message");
	n = eio_packet_encode(out, sizeof(out), EIO_PONG, "probe", 5);
	tap_ok(n == 6 && memcmp(out, "3probe", 6) == 0, "encode: pong probe");
	n = eio_packet_encode(out, sizeof(out), EIO_NOOP, NULL, 0);
	tap_ok(n == 1 && out[0] == '6', "encode: noop");
	memset(out, 'Z', sizeof(out));
	tap_int(eio_packet_encode(out, 3, EIO_MESSAGE, "hello", 5), 6,
	    "encode: too small returns size");
	tap_ok(out[0] == 'Z', "encode: too small writes nothing");
	tap_int(eio_packet_encode(out, 10, EIO__MAX, "x", 1), 0,
	    "encode: bad type");
	n = eio_packet_encode_b64(out, sizeof(out), "\x01\x02\x03\x04", 4);
	tap_ok(n == 9 && memcmp(out, "bAQIDBA==", 9) == 0, "encode: b64");

	it[0].p = "4hello";
	it[0].len = 6;
	it[0].binary = 0;
	it[1].p = "\x01\x02\x03\x04";
	it[1].len = 4;
	it[1].binary = 1;
	it[2].p = "2";
	it[2].len = 1;
	it[2].binary = 0;
	tap_int(eio_payload_join(NULL, 0, it, 3), 6 + 1 + 9 + 1 + 1,
	    "join: sizing");
	memset(out, 'Z', sizeof(out));
	tap_int(eio_payload_join(out, 17, it, 3), 18, "join: too small");
	tap_ok(out[0] == 'Z', "join: too small writes nothing");
	n = eio_payload_join(out, sizeof(out), it, 3);
	tap_ok(n == 18 &&
	    memcmp(out, "4hello\x1e" "bAQIDBA==\x1e" "2", 18) == 0,
	    "join: bytes");
	tap_int(eio_payload_split(out, n, 0, s, 4, &why), 3,
	    "join: splits back");
	tap_int(eio_payload_join(out, sizeof(out), it, 0), 0, "join: none");
}

static void
test_handshake(void)
{
	char	 out[256];
	size_t	 n;
	const char *want = "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":"
	    "[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,"
	    "\"maxPayload\":1000000}";

	n = eio_handshake(out, sizeof(out), "lv_VI97HAXpY6yYWAAAC", 1,
	    EIO_PING_INTERVAL, EIO_PING_TIMEOUT, EIO_MAX_PAYLOAD);
	tap_int(n, strlen(want), "handshake: length");
	tap_str(out, want, "handshake: bytes");
	n = eio_handshake(out, sizeof(out), "abc-_9", 0, 300, 200, 1000);
	tap_str(out, "0{\"sid\":\"abc-_9\",\"upgrades\":[],"
	    "\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000}",
	    "handshake: no upgrades");
	tap_int(eio_handshake(out, sizeof(out), "a\"b", 1, 1, 1, 1), 0,
	    "handshake: quote in sid refused");
	tap_int(eio_handshake(out, sizeof(out), "", 1, 1, 1, 1), 0,
	    "handshake: empty sid refused");
	tap_int(eio_handshake(out, sizeof(out),
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4", 1, 1, 1, 1), 0, "handshake: 65-byte sid refused");
	memset(out, 'Z', sizeof(out));
	tap_int(eio_handshake(out, 10, "abc", 1, 1, 1, 1), strlen(
	    "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":1,"
	    "\"pingTimeout\":1,\"maxPayload\":1}"), "handshake: sizing");
	tap_ok(out[0] == 'Z', "handshake: too small writes nothing");
}

static void
test_base64(void)
{
	static const struct {
		const char	*raw, *enc;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char		 out[64], buf[300], raw[256];
	size_t		 i, n;
	ssize_t		 d;
	int		 ok_enc = 1, ok_dec = 1, ok_rt = 1, ok_nopad = 1;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = eio_base64_encode(out, v[i].raw, strlen(v[i].raw));
		if (n != strlen(v[i].enc) || memcmp(out, v[i].enc, n) != 0 ||
		    n != eio_base64_len(strlen(v[i].raw)))
			ok_enc = 0;
		d = eio_base64_decode(out, sizeof(out), v[i].enc,
		    strlen(v[i].enc));
		if (d != (ssize_t)strlen(v[i].raw) ||
		    memcmp(out, v[i].raw, (size_t)d) != 0)
			ok_dec = 0;
		/* Without padding. */
		n = strcspn(v[i].enc, "=");
		d = eio_base64_decode(out, sizeof(out), v[i].enc, n);
		if (d != (ssize_t)strlen(v[i].raw) ||
		    memcmp(out, v[i].raw, (size_t)d) != 0)
			ok_nopad = 0;
	}
	tap_ok(ok_enc, "base64: RFC 4648 vectors encode");
	tap_ok(ok_dec, "base64: RFC 4648 vectors decode");
	tap_ok(ok_nopad, "base64: unpadded decode");
	for (n = 0; n < 256; n++)
		raw[n] = (char)(n * 13 + 7);
	for (n = 0; n <= 200; n++) {
		i = eio_base64_encode(buf, raw, n);
		/* Decode in place. */
		d = eio_base64_decode(buf, eio_base64_declen(i), buf, i);
		if (d != (ssize_t)n || memcmp(buf, raw, n) != 0)
			ok_rt = 0;
	}
	tap_ok(ok_rt, "base64: in-place round trip of 0..200 bytes");
	tap_int(eio_base64_decode(out, 2, "Zm9v", 4), -1,
	    "base64: output too small");
	tap_int(eio_base64_decode(out, 3, "Zm9v", 4), 3,
	    "base64: fits exactly");
	tap_int(eio_base64_decode(out, 64, "Zm9v!", 5), -1,
	    "base64: bad length 5");
	tap_int(eio_base64_decode(out, 64, "Zm!v", 4), -1, "base64: bad char");
	tap_int(eio_base64_decode(out, 64, "Zm=v", 4), -1,
	    "base64: '=' in the middle");
	tap_int(eio_base64_decode(out, 64, "Zg=", 3), -1,
	    "base64: padding not to 4");
	tap_int(eio_base64_decode(out, 64, "Z===", 4), -1,
	    "base64: three '='");
	tap_int(eio_base64_decode(out, 64, "Zm 9v", 5), -1,
	    "base64: whitespace");
	tap_int(eio_base64_decode(out, 64, "=", 1), -1, "base64: lone '='");
	tap_int(eio_base64_decode(out, 64, "====", 4), -1, "base64: all '='");
	tap_int(eio_base64_decode(out, 0, "", 0), 0, "base64: empty");
}

int
main(void)
{
	test_decode();
	test_split();
	test_next();
	test_encode();
	test_handshake();
	test_base64();
	tap_plan(tap_n);
	return tap_done();
}
