/*
 * t/rl-cluster.c: fcgi/rl.h and fcgi/redis.h against a real Redis
 * Cluster (REDIS_CLUSTER seeds and REDIS_CLUSTER_PASSWORD from the
 * environment, as t/redis-cluster-up starts one; the test fails
 * without one): the limiter counts on the cluster, two clients (two
 * hosts) share one counter, a slot moved to another master by hand
 * (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) is followed
 * through ASK while it moves and MOVED after, the counter moving with
 * it, and the client's slot map then says where the slot lives; a link
 * closed under the client is reopened; and with replicas
 * (REDIS_CLUSTER_REPLICAS=1 for t/redis-cluster-up), a failover (CLUSTER
 * FAILOVER on the replica of a counter's master) is followed.
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
#include "lib/redis_cluster.h"

#define NODES_MAX	16

/* A control link to each master of the first map, by its index there. */
static redisContext	*ctl[NODES_MAX];
static char		 ids[NODES_MAX][64];

/* A command on master i's control link; the reply, or NULL. */
static redisReply *
on(int i, const char *fmt, const char *a1, const char *a2)
{
	return redisCommand(ctl[i], fmt, a1, a2);
}

/* Run a command on master i expecting +OK; 1 if it was. */
static int
ok_on(int i, const char *fmt, const char *a1, const char *a2)
{
	redisReply	*r = on(i, fmt, a1, a2);
	int		 ok = r != NULL && r->type == REDIS_REPLY_STATUS;

	if (!ok)
		printf("# node %d: %s: %s\n", i, fmt, r == NULL ?
		    ctl[i]->errstr : r->type == REDIS_REPLY_ERROR ? r->str :
		    "not +OK");
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

/*
 * A failover: CLUSTER FAILOVER on the replica of a counter's master,
 * then the client must follow (MOVED from the old master) and find the
 * count kept.  Skipped (TAP SKIP) when that master has no replica.
 */
static void
failover(struct redis *rd, size_t n, const char *pass)
{
	struct conf_rate	 r = { 3, 30 };
	struct redis_url	 u;
	struct timespec		 nap = { 0, 100 * 1000000L };
	redisContext		*rc = NULL;
	redisReply		*rep;
	char			 ip[64], key[RL_KEY_MAX], *p, *colon;
	long			 ra;
	size_t			 i;
	int			 m, k, tries, ok = 0;

	/* A counter whose master has a replica. */
	memset(&u, 0, sizeof(u));
	for (tries = 0; tries < 64 && !ok; tries++) {
		snprintf(ip, sizeof(ip), "f-%d-%d", (int)getpid(), rand());
		snprintf(key, sizeof(key), "rl:test:%s", ip);
		m = rd->map->node[redis_key_slot(key, strlen(key))];
		for (i = 0; i < n; i++)
			if (ctl[i]->tcp.port == rd->map->masters[m].port)
				break;
		if (i == n || (rep = redisCommand(ctl[i],
		    "CLUSTER REPLICAS %s", ids[i])) == NULL)
			continue;
		/* "<id> <ip>:<port>@<bus> slave <master id> ..." */
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    (p = strchr(rep->element[0]->str, ' ')) != NULL &&
		    (colon = strchr(p + 1, ':')) != NULL &&
		    (size_t)(colon - p - 1) < sizeof(u.host)) {
			memcpy(u.host, p + 1, (size_t)(colon - p - 1));
			u.port = atoi(colon + 1);
			snprintf(u.pass, sizeof(u.pass), "%s",
			    pass != NULL ? pass : "");
			ok = 1;
		}
		freeReplyObject(rep);
	}
	if (!ok) {
		for (k = 0; k < 4; k++)
			tap_ok(1, "failover # SKIP no master has a replica");
		return;
	}
	tap_int(rl_check(rd, "test", ip, &r, &ra) == RL_ALLOW &&
	    rl_check(rd, "test", ip, &r, &ra) == RL_ALLOW, 1,
	    "failover: 2 allowed before");
	ok = 0;
	if ((rc = redis_connect(&u, NULL)) != NULL &&
	    (rep = redisCommand(rc, "CLUSTER FAILOVER")) != NULL) {
		ok = rep->type == REDIS_REPLY_STATUS;
		freeReplyObject(rep);
	}
	for (k = 0; ok && k < 100; k++) {
		rep = redisCommand(rc, "ROLE");
		ok = rep != NULL;
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements > 0 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(rep->element[0]->str, "master") == 0) {
			freeReplyObject(rep);
			break;
		}
		if (rep != NULL)
			freeReplyObject(rep);
		nanosleep(&nap, NULL);
	}
	tap_ok(ok && k < 100, "the replica took over");
	tap_int(rl_check(rd, "test", ip, &r, &ra), RL_ALLOW,
	    "the 3rd check follows it there");
	tap_int(rl_check(rd, "test", ip, &r, &ra), RL_DENY,
	    "and the count was kept: the 4th is denied");
	if (rc != NULL)
		redisFree(rc);
}

