/*
 * conn.c: non-blocking TCP connections on a libev loop.
 * Called by sio_server.c (listen, accept) and the transports (tr_poll.c,
 * tr_ws.c: send, close).  Knows nothing of HTTP or WebSocket: bytes in
 * go to conn->ops->input(), bytes out are queued refcounted buffers.
 * Memory: an idle connection owns only its struct; input is read into
 * one shared scratch buffer and only a partial message is copied into a
 * per-connection buffer (freed once consumed); the output queue is
 * capped (outq_max) so a peer that never reads is cut, never buffered
 * without bound.  Writes are batched: conn_send() queues, and an
 * ev_prepare watcher flushes every dirty connection once per iteration.
 * accept4() failures such as EMFILE pause accepting for CONN_BACKOFF
 * seconds instead of spinning.
 * Reads are handled in arrival order: libev invokes the pending watchers
 * of one priority last-in first-out, so a GET and a POST of one session
 * that became readable in the same iteration would run in reverse.  The
 * io callback only links the connection on a list (prepending, which
 * undoes the reversal: epoll order, i.e. readiness order); an ev_check
 * watcher at EV_MINPRI, invoked after every normal watcher of the same
 * iteration, reads them in that order.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "lib/log.h"
#include "realtime/server/conn.h"
#include "realtime/server/linger.h"

#define CONN_MAXLISTEN	4

struct	conn_q {
	struct conn_q	*next;
	struct conn_buf	*b;
	uint32_t	 off;
	uint32_t	 len;
};

struct	conn_loop {
	struct ev_loop	*loop;
	ev_io		 lio[CONN_MAXLISTEN];
	size_t		 nlisten;
	int		 listening;
	ev_timer	 backoff;
	ev_timer	 sweep;
	ev_prepare	 flush;
	ev_check	 readq;
	ev_tstamp	 t0;
	void		(*preflush)(void *);
	void		*preflush_arg;
	struct conn	*head;		/* all connections */
	struct conn	*dirty;		/* to flush */
	struct conn	*dead;		/* to free */
	struct conn	*ready;		/* readable, in arrival order */
	struct linger_set *linger;	/* closed sockets being drained */
	size_t		 count;
	size_t		 trim_at;	/* count at the last malloc_trim() */
	size_t		 qmem;		/* bytes held by all output queues */
	size_t		 qpeak;		/* most qmem since the last trim */
	uint64_t	 trims;		/* malloc_trim() after a backlog */
	uint64_t	 outq_drops;	/* connections cut at outq_max */
	size_t		 outq_max;
	size_t		 rmax;
	conn_accept_cb	*accept_cb;
	void		*arg;
	char		 scratch[CONN_SCRATCH];
};

static void	 conn_io_cb(struct ev_loop *, ev_io *, int);
static void	 flush_one(struct conn *);

/*
 * What one queued piece holds: its node and a share of its bytes (a
 * broadcast's buffer is shared, so this overcounts it: an estimate).
 */
#define QMEM(len)	(sizeof(struct conn_q) + 16 + (len))
/* Backlog (qmem) after which the heap is trimmed once it has drained. */
#define CONN_TRIM_PEAK	(4u << 20)

/* ------------------------------------------------------------------ */
/* Buffers */

struct conn_buf *
conn_buf_new(size_t len)
{
	struct conn_buf	*b;

	if (len > UINT32_MAX - 64)
		return NULL;
	if ((b = malloc(sizeof(*b) + len)) == NULL)
		return NULL;
	b->refs = 1;
	b->len = (uint32_t)len;
	return b;
}

struct conn_buf *
conn_buf_dup(const void *p, size_t len)
{
	struct conn_buf	*b;

	if ((b = conn_buf_new(len)) != NULL && len > 0)
		memcpy(b->data, p, len);
	return b;
}

void
conn_buf_ref(struct conn_buf *b)
{
	b->refs++;
}

