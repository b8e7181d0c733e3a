/*
 * multipart.c: a streaming multipart/form-data parser.
 * Called by the avatar handler (avatar.c), which feeds the request
 * body in chunks as it reads FastCGI stdin.  No I/O, no logging, no
 * allocation after multipart_new(): memory is the boundary plus the
 * header cap, whatever the body size.  Part data is never buffered; it
 * goes to the caller's callback as it streams, except for at most one
 * delimiter's worth of bytes that might still turn out to be a boundary.
 * Specs: RFC 7578 (multipart/form-data), RFC 2046 section 5.1 (syntax),
 * RFC 7230 section 3.2 (header fields), RFC 6266 (Content-Disposition).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fcgi/multipart.h"

enum	mstate {
	MS_PREAMBLE,	/* before the first boundary: discarded */
	MS_AFTER_DELIM,	/* "CRLF--boundary" seen: "--", blanks or CRLF? */
	MS_CLOSE_DASH,	/* "-" seen after the delimiter: want "-" */
	MS_PADDING,	/* blanks after the delimiter: want more or CR */
	MS_DELIM_LF,	/* CR after the delimiter: want LF */
	MS_HEADERS,	/* collecting the part's header block */
	MS_DATA,	/* part data */
	MS_EPILOGUE	/* after "--boundary--": discarded */
};

struct	multipart {
	enum mstate	 state;
	int		 err;		/* sticky enum multipart_err */
	struct multipart_cb cb;
	void		*arg;		/* for every callback */
	char		 delim[4 + MULTIPART_BOUNDARY_MAX]; /* CRLF--boundary */
	size_t		 dlen;		/* bytes in delim */
	size_t		 match;		/* bytes of delim matched, held back */
	int		 inpart;	/* in a part: begun, not yet ended */
	size_t		 nparts;	/* parts begun */
	size_t		 skipped;	/* preamble or epilogue bytes */
	size_t		 pad;		/* blanks after the current delimiter */
	char		 hdr[MULTIPART_HEADER_MAX]; /* raw header block */
	size_t		 hlen;		/* bytes in hdr */
	size_t		 hline;		/* offset in hdr of the current line */
	size_t		 nhdrs;		/* header lines in hdr */
	char		 strs[MULTIPART_HEADER_MAX + 8]; /* decoded strings */
	size_t		 slen;		/* bytes used in strs */
};

static const char *const errs[MULTIPART_ERR__MAX] = {
	"success",				/* MULTIPART_OK */
	"malformed multipart body",		/* MULTIPART_ERR_MALFORMED */
	"part header block too large",		/* MULTIPART_ERR_HEADER_SIZE */
	"too many part headers",		/* MULTIPART_ERR_HEADER_COUNT */
	"too many parts",			/* MULTIPART_ERR_PART_COUNT */
	"missing final boundary",		/* MULTIPART_ERR_UNTERMINATED */
	"aborted by callback",			/* MULTIPART_ERR_ABORTED */
	"out of memory",			/* MULTIPART_ERR_NOMEM */
};

/* Is c a letter, a digit, or one of the bytes in "extra"? */
static int
alnum_or(unsigned char c, const char *extra)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr(extra, c) != NULL;
}

/* RFC 7230 section 3.2.6 tchar: the bytes of a token. */
#define istchar(c)	alnum_or((c), "!#$%&'*+-.^_`|~")
/*
 * RFC 2046 section 5.1.1 bcharsnospace.  A space is also allowed, but
 * not as the last byte.
 */
#define isbchar(c)	alnum_or((c), "'()+_,-./:=?")

