/*
 * rcluster.c: chat-realtime's Redis as masters serving slots (see
 * rcluster.h).  Called by ps.c only; knows nothing of presence.  The
 * slot map comes from lib/redis_cluster.c (CLUSTER SLOTS parsed there);
 * connections are rconn.c.  Anything broken (a lost connection, MOVED,
 * a dropped subscription) schedules one "fix": read the map again (from
 * any known master, then the seeds), remake what is lost, tell the owner.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/log.h"
#include "lib/redis_cluster.h"
#include "lib/redis_util.h"
#include "realtime/chat/rcluster.h"
#include "realtime/chat/rconn.h"

struct	master {
	struct rconn	*cmd;
	struct rconn	*sub;
};

/* A command that may be redirected: its bytes are kept until answered. */
struct	rcmd {
	TAILQ_ENTRY(rcmd)	 entry;	/* parked until the next map */
	struct rcluster		*rcl;
	rconn_reply_cb		*cb;
	void			*arg;
	char			*buf;
	size_t			 len;
	unsigned int		 slot;
	int			 hops;
	int			 tries;		/* TRYAGAIN answers */
	int			 asking;
	struct redis_addr	 to;	/* where it was sent */
};
TAILQ_HEAD(rcmds, rcmd);

struct	rcluster {
	struct ev_loop		*loop;
	rcl_up_cb		*on_up;
	rcl_push_cb		*on_push;
	void			*arg;
	int			 cluster;	/* REDIS_CLUSTER, not URL */
	struct redis_url	 url;
	struct redis_addr	 seeds[REDIS_SEEDS_MAX];
	size_t			 nseeds;
	char			 pass[256];
	struct redis_slotmap	 map;
	struct master		 m[REDIS_MASTERS_MAX]; /* as map.masters */
	int			 mapped;	/* map holds a complete map */
	int			 ready;
	int			 resub;		/* RCL_UP_SUB owed */
	struct rconn		*ctl;		/* CLUSTER SLOTS in flight */
	struct redis_addr	 ctl_to;	/* the node it asks */
	unsigned int		 tries;		/* picks the next node asked */
	unsigned int		 round;		/* nodes failed in a row */
	unsigned int		 backoff;	/* ms */
	ev_timer		 fix;
	struct rcmds		 parked;
	struct rcmds		 later;		/* TRYAGAIN: resent soon */
	ev_timer		 retry;
	char			 error[160];
	struct rcluster_stats	 st;
	int			 stopping;
};

static void	 schedule(struct rcluster *, int);

static void
set_error(struct rcluster *rcl, const char *what, const char *why)
{
	snprintf(rcl->error, sizeof(rcl->error), "%s%s%s", what,
	    why != NULL && why[0] != '\0' ? ": " : "",
	    why != NULL ? why : "");
}

static int
find_master(const struct rcluster *rcl, const struct rconn *rc, int *sub)
{
	size_t	 i;

	for (i = 0; i < rcl->map.nmasters; i++) {
		if (rcl->m[i].cmd == rc) {
			*sub = 0;
			return (int)i;
		}
		if (rcl->m[i].sub == rc) {
			*sub = 1;
			return (int)i;
		}
	}
	return -1;
}

static void
check_ready(struct rcluster *rcl)
{
	size_t	 i;

	if (rcl->ready || !rcl->mapped)
		return;
	for (i = 0; i < rcl->map.nmasters; i++)
		if (rcl->m[i].cmd == NULL || rconn_state(rcl->m[i].cmd) != 1)
			return;
	rcl->ready = 1;
	rcl->backoff = RCL_BACKOFF_MIN;
	rcl->error[0] = '\0';
	log_info("rcluster: %zu master%s up", rcl->map.nmasters,
	    rcl->map.nmasters == 1 ? "" : "s");
	if (rcl->on_up != NULL)
		rcl->on_up(rcl->arg, RCL_UP_CMD);
}

static void
state_cb(void *arg, struct rconn *rc, int up)
{
	struct rcluster	*rcl = arg;
	const struct redis_addr *a;
	int		 i, sub;

	if ((i = find_master(rcl, rc, &sub)) == -1 || rcl->stopping)
		return;
	if (up) {
		if (!sub)
			check_ready(rcl);
		return;
	}
	a = &rcl->map.masters[i];
	rcl->st.errors++;
	set_error(rcl, "Redis connection lost", rconn_error(rc));
	log_warnx("rcluster: %s %s:%d: %s", sub ? "sub" : "cmd", a->host,
	    a->port, rconn_error(rc));
	if (sub)
		rcl->resub = 1;
	else
		rcl->ready = 0;
	schedule(rcl, 0);
}

