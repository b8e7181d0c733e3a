/*
 * sio-load.c: a Socket.IO load client that is not the bottleneck.
 * Speaks WebSocket (RFC 6455, masked client frames) + Engine.IO v4 +
 * Socket.IO v5 itself, many connections per process on one epoll loop,
 * optionally in N forked processes that share their counters and
 * latency histograms through an anonymous shared mapping.
 *
 * Build:  gcc -O2 -Wall -Wextra -o sio-load t/bench/sio-load.c
 *
 * Modes (see t/bench/README.md):
 *  idle  open -n connections (at most -q handshakes pending at once),
 *        report the connect rate, print "READY" and hold them -d s,
 *        answering pings, so a script can read the server's RSS.
 *  echo  -c clients each keep -k "message" events in flight and time
 *        the "message-back" (sio-conformance / node-echo.mjs) for -d s.
 *  chat  -c conversations from a token file (-t, lines "userid token",
 *        lines 2i and 2i+1 are a pair): the first user keeps -k
 *        sendMessage in flight to the second, timed from emit to the
 *        partner's newMessage carrying that content.
 * Every run is bounded: connect phase by -T, load by -W + -d.
 * Only talks to the host given (default 127.0.0.1).
 */
#define _GNU_SOURCE	/* memmem */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXPROC		64
#define RBUF_MAX	(8 * 1024 * 1024)	/* max unparsed bytes/conn */
#define HIST_FINE	100000			/* 10 us buckets up to 1 s */
#define HIST_N		(HIST_FINE + 12000)	/* then 10 ms up to 121 s */
#define MAX_K		1024			/* max in flight per sender */

enum	mode { M_IDLE, M_ECHO, M_CHAT };
enum	cstate { C_FREE, C_TCP, C_HTTP, C_EIO, C_SIO, C_READY, C_DEAD };

struct	pstat {
	uint64_t	 connected;	/* Socket.IO CONNECT acknowledged */
	uint64_t	 failed;	/* refused, reset, timeout, !101, 44 */
	uint64_t	 lost;		/* ready conns closed by the server */
	uint64_t	 sent;		/* events emitted during the window */
	uint64_t	 done;		/* round trips done in the window */
	uint64_t	 acks;		/* chat: messageSent in the window */
	uint64_t	 errev;		/* "error" / connect_error events */
	uint64_t	 other;		/* other events (userOnline, ...) */
	uint64_t	 pings;		/* Engine.IO pings answered */
	uint64_t	 conn_done_ns;	/* when this proc finished connecting */
	int		 connecting_done;
	int		 finished;
	uint32_t	 hist[HIST_N];	/* latency, see hist_idx() */
};

struct	shared {
	volatile int	 go;		/* start emitting (echo, chat) */
	volatile int	 measure;	/* warm-up over: count */
	volatile int	 stop;		/* stop emitting and exit */
	struct pstat	 p[MAXPROC];
};

struct	conn {
	int		 fd;
	enum cstate	 st;
	size_t		 idx;		/* global connection number */
	uint64_t	 t0;		/* connect start, ns */
	char		*rb;		/* input not yet parsed */
	size_t		 rlen, rcap;
	char		*wb;		/* output not yet written */
	size_t		 wlen, woff, wcap;
	int		 pollout;
	char		*frag;		/* fragmented text message */
	size_t		 flen;
	int		 fop;
	struct conn	*peer;		/* chat: sender <-> receiver */
	int		 sender;	/* echo client or chat sender */
	long		 uid, peer_uid;	/* chat */
	const char	*token;
	uint64_t	*slot_t;	/* send time per slot, 0 = free */
	uint32_t	*slot_gen;
	int		 started;
};

static struct {
	const char	*host;
	int		 port;
	const char	*path;
	enum mode	 mode;
	size_t		 n;		/* connections (idle) */
	size_t		 clients;	/* echo clients or chat conversations */
	int		 k;
	double		 dur, warm, ctimeout;
	int		 procs;
	size_t		 pending_max;
	size_t		 pad;
	const char	*tokfile;
	int		 quiet;
} opt = { "127.0.0.1", 0, "/socket.io/", M_ECHO, 1000, 10, 1, 10.0, 1.0,
    60.0, 1, 256, 0, NULL, 0 };

static struct shared	*sh;
static long		*tok_uid;
static char		**tok_str;
static size_t		 ntok;
static struct sockaddr_in sin_srv;
static char		*padding;
static volatile sig_atomic_t gotsig;

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static size_t
hist_idx(uint64_t us)
{
	if (us < 1000000)
		return us / 10;
	us = (us - 1000000) / 10000;
	return us >= HIST_N - HIST_FINE ? HIST_N - 1 : HIST_FINE + us;
}

