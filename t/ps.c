/*
 * t/ps.c: realtime/chat/ps.c against a real Redis (REDIS_URL from the
 * environment) or Redis Cluster (REDIS_CLUSTER): presence scripts
 * announce userOnline/userOffline exactly once per user across sockets,
 * per-user channels deliver, and the heartbeat reaps a node that stopped
 * beating (sending the userOffline it owed: whichever live node reaps
 * it, chat-realtime's included).  On a cluster the user's keys and its
 * online bucket live on different masters, and with PS_CLUSTER_DIR (the
 * folder of t/redis-cluster-up, with replicas) the user's slot is moved
 * to another master, then its master is killed: fan-out and presence
 * must follow both (t/ps-cluster-ctl does the deed).
 * Uses node ids 200+ and user ids far above any real one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "lib/log.h"
#include "lib/redis_cluster.h"
#include "realtime/chat/ps.h"

static struct ev_loop	*loop;
static int		 up_cmd, up_sub, nonline, noffline, nmsg, nreaped;
static long long	 U, V;
static char		 lastmsg[256];

static void
on_msg(void *arg, long long uid, const char *data, size_t len)
{
	char	 want[128];

	if (uid == U) {
		nmsg++;
		snprintf(lastmsg, sizeof(lastmsg), "%.*s", (int)len, data);
		return;
	}
	snprintf(want, sizeof(want),
	    "\"e\":\"userOnline\",\"a\":{\"userId\":%lld}", U);
	if (memmem(data, len, want, strlen(want)) != NULL)
		nonline++;
	snprintf(want, sizeof(want),
	    "\"e\":\"userOffline\",\"a\":{\"userId\":%lld}", U);
	if (memmem(data, len, want, strlen(want)) != NULL)
		noffline++;
	/* Any live node may reap the dead one: count its announcement. */
	snprintf(want, sizeof(want),
	    "\"e\":\"userOffline\",\"a\":{\"userId\":%lld}", V);
	if (memmem(data, len, want, strlen(want)) != NULL)
		nreaped++;
}

static int	 want(void *, long long);

static void
on_up(void *arg, int sub)
{
	struct ps	*p = *(struct ps **)arg;

	if (sub) {
		up_sub++;
		/* As presence.c: every wanted channel again. */
		if (p != NULL && want(arg, U))
			ps_sub_user(p, U);
	}
	else {
		up_cmd++;
		ps_presence_sync(p, NULL, 0);
	}
}

static void
on_offline(void *arg, long long uid)
{
}

static int	 subscribed;	/* U is wanted */

static int
want(void *arg, long long uid)
{
	return uid == U && subscribed;
}

static void
tick(struct ev_loop *l, ev_timer *w, int revents)
{
}

static int	 replies;
static int	 flags_ok, users_ok;

static void
flags_cb(void *arg, const redisReply *r)
{
	flags_ok = r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    r->elements == 2 && r->element[0]->integer == 1 &&
	    r->element[1]->integer == 0 ? 1 : -1;
}

static void
users_cb(void *arg, const redisReply *r)
{
	char	 u[32];
	size_t	 i;

	snprintf(u, sizeof(u), "%lld", U);
	users_ok = -1;
	for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i < r->elements; i++)
		if (strcmp(r->element[i]->str, u) == 0)
			users_ok = 1;
}

static void
reply_cb(void *arg, const redisReply *r)
{
	replies++;
}

/* Run the loop until *flag >= n or secs pass; returns 1 if reached. */
static int
wait_for(int *flag, int n, double secs)
{
	ev_tstamp	 t0 = ev_time();

	while (*flag < n && ev_time() - t0 < secs)
		ev_run(loop, EVRUN_ONCE);
	return *flag >= n;
}

/* Let the loop run for secs. */
static void
settle(double secs)
{
	int	 never = 0;

	wait_for(&never, 1, secs);
}

/* The cluster's slot map, read without ps (blocking). 0 if read. */
static int
read_map(const char *seeds, struct redis_slotmap *m)
{
	struct redis_addr	 a[REDIS_SEEDS_MAX];
	redisContext		*rc;
	redisReply		*r = NULL;
	const char		*why, *pass = getenv("REDIS_CLUSTER_PASSWORD");
	int			 rv = -1;

	if (redis_seeds_parse(seeds, a, REDIS_SEEDS_MAX, &why) < 1 ||
	    (rc = redisConnect(a[0].host, a[0].port)) == NULL)
		return -1;
	if (rc->err)
		goto out;
	if (pass != NULL && pass[0] != '\0') {
		freeReplyObject(redisCommand(rc, "AUTH %s", pass));
	}
	if ((r = redisCommand(rc, "CLUSTER SLOTS")) != NULL &&
	    redis_slotmap_parse(m, r, a[0].host, &why) == 0)
		rv = 0;
out:
	freeReplyObject(r);
	redisFree(rc);
	return rv;
}

static int
master_of(const struct redis_slotmap *m, const char *key)
{
	return m->node[redis_key_slot(key, strlen(key))];
}

