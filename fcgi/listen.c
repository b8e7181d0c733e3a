/*
 * listen.c: chat-fcgi's listening sockets (see listen.h), opened by the
 * supervisor in main.c (the FastCGI socket its workers share) and by
 * metrics.c (the scrape address).  Addresses are configuration: parsed
 * with bounds, resolved numerically for the port.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fcgi/listen.h"
#include "lib/log.h"

int
listen_hostport(const char *s, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char	*colon, *h, *he;
	size_t		 i;

	if (s[0] == '[') {
		h = s + 1;
		if ((he = strchr(h, ']')) == NULL || he[1] != ':')
			return -1;
		colon = he + 1;
	} else {
		h = s;
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;	/* bare IPv6 needs brackets */
		he = colon;
	}
	if (he == h || (size_t)(he - h) >= hostsz ||
	    strlen(colon + 1) == 0 || strlen(colon + 1) >= portsz)
		return -1;
	for (i = 1; colon[i] != '\0'; i++)
		if (colon[i] < '0' || colon[i] > '9')
			return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

int
listen_tcp(const char *what, const char *hostport, int backlog)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 host[256], port[16];
	int		 fd = -1, one = 1, e;

	if (listen_hostport(hostport, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		log_warnx("%s: not HOST:PORT: %s", what, hostport);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_warnx("%s: %s: %s", what, hostport, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol)) == -1)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		log_warn("%s: listen on %s", what, hostport);
	freeaddrinfo(res);
	return fd;
}

/*
 * It is bound and listening under a temporary name first and renamed
 * into place, so that the path never names a socket that refuses
 * connects (nginx would log an error for each) and a stale one is
 * replaced at once.
 */
int
listen_unix(const char *path, int backlog, dev_t *dev, ino_t *ino)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd = -1, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.%ld", path,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	/* A stale socket from a previous run; never replace anything else. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket", path);
		return -1;
	}
	if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    unlink(sun.sun_path) == -1) {
		log_warn("unlink %s", sun.sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		log_warn("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", sun.sun_path);
		close(fd);
		return -1;
	}
	/* nginx workers run as another user. */
	if (chmod(sun.sun_path, 0666) == -1 ||
	    lstat(sun.sun_path, &st) == -1) {
		log_warn("chmod %s", sun.sun_path);
		goto fail;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	if (listen(fd, backlog) == -1) {
		log_warn("listen %s", sun.sun_path);
		goto fail;
	}
	if (rename(sun.sun_path, path) == -1) {
		log_warn("rename %s", sun.sun_path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(sun.sun_path);
	return -1;
}

void
listen_unix_remove(const char *path, dev_t dev, ino_t ino)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		if (errno != ENOENT)
			log_warn("lstat %s", path);
		return;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_dev != dev || st.st_ino != ino)
		return;
	if (unlink(path) == -1)
		log_warn("unlink %s", path);
}
