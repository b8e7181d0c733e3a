/*
 * metrics.h: the node's /metrics (Prometheus text format 0.0.4) and
 * /healthz endpoint, served by the node's own event loop on a local
 * address (chat-realtime --metrics 127.0.0.1:PORT).  Server layer: it
 * writes the Socket.IO server's gauges and counters (sio_server_stats)
 * itself and knows nothing of the layers above, whose counters live in
 * their own state and are written at scrape time by the metrics_write_cb
 * they register (main.c wires it), as is /healthz.
 */
#ifndef RT_SERVER_METRICS_H
#define RT_SERVER_METRICS_H

#include <ev.h>

#include "lib/prom.h"

/*
 * Writes the families of the layer above into the answer being written
 * (lib/prom.h), at each scrape; too long an answer becomes a 500.
 */
typedef void	 metrics_write_cb(struct prom *, void *arg);

struct	metrics_srv;
struct	sio_server;

/* What /healthz reports; filled by the layer that owns the connections. */
struct	metrics_health {
	int		 db_up;		/* PostgreSQL answers */
	int		 redis_up;	/* both Redis connections usable */
	const char	*redis_error;	/* why not, or NULL */
	/* where reads that may lag go ("standby", "primary: <why>"), or
	   NULL when there is no read standby */
	const char	*db_read;
};
typedef void	 metrics_health_cb(void *arg, struct metrics_health *);

/*
 * Serve GET /metrics on "addr" ("127.0.0.1:9100"; the host must be a
 * literal IPv4 address) on "loop": the counters of "sio" (may be NULL),
 * then what more(marg) writes when "more" is not NULL; and GET /healthz
 * (200 or 503, JSON) from health(harg) when "health" is not NULL.
 * Returns NULL (logged) on error.
 */
struct metrics_srv	*metrics_listen(struct ev_loop *, const char *addr,
			    struct sio_server *sio, metrics_write_cb *more,
			    void *marg, metrics_health_cb *health, void *harg);
/* Stop listening and drop every scrape in progress.  NULL is fine. */
void			 metrics_close(struct metrics_srv *);

#endif /* !RT_SERVER_METRICS_H */
