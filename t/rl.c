/*
 * t/rl.c: fcgi/rl.h against a real Redis (REDIS_URL from the environment;
 * the test fails without one): N requests pass, N+1 is refused with a
 * Retry-After inside the window, the window opens at the first request
 * and ends with it, and routes and addresses count apart.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "fcgi/redis.h"
#include "fcgi/rl.h"

int
main(void)
{
	struct redis		 rd;
	struct conf_rate	 r = { 3, 2 };	/* 3 per 2 s: a short test */
	struct timespec		 nap = { 2, 200 * 1000000L };
	redisContext		*c;
	redisReply		*rep;
	const char		*argv[2];
	size_t			 lens[2];
	const char		*url = getenv("REDIS_URL"), *why;
	char			 ip[64], ip2[64], key[RL_KEY_MAX];
	long			 ra = 0;
	int			 i, ok;

	tap_plan(17);
	if (url == NULL || *url == '\0') {
		tap_ok(0, "REDIS_URL is set (this test needs a real Redis)");
		return tap_done();
	}
	if (!tap_ok(redis_init(&rd, url, NULL, NULL, &why) == 0,
	    "REDIS_URL parses") ||
	    !tap_ok((c = redis_link(&rd, "", 0)) != NULL, "connects to Redis"))
		return tap_done();

	/* Fresh counters per run: random "client addresses". */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(ip, sizeof(ip), "t-%d-%d", (int)getpid(), rand());
	snprintf(ip2, sizeof(ip2), "t2-%d-%d", (int)getpid(), rand());

	for (ok = 1, i = 0; i < 3; i++)
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_ALLOW;
	tap_ok(ok, "3 requests allowed");
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_DENY, "4th denied");
	tap_ok(ra >= 1 && ra <= 2, "Retry-After within the window");
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_DENY, "5th denied");
	tap_int(rl_check(&rd, "other", ip, &r, &ra), RL_ALLOW,
	    "another route has its own counter");
	tap_int(rl_check(&rd, "test", ip2, &r, &ra), RL_ALLOW,
	    "another address has its own counter");

	snprintf(key, sizeof(key), "rl:test:%s", ip);
	rep = redisCommand(c, "PTTL %s", key);
	tap_ok(rep != NULL && rep->type == REDIS_REPLY_INTEGER &&
	    rep->integer > 0 && rep->integer <= 2000,
	    "the counter expires with the window");
	if (rep != NULL)
		freeReplyObject(rep);

	nanosleep(&nap, NULL);
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_ALLOW,
	    "allowed again once the window is over");
	for (ok = 1, i = 0; i < 2; i++)
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_ALLOW;
	tap_ok(ok, "a full allowance in the new window");
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_DENY,
	    "and no more");

	/* Redis forgot the script (restart, SCRIPT FLUSH): loaded again. */
	rep = redisCommand(c, "SCRIPT FLUSH");
	if (rep != NULL)
		freeReplyObject(rep);
	snprintf(ip2, sizeof(ip2), "t3-%d-%d", (int)getpid(), rand());
	tap_int(rl_check(&rd, "test", ip2, &r, &ra), RL_ALLOW,
	    "works after SCRIPT FLUSH (NOSCRIPT)");
	{
		struct rl_req	 q;

		tap_ok(rl_send(&rd, &q, "test", ip2, &r) == 0 &&
		    rl_recv(&rd, &q, &ra) == RL_ALLOW, "send, then receive");
		snprintf(key, sizeof(key), "rl:test:%s", ip2);
		rep = redisCommand(c, "GET %s", key);
		tap_ok(rep != NULL && rep->type == REDIS_REPLY_STRING &&
		    strcmp(rep->str, "2") == 0, "both counted once");
		if (rep != NULL)
			freeReplyObject(rep);
	}

	r.limit = 1;
	tap_int(rl_check(&rd, "test:x y", "::1", &r, &ra) == RL_ERROR, 0,
	    "odd route and IPv6 address work");
	/* A link closed under us (Redis restarted): sent once more. */
	rep = redisCommand(c, "QUIT");
	if (rep != NULL)
		freeReplyObject(rep);
	argv[0] = "GET";
	argv[1] = key;
	lens[0] = 3;
	lens[1] = strlen(key);
	rep = redis_command(&rd, key, lens[1], 2, argv, lens);
	tap_ok(rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    strcmp(rep->str, "2") == 0, "a closed link is reopened");
	if (rep != NULL)
		freeReplyObject(rep);
	redis_free(&rd);
	return tap_done();
}
