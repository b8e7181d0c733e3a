/*
 * rconn.c: one Redis connection on libev (see rconn.h), written with
 * hiredis's protocol half only: redisFormatCommandArgv to encode,
 * redisReader to decode.  Used by rcluster.c for command and subscriber
 * connections alike.  Replies are untrusted: the reader bounds them, and
 * the owner checks their types.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "lib/log.h"
#include "realtime/chat/rconn.h"

struct	rreq {
	TAILQ_ENTRY(rreq)	 entry;
	rconn_reply_cb		*cb;
	void			*arg;
	ev_tstamp		 at;
};
TAILQ_HEAD(rreqs, rreq);

struct	rconn {
	struct ev_loop	*loop;
	struct rconn_opts o;
	char		*host;
	char		*path;
	int		 fd;
	int		 tcp;		/* the socket is connected */
	int		 state;		/* 0 connecting, 1 up, -1 lost */
	int		 setup;		/* AUTH/SELECT replies awaited */
	ev_io		 rio;
	ev_io		 wio;
	ev_timer	 tick;
	ev_tstamp	 started;
	ev_tstamp	 ping_at;	/* push: PING sent, no answer yet */
	ev_tstamp	 read_at;	/* push: last bytes read */
	redisReader	*rd;
	char		*obuf;
	size_t		 olen;		/* bytes in obuf */
	size_t		 ooff;		/* of which written */
	size_t		 ocap;
	struct rreqs	 q;
	char		 err[128];
	int		 busy;		/* inside a callback */
	int		 freed;		/* rconn_free while busy */
};

static void	 lose(struct rconn *, const char *);
static int	 queue(struct rconn *, rconn_reply_cb *, void *, const char *,
		    size_t);

static void
destroy(struct rconn *rc)
{
	redisReaderFree(rc->rd);
	free(rc->obuf);
	free(rc->host);
	free(rc->path);
	free(rc);
}

/* Stop I/O and fail every waiting callback (NULL). */
static void
shut(struct rconn *rc)
{
	struct rreq	*q;

	ev_io_stop(rc->loop, &rc->rio);
	ev_io_stop(rc->loop, &rc->wio);
	ev_timer_stop(rc->loop, &rc->tick);
	if (rc->fd != -1)
		close(rc->fd);
	rc->fd = -1;
	rc->olen = rc->ooff = 0;
	rc->busy++;
	while ((q = TAILQ_FIRST(&rc->q)) != NULL) {
		TAILQ_REMOVE(&rc->q, q, entry);
		if (q->cb != NULL)
			q->cb(q->arg, NULL);
		free(q);
	}
	rc->busy--;
}

static void
lose(struct rconn *rc, const char *why)
{
	if (rc->state == -1)
		return;
	rc->state = -1;
	snprintf(rc->err, sizeof(rc->err), "%s", why);
	shut(rc);
	if (!rc->freed && rc->o.on_state != NULL) {
		rc->busy++;
		rc->o.on_state(rc->o.arg, rc, 0);
		rc->busy--;
	}
}

/* Leave an event callback: free what was freed inside it. */
static void
leave(struct rconn *rc)
{
	if (--rc->busy == 0 && rc->freed)
		destroy(rc);
}

static void
set_up(struct rconn *rc)
{
	rc->state = 1;
	if (rc->o.on_state != NULL) {
		rc->busy++;
		rc->o.on_state(rc->o.arg, rc, 1);
		rc->busy--;
	}
}

/*
 * The answer to AUTH or SELECT ("what").  A refusal is a configuration
 * error: said with what was refused (for the log and /healthz), and the
 * connection is dropped (the owner retries with backoff).
 */
static void
setup_reply(struct rconn *rc, redisReply *r, const char *what)
{
	char	 why[128];

	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "Redis %s failed: %.*s", what,
		    (int)(r->len < 100 ? r->len : 100), r->str);
		log_warnx("rconn: %s:%d: %s", rc->host != NULL ? rc->host :
		    rc->path, rc->o.port, why);
		lose(rc, why);
		return;
	}
	if (--rc->setup == 0 && rc->state == 0)
		set_up(rc);
}

static void
auth_cb(void *arg, redisReply *r)
{
	setup_reply(arg, r, "AUTH");
}

static void
select_cb(void *arg, redisReply *r)
{
	setup_reply(arg, r, "SELECT");
}

