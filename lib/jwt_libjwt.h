/*
 * jwt_libjwt.h: reach libjwt's <jwt.h>, which our own lib/jwt.h hides
 * because lib/ is on the include path.  Include it only as
 * <jwt_libjwt.h> (angle brackets), so it is found through -I lib and
 * #include_next continues the search after lib/, into the system dirs.
 * Only lib/jwt.c includes it.
 */
#ifndef CHAT_JWT_LIBJWT_H
#define CHAT_JWT_LIBJWT_H
#include_next <jwt.h>
#endif /* !CHAT_JWT_LIBJWT_H */
