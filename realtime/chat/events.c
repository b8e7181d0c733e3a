/*
 * events.c: the table of chat events (name, argument shape, handler,
 * metrics label) that drives dispatch and the counters of
 * chat_realtime_events_total; request accounting (the Socket.IO
 * server's req_tag/req_done); the chat layer's /metrics families.
 * Chat layer (realtime/chat/), on top of the Socket.IO server.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "lib/log.h"
#include "lib/prom.h"
#include "realtime/chat/chat.h"
#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/ps.h"
#include "realtime/chat/state.h"
#include "realtime/server/sio_server.h"
#include "realtime/server/metrics.h"

/* The shape of an event's first argument, checked before its handler. */
enum	ev_arg {
	ARG_ANY,		/* ignored: anything, or nothing */
	ARG_OBJECT		/* an object, else "Invalid payload" */
};

/*
 * The events of docs/api.md §4: one row per event drives dispatch
 * (chat_on_event: the argument's shape, then the handler) and the
 * "event" label of chat_realtime_events_total (the row's index is the
 * request's tag).  Anything else is "other".
 */
static const struct chat_event {
	const char	*name;
	enum ev_arg	 arg;
	void		(*handler)(struct chat *, struct csock *, json_t *,
			    int64_t);
} events[EV__MAX] = {
	[EV_SEND] =		{ "sendMessage", ARG_OBJECT, on_send },
	[EV_HISTORY] =		{ "getMessages", ARG_OBJECT, on_history },
	[EV_CONVS] =		{ "getConversations", ARG_ANY, on_convs },
	[EV_START] =		{ "startConversation", ARG_OBJECT, on_start },
	[EV_TYPING] =		{ "typing", ARG_OBJECT, on_typing },
	[EV_STOPTYPING] =	{ "stopTyping", ARG_OBJECT, on_stoptyping },
	[EV_MARKREAD] =		{ "markRead", ARG_OBJECT, on_markread },
	[EV_ONLINE] =		{ "getOnlineUsers", ARG_ANY, on_online },
	[EV_OTHER] =		{ "other", ARG_ANY, NULL },
};

/* The "status" label, by enum sio_req_end. */
static const char *const req_status[SIO_REQ__MAX] = {
	"ok", "error", "noack", "closed", "drained"
};

/* Ack latency buckets of sendMessage, seconds (+Inf aside). */
static const double lat_le[LAT_N] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

/* sendMessage stage buckets, seconds (+Inf aside). */
static const double stg_le[STG_N] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 1
};

/* The "stage" label, by enum send_stage. */
static const char *const stg_name[SS__MAX] = {
	"gather", "pg", "deliver"
};

static enum chat_ev
event_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < EV_OTHER; i++)
		if (strcmp(name, events[i].name) == 0)
			return (enum chat_ev)i;
	return EV_OTHER;
}

/*
 * Socket.IO callbacks.
 */

void
chat_on_event(struct sio_socket *s, const char *name, json_t *args,
    int64_t ackid, const struct sio_bin *bins, size_t nbins, void *arg)
{
	struct chat	*c = arg;
	struct csock	*cs = sio_socket_data(s);
	json_t		*pl = json_array_get(args, 0);
	enum chat_ev	 ev;

	if (cs == NULL)
		return;
	if (cs->nops >= CHAT_OPS_MAX) {
		reply_error(s, ackid, E_BUSY);
		return;
	}
	ev = event_find(name);
	if (events[ev].handler == NULL) {
		if (ackid >= 0)
			reply_error(s, ackid, "Unknown event");
	} else if (events[ev].arg == ARG_OBJECT && !json_is_object(pl))
		reply_error(s, ackid, E_PAYLOAD);
	else
		events[ev].handler(c, cs, pl, ackid);
}

/*
 * Request accounting (sio_opts.req_tag, req_done): the event's row in
 * events[] is its tag; the counters are read by chat_metrics().
 */

int
chat_req_tag(const char *name, void *arg)
{
	return (int)event_find(name);
}

void
chat_req_done(struct sio_socket *s, int tag, enum sio_req_end how,
    double secs, void *arg)
{
	struct chat	*c = arg;
	size_t		 i;

	if (tag < 0 || tag >= EV__MAX || how >= SIO_REQ__MAX)
		return;
	c->st.events[tag][how]++;
	if (log_enabled(LOG_LVL_DEBUG)) {
		if (how == SIO_REQ_OK || how == SIO_REQ_ERROR)
			log_debug("req event=%s status=%s ms=%.1f sid=%s "
			    "uid=%lld", events[tag].name, req_status[how],
			    secs * 1000., sio_socket_id(s), sio_socket_uid(s));
		else if (how != SIO_REQ_CLOSED)
			log_debug("req event=%s status=%s sid=%s uid=%lld",
			    events[tag].name, req_status[how],
			    sio_socket_id(s), sio_socket_uid(s));
	}
	if (tag != EV_SEND || secs < 0 ||
	    (how != SIO_REQ_OK && how != SIO_REQ_ERROR))
		return;
	c->st.ack_lat_sum += secs;
	for (i = 0; i < LAT_N; i++)
		if (secs <= lat_le[i]) {
			c->st.ack_lat[i]++;
			return;
		}
	c->st.ack_lat[LAT_N]++;
}

/* One sendMessage spent "secs" in stage "st" (send.c). */
void
chat_stage(struct chat *c, enum send_stage st, double secs)
{
	size_t	 i;

	if (st >= SS__MAX)
		return;
	if (secs < 0)
		secs = 0;
	c->st.stage_sum[st] += secs;
	for (i = 0; i < STG_N; i++)
		if (secs <= stg_le[i]) {
			c->st.stage[st][i]++;
			return;
		}
	c->st.stage[st][STG_N]++;
}

