/*
 * t/pcache.c: fcgi/pcache.h against a real Redis (REDIS_URL from the
 * environment; the test fails without one), with the interleavings an
 * e2e test can only hope to hit: a fill whose read came before a write
 * is dropped, whether it lands before or after that write; a fill after
 * a clean miss is served; an entry naming another user, malformed or too
 * long is never a hit; the standby's mark is set only when asked; two
 * reads pipelined behind another command on one link (redis_hold).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "fcgi/pcache.h"
#include "fcgi/redis.h"

static const char	 BODY[] = "{\"id\":1,\"username\":\"a\"}";
static const char	 BODY2[] = "{\"id\":1,\"username\":\"b\"}";

/* Send and read one cache read of id: 1 hit (body in *b), 0, -1. */
static int
get(struct redis *rd, long long id, struct pcache_req *q, char **b)
{
	size_t	 len;

	*b = NULL;
	if (pcache_send(rd, q, id) == -1)
		return -1;
	return pcache_recv(rd, q, b, &len);
}

/* 1 if a read of id hits with exactly "want". */
static int
hits(struct redis *rd, long long id, const char *want)
{
	struct pcache_req	 q;
	char			*b;
	int			 ok;

	ok = get(rd, id, &q, &b) == 1 && strcmp(b, want) == 0;
	free(b);
	return ok;
}

/* SET key val through a plain command. */
static void
set(struct redis *rd, const char *key, const char *val, size_t vlen)
{
	const char	*argv[3] = { "SET", key, val };
	size_t		 lens[3] = { 3, strlen(key), vlen };
	redisReply	*rep;

	rep = redis_command(rd, key, lens[1], 3, argv, lens);
	if (rep != NULL)
		freeReplyObject(rep);
}

/* The PTTL of key, or -3 if Redis failed. */
static long long
pttl(struct redis *rd, const char *key)
{
	const char	*argv[2] = { "PTTL", key };
	size_t		 lens[2] = { 4, strlen(key) };
	redisReply	*rep;
	long long	 t = -3;

	rep = redis_command(rd, key, lens[1], 2, argv, lens);
	if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
		t = rep->integer;
	if (rep != NULL)
		freeReplyObject(rep);
	return t;
}

int
main(void)
{
	struct redis		 rd;
	struct pcache_req	 q, q2;
	const char		*url = getenv("REDIS_URL"), *why;
	char			*b, key[64], val[PCACHE_BODY_MAX + 64];
	long long		 id;
	size_t			 len;
	int			 n;

	tap_plan(17);
	if (url == NULL || *url == '\0') {
		tap_ok(0, "REDIS_URL is set (this test needs a real Redis)");
		return tap_done();
	}
	if (!tap_ok(redis_init(&rd, url, NULL, NULL, &why) == 0,
	    "REDIS_URL parses"))
		return tap_done();
	/* A user id no stack uses: large and random. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	id = 900000000000LL + rand();

	tap_int(get(&rd, id, &q, &b), 0, "a fresh user: a miss");
	pcache_fill(&rd, &q, BODY, strlen(BODY), 60);
	tap_ok(hits(&rd, id, BODY), "filled after a clean miss: a hit");

	/* Read, then a write, then the fill of the read: dropped. */
	tap_int(pcache_wrote(&rd, id, 0), 0, "a write invalidates");
	tap_int(get(&rd, id, &q, &b), 0, "... so the next read misses");
	tap_int(pcache_wrote(&rd, id, 0), 0, "another write");
	pcache_fill(&rd, &q, BODY, strlen(BODY), 60);
	tap_int(get(&rd, id, &q2, &b), 0,
	    "a fill read before that write is dropped");
	free(b);

	/* Read, fill, then the write: the write's DEL removes it. */
	pcache_fill(&rd, &q2, BODY2, strlen(BODY2), 60);
	tap_ok(hits(&rd, id, BODY2), "a read after the write fills");
	tap_int(get(&rd, id, &q, &b), 1, "(a hit)");
	free(b);
	tap_int(pcache_wrote(&rd, id, 0), 0, "a write after that fill");
	tap_int(get(&rd, id, &q, &b), 0, "... leaves nothing to serve");

	/* Entries that must never be hits. */
	snprintf(key, sizeof(key), "{u:%lld}:p", id);
	n = snprintf(val, sizeof(val), "%lld\n%s", id + 1, BODY);
	set(&rd, key, val, (size_t)n);
	tap_int(get(&rd, id, &q, &b), 0, "another user's entry: a miss");
	n = snprintf(val, sizeof(val), "%lld\nnot json", id);
	set(&rd, key, val, (size_t)n);
	tap_int(get(&rd, id, &q, &b), 0, "a malformed entry: a miss");
	n = snprintf(val, sizeof(val), "%lld\n{", id);
	memset(val + n, 'x', PCACHE_BODY_MAX);
	set(&rd, key, val, (size_t)n + PCACHE_BODY_MAX);
	tap_int(get(&rd, id, &q, &b), 0, "an entry too long: a miss");

	/* The standby's mark: only when asked, with its expiry. */
	snprintf(key, sizeof(key), "{u:%lld}:w", id);
	tap_int(pttl(&rd, key), -2, "no mark without mark_ms");
	(void)pcache_wrote(&rd, id, 5000);
	tap_ok(pttl(&rd, key) > 0 && pttl(&rd, key) <= 5000,
	    "the mark for mark_ms");

	/* Two reads queued on one link, written at once. */
	(void)get(&rd, id, &q, &b);
	free(b);
	pcache_fill(&rd, &q, BODY, strlen(BODY), 60);
	redis_hold(&rd);
	n = pcache_send(&rd, &q, id) == 0 && pcache_send(&rd, &q2, id) == 0;
	redis_release(&rd);
	b = NULL;
	n = n && pcache_recv(&rd, &q, &b, &len) == 1 && len == strlen(BODY);
	free(b);
	b = NULL;
	n = n && pcache_recv(&rd, &q2, &b, &len) == 1;
	free(b);
	tap_ok(n, "two reads held and released: both answered in order");

	/* Leave nothing behind. */
	(void)pcache_wrote(&rd, id, 1);
	redis_free(&rd);
	return tap_done();
}
