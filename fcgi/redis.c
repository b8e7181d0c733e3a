/*
 * redis.c: a chat-fcgi worker's blocking Redis client (see redis.h):
 * one connection to the server of REDIS_URL, or a small Redis Cluster
 * client for REDIS_CLUSTER.  The cluster half keeps the slot map read
 * with CLUSTER SLOTS from any node that answers (known masters first,
 * then the seeds), one connection per master opened when a command
 * first needs it, and sends each command to its key's master.  A MOVED
 * answer patches the map, reloads it (at most every REDIS_RELOAD_MS) and
 * resends; ASK sends ASKING and the command to the node named, once; a
 * lost link (a master died, Redis restarted) is dropped, the map
 * reloaded and the command sent once more, so a failover costs the
 * requests in its window an error, never a hang.  Commands stay
 * formatted until their reply is read, to be resent; replies of other
 * commands in flight on a link are read ahead before a resend there, so
 * replies never swap.  The parsing is lib/redis_cluster.c's.
 * Used by chat-fcgi's workers, its start-up check and t/rl*-test.
 * Spec: Redis Cluster specification, "Redirection and resharding".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis.h>

#include "fcgi/redis.h"
#include "lib/log.h"
#include "lib/ts.h"
#include "lib/redis_cluster.h"

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

/*
 * redis_connect; "cluster" says which setting a refused password or
 * database comes from, for the operator.
 */
