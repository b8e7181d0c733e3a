/*
 * rl.c: the fixed-window rate limiter of rl.h.  A Lua script does
 * INCR and, on the first hit, PEXPIRE, atomically, so a crash between
 * the two cannot leave a counter without expiry; it returns the count
 * and the milliseconds left in the window.  Called by chat-fcgi
 * before a request does anything else, so a refused request has no
 * side effects (DESIGN.md "Resolved details").
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis.h>

#include "log.h"
#include "rl.h"

static const char	 RL_SCRIPT[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "local t = redis.call('PTTL', KEYS[1]) "
    "if n == 1 or t < 0 then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end "
    "return {n, t}";

/*
 * Append s (at most 100 bytes of it) to key at pos, mapping bytes
 * outside [!-~] and the separator ':' to '_'.  Returns the new length.
 */
static size_t
key_put(char *key, size_t pos, size_t keysz, const char *s, int sep)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i < 100 && pos + 2 < keysz; i++, pos++)
		key[pos] = (s[i] > ' ' && s[i] <= '~' && s[i] != ':') ?
		    s[i] : '_';
	if (sep && pos + 1 < keysz)
		key[pos++] = ':';
	key[pos] = '\0';
	return pos;
}

enum rl_result
rl_check(redisContext *c, const char *route, const char *ip,
    const struct conf_rate *r, long *retry_after)
{
	char		 key[RL_KEY_MAX], ms[32];
	redisReply	*rep = NULL;
	long long	 n, left;
	size_t		 pos;
	enum rl_result	 rc = RL_ERROR;

	if (r->window <= 0 || r->limit <= 0)
		goto out;
	/* "rl:<route>:<ip>"; IPv6 ':' become '_'. */
	memcpy(key, "rl:", 4);
	pos = key_put(key, 3, sizeof(key), route, 1);
	(void)key_put(key, pos, sizeof(key), ip[0] != '\0' ? ip : "-", 0);
	snprintf(ms, sizeof(ms), "%lld", (long long)r->window * 1000);
	rep = redisCommand(c, "EVAL %s 1 %s %s", RL_SCRIPT, key, ms);
	if (rep == NULL) {
		log_warnx("rl: redis: %s", c->errstr);
		goto out;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		log_warnx("rl: redis: unexpected reply type %d%s%s",
		    rep->type, rep->type == REDIS_REPLY_ERROR ? ": " : "",
		    rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		goto out;
	}
	n = rep->element[0]->integer;
	left = rep->element[1]->integer;
	if (n > r->limit) {
		/* Whole seconds, rounded up: never "come back in 0 s". */
		left = (left + 999) / 1000;
		*retry_after = left < 1 ? 1 : left > r->window ? r->window :
		    (long)left;
		rc = RL_DENY;
	} else
		rc = RL_ALLOW;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}
