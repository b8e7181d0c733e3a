/*
 * t/http.c: the HTTP/1.1 request-head reader (realtime/codec/http.c) on good
 * requests fed whole and byte by byte, and on hostile ones: caps on
 * target, header count and head size, bad Content-Length, chunked
 * bodies, bad syntax; query parameter decoding; the response writer.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "realtime/codec/http.h"

static enum http_res
parse(struct http_request *r, const char *s)
{
	http_request_init(r, 1000000);
	return http_request_parse(r, s, strlen(s));
}

static enum http_res
parse_one(const char *s)
{
	struct http_request	 r;

	return parse(&r, s);
}

static char *
span(const struct http_span *s)
{
	static char	 buf[4][512];
	static int	 k;
	char		*b = buf[k++ & 3];

	if (s == NULL)
		return NULL;
	snprintf(b, 512, "%.*s", (int)s->len, s->p);
	return b;
}

static void
test_basic(void)
{
	struct http_request	 r;
	const char		*req =
	    "GET /socket.io/?EIO=4&transport=polling&t=N8hyd6w HTTP/1.1\r\n"
	    "Host: 127.0.0.1:3000\r\n"
	    "Connection: keep-alive, Upgrade\r\n"
	    "upgrade:  WebSocket \r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://x\r\n"
	    "\r\n"
	    "BODY";

	tap_int(parse(&r, req), HTTP_DONE, "basic: complete");
	tap_int(r.method, HTTP_GET, "basic: GET");
	tap_str(span(&r.method_name), "GET", "basic: method name");
	tap_str(span(&r.path), "/socket.io/", "basic: path");
	tap_str(span(&r.query), "EIO=4&transport=polling&t=N8hyd6w",
	    "basic: query");
	tap_int(r.minor, 1, "basic: HTTP/1.1");
	tap_int(r.keep_alive, 1, "basic: keep-alive by default");
	tap_int(r.content_length, -1, "basic: no content-length");
	tap_int(r.nheaders, 5, "basic: 5 headers");
	tap_int(r.head_len, strlen(req) - 4, "basic: head_len is body offset");
	tap_str(span(http_header_get(&r, "HOST")), "127.0.0.1:3000",
	    "basic: Host case-insensitive");
	tap_str(span(http_header_get(&r, "upgrade")), "WebSocket",
	    "basic: value trimmed");
	tap_ok(http_header_get(&r, "Cookie") == NULL, "basic: absent header");
	tap_ok(http_header_has_token(&r, "connection", "upgrade"),
	    "basic: Connection token list has upgrade");
	tap_ok(http_header_has_token(&r, "Connection", "KEEP-ALIVE"),
	    "basic: token case-insensitive");
	tap_ok(!http_header_has_token(&r, "connection", "close"),
	    "basic: no close token");
	tap_ok(!http_header_has_token(&r, "connection", "keep"),
	    "basic: no partial token match");
	tap_ok(http_header_has_token(&r, "upgrade", "websocket"),
	    "basic: Upgrade websocket");
	tap_ok(http_span_caseeq(http_header_get(&r, "origin"), "HTTP://X"),
	    "basic: span_caseeq");
	tap_int(http_header_count(&r, "host"), 1, "basic: header count");
}

static void
test_incremental(void)
{
	struct http_request	 r;
	const char		*req =
	    "POST /socket.io/?EIO=4&transport=polling"
	    "&sid=abc HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Type: text/plain;charset=UTF-8\r\n\r\n4hello";
	size_t			 n, head = strlen(req) - 6, first = 0;
	char			*moving;
	enum http_res		 rc = HTTP_AGAIN;

	http_request_init(&r, 100);
	for (n = 0; n <= strlen(req); n++) {
		/* A fresh copy each time: the buffer may move. */
		if ((moving = malloc(n + 1)) == NULL)
			abort();
		memcpy(moving, req, n);
		rc = http_request_parse(&r, moving, n);
		if (rc == HTTP_DONE && first == 0) {
			first = n;
			tap_str(span(&r.path), "/socket.io/",
			    "incremental: path after move");
			tap_int(r.content_length, 5,
			    "incremental: content-length");
			tap_int(r.method, HTTP_POST, "incremental: POST");
		}
		free(moving);
		if (rc != HTTP_AGAIN)
			break;
	}
	tap_int(rc, HTTP_DONE, "incremental: done");
	tap_int(first, head, "incremental: done exactly at CRLFCRLF");
	tap_int(r.head_len, head, "incremental: head_len");
	tap_int(r.scanned, head - 1, "incremental: scanned offset kept");
}

