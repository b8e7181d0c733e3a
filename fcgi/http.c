/*
 * http.c: CGI parameters, request bodies and JSON answers for chat-fcgi
 * (see http.h).  Parameters come from nginx's fastcgi_params:
 * REQUEST_METHOD, DOCUMENT_URI, REQUEST_URI, CONTENT_TYPE,
 * CONTENT_LENGTH, REMOTE_ADDR, HTTP_AUTHORIZATION, HTTP_ORIGIN.
 * Header values written back are either constants or checked to hold
 * only visible ASCII (the echoed Origin: lib/cors.c), so a client
 * cannot inject headers.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "fcgi/http.h"
#include "fcgi/json_util.h"
#include "lib/cors.h"
#include "lib/log.h"

static const char	 ERR_500[] =
    "{\"statusCode\":500,\"message\":\"Internal server error\"}";

/* The CGI parameter "name" nginx passed, or NULL. */
static const char *
param(FCGX_Request *fr, const char *name)
{
	return FCGX_GetParam(name, fr->envp);
}

void
http_req_init(struct http_req *r, FCGX_Request *fr, const struct conf *c)
{
	const char	*s;
	char		*end;
	long long	 v;

	memset(r, 0, sizeof(*r));
	r->fr = fr;
	r->conf = c;
	r->clen = -1;
	if ((r->method = param(fr, "REQUEST_METHOD")) == NULL)
		r->method = "";
	r->uri = param(fr, "REQUEST_URI");
	if ((r->path = param(fr, "DOCUMENT_URI")) == NULL)
		r->path = r->uri;
	if (r->path == NULL)
		r->path = "/";
	if (r->uri == NULL)
		r->uri = r->path;
	r->ctype = param(fr, "CONTENT_TYPE");
	r->origin = param(fr, "HTTP_ORIGIN");
	r->authz = param(fr, "HTTP_AUTHORIZATION");
	if ((s = param(fr, "REMOTE_ADDR")) != NULL &&
	    strlen(s) < sizeof(r->ip))
		memcpy(r->ip, s, strlen(s) + 1);
	else
		memcpy(r->ip, "-", 2);
	if ((s = param(fr, "CONTENT_LENGTH")) != NULL && *s >= '0' &&
	    *s <= '9') {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			r->clen = v;
	}
}

long
http_read(struct http_req *r, char *buf, size_t bufsz)
{
	int	 n, want;

	want = bufsz > 65536 ? 65536 : (int)bufsz;
	if (want == 0)
		return 0;
	n = FCGX_GetStr(buf, want, r->fr->in);
	if (n < 0 || FCGX_GetError(r->fr->in) != 0) {
		log_warnx("read body: fcgi error %d", FCGX_GetError(r->fr->in));
		return -1;
	}
	r->body_read += n;
	return n;
}

void
http_drain(struct http_req *r)
{
	char	 buf[16384];
	long	 n;

	while (r->body_read < HTTP_DRAIN_MAX &&
	    (n = http_read(r, buf, sizeof(buf))) > 0)
		continue;
}

int
http_body(struct http_req *r, size_t cap, char **bufp, size_t *lenp)
{
	char	*buf = NULL;
	size_t	 len = 0;
	long	 n;
	int	 rc = -1;

	*bufp = NULL;
	*lenp = 0;
	/* Check the declared length before any allocation. */
	if (r->clen > (long long)cap) {
		http_drain(r);
		return 413;
	}
	/* Room for cap + 1 bytes (to see an overrun) and a NUL. */
	if ((buf = malloc(cap + 2)) == NULL) {
		log_warn("malloc");
		goto out;
	}
	while (len < cap + 1) {
		if ((n = http_read(r, buf + len, cap + 1 - len)) < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > cap) {
		http_drain(r);
		rc = 413;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

int
http_ctype_is(const struct http_req *r, const char *type)
{
	const char	*t = r->ctype;
	size_t		 n = strlen(type);

	if (t == NULL)
		return 0;
	while (*t == ' ' || *t == '\t')
		t++;
	return strncasecmp(t, type, n) == 0 &&
	    (t[n] == '\0' || t[n] == ';' || t[n] == ' ' || t[n] == '\t');
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/*
 * Start an answer: the Status line, the CORS headers CORS_ORIGIN and
 * the request's Origin call for (lib/cors.h), then "extra"; the caller
 * ends the head.  Records the status for the log.
 */
static void
send_head(struct http_req *r, int status, const char *extra)
{
	enum cors_allow	 ca;

	r->status = status;
	FCGX_FPrintF(r->fr->out, "Status: %d %s\r\n", status,
	    http_reason(status));
	ca = cors_check(r->conf->cors_origin, r->origin,
	    r->origin != NULL ? strlen(r->origin) : 0);
	if (ca == CORS_ANY)
		FCGX_PutS("Access-Control-Allow-Origin: *\r\n", r->fr->out);
	else if (ca != CORS_OFF)
		FCGX_PutS("Vary: Origin\r\n", r->fr->out);
	if (ca == CORS_ORIGIN)
		FCGX_FPrintF(r->fr->out, "Access-Control-Allow-Origin: %s\r\n"
		    "Access-Control-Allow-Credentials: true\r\n", r->origin);
	if (extra != NULL)
		FCGX_PutS(extra, r->fr->out);
}

void
http_send_json(struct http_req *r, int status, json_t *j,
    const char *extra)
{
	char	*s = NULL;

	if (j == NULL || (s = json_util_dump(j)) == NULL) {
		log_warnx("cannot serialise a %d answer", status);
		http_send_body(r, 500, ERR_500, sizeof(ERR_500) - 1, NULL);
	} else
		http_send_body(r, status, s, strlen(s), extra);
	free(s);
	json_decref(j);
}

void
http_send_body(struct http_req *r, int status, const char *body,
    size_t len, const char *extra)
{
	send_head(r, status, extra);
	FCGX_PutS("Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n\r\n", r->fr->out);
	if (len > INT_MAX || FCGX_PutStr(body, (int)len, r->fr->out) !=
	    (int)len)
		log_warnx("a %d answer was cut short", status);
}

void
http_send_error(struct http_req *r, int status, const char *msg,
    int noerror)
{
	json_t	*j;

	if (noerror)
		j = json_pack("{s:i, s:s}", "statusCode", status,
		    "message", msg);
	else
		j = json_pack("{s:i, s:s, s:s}", "statusCode", status,
		    "message", msg, "error", http_reason(status));
	http_send_json(r, status, j, NULL);
}

void
http_send_empty(struct http_req *r, int status, const char *extra)
{
	send_head(r, status, extra);
	FCGX_PutS("\r\n", r->fr->out);
}
