/*
 * linger.h: the lingering close of sockets we end after an answer
 * (server layer, below conn.c's users; used by conn.c only).  A socket
 * closed while the peer may still be sending (a 413 to an upload, say)
 * has its write side shut and its input read and dropped until EOF,
 * LINGER_BYTES or LINGER_SECS, so the kernel does not answer the unread
 * bytes with a reset that destroys the answer before the peer reads it.
 */
#ifndef RT_SERVER_LINGER_H
#define RT_SERVER_LINGER_H

#include <ev.h>

#define LINGER_SECS	2		/* a socket is drained so long */
#define LINGER_MAX	1024		/* sockets draining at once */
#define LINGER_BYTES	(4 * 1024 * 1024) /* input dropped per socket */

struct	linger_set;

/* Returns NULL on ENOMEM. */
struct linger_set	*linger_new(struct ev_loop *);
/* Close every socket still draining and free. NULL is fine. */
void		 linger_free(struct linger_set *);
/*
 * Take over "fd": shut its write side and drain it.  Returns 0, or -1
 * (too many draining, no memory, shutdown failed): the caller keeps
 * the fd and closes it itself.
 */
int		 linger_fd(struct linger_set *, int fd);

#endif /* !RT_SERVER_LINGER_H */
