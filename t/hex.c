/*
 * t/hex.c: lib/hex.h: every digit's value and the bytes around them,
 * encoding (lowercase, NUL-terminated), and the lowercase check on
 * good, uppercase, short and NUL-cut strings.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "lib/hex.h"

int
main(void)
{
	const unsigned char	 b[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char			 out[2 * sizeof(b) + 1];
	int			 c, ok;

	tap_plan(12);
	for (ok = 1, c = 0; c < 256; c++) {
		if (c >= '0' && c <= '9')
			ok &= hex_digit(c) == c - '0';
		else if (c >= 'a' && c <= 'f')
			ok &= hex_digit(c) == c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			ok &= hex_digit(c) == c - 'A' + 10;
		else
			ok &= hex_digit(c) == -1;
	}
	tap_ok(ok, "hex_digit: 0-9 a-f A-F and nothing else");
	tap_int(hex_digit(-1), -1, "hex_digit(EOF)");
	memset(out, 'x', sizeof(out));
	hex_encode(b, sizeof(b), out);
	tap_str(out, "00017f80abff", "hex_encode");
	hex_encode(b, 0, out);
	tap_str(out, "", "hex_encode of nothing");
	tap_ok(hex_is_lower("0123456789abcdef", 16), "lowercase digits");
	tap_ok(!hex_is_lower("0123456789ABCDEF", 16), "uppercase refused");
	tap_ok(!hex_is_lower("12g4", 4), "a non-digit");
	tap_ok(!hex_is_lower("12 4", 4), "a space");
	tap_ok(!hex_is_lower("ab", 3), "stops at the NUL");
	tap_ok(hex_is_lower("abz", 2), "looks at len bytes only");
	tap_ok(hex_is_lower("", 0), "nothing is all hex");
	tap_ok(!hex_is_lower("\xc3\xa9", 2), "non-ASCII");
	return tap_done();
}