/* Publish to U until on_msg has it (a resubscription may be under way). */
static int
publish_until(struct ps *p, const char *msg, double secs)
{
	ev_tstamp	 t0 = ev_time();
	int		 n0 = nmsg;

	while (ev_time() - t0 < secs) {
		ps_publish(p, U, msg, strlen(msg));
		if (wait_for(&nmsg, n0 + 1, 0.3) &&
		    strcmp(lastmsg, msg) == 0)
			return 1;
	}
	return 0;
}

/* Add a socket until Redis takes it and userOnline comes. */
static int
online_until(struct ps *p, const char *sid, double secs)
{
	ev_tstamp	 t0 = ev_time();
	int		 n0 = nonline;

	while (ev_time() - t0 < secs) {
		if (ps_presence_add(p, U, sid, NULL, NULL) == 0 &&
		    wait_for(&nonline, n0 + 1, 1))
			return 1;
		settle(0.2);
	}
	return 0;
}

/* Slot moves and a master's death, on the test cluster in dir. */
static void
cluster_faults(struct ps *p, const char *dir)
{
	char		 key[64], sh[512];
	unsigned int	 slot;
	ev_tstamp	 t0;

	snprintf(key, sizeof(key), "rt:{u:%lld}", U);
	slot = redis_key_slot(key, strlen(key));
	subscribed = 1;
	ps_sub_user(p, U);
	settle(0.3);
	snprintf(sh, sizeof(sh), "t/ps-cluster-ctl move %u '%s' >&2", slot,
	    dir);
	tap_ok(system(sh) == 0, "U's slot moved to another master");
	tap_ok(publish_until(p, "{\"x\":2}", 5),
	    "fan-out follows the moved slot");
	tap_ok(online_until(p, "00sockC", 5), "presence after the move");
	ps_presence_del(p, U, "00sockC");
	tap_ok(wait_for(&noffline, 2, 3), "userOffline after the move");

	/* Half a move: U's keys are elsewhere, Redis answers ASK. */
	snprintf(sh, sizeof(sh), "t/ps-cluster-ctl half %u '%s' >&2", slot,
	    dir);
	tap_ok(system(sh) == 0, "U's slot migrating, its keys moved");
	/*
	 * U's set is gone (U is offline): the script's keys are not all
	 * there, so the importing master says TRYAGAIN until the end.
	 */
	replies = 0;
	ps_presence_add(p, U, "00sockE", reply_cb, NULL);
	settle(0.3);
	snprintf(sh, sizeof(sh), "t/ps-cluster-ctl end %u '%s' >&2", slot,
	    dir);
	tap_ok(system(sh) == 0, "the migration ends");
	tap_ok(wait_for(&replies, 1, 3) && wait_for(&nonline, 3, 3),
	    "presence through ASK and TRYAGAIN");
	ps_presence_del(p, U, "00sockE");
	tap_ok(wait_for(&noffline, 3, 3), "userOffline after the migration");
	tap_ok(publish_until(p, "{\"x\":4}", 5),
	    "fan-out follows the migrated slot");

	snprintf(sh, sizeof(sh), "t/ps-cluster-ctl kill %u '%s' >&2", slot,
	    dir);
	tap_ok(system(sh) == 0, "U's master killed");
	t0 = ev_time();
	tap_ok(publish_until(p, "{\"x\":3}", 20),
	    "fan-out back after the replica took over");
	printf("# fan-out back %.1f s after the kill\n", ev_time() - t0);
	tap_ok(online_until(p, "00sockD", 10),
	    "presence back after the replica took over");
	printf("# presence back %.1f s after the kill\n", ev_time() - t0);
	ps_presence_del(p, U, "00sockD");
	tap_ok(wait_for(&noffline, 4, 5), "userOffline after the failover");
	subscribed = 0;
	ps_unsub_user(p, U);
}

