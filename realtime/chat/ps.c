/*
 * ps.c: Redis presence, fan-out, typing and heartbeats for
 * chat-realtime (see ps.h for the key layout).  Two hiredis async
 * contexts on libev: "cmd" for commands and scripts, "sub" in subscribe
 * mode.  Either one is remade with backoff when it drops; the owner is
 * told on every (re)connect.  Replies read from Redis are untrusted:
 * types are checked before use.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "lib/log.h"
#include "lib/redis_util.h"
#include "realtime/chat/ps.h"

/*
 * Scripts.  ARGV[1] is always the node id.  Presence changes publish
 * the userOnline/userOffline envelope in the same atomic step.
 */
#define LUA_HELPERS \
"local function online(uid, n)\n" \
"  if redis.call('SADD', 'rt:online', uid) == 1 then\n" \
"    redis.call('PUBLISH', 'rt:bcast', '{\"n\":' .. n .. " \
"',\"e\":\"userOnline\",\"a\":{\"userId\":' .. uid .. '}}')\n" \
"    return 1\n" \
"  end\n" \
"  return 0\n" \
"end\n" \
"local function drop(uid, sid, n, gone)\n" \
"  local uk = 'rt:user:' .. uid .. ':socks'\n" \
"  redis.call('SREM', uk, sid)\n" \
"  if redis.call('SCARD', uk) == 0 and " \
"redis.call('SREM', 'rt:online', uid) == 1 then\n" \
"    redis.call('PUBLISH', 'rt:bcast', '{\"n\":' .. n .. " \
"',\"e\":\"userOffline\",\"a\":{\"userId\":' .. uid .. '}}')\n" \
"    table.insert(gone, uid)\n" \
"  end\n" \
"end\n" \
"local function split(m)\n" \
"  local p = string.find(m, ':', 1, true)\n" \
"  if not p then return nil, nil end\n" \
"  return string.sub(m, 1, p - 1), string.sub(m, p + 1)\n" \
"end\n"

/* ARGV: node uid sid; returns 1 if the user just came online */
static const char	 lua_add[] = LUA_HELPERS
"redis.call('SADD', 'rt:user:' .. ARGV[2] .. ':socks', ARGV[3])\n"
"redis.call('SADD', 'rt:node:' .. ARGV[1] .. ':socks', "
"ARGV[2] .. ':' .. ARGV[3])\n"
"return online(ARGV[2], ARGV[1])\n";

/* ARGV: node uid sid; returns the users gone offline */
static const char	 lua_del[] = LUA_HELPERS
"local gone = {}\n"
"redis.call('SREM', 'rt:node:' .. ARGV[1] .. ':socks', "
"ARGV[2] .. ':' .. ARGV[3])\n"
"drop(ARGV[2], ARGV[3], ARGV[1], gone)\n"
"return gone\n";

/* ARGV: node ttl member...; returns the users gone offline */
static const char	 lua_sync[] = LUA_HELPERS
"local nk = 'rt:node:' .. ARGV[1] .. ':socks'\n"
"local want, gone = {}, {}\n"
"for i = 3, #ARGV do want[ARGV[i]] = true end\n"
"for _, m in ipairs(redis.call('SMEMBERS', nk)) do\n"
"  if not want[m] then\n"
"    redis.call('SREM', nk, m)\n"
"    local uid, sid = split(m)\n"
"    if uid then drop(uid, sid, ARGV[1], gone) end\n"
"  end\n"
"end\n"
"for i = 3, #ARGV do\n"
"  local uid, sid = split(ARGV[i])\n"
"  if uid then\n"
"    redis.call('SADD', nk, ARGV[i])\n"
"    redis.call('SADD', 'rt:user:' .. uid .. ':socks', sid)\n"
"    online(uid, ARGV[1])\n"
"  end\n"
"end\n"
"redis.call('SET', 'rt:node:' .. ARGV[1] .. ':alive', '1', 'EX', ARGV[2])\n"
"redis.call('SADD', 'rt:nodes', ARGV[1])\n"
"return gone\n";

/*
 * Heartbeat and reaping.  ARGV: node ttl.  Returns {resync, gone...}:
 * resync is 1 when our own records had vanished (Redis restarted, or we
 * were reaped after a stall), so the owner must sync again.
 */