/* Start moving "slot" (as text) from master "from" to "to". */
static int
slot_open(const char *slot, int from, int to)
{
	return ok_on(to, "CLUSTER SETSLOT %s IMPORTING %s", slot, ids[from]) &&
	    ok_on(from, "CLUSTER SETSLOT %s MIGRATING %s", slot, ids[to]);
}

/*
 * End the move (its keys migrated): the new owner first, which bumps
 * its config epoch so the cluster agrees for good, then the old, then
 * the others, as redis-cli --cluster reshard does.
 */
static int
slot_close(const char *slot, int from, int to, size_t n)
{
	size_t	 i;
	int	 ok;

	ok = ok_on(to, "CLUSTER SETSLOT %s NODE %s", slot, ids[to]) &&
	    ok_on(from, "CLUSTER SETSLOT %s NODE %s", slot, ids[to]);
	for (i = 0; i < n; i++)
		if ((int)i != from && (int)i != to)
			ok &= ok_on((int)i, "CLUSTER SETSLOT %s NODE %s", slot,
			    ids[to]);
	return ok;
}

/* A string command through the cluster client; the reply or NULL. */
static redisReply *
cl(struct redis *rd, const char *a0, const char *key, const char *a2)
{
	const char	*argv[3] = { a0, key, a2 };
	size_t		 lens[3];

	lens[0] = strlen(a0);
	lens[1] = strlen(key);
	lens[2] = a2 != NULL ? strlen(a2) : 0;
	return redis_command(rd, key, lens[1], a2 != NULL ? 3 : 2, argv, lens);
}

