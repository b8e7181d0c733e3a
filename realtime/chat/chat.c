/*
 * chat.c: every chat event of docs/api.md §4 (DESIGN.md
 * "Resolved details", "Redis").  Called by the Socket.IO server through
 * chat_on_connect/event/disconnect; talks to PostgreSQL through pgq (two
 * connections: "w" for writes, whose message inserts are batched, and
 * "r" for reads) and to Redis through ps.  Never blocks.
 *
 * Every request becomes a struct op holding a reference to its socket;
 * answers go out only while the socket is still connected.  Events for
 * a user go to this node's sockets of that user at once and, through
 * the user's Redis channel, to the other nodes (which skip envelopes
 * from themselves).  A typing indicator relayed to a socket here is
 * ended here after CHAT_TYPING_SECS without news, whatever happened to
 * the typer or its node.
 */
#include "config.h"

#include <sys/queue.h>

#include <ctype.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "conf.h"
#include "jwt.h"
#include "log.h"
#include "valid.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/ps.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

/* ISO 8601 UTC with milliseconds. */
#define TS(x)	"to_char((" x ") AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum	stmt {
	S_USER,		/* $1 uid -> username */
	S_SEND,		/* $1 sender $2 recipient $3 content $4 cmid */
	S_START,	/* $1 me $2 username -> user id, conversation id */
	S_CONVS,	/* $1 me */
	S_HISTORY,	/* $1 conv $2 me $3 before $4 limit+1 */
	S_MARKREAD,	/* $1 conv $2 me */
	S_MEMBERS,	/* $1 conv -> user_one_id, user_two_id */
	S_LASTSEEN,	/* $1 uid */
	S_SENDB,	/* S_SEND over arrays: $1 senders $2 recipients ... */
	S__MAX
};

static const char *const sqls[S__MAX] = {
	[S_USER] = "SELECT username FROM users WHERE id = $1::bigint",
	[S_SEND] =
	"WITH conv_new AS ("
	" INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT least($1::bigint, $2::bigint), greatest($1::bigint, $2::bigint)"
	" WHERE EXISTS (SELECT 1 FROM users WHERE id = $2::bigint)"
	" AND NOT EXISTS (SELECT 1 FROM messages WHERE $4::text IS NOT NULL"
	" AND sender_id = $1::bigint AND client_message_id = $4::text)"
	" ON CONFLICT (user_one_id, user_two_id) DO NOTHING RETURNING id),"
	" conv AS (SELECT id FROM conv_new UNION ALL"
	" SELECT id FROM conversations WHERE user_one_id ="
	" least($1::bigint, $2::bigint) AND user_two_id ="
	" greatest($1::bigint, $2::bigint)),"
	" ins AS (INSERT INTO messages (conversation_id, sender_id, content,"
	" client_message_id) SELECT id, $1::bigint, $3::text, $4::text"
	" FROM conv LIMIT 1"
	" ON CONFLICT (sender_id, client_message_id)"
	" WHERE client_message_id IS NOT NULL DO NOTHING"
	" RETURNING id, conversation_id, content, created_at, read_at)"
	" SELECT id, conversation_id, content, " TS("created_at") ", "
	TS("read_at") ", 1 FROM ins UNION ALL"
	" SELECT m.id, m.conversation_id, m.content, " TS("m.created_at")
	", " TS("m.read_at") ", 0 FROM messages m"
	" WHERE $4::text IS NOT NULL AND m.sender_id = $1::bigint"
	" AND m.client_message_id = $4::text"
	" AND NOT EXISTS (SELECT 1 FROM ins)",
	[S_START] =
	"WITH u AS (SELECT id FROM users WHERE lower(username) = lower($2::text)),"
	" ins AS (INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT least($1::bigint, u.id), greatest($1::bigint, u.id) FROM u"
	" WHERE u.id <> $1::bigint ON CONFLICT (user_one_id, user_two_id)"
	" DO NOTHING RETURNING id)"
	" SELECT u.id, coalesce((SELECT id FROM ins), (SELECT c.id FROM"
	" conversations c WHERE c.user_one_id = least($1::bigint, u.id) AND"
	" c.user_two_id = greatest($1::bigint, u.id))) FROM u",
	[S_CONVS] =
	"SELECT c.id, " TS("c.created_at") ","
	" u1.id, u1.username, u1.display_name, u1.avatar_url, u1.avatar_color,"
	" " TS("u1.last_seen_at") ","
	" u2.id, u2.username, u2.display_name, u2.avatar_url, u2.avatar_color,"
	" " TS("u2.last_seen_at") ","
	" (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id"
	" AND m.sender_id <> $1::bigint AND m.read_at IS NULL)"
	" FROM conversations c JOIN users u1 ON u1.id = c.user_one_id"
	" JOIN users u2 ON u2.id = c.user_two_id"
	" WHERE c.user_one_id = $1::bigint OR c.user_two_id = $1::bigint"
	" ORDER BY coalesce((SELECT m.created_at FROM messages m WHERE"
	" m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), c.created_at)"
	" DESC, c.id DESC",
	[S_HISTORY] =
	"SELECT m.id, m.content, m.sender_id, u.username, "
	TS("m.created_at") ", " TS("m.read_at")
	" FROM conversations c LEFT JOIN LATERAL (SELECT * FROM messages x"
	" WHERE x.conversation_id = c.id AND ($3::bigint IS NULL OR"
	" x.id < $3::bigint) ORDER BY x.id DESC LIMIT $4::int) m ON true"
	" LEFT JOIN users u ON u.id = m.sender_id"
	" WHERE c.id = $1::bigint AND $2::bigint IN (c.user_one_id,"
	" c.user_two_id) ORDER BY m.id DESC",
	[S_MARKREAD] =
	"WITH c AS (SELECT id, user_one_id, user_two_id FROM conversations"
	" WHERE id = $1::bigint AND $2::bigint IN (user_one_id, user_two_id)),"
	" upd AS (UPDATE messages m SET read_at = now() FROM c"
	" WHERE m.conversation_id = c.id AND m.sender_id <> $2::bigint"
	" AND m.read_at IS NULL RETURNING 1)"
	" SELECT c.user_one_id, c.user_two_id, " TS("now()") ","
	" (SELECT count(*) FROM upd) FROM c",
	[S_MEMBERS] = "SELECT user_one_id, user_two_id FROM conversations"
	" WHERE id = $1::bigint",
	[S_LASTSEEN] = "UPDATE users SET last_seen_at = now()"
	" WHERE id = $1::bigint",
	/*
	 * Many S_SEND in one statement: row n of the arrays is message n.
	 * Only messages whose recipient exists and whose clientMessageId
	 * is new get a conversation and a row; the ids are drawn first so
	 * that each inserted row maps back to its n.  A message with no
	 * row in the answer (unknown recipient, a race, a duplicate
	 * clientMessageId within the batch) is retried alone with S_SEND.
	 * Columns: n, then those of S_SEND.
	 */
	[S_SENDB] =
	"WITH t AS (SELECT * FROM unnest($1::bigint[], $2::bigint[],"
	" $3::text[], $4::text[]) WITH ORDINALITY AS t(s, r, content, cmid, n)),"
	" i AS (SELECT t.*, least(t.s, t.r) AS lo, greatest(t.s, t.r) AS hi"
	" FROM t WHERE (SELECT u.id FROM users u WHERE u.id = t.r) IS NOT NULL"
	" AND NOT EXISTS (SELECT 1 FROM messages m WHERE t.cmid IS NOT NULL"
	" AND m.sender_id = t.s AND m.client_message_id = t.cmid)),"
	" cn AS (INSERT INTO conversations (user_one_id, user_two_id)"
	" SELECT DISTINCT lo, hi FROM i WHERE (SELECT c.id FROM"
	" conversations c WHERE c.user_one_id = lo AND c.user_two_id = hi)"
	" IS NULL ORDER BY lo, hi"
	" ON CONFLICT (user_one_id, user_two_id) DO NOTHING"
	" RETURNING id, user_one_id, user_two_id),"
	" cv AS (SELECT i.*, coalesce((SELECT c.id FROM conversations c"
	" WHERE c.user_one_id = i.lo AND c.user_two_id = i.hi), (SELECT"
	" cn.id FROM cn WHERE cn.user_one_id = i.lo AND cn.user_two_id ="
	" i.hi)) AS conv FROM i),"
	" x AS MATERIALIZED (SELECT nextval('messages_id_seq') AS id, n,"
	" s, content, cmid, conv FROM cv WHERE conv IS NOT NULL ORDER BY n),"
	" ins AS (INSERT INTO messages (id, conversation_id, sender_id,"
	" content, client_message_id) SELECT id, conv, s, content, cmid"
	" FROM x ORDER BY n ON CONFLICT (sender_id, client_message_id)"
	" WHERE client_message_id IS NOT NULL DO NOTHING"
	" RETURNING id, created_at)"
	" SELECT x.n, x.id, x.conv, x.content, " TS("ins.created_at") ","
	" NULL::text, 1 FROM ins JOIN x ON x.id = ins.id UNION ALL"
	" SELECT t.n, m.id, m.conversation_id, m.content, "
	TS("m.created_at") ", " TS("m.read_at") ", 0 FROM t JOIN messages m"
	" ON m.sender_id = t.s AND m.client_message_id = t.cmid"
	" WHERE t.cmid IS NOT NULL",
};

