/*
 * t/rl.c: lib/rl.h against a real Redis (REDIS_URL from the environment;
 * the test fails without one): N requests pass, N+1 is refused with a
 * Retry-After inside the window, windows and keys are independent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "lib/redis_util.h"
#include "lib/rl.h"

int
main(void)
{
	struct redis_url	 u;
	struct conf_rate	 r = { 3, 60 };
	redisContext		*c;
	const char		*url = getenv("REDIS_URL"), *why;
	char			 ip[64];
	long			 ra = 0;
	time_t			 now;
	int			 i, ok;

	tap_plan(12);
	if (url == NULL || *url == '\0') {
		tap_ok(0, "REDIS_URL is set (this test needs a real Redis)");
		return tap_done();
	}
	if (!tap_ok(redis_url_parse(url, &u, &why) == 0, "REDIS_URL parses") ||
	    !tap_ok((c = redis_connect(&u)) != NULL, "connects to Redis"))
		return tap_done();

	/* A fresh key space per run: a random "client IP". */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(ip, sizeof(ip), "t-%d-%d", (int)getpid(), rand());
	/* Middle of a window, so the test does not straddle two. */
	now = 1000000040;	/* 1000000020 is a multiple of 60 */

	for (ok = 1, i = 0; i < 3; i++)
		ok &= rl_check(c, "test", ip, &r, now, &ra) == RL_ALLOW;
	tap_ok(ok, "3 requests allowed");
	tap_int(rl_check(c, "test", ip, &r, now, &ra), RL_DENY, "4th denied");
	tap_int(ra, 40, "Retry-After is the rest of the window");
	tap_int(rl_check(c, "test", ip, &r, now + 39, &ra), RL_DENY,
	    "still denied at the window's last second");
	tap_int(ra, 1, "Retry-After 1 at the end");
	tap_int(rl_check(c, "test", ip, &r, now + 40, &ra), RL_ALLOW,
	    "next window allowed");
	tap_int(rl_check(c, "other", ip, &r, now, &ra), RL_ALLOW,
	    "another route has its own counter");
	snprintf(ip + 2, sizeof(ip) - 2, "x-%d-%d", (int)getpid(), rand());
	tap_int(rl_check(c, "test", ip, &r, now, &ra), RL_ALLOW,
	    "another ip has its own counter");

	/* The counter expires: its TTL is at most the window plus one. */
	{
		redisReply	*rep;
		char		 key[RL_KEY_MAX];

		snprintf(key, sizeof(key), "rl:test:%s:%lld", ip,
		    (long long)now / 60);
		rep = redisCommand(c, "TTL %s", key);
		tap_ok(rep != NULL && rep->type == REDIS_REPLY_INTEGER &&
		    rep->integer > 0 && rep->integer <= 41,
		    "counter has an expiry");
		if (rep != NULL)
			freeReplyObject(rep);
	}
	r.limit = 1;
	tap_int(rl_check(c, "test:x y", "::1", &r, now, &ra) == RL_ERROR, 0,
	    "odd route and IPv6 address work");
	redisFree(c);
	return tap_done();
}
