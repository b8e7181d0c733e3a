/*
 * presence.c: presence across nodes: getOnlineUsers, and the Redis callbacks
 * of ps (envelopes from other nodes, subscriptions, a node gone, Redis
 * back up).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "realtime/chat/chat.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

int
local_online(struct chat *c, long long uid)
{
	struct cuser	*u = user_find(c, uid);

	return u != NULL && u->nsock > 0;
}

/*
 * getOnlineUsers
 */

static void
online_local(struct chat *c, json_t *a)
{
	struct cuser	*u;
	size_t		 i;

	for (i = 0; i < USER_BUCKETS; i++)
		for (u = c->users[i]; u != NULL; u = u->hnext)
			if (u->nsock > 0)
				json_array_append_new(a,
				    json_integer(u->uid));
}

static void
online_cb(void *arg, const redisReply *r)
{
	struct op	*op = arg;
	json_t		*a;
	size_t		 i;
	long long	 v;
	char		*end;

	if ((a = json_array()) == NULL) {
		op_fail(op, E_INTERNAL);
		return;
	}
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r->elements; i++) {
			if (r->element[i]->type != REDIS_REPLY_STRING ||
			    r->element[i]->len > 18)
				continue;
			v = strtoll(r->element[i]->str, &end, 10);
			if (end == r->element[i]->str || *end != '\0' ||
			    v <= 0)
				continue;
			json_array_append_new(a, json_integer(v));
		}
	} else
		online_local(op->c, a);
	reply(op->s, op->ackid, "onlineUsers", a);
	json_decref(a);
	op_free(op);
}

void
on_online(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;

	if ((op = op_new(c, cs->s, OP_ONLINE, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	if (ps_online_users(c->ps, online_cb, op) == -1)
		online_cb(op, NULL);
}

/*
 * Redis callbacks.
 */

static const char *const relayed[] = {
	"newMessage", "messageSent", "messagesRead", "userTyping",
	"userStoppedTyping", "userOnline", "userOffline", NULL
};

static void
ps_msg(void *arg, long long uid, const char *data, size_t len)
{
	struct chat	*c = arg;
	json_t		*env, *a;
	json_error_t	 je;
	const char	*ev;
	json_int_t	 n;
	size_t		 i;

	if (len > CHAT_ENVELOPE_MAX)
		return;
	if ((env = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL)
		return;
	ev = json_string_value(json_object_get(env, "e"));
	a = json_object_get(env, "a");
	n = json_integer_value(json_object_get(env, "n"));
	if (ev == NULL || a == NULL)
		goto out;
	for (i = 0; relayed[i] != NULL; i++)
		if (strcmp(relayed[i], ev) == 0)
			break;
	if (relayed[i] == NULL)
		goto out;
	if (uid > 0) {
		if (n != (json_int_t)c->node)	/* ours went out directly */
			deliver_user(c, uid, ev, a);
	} else
		deliver_all(c, ev, a);
out:
	json_decref(env);
}

static int
ps_want(void *arg, long long uid)
{
	struct cuser	*u = user_find(arg, uid);

	return u != NULL && (u->nsock > 0 || !TAILQ_EMPTY(&u->waiting));
}

static void
ps_subscribed(void *arg, long long uid)
{
	struct chat	*c = arg;
	struct cuser	*u;

	if ((u = user_find(c, uid)) != NULL && !TAILQ_EMPTY(&u->waiting))
		user_release(c, u);
}

static void
ps_offline(void *arg, long long uid)
{
	write_lastseen(arg, uid);
}

/* Redis (re)connected: resubscribe, or rebuild our presence. */
static void
ps_up(void *arg, int sub)
{
	struct chat	*c = arg;
	struct csock	*cs;
	struct cuser	*u;
	char		**m = NULL;
	size_t		 i, n = 0;

	if (sub) {
		for (i = 0; i < USER_BUCKETS; i++)
			for (u = c->users[i]; u != NULL; u = u->hnext)
				if (u->nsock > 0 || !TAILQ_EMPTY(&u->waiting))
					ps_sub_user(c->ps, u->uid);
		return;
	}
	if (c->stopping)
		return;
	if (c->nsock > 0 && (m = calloc(c->nsock, sizeof(*m))) == NULL)
		return;
	TAILQ_FOREACH(cs, &c->all, aentry) {
		if (n == c->nsock)
			break;
		if (asprintf(&m[n], "%lld:%s", cs->u->uid,
		    sio_socket_id(cs->s)) == -1)
			break;
		n++;
	}
	ps_presence_sync(c->ps, (const char **)m, n);
	for (i = 0; i < n; i++)
		free(m[i]);
	free(m);
}

/* Register the callbacks above with ps (chat_new). */
void
presence_opts(struct chat *c, struct ps_opts *po)
{
	po->on_msg = ps_msg;
	po->on_up = ps_up;
	po->on_offline = ps_offline;
	po->want = ps_want;
	po->on_sub = ps_subscribed;
	po->arg = c;
}
