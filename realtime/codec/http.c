/*
 * http.c: incremental, bounded HTTP/1.1 request-head reader and response
 * writer for chat-realtime (WebSocket handshakes, Engine.IO long-polling).
 * Pure functions over the caller's buffer: no sockets, no allocation.
 * Called by the connection code after each read, by t/http.c and by the
 * fuzzer t/fuzz/http.c.
 * Spec: RFC 9112 (HTTP/1.1 message syntax), sections 2-3, 5, 6.3, 9.3;
 * RFC 9110 section 5.6 (token lists); RFC 3986 (percent-encoding).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/hex.h"
#include "realtime/codec/http.h"

static const char *const methods[HTTP_METHOD__MAX] = {
	"GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", NULL
};

/* RFC 9110 5.6.2 tchar. */
static int
is_tchar(unsigned char c)
{
	if (isalnum(c))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value octets: HTAB, SP, VCHAR, obs-text. */
static int
is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
span_caseeqn(const char *p, size_t len, const char *s)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0' || lower(p[i]) != lower(s[i]))
			return 0;
	return s[len] == '\0';
}

void
http_request_init(struct http_request *r, int64_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->max_body = max_body < 0 ? 0 : max_body;
	r->err = HTTP_AGAIN;
	r->content_length = -1;
}

/*
 * Content-Length: 1*DIGIT, at most 18 digits so it fits int64_t.
 */
static int
parse_length(const struct http_span *v, int64_t *out)
{
	int64_t	 n = 0;
	size_t	 i;

	if (v->len == 0 || v->len > 18)
		return -1;
	for (i = 0; i < v->len; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		n = n * 10 + (v->p[i] - '0');
	}
	*out = n;
	return 0;
}

/*
 * "METHOD SP target SP HTTP/1.x" in [p, p + len) (no CRLF).
 */