#define E_UNAUTH	"Unauthorized"
#define E_PAYLOAD	"Invalid payload"
#define E_RECIPIENT	"recipientId must be a positive integer"
#define E_NORECIPIENT	"Recipient not found"
#define E_SELF		"Cannot send a message to yourself"
#define E_CONTENT	"Message content must be between 1 and 5000 characters"
#define E_CMID		"clientMessageId must be a string of at most 64 characters"
#define E_USERNAME	"recipientUsername must be 3-30 letters, digits or underscores"
#define E_SELFCONV	"Cannot start a conversation with yourself"
#define E_NOUSER	"User not found"
#define E_CONVID	"conversationId must be a positive integer"
#define E_BEFORE	"before must be a positive integer"
#define E_LIMIT		"limit must be a number"
#define E_NOTMEMBER	"Conversation not found"
#define E_INTERNAL	"Internal server error"
#define E_UNAVAIL	"Service unavailable, try again"
#define E_BUSY		"Too many requests in flight"

#define USER_BUCKETS	4096
#define SENDB_MAX	256	/* messages per S_SENDB statement */
/*
 * Connections writing messages, a sender's always on the same one (its
 * messages commit in order).  Several commit in parallel, but measured
 * (t/bench/run-chat, 2 cores) 4 gave no more msg/s than 1 and a p99
 * at 500x4 of 180-280 ms against 115-135 ms: one batch at a time
 * gathers bigger batches.  -DWRITERS=n to try again on other hardware.
 */
#ifndef WRITERS
#define WRITERS		1
#endif
#define TRIM_FRAMES	65536	/* broadcast frames in 1 s: malloc_trim */
#define CONV_CACHE	8192

struct	cuser;

struct	csock {
	struct sio_socket	*s;
	struct cuser		*u;
	TAILQ_ENTRY(csock)	 uentry;	/* in u->socks */
	TAILQ_ENTRY(csock)	 aentry;	/* in chat->all */
	long long		 typing_conv;	/* last conversation typed in */
	long long		 typing_peer;
	size_t			 nops;		/* requests being answered */
};
TAILQ_HEAD(csockq, csock);

