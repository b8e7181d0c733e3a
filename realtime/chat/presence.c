/*
 * presence.c: presence across nodes: getOnlineUsers, and the Redis callbacks
 * of ps (envelopes from other nodes, subscriptions, a node gone, Redis
 * back up).  With PRESENCE_SCOPE=contacts (README "Configuration"), a
 * transition is told only to the user's contacts (those sharing a
 * conversation, read from PostgreSQL when needed: O(contacts), no cache)
 * by the node that applied it, on each contact's channel with its stamp;
 * getOnlineUsers lists the caller and its online contacts.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/pgq.h"
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

/*
 * PRESENCE_SCOPE=contacts: op->list holds the contacts, "r" their
 * online flags (or NULL: Redis is down, ask this node).  The caller
 * first, then the online contacts.
 */
static void
online_flags_cb(void *arg, const redisReply *r)
{
	struct op	*op = arg;
	json_t		*a;
	size_t		 i, n = json_array_size(op->list);
	long long	 v;
	int		 on;

	if ((a = json_array()) == NULL ||
	    json_array_append_new(a, json_integer(op->uid)) == -1) {
		json_decref(a);
		op_fail(op, E_INTERNAL);
		return;
	}
	for (i = 0; i < n; i++) {
		v = json_integer_value(json_array_get(op->list, i));
		if (r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    r->elements == n)
			on = r->element[i]->type == REDIS_REPLY_INTEGER &&
			    r->element[i]->integer == 1;
		else
			on = local_online(op->c, v);
		if (on)
			json_array_append_new(a, json_integer(v));
	}
	reply(op->s, op->ackid, "onlineUsers", a);
	json_decref(a);
	op_free(op);
}

static void
online_contacts_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	long long	*uids = NULL, v;
	size_t		 n = 0;
	int		 row, rows;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	rows = PQntuples(res);
	if ((op->list = json_array()) == NULL ||
	    (rows > 0 && (uids = calloc(rows, sizeof(*uids))) == NULL)) {
		op_fail(op, E_INTERNAL);
		return;
	}
	for (row = 0; row < rows; row++) {
		if ((v = col_id(res, row, 0)) <= 0 || v == op->uid ||
		    json_array_append_new(op->list, json_integer(v)) == -1)
			continue;
		uids[n++] = v;
	}
	if (n == 0 || ps_online_flags(op->c->ps, uids, n, online_flags_cb,
	    op) == -1)
		online_flags_cb(op, NULL);
	free(uids);
}

