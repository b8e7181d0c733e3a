/*
 * t/ps.c: realtime/chat/ps.c against a real Redis (REDIS_URL from the
 * environment): presence scripts announce userOnline/userOffline exactly
 * once per user across sockets, per-user channels deliver, and the
 * heartbeat reaps a node that stopped beating (sending the userOffline
 * it owed: whichever live node reaps it, chat-realtime's included).
 * Uses node ids 200+ and user ids far above any real one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "tap.h"
#include "lib/log.h"
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

static void
on_up(void *arg, int sub)
{
	struct ps	*p = *(struct ps **)arg;

	if (sub)
		up_sub++;
	else {
		up_cmd++;
		ps_presence_sync(p, NULL, 0);
	}
}

static void
on_offline(void *arg, long long uid)
{
}

static int
want(void *arg, long long uid)
{
	return uid == U;
}

static void
tick(struct ev_loop *l, ev_timer *w, int revents)
{
}

static int	 replies;

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

int
main(void)
{
	struct ps	*p = NULL;
	struct ps_opts	 o;
	ev_timer	 t;
	char		 cmd[64], mem[64], usk[64], onl[64], vs[32];
	const char	*url = getenv("REDIS_URL");
	const char	*argv[4];

	log_init("ps-test");
	tap_plan(12);
	loop = ev_default_loop(0);
	ev_timer_init(&t, tick, 0.05, 0.05);
	ev_timer_start(loop, &t);
	U = 9000000000000LL + getpid() * 10LL;
	V = U + 1;
	if (!tap_ok(url != NULL, "REDIS_URL is set (this test needs Redis)"))
		return tap_done();

	memset(&o, 0, sizeof(o));
	o.url = url;
	o.node_id = 200 + getpid() % 50;
	o.on_msg = on_msg;
	o.on_up = on_up;
	o.on_offline = on_offline;
	o.want = want;
	o.arg = &p;
	p = ps_new(loop, &o);
	tap_ok(p != NULL && wait_for(&up_cmd, 1, 5) && wait_for(&up_sub, 1, 5),
	    "both connections up");
	settle(0.3);

	/* Presence: two sockets, one userOnline, one userOffline. */
	ps_presence_add(p, U, "00sockA", reply_cb, NULL);
	tap_ok(wait_for(&replies, 1, 3), "presence add answered");
	tap_ok(wait_for(&nonline, 1, 3), "userOnline on the first socket");
	ps_presence_add(p, U, "00sockB", NULL, NULL);
	settle(0.3);
	tap_int(nonline, 1, "no userOnline on the second socket");
	ps_presence_del(p, U, "00sockA");
	settle(0.3);
	tap_int(noffline, 0, "no userOffline while one socket is left");
	ps_presence_del(p, U, "00sockB");
	tap_ok(wait_for(&noffline, 1, 3), "userOffline on the last socket");

	/* A per-user channel. */
	ps_sub_user(p, U);
	settle(0.3);
	ps_publish(p, U, "{\"x\":1}", 7);
	tap_ok(wait_for(&nmsg, 1, 3) && strcmp(lastmsg, "{\"x\":1}") == 0,
	    "rt:{u:<uid>} delivers");
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
	ps_presence_clear(p, NULL, NULL);
	settle(0.2);
	ps_free(p);
	return tap_done();
}
