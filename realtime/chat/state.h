/*
 * state.h: the chat layer's shared state and its internal functions
 * (the realtime/chat/ files; private to the chat layer: main.c and the layers
 * below never include it).  The chat events of docs/api.md §4 run on
 * top of the Socket.IO server (sio_server.h), PostgreSQL (pgq.h) and
 * Redis (ps.h), and never block.
 *
 * Every request becomes a struct op holding a reference to its socket;
 * answers go out only while the socket is still connected.  Events for
 * a user go to this node's sockets of that user at once and, through
 * the user's Redis channel, to the other nodes (which skip envelopes
 * from themselves).
 */
#ifndef RT_CHAT_STATE_H
#define RT_CHAT_STATE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "lib/conf.h"
#include "lib/jwt_util.h"
#include "realtime/chat/dbread.h"
#include "realtime/chat/pgq.h"
#include "realtime/chat/ps.h"
#include "realtime/server/sio_server.h"

enum	stmt {
	S_USER,		/* $1 uid -> username */
	S_SEND,		/* $1 sender $2 recipient $3 content $4 cmid */
	S_START,	/* $1 me $2 username -> user id, conversation id,
			   1 if the conversation was just created */
	S_CONVS,	/* $1 me */
	S_HISTORY,	/* $1 conv $2 me $3 before $4 limit+1 */
	S_MARKREAD,	/* $1 conv $2 me */
	S_MEMBERS,	/* $1 conv -> user_one_id, user_two_id */
	S_LASTSEEN,	/* $1 uid */
	S_SENDB,	/* S_SEND over arrays: $1 senders $2 recipients ... */
	S_CONTACTS,	/* $1 uid -> the other user of each conversation */
	S_USERB,	/* $1 uids[] -> id, username (S_USER over an array) */
	S_CONTACTSB,	/* $1 uids[] -> uid, contact (S_CONTACTS over one) */
	S__MAX
};

/* The text of each statement (sql.c), prepared on every connection. */
extern const char *const chat_sql[S__MAX];

#define E_UNAUTH	"Unauthorized"
#define E_PAYLOAD	"Invalid payload"
#define E_RECIPIENT	"recipientId must be a positive integer"
#define E_NORECIPIENT	"Recipient not found"
#define E_SELF		"Cannot send a message to yourself"
#define E_CONTENT	"Message content must be between 1 and 5000 characters"
#define E_CMID		"clientMessageId must be a string of at most 64" \
			" characters"
#define E_USERNAME	"recipientUsername must be 3-30 letters, digits or" \
			" underscores"
#define E_SELFCONV	"Cannot start a conversation with yourself"
#define E_NOUSER	"User not found"
#define E_CONVID	"conversationId must be a positive integer"
#define E_BEFORE	"before must be a positive integer"
#define E_LIMIT		"limit must be a number"
#define E_NOTMEMBER	"Conversation not found"
#define E_INTERNAL	"Internal server error"
#define E_UNAVAIL	"Service unavailable, try again"
#define E_BUSY		"Too many requests in flight"

#define USER_BUCKETS	4096
#define SENDB_MAX	256	/* messages per S_SENDB statement */
/*
 * Connections writing messages, a sender's always on the same one (its
 * messages commit in order).  Several commit in parallel, but measured
 * (t/bench/run-chat, 2 cores) 4 gave no more msg/s than 1 and a p99
 * at 500x4 of 180-280 ms against 115-135 ms: one batch at a time
 * gathers bigger batches.  -DWRITERS=n to try again on other hardware.
 */
#ifndef WRITERS
#define WRITERS		1
#endif
#define CONV_CACHE	8192
#define USERB_MAX	512	/* connects per S_USERB statement */
#define FANB_MAX	512	/* transitions per S_CONTACTSB statement */
#define PSTAMP_BUCKETS	1024	/* PRESENCE_SCOPE=contacts stamps */
#define PSTAMP_TTL	60.	/* s a delivered stamp is remembered */
#define CONN_KEEP_MAX	64	/* a user's events kept per connect not yet
				   accepted */
#define BCAST_KEEP_MAX	16384	/* broadcasts kept while connects write
				   their presence */

struct	cuser;

struct	csock {
	struct sio_socket	*s;
	struct cuser		*u;
	TAILQ_ENTRY(csock)	 uentry;	/* in u->socks */
	TAILQ_ENTRY(csock)	 aentry;	/* in chat->all */
	long long		 typing_conv;	/* last conversation typed in */
	long long		 typing_peer;
	size_t			 nops;		/* requests being answered */
};
TAILQ_HEAD(csockq, csock);

/* Typing shown to this user's sockets, ended by timer. */
struct	tyt {
	ev_timer		 t;
	struct chat		*c;
	struct cuser		*u;
	long long		 typer;
	long long		 conv;
	LIST_ENTRY(tyt)		 entry;
};

struct	op;

