/*
 * prom.c: the Prometheus text format writer and the scrape's HTTP
 * request and response heads (see prom.h).  No I/O and no logging:
 * chat-fcgi's fcgi/metrics.c and chat-realtime's metrics endpoint call
 * it from their own loops.
 * Spec: Prometheus "Exposition formats", text format 0.0.4 (label
 * values escape '\\', '"' and newline; HELP escapes '\\' and newline);
 * RFC 9112 section 3 (request line) for the little HTTP read here.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/prom.h"

#define PROM_CHUNK	4096	/* first allocation, then doubled */

void
prom_init(struct prom *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->max = max;
}

/* Make room for "more" bytes and a NUL.  Returns 0, or -1 (err set). */
static int
grow(struct prom *p, size_t more)
{
	size_t	 want, ncap;
	char	*nbuf;

	if (p->err)
		return -1;
	if (more >= p->max || p->len >= p->max - more) {
		p->err = 1;
		return -1;
	}
	want = p->len + more + 1;
	if (want <= p->cap)
		return 0;
	for (ncap = p->cap > 0 ? p->cap : PROM_CHUNK; ncap < want; ncap *= 2)
		continue;
	if (ncap > p->max)
		ncap = p->max;
	if ((nbuf = realloc(p->buf, ncap)) == NULL) {
		p->err = 1;
		return -1;
	}
	p->buf = nbuf;
	p->buf[p->len] = '\0';
	p->cap = ncap;
	return 0;
}

/* Append s[0..n). */
static void
putn(struct prom *p, const char *s, size_t n)
{
	if (grow(p, n) == -1)
		return;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

/* Append the string s. */
static void
puts_(struct prom *p, const char *s)
{
	putn(p, s, strlen(s));
}

/* Append s escaped: '\\' and newline, and '"' too in a label value. */
static void
put_escaped(struct prom *p, const char *s, int label)
{
	size_t	 n;

	while (*s != '\0') {
		n = strcspn(s, label ? "\\\"\n" : "\\\n");
		putn(p, s, n);
		s += n;
		if (*s == '\0')
			break;
		putn(p, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		s++;
	}
}

void
prom_printf(struct prom *p, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (p->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(p->buf != NULL ? p->buf + p->len : NULL,
	    p->buf != NULL ? p->cap - p->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->err = 1;
		return;
	}
	if (p->buf != NULL && (size_t)n < p->cap - p->len) {
		p->len += (size_t)n;
		return;
	}
	/* It did not fit: make room and format again. */
	if (grow(p, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
	va_end(ap);
	p->len += (size_t)n;
}

void
prom_family(struct prom *p, const char *name, const char *type,
    const char *help)
{
	prom_printf(p, "# HELP %s ", name);
	put_escaped(p, help, 0);
	prom_printf(p, "\n# TYPE %s %s\n", name, type);
}

/* "{a="x",b="y"}" from a va_list of name, value pairs ending in NULL. */
static void
put_labels(struct prom *p, va_list ap)
{
	const char	*k, *v;
	int		 n = 0;

	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		prom_printf(p, "%s%s=\"", n++ == 0 ? "{" : ",", k);
		put_escaped(p, v != NULL ? v : "", 1);
		puts_(p, "\"");
	}
	if (n > 0)
		puts_(p, "}");
}

void
prom_sample(struct prom *p, const char *name, uint64_t v, ...)
{
	va_list	 ap;

	puts_(p, name);
	va_start(ap, v);
	put_labels(p, ap);
	va_end(ap);
	prom_printf(p, " %llu\n", (unsigned long long)v);
}

void
prom_counter(struct prom *p, const char *name, const char *help,
    uint64_t v)
{
	prom_family(p, name, "counter", help);
	prom_sample(p, name, v, (const char *)NULL);
}

void
prom_gauge(struct prom *p, const char *name, const char *help, uint64_t v)
{
	prom_family(p, name, "gauge", help);
	prom_sample(p, name, v, (const char *)NULL);
}

/* "name<suffix>{label="value"," (or "{" / nothing) for a series line. */
static void
series(struct prom *p, const char *name, const char *suffix,
    const char *label, const char *value, int more)
{
	prom_printf(p, "%s%s", name, suffix);
	if (label != NULL) {
		prom_printf(p, "{%s=\"", label);
		put_escaped(p, value != NULL ? value : "", 1);
		puts_(p, more ? "\"," : "\"}");
	} else if (more)
		puts_(p, "{");
}

void
prom_histogram(struct prom *p, const char *name, const char *label,
    const char *value, const char *const *le, const uint64_t *bucket,
    size_t nb, double sum)
{
	uint64_t	 cum = 0;
	size_t		 i;

	for (i = 0; i <= nb; i++) {
		cum += bucket[i];
		series(p, name, "_bucket", label, value, 1);
		puts_(p, "le=\"");
		put_escaped(p, i < nb ? le[i] : "+Inf", 1);
		prom_printf(p, "\"} %llu\n", (unsigned long long)cum);
	}
	series(p, name, "_sum", label, value, 0);
	prom_printf(p, " %.6f\n", sum);
	series(p, name, "_count", label, value, 0);
	prom_printf(p, " %llu\n", (unsigned long long)cum);
}

char *
prom_done(struct prom *p, size_t *len)
{
	char	*buf = NULL;

	*len = 0;
	if (!p->err && p->buf == NULL)
		grow(p, 0);	/* an empty text is still a text */
	if (!p->err) {
		buf = p->buf;
		*len = p->len;
		p->buf = NULL;
	}
	prom_free(p);
	return buf;
}

void
prom_free(struct prom *p)
{
	free(p->buf);
	prom_init(p, p->max);
}

enum prom_http
prom_http_parse(const char *buf, size_t len, size_t max, struct prom_req *r)
{
	const char	*end = NULL, *p, *eol;
	size_t		 i;

	memset(r, 0, sizeof(*r));
	if (memchr(buf, '\0', len) != NULL)
		return PROM_HTTP_BAD;
	for (i = 0; i + 1 < len && end == NULL; i++)
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')))
			end = buf + i;
	if (end == NULL)
		return len >= max ? PROM_HTTP_BIG : PROM_HTTP_MORE;
	/* The first line: method SP path [SP version], or less. */
	eol = memchr(buf, '\n', len);
	if (eol > buf && eol[-1] == '\r')
		eol--;
	r->method = buf;
	for (p = buf; p < eol && *p != ' '; p++)
		continue;
	r->method_len = (size_t)(p - buf);
	if (p < eol)
		p++;
	r->path = p;
	while (p < eol && *p != ' ' && *p != '?')
		p++;
	r->path_len = (size_t)(p - r->path);
	return PROM_HTTP_DONE;
}

int
prom_http_is(const struct prom_req *r, const char *method,
    const char *path)
{
	return r->method_len == strlen(method) &&
	    memcmp(r->method, method, r->method_len) == 0 &&
	    r->path_len == strlen(path) &&
	    memcmp(r->path, path, r->path_len) == 0;
}

const char *
prom_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

int
prom_http_head(char *buf, size_t bufsz, int status, const char *ctype,
    size_t clen)
{
	int	 n;

	n = snprintf(buf, bufsz, "HTTP/1.1 %d %s\r\n%s%s%s"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
	    prom_http_reason(status), ctype != NULL ? "Content-Type: " : "",
	    ctype != NULL ? ctype : "", ctype != NULL ? "\r\n" : "", clen);
	if (n < 0 || (size_t)n >= bufsz)
		return -1;
	return n;
}
