/*
 * send.c: sendMessage: validation, then the insert batcher: the messages
 * gathered while the writer's last S_SENDB round was in flight go to
 * PostgreSQL as the next round (S_SENDB statements of up to SENDB_MAX);
 * a message with no row back is checked and retried alone (S_SEND).
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "lib/log.h"
#include "lib/valid.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"

static void	 send_cb(void *, const PGresult *, const char *);

/* "op" leaves for PostgreSQL now: the end of its gather stage. */
static void
send_flushed(struct op *op, ev_tstamp now)
{
	if (op->t_flush == 0)
		chat_stage(op->c, SS_GATHER, now - op->t_recv);
	op->t_flush = now;
}

/*
 * sendMessage
 */

/* One message alone (S_SEND). */
static void
send_query1(struct op *op)
{
	char		 b1[24], b2[24];
	const char	*p[4];

	p[0] = lltoa(op->uid, b1, sizeof(b1));
	p[1] = lltoa(op->id, b2, sizeof(b2));
	p[2] = op->content;
	p[3] = op->cmid;
	send_flushed(op, ev_time());
	op_exec(op, op->c->pm[(unsigned long long)op->uid % WRITERS], S_SEND,
	    4, p, PGQ_BATCH, send_cb);
}

/* No row came back: is the recipient missing, or was it a race? */
static void
send_check_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	if (PQntuples(res) != 1) {
		op_fail(op, E_NORECIPIENT);
		return;
	}
	if (op->tries++ >= 2) {
		op_fail(op, E_INTERNAL);
		return;
	}
	send_query1(op);
}

/* No row for "op": check the recipient, then retry alone. */
static void
send_none(struct op *op)
{
	char		 b[24];
	const char	*p[1];

	p[0] = lltoa(op->id, b, sizeof(b));
	op_exec(op, op->c->pr, S_USER, 1, p, 0, send_check_cb);
}

/*
 * The message of "op" is row "row" of "res", columns from "o" on: id,
 * conversation, content, created, read, fresh, new conversation.
 * Answer and deliver.
 */
static void
send_done(struct op *op, const PGresult *res, int row, int o)
{
	struct chat	*c = op->c;
	json_t		*m;
	long long	 conv;
	int		 fresh;

	conv = col_id(res, row, o + 1);
	fresh = col_id(res, row, o + 5) == 1;
	/* A retry may name another recipient: only a new row tells. */
	if (fresh)
		conv_put(c, conv, op->uid, op->id);
	if (col_id(res, row, o + 6) == 1)	/* a new conversation */
		presence_contact_made(c, op->uid, op->id);
	if ((m = message_json(res, row, o, o + 2, o + 3, o + 4, -1, op->uid,
	    op->uname, conv)) == NULL) {
		op_fail(op, E_INTERNAL);
		return;
	}
	op->c->st.messages_sent++;
	chat_stage(c, SS_PG, op->t_res - op->t_flush);
	/* The asking socket first, then the other ones. */
	if (sio_socket_is_connected(op->s) && op->ackid >= 0) {
		json_t	*args = json_pack("[O]", m);

		if (args != NULL) {
			sio_ack(op->s, op->ackid, args);
			json_decref(args);
		}
	}
	emit_user(c, op->uid, "messageSent", m);
	if (fresh)
		emit_user(c, op->id, "newMessage", m);
	json_decref(m);
	chat_stage(c, SS_DELIVER, ev_time() - op->t_res);
	op_free(op);
}

static void
send_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;

	op->t_res = ev_time();
	if (res == NULL)
		op_fail(op, E_UNAVAIL);
	else if (PQntuples(res) != 1)
		send_none(op);
	else
		send_done(op, res, 0, 0);
}

/* The messages of one S_SENDB statement, in array order. */
struct	sendb {
	struct chat	*c;
	size_t		 k;		/* writer */
	size_t		 n;
	struct op	*ops[SENDB_MAX];
};