/* Is the boundary b (len bytes) well formed per RFC 2046? */
static int
boundary_ok(const char *b, size_t len)
{
	size_t	 i;

	if (len < 1 || len > MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
		return 0;
	for (i = 0; i < len; i++)
		if (b[i] != ' ' && !isbchar((unsigned char)b[i]))
			return 0;
	return 1;
}

/* ASCII case-insensitive: does p (len bytes) equal the literal lit? */
static int
ci_eq(const char *p, size_t len, const char *lit)
{
	size_t	 i;
	int	 a, b;

	if (strlen(lit) != len)
		return 0;
	for (i = 0; i < len; i++) {
		a = (unsigned char)p[i];
		b = (unsigned char)lit[i];
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return 0;
	}
	return 1;
}

/* The position after p[pos]'s optional blanks (OWS: SP, HTAB). */
static size_t
skip_ows(const char *p, size_t pos, size_t len)
{

	while (pos < len && (p[pos] == ' ' || p[pos] == '\t'))
		pos++;
	return pos;
}

/* The position after the token (tchar bytes) at p[pos]. */
static size_t
skip_token(const char *p, size_t pos, size_t len)
{

	while (pos < len && istchar((unsigned char)p[pos]))
		pos++;
	return pos;
}

/*
 * Decode the quoted-string starting at p[*pos] (the opening quote) into
 * out (outsz bytes, NUL-terminated).  "\"" and "\\" are quoted-pairs
 * (RFC 7230 section 3.2.6); any other backslash is kept as it is, since
 * some clients send Windows paths unescaped.  Control bytes other than
 * HT are refused.  Advances *pos past the closing quote.  Returns the
 * decoded length, or -1.
 */
static int
unquote(const char *p, size_t *pos, size_t len, char *out, size_t outsz)
{
	size_t		 i = *pos + 1, n = 0;
	unsigned char	 c;

	if (*pos >= len || p[*pos] != '"')
		return -1;
	for (;;) {
		if (i >= len)
			return -1;	/* no closing quote */
		c = (unsigned char)p[i];
		if (c == '"')
			break;
		if (c == '\\' && i + 1 < len &&
		    (p[i + 1] == '"' || p[i + 1] == '\\'))
			c = (unsigned char)p[++i];
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = (char)c;
		i++;
	}
	out[n] = '\0';
	*pos = i + 1;
	return (int)n;
}

/*
 * Parse the value of a parameter at p[*pos] (after "="): a quoted-string
 * or a bare run of bytes up to ";" or a blank.  The bare run is checked
 * by the caller.  Decoded into out (outsz bytes, NUL-terminated).
 * Returns the length, or -1.
 */
static int
param_value(const char *p, size_t *pos, size_t len, char *out, size_t outsz,
    int tokenonly)
{
	size_t	 start = *pos, end;

	if (start < len && p[start] == '"')
		return unquote(p, pos, len, out, outsz);
	end = start;
	if (tokenonly)
		end = skip_token(p, start, len);
	else
		while (end < len && p[end] != ';' && p[end] != ' ' &&
		    p[end] != '\t' && (unsigned char)p[end] > 0x20 &&
		    (unsigned char)p[end] != 0x7f)
			end++;
	if (end == start || end - start >= outsz)
		return -1;
	memcpy(out, p + start, end - start);
	out[end - start] = '\0';
	*pos = end;
	return (int)(end - start);
}

/*
 * The next parameter of a header value, from p[*pos]: OWS ";" OWS
 * token "=" value (param_value, with its outsz and tokenonly).  Returns
 * 1 with the name's span in *name, *nlen, the value decoded into out
 * and its length in *vlen; 0 at the end (a trailing ";" tolerated); -1
 * if malformed.  Advances *pos past what it read.
 */
static int
next_param(const char *p, size_t *pos, size_t len, size_t *name,
    size_t *nlen, char *out, size_t outsz, int tokenonly, int *vlen)
{
	size_t	 i;

	i = skip_ows(p, *pos, len);
	if (i == len)
		return 0;
	if (p[i] != ';')
		return -1;
	i = skip_ows(p, i + 1, len);
	if (i == len)
		return 0;
	*name = i;
	i = skip_token(p, i, len);
	*nlen = i - *name;
	if (*nlen == 0 || i == len || p[i] != '=')
		return -1;
	*pos = i + 1;
	if ((*vlen = param_value(p, pos, len, out, outsz, tokenonly)) < 0)
		return -1;
	return 1;
}

int
multipart_boundary(const char *ct, char *out, size_t outsz)
{
	char	 val[1024];
	size_t	 len, pos, name, nlen;
	int	 rc, vlen, found = 0;

	if (ct == NULL || out == NULL)
		return -1;
	len = strnlen(ct, 1024);
	if (len == 1024)
		return -1;
	/* type "/" subtype, each a token, compared as one. */
	pos = skip_ows(ct, 0, len);
	name = pos;
	pos = skip_token(ct, pos, len);
	if (pos == len || ct[pos] != '/')
		return -1;
	pos = skip_token(ct, pos + 1, len);
	if (!ci_eq(ct + name, pos - name, "multipart/form-data"))
		return -1;
	while ((rc = next_param(ct, &pos, len, &name, &nlen, val,
	    sizeof(val), 0, &vlen)) != 0) {
		if (rc == -1)
			return -1;
		if (!ci_eq(ct + name, nlen, "boundary"))
			continue;
		if (found || !boundary_ok(val, (size_t)vlen) ||
		    (size_t)vlen >= outsz)
			return -1;
		memcpy(out, val, (size_t)vlen + 1);
		found = vlen;
	}
	return found ? found : -1;
}

struct multipart *
multipart_new(const char *boundary, const struct multipart_cb *cb,
    void *arg)
{
	struct multipart	*m;
	size_t			 blen;

	if (boundary == NULL)
		return NULL;
	blen = strnlen(boundary, MULTIPART_BOUNDARY_MAX + 1);
	if (!boundary_ok(boundary, blen))
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if (cb != NULL)
		m->cb = *cb;
	m->arg = arg;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, boundary, blen);
	m->dlen = 4 + blen;
	/*
	 * The first boundary may open the body with no CRLF before it
	 * (RFC 2046: the CRLF belongs to the preamble, which may be
	 * empty): start as if that CRLF had been seen.
	 */
	m->state = MS_PREAMBLE;
	m->match = 2;
	return m;
}