void
conn_buf_unref(struct conn_buf *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

/* ------------------------------------------------------------------ */
/* Watcher state */

static void
set_events(struct conn *c, int wantw)
{
	int	 ev = EV_READ;

	if (c->flags & CONN_CLOSED)
		return;
	if (wantw == ((c->flags & CONN_WANTW) != 0))
		return;
	if (wantw) {
		c->flags |= CONN_WANTW;
		ev |= EV_WRITE;
	} else
		c->flags &= ~CONN_WANTW;
	ev_io_stop(c->cl->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, ev);
	ev_io_start(c->cl->loop, &c->io);
}

static void
queue_free(struct conn *c)
{
	struct conn_q	*q;

	while ((q = c->qh) != NULL) {
		c->qh = q->next;
		c->cl->qmem -= QMEM(q->len);
		conn_buf_unref(q->b);
		free(q);
	}
	c->qt = NULL;
	c->qbytes = 0;
}

void
conn_close(struct conn *c)
{
	struct conn_loop	*cl = c->cl;

	if (c->flags & CONN_CLOSED)
		return;
	c->flags |= CONN_CLOSED;
	ev_io_stop(cl->loop, &c->io);
	if (!(c->flags & CONN_HANDED))
		close(c->io.fd);
	queue_free(c);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cl->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	cl->count--;
	/* Dirty connections are freed after the flush list is walked. */
	if (!(c->flags & CONN_DIRTY)) {
		c->dnext = cl->dead;
		cl->dead = c;
	}
	if (c->ops != NULL && c->ops->closed != NULL)
		c->ops->closed(c);
	c->owner = NULL;
}

void
conn_close_flush(struct conn *c)
{
	if (c->flags & CONN_CLOSED)
		return;
	if (c->qh == NULL)
		conn_close(c);
	else
		c->flags |= CONN_LINGER;
}

void
conn_set_reading(struct conn *c, int on)
{
	int	 ev;

	if (c->flags & CONN_CLOSED)
		return;
	ev = (on ? EV_READ : 0) | ((c->flags & CONN_WANTW) ? EV_WRITE : 0);
	ev_io_stop(c->cl->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, ev);
	if (ev != 0)
		ev_io_start(c->cl->loop, &c->io);
}

/* ------------------------------------------------------------------ */
/* Output */

int
conn_send(struct conn *c, struct conn_buf *b, size_t off, size_t len)
{
	struct conn_q	*q;

	if (c->flags & (CONN_CLOSED | CONN_LINGER))
		return -1;
	if (len == 0)
		return 0;
	if (off > b->len || len > b->len - off)
		return -1;
	if (c->qbytes + len > c->cl->outq_max) {
		log_warnx("conn: fd=%d output queue over %zu bytes: closing",
		    c->io.fd, c->cl->outq_max);
		c->cl->outq_drops++;
		c->flags |= CONN_FAILED;
		conn_close(c);
		return -1;
	}
	if ((q = malloc(sizeof(*q))) == NULL) {
		log_warn("conn: malloc");
		conn_close(c);
		return -1;
	}
	q->next = NULL;
	q->b = b;
	conn_buf_ref(b);
	q->off = (uint32_t)off;
	q->len = (uint32_t)len;
	if (c->qt != NULL)
		c->qt->next = q;
	else
		c->qh = q;
	c->qt = q;
	c->qbytes += len;
	if ((c->cl->qmem += QMEM(len)) > c->cl->qpeak)
		c->cl->qpeak = c->cl->qmem;
	if (!(c->flags & (CONN_DIRTY | CONN_WANTW))) {
		c->flags |= CONN_DIRTY;
		c->dnext = c->cl->dirty;
		c->cl->dirty = c;
	}
	return 0;
}

int
conn_send_copy(struct conn *c, const void *p, size_t len)
{
	struct conn_buf	*b;
	int		 rc;

	if (c->flags & CONN_CLOSED)
		return -1;
	if ((b = conn_buf_dup(p, len)) == NULL) {
		conn_close(c);
		return -1;
	}
	rc = conn_send(c, b, 0, len);
	conn_buf_unref(b);
	return rc;
}

static void
flush_one(struct conn *c)
{
	struct iovec	 iov[CONN_IOV];
	struct conn_q	*q;
	ssize_t		 n;
	size_t		 left;
	int		 i;

	while (c->qh != NULL && !(c->flags & CONN_CLOSED)) {
		for (i = 0, q = c->qh; q != NULL && i < CONN_IOV;
		    q = q->next, i++) {
			iov[i].iov_base = q->b->data + q->off;
			iov[i].iov_len = q->len;
		}
		n = writev(c->io.fd, iov, i);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_events(c, 1);
				return;
			}
			if (errno != EPIPE && errno != ECONNRESET)
				log_warn("conn: writev fd=%d", c->io.fd);
			c->flags |= CONN_FAILED;
			conn_close(c);
			return;
		}
		left = (size_t)n;
		c->qbytes -= left;
		while (left > 0 && (q = c->qh) != NULL) {
			if (left < q->len) {
				q->off += (uint32_t)left;
				q->len -= (uint32_t)left;
				c->cl->qmem -= left;
				left = 0;
				break;
			}
			left -= q->len;
			c->cl->qmem -= QMEM(q->len);
			c->qh = q->next;
			conn_buf_unref(q->b);
			free(q);
		}
		if (c->qh == NULL)
			c->qt = NULL;
	}
	if (c->flags & CONN_CLOSED)
		return;
	set_events(c, 0);
	if (c->flags & CONN_LINGER) {
		if (linger_fd(c->cl->linger, c->io.fd) == 0)
			c->flags |= CONN_HANDED;
		else
			shutdown(c->io.fd, SHUT_WR);
		conn_close(c);
		return;
	}
	if (c->ops != NULL && c->ops->drained != NULL)
		c->ops->drained(c);
}