static redisContext *
dial(const struct redis_url *u, int cluster, const char **why)
{
	redisContext	*c = NULL;
	struct timeval	 tv = { REDIS_TIMEOUT_MS / 1000,
	    (REDIS_TIMEOUT_MS % 1000) * 1000 };
	redisReply	*r;
	const char	*dummy;

	if (why == NULL)
		why = &dummy;
	*why = cluster ? "cannot connect to a Redis Cluster node" :
	    "cannot connect to Redis";
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
		if (expect_ok(c, r, "AUTH", cluster ? "the Redis Cluster "
		    "refused REDIS_CLUSTER_PASSWORD" : "Redis refused the "
		    "password in REDIS_URL", "Redis did not answer AUTH",
		    why) == -1)
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

redisContext *
redis_connect(const struct redis_url *u, const char **why)
{
	return dial(u, 0, why);
}

/* "host:port" of master i, for the log. */
static const char *
node_name(const struct redis *rd, int i, char *buf, size_t bufsz)
{
	if (!rd->cluster || i < 0 || (size_t)i >= rd->map->nmasters)
		snprintf(buf, bufsz, "redis");
	else
		snprintf(buf, bufsz, "%s:%d", rd->map->masters[i].host,
		    rd->map->masters[i].port);
	return buf;
}

/*
 * Close link i.  Commands in flight on it whose replies were not read
 * are lost: their redis_recv sends them again.
 */
static void
link_drop(struct redis *rd, int i)
{
	size_t	 k;

	if (rd->conn[i] != NULL)
		redisFree(rd->conn[i]);
	rd->conn[i] = NULL;
	for (k = 0; k < rd->ninflight; k++)
		if (rd->inflight[k]->node == i &&
		    rd->inflight[k]->early == NULL)
			rd->inflight[k]->node = -1;
}

/* Link i, connected (and AUTH sent) if need be; NULL (logged, why). */
static redisContext *
link_get(struct redis *rd, int i)
{
	struct redis_url	 u;

	if (rd->conn[i] != NULL && rd->conn[i]->err != 0)
		link_drop(rd, i);
	if (rd->conn[i] != NULL)
		return rd->conn[i];
	if (!rd->cluster)
		rd->conn[i] = dial(&rd->url, 0, &rd->why);
	else {
		memset(&u, 0, sizeof(u));
		memcpy(u.host, rd->map->masters[i].host, sizeof(u.host));
		u.port = rd->map->masters[i].port;
		memcpy(u.pass, rd->pass, sizeof(u.pass));
		rd->conn[i] = dial(&u, 1, &rd->why);
		explicit_bzero(u.pass, sizeof(u.pass));
	}
	return rd->conn[i];
}

/*
 * After a failure on link i: close it and say whether the command may
 * be tried once more.  A single Redis: only when the link had been
 * closed under us (Redis restarted, an idle timeout) or timed out; a
 * cluster: always (a master may have just been replaced).
 */
static int
link_failed(struct redis *rd, int i)
{
	int	 e = rd->conn[i] != NULL ? rd->conn[i]->err : 0;

	link_drop(rd, i);
	return rd->cluster || e == REDIS_ERR_EOF || e == REDIS_ERR_IO;
}

/* 1 if a command other than "except" awaits its reply on link i. */
static int
link_busy(const struct redis *rd, int i, const struct redis_cmd *except)
{
	size_t	 k;

	for (k = 0; k < rd->ninflight; k++)
		if (rd->inflight[k] != except && rd->inflight[k]->node == i &&
		    rd->inflight[k]->early == NULL)
			return 1;
	return 0;
}

/*
 * CLUSTER SLOTS at "a" into m: on our link to it when that is idle,
 * else on a connection of its own.  Returns 0, or -1 (logged).
 */
static int
load_from(struct redis *rd, struct redis_slotmap *m,
    const struct redis_addr *a)
{
	struct redis_url	 u;
	redisContext		*c = NULL;
	redisReply		*r = NULL;
	const char		*why;
	int			 i, own = 0, rc = -1;

	i = redis_slotmap_find(rd->map, a->host, a->port);
	if (i >= 0 && rd->conn[i] != NULL && rd->conn[i]->err == 0 &&
	    !link_busy(rd, i, NULL))
		c = rd->conn[i];
	else {
		memset(&u, 0, sizeof(u));
		memcpy(u.host, a->host, sizeof(u.host));
		u.port = a->port;
		memcpy(u.pass, rd->pass, sizeof(u.pass));
		c = dial(&u, 1, &rd->why);
		explicit_bzero(u.pass, sizeof(u.pass));
		if (c == NULL)
			goto out;
		own = 1;
	}
	if ((r = redisCommand(c, "CLUSTER SLOTS")) == NULL) {
		log_warnx("redis %s:%d: CLUSTER SLOTS: %s", a->host, a->port,
		    c->errstr);
		rd->why = "a Redis Cluster node did not answer CLUSTER SLOTS";
		if (!own)
			link_drop(rd, i);
		goto out;
	}
	if (redis_slotmap_parse(m, r, a->host, &why) == -1) {
		log_warnx("redis %s:%d: %s", a->host, a->port, why);
		rd->why = why;
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (own && c != NULL)
		redisFree(c);
	return rc;
}

/*
 * Reload the slot map from the first node that answers: the masters we
 * know, then the seeds.  Links to nodes still masters are kept (the
 * commands in flight on them follow their new index), the others
 * closed.  Not again within REDIS_RELOAD_MS of the last try.  Returns
 * 0 if reloaded, else -1 (logged; the old map stays).
 */
static int
map_load(struct redis *rd)
{
	struct redis_slotmap	*m = NULL;
	redisContext		*nc[REDIS_MASTERS_MAX];
	int			 remap[REDIS_MASTERS_MAX];
	size_t			 i, k, nold;
	int			 j, rc = -1, done = 0;

	if ((rd->load_at.tv_sec != 0 || rd->load_at.tv_nsec != 0) &&
	    ts_ms_since(&rd->load_at) < REDIS_RELOAD_MS) {
		if (!rd->mapped)
			rd->why = "no Redis Cluster node answered";
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &rd->load_at);
	if ((m = malloc(sizeof(*m))) == NULL) {
		log_warn("malloc");
		rd->why = "out of memory";
		return -1;
	}
	/* Masters with a link first: no connect needed. */
	for (k = 0; k < 2 && !done; k++)
		for (i = 0; i < rd->map->nmasters && !done; i++)
			if ((rd->conn[i] != NULL) == (k == 0))
				done = load_from(rd, m,
				    &rd->map->masters[i]) == 0;
	for (i = 0; i < rd->nseeds && !done; i++)
		done = load_from(rd, m, &rd->seeds[i]) == 0;
	if (!done) {
		log_warnx("redis: no node of REDIS_CLUSTER gave a slot map");
		if (!rd->mapped || rd->why == NULL)
			rd->why = "no Redis Cluster node answered";
		goto out;
	}
	memset(nc, 0, sizeof(nc));
	nold = rd->map->nmasters;
	for (i = 0; i < nold; i++) {
		j = redis_slotmap_find(m, rd->map->masters[i].host,
		    rd->map->masters[i].port);
		if (j < 0 && rd->conn[i] != NULL)
			link_drop(rd, (int)i);
		remap[i] = j;
		if (j >= 0)
			nc[j] = rd->conn[i];
	}
	for (k = 0; k < rd->ninflight; k++)
		if (rd->inflight[k]->node >= 0)
			rd->inflight[k]->node = remap[rd->inflight[k]->node];
	memcpy(rd->conn, nc, sizeof(nc));
	memcpy(rd->map, m, sizeof(*m));
	rd->mapped = 1;
	rc = 0;
out:
	free(m);
	return rc;
}

/*
 * The master index of host:port, added to the map's list (serving no
 * slot yet) when it is new, as a redirection may name a node the map
 * does not know.  Returns the index, or -1 (logged).
 */
static int
node_add(struct redis *rd, const struct redis_addr *a)
{
	int	 i;

	if ((i = redis_slotmap_find(rd->map, a->host, a->port)) >= 0)
		return i;
	if (rd->map->nmasters == REDIS_MASTERS_MAX) {
		log_warnx("redis: too many cluster nodes");
		rd->why = "too many Redis Cluster nodes";
		return -1;
	}
	rd->map->masters[rd->map->nmasters] = *a;
	return (int)rd->map->nmasters++;
}

/* The link index serving "slot", or -1 (why set). */
static int
slot_node(struct redis *rd, unsigned int slot)
{
	if (!rd->cluster)
		return 0;
	if (!rd->mapped && map_load(rd) == -1)
		return -1;
	if (rd->map->node[slot] == REDIS_NO_NODE && map_load(rd) == -1)
		return -1;
	if (rd->map->node[slot] == REDIS_NO_NODE) {
		rd->why = "a Redis Cluster slot is not served";
		return -1;
	}
	return rd->map->node[slot];
}

/*
 * Read the replies still due on link i ahead of q's resend there, each
 * into its command's "early".  A failure drops the link (they are lost,
 * and sent again by their own redis_recv).
 */
static void
drain(struct redis *rd, int i, const struct redis_cmd *q)
{
	size_t	 k;
	void	*v;

	for (k = 0; k < rd->ninflight && rd->conn[i] != NULL; k++) {
		if (rd->inflight[k] == q || rd->inflight[k]->node != i ||
		    rd->inflight[k]->early != NULL)
			continue;
		v = NULL;
		if (redisGetReply(rd->conn[i], &v) != REDIS_OK || v == NULL) {
			link_drop(rd, i);
			return;
		}
		rd->inflight[k]->early = v;
	}
}

/*
 * Write q (after ASKING if "asking") on link i and flush it.  A first
 * send goes behind the commands in flight, whose replies are read in
 * the order of the sends; a resend ("resend": from redis_recv) passes
 * them, so their replies are read ahead first (drain).  Returns 0
 * (q->node = i), or -1 (logged; the link has c->err set or is gone).
 */
static int
put(struct redis *rd, int i, struct redis_cmd *q, int asking, int resend)
{
	redisContext	*c;
	char		 name[300];
	int		 done = 0;

	if (resend)
		drain(rd, i, q);
	if ((c = link_get(rd, i)) == NULL)
		return -1;
	if ((asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
	    redisAppendFormattedCommand(c, q->buf, q->len) != REDIS_OK)
		goto fail;
	/* redis_hold: queued; written by redis_release or redis_recv. */
	if (rd->hold) {
		q->node = i;
		return 0;
	}
	/* On the wire now, so the caller's next round trip overlaps it. */
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			goto fail;
	q->node = i;
	return 0;
fail:
	log_warnx("%s: %s", node_name(rd, i, name, sizeof(name)), c->errstr);
	rd->why = "Redis failed";
	return -1;
}

int
redis_init(struct redis *rd, const char *url, const char *cluster,
    const char *pass, const char **why)
{
	int	 n;

	memset(rd, 0, sizeof(*rd));
	if (cluster == NULL || *cluster == '\0')
		return redis_url_parse(url, &rd->url, why);
	rd->cluster = 1;
	if ((n = redis_seeds_parse(cluster, rd->seeds, REDIS_SEEDS_MAX,
	    why)) == -1)
		return -1;
	rd->nseeds = (size_t)n;
	if (pass != NULL && strlen(pass) >= sizeof(rd->pass)) {
		*why = "REDIS_CLUSTER_PASSWORD is too long";
		return -1;
	}
	if (pass != NULL)
		memcpy(rd->pass, pass, strlen(pass) + 1);
	if ((rd->map = calloc(1, sizeof(*rd->map))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

void
redis_free(struct redis *rd)
{
	size_t	 i;

	for (i = 0; i < REDIS_MASTERS_MAX; i++)
		if (rd->conn[i] != NULL)
			redisFree(rd->conn[i]);
	free(rd->map);
	explicit_bzero(rd, sizeof(*rd));
}

/* Take q off the list of commands in flight. */
static void
inflight_del(struct redis *rd, const struct redis_cmd *q)
{
	size_t	 k;

	for (k = 0; k < rd->ninflight; k++)
		if (rd->inflight[k] == q) {
			memmove(&rd->inflight[k], &rd->inflight[k + 1],
			    (rd->ninflight - k - 1) * sizeof(rd->inflight[0]));
			rd->ninflight--;
			return;
		}
}

int
redis_send(struct redis *rd, struct redis_cmd *q, const char *key,
    size_t keylen, int argc, const char **argv, const size_t *argvlen)
{
	int	 i, n, try;

	memset(q, 0, sizeof(*q));
	q->node = -1;
	if (rd->ninflight == REDIS_INFLIGHT_MAX) {
		log_warnx("redis: too many commands in flight");
		rd->why = "too many commands in flight";
		return -1;
	}
	if ((n = redisFormatCommandArgv(&q->buf, argc, argv, argvlen)) < 0) {
		log_warnx("redis: cannot format a command");
		rd->why = "out of memory";
		return -1;
	}
	q->len = (size_t)n;
	q->slot = rd->cluster ? redis_key_slot(key, keylen) : 0;
	for (try = 0; try < 2; try++) {
		if ((i = slot_node(rd, q->slot)) == -1)
			break;
		if (put(rd, i, q, 0, 0) == 0) {
			rd->inflight[rd->ninflight++] = q;
			return 0;
		}
		if (!link_failed(rd, i))
			break;
		if (rd->cluster)
			(void)map_load(rd);
	}
	redisFreeCommand(q->buf);
	q->buf = NULL;
	return -1;
}

redisReply *
redis_recv(struct redis *rd, struct redis_cmd *q)
{
	redisReply		*r;
	struct redis_addr	 to;
	enum redis_redirect	 kind;
	unsigned int		 slot;
	char			 name[300];
	void			*v;
	int			 i, hops = 0, asking = 0;

	inflight_del(rd, q);
	r = q->early;
	q->early = NULL;
	i = q->node;
	if (q->buf == NULL) {
		rd->why = "no command was sent";
		goto fail;
	}
	for (;;) {
		if (r == NULL && i >= 0) {
			v = NULL;
			if (redisGetReply(rd->conn[i], &v) == REDIS_OK &&
			    v != NULL)
				r = v;
			else {
				log_warnx("%s: %s", node_name(rd, i, name,
				    sizeof(name)), rd->conn[i]->errstr);
				rd->why = "Redis failed";
				if (!link_failed(rd, i))
					goto fail;
				i = -1;
				asking = 0;	/* resent without it */
			}
		}
		if (r == NULL) {
			/* Lost with its link: send it once more. */
			if (q->retried)
				goto fail;
			q->retried = 1;
			if (rd->cluster)
				(void)map_load(rd);
			if ((i = slot_node(rd, q->slot)) == -1)
				goto fail;
			if (put(rd, i, q, 0, 1) == -1) {
				(void)link_failed(rd, i);
				goto fail;
			}
			continue;
		}
		if (asking) {
			/* ASKING's +OK: the command's reply comes next. */
			asking = 0;
			freeReplyObject(r);
			r = NULL;
			continue;
		}
		if (!rd->cluster || r->type != REDIS_REPLY_ERROR)
			break;
		kind = redis_redirect_parse(r->str, r->len,
		    i >= 0 ? rd->map->masters[i].host : NULL, &slot, &to);
		if (kind == REDIS_REDIRECT_NONE)
			break;
		if (++hops > REDIS_REDIRECTS_MAX) {
			log_warnx("redis: more than %d redirections: %s",
			    REDIS_REDIRECTS_MAX, r->str);
			rd->why = "too many Redis Cluster redirections";
			goto fail;
		}
		freeReplyObject(r);
		r = NULL;
		if (kind == REDIS_REDIRECT_MOVED) {
			/* The slot lives there now; the others may too. */
			(void)map_load(rd);
			if ((i = node_add(rd, &to)) == -1)
				goto fail;
			rd->map->node[slot] = (uint16_t)i;
			if (slot != q->slot &&
			    (i = slot_node(rd, q->slot)) == -1)
				goto fail;
		} else if ((i = node_add(rd, &to)) == -1)
			goto fail;
		asking = kind == REDIS_REDIRECT_ASK;
		if (put(rd, i, q, asking, 1) == -1) {
			asking = 0;
			if (!link_failed(rd, i))
				goto fail;
			i = -1;
		}
	}
	redisFreeCommand(q->buf);
	q->buf = NULL;
	return r;
fail:
	if (r != NULL)
		freeReplyObject(r);
	redisFreeCommand(q->buf);
	q->buf = NULL;
	return NULL;
}

void
redis_hold(struct redis *rd)
{
	rd->hold = 1;
}

void
redis_release(struct redis *rd)
{
	size_t	 i;
	int	 done;

	rd->hold = 0;
	for (i = 0; i < REDIS_MASTERS_MAX; i++) {
		if (rd->conn[i] == NULL || rd->conn[i]->err != 0)
			continue;
		done = 0;
		while (!done)
			if (redisBufferWrite(rd->conn[i], &done) != REDIS_OK)
				break;	/* c->err: redis_recv resends */
	}
}

void
redis_cancel(struct redis *rd, struct redis_cmd *q)
{
	inflight_del(rd, q);
	if (q->early != NULL)
		freeReplyObject(q->early);
	else if (q->buf != NULL && q->node >= 0)
		link_drop(rd, q->node);
	q->early = NULL;
	redisFreeCommand(q->buf);
	q->buf = NULL;
}

redisReply *
redis_command(struct redis *rd, const char *key, size_t keylen, int argc,
    const char **argv, const size_t *argvlen)
{
	struct redis_cmd	 q;

	if (redis_send(rd, &q, key, keylen, argc, argv, argvlen) == -1)
		return NULL;
	return redis_recv(rd, &q);
}

/* PING on link i, once more on a fresh link if it was closed under us. */
static int
ping(struct redis *rd, int i)
{
	redisContext	*c;
	redisReply	*r = NULL;
	int		 try, ok = 0;

	for (try = 0; try < 2 && r == NULL; try++) {
		if ((c = link_get(rd, i)) == NULL)
			return -1;
		if ((r = redisCommand(c, "PING")) == NULL &&
		    !link_failed(rd, i))
			break;
	}
	ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (r != NULL)
		freeReplyObject(r);
	else
		link_drop(rd, i);
	return ok ? 0 : -1;
}

int
redis_ping(struct redis *rd)
{
	static char	 why[360];
	size_t		 i;

	if (!rd->cluster) {
		/* Only a failed connect says why (a refused password). */
		rd->why = NULL;
		return ping(rd, 0);
	}
	(void)map_load(rd);
	if (!rd->mapped)
		return -1;
	if (!redis_slotmap_complete(rd->map)) {
		rd->why = "the Redis Cluster slot map is incomplete";
		return -1;
	}
	for (i = 0; i < rd->map->nmasters; i++)
		if (!link_busy(rd, (int)i, NULL) && ping(rd, (int)i) == -1) {
			snprintf(why, sizeof(why), "Redis Cluster master %s:%d "
			    "does not answer", rd->map->masters[i].host,
			    rd->map->masters[i].port);
			rd->why = why;
			return -1;
		}
	return 0;
}

redisContext *
redis_link(struct redis *rd, const char *key, size_t keylen)
{
	int	 i;

	if ((i = slot_node(rd, rd->cluster ? redis_key_slot(key, keylen) :
	    0)) == -1)
		return NULL;
	return link_get(rd, i);
}