static const char	 lua_beat[] = LUA_HELPERS
"local me = ARGV[1]\n"
"local resync = 0\n"
"if redis.call('SET', 'rt:node:' .. me .. ':alive', '1', 'EX', ARGV[2], "
"'XX') == false then\n"
"  resync = 1\n"
"  redis.call('SET', 'rt:node:' .. me .. ':alive', '1', 'EX', ARGV[2])\n"
"end\n"
"if redis.call('SADD', 'rt:nodes', me) == 1 then resync = 1 end\n"
"local out = {resync}\n"
"for _, n in ipairs(redis.call('SMEMBERS', 'rt:nodes')) do\n"
"  if n ~= me and redis.call('EXISTS', 'rt:node:' .. n .. ':alive') == 0 then\n"
"    local nk = 'rt:node:' .. n .. ':socks'\n"
"    local gone = {}\n"
"    for _, m in ipairs(redis.call('SMEMBERS', nk)) do\n"
"      local uid, sid = split(m)\n"
"      if uid then drop(uid, sid, me, gone) end\n"
"    end\n"
"    for _, u in ipairs(gone) do table.insert(out, u) end\n"
"    redis.call('DEL', nk)\n"
"    redis.call('SREM', 'rt:nodes', n)\n"
"  end\n"
"end\n"
"return out\n";

/* ARGV: node; drop all our sockets (graceful stop) */
static const char	 lua_clear[] = LUA_HELPERS
"local nk = 'rt:node:' .. ARGV[1] .. ':socks'\n"
"local gone = {}\n"
"for _, m in ipairs(redis.call('SMEMBERS', nk)) do\n"
"  local uid, sid = split(m)\n"
"  if uid then drop(uid, sid, ARGV[1], gone) end\n"
"end\n"
"redis.call('DEL', nk, 'rt:node:' .. ARGV[1] .. ':alive')\n"
"redis.call('SREM', 'rt:nodes', ARGV[1])\n"
"return gone\n";

struct	rconn {
	struct ps		*ps;
	redisAsyncContext	*ac;
	int			 up;
	int			 sub;
	unsigned int		 backoff;
	ev_timer		 retry;
};

struct	ps {
	struct ev_loop	*loop;
	struct ps_opts	 o;
	struct redis_url url;		/* REDIS_URL, parsed by lib/ */
	char		 error[128];	/* why Redis is not usable, or "" */
	char		 node[16];
	struct rconn	 cmd;
	struct rconn	 sub;
	struct ps_stats	 st;		/* counters: ps_stats() */
	ev_timer	 beat;
	int		 beat_pending;	/* a heartbeat awaits its reply */
	ev_tstamp	 beat_sent;
	int		 stopping;
};

static void	 rconn_start(struct rconn *);
static void	 sub_cb(redisAsyncContext *, void *, void *);

static void
retry_later(struct rconn *rc)
{
	if (rc->ps->stopping)
		return;
	rc->ps->st.errors++;
	rc->ps->st.reconnects++;
	ev_timer_stop(rc->ps->loop, &rc->retry);
	ev_timer_set(&rc->retry, rc->backoff / 1000.0, 0.);
	ev_timer_start(rc->ps->loop, &rc->retry);
	rc->backoff = rc->backoff * 2 > PS_BACKOFF_MAX ?
	    PS_BACKOFF_MAX : rc->backoff * 2;
}

