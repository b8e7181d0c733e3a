/*
 * listen.h: chat-fcgi's listening sockets, all non-blocking: the
 * FastCGI socket (a unix path, or HOST:PORT so workers on several hosts
 * can serve one nginx) and the /metrics address (HOST:PORT).
 */
#ifndef FCGI_LISTEN_H
#define FCGI_LISTEN_H

#include <stddef.h>	/* size_t */
#include <sys/types.h>	/* dev_t, ino_t */

/*
 * Parse "host:port" or "[v6]:port" into host and port buffers (a bare
 * IPv6 address needs its brackets).  Returns 0 or -1.
 */
int	 listen_hostport(const char *s, char *host, size_t hostsz,
	    char *port, size_t portsz);

/*
 * Listen on "HOST:PORT" ("[v6]:PORT" for IPv6): only the address given
 * (no wildcard unless asked for with 0.0.0.0 or [::]).  Returns the fd,
 * or -1 (logged, naming the option "what", such as "-s").
 */
int	 listen_tcp(const char *what, const char *hostport, int backlog);

/*
 * Bind a fresh unix socket at path, mode 0666 (nginx runs as another
 * user), replacing a stale socket there but nothing else.  Its device
 * and inode go to *dev, *ino for listen_unix_remove.  Returns the fd,
 * or -1 (logged).
 */
int	 listen_unix(const char *path, int backlog, dev_t *dev, ino_t *ino);

/*
 * Remove the socket path if it is still the one bound here (dev, ino),
 * not one a new instance has bound since.
 */
void	 listen_unix_remove(const char *path, dev_t dev, ino_t ino);

#endif /* !FCGI_LISTEN_H */
