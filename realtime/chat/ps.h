/*
 * ps.h: Redis for chat-realtime: presence, pub/sub fan-out, typing
 * state and node heartbeats (DESIGN.md "Redis"; deploy/SCALING.md).
 * One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER seeds) through
 * rcluster.c, the same code for both: a single Redis is a cluster of one
 * master.  After each (re)connect or map change the owner is told, so it
 * can resubscribe and rebuild its presence (ps_presence_sync).
 *
 * Keys and channels (N node id, U user id, C conversation id, S socket
 * id, B = U mod PS_BUCKETS).  Each script touches one slot ({hash tag}):
 *   rt:{u:U}:socks	SET of U's live socket ids (all nodes)
 *   rt:{u:U}:gen	stamp (us) of U's last transition (kept a day)
 *   rt:{o:B}:online	SET of online user ids of bucket B
 *   rt:{o:B}:gen	HASH U -> stamp of U's transition last applied to B
 *   rt:{n:N}:socks	SET of "U:S" held by node N
 *   rt:{n:N}:alive	heartbeat, expires after PS_NODE_TTL s
 *   rt:nodes		SET of node ids that may hold sockets
 *   rt:typing:C:U	"1" while U types in C, expires after PS_TYPING_TTL s
 *   rt:{u:U}		sharded channel: events for U's sockets, JSON envelopes
 *   rt:{o:B}		sharded channel: userOnline/userOffline of bucket B's
 *			users, and broadcasts (B = 0); every node listens
 * Envelopes: {"n":origin node,"e":event name,"a":argument}, and for
 * the presence events of PRESENCE_SCOPE=contacts "s": the stamp of the
 * transition (presence.c drops one older than the last it delivered).
 * A presence change is two atomic steps: on U's slot the socket set
 * changes and, on a transition, U's stamp grows; then on B's slot the
 * transition is applied only if its stamp is newer than the last one
 * applied, and announced (SPUBLISH rt:{o:B}) only if it changes B's set.
 * So each transition is announced at most once, in order, even when
 * nodes race or a dead node is reaped twice.
 */
#ifndef RT_CHAT_PS_H
#define RT_CHAT_PS_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#define PS_NODE_TTL	10	/* s: a silent node is dead after this */
#define PS_HEARTBEAT	2.0	/* s between heartbeats and reaping */
#define PS_TYPING_TTL	8	/* s */
#define PS_BUCKETS	16	/* rt:{o:B}:online sets */

struct	ps;

/*
 * A message on a subscribed channel: uid > 0 for rt:{u:<uid>}, 0 for
 * the rt:{o:B} channels.  "data" is borrowed.
 */
typedef void	 ps_msg_cb(void *arg, long long uid, const char *data,
	    size_t len);
/*
 * "sub" is 0 when every command connection is up (rebuild presence), 1
 * when subscriptions may have been lost (subscribe every user again).
 */
typedef void	 ps_up_cb(void *arg, int sub);
/* User "uid" went offline through us (its last socket anywhere is gone). */
typedef void	 ps_offline_cb(void *arg, long long uid);
/* Does this node still want rt:{u:<uid>}? (1/0) */
typedef int	 ps_want_cb(void *arg, long long uid);
/* rt:{u:<uid>} is now subscribed (Redis confirmed). */
typedef void	 ps_sub_cb(void *arg, long long uid);
/*
 * PRESENCE_SCOPE=contacts: we applied U's transition (stamp > 0 came
 * online, < 0 went offline); the owner tells U's contacts.
 */
typedef void	 ps_trans_cb(void *arg, long long uid, long long stamp);
/* A command's reply (borrowed), or NULL when it failed or Redis is down. */
typedef void	 ps_reply_cb(void *arg, const redisReply *r);

