/*
 * redis_cluster.c: the I/O-free half of a Redis Cluster client (see
 * redis_cluster.h): key slots, REDIS_CLUSTER seed lists, the slot map
 * from CLUSTER SLOTS and MOVED/ASK redirections.  Everything parsed here
 * comes from the environment or from a Redis reply, so every length,
 * type and range is checked before use.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/redis_cluster.h"

/* CRC16-XMODEM (poly 0x1021, init 0), as the cluster specification. */
static uint16_t
crc16(const char *buf, size_t len)
{
	uint16_t	 crc = 0;
	size_t		 i;
	int		 b;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)buf[i] << 8);
		for (b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned int
redis_key_slot(const char *key, size_t len)
{
	const char	*open, *close;

	/* Only the part between the first '{' and the next '}', if any. */
	if ((open = memchr(key, '{', len)) != NULL) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1)
			return crc16(open + 1, (size_t)(close - open - 1)) &
			    (REDIS_SLOTS - 1);
	}
	return crc16(key, len) & (REDIS_SLOTS - 1);
}

/* A port in decimal, 1..65535, exactly "len" bytes of it; else -1. */
static int
parse_port(const char *s, size_t len)
{
	int	 v = 0;
	size_t	 i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

/* "host:port" or "[v6]:port" of exactly len bytes into a; 0 or -1. */
static int
parse_addr(const char *s, size_t len, struct redis_addr *a)
{
	const char	*colon, *h = s;
	size_t		 hlen;

	if (len == 0)
		return -1;
	if (s[0] == '[') {
		if ((colon = memchr(s, ']', len)) == NULL ||
		    (size_t)(colon - s) + 1 >= len || colon[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(colon - h);
		colon++;
	} else {
		/* The last ':' separates the port (a bare v6 is refused). */
		for (colon = s + len - 1; colon > s && *colon != ':'; colon--)
			;
		if (*colon != ':' || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof(a->host) || memchr(h, '\0', hlen))
		return -1;
	if ((a->port = parse_port(colon + 1,
	    len - (size_t)(colon + 1 - s))) == -1)
		return -1;
	memcpy(a->host, h, hlen);
	a->host[hlen] = '\0';
	return 0;
}

int
redis_seeds_parse(const char *list, struct redis_addr *seeds, size_t max,
    const char **why)
{
	const char	*p = list, *end;
	size_t		 n = 0, len;

	if (list == NULL || *list == '\0') {
		*why = "REDIS_CLUSTER is empty";
		return -1;
	}
	for (;;) {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (n == max || n >= INT_MAX) {
			*why = "REDIS_CLUSTER lists too many nodes";
			return -1;
		}
		if (parse_addr(p, len, &seeds[n]) == -1) {
			*why = "REDIS_CLUSTER wants host:port[,host:port...]";
			return -1;
		}
		n++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	return (int)n;
}

/* Empty, every byte set: two maps of the same content compare equal. */
static void
slotmap_clear(struct redis_slotmap *m)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < REDIS_SLOTS; i++)
		m->node[i] = REDIS_NO_NODE;
}

int
redis_slotmap_find(const struct redis_slotmap *m, const char *host, int port)
{
	size_t	 i;

	for (i = 0; i < m->nmasters; i++)
		if (m->masters[i].port == port &&
		    strcmp(m->masters[i].host, host) == 0)
			return (int)i;
	return -1;
}

/* An integer element in [lo, hi]; else -1. */
static long long
reply_int(const redisReply *r, long long lo, long long hi)
{
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < lo ||
	    r->integer > hi)
		return -1;
	return r->integer;
}

int
redis_slotmap_parse(struct redis_slotmap *m, const redisReply *r,
    const char *self, const char **why)
{
	const redisReply	*range, *node;
	struct redis_addr	 a;
	long long		 lo, hi, s;
	size_t			 i;
	int			 idx;

	slotmap_clear(m);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		*why = r != NULL && r->type == REDIS_REPLY_ERROR ?
		    "CLUSTER SLOTS refused (is cluster mode on?)" :
		    "CLUSTER SLOTS: not an array";
		return -1;
	}
	for (i = 0; i < r->elements; i++) {
		memset(&a, 0, sizeof(a));	/* maps compare byte for byte */
		range = r->element[i];
		if (range == NULL || range->type != REDIS_REPLY_ARRAY ||
		    range->elements < 3)
			goto bad;
		lo = reply_int(range->element[0], 0, REDIS_SLOTS - 1);
		hi = reply_int(range->element[1], 0, REDIS_SLOTS - 1);
		node = range->element[2];
		if (lo < 0 || hi < lo || node == NULL ||
		    node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
		    node->element[0]->type != REDIS_REPLY_STRING ||
		    node->element[0]->len >= sizeof(a.host) ||
		    (a.port = (int)reply_int(node->element[1], 1, 65535)) < 0)
			goto bad;
		if (node->element[0]->len == 0) {
			if (self == NULL || strlen(self) >= sizeof(a.host))
				goto bad;
			strcpy(a.host, self);
		} else {
			memcpy(a.host, node->element[0]->str,
			    node->element[0]->len);
			a.host[node->element[0]->len] = '\0';
			if (strlen(a.host) != node->element[0]->len)
				goto bad;
		}
		if ((idx = redis_slotmap_find(m, a.host, a.port)) == -1) {
			if (m->nmasters == REDIS_MASTERS_MAX) {
				*why = "CLUSTER SLOTS: too many masters";
				slotmap_clear(m);
				return -1;
			}
			idx = (int)m->nmasters;
			m->masters[m->nmasters++] = a;
		}
		for (s = lo; s <= hi; s++)
			m->node[s] = (uint16_t)idx;
	}
	return 0;
bad:
	*why = "CLUSTER SLOTS: malformed reply";
	slotmap_clear(m);
	return -1;
}

void
redis_slotmap_single(struct redis_slotmap *m, const struct redis_addr *a)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	m->nmasters = 1;
	m->masters[0] = *a;
	for (i = 0; i < REDIS_SLOTS; i++)
		m->node[i] = 0;
}

