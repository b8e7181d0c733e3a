/*
 * http.h: incremental, bounded HTTP/1.1 request-head reader and a small
 * response writer, for the WebSocket handshake and Engine.IO long-polling.
 * No I/O: the caller reads bytes into its own buffer and calls
 * http_request_parse() after each read; results are spans into that buffer.
 */
#ifndef RT_CODEC_HTTP_H
#define RT_CODEC_HTTP_H

#include <stddef.h>	/* size_t */
#include <stdint.h>	/* int64_t */
#include <sys/types.h>	/* ssize_t */

#define HTTP_MAX_TARGET		8192	/* bytes of the request target */
/* request line, CRLF incl. */
#define HTTP_MAX_LINE		(HTTP_MAX_TARGET + 64)
#define HTTP_MAX_HEADERS	64	/* header fields */
#define HTTP_MAX_HEADBLOCK	8192	/* header bytes after request line */
/* whole head */
#define HTTP_MAX_HEAD		(HTTP_MAX_LINE + HTTP_MAX_HEADBLOCK)
#define HTTP_MAX_QUERY_VALUE	4096	/* a decoded query value, NUL incl. */

enum	http_method { HTTP_GET = 0, HTTP_POST, HTTP_OPTIONS, HTTP_HEAD,
	HTTP_PUT, HTTP_DELETE, HTTP_PATCH, HTTP_OTHER, HTTP_METHOD__MAX };

/*
 * Result of http_request_parse().  The error values are sticky: once the
 * parser has failed, later calls return the same error.  The comment says
 * which status the server should answer with (then close).
 */
enum	http_res {
	HTTP_DONE = 0,		/* head complete: fields below are valid */
	HTTP_AGAIN,		/* need more bytes (no CRLFCRLF yet) */
	HTTP_EBAD,		/* 400: malformed request line or header */
	HTTP_ETARGET,		/* 414: request target too long */
	HTTP_EHEAD,		/* 431: too many headers or head too large */
	HTTP_EVERSION,		/* 505: not HTTP/1.0 or HTTP/1.1 */
	HTTP_ECHUNKED,		/* 411: Transfer-Encoding (need a length) */
	/* 400: bad, duplicate or conflicting Content-Length */
	HTTP_ELENGTH,
	HTTP_EBODY		/* 413: Content-Length above the caller's cap */
};

struct	http_span {
	const char	*p;	/* borrowed: points into the caller's buffer */
	size_t		 len;
};

struct	http_header {
	struct http_span name;	/* as sent; compare case-insensitively */
	struct http_span value;	/* leading/trailing blanks trimmed */
};

/*
 * One request head.  Allocate anywhere (about 2.2 KB: keep it on the stack
 * or only while a request is being read), http_request_init(), then call
 * http_request_parse() with the whole buffer so far after each read.  The
 * buffer may move (realloc) between calls that return HTTP_AGAIN: only an
 * offset is kept.  After HTTP_DONE the spans point into the buffer that was
 * passed to that call, and stay valid while it does.
 */
struct	http_request {
	/* Set by http_request_init(). */
	int64_t		 max_body;	/* Content-Length cap, bytes */
	/* Internal state. */
	size_t		 scanned;	/* bytes searched for CRLFCRLF */
	enum http_res	 err;		/* sticky error, HTTP_AGAIN if none */
	/* Valid after HTTP_DONE. */
	size_t		 head_len;	/* head incl. CRLFCRLF: body offset */
	enum http_method method;
	struct http_span method_name;	/* e.g. "GET" */
	struct http_span target;	/* request target as sent */
	struct http_span path;		/* target before '?', not decoded */
	struct http_span query;		/* after '?', without it; len 0: none */
	int		 minor;		/* HTTP/1.minor: 0 or 1 */
	int64_t		 content_length;/* -1 if absent */
	int		 keep_alive;	/* 1.1, 1.0 + keep-alive; not close */
	size_t		 nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

void	 http_request_init(struct http_request *, int64_t max_body);
enum http_res
	 http_request_parse(struct http_request *, const char *, size_t);
const char
	*http_res_str(enum http_res);
int	 http_res_status(enum http_res);

/*
 * Header lookup (case-insensitive name).  Returns the first field's value
 * or NULL.  http_header_count() tells how many fields carry the name.
 */
const struct http_span
	*http_header_get(const struct http_request *, const char *);
size_t	 http_header_count(const struct http_request *, const char *);

/*
 * Whether a comma-separated token list header (Connection, Upgrade) holds
 * the token, case-insensitively, across every field of that name.
 */
int	 http_header_has_token(const struct http_request *, const char *name,
	    const char *token);

/* Case-insensitive compare of a span with a NUL-terminated string. */
int	 http_span_eq(const struct http_span *, const char *);
int	 http_span_caseeq(const struct http_span *, const char *);

/*
 * Query parameter lookup: finds "name" in r->query, percent-decodes its
 * value ('+' is a space) into out (NUL-terminated).  Returns the decoded
 * length, HTTP_QUERY_ABSENT if missing, HTTP_QUERY_BAD if the value is
 * malformed (bad %xx, decodes to NUL) or does not fit outsz.  A parameter
 * given without '=' has the empty value.
 */
#define HTTP_QUERY_ABSENT	(-1)
#define HTTP_QUERY_BAD		(-2)
ssize_t	 http_query_get(const struct http_request *, const char *name,
	    char *out, size_t outsz);
/* Same over any query string span (e.g. a stored one). */
ssize_t	 http_query_get_span(const struct http_span *query, const char *name,
	    char *out, size_t outsz);

/*
 * Response writer into a caller buffer.  Writes never overflow: once a
 * write does not fit, w->overflow is set and later writes do nothing;
 * http_writer_done() then returns -1, else the byte count.
 */
struct	http_writer {
	char		*buf;		/* borrowed: the caller's buffer */
	size_t		 size;		/* its size in bytes */
	size_t		 len;		/* bytes written */
	int		 overflow;	/* a write did not fit */
};

void	 http_writer_init(struct http_writer *, char *, size_t);
/* "HTTP/1.1 200 OK\r\n" */
void	 http_write_status(struct http_writer *, int status);
/* "Name: value\r\n"; the value must not hold CR or LF (else overflow set) */
void	 http_write_header(struct http_writer *, const char *name,
	    const char *value);
void	 http_write_headerf(struct http_writer *, const char *name,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Blank line ending the head. */
void	 http_write_end(struct http_writer *);
void	 http_write_raw(struct http_writer *, const void *, size_t);
ssize_t	 http_writer_done(const struct http_writer *);

/* "OK", "Bad Request"...; "Unknown" for codes not in the table. */
const char
	*http_status_text(int);

#endif /* !RT_CODEC_HTTP_H */
