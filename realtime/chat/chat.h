/*
 * chat.h: the chat events of docs/api.md §4 on top of the
 * Socket.IO server (sio_server.h), PostgreSQL (pgq.h) and Redis (ps.h).
 * The public face of the chat layer (realtime/chat/, the top layer):
 * main.c creates one struct chat per process, plugs chat_on_connect,
 * chat_on_event, chat_on_disconnect, chat_req_tag and chat_req_done into
 * struct sio_opts with the chat as "arg", and hands chat_metrics and
 * chat_health to the /metrics endpoint (metrics.h).  The files behind it
 * share realtime/chat/state.h.
 */
#ifndef RT_CHAT_CHAT_H
#define RT_CHAT_CHAT_H

#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "lib/conf.h"
#include "realtime/server/metrics.h"
#include "realtime/server/sio_server.h"

#define CHAT_TYPING_SECS	8	/* a silent typer stops "typing" */
#define CHAT_LIMIT_DEFAULT	50	/* getMessages */
#define CHAT_LIMIT_MAX		100
#define CHAT_CMID_MAX		64	/* clientMessageId, characters */
#define CHAT_OPS_MAX		512	/* requests in flight per socket */
#define CHAT_SUB_WAIT		2	/* s to wait for a SUBSCRIBE answer */
#define CHAT_ENVELOPE_MAX	(1024 * 1024) /* bytes read from Redis */

struct	chat;

/* Returns NULL (logged) on error.  "conf" is borrowed for the lifetime. */
struct chat	*chat_new(struct ev_loop *, const struct conf *,
		    unsigned int node_id);
/*
 * Graceful stop after the server has shut down: drop this node's
 * presence in Redis (announcing userOffline), write lastSeenAt, wait
 * (at most "grace_ms") for PostgreSQL and Redis to answer, then call
 * done(arg).
 */
void		 chat_stop(struct chat *, unsigned int grace_ms,
		    void (*done)(void *), void *arg);
void		 chat_free(struct chat *);

/* /healthz of the node (metrics.h): PostgreSQL and Redis usable? */
metrics_health_cb	 chat_health;

sio_connect_cb		 chat_on_connect;
sio_event_cb		 chat_on_event;
sio_disconnect_cb	 chat_on_disconnect;
sio_req_tag_cb		 chat_req_tag;
sio_req_done_cb		 chat_req_done;

/* The chat layer's /metrics families (metrics_listen's "more"). */
metrics_write_cb	 chat_metrics;

#endif /* !RT_CHAT_CHAT_H */
