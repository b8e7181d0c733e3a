/*
 * ps.c: Redis presence, fan-out, typing and heartbeats for
 * chat-realtime (see ps.h for the key layout and why it is so).  The
 * connections, slot routing and redirections are rcluster.c's; this file
 * says what to send where.  Every script declares its keys and touches
 * one slot, so it runs the same on one Redis and on a Redis Cluster.
 * Replies read from Redis are untrusted: types are checked before use.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/log.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/rcluster.h"

/*
 * On U's slot.  KEYS: rt:{u:U}:socks rt:{u:U}:gen.  ARGV: op sid, op
 * "add", "del" or "sync".  Returns U's new stamp on a transition
 * (positive: came online; negative: went offline), else 0; "sync"
 * returns the current stamp of an online user (to apply it again).
 */
static const char	 lua_user[] =
"local k = KEYS[1]\n"
"local function stamp()\n"
"  local t = redis.call('TIME')\n"
"  local s = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
"  local g = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
"  if s <= g then s = g + 1 end\n"
"  redis.call('SET', KEYS[2], string.format('%.0f', s), 'EX', 86400)\n"
"  return s\n"
"end\n"
"if ARGV[1] == 'del' then\n"
"  if redis.call('SREM', k, ARGV[2]) == 1 and "
"redis.call('SCARD', k) == 0 then return -stamp() end\n"
"  return 0\n"
"end\n"
"if redis.call('SADD', k, ARGV[2]) == 1 and redis.call('SCARD', k) == 1 "
"then return stamp() end\n"
"if ARGV[1] == 'sync' then\n"
"  return tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
"end\n"
"return 0\n";

/*
 * On B's slot.  KEYS: rt:{o:B}:online rt:{o:B}:gen.  ARGV: uid stamp
 * node channel.  Applies U's transition if newer than the last applied;
 * announces it if B's set changed (on the channel; an empty one, for
 * PRESENCE_SCOPE=contacts, publishes nothing).  Returns 1 if announced.
 */
static const char	 lua_bucket[] =
"local s = tonumber(ARGV[2])\n"
"local a = math.abs(s)\n"
"local g = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') or 0\n"
"if a <= g then return 0 end\n"
"redis.call('HSET', KEYS[2], ARGV[1], string.format('%.0f', a))\n"
"local ev = 'userOnline'\n"
"if s > 0 then\n"
"  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
"else\n"
"  ev = 'userOffline'\n"
"  if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
"end\n"
"if ARGV[4] ~= '' then\n"
"  redis.call('SPUBLISH', ARGV[4], '{\"n\":' .. ARGV[3] .. ',\"e\":\"' .. "
"ev .. '\",\"a\":{\"userId\":' .. ARGV[1] .. '}}')\n"
"end\n"
"return 1\n";

/*
 * On our node's slot.  KEYS: rt:{n:N}:socks rt:{n:N}:alive.  ARGV: ttl
 * member...  Adds the members, returns those held but not wanted (the
 * caller drops them, then removes them).
 */
static const char	 lua_nsync[] =
"local want, gone = {}, {}\n"
"for i = 2, #ARGV do want[ARGV[i]] = true end\n"
"for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
"  if not want[m] then table.insert(gone, m) end\n"
"end\n"
"for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end\n"
"redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])\n"
"return gone\n";

/* KEYS: rt:{n:N}:alive.  ARGV: ttl.  1 if it had expired (resync). */
static const char	 lua_beat[] =
"if redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'XX') == false then\n"
"  redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])\n"
"  return 1\n"
"end\n"
"return 0\n";

#define NODES_KEY	"rt:nodes"

struct	ps {
	struct ev_loop	*loop;
	struct ps_opts	 o;
	struct rcluster	*rcl;
	char		 node[16];
	uint64_t	 errors;	/* error replies */
	ev_timer	 beat;
	int		 beat_pending;	/* replies of this beat awaited */
	int		 beat_resync;	/* this beat asked for a resync */
	int		 stopping;
};

/*
 * Collecting the users gone offline over many presence steps, for one
 * callback at the end (ps_presence_clear).
 */
struct	join {
	struct ps	*p;
	ps_reply_cb	*cb;
	void		*arg;
	size_t		 pending;
	int		 armed;		/* every step is issued */
	redisReply	*gone;		/* array of integers */
};