/* Remember why Redis is not usable (for ps_error and /healthz). */
static void
set_error(struct ps *p, const char *what, const char *detail)
{
	snprintf(p->error, sizeof(p->error), "%s%s%s", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/*
 * The connection is usable: SELECT the database (commands only; pub/sub
 * channels are global), subscribe the broadcast channel, tell the owner.
 */
static void
rconn_ready(struct rconn *rc)
{
	struct ps	*p = rc->ps;

	rc->up = 1;
	rc->backoff = PS_BACKOFF_MIN;
	p->error[0] = '\0';
	log_info("ps: %s connected", rc->sub ? "sub" : "cmd");
	if (rc->sub) {
		if (redisAsyncCommand(rc->ac, sub_cb, p, "SUBSCRIBE %s",
		    PS_BCAST) != REDIS_OK)
			log_warnx("ps: subscribe %s failed", PS_BCAST);
	} else if (p->url.db != 0 && redisAsyncCommand(rc->ac, NULL, NULL,
	    "SELECT %d", p->url.db) != REDIS_OK)
		log_warnx("ps: select %d failed", p->url.db);
	if (p->o.on_up != NULL)
		p->o.on_up(p->o.arg, rc->sub);
}

/*
 * The answer to AUTH.  A refused password is a configuration error:
 * said once per attempt at level error, kept for /healthz, and retried
 * with backoff (the operator may fix Redis rather than us).
 */
static void
auth_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rconn	*rc = priv;
	redisReply	*r = reply;

	if (r == NULL || rc->ps->stopping)
		return;		/* going away: disconnect_cb takes over */
	if (r->type != REDIS_REPLY_ERROR) {
		rconn_ready(rc);
		return;
	}
	set_error(rc->ps, "Redis AUTH failed", r->str);
	log_warnx("ps: %s: %s", rc->sub ? "sub" : "cmd", rc->ps->error);
	redisAsyncDisconnect(ac);	/* disconnect_cb retries */
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn	*rc = ac->data;
	struct ps	*p = rc->ps;
	const struct redis_url *u = &p->url;
	int		 sent;

	if (status != REDIS_OK) {
		set_error(p, "Redis connect failed", ac->errstr);
		log_warnx("ps: %s connect: %s", rc->sub ? "sub" : "cmd",
		    ac->errstr);
		rc->ac = NULL;		/* hiredis frees it */
		rc->up = 0;
		retry_later(rc);
		return;
	}
	if (u->pass[0] == '\0') {
		rconn_ready(rc);
		return;
	}
	if (u->user[0] != '\0')
		sent = redisAsyncCommand(rc->ac, auth_cb, rc, "AUTH %s %s",
		    u->user, u->pass);
	else
		sent = redisAsyncCommand(rc->ac, auth_cb, rc, "AUTH %s",
		    u->pass);
	if (sent != REDIS_OK) {
		log_warnx("ps: %s: cannot send AUTH", rc->sub ? "sub" : "cmd");
		redisAsyncDisconnect(rc->ac);
	}
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn	*rc = ac->data;

	if (rc == NULL)
		return;
	if (!rc->ps->stopping)
		log_warnx("ps: %s connection lost%s%s",
		    rc->sub ? "sub" : "cmd", status == REDIS_OK ? "" : ": ",
		    status == REDIS_OK ? "" : ac->errstr);
	rc->ac = NULL;
	rc->up = 0;
	retry_later(rc);
}

static void
rconn_start(struct rconn *rc)
{
	struct ps		*p = rc->ps;
	redisAsyncContext	*ac;

	if (p->url.path[0] != '\0')
		ac = redisAsyncConnectUnix(p->url.path);
	else
		ac = redisAsyncConnect(p->url.host, p->url.port);
	if (ac == NULL || ac->err) {
		log_warnx("ps: connect: %s", ac != NULL ? ac->errstr :
		    "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		retry_later(rc);
		return;
	}
	ac->data = rc;
	if (redisLibevAttach(p->loop, ac) != REDIS_OK) {
		redisAsyncFree(ac);
		retry_later(rc);
		return;
	}
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	rc->ac = ac;
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	rconn_start(w->data);
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

/* A message, subscribe confirmation or unsubscribe on the sub context. */
static void
sub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ps	*p = priv;
	redisReply	*r = reply, *t, *ch, *d;
	size_t		 plen = strlen(PS_USER_PREFIX);
	long long	 uid = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	t = r->element[0];
	ch = r->element[1];
	d = r->element[2];
	if (t->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
		return;
	if (ch->len > plen && memcmp(ch->str, PS_USER_PREFIX, plen) == 0) {
		if ((uid = parse_id(ch->str + plen, ch->len - plen)) <= 0)
			return;
	} else if (ch->len != strlen(PS_BCAST) ||
	    memcmp(ch->str, PS_BCAST, ch->len) != 0)
		return;
	if (t->len == 7 && memcmp(t->str, "message", 7) == 0) {
		if (d->type == REDIS_REPLY_STRING && p->o.on_msg != NULL)
			p->o.on_msg(p->o.arg, uid, d->str, d->len);
	} else if (t->len == 9 && memcmp(t->str, "subscribe", 9) == 0) {
		if (uid > 0 && p->o.on_sub != NULL)
			p->o.on_sub(p->o.arg, uid);
	} else if (t->len == 11 && memcmp(t->str, "unsubscribe", 11) == 0) {
		/*
		 * hiredis forgets a channel's callback on its unsubscribe
		 * reply, even when a SUBSCRIBE was sent after the
		 * UNSUBSCRIBE: subscribe again if we still want it.
		 */
		if (uid > 0 && p->o.want != NULL && p->o.want(p->o.arg, uid))
			ps_sub_user(p, uid);
	}
}

static void
gone_reply(struct ps *p, const redisReply *r, size_t from)
{
	size_t		 i;
	long long	 uid;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return;
	for (i = from; i < r->elements; i++)
		if ((uid = reply_id(r->element[i])) > 0 &&
		    p->o.on_offline != NULL)
			p->o.on_offline(p->o.arg, uid);
}

static void
gone_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ps	*p = priv;
	redisReply	*r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_warnx("ps: script: %.200s", r->str);
	gone_reply(p, r, 0);
}

static void
beat_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ps	*p = priv;
	redisReply	*r = reply;

	p->beat_pending = 0;
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		log_warnx("ps: heartbeat: %.200s", r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return;
	gone_reply(p, r, 1);
	if (reply_id(r->element[0]) == 1 && p->o.on_up != NULL) {
		log_info("ps: our presence records were gone; resync");
		p->o.on_up(p->o.arg, 0);
	}
}

static void
beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ps	*p = w->data;
	char		 ttl[16];

	if (!p->cmd.up)
		return;
	if (p->beat_pending) {
		/*
		 * Redis accepts but does not answer (stopped, swapping):
		 * drop the connection so that every caller waiting on it
		 * gets its failure callback now, and connect again.
		 */
		if (ev_now(loop) - p->beat_sent > PS_STUCK) {
			log_warnx("ps: no answer for %.0f s; reconnecting",
			    ev_now(loop) - p->beat_sent);
			p->beat_pending = 0;
			redisAsyncFree(p->cmd.ac);
		}
		return;
	}
	snprintf(ttl, sizeof(ttl), "%d", PS_NODE_TTL);
	if (redisAsyncCommand(p->cmd.ac, beat_reply, p, "EVAL %s 0 %s %s",
	    lua_beat, p->node, ttl) == REDIS_OK) {
		p->beat_pending = 1;
		p->beat_sent = ev_now(loop);
	}
}

struct ps *
ps_new(struct ev_loop *loop, const struct ps_opts *o)
{
	struct ps	*p;
	const char	*why;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->loop = loop;
	p->o = *o;
	p->o.url = NULL;
	if (redis_url_parse(o->url, &p->url, &why) == -1) {
		log_warnx("ps: %s", why);
		free(p);
		return NULL;
	}
	snprintf(p->node, sizeof(p->node), "%u", o->node_id);
	p->cmd.ps = p->sub.ps = p;
	p->sub.sub = 1;
	p->cmd.backoff = p->sub.backoff = PS_BACKOFF_MIN;
	ev_timer_init(&p->cmd.retry, retry_cb, 0., 0.);
	p->cmd.retry.data = &p->cmd;
	ev_timer_init(&p->sub.retry, retry_cb, 0., 0.);
	p->sub.retry.data = &p->sub;
	ev_timer_init(&p->beat, beat_cb, PS_HEARTBEAT, PS_HEARTBEAT);
	p->beat.data = p;
	ev_timer_start(loop, &p->beat);
	rconn_start(&p->cmd);
	rconn_start(&p->sub);
	return p;
}

void
ps_free(struct ps *p)
{
	if (p == NULL)
		return;
	p->stopping = 1;
	ev_timer_stop(p->loop, &p->beat);
	ev_timer_stop(p->loop, &p->cmd.retry);
	ev_timer_stop(p->loop, &p->sub.retry);
	if (p->cmd.ac != NULL)
		redisAsyncFree(p->cmd.ac);
	if (p->sub.ac != NULL)
		redisAsyncFree(p->sub.ac);
	explicit_bzero(&p->url, sizeof(p->url));
	free(p);
}

int
ps_ready(const struct ps *p)
{
	return p->cmd.up;
}

const char *
ps_error(const struct ps *p)
{
	if (p->cmd.up && p->sub.up)
		return NULL;
	return p->error[0] != '\0' ? p->error : "Redis is not connected";
}

struct	cmdctx {
	struct ps	*ps;
	ps_reply_cb	*cb;
	void		*arg;
};

static void
command_cb(redisAsyncContext *ac, void *reply, void *priv)
{
	struct cmdctx	*c = priv;
	redisReply	*r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		log_warnx("ps: command: %.200s", r->str);
		c->ps->st.errors++;
		r = NULL;
	}
	c->cb(c->arg, r);
	free(c);
}

