/*
 * tr_poll.c: the HTTP side of the realtime server (server layer, a
 * transport).  Reads one request at a time from a connection
 * (realtime/codec/http.h parses the head; the body is read up to
 * maxPayload, larger ones get 413), hands it up through the tr_up
 * callbacks (tr.h) that eio_server.c registers, and writes the answers:
 * polling payloads, "ok", JSON errors, with CORS headers (lib/cors.h
 * says which).  A polling GET may be parked by the session until there
 * is something to send; meanwhile the connection reads but does not
 * parse further requests.  WebSocket upgrades switch the connection to
 * tr_ws.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cors.h"
#include "lib/log.h"
#include "realtime/codec/http.h"
#include "realtime/server/conn.h"
#include "realtime/server/tr.h"

struct	tr_http {
	const struct tr_ctx *ctx;
	void		*sess;		/* session holding the parked GET */
	uint8_t		 busy;		/* request being answered */
	uint8_t		 keep;		/* keep-alive */
	uint8_t		 continued;	/* this request got "100 Continue" */
	enum cors_allow	 cors;		/* what the Origin calls for */
	/* the Origin echoed (CORS_ORIGIN is a list) */
	char		 origin[CORS_ORIGIN_MAX + 1];
};

static ssize_t	 http_input(struct conn *, char *, size_t);
static void	 http_closed(struct conn *);

static const struct conn_ops http_ops = { http_input, http_closed, NULL };

void
tr_poll_accept(struct conn *c, const struct tr_ctx *ctx)
{
	struct tr_http	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_warn("poll: calloc");
		conn_close(c);
		return;
	}
	h->ctx = ctx;
	c->owner = h;
	c->ops = &http_ops;
	c->deadline = conn_now(c->cl) + TR_HTTP_HEAD;
}

static void
http_closed(struct conn *c)
{
	struct tr_http	*h = c->owner;

	if (h == NULL)
		return;
	if (h->sess != NULL)
		h->ctx->up->get_gone(h->sess, c);
	free(h);
	c->owner = NULL;
}

/* The session no longer holds this connection's GET. */
void
tr_poll_unpark(struct conn *c)
{
	struct tr_http	*h = c->owner;

	if (h != NULL && c->ops == &http_ops)
		h->sess = NULL;
}

void
tr_poll_park(struct conn *c, void *s)
{
	struct tr_http	*h = c->owner;

	h->sess = s;
	c->deadline = 0;
}

/*
 * What CORS headers the request's Origin calls for (lib/cors.h); r NULL:
 * a request too broken to read an Origin from.
 */
static void
check_origin(struct tr_http *h, const struct http_request *r,
    const char *cors)
{
	const struct http_span	*o;

	o = r != NULL ? http_header_get(r, "Origin") : NULL;
	h->cors = cors_check(cors, o != NULL ? o->p : NULL,
	    o != NULL ? o->len : 0);
	h->origin[0] = '\0';
	if (h->cors == CORS_ORIGIN) {
		memcpy(h->origin, o->p, o->len);
		h->origin[o->len] = '\0';
	}
}

static void
write_cors(struct http_writer *w, const struct tr_http *h)
{
	if (h->cors == CORS_ANY)
		http_write_header(w, "Access-Control-Allow-Origin", "*");
	else if (h->cors != CORS_OFF)
		http_write_header(w, "Vary", "Origin");
	if (h->cors == CORS_ORIGIN) {
		http_write_header(w, "Access-Control-Allow-Origin", h->origin);
		http_write_header(w, "Access-Control-Allow-Credentials",
		    "true");
	}
}

static void
finish(struct conn *c)
{
	struct tr_http	*h = c->owner;

	if (c->flags & CONN_CLOSED)
		return;
	h->busy = 0;
	h->sess = NULL;
	if (!h->keep)
		conn_close_flush(c);
	else {
		c->deadline = conn_now(c->cl) + TR_HTTP_IDLE;
		conn_resume(c);
	}
}

/*
 * Answer the current request: status, Content-Type, body (copied), CORS.
 * extra: more header lines ("Name: v\r\n..."), or NULL.
 */