int
main(void)
{
	struct ps	*p = NULL;
	struct ps_opts	 o;
	ev_timer	 t;
	char		 cmd[64], mem[64], usk[64], onl[64], vs[32];
	const char	*url = getenv("REDIS_URL");
	const char	*seeds = getenv("REDIS_CLUSTER");
	const char	*dir = getenv("PS_CLUSTER_DIR");
	const char	*argv[4];
	struct redis_slotmap *map = NULL;
	char		 bk[64];
	int		 apart = 0;

	log_init("ps-test");
	if (seeds == NULL || *seeds == '\0')
		seeds = dir = NULL;
	else
		url = NULL;
	tap_plan(14 + (seeds != NULL) + (dir != NULL ? 13 : 0));
	loop = ev_default_loop(0);
	ev_timer_init(&t, tick, 0.05, 0.05);
	ev_timer_start(loop, &t);
	U = 9000000000000LL + getpid() * 10LL;
	/* On a cluster: U's keys and its online bucket on other masters. */
	if (seeds != NULL && (map = malloc(sizeof(*map))) != NULL &&
	    read_map(seeds, map) == 0)
		for (; !apart; U += 2) {
			snprintf(cmd, sizeof(cmd), "rt:{u:%lld}", U);
			snprintf(bk, sizeof(bk), "rt:{o:%lld}", U % PS_BUCKETS);
			apart = master_of(map, cmd) != master_of(map, bk);
			if (apart)
				break;
		}
	free(map);
	V = U + 1;
	if (!tap_ok(url != NULL || seeds != NULL,
	    "REDIS_URL or REDIS_CLUSTER is set (this test needs Redis)"))
		return tap_done();

	memset(&o, 0, sizeof(o));
	o.url = url;
	o.cluster = seeds;
	o.cluster_pass = getenv("REDIS_CLUSTER_PASSWORD");
	o.node_id = 200 + getpid() % 50;
	o.on_msg = on_msg;
	o.on_up = on_up;
	o.on_offline = on_offline;
	o.want = want;
	o.arg = &p;
	p = ps_new(loop, &o);
	tap_ok(p != NULL && wait_for(&up_cmd, 1, 5) && wait_for(&up_sub, 1, 5),
	    "both connections up");
	if (seeds != NULL)
		tap_ok(apart, "U's keys and U's online bucket on two masters");
	settle(0.3);

	/* Presence: two sockets, one userOnline, one userOffline. */
	ps_presence_add(p, U, "00sockA", reply_cb, NULL);
	tap_ok(wait_for(&replies, 1, 3), "presence add answered");
	tap_ok(wait_for(&nonline, 1, 3), "userOnline on the first socket");
	ps_presence_add(p, U, "00sockB", NULL, NULL);
	settle(0.3);
	tap_int(nonline, 1, "no userOnline on the second socket");
	{
		long long	 who[2] = { U, U + 5 };

		ps_online_flags(p, who, 2, flags_cb, NULL);
		ps_online_users(p, users_cb, NULL);
		wait_for(&flags_ok, 1, 3);
		wait_for(&users_ok, 1, 3);
		tap_int(flags_ok, 1, "ps_online_flags: U online, U+5 not");
		tap_int(users_ok, 1, "ps_online_users has U");
	}
	ps_presence_del(p, U, "00sockA");
	settle(0.3);
	tap_int(noffline, 0, "no userOffline while one socket is left");
	ps_presence_del(p, U, "00sockB");
	tap_ok(wait_for(&noffline, 1, 3), "userOffline on the last socket");

	/* A per-user channel. */
	subscribed = 1;
	ps_sub_user(p, U);
	settle(0.3);
	ps_publish(p, U, "{\"x\":1}", 7);
	tap_ok(wait_for(&nmsg, 1, 3) && strcmp(lastmsg, "{\"x\":1}") == 0,
	    "rt:{u:<uid>} delivers");
	subscribed = 0;
	ps_unsub_user(p, U);

	/* A dead node: records but no heartbeat.  We reap it. */
	snprintf(vs, sizeof(vs), "%lld", V);
	snprintf(mem, sizeof(mem), "%lld:99deadsock", V);
	snprintf(cmd, sizeof(cmd), "rt:{n:%u}:socks", o.node_id + 50);
	snprintf(usk, sizeof(usk), "rt:{u:%lld}:socks", V);
	snprintf(onl, sizeof(onl), "rt:{o:%lld}:online", V % PS_BUCKETS);
	replies = 0;
	argv[0] = "SADD"; argv[1] = cmd; argv[2] = mem;
	ps_command(p, reply_cb, NULL, 3, argv, NULL);
	argv[1] = usk; argv[2] = "99deadsock";
	ps_command(p, reply_cb, NULL, 3, argv, NULL);
	argv[1] = onl; argv[2] = vs;
	ps_command(p, reply_cb, NULL, 3, argv, NULL);
	snprintf(mem, sizeof(mem), "%u", o.node_id + 50);
	argv[1] = "rt:nodes"; argv[2] = mem;
	ps_command(p, reply_cb, NULL, 3, argv, NULL);
	tap_ok(wait_for(&replies, 4, 3), "dead node staged");
	tap_ok(wait_for(&nreaped, 1, PS_HEARTBEAT * 3),
	    "the dead node is reaped, its user goes offline");
	settle(PS_HEARTBEAT + 0.5);
	tap_int(nreaped, 1, "only once");

	/* Our own records vanish (a Redis flush): the heartbeat notices. */
	snprintf(cmd, sizeof(cmd), "rt:{n:%u}:alive", o.node_id);
	argv[0] = "DEL"; argv[1] = cmd;
	ps_command(p, reply_cb, NULL, 2, argv, NULL);
	tap_ok(wait_for(&up_cmd, 2, PS_HEARTBEAT * 3),
	    "the owner is asked to sync again");
	if (dir != NULL)
		cluster_faults(p, dir);
	ps_presence_clear(p, NULL, NULL);
	settle(0.2);
	ps_free(p);
	return tap_done();
}
