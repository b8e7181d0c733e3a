/*
 * users.c: the users and sockets of this node (a hash of struct cuser, each
 * with its sockets), the conversation members cache, and delivery: to
 * this node's sockets of a user, to every socket here, and to every
 * socket of a user on any node (through the user's Redis channel).  A
 * connect not yet accepted gets what is delivered meanwhile kept for it
 * (its user's events with it, broadcasts in one log for all of them;
 * session.c sends them with conn_replay after the CONNECT answer).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>

#include "lib/log.h"
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
	/* A connect writing its presence is freed by the answer. */
	while ((op = TAILQ_FIRST(&u->waiting)) != NULL) {
		TAILQ_REMOVE(&u->waiting, op, wentry);
		if (op->wait == CW_PRESENCE) {
			connecting_leave(c, op);
			op->wait = CW_GONE;
		} else
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
 * Keep "buf" (a reference is taken) for a connect not yet accepted, to
 * send after its CONNECT answer; past CONN_KEEP_MAX the oldest goes.
 */
static void
conn_keep(struct chat *c, struct op *op, struct sio_buf *buf)
{
	static int	 warned;
	struct keptev	*k;

	if (op->kept == NULL &&
	    (op->kept = calloc(CONN_KEEP_MAX, sizeof(*op->kept))) == NULL)
		return;
	if (op->nkept == CONN_KEEP_MAX) {
		if (!warned) {
			log_warnx("chat: more than %d events for a connect "
			    "not yet accepted; dropping the oldest (logged "
			    "once)", CONN_KEEP_MAX);
			warned = 1;
		}
		sio_buf_unref(op->kept[op->khead].buf);
		op->khead = (op->khead + 1) % CONN_KEEP_MAX;
		op->nkept--;
	}
	k = &op->kept[(op->khead + op->nkept) % CONN_KEEP_MAX];
	sio_buf_ref(buf);
	k->buf = buf;
	k->bseq = c->bseq;
	op->nkept++;
}

/*
 * Keep broadcast "buf" (a reference is taken) for the connects writing
 * their presence: one log for all of them, the oldest dropped past
 * BCAST_KEEP_MAX.
 */
static void
bcast_keep(struct chat *c, struct sio_buf *buf)
{
	struct sio_buf	**slot;

	if (c->bcast == NULL &&
	    (c->bcast = calloc(BCAST_KEEP_MAX, sizeof(*c->bcast))) == NULL)
		return;
	slot = &c->bcast[c->bseq % BCAST_KEEP_MAX];
	if (c->nbcast == BCAST_KEEP_MAX)
		sio_buf_unref(*slot);	/* the oldest */
	else
		c->nbcast++;
	sio_buf_ref(buf);
	*slot = buf;
	c->bseq++;
}

/*
 * "op" no longer writes its presence: out of c->connecting, and the
 * broadcasts kept go once no connect is left to owe them to.
 */
void
connecting_leave(struct chat *c, struct op *op)
{
	TAILQ_REMOVE(&c->connecting, op, centry);
	if (TAILQ_EMPTY(&c->connecting))
		bcast_clear(c);
}

/* No connect writes its presence now: forget the broadcasts kept. */
void
bcast_clear(struct chat *c)
{
	while (c->nbcast > 0) {
		c->nbcast--;
		sio_buf_unref(c->bcast[(c->bseq - c->nbcast - 1) %
		    BCAST_KEEP_MAX]);
	}
}

/*
 * Send "s" what was kept for "op" (in c->connecting yet): its user's
 * events and the broadcasts since it began writing its presence, in
 * the order they came.
 */
void
conn_replay(struct chat *c, struct op *op, struct sio_socket *s)
{
	static int	 warned;
	struct keptev	*k;
	uint64_t	 b = op->bfrom, oldest = c->bseq - c->nbcast;
	size_t		 i;

	if (op->wait != CW_PRESENCE)
		b = c->bseq;
	else if (b < oldest) {
		if (!warned) {
			log_warnx("chat: more than %d broadcasts while a "
			    "connect waited; dropping the oldest (logged "
			    "once)", BCAST_KEEP_MAX);
			warned = 1;
		}
		b = oldest;
	}
	for (i = 0; i < op->nkept; i++) {
		k = &op->kept[(op->khead + i) % CONN_KEEP_MAX];
		for (; b < k->bseq && b < c->bseq; b++)
			sio_send_buf(s, c->bcast[b % BCAST_KEEP_MAX]);
		sio_send_buf(s, k->buf);
	}
	for (; b < c->bseq; b++)
		sio_send_buf(s, c->bcast[b % BCAST_KEEP_MAX]);
}

/*
 * Encode "ev" [payload] once and send it to the n sockets of "ss", keep
 * it for the n connects of "ops" and, if "bcast", for every connect
 * writing its presence; then drop the references the caller took on
 * the sockets and free both arrays (taken).  The callers reference the
 * sockets first: a send may close a connection and so change the lists
 * they were taken from.
 */
static void
send_held(struct chat *c, struct sio_socket **ss, size_t n, struct op **ops,
    size_t nops, int bcast, const char *ev, json_t *payload)
{
	struct sio_buf	*buf = NULL;
	json_t		*args;
	size_t		 i;

	if (n + nops + bcast > 0 &&
	    (args = json_pack("[O]", payload)) != NULL) {
		buf = sio_buf_event("/", ev, args);
		json_decref(args);
	}
	for (i = 0; buf != NULL && i < nops; i++)
		conn_keep(c, ops[i], buf);
	if (buf != NULL && bcast)
		bcast_keep(c, buf);
	for (i = 0; buf != NULL && i < n; i++)
		sio_send_buf(ss[i], buf);
	sio_buf_unref(buf);
	for (i = 0; i < n; i++)
		sio_socket_unref(ss[i]);
	free(ss);
	free(ops);
}

/*
 * Deliver to this node's sockets of "uid", and keep for its connects
 * not yet accepted (session.c: they are sent after the CONNECT answer).
 */
void
deliver_user(struct chat *c, long long uid, const char *ev, json_t *payload)
{
	struct cuser		*u;
	struct csock		*cs;
	struct op		*op, **ops = NULL;
	struct sio_socket	**ss = NULL;
	size_t			 n = 0, nops = 0, nw = 0;

	if ((u = user_find(c, uid)) == NULL)
		return;
	TAILQ_FOREACH(op, &u->waiting, wentry)
		nw++;
	if (u->nsock == 0 && nw == 0)
		return;
	typing_seen(c, u, ev, payload);
	if ((u->nsock > 0 && (ss = calloc(u->nsock, sizeof(*ss))) == NULL) ||
	    (nw > 0 && (ops = calloc(nw, sizeof(*ops))) == NULL)) {
		free(ss);
		return;
	}
	TAILQ_FOREACH(cs, &u->socks, uentry) {
		if (n == u->nsock)
			break;
		sio_socket_ref(cs->s);
		ss[n++] = cs->s;
	}
	TAILQ_FOREACH(op, &u->waiting, wentry)
		ops[nops++] = op;
	send_held(c, ss, n, ops, nops, 0, ev, payload);
}

/*
 * Deliver to every socket of this node, and keep for the connects
 * writing their presence (a user must not miss the userOnline of one
 * who came online after it did, only because its socket was not yet
 * accepted).
 */
void
deliver_all(struct chat *c, const char *ev, json_t *payload)
{
	struct csock		*cs;
	struct sio_socket	**ss = NULL;
	size_t			 n = 0;
	int			 bcast = !TAILQ_EMPTY(&c->connecting);

	if ((c->nsock == 0 && !bcast) ||
	    (c->nsock > 0 && (ss = calloc(c->nsock, sizeof(*ss))) == NULL))
		return;
	TAILQ_FOREACH(cs, &c->all, aentry) {
		if (n == c->nsock)
			break;
		sio_socket_ref(cs->s);
		ss[n++] = cs->s;
	}
	send_held(c, ss, n, NULL, 0, bcast, ev, payload);
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