static void
test_query(void)
{
	struct http_request	 r;
	char			 out[64];

	tap_int(parse(&r, "GET /socket.io/?EIO=4&transport=websocket"
	    "&sid=a%2Db_c&x=a+b&empty=&flag&pct=%41%62&bad=%4&bad2=%zz"
	    "&nul=%00 HTTP/1.1\r\n\r\n"), HTTP_DONE, "query: parsed");
	tap_int(http_query_get(&r, "EIO", out, sizeof(out)), 1, "query: EIO");
	tap_str(out, "4", "query: EIO=4");
	tap_int(http_query_get(&r, "transport", out, sizeof(out)), 9,
	    "query: transport");
	tap_str(out, "websocket", "query: transport value");
	tap_int(http_query_get(&r, "sid", out, sizeof(out)), 5,
	    "query: sid decoded");
	tap_str(out, "a-b_c", "query: %2D decoded");
	tap_int(http_query_get(&r, "x", out, sizeof(out)), 3, "query: plus");
	tap_str(out, "a b", "query: + is space");
	tap_int(http_query_get(&r, "empty", out, sizeof(out)), 0,
	    "query: empty value");
	tap_int(http_query_get(&r, "flag", out, sizeof(out)), 0,
	    "query: no '=' is empty");
	tap_int(http_query_get(&r, "pct", out, sizeof(out)), 2,
	    "query: hex both cases");
	tap_str(out, "Ab", "query: %41%62");
	tap_int(http_query_get(&r, "t", out, sizeof(out)), HTTP_QUERY_ABSENT,
	    "query: absent");
	tap_int(http_query_get(&r, "EI", out, sizeof(out)), HTTP_QUERY_ABSENT,
	    "query: prefix is not a match");
	tap_int(http_query_get(&r, "bad", out, sizeof(out)), HTTP_QUERY_BAD,
	    "query: truncated %");
	tap_int(http_query_get(&r, "bad2", out, sizeof(out)), HTTP_QUERY_BAD,
	    "query: non-hex %");
	tap_int(http_query_get(&r, "nul", out, sizeof(out)), HTTP_QUERY_BAD,
	    "query: %00 refused");
	tap_int(http_query_get(&r, "transport", out, 9), HTTP_QUERY_BAD,
	    "query: does not fit (needs NUL)");
	tap_int(http_query_get(&r, "transport", out, 10), 9,
	    "query: fits exactly");
	tap_int(http_query_get(&r, "EIO", out, 0), HTTP_QUERY_BAD,
	    "query: zero-size out");
	tap_int(parse(&r, "GET /x HTTP/1.1\r\n\r\n"), HTTP_DONE,
	    "query: none");
	tap_int(r.query.len, 0, "query: empty span");
	tap_int(http_query_get(&r, "EIO", out, sizeof(out)), HTTP_QUERY_ABSENT,
	    "query: absent without '?'");
}