/* Set the sticky error (first one wins) and return it. */
static int
fail(struct multipart *m, int err)
{

	if (m->err == MULTIPART_OK)
		m->err = err;
	return m->err;
}

/* Copy n bytes at p into strs as a new string; returns it or NULL. */
static const char *
save(struct multipart *m, const char *p, size_t n)
{
	char	*s;

	if (n + 1 > sizeof(m->strs) - m->slen)
		return NULL;
	s = m->strs + m->slen;
	memcpy(s, p, n);
	s[n] = '\0';
	m->slen += n + 1;
	return s;
}

/*
 * Parse a Content-Disposition value (p, len): "form-data" followed by
 * parameters, of which name and filename are kept (RFC 7578 section 4.2;
 * filename* is ignored, as RFC 7578 asks senders not to use it).
 * Returns 0 or -1.
 */
static int
disposition(struct multipart *m, const char *p, size_t len,
    struct multipart_part *part)
{
	size_t		 pos, start, nlen;
	const char	*s;
	char		*out;
	int		 rc, vlen;

	pos = skip_token(p, 0, len);
	if (!ci_eq(p, pos, "form-data"))
		return -1;
	for (;;) {
		/* Decode in place at the end of strs. */
		out = m->strs + m->slen;
		if ((rc = next_param(p, &pos, len, &start, &nlen, out,
		    sizeof(m->strs) - m->slen, 1, &vlen)) == 0)
			break;
		if (rc == -1)
			return -1;
		if (ci_eq(p + start, nlen, "name")) {
			if (part->name != NULL)
				return -1;
			s = part->name = out;
		} else if (ci_eq(p + start, nlen, "filename")) {
			if (part->filename != NULL)
				return -1;
			s = part->filename = out;
		} else
			s = NULL;	/* decoded, not kept */
		if (s != NULL)
			m->slen += (size_t)vlen + 1;
	}
	return part->name == NULL ? -1 : 0;
}

/*
 * The header block is complete in hdr (lines ending in CRLF, the last
 * one empty; no NUL or control bytes but HT).  Parse it and call
 * part_begin.  Unknown headers are ignored.
 */