static void
sendb_cb(void *arg, const PGresult *res, const char *err)
{
	struct sendb	*b = arg;
	long long	 k;
	size_t		 i;
	int		 row, *rows = NULL;
	ev_tstamp	 now = ev_time();

	/* The messages that gathered meanwhile go when the loop blocks. */
	if (--b->c->sendb_out[b->k] == 0 && !TAILQ_EMPTY(&b->c->sendq[b->k]) &&
	    !ev_is_active(&b->c->sendprep))
		ev_prepare_start(b->c->loop, &b->c->sendprep);
	for (i = 0; i < b->n; i++)
		b->ops[i]->t_res = now;
	if (res == NULL) {
		/* One bad message must not fail the others. */
		log_warnx("chat: batch of %zu messages failed (%s); "
		    "retrying singly", b->n, err);
		for (i = 0; i < b->n; i++)
			send_query1(b->ops[i]);
		goto out;
	}
	if ((rows = calloc(b->n, sizeof(*rows))) == NULL) {
		for (i = 0; i < b->n; i++)
			op_fail(b->ops[i], E_INTERNAL);
		goto out;
	}
	/* rows[i]: 1 + the first row of message i, 0 if none. */
	for (row = 0; row < PQntuples(res); row++) {
		k = col_id(res, row, 0);
		if (k >= 1 && (size_t)k <= b->n && rows[k - 1] == 0)
			rows[k - 1] = row + 1;
	}
	for (i = 0; i < b->n; i++)
		if (rows[i] == 0)
			send_none(b->ops[i]);
		else
			send_done(b->ops[i], res, rows[i] - 1, 1);
out:
	free(rows);
	free(b);
}

/*
 * Append "v" to a PostgreSQL array literal at "p": a quoted element with
 * '"' and '\' escaped, or NULL.  Returns the end.
 */
static char *
arr_add(char *p, const char *v, int quote)
{
	if (v == NULL) {
		memcpy(p, "NULL", 4);
		return p + 4;
	}
	if (quote)
		*p++ = '"';
	for (; *v != '\0'; v++) {
		if (quote && (*v == '"' || *v == '\\'))
			*p++ = '\\';
		*p++ = *v;
	}
	if (quote)
		*p++ = '"';
	return p;
}

/* Send up to SENDB_MAX gathered messages of writer "k" as one S_SENDB. */
static void
sendb_flush(struct chat *c, size_t k)
{
	struct sendb	*b;
	struct op	*op;
	char		*a[4] = { NULL, NULL, NULL, NULL }, *e[4], nb[24];
	const char	*p[4];
	size_t		 i, sz[4] = { 3, 3, 3, 3 };	/* {, }, NUL */
	ev_tstamp	 now;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		op = TAILQ_FIRST(&c->sendq[k]);
		TAILQ_REMOVE(&c->sendq[k], op, wentry);
		op_fail(op, E_INTERNAL);
		return;
	}
	b->c = c;
	b->k = k;
	while (b->n < SENDB_MAX && (op = TAILQ_FIRST(&c->sendq[k])) != NULL) {
		TAILQ_REMOVE(&c->sendq[k], op, wentry);
		b->ops[b->n++] = op;
		sz[0] += 21;
		sz[1] += 21;
		sz[2] += 2 * strlen(op->content) + 3;
		sz[3] += op->cmid != NULL ? 2 * strlen(op->cmid) + 3 : 5;
	}
	for (i = 0; i < 4; i++) {
		if ((a[i] = malloc(sz[i])) == NULL)
			goto fail;
		e[i] = a[i];
		*e[i]++ = '{';
	}
	for (i = 0; i < b->n; i++) {
		op = b->ops[i];
		if (i > 0) {
			*e[0]++ = ',';
			*e[1]++ = ',';
			*e[2]++ = ',';
			*e[3]++ = ',';
		}
		e[0] = arr_add(e[0], lltoa(op->uid, nb, sizeof(nb)), 0);
		e[1] = arr_add(e[1], lltoa(op->id, nb, sizeof(nb)), 0);
		e[2] = arr_add(e[2], op->content, 1);
		e[3] = arr_add(e[3], op->cmid, 1);
	}
	for (i = 0; i < 4; i++) {
		*e[i]++ = '}';
		*e[i] = '\0';
		p[i] = a[i];
	}
	now = ev_time();
	for (i = 0; i < b->n; i++)
		send_flushed(b->ops[i], now);
	if (pgq_exec(c->pm[k], S_SENDB, 4, p, PGQ_BATCH, sendb_cb, b) == -1)
		goto fail;
	c->sendb_out[k]++;
	c->st.sendb++;
	c->st.sendb_msgs += b->n;
	for (i = 0; i < 4; i++)
		free(a[i]);
	return;