static void
test_keepalive(void)
{
	struct http_request	 r;

	parse(&r, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	tap_int(r.keep_alive, 0, "keep-alive: 1.1 close");
	parse(&r, "GET / HTTP/1.0\r\n\r\n");
	tap_int(r.keep_alive, 0, "keep-alive: 1.0 default off");
	tap_int(r.minor, 0, "keep-alive: minor 0");
	parse(&r, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	tap_int(r.keep_alive, 1, "keep-alive: 1.0 asked");
	parse(&r, "GET / HTTP/1.1\r\nConnection: upgrade\r\n"
	    "Connection: Close\r\n\r\n");
	tap_int(r.keep_alive, 0, "keep-alive: close in second field");
}

static void
test_length(void)
{
	struct http_request	 r;

	tap_int(parse(&r, "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), HTTP_DONE,
	    "length: equal duplicates ok");
	tap_int(r.content_length, 5, "length: 5");
	tap_int(parse(&r, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
	    HTTP_DONE, "length: zero");
	tap_int(r.content_length, 0, "length: 0");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\n"), HTTP_ELENGTH,
	    "length: conflicting duplicates");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
	    HTTP_ELENGTH, "length: not a number");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
	    HTTP_ELENGTH, "length: negative");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
	    HTTP_ELENGTH, "length: list");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"),
	    HTTP_ELENGTH, "length: sign");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"),
	    HTTP_ELENGTH, "length: empty");
	tap_int(parse_one("POST / HTTP/1.1\r\n"
	    "Content-Length: 99999999999999999999999\r\n\r\n"),
	    HTTP_ELENGTH, "length: overflow");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: 1000001\r\n\r\n"),
	    HTTP_EBODY, "length: over the cap");
	tap_int(http_res_status(HTTP_EBODY), 413, "length: 413");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"),
	    HTTP_DONE, "length: at the cap");
	tap_int(parse_one("POST / HTTP/1.1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), HTTP_ECHUNKED,
	    "length: chunked refused");
	tap_int(parse_one("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
	    "transfer-encoding: chunked\r\n\r\n"), HTTP_ECHUNKED,
	    "length: chunked + length refused");
	tap_int(http_res_status(HTTP_ECHUNKED), 411, "length: 411");
}

