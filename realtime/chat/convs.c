/*
 * convs.c: getConversations and startConversation: the list with unread
 * counts, and isOnline live from Redis (ps_online_flags).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "lib/valid.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"

static void	 start_query(struct op *);

/* Send the list (conversationsList), then openConversation if asked. */
static void
convs_finish(struct op *op)
{
	json_t	*o;

	if (op->kind == OP_START) {
		reply(op->s, -1, "conversationsList", op->list);
		if ((o = json_pack("{s:I}", "conversationId",
		    (json_int_t)op->conv)) != NULL) {
			reply(op->s, op->ackid, "openConversation", o);
			json_decref(o);
		}
	} else
		reply(op->s, op->ackid, "conversationsList", op->list);
	op_free(op);
}

static void
online_flags_cb(void *arg, const redisReply *r)
{
	struct op	*op = arg;
	size_t		 i, n = json_array_size(op->list);
	json_t		*conv;
	long long	 other;
	int		 on;

	for (i = 0; i < n; i++) {
		conv = json_array_get(op->list, i);
		other = json_integer_value(json_object_get(
		    json_object_get(conv, "otherUser"), "id"));
		if (r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    r->elements == n &&
		    r->element[i]->type == REDIS_REPLY_INTEGER)
			on = r->element[i]->integer == 1;
		else
			on = local_online(op->c, other);
		set_online(conv, on);
	}
	convs_finish(op);
}

static void
convs_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	struct chat	*c = op->c;
	json_t		*list = NULL, *conv, *one, *two, *other;
	long long	*ids = NULL;
	int		 i, n;
	long long	 a, b;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	n = PQntuples(res);
	if ((list = json_array()) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		a = col_id(res, i, 2);
		b = col_id(res, i, 8);
		conv_put(c, col_id(res, i, 0), a, b);
		one = user_json(res, i, 2);
		two = user_json(res, i, 8);
		other = user_json(res, i, a == op->uid ? 8 : 2);
		if (other != NULL) {
			json_object_set_new(other, "isOnline", json_false());
			json_object_set_new(other, "lastSeenAt",
			    col_str(res, i, a == op->uid ? 13 : 7));
		}
		conv = json_pack("{s:I,s:o*,s:o*,s:o*,s:I,s:o}",
		    "id", (json_int_t)col_id(res, i, 0),
		    "userOne", one, "userTwo", two, "otherUser", other,
		    "unreadCount", (json_int_t)col_id(res, i, 14),
		    "createdAt", col_str(res, i, 1));
		if (conv == NULL || json_array_append_new(list, conv) == -1)
			goto fail;
	}
	op->list = list;
	list = NULL;
	if (n <= 0) {
		convs_finish(op);
		return;
	}
	/* isOnline, live from Redis (ps.c: the online buckets) */
	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		conv = json_array_get(op->list, i);
		ids[i] = json_integer_value(json_object_get(json_object_get(
		    conv, "otherUser"), "id"));
	}
	if (ps_online_flags(c->ps, ids, n, online_flags_cb, op) == -1)
		online_flags_cb(op, NULL);
	free(ids);
	return;
fail:
	free(ids);
	json_decref(list);
	op_fail(op, E_INTERNAL);
}

static void
convs_query(struct op *op)
{
	char		 b[24];
	const char	*p[1] = { lltoa(op->uid, b, sizeof(b)) };

	op_read(op, S_CONVS, 1, p, convs_cb);
}

void
on_convs(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;

	if ((op = op_new(c, cs->s, OP_CONVS, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	convs_query(op);
}

static void
start_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	long long	 other, conv;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	if (PQntuples(res) != 1) {
		op_fail(op, E_NOUSER);
		return;
	}
	other = col_id(res, 0, 0);
	if (other == op->uid) {
		op_fail(op, E_SELFCONV);
		return;
	}
	if ((conv = col_id(res, 0, 1)) <= 0) {
		/* Created by someone else meanwhile: look again. */
		if (op->tries++ >= 2) {
			op_fail(op, E_INTERNAL);
			return;
		}
		start_query(op);
		return;
	}
	conv_put(op->c, conv, op->uid, other);
	if (col_id(res, 0, 2) == 1)	/* just created */
		presence_contact_made(op->c, op->uid, other);
	op->conv = conv;
	convs_query(op);
}

static void
start_query(struct op *op)
{
	char		 b[24];
	const char	*p[2] = { lltoa(op->uid, b, sizeof(b)), op->peer };

	op_exec(op, op->c->pw, S_START, 2, p, 0, start_cb);
}

void
on_start(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*ju = json_object_get(pl, "recipientUsername");
	const char	*name;

	if (!json_is_string(ju) || valid_username(json_string_value(ju),
	    json_string_length(ju)) != 0) {
		reply_error(cs->s, ackid, E_USERNAME);
		return;
	}
	name = json_string_value(ju);
	if (strcasecmp(name, cs->u->uname) == 0) {
		reply_error(cs->s, ackid, E_SELFCONV);
		return;
	}
	if ((op = op_new(c, cs->s, OP_START, ackid, cs->u->uid,
	    cs->u->uname)) == NULL ||
	    (op->peer = strdup(name)) == NULL) {
		if (op != NULL)
			op_free(op);
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	start_query(op);
}