struct	cuser {
	long long		 uid;
	char			 uname[JWT_UNAME_MAX];
	struct cuser		*hnext;
	struct csockq		 socks;
	size_t			 nsock;
	LIST_HEAD(, tyt)	 typing;
	TAILQ_HEAD(, op)	 waiting;	/* connects not yet accepted */
	ev_tstamp		 wait_since;	/* SSUBSCRIBE sent */
	int			 subscribing;	/* its answer awaited */
	int			 listening;	/* rt:{u:U} subscribed (or given
						   up on): connects go on */
	int			 hold;		/* being walked: keep it */
};

/* An event kept for a connect: after the broadcasts before bseq. */
struct	keptev {
	struct sio_buf		*buf;
	uint64_t		 bseq;
};

struct	convent {
	long long		 id, one, two;
};

/* The events, in the order of events[]; anything else is EV_OTHER. */
enum	chat_ev { EV_SEND = 0, EV_HISTORY, EV_CONVS, EV_START, EV_TYPING,
	EV_STOPTYPING, EV_MARKREAD, EV_ONLINE, EV_OTHER, EV__MAX };

#define LAT_N		12	/* ack latency buckets (+Inf aside) */
#define STG_N		12	/* send stage buckets (+Inf aside) */

/*
 * Where a sendMessage spends its time (chat_realtime_send_stage_seconds):
 * received to its S_SENDB queued, queued to the answer (pgq waits and
 * PostgreSQL, commit included), answer to its ack and events written.
 */
enum	send_stage { SS_GATHER = 0, SS_PG, SS_DELIVER, SS__MAX };

/* Counters of the chat layer, written by chat_metrics(). */
struct	chat_stats {
	uint64_t		 events[EV__MAX][SIO_REQ__MAX];
	uint64_t		 messages_sent;	/* stored by sendMessage */
	/* sendMessage, not cumulative; the last: above every bound */
	uint64_t		 ack_lat[LAT_N + 1];
	double			 ack_lat_sum;	/* seconds */
	/* by enum send_stage, like ack_lat */
	uint64_t		 stage[SS__MAX][STG_N + 1];
	double			 stage_sum[SS__MAX];
	uint64_t		 sendb;		/* S_SENDB statements */
	uint64_t		 sendb_msgs;	/* their messages */
};

/* PRESENCE_SCOPE=contacts: a transition of uid to tell its contacts. */
struct	pfan {
	struct chat		*c;
	long long		 uid;
	long long		 stamp;		/* < 0: went offline */
	struct pfan		*next;		/* in chat.fanq */
};

/* PRESENCE_SCOPE=contacts: the last presence stamp delivered for uid. */
struct	pstamp {
	long long		 uid;
	long long		 stamp;		/* absolute value */
	ev_tstamp		 at;
	struct pstamp		*next;
};

struct	chat {
	struct ev_loop		*loop;
	const struct conf	*conf;
	unsigned int		 node;
	struct pgq		*pw;		/* writes (batched inserts) */
	struct pgq		*pm[WRITERS];	/* messages; pm[0] is pw */
	struct pgq		*pr;		/* reads */
	struct dbread		*rd;		/* reads that may lag (history,
						   lists) via the standby, or
						   NULL: no DB_READ_HOST */
	struct ps		*ps;
	struct cuser		*users[USER_BUCKETS];
	struct csockq		 all;
	size_t			 nsock;
	struct convent		 convs[CONV_CACHE];
	struct chat_stats	 st;
	TAILQ_HEAD(, op)	 sendq[WRITERS]; /* sendMessage for S_SENDB */
	ev_prepare		 sendprep;	/* flushes sendq */
	size_t			 sendb_out[WRITERS]; /* S_SENDB awaited */
	ev_timer		 sweep;		/* connects waiting too long */
	TAILQ_HEAD(, op)	 connq;		/* connects for S_USERB */
	TAILQ_HEAD(, op)	 connecting;	/* connects writing presence */
	/*
	 * While there are any: the last BCAST_KEEP_MAX broadcasts, the
	 * one numbered n at bcast[n % BCAST_KEEP_MAX]; bseq numbers the
	 * next one, nbcast are kept.
	 */
	struct sio_buf		**bcast;
	uint64_t		 bseq;
	size_t			 nbcast;
	ev_prepare		 userprep;	/* flushes connq */
	/* chat_stop */
	int			 stopping;
	ev_timer		 stop_timer;
	ev_tstamp		 stop_deadline;
	int			 stop_cleared;
	size_t			 outstanding;	/* lastSeen writes, contacts
						   queries in flight */
	struct pstamp		*pstamps[PSTAMP_BUCKETS];
	struct pfan		*fanq;		/* for S_CONTACTSB (userprep) */
	void			(*stop_done)(void *);
	void			*stop_arg;
};

/*
 * A connect between its user check and its CONNECT answer: the user's
 * channel being subscribed, then its presence being written (and in
 * chat.connecting); "gone" once its user was freed meanwhile (chat_free):
 * the presence answer frees it.
 */
enum	connwait { CW_NONE = 0, CW_SUB, CW_PRESENCE, CW_GONE };

enum	opkind { OP_CONNECT, OP_SEND, OP_START, OP_CONVS, OP_HISTORY,
	OP_MARKREAD, OP_TYPING, OP_STOPTYPING, OP_ONLINE };