/* Typing shown to this user's sockets, ended by timer. */
struct	tyt {
	ev_timer		 t;
	struct cuser		*u;
	long long		 typer;
	long long		 conv;
	LIST_ENTRY(tyt)		 entry;
};

struct	op;

struct	cuser {
	long long		 uid;
	char			 uname[JWT_UNAME_MAX];
	struct cuser		*hnext;
	struct csockq		 socks;
	size_t			 nsock;
	LIST_HEAD(, tyt)	 typing;
	TAILQ_HEAD(, op)	 waiting;	/* connects held until then */
	ev_tstamp		 wait_since;
};

struct	convent {
	long long		 id, one, two;
};

/* The events, in the order of events[]; anything else is EV_OTHER. */
enum	chat_ev { EV_SEND = 0, EV_HISTORY, EV_CONVS, EV_START, EV_TYPING,
	EV_STOPTYPING, EV_MARKREAD, EV_ONLINE, EV_OTHER, EV__MAX };

#define LAT_N		12	/* ack latency buckets (+Inf aside) */

/* Counters of the chat layer, written by chat_metrics(). */
struct	chat_stats {
	uint64_t		 events[EV__MAX][SIO_REQ__MAX];
	uint64_t		 messages_sent;	/* stored by sendMessage */
	uint64_t		 ack_lat[LAT_N];	/* sendMessage, non-cumulative */
	uint64_t		 ack_lat_inf;
	double			 ack_lat_sum;	/* seconds */
};

struct	chat {
	struct ev_loop		*loop;
	const struct conf	*conf;
	unsigned int		 node;
	struct pgq		*pw;		/* writes (batched inserts) */
	struct pgq		*pm[WRITERS];	/* messages; pm[0] is pw */
	struct pgq		*pr;		/* reads */
	struct ps		*ps;
	struct cuser		*users[USER_BUCKETS];
	struct csockq		 all;
	size_t			 nsock;
	struct convent		 convs[CONV_CACHE];
	struct chat_stats	 st;
	TAILQ_HEAD(, op)	 sendq[WRITERS]; /* sendMessage for S_SENDB */
	ev_prepare		 sendprep;	/* flushes sendq */
	size_t			 bframes;	/* broadcast frames this second */
	int			 trim;		/* a storm was trimmed: again */
	ev_timer		 sweep;		/* connects waiting too long */
	/* chat_stop */
	int			 stopping;
	ev_timer		 stop_timer;
	ev_tstamp		 stop_deadline;
	int			 stop_cleared;
	size_t			 outstanding;	/* lastSeen writes in flight */
	void			(*stop_done)(void *);
	void			*stop_arg;
};

enum	opkind { OP_CONNECT, OP_SEND, OP_START, OP_CONVS, OP_HISTORY,
	OP_MARKREAD, OP_TYPING, OP_STOPTYPING, OP_ONLINE };

struct	op {
	struct chat		*c;
	struct sio_socket	*s;
	enum opkind		 kind;
	int64_t			 ackid;
	long long		 uid;
	char			 uname[JWT_UNAME_MAX];
	long long		 id;		/* conversation or recipient */
	long long		 conv;		/* startConversation result */
	long long		 before;
	int			 limit;
	int			 tries;
	char			*content;
	char			*cmid;
	json_t			*list;		/* conversationsList waiting */
	TAILQ_ENTRY(op)		 wentry;	/* in cuser.waiting or sendq */
	int			 counted;	/* in csock.nops */
	int			 first;		/* connect: the user's first socket */
};

static void	 op_free(struct op *);

/*
 * Small helpers.
 */

static char *
lltoa(long long v, char *buf, size_t sz)
{
	snprintf(buf, sz, "%lld", v);
	return buf;
}

/* Parse a decimal bigint column; -1 if NULL or bad. */
static long long
col_id(const PGresult *res, int row, int col)
{
	const char	*s;
	char		*end;
	long long	 v;

	if (PQgetisnull(res, row, col))
		return -1;
	s = PQgetvalue(res, row, col);
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		return -1;
	return v;
}

/* A nullable text column as JSON (string or null). */
static json_t *
col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_stringn(PQgetvalue(res, row, col),
	    PQgetlength(res, row, col));
}

/*
 * A JSON id: a positive integer (an integral real is accepted too).
 * Returns 0 and *v, or -1.
 */
static int
json_id(const json_t *j, long long *v)
{
	double	 d;

	if (json_is_integer(j)) {
		if (json_integer_value(j) <= 0)
			return -1;
		*v = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		d = json_real_value(j);
		if (!(d >= 1 && d <= 9007199254740991.0) || floor(d) != d)
			return -1;
		*v = (long long)d;
		return 0;
	}
	return -1;
}

/*
 * Users and sockets of this node.
 */

static struct cuser *
user_find(struct chat *c, long long uid)
{
	struct cuser	*u;

	for (u = c->users[(unsigned long long)uid % USER_BUCKETS]; u != NULL;
	    u = u->hnext)
		if (u->uid == uid)
			return u;
	return NULL;
}

static struct cuser *
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

static void
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
static void
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

static const struct convent *
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

static void	 typing_seen(struct chat *, struct cuser *, const char *,
		    json_t *);

/*
 * Deliver to this node's sockets of "uid".  The sockets are referenced
 * first: a send may close a connection and so change the lists.
 */
static void
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
static void
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
static void
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

/* Answer one socket: the event, and the ack if one was asked. */
static void
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

static void
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
 * Typing indicators shown here end by themselves.
 */

static void
tyt_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tyt	*t = w->data;
	struct cuser	*u = t->u;
	struct chat	*c = loop != NULL ? ev_userdata(loop) : NULL;
	json_t		*p;
	long long	 uid = u->uid;

	p = json_pack("{s:I,s:I}", "userId", (json_int_t)t->typer,
	    "conversationId", (json_int_t)t->conv);
	LIST_REMOVE(t, entry);
	free(t);
	if (p != NULL && c != NULL)
		deliver_user(c, uid, "userStoppedTyping", p);
	json_decref(p);
}

