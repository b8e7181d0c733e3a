/*
 * pcache.c: the profile cache of pcache.h (why it never serves a
 * stale profile after its owner's write is explained there).  Replies
 * are untrusted: every length is checked, a body is used only when it
 * names the user asked for.  Called by users.c and app.c; calls only
 * redis.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "fcgi/pcache.h"
#include "fcgi/redis.h"
#include "lib/log.h"

/* KEYS: p, g.  ARGV: the generation seen ("" none), body, ttl s. */
static const char	 FILL_SCRIPT[] =
    "if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end "
    "return 0";

/* KEYS: p, g, w.  ARGV: mark ms (0: no mark), generation ttl s. */
static const char	 WROTE_SCRIPT[] =
    "redis.call('INCR', KEYS[2]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[2]) "
    "redis.call('DEL', KEYS[1]) "
    "if tonumber(ARGV[1]) > 0 then "
    "redis.call('SET', KEYS[3], '1', 'PX', ARGV[1]) end "
    "return 1";

/* "{u:<id>}:<c>" in buf; its length, or 0 if it does not fit. */
static size_t
ukey(long long id, char c, char *buf, size_t bufsz)
{
	int	 n;

	n = snprintf(buf, bufsz, "{u:%lld}:%c", id, c);
	return n < 0 || (size_t)n >= bufsz ? 0 : (size_t)n;
}

int
pcache_send(struct redis *rd, struct pcache_req *q, long long id)
{
	char		 kp[PCACHE_KEY_MAX], kg[PCACHE_KEY_MAX];
	const char	*argv[3] = { "MGET", kp, kg };
	size_t		 lens[3] = { 4, 0, 0 };

	q->id = id;
	q->gen[0] = '\0';
	q->gen_ok = 0;
	if ((lens[1] = ukey(id, 'p', kp, sizeof(kp))) == 0 ||
	    (lens[2] = ukey(id, 'g', kg, sizeof(kg))) == 0) {
		rd->why = "user id too long";
		return -1;
	}
	return redis_send(rd, &q->cmd, kp, lens[1], 3, argv, lens);
}

/* The cached body of element e if it is user id's: 1 (copied), or 0. */
static int
body_of(const redisReply *e, long long id, char **body, size_t *len)
{
	char	 pre[32];
	size_t	 n;
	int	 k;

	if (e->type != REDIS_REPLY_STRING)
		return 0;
	k = snprintf(pre, sizeof(pre), "%lld\n", id);
	if (k < 0 || (size_t)k >= sizeof(pre))
		return 0;
	n = (size_t)k;
	if (e->len <= n || e->len - n > PCACHE_BODY_MAX ||
	    memcmp(e->str, pre, n) != 0 || e->str[n] != '{') {
		log_warnx("profile cache: entry of user %lld is not theirs "
		    "or malformed; ignored", id);
		return 0;
	}
	/* NUL-terminated as well, for callers that treat it as text. */
	if ((*body = malloc(e->len - n + 1)) == NULL) {
		log_warn("malloc");
		return 0;
	}
	memcpy(*body, e->str + n, e->len - n);
	(*body)[e->len - n] = '\0';
	*len = e->len - n;
	return 1;
}

int
pcache_recv(struct redis *rd, struct pcache_req *q, char **body,
    size_t *len)
{
	redisReply	*rep;
	redisReply	*g;
	int		 rc = -1;

	*body = NULL;
	*len = 0;
	if ((rep = redis_recv(rd, &q->cmd)) == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0] == NULL || rep->element[1] == NULL) {
		rd->why = "unexpected Redis reply";
		goto out;
	}
	if (body_of(rep->element[0], q->id, body, len)) {
		rc = 1;
		goto out;
	}
	rc = 0;
	g = rep->element[1];
	if (g->type == REDIS_REPLY_NIL)
		q->gen_ok = 1;
	else if (g->type == REDIS_REPLY_STRING && g->len > 0 &&
	    g->len < sizeof(q->gen)) {
		memcpy(q->gen, g->str, g->len);
		q->gen[g->len] = '\0';
		q->gen_ok = 1;
	}