/* One socket's presence step: U's slot, then B's slot. */
struct	uop {
	struct ps	*p;
	long long	 uid;
	const char	*op;		/* "add", "del", "sync" */
	char		*sid;
	char		*nodekey;	/* SREM "U:S" from it after the step */
	long long	 stamp;		/* from lua_user */
	int		 announced;	/* on rt:{o:B} by lua_bucket */
	ps_reply_cb	*cb;
	void		*arg;
	struct join	*j;
};

static void	 sub_buckets(struct ps *);

/*
 * Key and channel names.
 */

static void
user_key(char *b, size_t sz, long long uid, const char *what)
{
	snprintf(b, sz, "rt:{u:%lld}%s", uid, what);
}

static void
node_key(char *b, size_t sz, const char *node, const char *what)
{
	snprintf(b, sz, "rt:{n:%s}%s", node, what);
}

static unsigned int
bucket(long long uid)
{
	return (unsigned long long)uid % PS_BUCKETS;
}

static void
bucket_key(char *b, size_t sz, unsigned int bk, const char *what)
{
	snprintf(b, sz, "rt:{o:%u}%s", bk, what);
}

/* Parse a non-negative decimal id from untrusted bytes; -1 if bad. */
static long long
parse_id(const char *s, size_t len)
{
	long long	 v = 0;
	size_t		 i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * The uid of channel rt:{u:U}, 0 for rt:{o:B} (B < PS_BUCKETS), else -1.
 */
static long long
channel_uid(const char *s, size_t len)
{
	long long	 v;

	if (len < 8 || memcmp(s, "rt:{", 4) != 0 || s[len - 1] != '}' ||
	    s[5] != ':')
		return -1;
	v = parse_id(s + 6, len - 7);
	if (s[4] == 'u')
		return v > 0 ? v : -1;
	if (s[4] == 'o')
		return v >= 0 && v < PS_BUCKETS ? 0 : -1;
	return -1;
}

static long long
reply_id(const redisReply *r)
{
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return parse_id(r->str, r->len);
	return -1;
}

/*
 * Replies we build ourselves (freed with freeReplyObject).
 */

static redisReply *
reply_new(int type)
{
	redisReply	*r;

	if ((r = calloc(1, sizeof(*r))) != NULL)
		r->type = type;
	return r;
}

static int
reply_push(redisReply *a, redisReply *e)
{
	redisReply	**ne;

	if (e == NULL)
		return -1;
	if ((ne = reallocarray(a->element, a->elements + 1,
	    sizeof(*ne))) == NULL) {
		freeReplyObject(e);
		return -1;
	}
	a->element = ne;
	a->element[a->elements++] = e;
	return 0;
}

static redisReply *
reply_int(long long v)
{
	redisReply	*r;

	if ((r = reply_new(REDIS_REPLY_INTEGER)) != NULL)
		r->integer = v;
	return r;
}

static redisReply *
reply_str(const char *s, size_t len)
{
	redisReply	*r;

	if ((r = reply_new(REDIS_REPLY_STRING)) == NULL)
		return NULL;
	if ((r->str = malloc(len + 1)) == NULL) {
		free(r);
		return NULL;
	}
	memcpy(r->str, s, len);
	r->str[len] = '\0';
	r->len = len;
	return r;
}

/*
 * Sending.
 */

static int
send_key(struct ps *p, const char *key, rconn_reply_cb *cb, void *arg,
    int argc, const char **argv, const size_t *argvlen)
{
	return rcluster_command(p->rcl, rcluster_slot(key, strlen(key)), cb,
	    arg, argc, argv, argvlen);
}

static void
log_error(struct ps *p, const char *what, const redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		p->errors++;
		log_warnx("ps: %s: %.200s", what, r->str);
	}
}

/*
 * Presence steps.
 */

static void
join_step_done(struct join *j)
{
	if (--j->pending > 0 || !j->armed)
		return;
	if (j->cb != NULL)
		j->cb(j->arg, j->gone);
	freeReplyObject(j->gone);
	free(j);
}

static void
uop_free(struct uop *u)
{
	free(u->sid);
	free(u->nodekey);
	free(u);
}