int
redis_slotmap_complete(const struct redis_slotmap *m)
{
	size_t	 i;

	for (i = 0; i < REDIS_SLOTS; i++)
		if (m->node[i] == REDIS_NO_NODE)
			return 0;
	return 1;
}

enum redis_redirect
redis_redirect_parse(const char *err, size_t len, const char *self,
    unsigned int *slot, struct redis_addr *to)
{
	enum redis_redirect	 kind;
	const char		*p, *sp;
	size_t			 rest;
	long			 s = 0;

	if (len > 5 && memcmp(err, "MOVED ", 6) == 0) {
		kind = REDIS_REDIRECT_MOVED;
		p = err + 6;
	} else if (len > 3 && memcmp(err, "ASK ", 4) == 0) {
		kind = REDIS_REDIRECT_ASK;
		p = err + 4;
	} else
		return REDIS_REDIRECT_NONE;
	rest = len - (size_t)(p - err);
	if ((sp = memchr(p, ' ', rest)) == NULL || sp == p || sp - p > 5)
		return REDIS_REDIRECT_NONE;
	for (; p < sp; p++) {
		if (*p < '0' || *p > '9')
			return REDIS_REDIRECT_NONE;
		s = s * 10 + (*p - '0');
	}
	if (s >= REDIS_SLOTS)
		return REDIS_REDIRECT_NONE;
	p = sp + 1;
	rest = len - (size_t)(p - err);
	/* ":port" alone: the node that answered (Redis 7 may say so). */
	if (rest > 0 && p[0] == ':') {
		if (self == NULL || strlen(self) >= sizeof(to->host) ||
		    (to->port = parse_port(p + 1, rest - 1)) == -1)
			return REDIS_REDIRECT_NONE;
		strcpy(to->host, self);
	} else if (parse_addr(p, rest, to) == -1)
		return REDIS_REDIRECT_NONE;
	*slot = (unsigned int)s;
	return kind;
}