static int
headers_done(struct multipart *m)
{
	struct multipart_part	 part;
	const char		*p, *line, *colon, *eol, *v, *ve;
	int			 seencd = 0;

	memset(&part, 0, sizeof(part));
	part.index = m->nparts - 1;
	m->slen = 0;
	p = m->hdr;
	line = p;
	for (;;) {
		eol = memchr(line, '\r', (size_t)(p + m->hlen - line));
		if (eol == NULL)
			return fail(m, MULTIPART_ERR_MALFORMED);
		if (eol == line)
			break;		/* the empty line */
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line ||
		    skip_token(line, 0, (size_t)(colon - line)) !=
		    (size_t)(colon - line))
			return fail(m, MULTIPART_ERR_MALFORMED);
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (ci_eq(line, (size_t)(colon - line),
		    "content-disposition")) {
			if (seencd++ ||
			    disposition(m, v, (size_t)(ve - v), &part) == -1)
				return fail(m, MULTIPART_ERR_MALFORMED);
		} else if (ci_eq(line, (size_t)(colon - line),
		    "content-type")) {
			if (part.type != NULL ||
			    (part.type = save(m, v, (size_t)(ve - v))) == NULL)
				return fail(m, MULTIPART_ERR_MALFORMED);
		}
		line = eol + 2;
	}
	if (!seencd)
		return fail(m, MULTIPART_ERR_MALFORMED);
	m->inpart = 1;
	if (m->cb.part_begin != NULL && m->cb.part_begin(m->arg, &part) != 0)
		return fail(m, MULTIPART_ERR_ABORTED);
	return MULTIPART_OK;
}

/* Pass n bytes of part data (or count preamble) on. */
static int
emit(struct multipart *m, const char *p, size_t n)
{

	if (n == 0)
		return MULTIPART_OK;
	if (m->state == MS_PREAMBLE) {
		m->skipped += n;
		if (m->skipped > MULTIPART_PREAMBLE_MAX)
			return fail(m, MULTIPART_ERR_MALFORMED);
		return MULTIPART_OK;
	}
	if (m->cb.part_data != NULL && m->cb.part_data(m->arg, p, n) != 0)
		return fail(m, MULTIPART_ERR_ABORTED);
	return MULTIPART_OK;
}

/*
 * Scan buf[*pos..len) for the delimiter in MS_PREAMBLE or MS_DATA,
 * passing everything that is not (yet) part of it on.  The delimiter
 * starts with CR and holds no other CR, so after a mismatch no suffix of
 * the matched bytes can start a new match: the held-back bytes are
 * exactly delim[0..match), and are emitted from delim itself.
 */
static int
scan(struct multipart *m, const char *buf, size_t len, size_t *pos)
{
	const char	*cr;
	size_t		 i = *pos, end;
	int		 rc = MULTIPART_OK;

	while (i < len) {
		if (m->match == 0) {
			cr = memchr(buf + i, '\r', len - i);
			end = cr == NULL ? len : (size_t)(cr - buf);
			if ((rc = emit(m, buf + i, end - i)) != MULTIPART_OK)
				break;
			i = end;
			if (cr != NULL) {
				m->match = 1;
				i++;
			}
			continue;
		}
		if (buf[i] == m->delim[m->match]) {
			i++;
			if (++m->match == m->dlen) {
				m->match = 0;
				m->pad = 0;
				m->state = MS_AFTER_DELIM;
				break;
			}
			continue;
		}
		/* Mismatch: the held bytes were data; rescan buf[i]. */
		rc = emit(m, m->delim, m->match);
		m->match = 0;
		if (rc != MULTIPART_OK)
			break;
	}
	*pos = i;
	return rc;
}

/* End the current part, if any. */
static int
part_end(struct multipart *m)
{

	if (!m->inpart)
		return MULTIPART_OK;
	m->inpart = 0;
	if (m->cb.part_end != NULL && m->cb.part_end(m->arg) != 0)
		return fail(m, MULTIPART_ERR_ABORTED);
	return MULTIPART_OK;
}