/* The step is over: tell whoever waits. */
static void
uop_done(struct uop *u, int ok)
{
	struct ps	*p = u->p;
	redisReply	*r;

	if (ok && u->stamp < 0) {
		if (u->j != NULL) {
			if (reply_push(u->j->gone, reply_int(u->uid)) == -1)
				log_warnx("ps: out of memory");
		} else if (p->o.on_offline != NULL && !p->stopping)
			p->o.on_offline(p->o.arg, u->uid);
	}
	if (u->cb != NULL) {
		if (!ok)
			u->cb(u->arg, NULL);
		else if ((r = reply_int(u->stamp > 0 &&
		    strcmp(u->op, "add") == 0 ? 1 + u->announced : 0)) ==
		    NULL)
			u->cb(u->arg, NULL);
		else {
			u->cb(u->arg, r);
			freeReplyObject(r);
		}
	}
	if (u->j != NULL)
		join_step_done(u->j);
	uop_free(u);
}

static void
bucket_cb(void *arg, redisReply *r)
{
	struct uop	*u = arg;

	log_error(u->p, "presence", r);
	/* PRESENCE_SCOPE=contacts: the owner announces it. */
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		if (u->p->o.on_trans != NULL)
			u->p->o.on_trans(u->p->o.arg, u->uid, u->stamp);
		if (!u->p->o.scoped)
			u->announced = 1;
	}
	uop_done(u, 1);
}

static void
user_cb(void *arg, redisReply *r)
{
	struct uop	*u = arg;
	struct ps	*p = u->p;
	char		 on[32], og[32], ch[32], uid[24], st[24];
	const char	*argv[9] = { "EVAL", lua_bucket, "2", on, og, uid, st,
			    p->node, ch };

	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		log_error(p, "presence", r);
		uop_done(u, 0);
		return;
	}
	u->stamp = r->integer;
	if (u->nodekey != NULL) {	/* the node set is the reaper's list */
		const char	*sv[3] = { "SREM", u->nodekey, NULL };
		char		 m[128];

		snprintf(m, sizeof(m), "%lld:%s", u->uid, u->sid);
		sv[2] = m;
		send_key(p, u->nodekey, NULL, NULL, 3, sv, NULL);
	}
	if (u->stamp == 0) {
		uop_done(u, 1);
		return;
	}
	bucket_key(on, sizeof(on), bucket(u->uid), ":online");
	bucket_key(og, sizeof(og), bucket(u->uid), ":gen");
	bucket_key(ch, sizeof(ch), bucket(u->uid), "");
	if (p->o.scoped)	/* PRESENCE_SCOPE=contacts: no broadcast */
		ch[0] = '\0';
	snprintf(uid, sizeof(uid), "%lld", u->uid);
	snprintf(st, sizeof(st), "%lld", u->stamp);
	if (send_key(p, on, bucket_cb, u, 9, argv, NULL) == -1)
		uop_done(u, 1);
}

/*
 * Start one presence step.  nodekey: remove "U:S" from it once U's set
 * has changed.  Returns 0 (cb or j will hear of it), or -1 (they won't).
 */
static int
uop_start(struct ps *p, long long uid, const char *sid, size_t sidlen,
    const char *op, int nodekey, ps_reply_cb *cb, void *arg, struct join *j)
{
	struct uop	*u;
	char		 us[40], ug[40], nk[40];
	const char	*argv[6] = { "EVAL", lua_user, "2", us, ug, op };
	const char	*av[7];
	size_t		 avl[7];
	int		 i;

	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    (u->sid = strndup(sid, sidlen)) == NULL)
		goto fail;
	if (nodekey) {
		node_key(nk, sizeof(nk), p->node, ":socks");
		if ((u->nodekey = strdup(nk)) == NULL)
			goto fail;
	}
	u->p = p;
	u->uid = uid;
	u->op = op;
	u->cb = cb;
	u->arg = arg;
	u->j = j;
	user_key(us, sizeof(us), uid, ":socks");
	user_key(ug, sizeof(ug), uid, ":gen");
	for (i = 0; i < 6; i++) {
		av[i] = argv[i];
		avl[i] = strlen(argv[i]);
	}
	av[6] = u->sid;
	avl[6] = sidlen;
	if (send_key(p, us, user_cb, u, 7, av, avl) == -1)
		goto fail;
	if (j != NULL)
		j->pending++;
	return 0;
