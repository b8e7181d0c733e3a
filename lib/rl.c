/*
 * rl.c: the fixed-window rate limiter of rl.h.  A Lua script does
 * INCR and, on the first hit, EXPIRE, atomically, so a crash between
 * the two cannot leave a counter without expiry.  Called by chat-fcgi
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
    "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

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
    const struct conf_rate *r, time_t now, long *retry_after)
{
	char		 key[RL_KEY_MAX], ttl[32];
	redisReply	*rep = NULL;
	long long	 win, n;
	long		 left;
	size_t		 pos;
	enum rl_result	 rc = RL_ERROR;
	int		 len;

	if (r->window <= 0 || r->limit <= 0 || now < 0)
		goto out;
	win = (long long)now / r->window;
	left = r->window - (long)((long long)now % r->window);
	/* "rl:<route>:<ip>:<window>"; IPv6 ':' become '_'. */
	memcpy(key, "rl:", 4);
	pos = key_put(key, 3, sizeof(key), route, 1);
	pos = key_put(key, pos, sizeof(key), ip[0] != '\0' ? ip : "-", 1);
	len = snprintf(key + pos, sizeof(key) - pos, "%lld", win);
	if (len < 0 || (size_t)len >= sizeof(key) - pos)
		goto out;
	/* Keep the key a little past the window's end. */
	snprintf(ttl, sizeof(ttl), "%ld", left + 1);
	rep = redisCommand(c, "EVAL %s 1 %s %s", RL_SCRIPT, key, ttl);
	if (rep == NULL) {
		log_warnx("rl: redis: %s", c->errstr);
		goto out;
	}
	if (rep->type != REDIS_REPLY_INTEGER) {
		log_warnx("rl: redis: unexpected reply type %d%s%s",
		    rep->type, rep->type == REDIS_REPLY_ERROR ? ": " : "",
		    rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		goto out;
	}
	n = rep->integer;
	if (n > r->limit) {
		*retry_after = left > 0 ? left : 1;
		rc = RL_DENY;
	} else
		rc = RL_ALLOW;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}