/* Called for every event delivered to a local user. */
static void
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
 * Requests.
 */

static struct op *
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

static void
op_free(struct op *op)
{
	struct csock	*cs;

	if (op == NULL)
		return;
	/* The socket's data is gone once it disconnected. */
	if (op->counted && (cs = sio_socket_data(op->s)) != NULL &&
	    cs->nops > 0)
		cs->nops--;
	sio_socket_unref(op->s);
	free(op->content);
	free(op->cmid);
	json_decref(op->list);
	free(op);
}

static void
op_fail(struct op *op, const char *msg)
{
	reply_error(op->s, op->ackid, msg);
	op_free(op);
}

/* Queue a statement for "op"; on failure answers and frees op. */
static void
op_exec(struct op *op, struct pgq *q, enum stmt st, int n,
    const char *const *params, int flags, pgq_cb *cb)
{
	if (pgq_exec(q, st, n, params, flags, cb, op) == -1)
		op_fail(op, E_UNAVAIL);
}

/*
 * The Message payload (docs/api.md §4.5), in its key order, from row "row":
 * columns id, content, created, read; sender from column csender or,
 * when that is -1, "sender" with "uname".
 */
static json_t *
message_json(const PGresult *res, int row, int cid, int ccontent,
    int ccreated, int cread, int csender, long long sender,
    const char *uname, long long conv)
{
	json_t	*m;

	if ((m = json_object()) == NULL)
		return NULL;
	json_object_set_new(m, "id", json_integer(col_id(res, row, cid)));
	json_object_set_new(m, "content", col_str(res, row, ccontent));
	json_object_set_new(m, "senderId", json_integer(csender >= 0 ?
	    col_id(res, row, csender) : sender));
	json_object_set_new(m, "senderUsername", csender >= 0 ?
	    col_str(res, row, csender + 1) : json_string(uname));
	json_object_set_new(m, "conversationId", json_integer(conv));
	json_object_set_new(m, "createdAt", col_str(res, row, ccreated));
	json_object_set_new(m, "readAt", col_str(res, row, cread));
	return m;
}

/* lastSeenAt of a user whose last socket is gone. */
static void
lastseen_cb(void *arg, const PGresult *res, const char *err)
{
	struct chat	*c = arg;

	if (c->outstanding > 0)
		c->outstanding--;
}

static void
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
 * Accept "s" as a socket of "u"; 0, or -1 if refused or closed meanwhile.
 * "first": the user just came online; the broadcast userOnline went out
 * before this socket was accepted, so it gets its own copy (the spec
 * sends userOnline to all clients, this one included).
 */
static int
attach(struct chat *c, struct sio_socket *s, struct cuser *u,
    const char *uname, int first)
{
	json_t		*o;
	struct csock	*cs;

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
	snprintf(u->uname, sizeof(u->uname), "%s", uname);
	sio_socket_set_data(s, cs);
	u->nsock++;
	TAILQ_INSERT_TAIL(&u->socks, cs, uentry);
	TAILQ_INSERT_TAIL(&c->all, cs, aentry);
	c->nsock++;
	log_debug("chat: user %lld connected as %s", u->uid, sio_socket_id(s));
	if (first && (o = json_pack("{s:I}", "userId", (json_int_t)u->uid)) !=
	    NULL) {
		reply(s, -1, "userOnline", o);
		json_decref(o);
	}
	return 0;
}

/* Drop "u" if nothing of it is left here. */
static void
user_gc(struct chat *c, struct cuser *u)
{
	if (u->nsock > 0 || !TAILQ_EMPTY(&u->waiting))
		return;
	ps_unsub_user(c->ps, u->uid);
	user_free(c, u);
}

/* Accept the connects held for "u" (and forget those closed meanwhile). */
static void
release(struct chat *c, struct cuser *u)
{
	struct op	*op;

	while ((op = TAILQ_FIRST(&u->waiting)) != NULL) {
		TAILQ_REMOVE(&u->waiting, op, wentry);
		if (!sio_socket_is_open(op->s) ||
		    attach(c, op->s, u, op->uname, op->first) == -1)
			ps_presence_del(c->ps, op->uid, sio_socket_id(op->s));
		op_free(op);
	}
	user_gc(c, u);
}

/*
 * The socket is in Redis presence (or Redis is down).  Accept it once
 * this node listens on the user's channel, so that nothing sent to a
 * connected client is lost: right away if it already does, else when
 * Redis confirms the SUBSCRIBE (or after CHAT_SUB_WAIT seconds).
 */
static void
admit(struct op *op)
{
	struct chat	*c = op->c;
	struct cuser	*u;

	if (!sio_socket_is_open(op->s)) {
		ps_presence_del(c->ps, op->uid, sio_socket_id(op->s));
		op_free(op);
		return;
	}
	if ((u = user_get(c, op->uid)) == NULL) {
		refuse(op->s, "internal");
		ps_presence_del(c->ps, op->uid, sio_socket_id(op->s));
		op_free(op);
		return;
	}
	if (TAILQ_EMPTY(&u->waiting) && (u->nsock > 0 ||
	    ps_sub_user(c->ps, u->uid) == -1)) {
		if (attach(c, op->s, u, op->uname, op->first) == -1)
			ps_presence_del(c->ps, op->uid, sio_socket_id(op->s));
		op_free(op);
		user_gc(c, u);
		return;
	}
	if (TAILQ_EMPTY(&u->waiting))
		u->wait_since = ev_now(c->loop);
	TAILQ_INSERT_TAIL(&u->waiting, op, wentry);
}