static void
push_cb(void *arg, struct rconn *rc, redisReply *r)
{
	struct rcluster	*rcl = arg;

	if (rcl->on_push != NULL && !rcl->stopping)
		rcl->on_push(rcl->arg, r);
}

static struct rconn *
dial(struct rcluster *rcl, const struct redis_addr *a, int push)
{
	struct rconn_opts	 o;

	memset(&o, 0, sizeof(o));
	if (rcl->cluster) {
		o.host = a->host;
		o.port = a->port;
		o.pass = rcl->pass;
	} else {
		if (rcl->url.path[0] != '\0')
			o.path = rcl->url.path;
		else {
			o.host = rcl->url.host;
			o.port = rcl->url.port;
		}
		o.user = rcl->url.user;
		o.pass = rcl->url.pass;
		o.db = push ? 0 : rcl->url.db;
	}
	o.push = push;
	o.on_state = state_cb;
	o.on_push = push_cb;
	o.arg = rcl;
	return rconn_new(rcl->loop, &o);
}

/* Remake lost connections; a lost subscriber is left for RCL_UP_SUB. */
static void
ensure(struct rcluster *rcl)
{
	struct master	*m;
	size_t		 i;

	for (i = 0; i < rcl->map.nmasters; i++) {
		m = &rcl->m[i];
		if (m->sub != NULL && rconn_state(m->sub) == -1) {
			rconn_free(m->sub);
			m->sub = NULL;
			rcl->resub = 1;
		}
		if (m->cmd != NULL && rconn_state(m->cmd) != -1)
			continue;
		if (m->cmd != NULL) {
			rconn_free(m->cmd);
			rcl->st.reconnects++;
		}
		if ((m->cmd = dial(rcl, &rcl->map.masters[i], 0)) == NULL)
			schedule(rcl, 0);
	}
}

static void
send_rcmd(struct rcluster *, struct rcmd *);

/* Do a and b name the same masters for the same slots? */
static int
same_map(const struct redis_slotmap *a, const struct redis_slotmap *b)
{
	size_t	 i;

	if (a->nmasters != b->nmasters ||
	    memcmp(a->node, b->node, sizeof(a->node)) != 0)
		return 0;
	for (i = 0; i < a->nmasters; i++)
		if (a->masters[i].port != b->masters[i].port ||
		    strcmp(a->masters[i].host, b->masters[i].host) != 0)
			return 0;
	return 1;
}

/* Install a new map, keeping the connections of masters still in it. */
static void
apply(struct rcluster *rcl, const struct redis_slotmap *nm)
{
	struct master	 m[REDIS_MASTERS_MAX];
	struct rcmds	 parked;
	struct rcmd	*c;
	size_t		 i;
	int		 j, changed;

	changed = !rcl->mapped || !same_map(&rcl->map, nm);
	memset(m, 0, sizeof(m));
	for (i = 0; i < nm->nmasters; i++) {
		j = redis_slotmap_find(&rcl->map, nm->masters[i].host,
		    nm->masters[i].port);
		if (j != -1 && rcl->mapped) {
			m[i] = rcl->m[j];
			memset(&rcl->m[j], 0, sizeof(rcl->m[j]));
		}
	}
	for (i = 0; i < rcl->map.nmasters; i++) {
		if (rcl->m[i].sub != NULL) {
			rconn_free(rcl->m[i].sub);
			rcl->resub = 1;
		}
		rconn_free(rcl->m[i].cmd);
	}
	memcpy(rcl->m, m, sizeof(m));
	memcpy(&rcl->map, nm, sizeof(*nm));
	rcl->mapped = 1;
	if (changed) {
		rcl->resub = 1;
		rcl->ready = 0;
	}
	ensure(rcl);
	TAILQ_INIT(&parked);
	TAILQ_CONCAT(&parked, &rcl->parked, entry);
	while ((c = TAILQ_FIRST(&parked)) != NULL) {
		TAILQ_REMOVE(&parked, c, entry);
		send_rcmd(rcl, c);
	}
	if (rcl->resub && rcl->on_up != NULL) {
		rcl->resub = 0;
		rcl->on_up(rcl->arg, RCL_UP_SUB);
	}
	check_ready(rcl);
}