int
main(void)
{
	struct redis		 rd, rd2;
	struct conf_rate	 r = { 3, 30 };
	struct redis_url	 u;
	redisReply		*rep;
	const char		*seeds = getenv("REDIS_CLUSTER");
	const char		*pass = getenv("REDIS_CLUSTER_PASSWORD");
	const char		*why;
	char			 ip[64], key[RL_KEY_MAX], other[RL_KEY_MAX + 8];
	char			 port[16], cnt[16];
	unsigned int		 slot;
	long			 ra = 0;
	size_t			 i, n;
	redisContext		*c;
	int			 src, dst, ok;

	tap_plan(28);
	if (seeds == NULL || *seeds == '\0') {
		tap_ok(0, "REDIS_CLUSTER is set (this test needs a cluster)");
		return tap_done();
	}
	if (!tap_ok(redis_init(&rd, NULL, seeds, pass, &why) == 0,
	    "REDIS_CLUSTER parses") ||
	    !tap_ok(redis_init(&rd2, NULL, seeds, pass, &why) == 0,
	    "a second client (another host)"))
		return tap_done();
	if (!tap_ok(redis_ping(&rd) == 0, "every master answers PING") ||
	    !tap_ok(rd.map->nmasters >= 2 && rd.map->nmasters <= NODES_MAX,
	    "the slot map has 2..16 masters"))
		return tap_done();
	tap_ok(redis_slotmap_complete(rd.map), "every slot is served");
	n = rd.map->nmasters;
	for (ok = 1, i = 0; i < n; i++) {
		memset(&u, 0, sizeof(u));
		snprintf(u.host, sizeof(u.host), "%s", rd.map->masters[i].host);
		u.port = rd.map->masters[i].port;
		snprintf(u.pass, sizeof(u.pass), "%s",
		    pass != NULL ? pass : "");
		if ((ctl[i] = redis_connect(&u, NULL)) == NULL) {
			ok = 0;
			break;
		}
		rep = redisCommand(ctl[i], "CLUSTER MYID");
		if (rep == NULL || rep->type != REDIS_REPLY_STRING ||
		    rep->len >= sizeof(ids[i]))
			ok = 0;
		else
			memcpy(ids[i], rep->str, rep->len + 1);
		if (rep != NULL)
			freeReplyObject(rep);
	}
	if (!tap_ok(ok, "control links to every master"))
		return tap_done();

	/* Counters on every master: many addresses, spread over slots. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (ok = 1, i = 0; i < 30; i++) {
		snprintf(ip, sizeof(ip), "c-%d-%d-%zu", (int)getpid(), rand(),
		    i);
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_ALLOW;
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_ALLOW;
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_ALLOW;
		ok &= rl_check(&rd, "test", ip, &r, &ra) == RL_DENY;
	}
	tap_ok(ok, "3 allowed, the 4th denied, for 30 keys over the slots");

	snprintf(ip, sizeof(ip), "m-%d-%d", (int)getpid(), rand());
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_ALLOW, "host 1: 1st");
	tap_int(rl_check(&rd2, "test", ip, &r, &ra), RL_ALLOW, "host 2: 2nd");

	/* Move the slot of that counter to another master, by hand. */
	snprintf(key, sizeof(key), "rl:test:%s", ip);
	slot = redis_key_slot(key, strlen(key));
	src = rd.map->node[slot];
	dst = (src + 1) % (int)n;
	snprintf(port, sizeof(port), "%u", slot);
	ok = slot_open(port, src, dst);
	printf("# slot %u: master %d to %d\n", slot, src, dst);
	tap_ok(ok, "the slot is migrating");
	/* A key of that slot not yet on the source: ASK, to the target. */
	snprintf(other, sizeof(other), "{%s}new", key);
	rep = cl(&rd, "SET", other, "1");
	tap_ok(rep != NULL && rep->type == REDIS_REPLY_STATUS,
	    "ASK followed: a new key of a migrating slot is written");
	if (rep != NULL)
		freeReplyObject(rep);
	rep = on(dst, "EXISTS %s", other, NULL);
	tap_ok(rep != NULL && rep->type == REDIS_REPLY_ERROR,
	    "... on the target (without ASKING it says MOVED)");
	if (rep != NULL)
		freeReplyObject(rep);
	/* Move the keys, then give the slot to the target everywhere. */
	snprintf(cnt, sizeof(cnt), "%d", ctl[dst]->tcp.port);
	if (pass != NULL && *pass != '\0')
		rep = redisCommand(ctl[src], "MIGRATE %s %s %s 0 5000 AUTH "
		    "%s KEYS %s", rd.map->masters[dst].host, cnt, "", pass,
		    key);
	else
		rep = redisCommand(ctl[src], "MIGRATE %s %s %s 0 5000 KEYS "
		    "%s", rd.map->masters[dst].host, cnt, "", key);
	ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
	if (!ok)
		printf("# MIGRATE: %s\n", rep == NULL ? ctl[src]->errstr :
		    rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
	if (rep != NULL)
		freeReplyObject(rep);
	ok &= slot_close(port, src, dst, n);
	tap_ok(ok, "the counter moved, the slot given to the target");

	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_ALLOW,
	    "MOVED followed: host 1's 3rd request counts on the new master");
	tap_int(rl_check(&rd2, "test", ip, &r, &ra), RL_DENY,
	    "host 2 (old map too): the 4th is denied there");
	tap_ok(ra >= 1 && ra <= 30, "Retry-After within the window");
	tap_int(rd.map->masters[rd.map->node[slot]].port, ctl[dst]->tcp.port,
	    "host 1's slot map names the new master");
	tap_int(rd2.map->masters[rd2.map->node[slot]].port,
	    ctl[dst]->tcp.port, "so does host 2's");

	/* Give it back (the keys deleted: none to migrate). */
	rep = cl(&rd, "DEL", other, NULL);
	if (rep != NULL)
		freeReplyObject(rep);
	rep = cl(&rd, "DEL", key, NULL);
	if (rep != NULL)
		freeReplyObject(rep);
	ok = slot_open(port, dst, src) && slot_close(port, dst, src, n);
	tap_ok(ok, "the slot is given back");
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_ALLOW,
	    "host 1 follows it back: a fresh counter");
	tap_ok(rd.map->masters[rd.map->node[slot]].port ==
	    ctl[src]->tcp.port, "and its map says so");
	tap_ok(redis_ping(&rd) == 0 && redis_ping(&rd2) == 0,
	    "both still see a healthy cluster");

	/* Our link to that master killed: the next command reopens it. */
	c = redis_link(&rd, key, strlen(key));
	rep = c != NULL ? redisCommand(c, "CLIENT ID") : NULL;
	ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
	if (ok)
		snprintf(cnt, sizeof(cnt), "%lld", rep->integer);
	if (rep != NULL)
		freeReplyObject(rep);
	if (ok) {
		rep = on(src, "CLIENT KILL ID %s", cnt, NULL);
		ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER &&
		    rep->integer == 1;
		if (rep != NULL)
			freeReplyObject(rep);
	}
	tap_ok(ok, "our link to the master killed");
	tap_int(rl_check(&rd, "test", ip, &r, &ra), RL_ALLOW,
	    "the next check reopens it and counts");
	failover(&rd, n, pass);

	for (i = 0; i < n; i++)
		redisFree(ctl[i]);
	redis_free(&rd);
	redis_free(&rd2);
	return tap_done();
}