int
ps_command(struct ps *p, ps_reply_cb *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct cmdctx	*c;

	if (!p->cmd.up)
		return -1;
	if ((c = malloc(sizeof(*c))) == NULL)
		return -1;
	c->ps = p;
	c->cb = cb;
	c->arg = arg;
	if (redisAsyncCommandArgv(p->cmd.ac, command_cb, c, argc, argv,
	    argvlen) != REDIS_OK) {
		free(c);
		return -1;
	}
	return 0;
}

int
ps_sub_user(struct ps *p, long long uid)
{
	if (!p->sub.up)
		return -1;
	if (redisAsyncCommand(p->sub.ac, sub_cb, p, "SUBSCRIBE %s%lld",
	    PS_USER_PREFIX, uid) != REDIS_OK) {
		log_warnx("ps: subscribe user %lld failed", uid);
		return -1;
	}
	return 0;
}

void
ps_unsub_user(struct ps *p, long long uid)
{
	if (!p->sub.up)
		return;
	redisAsyncCommand(p->sub.ac, NULL, NULL, "UNSUBSCRIBE %s%lld",
	    PS_USER_PREFIX, uid);
}

void
ps_publish(struct ps *p, long long uid, const char *data, size_t len)
{
	if (!p->cmd.up)
		return;
	if (uid > 0)
		redisAsyncCommand(p->cmd.ac, NULL, NULL, "PUBLISH %s%lld %b",
		    PS_USER_PREFIX, uid, data, len);
	else
		redisAsyncCommand(p->cmd.ac, NULL, NULL, "PUBLISH %s %b",
		    PS_BCAST, data, len);
}

