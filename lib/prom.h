/*
 * prom.h: what both programs' /metrics endpoints share, as pure
 * functions over buffers: the Prometheus text exposition format
 * (version 0.0.4: "# HELP", "# TYPE", samples, histograms) written into
 * a bounded buffer, and the tiny HTTP/1.x exchange a scrape is (parse
 * a request head from bytes, format a response head).  Each program's
 * own I/O loop moves the bytes: chat-fcgi's supervisor polls, and
 * chat-realtime runs it on its libev loop.
 */
#ifndef LIB_PROM_H
#define LIB_PROM_H

#include <stddef.h>	/* size_t */
#include <stdint.h>	/* uint64_t */

#define PROM_CTYPE	"text/plain; version=0.0.4; charset=utf-8"
#define PROM_HEAD_MAX	256	/* bytes of a response head (prom_http_head) */

/* A text being written.  Once err is set, later calls do nothing. */
struct	prom {
	char		*buf;	/* the text, NUL-terminated; NULL before any */
	size_t		 len;	/* bytes in buf, NUL aside */
	size_t		 cap;	/* bytes allocated */
	size_t		 max;	/* bytes the text may take, NUL included */
	int		 err;	/* sticky: over max, or out of memory */
};

/* Start an empty text of at most "max" bytes (nothing allocated yet). */
void	 prom_init(struct prom *p, size_t max);

/* Append raw text (the caller escapes it). */
void	 prom_printf(struct prom *p, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * "# HELP name help" and "# TYPE name type" ("counter", "gauge",
 * "histogram"); help is escaped as the format asks.
 */
void	 prom_family(struct prom *p, const char *name, const char *type,
	    const char *help);

/*
 * One sample, "name{l1="v1",...} v": after v come label names and
 * values, alternating, then NULL.  Values are escaped.
 */
void	 prom_sample(struct prom *p, const char *name, uint64_t v, ...)
	    __attribute__((sentinel));

/* A family of one unlabelled sample: prom_family, then "name v". */
void	 prom_counter(struct prom *p, const char *name, const char *help,
	    uint64_t v);
void	 prom_gauge(struct prom *p, const char *name, const char *help,
	    uint64_t v);

/*
 * One histogram's samples (its family written before): for each of the
 * nb bounds le[i] ("0.005", as it should read), name_bucket with the
 * count up to it; name_bucket{le="+Inf"}, name_sum (sum, "%.6f") and
 * name_count.  bucket holds nb + 1 counts per bucket (not summed; the
 * last is above every bound).  With label not NULL, every line carries
 * label="value" first.
 */
void	 prom_histogram(struct prom *p, const char *name, const char *label,
	    const char *value, const char *const *le, const uint64_t *bucket,
	    size_t nb, double sum);

/*
 * The text written: returns buf (free() it) and its length in *len,
 * or NULL if err is set (then everything is freed).  p is empty after.
 */
char	*prom_done(struct prom *p, size_t *len);

/* Drop the text without taking it. */
void	 prom_free(struct prom *p);

/* How far a scrape's request head has come. */
enum	prom_http {
	PROM_HTTP_MORE = 0,	/* no blank line yet: read on */
	PROM_HTTP_DONE,		/* the head is in: the prom_req is filled */
	PROM_HTTP_BIG,		/* no end within the caller's limit */
	PROM_HTTP_BAD		/* a NUL byte: not HTTP */
};

/* A request line, as spans of the caller's buffer. */
struct	prom_req {
	const char	*method;	/* "GET" */
	size_t		 method_len;
	const char	*path;		/* "/metrics": the query left out */
	size_t		 path_len;
};

/*
 * Look at the request head read so far, buf[0..len) (no NUL needed):
 * complete once it holds a blank line ("\r\n\r\n" or "\n\n").  Then
 * DONE, with the first line's method (up to a space or the line's end)
 * and path (after one space, up to a space, '?' or the line's end) in
 * r.  MORE while incomplete and len < max; BIG once len reaches max.
 */
enum prom_http	 prom_http_parse(const char *buf, size_t len, size_t max,
		    struct prom_req *r);

/* 1 if r's method and path are exactly "method" and "path". */
int	 prom_http_is(const struct prom_req *r, const char *method,
	    const char *path);

/*
 * Write a response head into buf: "HTTP/1.1 <status> <reason>", the
 * Content-Type "ctype" (no such line if NULL), Content-Length "clen",
 * "Connection: close" and the blank line.  Returns its length (less
 * than PROM_HEAD_MAX with a ctype of PROM_CTYPE's size), or -1 if it
 * does not fit in bufsz.
 */
int	 prom_http_head(char *buf, size_t bufsz, int status,
	    const char *ctype, size_t clen);

/* The reason phrase of the statuses a scrape endpoint sends, or "Error". */
const char	*prom_http_reason(int status);

#endif /* !LIB_PROM_H */
