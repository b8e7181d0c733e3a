/*
 * t/sio.c: the Socket.IO v5 codec (realtime/codec/sio.c): every packet type
 * from the spec's examples, namespaces, ack ids, binary attachments both
 * ways, and the malformed forms the server must refuse (bad type, ack id
 * overflow, bad namespace, trailing garbage, non-array or empty EVENT,
 * number or reserved event names, invalid or too deep JSON, attachment
 * count mismatches).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "realtime/codec/sio.h"

static int
decode(struct sio_packet *p, const char *s)
{
	const char	*why = NULL;
	int		 rc;

	rc = sio_packet_decode(p, s, strlen(s), &why);
	if (rc == -1 && why == NULL)
		rc = -2;	/* an error must say why */
	return rc;
}

/* Compact JSON of p->data, or "-" for none (static buffer). */
static const char *
dump(const struct sio_packet *p)
{
	static char	 buf[1024];
	size_t		 n;

	if (p->data == NULL)
		return "-";
	n = json_dumpb(p->data, buf, sizeof(buf) - 1,
	    JSON_COMPACT | JSON_ENCODE_ANY);
	buf[n < sizeof(buf) ? n : 0] = '\0';
	return buf;
}

static void
good(const char *in, enum sio_type type, const char *nsp, long long id,
    const char *json, const char *name)
{
	struct sio_packet	 p;
	int			 ok;

	ok = decode(&p, in) == 0 && p.type == type &&
	    sio_packet_nsp_is(&p, nsp) && p.id == id &&
	    strcmp(dump(&p), json) == 0;
	if (!tap_ok(ok, name))
		printf("#   type %d nsp %.*s id %lld data %s\n", p.type,
		    (int)p.nsp_len, p.nsp, (long long)p.id, dump(&p));
	sio_packet_clear(&p);
}

static void
bad(const char *in, size_t len, const char *name)
{
	struct sio_packet	 p;
	const char		*why = NULL;
	int			 rc;

	rc = sio_packet_decode(&p, in, len, &why);
	if (!tap_ok(rc == -1 && why != NULL && p.data == NULL, name))
		printf("#   accepted: %s\n", dump(&p));
	sio_packet_clear(&p);
}

#define BAD(s, name)	bad((s), strlen(s), (name))