fail:
	if (u != NULL)
		uop_free(u);
	return -1;
}

/* Like uop_start, on another node's set (the reaper). */
static int
uop_start_node(struct ps *p, const char *node, long long uid,
    const char *sid, size_t sidlen)
{
	char	 saved[16];
	int	 rv;

	snprintf(saved, sizeof(saved), "%s", p->node);
	snprintf(p->node, sizeof(p->node), "%s", node);
	rv = uop_start(p, uid, sid, sidlen, "del", 1, NULL, NULL, NULL);
	snprintf(p->node, sizeof(p->node), "%s", saved);
	return rv;
}

/* Split an untrusted "U:S" member; 0 if usable. */
static int
split_member(const redisReply *m, long long *uid, const char **sid,
    size_t *sidlen)
{
	const char	*c;

	if (m == NULL || m->type != REDIS_REPLY_STRING ||
	    (c = memchr(m->str, ':', m->len)) == NULL)
		return -1;
	if ((*uid = parse_id(m->str, c - m->str)) <= 0)
		return -1;
	*sid = c + 1;
	*sidlen = m->len - (c + 1 - m->str);
	return *sidlen > 0 && *sidlen < 64 ? 0 : -1;
}

/*
 * Heartbeat and reaping.
 */

static void
resync(struct ps *p)
{
	if (p->beat_resync || p->stopping)
		return;
	p->beat_resync = 1;
	log_info("ps: our presence records were gone; resync");
	if (p->o.on_up != NULL)
		p->o.on_up(p->o.arg, 0);
}

static void
beat_reply(void *arg, redisReply *r)
{
	struct ps	*p = arg;

	p->beat_pending--;
	log_error(p, "heartbeat", r);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
		resync(p);
}

struct	reap {
	struct ps	*p;
	char		 node[16];
};

static void
reap_members(void *arg, redisReply *r)
{
	struct reap	*rp = arg;
	struct ps	*p = rp->p;
	const char	*argv[3] = { "SREM", NODES_KEY, rp->node };
	const char	*sid;
	size_t		 i, sidlen;
	long long	 uid;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || p->stopping)
		goto out;
	if (r->elements == 0) {	/* all dropped: forget the node */
		send_key(p, NODES_KEY, NULL, NULL, 3, argv, NULL);
		goto out;
	}
	log_info("ps: reaping node %s (%zu sockets)", rp->node, r->elements);
	for (i = 0; i < r->elements; i++)
		if (split_member(r->element[i], &uid, &sid, &sidlen) == 0)
			uop_start_node(p, rp->node, uid, sid, sidlen);
out:
	free(rp);
}

static void
reap_check(void *arg, redisReply *r)
{
	struct reap	*rp = arg;
	char		 nk[40];
	const char	*argv[2] = { "SMEMBERS", nk };

	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 0 ||
	    rp->p->stopping) {
		free(rp);
		return;
	}
	node_key(nk, sizeof(nk), rp->node, ":socks");
	if (send_key(rp->p, nk, reap_members, rp, 2, argv, NULL) == -1)
		free(rp);
}

/* The nodes that may hold sockets: look for dead ones. */
static void
nodes_reply(void *arg, redisReply *r)
{
	struct ps	*p = arg;
	struct reap	*rp;
	char		 ak[40];
	const char	*argv[2] = { "EXISTS", ak };
	long long	 n;
	size_t		 i;

	p->beat_pending--;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || p->stopping)
		return;
	for (i = 0; i < r->elements; i++) {
		if ((n = reply_id(r->element[i])) < 0 ||
		    n > UINT_MAX || strcmp(r->element[i]->str, p->node) == 0)
			continue;
		if ((rp = calloc(1, sizeof(*rp))) == NULL)
			return;
		rp->p = p;
		snprintf(rp->node, sizeof(rp->node), "%lld", n);
		node_key(ak, sizeof(ak), rp->node, ":alive");
		if (send_key(p, ak, reap_check, rp, 2, argv, NULL) == -1)
			free(rp);
	}
}

