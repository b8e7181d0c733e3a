/*
 * redis.c: open a blocking hiredis connection as a parsed REDIS_URL
 * says (see redis.h): connect with a timeout, AUTH, SELECT.  Used by
 * chat-fcgi workers (one connection each, reopened after errors), its
 * start-up check, and t/rl-test.
 */
#include "config.h"

#include <sys/time.h>

#include <hiredis.h>

#include "fcgi/redis.h"
#include "lib/log.h"

/*
 * Run a command expecting +OK; returns 0, or -1 (logged) with *why set
 * to "refused" when Redis answered with an error, "failed" when it did
 * not answer.
 */
static int
expect_ok(redisContext *c, redisReply *r, const char *what, const char *refused,
    const char *failed, const char **why)
{
	int	 rc = -1;

	if (r == NULL) {
		log_warnx("redis %s: %s", what, c->errstr);
		*why = failed;
	} else if (r->type == REDIS_REPLY_ERROR) {
		log_warnx("redis %s: %s", what, r->str);
		*why = refused;
	} else
		rc = 0;
	freeReplyObject(r);
	return rc;
}

redisContext *
redis_connect(const struct redis_url *u, const char **why)
{
	redisContext	*c = NULL;
	struct timeval	 tv = { REDIS_TIMEOUT_MS / 1000,
	    (REDIS_TIMEOUT_MS % 1000) * 1000 };
	redisReply	*r;
	const char	*dummy;

	if (why == NULL)
		why = &dummy;
	*why = "cannot connect to Redis";
	if (u->path[0] != '\0')
		c = redisConnectUnixWithTimeout(u->path, tv);
	else
		c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL) {
		log_warnx("redis: out of memory");
		goto fail;
	}
	if (c->err) {
		log_warnx("redis connect %s:%d: %s", u->path[0] ? u->path :
		    u->host, u->path[0] ? 0 : u->port, c->errstr);
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		log_warnx("redis: cannot set timeout");
		goto fail;
	}
	if (u->pass[0] != '\0') {
		if (u->user[0] != '\0')
			r = redisCommand(c, "AUTH %s %s", u->user, u->pass);
		else
			r = redisCommand(c, "AUTH %s", u->pass);
		if (expect_ok(c, r, "AUTH", "Redis refused the password in "
		    "REDIS_URL", "Redis did not answer AUTH", why) == -1)
			goto fail;
	}
	if (u->db != 0) {
		r = redisCommand(c, "SELECT %d", u->db);
		if (expect_ok(c, r, "SELECT", "Redis refused the database in "
		    "REDIS_URL", "Redis did not answer SELECT", why) == -1)
			goto fail;
	}
	*why = NULL;
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	return NULL;
}