/* Hand one reply to its waiter, or to on_push. */
static void
dispatch(struct rconn *rc, redisReply *r)
{
	struct rreq	*q;

	q = TAILQ_FIRST(&rc->q);
	if (rc->o.push && (r->type == REDIS_REPLY_ARRAY || q == NULL)) {
		if (rc->o.on_push != NULL)
			rc->o.on_push(rc->o.arg, rc, r);
		return;
	}
	if (q == NULL) {
		lose(rc, "reply nobody asked for");
		return;
	}
	TAILQ_REMOVE(&rc->q, q, entry);
	if (q->cb != NULL)
		q->cb(q->arg, r);
	free(q);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn	*rc = w->data;
	char		 buf[RCONN_READ];
	ssize_t		 n;
	void		*reply;

	rc->busy++;
	n = read(rc->fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		goto out;
	if (n <= 0) {
		lose(rc, n == 0 ? "connection closed" : strerror(errno));
		goto out;
	}
	rc->read_at = ev_now(loop);
	rc->ping_at = 0;
	if (redisReaderFeed(rc->rd, buf, n) != REDIS_OK) {
		lose(rc, "out of memory");
		goto out;
	}
	while (rc->state != -1 && !rc->freed) {
		reply = NULL;
		if (redisReaderGetReply(rc->rd, &reply) != REDIS_OK) {
			lose(rc, "protocol error");
			break;
		}
		if (reply == NULL)
			break;
		dispatch(rc, reply);
		freeReplyObject(reply);
	}
out:
	leave(rc);
}

static void
flush(struct rconn *rc)
{
	ssize_t		 n;

	while (rc->ooff < rc->olen) {
		n = write(rc->fd, rc->obuf + rc->ooff, rc->olen - rc->ooff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			ev_io_start(rc->loop, &rc->wio);
			return;
		}
		if (n == -1) {
			lose(rc, strerror(errno));
			return;
		}
		rc->ooff += n;
	}
	rc->olen = rc->ooff = 0;
	ev_io_stop(rc->loop, &rc->wio);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rconn	*rc = w->data;
	int		 e = 0;
	socklen_t	 len = sizeof(e);

	rc->busy++;
	if (!rc->tcp) {
		if (getsockopt(rc->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
			e = errno;
		if (e != 0) {
			lose(rc, strerror(e));
			goto out;
		}
		rc->tcp = 1;
		ev_io_start(loop, &rc->rio);
		if (rc->setup == 0)
			set_up(rc);
		if (rc->state == -1 || rc->freed)
			goto out;
	}
	flush(rc);
out:
	leave(rc);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rconn	*rc = w->data;
	struct rreq	*q;
	ev_tstamp	 now = ev_now(loop);

	rc->busy++;
	if (rc->state == 0 && now - rc->started > RCONN_TIMEOUT)
		lose(rc, "connect timed out");
	else if ((q = TAILQ_FIRST(&rc->q)) != NULL &&
	    now - q->at > RCONN_TIMEOUT)
		lose(rc, "no reply");
	else if (rc->o.push && rc->ping_at > 0 &&
	    now - rc->ping_at > RCONN_TIMEOUT)
		lose(rc, "no answer to PING");
	else if (rc->o.push && rc->state == 1 && rc->ping_at == 0 &&
	    now - rc->read_at > RCONN_PING) {
		/* A quiet subscriber: is the server still there? */
		if (queue(rc, NULL, NULL, "*1\r\n$4\r\nPING\r\n", 14) == 0)
			rc->ping_at = now;
	}
	leave(rc);
}

static int
dial(struct rconn *rc)
{
	struct addrinfo	 hints, *res = NULL;
	struct sockaddr_un sun;
	char		 port[16];
	int		 fd = -1, e, on = 1;

	if (rc->path != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(rc->path) >= sizeof(sun.sun_path)) {
			snprintf(rc->err, sizeof(rc->err), "path too long");
			return -1;
		}
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", rc->path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			goto fail;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
		    errno != EINPROGRESS && errno != EAGAIN)
			goto fail;
		rc->fd = fd;
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", rc->o.port);
	if ((e = getaddrinfo(rc->host, port, &hints, &res)) != 0) {
		snprintf(rc->err, sizeof(rc->err), "%s", gai_strerror(e));
		return -1;
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol)) == -1)
		goto fail;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		goto fail;
	if (connect(fd, res->ai_addr, res->ai_addrlen) == -1 &&
	    errno != EINPROGRESS)
		goto fail;
	freeaddrinfo(res);
	rc->fd = fd;
	return 0;
fail:
	snprintf(rc->err, sizeof(rc->err), "%s", strerror(errno));
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	return -1;
}