static void
presence_cb(void *arg, const redisReply *r)
{
	struct op	*op = arg;

	op->first = r != NULL && r->type == REDIS_REPLY_INTEGER &&
	    r->integer == 1;
	admit(op);
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chat	*c = w->data;
	struct cuser	*u, *next;
	size_t		 i;

	for (i = 0; i < USER_BUCKETS; i++)
		for (u = c->users[i]; u != NULL; u = next) {
			next = u->hnext;
			if (!TAILQ_EMPTY(&u->waiting) &&
			    ev_now(loop) - u->wait_since > CHAT_SUB_WAIT) {
				log_warnx("chat: no SUBSCRIBE answer for "
				    "user %lld; accepting anyway", u->uid);
				release(c, u);
			}
		}
	/*
	 * A broadcast storm (userOnline to every socket, N^2 frames when N
	 * users connect) leaves megabytes of freed output buffers in the
	 * middle of the heap: give them back to the OS while it lasts and
	 * once more when it is over.
	 */
	if (c->bframes >= TRIM_FRAMES || c->trim) {
		malloc_trim(0);
		c->trim = c->bframes > 0;
	}
	c->bframes = 0;
}

static void
connect_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;

	if (!sio_socket_is_open(op->s))
		goto out;
	if (res == NULL) {
		/*
		 * The database is down: the token's HS256 signature is
		 * ours and fresh, so let the user in on it.
		 */
		log_warnx("chat: user %lld admitted on the token alone (%s)",
		    op->uid, err);
	} else if (PQntuples(res) != 1) {
		refuse(op->s, "user_not_found");
		goto out;
	} else
		snprintf(op->uname, sizeof(op->uname), "%s",
		    PQgetvalue(res, 0, 0));
	if (ps_presence_add(op->c->ps, op->uid, sio_socket_id(op->s),
	    presence_cb, op) == -1)
		admit(op);
	return;
out:
	op_free(op);
}

void
chat_on_connect(struct sio_socket *s, const char *nsp, json_t *auth,
    void *arg)
{
	struct chat	*c = arg;
	struct op	*op;
	const char	*token;
	char		 uname[JWT_UNAME_MAX], b[24];
	const char	*p[1];
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
	p[0] = lltoa(uid, b, sizeof(b));
	if (pgq_exec(c->pr, S_USER, 1, p, 0, connect_cb, op) == -1) {
		refuse(s, "unavailable");
		op_free(op);
	}
}

/*
 * sendMessage
 */

static void	 send_cb(void *, const PGresult *, const char *);

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
 * conversation, content, created, read, fresh.  Answer and deliver.
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
	if ((m = message_json(res, row, o, o + 2, o + 3, o + 4, -1, op->uid,
	    op->uname, conv)) == NULL) {
		op_fail(op, E_INTERNAL);
		return;
	}
	op->c->st.messages_sent++;
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
	op_free(op);
}

static void
send_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;

	if (res == NULL)
		op_fail(op, E_UNAVAIL);
	else if (PQntuples(res) != 1)
		send_none(op);
	else
		send_done(op, res, 0, 0);
}

/* The messages of one S_SENDB statement, in array order. */
struct	sendb {
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

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		op = TAILQ_FIRST(&c->sendq[k]);
		TAILQ_REMOVE(&c->sendq[k], op, wentry);
		op_fail(op, E_INTERNAL);
		return;
	}
	while (b->n < SENDB_MAX && (op = TAILQ_FIRST(&c->sendq[k])) != NULL) {
		TAILQ_REMOVE(&c->sendq[k], op, wentry);
		b->ops[b->n++] = op;
		sz[0] += 21;
		sz[1] += 21;
		sz[2] += 2 * strlen(op->content) + 3;
		sz[3] += op->cmid != NULL ? 2 * strlen(op->cmid) + 3 : 5;
	}
	if (b->n == 1) {
		send_query1(b->ops[0]);
		free(b);
		return;
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
	if (pgq_exec(c->pm[k], S_SENDB, 4, p, PGQ_BATCH, sendb_cb, b) == -1)
		goto fail;
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

/* Before the loop blocks: the messages of this pass, a few statements. */
static void
sendprep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct chat	*c = w->data;
	size_t		 k;

	for (k = 0; k < WRITERS; k++)
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

static void
on_send(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*jc, *jm;
	const char	*start;
	size_t		 tlen, ncp;
	long long	 rid;

	if (!json_is_object(pl)) {
		reply_error(cs->s, ackid, E_PAYLOAD);
		return;
	}
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
	if ((op->content = strndup(start, tlen)) == NULL ||
	    (jm != NULL && (op->cmid = strdup(json_string_value(jm))) ==
	    NULL)) {
		op_fail(op, E_INTERNAL);
		return;
	}
	send_query(op);
}

/*
 * getConversations and startConversation
 */

static json_t *
user_json(const PGresult *res, int row, int col)
{
	json_t	*u;

	if ((u = json_object()) == NULL)
		return NULL;
	json_object_set_new(u, "id", json_integer(col_id(res, row, col)));
	json_object_set_new(u, "username", col_str(res, row, col + 1));
	json_object_set_new(u, "displayName", col_str(res, row, col + 2));
	json_object_set_new(u, "avatarUrl", col_str(res, row, col + 3));
	json_object_set_new(u, "avatarColor", col_str(res, row, col + 4));
	return u;
}

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

/* Set otherUser.isOnline (and null lastSeenAt when online). */
static void
set_online(json_t *conv, int online)
{
	json_t	*ou = json_object_get(conv, "otherUser");

	json_object_set_new(ou, "isOnline", json_boolean(online));
	if (online)
		json_object_set_new(ou, "lastSeenAt", json_null());
}

static int
local_online(struct chat *c, long long uid)
{
	struct cuser	*u = user_find(c, uid);

	return u != NULL && u->nsock > 0;
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
	const char	**argv = NULL;
	char		(*ids)[24] = NULL;
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
	if (n == 0) {
		convs_finish(op);
		return;
	}
	/* isOnline, live from Redis: SMISMEMBER rt:online id... */
	if ((argv = calloc(n + 2, sizeof(*argv))) == NULL ||
	    (ids = calloc(n, sizeof(*ids))) == NULL)
		goto fail;
	argv[0] = "SMISMEMBER";
	argv[1] = "rt:online";
	for (i = 0; i < n; i++) {
		conv = json_array_get(op->list, i);
		lltoa(json_integer_value(json_object_get(json_object_get(conv,
		    "otherUser"), "id")), ids[i], sizeof(ids[i]));
		argv[2 + i] = ids[i];
	}
	if (ps_command(c->ps, online_flags_cb, op, n + 2, argv, NULL) == -1)
		online_flags_cb(op, NULL);
	free(argv);
	free(ids);
	return;
fail:
	free(argv);
	free(ids);
	json_decref(list);
	op_fail(op, E_INTERNAL);
}

static void
convs_query(struct op *op)
{
	char		 b[24];
	const char	*p[1] = { lltoa(op->uid, b, sizeof(b)) };

	op_exec(op, op->c->pr, S_CONVS, 1, p, 0, convs_cb);
}

static void
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

static void	 start_query(struct op *);

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
	op->conv = conv;
	convs_query(op);
}

