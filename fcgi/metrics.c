/*
 * metrics.c: chat-fcgi's shared counters and the parent's /metrics
 * responder (see metrics.h).  Workers only add to the counters; the
 * parent reads them when scraped.  Counts are relaxed atomics: a scrape
 * may see a request in requests_total a moment before its histogram
 * bucket, which Prometheus tolerates.  The text and the HTTP heads
 * come from lib/prom.c; this file does the I/O.  The responder reads
 * at most METRICS_REQ_MAX bytes per client, answers once, and drops any
 * client that takes longer than METRICS_TIMEOUT_MS, so a slow or
 * hostile scraper costs the supervisor nothing but one descriptor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi/listen.h"
#include "fcgi/metrics.h"
#include "fcgi/route.h"
#include "lib/log.h"
#include "lib/prom.h"

/* Series per route: route.h's ids, labelled with their names. */
#define NROUTES		ROUTE__MAX

/* Statuses counted apart; the last slot is "other". */
static const int	 statuses[] = {
	200, 201, 204, 400, 401, 403, 404, 409, 413, 415, 429, 500, 502,
	503, 0
};
#define NSTATUS		(sizeof(statuses) / sizeof(statuses[0]))

/* Histogram upper bounds in µs (1 ms ... 10 s), then +Inf. */
static const long long	 bounds[] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};
static const char *const bound_names[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
	"0.5", "1", "2.5", "5", "10"
};
#define NBOUNDS		(sizeof(bounds) / sizeof(bounds[0]))

struct	fcgi_metrics {
	uint64_t	 req[NROUTES][NSTATUS];
	uint64_t	 hist[NROUTES][NBOUNDS + 1]; /* per bucket, unsummed */
	uint64_t	 sum_us[NROUTES];
	uint64_t	 pg_errors;
	uint64_t	 redis_errors;
	uint64_t	 reads_standby;	/* reads that may lag, by the standby */
	uint64_t	 reads_primary;	/* ... by the primary */
	uint64_t	 restarts;
	int		 workers;
	uint32_t	 inflight[];	/* per worker slot: 0 or 1 */
};

#define ADD(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

struct fcgi_metrics *
metrics_new(int workers)
{
	struct fcgi_metrics	*m;
	size_t		 sz;

	if (workers < 1 || workers > 65536)
		return NULL;
	sz = sizeof(*m) + (size_t)workers * sizeof(m->inflight[0]);
	m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (m == MAP_FAILED) {
		log_warn("mmap");
		return NULL;
	}
	/* Anonymous mappings come zeroed. */
	m->workers = workers;
	return m;
}

void
metrics_begin(struct fcgi_metrics *m, int slot)
{
	if (m != NULL && slot >= 0 && slot < m->workers)
		STORE(&m->inflight[slot], 1);
}

void
metrics_end(struct fcgi_metrics *m, int slot, enum route_id route, int status,
    long long usec)
{
	size_t	 ri, si, bi;

	if (m == NULL)
		return;
	ri = (unsigned)route < NROUTES ? (size_t)route : ROUTE_OTHER;
	for (si = 0; si < NSTATUS - 1 && statuses[si] != status; si++)
		continue;
	if (usec < 0)
		usec = 0;
	for (bi = 0; bi < NBOUNDS && usec > bounds[bi]; bi++)
		continue;
	ADD(&m->req[ri][si], 1);
	ADD(&m->hist[ri][bi], 1);
	ADD(&m->sum_us[ri], (uint64_t)usec);
	if (slot >= 0 && slot < m->workers)
		STORE(&m->inflight[slot], 0);
}

void
metrics_errors(struct fcgi_metrics *m, unsigned long pg, unsigned long redis)
{
	if (m == NULL)
		return;
	if (pg > 0)
		ADD(&m->pg_errors, pg);
	if (redis > 0)
		ADD(&m->redis_errors, redis);
}

void
metrics_reads(struct fcgi_metrics *m, unsigned long standby,
    unsigned long primary)
{
	if (m == NULL)
		return;
	if (standby > 0)
		ADD(&m->reads_standby, standby);
	if (primary > 0)
		ADD(&m->reads_primary, primary);
}

void
metrics_restart(struct fcgi_metrics *m, int slot)
{
	if (m == NULL)
		return;
	ADD(&m->restarts, 1);
	if (slot >= 0 && slot < m->workers)
		STORE(&m->inflight[slot], 0);
}

