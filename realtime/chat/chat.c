/*
 * chat.c: the chat layer's life cycle: chat_new (connections to PostgreSQL
 * and Redis), graceful stop, free and /healthz.  PostgreSQL settings come
 * as libpq keywords and values (conf_pg_params, conf_pg_read_params for
 * the read standby, lib/conf.h): nothing is quoted by hand.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

/*
 * Life cycle.
 */

struct chat *
chat_new(struct ev_loop *loop, const struct conf *conf, unsigned int node)
{
	struct chat	*c;
	struct ps_opts	 po;
	struct conf_pg	 pg, rpg;
	struct dbread_opts ro;
	char		 name[8];
	size_t		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->conf = conf;
	c->node = node;
	TAILQ_INIT(&c->all);
	for (i = 0; i < WRITERS; i++)
		TAILQ_INIT(&c->sendq[i]);
	/* Before pgq's own prepare watcher, which sends what is queued. */
	ev_prepare_init(&c->sendprep, sendprep_cb);
	ev_set_priority(&c->sendprep, EV_MAXPRI);
	c->sendprep.data = c;
	TAILQ_INIT(&c->connq);
	TAILQ_INIT(&c->connecting);
	ev_prepare_init(&c->userprep, userprep_cb);
	ev_set_priority(&c->userprep, EV_MAXPRI);
	c->userprep.data = c;
	conf_pg_params(conf, "chat-realtime", "5", &pg);
	if ((c->pw = pgq_new(loop, pg.keys, pg.vals, chat_sql, S__MAX,
	    "w")) == NULL ||
	    (c->pr = pgq_new(loop, pg.keys, pg.vals, chat_sql, S__MAX,
	    "r")) == NULL)
		goto fail;
	c->pm[0] = c->pw;
	for (i = 1; i < WRITERS; i++) {
		snprintf(name, sizeof(name), "w%zu", i);
		if ((c->pm[i] = pgq_new(loop, pg.keys, pg.vals, chat_sql,
		    S__MAX, name)) == NULL)
			goto fail;
	}
	if (conf_pg_read_params(conf, "chat-realtime", "5", &rpg) == 0) {
		memset(&ro, 0, sizeof(ro));
		ro.pkeys = pg.keys;
		ro.pvals = pg.vals;
		ro.skeys = rpg.keys;
		ro.svals = rpg.vals;
		ro.sqls = chat_sql;
		ro.nsql = S__MAX;
		ro.primary = c->pr;
		ro.max_lag_ms = conf->db_read_max_lag_ms;
		if ((c->rd = dbread_new(loop, &ro)) == NULL)
			goto fail;
	}
	memset(&po, 0, sizeof(po));
	po.url = conf->redis_url;
	po.cluster = conf->redis_cluster;
	po.cluster_pass = conf->redis_cluster_pass;
	po.node_id = node;
	presence_opts(c, &po);
	if ((c->ps = ps_new(loop, &po)) == NULL)
		goto fail;
	ev_timer_init(&c->sweep, sweep_cb, 1., 1.);
	c->sweep.data = c;
	ev_timer_start(loop, &c->sweep);
	return c;
fail:
	log_warnx("chat: cannot start");
	chat_free(c);
	return NULL;
}

static void
stop_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chat	*c = w->data;

	if ((c->stop_cleared && c->outstanding == 0) ||
	    ev_now(loop) >= c->stop_deadline) {
		ev_timer_stop(loop, w);
		if (c->stop_done != NULL)
			c->stop_done(c->stop_arg);
	}
}

static void
cleared_cb(void *arg, const redisReply *r)
{
	struct chat	*c = arg;
	size_t		 i;
	long long	 uid;
	char		*end;

	if (r != NULL && r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++) {
			if (r->element[i]->type == REDIS_REPLY_INTEGER)
				uid = r->element[i]->integer;
			else if (r->element[i]->type == REDIS_REPLY_STRING) {
				uid = strtoll(r->element[i]->str, &end, 10);
				if (*end != '\0')
					continue;
			} else
				continue;
			if (uid > 0)
				write_lastseen(c, uid);
		}
	c->stop_cleared = 1;
}

void
chat_stop(struct chat *c, unsigned int grace_ms, void (*done)(void *),
    void *arg)
{
	c->stopping = 1;
	c->stop_done = done;
	c->stop_arg = arg;
	c->stop_deadline = ev_now(c->loop) + grace_ms / 1000.0;
	if (ps_presence_clear(c->ps, cleared_cb, c) == -1)
		c->stop_cleared = 1;
	ev_timer_init(&c->stop_timer, stop_tick, 0.02, 0.02);
	c->stop_timer.data = c;
	ev_timer_start(c->loop, &c->stop_timer);
}

void
chat_free(struct chat *c)
{
	struct cuser	*u;
	struct csock	*cs;
	struct op	*op;
	size_t		 i;

	if (c == NULL)
		return;
	ev_prepare_stop(c->loop, &c->sendprep);
	ev_prepare_stop(c->loop, &c->userprep);
	connq_free(c);
	presence_fan_free(c);
	for (i = 0; i < WRITERS; i++)
		while ((op = TAILQ_FIRST(&c->sendq[i])) != NULL) {
			TAILQ_REMOVE(&c->sendq[i], op, wentry);
			op_free(op);
		}
	ev_timer_stop(c->loop, &c->stop_timer);
	ev_timer_stop(c->loop, &c->sweep);
	while ((cs = TAILQ_FIRST(&c->all)) != NULL) {
		TAILQ_REMOVE(&c->all, cs, aentry);
		sio_socket_set_data(cs->s, NULL);
		free(cs);
	}
	for (i = 0; i < USER_BUCKETS; i++)
		while ((u = c->users[i]) != NULL)
			user_free(c, u);
	presence_prune(c, 1);
	bcast_clear(c);
	free(c->bcast);
	c->bcast = NULL;
	dbread_free(c->rd);	/* may hand reads to c->pr: first */
	for (i = 1; i < WRITERS; i++)
		pgq_free(c->pm[i]);
	pgq_free(c->pw);
	pgq_free(c->pr);
	ps_free(c->ps);
	free(c);
}

void
chat_health(void *arg, struct metrics_health *h)
{
	struct chat	*c = arg;
	size_t		 i;

	h->db_up = pgq_ready(c->pr);
	for (i = 0; i < WRITERS; i++)
		if (c->pm[i] != NULL && !pgq_ready(c->pm[i]))
			h->db_up = 0;
	h->redis_error = ps_error(c->ps);
	h->redis_up = h->redis_error == NULL;
	h->db_read = c->rd != NULL ? dbread_state(c->rd) : NULL;
}
