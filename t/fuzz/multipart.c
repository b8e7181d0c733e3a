/*
 * t/fuzz/multipart.c: libFuzzer target for fcgi/multipart.c.
 * fuzz-sources: fcgi/multipart.c
 * Input: byte 0 picks how the body is cut into chunks (whole, 1 byte,
 * fixed size, pseudo-random; byte 1 is the size or seed), byte 2 is the
 * length of a Content-Type prefix given to multipart_boundary(), the rest
 * is a body with the boundary "AaB03x".  The body is parsed twice, whole
 * and cut up; both runs must agree on the outcome and on every callback
 * (data compared as one stream), so split-dependent bugs crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/multipart.h"

#define BND	"AaB03x"

struct	trace {
	uint64_t	 h;		/* FNV-1a over the event stream */
	size_t		 begins, ends, data;
	int		 inpart;
};

static void
mix(struct trace *t, const void *p, size_t n)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		t->h ^= c[i];
		t->h *= 1099511628211ULL;
	}
}

static void
mixs(struct trace *t, const char *s)
{

	if (s == NULL)
		mix(t, "\1null", 5);
	else
		mix(t, s, strlen(s) + 1);
}

static int
on_begin(void *arg, const struct multipart_part *p)
{
	struct trace	*t = arg;

	if (t->inpart || p->name == NULL || p->index != t->begins ||
	    p->index >= MULTIPART_PARTS_MAX)
		abort();
	t->inpart = 1;
	t->begins++;
	mix(t, "B", 1);
	mixs(t, p->name);
	mixs(t, p->filename);
	mixs(t, p->type);
	/* A part named "stop" aborts, to exercise that path. */
	return strcmp(p->name, "stop") == 0;
}

static int
on_data(void *arg, const char *buf, size_t len)
{
	struct trace	*t = arg;

	if (!t->inpart || len == 0)
		abort();
	t->data += len;
	mix(t, buf, len);
	return 0;
}

static int
on_end(void *arg)
{
	struct trace	*t = arg;

	if (!t->inpart)
		abort();
	t->inpart = 0;
	t->ends++;
	mix(t, "E", 1);
	return 0;
}

static const struct multipart_cb cbs = { on_begin, on_data, on_end };

static int
parse(const uint8_t *body, size_t len, unsigned mode, unsigned arg,
    struct trace *t)
{
	struct multipart	*m;
	size_t			 pos = 0, n;
	uint32_t		 seed = arg * 2654435761u + 1;
	int			 rc = MULTIPART_OK, rc2;

	memset(t, 0, sizeof(*t));
	t->h = 14695981039346656037ULL;
	if ((m = multipart_new(BND, &cbs, t)) == NULL)
		abort();
	while (pos < len) {
		switch (mode) {
		case 0:
			n = len - pos;
			break;
		case 1:
			n = 1;
			break;
		case 2:
			n = arg + 1;
			break;
		default:
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (arg + 1);
			break;
		}
		if (n > len - pos)
			n = len - pos;
		rc = multipart_feed(m, (const char *)body + pos, n);
		pos += n;
		if (rc != MULTIPART_OK)
			break;
	}
	rc2 = multipart_finish(m);
	/* Sticky: finish repeats a feed error; strerror always answers. */
	if ((rc != MULTIPART_OK && rc2 != rc) ||
	    multipart_error(m) != rc2 || multipart_strerror(rc2) == NULL)
		abort();
	if (rc2 == MULTIPART_OK && (t->inpart || t->begins != t->ends))
		abort();
	multipart_free(m);
	return rc2;
}

/* Check multipart_boundary() on the first len bytes of p. */
static void
boundary(const uint8_t *p, size_t len)
{
	struct multipart	*m;
	char			 ct[256], out[MULTIPART_BOUNDARY_MAX + 1];
	int			 n;

	if (len >= sizeof(ct))
		len = sizeof(ct) - 1;
	memcpy(ct, p, len);
	ct[len] = '\0';
	n = multipart_boundary(ct, out, sizeof(out));
	if (n == -1)
		return;
	if (n < 1 || n > MULTIPART_BOUNDARY_MAX || strlen(out) != (size_t)n ||
	    out[n - 1] == ' ')
		abort();
	/* What it returns, multipart_new() accepts. */
	if ((m = multipart_new(out, &cbs, NULL)) == NULL)
		abort();
	multipart_free(m);
	if (multipart_boundary(ct, out, (size_t)n) != -1)
		abort();	/* no room for the NUL */
}

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace	 whole, cut;
	size_t		 plen;
	int		 a, b;

	if (size < 3)
		return 0;
	plen = data[2];
	if (plen > size - 3)
		plen = size - 3;
	boundary(data + 3, plen);
	a = parse(data + 3, size - 3, 0, 0, &whole);
	b = parse(data + 3, size - 3, data[0] & 3, data[1], &cut);
	if (a != b || whole.h != cut.h || whole.data != cut.data ||
	    whole.begins != cut.begins || whole.ends != cut.ends)
		abort();
	return 0;
}
