/*
 * t/fuzz/http.c: libFuzzer target for realtime/codec/http.c.
 * fuzz-sources: realtime/codec/http.c lib/hex.c
 * Input: byte 0 picks the chunk size the request arrives in (0: whole),
 * the rest is the request.  It is parsed whole and cut up (each chunk
 * added to a fresh copy of the buffer, as if it moved); both runs must
 * agree.  After HTTP_DONE every span must lie inside the head, and the
 * lookups (headers, tokens, query parameters) run on the result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "realtime/codec/http.h"

static void
in_head(const struct http_span *s, const char *buf, size_t head)
{
	if (s->len > 0 && (s->p < buf || s->p + s->len > buf + head))
		abort();
}

static void
check(const struct http_request *r, const char *buf)
{
	static const char *const names[] = { "EIO", "transport", "sid", "t",
	    "b64", "" };
	static const char *const hdrs[] = { "host", "upgrade", "connection",
	    "sec-websocket-key", "sec-websocket-version", "origin",
	    "content-length", "content-type", "transfer-encoding" };
	char	 out[256];
	ssize_t	 n;
	size_t	 i;

	in_head(&r->method_name, buf, r->head_len);
	in_head(&r->target, buf, r->head_len);
	in_head(&r->path, buf, r->head_len);
	in_head(&r->query, buf, r->head_len);
	if (r->nheaders > HTTP_MAX_HEADERS || r->target.len > HTTP_MAX_TARGET)
		abort();
	for (i = 0; i < r->nheaders; i++) {
		in_head(&r->headers[i].name, buf, r->head_len);
		in_head(&r->headers[i].value, buf, r->head_len);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = http_query_get(r, names[i], out, sizeof(out));
		if (n >= (ssize_t)sizeof(out) || (n >= 0 && out[n] != '\0') ||
		    (n >= 0 && memchr(out, '\0', (size_t)n) != NULL))
			abort();
		(void)http_query_get(r, names[i], out, 3);
	}
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		(void)http_header_get(r, hdrs[i]);
		(void)http_header_count(r, hdrs[i]);
		(void)http_header_has_token(r, hdrs[i], "upgrade");
		(void)http_header_has_token(r, hdrs[i], "");
	}
	if (r->content_length > r->max_body)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request	 whole, cut;
	enum http_res		 rw, rc = HTTP_AGAIN;
	const char		*req;
	char			*buf;
	size_t			 len, step, have;

	if (size < 1)
		return 0;
	step = data[0];
	req = (const char *)data + 1;
	len = size - 1;

	http_request_init(&whole, 1000000);
	rw = http_request_parse(&whole, req, len);
	if (rw == HTTP_DONE) {
		if (whole.head_len > len || whole.head_len > HTTP_MAX_HEAD + 4)
			abort();
		check(&whole, req);
	}

	http_request_init(&cut, 1000000);
	if (step == 0)
		step = len ? len : 1;
	for (have = 0; have < len && rc == HTTP_AGAIN; ) {
		have += step < len - have ? step : len - have;
		if ((buf = malloc(have)) == NULL)
			abort();
		memcpy(buf, req, have);
		rc = http_request_parse(&cut, buf, have);
		if (rc == HTTP_DONE)
			check(&cut, buf);
		free(buf);
	}
	if (len == 0)
		rc = http_request_parse(&cut, req, 0);
	/*
	 * Same outcome, except that a cut run may stop early with an error
	 * the whole run also reports, or finish a head the whole run found.
	 */
	if (rc != rw)
		abort();
	if (rc == HTTP_DONE && (cut.head_len != whole.head_len ||
	    cut.nheaders != whole.nheaders ||
	    cut.content_length != whole.content_length ||
	    cut.keep_alive != whole.keep_alive))
		abort();
	return 0;
}
