/*
 * op.c: requests: struct op (one per event being answered, holding its
 * socket), its statements (op_exec), and the answers (reply,
 * reply_error) that go out only while the socket is still connected.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

/* Answer one socket: the event, and the ack if one was asked. */
void
reply(struct sio_socket *s, int64_t ackid, const char *ev, json_t *payload)
{
	json_t	*args;

	if (!sio_socket_is_connected(s))
		return;
	if ((args = json_pack("[O]", payload)) == NULL)
		return;
	if (ev != NULL)
		sio_emit(s, ev, args);
	if (ackid >= 0)
		sio_ack(s, ackid, args);
	json_decref(args);
}

void
reply_error(struct sio_socket *s, int64_t ackid, const char *msg)
{
	json_t	*args;

	if (!sio_socket_is_connected(s))
		return;
	if ((args = json_pack("[{s:s}]", "message", msg)) != NULL) {
		sio_emit(s, "error", args);
		json_decref(args);
	}
	if (ackid >= 0 &&
	    (args = json_pack("[{s:s}]", "error", msg)) != NULL) {
		sio_ack(s, ackid, args);
		json_decref(args);
	}
}

/*
 * Requests.
 */

struct op *
op_new(struct chat *c, struct sio_socket *s, enum opkind kind, int64_t ackid,
    long long uid, const char *uname)
{
	struct op	*op;
	struct csock	*cs;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->c = c;
	op->s = s;
	op->kind = kind;
	op->ackid = ackid;
	op->uid = uid;
	op->before = -1;
	if (uname != NULL)
		snprintf(op->uname, sizeof(op->uname), "%s", uname);
	if ((cs = sio_socket_data(s)) != NULL) {
		cs->nops++;
		op->counted = 1;
	}
	sio_socket_ref(s);
	return op;
}

/*
 * The argument of the events about one conversation (getMessages,
 * typing, stopTyping, markRead): an object (events.c checked that)
 * with a positive integer "conversationId".  Returns 0 and *conv, or
 * answers the error and returns -1.
 */
int
arg_conversation(struct csock *cs, json_t *pl, int64_t ackid,
    long long *conv)
{
	if (json_id(json_object_get(pl, "conversationId"), conv) == -1) {
		reply_error(cs->s, ackid, E_CONVID);
		return -1;
	}
	return 0;
}

void
op_free(struct op *op)
{
	struct csock	*cs;
	size_t		 i;

	if (op == NULL)
		return;
	for (i = 0; i < op->nkept; i++)
		sio_buf_unref(op->kept[(op->khead + i) % CONN_KEEP_MAX].buf);
	free(op->kept);
	/* The socket's data is gone once it disconnected. */
	if (op->counted && (cs = sio_socket_data(op->s)) != NULL &&
	    cs->nops > 0)
		cs->nops--;
	sio_socket_unref(op->s);
	free(op->content);
	free(op->peer);
	free(op->cmid);
	json_decref(op->list);
	free(op);
}

void
op_fail(struct op *op, const char *msg)
{
	reply_error(op->s, op->ackid, msg);
	op_free(op);
}

/*
 * Queue a read that may lag (getMessages, getConversations) for "op":
 * on the standby when there is one that can answer, else on the primary
 * (dbread.h).  On failure answers and frees op.
 */
void
op_read(struct op *op, enum stmt st, int n, const char *const *params,
    pgq_cb *cb)
{
	struct chat	*c = op->c;

	if (c->rd == NULL)
		op_exec(op, c->pr, st, n, params, 0, cb);
	else if (dbread_exec(c->rd, st, n, params, cb, op) == -1)
		op_fail(op, E_UNAVAIL);
}

/* Queue a statement for "op"; on failure answers and frees op. */
void
op_exec(struct op *op, struct pgq *q, enum stmt st, int n,
    const char *const *params, int flags, pgq_cb *cb)
{
	if (pgq_exec(q, st, n, params, flags, cb, op) == -1)
		op_fail(op, E_UNAVAIL);
}