static void
beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ps	*p = w->data;
	char		 ak[40], ttl[16];
	const char	*beat[5] = { "EVAL", lua_beat, "1", ak, ttl };
	const char	*add[3] = { "SADD", NODES_KEY, p->node };
	const char	*list[2] = { "SMEMBERS", NODES_KEY };

	if (!rcluster_ready(p->rcl) || p->beat_pending > 0)
		return;	/* a stuck connection is rconn.c's to drop */
	p->beat_resync = 0;
	snprintf(ttl, sizeof(ttl), "%d", PS_NODE_TTL);
	node_key(ak, sizeof(ak), p->node, ":alive");
	if (send_key(p, ak, beat_reply, p, 5, beat, NULL) == 0)
		p->beat_pending++;
	if (send_key(p, NODES_KEY, beat_reply, p, 3, add, NULL) == 0)
		p->beat_pending++;
	if (send_key(p, NODES_KEY, nodes_reply, p, 2, list, NULL) == 0)
		p->beat_pending++;
}

/*
 * Subscriptions.
 */

static void
on_push(void *arg, redisReply *r)
{
	struct ps	*p = arg;
	redisReply	*t, *ch, *d;
	long long	 uid;

	if (r->type == REDIS_REPLY_ERROR) {
		/* (S)SUBSCRIBE refused: MOVED, CLUSTERDOWN... */
		log_warnx("ps: subscribe: %.200s", r->str);
		p->errors++;
		rcluster_refresh(p->rcl);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	t = r->element[0];
	ch = r->element[1];
	d = r->element[2];
	if (t->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING ||
	    (uid = channel_uid(ch->str, ch->len)) < 0)
		return;
	if (t->len == 8 && memcmp(t->str, "smessage", 8) == 0) {
		if (d->type == REDIS_REPLY_STRING && p->o.on_msg != NULL)
			p->o.on_msg(p->o.arg, uid, d->str, d->len);
	} else if (t->len == 10 && memcmp(t->str, "ssubscribe", 10) == 0) {
		if (uid > 0 && p->o.on_sub != NULL)
			p->o.on_sub(p->o.arg, uid);
	} else if (t->len == 12 && memcmp(t->str, "sunsubscribe", 12) == 0) {
		/*
		 * Ours, or Redis's when the slot moved away: subscribe
		 * again if still wanted; where the slot now lives, MOVED
		 * tells us (and the map is read again).
		 */
		if (p->stopping)
			return;
		if (uid == 0)
			rcluster_subscribe(p->rcl, "SSUBSCRIBE", ch->str,
			    ch->len);
		else if (p->o.want != NULL && p->o.want(p->o.arg, uid))
			ps_sub_user(p, uid);
	}
}

static void
sub_buckets(struct ps *p)
{
	char		 ch[32];
	unsigned int	 b;

	for (b = 0; b < PS_BUCKETS; b++) {
		bucket_key(ch, sizeof(ch), b, "");
		if (rcluster_subscribe(p->rcl, "SSUBSCRIBE", ch,
		    strlen(ch)) == -1)
			log_warnx("ps: subscribe %s failed", ch);
	}
}

static void
on_up(void *arg, enum rcl_up what)
{
	struct ps	*p = arg;

	if (p->stopping)
		return;
	if (what == RCL_UP_SUB && !p->o.scoped)
		sub_buckets(p);
	else
		p->beat_pending = 0;
	if (p->o.on_up != NULL)
		p->o.on_up(p->o.arg, what == RCL_UP_SUB);
}

/*
 * Public.
 */

struct ps *
ps_new(struct ev_loop *loop, const struct ps_opts *o)
{
	struct ps		*p;
	struct rcluster_opts	 ro;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->loop = loop;
	p->o = *o;
	p->o.url = p->o.cluster = p->o.cluster_pass = NULL;
	snprintf(p->node, sizeof(p->node), "%u", o->node_id);
	memset(&ro, 0, sizeof(ro));
	ro.url = o->url;
	ro.seeds = o->cluster;
	ro.pass = o->cluster_pass;
	ro.on_up = on_up;
	ro.on_push = on_push;
	ro.arg = p;
	if ((p->rcl = rcluster_new(loop, &ro)) == NULL) {
		free(p);
		return NULL;
	}
	ev_timer_init(&p->beat, beat_cb, PS_HEARTBEAT, PS_HEARTBEAT);
	p->beat.data = p;
	ev_timer_start(loop, &p->beat);
	return p;
}

void
ps_free(struct ps *p)
{
	if (p == NULL)
		return;
	p->stopping = 1;
	ev_timer_stop(p->loop, &p->beat);
	rcluster_free(p->rcl);
	free(p);
}

int
ps_ready(const struct ps *p)
{
	return rcluster_ready(p->rcl);
}

const char *
ps_error(const struct ps *p)
{
	return rcluster_error(p->rcl);
}

void
ps_stats(const struct ps *p, struct ps_stats *st)
{
	struct rcluster_stats	 rs;

	rcluster_stats(p->rcl, &rs);
	st->errors = rs.errors + p->errors;
	st->reconnects = rs.reconnects;
}

struct	cmdctx {
	struct ps	*ps;
	ps_reply_cb	*cb;
	void		*arg;
};

static void
command_cb(void *arg, redisReply *r)
{
	struct cmdctx	*c = arg;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		log_warnx("ps: command: %.200s", r->str);
		c->ps->errors++;
		r = NULL;
	}
	c->cb(c->arg, r);
	free(c);
}

