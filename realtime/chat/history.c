/*
 * history.c: getMessages (paged history) and markRead (read receipts).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <jansson.h>
#include <libpq-fe.h>

#include "realtime/chat/chat.h"
#include "realtime/chat/state.h"

/*
 * getMessages
 */

static void
history_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	json_t		*msgs = NULL, *m, *o;
	int		 i, n, more = 0;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	if ((n = PQntuples(res)) == 0) {
		op_fail(op, E_NOTMEMBER);
		return;
	}
	if ((msgs = json_array()) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 0))
			continue;	/* no messages: one empty row */
		if (i == op->limit) {
			more = 1;
			break;
		}
		m = message_json(res, i, 0, 1, 4, 5, 2, 0, NULL, op->id);
		if (m == NULL)
			goto fail;
		json_array_append_new(msgs, m);
	}
	if ((o = json_pack("{s:o,s:b}", "messages", msgs, "hasMore",
	    more)) == NULL) {
		msgs = NULL;
		goto fail;
	}
	reply(op->s, op->ackid, "messageHistory", o);
	json_decref(o);
	op_free(op);
	return;
fail:
	json_decref(msgs);
	op_fail(op, E_INTERNAL);
}

void
on_history(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*jb, *jl;
	long long	 conv, before = -1;
	double		 d;
	int		 limit = CHAT_LIMIT_DEFAULT;
	char		 b1[24], b2[24], b3[24], b4[24];
	const char	*p[4];

	if (arg_conversation(cs, pl, ackid, &conv) == -1)
		return;
	jb = json_object_get(pl, "before");
	if (jb != NULL && !json_is_null(jb) && json_id(jb, &before) == -1) {
		reply_error(cs->s, ackid, E_BEFORE);
		return;
	}
	jl = json_object_get(pl, "limit");
	if (jl != NULL && !json_is_null(jl)) {
		if (!json_is_number(jl)) {
			reply_error(cs->s, ackid, E_LIMIT);
			return;
		}
		d = json_number_value(jl);
		if (d != d) {
			reply_error(cs->s, ackid, E_LIMIT);
			return;
		}
		limit = d < 1 ? 1 : d > CHAT_LIMIT_MAX ? CHAT_LIMIT_MAX :
		    (int)d;
	}
	if ((op = op_new(c, cs->s, OP_HISTORY, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	op->id = conv;
	op->limit = limit;
	p[0] = lltoa(conv, b1, sizeof(b1));
	p[1] = lltoa(cs->u->uid, b2, sizeof(b2));
	p[2] = before > 0 ? lltoa(before, b3, sizeof(b3)) : NULL;
	p[3] = lltoa(limit + 1, b4, sizeof(b4));
	op_read(op, S_HISTORY, 4, p, history_cb);
}

/*
 * markRead
 */

void
markread_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	json_t		*o;
	long long	 a, b, other;

	if (conv_members(op, res, &a, &b) == -1)
		return;
	other = a == op->uid ? b : a;
	if ((o = json_pack("{s:I,s:o}", "conversationId", (json_int_t)op->id,
	    "readAt", col_str(res, 0, 2))) == NULL) {
		op_fail(op, E_INTERNAL);
		return;
	}
	emit_user(op->c, other, "messagesRead", o);
	reply(op->s, op->ackid, NULL, o);
	json_decref(o);
	op_free(op);
}

void
on_markread(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_MARKREAD);
}
