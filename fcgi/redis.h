/*
 * redis.h: one chat-fcgi worker's Redis, blocking, as the configuration
 * says: a single server (REDIS_URL: one connection) or a Redis Cluster
 * (REDIS_CLUSTER: one connection per master, opened when first needed;
 * each command goes to the master of its key's slot, MOVED and ASK are
 * followed).  A command is sent ahead of its reply (redis_send, then
 * redis_recv) so a worker can overlap the round trip with PostgreSQL.
 * Used by the workers (rate limits, /healthz), the start-up check and
 * t/rl-test, t/rl-cluster-test.  lib/redis_cluster.h does the parsing.
 */
#ifndef FCGI_REDIS_H
#define FCGI_REDIS_H

#include <stddef.h>
#include <time.h>

#include <hiredis.h>

#include "lib/redis_cluster.h"
#include "lib/redis_util.h"

#define REDIS_TIMEOUT_MS	2000	/* connect and command timeout */
#define REDIS_REDIRECTS_MAX	5	/* MOVED/ASK followed per command */
#define REDIS_INFLIGHT_MAX	4	/* commands sent, replies not read */
#define REDIS_RELOAD_MS		100	/* ms between slot map reloads */

/* One command sent ahead of its reply. */
struct	redis_cmd {
	char		*buf;		/* the command in RESP, owned */
	size_t		 len;		/* bytes in buf */
	unsigned int	 slot;		/* its key's slot (cluster) */
	int		 node;		/* conn[] it went to; -1: lost */
	int		 retried;	/* resent once after a lost link */
	redisReply	*early;		/* its reply, read ahead (owned) */
};

struct	redis {
	int			 cluster;	/* REDIS_CLUSTER is set */
	struct redis_url	 url;		/* REDIS_URL (single) */
	struct redis_addr	 seeds[REDIS_SEEDS_MAX]; /* REDIS_CLUSTER */
	size_t			 nseeds;
	char			 pass[256];	/* REDIS_CLUSTER_PASSWORD */
	struct redis_slotmap	*map;		/* cluster: owned */
	int			 mapped;	/* map was loaded */
	struct timespec		 load_at;	/* last load attempt */
	/* By master index of map (single: [0] only). */
	redisContext		*conn[REDIS_MASTERS_MAX];
	struct redis_cmd	*inflight[REDIS_INFLIGHT_MAX]; /* borrowed */
	size_t			 ninflight;
	int			 hold;		/* redis_hold: sends queued */
	const char		*why;		/* last failure (static) */
};

/*
 * Connect (blocking, REDIS_TIMEOUT_MS for connect and each command),
 * AUTH and SELECT as the URL says.  Returns a context to free with
 * redisFree(), or NULL (logged) with *why (if "why" is not NULL) set to
 * a static message for operators (a refused password says so).
 */
redisContext	*redis_connect(const struct redis_url *u, const char **why);

/*
 * Set up rd without connecting: a cluster when "cluster" (the seed list
 * of REDIS_CLUSTER) is not NULL or empty, AUTH with "pass" (NULL or
 * empty: none) on every node; else the single Redis of "url".  Returns
 * 0, or -1 with *why set (a malformed setting).  Free with redis_free.
 */
int	 redis_init(struct redis *rd, const char *url, const char *cluster,
	    const char *pass, const char **why);
void	 redis_free(struct redis *rd);

/*
 * Send one command (argv, argvlen as hiredis's redisCommandArgv) to the
 * node that serves "key", without waiting for its reply; redis_recv
 * reads it.  A link found closed is reopened (and the slot map
 * reloaded) and the command sent once more.  Returns 0, or -1 (logged,
 * rd->why set; q holds nothing).  Replies must be read in the order of
 * the sends; at most REDIS_INFLIGHT_MAX at once.
 */
int	 redis_send(struct redis *rd, struct redis_cmd *q, const char *key,
	    size_t keylen, int argc, const char **argv,
	    const size_t *argvlen);
/*
 * The reply of q, following MOVED (the slot map is updated and
 * reloaded) and ASK (ASKING, then the command, at the node named once)
 * up to REDIS_REDIRECTS_MAX times, and sending it once more on a fresh
 * link after a lost one.  Returns a reply the caller frees with
 * freeReplyObject (an error reply other than a redirection is
 * returned as is), or NULL (logged, rd->why set).  q is spent.
 */
redisReply	*redis_recv(struct redis *rd, struct redis_cmd *q);
/*
 * Batch the next sends: from redis_hold on, redis_send only queues its
 * command on the link, and redis_release writes all that is queued, one
 * write(2) per link, so Redis reads them at once and answers at once.
 * redis_recv also writes what is queued before it waits.  A write that
 * fails shows in the commands' redis_recv, which resend them once.
 */
void	 redis_hold(struct redis *rd);
void	 redis_release(struct redis *rd);
/* Forget q without its reply (the link is closed if it was sent). */
void	 redis_cancel(struct redis *rd, struct redis_cmd *q);
/* redis_send, then redis_recv. */
redisReply	*redis_command(struct redis *rd, const char *key,
		    size_t keylen, int argc, const char **argv,
		    const size_t *argvlen);

/*
 * For /healthz and the start-up check: PING the server, or every master
 * of the slot map (loading it if need be).  Returns 0 if all answered
 * and every slot is served, else -1 with rd->why set.
 */
int	 redis_ping(struct redis *rd);

/* The master's link for "key" (connected if need be), or NULL. */
redisContext	*redis_link(struct redis *rd, const char *key, size_t keylen);

#endif /* !FCGI_REDIS_H */