int
ps_command_key(struct ps *p, const char *key, size_t keylen, ps_reply_cb *cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct cmdctx	*c;
	unsigned int	 slot = rcluster_slot(key, keylen);

	if (cb == NULL)
		return rcluster_command(p->rcl, slot, NULL, NULL, argc, argv,
		    argvlen);
	if ((c = malloc(sizeof(*c))) == NULL)
		return -1;
	c->ps = p;
	c->cb = cb;
	c->arg = arg;
	if (rcluster_command(p->rcl, slot, command_cb, c, argc, argv,
	    argvlen) == -1) {
		free(c);
		return -1;
	}
	return 0;
}

int
ps_command(struct ps *p, ps_reply_cb *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	if (argc < 2)
		return ps_command_key(p, "", 0, cb, arg, argc, argv, argvlen);
	return ps_command_key(p, argv[1], argvlen != NULL ? argvlen[1] :
	    strlen(argv[1]), cb, arg, argc, argv, argvlen);
}

/*
 * Reading many keys for one answer: one command per key, pipelined,
 * gathered into one array.
 */
struct	gather {
	struct ps	*p;
	ps_reply_cb	*cb;
	void		*arg;
	size_t		 pending;
	int		 flat;		/* append array replies' strings */
	int		 failed;
	redisReply	*out;		/* flat: strings; else integers */
};

struct	gpart {
	struct gather	*g;
	size_t		 i;
};

/* One reply less to wait for; the last one answers. */
static void
gather_release(struct gather *g)
{
	if (--g->pending > 0)
		return;
	g->cb(g->arg, g->failed ? NULL : g->out);
	freeReplyObject(g->out);
	free(g);
}

static void
gather_cb(void *arg, redisReply *r)
{
	struct gpart	*gp = arg;
	struct gather	*g = gp->g;
	size_t		 i;

	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		g->failed = 1;
	else if (g->flat && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r->elements && !g->failed; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    reply_push(g->out, reply_str(r->element[i]->str,
			    r->element[i]->len)) == -1)
				g->failed = 1;
	} else if (!g->flat && r->type == REDIS_REPLY_INTEGER &&
	    gp->i < g->out->elements)
		g->out->element[gp->i]->integer = r->integer;
	else
		g->failed = 1;
	free(gp);
	gather_release(g);
}

/*
 * n commands "cmd keys[i] args[i]" (args may be NULL).  Returns 0 (cb
 * called once), or -1 (cb not called).
 */
