/*
 * metrics.h: chat-fcgi's counters for Prometheus.  They live in one
 * MAP_SHARED anonymous mapping made by the parent before it forks, so
 * every worker adds to the same numbers (relaxed atomics, no locks) and
 * the parent, which serves no FastCGI, answers GET /metrics on a local
 * TCP address with a small non-blocking HTTP responder.
 */
#ifndef FCGI_METRICS_H
#define FCGI_METRICS_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fcgi/route.h"

#define METRICS_CLIENTS	8	/* scrapers served at once */
#define METRICS_REQ_MAX	4096	/* bytes of a scrape request */
#define METRICS_TIMEOUT_MS 5000	/* a scrape's whole life */
#define METRICS_OUT_MAX	(1024 * 1024) /* bytes of an answer */
#define METRICS_BACKLOG	64	/* scrapers queued to be accepted */

struct	fcgi_metrics;	/* the shared counters (opaque) */

/* The shared counters for "workers" worker slots, zeroed; NULL (logged). */
struct fcgi_metrics	*metrics_new(int workers);

/* A worker in slot "slot" starts a request. */
void	 metrics_begin(struct fcgi_metrics *m, int slot);

/*
 * ... and ends it: count it under its route (labelled with route_name)
 * and status, with its duration in µs.
 */
void	 metrics_end(struct fcgi_metrics *m, int slot, enum route_id route,
	    int status, long long usec);

/* Add PostgreSQL and Redis failures seen by a worker. */
void	 metrics_errors(struct fcgi_metrics *m, unsigned long pg,
	    unsigned long redis);

/*
 * Add reads that may lag (GET /users/me with DB_READ_HOST set) served
 * by the standby and by the primary.
 */
void	 metrics_reads(struct fcgi_metrics *m, unsigned long standby,
	    unsigned long primary);

/* The parent restarted a dead worker; its slot is not in flight. */
void	 metrics_restart(struct fcgi_metrics *m, int slot);

/*
 * The Prometheus text format (version 0.0.4) of every counter, in a
 * new buffer (free() it).  Returns 0, or -1 (logged).
 */
int	 metrics_render(struct fcgi_metrics *m, char **buf, size_t *len);

/* The parent's scrape endpoint. */
struct	fcgi_metrics_client {
	int		 fd;		/* -1 when the slot is free */
	char		 in[METRICS_REQ_MAX];
	size_t		 inlen;
	char		*out;		/* the answer, once the request is in */
	size_t		 outlen, outoff;
	struct timespec	 deadline;	/* CLOCK_MONOTONIC */
};

struct	fcgi_metrics_srv {
	int			 lfd;	/* listening, non-blocking; -1 off */
	struct fcgi_metrics		*m;
	struct fcgi_metrics_client	 c[METRICS_CLIENTS];
};

/*
 * Listen on "hostport" ("127.0.0.1:9100", "[::1]:9100") for scrapes of
 * m.  Returns 0, or -1 (logged).
 */
int	 metrics_srv_open(struct fcgi_metrics_srv *s, const char *hostport,
	    struct fcgi_metrics *m);

/* An idle server (lfd -1): every other call does nothing with it. */
void	 metrics_srv_init(struct fcgi_metrics_srv *s, struct fcgi_metrics *m);

/*
 * Add the server's descriptors to pfd (room for METRICS_CLIENTS + 1
 * more); returns how many were added.  *timeout_ms is lowered to the
 * nearest client deadline.
 */
int	 metrics_srv_pollfd(struct fcgi_metrics_srv *s, struct pollfd *pfd,
	    int *timeout_ms);

/*
 * After poll: accept, read, answer, write and expire clients.  pfd and
 * n are what metrics_srv_pollfd filled.  Never blocks.
 */
void	 metrics_srv_run(struct fcgi_metrics_srv *s, const struct pollfd *pfd,
	    int n);

/* Close every descriptor (the parent on exit, a worker after fork). */
void	 metrics_srv_close(struct fcgi_metrics_srv *s);

#endif /* !FCGI_METRICS_H */