static void
slots_cb(void *arg, redisReply *r)
{
	struct rcluster		*rcl = arg;
	struct redis_slotmap	*nm = NULL;
	const char		*why = "connection lost";
	char			 lost[128];

	if (rcl->ctl == NULL)
		return;
	/* Why the node did not answer (WRONGPASS...), for ps_error. */
	snprintf(lost, sizeof(lost), "%s", rconn_error(rcl->ctl));
	if (lost[0] != '\0')
		why = lost;
	rconn_free(rcl->ctl);
	rcl->ctl = NULL;
	if (r != NULL && (nm = calloc(1, sizeof(*nm))) == NULL)
		why = "out of memory";
	else if (r != NULL && r->type == REDIS_REPLY_ERROR)
		why = r->str;
	else if (r != NULL && redis_slotmap_parse(nm, r,
	    rcl->ctl_to.host, &why) == 0) {
		if (redis_slotmap_complete(nm)) {
			rcl->st.refreshes++;
			rcl->round = 0;
			apply(rcl, nm);
			free(nm);
			return;
		}
		why = "not every slot is served";
	}
	free(nm);
	rcl->st.errors++;
	set_error(rcl, "Redis CLUSTER SLOTS", why);
	log_warnx("rcluster: %s:%d: %s", rcl->ctl_to.host, rcl->ctl_to.port,
	    rcl->error);
	/* Ask the next node at once; after a whole round, back off. */
	if (++rcl->round < rcl->map.nmasters + rcl->nseeds)
		schedule(rcl, 1);
	else {
		rcl->round = 0;
		schedule(rcl, 0);
	}
}

/* Ask the next node (a master we know, else a seed) for the map. */
static void
refresh(struct rcluster *rcl)
{
	const struct redis_addr *a;
	const char	*argv[2] = { "CLUSTER", "SLOTS" };
	size_t		 n = rcl->map.nmasters + rcl->nseeds, k;

	if (rcl->ctl != NULL)
		return;
	k = rcl->tries++ % n;
	a = k < rcl->map.nmasters ? &rcl->map.masters[k] :
	    &rcl->seeds[k - rcl->map.nmasters];
	rcl->ctl_to = *a;
	if ((rcl->ctl = dial(rcl, a, 0)) == NULL) {
		schedule(rcl, 0);
		return;
	}
	/* state_cb ignores it: it is no master's connection. */
	if (rconn_sendv(rcl->ctl, slots_cb, rcl, 2, argv, NULL) == -1) {
		rconn_free(rcl->ctl);
		rcl->ctl = NULL;
		schedule(rcl, 0);
	}
}

static void
fix_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rcluster		*rcl = w->data;
	struct redis_slotmap	*nm;

	if (rcl->cluster) {
		refresh(rcl);
		return;
	}
	if (!rcl->mapped) {
		if ((nm = calloc(1, sizeof(*nm))) == NULL) {
			schedule(rcl, 0);
			return;
		}
		redis_slotmap_single(nm, &rcl->seeds[0]);
		apply(rcl, nm);
		free(nm);
		return;
	}
	ensure(rcl);
	if (rcl->resub && rcl->on_up != NULL) {
		rcl->resub = 0;
		rcl->on_up(rcl->arg, RCL_UP_SUB);
	}
	check_ready(rcl);
}

/* Run fix_cb soon: at once if "now", else after the backoff. */
static void
schedule(struct rcluster *rcl, int now)
{
	if (rcl->stopping || ev_is_active(&rcl->fix))
		return;
	ev_timer_set(&rcl->fix, now ? 0. : rcl->backoff / 1000.0, 0.);
	ev_timer_start(rcl->loop, &rcl->fix);
	if (!now)
		rcl->backoff = rcl->backoff * 2 > RCL_BACKOFF_MAX ?
		    RCL_BACKOFF_MAX : rcl->backoff * 2;
}

/* Resend the commands Redis asked to try again (a slot migrating). */
static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rcluster	*rcl = w->data;
	struct rcmds	 later;
	struct rcmd	*c;

	TAILQ_INIT(&later);
	TAILQ_CONCAT(&later, &rcl->later, entry);
	while ((c = TAILQ_FIRST(&later)) != NULL) {
		TAILQ_REMOVE(&later, c, entry);
		send_rcmd(rcl, c);
	}
}