static int
respond(struct conn *c, int status, const char *ctype, const void *body,
    size_t len, const char *extra)
{
	struct tr_http		*h = c->owner;
	struct http_writer	 w;
	struct conn_buf		*b = NULL;
	char			 head[1024];
	ssize_t			 hl;
	int			 rc = -1;

	http_writer_init(&w, head, sizeof(head));
	http_write_status(&w, status);
	if (ctype != NULL)
		http_write_header(&w, "Content-Type", ctype);
	http_write_headerf(&w, "Content-Length", "%zu", len);
	write_cors(&w, h);
	if (!h->keep)
		http_write_header(&w, "Connection", "close");
	if (extra != NULL)
		http_write_raw(&w, extra, strlen(extra));
	http_write_end(&w);
	if ((hl = http_writer_done(&w)) < 0) {
		conn_close(c);
		goto out;
	}
	if ((b = conn_buf_new((size_t)hl + len)) == NULL) {
		conn_close(c);
		goto out;
	}
	memcpy(b->data, head, (size_t)hl);
	if (len > 0)
		memcpy(b->data + hl, body, len);
	rc = conn_send(c, b, 0, b->len);
	finish(c);
out:
	conn_buf_unref(b);
	return rc;
}

int
tr_poll_respond(struct conn *c, int status, const char *ctype,
    const void *body, size_t len)
{
	return respond(c, status, ctype, body, len, NULL);
}

/* Engine.IO error: {"code":N,"message":"..."} with 400 (or status). */
int
tr_poll_error(struct conn *c, int status, int code, const char *msg)
{
	char	 body[128];
	int	 n;

	n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}",
	    code, msg);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	return respond(c, status, "application/json", body, (size_t)n, NULL);
}

/* CORS preflight. */
static void
preflight(struct conn *c, const struct http_request *r)
{
	const struct http_span	*rh;
	char			 extra[600];
	int			 n;

	n = snprintf(extra, sizeof(extra), "Access-Control-Allow-Methods: "
	    "GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
	if ((rh = http_header_get(r, "Access-Control-Request-Headers")) !=
	    NULL && rh->len < 400 && memchr(rh->p, '\r', rh->len) == NULL &&
	    memchr(rh->p, '\n', rh->len) == NULL && n > 0)
		(void)snprintf(extra + n, sizeof(extra) - (size_t)n,
		    "Access-Control-Allow-Headers: %.*s\r\n", (int)rh->len,
		    rh->p);
	(void)respond(c, 204, NULL, NULL, 0, extra);
}

static ssize_t
http_input(struct conn *c, char *p, size_t len)
{
	struct tr_http		*h = c->owner;
	struct http_request	 r;
	enum http_res		 res;
	size_t			 blen;
	int			 st;

	if (h->busy)
		return 0;
	http_request_init(&r, (int64_t)h->ctx->max_payload);
	res = http_request_parse(&r, p, len);
	if (res == HTTP_AGAIN)
		return 0;
	if (res != HTTP_DONE) {
		st = http_res_status(res);
		log_debug("poll: fd=%d bad request: %s", c->io.fd,
		    http_res_str(res));
		h->keep = 0;
		h->busy = 1;
		check_origin(h, NULL, h->ctx->cors_origin);
		(void)respond(c, st, "text/plain", http_status_text(st),
		    strlen(http_status_text(st)), NULL);
		return (ssize_t)len;
	}
	blen = r.content_length > 0 ? (size_t)r.content_length : 0;
	if (len - r.head_len < blen) {
		if (!h->continued &&
		    http_header_has_token(&r, "Expect", "100-continue")) {
			h->continued = 1;
			(void)conn_send_copy(c, "HTTP/1.1 100 Continue\r\n\r\n",
			    25);
		}
		return 0;
	}
	h->continued = 0;
	h->keep = r.keep_alive != 0;
	h->busy = 1;
	c->deadline = 0;
	check_origin(h, &r, h->ctx->cors_origin);
	if (r.method == HTTP_OPTIONS)
		preflight(c, &r);
	else
		h->ctx->up->request(h->ctx->arg, c, &r, p + r.head_len, blen);
	return (ssize_t)(r.head_len + blen);
}

/* The request was handed to tr_ws.c (101 sent): nothing more here. */
void
tr_poll_upgraded(struct conn *c)
{
	free(c->owner);
	c->owner = NULL;
}