static void
start_query(struct op *op)
{
	char		 b[24];
	const char	*p[2] = { lltoa(op->uid, b, sizeof(b)), op->content };

	op_exec(op, op->c->pw, S_START, 2, p, 0, start_cb);
}

static void
on_start(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*ju = json_object_get(pl, "recipientUsername");
	const char	*name;

	if (!json_is_object(pl)) {
		reply_error(cs->s, ackid, E_PAYLOAD);
		return;
	}
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
	    (op->content = strdup(name)) == NULL) {
		if (op != NULL)
			op_free(op);
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	start_query(op);
}

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

static void
on_history(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	json_t		*jb, *jl;
	long long	 conv, before = -1;
	double		 d;
	int		 limit = CHAT_LIMIT_DEFAULT;
	char		 b1[24], b2[24], b3[24], b4[24];
	const char	*p[4];

	if (!json_is_object(pl)) {
		reply_error(cs->s, ackid, E_PAYLOAD);
		return;
	}
	if (json_id(json_object_get(pl, "conversationId"), &conv) == -1) {
		reply_error(cs->s, ackid, E_CONVID);
		return;
	}
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
	op_exec(op, c->pr, S_HISTORY, 4, p, 0, history_cb);
}

/*
 * markRead
 */

static void
markread_cb(void *arg, const PGresult *res, const char *err)
{
	struct op	*op = arg;
	json_t		*o;
	long long	 a, b, other;

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	if (PQntuples(res) != 1) {
		op_fail(op, E_NOTMEMBER);
		return;
	}
	a = col_id(res, 0, 0);
	b = col_id(res, 0, 1);
	conv_put(op->c, op->id, a, b);
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

	if (res == NULL) {
		op_fail(op, E_UNAVAIL);
		return;
	}
	if (PQntuples(res) != 1) {
		op_fail(op, E_NOTMEMBER);
		return;
	}
	a = col_id(res, 0, 0);
	b = col_id(res, 0, 1);
	conv_put(op->c, op->id, a, b);
	typing_go(op, a, b);
}

static void
on_conv_event(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid,
    enum opkind kind)
{
	struct op		*op;
	const struct convent	*e;
	long long		 conv;
	char			 b1[24], b2[24];
	const char		*p[2];

	if (!json_is_object(pl)) {
		reply_error(cs->s, ackid, E_PAYLOAD);
		return;
	}
	if (json_id(json_object_get(pl, "conversationId"), &conv) == -1) {
		reply_error(cs->s, ackid, E_CONVID);
		return;
	}
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

static void
on_online(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	struct op	*op;
	const char	*argv[2] = { "SMEMBERS", "rt:online" };

	if ((op = op_new(c, cs->s, OP_ONLINE, ackid, cs->u->uid,
	    cs->u->uname)) == NULL) {
		reply_error(cs->s, ackid, E_INTERNAL);
		return;
	}
	if (ps_command(c->ps, online_cb, op, 2, argv, NULL) == -1)
		online_cb(op, NULL);
}

static void
on_typing(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_TYPING);
}

static void
on_stoptyping(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_STOPTYPING);
}

static void
on_markread(struct chat *c, struct csock *cs, json_t *pl, int64_t ackid)
{
	on_conv_event(c, cs, pl, ackid, OP_MARKREAD);
}

/*
 * The events of docs/api.md §4: one row per event drives both dispatch
 * (chat_on_event) and the "event" label of chat_realtime_events_total
 * (the row's index is the request's tag).  Anything else is "other".
 */
static const struct chat_event {
	const char	*name;
	void		(*handler)(struct chat *, struct csock *, json_t *,
			    int64_t);
} events[EV__MAX] = {
	[EV_SEND] =		{ "sendMessage", on_send },
	[EV_HISTORY] =		{ "getMessages", on_history },
	[EV_CONVS] =		{ "getConversations", on_convs },
	[EV_START] =		{ "startConversation", on_start },
	[EV_TYPING] =		{ "typing", on_typing },
	[EV_STOPTYPING] =	{ "stopTyping", on_stoptyping },
	[EV_MARKREAD] =		{ "markRead", on_markread },
	[EV_ONLINE] =		{ "getOnlineUsers", on_online },
	[EV_OTHER] =		{ "other", NULL },
};

/* The "status" label, by enum sio_req_end. */
static const char *const req_status[SIO_REQ__MAX] = {
	"ok", "error", "noack", "closed", "drained"
};

/* Ack latency buckets of sendMessage, seconds (+Inf aside). */
static const double lat_le[LAT_N] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

