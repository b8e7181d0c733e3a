/*
 * session.c: the life of a socket: connect (the token, then the user in the
 * database, then this node listens on the user's channel, then presence
 * in Redis, then the socket is accepted and gets what came for it
 * meanwhile), disconnect, and lastSeenAt.  The user checks of one loop
 * pass go to PostgreSQL as one S_USERB statement.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "lib/conf.h"
#include "lib/jwt_util.h"
#include "lib/log.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

/* lastSeenAt of a user whose last socket is gone. */
static void
lastseen_cb(void *arg, const PGresult *res, const char *err)
{
	struct chat	*c = arg;

	if (c->outstanding > 0)
		c->outstanding--;
}

void
write_lastseen(struct chat *c, long long uid)
{
	char		 b[24];
	const char	*p[1] = { lltoa(uid, b, sizeof(b)) };

	if (pgq_exec(c->pw, S_LASTSEEN, 1, p, 0, lastseen_cb, c) == 0)
		c->outstanding++;
}

/*
 * Connect: the token, then the user in the database.
 */

static void
refuse(struct sio_socket *s, const char *code)
{
	sio_refuse(s, json_pack("{s:s,s:{s:s}}", "message", E_UNAUTH,
	    "data", "code", code));
}

/*
 * Accept the socket of "op" as a socket of "u", then send it what was
 * kept for it meanwhile, in order; 0, or -1 if refused or closed
 * meanwhile.  op->first: the user just came online and no broadcast
 * told this node (PRESENCE_SCOPE=contacts tells only the contacts), so
 * it gets its own copy (the spec sends userOnline to all clients, this
 * one included); with the broadcast it got it like everyone else.
 */
static int
attach(struct chat *c, struct op *op, struct cuser *u)
{
	struct sio_socket	*s = op->s;
	json_t			*o;
	struct csock		*cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		refuse(s, "internal");
		return -1;
	}
	sio_socket_set_uid(s, u->uid);
	if (sio_accept(s) == -1) {
		free(cs);
		return -1;
	}
	cs->s = s;
	cs->u = u;
	snprintf(u->uname, sizeof(u->uname), "%s", op->uname);
	sio_socket_set_data(s, cs);
	u->nsock++;
	TAILQ_INSERT_TAIL(&u->socks, cs, uentry);
	TAILQ_INSERT_TAIL(&c->all, cs, aentry);
	c->nsock++;
	log_debug("chat: user %lld connected as %s", u->uid, sio_socket_id(s));
	/* A send may close the socket ("cs" is then gone): "s" only. */
	if (op->first && (o = json_pack("{s:I}", "userId",
	    (json_int_t)u->uid)) != NULL) {
		reply(s, -1, "userOnline", o);
		json_decref(o);
	}
	conn_replay(c, op, s);
	return 0;
}

/* Drop "u" if nothing of it is left here. */
static void
user_gc(struct chat *c, struct cuser *u)
{
	if (u->hold > 0 || u->nsock > 0 || !TAILQ_EMPTY(&u->waiting))
		return;
	ps_unsub_user(c->ps, u->uid);
	user_free(c, u);
}

/* "op" waits no more (what it kept goes with op_free). */
static void
unwait(struct chat *c, struct cuser *u, struct op *op)
{
	TAILQ_REMOVE(&u->waiting, op, wentry);
	if (op->wait == CW_PRESENCE)
		connecting_leave(c, op);
	op->wait = CW_NONE;
}

/*
 * The presence of "op" is written (or Redis is down): accept it, or
 * take its presence back if its socket is gone.  Frees op; the caller
 * holds "u".
 */
static void
finish(struct chat *c, struct cuser *u, struct op *op)
{
	if (!sio_socket_is_open(op->s) || attach(c, op, u) == -1)
		ps_presence_del(c->ps, op->uid, sio_socket_id(op->s));
	unwait(c, u, op);	/* after attach: it sends what was kept */
	op_free(op);
}

static void
presence_cb(void *arg, const redisReply *r)
{
	struct op	*op = arg;
	struct chat	*c = op->c;
	struct cuser	*u;

	if (op->wait != CW_PRESENCE ||
	    (u = user_find(c, op->uid)) == NULL) {	/* chat_free */
		op_free(op);
		return;
	}
	/* 2: announced on rt:{o:B}, which this node hears (ps.h). */
	op->first = r != NULL && r->type == REDIS_REPLY_INTEGER &&
	    r->integer == 1;
	u->hold++;
	finish(c, u, op);
	u->hold--;
	user_gc(c, u);
}

/*
 * This node listens on the user's channel: write the presence of "op"
 * (then its contacts, or everyone, hear of it: it hears them from now
 * on, kept until it is accepted).  The caller holds "u".
 */
static void
present(struct chat *c, struct cuser *u, struct op *op)
{
	if (!sio_socket_is_open(op->s)) {
		unwait(c, u, op);
		op_free(op);
		return;
	}
	op->wait = CW_PRESENCE;
	op->bfrom = c->bseq;
	TAILQ_INSERT_TAIL(&c->connecting, op, centry);
	if (ps_presence_add(c->ps, op->uid, sio_socket_id(op->s),
	    presence_cb, op) == -1) {
		op->first = 0;
		finish(c, u, op);
	}
}