/* Where sendMessage and the writer connections spend their time. */
static void
stage_metrics(struct prom *b, struct chat *c)
{
	struct pgq_stats	 qs;
	char			 les[STG_N][16];
	const char		*le[STG_N];
	double			 w[3] = { 0, 0, 0 };
	uint64_t		 n = 0;
	size_t			 i;

	prom_family(b, "chat_realtime_send_stage_seconds", "histogram",
	    "sendMessage: received to its statement queued (gather), to "
	    "the answer (pg), to its ack and events written (deliver).");
	for (i = 0; i < STG_N; i++) {
		(void)snprintf(les[i], sizeof(les[i]), "%g", stg_le[i]);
		le[i] = les[i];
	}
	for (i = 0; i < SS__MAX; i++)
		prom_histogram(b, "chat_realtime_send_stage_seconds", "stage",
		    stg_name[i], le, c->st.stage[i], STG_N,
		    c->st.stage_sum[i]);
	prom_counter(b, "chat_realtime_send_batches_total",
	    "S_SENDB statements (batches of sendMessage).", c->st.sendb);
	prom_counter(b, "chat_realtime_send_batched_total",
	    "sendMessage sent in S_SENDB statements.", c->st.sendb_msgs);
	for (i = 0; i < WRITERS; i++) {
		pgq_stats(c->pm[i], &qs);
		n += qs.done;
		w[0] += qs.queue_s;
		w[1] += qs.pipe_s;
		w[2] += qs.server_s;
	}
	prom_counter(b, "chat_realtime_pg_write_statements_total",
	    "Statements answered on the writer connections.", n);
	prom_family(b, "chat_realtime_pg_write_seconds_total", "counter",
	    "Writer statements: queued in the node (queue), sent behind "
	    "earlier ones (pipeline), from then to the answer (server).");
	for (i = 0; i < 3; i++)
		prom_printf(b, "chat_realtime_pg_write_seconds_total"
		    "{stage=\"%s\"} %.6f\n", i == 0 ? "queue" :
		    i == 1 ? "pipeline" : "server", w[i]);
}

/* The read standby's families (DB_READ_HOST set). */
static void
dbread_metrics(struct prom *b, const struct dbread *rd)
{
	struct dbread_stats	 ds;
	size_t			 i;

	dbread_stats(rd, &ds);
	prom_family(b, "chat_realtime_db_reads_total", "counter",
	    "Reads that may lag, by the server that answered and why.");
	for (i = 0; i < DBR__MAX; i++)
		prom_sample(b, "chat_realtime_db_reads_total", ds.reads[i],
		    "target", i == DBR_STANDBY ? "standby" : "primary",
		    "reason", dbread_why_name((enum dbread_why)i),
		    (const char *)NULL);
	prom_gauge(b, "chat_realtime_db_read_standby",
	    "1 while new reads go to the standby.", (uint64_t)ds.standby);
	prom_gauge(b, "chat_realtime_db_read_lag_ms",
	    "ms since the time the standby has every write of (0: unknown).",
	    ds.lag < 0 ? (uint64_t)0 : (uint64_t)(ds.lag * 1000));
	prom_counter(b, "chat_realtime_pg_standby_errors_total",
	    "Standby connections lost or failed, failed statements.",
	    ds.standby_pg.errors);
}

/* The chat layer's families of /metrics, and those of its stores. */
void
chat_metrics(struct prom *b, void *arg)
{
	struct chat		*c = arg;
	struct pgq_stats	 qs;
	struct ps_stats		 rs;
	char			 les[LAT_N][16];
	const char		*le[LAT_N];
	uint64_t		 pg_errors = 0, pg_reconnects = 0;
	size_t			 e, h, i;

	prom_family(b, "chat_realtime_events_total", "counter",
	    "Chat events received, by name and how they ended.");
	for (e = 0; e < EV__MAX; e++)
		for (h = 0; h < SIO_REQ__MAX; h++)
			prom_sample(b, "chat_realtime_events_total",
			    c->st.events[e][h], "event", events[e].name,
			    "status", req_status[h], (const char *)NULL);
	prom_counter(b, "chat_realtime_messages_sent_total",
	    "Messages stored by sendMessage.", c->st.messages_sent);
	prom_family(b, "chat_realtime_ack_latency_seconds", "histogram",
	    "sendMessage: event received to ack queued.");
	for (i = 0; i < LAT_N; i++) {
		(void)snprintf(les[i], sizeof(les[i]), "%g", lat_le[i]);
		le[i] = les[i];
	}
	prom_histogram(b, "chat_realtime_ack_latency_seconds", NULL, NULL,
	    le, c->st.ack_lat, LAT_N, c->st.ack_lat_sum);
	ps_stats(c->ps, &rs);
	prom_counter(b, "chat_realtime_redis_errors_total",
	    "Redis connections lost or failed, error replies.", rs.errors);
	prom_counter(b, "chat_realtime_redis_reconnects_total",
	    "Redis reconnect attempts.", rs.reconnects);
	pgq_stats(c->pr, &qs);
	pg_errors += qs.errors;
	pg_reconnects += qs.reconnects;
	for (i = 0; i < WRITERS; i++) {
		pgq_stats(c->pm[i], &qs);
		pg_errors += qs.errors;
		pg_reconnects += qs.reconnects;
	}
	prom_counter(b, "chat_realtime_pg_errors_total",
	    "PostgreSQL connections lost or failed, failed statements.",
	    pg_errors);
	prom_counter(b, "chat_realtime_pg_reconnects_total",
	    "PostgreSQL reconnect attempts.", pg_reconnects);
	stage_metrics(b, c);
	if (c->rd != NULL)
		dbread_metrics(b, c->rd);
}