void
on_online(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	char		 b[24];
	const char	*p[1];

	if ((op = op_new(c, cs->s, OP_ONLINE, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	if (c->conf->presence_scope == CONF_SCOPE_CONTACTS) {
		p[0] = lltoa(op->uid, b, sizeof(b));
		op_exec(op, c->pr, S_CONTACTS, 1, p, 0, online_contacts_cb);
		return;
	}
	if (ps_online_users(c->ps, online_cb, op) == -1)
		online_cb(op, NULL);
}

/*
 * PRESENCE_SCOPE=contacts: the order of one user's transitions.  Two
 * nodes may announce a quick offline-online of one user in either order
 * (each reads the contacts first); each envelope carries its stamp, and
 * a node delivers none older than the last it delivered for that user.
 */

static struct pstamp **
pstamp_head(struct chat *c, long long uid)
{
	return &c->pstamps[(unsigned long long)uid % PSTAMP_BUCKETS];
}

/*
 * An event about "uid" at "stamp" (sign ignored): 1 to deliver it (it
 * becomes the last), 0 if older than the last delivered.  Equal passes:
 * one transition reaches a node once per contact there.
 */
int
presence_fresh(struct chat *c, long long uid, long long stamp)
{
	struct pstamp	**head = pstamp_head(c, uid), *e;

	if (stamp < 0)
		stamp = -stamp;
	for (e = *head; e != NULL; e = e->next)
		if (e->uid == uid)
			break;
	if (e != NULL && stamp < e->stamp)
		return 0;
	if (e == NULL) {
		if ((e = malloc(sizeof(*e))) == NULL)
			return 1;
		e->uid = uid;
		e->next = *head;
		*head = e;
	}
	e->stamp = stamp;
	e->at = ev_now(c->loop);
	return 1;
}

/* Forget stamps older than PSTAMP_TTL (all of them if "all"). */
void
presence_prune(struct chat *c, int all)
{
	struct pstamp	**pp, *e;
	ev_tstamp	 now = ev_now(c->loop);
	size_t		 i;

	for (i = 0; i < PSTAMP_BUCKETS; i++)
		for (pp = &c->pstamps[i]; (e = *pp) != NULL; ) {
			if (all || now - e->at > PSTAMP_TTL) {
				*pp = e->next;
				free(e);
			} else
				pp = &e->next;
		}
}

/*
 * Tell the contacts of f's user: rows[0..n) of "res" name one each, in
 * column "col".  Frees f.
 */
static void
fan_send(struct pfan *f, const PGresult *res, const int *rows, size_t n,
    int col)
{
	struct chat	*c = f->c;
	const char	*ev = f->stamp > 0 ? "userOnline" : "userOffline";
	json_t		*a = NULL, *env = NULL;
	char		*s = NULL;
	long long	 peer;
	size_t		 i;
	int		 local;

	if (c->outstanding > 0)
		c->outstanding--;
	if (n == 0)
		goto out;
	if ((a = json_pack("{s:I}", "userId", (json_int_t)f->uid)) == NULL ||
	    (env = json_pack("{s:I,s:s,s:O,s:I}", "n", (json_int_t)c->node,
	    "e", ev, "a", a, "s", (json_int_t)f->stamp)) == NULL ||
	    (s = json_dumps(env, JSON_COMPACT)) == NULL)
		goto out;
	local = presence_fresh(c, f->uid, f->stamp);
	for (i = 0; i < n; i++) {
		if ((peer = col_id(res, rows[i], col)) <= 0 || peer == f->uid)
			continue;
		if (local)
			deliver_user(c, peer, ev, a);
		ps_publish(c->ps, peer, s, strlen(s));
	}
out:
	free(s);
	json_decref(env);
	json_decref(a);
	free(f);
}

/* Forget f: its contacts could not be read. */
static void
fan_fail(struct pfan *f, const char *err)
{
	log_warnx("chat: contacts of user %lld: %s; %s not told", f->uid,
	    err != NULL ? err : "failed",
	    f->stamp > 0 ? "userOnline" : "userOffline");
	fan_send(f, NULL, NULL, 0, 0);
}

/* One transition alone (S_CONTACTS: the contact in column 0). */
static void
fan_cb(void *arg, const PGresult *res, const char *err)
{
	struct pfan	*f = arg;
	int		*rows = NULL, row, n;

	if (res == NULL) {
		fan_fail(f, err);
		return;
	}
	n = PQntuples(res);
	if (n > 0 && (rows = calloc(n, sizeof(*rows))) == NULL) {
		fan_fail(f, "out of memory");
		return;
	}
	for (row = 0; row < n; row++)
		rows[row] = row;
	fan_send(f, res, rows, n, 0);
	free(rows);
}

/* The transitions of one S_CONTACTSB statement. */
struct	fanb {
	size_t		 n;
	struct pfan	*f[FANB_MAX];
};

struct	fanrow {
	long long	 uid;
	int		 row;
};

static int
fanrow_cmp(const void *a, const void *b)
{
	const struct fanrow	*x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

/* Rows (user, contact): each transition gets the rows of its user. */
static void
fanb_cb(void *arg, const PGresult *res, const char *err)
{
	struct fanb	*b = arg;
	struct fanrow	*fr = NULL;
	int		*rows = NULL;
	size_t		 i, lo, hi, mid, k, n = 0;
	int		 row;

	if (res == NULL) {
		for (i = 0; i < b->n; i++)
			fan_fail(b->f[i], err);
		goto out;
	}
	if (PQntuples(res) > 0 &&
	    ((fr = calloc(PQntuples(res), sizeof(*fr))) == NULL ||
	    (rows = calloc(PQntuples(res), sizeof(*rows))) == NULL)) {
		for (i = 0; i < b->n; i++)
			fan_fail(b->f[i], "out of memory");
		goto out;
	}
	for (row = 0; row < PQntuples(res); row++) {
		fr[n].uid = col_id(res, row, 0);
		fr[n++].row = row;
	}
	if (n > 0)	/* fr is NULL without rows */
		qsort(fr, n, sizeof(*fr), fanrow_cmp);
	for (i = 0; i < b->n; i++) {
		/* The first row of this user, then those that follow. */
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (fr[mid].uid < b->f[i]->uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = 0; lo + k < n && fr[lo + k].uid == b->f[i]->uid; k++)
			rows[k] = fr[lo + k].row;
		fan_send(b->f[i], res, rows, k, 1);
	}
out:
	free(rows);
	free(fr);
	free(b);
}

/*
 * The transitions gathered this loop pass (userprep_cb): one
 * S_CONTACTSB for up to FANB_MAX of them, S_CONTACTS for one alone.
 */
void
presence_fan_flush(struct chat *c)
{
	struct fanb	*b = NULL;
	struct pfan	*f;
	long long	 ids[FANB_MAX];
	char		*a = NULL, nb[24];
	const char	*p[1];
	size_t		 i;

	while (c->fanq != NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			goto fail;
		while (b->n < FANB_MAX && (f = c->fanq) != NULL) {
			c->fanq = f->next;
			b->f[b->n++] = f;
		}
		if (b->n == 1) {
			p[0] = lltoa(b->f[0]->uid, nb, sizeof(nb));
			if (pgq_exec(c->pr, S_CONTACTS, 1, p, 0, fan_cb,
			    b->f[0]) == -1)
				goto fail;
			free(b);
			b = NULL;
			continue;
		}
		for (i = 0; i < b->n; i++)
			ids[i] = b->f[i]->uid;
		if ((a = pg_idarray(ids, b->n)) == NULL)
			goto fail;
		p[0] = a;
		if (pgq_exec(c->pr, S_CONTACTSB, 1, p, 0, fanb_cb, b) == -1)
			goto fail;
		free(a);
		a = NULL;
		b = NULL;
	}
	return;
fail:
	free(a);
	if (b != NULL) {
		for (i = 0; i < b->n; i++)
			fan_fail(b->f[i], "not sent");
		free(b);
	}
	while ((f = c->fanq) != NULL) {
		c->fanq = f->next;
		fan_fail(f, "not sent");
	}
}

/* chat_free: the transitions never sent. */
void
presence_fan_free(struct chat *c)
{
	struct pfan	*f;

	while ((f = c->fanq) != NULL) {
		c->fanq = f->next;
		free(f);
	}
}

/* ps applied a transition of "uid": tell its contacts (any node). */
static void
ps_trans(void *arg, long long uid, long long stamp)
{
	struct chat	*c = arg;
	struct pfan	*f;

	if ((f = malloc(sizeof(*f))) == NULL) {
		log_warnx("chat: out of memory; presence of %lld not told",
		    uid);
		return;
	}
	f->c = c;
	f->uid = uid;
	f->stamp = stamp;
	/* Gathered: sent by userprep_cb with the others of this pass. */
	f->next = c->fanq;
	c->fanq = f;
	c->outstanding++;
	if (!ev_is_active(&c->userprep))
		ev_prepare_start(c->loop, &c->userprep);
}

/* Two users just became contacts: each online one hears of the other. */
struct	pmade {
	struct chat	*c;
	long long	 uid[2];
};

static void
made_cb(void *arg, const redisReply *r)
{
	struct pmade	*m = arg;
	json_t		*o;
	int		 i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		goto out;
	for (i = 0; i < 2; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER ||
		    r->element[i]->integer != 1)
			goto out;
	for (i = 0; i < 2; i++) {
		if ((o = json_pack("{s:I}", "userId",
		    (json_int_t)m->uid[1 - i])) == NULL)
			continue;
		emit_user(m->c, m->uid[i], "userOnline", o);
		json_decref(o);
	}
out:
	free(m);
}

void
presence_contact_made(struct chat *c, long long a, long long b)
{
	struct pmade	*m;

	if (c->conf->presence_scope != CONF_SCOPE_CONTACTS)
		return;
	if ((m = malloc(sizeof(*m))) == NULL)
		return;
	m->c = c;
	m->uid[0] = a;
	m->uid[1] = b;
	if (ps_online_flags(c->ps, m->uid, 2, made_cb, m) == -1)
		free(m);
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
	json_t		*st;
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
	st = json_object_get(env, "s");	/* PRESENCE_SCOPE=contacts */
	if (ev == NULL || a == NULL)
		goto out;
	for (i = 0; relayed[i] != NULL; i++)
		if (strcmp(relayed[i], ev) == 0)
			break;
	if (relayed[i] == NULL)
		goto out;
	if (uid > 0) {
		if (n == (json_int_t)c->node)	/* ours went out directly */
			goto out;
		if (json_is_integer(st) && !presence_fresh(c,
		    json_integer_value(json_object_get(a, "userId")),
		    json_integer_value(st)))
			goto out;		/* an older transition */
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

	/* The connects waiting for it write their presence now. */
	if ((u = user_find(c, uid)) != NULL && !u->listening)
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
		/* New connects wait for the confirmation again. */
		for (i = 0; i < USER_BUCKETS; i++)
			for (u = c->users[i]; u != NULL; u = u->hnext)
				if ((u->nsock > 0 || !TAILQ_EMPTY(&u->waiting))
				    && ps_sub_user(c->ps, u->uid) == 0)
					u->listening = 0;
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
	if (c->conf->presence_scope == CONF_SCOPE_CONTACTS) {
		po->scoped = 1;
		po->on_trans = ps_trans;
	}
}
