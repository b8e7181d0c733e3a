/*
 * typing.c: typing and stopTyping, and the typing indicators shown here that
 * end by themselves after CHAT_TYPING_SECS without news, whatever
 * happened to the typer or its node; also the conversation events'
 * shared front (on_conv_event: typing, stopTyping, markRead).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "realtime/chat/chat.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

/*
 * Typing indicators shown here end by themselves.
 */

static void
tyt_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tyt	*t = w->data;
	struct cuser	*u = t->u;
	struct chat	*c = t->c;
	json_t		*p;
	long long	 uid = u->uid;

	p = json_pack("{s:I,s:I}", "userId", (json_int_t)t->typer,
	    "conversationId", (json_int_t)t->conv);
	LIST_REMOVE(t, entry);
	free(t);
	if (p != NULL)
		deliver_user(c, uid, "userStoppedTyping", p);
	json_decref(p);
}

/* Called for every event delivered to a local user. */
void
typing_seen(struct chat *c, struct cuser *u, const char *ev, json_t *p)
{
	struct tyt	*t;
	long long	 typer, conv;
	int		 on;

	if (strcmp(ev, "userTyping") == 0)
		on = 1;
	else if (strcmp(ev, "userStoppedTyping") == 0)
		on = 0;
	else
		return;
	if (json_id(json_object_get(p, "userId"), &typer) == -1 ||
	    json_id(json_object_get(p, "conversationId"), &conv) == -1)
		return;
	LIST_FOREACH(t, &u->typing, entry)
		if (t->typer == typer && t->conv == conv)
			break;
	if (!on) {
		if (t != NULL) {
			ev_timer_stop(c->loop, &t->t);
			LIST_REMOVE(t, entry);
			free(t);
		}
		return;
	}
	if (t == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return;
		t->c = c;
		t->u = u;
		t->typer = typer;
		t->conv = conv;
		ev_timer_init(&t->t, tyt_cb, CHAT_TYPING_SECS, 0.);
		t->t.data = t;
		LIST_INSERT_HEAD(&u->typing, t, entry);
	} else
		ev_timer_stop(c->loop, &t->t);
	ev_timer_set(&t->t, CHAT_TYPING_SECS, 0.);
	ev_timer_start(c->loop, &t->t);
}

/*
 * typing, stopTyping: membership from the cache or the database.
 */

static void
typing_go(struct op *op, long long one, long long two)
{
	struct csock	*cs;
	json_t		*o;
	long long	 other;
	int		 on = op->kind == OP_TYPING;

	if (op->uid != one && op->uid != two) {
		op_fail(op, E_NOTMEMBER);
		return;
	}
	other = op->uid == one ? two : one;
	if ((o = json_pack("{s:I,s:I}", "userId", (json_int_t)op->uid,
	    "conversationId", (json_int_t)op->id)) == NULL) {
		op_fail(op, E_INTERNAL);
		return;
	}
	emit_user(op->c, other, on ? "userTyping" : "userStoppedTyping", o);
	ps_typing(op->c->ps, op->id, op->uid, on);
	if (sio_socket_is_connected(op->s) &&
	    (cs = sio_socket_data(op->s)) != NULL) {
		cs->typing_conv = on ? op->id : 0;
		cs->typing_peer = on ? other : 0;
	}
	reply(op->s, op->ackid, NULL, o);
	json_decref(o);
	op_free(op);
}

static void
members_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	long long	 a, b;

	if (conv_members(op, res, &a, &b) == 0)
		typing_go(op, a, b);
}

void
on_conv_event(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid,
    enum opkind kind)
{
	struct op		*op;
	const struct convent	*e;
	long long		 conv;
	char			 b1[24], b2[24];
	const char		*p[2];

	if (arg_conversation(cs, pl, ackid, &conv) == -1)
		return;
	if ((op = op_new(c, cs->s, kind, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	op->id = conv;
	p[0] = lltoa(conv, b1, sizeof(b1));
	p[1] = lltoa(cs->u->uid, b2, sizeof(b2));
	if (kind == OP_MARKREAD) {
		op_exec(op, c->pw, S_MARKREAD, 2, p, 0, markread_cb);
		return;
	}
	if ((e = conv_get(c, conv)) != NULL) {
		typing_go(op, e->one, e->two);
		return;
	}
	op_exec(op, c->pr, S_MEMBERS, 1, p, 0, members_cb);
}

void
on_typing(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_TYPING);
}

void
on_stoptyping(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_STOPTYPING);
}