static void
test_decode_good(void)
{
	struct sio_packet	 p;

	good("0", SIO_CONNECT, "/", -1, "-", "decode: CONNECT /");
	good("0/admin,", SIO_CONNECT, "/admin", -1, "-",
	    "decode: CONNECT /admin");
	good("0/admin,{\"token\":\"123\"}", SIO_CONNECT, "/admin", -1,
	    "{\"token\":\"123\"}", "decode: CONNECT /admin with auth");
	good("0{\"token\":\"x\"}", SIO_CONNECT, "/", -1, "{\"token\":\"x\"}",
	    "decode: CONNECT with auth");
	good("1", SIO_DISCONNECT, "/", -1, "-", "decode: DISCONNECT");
	good("1/admin,", SIO_DISCONNECT, "/admin", -1, "-",
	    "decode: DISCONNECT /admin");
	good("1/admin", SIO_DISCONNECT, "/admin", -1, "-",
	    "decode: namespace up to the end");
	good("2[\"foo\"]", SIO_EVENT, "/", -1, "[\"foo\"]", "decode: EVENT");
	good("2[\"m\",\"a\\u0000b\"]", SIO_EVENT, "/", -1,
	    "[\"m\",\"a\\u0000b\"]", "decode: U+0000 inside an argument");
	good("2/admin,[\"bar\"]", SIO_EVENT, "/admin", -1, "[\"bar\"]",
	    "decode: EVENT /admin");
	good("212[\"foo\"]", SIO_EVENT, "/", 12, "[\"foo\"]",
	    "decode: EVENT with ack id");
	good("2/admin,1[\"tellme\"]", SIO_EVENT, "/admin", 1, "[\"tellme\"]",
	    "decode: EVENT /admin with ack id");
	good("2[\"message\",1,\"two\",{\"three\":[true,null,3.5]}]", SIO_EVENT,
	    "/", -1, "[\"message\",1,\"two\",{\"three\":[true,null,3.5]}]",
	    "decode: EVENT with mixed args");
	good("20[\"a\"]", SIO_EVENT, "/", 0, "[\"a\"]", "decode: ack id 0");
	good("29007199254740991[\"a\"]", SIO_EVENT, "/", 9007199254740991LL,
	    "[\"a\"]", "decode: ack id 2^53-1");
	good("3/admin,13[\"bar\"]", SIO_ACK, "/admin", 13, "[\"bar\"]",
	    "decode: ACK /admin");
	good("312[]", SIO_ACK, "/", 12, "[]", "decode: ACK empty array");
	good("4{\"message\":\"Not authorized\"}", SIO_CONNECT_ERROR, "/", -1,
	    "{\"message\":\"Not authorized\"}", "decode: CONNECT_ERROR");
	good("4\"Not authorized\"", SIO_CONNECT_ERROR, "/", -1,
	    "\"Not authorized\"", "decode: CONNECT_ERROR string");
	good("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT,
	    "/", -1, "[\"baz\",{\"_placeholder\":true,\"num\":0}]",
	    "decode: BINARY_EVENT");
	good("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
	    "{\"_placeholder\":true,\"num\":1}]", SIO_BINARY_EVENT, "/admin",
	    -1, "[\"baz\",{\"_placeholder\":true,\"num\":0},"
	    "{\"_placeholder\":true,\"num\":1}]",
	    "decode: BINARY_EVENT /admin two attachments");
	good("61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK,
	    "/", 15, "[\"bar\",{\"_placeholder\":true,\"num\":0}]",
	    "decode: BINARY_ACK");
	good("61-/admin,1[{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK,
	    "/admin", 1, "[{\"_placeholder\":true,\"num\":0}]",
	    "decode: BINARY_ACK from the sample session");
	good("2[\"a\",\"\\u00ffbin\"]", SIO_EVENT, "/", -1,
	    "[\"a\",\"\xc3\xbf" "bin\"]", "decode: unicode escape");

	tap_int(decode(&p, "52-[\"x\",{\"_placeholder\":true,\"num\":1},"
	    "{\"_placeholder\":true,\"num\":0}]"), 0,
	    "decode: attachment count");
	tap_int(p.attachments, 2, "decode: attachments 2");
	tap_str(sio_packet_event(&p), "x", "decode: event name");
	sio_packet_clear(&p);
	tap_ok(p.data == NULL, "decode: clear drops data");
	decode(&p, "3/x,1[]");
	tap_ok(sio_packet_event(&p) == NULL, "decode: no event name on ACK");
	tap_ok(!sio_packet_nsp_is(&p, "/"), "decode: nsp is not /");
	sio_packet_clear(&p);

	/* Client JSON cannot forge a binary value. */
	decode(&p, "2[\"a\",{\"\\u00ffbin\":\"x\"}]");
	{
		const void	*bp;
		size_t		 bl;

		tap_ok(!sio_bin_get(json_array_get(p.data, 1), &bp, &bl),
		    "decode: binary tag cannot be forged");
	}
	sio_packet_clear(&p);
}

