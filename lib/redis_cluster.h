/*
 * redis_cluster.h: what a Redis Cluster client needs before it sends a
 * byte, shared by chat-fcgi (blocking hiredis) and chat-realtime (async
 * hiredis on libev): the CRC16 key slot with hash tags, the seed list of
 * REDIS_CLUSTER, the slot map read from CLUSTER SLOTS, and MOVED/ASK
 * redirections.  No I/O: each program connects in its own way.
 */
#ifndef LIB_REDIS_CLUSTER_H
#define LIB_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define REDIS_SLOTS		16384
#define REDIS_SEEDS_MAX		16	/* host:port entries in REDIS_CLUSTER */
#define REDIS_MASTERS_MAX	64	/* masters in one slot map */
#define REDIS_NO_NODE		0xffff	/* slot map entry: slot not served */

struct	redis_addr {
	char	 host[256];		/* name or address, no brackets */
	int	 port;
};

/* The slot of a key: CRC16-XMODEM of the key, or of its {hash tag}. */
unsigned int	 redis_key_slot(const char *key, size_t len);

/*
 * "host:port,host:port" ("[v6]:port" allowed; spaces around commas
 * ignored).  Returns the number of seeds (1..max), or -1 with *why set.
 */
int		 redis_seeds_parse(const char *list, struct redis_addr *seeds,
		    size_t max, const char **why);

/*
 * Which master serves each slot.  "node[slot]" is an index into
 * "masters", or REDIS_NO_NODE.  Plain data: copy it, compare it.
 */
struct	redis_slotmap {
	size_t			 nmasters;
	struct redis_addr	 masters[REDIS_MASTERS_MAX];
	uint16_t		 node[REDIS_SLOTS];
};

/*
 * Fill "m" from a CLUSTER SLOTS reply (untrusted: every type and range is
 * checked).  An empty host in the reply means "the node that answered":
 * "self" (its address as we dialled it).  Returns 0, or -1 with *why set
 * (m is then all REDIS_NO_NODE).  Every byte of "m" is set, so two maps
 * of the same content are equal under memcmp.
 */
int		 redis_slotmap_parse(struct redis_slotmap *m,
		    const redisReply *r, const char *self, const char **why);
/* One master serving every slot (a single Redis treated as a cluster). */
void		 redis_slotmap_single(struct redis_slotmap *m,
		    const struct redis_addr *a);
/* The index of master host:port in m, or -1. */
int		 redis_slotmap_find(const struct redis_slotmap *m,
		    const char *host, int port);
/* 1 if every slot is served, else 0. */
int		 redis_slotmap_complete(const struct redis_slotmap *m);

enum	redis_redirect {
	REDIS_REDIRECT_NONE = 0,	/* not a redirection */
	REDIS_REDIRECT_MOVED,		/* the slot lives at "to" now */
	REDIS_REDIRECT_ASK		/* ask "to" once, after ASKING */
};
/*
 * Parse an error reply "MOVED <slot> <host>:<port>" or "ASK ...".  An
 * empty host means the node that answered: "self".  Anything else, or a
 * malformed redirection, is REDIS_REDIRECT_NONE.
 */
enum redis_redirect	 redis_redirect_parse(const char *err, size_t len,
			    const char *self, unsigned int *slot,
			    struct redis_addr *to);

#endif /* !LIB_REDIS_CLUSTER_H */
