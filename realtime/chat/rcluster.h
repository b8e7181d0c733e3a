/*
 * rcluster.h: Redis for chat-realtime as a set of masters, each serving
 * some of the 16384 slots (lib/redis_cluster.h).  A Redis Cluster
 * (REDIS_CLUSTER seeds) is read with CLUSTER SLOTS; a single Redis
 * (REDIS_URL) is a cluster of one master serving every slot, so both
 * take the same path.  Per master: one command connection (made with
 * the map) and one subscriber connection (made on the first SSUBSCRIBE),
 * both rconn.c.  Commands go to their slot's master, pipelined; MOVED
 * refreshes the map and resends, ASK resends once after ASKING, TRYAGAIN
 * (a multi-key command while its slot migrates) resends a bit later.  A lost
 * connection refreshes the map and reconnects with backoff.
 */
#ifndef RT_CHAT_RCLUSTER_H
#define RT_CHAT_RCLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "realtime/chat/rconn.h"

#define RCL_BACKOFF_MIN	100	/* ms */
#define RCL_BACKOFF_MAX	1000	/* ms: a replica takes over in seconds */
#define RCL_HOPS	5	/* redirections followed per command */
#define RCL_TRYAGAIN	30	/* TRYAGAIN answers waited out per command */
#define RCL_TRYAGAIN_WAIT 0.1	/* s between them */

struct	rcluster;

/*
 * RCL_UP_CMD: every master's command connection is up (after a start,
 * a loss or a map change); RCL_UP_SUB: subscriptions may have been lost
 * (a subscriber connection dropped, or the map changed): subscribe
 * again every channel still wanted.
 */
enum	rcl_up { RCL_UP_CMD = 0, RCL_UP_SUB };
typedef void	 rcl_up_cb(void *arg, enum rcl_up);
/* A reply on a subscriber connection (borrowed): messages, confirms. */
typedef void	 rcl_push_cb(void *arg, redisReply *r);

struct	rcluster_opts {
	const char	*url;		/* REDIS_URL, when seeds is NULL */
	const char	*seeds;		/* REDIS_CLUSTER, or NULL */
	const char	*pass;		/* REDIS_CLUSTER_PASSWORD, or NULL */
	rcl_up_cb	*on_up;
	rcl_push_cb	*on_push;
	void		*arg;
};

struct	rcluster_stats {
	uint64_t	 errors;	/* connections lost, error replies */
	uint64_t	 reconnects;	/* connections remade */
	uint64_t	 redirects;	/* MOVED and ASK followed */
	uint64_t	 refreshes;	/* slot maps read */
};

/* NULL on a bad URL or seed list, or ENOMEM (logged).  Connects. */
struct rcluster	*rcluster_new(struct ev_loop *, const struct rcluster_opts *);
void		 rcluster_free(struct rcluster *);
/* 1 when every slot has a master whose command connection is up. */
int		 rcluster_ready(const struct rcluster *);
/* NULL when all is up, else why not (for logs and /healthz). */
const char	*rcluster_error(const struct rcluster *);
void		 rcluster_stats(const struct rcluster *,
		    struct rcluster_stats *);
/* The slot of a key (or channel). */
unsigned int	 rcluster_slot(const char *, size_t);
/*
 * Send a command to the master of "slot".  cb (may be NULL) is called
 * exactly once, with NULL if the connection was lost; error replies are
 * passed on (after redirections are followed).  Returns 0, or -1 when
 * no connection serves the slot (cb not called).
 */
int		 rcluster_command(struct rcluster *, unsigned int slot,
		    rconn_reply_cb *, void *, int argc, const char **argv,
		    const size_t *argvlen);
/*
 * SSUBSCRIBE/SUNSUBSCRIBE "channel" on the subscriber connection of its
 * slot's master (made if needed).  Returns 0 if queued, else -1.
 */
int		 rcluster_subscribe(struct rcluster *, const char *cmd,
		    const char *channel, size_t len);
/*
 * The map may be stale (a subscription was dropped or refused): read it
 * again soon, then RCL_UP_SUB.
 */
void		 rcluster_refresh(struct rcluster *);

#endif /* !RT_CHAT_RCLUSTER_H */
