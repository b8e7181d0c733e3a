/*
 * t/prom.c: lib/prom.h: the text format as written (families, labels
 * and their escapes, histograms), the size bound, and the scrape's HTTP
 * heads: request heads complete, partial, too large or not HTTP, and
 * the response head.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/prom.h"

#define S(x)	(x), (sizeof(x) - 1)

/* The text p holds, taken (free() it), or NULL. */
static char *
take(struct prom *p)
{
	size_t	 len;
	char	*s;

	s = prom_done(p, &len);
	if (s != NULL && strlen(s) != len) {
		free(s);
		return NULL;
	}
	return s;
}

static void
text(void)
{
	struct prom		 p;
	static const char *const le[] = { "0.001", "0.5" };
	const uint64_t		 b[] = { 1, 2, 3 };
	char			*s;
	size_t			 len;

	prom_init(&p, 1 << 20);
	prom_counter(&p, "a_total", "Things.", 7);
	prom_gauge(&p, "b", "Now\\here\nthere.", 18446744073709551615ULL);
	prom_family(&p, "c_total", "counter", "By kind.");
	prom_sample(&p, "c_total", 2, "kind", "x\"y\\z\nw", "n", "1", NULL);
	s = take(&p);
	tap_str(s, "# HELP a_total Things.\n# TYPE a_total counter\n"
	    "a_total 7\n"
	    "# HELP b Now\\\\here\\nthere.\n# TYPE b gauge\n"
	    "b 18446744073709551615\n"
	    "# HELP c_total By kind.\n# TYPE c_total counter\n"
	    "c_total{kind=\"x\\\"y\\\\z\\nw\",n=\"1\"} 2\n",
	    "counter, gauge, labelled sample, escapes");
	free(s);

	prom_init(&p, 1 << 20);
	prom_family(&p, "d_seconds", "histogram", "Time.");
	prom_histogram(&p, "d_seconds", "route", "me", le, b, 2, 1.25);
	prom_histogram(&p, "d_seconds", NULL, NULL, le, b, 2, 0.000001);
	s = take(&p);
	tap_str(s, "# HELP d_seconds Time.\n# TYPE d_seconds histogram\n"
	    "d_seconds_bucket{route=\"me\",le=\"0.001\"} 1\n"
	    "d_seconds_bucket{route=\"me\",le=\"0.5\"} 3\n"
	    "d_seconds_bucket{route=\"me\",le=\"+Inf\"} 6\n"
	    "d_seconds_sum{route=\"me\"} 1.250000\n"
	    "d_seconds_count{route=\"me\"} 6\n"
	    "d_seconds_bucket{le=\"0.001\"} 1\n"
	    "d_seconds_bucket{le=\"0.5\"} 3\n"
	    "d_seconds_bucket{le=\"+Inf\"} 6\n"
	    "d_seconds_sum 0.000001\n"
	    "d_seconds_count 6\n",
	    "histogram: cumulative buckets, +Inf, sum, count, labels");
	free(s);

	prom_init(&p, 1 << 20);
	s = take(&p);
	tap_str(s, "", "an empty text is a text");
	free(s);

	/* 20 bytes and the NUL fit in 21; one more does not. */
	prom_init(&p, 21);
	prom_printf(&p, "%s", "0123456789");
	prom_printf(&p, "%s", "0123456789");
	tap_ok(!p.err && p.len == 20, "up to max - 1 bytes");
	prom_printf(&p, "x");
	tap_ok(p.err, "one more sets err");
	prom_printf(&p, "y");
	tap_ok(p.err && p.len == 20, "... and it sticks");
	tap_ok(prom_done(&p, &len) == NULL && len == 0 && p.buf == NULL,
	    "prom_done: NULL, all freed");

	prom_init(&p, 200000);
	for (len = 0; len < 10000; len++)
		prom_sample(&p, "e", len, "i", "0123456789", NULL);
	tap_ok(p.err, "a long text hits its bound");
	prom_free(&p);
}

static void
http(void)
{
	struct prom_req	 r;
	char		 head[PROM_HEAD_MAX], big[64];
	int		 n;

	tap_int(prom_http_parse(S("GET /metrics HTTP/1.1\r\nHost: x\r\n"),
	    4096, &r), PROM_HTTP_MORE, "no blank line yet: MORE");
	tap_int(prom_http_parse(S("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
	    4096, &r), PROM_HTTP_DONE, "CRLF CRLF: DONE");
	tap_ok(prom_http_is(&r, "GET", "/metrics"), "GET /metrics");
	tap_int(prom_http_parse(S("GET /metrics?x=1 HTTP/1.0\n\n"), 4096, &r),
	    PROM_HTTP_DONE, "LF LF: DONE");
	tap_ok(prom_http_is(&r, "GET", "/metrics"), "... the query left out");
	tap_int(prom_http_parse(S("POST /metrics HTTP/1.1\r\n\r\n"), 4096,
	    &r), PROM_HTTP_DONE, "POST: DONE");
	tap_ok(!prom_http_is(&r, "GET", "/metrics") &&
	    prom_http_is(&r, "POST", "/metrics"), "... method POST");
	tap_int(prom_http_parse(S("GET /metricsx HTTP/1.1\r\n\r\n"), 4096,
	    &r), PROM_HTTP_DONE, "longer path: DONE");
	tap_ok(!prom_http_is(&r, "GET", "/metrics"), "... not /metrics");
	tap_int(prom_http_parse(S("FOO\r\n\r\n"), 4096, &r), PROM_HTTP_DONE,
	    "a bare word: DONE");
	tap_ok(r.method_len == 3 && r.path_len == 0, "... method, no path");
	tap_int(prom_http_parse(S("GET /metrics\0 HTTP/1.1\r\n\r\n"), 4096,
	    &r), PROM_HTTP_BAD, "NUL: BAD");
	memset(big, 'a', sizeof(big));
	tap_int(prom_http_parse(big, sizeof(big), sizeof(big), &r),
	    PROM_HTTP_BIG, "no end within max: BIG");
	tap_int(prom_http_parse(big, sizeof(big) - 1, sizeof(big), &r),
	    PROM_HTTP_MORE, "one byte below max: MORE");
	tap_int(prom_http_parse("", 0, 4096, &r), PROM_HTTP_MORE,
	    "nothing yet: MORE");

	n = prom_http_head(head, sizeof(head), 200, PROM_CTYPE, 12);
	tap_str(head, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: 12\r\nConnection: close\r\n\r\n", "200 head");
	tap_int(n, (long long)strlen(head), "... its length");
	prom_http_head(head, sizeof(head), 404, NULL, 0);
	tap_str(head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", "404 head, no Content-Type");
	tap_int(prom_http_head(head, 20, 200, PROM_CTYPE, 1), -1,
	    "too small a buffer: -1");
	tap_str(prom_http_reason(431), "Request Header Fields Too Large",
	    "431 reason");
}

int
main(void)
{
	tap_plan(28);
	text();
	http();
	return tap_done();
}