int
metrics_render(struct fcgi_metrics *m, char **out, size_t *outlen)
{
	struct prom	 p;
	uint64_t	 v, n, bucket[NBOUNDS + 1];
	size_t		 r, i;
	uint64_t	 inflight = 0, sb, pr;
	char		 st[16];
	int		 w;

	prom_init(&p, METRICS_OUT_MAX);
	prom_family(&p, "chat_fcgi_requests_total", "counter",
	    "Requests answered, by route and status.");
	for (r = 0; r < NROUTES; r++)
		for (i = 0; i < NSTATUS; i++) {
			if ((v = LOAD(&m->req[r][i])) == 0)
				continue;
			if (statuses[i] != 0)
				snprintf(st, sizeof(st), "%d", statuses[i]);
			else
				memcpy(st, "other", sizeof("other"));
			prom_sample(&p, "chat_fcgi_requests_total", v,
			    "route", route_name(r), "status", st, NULL);
		}
	prom_family(&p, "chat_fcgi_request_duration_seconds", "histogram",
	    "Time from accepting a request to answering it, by route.");
	for (r = 0; r < NROUTES; r++) {
		for (n = 0, i = 0; i <= NBOUNDS; i++)
			n += bucket[i] = LOAD(&m->hist[r][i]);
		if (n == 0)
			continue;
		prom_histogram(&p, "chat_fcgi_request_duration_seconds",
		    "route", route_name(r), bound_names, bucket, NBOUNDS,
		    (double)LOAD(&m->sum_us[r]) / 1e6);
	}
	for (w = 0; w < m->workers; w++)
		inflight += LOAD(&m->inflight[w]) != 0;
	prom_counter(&p, "chat_fcgi_pg_errors_total",
	    "PostgreSQL statements and connections that failed.",
	    LOAD(&m->pg_errors));
	prom_counter(&p, "chat_fcgi_redis_errors_total",
	    "Redis commands and connections that failed.",
	    LOAD(&m->redis_errors));
	/* Only with a standby (DB_READ_HOST): none is counted without. */
	sb = LOAD(&m->reads_standby);
	pr = LOAD(&m->reads_primary);
	if (sb + pr > 0) {
		prom_family(&p, "chat_fcgi_db_reads_total", "counter",
		    "Reads that may lag (GET /users/me), by the server that "
		    "answered.");
		prom_sample(&p, "chat_fcgi_db_reads_total", sb, "server",
		    "standby", NULL);
		prom_sample(&p, "chat_fcgi_db_reads_total", pr, "server",
		    "primary", NULL);
	}
	prom_counter(&p, "chat_fcgi_worker_restarts_total",
	    "Workers that died and were started again.", LOAD(&m->restarts));
	prom_gauge(&p, "chat_fcgi_requests_in_flight",
	    "Requests being answered now.", inflight);
	prom_gauge(&p, "chat_fcgi_workers", "Worker processes configured.",
	    (uint64_t)m->workers);
	if ((*out = prom_done(&p, outlen)) == NULL) {
		log_warnx("metrics: answer too large");
		return -1;
	}
	return 0;
}

void
metrics_srv_init(struct fcgi_metrics_srv *s, struct fcgi_metrics *m)
{
	int	 i;

	memset(s, 0, sizeof(*s));
	s->lfd = -1;
	s->m = m;
	for (i = 0; i < METRICS_CLIENTS; i++)
		s->c[i].fd = -1;
}

int
metrics_srv_open(struct fcgi_metrics_srv *s, const char *hostport,
    struct fcgi_metrics *m)
{
	metrics_srv_init(s, m);
	s->lfd = listen_tcp("metrics", hostport, METRICS_BACKLOG);
	return s->lfd == -1 ? -1 : 0;
}

/* Close a scraper's socket and free its answer: its slot is free. */
static void
client_close(struct fcgi_metrics_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
metrics_srv_close(struct fcgi_metrics_srv *s)
{
	int	 i;

	for (i = 0; i < METRICS_CLIENTS; i++)
		if (s->c[i].fd != -1)
			client_close(&s->c[i]);
	if (s->lfd != -1)
		close(s->lfd);
	s->lfd = -1;
}

/* Milliseconds until t (CLOCK_MONOTONIC), negative once it is past. */
static long
ms_until(const struct timespec *t)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000L +
	    (t->tv_nsec - now.tv_nsec) / 1000000L;
}