struct rcluster *
rcluster_new(struct ev_loop *loop, const struct rcluster_opts *o)
{
	struct rcluster	*rcl;
	const char	*why;
	int		 n;

	if ((rcl = calloc(1, sizeof(*rcl))) == NULL)
		return NULL;
	rcl->loop = loop;
	rcl->on_up = o->on_up;
	rcl->on_push = o->on_push;
	rcl->arg = o->arg;
	rcl->backoff = RCL_BACKOFF_MIN;
	TAILQ_INIT(&rcl->parked);
	TAILQ_INIT(&rcl->later);
	if (o->seeds != NULL && o->seeds[0] != '\0') {
		rcl->cluster = 1;
		if ((n = redis_seeds_parse(o->seeds, rcl->seeds,
		    REDIS_SEEDS_MAX, &why)) == -1) {
			log_warnx("rcluster: REDIS_CLUSTER: %s", why);
			free(rcl);
			return NULL;
		}
		rcl->nseeds = n;
		if (o->pass != NULL && strlen(o->pass) >= sizeof(rcl->pass)) {
			log_warnx("rcluster: REDIS_CLUSTER_PASSWORD too long");
			free(rcl);
			return NULL;
		}
		snprintf(rcl->pass, sizeof(rcl->pass), "%s",
		    o->pass != NULL ? o->pass : "");
	} else {
		if (redis_url_parse(o->url, &rcl->url, &why) == -1) {
			log_warnx("rcluster: %s", why);
			free(rcl);
			return NULL;
		}
		/* The one master's name: the socket path or host:port. */
		snprintf(rcl->seeds[0].host, sizeof(rcl->seeds[0].host), "%s",
		    rcl->url.path[0] != '\0' ? rcl->url.path : rcl->url.host);
		rcl->seeds[0].port = rcl->url.port;
		rcl->nseeds = 1;
	}
	set_error(rcl, "Redis is not connected", NULL);
	ev_timer_init(&rcl->fix, fix_cb, 0., 0.);
	rcl->fix.data = rcl;
	ev_timer_init(&rcl->retry, retry_cb, RCL_TRYAGAIN_WAIT, 0.);
	rcl->retry.data = rcl;
	schedule(rcl, 1);
	return rcl;
}

void
rcluster_free(struct rcluster *rcl)
{
	struct rcmd	*c;
	size_t		 i;

	if (rcl == NULL)
		return;
	rcl->stopping = 1;
	ev_timer_stop(rcl->loop, &rcl->fix);
	ev_timer_stop(rcl->loop, &rcl->retry);
	TAILQ_CONCAT(&rcl->parked, &rcl->later, entry);
	rconn_free(rcl->ctl);
	for (i = 0; i < rcl->map.nmasters; i++) {
		rconn_free(rcl->m[i].cmd);
		rconn_free(rcl->m[i].sub);
	}
	while ((c = TAILQ_FIRST(&rcl->parked)) != NULL) {
		TAILQ_REMOVE(&rcl->parked, c, entry);
		if (c->cb != NULL)
			c->cb(c->arg, NULL);
		free(c->buf);
		free(c);
	}
	explicit_bzero(rcl->pass, sizeof(rcl->pass));
	explicit_bzero(&rcl->url, sizeof(rcl->url));
	free(rcl);
}

int
rcluster_ready(const struct rcluster *rcl)
{
	return rcl->ready;
}

const char *
rcluster_error(const struct rcluster *rcl)
{
	size_t	 i;

	if (!rcl->ready)
		return rcl->error[0] != '\0' ? rcl->error :
		    "Redis is not connected";
	for (i = 0; i < rcl->map.nmasters; i++)
		if (rcl->m[i].sub != NULL && rconn_state(rcl->m[i].sub) != 1)
			return "Redis subscriber is not connected";
	return NULL;
}

void
rcluster_stats(const struct rcluster *rcl, struct rcluster_stats *st)
{
	*st = rcl->st;
}

unsigned int
rcluster_slot(const char *key, size_t len)
{
	return redis_key_slot(key, len);
}

/* The command connection of slot's master, or NULL. */
static struct rconn *
route(struct rcluster *rcl, unsigned int slot)
{
	uint16_t	 i;

	if (!rcl->mapped || slot >= REDIS_SLOTS ||
	    (i = rcl->map.node[slot]) == REDIS_NO_NODE ||
	    i >= rcl->map.nmasters)
		return NULL;
	return rcl->m[i].cmd;
}

static void	 rcmd_cb(void *, redisReply *);

static void
rcmd_done(struct rcmd *c, redisReply *r)
{
	if (c->cb != NULL)
		c->cb(c->arg, r);
	free(c->buf);
	free(c);
}

/* Send (or resend) c to its slot's master, or to c->to if asking. */
static void
send_rcmd(struct rcluster *rcl, struct rcmd *c)
{
	struct rconn	*rc = NULL;
	const char	*asking = "*1\r\n$6\r\nASKING\r\n";
	int		 i;

	if (c->asking) {
		if ((i = redis_slotmap_find(&rcl->map, c->to.host,
		    c->to.port)) != -1)
			rc = rcl->m[i].cmd;
		if (rc != NULL && rconn_send(rc, NULL, NULL, asking,
		    strlen(asking)) == -1)
			rc = NULL;
	} else if ((rc = route(rcl, c->slot)) != NULL)
		c->to = rcl->map.masters[rcl->map.node[c->slot]];
	if (rc == NULL || rconn_send(rc, rcmd_cb, c, c->buf, c->len) == -1)
		rcmd_done(c, NULL);
}