/* Take one byte of the header block. */
static int
header_byte(struct multipart *m, unsigned char c)
{

	if (m->hlen == sizeof(m->hdr))
		return fail(m, MULTIPART_ERR_HEADER_SIZE);
	if (m->hlen > 0 && m->hdr[m->hlen - 1] == '\r' && c != '\n')
		return fail(m, MULTIPART_ERR_MALFORMED);	/* bare CR */
	if (c == '\n') {
		if (m->hlen == 0 || m->hdr[m->hlen - 1] != '\r')
			return fail(m, MULTIPART_ERR_MALFORMED); /* bare LF */
		m->hdr[m->hlen++] = (char)c;
		if (m->hlen - m->hline == 2) {
			m->state = MS_DATA;
			m->match = 0;
			return headers_done(m);
		}
		/* Obsolete line folding (RFC 7230 3.2.4) is refused. */
		if (m->hdr[m->hline] == ' ' || m->hdr[m->hline] == '\t')
			return fail(m, MULTIPART_ERR_MALFORMED);
		if (++m->nhdrs > MULTIPART_HEADERS_MAX)
			return fail(m, MULTIPART_ERR_HEADER_COUNT);
		m->hline = m->hlen;
		return MULTIPART_OK;
	}
	if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
		return fail(m, MULTIPART_ERR_MALFORMED);
	m->hdr[m->hlen++] = (char)c;
	return MULTIPART_OK;
}

/* A new part starts after its boundary line: count it, reset headers. */
static int
part_start(struct multipart *m)
{
	int	 rc;

	if ((rc = part_end(m)) != MULTIPART_OK)
		return rc;
	if (++m->nparts > MULTIPART_PARTS_MAX)
		return fail(m, MULTIPART_ERR_PART_COUNT);
	m->hlen = m->hline = m->nhdrs = 0;
	m->state = MS_HEADERS;
	return MULTIPART_OK;
}

int
multipart_feed(struct multipart *m, const char *buf, size_t len)
{
	size_t		 i = 0;
	unsigned char	 c;
	int		 rc = MULTIPART_OK;

	if (m->err != MULTIPART_OK)
		return m->err;
	while (i < len && rc == MULTIPART_OK) {
		switch (m->state) {
		case MS_PREAMBLE:
		case MS_DATA:
			rc = scan(m, buf, len, &i);
			continue;
		case MS_EPILOGUE:
			m->skipped += len - i;
			i = len;
			if (m->skipped > MULTIPART_EPILOGUE_MAX)
				rc = fail(m, MULTIPART_ERR_MALFORMED);
			continue;
		default:
			break;
		}
		c = (unsigned char)buf[i++];
		switch (m->state) {
		case MS_AFTER_DELIM:
			if (c == '-')
				m->state = MS_CLOSE_DASH;
			else if (c == ' ' || c == '\t') {
				m->pad = 1;
				m->state = MS_PADDING;
			} else if (c == '\r')
				m->state = MS_DELIM_LF;
			else
				rc = fail(m, MULTIPART_ERR_MALFORMED);
			break;
		case MS_CLOSE_DASH:
			if (c != '-') {
				rc = fail(m, MULTIPART_ERR_MALFORMED);
				break;
			}
			if ((rc = part_end(m)) != MULTIPART_OK)
				break;
			m->skipped = 0;
			m->state = MS_EPILOGUE;
			break;
		case MS_PADDING:
			if (c == '\r')
				m->state = MS_DELIM_LF;
			else if ((c != ' ' && c != '\t') ||
			    ++m->pad > MULTIPART_PADDING_MAX)
				rc = fail(m, MULTIPART_ERR_MALFORMED);
			break;
		case MS_DELIM_LF:
			if (c != '\n')
				rc = fail(m, MULTIPART_ERR_MALFORMED);
			else
				rc = part_start(m);
			break;
		case MS_HEADERS:
			rc = header_byte(m, c);
			break;
		default:
			/* not reached */
			rc = fail(m, MULTIPART_ERR_MALFORMED);
			break;
		}
	}
	return rc;
}

int
multipart_finish(struct multipart *m)
{

	if (m->err != MULTIPART_OK)
		return m->err;
	if (m->state != MS_EPILOGUE)
		return fail(m, MULTIPART_ERR_UNTERMINATED);
	return MULTIPART_OK;
}

int
multipart_error(const struct multipart *m)
{

	return m->err;
}

void
multipart_free(struct multipart *m)
{

	free(m);
}

const char *
multipart_strerror(int err)
{

	if (err < 0 || err >= MULTIPART_ERR__MAX)
		return "unknown multipart error";
	return errs[err];
}