int
metrics_srv_pollfd(struct fcgi_metrics_srv *s, struct pollfd *pfd,
    int *timeout_ms)
{
	int	 i, n = 0;
	long	 left;

	if (s->lfd == -1)
		return 0;
	pfd[n].fd = s->lfd;
	pfd[n].events = POLLIN;
	pfd[n++].revents = 0;
	for (i = 0; i < METRICS_CLIENTS; i++) {
		if (s->c[i].fd == -1)
			continue;
		pfd[n].fd = s->c[i].fd;
		pfd[n].events = s->c[i].out != NULL ? POLLOUT : POLLIN;
		pfd[n++].revents = 0;
		left = ms_until(&s->c[i].deadline);
		if (left < 0)
			left = 0;
		if (left < *timeout_ms)
			*timeout_ms = (int)left;
	}
	return n;
}

/* The request head is in: prepare the answer (404 but for /metrics). */
static void
client_answer(struct fcgi_metrics_srv *s, struct fcgi_metrics_client *c,
    const struct prom_req *rq)
{
	char	*body = NULL, head[PROM_HEAD_MAX];
	size_t	 blen = 0;
	int	 hlen, status = 404;

	if (prom_http_is(rq, "GET", "/metrics"))
		status = metrics_render(s->m, &body, &blen) == 0 ? 200 : 500;
	hlen = prom_http_head(head, sizeof(head), status,
	    status == 200 ? PROM_CTYPE : NULL, blen);
	if (hlen == -1 || (c->out = malloc((size_t)hlen + blen)) == NULL) {
		free(body);
		client_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hlen);
	if (blen > 0)
		memcpy(c->out + hlen, body, blen);
	c->outlen = (size_t)hlen + blen;
	c->outoff = 0;
	free(body);
}

/* Read what the scraper sent; answer once the head is in. */
static void
client_read(struct fcgi_metrics_srv *s, struct fcgi_metrics_client *c)
{
	struct prom_req	 rq;
	ssize_t		 n;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->inlen += (size_t)n;
	switch (prom_http_parse(c->in, c->inlen, sizeof(c->in), &rq)) {
	case PROM_HTTP_MORE:
		break;
	case PROM_HTTP_DONE:
		client_answer(s, c, &rq);
		break;
	default:
		client_close(c);	/* headers too large, or not HTTP */
		break;
	}
}

/*
 * Send what is left of the answer; close when it is all out.  Its shape
 * is client_read's on purpose (EAGAIN waits for the next poll, 0 or an
 * error closes): the two differ in direction, buffer and what follows.
 */
static void
client_write(struct fcgi_metrics_client *c)
{
	ssize_t	 n;

	n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->outoff += (size_t)n;
	if (c->outoff == c->outlen)
		client_close(c);
}

/* Accept queued scrapers into free slots, each with its deadline. */
static void
srv_accept(struct fcgi_metrics_srv *s)
{
	struct fcgi_metrics_client	*c;
	int			 fd, i, k;

	/* A few per wakeup: a flood cannot keep the supervisor here. */
	for (k = 0; k < METRICS_CLIENTS; k++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("metrics: accept");
			return;
		}
		for (i = 0; i < METRICS_CLIENTS && s->c[i].fd != -1; i++)
			continue;
		if (i == METRICS_CLIENTS) {
			close(fd);	/* busy: the scraper retries */
			continue;
		}
		c = &s->c[i];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		c->deadline.tv_sec += METRICS_TIMEOUT_MS / 1000;
	}
}

void
metrics_srv_run(struct fcgi_metrics_srv *s, const struct pollfd *pfd, int n)
{
	struct fcgi_metrics_client	*c;
	int			 i, j;

	if (s->lfd == -1)
		return;
	for (j = 1; j < n; j++) {
		for (i = 0; i < METRICS_CLIENTS && s->c[i].fd != pfd[j].fd;
		    i++)
			continue;
		if (i == METRICS_CLIENTS || pfd[j].revents == 0)
			continue;
		c = &s->c[i];
		if (c->out != NULL)
			client_write(c);
		else
			client_read(s, c);
	}
	for (i = 0; i < METRICS_CLIENTS; i++)
		if (s->c[i].fd != -1 && ms_until(&s->c[i].deadline) <= 0)
			client_close(&s->c[i]);
	if (n > 0 && (pfd[0].revents & POLLIN))
		srv_accept(s);
}
