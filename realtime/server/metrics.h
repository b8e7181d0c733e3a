/*
 * metrics.h: counters of chat-realtime and their /metrics endpoint
 * (Prometheus text format 0.0.4) served by the node's own event loop on
 * a local address (chat-realtime --metrics 127.0.0.1:PORT).
 * The counters are one global struct, bumped in place (single-threaded:
 * plain increments, no locks).  The gauges (open sockets by transport)
 * are read from the Socket.IO server at scrape time.
 */
#ifndef RT_SERVER_METRICS_H
#define RT_SERVER_METRICS_H

#include <stdint.h>

#include <ev.h>

/* Chat events counted by name; anything else is "other". */
enum	met_ev {
	MET_EV_SEND = 0, MET_EV_HISTORY, MET_EV_CONVS, MET_EV_START,
	MET_EV_TYPING, MET_EV_STOPTYPING, MET_EV_MARKREAD, MET_EV_ONLINE,
	MET_EV_OTHER, MET_EV_N
};

/*
 * How a request ended: ack without / with an "error" member, no ack
 * asked, socket closed before the ack, dropped because the node was
 * draining (shutdown).
 */
enum	met_st {
	MET_ST_OK = 0, MET_ST_ERROR, MET_ST_NOACK, MET_ST_CLOSED,
	MET_ST_DRAINED, MET_ST_N
};

#define MET_LAT_N	12	/* ack latency buckets (+Inf aside) */

struct	metrics {
	uint64_t	 connects_accepted;
	uint64_t	 connects_refused;
	uint64_t	 disconnects;
	uint64_t	 upgrades;
	uint64_t	 events[MET_EV_N][MET_ST_N];
	uint64_t	 messages_sent;		/* stored by sendMessage */
	uint64_t	 ack_lat[MET_LAT_N];	/* sendMessage, non-cumulative */
	uint64_t	 ack_lat_inf;
	double		 ack_lat_sum;		/* seconds */
	uint64_t	 redis_errors;
	uint64_t	 redis_reconnects;
	uint64_t	 pg_errors;
	uint64_t	 pg_reconnects;
	uint64_t	 outq_drops;		/* connections cut: output cap */
};

extern struct metrics	 metrics;

/* Index of an event name (MET_EV_OTHER if not a chat event). */
enum met_ev	 metrics_event(const char *);
const char	*metrics_event_name(enum met_ev);
const char	*metrics_status_name(enum met_st);
/* Count one request "ev" ending with "st"; secs < 0: no latency. */
void		 metrics_request(enum met_ev, enum met_st, double secs);

struct	metrics_srv;
struct	sio_server;

/* What /healthz reports; filled by the layer that owns the connections. */
struct	metrics_health {
	int		 db_up;		/* PostgreSQL answers */
	int		 redis_up;	/* both Redis connections usable */
	const char	*redis_error;	/* why not, or NULL */
};
typedef void	 metrics_health_cb(void *arg, struct metrics_health *);

/*
 * Serve GET /metrics on "addr" ("127.0.0.1:9100"; the host must be a
 * literal IPv4 address) on "loop", reading the gauges of "sio" (may be
 * NULL), and GET /healthz (200 or 503, JSON) from health(harg) when
 * "health" is not NULL.  Returns NULL (logged) on error.
 */
struct metrics_srv	*metrics_listen(struct ev_loop *, const char *addr,
			    struct sio_server *sio, metrics_health_cb *health,
			    void *harg);
/* Stop listening and drop every scrape in progress.  NULL is fine. */
void			 metrics_close(struct metrics_srv *);

#endif /* !RT_SERVER_METRICS_H */