static void
test_decode_bad(void)
{
	char	 deep[200], buf[400];
	int	 i;

	BAD("", "bad: empty");
	BAD("7", "bad: type 7");
	BAD("9[\"a\"]", "bad: type 9");
	BAD("a", "bad: type letter");
	BAD("-1", "bad: type minus");
	BAD("2", "bad: EVENT without payload");
	BAD("2[]", "bad: EVENT empty array");
	BAD("2{}", "bad: EVENT object");
	BAD("2\"foo\"", "bad: EVENT string");
	BAD("2[1]", "bad: EVENT number as name");
	BAD("2[null]", "bad: EVENT null as name");
	BAD("2[[\"a\"]]", "bad: EVENT array as name");
	BAD("2[\"connect\"]", "bad: EVENT reserved connect");
	BAD("2[\"disconnect\",1]", "bad: EVENT reserved disconnect");
	BAD("2[\"removeListener\"]", "bad: EVENT reserved removeListener");
	BAD("2[\"a\"", "bad: invalid JSON (unclosed)");
	BAD("2[\"a\",]", "bad: invalid JSON (trailing comma)");
	BAD("2['a']", "bad: invalid JSON (quotes)");
	BAD("2[\"a\"]x", "bad: trailing garbage");
	BAD("2[\"a\"][\"b\"]", "bad: two payloads");
	BAD("2[\"a\\u0000b\"]", "bad: NUL in an event name");
	bad("2[\"a\0\"]", 6, "bad: raw NUL byte");
	BAD("2[\"\xff\"]", "bad: invalid UTF-8 in JSON");
	BAD("2123x[\"a\"]", "bad: garbage after ack id");
	BAD("29007199254740992[\"a\"]", "bad: ack id 2^53");
	BAD("299999999999999999999999[\"a\"]", "bad: ack id overflow");
	BAD("3[\"a\"]", "bad: ACK without id");
	BAD("31", "bad: ACK without payload");
	BAD("31{}", "bad: ACK object");
	BAD("31\"x\"", "bad: ACK string");
	BAD("0[]", "bad: CONNECT array");
	BAD("0\"x\"", "bad: CONNECT string");
	BAD("012", "bad: CONNECT with ack id");
	BAD("012{}", "bad: CONNECT with ack id and payload");
	BAD("1{}", "bad: DISCONNECT with payload");
	BAD("11", "bad: DISCONNECT with ack id");
	BAD("4", "bad: CONNECT_ERROR without payload");
	BAD("4[]", "bad: CONNECT_ERROR array");
	BAD("5[\"a\"]", "bad: BINARY_EVENT without count");
	BAD("5-[\"a\"]", "bad: BINARY_EVENT empty count");
	BAD("51[\"a\"]", "bad: BINARY_EVENT count without '-'");
	BAD("50-[\"a\"]", "bad: BINARY_EVENT zero attachments");
	BAD("533-[\"a\",{\"_placeholder\":true,\"num\":0}]",
	    "bad: BINARY_EVENT 33 attachments");
	BAD("51000-[\"a\"]", "bad: BINARY_EVENT 4-digit count");
	BAD("5x-[\"a\"]", "bad: BINARY_EVENT letter count");
	BAD("51-[\"a\",{\"_placeholder\":true,\"num\":1}]",
	    "bad: placeholder num >= count");
	BAD("52-[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":5}]}]",
	    "bad: nested placeholder out of range");
	BAD("51-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
	    "bad: placeholder num negative");
	BAD("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]",
	    "bad: placeholder num string");
	BAD("51-[\"a\",{\"_placeholder\":true}]",
	    "bad: placeholder without num");
	BAD("61-[\"a\"]", "bad: BINARY_ACK without id");
	BAD("51-[\"a\"]", "bad: attachment without placeholder");
	BAD("52-[\"a\",{\"_placeholder\":true,\"num\":0}]",
	    "bad: attachment count mismatch (2 declared, 1 used)");
	BAD("61-1[{\"_placeholder\":false,\"num\":0}]",
	    "bad: placeholder false is no placeholder");
	BAD("2/adm\x01in,[\"a\"]", "bad: control byte in namespace");
	BAD("2/adm\x7fin,[\"a\"]", "bad: DEL in namespace");
	BAD("2/admin,x[\"a\"]", "bad: garbage after namespace");
	BAD("2admin,[\"a\"]", "bad: namespace without '/'");
	memset(buf, 'n', sizeof(buf));
	buf[0] = '2';
	buf[1] = '/';
	snprintf(buf + SIO_MAX_NSP + 2, sizeof(buf) - SIO_MAX_NSP - 2,
	    ",[\"a\"]");
	BAD(buf, "bad: namespace of SIO_MAX_NSP + 1 bytes");
	buf[SIO_MAX_NSP + 1] = ',';
	{
		struct sio_packet	 p;

		tap_int(decode(&p, buf + 0), -1,
		    "bad: stray comma before payload");
		buf[SIO_MAX_NSP + 1] = ',';
		buf[SIO_MAX_NSP + 2] = '[';
		buf[SIO_MAX_NSP + 3] = '"';
		buf[SIO_MAX_NSP + 4] = 'a';
		buf[SIO_MAX_NSP + 5] = '"';
		buf[SIO_MAX_NSP + 6] = ']';
		buf[SIO_MAX_NSP + 7] = '\0';
		tap_int(decode(&p, buf), 0, "good: namespace of SIO_MAX_NSP "
		    "bytes");
		tap_int(p.nsp_len, SIO_MAX_NSP, "good: namespace length");
		sio_packet_clear(&p);
	}

	/* Depth: 32 levels pass, 33 do not. */
	deep[0] = '2';
	deep[1] = '[';
	deep[2] = '"';
	deep[3] = 'a';
	deep[4] = '"';
	deep[5] = ',';
	for (i = 0; i < SIO_MAX_DEPTH - 1; i++)
		deep[6 + i] = '[';
	for (i = 0; i < SIO_MAX_DEPTH; i++)
		deep[6 + SIO_MAX_DEPTH - 1 + i] = ']';
	deep[6 + 2 * SIO_MAX_DEPTH - 1] = '\0';
	{
		struct sio_packet	 p;

		tap_int(decode(&p, deep), 0, "depth: 32 levels pass");
		sio_packet_clear(&p);
	}
	for (i = 0; i < SIO_MAX_DEPTH; i++)
		deep[6 + i] = '[';
	for (i = 0; i < SIO_MAX_DEPTH + 1; i++)
		deep[6 + SIO_MAX_DEPTH + i] = ']';
	deep[6 + 2 * SIO_MAX_DEPTH + 1] = '\0';
	BAD(deep, "depth: 33 levels refused");
	BAD("2[\"a\",{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":"
	    "{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{\"q\":{\"r\":"
	    "{\"s\":{\"t\":{\"u\":{\"v\":{\"w\":{\"x\":{\"y\":{\"z\":{\"A\":"
	    "{\"B\":{\"C\":{\"D\":{\"E\":{\"F\":1}}}}}}}}}}}}}}}}}}}}}}"
	    "}}}}}}}}}}]",
	    "depth: 33 levels of objects refused");
	BAD("2[\"a\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]"
	    "x", "depth: brackets in strings do not count (but garbage does)");
	{
		struct sio_packet	 p;

		tap_int(decode(&p, "2[\"a\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		    "[[[[[[\\\"[[[[[\"]"), 0,
		    "depth: brackets and escaped quotes in strings ignored");
		sio_packet_clear(&p);
	}
	BAD("2[\"a\",[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	    "depth: unclosed deep brackets");
}

static void
test_attach(void)
{
	struct sio_packet	 p;
	struct sio_span		 bufs[2];
	const char		*why = NULL;
	const void		*bp;
	size_t			 bl;
	json_t			*inner;

	bufs[0].p = "\x01\x02\x00\x04";
	bufs[0].len = 4;
	bufs[1].p = "\xff";
	bufs[1].len = 1;
	tap_int(decode(&p, "52-[\"baz\",{\"_placeholder\":true,\"num\":0},"
	    "{\"x\":{\"_placeholder\":true,\"num\":1}},"
	    "{\"_placeholder\":true,\"num\":0}]"), 0, "attach: decoded");
	tap_int(sio_packet_attach(&p, bufs, 1, &why), -1,
	    "attach: count mismatch refused");
	tap_int(sio_packet_attach(&p, bufs, 2, &why), 0, "attach: attached");
	tap_ok(sio_bin_get(json_array_get(p.data, 1), &bp, &bl) && bl == 4 &&
	    memcmp(bp, "\x01\x02\x00\x04", 4) == 0, "attach: first buffer");
	inner = json_object_get(json_array_get(p.data, 2), "x");
	tap_ok(sio_bin_get(inner, &bp, &bl) && bl == 1 &&
	    ((const unsigned char *)bp)[0] == 0xff,
	    "attach: nested buffer in an object");
	tap_ok(sio_bin_get(json_array_get(p.data, 3), &bp, &bl) && bl == 4,
	    "attach: buffer used twice");
	tap_ok(sio_has_binary(p.data), "attach: has binary");
	sio_packet_clear(&p);

	decode(&p, "2[\"a\"]");
	tap_int(sio_packet_attach(&p, bufs, 0, &why), -1,
	    "attach: not a binary packet");
	tap_ok(!sio_has_binary(p.data), "attach: no binary");
	sio_packet_clear(&p);
}

static void
enc(ssize_t n, const char *out, const char *want, const char *name)
{
	if (n < 0) {
		tap_ok(0, name);
		printf("#   encode failed\n");
		return;
	}
	tap_str(out, want, name);
	if ((size_t)n != strlen(want))
		printf("#   length %zd\n", n);
}

static void
test_encode(void)
{
	char		 out[512];
	json_t		*args, *data, *bin;
	struct sio_span	 att[4];
	size_t		 natt = 99;
	ssize_t		 n;
	struct sio_packet p;
	const char	*why;
	const void	*bp;
	size_t		 bl;

	enc(sio_encode_connect(out, sizeof(out), "/", "abc"), out,
	    "0{\"sid\":\"abc\"}", "encode: CONNECT reply");
	enc(sio_encode_connect(out, sizeof(out), "/custom", "abc"), out,
	    "0/custom,{\"sid\":\"abc\"}", "encode: CONNECT reply /custom");
	enc(sio_encode_connect(out, sizeof(out), NULL, "a\"b"), out,
	    "0{\"sid\":\"a\\\"b\"}", "encode: CONNECT sid escaped");
	data = json_pack("{s:i}", "code", 401);
	enc(sio_encode_connect_error(out, sizeof(out), "/", "Unauthorized",
	    data), out, "4{\"message\":\"Unauthorized\","
	    "\"data\":{\"code\":401}}", "encode: CONNECT_ERROR with data");
	json_decref(data);
	enc(sio_encode_connect_error(out, sizeof(out), "/x", "Invalid "
	    "namespace", NULL), out, "4/x,{\"message\":\"Invalid namespace\"}",
	    "encode: CONNECT_ERROR /x");
	enc(sio_encode_disconnect(out, sizeof(out), "/"), out, "1",
	    "encode: DISCONNECT");
	enc(sio_encode_disconnect(out, sizeof(out), "/admin"), out,
	    "1/admin,", "encode: DISCONNECT /admin");

	args = json_pack("[s]", "Jude");
	enc(sio_encode_event(out, sizeof(out), NULL, -1, "hey", args, NULL, 0,
	    NULL), out, "2[\"hey\",\"Jude\"]", "encode: EVENT");
	enc(sio_encode_event(out, sizeof(out), "/admin", 12, "foo", NULL,
	    NULL, 0, NULL), out, "2/admin,12[\"foo\"]",
	    "encode: EVENT /admin with ack id");
	enc(sio_encode_ack(out, sizeof(out), "/admin", 13, args, NULL, 0,
	    NULL), out, "3/admin,13[\"Jude\"]", "encode: ACK /admin");
	enc(sio_encode_ack(out, sizeof(out), NULL, 12, NULL, NULL, 0, NULL),
	    out, "312[]", "encode: ACK empty");
	tap_int(sio_encode_ack(out, sizeof(out), NULL, -1, NULL, NULL, 0,
	    NULL), -1, "encode: ACK without id refused");
	json_decref(args);

	/* Sizing, and no overflow when too small. */
	memset(out, 'Z', sizeof(out));
	n = sio_encode_connect(out, 5, "/custom", "abc");
	tap_int(n, 22, "encode: too small returns the size");
	tap_ok(out[5] == 'Z', "encode: nothing past outsz");
	n = sio_encode_connect(out, 22, "/custom", "abc");
	tap_ok(n == 22 && memcmp(out, "0/custom,{\"sid\":\"abc\"}", 22) == 0,
	    "encode: exact fit (no NUL)");
	tap_int(sio_header_encode(out, sizeof(out), SIO_BINARY_ACK, "/a", 2,
	    7), 7, "encode: header length");
	tap_ok(memcmp(out, "62-/a,7", 7) == 0, "encode: header bytes");

	/* Binary: placeholders out, attachments listed. */
	bin = sio_bin_new("\x01\x02\x03\x04", 4);
	args = json_array();
	json_array_append_new(args, bin);
	n = sio_encode_event(out, sizeof(out), NULL, -1, "baz", args, att, 4,
	    &natt);
	enc(n, out, "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]",
	    "encode: BINARY_EVENT");
	tap_ok(natt == 1 && att[0].len == 4 &&
	    memcmp(att[0].p, "\x01\x02\x03\x04", 4) == 0,
	    "encode: attachment span");
	json_array_append_new(args, json_pack("{s:o}", "k",
	    sio_bin_new("\xff\x00", 2)));
	n = sio_encode_ack(out, sizeof(out), "/admin", 15, args, att, 4, &natt);
	enc(n, out, "62-/admin,15[{\"_placeholder\":true,\"num\":0},"
	    "{\"k\":{\"_placeholder\":true,\"num\":1}}]",
	    "encode: BINARY_ACK two attachments");
	tap_ok(natt == 2 && att[1].len == 2 && att[1].p[0] == '\xff',
	    "encode: second attachment");
	tap_int(sio_encode_ack(out, sizeof(out), "/", 1, args, att, 1, &natt),
	    -1, "encode: attachments beyond attsz refused");
	tap_int(sio_encode_ack(out, sizeof(out), "/", 1, args, NULL, 0, &natt),
	    -1, "encode: binary without att refused");
	tap_ok(sio_bin_get(json_array_get(args, 0), &bp, &bl) && bl == 4,
	    "encode: data left unchanged");

	/* Round trip: encode, decode, attach. */
	n = sio_encode_ack(out, sizeof(out), "/admin", 15, args, att, 4, &natt);
	tap_int(sio_packet_decode(&p, out, (size_t)n, &why), 0,
	    "round trip: decoded");
	tap_int(sio_packet_attach(&p, att, natt, &why), 0,
	    "round trip: attached");
	tap_ok(json_equal(p.data, args), "round trip: equal data");
	sio_packet_clear(&p);
	json_decref(args);

	/* BINARY_* without binary is downgraded. */
	args = json_pack("[s]", "x");
	enc(sio_packet_encode(out, sizeof(out), SIO_BINARY_EVENT, "/", -1,
	    args, att, 4, &natt), out, "2[\"x\"]",
	    "encode: BINARY_EVENT without binary is EVENT");
	tap_int(natt, 0, "encode: no attachments");
	json_decref(args);

	/* Too deep data refused. */
	data = json_array();
	{
		json_t	*cur = data, *next;
		int	 i;

		for (i = 0; i < SIO_MAX_DEPTH + 2; i++) {
			next = json_array();
			json_array_append_new(cur, next);
			cur = next;
		}
		json_array_append_new(cur, sio_bin_new("x", 1));
	}
	tap_int(sio_packet_encode(out, sizeof(out), SIO_EVENT, "/", -1, data,
	    att, 4, &natt), -1, "encode: binary deeper than the cap");
	json_decref(data);
	tap_str(sio_type_str(SIO_BINARY_ACK), "BINARY_ACK",
	    "encode: type name");
	tap_str(sio_type_str(SIO__MAX), "UNKNOWN",
	    "encode: type name past max");
}

int
main(void)
{
	test_decode_good();
	test_decode_bad();
	test_attach();
	test_encode();
	tap_plan(tap_n);
	return tap_done();
}
