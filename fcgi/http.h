/*
 * http.h: one FastCGI request as chat-fcgi's handlers see it: the CGI
 * parameters nginx sends (RFC 3875 names), the body read with a cap,
 * and JSON answers in NestJS's shapes with CORS headers.
 */
#ifndef FCGI_HTTP_H
#define FCGI_HTTP_H

#include <stddef.h>	/* size_t */

#include <fcgiapp.h>
#include <jansson.h>

#include "lib/conf.h"

#define HTTP_IP_MAX	64	/* bytes of REMOTE_ADDR kept */
#define HTTP_DRAIN_MAX	(64L * 1024 * 1024) /* body bytes read to discard */

struct	http_req {
	FCGX_Request	*fr;		/* libfcgi request (streams, envp) */
	const struct conf *conf;	/* borrowed */
	const char	*method;	/* REQUEST_METHOD, "" if absent */
	const char	*path;		/* DOCUMENT_URI: decoded, no query */
	const char	*uri;		/* REQUEST_URI as sent (for 404 text) */
	const char	*ctype;		/* CONTENT_TYPE or NULL */
	const char	*origin;	/* HTTP_ORIGIN or NULL */
	const char	*authz;		/* HTTP_AUTHORIZATION or NULL */
	char		 ip[HTTP_IP_MAX]; /* REMOTE_ADDR (nginx realip) */
	long long	 clen;		/* CONTENT_LENGTH, -1 if absent/bad */
	long long	 body_read;	/* stdin bytes consumed so far */
	int		 status;	/* status sent, or 0 (for the log) */
};

/* Fill r from fr's parameters (no I/O). */
void	 http_req_init(struct http_req *r, FCGX_Request *fr,
	    const struct conf *c);

/*
 * Read the whole body into a new buffer (NUL-terminated, free() it)
 * if it is at most cap bytes.  Returns 0 and sets *buf, *len; 413 if
 * longer (the rest is drained); -1 on a read error (logged).
 */
int	 http_body(struct http_req *r, size_t cap, char **buf, size_t *len);

/*
 * Read up to bufsz body bytes into buf.  Returns the count, 0 at the end
 * of the body, -1 on error.
 */
long	 http_read(struct http_req *r, char *buf, size_t bufsz);

/* Read and discard what is left of the body (up to HTTP_DRAIN_MAX). */
void	 http_drain(struct http_req *r);

/*
 * 1 if CONTENT_TYPE is the media type "type" (any case, parameters
 * such as "; charset=utf-8" allowed).
 */
int	 http_ctype_is(const struct http_req *r, const char *type);

/*
 * Send status with body j serialised (j is stolen: decref'd here, NULL
 * sends a 500) and extra header lines "extra" ("Name: value\r\n"...,
 * or NULL).  Adds Content-Type JSON and CORS headers.
 */
void	 http_send_json(struct http_req *r, int status, json_t *j,
	    const char *extra);

/*
 * The same with the body already serialised (len bytes of JSON,
 * borrowed).
 */
void	 http_send_body(struct http_req *r, int status, const char *body,
	    size_t len, const char *extra);

/*
 * Send {"statusCode":status,"message":msg,"error":<reason phrase>};
 * with noerror set the "error" key is left out (NestJS's bare 401).
 */
void	 http_send_error(struct http_req *r, int status, const char *msg,
	    int noerror);

/* Send a status with no body (204 preflight) plus extra headers. */
void	 http_send_empty(struct http_req *r, int status, const char *extra);

/* The reason phrase of an HTTP status ("Not Found"). */
const char	*http_reason(int status);

#endif /* !FCGI_HTTP_H */