static enum chat_ev
event_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < EV_OTHER; i++)
		if (strcmp(name, events[i].name) == 0)
			return (enum chat_ev)i;
	return EV_OTHER;
}

/*
 * Socket.IO callbacks.
 */

void
chat_on_event(struct sio_socket *s, const char *name, json_t *args,
    int64_t ackid, const struct sio_bin *bins, size_t nbins, void *arg)
{
	struct chat	*c = arg;
	struct csock	*cs = sio_socket_data(s);
	json_t		*pl = json_array_get(args, 0);
	enum chat_ev	 ev;

	if (cs == NULL)
		return;
	if (cs->nops >= CHAT_OPS_MAX) {
		reply_error(s, ackid, E_BUSY);
		return;
	}
	ev = event_find(name);
	if (events[ev].handler != NULL)
		events[ev].handler(c, cs, pl, ackid);
	else if (ackid >= 0)
		reply_error(s, ackid, "Unknown event");
}

/*
 * Request accounting (sio_opts.req_tag, req_done): the event's row in
 * events[] is its tag; the counters are read by chat_metrics().
 */

int
chat_req_tag(const char *name, void *arg)
{
	return (int)event_find(name);
}

void
chat_req_done(struct sio_socket *s, int tag, enum sio_req_end how,
    double secs, void *arg)
{
	struct chat	*c = arg;
	size_t		 i;

	if (tag < 0 || tag >= EV__MAX || how >= SIO_REQ__MAX)
		return;
	c->st.events[tag][how]++;
	if (log_enabled(LOG_LVL_DEBUG)) {
		if (how == SIO_REQ_OK || how == SIO_REQ_ERROR)
			log_debug("req event=%s status=%s ms=%.1f sid=%s "
			    "uid=%lld", events[tag].name, req_status[how],
			    secs * 1000., sio_socket_id(s), sio_socket_uid(s));
		else if (how != SIO_REQ_CLOSED)
			log_debug("req event=%s status=%s sid=%s uid=%lld",
			    events[tag].name, req_status[how],
			    sio_socket_id(s), sio_socket_uid(s));
	}
	if (tag != EV_SEND || secs < 0 ||
	    (how != SIO_REQ_OK && how != SIO_REQ_ERROR))
		return;
	c->st.ack_lat_sum += secs;
	for (i = 0; i < LAT_N; i++)
		if (secs <= lat_le[i]) {
			c->st.ack_lat[i]++;
			return;
		}
	c->st.ack_lat_inf++;
}

/* The chat layer's families of /metrics, and those of its stores. */
void
chat_metrics(struct metrics_out *b, void *arg)
{
	struct chat		*c = arg;
	struct pgq_stats	 qs;
	struct ps_stats		 rs;
	uint64_t		 cum, pg_errors = 0, pg_reconnects = 0;
	size_t			 e, h, i;

	metrics_printf(b, "# HELP chat_realtime_events_total Chat events "
	    "received, by name and how they ended.\n"
	    "# TYPE chat_realtime_events_total counter\n");
	for (e = 0; e < EV__MAX; e++)
		for (h = 0; h < SIO_REQ__MAX; h++)
			metrics_printf(b, "chat_realtime_events_total{event="
			    "\"%s\",status=\"%s\"} %llu\n", events[e].name,
			    req_status[h],
			    (unsigned long long)c->st.events[e][h]);
	metrics_counter(b, "chat_realtime_messages_sent_total",
	    "Messages stored by sendMessage.", c->st.messages_sent);
	metrics_printf(b, "# HELP chat_realtime_ack_latency_seconds "
	    "sendMessage: event received to ack queued.\n"
	    "# TYPE chat_realtime_ack_latency_seconds histogram\n");
	for (cum = 0, i = 0; i < LAT_N; i++) {
		cum += c->st.ack_lat[i];
		metrics_printf(b, "chat_realtime_ack_latency_seconds_bucket"
		    "{le=\"%g\"} %llu\n", lat_le[i], (unsigned long long)cum);
	}
	cum += c->st.ack_lat_inf;
	metrics_printf(b, "chat_realtime_ack_latency_seconds_bucket"
	    "{le=\"+Inf\"} %llu\n"
	    "chat_realtime_ack_latency_seconds_sum %.6f\n"
	    "chat_realtime_ack_latency_seconds_count %llu\n",
	    (unsigned long long)cum, c->st.ack_lat_sum,
	    (unsigned long long)cum);
	ps_stats(c->ps, &rs);
	metrics_counter(b, "chat_realtime_redis_errors_total",
	    "Redis connections lost or failed, error replies.", rs.errors);
	metrics_counter(b, "chat_realtime_redis_reconnects_total",
	    "Redis reconnect attempts.", rs.reconnects);
	pgq_stats(c->pr, &qs);
	pg_errors += qs.errors;
	pg_reconnects += qs.reconnects;
	for (i = 0; i < WRITERS; i++) {
		pgq_stats(c->pm[i], &qs);
		pg_errors += qs.errors;
		pg_reconnects += qs.reconnects;
	}
	metrics_counter(b, "chat_realtime_pg_errors_total",
	    "PostgreSQL connections lost or failed, failed statements.",
	    pg_errors);
	metrics_counter(b, "chat_realtime_pg_reconnects_total",
	    "PostgreSQL reconnect attempts.", pg_reconnects);
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
		release(c, u);
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

/*
 * Life cycle.
 */

/* libpq keyword/value quoting: 'value' with \ and ' escaped. */
static int
kv(char **out, const char *key, const char *val)
{
	char	*q, *p, *s;
	size_t	 len;

	if (val == NULL)
		return 0;
	len = strlen(val);
	if ((q = malloc(len * 2 + 3)) == NULL)
		return -1;
	p = q;
	*p++ = '\'';
	for (; *val != '\0'; val++) {
		if (*val == '\'' || *val == '\\')
			*p++ = '\\';
		*p++ = *val;
	}
	*p++ = '\'';
	*p = '\0';
	if (asprintf(&s, "%s%s%s=%s", *out, **out ? " " : "", key, q) == -1) {
		free(q);
		return -1;
	}
	free(q);
	free(*out);
	*out = s;
	return 0;
}

struct chat *
chat_new(struct ev_loop *loop, const struct conf *conf, unsigned int node)
{
	struct chat	*c;
	struct ps_opts	 po;
	char		*ci = NULL, name[8];
	size_t		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->conf = conf;
	c->node = node;
	TAILQ_INIT(&c->all);
	for (i = 0; i < WRITERS; i++)
		TAILQ_INIT(&c->sendq[i]);
	/* Before pgq's own prepare watcher, which sends what is queued. */
	ev_prepare_init(&c->sendprep, sendprep_cb);
	ev_set_priority(&c->sendprep, EV_MAXPRI);
	c->sendprep.data = c;
	ev_set_userdata(loop, c);
	if ((ci = strdup("")) == NULL ||
	    kv(&ci, "host", conf->db_host) == -1 ||
	    kv(&ci, "port", conf->db_port) == -1 ||
	    kv(&ci, "user", conf->db_user) == -1 ||
	    kv(&ci, "password", conf->db_pass) == -1 ||
	    kv(&ci, "dbname", conf->db_name) == -1 ||
	    kv(&ci, "connect_timeout", "5") == -1 ||
	    kv(&ci, "application_name", "chat-realtime") == -1)
		goto fail;
	if ((c->pw = pgq_new(loop, ci, sqls, S__MAX, "w")) == NULL ||
	    (c->pr = pgq_new(loop, ci, sqls, S__MAX, "r")) == NULL)
		goto fail;
	c->pm[0] = c->pw;
	for (i = 1; i < WRITERS; i++) {
		snprintf(name, sizeof(name), "w%zu", i);
		if ((c->pm[i] = pgq_new(loop, ci, sqls, S__MAX, name)) == NULL)
			goto fail;
	}
	memset(&po, 0, sizeof(po));
	po.url = conf->redis_url;
	po.node_id = node;
	po.on_msg = ps_msg;
	po.on_up = ps_up;
	po.on_offline = ps_offline;
	po.want = ps_want;
	po.on_sub = ps_subscribed;
	po.arg = c;
	if ((c->ps = ps_new(loop, &po)) == NULL)
		goto fail;
	ev_timer_init(&c->sweep, sweep_cb, 1., 1.);
	c->sweep.data = c;
	ev_timer_start(loop, &c->sweep);
	free(ci);
	return c;
fail:
	log_warnx("chat: cannot start");
	free(ci);
	chat_free(c);
	return NULL;
}

static void
stop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chat	*c = w->data;

	if ((c->stop_cleared && c->outstanding == 0) ||
	    ev_now(loop) >= c->stop_deadline) {
		ev_timer_stop(loop, w);
		if (c->stop_done != NULL)
			c->stop_done(c->stop_arg);
	}
}