struct	op {
	struct chat		*c;
	struct sio_socket	*s;
	enum opkind		 kind;
	int64_t			 ackid;
	long long		 uid;
	char			 uname[JWT_UNAME_MAX];
	long long		 id;		/* conversation or recipient */
	long long		 conv;		/* startConversation result */
	long long		 before;
	int			 limit;
	int			 tries;
	char			*content;	/* sendMessage */
	char			*cmid;		/* sendMessage, or NULL */
	char			*peer;		/* startConversation username */
	json_t			*list;		/* conversationsList waiting */
	TAILQ_ENTRY(op)		 wentry;	/* in cuser.waiting or sendq */
	int			 counted;	/* in csock.nops */
	ev_tstamp		 t_recv;	/* sendMessage: received */
	ev_tstamp		 t_flush;	/* its statement queued */
	ev_tstamp		 t_res;		/* its answer read */
	/*
	 * connect: where it waits (session.c), whether to send the
	 * socket its own userOnline, the user's events kept for it
	 * until it is accepted (a ring of CONN_KEEP_MAX, oldest at
	 * khead), and the first broadcast it is owed (chat.bcast).
	 */
	enum connwait		 wait;
	int			 first;
	TAILQ_ENTRY(op)		 centry;	/* in chat.connecting */
	struct keptev		*kept;
	size_t			 khead, nkept;
	uint64_t		 bfrom;
};

/*
 * The functions the files share, by the file that defines them (each
 * file says what it is for in its top comment).
 */

/* json.c */
char	*lltoa(long long, char *, size_t);
char	*pg_idarray(const long long *, size_t);
long long	 col_id(const PGresult *, int, int);
json_t	*col_str(const PGresult *, int, int);
int	 json_id(const json_t *, long long *);
json_t	*message_json(const PGresult *, int, int, int, int, int, int, long long,
	    const char *, long long);
json_t	*user_json(const PGresult *, int, int);
void	 set_online(json_t *, int);

/* users.c */
struct cuser	*user_find(struct chat *, long long);
struct cuser	*user_get(struct chat *, long long);
void	 user_free(struct chat *, struct cuser *);
void	 conv_put(struct chat *, long long, long long, long long);
const struct convent	*conv_get(struct chat *, long long);
int	 conv_members(struct op *, const PGresult *, long long *, long long *);
void	 deliver_user(struct chat *, long long, const char *, json_t *);
void	 deliver_all(struct chat *, const char *, json_t *);
void	 emit_user(struct chat *, long long, const char *, json_t *);
void	 conn_replay(struct chat *, struct op *, struct sio_socket *);
void	 bcast_clear(struct chat *);
void	 connecting_leave(struct chat *, struct op *);

/* op.c */
void	 reply(struct sio_socket *, int64_t, const char *, json_t *);
void	 reply_error(struct sio_socket *, int64_t, const char *);
struct op	*op_new(struct chat *, struct sio_socket *, enum opkind,
	    int64_t, long long, const char *);
void	 op_free(struct op *);
int	 arg_conversation(struct csock *, json_t *, int64_t, long long *);
void	 op_fail(struct op *, const char *);
void	 op_exec(struct op *, struct pgq *, enum stmt, int, const char *const *,
	    int, pgq_cb *);
void	 op_read(struct op *, enum stmt, int, const char *const *, pgq_cb *);

/* typing.c */
void	 typing_seen(struct chat *, struct cuser *, const char *, json_t *);
void	 on_conv_event(struct chat *, struct csock *, json_t *, int64_t,
	    enum opkind);
void	 on_typing(struct chat *, struct csock *, json_t *, int64_t);
void	 on_stoptyping(struct chat *, struct csock *, json_t *, int64_t);

/* session.c */
void	 write_lastseen(struct chat *, long long);
void	 user_release(struct chat *, struct cuser *);
void	 sweep_cb(struct ev_loop *, ev_timer *, int);
void	 userprep_cb(struct ev_loop *, ev_prepare *, int);
void	 connq_free(struct chat *);

/* send.c */
void	 sendprep_cb(struct ev_loop *, ev_prepare *, int);
void	 on_send(struct chat *, struct csock *, json_t *, int64_t);

/* convs.c */
void	 on_convs(struct chat *, struct csock *, json_t *, int64_t);
void	 on_start(struct chat *, struct csock *, json_t *, int64_t);

/* history.c */
void	 on_history(struct chat *, struct csock *, json_t *, int64_t);
void	 markread_cb(void *, const PGresult *, const char *);
void	 on_markread(struct chat *, struct csock *, json_t *, int64_t);

/* presence.c */
int	 local_online(struct chat *, long long);
void	 on_online(struct chat *, struct csock *, json_t *, int64_t);
void	 presence_opts(struct chat *, struct ps_opts *);
int	 presence_fresh(struct chat *, long long, long long);
void	 presence_prune(struct chat *, int);
void	 presence_contact_made(struct chat *, long long, long long);
void	 presence_fan_flush(struct chat *);
void	 presence_fan_free(struct chat *);

/* events.c */
void	 chat_stage(struct chat *, enum send_stage, double);

/* chat.c */

#endif /* !RT_CHAT_STATE_H */