static void
rcmd_cb(void *arg, redisReply *r)
{
	struct rcmd	*c = arg;
	struct rcluster	*rcl = c->rcl;
	enum redis_redirect rd;
	struct redis_addr to;
	unsigned int	 slot;
	int		 i;

	c->asking = 0;
	if (r == NULL || r->type != REDIS_REPLY_ERROR || c->hops >= RCL_HOPS ||
	    rcl->stopping) {
		rcmd_done(c, r);
		return;
	}
	/* A multi-key command while its slot migrates: soon again. */
	if (r->len >= 8 && memcmp(r->str, "TRYAGAIN", 8) == 0 &&
	    c->tries < RCL_TRYAGAIN) {
		c->tries++;
		c->hops = 0;	/* each try may be asked elsewhere again */
		TAILQ_INSERT_TAIL(&rcl->later, c, entry);
		if (!ev_is_active(&rcl->retry)) {
			ev_timer_set(&rcl->retry, RCL_TRYAGAIN_WAIT, 0.);
			ev_timer_start(rcl->loop, &rcl->retry);
		}
		return;
	}
	rd = redis_redirect_parse(r->str, r->len, c->to.host, &slot, &to);
	if (rd == REDIS_REDIRECT_NONE || slot != c->slot) {
		rcmd_done(c, r);
		return;
	}
	c->hops++;
	rcl->st.redirects++;
	i = redis_slotmap_find(&rcl->map, to.host, to.port);
	if (rd == REDIS_REDIRECT_ASK) {
		c->asking = 1;
		c->to = to;
		if (i == -1) {
			rcmd_done(c, r);
			return;
		}
		send_rcmd(rcl, c);
		return;
	}
	/* MOVED: read the map again; meanwhile go where we were told. */
	schedule(rcl, 1);
	if (i == -1) {
		TAILQ_INSERT_TAIL(&rcl->parked, c, entry);
		return;
	}
	rcl->map.node[slot] = i;
	send_rcmd(rcl, c);
}

int
rcluster_command(struct rcluster *rcl, unsigned int slot, rconn_reply_cb *cb,
    void *arg, int argc, const char **argv, const size_t *argvlen)
{
	struct rconn	*rc;
	struct rcmd	*c;
	char		*buf = NULL;
	int		 len;

	if ((rc = route(rcl, slot)) == NULL || rconn_state(rc) == -1)
		return -1;
	if (!rcl->cluster)	/* never redirected */
		return rconn_sendv(rc, cb, arg, argc, argv, argvlen);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((len = redisFormatCommandArgv(&buf, argc, argv, argvlen)) < 0) {
		free(c);
		return -1;
	}
	c->rcl = rcl;
	c->cb = cb;
	c->arg = arg;
	c->buf = buf;
	c->len = len;
	c->slot = slot;
	c->to = rcl->map.masters[rcl->map.node[slot]];
	if (rconn_send(rc, rcmd_cb, c, buf, len) == -1) {
		free(buf);
		free(c);
		return -1;
	}
	return 0;
}

int
rcluster_subscribe(struct rcluster *rcl, const char *cmd, const char *ch,
    size_t len)
{
	struct master	*m;
	const char	*argv[2] = { cmd, ch };
	size_t		 argvlen[2] = { strlen(cmd), len };
	unsigned int	 slot = redis_key_slot(ch, len);
	uint16_t	 i;

	if (!rcl->mapped || (i = rcl->map.node[slot]) == REDIS_NO_NODE ||
	    i >= rcl->map.nmasters)
		return -1;
	m = &rcl->m[i];
	if (m->sub == NULL || rconn_state(m->sub) == -1) {
		if (strcmp(cmd, "SUNSUBSCRIBE") == 0)
			return 0;	/* nothing there to leave */
		rconn_free(m->sub);
		if ((m->sub = dial(rcl, &rcl->map.masters[i], 1)) == NULL) {
			schedule(rcl, 0);
			return -1;
		}
	}
	return rconn_sendv(m->sub, NULL, NULL, 2, argv, argvlen);
}

void
rcluster_refresh(struct rcluster *rcl)
{
	rcl->resub = 1;
	schedule(rcl, 0);
}