/*
 * rt:{u:U} is subscribed (or the answer is late, or Redis is down):
 * the connects held for "u" go on to their presence.
 */
void
user_release(struct chat *c, struct cuser *u)
{
	struct op	*op, *next;

	u->listening = 1;
	u->subscribing = 0;
	u->hold++;
	for (op = TAILQ_FIRST(&u->waiting); op != NULL; op = next) {
		next = TAILQ_NEXT(op, wentry);
		if (op->wait == CW_SUB)
			present(c, u, op);
	}
	u->hold--;
	user_gc(c, u);
}

/*
 * The user of "op" exists (or the database is down).  First this node
 * subscribes to the user's channel (and Redis confirms it, or
 * CHAT_SUB_WAIT seconds pass), then the presence is written, then the
 * socket is accepted: so whoever comes online after the presence write
 * is heard (kept for the socket until its CONNECT answer), even a
 * contact connecting at the same moment.
 */
static void
admit(struct op *op)
{
	struct chat	*c = op->c;
	struct cuser	*u;

	if ((u = user_get(c, op->uid)) == NULL) {
		refuse(op->s, "internal");
		op_free(op);
		return;
	}
	op->wait = CW_SUB;
	TAILQ_INSERT_TAIL(&u->waiting, op, wentry);
	if (u->subscribing)
		return;
	if (!u->listening) {
		if (ps_sub_user(c->ps, u->uid) == 0) {
			u->subscribing = 1;
			u->wait_since = ev_now(c->loop);
			return;
		}
		u->listening = 1;	/* Redis is down: go on */
	}
	u->hold++;
	present(c, u, op);
	u->hold--;
	user_gc(c, u);
}

void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chat	*c = w->data;
	struct cuser	*u, *next;
	size_t		 i;

	presence_prune(c, 0);
	for (i = 0; i < USER_BUCKETS; i++)
		for (u = c->users[i]; u != NULL; u = next) {
			next = u->hnext;
			if (u->subscribing &&
			    ev_now(loop) - u->wait_since > CHAT_SUB_WAIT) {
				log_warnx("chat: no SUBSCRIBE answer for "
				    "user %lld; going on anyway", u->uid);
				user_release(c, u);
			}
		}
}

/*
 * The user of "op" was looked up: "found" 1 with its name "uname", 0 if
 * it does not exist, -1 if the database failed ("err").
 */
static void
connect_user(struct op *op, int found, const char *uname, const char *err)
{
	if (!sio_socket_is_open(op->s))
		goto out;
	if (found == -1) {
		/*
		 * The database is down: the token's HS256 signature is
		 * ours and fresh, so let the user in on it.
		 */
		log_warnx("chat: user %lld admitted on the token alone (%s)",
		    op->uid, err);
	} else if (found == 0) {
		refuse(op->s, "user_not_found");
		goto out;
	} else
		snprintf(op->uname, sizeof(op->uname), "%s", uname);
	admit(op);
	return;
out:
	op_free(op);
}

static void
connect_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;

	if (res == NULL)
		connect_user(op, -1, NULL, err);
	else if (PQntuples(res) != 1)
		connect_user(op, 0, NULL, NULL);
	else
		connect_user(op, 1, PQgetvalue(res, 0, 0), NULL);
}

/* The connects of one S_USERB statement, in array order. */
struct	userb {
	size_t		 n;
	struct op	*ops[USERB_MAX];
};

struct	userrow {
	long long	 id;
	int		 row;
};