static void
test_caps(void)
{
	struct http_request	 r;
	char			*big;
	size_t			 i, n;

	if ((big = malloc(HTTP_MAX_HEAD * 2)) == NULL)
		abort();

	/* 64 headers pass, 65 do not. */
	n = (size_t)snprintf(big, 64, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(big + n, "X-%zu: v\r\n", i);
	strcpy(big + n, "\r\n");
	tap_int(parse(&r, big), HTTP_DONE, "caps: 64 headers");
	tap_int(r.nheaders, 64, "caps: 64 counted");
	n += (size_t)sprintf(big + n, "X-last: v\r\n");
	strcpy(big + n, "\r\n");
	tap_int(parse(&r, big), HTTP_EHEAD, "caps: 65 headers refused");
	tap_int(http_res_status(HTTP_EHEAD), 431, "caps: 431");

	/* Header block over 8 KB. */
	n = (size_t)snprintf(big, 64, "GET / HTTP/1.1\r\nX: ");
	memset(big + n, 'a', HTTP_MAX_HEADBLOCK);
	n += HTTP_MAX_HEADBLOCK;
	strcpy(big + n, "\r\n\r\n");
	tap_int(parse(&r, big), HTTP_EHEAD, "caps: header block > 8 KB");

	/* Target of exactly 8 KB passes, one more byte does not. */
	n = (size_t)snprintf(big, 64, "GET /");
	memset(big + n, 'a', HTTP_MAX_TARGET - 1);
	n += HTTP_MAX_TARGET - 1;
	strcpy(big + n, " HTTP/1.1\r\n\r\n");
	tap_int(parse(&r, big), HTTP_DONE, "caps: 8 KB target");
	tap_int(r.target.len, HTTP_MAX_TARGET, "caps: target length");
	n = (size_t)snprintf(big, 64, "GET /");
	memset(big + n, 'a', HTTP_MAX_TARGET);
	n += HTTP_MAX_TARGET;
	strcpy(big + n, " HTTP/1.1\r\n\r\n");
	tap_int(parse(&r, big), HTTP_ETARGET, "caps: 8 KB + 1 target");
	tap_int(http_res_status(HTTP_ETARGET), 414, "caps: 414");

	/*
	 * The line cap holds however the bytes arrive: a line whose '\n'
	 * sits at index HTTP_MAX_LINE is refused whole and cut up.
	 */
	for (i = 52; i <= 53; i++) {
		memset(big, 'X', i);
		n = i;
		big[n++] = ' ';
		big[n++] = '/';
		memset(big + n, 'a', HTTP_MAX_TARGET - 1);
		n += HTTP_MAX_TARGET - 1;
		strcpy(big + n, " HTTP/1.1\r\n\r\n");
		tap_int(parse(&r, big), i == 52 ? HTTP_DONE : HTTP_ETARGET,
		    i == 52 ? "caps: longest request line, whole" :
		    "caps: request line one byte too long, whole");
		http_request_init(&r, 0);
		http_request_parse(&r, big, HTTP_MAX_LINE);
		tap_int(http_request_parse(&r, big, strlen(big)),
		    i == 52 ? HTTP_DONE : HTTP_ETARGET,
		    i == 52 ? "caps: longest request line, cut" :
		    "caps: request line one byte too long, cut");
	}

	/* A request line that never ends fails before the head cap. */
	n = (size_t)snprintf(big, 64, "GET /");
	memset(big + n, 'a', HTTP_MAX_LINE);
	http_request_init(&r, 0);
	tap_int(http_request_parse(&r, big, 100), HTTP_AGAIN,
	    "caps: long line, need more");
	tap_int(http_request_parse(&r, big, HTTP_MAX_LINE + 5), HTTP_ETARGET,
	    "caps: endless request line");
	tap_int(http_request_parse(&r, "GET / HTTP/1.1\r\n\r\n", 18),
	    HTTP_ETARGET, "caps: error is sticky");

	/* Headers that never end: error once past the head cap. */
	n = (size_t)snprintf(big, 64, "GET / HTTP/1.1\r\n");
	for (; n < HTTP_MAX_HEAD + 100; n += 8)
		memcpy(big + n, "X-a: b\r\n", 8);
	http_request_init(&r, 0);
	tap_int(http_request_parse(&r, big, HTTP_MAX_HEAD - 10), HTTP_AGAIN,
	    "caps: big head, need more");
	tap_int(http_request_parse(&r, big, HTTP_MAX_HEAD + 50), HTTP_EHEAD,
	    "caps: head never ends");
	free(big);
}

static void
test_bad(void)
{
	static const struct {
		const char	*req;
		enum http_res	 want;
		const char	*name;
	} t[] = {
		{ "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", HTTP_EBAD,
		    "obs-fold" },
		{ "GET / HTTP/1.1\r\nX : a\r\n\r\n", HTTP_EBAD,
		    "space before colon" },
		{ "GET / HTTP/1.1\r\nX a\r\n\r\n", HTTP_EBAD, "no colon" },
		{ "GET / HTTP/1.1\r\n: a\r\n\r\n", HTTP_EBAD, "empty name" },
		{ "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", HTTP_EBAD,
		    "bare LF" },
		{ "GET / HTTP/1.1\r\nX: a\rY: b\r\n\r\n", HTTP_EBAD,
		    "bare CR" },
		{ "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", HTTP_EBAD,
		    "control byte in value" },
		{ "GET / HTTP/1.1\r\nX\x80: a\r\n\r\n", HTTP_EBAD,
		    "high byte in name" },
		{ "GET /\r\n\r\n", HTTP_EBAD, "HTTP/0.9" },
		{ "GET / HTTP/2.0\r\n\r\n", HTTP_EVERSION, "HTTP/2.0" },
		{ "GET / HTTP/1.2\r\n\r\n", HTTP_EVERSION, "HTTP/1.2" },
		{ "GET / HTTP/1.1x\r\n\r\n", HTTP_EBAD, "version garbage" },
		{ "GET / http/1.1\r\n\r\n", HTTP_EBAD, "lowercase version" },
		{ "GET  / HTTP/1.1\r\n\r\n", HTTP_EBAD, "double space" },
		{ "GET x HTTP/1.1\r\n\r\n", HTTP_EBAD, "relative target" },
		{ "GET http://a/ HTTP/1.1\r\n\r\n", HTTP_EBAD,
		    "absolute-form target" },
		{ "GET /a\x7f HTTP/1.1\r\n\r\n", HTTP_EBAD, "DEL in target" },
		{ "GET /\xc3\xa9 HTTP/1.1\r\n\r\n", HTTP_EBAD,
		    "raw UTF-8 in target" },
		{ "G(T / HTTP/1.1\r\n\r\n", HTTP_EBAD, "bad method char" },
		{ "\r\nGET / HTTP/1.1\r\n\r\n", HTTP_EBAD, "leading CRLF" },
		{ "GET / HTTP/1.1\n\r\n\r\n", HTTP_EBAD, "LF request line" },
		{ "OPTIONS * HTTP/1.1\r\n\r\n", HTTP_DONE, "OPTIONS *" },
		{ "GET * HTTP/1.1\r\n\r\n", HTTP_EBAD, "GET *" },
		{ "BREW /pot HTTP/1.1\r\n\r\n", HTTP_DONE, "other method" },
	};
	size_t	 i;
	char	 name[128];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "bad: %s", t[i].name);
		tap_int(parse_one(t[i].req), t[i].want, name);
	}
	/* A NUL inside a header value. */
	{
		struct http_request	 r;
		const char		 req[] =
		    "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";

		http_request_init(&r, 0);
		tap_int(http_request_parse(&r, req, sizeof(req) - 1), HTTP_EBAD,
		    "bad: NUL in value");
	}
	/* Early refusal of binary garbage. */
	{
		struct http_request	 r;

		http_request_init(&r, 0);
		tap_int(http_request_parse(&r, "\x16\x03\x01", 3), HTTP_EBAD,
		    "bad: TLS hello refused early");
	}
	{
		struct http_request	 r;

		parse(&r, "BREW /pot HTTP/1.1\r\n\r\n");
		tap_int(r.method, HTTP_OTHER,
		    "bad: other method is HTTP_OTHER");
		parse(&r, "DELETE /x HTTP/1.1\r\n\r\n");
		tap_int(r.method, HTTP_DELETE, "bad: DELETE");
	}
}