static int
queue(struct rconn *rc, rconn_reply_cb *cb, void *arg, const char *cmd,
    size_t len)
{
	struct rreq	*q;
	char		*nb;
	size_t		 cap;

	if (rc->state == -1 || rc->freed)
		return -1;
	if (len > RCONN_OBUF_MAX - rc->olen)
		return -1;
	if (rc->olen + len > rc->ocap) {
		if (rc->ooff > 0) {
			memmove(rc->obuf, rc->obuf + rc->ooff,
			    rc->olen - rc->ooff);
			rc->olen -= rc->ooff;
			rc->ooff = 0;
		}
		for (cap = rc->ocap ? rc->ocap : 4096; cap < rc->olen + len;)
			cap *= 2;
		if (cap > rc->ocap) {
			if ((nb = realloc(rc->obuf, cap)) == NULL)
				return -1;
			rc->obuf = nb;
			rc->ocap = cap;
		}
	}
	/* A push connection's replies to (S)SUBSCRIBE go to on_push. */
	if (rc->o.push && cb == NULL)
		q = NULL;
	else if ((q = malloc(sizeof(*q))) == NULL)
		return -1;
	memcpy(rc->obuf + rc->olen, cmd, len);
	rc->olen += len;
	if (q != NULL) {
		q->cb = cb;
		q->arg = arg;
		q->at = ev_now(rc->loop);
		TAILQ_INSERT_TAIL(&rc->q, q, entry);
	}
	if (rc->tcp)
		ev_io_start(rc->loop, &rc->wio);
	return 0;
}

struct rconn *
rconn_new(struct ev_loop *loop, const struct rconn_opts *o)
{
	struct rconn	*rc;
	const char	*argv[3];
	char		 db[16];
	int		 argc = 0;
	char		*cmd = NULL;
	int		 len;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	rc->loop = loop;
	rc->o = *o;
	rc->fd = -1;
	TAILQ_INIT(&rc->q);
	if ((o->host != NULL && (rc->host = strdup(o->host)) == NULL) ||
	    (o->path != NULL && (rc->path = strdup(o->path)) == NULL) ||
	    (rc->rd = redisReaderCreate()) == NULL)
		goto fail;
	rc->o.host = rc->host;
	rc->o.path = rc->path;
	rc->o.user = rc->o.pass = NULL;
	if (dial(rc) == -1) {
		log_warnx("rconn: %s:%d: %s", o->host != NULL ? o->host :
		    o->path, o->port, rc->err);
		goto fail;
	}
	if (o->pass != NULL && o->pass[0] != '\0') {
		argv[argc++] = "AUTH";
		if (o->user != NULL && o->user[0] != '\0')
			argv[argc++] = o->user;
		argv[argc++] = o->pass;
		if ((len = redisFormatCommandArgv(&cmd, argc, argv,
		    NULL)) < 0 || queue(rc, auth_cb, rc, cmd, len) == -1)
			goto fail;
		redisFreeCommand(cmd);
		cmd = NULL;
		rc->setup++;
	}
	if (o->db != 0) {
		snprintf(db, sizeof(db), "%d", o->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((len = redisFormatCommandArgv(&cmd, 2, argv, NULL)) < 0 ||
		    queue(rc, select_cb, rc, cmd, len) == -1)
			goto fail;
		redisFreeCommand(cmd);
		cmd = NULL;
		rc->setup++;
	}
	ev_io_init(&rc->rio, read_cb, rc->fd, EV_READ);
	rc->rio.data = rc;
	ev_io_init(&rc->wio, write_cb, rc->fd, EV_WRITE);
	rc->wio.data = rc;
	ev_timer_init(&rc->tick, tick_cb, 1., 1.);
	rc->tick.data = rc;
	rc->started = rc->read_at = ev_now(loop);
	ev_io_start(loop, &rc->wio);
	ev_timer_start(loop, &rc->tick);
	return rc;
fail:
	if (cmd != NULL)
		redisFreeCommand(cmd);
	if (rc->fd != -1)
		close(rc->fd);
	rc->fd = -1;
	shut(rc);
	destroy(rc);
	return NULL;
}

void
rconn_free(struct rconn *rc)
{
	if (rc == NULL || rc->freed)
		return;
	rc->freed = 1;
	if (rc->state != -1) {
		rc->state = -1;
		shut(rc);
	}
	if (rc->busy == 0)
		destroy(rc);
}

int
rconn_state(const struct rconn *rc)
{
	return rc->state;
}

const char *
rconn_error(const struct rconn *rc)
{
	return rc->err;
}

int
rconn_send(struct rconn *rc, rconn_reply_cb *cb, void *arg, const char *cmd,
    size_t len)
{
	return queue(rc, cb, arg, cmd, len);
}

int
rconn_sendv(struct rconn *rc, rconn_reply_cb *cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	char	*cmd = NULL;
	int	 len, rv;

	if ((len = redisFormatCommandArgv(&cmd, argc, argv, argvlen)) < 0)
		return -1;
	rv = queue(rc, cb, arg, cmd, len);
	redisFreeCommand(cmd);
	return rv;
}