static int
userrow_cmp(const void *a, const void *b)
{
	const struct userrow	*x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void
userb_cb(void *arg, const PGresult *res, const char *err)
{
	struct userb	*b = arg;
	struct userrow	*rows = NULL, key, *hit;
	size_t		 i, nrows = 0;
	int		 row;

	if (res == NULL) {
		for (i = 0; i < b->n; i++)
			connect_user(b->ops[i], -1, NULL, err);
		goto out;
	}
	if (PQntuples(res) > 0 &&
	    (rows = calloc(PQntuples(res), sizeof(*rows))) == NULL) {
		for (i = 0; i < b->n; i++) {
			refuse(b->ops[i]->s, "internal");
			op_free(b->ops[i]);
		}
		goto out;
	}
	for (row = 0; row < PQntuples(res); row++) {
		if ((rows[nrows].id = col_id(res, row, 0)) <= 0)
			continue;
		rows[nrows++].row = row;
	}
	if (nrows > 0)	/* rows is NULL without rows */
		qsort(rows, nrows, sizeof(*rows), userrow_cmp);
	for (i = 0; i < b->n; i++) {
		key.id = b->ops[i]->uid;
		if (nrows == 0 || (hit = bsearch(&key, rows, nrows,
		    sizeof(*rows), userrow_cmp)) == NULL)
			connect_user(b->ops[i], 0, NULL, NULL);
		else
			connect_user(b->ops[i], 1, PQgetvalue(res, hit->row, 1),
			    NULL);
	}
out:
	free(rows);
	free(b);
}

/* Send up to USERB_MAX queued connects as one S_USERB (one alone: S_USER). */
static void
userb_flush(struct chat *c)
{
	struct userb	*b;
	struct op	*op;
	long long	 ids[USERB_MAX];
	char		*a = NULL, nb[24];
	const char	*p[1];
	size_t		 i;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		op = TAILQ_FIRST(&c->connq);
		TAILQ_REMOVE(&c->connq, op, wentry);
		refuse(op->s, "internal");
		op_free(op);
		return;
	}
	while (b->n < USERB_MAX && (op = TAILQ_FIRST(&c->connq)) != NULL) {
		TAILQ_REMOVE(&c->connq, op, wentry);
		b->ops[b->n++] = op;
	}
	if (b->n == 1) {
		p[0] = lltoa(b->ops[0]->uid, nb, sizeof(nb));
		if (pgq_exec(c->pr, S_USER, 1, p, 0, connect_cb,
		    b->ops[0]) == -1)
			goto fail;
		free(b);
		return;
	}
	for (i = 0; i < b->n; i++)
		ids[i] = b->ops[i]->uid;
	if ((a = pg_idarray(ids, b->n)) == NULL)
		goto fail;
	p[0] = a;
	if (pgq_exec(c->pr, S_USERB, 1, p, 0, userb_cb, b) == -1)
		goto fail;
	free(a);
	return;
fail:
	free(a);
	for (i = 0; i < b->n; i++) {
		refuse(b->ops[i]->s, "unavailable");
		op_free(b->ops[i]);
	}
	free(b);
}

/*
 * Before the loop blocks: the user checks of this pass, and the contacts
 * of the presence transitions, few statements.
 */
void
userprep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chat	*c = w->data;

	while (!TAILQ_EMPTY(&c->connq))
		userb_flush(c);
	presence_fan_flush(c);	/* PRESENCE_SCOPE=contacts */
	ev_prepare_stop(loop, w);
}

/* chat_free: the connects never sent. */
void
connq_free(struct chat *c)
{
	struct op	*op;

	while ((op = TAILQ_FIRST(&c->connq)) != NULL) {
		TAILQ_REMOVE(&c->connq, op, wentry);
		op_free(op);
	}
}

void
chat_on_connect(struct sio_socket *s, const char *nsp, json_t *auth,
    void *arg)
{
	struct chat	*c = arg;
	struct op	*op;
	const char	*token;
	char		 uname[JWT_UNAME_MAX];
	long long	 uid;

	if (strcmp(nsp, "/") != 0) {
		sio_refuse(s, json_pack("{s:s}", "message",
		    "Invalid namespace"));
		return;
	}
	if (c->stopping) {
		refuse(s, "shutting_down");
		return;
	}
	token = json_string_value(json_object_get(auth, "token"));
	if (token == NULL || *token == '\0') {
		refuse(s, "missing_token");
		return;
	}
	if (jwt_access_verify(c->conf->jwt_secret, token, time(NULL), &uid,
	    uname, sizeof(uname)) == -1) {
		refuse(s, "invalid_token");
		return;
	}
	if ((op = op_new(c, s, OP_CONNECT, -1, uid, uname)) == NULL) {
		refuse(s, "internal");
		return;
	}
	/* Gathered: sent by userprep_cb with the others of this pass. */
	TAILQ_INSERT_TAIL(&c->connq, op, wentry);
	if (!ev_is_active(&c->userprep))
		ev_prepare_start(c->loop, &c->userprep);
}

void
chat_on_disconnect(struct sio_socket *s, const char *reason, void *arg)
{
	struct chat	*c = arg;
	struct csock	*cs = sio_socket_data(s);
	struct cuser	*u;
	json_t		*o;

	if (cs == NULL)
		return;
	sio_socket_set_data(s, NULL);
	u = cs->u;
	log_debug("chat: user %lld socket %s gone: %s", u->uid,
	    sio_socket_id(s), reason);
	TAILQ_REMOVE(&u->socks, cs, uentry);
	TAILQ_REMOVE(&c->all, cs, aentry);
	c->nsock--;
	u->nsock--;
	if (cs->typing_conv > 0) {
		o = json_pack("{s:I,s:I}", "userId", (json_int_t)u->uid,
		    "conversationId", (json_int_t)cs->typing_conv);
		if (o != NULL)
			emit_user(c, cs->typing_peer, "userStoppedTyping", o);
		json_decref(o);
		ps_typing(c->ps, cs->typing_conv, u->uid, 0);
	}
	if (ps_ready(c->ps))
		ps_presence_del(c->ps, u->uid, sio_socket_id(s));
	else if (u->nsock == 0)
		write_lastseen(c, u->uid);	/* best effort without Redis */
	free(cs);
	user_gc(c, u);
}