out:
	freeReplyObject(rep);
	return rc;
}

void
pcache_cancel(struct redis *rd, struct pcache_req *q)
{
	redisReply	*rep;

	/* Read, not dropped: the link stays usable for what follows. */
	if ((rep = redis_recv(rd, &q->cmd)) != NULL)
		freeReplyObject(rep);
	q->gen_ok = 0;
}

void
pcache_fill(struct redis *rd, struct pcache_req *q, const char *body,
    size_t len, long ttl)
{
	redisReply	*rep;
	char		 kp[PCACHE_KEY_MAX], kg[PCACHE_KEY_MAX], ts[32];
	char		*val = NULL;
	const char	*argv[8];
	size_t		 lens[8], n;
	int		 k;

	if (!q->gen_ok || ttl <= 0 || len == 0 || len > PCACHE_BODY_MAX)
		return;
	if ((lens[3] = ukey(q->id, 'p', kp, sizeof(kp))) == 0 ||
	    (lens[4] = ukey(q->id, 'g', kg, sizeof(kg))) == 0)
		return;
	k = snprintf(ts, sizeof(ts), "%ld", ttl);
	if (k < 0 || (size_t)k >= sizeof(ts))
		return;
	if ((val = malloc(len + 32)) == NULL) {
		log_warn("malloc");
		return;
	}
	k = snprintf(val, 32, "%lld\n", q->id);
	if (k < 0 || k >= 32)
		goto out;
	n = (size_t)k;
	memcpy(val + n, body, len);
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = FILL_SCRIPT;
	lens[1] = sizeof(FILL_SCRIPT) - 1;
	argv[2] = "2";
	lens[2] = 1;
	argv[3] = kp;
	argv[4] = kg;
	argv[5] = q->gen;
	lens[5] = strlen(q->gen);
	argv[6] = val;
	lens[6] = n + len;
	argv[7] = ts;
	lens[7] = strlen(ts);
	rep = redis_command(rd, kp, lens[3], 8, argv, lens);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
		log_warnx("profile cache: fill of user %lld failed: %s",
		    q->id, rep != NULL && rep->type == REDIS_REPLY_ERROR ?
		    rep->str : rd->why != NULL ? rd->why : "Redis error");
	if (rep != NULL)
		freeReplyObject(rep);
out:
	free(val);
}

int
pcache_wrote(struct redis *rd, long long id, long mark_ms)
{
	redisReply	*rep;
	char		 kp[PCACHE_KEY_MAX], kg[PCACHE_KEY_MAX];
	char		 kw[PCACHE_KEY_MAX], ms[32], gt[32];
	const char	*argv[8];
	size_t		 lens[8];
	int		 rc = -1, k;

	if ((lens[3] = ukey(id, 'p', kp, sizeof(kp))) == 0 ||
	    (lens[4] = ukey(id, 'g', kg, sizeof(kg))) == 0 ||
	    (lens[5] = ukey(id, 'w', kw, sizeof(kw))) == 0)
		return -1;
	k = snprintf(ms, sizeof(ms), "%ld", mark_ms > 0 ? mark_ms : 0);
	if (k < 0 || (size_t)k >= sizeof(ms))
		return -1;
	lens[6] = (size_t)k;
	k = snprintf(gt, sizeof(gt), "%d", PCACHE_GEN_TTL);
	if (k < 0 || (size_t)k >= sizeof(gt))
		return -1;
	lens[7] = (size_t)k;
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = WROTE_SCRIPT;
	lens[1] = sizeof(WROTE_SCRIPT) - 1;
	argv[2] = "3";
	lens[2] = 1;
	argv[3] = kp;
	argv[4] = kg;
	argv[5] = kw;
	argv[6] = ms;
	argv[7] = gt;
	rep = redis_command(rd, kp, lens[3], 8, argv, lens);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		rc = 0;
	else
		log_warnx("user %lld: profile cache not invalidated: %s", id,
		    rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str :
		    rd->why != NULL ? rd->why : "Redis error");
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}