static int
gather(struct ps *p, int flat, const char *cmd, char (*keys)[40],
    char (*args)[24], size_t n, ps_reply_cb *cb, void *arg)
{
	struct gather	*g;
	struct gpart	*gp;
	const char	*argv[3];
	size_t		 i;

	if (!rcluster_ready(p->rcl) || n == 0 ||
	    (g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->p = p;
	g->cb = cb;
	g->arg = arg;
	g->flat = flat;
	if ((g->out = reply_new(REDIS_REPLY_ARRAY)) == NULL) {
		free(g);
		return -1;
	}
	for (i = 0; i < n && !flat; i++)
		if (reply_push(g->out, reply_int(0)) == -1) {
			freeReplyObject(g->out);
			free(g);
			return -1;
		}
	g->pending = 1;		/* ours, until every command is sent */
	for (i = 0; i < n; i++) {
		argv[0] = cmd;
		argv[1] = keys[i];
		argv[2] = args != NULL ? args[i] : NULL;
		if ((gp = malloc(sizeof(*gp))) == NULL) {
			g->failed = 1;
			break;
		}
		gp->g = g;
		gp->i = i;
		if (send_key(p, keys[i], gather_cb, gp, args != NULL ? 3 : 2,
		    argv, NULL) == -1) {
			free(gp);
			g->failed = 1;
			break;
		}
		g->pending++;
	}
	gather_release(g);
	return 0;
}

int
ps_online_users(struct ps *p, ps_reply_cb *cb, void *arg)
{
	char		 keys[PS_BUCKETS][40];
	unsigned int	 b;

	for (b = 0; b < PS_BUCKETS; b++)
		bucket_key(keys[b], sizeof(keys[b]), b, ":online");
	return gather(p, 1, "SMEMBERS", keys, NULL, PS_BUCKETS, cb, arg);
}

int
ps_online_flags(struct ps *p, const long long *uids, size_t n,
    ps_reply_cb *cb, void *arg)
{
	char		(*keys)[40] = NULL;
	char		(*args)[24] = NULL;
	size_t		 i;
	int		 rv = -1;

	if (n == 0 || (keys = calloc(n, sizeof(*keys))) == NULL ||
	    (args = calloc(n, sizeof(*args))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		bucket_key(keys[i], sizeof(keys[i]), bucket(uids[i]),
		    ":online");
		snprintf(args[i], sizeof(args[i]), "%lld", uids[i]);
	}
	rv = gather(p, 0, "SISMEMBER", keys, args, n, cb, arg);
out:
	free(keys);
	free(args);
	return rv;
}

int
ps_sub_user(struct ps *p, long long uid)
{
	char	 ch[32];

	user_key(ch, sizeof(ch), uid, "");
	if (rcluster_subscribe(p->rcl, "SSUBSCRIBE", ch, strlen(ch)) == -1) {
		log_warnx("ps: subscribe user %lld failed", uid);
		return -1;
	}
	return 0;
}

void
ps_unsub_user(struct ps *p, long long uid)
{
	char	 ch[32];

	user_key(ch, sizeof(ch), uid, "");
	rcluster_subscribe(p->rcl, "SUNSUBSCRIBE", ch, strlen(ch));
}

void
ps_publish(struct ps *p, long long uid, const char *data, size_t len)
{
	char		 ch[32];
	const char	*argv[3] = { "SPUBLISH", ch, data };
	size_t		 argvlen[3];

	if (uid > 0)
		user_key(ch, sizeof(ch), uid, "");
	else
		bucket_key(ch, sizeof(ch), 0, "");
	argvlen[0] = 8;
	argvlen[1] = strlen(ch);
	argvlen[2] = len;
	send_key(p, ch, NULL, NULL, 3, argv, argvlen);
}

int
ps_presence_add(struct ps *p, long long uid, const char *sid,
    ps_reply_cb *cb, void *arg)
{
	char		 nk[40], m[128];
	const char	*argv[3] = { "SADD", nk, m };

	if (!rcluster_ready(p->rcl))
		return -1;
	/* The node's set first: whoever reaps us must find the socket. */
	node_key(nk, sizeof(nk), p->node, ":socks");
	snprintf(m, sizeof(m), "%lld:%s", uid, sid);
	if (send_key(p, nk, NULL, NULL, 3, argv, NULL) == -1)
		return -1;
	return uop_start(p, uid, sid, strlen(sid), "add", 0, cb, arg, NULL);
}

void
ps_presence_del(struct ps *p, long long uid, const char *sid)
{
	if (uop_start(p, uid, sid, strlen(sid), "del", 1, NULL, NULL,
	    NULL) == -1)
		log_warnx("ps: presence del %lld failed", uid);
}

static void
nsync_cb(void *arg, redisReply *r)
{
	struct ps	*p = arg;
	const char	*sid;
	size_t		 i, sidlen;
	long long	 uid;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		log_error(p, "sync", r);
		return;
	}
	for (i = 0; i < r->elements; i++)
		if (split_member(r->element[i], &uid, &sid, &sidlen) == 0)
			uop_start(p, uid, sid, sidlen, "del", 1, NULL, NULL,
			    NULL);
}

void
ps_presence_sync(struct ps *p, const char **members, size_t n)
{
	const char	**argv = NULL;
	const char	*add[3] = { "SADD", NODES_KEY, p->node };
	char		 nk[40], ak[40], ttl[16];
	const char	*c, *sid;
	long long	 uid;
	size_t		 i;

	if (!rcluster_ready(p->rcl))
		return;
	if (n > INT_MAX - 8 ||
	    (argv = calloc(n + 6, sizeof(*argv))) == NULL) {
		log_warnx("ps: sync: out of memory");
		return;
	}
	node_key(nk, sizeof(nk), p->node, ":socks");
	node_key(ak, sizeof(ak), p->node, ":alive");
	snprintf(ttl, sizeof(ttl), "%d", PS_NODE_TTL);
	argv[0] = "EVAL";
	argv[1] = lua_nsync;
	argv[2] = "2";
	argv[3] = nk;
	argv[4] = ak;
	argv[5] = ttl;
	for (i = 0; i < n; i++)
		argv[6 + i] = members[i];
	if (send_key(p, nk, nsync_cb, p, (int)(n + 6), argv, NULL) == -1)
		log_warnx("ps: sync failed");
	free(argv);
	send_key(p, NODES_KEY, NULL, NULL, 3, add, NULL);
	for (i = 0; i < n; i++) {
		if ((c = strchr(members[i], ':')) == NULL ||
		    (uid = parse_id(members[i], c - members[i])) <= 0)
			continue;
		sid = c + 1;
		uop_start(p, uid, sid, strlen(sid), "sync", 0, NULL, NULL,
		    NULL);
	}
}

static void
clear_members(void *arg, redisReply *r)
{
	struct join	*j = arg;
	struct ps	*p = j->p;
	char		 ak[40];
	const char	*del[2] = { "DEL", ak };
	const char	*srem[3] = { "SREM", NODES_KEY, p->node };
	const char	*sid;
	size_t		 i, sidlen;
	long long	 uid;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		log_error(p, "clear", r);
		j->pending = 1;
		j->armed = 1;
		freeReplyObject(j->gone);
		j->gone = NULL;
		join_step_done(j);
		return;
	}
	for (i = 0; i < r->elements; i++)
		if (split_member(r->element[i], &uid, &sid, &sidlen) == 0)
			uop_start(p, uid, sid, sidlen, "del", 1, NULL, NULL,
			    j);
	node_key(ak, sizeof(ak), p->node, ":alive");
	send_key(p, ak, NULL, NULL, 2, del, NULL);
	send_key(p, NODES_KEY, NULL, NULL, 3, srem, NULL);
	j->armed = 1;
	j->pending++;
	join_step_done(j);
}

int
ps_presence_clear(struct ps *p, ps_reply_cb *cb, void *arg)
{
	struct join	*j;
	char		 nk[40];
	const char	*argv[2] = { "SMEMBERS", nk };

	if (!rcluster_ready(p->rcl) || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	if ((j->gone = reply_new(REDIS_REPLY_ARRAY)) == NULL) {
		free(j);
		return -1;
	}
	j->p = p;
	j->cb = cb;
	j->arg = arg;
	node_key(nk, sizeof(nk), p->node, ":socks");
	if (send_key(p, nk, clear_members, j, 2, argv, NULL) == -1) {
		freeReplyObject(j->gone);
		free(j);
		return -1;
	}
	return 0;
}

void
ps_typing(struct ps *p, long long conv, long long uid, int on)
{
	char		 k[64];
	const char	*set[5] = { "SET", k, "1", "EX", NULL };
	const char	*del[2] = { "DEL", k };
	char		 ttl[16];

	snprintf(k, sizeof(k), "rt:typing:%lld:%lld", conv, uid);
	snprintf(ttl, sizeof(ttl), "%d", PS_TYPING_TTL);
	set[4] = ttl;
	if (on)
		send_key(p, k, NULL, NULL, 5, set, NULL);
	else
		send_key(p, k, NULL, NULL, 2, del, NULL);
}
