/*
 * t/fuzz/redis-cluster.c: libFuzzer target for lib/redis_cluster.c.
 * fuzz-sources: lib/redis_cluster.c
 * fuzz-libs: -lhiredis
 * Input: bytes off a Redis connection.  hiredis's reader parses as many
 * replies as the bytes hold (4 at most); each is read as a CLUSTER SLOTS
 * answer, and an error or string reply as a MOVED/ASK redirection.  A
 * map that parses may only point at masters it lists.  The raw input is
 * also a seed list and a key.  hiredis 0.14 allocates an array of the
 * declared size as soon as it reads "*<n>" (it trusts its server, as we
 * trust our Redis), so inputs declaring more than 4096 elements are
 * skipped: what is fuzzed is our reading of replies, not that allocation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "lib/redis_cluster.h"

/* 1 if some "*<n>" in the bytes declares more than 4096 elements. */
static int
huge_array(const uint8_t *data, size_t size)
{
	size_t		 i, j;
	unsigned long	 n;

	for (i = 0; i < size; i++) {
		if (data[i] != '*')
			continue;
		for (n = 0, j = i + 1; j < size && data[j] >= '0' &&
		    data[j] <= '9' && n <= 4096; j++)
			n = n * 10 + (data[j] - '0');
		if (n > 4096)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct redis_slotmap	 m;
	struct redis_addr		 seeds[4], to;
	redisReader			*rd;
	redisReply			*r;
	void				*v;
	const char			*why;
	char				*s;
	unsigned int			 slot;
	size_t				 i;
	int				 n;

	if (redis_key_slot((const char *)data, size) >= REDIS_SLOTS)
		abort();
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)redis_seeds_parse(s, seeds, 4, &why);
	free(s);
	if (huge_array(data, size) || (rd = redisReaderCreate()) == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, size) != REDIS_OK)
		goto out;
	for (n = 0; n < 4; n++) {
		v = NULL;
		if (redisReaderGetReply(rd, &v) != REDIS_OK || v == NULL)
			break;
		r = v;
		if (redis_slotmap_parse(&m, r, "self", &why) == 0)
			for (i = 0; i < REDIS_SLOTS; i++)
				if (m.node[i] != REDIS_NO_NODE &&
				    m.node[i] >= m.nmasters)
					abort();
		if ((r->type == REDIS_REPLY_ERROR ||
		    r->type == REDIS_REPLY_STRING) &&
		    redis_redirect_parse(r->str, r->len, "self", &slot, &to) !=
		    REDIS_REDIRECT_NONE && (slot >= REDIS_SLOTS ||
		    to.port < 1 || to.port > 65535))
			abort();
		freeReplyObject(r);
	}
out:
	redisReaderFree(rd);
	return 0;
}