/*
 * A backlog of output (a broadcast storm to slow readers: userOnline to
 * every socket as thousands connect) leaves its freed nodes and buffers
 * scattered through the heap, where free() cannot give them back.  Once
 * it has drained to a sixteenth of its peak, give the pages back at
 * once, not on a timer: the memory an idle socket costs is what it
 * holds, not the high-water mark of the last storm.
 */
static void
trim_after_backlog(struct conn_loop *cl)
{
	if (cl->qpeak < CONN_TRIM_PEAK || cl->qmem > cl->qpeak / 16)
		return;
	malloc_trim(0);
	cl->trims++;
	cl->qpeak = cl->qmem;
}

static void
flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct conn_loop	*cl = w->data;
	struct conn		*c, *dead;
	size_t			 guard;

	(void)loop;
	(void)revents;
	if (cl->preflush != NULL)
		cl->preflush(cl->preflush_arg);
	/* drained() may queue more: bounded number of rounds. */
	for (guard = 0; cl->dirty != NULL && guard < 4; guard++) {
		c = cl->dirty;
		cl->dirty = NULL;
		while (c != NULL) {
			struct conn *nx = c->dnext;

			c->flags &= ~CONN_DIRTY;
			if (c->flags & CONN_CLOSED) {
				c->dnext = cl->dead;
				cl->dead = c;
			} else
				flush_one(c);
			c = nx;
		}
	}
	dead = cl->dead;
	cl->dead = NULL;
	while (dead != NULL) {
		c = dead->dnext;
		if (dead->flags & CONN_DIRTY) {
			/* Queued again on the dirty list: free it next time. */
		} else
			free(dead);
		dead = c;
	}
	trim_after_backlog(cl);
}

/* ------------------------------------------------------------------ */
/* Input */

/* Offer bytes to the protocol until it stops consuming.  Returns consumed. */
static size_t
feed(struct conn *c, char *p, size_t len)
{
	size_t	 done = 0;
	ssize_t	 r;

	c->flags |= CONN_INREAD;
	while (done < len && !(c->flags & CONN_CLOSED)) {
		r = c->ops->input(c, p + done, len - done);
		if (r < 0) {
			conn_close(c);
			break;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	c->flags &= ~CONN_INREAD;
	return done;
}

static int
keep(struct conn *c, const char *p, size_t len)
{
	size_t	 cap;
	char	*nb;

	if (len == 0)
		return 0;
	if ((size_t)c->rlen + len > c->cl->rmax) {
		log_warnx("conn: fd=%d input over %zu bytes: closing",
		    c->io.fd, c->cl->rmax);
		return -1;
	}
	if (c->rlen + len > c->rcap) {
		cap = c->rcap ? c->rcap : 1024;
		while (cap < c->rlen + len)
			cap *= 2;
		if (cap > c->cl->rmax)
			cap = c->cl->rmax;
		if ((nb = realloc(c->rbuf, cap)) == NULL) {
			log_warn("conn: realloc");
			return -1;
		}
		c->rbuf = nb;
		c->rcap = (uint32_t)cap;
	}
	memcpy(c->rbuf + c->rlen, p, len);
	c->rlen += (uint32_t)len;
	return 0;
}

/* Process what is pending in c->rbuf (after the protocol was paused). */
static void
pending(struct conn *c)
{
	size_t	 used;

	if (c->rlen == 0 || (c->flags & CONN_CLOSED))
		return;
	used = feed(c, c->rbuf, c->rlen);
	if (c->flags & CONN_CLOSED)
		return;
	if (used == c->rlen) {
		free(c->rbuf);
		c->rbuf = NULL;
		c->rlen = c->rcap = 0;
	} else if (used > 0) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= (uint32_t)used;
	}
}

static void
read_some(struct conn *c)
{
	struct conn_loop	*cl = c->cl;
	ssize_t			 n;
	size_t			 used;
	int			 rounds;

	for (rounds = 0; rounds < 4 && !(c->flags & CONN_CLOSED); rounds++) {
		n = read(c->io.fd, cl->scratch, sizeof(cl->scratch));
		if (n == 0) {
			conn_close(c);
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				if (errno != ECONNRESET)
					log_warn("conn: read fd=%d", c->io.fd);
				conn_close(c);
			}
			return;
		}
		if (c->rlen == 0) {
			used = feed(c, cl->scratch, (size_t)n);
			if (c->flags & CONN_CLOSED)
				return;
			if (keep(c, cl->scratch + used,
			    (size_t)n - used) == -1) {
				conn_close(c);
				return;
			}
		} else {
			if (keep(c, cl->scratch, (size_t)n) == -1) {
				conn_close(c);
				return;
			}
			pending(c);
		}
		if ((size_t)n < sizeof(cl->scratch))
			return;
	}
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn	*c = (struct conn *)w;

	(void)loop;
	if (revents & EV_WRITE)
		flush_one(c);
	if ((revents & EV_READ) && !(c->flags & (CONN_CLOSED | CONN_READY))) {
		/* Invoked in reverse queue order: prepend to restore it. */
		c->flags |= CONN_READY;
		c->rnext = c->cl->ready;
		c->cl->ready = c;
	}
}

