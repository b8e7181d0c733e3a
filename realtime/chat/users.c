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
 * Sending.
 */

/* Send "ev" [payload] to a set of sockets, encoding once. */
static void
send_many(struct sio_socket **ss, size_t n, const char *ev, json_t *payload)
{
	struct sio_buf	*buf;
	json_t		*args;
	size_t		 i;

	if (n == 0)
		return;
	if ((args = json_pack("[O]", payload)) == NULL)
		return;
	buf = sio_buf_event("/", ev, args);
	json_decref(args);
	if (buf == NULL)
		return;
	for (i = 0; i < n; i++)
		sio_send_buf(ss[i], buf);
	sio_buf_unref(buf);
}

/*
 * Deliver to this node's sockets of "uid".  The sockets are referenced
 * first: a send may close a connection and so change the lists.
 */
void
deliver_user(struct chat *c, long long uid, const char *ev, json_t *payload)
{
	struct cuser		*u;
	struct csock		*cs;
	struct sio_socket	**ss;
	size_t			 n = 0, i;

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
	send_many(ss, n, ev, payload);
	for (i = 0; i < n; i++)
		sio_socket_unref(ss[i]);
	free(ss);
}

/* Deliver to every socket of this node. */
void
deliver_all(struct chat *c, const char *ev, json_t *payload)
{
	struct csock		*cs;
	struct sio_socket	**ss;
	size_t			 n = 0, i;

	if (c->nsock == 0 || (ss = calloc(c->nsock, sizeof(*ss))) == NULL)
		return;
	TAILQ_FOREACH(cs, &c->all, aentry) {
		if (n == c->nsock)
			break;
		sio_socket_ref(cs->s);
		ss[n++] = cs->s;
	}
	send_many(ss, n, ev, payload);
	for (i = 0; i < n; i++)
		sio_socket_unref(ss[i]);
	free(ss);
	c->bframes += n;
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
