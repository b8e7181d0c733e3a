/*
 * t/multipart.c: multipart_boundary() and the streaming multipart parser
 * on good and hostile bodies, fed whole, split at every byte, one byte at
 * a time and in random chunks.  Each run is recorded as a transcript
 * ("B<name|filename|type>" data "E" per part) and compared.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "fcgi/multipart.h"

#define BNDP	"----x0Bound'()+_,-./:="	/* all but the last byte */
#define BND	BNDP "?"

struct	rec {
	char	*buf;		/* transcript, malloc'd */
	size_t	 len, cap;
	size_t	 begins, ends;	/* callbacks seen */
	size_t	 data;		/* part bytes seen */
	size_t	 maxchunk;	/* largest part_data call */
	size_t	 abort_at;	/* part_data fails once data exceeds this */
	int	 abort_begin;	/* part_begin fails */
	int	 nomem;
};

static void
put(struct rec *r, const char *p, size_t n)
{
	char	*nb;
	size_t	 ncap;

	if (r->nomem)
		return;
	if (r->len + n > r->cap) {
		ncap = (r->len + n) * 2 + 64;
		if ((nb = realloc(r->buf, ncap)) == NULL) {
			r->nomem = 1;
			return;
		}
		r->buf = nb;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static void
puts0(struct rec *r, const char *s)
{

	put(r, s, strlen(s));
}

static int
on_begin(void *arg, const struct multipart_part *p)
{
	struct rec	*r = arg;
	char		 idx[32];

	r->begins++;
	snprintf(idx, sizeof(idx), "%zu", p->index);
	puts0(r, "B<");
	puts0(r, idx);
	puts0(r, "|");
	puts0(r, p->name);
	puts0(r, "|");
	puts0(r, p->filename != NULL ? p->filename : "(null)");
	puts0(r, "|");
	puts0(r, p->type != NULL ? p->type : "(null)");
	puts0(r, ">");
	return r->abort_begin;
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct rec	*r = arg;

	if (len == 0)
		puts0(r, "<EMPTY DATA CALL>");
	if (len > r->maxchunk)
		r->maxchunk = len;
	r->data += len;
	put(r, buf, len);
	return r->abort_at != 0 && r->data > r->abort_at;
}

static int
on_end(void *arg)
{
	struct rec	*r = arg;

	r->ends++;
	puts0(r, "E");
	return 0;
}

static const struct multipart_cb cbs = { on_begin, on_data, on_end };

/* Feed body in the chunk sizes given by next(); returns finish's code. */
static int
run(const char *bnd, const char *body, size_t len, struct rec *r,
    size_t (*next)(size_t, size_t), size_t k)
{
	struct multipart	*m;
	size_t			 pos = 0, n;
	int			 rc;

	memset(r, 0, sizeof(*r));
	if ((m = multipart_new(bnd, &cbs, r)) == NULL)
		return -1;
	while (pos < len) {
		n = next(len - pos, k);
		if (n > len - pos)
			n = len - pos;
		if ((rc = multipart_feed(m, body + pos, n)) != MULTIPART_OK)
			break;
		pos += n;
	}
	rc = multipart_finish(m);
	multipart_free(m);
	return rc;
}

static size_t
all(size_t left, size_t k)
{

	(void)k;
	return left;
}

static size_t
fixed(size_t left, size_t k)
{

	(void)left;
	return k;
}

static uint32_t	seed = 12345;

static size_t
rnd(size_t left, size_t k)
{

	(void)left;
	seed = seed * 1103515245u + 12345u;
	return 1 + (seed >> 8) % k;
}

/* First chunk k bytes, then the rest. */
static size_t	 first;
static size_t
split(size_t left, size_t k)
{

	if (first) {
		first = 0;
		return k;
	}
	return left;
}

static int
same(const struct rec *r, const char *want, size_t wlen)
{

	return !r->nomem && r->len == wlen &&
	    (wlen == 0 || memcmp(r->buf, want, wlen) == 0);
}

/* Parse whole; 0 if it was ok and the transcript is "want". */
static int
check(const char *bnd, const char *body, size_t len, const char *want,
    size_t wlen)
{
	struct rec	 r;
	int		 rc, ok;

	rc = run(bnd, body, len, &r, all, 0);
	ok = rc == MULTIPART_OK && same(&r, want, wlen);
	if (!ok)
		printf("# rc %d (%s), transcript \"%.*s\"\n", rc,
		    multipart_strerror(rc), (int)r.len, r.buf ? r.buf : "");
	free(r.buf);
	return ok;
}

/* Error code of a body parsed whole. */
static int
err_of(const char *bnd, const char *body, size_t len)
{
	struct rec	 r;
	int		 rc;

	rc = run(bnd, body, len, &r, all, 0);
	free(r.buf);
	return rc;
}

#define S(x)	x, sizeof(x) - 1

static const char two[] =
    "--" BND "\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "hello\r\n"
    "--" BND "\r\n"
    "content-disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
    "Content-Type:  image/png \r\n"
    "X-Other: ignored\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\r\n-\r\n--\r\n--" BNDP "x"
    "\r\n--" BND "\r\n"
    "Content-Disposition: form-data; name=empty\r\n"
    "\r\n"
    "\r\n--" BND "--\r\n";
static const char two_want[] =
    "B<0|note|(null)|(null)>helloE"
    "B<1|avatar|a.png|image/png>"
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\r\n-\r\n--\r\n--" BNDP "xE"
    "B<2|empty|(null)|(null)>E";

static void
t_boundary(void)
{
	char	 b[MULTIPART_BOUNDARY_MAX + 1], big[200];

	tap_int(multipart_boundary("multipart/form-data; boundary=----x",
	    b, sizeof(b)), 5, "boundary: plain");
	tap_str(b, "----x", "boundary: plain value");
	tap_int(multipart_boundary("multipart/form-data; boundary=\"a b:c\"",
	    b, sizeof(b)), 5, "boundary: quoted with space and colon");
	tap_str(b, "a b:c", "boundary: quoted value");
	tap_int(multipart_boundary("Multipart/Form-Data ;charset=utf-8;"
	    "BOUNDARY=WebKitFormBoundary7MA4YWxkTrZu0gW", b, sizeof(b)), 33,
	    "boundary: case-insensitive, other parameter first");
	tap_str(b, "WebKitFormBoundary7MA4YWxkTrZu0gW", "boundary: value kept");
	tap_ok(multipart_boundary("text/plain; boundary=abc", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/mixed; boundary=abc", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-dataX; boundary=abc", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data", b, sizeof(b)) == -1 &&
	    multipart_boundary("", b, sizeof(b)) == -1 &&
	    multipart_boundary(NULL, b, sizeof(b)) == -1,
	    "boundary: other types, none, empty");
	tap_ok(multipart_boundary("multipart/form-data; boundary=", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=\"\"", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=\"ab ", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=\"ab \"", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=a@b", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b,
	    sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=a; boundary=a",
	    b, sizeof(b)) == -1 &&
	    multipart_boundary("multipart/form-data; boundary=a b", b,
	    sizeof(b)) == -1,
	    "boundary: empty, unterminated, trailing space, bad byte, twice");
	memset(big, 0, sizeof(big));
	strcpy(big, "multipart/form-data; boundary=");
	memset(big + strlen(big), 'x', 70);
	tap_int(multipart_boundary(big, b, sizeof(b)), 70,
	    "boundary: 70 bytes");
	strcat(big, "x");
	tap_int(multipart_boundary(big, b, sizeof(b)), -1,
	    "boundary: 71 bytes refused");
	tap_int(multipart_boundary("multipart/form-data; boundary=abcd", b, 4),
	    -1, "boundary: output too small");
}

static void
t_basic(void)
{
	static const char one[] =
	    "--" BND "\r\n"
	    "Content-Disposition: form-data; name=\"avatar\"; "
	    "filename=\"me.jpg\"\r\n"
	    "Content-Type: image/jpeg\r\n"
	    "\r\n"
	    "JPEGDATA\r\n"
	    "--" BND "--";
	struct multipart	*m;
	int			 ok;

	tap_ok(check(BND, S(one), S("B<0|avatar|me.jpg|image/jpeg>JPEGDATAE")),
	    "single part, no epilogue");
	tap_ok(check(BND, S(two), S(two_want)),
	    "three parts: field, file with fake boundaries, empty part");
	tap_ok(multipart_new("", &cbs, NULL) == NULL &&
	    multipart_new("a ", &cbs, NULL) == NULL &&
	    multipart_new("a\r\nb", &cbs, NULL) == NULL &&
	    multipart_new(NULL, &cbs, NULL) == NULL,
	    "multipart_new refuses bad boundaries");
	/* No callbacks at all is allowed. */
	ok = (m = multipart_new(BND, NULL, NULL)) != NULL &&
	    multipart_feed(m, S(two)) == MULTIPART_OK &&
	    multipart_finish(m) == MULTIPART_OK &&
	    multipart_error(m) == MULTIPART_OK;
	multipart_free(m);
	tap_ok(ok, "NULL callbacks");
	multipart_free(NULL);
	/* Wrong field name: reported, not judged. */
	tap_ok(check("b", S("--b\r\nContent-Disposition: form-data; "
	    "name=\"photo\"; filename=\"x.gif\"\r\n\r\nGIF89a\r\n--b--\r\n"),
	    S("B<0|photo|x.gif|(null)>GIF89aE")), "other field name reported");
	/* Preamble, padding after boundaries, epilogue. */
	tap_ok(check("b", S("This is the preamble.\r\n--b \t\r\n"
	    "Content-Disposition: form-data; name=a\r\n\r\n1\r\n--b\t\r\n"
	    "Content-Disposition: form-data; name=b\r\n\r\n2\r\n--b--  \r\n"
	    "epilogue\r\n--b\r\nnot a part\r\n"),
	    S("B<0|a|(null)|(null)>1EB<1|b|(null)|(null)>2E")),
	    "preamble, transport padding, epilogue ignored");
	tap_ok(check("b", S("\r\n--b\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\n\r\n--b--"), S("B<0|a|(null)|(null)>E")),
	    "empty preamble line, empty data");
	tap_ok(check("b", S("--b--\r\n"), S("")), "no parts at all");
	/* Filename with a path, quoted-pairs, UTF-8, filename* ignored. */
	tap_ok(check("b", S("--b\r\nContent-Disposition: form-data; "
	    "filename*=UTF-8''x%20y.png; name=\"a\\\"v\\\\\"; "
	    "filename=\"C:\\dir\\..\\we \\\"ird\\\";\xc5\xbc.png\"\r\n"
	    "\r\nx\r\n--b--"),
	    S("B<0|a\"v\\|C:\\dir\\..\\we \"ird\";\xc5\xbc.png|(null)>xE")),
	    "filename with path, quotes, semicolon, UTF-8");
	tap_ok(check("b", S("--b\r\nContent-Disposition: form-data; "
	    "name=\"\"; filename=\"\"\r\n\r\n\r\n--b--"),
	    S("B<0|||(null)>E")), "empty name and filename");
	/* Part data with every byte value, NULs included. */
	{
		char	 body[600], want[600];
		size_t	 n = 0, w = 0, i;

		n += (size_t)snprintf(body, sizeof(body), "--b\r\nContent-"
		    "Disposition: form-data; name=bin\r\n\r\n");
		w += (size_t)snprintf(want, sizeof(want),
		    "B<0|bin|(null)|(null)>");
		for (i = 0; i < 256; i++) {
			body[n++] = (char)i;
			want[w++] = (char)i;
		}
		memcpy(body + n, "\0\r\n--b--", 8);
		n += 8;
		memcpy(want + w, "\0E", 2);
		w += 2;
		tap_ok(check("b", body, n, want, w), "binary data with NULs");
	}
}

/* Same transcript whatever the split. */
static void
t_splits(void)
{
	struct rec	 r;
	size_t		 k, bad = 0, runs = 0;
	int		 rc;

	for (k = 0; k <= sizeof(two) - 1; k++) {
		first = 1;
		rc = run(BND, S(two), &r, split, k);
		if (rc != MULTIPART_OK || !same(&r, S(two_want)))
			bad++;
		free(r.buf);
	}
	tap_int((long long)bad, 0, "split at every position");
	rc = run(BND, S(two), &r, fixed, 1);
	tap_ok(rc == MULTIPART_OK && same(&r, S(two_want)),
	    "one byte at a time");
	free(r.buf);
	bad = 0;
	for (k = 2; k < 80; k++) {
		for (runs = 0; runs < 20; runs++) {
			rc = run(BND, S(two), &r, rnd, k);
			if (rc != MULTIPART_OK || !same(&r, S(two_want)))
				bad++;
			free(r.buf);
		}
	}
	tap_int((long long)bad, 0, "random splits (1560 runs)");
	/* Two-way splits of every pair of positions in a short body. */
	{
		static const char	 sb[] = "--b\r\nContent-Disposition: "
		    "form-data; name=a\r\n\r\n\r\n-\r\n--\r\n--c\r\r\n--b--";
		static const char	 sw[] =
		    "B<0|a|(null)|(null)>\r\n-\r\n--\r\n--c\rE";
		struct multipart	*m;
		size_t			 i, j;

		bad = 0;
		for (i = 0; i < sizeof(sb) - 1; i++)
			for (j = i; j < sizeof(sb) - 1; j++) {
				memset(&r, 0, sizeof(r));
				if ((m = multipart_new("b",
				    &cbs, &r)) == NULL ||
				    multipart_feed(m, sb, i) != 0 ||
				    multipart_feed(m, sb + i, j - i) != 0 ||
				    multipart_feed(m, sb + j,
				    sizeof(sb) - 1 - j) != 0 ||
				    multipart_finish(m) != 0 ||
				    !same(&r, S(sw)))
					bad++;
				multipart_free(m);
				free(r.buf);
			}
		tap_int((long long)bad, 0, "three chunks, every pair of cuts");
	}
}

static void
t_errors(void)
{
	struct multipart	*m;
	struct rec		 r;
	char			*body;
	size_t			 n, i;
	int			 rc, e, distinct;

	/* Missing close boundary. */
	rc = run("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\ndata\r\n--b\r\n"), &r, all, 0);
	tap_ok(rc == MULTIPART_ERR_UNTERMINATED && r.ends == 1 &&
	    r.begins == 1, "missing final boundary: error at finish");
	free(r.buf);
	rc = run("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\ndata\r\n--b"), &r, all, 0);
	tap_ok(rc == MULTIPART_ERR_UNTERMINATED && r.ends == 0,
	    "cut after delimiter: no part_end");
	free(r.buf);
	tap_int(err_of("b", S("")), MULTIPART_ERR_UNTERMINATED, "empty body");
	tap_int(err_of("b", S("--b-")), MULTIPART_ERR_UNTERMINATED,
	    "half a close delimiter");

	/* Header block over 8 KB; exactly 8 KB passes. */
	n = MULTIPART_HEADER_MAX + 200;
	if ((body = malloc(n)) == NULL)
		abort();
	for (i = 0; i < 2; i++) {
		size_t	 hb = MULTIPART_HEADER_MAX + i, fill, p;
		static const char	 cd[] =
		    "Content-Disposition: form-data; name=a\r\nX: ";

		/* block = cd + fill + "\r\n\r\n" */
		fill = hb - (sizeof(cd) - 1) - 4;
		p = (size_t)snprintf(body, n, "--b\r\n%s", cd);
		memset(body + p, 'h', fill);
		p += fill;
		memcpy(body + p, "\r\n\r\nZ\r\n--b--", 12);
		p += 12;
		rc = run("b", body, p, &r, fixed, 1000);
		if (i == 0)
			tap_ok(rc == MULTIPART_OK && r.data == 1,
			    "header block of exactly 8192 bytes");
		else
			tap_int(rc, MULTIPART_ERR_HEADER_SIZE,
			    "header block of 8193 bytes");
		free(r.buf);
	}
	/* One endless header line. */
	memcpy(body, "--b\r\nX-", 7);
	memset(body + 7, 'a', n - 7);
	tap_int(err_of("b", body, n), MULTIPART_ERR_HEADER_SIZE,
	    "endless header line");
	free(body);

	/* 16 header lines pass, 17 fail. */
	for (i = 16; i <= 17; i++) {
		char	 hb[2048];
		size_t	 j, p;

		p = (size_t)snprintf(hb, sizeof(hb), "--b\r\nContent-"
		    "Disposition: form-data; name=a\r\n");
		for (j = 1; j < i; j++)
			p += (size_t)snprintf(hb + p, sizeof(hb) - p,
			    "X-%zu: v\r\n", j);
		p += (size_t)snprintf(hb + p, sizeof(hb) - p,
		    "\r\nv\r\n--b--");
		rc = err_of("b", hb, p);
		if (i == 16)
			tap_int(rc, MULTIPART_OK, "16 headers pass");
		else
			tap_int(rc, MULTIPART_ERR_HEADER_COUNT,
			    "17 headers: too many");
	}
	/* 16 parts pass, 17 fail. */
	for (i = 16; i <= 17; i++) {
		char	 pb[4096];
		size_t	 j, p = 0;

		for (j = 0; j < i; j++)
			p += (size_t)snprintf(pb + p, sizeof(pb) - p,
			    "--b\r\nContent-Disposition: form-data; "
			    "name=f%zu\r\n\r\nv\r\n", j);
		p += (size_t)snprintf(pb + p, sizeof(pb) - p, "--b--");
		rc = run("b", pb, p, &r, all, 0);
		if (i == 16)
			tap_ok(rc == MULTIPART_OK && r.begins == 16 &&
			    r.ends == 16, "16 parts pass");
		else
			tap_ok(rc == MULTIPART_ERR_PART_COUNT &&
			    r.begins == 16, "17 parts: too many");
		free(r.buf);
	}

	/* Malformed bodies. */
	tap_ok(err_of("b", S("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
	    "--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\n\r\nx\r\n--b--")) ==
	    MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: attachment; name=a"
	    "\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data\r\n\r\nx"
	    "\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a; "
	    "name=b\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "Content-Disposition: form-data; name=a\r\n\r\nx\r\n--b--")) ==
	    MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; "
	    "name=\"a\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED,
	    "malformed: missing, wrong, nameless, repeated disposition");
	tap_ok(err_of("b", S("--b\nContent-Disposition: form-data; name=a\n\n"
	    "x\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\n\n"
	    "x\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\rX"
	    "\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    " folded\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition : form-data; name=a"
	    "\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "X: a\0b\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "no colon\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED,
	    "malformed: bare LF, bare CR, folding, space before colon, NUL");
	tap_ok(err_of("b", S("--bx\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b\r\nContent-Disposition: form-data; name=a\r\n"
	    "\r\nx\r\n--b-x")) == MULTIPART_ERR_MALFORMED &&
	    err_of("b", S("--b \r\x20\nContent-Disposition: form-data; "
	    "name=a\r\n\r\nx\r\n--b--")) == MULTIPART_ERR_MALFORMED,
	    "malformed: junk after a boundary");
	{
		char	 big[MULTIPART_PREAMBLE_MAX + 64];

		memset(big, 'p', sizeof(big));
		memcpy(big + sizeof(big) - 9, "\r\n--b--\r\n", 9);
		tap_int(err_of("b", big, sizeof(big)), MULTIPART_ERR_MALFORMED,
		    "preamble over the cap");
	}

	/* Aborts, and the error is sticky. */
	memset(&r, 0, sizeof(r));
	r.abort_at = 3;
	if ((m = multipart_new("b", &cbs, &r)) == NULL)
		abort();
	rc = multipart_feed(m, S("--b\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\n0123456789"));
	e = multipart_feed(m, S("\r\n--b--"));
	tap_ok(rc == MULTIPART_ERR_ABORTED && e == MULTIPART_ERR_ABORTED &&
	    multipart_finish(m) == MULTIPART_ERR_ABORTED &&
	    multipart_error(m) == MULTIPART_ERR_ABORTED && r.ends == 0,
	    "data callback aborts; error is sticky");
	multipart_free(m);
	free(r.buf);
	memset(&r, 0, sizeof(r));
	r.abort_begin = 1;
	if ((m = multipart_new("b", &cbs, &r)) == NULL)
		abort();
	rc = multipart_feed(m, S("--b\r\nContent-Disposition: form-data; "
	    "name=a\r\n\r\n0123456789\r\n--b--"));
	tap_ok(rc == MULTIPART_ERR_ABORTED && r.data == 0,
	    "begin callback aborts before any data");
	multipart_free(m);
	free(r.buf);

	distinct = 1;
	for (e = 0; e < MULTIPART_ERR__MAX; e++)
		for (rc = e + 1; rc < MULTIPART_ERR__MAX; rc++)
			if (strcmp(multipart_strerror(e),
			    multipart_strerror(rc)) == 0)
				distinct = 0;
	tap_ok(distinct && multipart_strerror(-1) != NULL &&
	    multipart_strerror(MULTIPART_ERR__MAX) != NULL &&
	    strcmp(multipart_strerror(MULTIPART_ERR_ABORTED),
	    multipart_strerror(MULTIPART_ERR_MALFORMED)) != 0,
	    "strerror: distinct texts, out of range handled");
}

/*
 * A 2 MB part in 64 KB chunks: after every feed, all but at most one
 * delimiter's worth of the bytes fed have reached the callback (nothing
 * is buffered), and the bytes arrive intact.
 */
static void
t_stream(void)
{
	static const char	 head[] = "--" BND "\r\nContent-Disposition: "
	    "form-data; name=\"avatar\"; filename=\"big.bin\"\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n";
	static const char	 tail[] = "\r\n--" BND "--\r\n";
	struct multipart	*m;
	struct rec		 r;
	char			*chunk;
	size_t			 total = 2 * 1024 * 1024, fed = 0, n, i;
	size_t			 dlen = 4 + strlen(BND), lag = 0;
	uint32_t		 x = 1, chk = 0, want = 0;
	int			 rc = 0;

	if ((chunk = malloc(65536)) == NULL)
		abort();
	memset(&r, 0, sizeof(r));
	if ((m = multipart_new(BND, &cbs, &r)) == NULL)
		abort();
	rc |= multipart_feed(m, S(head));
	r.len = 0;
	while (fed < total) {
		n = total - fed < 65536 ? total - fed : 65536;
		for (i = 0; i < n; i++) {
			x = x * 1664525u + 1013904223u;
			/* Plenty of CR, LF and '-' to tease the matcher. */
			chunk[i] = "\r\n-" BND[i % 8 < 3 ? i % 3 : 5]
			    ^ (char)((x >> 29) == 0 ? (x >> 16) & 0xff : 0);
			want = want * 31 + (unsigned char)chunk[i];
		}
		rc |= multipart_feed(m, chunk, n);
		fed += n;
		if (fed - r.data > lag)
			lag = fed - r.data;
		/* Checksum what arrived and drop it: the test stays small. */
		for (i = 0; i < r.len; i++)
			chk = chk * 31 + (unsigned char)r.buf[i];
		r.len = 0;
	}
	rc |= multipart_feed(m, S(tail));
	/* The held-back tail of the data, then "E". */
	for (i = 0; i + 1 < r.len; i++)
		chk = chk * 31 + (unsigned char)r.buf[i];
	rc |= multipart_finish(m);
	tap_ok(rc == 0 && r.data == total && chk == want && r.ends == 1 &&
	    r.len > 0 && r.buf[r.len - 1] == 'E',
	    "2 MB part streams through intact");
	if (!tap_ok(lag <= dlen && r.maxchunk <= 65536,
	    "held back at most one delimiter, chunks passed through"))
		printf("#   lag %zu, delimiter %zu, max chunk %zu\n", lag,
		    dlen, r.maxchunk);
	multipart_free(m);
	free(r.buf);
	free(chunk);
}

int
main(void)
{

	tap_plan(46);
	t_boundary();
	t_basic();
	t_splits();
	t_errors();
	t_stream();
	return tap_done();
}