static void
cleared_cb(void *arg, const redisReply *r)
{
	struct chat	*c = arg;
	size_t		 i;
	long long	 uid;
	char		*end;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++) {
			if (r->element[i]->type == REDIS_REPLY_INTEGER)
				uid = r->element[i]->integer;
			else if (r->element[i]->type == REDIS_REPLY_STRING) {
				uid = strtoll(r->element[i]->str, &end, 10);
				if (*end != '\0')
					continue;
			} else
				continue;
			if (uid > 0)
				write_lastseen(c, uid);
		}
	c->stop_cleared = 1;
}

void
chat_stop(struct chat *c, unsigned int grace_ms, void (*done)(void *),
    void *arg)
{
	c->stopping = 1;
	c->stop_done = done;
	c->stop_arg = arg;
	c->stop_deadline = ev_now(c->loop) + grace_ms / 1000.0;
	if (ps_presence_clear(c->ps, cleared_cb, c) == -1)
		c->stop_cleared = 1;
	ev_timer_init(&c->stop_timer, stop_tick, 0.02, 0.02);
	c->stop_timer.data = c;
	ev_timer_start(c->loop, &c->stop_timer);
}

void
chat_free(struct chat *c)
{
	struct cuser	*u;
	struct csock	*cs;
	struct op	*op;
	size_t		 i;

	if (c == NULL)
		return;
	ev_prepare_stop(c->loop, &c->sendprep);
	for (i = 0; i < WRITERS; i++)
		while ((op = TAILQ_FIRST(&c->sendq[i])) != NULL) {
			TAILQ_REMOVE(&c->sendq[i], op, wentry);
			op_free(op);
		}
	ev_timer_stop(c->loop, &c->stop_timer);
	ev_timer_stop(c->loop, &c->sweep);
	while ((cs = TAILQ_FIRST(&c->all)) != NULL) {
		TAILQ_REMOVE(&c->all, cs, aentry);
		sio_socket_set_data(cs->s, NULL);
		free(cs);
	}
	for (i = 0; i < USER_BUCKETS; i++)
		while ((u = c->users[i]) != NULL)
			user_free(c, u);
	for (i = 1; i < WRITERS; i++)
		pgq_free(c->pm[i]);
	pgq_free(c->pw);
	pgq_free(c->pr);
	ps_free(c->ps);
	free(c);
}

void
chat_health(void *arg, struct metrics_health *h)
{
	struct chat	*c = arg;
	size_t		 i;

	h->db_up = pgq_ready(c->pr);
	for (i = 0; i < WRITERS; i++)
		if (c->pm[i] != NULL && !pgq_ready(c->pm[i]))
			h->db_up = 0;
	h->redis_error = ps_error(c->ps);
	h->redis_up = h->redis_error == NULL;
}