static void
test_writer(void)
{
	struct http_writer	 w;
	char			 buf[256], small[20];

	http_writer_init(&w, buf, sizeof(buf));
	http_write_status(&w, 200);
	http_write_header(&w, "Content-Type", "text/plain; charset=UTF-8");
	http_write_headerf(&w, "Content-Length", "%d", 2);
	http_write_end(&w);
	http_write_raw(&w, "ok", 2);
	tap_int(http_writer_done(&w), 81, "writer: length");
	buf[w.len] = '\0';
	tap_str(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
	    "charset=UTF-8\r\nContent-Length: 2\r\n\r\nok", "writer: bytes");

	http_writer_init(&w, small, sizeof(small));
	http_write_status(&w, 400);
	tap_int(http_writer_done(&w), -1, "writer: overflow");
	http_write_raw(&w, "x", 1);
	tap_int(w.len, 0, "writer: nothing written after overflow");

	http_writer_init(&w, buf, sizeof(buf));
	http_write_header(&w, "X", "a\r\nSet-Cookie: evil");
	tap_int(http_writer_done(&w), -1, "writer: CRLF in value refused");
	http_writer_init(&w, buf, sizeof(buf));
	http_write_status(&w, 431);
	buf[w.len] = '\0';
	tap_str(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n",
	    "writer: 431 text");
	tap_str(http_status_text(799), "Unknown", "writer: unknown status");
	tap_str(http_res_str(HTTP_ECHUNKED), "transfer-encoding not supported",
	    "writer: res text");
}

int
main(void)
{
	test_basic();
	test_incremental();
	test_query();
	test_keepalive();
	test_length();
	test_caps();
	test_bad();
	test_writer();
	tap_plan(tap_n);
	return tap_done();
}
