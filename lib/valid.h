/*
 * valid.h: field rules of the API's bodies and events (docs/api.md
 * §2.10, §5), shared by chat-fcgi and chat-realtime.  Pure functions
 * over (pointer, length): no NUL needed, nothing allocated.  Lengths
 * count Unicode code points, not bytes.
 */
#ifndef LIB_VALID_H
#define LIB_VALID_H

#include <stddef.h>	/* size_t */

#define VALID_USERNAME_MIN	3	/* code points (ASCII only anyway) */
#define VALID_USERNAME_MAX	30
#define VALID_PASSWORD_MIN	6	/* code points */
#define VALID_PASSWORD_MAX	72	/* bytes: bcrypt reads no more */
#define VALID_DISPLAY_MAX	50	/* code points */
#define VALID_CONTENT_MIN	1	/* code points, after trimming */
#define VALID_CONTENT_MAX	5000

/* Failure bits; a value may fail several rules at once. */
#define VALID_E_SHORT	0x01	/* under the minimum length */
#define VALID_E_LONG	0x02	/* over the maximum length */
#define VALID_E_CHARS	0x04	/* a character outside the allowed set */
#define VALID_E_UTF8	0x08	/* not valid UTF-8 */

/*
 * Check that s[0..len) is valid UTF-8 (shortest form, no surrogates, at
 * most U+10FFFF).  Returns 0 and stores the number of code points in
 * *ncp (if not NULL), or -1.
 */
int	 valid_utf8(const char *s, size_t len, size_t *ncp);

/* Username: /^[a-zA-Z0-9_]+$/, 3-30 characters.  Returns 0 or E_ bits. */
int	 valid_username(const char *s, size_t len);

/*
 * Password: 6+ code points, at most 72 bytes, valid UTF-8, no NUL
 * (crypt() stops at one).  Returns 0 or E_ bits.
 */
int	 valid_password(const char *s, size_t len);

/*
 * Display name: valid UTF-8, at most 50 code points, no NUL (E_CHARS:
 * PostgreSQL text cannot hold one).  Returns 0 or E_ bits.
 */
int	 valid_display_name(const char *s, size_t len);

/*
 * Message content: trimmed like JavaScript's String.prototype.trim()
 * (ASCII and Unicode white space and line terminators at both ends),
 * then valid UTF-8 of 1-5000 code points without NUL (E_CHARS).
 * Returns 0 and the trimmed
 * span in *start, *tlen (pointing into s), or E_ bits.
 */
int	 valid_content(const char *s, size_t len, const char **start,
	    size_t *tlen);

#endif /* !LIB_VALID_H */
