/*
 * t/valid.c: the DTO field rules of lib/valid.h at their edges: length
 * limits in code points, bytes for passwords, the username alphabet,
 * UTF-8 validity and JavaScript-style trimming of message content.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/valid.h"

#define S(x)	(x), (sizeof(x) - 1)

/* n copies of s, as a new string. */
static char *
rep(const char *s, size_t n)
{
	size_t	 l = strlen(s), i;
	char	*p = malloc(l * n + 1);

	if (p == NULL)
		abort();
	for (i = 0; i < n; i++)
		memcpy(p + i * l, s, l);
	p[l * n] = '\0';
	return p;
}

int
main(void)
{
	char		*p;
	const char	*st;
	size_t		 n, tl;

	tap_plan(44);

	tap_int(valid_utf8(S("abc"), &n), 0, "ascii utf8");
	tap_int(n, 3, "ascii counts bytes");
	tap_int(valid_utf8(S("\xc5\xbc\xf0\x9f\x98\x80"), &n), 0,
	    "2- and 4-byte sequences");
	tap_int(n, 2, "counts code points");
	tap_int(valid_utf8(S("\xc0\xaf"), NULL), -1, "overlong /");
	tap_int(valid_utf8(S("\xe0\x80\xaf"), NULL), -1, "overlong 3-byte");
	tap_int(valid_utf8(S("\xed\xa0\x80"), NULL), -1, "surrogate");
	tap_int(valid_utf8(S("\xf4\x90\x80\x80"), NULL), -1, "> U+10FFFF");
	tap_int(valid_utf8(S("\xc5"), NULL), -1, "truncated sequence");
	tap_int(valid_utf8(S("\xff"), NULL), -1, "0xff");
	tap_int(valid_utf8(S("a\x80"), NULL), -1, "lone continuation");

	tap_int(valid_username(S("abc")), 0, "3 chars ok");
	tap_int(valid_username(S("ab")), VALID_E_SHORT, "2 chars short");
	tap_int(valid_username(S("Ab_9xyzABCDEFGHIJKLMNOPQRSTUVW")), 0,
	    "30 chars ok");
	tap_int(valid_username(S("Ab_9xyzABCDEFGHIJKLMNOPQRSTUVWX")),
	    VALID_E_LONG, "31 chars long");
	tap_int(valid_username(S("user-name")), VALID_E_CHARS, "hyphen");
	tap_int(valid_username(S("a-")), VALID_E_CHARS | VALID_E_SHORT,
	    "short and hyphen");
	tap_int(valid_username(S("")), VALID_E_CHARS | VALID_E_SHORT,
	    "empty");
	tap_int(valid_username(S("\xc5\xbc\xc3\xb3\xc5\x82w_user")),
	    VALID_E_CHARS, "unicode letters");
	tap_int(valid_username("user\0name", 9), VALID_E_CHARS, "NUL");
	tap_int(valid_username(S("username\n")), VALID_E_CHARS,
	    "trailing newline");

	tap_int(valid_password(S("123456")), 0, "6-char password");
	tap_int(valid_password(S("12345")), VALID_E_SHORT, "5-char password");
	p = rep("p", 72);
	tap_int(valid_password(p, 72), 0, "72 bytes ok");
	free(p);
	p = rep("p", 73);
	tap_int(valid_password(p, 73), VALID_E_LONG, "73 bytes long");
	free(p);
	p = rep("\xc5\xbc", 36);
	tap_int(valid_password(p, 72), 0, "36 x 2-byte = 72 bytes ok");
	free(p);
	p = rep("\xc5\xbc", 37);
	tap_int(valid_password(p, 74), VALID_E_LONG, "37 x 2-byte long");
	free(p);
	tap_int(valid_password(S("\xc5\xbc\xc5\xbc\xc5\xbc")), VALID_E_SHORT,
	    "3 code points in 6 bytes is short");
	tap_int(valid_password("abc\0defg", 8), VALID_E_CHARS, "NUL in pw");

	p = rep("\xc5\xbc", 50);
	tap_int(valid_display_name(p, 100), 0, "50 x 2-byte name ok");
	free(p);
	p = rep("\xc5\xbc", 51);
	tap_int(valid_display_name(p, 102), VALID_E_LONG, "51 code points");
	free(p);
	p = rep("\xf0\x9f\x98\x80", 50);
	tap_int(valid_display_name(p, 200), 0, "50 emoji ok");
	free(p);
	tap_int(valid_display_name(S("")), 0, "empty name ok");
	tap_int(valid_display_name(S("\xff")), VALID_E_UTF8, "bad utf8 name");

	tap_int(valid_content(S("  hi \n"), &st, &tl), 0, "trimmed content");
	tap_ok(tl == 2 && memcmp(st, "hi", 2) == 0, "trim span");
	tap_int(valid_content(S("   \t\n"), &st, &tl), VALID_E_SHORT,
	    "blank content");
	tap_int(valid_content(S("\xc2\xa0\xe3\x80\x80x\xef\xbb\xbf"), &st,
	    &tl), 0, "unicode spaces trimmed");
	tap_int((long long)tl, 1, "to one byte");
	p = rep("\xc5\xbc", 5000);
	tap_int(valid_content(p, 10000, &st, &tl), 0, "5000 x 2-byte ok");
	free(p);
	p = rep("\xc5\xbc", 5001);
	tap_int(valid_content(p, 10002, &st, &tl), VALID_E_LONG,
	    "5001 code points");
	free(p);
	p = rep(" ", 6000);
	p[3000] = 'x';
	tap_int(valid_content(p, 6000, &st, &tl), 0,
	    "long padding around one char");
	free(p);
	tap_int(valid_content(S("a \xff"), &st, &tl), VALID_E_UTF8,
	    "bad utf8 content");
	tap_int(valid_content("a\0b", 3, &st, &tl), VALID_E_CHARS,
	    "NUL in content");
	return tap_done();
}