/*
 * Read the connections that became readable this iteration, first ready
 * first.  A closed connection is freed only by the next flush_cb(), which
 * runs after this, so the list never holds freed memory.
 */
static void
readq_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct conn_loop	*cl = w->data;
	struct conn		*c;

	(void)loop;
	(void)revents;
	while ((c = cl->ready) != NULL) {
		cl->ready = c->rnext;
		c->rnext = NULL;
		c->flags &= ~CONN_READY;
		if (!(c->flags & CONN_CLOSED) && (c->io.events & EV_READ))
			read_some(c);
	}
}

/* ------------------------------------------------------------------ */
/* Accept */

static void
listen_stop(struct conn_loop *cl)
{
	size_t	 i;

	for (i = 0; i < cl->nlisten; i++)
		ev_io_stop(cl->loop, &cl->lio[i]);
}

static void
listen_start(struct conn_loop *cl)
{
	size_t	 i;

	if (!cl->listening)
		return;
	for (i = 0; i < cl->nlisten; i++)
		ev_io_start(cl->loop, &cl->lio[i]);
}

static void
backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	listen_start(w->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn_loop	*cl = w->data;
	struct conn		*c;
	int			 fd, i, one = 1;

	(void)revents;
	for (i = 0; i < 128; i++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_warn("conn: accept4 (pausing %.1fs)", CONN_BACKOFF);
			listen_stop(cl);
			ev_timer_stop(loop, &cl->backoff);
			ev_timer_set(&cl->backoff, CONN_BACKOFF, 0.);
			ev_timer_start(loop, &cl->backoff);
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("conn: calloc");
			close(fd);
			continue;
		}
		c->cl = cl;
		ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
		c->next = cl->head;
		if (cl->head != NULL)
			cl->head->prev = c;
		cl->head = c;
		cl->count++;
		cl->accept_cb(c, cl->arg);
		if (c->flags & CONN_CLOSED)
			continue;
		ev_io_start(loop, &c->io);
	}
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_loop	*cl = w->data;
	struct conn		*c, *nx;
	uint32_t		 now = conn_now(cl);

	(void)loop;
	(void)revents;
	for (c = cl->head; c != NULL; c = nx) {
		nx = c->next;
		if (c->deadline != 0 && c->deadline <= now)
			conn_close(c);
	}
	/* Many connections went away: give their memory back to the OS. */
	if (cl->count + 256 <= cl->trim_at) {
		malloc_trim(0);
		cl->trim_at = cl->count;
	} else if (cl->count > cl->trim_at)
		cl->trim_at = cl->count;
}