static double
hist_ms(size_t i)
{
	if (i < HIST_FINE)
		return (i * 10 + 5) / 1000.0;
	return 1000.0 + (i - HIST_FINE) * 10.0 + 5.0;
}

static void
die(const char *what)
{
	perror(what);
	exit(2);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sio-load -m idle|echo|chat -p port [-h 127.0.0.1]"
	    " [-P /socket.io/]\n"
	    "  [-n conns] [-c clients|conversations] [-k inflight] [-d secs]\n"
	    "  [-W warmup] [-T connect-timeout] [-j procs] [-q max-pending]\n"
	    "  [-s pad-bytes] [-t tokenfile] [-Q]\n");
	exit(2);
}

/* ---- tokens ------------------------------------------------------- */

static void
load_tokens(const char *fn)
{
	FILE	*f;
	char	*line = NULL, *sp, *e;
	size_t	 cap = 0, acap = 0;
	ssize_t	 len;
	long	 uid;

	if ((f = fopen(fn, "r")) == NULL)
		die(fn);
	while ((len = getline(&line, &cap, f)) != -1) {
		while (len > 0 &&
		    (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if ((sp = strchr(line, ' ')) == NULL &&
		    (sp = strchr(line, '\t')) == NULL)
			continue;
		*sp++ = '\0';
		uid = strtol(line, &e, 10);
		if (*e != '\0' || uid <= 0 || strlen(sp) > 2000 ||
		    strpbrk(sp, "\"\\") != NULL)
			continue;
		if (ntok == acap) {
			acap = acap ? acap * 2 : 1024;
			if ((tok_uid = realloc(tok_uid,
			    acap * sizeof(*tok_uid))) == NULL ||
			    (tok_str = realloc(tok_str,
			    acap * sizeof(*tok_str))) == NULL)
				die("realloc");
		}
		tok_uid[ntok] = uid;
		if ((tok_str[ntok] = strdup(sp)) == NULL)
			die("strdup");
		ntok++;
	}
	free(line);
	fclose(f);
	if (ntok == 0) {
		fprintf(stderr, "%s: no \"userid token\" lines\n", fn);
		exit(2);
	}
}

/* ---- output ------------------------------------------------------- */

static int
wreserve(struct conn *c, size_t more)
{
	char	*p;
	size_t	 ncap;

	if (c->woff > 0 && c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if (c->wlen + more <= c->wcap)
		return 0;
	if (c->woff > 0) {
		memmove(c->wb, c->wb + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
		if (c->wlen + more <= c->wcap)
			return 0;
	}
	ncap = c->wcap ? c->wcap : 512;
	while (ncap < c->wlen + more)
		ncap *= 2;
	if (ncap > RBUF_MAX || (p = realloc(c->wb, ncap)) == NULL)
		return -1;
	c->wb = p;
	c->wcap = ncap;
	return 0;
}


/* Queue one masked WebSocket frame with payload p. */
static int
ws_queue(struct conn *c, int opcode, const char *p, size_t len)
{
	unsigned char	*h, mask[4];
	size_t		 hl, i;
	uint32_t	 r;

	if (wreserve(c, len + 14) == -1)
		return -1;
	h = (unsigned char *)c->wb + c->wlen;
	h[0] = 0x80 | opcode;
	if (len < 126) {
		h[1] = 0x80 | len;
		hl = 2;
	} else if (len < 65536) {
		h[1] = 0x80 | 126;
		h[2] = len >> 8;
		h[3] = len & 0xff;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint64_t)len >> (56 - 8 * i);
		hl = 10;
	}
	r = (uint32_t)random();
	memcpy(mask, &r, 4);
	memcpy(h + hl, mask, 4);
	hl += 4;
	for (i = 0; i < len; i++)
		h[hl + i] = p[i] ^ mask[i & 3];
	c->wlen += hl + len;
	return 0;
}

static void
set_pollout(int ep, struct conn *c, int on)
{
	struct epoll_event	 ev;

	if (c->pollout == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl");
	c->pollout = on;
}

/* Write what is queued; returns -1 if the connection died. */
static int
flush(int ep, struct conn *c)
{
	ssize_t	 w;

	while (c->woff < c->wlen) {
		w = write(c->fd, c->wb + c->woff, c->wlen - c->woff);
		if (w == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->woff += (size_t)w;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	set_pollout(ep, c, c->wlen > 0);
	return 0;
}

/* ---- per-process state -------------------------------------------- */

static struct pstat	*me;
static int		 ep = -1;
static struct conn	*conns;
static size_t		 nconns, nstarted, npending;
static struct conn	**dirty;
static size_t		 ndirty;
static int		 errprints;

static void
mark_dirty(struct conn *c)
{
	if (c->st == C_DEAD || c->pollout || c->wlen == 0)
		return;
	/* pollout doubles as "already listed" until the flush. */
	c->pollout = 2;
	dirty[ndirty++] = c;
}

static void
conn_close(struct conn *c)
{
	if (c->st == C_DEAD || c->st == C_FREE)
		return;
	if (c->st == C_READY)
		me->lost++;
	else {
		me->failed++;
		npending--;
	}
	close(c->fd);
	c->fd = -1;
	c->st = C_DEAD;
	free(c->rb);
	free(c->wb);
	free(c->frag);
	c->rb = c->wb = c->frag = NULL;
	c->rlen = c->rcap = c->wlen = c->woff = c->wcap = c->flen = 0;
}

static void
complain(struct conn *c, const char *what, const char *p, size_t len)
{
	if (errprints++ >= 5 || opt.quiet)
		return;
	fprintf(stderr, "sio-load: conn %zu: %s: %.*s\n", c->idx, what,
	    (int)(len > 200 ? 200 : len), p);
}

/* Queue the message of "slot" from sender "c". */
static int
emit_slot(struct conn *c, int slot)
{
	char		 buf[8192];
	int		 n;
	uint32_t	 gen = ++c->slot_gen[slot];

	if (opt.mode == M_ECHO)
		n = snprintf(buf, sizeof(buf), "42[\"message\",\"%d.%u %s\"]",
		    slot, gen, padding);
	else
		n = snprintf(buf, sizeof(buf), "42[\"sendMessage\","
		    "{\"recipientId\":%ld,\"content\":\"%d.%u %s\"}]",
		    c->peer_uid, slot, gen, padding);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	c->slot_t[slot] = now_ns();
	if (sh->measure)
		me->sent++;
	return ws_queue(c, 1, buf, (size_t)n);
}

/* A reply "slot.gen" for sender "s" arrived. */
static void
complete(struct conn *s, const char *p, size_t len)
{
	unsigned long	 slot = 0, gen = 0;
	size_t		 i = 0;
	uint64_t	 t, us;

	while (i < len && p[i] >= '0' && p[i] <= '9' && slot < MAX_K)
		slot = slot * 10 + (p[i++] - '0');
	if (i == len || p[i++] != '.' || slot >= (unsigned long)opt.k)
		goto bad;
	while (i < len && p[i] >= '0' && p[i] <= '9' && gen < UINT32_MAX)
		gen = gen * 10 + (p[i++] - '0');
	if (s->slot_gen[slot] != gen || s->slot_t[slot] == 0)
		goto bad;
	t = now_ns();
	if (sh->measure && !sh->stop) {
		us = (t - s->slot_t[slot]) / 1000;
		me->hist[hist_idx(us)]++;
		me->done++;
	}
	s->slot_t[slot] = 0;
	if (!sh->stop && s->st == C_READY) {
		if (emit_slot(s, (int)slot) == -1)
			conn_close(s);
		else
			mark_dirty(s);
	}
	return;
bad:
	complain(s, "unexpected reply", p, len);
}

/* Socket.IO EVENT: p..len is what follows "42". */
static void
on_event(struct conn *c, const char *p, size_t len)
{
	const char	*name, *q, *arg;
	size_t		 i = 0, nlen, alen;
	static const char key[] = "\"content\":\"";

	if (len > 0 && p[0] == '/') {	/* namespace: not ours */
		me->other++;
		return;
	}
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	if (len - i < 3 || p[i] != '[' || p[i + 1] != '"')
		goto bad;
	name = p + i + 2;
	if ((q = memchr(name, '"', len - i - 2)) == NULL)
		goto bad;
	nlen = (size_t)(q - name);
	arg = q + 1;
	alen = len - (size_t)(arg - p);
	if (alen > 0 && arg[0] == ',') {
		arg++;
		alen--;
	}
	if (nlen == 12 && memcmp(name, "message-back", 12) == 0 &&
	    opt.mode == M_ECHO && c->sender) {
		if (alen < 2 || arg[0] != '"')
			goto bad;
		complete(c, arg + 1, alen - 1);
	} else if (nlen == 10 && memcmp(name, "newMessage", 10) == 0 &&
	    opt.mode == M_CHAT && !c->sender && c->peer != NULL) {
		if ((q = memmem(arg, alen, key, sizeof(key) - 1)) == NULL)
			goto bad;
		q += sizeof(key) - 1;
		complete(c->peer, q, alen - (size_t)(q - arg));
	} else if (nlen == 11 && memcmp(name, "messageSent", 11) == 0) {
		if (sh->measure && !sh->stop)
			me->acks++;
	} else if ((nlen == 5 && memcmp(name, "error", 5) == 0) ||
	    (nlen == 9 && memcmp(name, "exception", 9) == 0)) {
		me->errev++;
		complain(c, "error event", p, len);
	} else
		me->other++;
	return;
bad:
	complain(c, "unparsed event", p, len);
}

/* One complete WebSocket text message (an Engine.IO packet). */
static void
on_message(struct conn *c, const char *p, size_t len)
{
	char	 buf[4096];
	int	 n;

	if (len == 0)
		return;
	switch (p[0]) {
	case '0':	/* Engine.IO open */
		if (c->st != C_EIO)
			break;
		if (c->token != NULL)
			n = snprintf(buf, sizeof(buf),
			    "40{\"token\":\"%s\",\"userId\":%ld}", c->token,
			    c->uid);
		else
			n = snprintf(buf, sizeof(buf), "40");
		if (n < 0 || (size_t)n >= sizeof(buf) ||
		    ws_queue(c, 1, buf, (size_t)n) == -1) {
			conn_close(c);
			return;
		}
		c->st = C_SIO;
		mark_dirty(c);
		break;
	case '1':	/* Engine.IO close */
		conn_close(c);
		break;
	case '2':	/* ping */
		if (ws_queue(c, 1, "3", 1) == -1) {
			conn_close(c);
			return;
		}
		me->pings++;
		mark_dirty(c);
		break;
	case '4':
		if (len < 2)
			break;
		switch (p[1]) {
		case '0':
			if (c->st == C_SIO) {
				c->st = C_READY;
				npending--;
				me->connected++;
			}
			break;
		case '1':
			conn_close(c);
			break;
		case '2':
			on_event(c, p + 2, len - 2);
			break;
		case '4':
			me->errev++;
			complain(c, "connect_error", p, len);
			conn_close(c);
			break;
		default:
			me->other++;
			break;
		}
		break;
	default:	/* 3 pong, 6 noop */
		break;
	}
}

/*
 * Parse WebSocket frames in p..len; returns bytes consumed (a partial
 * frame stays), or -1 when the connection was closed.
 */
static ssize_t
parse_frames(struct conn *c, const char *p, size_t len)
{
	const unsigned char	*u;
	size_t			 pos = 0, hl, i;
	uint64_t		 plen;
	int			 fin, op, masked;
	char			*np;

	while (len - pos >= 2) {
		u = (const unsigned char *)p + pos;
		fin = u[0] & 0x80;
		op = u[0] & 0x0f;
		masked = u[1] & 0x80;
		plen = u[1] & 0x7f;
		hl = 2;
		if (plen == 126) {
			if (len - pos < 4)
				break;
			plen = (uint64_t)u[2] << 8 | u[3];
			hl = 4;
		} else if (plen == 127) {
			if (len - pos < 10)
				break;
			for (plen = 0, i = 0; i < 8; i++)
				plen = plen << 8 | u[2 + i];
			hl = 10;
		}
		if (plen > RBUF_MAX) {
			complain(c, "frame too large", "", 0);
			conn_close(c);
			return -1;
		}
		if (masked)
			hl += 4;
		if (len - pos < hl + plen)
			break;
		if (masked) {	/* servers must not, but be lenient */
			for (i = 0; i < plen; i++)
				((unsigned char *)p)[pos + hl + i] ^=
				    u[hl - 4 + (i & 3)];
		}
		pos += hl + plen;
		if (op == 0x8) {
			conn_close(c);
			return -1;
		} else if (op == 0x9) {
			if (ws_queue(c, 0xa, p + pos - plen, plen) == -1) {
				conn_close(c);
				return -1;
			}
			mark_dirty(c);
		} else if (op == 0x1 || op == 0x2 || op == 0x0) {
			if (op != 0 && fin) {
				if (op == 0x1)
					on_message(c, p + pos - plen, plen);
			} else {
				if (op != 0) {
					c->flen = 0;
					c->fop = op;
				}
				if (c->flen + plen > RBUF_MAX ||
				    (np = realloc(c->frag,
				    c->flen + plen + 1)) == NULL) {
					conn_close(c);
					return -1;
				}
				c->frag = np;
				memcpy(c->frag + c->flen, p + pos - plen, plen);
				c->flen += plen;
				if (fin) {
					if (c->fop == 0x1)
						on_message(c, c->frag, c->flen);
					c->flen = 0;
				}
			}
		}
		if (c->st == C_DEAD)
			return -1;
	}
	return (ssize_t)pos;
}

/* The HTTP 101 answer; returns bytes consumed, 0 if incomplete, -1. */
static ssize_t
parse_http(struct conn *c, const char *p, size_t len)
{
	const char	*e;

	if ((e = memmem(p, len, "\r\n\r\n", 4)) == NULL) {
		if (len > 16384) {
			complain(c, "huge HTTP answer", p, len);
			conn_close(c);
			return -1;
		}
		return 0;
	}
	if (len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
		complain(c, "handshake refused", p, (size_t)(e - p));
		conn_close(c);
		return -1;
	}
	c->st = C_EIO;
	return (ssize_t)(e + 4 - p);
}

static ssize_t
parse_input(struct conn *c, const char *p, size_t len)
{
	ssize_t	 a = 0, b;

	if (c->st == C_HTTP) {
		if ((a = parse_http(c, p, len)) <= 0)
			return a;
	}
	if ((b = parse_frames(c, p + a, len - (size_t)a)) == -1)
		return -1;
	return a + b;
}

static void
on_readable(struct conn *c)
{
	static char	 scratch[256 * 1024];
	ssize_t		 r, used;
	char		*buf, *np;
	size_t		 blen;

	r = read(c->fd, scratch, sizeof(scratch));
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (r == -1)
		return;
	if (c->rlen > 0) {
		if (c->rlen + (size_t)r > RBUF_MAX) {
			complain(c, "input overflow", "", 0);
			conn_close(c);
			return;
		}
		if (c->rlen + (size_t)r > c->rcap) {
			if ((np = realloc(c->rb,
			    c->rlen + (size_t)r)) == NULL) {
				conn_close(c);
				return;
			}
			c->rb = np;
			c->rcap = c->rlen + (size_t)r;
		}
		memcpy(c->rb + c->rlen, scratch, (size_t)r);
		c->rlen += (size_t)r;
		buf = c->rb;
		blen = c->rlen;
	} else {
		buf = scratch;
		blen = (size_t)r;
	}
	if ((used = parse_input(c, buf, blen)) == -1)
		return;
	blen -= (size_t)used;
	if (blen == 0) {
		c->rlen = 0;
		if (c->rcap > 4096) {
			free(c->rb);
			c->rb = NULL;
			c->rcap = 0;
		}
		return;
	}
	if (buf == c->rb) {
		memmove(c->rb, c->rb + used, blen);
	} else {
		if (blen > c->rcap) {
			if ((np = realloc(c->rb, blen)) == NULL) {
				conn_close(c);
				return;
			}
			c->rb = np;
			c->rcap = blen;
		}
		memcpy(c->rb, buf + used, blen);
	}
	c->rlen = blen;
}

static void
conn_start(struct conn *c)
{
	struct epoll_event	 ev;
	int			 one = 1;

	c->t0 = now_ns();
	npending++;
	c->st = C_TCP;
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		complain(c, "socket", strerror(errno), strlen(strerror(errno)));
		me->failed++;
		npending--;
		c->st = C_DEAD;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sin_srv,
	    sizeof(sin_srv)) == -1 && errno != EINPROGRESS) {
		complain(c, "connect", strerror(errno),
		    strlen(strerror(errno)));
		conn_close(c);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		die("epoll_ctl add");
	c->pollout = 1;
}

static void
on_connected(struct conn *c)
{
	char		 req[1024];
	int		 n, err = 0;
	socklen_t	 sl = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err) {
		complain(c, "connect", strerror(err), strlen(strerror(err)));
		conn_close(c);
		return;
	}
	n = snprintf(req, sizeof(req),
	    "GET %s?EIO=4&transport=websocket HTTP/1.1\r\n"
	    "Host: %s:%d\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n", opt.path, opt.host, opt.port);
	if (n < 0 || (size_t)n >= sizeof(req) || wreserve(c, (size_t)n) == -1) {
		conn_close(c);
		return;
	}
	memcpy(c->wb + c->wlen, req, (size_t)n);
	c->wlen += (size_t)n;
	c->st = C_HTTP;
	if (flush(ep, c) == -1)
		conn_close(c);
}

/* ---- one child process ------------------------------------------- */

static void
child(int pi)
{
	struct epoll_event	 evs[1024];
	struct conn		*c;
	size_t			 i, j, total;
	int			 n, e, loaded = 0;
	uint64_t		 deadline;

	me = &sh->p[pi];
	srandom((unsigned)getpid() ^ (unsigned)now_ns());
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	total = opt.mode == M_IDLE ? opt.n :
	    opt.mode == M_ECHO ? opt.clients : 2 * opt.clients;
	for (i = 0; i < total; i++) {
		j = opt.mode == M_CHAT ? i / 2 : i;
		if (j % (size_t)opt.procs == (size_t)pi)
			nconns++;
	}
	if ((conns = calloc(nconns + 1, sizeof(*conns))) == NULL ||
	    (dirty = calloc(nconns + 1, sizeof(*dirty))) == NULL)
		die("calloc");
	for (n = 0, i = 0; i < total; i++) {
		j = opt.mode == M_CHAT ? i / 2 : i;
		if (j % (size_t)opt.procs != (size_t)pi)
			continue;
		c = &conns[n++];
		c->fd = -1;
		c->idx = i;
		if (ntok > 0) {
			c->token = tok_str[i % ntok];
			c->uid = tok_uid[i % ntok];
		}
		if (opt.mode == M_ECHO || (opt.mode == M_CHAT && i % 2 == 0)) {
			c->sender = 1;
			if ((c->slot_t = calloc(opt.k,
			    sizeof(*c->slot_t))) == NULL ||
			    (c->slot_gen = calloc(opt.k,
			    sizeof(*c->slot_gen))) == NULL)
				die("calloc");
		}
		if (opt.mode == M_CHAT && i % 2 == 1) {
			conns[n - 2].peer = c;
			conns[n - 2].peer_uid = c->uid;
			c->peer = &conns[n - 2];
		}
	}
	deadline = now_ns() + (uint64_t)(opt.ctimeout * 1e9);
	while (!sh->stop) {
		while (nstarted < nconns && npending < opt.pending_max &&
		    !me->connecting_done)
			conn_start(&conns[nstarted++]);
		n = epoll_wait(ep, evs, 1024, 20);
		if (n == -1 && errno != EINTR)
			die("epoll_wait");
		for (e = 0; e < n; e++) {
			c = evs[e].data.ptr;
			if (c->st == C_DEAD)
				continue;
			if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				if (c->st == C_TCP)
					on_connected(c);
				else
					on_readable(c);
			}
			if (c->st != C_DEAD && (evs[e].events & EPOLLOUT)) {
				if (c->st == C_TCP)
					on_connected(c);
				else if (flush(ep, c) == -1)
					conn_close(c);
			}
		}
		if (!loaded && sh->go && me->connecting_done) {
			for (i = 0; i < nconns; i++) {
				c = &conns[i];
				if (!c->sender || c->st != C_READY ||
				    (c->peer != NULL && c->peer->st != C_READY))
					continue;
				for (j = 0; j < (size_t)opt.k; j++)
					if (emit_slot(c, (int)j) == -1)
						break;
				mark_dirty(c);
			}
			loaded = 1;
		}
		for (i = 0; i < ndirty; i++) {
			c = dirty[i];
			if (c->st == C_DEAD)
				continue;
			c->pollout = 0;
			if (flush(ep, c) == -1)
				conn_close(c);
		}
		ndirty = 0;
		if (!me->connecting_done &&
		    ((nstarted == nconns && npending == 0) ||
		    now_ns() > deadline)) {
			for (i = 0; i < nstarted; i++)
				if (conns[i].st != C_READY)
					conn_close(&conns[i]);
			me->conn_done_ns = now_ns();
			__atomic_store_n(&me->connecting_done, 1,
			    __ATOMIC_SEQ_CST);
		}
	}
	__atomic_store_n(&me->finished, 1, __ATOMIC_SEQ_CST);
	_exit(0);
}

/* ---- the parent --------------------------------------------------- */

static void
onsig(int sig)
{
	(void)sig;
	gotsig = 1;
}

/* Sleep up to secs, waking early on SIGINT/SIGTERM. */
static void
nap(double secs)
{
	uint64_t	 end = now_ns() + (uint64_t)(secs * 1e9);
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };

	while (!gotsig && now_ns() < end)
		nanosleep(&ts, NULL);
}

static void
sum(struct pstat *t)
{
	int	 p;
	size_t	 i;

	memset(t, 0, sizeof(*t));
	for (p = 0; p < opt.procs; p++) {
		t->connected += sh->p[p].connected;
		t->failed += sh->p[p].failed;
		t->lost += sh->p[p].lost;
		t->sent += sh->p[p].sent;
		t->done += sh->p[p].done;
		t->acks += sh->p[p].acks;
		t->errev += sh->p[p].errev;
		t->other += sh->p[p].other;
		t->pings += sh->p[p].pings;
		if (sh->p[p].conn_done_ns > t->conn_done_ns)
			t->conn_done_ns = sh->p[p].conn_done_ns;
		for (i = 0; i < HIST_N; i++)
			t->hist[i] += sh->p[p].hist[i];
	}
}

static double
pct(const struct pstat *t, double q)
{
	uint64_t	 want, acc = 0;
	size_t		 i;

	if (t->done == 0)
		return 0;
	want = (uint64_t)(q * (double)t->done);
	if (want >= t->done)
		want = t->done - 1;
	for (i = 0; i < HIST_N; i++) {
		acc += t->hist[i];
		if (acc > want)
			return hist_ms(i);
	}
	return hist_ms(HIST_N - 1);
}

static int
all_connecting_done(void)
{
	int	 p;

	for (p = 0; p < opt.procs; p++)
		if (!__atomic_load_n(&sh->p[p].connecting_done,
		    __ATOMIC_SEQ_CST))
			return 0;
	return 1;
}

int
main(int argc, char *argv[])
{
	static struct pstat	 t;
	struct rlimit		 rl;
	struct rusage		 ru;
	pid_t			 pids[MAXPROC];
	uint64_t		 t_start, t_meas = 0, t_stop = 0, t_last = 0;
	double			 csecs, cpu, wall, win;
	size_t			 total;
	int			 ch, p, status, bad = 0;
	const char		*mname;

	while ((ch = getopt(argc, argv,
	    "h:p:P:m:n:c:k:d:W:T:j:q:s:t:Q")) != -1) {
		switch (ch) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'P': opt.path = optarg; break;
		case 'm':
			if (strcmp(optarg, "idle") == 0)
				opt.mode = M_IDLE;
			else if (strcmp(optarg, "echo") == 0)
				opt.mode = M_ECHO;
			else if (strcmp(optarg, "chat") == 0)
				opt.mode = M_CHAT;
			else
				usage();
			break;
		case 'n': opt.n = strtoul(optarg, NULL, 10); break;
		case 'c': opt.clients = strtoul(optarg, NULL, 10); break;
		case 'k': opt.k = atoi(optarg); break;
		case 'd': opt.dur = atof(optarg); break;
		case 'W': opt.warm = atof(optarg); break;
		case 'T': opt.ctimeout = atof(optarg); break;
		case 'j': opt.procs = atoi(optarg); break;
		case 'q': opt.pending_max = strtoul(optarg, NULL, 10); break;
		case 's': opt.pad = strtoul(optarg, NULL, 10); break;
		case 't': opt.tokfile = optarg; break;
		case 'Q': opt.quiet = 1; break;
		default: usage();
		}
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.k < 1 || opt.k > MAX_K ||
	    opt.procs < 1 || opt.procs > MAXPROC || opt.dur < 0 ||
	    opt.dur > 3600 || opt.warm < 0 || opt.ctimeout <= 0 ||
	    opt.pad > 4000 || opt.pending_max < 1 || opt.n > 1000000 ||
	    opt.clients > 1000000 || strlen(opt.path) > 200 ||
	    strlen(opt.host) > 200)
		usage();
	memset(&sin_srv, 0, sizeof(sin_srv));
	sin_srv.sin_family = AF_INET;
	sin_srv.sin_port = htons(opt.port);
	if (inet_pton(AF_INET, opt.host, &sin_srv.sin_addr) != 1) {
		fprintf(stderr, "sio-load: -h wants an IPv4 address\n");
		return 2;
	}
	if ((padding = malloc(opt.pad + 1)) == NULL)
		die("malloc");
	memset(padding, 'x', opt.pad);
	padding[opt.pad] = '\0';
	if (opt.tokfile != NULL)
		load_tokens(opt.tokfile);
	if (opt.mode == M_CHAT && ntok < 2 * opt.clients) {
		fprintf(stderr,
		    "sio-load: chat needs %zu token lines, have %zu\n",
		    2 * opt.clients, ntok);
		return 2;
	}
	total = opt.mode == M_IDLE ? opt.n :
	    opt.mode == M_ECHO ? opt.clients : 2 * opt.clients;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < total + 1024) {
		rl.rlim_cur = total + 1024;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			/* No CAP_SYS_RESOURCE: as far as the hard limit. */
			if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
				rl.rlim_cur = rl.rlim_max;
				(void)setrlimit(RLIMIT_NOFILE, &rl);
			}
			if (!opt.quiet || total / opt.procs + 64 > rl.rlim_cur)
				fprintf(stderr, "sio-load: RLIMIT_NOFILE %llu:"
				    " %zu connections may not fit; try -j\n",
				    (unsigned long long)rl.rlim_cur, total);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, onsig);
	signal(SIGTERM, onsig);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	t_start = now_ns();
	for (p = 0; p < opt.procs; p++) {
		if ((pids[p] = fork()) == -1)
			die("fork");
		if (pids[p] == 0) {
			signal(SIGINT, SIG_IGN);
			signal(SIGTERM, SIG_IGN);
			child(p);
		}
	}

	/* Connect phase (bounded by -T in each child). */
	while (!all_connecting_done() && !gotsig) {
		nap(0.05);
		if (!opt.quiet && now_ns() - t_start > t_last + 5000000000ULL) {
			t_last = now_ns() - t_start;
			sum(&t);
			fprintf(stderr, "sio-load: %.0f s: %" PRIu64
			    " connected, %" PRIu64 " failed\n", t_last / 1e9,
			    t.connected, t.failed);
		}
		if (now_ns() - t_start > (uint64_t)((opt.ctimeout + 10) * 1e9))
			break;
	}
	sum(&t);
	csecs = ((t.conn_done_ns > t_start ? t.conn_done_ns : now_ns()) -
	    t_start) / 1e9;
	printf("connect: %" PRIu64 " of %zu connected, %" PRIu64
	    " failed, in %.2f s = %.0f connects/s\n", t.connected, total,
	    t.failed, csecs, csecs > 0 ? t.connected / csecs : 0);
	fflush(stdout);
	if (opt.mode == M_IDLE) {
		printf("READY %" PRIu64 "\n", t.connected);
		fflush(stdout);
		nap(opt.dur);
	} else if (!gotsig) {
		sh->go = 1;
		nap(opt.warm);
		t_meas = now_ns();
		sh->measure = 1;
		nap(opt.dur);
		t_stop = now_ns();
	}
	sh->stop = 1;
	for (p = 0; p < opt.procs; p++) {
		if (waitpid(pids[p], &status, 0) == -1)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad = 1;
	}
	wall = (now_ns() - t_start) / 1e9;
	if (getrusage(RUSAGE_CHILDREN, &ru) == -1)
		die("getrusage");
	cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	sum(&t);
	mname = opt.mode == M_IDLE ? "idle" :
	    opt.mode == M_ECHO ? "echo" : "chat";
	win = t_stop > t_meas ? (t_stop - t_meas) / 1e9 : 0;
	if (opt.mode != M_IDLE) {
		printf("%s: %" PRIu64 " round trips in %.2f s = %.0f/s; "
		    "latency ms p50 %.3f p90 %.3f p99 %.3f"
		    " p99.9 %.3f max %.3f\n",
		    mname, t.done, win, win > 0 ? t.done / win : 0,
		    pct(&t, 0.50), pct(&t, 0.90), pct(&t, 0.99), pct(&t, 0.999),
		    pct(&t, 1.0));
	}
	printf("events: sent %" PRIu64 " done %" PRIu64 " messageSent %" PRIu64
	    " error %" PRIu64 " other %" PRIu64 " pings %" PRIu64
	    " lost %" PRIu64 "\n", t.sent, t.done, t.acks, t.errev, t.other,
	    t.pings, t.lost);
	printf("client cpu: %.2f s user+sys over %.2f s wall = %.0f%%"
	    " of one core (%d procs)\n", cpu, wall,
	    wall > 0 ? 100 * cpu / wall : 0, opt.procs);
	printf("RESULT mode=%s conns=%zu connected=%" PRIu64 " failed=%" PRIu64
	    " connect_s=%.3f connects_per_s=%.0f k=%d rate=%.0f p50_ms=%.3f"
	    " p99_ms=%.3f lost=%" PRIu64 " errors=%" PRIu64 " other=%" PRIu64
	    " client_cpu_s=%.2f wall_s=%.2f\n", mname, total, t.connected,
	    t.failed, csecs, csecs > 0 ? t.connected / csecs : 0, opt.k,
	    win > 0 ? t.done / win : 0, pct(&t, 0.5), pct(&t, 0.99), t.lost,
	    t.errev, t.other, cpu, wall);
	return bad || t.connected == 0 ? 1 : 0;
}