fail:
	for (i = 0; i < 4; i++)
		free(a[i]);
	if (b != NULL) {
		for (i = 0; i < b->n; i++)
			op_fail(b->ops[i], E_UNAVAIL);
		free(b);
	}
}

/*
 * Before the loop blocks: the messages gathered, a few statements, if
 * the writer has none in flight (else sendb_cb restarts us when the
 * last answer is in).  One round at a time per writer: sent each pass
 * instead, small statements piled up in PostgreSQL's pipeline, each
 * its own commit, and a message waited for every one before it
 * (t/bench/README.md, "Where the latency goes").  All the statements
 * of a round go in the same pass, so pgq makes them one transaction.
 */
void
sendprep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chat	*c = w->data;
	size_t		 k;

	for (k = 0; k < WRITERS; k++)
		if (c->sendb_out[k] == 0)
			while (!TAILQ_EMPTY(&c->sendq[k]))
				sendb_flush(c, k);
	ev_prepare_stop(loop, w);
}

/* Gather: sent by sendprep_cb with the others of this loop pass. */
static void
send_query(struct op *op)
{
	struct chat	*c = op->c;

	TAILQ_INSERT_TAIL(&c->sendq[(unsigned long long)op->uid % WRITERS],
	    op, wentry);
	if (!ev_is_active(&c->sendprep))
		ev_prepare_start(c->loop, &c->sendprep);
}

void
on_send(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*jc, *jm;
	const char	*start;
	size_t		 tlen, ncp;
	long long	 rid;

	if (json_id(json_object_get(pl, "recipientId"), &rid) == -1) {
		reply_error(cs->s, ackid, E_RECIPIENT);
		return;
	}
	jc = json_object_get(pl, "content");
	if (!json_is_string(jc) || valid_content(json_string_value(jc),
	    json_string_length(jc), &start, &tlen) != 0) {
		reply_error(cs->s, ackid, E_CONTENT);
		return;
	}
	jm = json_object_get(pl, "clientMessageId");
	if (jm != NULL && !json_is_null(jm)) {
		if (!json_is_string(jm) || json_string_length(jm) == 0 ||
		    valid_utf8(json_string_value(jm), json_string_length(jm),
		    &ncp) == -1 || ncp > CHAT_CMID_MAX ||
		    memchr(json_string_value(jm), '\0',
		    json_string_length(jm)) != NULL) {
			reply_error(cs->s, ackid, E_CMID);
			return;
		}
	} else
		jm = NULL;
	if (rid == cs->u->uid) {
		reply_error(cs->s, ackid, E_SELF);
		return;
	}
	if ((op = op_new(c, cs->s, OP_SEND, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	op->id = rid;
	op->t_recv = ev_time();
	if ((op->content = strndup(start, tlen)) == NULL ||
	    (jm != NULL && (op->cmid = strdup(json_string_value(jm))) ==
	    NULL)) {
		op_fail(op, E_INTERNAL);
		return;
	}
	send_query(op);
}