static enum http_res
parse_request_line(struct http_request *r, const char *p, size_t len)
{
	const char	*sp1, *sp2, *q;
	size_t		 i, vlen;
	int		 m;

	if ((sp1 = memchr(p, ' ', len)) == NULL || sp1 == p)
		return HTTP_EBAD;
	for (q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return HTTP_EBAD;
	r->method_name.p = p;
	r->method_name.len = sp1 - p;
	r->method = HTTP_OTHER;
	for (m = 0; m < HTTP_OTHER; m++)
		if (strlen(methods[m]) == r->method_name.len &&
		    memcmp(methods[m], p, r->method_name.len) == 0) {
			r->method = (enum http_method)m;
			break;
		}

	sp2 = memchr(sp1 + 1, ' ', len - (sp1 + 1 - p));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return HTTP_EBAD;
	r->target.p = sp1 + 1;
	r->target.len = sp2 - (sp1 + 1);
	if (r->target.len > HTTP_MAX_TARGET)
		return HTTP_ETARGET;
	for (i = 0; i < r->target.len; i++)
		if ((unsigned char)r->target.p[i] <= 0x20 ||
		    (unsigned char)r->target.p[i] >= 0x7f)
			return HTTP_EBAD;
	if (r->target.p[0] != '/' &&
	    !(r->target.len == 1 && r->target.p[0] == '*' &&
	    r->method == HTTP_OPTIONS))
		return HTTP_EBAD;
	r->path = r->target;
	r->query.p = r->target.p + r->target.len;
	r->query.len = 0;
	if ((q = memchr(r->target.p, '?', r->target.len)) != NULL) {
		r->path.len = q - r->target.p;
		r->query.p = q + 1;
		r->query.len = r->target.len - r->path.len - 1;
	}

	q = sp2 + 1;
	vlen = len - (q - p);
	if (vlen < 5 || memcmp(q, "HTTP/", 5) != 0)
		return HTTP_EBAD;
	if (vlen == 8 && q[5] == '1' && q[6] == '.' &&
	    (q[7] == '0' || q[7] == '1')) {
		r->minor = q[7] - '0';
		return HTTP_DONE;
	}
	for (i = 5; i < vlen; i++)
		if (!isdigit((unsigned char)q[i]) && q[i] != '.')
			return HTTP_EBAD;
	return HTTP_EVERSION;
}

/*
 * One field line "name: value" in [p, p + len) (no CRLF).
 */
static enum http_res
parse_field(struct http_request *r, const char *p, size_t len)
{
	const char		*colon, *v, *e;
	struct http_header	*h;
	size_t			 i;

	if (len == 0 || p[0] == ' ' || p[0] == '\t')
		return HTTP_EBAD;	/* obs-fold is refused */
	if ((colon = memchr(p, ':', len)) == NULL || colon == p)
		return HTTP_EBAD;
	for (i = 0; i < (size_t)(colon - p); i++)
		if (!is_tchar((unsigned char)p[i]))
			return HTTP_EBAD;
	v = colon + 1;
	e = p + len;
	for (i = 0; i < (size_t)(e - v); i++)
		if (!is_vchar((unsigned char)v[i]))
			return HTTP_EBAD;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (r->nheaders == HTTP_MAX_HEADERS)
		return HTTP_EHEAD;
	h = &r->headers[r->nheaders++];
	h->name.p = p;
	h->name.len = colon - p;
	h->value.p = v;
	h->value.len = e - v;
	return HTTP_DONE;
}

/*
 * Semantics of the parsed fields: Content-Length, Transfer-Encoding,
 * Connection.
 */
static enum http_res
check_fields(struct http_request *r)
{
	const struct http_header	*h;
	int64_t				 n;
	size_t				 i;
	int				 te = 0;

	for (i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		if (span_caseeqn(h->name.p, h->name.len, "transfer-encoding"))
			te = 1;
		else if (span_caseeqn(h->name.p, h->name.len,
		    "content-length")) {
			if (parse_length(&h->value, &n) == -1)
				return HTTP_ELENGTH;
			if (r->content_length != -1 && r->content_length != n)
				return HTTP_ELENGTH;
			r->content_length = n;
		}
	}
	if (te)
		return HTTP_ECHUNKED;
	if (r->content_length > r->max_body)
		return HTTP_EBODY;
	if (r->minor == 1)
		r->keep_alive = !http_header_has_token(r, "connection",
		    "close");
	else
		r->keep_alive = http_header_has_token(r, "connection",
		    "keep-alive") &&
		    !http_header_has_token(r, "connection", "close");
	return HTTP_DONE;
}

/*
 * Look for the end of the head in buf[0..len) and parse it once found.
 * Only r->scanned is kept between HTTP_AGAIN calls, so buf may move.
 */
enum http_res
http_request_parse(struct http_request *r, const char *buf, size_t len)
{
	const char	*end = NULL, *p, *nl, *lim;
	size_t		 from, slen, linelen, pos, hend;
	enum http_res	 rc;

	if (r->err != HTTP_AGAIN)
		return r->err;

	/* Search new bytes (with 3 of overlap) for CRLFCRLF, within cap. */
	slen = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	from = r->scanned > 3 ? r->scanned - 3 : 0;
	if (slen >= 4 && from < slen - 3)
		end = memmem(buf + from, slen - from, "\r\n\r\n", 4);
	if (end == NULL) {
		r->scanned = slen;
		if (len >= HTTP_MAX_HEAD) {
			rc = memchr(buf, '\n', HTTP_MAX_LINE) == NULL ?
			    HTTP_ETARGET : HTTP_EHEAD;
			goto fail;
		}
		if (len >= HTTP_MAX_LINE &&
		    memchr(buf, '\n', HTTP_MAX_LINE) == NULL) {
			rc = HTTP_ETARGET;
			goto fail;
		}
		/* Clients may send CRLFs before the request line: refuse. */
		if (len > 0 && !is_tchar((unsigned char)buf[0])) {
			rc = HTTP_EBAD;
			goto fail;
		}
		return HTTP_AGAIN;
	}
	hend = end - buf;		/* index of the final CRLFCRLF */
	r->head_len = hend + 4;

	/* Request line. */
	nl = memchr(buf, '\n', hend + 2);
	linelen = nl - buf;	/* found: buf[hend + 1] is '\n' */
	/* '\n' must lie in the first HTTP_MAX_LINE bytes, as while waiting. */
	if (linelen >= HTTP_MAX_LINE) {
		rc = HTTP_ETARGET;
		goto fail;
	}
	if (linelen == 0 || buf[linelen - 1] != '\r') {
		rc = HTTP_EBAD;
		goto fail;
	}
	if ((rc = parse_request_line(r, buf, linelen - 1)) != HTTP_DONE)
		goto fail;
	pos = linelen + 1;
	if (hend + 2 > pos && hend + 2 - pos > HTTP_MAX_HEADBLOCK) {
		rc = HTTP_EHEAD;
		goto fail;
	}

	/* Field lines up to and including the CRLF at hend. */
	lim = buf + hend + 2;
	while (buf + pos < lim) {
		p = buf + pos;
		nl = memchr(p, '\n', lim - p);	/* lim[-1] is '\n' */
		if (nl == NULL || nl == p || nl[-1] != '\r') {
			rc = HTTP_EBAD;
			goto fail;
		}
		if (memchr(p, '\r', (nl - 1) - p) != NULL) {
			rc = HTTP_EBAD;		/* bare CR */
			goto fail;
		}
		if ((rc = parse_field(r, p, (nl - 1) - p)) != HTTP_DONE)
			goto fail;
		pos = (nl + 1) - buf;
	}
	if ((rc = check_fields(r)) != HTTP_DONE)
		goto fail;
	r->err = HTTP_DONE;
	return HTTP_DONE;
fail:
	r->err = rc;
	return rc;
}

const char *
http_res_str(enum http_res rc)
{
	switch (rc) {
	case HTTP_DONE:
		return "complete";
	case HTTP_AGAIN:
		return "incomplete";
	case HTTP_EBAD:
		return "malformed request";
	case HTTP_ETARGET:
		return "request target too long";
	case HTTP_EHEAD:
		return "request head too large";
	case HTTP_EVERSION:
		return "unsupported HTTP version";
	case HTTP_ECHUNKED:
		return "transfer-encoding not supported";
	case HTTP_ELENGTH:
		return "bad content-length";
	case HTTP_EBODY:
		return "body too large";
	}
	return "unknown";
}

int
http_res_status(enum http_res rc)
{
	switch (rc) {
	case HTTP_DONE:
	case HTTP_AGAIN:
		return 200;
	case HTTP_ETARGET:
		return 414;
	case HTTP_EHEAD:
		return 431;
	case HTTP_EVERSION:
		return 505;
	case HTTP_ECHUNKED:
		return 411;
	case HTTP_EBODY:
		return 413;
	case HTTP_EBAD:
	case HTTP_ELENGTH:
		break;
	}
	return 400;
}

const struct http_span *
http_header_get(const struct http_request *r, const char *name)
{
	size_t	 i;

	for (i = 0; i < r->nheaders; i++)
		if (span_caseeqn(r->headers[i].name.p,
		    r->headers[i].name.len, name))
			return &r->headers[i].value;
	return NULL;
}

size_t
http_header_count(const struct http_request *r, const char *name)
{
	size_t	 i, n = 0;

	for (i = 0; i < r->nheaders; i++)
		if (span_caseeqn(r->headers[i].name.p,
		    r->headers[i].name.len, name))
			n++;
	return n;
}

int
http_header_has_token(const struct http_request *r, const char *name,
    const char *token)
{
	const struct http_span	*v;
	size_t			 i, pos, c, s, e;

	for (i = 0; i < r->nheaders; i++) {
		if (!span_caseeqn(r->headers[i].name.p,
		    r->headers[i].name.len, name))
			continue;
		v = &r->headers[i].value;
		for (pos = 0; pos <= v->len; pos = c + 1) {
			for (c = pos; c < v->len && v->p[c] != ','; c++)
				continue;
			s = pos;
			e = c;
			while (s < e && (v->p[s] == ' ' || v->p[s] == '\t'))
				s++;
			while (e > s && (v->p[e - 1] == ' ' ||
			    v->p[e - 1] == '\t'))
				e--;
			if (span_caseeqn(v->p + s, e - s, token))
				return 1;
		}
	}
	return 0;
}

int
http_span_eq(const struct http_span *s, const char *str)
{
	size_t	 n = strlen(str);

	return s != NULL && s->len == n && memcmp(s->p, str, n) == 0;
}

int
http_span_caseeq(const struct http_span *s, const char *str)
{
	return s != NULL && span_caseeqn(s->p, s->len, str);
}

ssize_t
http_query_get_span(const struct http_span *query, const char *name,
    char *out, size_t outsz)
{
	const char	*p, *amp = NULL, *eq = NULL, *end;
	size_t		 nlen = strlen(name), o = 0;
	int		 hi, lo;

	if (query == NULL || query->p == NULL)
		return HTTP_QUERY_ABSENT;
	p = query->p;
	end = query->p + query->len;
	while (p < end) {
		amp = memchr(p, '&', end - p);
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', amp - p);
		if ((size_t)((eq ? eq : amp) - p) == nlen &&
		    memcmp(p, name, nlen) == 0)
			break;
		p = amp + 1;
	}
	if (p >= end)
		return HTTP_QUERY_ABSENT;
	if (outsz == 0)
		return HTTP_QUERY_BAD;
	p = eq ? eq + 1 : amp;
	for (; p < amp; p++) {
		if (o + 1 >= outsz)
			return HTTP_QUERY_BAD;
		if (*p == '+')
			out[o++] = ' ';
		else if (*p != '%')
			out[o++] = *p;
		else {
			if (amp - p < 3 ||
			    (hi = hex_digit((unsigned char)p[1])) == -1 ||
			    (lo = hex_digit((unsigned char)p[2])) == -1 ||
			    (hi == 0 && lo == 0))
				return HTTP_QUERY_BAD;
			out[o++] = (char)(hi << 4 | lo);
			p += 2;
		}
	}
	out[o] = '\0';
	return (ssize_t)o;
}

ssize_t
http_query_get(const struct http_request *r, const char *name, char *out,
    size_t outsz)
{
	return http_query_get_span(&r->query, name, out, outsz);
}

/*
 * Response writer.
 */

void
http_writer_init(struct http_writer *w, char *buf, size_t size)
{
	w->buf = buf;
	w->size = size;
	w->len = 0;
	w->overflow = 0;
}

void
http_write_raw(struct http_writer *w, const void *p, size_t len)
{
	if (w->overflow)
		return;
	if (len > w->size - w->len) {
		w->overflow = 1;
		return;
	}
	if (len > 0)
		memcpy(w->buf + w->len, p, len);
	w->len += len;
}

static void
write_str(struct http_writer *w, const char *s)
{
	http_write_raw(w, s, strlen(s));
}

void
http_write_status(struct http_writer *w, int status)
{
	char	 line[64];
	int	 n;

	n = snprintf(line, sizeof(line), "HTTP/1.1 %03d %s\r\n",
	    status, http_status_text(status));
	if (n < 0 || (size_t)n >= sizeof(line) || status < 100 ||
	    status > 999) {
		w->overflow = 1;
		return;
	}
	http_write_raw(w, line, (size_t)n);
}

void
http_write_header(struct http_writer *w, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
		w->overflow = 1;
		return;
	}
	write_str(w, name);
	http_write_raw(w, ": ", 2);
	write_str(w, value);
	http_write_raw(w, "\r\n", 2);
}

void
http_write_headerf(struct http_writer *w, const char *name,
    const char *fmt, ...)
{
	char	 val[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val)) {
		w->overflow = 1;
		return;
	}
	http_write_header(w, name, val);
}

void
http_write_end(struct http_writer *w)
{
	http_write_raw(w, "\r\n", 2);
}

ssize_t
http_writer_done(const struct http_writer *w)
{
	return w->overflow ? -1 : (ssize_t)w->len;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}
