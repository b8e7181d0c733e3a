/*
 * hex.h: hexadecimal digits, one way for everyone: decoding a digit
 * (percent-decoding in form bodies and query strings), encoding bytes
 * (refresh tokens, digests, ids) in lowercase, and checking a string
 * is lowercase hex (tokens and file names we issued).  No I/O.
 */
#ifndef LIB_HEX_H
#define LIB_HEX_H

#include <stddef.h>	/* size_t */

/* The value of hex digit c ('0'-'9', 'a'-'f', 'A'-'F'), or -1. */
int	 hex_digit(int c);

/*
 * Write the 2n lowercase hex digits of in[0..n) and a NUL into out,
 * which holds 2n + 1 bytes.
 */
void	 hex_encode(const void *in, size_t n, char *out);

/*
 * 1 if s[0..len) is len lowercase hex digits ('0'-'9', 'a'-'f'), else
 * 0.  Stops at the first byte that is not one (a NUL included), so a
 * shorter NUL-terminated string is safe to pass.
 */
int	 hex_is_lower(const char *s, size_t len);

#endif /* !LIB_HEX_H */