int
ps_presence_add(struct ps *p, long long uid, const char *sid,
    ps_reply_cb *cb, void *arg)
{
	char		 u[24];
	const char	*argv[6] = { "EVAL", lua_add, "0", p->node, u, sid };

	snprintf(u, sizeof(u), "%lld", uid);
	if (cb != NULL)
		return ps_command(p, cb, arg, 6, argv, NULL);
	if (!p->cmd.up)
		return -1;
	return redisAsyncCommandArgv(p->cmd.ac, NULL, NULL, 6, argv, NULL) ==
	    REDIS_OK ? 0 : -1;
}

void
ps_presence_del(struct ps *p, long long uid, const char *sid)
{
	if (!p->cmd.up)
		return;
	redisAsyncCommand(p->cmd.ac, gone_cb, p, "EVAL %s 0 %s %lld %s",
	    lua_del, p->node, uid, sid);
}

void
ps_presence_sync(struct ps *p, const char **members, size_t n)
{
	const char	**argv = NULL;
	char		 ttl[16];
	size_t		 i;

	if (!p->cmd.up)
		return;
	if (n > INT_MAX - 8 ||
	    (argv = calloc(n + 6, sizeof(*argv))) == NULL) {
		log_warnx("ps: sync: out of memory");
		return;
	}
	snprintf(ttl, sizeof(ttl), "%d", PS_NODE_TTL);
	argv[0] = "EVAL";
	argv[1] = lua_sync;
	argv[2] = "0";
	argv[3] = p->node;
	argv[4] = ttl;
	for (i = 0; i < n; i++)
		argv[5 + i] = members[i];
	if (redisAsyncCommandArgv(p->cmd.ac, gone_cb, p, (int)(n + 5), argv,
	    NULL) != REDIS_OK)
		log_warnx("ps: sync failed");
	free(argv);
}

int
ps_presence_clear(struct ps *p, ps_reply_cb *cb, void *arg)
{
	const char	*argv[4] = { "EVAL", lua_clear, "0", p->node };

	if (cb == NULL) {
		if (!p->cmd.up)
			return -1;
		return redisAsyncCommandArgv(p->cmd.ac, gone_cb, p, 4, argv,
		    NULL) == REDIS_OK ? 0 : -1;
	}
	return ps_command(p, cb, arg, 4, argv, NULL);
}

void
ps_typing(struct ps *p, long long conv, long long uid, int on)
{
	if (!p->cmd.up)
		return;
	if (on)
		redisAsyncCommand(p->cmd.ac, NULL, NULL,
		    "SET rt:typing:%lld:%lld 1 EX %d", conv, uid,
		    PS_TYPING_TTL);
	else
		redisAsyncCommand(p->cmd.ac, NULL, NULL,
		    "DEL rt:typing:%lld:%lld", conv, uid);
}

void
ps_stats(const struct ps *ps, struct ps_stats *st)
{
	*st = ps->st;
}
