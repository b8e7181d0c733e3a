/*
 * users.c: the users and sockets of this node (a hash of struct cuser, each
 * with its sockets), the conversation members cache, and delivery: to
 * this node's sockets of a user, to every socket here, and to every
 * socket of a user on any node (through the user's Redis channel).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

/*
 * Users and sockets of this node.
 */

struct cuser *
user_find(struct chat *c, long long uid)
{
	struct cuser	*u;

	for (u = c->users[(unsigned long long)uid % USER_BUCKETS]; u != NULL;
	    u = u->hnext)
		if (u->uid == uid)
			return u;
	return NULL;
}

struct cuser *
user_get(struct chat *c, long long uid)
{
	struct cuser	*u;
	size_t		 b = (unsigned long long)uid % USER_BUCKETS;

	if ((u = user_find(c, uid)) != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = uid;
	TAILQ_INIT(&u->socks);
	LIST_INIT(&u->typing);
	TAILQ_INIT(&u->waiting);
	u->hnext = c->users[b];
	c->users[b] = u;
	return u;
}

void
user_free(struct chat *c, struct cuser *u)
{
	struct cuser	**pp;
	struct tyt	*t;
	struct op	*op;

	for (pp = &c->users[(unsigned long long)u->uid % USER_BUCKETS];
	    *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == u) {
			*pp = u->hnext;
			break;
		}
	while ((t = LIST_FIRST(&u->typing)) != NULL) {
		LIST_REMOVE(t, entry);
		ev_timer_stop(c->loop, &t->t);
		free(t);
	}
	while ((op = TAILQ_FIRST(&u->waiting)) != NULL) {
		TAILQ_REMOVE(&u->waiting, op, wentry);
		op_free(op);
	}
	free(u);
}

/* Remember a conversation's members. */
void
conv_put(struct chat *c, long long id, long long a, long long b)
{
	struct convent	*e;

	if (id <= 0)
		return;
	e = &c->convs[(unsigned long long)id % CONV_CACHE];
	e->id = id;
	e->one = a < b ? a : b;
	e->two = a < b ? b : a;
}

const struct convent *
conv_get(struct chat *c, long long id)
{
	const struct convent	*e;

	e = &c->convs[(unsigned long long)id % CONV_CACHE];
	return e->id == id ? e : NULL;
}

/*
 * The answer of a statement whose one row starts with the conversation's
 * two members (S_MARKREAD, S_MEMBERS): remember them and return 0 with
 * *a and *b, or answer the request's error, free "op" and return -1.
 */
int
conv_members(struct op *op, const PGresult *res, long long *a, long long *b)
{
	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return -1;
	}
	if (PQntuples(res) != 1) {
		op_fail(op, E_NOTMEMBER);
		return -1;
	}
	*a = col_id(res, 0, 0);
	*b = col_id(res, 0, 1);
	conv_put(op->c, op->id, *a, *b);
	return 0;
}

/*
 * Sending.
 */

/*
 * Send "ev" [payload] to the n sockets of "ss", encoding once, then drop
 * the references the caller took on them and free "ss" (taken).  The
 * callers reference the sockets first: a send may close a connection
 * and so change the lists they were taken from.
 */
static void
send_held(struct sio_socket **ss, size_t n, const char *ev, json_t *payload)
{
	struct sio_buf	*buf = NULL;
	json_t		*args;
	size_t		 i;

	if (n > 0 && (args = json_pack("[O]", payload)) != NULL) {
		buf = sio_buf_event("/", ev, args);
		json_decref(args);
	}
	for (i = 0; buf != NULL && i < n; i++)
		sio_send_buf(ss[i], buf);
	sio_buf_unref(buf);
	for (i = 0; i < n; i++)
		sio_socket_unref(ss[i]);
	free(ss);
}

/* Deliver to this node's sockets of "uid". */
void
deliver_user(struct chat *c, long long uid, const char *ev, json_t *payload)
{
	struct cuser		*u;
	struct csock		*cs;
	struct sio_socket	**ss;
	size_t			 n = 0;

	if ((u = user_find(c, uid)) == NULL || u->nsock == 0)
		return;
	typing_seen(c, u, ev, payload);
	if ((ss = calloc(u->nsock, sizeof(*ss))) == NULL)
		return;
	TAILQ_FOREACH(cs, &u->socks, uentry) {
		if (n == u->nsock)
			break;
		sio_socket_ref(cs->s);
		ss[n++] = cs->s;
	}
	send_held(ss, n, ev, payload);
}

/* Deliver to every socket of this node. */
void
deliver_all(struct chat *c, const char *ev, json_t *payload)
{
	struct csock		*cs;
	struct sio_socket	**ss;
	size_t			 n = 0;

	if (c->nsock == 0 || (ss = calloc(c->nsock, sizeof(*ss))) == NULL)
		return;
	TAILQ_FOREACH(cs, &c->all, aentry) {
		if (n == c->nsock)
			break;
		sio_socket_ref(cs->s);
		ss[n++] = cs->s;
	}
	send_held(ss, n, ev, payload);
}

/* Every socket of "uid" on every node. */
void
emit_user(struct chat *c, long long uid, const char *ev, json_t *payload)
{
	json_t	*env;
	char	*s;

	deliver_user(c, uid, ev, payload);
	if ((env = json_pack("{s:I,s:s,s:O}", "n", (json_int_t)c->node,
	    "e", ev, "a", payload)) == NULL)
		return;
	if ((s = json_dumps(env, JSON_COMPACT)) != NULL) {
		ps_publish(c->ps, uid, s, strlen(s));
		free(s);
	}
	json_decref(env);
}
