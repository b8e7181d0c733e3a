/*
 * valid.c: the DTO field rules of valid.h.  Pure code over byte spans,
 * called by chat-fcgi's request validation and chat-realtime's chat
 * events; also reached by the json-body fuzz target.
 * Rules: docs/api.md §2.10, §4.3, §5: lengths count code points, a
 * password is at most 72 bytes (bcrypt reads no more), message content
 * is trimmed before it is measured.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "lib/valid.h"

/*
 * Decode one code point at s[0..len).  Returns its byte length (1-4)
 * and stores it in *cp, or 0 if the bytes are not well-formed UTF-8
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t	 c;
	size_t		 n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

int
valid_utf8(const char *s, size_t len, size_t *ncp)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 pos = 0, n = 0, k;
	uint32_t		 cp;

	while (pos < len) {
		if ((k = utf8_next(p + pos, len - pos, &cp)) == 0)
			return -1;
		pos += k;
		n++;
	}
	if (ncp != NULL)
		*ncp = n;
	return 0;
}

/*
 * A rule's length bits: E_SHORT if nmin < min, E_LONG if nmax > max.
 * Two counts, since a rule may measure its ends in different units
 * (a password: code points at least, bytes at most).
 */
static int
lengths(size_t nmin, size_t min, size_t nmax, size_t max)
{
	return (nmin < min ? VALID_E_SHORT : 0) |
	    (nmax > max ? VALID_E_LONG : 0);
}

int
valid_username(const char *s, size_t len)
{
	size_t	 i, n;
	int	 e = 0;
	char	 c;

	/* Any non-ASCII byte fails the regex; count bytes as characters. */
	for (i = 0; i < len; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			e |= VALID_E_CHARS;
	}
	if (len == 0)
		e |= VALID_E_CHARS;	/* "+" needs one character */
	if (e & VALID_E_CHARS) {
		/* Report lengths in characters when the bytes allow it. */
		if (valid_utf8(s, len, &n) == -1)
			n = len;
		len = n;
	}
	return e | lengths(len, VALID_USERNAME_MIN, len, VALID_USERNAME_MAX);
}

int
valid_password(const char *s, size_t len)
{
	size_t	 n;
	int	 e = 0;

	if (valid_utf8(s, len, &n) == -1)
		return VALID_E_UTF8 | (len > VALID_PASSWORD_MAX ?
		    VALID_E_LONG : 0);
	if (memchr(s, '\0', len) != NULL)
		e |= VALID_E_CHARS;
	return e | lengths(n, VALID_PASSWORD_MIN, len, VALID_PASSWORD_MAX);
}

int
valid_display_name(const char *s, size_t len)
{
	size_t	 n;

	if (valid_utf8(s, len, &n) == -1)
		return VALID_E_UTF8;
	return lengths(n, 0, n, VALID_DISPLAY_MAX) |
	    (memchr(s, '\0', len) != NULL ? VALID_E_CHARS : 0);
}

/* JavaScript's WhiteSpace and LineTerminator (ECMA-262 12.2, 12.3). */
static int
is_js_space(uint32_t c)
{
	switch (c) {
	case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
	case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f:
	case 0x205f: case 0x3000: case 0xfeff:
		return 1;
	default:
		return c >= 0x2000 && c <= 0x200a;
	}
}

int
valid_content(const char *s, size_t len, const char **start, size_t *tlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 pos = 0, k, n = 0, b = 0, e = 0;
	size_t			 nspace = 0;	/* spaces since a non-space */
	uint32_t		 cp;
	int			 seen = 0;

	/*
	 * One pass: b is the byte offset of the first non-space, e the end
	 * of the last non-space; n counts code points in [b, e).
	 */

	while (pos < len) {
		if ((k = utf8_next(p + pos, len - pos, &cp)) == 0)
			return VALID_E_UTF8;
		if (is_js_space(cp)) {
			if (seen)
				nspace++;
		} else {
			if (!seen) {
				seen = 1;
				b = pos;
			}
			n += nspace + 1;
			nspace = 0;
			e = pos + k;
		}
		pos += k;
	}
	if (memchr(s, '\0', len) != NULL)
		return VALID_E_CHARS;	/* PostgreSQL text cannot hold NUL */
	if (n < VALID_CONTENT_MIN)
		return VALID_E_SHORT;
	if (n > VALID_CONTENT_MAX)
		return VALID_E_LONG;
	*start = s + b;
	*tlen = e - b;
	return 0;
}
