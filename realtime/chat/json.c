/*
 * json.c: the JSON shapes the clients see (docs/api.md §4.5: Message, User,
 * Conversation) built from PostgreSQL rows, and the small parsers of
 * client values (ids) and of columns.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "realtime/chat/state.h"

/*
 * Small helpers.
 */

char *
lltoa(long long v, char *buf, size_t sz)
{
	snprintf(buf, sz, "%lld", v);
	return buf;
}

/*
 * "{id,id,...}": the n ids as a PostgreSQL bigint[] literal, for the
 * batched statements' one parameter.  A new string, or NULL.
 */
char *
pg_idarray(const long long *ids, size_t n)
{
	char	*a, *e, nb[24];
	size_t	 i, len;

	/* At most 20 digits and a comma each, the braces and the NUL. */
	if (n > (SIZE_MAX - 3) / 21 || (a = malloc(n * 21 + 3)) == NULL)
		return NULL;
	e = a;
	*e++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*e++ = ',';
		lltoa(ids[i], nb, sizeof(nb));
		len = strlen(nb);
		memcpy(e, nb, len);
		e += len;
	}
	*e++ = '}';
	*e = '\0';
	return a;
}

/* Parse a decimal bigint column; -1 if NULL or bad. */
long long
col_id(const PGresult *res, int row, int col)
{
	const char	*s;
	char		*end;
	long long	 v;

	if (PQgetisnull(res, row, col))
		return -1;
	s = PQgetvalue(res, row, col);
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		return -1;
	return v;
}

/* A nullable text column as JSON (string or null). */
json_t *
col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_stringn(PQgetvalue(res, row, col),
	    PQgetlength(res, row, col));
}

/*
 * A JSON id: a positive integer (an integral real is accepted too).
 * Returns 0 and *v, or -1.
 */
int
json_id(const json_t *j, long long *v)
{
	double	 d;

	if (json_is_integer(j)) {
		if (json_integer_value(j) <= 0)
			return -1;
		*v = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		d = json_real_value(j);
		if (!(d >= 1 && d <= 9007199254740991.0) || floor(d) != d)
			return -1;
		*v = (long long)d;
		return 0;
	}
	return -1;
}

/*
 * The Message payload (docs/api.md §4.5), in its key order, from row "row":
 * columns id, content, created, read; sender from column csender or,
 * when that is -1, "sender" with "uname".
 */
json_t *
message_json(const PGresult *res, int row, int cid, int ccontent,
    int ccreated, int cread, int csender, long long sender,
    const char *uname, long long conv)
{
	json_t	*m;

	if ((m = json_object()) == NULL)
		return NULL;
	json_object_set_new(m, "id", json_integer(col_id(res, row, cid)));
	json_object_set_new(m, "content", col_str(res, row, ccontent));
	json_object_set_new(m, "senderId", json_integer(csender >= 0 ?
	    col_id(res, row, csender) : sender));
	json_object_set_new(m, "senderUsername", csender >= 0 ?
	    col_str(res, row, csender + 1) : json_string(uname));
	json_object_set_new(m, "conversationId", json_integer(conv));
	json_object_set_new(m, "createdAt", col_str(res, row, ccreated));
	json_object_set_new(m, "readAt", col_str(res, row, cread));
	return m;
}

/*
 * getConversations and startConversation
 */

json_t *
user_json(const PGresult *res, int row, int col)
{
	json_t	*u;

	if ((u = json_object()) == NULL)
		return NULL;
	json_object_set_new(u, "id", json_integer(col_id(res, row, col)));
	json_object_set_new(u, "username", col_str(res, row, col + 1));
	json_object_set_new(u, "displayName", col_str(res, row, col + 2));
	json_object_set_new(u, "avatarUrl", col_str(res, row, col + 3));
	json_object_set_new(u, "avatarColor", col_str(res, row, col + 4));
	return u;
}

/* Set otherUser.isOnline (and null lastSeenAt when online). */
void
set_online(json_t *conv, int online)
{
	json_t	*ou = json_object_get(conv, "otherUser");

	json_object_set_new(ou, "isOnline", json_boolean(online));
	if (online)
		json_object_set_new(ou, "lastSeenAt", json_null());
}
