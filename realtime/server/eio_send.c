/*
 * eio_send.c: what an Engine.IO session sends (server layer, part of the
 * session module with eio_server.c and eio_http.c).  Builds messages once
 * for both transports (struct eio_msg: a WebSocket frame whose tail is
 * the polling packet), queues them on the WebSocket or on the polling
 * queue, and answers parked polling GETs once per loop iteration
 * (preflush), so that what one pass of the loop sends to a polling
 * client leaves as one HTTP answer.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "lib/log.h"
#include "realtime/codec/http.h"
#include "realtime/codec/ws.h"
#include "realtime/codec/eio.h"
#include "realtime/server/conn.h"
#include "realtime/server/tr.h"
#include "realtime/server/eio_server.h"
#include "realtime/server/eio_private.h"

/* ------------------------------------------------------------------ */
/* Messages */

/*
 * A message of Engine.IO type "type" (text: the digit then "p"; binary:
 * the raw bytes) in a new buffer with room for the frame header in front.
 */
static int
msg_build(struct eio_msg *m, int type, const void *p, size_t len, int binary)
{
	struct conn_buf	*b;

	if ((b = conn_buf_new(EIO_MSG_RESERVE + len)) == NULL)
		return -1;
	if (len > 0)
		memcpy(b->data + EIO_MSG_RESERVE, p, len);
	if (binary)
		eio_msg_seal(m, b, 1);
	else {
		eio_msg_seal(m, b, 0);
		b->data[m->pkt_off] = (char)('0' + type);
	}
	return 0;
}

/*
 * Finish a message whose payload sits at data[EIO_MSG_RESERVE..len):
 * write the "4" (text) and, just before the packet, the WebSocket frame
 * header, so data[ws_off..] is the frame and data[pkt_off..] the polling
 * packet of the same bytes.  Takes the buffer.
 */
void
eio_msg_seal(struct eio_msg *m, struct conn_buf *b, int binary)
{
	size_t	 poff, plen, hl;

	poff = binary ? EIO_MSG_RESERVE : EIO_MSG_RESERVE - 1;
	if (!binary)
		b->data[poff] = '4';
	plen = b->len - poff;
	hl = ws_frame_header_len(plen);
	(void)ws_frame_header((unsigned char *)b->data + poff - hl,
	    binary ? WS_OP_BINARY : WS_OP_TEXT, 1, plen);
	m->b = b;
	m->ws_off = (uint32_t)(poff - hl);
	m->pkt_off = (uint32_t)poff;
	m->binary = binary;
}

/* A "message" packet with a copy of "p".  Returns 0 or -1. */
int
eio_msg_new(struct eio_msg *m, const void *p, size_t len, int binary)
{
	return msg_build(m, EIO_MESSAGE, p, len, binary);
}

/*
 * Drop the polling queue.  Like conn.c's queue_free() on purpose: the
 * items differ (whole packets with their frame and packet offsets here,
 * byte ranges for writev() there), and two five-line loops read better
 * than one queue generic over both.
 */
void
eio_queue_free(struct eio_sess *s)
{
	struct eio_qitem	*q;

	while ((q = s->qh) != NULL) {
		s->qh = q->next;
		conn_buf_unref(q->b);
		free(q);
	}
	s->qt = NULL;
	s->qbytes = 0;
}

/*
 * The parked GET of "s" has something to take: put the session on the
 * answer list (with a reference), answered by eio_preflush() at the end
 * of this loop iteration, so that everything sent in one pass of the
 * loop leaves as one HTTP answer.
 */
void
eio_mark_dirty(struct eio_sess *s)
{
	if (s->dirty || s->get == NULL)
		return;
	s->dirty = 1;
	eio_sess_ref(s);
	s->dnext = s->srv->dirty;
	s->srv->dirty = s;
}

/*
 * Send a message: straight to the WebSocket (which queues the prebuilt
 * frame), or onto the polling queue for the next GET.  A polling queue
 * past outq_max closes the session ("transport error"), as a WebSocket
 * output queue does in conn.c.  Returns 0, or -1 if not sent.
 */