struct	ps_opts {
	const char	*url;		/* REDIS_URL (lib/redis_util.h) */
	const char	*cluster;	/* REDIS_CLUSTER seeds, or NULL/"" */
	const char	*cluster_pass;	/* REDIS_CLUSTER_PASSWORD, or NULL */
	unsigned int	 node_id;
	ps_msg_cb	*on_msg;
	ps_up_cb	*on_up;
	ps_offline_cb	*on_offline;
	ps_want_cb	*want;
	ps_sub_cb	*on_sub;
	void		*arg;
	/*
	 * PRESENCE_SCOPE=contacts: "scoped" set, transitions are not
	 * broadcast on rt:{o:B} (nor are those channels subscribed);
	 * on_trans is called instead, on the node that applied them.
	 */
	int		 scoped;
	ps_trans_cb	*on_trans;
};

/*
 * Returns NULL on a bad URL or seed list, or ENOMEM (logged).  Connects
 * at once.
 */
struct ps	*ps_new(struct ev_loop *, const struct ps_opts *);
void		 ps_free(struct ps *);
/* 1 when every master's command connection is up. */
int		 ps_ready(const struct ps *);
/* NULL when all connections are up, else why not (for logs). */
const char	*ps_error(const struct ps *);
/* The counters since ps_new(). */
struct	ps_stats {
	uint64_t	 errors;	/* connections lost or failed, and
					   error replies */
	uint64_t	 reconnects;	/* reconnect attempts */
};
void		 ps_stats(const struct ps *, struct ps_stats *);

/*
 * Generic command ("argv" copied), sent to the master of its key: argv[1]
 * for ps_command, "key" for ps_command_key.  Returns 0 (cb will be called
 * exactly once, possibly with NULL; error replies are NULL too), or -1
 * when that master is down (cb not called).
 */
int		 ps_command(struct ps *, ps_reply_cb *, void *, int argc,
		    const char **argv, const size_t *argvlen);
int		 ps_command_key(struct ps *, const char *key, size_t keylen,
		    ps_reply_cb *, void *, int argc, const char **argv,
		    const size_t *argvlen);

/*
 * Who is online: every bucket read (pipelined); cb gets one array of
 * user id strings, or NULL.  ps_online_flags: cb gets an array of n
 * integers (1 online, 0 not) for uids, or NULL.  Return 0, or -1 when
 * Redis is down (cb not called).
 */
int		 ps_online_users(struct ps *, ps_reply_cb *, void *);
int		 ps_online_flags(struct ps *, const long long *uids, size_t n,
		    ps_reply_cb *, void *);

/*
 * Subscribe to / leave rt:{u:<uid>}.  No-ops while down (resync on up).
 * ps_sub_user returns 0 if SUBSCRIBE was sent (on_sub follows), else -1.
 */
int		 ps_sub_user(struct ps *, long long uid);
void		 ps_unsub_user(struct ps *, long long uid);
/* Publish an envelope to rt:{u:<uid>}, or to every node when uid is 0. */
void		 ps_publish(struct ps *, long long uid, const char *, size_t);

/*
 * Presence of one socket: add publishes userOnline on the user's first
 * socket anywhere, del publishes userOffline on the last (and calls
 * on_offline).  add returns 0 and calls cb (if not NULL) once Redis has
 * it (r NULL on failure, else the integer 1 if the user just came
 * online, 2 if moreover that was published on rt:{o:B}, which every
 * node hears, 0 if not), or -1 when Redis is down (cb not called).
 * del is fire and forget.
 */
int		 ps_presence_add(struct ps *, long long uid, const char *sid,
		    ps_reply_cb *, void *);
void		 ps_presence_del(struct ps *, long long uid, const char *sid);
/*
 * Make rt:{n:<me>}:socks exactly "members" ("U:S" strings, n of them),
 * fixing user sets and online buckets and announcing both ways.  Called
 * by the owner from on_up(sub=0).
 */
void		 ps_presence_sync(struct ps *, const char **members, size_t n);
/*
 * Remove all of this node's sockets (graceful stop).  cb (may be NULL)
 * gets an array of the user ids gone offline, or NULL.
 */
int		 ps_presence_clear(struct ps *, ps_reply_cb *, void *);

/* Typing state with TTL (on) or deleted (off). */
void		 ps_typing(struct ps *, long long conv, long long uid, int on);

#endif /* !RT_CHAT_PS_H */
