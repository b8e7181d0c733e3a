/*
 * tr_ws.c: the WebSocket transport of the realtime server.  Frames the
 * bytes of an upgraded connection (realtime/codec/ws.h does the parsing),
 * reassembles fragmented messages up to maxPayload, answers pings and
 * close frames, and hands each complete message up to its session
 * through the tr_up callbacks (tr.h).  Outgoing messages are queued as
 * prebuilt frames, so one fan-out buffer serves every socket.
 * Memory: a fragment buffer exists only while a fragmented message is
 * being received.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "realtime/codec/ws.h"
#include "realtime/server/conn.h"
#include "realtime/server/tr.h"

struct	tr_ws {
	const struct tr_up *up;
	void		*sess;		/* the layer above's, or NULL */
	struct ws_msg	 m;
	char		*frag;		/* fragments so far, or NULL */
	size_t		 fraglen;
	int		 closing;	/* close frame sent */
};

static ssize_t	 ws_input(struct conn *, char *, size_t);
static void	 ws_closed(struct conn *);

static const struct conn_ops ws_ops = { ws_input, ws_closed, NULL };

static int
send_control(struct conn *c, unsigned op, const void *p, size_t len)
{
	unsigned char	 fr[WS_MAX_SERVER_HEADER + WS_MAX_CONTROL];
	size_t		 n;

	n = ws_frame_encode(fr, sizeof(fr), op, p, len);
	if (n == 0 || n > sizeof(fr))
		return -1;
	return conn_send_copy(c, fr, n);
}

void
tr_ws_close(struct conn *c, unsigned code)
{
	struct tr_ws	*t = c->owner;
	unsigned char	 pl[WS_MAX_CONTROL];
	size_t		 n;

	if (t == NULL || (c->flags & CONN_CLOSED))
		return;
	if (!t->closing) {
		t->closing = 1;
		n = ws_close_payload(pl, (uint16_t)code, "");
		(void)send_control(c, WS_OP_CLOSE, pl, n);
	}
	conn_close_flush(c);
}

int
tr_ws_send(struct conn *c, struct conn_buf *b, size_t off)
{
	struct tr_ws	*t = c->owner;

	if (t == NULL || t->closing)
		return -1;
	return conn_send(c, b, off, b->len - off);
}

int
tr_ws_send_text(struct conn *c, const char *p, size_t len)
{
	struct tr_ws	*t = c->owner;
	struct conn_buf	*b;
	size_t		 n;
	int		 rc;

	if (t == NULL || t->closing)
		return -1;
	n = ws_frame_encode(NULL, 0, WS_OP_TEXT, p, len);
	if ((b = conn_buf_new(n)) == NULL)
		return -1;
	(void)ws_frame_encode(b->data, n, WS_OP_TEXT, p, len);
	rc = conn_send(c, b, 0, n);
	conn_buf_unref(b);
	return rc;
}

static void
fail(struct conn *c, unsigned code, const char *why)
{
	struct tr_ws	*t = c->owner;

	log_debug("ws: fd=%d closing %u: %s", c->io.fd, code, why);
	if (t->sess != NULL)
		t->up->ws_gone(t->sess, c);
	tr_ws_close(c, code);
}

static void
deliver(struct conn *c, char *p, size_t len, int binary)
{
	struct tr_ws	*t = c->owner;

	if (t->sess != NULL && !t->closing)
		t->up->message(t->sess, c, p, len, binary);
}

static ssize_t
ws_input(struct conn *c, char *p, size_t len)
{
	struct tr_ws	*t = c->owner;
	struct ws_frame	 f;
	size_t		 used = 0, flen;
	char		*pl, *nb;
	uint16_t	 code;
	const char	*reason;
	size_t		 rlen;
	int		 r;

	while (used < len && !(c->flags & (CONN_CLOSED | CONN_LINGER))) {
		if (t->closing)
			return (ssize_t)len;	/* ignore all after a close */
		r = ws_frame_parse(&f, p + used, len - used, t->m.max, 1);
		if (r == 0)
			break;
		if (r < 0) {
			fail(c, f.close_code, f.why);
			return (ssize_t)len;
		}
		if (len - used - f.hdr_len < f.len)
			break;		/* payload not all here yet */
		flen = (size_t)f.len;
		pl = p + used + f.hdr_len;
		ws_unmask(pl, flen, f.mask, 0);
		used += f.hdr_len + flen;
		r = ws_msg_frame(&t->m, &f, pl, flen);
		if (r < 0) {
			fail(c, t->m.close_code, t->m.why);
			return (ssize_t)len;
		}
		if (r == WS_MSG_CONTROL) {
			if (f.opcode == WS_OP_PING)
				(void)send_control(c, WS_OP_PONG, pl, flen);
			else if (f.opcode == WS_OP_CLOSE) {
				r = ws_close_parse(pl, flen, &code, &reason,
				    &rlen);
				fail(c, r ? (unsigned)r : WS_CLOSE_NORMAL,
				    "peer closed");
				return (ssize_t)len;
			}
			continue;
		}
		if (r == WS_MSG_PART || t->frag != NULL) {
			if (flen > 0) {
				if ((nb = realloc(t->frag,
				    t->fraglen + flen)) == NULL) {
					fail(c, WS_CLOSE_INTERNAL, "realloc");
					return (ssize_t)len;
				}
				t->frag = nb;
				memcpy(t->frag + t->fraglen, pl, flen);
				t->fraglen += flen;
			} else if (t->frag == NULL &&
			    (t->frag = malloc(1)) == NULL) {
				fail(c, WS_CLOSE_INTERNAL, "malloc");
				return (ssize_t)len;
			}
			if (r == WS_MSG_DONE) {
				nb = t->frag;
				t->frag = NULL;
				flen = t->fraglen;
				t->fraglen = 0;
				deliver(c, nb, flen,
				    t->m.opcode == WS_OP_BINARY);
				free(nb);
			}
			continue;
		}
		deliver(c, pl, flen, t->m.opcode == WS_OP_BINARY);
	}
	return (ssize_t)used;
}

static void
ws_closed(struct conn *c)
{
	struct tr_ws	*t = c->owner;

	if (t == NULL)
		return;
	if (t->sess != NULL)
		t->up->ws_gone(t->sess, c);
	free(t->frag);
	free(t);
	c->owner = NULL;
}

/* The session forgets this connection (it closes it itself). */
void
tr_ws_detach(struct conn *c)
{
	struct tr_ws	*t = c->owner;

	if (t != NULL)
		t->sess = NULL;
}

int
tr_ws_attach(struct conn *c, const struct tr_up *up, void *sess, size_t max)
{
	struct tr_ws	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->up = up;
	t->sess = sess;
	ws_msg_init(&t->m, max);
	c->owner = t;
	c->ops = &ws_ops;
	c->deadline = 0;
	return 0;
}
