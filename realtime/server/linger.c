/*
 * linger.c: the lingering close (linger.h).  Server layer, under
 * conn.c; knows nothing of HTTP.  Each draining socket is one small
 * struct with its own read watcher, on a list; a one-second timer ends
 * those past their deadline.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include "realtime/server/linger.h"

struct	lsock {
	ev_io		 io;
	struct linger_set	*lg;
	struct lsock	*next, *prev;
	ev_tstamp	 deadline;
	size_t		 drained;
};

struct	linger_set {
	struct ev_loop	*loop;
	ev_timer	 sweep;		/* ends sockets past their deadline */
	struct lsock	*head;
	size_t		 n;
};

static void
lsock_free(struct lsock *l)
{
	struct linger_set	*lg = l->lg;

	ev_io_stop(lg->loop, &l->io);
	close(l->io.fd);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		lg->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	lg->n--;
	free(l);
	if (lg->n == 0)
		ev_timer_stop(lg->loop, &lg->sweep);
}

/* Read and drop what the peer still sends; done at EOF or an error. */
static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lsock	*l = w->data;
	char		 buf[16384];
	ssize_t		 n;

	(void)loop;
	(void)revents;
	for (;;) {
		n = read(l->io.fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (l->drained += (size_t)n) > LINGER_BYTES)
			break;
	}
	lsock_free(l);
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct linger_set	*lg = w->data;
	struct lsock	*l, *nx;
	ev_tstamp	 now = ev_now(loop);

	(void)revents;
	for (l = lg->head; l != NULL; l = nx) {
		nx = l->next;
		if (l->deadline <= now)
			lsock_free(l);
	}
}

struct linger_set *
linger_new(struct ev_loop *loop)
{
	struct linger_set	*lg;

	if ((lg = calloc(1, sizeof(*lg))) == NULL)
		return NULL;
	lg->loop = loop;
	ev_timer_init(&lg->sweep, sweep_cb, 1., 1.);
	lg->sweep.data = lg;
	return lg;
}

void
linger_free(struct linger_set *lg)
{
	if (lg == NULL)
		return;
	while (lg->head != NULL)
		lsock_free(lg->head);
	ev_timer_stop(lg->loop, &lg->sweep);
	free(lg);
}

int
linger_fd(struct linger_set *lg, int fd)
{
	struct lsock	*l;

	if (lg == NULL || lg->n >= LINGER_MAX ||
	    shutdown(fd, SHUT_WR) == -1 || (l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->lg = lg;
	l->deadline = ev_now(lg->loop) + LINGER_SECS;
	ev_io_init(&l->io, read_cb, fd, EV_READ);
	l->io.data = l;
	ev_io_start(lg->loop, &l->io);
	if ((l->next = lg->head) != NULL)
		l->next->prev = l;
	lg->head = l;
	if (lg->n++ == 0)
		ev_timer_start(lg->loop, &lg->sweep);
	return 0;
}