struct conn_loop *
conn_loop_new(struct ev_loop *loop, size_t outq_max, size_t rmax,
    conn_accept_cb *cb, void *arg)
{
	struct conn_loop	*cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->loop = loop;
	if ((cl->linger = linger_new(loop)) == NULL) {
		free(cl);
		return NULL;
	}
	cl->outq_max = outq_max;
	cl->rmax = rmax;
	cl->accept_cb = cb;
	cl->arg = arg;
	cl->listening = 1;
	cl->t0 = ev_now(loop);
	ev_timer_init(&cl->backoff, backoff_cb, CONN_BACKOFF, 0.);
	cl->backoff.data = cl;
	ev_timer_init(&cl->sweep, sweep_cb, 1., 1.);
	cl->sweep.data = cl;
	ev_timer_start(loop, &cl->sweep);
	/* the sweep alone does not keep the loop alive */
	ev_unref(loop);
	ev_prepare_init(&cl->flush, flush_cb);
	cl->flush.data = cl;
	ev_prepare_start(loop, &cl->flush);
	ev_unref(loop);
	ev_check_init(&cl->readq, readq_cb);
	ev_set_priority(&cl->readq, EV_MINPRI);
	cl->readq.data = cl;
	ev_check_start(loop, &cl->readq);
	ev_unref(loop);
	return cl;
}

int
conn_listen_fd(struct conn_loop *cl, int fd)
{
	ev_io	*w;

	if (cl->nlisten == CONN_MAXLISTEN) {
		close(fd);
		return -1;
	}
	w = &cl->lio[cl->nlisten++];
	ev_io_init(w, accept_cb, fd, EV_READ);
	w->data = cl;
	if (cl->listening)
		ev_io_start(cl->loop, w);
	return 0;
}

int
conn_listen(struct conn_loop *cl, const char *host, int port)
{
	struct sockaddr_in	 sin;
	int			 fd = -1, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		log_warnx("conn: bad listen address %s:%d", host, port);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("conn: socket");
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4096) == -1) {
		log_warn("conn: listen %s:%d", host, port);
		close(fd);
		return -1;
	}
	return conn_listen_fd(cl, fd);
}

int
conn_port(const struct conn_loop *cl)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	if (cl->nlisten == 0 ||
	    getsockname(cl->lio[0].fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	return ntohs(sin.sin_port);
}

void
conn_unlisten(struct conn_loop *cl)
{
	size_t	 i;

	listen_stop(cl);
	ev_timer_stop(cl->loop, &cl->backoff);
	cl->listening = 0;
	for (i = 0; i < cl->nlisten; i++)
		close(cl->lio[i].fd);
	cl->nlisten = 0;
}

void
conn_loop_free(struct conn_loop *cl)
{
	struct conn	*c, *nx;

	if (cl == NULL)
		return;
	conn_unlisten(cl);
	while (cl->head != NULL)
		conn_close(cl->head);
	linger_free(cl->linger);
	for (c = cl->dirty; c != NULL; c = nx) {
		nx = c->dnext;
		free(c);
	}
	for (c = cl->dead; c != NULL; c = nx) {
		nx = c->dnext;
		free(c);
	}
	ev_ref(cl->loop);
	ev_timer_stop(cl->loop, &cl->sweep);
	ev_ref(cl->loop);
	ev_prepare_stop(cl->loop, &cl->flush);
	ev_ref(cl->loop);
	ev_check_stop(cl->loop, &cl->readq);
	free(cl);
}

size_t
conn_count(const struct conn_loop *cl)
{
	return cl->count;
}

size_t
conn_loop_queued(const struct conn_loop *cl)
{
	const struct conn	*c;
	size_t			 n = 0;

	for (c = cl->head; c != NULL; c = c->next)
		if (!(c->flags & CONN_CLOSED))
			n += c->qbytes;
	return n;
}

uint64_t
conn_outq_drops(const struct conn_loop *cl)
{
	return cl->outq_drops;
}

uint64_t
conn_trims(const struct conn_loop *cl)
{
	return cl->trims;
}

struct conn *
conn_first(struct conn_loop *cl)
{
	return cl->head;
}

struct ev_loop *
conn_ev(struct conn_loop *cl)
{
	return cl->loop;
}

uint32_t
conn_now(const struct conn_loop *cl)
{
	return (uint32_t)(ev_now(cl->loop) - cl->t0) + 1;
}

void
conn_loop_preflush(struct conn_loop *cl, void (*fn)(void *), void *arg)
{
	cl->preflush = fn;
	cl->preflush_arg = arg;
}

void
conn_resume(struct conn *c)
{
	if (!(c->flags & CONN_INREAD))
		pending(c);
}
