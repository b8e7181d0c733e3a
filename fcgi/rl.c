/*
 * rl.c: the fixed-window rate limiter of rl.h.  A Lua script does
 * INCR and, on the first hit, PEXPIRE, atomically, so a crash between
 * the two cannot leave a counter without expiry; it returns the count
 * and the milliseconds left in the window.  It runs by EVALSHA (Redis
 * keeps it compiled; a NOSCRIPT answer sends it once with EVAL), and the
 * command can be sent ahead of its reply (rl_send, rl_recv) so a worker
 * overlaps it with its PostgreSQL query.  Called by chat-fcgi
 * before a request does anything else, so a refused request has no
 * side effects (docs/api.md §1.6).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis.h>
#include <openssl/evp.h>

#include "fcgi/rl.h"
#include "lib/hex.h"
#include "lib/log.h"

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

/* The script's SHA-1 in hex, for EVALSHA; computed once. */
static const char *
script_sha(void)
{
	static char	 hex[41];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	if (hex[0] != '\0')
		return hex;
	if (EVP_Digest(RL_SCRIPT, sizeof(RL_SCRIPT) - 1, md, &n, EVP_sha1(),
	    NULL) != 1 || n != 20)
		return NULL;
	hex_encode(md, n, hex);
	return hex;
}

int
rl_send(struct redis *rd, struct rl_req *q, const char *route,
    const char *ip, const struct conf_rate *r)
{
	const char	*sha, *argv[5];
	size_t		 pos, lens[5];

	memset(q, 0, sizeof(*q));
	q->limit = r->limit;
	q->window = r->window;
	if (r->window <= 0 || r->limit <= 0 || (sha = script_sha()) == NULL)
		return -1;
	/* "rl:<route>:<ip>"; IPv6 ':' become '_'. */
	memcpy(q->key, "rl:", 4);
	pos = key_put(q->key, 3, sizeof(q->key), route, 1);
	pos = key_put(q->key, pos, sizeof(q->key), ip[0] != '\0' ? ip : "-",
	    0);
	snprintf(q->ms, sizeof(q->ms), "%lld", (long long)r->window * 1000);
	argv[0] = "EVALSHA";
	argv[1] = sha;
	argv[2] = "1";
	argv[3] = q->key;
	argv[4] = q->ms;
	lens[0] = 7;
	lens[1] = 40;
	lens[2] = 1;
	lens[3] = pos;
	lens[4] = strlen(q->ms);
	if (redis_send(rd, &q->cmd, q->key, pos, 5, argv, lens) == -1)
		return -1;
	q->sent = 1;
	return 0;
}

/* EVAL of the script for q, after NOSCRIPT. */
static redisReply *
eval(struct redis *rd, struct rl_req *q)
{
	const char	*argv[5] = { "EVAL", RL_SCRIPT, "1", q->key, q->ms };
	size_t		 lens[5];

	lens[0] = 4;
	lens[1] = sizeof(RL_SCRIPT) - 1;
	lens[2] = 1;
	lens[3] = strlen(q->key);
	lens[4] = strlen(q->ms);
	return redis_command(rd, q->key, lens[3], 5, argv, lens);
}

enum rl_result
rl_recv(struct redis *rd, struct rl_req *q, long *retry_after)
{
	redisReply	*rep = NULL;
	long long	 n, left;
	enum rl_result	 rc = RL_ERROR;

	if (!q->sent)
		goto out;
	q->sent = 0;
	if ((rep = redis_recv(rd, &q->cmd)) == NULL)
		goto out;
	/* A Redis that restarted (or flushed scripts) loads it again. */
	if (rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		if ((rep = eval(rd, q)) == NULL)
			goto out;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		log_warnx("rl: redis: unexpected reply type %d%s%.200s",
		    rep->type, rep->type == REDIS_REPLY_ERROR ? ": " : "",
		    rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		rd->why = "unexpected reply";
		goto out;
	}
	n = rep->element[0]->integer;
	left = rep->element[1]->integer;
	if (n > q->limit) {
		/* Whole seconds, rounded up: never "come back in 0 s". */
		left = (left + 999) / 1000;
		*retry_after = left < 1 ? 1 : left > q->window ? q->window :
		    (long)left;
		rc = RL_DENY;
	} else
		rc = RL_ALLOW;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

enum rl_result
rl_check(struct redis *rd, const char *route, const char *ip,
    const struct conf_rate *r, long *retry_after)
{
	struct rl_req	 q;

	if (rl_send(rd, &q, route, ip, r) == -1)
		return RL_ERROR;
	return rl_recv(rd, &q, retry_after);
}