int
eio_sess_send(struct eio_sess *s, const struct eio_msg *m)
{
	struct eio_qitem	*q;
	size_t			 len = m->b->len - m->pkt_off;

	if (s->state != ST_OPEN)
		return -1;
	if (s->tr == EIO_TR_WS) {
		if (s->ws == NULL || tr_ws_send(s->ws, m->b, m->ws_off) == -1)
			return -1;
		return 0;
	}
	if (s->qbytes + len > s->srv->o.outq_max) {
		log_warnx("eio: sid=%s polling queue full: closing", s->sid);
		s->srv->outq_drops++;
		eio_sess_close(s, "transport error", 1);
		return -1;
	}
	if ((q = malloc(sizeof(*q))) == NULL) {
		eio_sess_close(s, "transport error", 1);
		return -1;
	}
	q->next = NULL;
	q->b = m->b;
	conn_buf_ref(m->b);
	q->ws_off = m->ws_off;
	q->off = m->pkt_off;
	q->len = (uint32_t)len;
	q->binary = m->binary;
	if (s->qt != NULL)
		s->qt->next = q;
	else
		s->qh = q;
	s->qt = q;
	s->qbytes += len;
	eio_mark_dirty(s);
	return 0;
}

/* Send a bodiless or text control packet (ping, noop, close). */
int
eio_send_type(struct eio_sess *s, int type, const char *data, size_t len)
{
	struct eio_msg	 m;
	int		 rc;

	if (msg_build(&m, type, data, len, 0) == -1)
		return -1;
	rc = eio_sess_send(s, &m);
	conn_buf_unref(m.b);
	return rc;
}

/* Answer the parked GET with "special" or with the whole queue. */
void
eio_answer_get(struct eio_sess *s, const char *special)
{
	struct conn		*c = s->get;
	struct eio_item		*it = NULL;
	struct eio_qitem	*q;
	char			*body = NULL;
	size_t			 n = 0, i, len;

	if (c == NULL)
		return;
	s->get = NULL;
	tr_poll_unpark(c);
	if (special != NULL || s->qh == NULL) {
		(void)tr_poll_respond(c, 200, CT_TEXT, special ? special : "6",
		    1);
		return;
	}
	for (q = s->qh; q != NULL; q = q->next)
		n++;
	if ((it = calloc(n, sizeof(*it))) == NULL)
		goto fail;
	for (i = 0, q = s->qh; q != NULL; q = q->next, i++) {
		it[i].p = q->b->data + q->off;
		it[i].len = q->len;
		it[i].binary = q->binary;
	}
	len = eio_payload_join(NULL, 0, it, n);
	if ((body = malloc(len + 1)) == NULL)
		goto fail;
	(void)eio_payload_join(body, len + 1, it, n);
	eio_queue_free(s);
	(void)tr_poll_respond(c, 200, CT_TEXT, body, len);
	free(it);
	free(body);
	return;
fail:
	free(it);
	free(body);
	conn_close(c);
	eio_sess_close(s, "transport error", 0);
}

/*
 * conn.c calls this once per loop iteration, before flushing: answer the
 * parked GET of every session on the answer list that has something for
 * it (queued packets, or the noop that ends polling during an upgrade).
 * Requests of one client are thus answered in the order the loop read
 * them, and each GET carries everything queued so far.
 */
void
eio_preflush(void *arg)
{
	struct eio_srv	*srv = arg;
	struct eio_sess	*s, *nx;

	s = srv->dirty;
	srv->dirty = NULL;
	for (; s != NULL; s = nx) {
		nx = s->dnext;
		s->dirty = 0;
		if (s->state == ST_OPEN && s->get != NULL &&
		    (s->qh != NULL || s->upgrading == UPG_PROBED))
			eio_answer_get(s, NULL);
		eio_sess_unref(s);
	}
}
